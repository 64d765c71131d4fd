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
    /// Misalign memory allocations: qemu-io gets `--misalign` (`-misalign`).
    #[arg(long)]
    pub misalign: bool,
    /// Matrix: these formats (comma-separated, or `all`) instead of one.
    #[arg(long, value_name = "FMT,...", conflicts_with = "imgfmt")]
    pub formats: Option<String>,
    /// Matrix: these protocols (comma-separated, or `all`) instead of one.
    #[arg(long, value_name = "PROTO,...", conflicts_with = "imgproto")]
    pub protocols: Option<String>,
    /// Matrix: these cache modes (comma-separated, or `all`) instead of one.
    #[arg(long, value_name = "MODE,...", conflicts_with = "cachemode")]
    pub cache_modes: Option<String>,
}

/// The cache modes `--cache-modes all` means.
pub const CACHE_MODES: &[&str] = &["writeback", "writethrough", "none", "directsync", "unsafe"];

/// One cell of the format × protocol × cache matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// `<fmt>-<proto>`, or `<fmt>-<proto>-<cache>` in a matrix over cache
    /// modes: the name of its output directory and of its scratch
    /// directories.
    pub name: String,
    /// IMGFMT.
    pub imgfmt: String,
    /// IMGPROTO.
    pub imgproto: String,
    /// CACHEMODE, `None` for the default.
    pub cachemode: Option<String>,
    /// AIOMODE.
    pub aiomode: String,
    /// IMGOPTS.
    pub imgopts: Option<String>,
    /// `-misalign`.
    pub misalign: bool,
}

/// Split a comma-separated list, `all` standing for `every`; each item must
/// be in `every`.
fn list(what: &'static str, value: &str, every: &[&str]) -> crate::error::Result<Vec<String>> {
    let items: Vec<String> = value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    if items.iter().any(|i| i == "all") {
        return Ok(every.iter().map(|s| s.to_string()).collect());
    }
    if items.is_empty() {
        return Err(crate::error::Error::BadValue { what, why: "an empty list".into() });
    }
    if let Some(bad) = items.iter().find(|i| !every.contains(&i.as_str())) {
        return Err(crate::error::Error::BadValue { what, why: format!("{bad:?} is not one of {}", every.join(", ")) });
    }
    Ok(items)
}

impl MatrixArgs {
    /// Whether more than one cell may be asked for.
    pub fn is_matrix(&self) -> bool {
        self.formats.is_some() || self.protocols.is_some() || self.cache_modes.is_some()
    }

    /// The cells to run: formats × protocols × cache modes.
    pub fn cells(&self) -> crate::error::Result<Vec<Cell>> {
        let fmts = match &self.formats {
            Some(v) => list("--formats", v, FORMATS)?,
            None => vec![self.imgfmt.clone()],
        };
        let protos = match &self.protocols {
            Some(v) => list("--protocols", v, PROTOCOLS)?,
            None => vec![self.imgproto.clone()],
        };
        let caches: Vec<Option<String>> = match &self.cache_modes {
            Some(v) => list("--cache-modes", v, CACHE_MODES)?.into_iter().map(Some).collect(),
            None => vec![self.cachemode.clone()],
        };
        let mut cells = Vec::new();
        for fmt in &fmts {
            for proto in &protos {
                for cache in &caches {
                    let mut name = format!("{fmt}-{proto}");
                    if caches.len() > 1 {
                        name.push('-');
                        name.push_str(cache.as_deref().unwrap_or("writeback"));
                    }
                    cells.push(Cell {
                        name,
                        imgfmt: fmt.clone(),
                        imgproto: proto.clone(),
                        cachemode: cache.clone(),
                        aiomode: self.aiomode.clone(),
                        imgopts: self.imgopts.clone(),
                        misalign: self.misalign,
                    });
                }
            }
        }
        Ok(cells)
    }

    /// The single cell of a non-matrix invocation.
    pub fn cell(&self) -> Cell {
        let mut plain = self.clone();
        (plain.formats, plain.protocols, plain.cache_modes) = (None, None, None);
        plain.cells().ok().and_then(|c| c.into_iter().next()).unwrap_or_else(|| Cell {
            name: format!("{}-{}", self.imgfmt, self.imgproto),
            imgfmt: self.imgfmt.clone(),
            imgproto: self.imgproto.clone(),
            cachemode: self.cachemode.clone(),
            aiomode: self.aiomode.clone(),
            imgopts: self.imgopts.clone(),
            misalign: self.misalign,
        })
    }
}

impl Cell {
    /// CACHEMODE as the tests see it.
    pub fn cachemode(&self) -> &str {
        self.cachemode.as_deref().unwrap_or("writeback")
    }

    /// The variables every test process of this cell gets (on top of the
    /// inherited environment).
    pub fn vars(&self, output_dir: &Path) -> Vec<(String, String)> {
        let mut v = vec![
            ("IMGFMT".to_string(), self.imgfmt.clone()),
            ("IMGPROTO".into(), self.imgproto.clone()),
            ("CACHEMODE".into(), self.cachemode().to_string()),
            ("CACHEMODE_IS_DEFAULT".into(), self.cachemode.is_none().to_string()),
            ("AIOMODE".into(), self.aiomode.clone()),
            ("OUTPUT_DIR".into(), output_dir.display().to_string()),
        ];
        if let Some(o) = &self.imgopts {
            v.push(("IMGOPTS".into(), o.clone()));
        }
        if self.misalign {
            // testenv.py: qemu-io's options get --misalign before -f.
            let no_fmt = format!("--cache {} --aio {} --misalign", self.cachemode(), self.aiomode);
            let with_fmt = if self.imgfmt == "luks" { no_fmt.clone() } else { format!("{no_fmt} -f {}", self.imgfmt) };
            if std::env::var_os("QEMU_IO_OPTIONS").is_none() {
                v.push(("QEMU_IO_OPTIONS".into(), with_fmt));
            }
            if std::env::var_os("QEMU_IO_OPTIONS_NO_FMT").is_none() {
                v.push(("QEMU_IO_OPTIONS_NO_FMT".into(), no_fmt));
            }
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
/// with `prefix` (`# ` for TAP); the last line is the bare prefix. For a
/// matrix run, one `CELLS` line replaces the format, protocol, cache mode
/// and output directory lines.
pub fn header(env: &TestEnv, prefix: &str, matrix: Option<&[String]>) -> String {
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
        format!("QEMU          -- {}", prog(&env.qemu, env.qemu_opts())),
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
    let matrix_line = matrix.map(|cells| format!("CELLS         -- {}", cells.join(" ")));
    lines
        .iter()
        .filter_map(|l| match &matrix_line {
            // A matrix run has no single format, protocol or cache mode.
            Some(m) if l.starts_with("IMGFMT ") => Some(m),
            Some(_) if l.starts_with("IMGPROTO ") || l.starts_with("CACHEMODE ") => None,
            Some(_) if l.starts_with("OUTPUT_DIR ") => None,
            _ => Some(l),
        })
        .map(|l| format!("{prefix}{l}").trim_end().to_string() + "\n")
        .collect()
}

/// The variables the tests read, as `NAME=value` pairs: what the library
/// would export, with each program as the path it resolved to.
pub fn exported_vars(env: &TestEnv) -> Vec<(&'static str, String)> {
    let progs = [&env.qemu, &env.qemu_img, &env.qemu_io, &env.qemu_nbd, &env.qsd];
    env.exported()
        .into_iter()
        .map(|(k, v)| match progs.iter().find(|p| p.var == k).and_then(|p| p.path.as_ref()) {
            Some(path) => (k, path.display().to_string()),
            None => (k, v),
        })
        .collect()
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
            misalign: false,
            formats: None,
            protocols: None,
            cache_modes: None,
        }
    }

    #[test]
    fn vars_carry_the_cell() {
        let cell = matrix().cell();
        assert_eq!(cell.name, "luks-nbd");
        let v: BTreeMap<_, _> = cell.vars(Path::new("/o")).into_iter().collect();
        assert_eq!(v["IMGFMT"], "luks");
        assert_eq!(v["CACHEMODE"], "writeback");
        assert_eq!(v["CACHEMODE_IS_DEFAULT"], "true");
        assert_eq!(v["OUTPUT_DIR"], "/o");
        assert!(!v.contains_key("IMGOPTS") && !v.contains_key("QEMU_IO_OPTIONS"));
        let mis = Cell { misalign: true, imgfmt: "qcow2".into(), ..cell };
        let v: BTreeMap<_, _> = mis.vars(Path::new("/o")).into_iter().collect();
        if std::env::var_os("QEMU_IO_OPTIONS").is_none() {
            assert_eq!(v["QEMU_IO_OPTIONS"], "--cache writeback --aio native --misalign -f qcow2");
        }
    }

    #[test]
    fn matrix_cells() {
        let m =
            MatrixArgs { formats: Some("qcow2,raw".into()), cache_modes: Some("none,writeback".into()), ..matrix() };
        let names: Vec<String> = m.cells().unwrap().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["qcow2-nbd-none", "qcow2-nbd-writeback", "raw-nbd-none", "raw-nbd-writeback"]);
        let all = MatrixArgs { formats: Some("all".into()), ..matrix() };
        assert_eq!(all.cells().unwrap().len(), FORMATS.len());
        let bad = MatrixArgs { protocols: Some("file,tcp".into()), ..matrix() };
        assert!(bad.cells().unwrap_err().to_string().contains("\"tcp\" is not one of"));
    }

    #[test]
    fn header_looks_like_print_env() {
        let mut vars = Vars::new();
        vars.insert("IMGFMT".into(), "luks".into());
        vars.insert("QEMU_PROG".into(), "/nonexistent/qemu".into());
        let env = TestEnv::from_vars(&vars, "raw");
        let h = header(&env, "# ", None);
        assert!(h.starts_with("# QEMU          -- \"/nonexistent/qemu\" -nodefaults"), "{h}");
        assert!(h.lines().next().unwrap().ends_with("(not found; set QEMU_PROG)"), "{h}");
        assert!(h.contains("\n# IMGFMT        -- luks (iter-time=10)\n"), "{h}");
        assert!(h.ends_with("\n#\n"), "{h}");
        assert!(platform().contains('/'));
        let m = header(&env, "", Some(&["qcow2-file".into(), "raw-file".into()]));
        assert!(m.contains("\nCELLS         -- qcow2-file raw-file\n") && !m.contains("IMGFMT"), "{m}");
    }
}
