//! The test environment: every variable that QEMU's `check` / `testenv.py`
//! hands to a test, resolved once, with defaults so that plain `cargo test`
//! works with none of them set.
//!
//! | variable | default |
//! |---|---|
//! | `QEMU_PROG` | `qemu-system-<arch>` from `PATH` |
//! | `QEMU_IMG_PROG`, `QEMU_IO_PROG`, `QEMU_NBD_PROG`, `QSD_PROG` | `qemu-img`, `qemu-io`, `qemu-nbd`, `qemu-storage-daemon` from `PATH` |
//! | `QEMU_OPTIONS` | `-nodefaults -display none -accel qtest`, or `-accel tcg` when the binary has no qtest accelerator |
//! | `QEMU_IMG_OPTIONS`, `QEMU_NBD_OPTIONS` | none |
//! | `QEMU_IO_OPTIONS` | `--cache CACHEMODE --aio AIOMODE` plus `-f IMGFMT` (not for luks) |
//! | `QEMU_IO_OPTIONS_NO_FMT` | `--cache CACHEMODE --aio AIOMODE` |
//! | `IMGFMT` | the first format the test supports (`raw` for a generic test) |
//! | `IMGPROTO` | `file` |
//! | `IMGOPTS` | luks: `iter-time=10`; vmdk: `zeroed_grain=on` (appended to a given value) |
//! | `IMGKEYSECRET`, `IMGOPTSSYNTAX` | luks: `123456`, `true`; else empty, `false` |
//! | `IMGFMT_GENERIC` | `false` for bochs, cloop, dmg, vvfat; else `true` |
//! | `CACHEMODE` | `writeback` |
//! | `AIOMODE` | `threads` |
//! | `QEMU_DEFAULT_MACHINE` | the `(default)` line of `QEMU_PROG -machine help` |
//! | `TEST_DIR` | a temporary directory, removed afterwards |
//! | `SOCK_DIR` | a temporary directory (short, for socket paths), removed afterwards |
//! | `OUTPUT_DIR` | `target/iotests` (where `.notrun` / `.casenotrun` files go) |
//! | `SAMPLE_IMG_DIR` | `<IOTESTS_QEMU_SRC>/tests/qemu-iotests/sample_images` when that directory exists (testenv.py's default is the same directory of the source tree it runs from), else none |
//! | `SOCKET_SCM_HELPER` | `socket_scm_helper` |
//! | `IOTESTS_DEBUG` | unset; `1` echoes every log line to stdout (iotests' `-d`) |
//! | `IOTESTS_KEEP_SCRATCH` | unset; `1` keeps each test's scratch directory |
//! | `IOTESTS_HALT_FIRMWARE` | `1`: without a qtest accelerator, x86 test VMs get a firmware that halts at once (see [`vm::firmware`](crate::vm::firmware)); `0` boots the real one |
//!
//! Each `*_OPTIONS` value is split on single spaces after trimming, exactly as
//! iotests.py splits it. Resolving the environment runs nothing: the two
//! values that need QEMU's answers (the default `QEMU_OPTIONS`'s
//! accelerator, `QEMU_DEFAULT_MACHINE`) are probed when first read, and
//! only when the variable is unset, through the shared [`probe`] cache.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

pub mod probe;

/// Where the environment's variables come from: the process environment, or
/// an explicit map (tests of this module, the CLI's matrix).
pub type Vars = HashMap<String, String>;

/// A QEMU program: where it is, or why it is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The environment variable that selects it (`QEMU_IMG_PROG`, …).
    pub var: &'static str,
    /// The name or path asked for.
    pub name: String,
    /// The resolved executable, if it exists.
    pub path: Option<PathBuf>,
}

impl Program {
    fn resolve(var: &'static str, vars: &Vars, default: &str) -> Program {
        let name = vars.get(var).cloned().unwrap_or_else(|| default.to_string());
        // The variable map's own PATH when it has one, as a child started
        // with that environment would search.
        let path = match vars.get("PATH") {
            Some(p) => which_in(&name, std::ffi::OsStr::new(p)),
            None => which(&name),
        };
        Program { var, name, path }
    }

    /// The path to run, or [`Error::MissingBinary`] naming the variable to set.
    ///
    /// ```
    /// let p = iotests::env::Program { var: "QEMU_PROG", name: "no-such-qemu".into(), path: None };
    /// assert!(p.get().unwrap_err().to_string().contains("set QEMU_PROG"));
    /// ```
    pub fn get(&self) -> Result<&str> {
        match &self.path {
            Some(p) => Ok(p.to_str().unwrap_or(&self.name)),
            None => Err(Error::MissingBinary { var: self.var, program: self.name.clone() }),
        }
    }

    /// Whether the binary exists.
    pub fn exists(&self) -> bool {
        self.path.is_some()
    }
}

/// Look a program up like a shell does: a name with a `/` is taken as a path,
/// anything else is searched in `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    which_in(name, &std::env::var_os("PATH").unwrap_or_default())
}

/// [`which`] over the directories of `path` (a `PATH` value).
///
/// ```
/// assert!(iotests::env::which_in("sh", std::ffi::OsStr::new("/bin:/usr/bin")).is_some());
/// assert!(iotests::env::which_in("sh", std::ffi::OsStr::new("/nonexistent")).is_none());
/// ```
pub fn which_in(name: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exe = |p: &Path| p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false);
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_exe(&p).then_some(p);
    }
    std::env::split_paths(path).map(|d| d.join(name)).find(|p| is_exe(p))
}

/// Split an `*_OPTIONS` value as iotests.py does: `value.strip().split(' ')`.
///
/// ```
/// assert_eq!(iotests::env::split_options(" --cache none  -f qcow2 "),
///            vec!["--cache", "none", "", "-f", "qcow2"]);
/// ```
pub fn split_options(value: &str) -> Vec<String> {
    value.trim().split(' ').map(str::to_string).collect()
}

/// The resolved test environment, as `check` would export it for one cell of
/// the format × protocol × cache × aio matrix.
///
/// Fields are public and plain so that a test can read them like iotests'
/// module globals (`iotests.imgfmt` → `env.imgfmt`).
#[derive(Debug, Clone)]
pub struct TestEnv {
    /// `QEMU_PROG`.
    pub qemu: Program,
    /// `QEMU_IMG_PROG`.
    pub qemu_img: Program,
    /// `QEMU_IO_PROG`.
    pub qemu_io: Program,
    /// `QEMU_NBD_PROG`.
    pub qemu_nbd: Program,
    /// `QSD_PROG`.
    pub qsd: Program,
    /// `QEMU_OPTIONS` as given (see [`TestEnv::qemu_opts`]).
    qemu_options_given: Option<String>,
    /// `QEMU_OPTIONS`, split, once computed.
    qemu_opts: OnceLock<Vec<String>>,
    /// `QEMU_IMG_OPTIONS`, split (empty when unset).
    pub qemu_img_options: Vec<String>,
    /// `QEMU_IO_OPTIONS`, split.
    pub qemu_io_options: Vec<String>,
    /// `QEMU_IO_OPTIONS_NO_FMT`, split.
    pub qemu_io_options_no_fmt: Vec<String>,
    /// `QEMU_NBD_OPTIONS`, split (empty when unset).
    pub qemu_nbd_options: Vec<String>,
    /// `IMGFMT`.
    pub imgfmt: String,
    /// `IMGPROTO`.
    pub imgproto: String,
    /// `IMGOPTS`, with the luks / vmdk additions.
    pub imgopts: Option<String>,
    /// `IMGKEYSECRET` (`123456` for luks).
    pub imgkeysecret: String,
    /// `IMGOPTSSYNTAX` (`true` for luks).
    pub imgoptssyntax: bool,
    /// `IMGFMT_GENERIC`.
    pub imgfmt_generic: bool,
    /// `CACHEMODE`.
    pub cachemode: String,
    /// Whether `CACHEMODE` was left at its default (`CACHEMODE_IS_DEFAULT`).
    pub cachemode_is_default: bool,
    /// `AIOMODE`.
    pub aiomode: String,
    /// `QEMU_DEFAULT_MACHINE` as given, or probed once read (see
    /// [`TestEnv::qemu_default_machine`]).
    default_machine: OnceLock<String>,
    /// `TEST_DIR` as given; `None` means a temporary directory per test.
    pub test_dir_root: Option<PathBuf>,
    /// `SOCK_DIR` as given; `None` means a temporary directory per test.
    pub sock_dir_root: Option<PathBuf>,
    /// `TMPDIR` (else `/tmp`), for scratch when `TEST_DIR` / `SOCK_DIR`
    /// are unset (see [`TestContext::new`](crate::TestContext::new)).
    pub tmp_dir: PathBuf,
    /// `OUTPUT_DIR`.
    pub output_dir: PathBuf,
    /// `SAMPLE_IMG_DIR`.
    pub sample_img_dir: Option<PathBuf>,
    /// `SOCKET_SCM_HELPER`.
    pub socket_scm_helper: String,
    /// `IOTESTS_DEBUG`: echo the log to stdout as it is written.
    pub debug: bool,
    /// `IOTESTS_KEEP_SCRATCH`: keep scratch directories after the test.
    pub keep_scratch: bool,
    /// `IOTESTS_HALT_FIRMWARE`: stand in for qtest's "no guest code" with a
    /// halting firmware when the qtest accelerator is missing.
    pub halt_firmware: bool,
}

/// The variables this module reads, for `iotests env` and the docs.
pub const VARIABLES: &[&str] = &[
    "QEMU_PROG",
    "QEMU_IMG_PROG",
    "QEMU_IO_PROG",
    "QEMU_NBD_PROG",
    "QSD_PROG",
    "QEMU_OPTIONS",
    "QEMU_IMG_OPTIONS",
    "QEMU_IO_OPTIONS",
    "QEMU_IO_OPTIONS_NO_FMT",
    "QEMU_NBD_OPTIONS",
    "IMGFMT",
    "IMGPROTO",
    "IMGOPTS",
    "IMGKEYSECRET",
    "IMGOPTSSYNTAX",
    "IMGFMT_GENERIC",
    "CACHEMODE",
    "AIOMODE",
    "QEMU_DEFAULT_MACHINE",
    "TEST_DIR",
    "SOCK_DIR",
    "OUTPUT_DIR",
    "SAMPLE_IMG_DIR",
    "SOCKET_SCM_HELPER",
    "IOTESTS_DEBUG",
    "IOTESTS_KEEP_SCRATCH",
    "IOTESTS_HALT_FIRMWARE",
];

/// The accelerators `qemu -accel help` lists (empty when it cannot run),
/// asked once per binary (see [`probe`]).
pub fn qemu_accels(qemu: &Path) -> Vec<String> {
    let argv = vec![qemu.display().to_string(), "-accel".into(), "help".into()];
    probe::run_cached("qemu", &argv)
        .map(|o| o.stdout.lines().skip(1).map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect())
        .unwrap_or_default()
}

/// The default machine of `qemu -machine help` (empty when it cannot run),
/// asked once per binary (see [`probe`]).
pub fn qemu_default_machine_of(qemu: &Path) -> String {
    let argv = vec![qemu.display().to_string(), "-machine".into(), "help".into()];
    probe::run_cached("qemu", &argv).map(|o| parse_default_machine(&o.stdout)).unwrap_or_default()
}

/// testenv.py's `get_default_machine`: the machine marked `(default)`,
/// resolved through an `(alias of …)` line if there is one.
///
/// ```
/// let help = "Supported machines are:\npc  Standard PC (alias of pc-i440fx-10.0)\npc-i440fx-10.0 Standard PC (default)\n";
/// assert_eq!(iotests::env::parse_default_machine(help), "pc");
/// ```
pub fn parse_default_machine(help: &str) -> String {
    let machines: Vec<&str> = help.split('\n').collect();
    let Some(line) = machines.iter().find(|m| m.contains(" (default)")) else {
        return String::new();
    };
    let default = line.split(' ').next().unwrap_or("").to_string();
    let alias_suf = format!(" (alias of {default})");
    match machines.iter().find(|m| m.ends_with(&alias_suf)) {
        Some(alias) => alias.split(' ').next().unwrap_or("").to_string(),
        None => default,
    }
}

/// The architecture part of `qemu-system-<arch>`, as testenv.py picks it.
fn host_arch() -> String {
    let arch = std::env::consts::ARCH;
    match arch {
        "powerpc64" => "ppc64".to_string(),
        a => a.to_string(),
    }
}

impl TestEnv {
    /// Resolve the environment from the process environment. `default_fmt`
    /// is the format used when `IMGFMT` is unset (the harness passes the
    /// first format a test supports).
    ///
    /// ```
    /// let env = iotests::env::TestEnv::from_process_env("qcow2");
    /// assert_eq!(env.cachemode, std::env::var("CACHEMODE").unwrap_or("writeback".into()));
    /// ```
    pub fn from_process_env(default_fmt: &str) -> TestEnv {
        let vars: Vars = std::env::vars().collect();
        TestEnv::from_vars(&vars, default_fmt)
    }

    /// Resolve the environment from an explicit set of variables.
    ///
    /// ```
    /// use iotests::env::{TestEnv, Vars};
    /// let mut vars = Vars::new();
    /// vars.insert("IMGFMT".into(), "luks".into());
    /// vars.insert("QEMU_PROG".into(), "/nonexistent/qemu".into());
    /// let env = TestEnv::from_vars(&vars, "raw");
    /// assert_eq!(env.imgkeysecret, "123456");
    /// assert_eq!(env.imgopts.as_deref(), Some("iter-time=10"));
    /// assert_eq!(env.qemu_io_options, ["--cache", "writeback", "--aio", "threads"]);
    /// ```
    pub fn from_vars(vars: &Vars, default_fmt: &str) -> TestEnv {
        let get = |k: &str| vars.get(k).filter(|v| !v.is_empty()).cloned();
        let qemu = Program::resolve("QEMU_PROG", vars, &format!("qemu-system-{}", host_arch()));

        let imgfmt = get("IMGFMT").unwrap_or_else(|| default_fmt.to_string());
        let imgproto = get("IMGPROTO").unwrap_or_else(|| "file".to_string());
        let cachemode_given = get("CACHEMODE");
        let cachemode_is_default = match vars.get("CACHEMODE_IS_DEFAULT") {
            Some(v) => v == "true",
            None => cachemode_given.is_none(),
        };
        let cachemode = cachemode_given.unwrap_or_else(|| "writeback".to_string());
        let aiomode = get("AIOMODE").unwrap_or_else(|| "threads".to_string());

        let mut imgopts = get("IMGOPTS");
        let luks = imgfmt == "luks";
        let mut add_imgopt = |key: &str, opt: &str| match &mut imgopts {
            None => imgopts = Some(opt.to_string()),
            Some(o) if !o.contains(key) => {
                o.push(',');
                o.push_str(opt);
            }
            Some(_) => {}
        };
        if luks {
            add_imgopt("iter-time=", "iter-time=10");
        }
        if imgfmt == "vmdk" {
            add_imgopt("zeroed_grain=", "zeroed_grain=on");
        }

        let io_no_fmt = format!("--cache {cachemode} --aio {aiomode}");
        let io_opts = if luks { io_no_fmt.clone() } else { format!("{io_no_fmt} -f {imgfmt}") };
        let opt_list = |k: &str| get(k).map(|v| split_options(&v)).unwrap_or_default();

        TestEnv {
            qemu_img: Program::resolve("QEMU_IMG_PROG", vars, "qemu-img"),
            qemu_io: Program::resolve("QEMU_IO_PROG", vars, "qemu-io"),
            qemu_nbd: Program::resolve("QEMU_NBD_PROG", vars, "qemu-nbd"),
            qsd: Program::resolve("QSD_PROG", vars, "qemu-storage-daemon"),
            qemu_options_given: get("QEMU_OPTIONS"),
            qemu_opts: OnceLock::new(),
            qemu_img_options: opt_list("QEMU_IMG_OPTIONS"),
            qemu_io_options: split_options(&get("QEMU_IO_OPTIONS").unwrap_or(io_opts)),
            qemu_io_options_no_fmt: split_options(&get("QEMU_IO_OPTIONS_NO_FMT").unwrap_or(io_no_fmt)),
            qemu_nbd_options: opt_list("QEMU_NBD_OPTIONS"),
            imgkeysecret: get("IMGKEYSECRET").unwrap_or_else(|| if luks { "123456" } else { "" }.into()),
            imgoptssyntax: get("IMGOPTSSYNTAX").map(|v| v == "true").unwrap_or(luks),
            imgfmt_generic: get("IMGFMT_GENERIC")
                .map(|v| v == "true")
                .unwrap_or(!["bochs", "cloop", "dmg", "vvfat"].contains(&imgfmt.as_str())),
            default_machine: get("QEMU_DEFAULT_MACHINE").map(OnceLock::from).unwrap_or_default(),
            test_dir_root: get("TEST_DIR").map(PathBuf::from),
            sock_dir_root: get("SOCK_DIR").map(PathBuf::from),
            tmp_dir: get("TMPDIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp")),
            output_dir: get("OUTPUT_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target/iotests")),
            sample_img_dir: get("SAMPLE_IMG_DIR")
                .map(PathBuf::from)
                .or_else(|| default_sample_img_dir(get(QEMU_SRC_VAR).as_deref())),
            socket_scm_helper: get("SOCKET_SCM_HELPER").unwrap_or_else(|| "socket_scm_helper".into()),
            debug: get("IOTESTS_DEBUG").is_some_and(|v| v != "0"),
            keep_scratch: get("IOTESTS_KEEP_SCRATCH").is_some_and(|v| v != "0"),
            halt_firmware: get("IOTESTS_HALT_FIRMWARE").is_none_or(|v| v != "0"),
            qemu,
            imgfmt,
            imgproto,
            imgopts,
            cachemode,
            cachemode_is_default,
            aiomode,
        }
    }

    /// `QEMU_OPTIONS`, split: as given, or testenv.py's default
    /// (`-nodefaults -display none -accel qtest`, `-accel tcg` when QEMU has
    /// no qtest accelerator — asked of QEMU on first use).
    ///
    /// ```
    /// use iotests::env::{TestEnv, Vars};
    /// let env = TestEnv::from_vars(&Vars::from([("QEMU_OPTIONS".into(), "-machine pc".into())]), "raw");
    /// assert_eq!(env.qemu_opts(), ["-machine", "pc"]);
    /// ```
    pub fn qemu_opts(&self) -> &[String] {
        self.qemu_opts.get_or_init(|| match &self.qemu_options_given {
            Some(o) => split_options(o),
            None => {
                let qtest = self.qemu.path.as_deref().is_some_and(|p| qemu_accels(p).iter().any(|a| a == "qtest"));
                let accel = if qtest { "qtest" } else { "tcg" };
                let mut o = format!("-nodefaults -display none -accel {accel}");
                o.push_str(&machine_option(&self.qemu.name));
                split_options(&o)
            }
        })
    }

    /// `QEMU_DEFAULT_MACHINE`: as given, or the `(default)` machine of
    /// `QEMU_PROG -machine help` (asked on first use; empty when QEMU is
    /// missing or has none).
    pub fn qemu_default_machine(&self) -> &str {
        self.default_machine.get_or_init(|| self.qemu.path.as_deref().map(qemu_default_machine_of).unwrap_or_default())
    }

    /// The qemu-img command prefix: program plus `QEMU_IMG_OPTIONS`.
    pub fn qemu_img_args(&self) -> Result<Vec<String>> {
        prefixed(&self.qemu_img, &self.qemu_img_options)
    }

    /// The qemu-io command prefix with `QEMU_IO_OPTIONS` (includes `-f`).
    pub fn qemu_io_args(&self) -> Result<Vec<String>> {
        prefixed(&self.qemu_io, &self.qemu_io_options)
    }

    /// The qemu-io command prefix with `QEMU_IO_OPTIONS_NO_FMT`.
    pub fn qemu_io_args_no_fmt(&self) -> Result<Vec<String>> {
        prefixed(&self.qemu_io, &self.qemu_io_options_no_fmt)
    }

    /// The qemu-nbd command prefix: program plus `QEMU_NBD_OPTIONS`.
    pub fn qemu_nbd_args(&self) -> Result<Vec<String>> {
        prefixed(&self.qemu_nbd, &self.qemu_nbd_options)
    }

    /// iotests' `luks_default_secret_object`.
    ///
    /// ```
    /// let env = iotests::env::TestEnv::from_vars(&[("IMGFMT".to_string(), "luks".to_string())].into(), "raw");
    /// assert_eq!(env.luks_default_secret_object(), "secret,id=keysec0,data=123456");
    /// ```
    pub fn luks_default_secret_object(&self) -> String {
        format!("secret,id=keysec0,data={}", self.imgkeysecret)
    }

    /// iotests' `luks_default_key_secret_opt`.
    pub fn luks_default_key_secret_opt(&self) -> &'static str {
        "key-secret=keysec0"
    }

    /// The variables as `check` would export them, in [`VARIABLES`] order.
    pub fn exported(&self) -> Vec<(&'static str, String)> {
        let opt = |v: &[String]| v.join(" ");
        let b = |v: bool| if v { "true" } else { "false" }.to_string();
        let dir = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        vec![
            ("QEMU_PROG", self.qemu.name.clone()),
            ("QEMU_IMG_PROG", self.qemu_img.name.clone()),
            ("QEMU_IO_PROG", self.qemu_io.name.clone()),
            ("QEMU_NBD_PROG", self.qemu_nbd.name.clone()),
            ("QSD_PROG", self.qsd.name.clone()),
            ("QEMU_OPTIONS", opt(self.qemu_opts())),
            ("QEMU_IMG_OPTIONS", opt(&self.qemu_img_options)),
            ("QEMU_IO_OPTIONS", opt(&self.qemu_io_options)),
            ("QEMU_IO_OPTIONS_NO_FMT", opt(&self.qemu_io_options_no_fmt)),
            ("QEMU_NBD_OPTIONS", opt(&self.qemu_nbd_options)),
            ("IMGFMT", self.imgfmt.clone()),
            ("IMGPROTO", self.imgproto.clone()),
            ("IMGOPTS", self.imgopts.clone().unwrap_or_default()),
            ("IMGKEYSECRET", self.imgkeysecret.clone()),
            ("IMGOPTSSYNTAX", b(self.imgoptssyntax)),
            ("IMGFMT_GENERIC", b(self.imgfmt_generic)),
            ("CACHEMODE", self.cachemode.clone()),
            ("AIOMODE", self.aiomode.clone()),
            ("QEMU_DEFAULT_MACHINE", self.qemu_default_machine().to_string()),
            ("TEST_DIR", dir(&self.test_dir_root)),
            ("SOCK_DIR", dir(&self.sock_dir_root)),
            ("OUTPUT_DIR", self.output_dir.display().to_string()),
            ("SAMPLE_IMG_DIR", dir(&self.sample_img_dir)),
            ("SOCKET_SCM_HELPER", self.socket_scm_helper.clone()),
            ("IOTESTS_DEBUG", b(self.debug)),
            ("IOTESTS_KEEP_SCRATCH", b(self.keep_scratch)),
            ("IOTESTS_HALT_FIRMWARE", b(self.halt_firmware)),
        ]
    }
}

/// The QEMU source tree (the directory holding `tests/qemu-iotests`) whose
/// sample images serve as the default `SAMPLE_IMG_DIR`. CI sets it.
pub const QEMU_SRC_VAR: &str = "IOTESTS_QEMU_SRC";

/// testenv.py's default `SAMPLE_IMG_DIR`, `<source>/tests/qemu-iotests/sample_images`,
/// for the QEMU source tree `src` — if that directory exists.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let src = dir.path().to_str().unwrap();
/// assert_eq!(iotests::env::default_sample_img_dir(Some(src)), None);
/// std::fs::create_dir_all(dir.path().join("tests/qemu-iotests/sample_images")).unwrap();
/// assert_eq!(iotests::env::default_sample_img_dir(Some(src)),
///            Some(dir.path().join("tests/qemu-iotests/sample_images")));
/// assert_eq!(iotests::env::default_sample_img_dir(None), None);
/// ```
pub fn default_sample_img_dir(src: Option<&str>) -> Option<PathBuf> {
    let dir = Path::new(src.filter(|s| !s.is_empty())?).join("tests/qemu-iotests/sample_images");
    dir.is_dir().then_some(dir)
}

fn prefixed(prog: &Program, options: &[String]) -> Result<Vec<String>> {
    let mut v = vec![prog.get()?.to_string()];
    v.extend(options.iter().cloned());
    Ok(v)
}

/// testenv.py's `machine_map`: targets whose default machine cannot run the
/// tests get a `-machine` option.
fn machine_option(qemu_prog: &str) -> String {
    const MACHINE_MAP: &[(&str, &str)] = &[
        ("arm", "virt"),
        ("aarch64", "virt"),
        ("avr", "mega2560"),
        ("m68k", "virt"),
        ("or1k", "virt"),
        ("riscv32", "virt"),
        ("riscv64", "virt"),
        ("rx", "gdbsim-r5f562n8"),
        ("sh4", "r2d"),
        ("sh4eb", "r2d"),
        ("tricore", "tricore_testboard"),
    ];
    MACHINE_MAP
        .iter()
        .filter(|(suffix, _)| qemu_prog.ends_with(&format!("qemu-system-{suffix}")))
        .map(|(_, m)| format!(" -machine {m}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn qcow2_defaults_match_testenv() {
        let env = TestEnv::from_vars(&vars(&[("QEMU_PROG", "/nonexistent")]), "qcow2");
        assert_eq!(env.imgfmt, "qcow2");
        assert_eq!(env.qemu_io_options.join(" "), "--cache writeback --aio threads -f qcow2");
        assert_eq!(env.qemu_io_options_no_fmt.join(" "), "--cache writeback --aio threads");
        assert!(!env.imgoptssyntax);
        assert_eq!(env.imgkeysecret, "");
        assert!(env.imgfmt_generic);
        assert!(env.cachemode_is_default);
        assert_eq!(env.qemu_opts().join(" "), "-nodefaults -display none -accel tcg");
        assert!(matches!(env.qemu.get(), Err(Error::MissingBinary { var: "QEMU_PROG", .. })));
    }

    #[test]
    fn vmdk_and_luks_imgopts_are_appended() {
        let env = TestEnv::from_vars(&vars(&[("IMGFMT", "vmdk"), ("IMGOPTS", "subformat=monolithicFlat")]), "raw");
        assert_eq!(env.imgopts.as_deref(), Some("subformat=monolithicFlat,zeroed_grain=on"));
        let env = TestEnv::from_vars(&vars(&[("IMGFMT", "luks"), ("IMGOPTS", "iter-time=5")]), "raw");
        assert_eq!(env.imgopts.as_deref(), Some("iter-time=5"));
    }

    #[test]
    fn explicit_options_are_split_like_iotests() {
        let env = TestEnv::from_vars(
            &vars(&[("QEMU_OPTIONS", " -machine  pc "), ("CACHEMODE", "none"), ("AIOMODE", "native")]),
            "raw",
        );
        assert_eq!(env.qemu_opts(), ["-machine", "", "pc"]);
        assert_eq!(env.qemu_io_options.join(" "), "--cache none --aio native -f raw");
        assert!(!env.cachemode_is_default);
    }

    #[test]
    fn machine_map_applies_to_arm() {
        assert_eq!(machine_option("/usr/bin/qemu-system-aarch64"), " -machine virt");
        assert_eq!(machine_option("qemu-system-x86_64"), "");
    }

    #[test]
    fn missing_binary_names_the_variable() {
        let env = TestEnv::from_vars(&vars(&[("QEMU_IMG_PROG", "/no/such/qemu-img")]), "raw");
        let err = env.qemu_img_args().unwrap_err().to_string();
        assert!(err.contains("/no/such/qemu-img") && err.contains("QEMU_IMG_PROG"), "{err}");
    }

    #[test]
    fn sample_img_dir_defaults_to_the_qemu_source_tree() {
        let src = tempfile::tempdir().unwrap();
        let samples = src.path().join("tests/qemu-iotests/sample_images");
        let src_str = src.path().to_str().unwrap();
        // No sample directory in the tree: none.
        assert_eq!(TestEnv::from_vars(&vars(&[(QEMU_SRC_VAR, src_str)]), "raw").sample_img_dir, None);
        std::fs::create_dir_all(&samples).unwrap();
        assert_eq!(TestEnv::from_vars(&vars(&[(QEMU_SRC_VAR, src_str)]), "raw").sample_img_dir, Some(samples));
        // SAMPLE_IMG_DIR wins, even when it does not exist.
        let env = TestEnv::from_vars(&vars(&[(QEMU_SRC_VAR, src_str), ("SAMPLE_IMG_DIR", "/no/such/dir")]), "raw");
        assert_eq!(env.sample_img_dir, Some(PathBuf::from("/no/such/dir")));
        assert_eq!(TestEnv::from_vars(&vars(&[]), "raw").sample_img_dir, None);
    }

    #[test]
    fn installed_qemu_is_probed() {
        let Some(path) = which("qemu-system-x86_64") else {
            eprintln!("not run: qemu-system-x86_64 not installed");
            return;
        };
        let accels = qemu_accels(&path);
        assert!(accels.iter().any(|a| a == "tcg"), "{accels:?}");
        assert!(!qemu_default_machine_of(&path).is_empty());
    }
}
