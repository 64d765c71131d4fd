//! Questions asked of the QEMU binaries before (or while) a test runs:
//! iotests' `qemu_pipe`, `supported_formats`, `supports_quorum`,
//! `has_working_luks`, `supports_qcow2_zstd_compression` and the
//! `verify_*` functions that turn a "no" into [`Error::NotRun`].
//!
//! Each probe runs at most once per process for a given command line (so per
//! binary path and options): tests run as threads of one process and would
//! otherwise start the same `qemu -device help` hundreds of times. Only
//! successful answers are cached; a probe that could not run is retried.

use crate::env::TestEnv;
use crate::env::probe;
use crate::error::{Error, Result};

/// A probe run once per call (`qemu_pipe` is not cached in Python either).
fn run_probe(tool: &str, argv: &[String]) -> Result<probe::ProbeOutput> {
    probe::run(tool, argv)
}

fn qemu_argv(env: &TestEnv, args: &[&str]) -> Result<Vec<String>> {
    let mut argv = vec![env.qemu.get()?.to_string()];
    argv.extend(env.qemu_opts().iter().cloned());
    argv.extend(args.iter().map(|a| a.to_string()));
    Ok(argv)
}

/// iotests' `qemu_pipe(*args)`: run `QEMU_PROG QEMU_OPTIONS args…` (to print
/// something and exit) and return its stdout and stderr. Not cached.
///
/// ```no_run
/// let env = iotests::env::TestEnv::from_process_env("raw");
/// let help = iotests::harness::qemu_pipe(&env, &["-M", "none", "-device", "help"])?;
/// assert!(help.contains("virtio-blk"));
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn qemu_pipe(env: &TestEnv, args: &[&str]) -> Result<String> {
    Ok(run_probe("qemu", &qemu_argv(env, args)?)?.stdout)
}

/// [`qemu_pipe`], cached per command line.
fn qemu_pipe_cached(env: &TestEnv, args: &[&str]) -> Result<String> {
    Ok(probe::run_cached("qemu", &qemu_argv(env, args)?)?.stdout)
}

/// `qemu -M none -device help`, once per binary.
fn device_help(env: &TestEnv) -> Result<String> {
    qemu_pipe_cached(env, &["-M", "none", "-device", "help"])
}

/// Whether the QEMU binary has the `virtio-blk` device.
pub fn has_virtio_blk(env: &TestEnv) -> Result<bool> {
    Ok(device_help(env)?.contains("virtio-blk"))
}

/// iotests' `_verify_virtio_blk`: not run without `virtio-blk`.
///
/// ```no_run
/// iotests::harness::verify_virtio_blk(&iotests::env::TestEnv::from_process_env("raw"))?;
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn verify_virtio_blk(env: &TestEnv) -> Result<()> {
    if has_virtio_blk(env)? { Ok(()) } else { Err(Error::NotRun("Missing virtio-blk in QEMU binary".into())) }
}

/// iotests' `verify_virtio_scsi_pci_or_ccw`.
pub fn verify_virtio_scsi_pci_or_ccw(env: &TestEnv) -> Result<()> {
    let out = device_help(env)?;
    if out.contains("virtio-scsi-pci") || out.contains("virtio-scsi-ccw") {
        Ok(())
    } else {
        Err(Error::NotRun("Missing virtio-scsi-pci or virtio-scsi-ccw in QEMU binary".into()))
    }
}

/// Parse `qemu -drive format=help`: line 0 is the read-write whitelist,
/// line 1 the read-only one, each `Supported formats…: fmt fmt …` —
/// Python's `splitlines()[line].split(":")[1].split()`.
///
/// ```
/// let help = "Supported formats: raw qcow2\nSupported formats (read-only): vmdk\n";
/// assert_eq!(iotests::harness::parse_supported_formats(help, false).unwrap(), ["raw", "qcow2"]);
/// assert_eq!(iotests::harness::parse_supported_formats(help, true).unwrap(), ["vmdk"]);
/// ```
pub fn parse_supported_formats(help: &str, read_only: bool) -> Result<Vec<String>> {
    let line = usize::from(read_only);
    help.lines()
        .nth(line)
        .and_then(|l| l.split(':').nth(1))
        .map(|f| f.split_whitespace().map(str::to_string).collect())
        .ok_or_else(|| Error::Unexpected(format!("unexpected output of `qemu -drive format=help`:\n{help}")))
}

/// iotests' `supported_formats(read_only)`: the formats QEMU's block-driver
/// whitelist allows, read-write (`false`) or read-only (`true`).
///
/// ```no_run
/// let env = iotests::env::TestEnv::from_process_env("raw");
/// assert!(iotests::harness::supported_formats(&env, false)?.iter().any(|f| f == "qcow2"));
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn supported_formats(env: &TestEnv, read_only: bool) -> Result<Vec<String>> {
    parse_supported_formats(&qemu_pipe_cached(env, &["-drive", "format=help"])?, read_only)
}

/// The formats of `required` missing from [`supported_formats`], in
/// `required`'s order (Python takes a set difference, whose order is
/// arbitrary).
pub fn unsupported_formats(env: &TestEnv, required: &[&str], read_only: bool) -> Result<Vec<String>> {
    if required.is_empty() {
        return Ok(Vec::new());
    }
    let have = supported_formats(env, read_only)?;
    let mut missing: Vec<String> = Vec::new();
    for f in required {
        if !have.iter().any(|h| h == f) && !missing.iter().any(|m| m == f) {
            missing.push(f.to_string());
        }
    }
    Ok(missing)
}

/// A list as Python prints it: `['a', 'b']`.
///
/// ```
/// assert_eq!(iotests::harness::py_list(&["quorum".to_string()]), "['quorum']");
/// ```
pub fn py_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| crate::json::py_str_repr(s)).collect();
    format!("[{}]", inner.join(", "))
}

fn qemu_img_argv(env: &TestEnv, args: &[&str]) -> Result<Vec<String>> {
    let mut argv = env.qemu_img_args()?;
    argv.extend(args.iter().map(|a| a.to_string()));
    Ok(argv)
}

/// iotests' `supports_quorum()`: `qemu-img --help` lists `quorum`.
pub fn supports_quorum(env: &TestEnv) -> Result<bool> {
    let argv = qemu_img_argv(env, &["--help"])?;
    Ok(probe::run_cached("qemu-img", &argv)?.stdout.contains("quorum"))
}

/// iotests' `verify_quorum()`.
pub fn verify_quorum(env: &TestEnv) -> Result<()> {
    if supports_quorum(env)? { Ok(()) } else { Err(Error::NotRun("quorum support missing".into())) }
}

/// A scratch directory for probes that create an image: not a test's own,
/// since the answer is shared by all tests. Removed also on SIGTERM,
/// SIGINT or SIGHUP (see [`crate::cleanup`]).
fn probe_dir() -> Result<crate::cleanup::ScratchDir> {
    crate::cleanup::ScratchDir::new("iotests-probe-")
}

/// iotests' `has_working_luks()`: whether qemu-img can create a LUKS image,
/// and if not, why (the part of its message after `<image>:`).
///
/// ```no_run
/// let env = iotests::env::TestEnv::from_process_env("raw");
/// let (works, why) = iotests::harness::has_working_luks(&env)?;
/// assert!(works || !why.is_empty());
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn has_working_luks(env: &TestEnv) -> Result<(bool, String)> {
    let key = qemu_img_argv(env, &["create", "-f", "luks", "--object", &format!("secret,data={}", env.imgkeysecret)])?;
    probe::cached(&key, || {
        let dir = probe_dir()?;
        let img_file = format!("{}/luks-test.luks", dir.path().display());
        let secret = format!("secret,id=keysec0,data={}", env.imgkeysecret);
        let argv = qemu_img_argv(
            env,
            &[
                "create",
                "-f",
                "luks",
                "--object",
                &secret,
                "-o",
                env.luks_default_key_secret_opt(),
                "-o",
                "iter-time=10",
                &img_file,
                "1G",
            ],
        )?;
        // QEMU's PBKDF benchmark is CPU-bound: on a busy machine it takes
        // longer than a probe may; give it what any qemu-img run in a test
        // gets (upstream waits without a limit).
        let res = probe::run_for("qemu-img", &argv, crate::process::DEFAULT_TOOL_TIMEOUT)?;
        if res.returncode == 0 {
            return Ok((true, String::new()));
        }
        let marker = format!("{img_file}:");
        let reason = res
            .stdout
            .lines()
            .find_map(|l| l.split_once(&marker).map(|(_, r)| r.trim().to_string()))
            .unwrap_or(res.stdout);
        Ok((false, reason))
    })
}

/// iotests' `verify_working_luks()`: not run, with qemu-img's reason, when
/// LUKS images cannot be created.
pub fn verify_working_luks(env: &TestEnv) -> Result<()> {
    match has_working_luks(env)? {
        (true, _) => Ok(()),
        // Python passes qemu-img's message on even when it is empty; a
        // not-run always says why.
        (false, reason) if reason.trim().is_empty() => {
            Err(Error::NotRun("qemu-img cannot create a LUKS image (it failed without a message)".into()))
        }
        (false, reason) => Err(Error::NotRun(reason)),
    }
}

/// iotests' `supports_qcow2_zstd_compression()`.
pub fn supports_qcow2_zstd_compression(env: &TestEnv) -> Result<bool> {
    let key = qemu_img_argv(env, &["create", "-f", "qcow2", "-o", "compression_type=zstd"])?;
    probe::cached(&key, || {
        let dir = probe_dir()?;
        let img_file = format!("{}/qcow2-zstd-test.qcow2", dir.path().display());
        let argv = qemu_img_argv(env, &["create", "-f", "qcow2", "-o", "compression_type=zstd", &img_file, "0"])?;
        let res = run_probe("qemu-img", &argv)?;
        Ok(!(res.returncode == 1 && res.stdout.contains("'compression-type' does not accept value 'zstd'")))
    })
}

/// iotests' `verify_qcow2_zstd_compression()`.
pub fn verify_qcow2_zstd_compression(env: &TestEnv) -> Result<()> {
    if supports_qcow2_zstd_compression(env)? {
        Ok(())
    } else {
        Err(Error::NotRun("zstd compression not supported".into()))
    }
}
