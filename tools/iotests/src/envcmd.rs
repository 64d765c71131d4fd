//! The format × protocol × cache × aio matrix cell a run uses, the variables
//! it hands to each test process, and `check`'s environment header
//! (`testenv.print_env`), which `iotests env` prints on its own.

use std::ffi::CStr;
use std::path::{Path, PathBuf};

use iotests::env::{TestEnv, Vars};

/// The image formats `check` has a `-<fmt>` flag for.
pub const FORMATS: &[&str] = &[
    "raw",
    "bochs",
    "cloop",
    "parallels",
    "qcow",
    "qcow2",
    "qed",
    "vdi",
    "vpc",
    "vhdx",
    "vmdk",
    "luks",
    "dmg",
    "vvfat",
];

/// The protocols `check` has a `-<proto>` flag for.
pub const PROTOCOLS: &[&str] = &["file", "rbd", "nbd", "ssh", "nfs", "fuse"];

/// `check`'s test environment options. The single-dash spellings (`-qcow2`,
/// `-nbd`, `-nocache`) are rewritten to these before parsing (see `argv`).
#[derive(Debug, Clone, clap::Args)]
pub struct MatrixArgs {
    /// Image format (`-raw`, `-qcow2`, `-luks`, … set it too); sets IMGFMT.
    #[arg(long = "imgfmt", value_name = "FMT", default_value = "qcow2", hide_possible_values = true, value_parser = clap::builder::PossibleValuesParser::new(FORMATS))]
    pub imgfmt: String,
    /// Image protocol (`-file`, `-nbd`, `-fuse`, … set it too); sets IMGPROTO.
    #[arg(long = "imgproto", value_name = "PROTO", default_value = "file", hide_possible_values = true, value_parser = clap::builder::PossibleValuesParser::new(PROTOCOLS))]
    pub imgproto: String,
    /// Cache mode (`-nocache` means `-c none`); sets CACHEMODE [default: writeback].
    #[arg(short = 'c', long = "cache", value_name = "MODE")]
    pub cachemode: Option<String>,
    /// AIO mode; sets AIOMODE.
    #[arg(short = 'i', long = "aio", value_name = "AIO", default_value = "threads")]
    pub aiomode: String,
    /// Options for qemu-img create/convert; sets IMGOPTS.
    #[arg(short = 'o', long = "imgopts", value_name = "OPTS")]
    pub imgopts: Option<String>,
}

impl MatrixArgs {
    /// `<fmt>-<proto>`: the name of this cell's output directory.
    pub fn cell(&self) -> String {
        format!("{}-{}", self.imgfmt, self.imgproto)
    }

    /// The variables every test process of this cell gets (on top of the
    /// inherited environment).
    pub fn vars(&self, output_dir: &Path) -> Vec<(String, String)> {
        let mut v = vec![
            ("IMGFMT".to_string(), self.imgfmt.clone()),
            ("IMGPROTO".into(), self.imgproto.clone()),
            ("CACHEMODE".into(), self.cachemode.clone().unwrap_or_else(|| "writeback".into())),
            ("CACHEMODE_IS_DEFAULT".into(), self.cachemode.is_none().to_string()),
            ("AIOMODE".into(), self.aiomode.clone()),
            ("OUTPUT_DIR".into(), output_dir.display().to_string()),
        ];
        if let Some(o) = &self.imgopts {
            v.push(("IMGOPTS".into(), o.clone()));
        }
        v
    }

    /// The environment a test of this cell resolves, via the library's own
    /// resolution so the header shows what the tests will see.
    pub fn test_env(&self, output_dir: &Path) -> TestEnv {
        let mut vars: Vars = std::env::vars().collect();
        vars.extend(self.vars(output_dir));
        TestEnv::from_vars(&vars, &self.imgfmt)
    }
}

/// `check`'s header, line for line like `testenv.print_env` (GDB, valgrind and
/// qemu-output-printing lines are left out: the harness has no such modes),
/// plus the cache and aio modes and the output directory. Every line starts
/// with `prefix` (`# ` for TAP); the last line is the bare prefix.
pub fn header(env: &TestEnv, prefix: &str) -> String {
    let prog = |p: &iotests::env::Program, opts: &[String]| {
        let line = match &p.path {
            Some(path) => format!("\"{}\" {}", path.display(), opts.join(" ")),
            None => format!("\"{}\" {}", p.name, opts.join(" ")),
        };
        let missing = if p.path.is_none() { format!(" (not found; set {})", p.var) } else { String::new() };
        format!("{}{missing}", line.trim_end())
    };
    let dir = |d: &Option<PathBuf>| match d {
        Some(d) => d.display().to_string(),
        None => "(a temporary directory per test)".to_string(),
    };
    let imgopts = env.imgopts.as_ref().map(|o| format!(" ({o})")).unwrap_or_default();
    let lines = [
        format!("QEMU          -- {}", prog(&env.qemu, &env.qemu_opts)),
        format!("QEMU_IMG      -- {}", prog(&env.qemu_img, &env.qemu_img_options)),
        format!("QEMU_IO       -- {}", prog(&env.qemu_io, &env.qemu_io_options)),
        format!("QEMU_NBD      -- {}", prog(&env.qemu_nbd, &env.qemu_nbd_options)),
        format!("QSD           -- {}", prog(&env.qsd, &[])),
        format!("IMGFMT        -- {}{imgopts}", env.imgfmt),
        format!("IMGPROTO      -- {}", env.imgproto),
        format!("PLATFORM      -- {}", platform()),
        format!("TEST_DIR      -- {}", dir(&env.test_dir_root)),
        format!("SOCK_DIR      -- {}", dir(&env.sock_dir_root)),
        format!("CACHEMODE     -- {}", env.cachemode),
        format!("AIOMODE       -- {}", env.aiomode),
        format!("OUTPUT_DIR    -- {}", env.output_dir.display()),
        String::new(),
    ];
    lines.iter().map(|l| format!("{prefix}{l}").trim_end().to_string() + "\n").collect()
}

/// `sysname/machine nodename release`, as testenv.py prints `os.uname()`.
pub fn platform() -> String {
    // SAFETY: utsname is plain old data; uname fills it and NUL-terminates
    // every field.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH);
    }
    let field = |f: &[libc::c_char]| {
        // SAFETY: the field is a NUL-terminated array written by uname.
        unsafe { CStr::from_ptr(f.as_ptr()) }.to_string_lossy().into_owned()
    };
    format!("{}/{} {} {}", field(&u.sysname), field(&u.machine), field(&u.nodename), field(&u.release))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn matrix() -> MatrixArgs {
        MatrixArgs {
            imgfmt: "luks".into(),
            imgproto: "nbd".into(),
            cachemode: None,
            aiomode: "native".into(),
            imgopts: None,
        }
    }

    #[test]
    fn vars_carry_the_matrix() {
        let v: BTreeMap<_, _> = matrix().vars(Path::new("/o")).into_iter().collect();
        assert_eq!(v["IMGFMT"], "luks");
        assert_eq!(v["CACHEMODE"], "writeback");
        assert_eq!(v["CACHEMODE_IS_DEFAULT"], "true");
        assert_eq!(v["OUTPUT_DIR"], "/o");
        assert!(!v.contains_key("IMGOPTS"));
        assert_eq!(matrix().cell(), "luks-nbd");
    }

    #[test]
    fn header_looks_like_print_env() {
        let mut vars = Vars::new();
        vars.insert("IMGFMT".into(), "luks".into());
        vars.insert("QEMU_PROG".into(), "/nonexistent/qemu".into());
        let env = TestEnv::from_vars(&vars, "raw");
        let h = header(&env, "# ");
        assert!(h.starts_with("# QEMU          -- \"/nonexistent/qemu\" -nodefaults"), "{h}");
        assert!(h.lines().next().unwrap().ends_with("(not found; set QEMU_PROG)"), "{h}");
        assert!(h.contains("\n# IMGFMT        -- luks (iter-time=10)\n"), "{h}");
        assert!(h.ends_with("\n#\n"), "{h}");
        assert!(platform().contains('/'));
    }
}
