//! iotests' `_verify_*` checks, run before a test in `execute_setup_common`'s
//! order. Each returns [`Error::NotRun`] with iotests' exact reason when the
//! matrix cell (format, protocol, cache mode, …) is not one the test runs in.

use crate::env::TestEnv;
use crate::error::{Error, Result};

use super::declare::{TestSpec, python_platform};
use super::probes;

fn not_run<T>(reason: String) -> Result<T> {
    Err(Error::NotRun(reason))
}

/// iotests' `_verify_image_format`: `generic` in `supported` means any
/// format when `IMGFMT_GENERIC` is true; LUKS must also work.
///
/// ```
/// use iotests::env::{TestEnv, Vars};
/// let env = TestEnv::from_vars(&Vars::from([("IMGFMT".into(), "vmdk".into())]), "raw");
/// let err = iotests::harness::verify_image_format(&env, &["qcow2"], &[]).unwrap_err();
/// assert_eq!(err.to_string(), "not run: not suitable for this image format: vmdk");
/// ```
pub fn verify_image_format(env: &TestEnv, supported: &[&str], unsupported: &[&str]) -> Result<()> {
    let supported = if supported.contains(&"generic") && env.imgfmt_generic { &[][..] } else { supported };
    let fmt = env.imgfmt.as_str();
    if (!supported.is_empty() && !supported.contains(&fmt)) || unsupported.contains(&fmt) {
        return not_run(format!("not suitable for this image format: {fmt}"));
    }
    if fmt == "luks" {
        probes::verify_working_luks(env)?;
    }
    Ok(())
}

/// iotests' `_verify_protocol`.
///
/// ```
/// use iotests::env::{TestEnv, Vars};
/// let env = TestEnv::from_vars(&Vars::from([("IMGPROTO".into(), "nbd".into())]), "raw");
/// assert!(iotests::harness::verify_protocol(&env, &["generic"], &[]).is_ok());
/// let err = iotests::harness::verify_protocol(&env, &["file"], &[]).unwrap_err();
/// assert_eq!(err.to_string(), "not run: not suitable for this protocol: nbd");
/// ```
pub fn verify_protocol(env: &TestEnv, supported: &[&str], unsupported: &[&str]) -> Result<()> {
    if supported.contains(&"generic") {
        return Ok(());
    }
    let proto = env.imgproto.as_str();
    if (!supported.is_empty() && !supported.contains(&proto)) || unsupported.contains(&proto) {
        return not_run(format!("not suitable for this protocol: {proto}"));
    }
    Ok(())
}

/// iotests' `_verify_platform`: entries are prefixes of Python's
/// `sys.platform` (`linux`, `darwin`, `freebsd`, …).
///
/// ```
/// assert!(iotests::harness::verify_platform(&["linux", "freebsd"], &[]).is_ok() || !cfg!(target_os = "linux"));
/// ```
pub fn verify_platform(supported: &[&str], unsupported: &[&str]) -> Result<()> {
    let platform = python_platform();
    let matches = |list: &[&str]| list.iter().any(|p| platform.starts_with(p));
    if matches(unsupported) || (!supported.is_empty() && !matches(supported)) {
        return not_run(format!("not suitable for this OS: {platform}"));
    }
    Ok(())
}

/// iotests' `_verify_cache_mode`.
///
/// ```
/// use iotests::env::{TestEnv, Vars};
/// let env = TestEnv::from_vars(&Vars::from([("CACHEMODE".into(), "none".into())]), "raw");
/// assert!(iotests::harness::verify_cache_mode(&env, &["none", "writethrough"]).is_ok());
/// assert!(iotests::harness::verify_cache_mode(&env, &["writeback"]).is_err());
/// ```
pub fn verify_cache_mode(env: &TestEnv, supported: &[&str]) -> Result<()> {
    if !supported.is_empty() && !supported.contains(&env.cachemode.as_str()) {
        return not_run(format!("not suitable for this cache mode: {}", env.cachemode));
    }
    Ok(())
}

/// iotests' `_verify_aio_mode`.
///
/// ```
/// use iotests::env::{TestEnv, Vars};
/// let env = TestEnv::from_vars(&Vars::new(), "raw");
/// let err = iotests::harness::verify_aio_mode(&env, &["native"]).unwrap_err();
/// assert_eq!(err.to_string(), "not run: not suitable for this aio mode: threads");
/// ```
pub fn verify_aio_mode(env: &TestEnv, supported: &[&str]) -> Result<()> {
    if !supported.is_empty() && !supported.contains(&env.aiomode.as_str()) {
        return not_run(format!("not suitable for this aio mode: {}", env.aiomode));
    }
    Ok(())
}

/// iotests' `_verify_formats`: every required format is in QEMU's
/// read-write whitelist.
///
/// ```no_run
/// let env = iotests::env::TestEnv::from_process_env("raw");
/// let err = iotests::harness::verify_formats(&env, &["qcow2", "nope"]).unwrap_err();
/// assert_eq!(err.to_string(), "not run: formats ['nope'] are not whitelisted");
/// ```
pub fn verify_formats(env: &TestEnv, required: &[&str]) -> Result<()> {
    let missing = probes::unsupported_formats(env, required, false)?;
    if !missing.is_empty() {
        return not_run(format!("formats {} are not whitelisted", probes::py_list(&missing)));
    }
    Ok(())
}

/// iotests' `_verify_imgopts`: `IMGOPTS` must contain none of `unsupported`,
/// nor a `$` (a bash-only variable reference).
///
/// ```
/// use iotests::env::{TestEnv, Vars};
/// let env = TestEnv::from_vars(&Vars::from([("IMGOPTS".into(), "compat=0.10".into())]), "qcow2");
/// let err = iotests::harness::verify_imgopts(&env, &["compat"]).unwrap_err();
/// assert_eq!(err.to_string(), "not run: not suitable for this imgopts: compat=0.10");
/// ```
pub fn verify_imgopts(env: &TestEnv, unsupported: &[&str]) -> Result<()> {
    if let Some(opts) = env.imgopts.as_deref().filter(|o| !o.is_empty())
        && (opts.contains('$') || unsupported.iter().any(|u| opts.contains(u)))
    {
        return not_run(format!("not suitable for this imgopts: {opts}"));
    }
    Ok(())
}

/// iotests' `execute_setup_common` checks, in its order: image format,
/// protocol, platform, cache mode, aio mode, required formats, virtio-blk,
/// imgopts. The first that fails decides the reason.
///
/// ```no_run
/// use iotests::harness::TestSpec;
/// let spec = TestSpec::new("209").supported_fmts(&["qcow2"]);
/// let env = iotests::env::TestEnv::from_process_env(spec.default_fmt());
/// match iotests::harness::verify_setup(&spec, &env) {
///     Ok(()) => println!("runs here"),
///     Err(e) => println!("{e}"),
/// }
/// ```
pub fn verify_setup(spec: &TestSpec, env: &TestEnv) -> Result<()> {
    verify_image_format(env, spec.supported_fmts, spec.unsupported_fmts)?;
    verify_protocol(env, spec.supported_protocols, spec.unsupported_protocols)?;
    verify_platform(spec.supported_platforms, &[])?;
    verify_cache_mode(env, spec.supported_cache_modes)?;
    verify_aio_mode(env, spec.supported_aio_modes)?;
    verify_formats(env, spec.required_fmts)?;
    probes::verify_virtio_blk(env)?;
    verify_imgopts(env, spec.unsupported_imgopts)?;
    Ok(())
}
