//! Upstream 149: interoperability of QEMU's luks driver with Linux dm-crypt/cryptsetup (images made by each, read
//! and written by the other).
//!
//! It needs password-less `sudo`, `cryptsetup` and the kernel's device-mapper (dm-crypt). Without them it is not
//! run: with upstream's reason when `sudo` fails (where Python would die of `FileNotFoundError` if there is no
//! `sudo` at all, the reason names that), and — our addition, as upstream would fail at the first `luksOpen` —
//! when cryptsetup or device-mapper is missing. Its snapshot is QEMU's `149.out`, imported (`iotests out
//! import`) rather than recorded: no machine the port was checked on had device-mapper.

use std::collections::BTreeMap;

use iotests::codecs;
use iotests::prelude::*;
use iotests::process::{self, RunOptions};

/// Represent configuration parameters for a single LUKS
/// setup to be tested
struct LUKSConfig {
    name: &'static str,
    cipher: &'static str,
    keylen: u32,
    mode: &'static str,
    ivgen: &'static str,
    ivgen_hash: Option<&'static str>,
    hash: Option<&'static str>,
    passwords: BTreeMap<String, String>,
}

impl LUKSConfig {
    /// `LUKSConfig(name, cipher, keylen, mode, ivgen, ivgen_hash, hash)`:
    /// the password `123456` in slot 0.
    fn new(
        name: &'static str,
        cipher: &'static str,
        keylen: u32,
        mode: &'static str,
        ivgen: &'static str,
        ivgen_hash: Option<&'static str>,
        hash: Option<&'static str>,
    ) -> LUKSConfig {
        LUKSConfig::with_passwords(name, cipher, keylen, mode, ivgen, ivgen_hash, hash, &[("0", "123456")])
    }

    /// `LUKSConfig(…, passwords={slot: password, …})`.
    #[allow(clippy::too_many_arguments)]
    fn with_passwords(
        name: &'static str,
        cipher: &'static str,
        keylen: u32,
        mode: &'static str,
        ivgen: &'static str,
        ivgen_hash: Option<&'static str>,
        hash: Option<&'static str>,
        passwords: &[(&str, &str)],
    ) -> LUKSConfig {
        let passwords = passwords.iter().map(|(s, p)| (s.to_string(), p.to_string())).collect();
        LUKSConfig { name, cipher, keylen, mode, ivgen, ivgen_hash, hash, passwords }
    }

    fn image_name(&self) -> String {
        format!("luks-{}.img", self.name)
    }

    fn image_path(&self) -> String {
        os::path::join(test_dir(), self.image_name())
    }

    fn device_name(&self) -> String {
        format!("qiotest-145-{}", self.name)
    }

    fn device_path(&self) -> String {
        "/dev/mapper/".to_string() + &self.device_name()
    }

    fn first_password(&self) -> Result<(String, String)> {
        for i in 0..8 {
            let slot = i.to_string();
            if let Some(password) = self.passwords.get(&slot) {
                return Ok((password.clone(), slot));
            }
        }
        Err(Error::exception("No password found"))
    }

    fn first_password_base64(&self) -> Result<String> {
        let (pw, _slot) = self.first_password()?;
        Ok(codecs::b64encode(pw.as_bytes()))
    }

    fn active_slots(&self) -> Vec<String> {
        (0..8).map(|i| i.to_string()).filter(|slot| self.passwords.contains_key(slot)).collect()
    }
}

/// Python's `subprocess.Popen(args, stdin=PIPE, stdout=PIPE,
/// stderr=STDOUT).communicate(input)`: the exit status and the output.
fn popen_communicate(t: &TestContext, args: &[String], input: Option<String>) -> Result<(i32, String)> {
    let opts = RunOptions { combine_stdio: true, stdin: input, ..RunOptions::default() };
    let out = process::run(&args[0], args, &opts, t.processes())?;
    Ok((out.returncode, out.stdout))
}

/// Check whether sudo is configured to allow
/// password-less access to commands
fn verify_passwordless_sudo(t: &TestContext) -> Result<()> {
    let args = args!["sudo", "-n", "/bin/true"];

    let (returncode, msg) = match popen_communicate(t, &args, None) {
        Ok(r) => r,
        // Python dies here of FileNotFoundError; the requirement is the same.
        Err(Error::Spawn { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            (-1, "[Errno 2] No such file or directory: 'sudo'".to_string())
        }
        Err(e) => return Err(e),
    };

    if returncode != 0 {
        return t.notrun(format!("requires password-less sudo access: {msg}"));
    }
    Ok(())
}

/// Not upstream's: the other things dm-crypt needs, which upstream finds
/// missing only when a `cryptsetup` command fails.
fn verify_dm_crypt(t: &TestContext) -> Result<()> {
    if iotests::env::which("cryptsetup").is_none() {
        return t.notrun("requires cryptsetup");
    }
    if !device_mapper_available() {
        return t.notrun("requires the kernel's device-mapper for dm-crypt (not in /proc/misc, no dm-mod module)");
    }
    Ok(())
}

/// Whether the kernel has device-mapper: registered (`/proc/misc`), or a
/// module that the first cryptsetup command will load. (Asking `dmsetup`
/// would leave a `/dev/mapper/control` node behind where there is none.)
fn device_mapper_available() -> bool {
    let misc = std::fs::read_to_string("/proc/misc").unwrap_or_default();
    if misc.lines().any(|l| l.trim_end().ends_with(" device-mapper")) {
        return true;
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dir = format!("/lib/modules/{}/kernel/drivers/md", release.trim());
    std::fs::read_dir(dir)
        .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("dm-mod.ko")))
        .unwrap_or(false)
}

/// Run the cryptsetup command in batch mode
fn cryptsetup(t: &TestContext, args: &[String], password: Option<String>) -> Result<()> {
    let mut fullargs = args!["sudo", "cryptsetup", "-q", "-v"];
    fullargs.extend(args.iter().cloned());

    t.log_with(fullargs.join(" "), &[Filter::TestDir]);
    let (returncode, msg) = popen_communicate(t, &fullargs, password)?;

    if returncode != 0 {
        return Err(Error::exception(msg));
    }
    Ok(())
}

/// Add another password to a LUKS key slot
fn cryptsetup_add_password(t: &TestContext, config: &LUKSConfig, slot: &str) -> Result<()> {
    let (password, _mainslot) = config.first_password()?;

    let pwfile = os::path::join(test_dir(), "passwd.txt");
    std::fs::write(&pwfile, &config.passwords[slot]).with_context(|| format!("writing {pwfile}"))?;

    let args =
        args!["luksAddKey", config.image_path(), "--key-slot", slot, "--key-file", "-", "--iter-time", "10", &pwfile];
    let result = cryptsetup(t, &args, Some(password));
    // finally:
    os::unlink(&pwfile)?;
    result
}

/// Format a new LUKS volume with cryptsetup, adding the
/// first key slot only
fn cryptsetup_format(t: &TestContext, config: &LUKSConfig) -> Result<()> {
    let (password, slot) = config.first_password()?;

    let mut args = args!["luksFormat", "--type", "luks1"];
    let mut cipher = format!("{}-{}-{}", config.cipher, config.mode, config.ivgen);
    if let Some(ivgen_hash) = config.ivgen_hash {
        cipher = cipher + ":" + ivgen_hash;
    } else if config.ivgen == "essiv" {
        cipher = cipher + ":" + "sha256";
    }
    args.extend(args!["--cipher", cipher]);
    if config.mode == "xts" {
        args.extend(args!["--key-size", (config.keylen * 2).to_string()]);
    } else {
        args.extend(args!["--key-size", config.keylen.to_string()]);
    }
    if let Some(hash) = config.hash {
        args.extend(args!["--hash", hash]);
    }
    args.extend(args!["--key-slot", slot]);
    args.extend(args!["--key-file", "-"]);
    args.extend(args!["--iter-time", "10"]);
    args.push(config.image_path());

    cryptsetup(t, &args, Some(password))
}

/// Set the ownership of a open LUKS device to this user
fn chown(t: &TestContext, config: &LUKSConfig) -> Result<()> {
    let path = config.device_path();

    let args = args!["sudo", "chown", format!("{}:{}", os::getuid(), os::getgid()), path];
    t.log_with(args.join(" "), &[Filter::Chown]);
    let (returncode, msg) = popen_communicate(t, &args, None)?;

    if returncode != 0 {
        return Err(Error::exception(msg));
    }
    Ok(())
}

/// Open an image as a LUKS device
fn cryptsetup_open(t: &TestContext, config: &LUKSConfig) -> Result<()> {
    let (password, _slot) = config.first_password()?;

    let args = args!["luksOpen", config.image_path(), config.device_name()];

    cryptsetup(t, &args, Some(password))
}

/// Close an active LUKS device
fn cryptsetup_close(t: &TestContext, config: &LUKSConfig) -> Result<()> {
    let args = args!["luksClose", config.device_name()];
    cryptsetup(t, &args, None)
}

/// Delete a disk image
fn delete_image(t: &TestContext, config: &LUKSConfig) {
    // try: … except Exception: pass
    if os::unlink(config.image_path()).is_ok() {
        t.log_with(format!("unlink {}", config.image_path()), &[Filter::TestDir]);
    }
}

/// Create a bare disk image with requested size
fn create_image(t: &TestContext, config: &LUKSConfig, size_mb: u64) -> Result<()> {
    delete_image(t, config);
    t.log_with(format!("truncate {} --size {size_mb}MB", config.image_path()), &[Filter::TestDir]);
    let file =
        std::fs::File::create(config.image_path()).with_context(|| format!("creating {}", config.image_path()))?;
    file.set_len(size_mb * 1024 * 1024).with_context(|| format!("truncating {}", config.image_path()))
}

/// Check the output of qemu-img or qemu-io for mention of the respective
/// cipher algorithm being unsupported, and if so, skip this test.
/// (Returns `output` for convenience.)
fn check_cipher_support(t: &TestContext, config: &LUKSConfig, output: String) -> Result<String> {
    if output.contains("Unsupported cipher algorithm") {
        return t.notrun(format!(
            "Unsupported cipher algorithm {}-{}-{}; consider configuring qemu with a different crypto backend",
            config.cipher, config.keylen, config.mode
        ));
    }
    Ok(output)
}

/// Create and format a disk image with LUKS using qemu-img
fn qemu_img_create(t: &TestContext, config: &LUKSConfig, size_mb: u64) -> Result<()> {
    let mut opts = vec![
        "key-secret=sec0".to_string(),
        "iter-time=10".to_string(),
        format!("cipher-alg={}-{}", config.cipher, config.keylen),
        format!("cipher-mode={}", config.mode),
        format!("ivgen-alg={}", config.ivgen),
        format!("hash-alg={}", config.hash.unwrap_or("None")),
    ];
    if let Some(ivgen_hash) = config.ivgen_hash {
        opts.push(format!("ivgen-hash-alg={ivgen_hash}"));
    }

    let args = args![
        "create",
        "-f",
        "luks",
        "--object",
        format!("secret,id=sec0,data={},format=base64", config.first_password_base64()?),
        "-o",
        opts.join(","),
        config.image_path(),
        format!("{size_mb}M")
    ];

    t.log_with(format!("qemu-img {}", args.join(" ")), &[Filter::TestDir]);
    match t.qemu_img(&args) {
        Ok(_) => Ok(()),
        Err(Error::ToolFailed { output, tool, cmdline, status, signal }) => {
            check_cipher_support(t, config, output.clone())?;
            Err(Error::ToolFailed { output, tool, cmdline, status, signal })
        }
        Err(e) => Err(e),
    }
}

/// Get the args for access an image or device with qemu-io
fn qemu_io_image_args(config: &LUKSConfig, dev: bool) -> Result<Vec<String>> {
    if dev {
        Ok(args!["--image-opts", format!("driver=host_device,filename={}", config.device_path())])
    } else {
        Ok(args![
            "--object",
            format!("secret,id=sec0,data={},format=base64", config.first_password_base64()?),
            "--image-opts",
            format!("driver=luks,key-secret=sec0,file.filename={}", config.image_path())
        ])
    }
}

/// Write (`write`) or read (`read`) a pattern of data to a LUKS image or
/// device: upstream's `qemu_io_write_pattern` and `qemu_io_read_pattern`,
/// which differ only in that word.
fn qemu_io_pattern(
    t: &TestContext,
    op: &str,
    config: &LUKSConfig,
    pattern: u8,
    offset_mb: u64,
    size_mb: u64,
    dev: bool,
) -> Result<()> {
    if dev {
        chown(t, config)?;
    }
    let mut args = args!["-c", format!("{op} -P {pattern:#x} {offset_mb}M {size_mb}M")];
    args.extend(qemu_io_image_args(config, dev)?);
    t.log_with(format!("qemu-io {}", args.join(" ")), &[Filter::TestDir]);
    let output = t.qemu_io_cmd(&args).check(false).run()?.stdout;
    t.log_with(check_cipher_support(t, config, output)?, &[Filter::TestDir, Filter::QemuIo]);
    Ok(())
}

/// Write a pattern of data to a LUKS image or device
fn qemu_io_write_pattern(
    t: &TestContext,
    config: &LUKSConfig,
    pattern: u8,
    offset_mb: u64,
    size_mb: u64,
    dev: bool,
) -> Result<()> {
    qemu_io_pattern(t, "write", config, pattern, offset_mb, size_mb, dev)
}

/// Read a pattern of data to a LUKS image or device
fn qemu_io_read_pattern(
    t: &TestContext,
    config: &LUKSConfig,
    pattern: u8,
    offset_mb: u64,
    size_mb: u64,
    dev: bool,
) -> Result<()> {
    qemu_io_pattern(t, "read", config, pattern, offset_mb, size_mb, dev)
}

/// Python's `try: body finally: cleanup`: the cleanup's exception, if it
/// raises one, replaces the body's.
fn finally(body: Result<()>, cleanup: Result<()>) -> Result<()> {
    cleanup.and(body)
}

/// Run the test with a desired LUKS configuration. Can either
/// use qemu-img for creating the initial volume, or cryptsetup,
/// in order to test interoperability in both directions
fn test_once(t: &TestContext, config: &LUKSConfig, qemu_img: bool) -> Result<()> {
    t.log(format!(
        "# ================= {} {} =================",
        if qemu_img { "qemu-img" } else { "dm-crypt" },
        config.name
    ));

    let one_kb: u64 = 1024;
    let one_mb = one_kb * 1024;
    let one_gb = one_mb * 1024;
    let one_tb = one_gb * 1024;

    // 4 TB, so that we pass the 32-bit sector number boundary.
    // Important for testing correctness of some IV generators
    // The files are sparse, so not actually using this much space
    let image_size = 4 * one_tb;
    if qemu_img {
        t.log("# Create image");
        qemu_img_create(t, config, image_size / one_mb)?;
    } else {
        t.log("# Create image");
        create_image(t, config, image_size / one_mb)?;
    }

    let low_offset_mb = 100;
    let high_offset_mb = 3 * one_tb / one_mb;

    let body = || -> Result<()> {
        if !qemu_img {
            t.log("# Format image");
            cryptsetup_format(t, config)?;

            for slot in &config.active_slots()[1..] {
                t.log(format!("# Add password slot {slot}"));
                cryptsetup_add_password(t, config, slot)?;
            }
        }

        // First we'll open the image using cryptsetup and write a
        // known pattern of data that we'll then verify with QEMU

        t.log("# Open dev");
        cryptsetup_open(t, config)?;

        let written = (|| -> Result<()> {
            t.log("# Write test pattern 0xa7");
            qemu_io_write_pattern(t, config, 0xa7, low_offset_mb, 10, true)?;
            t.log("# Write test pattern 0x13");
            qemu_io_write_pattern(t, config, 0x13, high_offset_mb, 10, true)
        })();
        t.log("# Close dev");
        finally(written, cryptsetup_close(t, config))?;

        // Ok, now we're using QEMU to verify the pattern just
        // written via dm-crypt

        t.log("# Read test pattern 0xa7");
        qemu_io_read_pattern(t, config, 0xa7, low_offset_mb, 10, false)?;
        t.log("# Read test pattern 0x13");
        qemu_io_read_pattern(t, config, 0x13, high_offset_mb, 10, false)?;

        // Write a new pattern to the image, which we'll later
        // verify with dm-crypt
        t.log("# Write test pattern 0x91");
        qemu_io_write_pattern(t, config, 0x91, low_offset_mb, 10, false)?;
        t.log("# Write test pattern 0x5e");
        qemu_io_write_pattern(t, config, 0x5e, high_offset_mb, 10, false)?;

        // Now we're opening the image with dm-crypt once more
        // and verifying what QEMU wrote, completing the circle
        t.log("# Open dev");
        cryptsetup_open(t, config)?;

        let read = (|| -> Result<()> {
            t.log("# Read test pattern 0x91");
            qemu_io_read_pattern(t, config, 0x91, low_offset_mb, 10, true)?;
            t.log("# Read test pattern 0x5e");
            qemu_io_read_pattern(t, config, 0x5e, high_offset_mb, 10, true)
        })();
        t.log("# Close dev");
        finally(read, cryptsetup_close(t, config))
    };
    let result = body();
    // finally:
    t.log("# Delete image");
    delete_image(t, config);
    t.print("");
    result
}

// If we look at all permutations of cipher, key size,
// mode, ivgen, hash, there are ~1000 possible configs.
//
// We certainly don't want/need to test every permutation
// to get good validation of interoperability between QEMU
// and dm-crypt/cryptsetup.
//
// The configs below are a representative set that aim to
// exercise each axis of configurability.
//
fn configs() -> Vec<LUKSConfig> {
    vec![
        // A common LUKS default
        LUKSConfig::new("aes-256-xts-plain64-sha1", "aes", 256, "xts", "plain64", None, Some("sha1")),
        // LUKS default but diff ciphers
        LUKSConfig::new("twofish-256-xts-plain64-sha1", "twofish", 256, "xts", "plain64", None, Some("sha1")),
        LUKSConfig::new("serpent-256-xts-plain64-sha1", "serpent", 256, "xts", "plain64", None, Some("sha1")),
        // Should really be xts, but kernel doesn't support xts+cast5
        // nor does it do essiv+cast5
        LUKSConfig::new("cast5-128-cbc-plain64-sha1", "cast5", 128, "cbc", "plain64", None, Some("sha1")),
        LUKSConfig::new("cast6-256-xts-plain64-sha1", "cast6", 256, "xts", "plain64", None, Some("sha1")),
        // LUKS default but diff modes / ivgens
        LUKSConfig::new("aes-256-cbc-plain-sha1", "aes", 256, "cbc", "plain", None, Some("sha1")),
        LUKSConfig::new("aes-256-cbc-plain64-sha1", "aes", 256, "cbc", "plain64", None, Some("sha1")),
        LUKSConfig::new("aes-256-cbc-essiv-sha256-sha1", "aes", 256, "cbc", "essiv", Some("sha256"), Some("sha1")),
        LUKSConfig::new("aes-256-xts-essiv-sha256-sha1", "aes", 256, "xts", "essiv", Some("sha256"), Some("sha1")),
        // LUKS default but smaller key sizes
        LUKSConfig::new("aes-128-xts-plain64-sha256-sha1", "aes", 128, "xts", "plain64", None, Some("sha1")),
        LUKSConfig::new("aes-192-xts-plain64-sha256-sha1", "aes", 192, "xts", "plain64", None, Some("sha1")),
        LUKSConfig::new("twofish-128-xts-plain64-sha1", "twofish", 128, "xts", "plain64", None, Some("sha1")),
        LUKSConfig::new("twofish-192-xts-plain64-sha1", "twofish", 192, "xts", "plain64", None, Some("sha1")),
        LUKSConfig::new("serpent-128-xts-plain64-sha1", "serpent", 128, "xts", "plain64", None, Some("sha1")),
        LUKSConfig::new("serpent-192-xts-plain64-sha1", "serpent", 192, "xts", "plain64", None, Some("sha1")),
        LUKSConfig::new("cast6-128-xts-plain64-sha1", "cast6", 128, "xts", "plain", None, Some("sha1")),
        LUKSConfig::new("cast6-192-xts-plain64-sha1", "cast6", 192, "xts", "plain64", None, Some("sha1")),
        // LUKS default but diff hash
        LUKSConfig::new("aes-256-xts-plain64-sha224", "aes", 256, "xts", "plain64", None, Some("sha224")),
        LUKSConfig::new("aes-256-xts-plain64-sha256", "aes", 256, "xts", "plain64", None, Some("sha256")),
        LUKSConfig::new("aes-256-xts-plain64-sha384", "aes", 256, "xts", "plain64", None, Some("sha384")),
        LUKSConfig::new("aes-256-xts-plain64-sha512", "aes", 256, "xts", "plain64", None, Some("sha512")),
        LUKSConfig::new("aes-256-xts-plain64-ripemd160", "aes", 256, "xts", "plain64", None, Some("ripemd160")),
        // Password in slot 3
        LUKSConfig::with_passwords(
            "aes-256-xts-plain-sha1-pwslot3",
            "aes",
            256,
            "xts",
            "plain",
            None,
            Some("sha1"),
            &[("3", "slot3")],
        ),
        // Passwords in every slot
        LUKSConfig::with_passwords(
            "aes-256-xts-plain-sha1-pwallslots",
            "aes",
            256,
            "xts",
            "plain",
            None,
            Some("sha1"),
            &[
                ("0", "slot1"),
                ("1", "slot1"),
                ("2", "slot2"),
                ("3", "slot3"),
                ("4", "slot4"),
                ("5", "slot5"),
                ("6", "slot6"),
                ("7", "slot7"),
            ],
        ),
        // Check handling of default hash alg (sha256) with essiv
        LUKSConfig::new("aes-256-cbc-essiv-auto-sha1", "aes", 256, "cbc", "essiv", None, Some("sha1")),
        // Check that a useless hash provided for 'plain64' iv gen
        // is ignored and no error raised
        LUKSConfig::new("aes-256-cbc-plain64-sha256-sha1", "aes", 256, "cbc", "plain64", Some("sha256"), Some("sha1")),
    ]
}

const UNSUPPORTED_CONFIGS: &[&str] = &[
    // We don't have a cast-6 cipher impl for QEMU yet
    "cast6-256-xts-plain64-sha1",
    "cast6-128-xts-plain64-sha1",
    "cast6-192-xts-plain64-sha1",
    // GCrypt doesn't support Twofish with 192 bit key
    "twofish-192-xts-plain64-sha1",
];

iotests::iotest! {
    name: "149", groups: [rw, sudo],
    // Obviously we only work with the luks image format
    supported_fmts: ["luks"],
    fn t149(t) {
        // We need sudo in order to run cryptsetup to create
        // dm-crypt devices. This is safe to use on any
        // machine, since all dm-crypt devices are backed
        // by newly created plain files, and have a dm-crypt
        // name prefix of 'qiotest' to avoid clashing with
        // user LUKS volumes
        verify_passwordless_sudo(t)?;
        verify_dm_crypt(t)?;

        // Optionally test only the configurations in the LUKS_CONFIG
        // environment variable
        let tested_configs: Option<Vec<String>> =
            std::env::var("LUKS_CONFIG").ok().map(|v| v.split(',').map(String::from).collect());

        for config in configs() {
            if UNSUPPORTED_CONFIGS.contains(&config.name) {
                t.log(format!("Skipping {} (config not supported)", config.name));
                continue;
            }

            if tested_configs.as_ref().is_some_and(|tc| !tc.iter().any(|c| c == config.name)) {
                t.log(format!("Skipping {} (by user request)", config.name));
                continue;
            }

            test_once(t, &config, false)?;

            // XXX we should support setting passwords in a non-0
            // key slot with 'qemu-img create' in future
            let (_pw, slot) = config.first_password()?;
            if slot == "0" {
                test_once(t, &config, true)?;
            }
        }
        Ok(())
    }
}
