//! A firmware that does nothing, for VMs that stand in for qtest.
//!
//! iotests' VMs run with `-accel qtest`: QEMU executes no guest code at all.
//! Debian's QEMU has no qtest accelerator, so the toolkit falls back to tcg,
//! and then the real firmware (SeaBIOS) boots and, among other things, resets
//! the virtio devices while a test's block job runs. That pauses the job and
//! makes a `ready` job go `standby` and back — an extra `job-complete` in the
//! log of upstream 274 and 280, at random. With a firmware whose reset vector
//! is `cli; hlt`, the guest stays halted from the first instruction, as under
//! qtest, and the VM costs no CPU.
//!
//! It applies to x86 targets only, when the test did not choose a firmware
//! or kernel itself; `IOTESTS_HALT_FIRMWARE=0` turns it off.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Size of the image: the reset vector sits 16 bytes below 4 GiB, which is
/// the end of the BIOS image as QEMU maps it.
const BIOS_SIZE: usize = 64 * 1024;

/// `cli; hlt; jmp $-1` at the reset vector: stop with interrupts off, and
/// stop again if an NMI wakes the CPU.
const RESET_CODE: [u8; 4] = [0xfa, 0xf4, 0xeb, 0xfd];

/// Whether the halting firmware fits this QEMU and these arguments.
///
/// ```
/// use iotests::vm::firmware::applies;
/// assert!(applies("/usr/bin/qemu-system-x86_64", &[]));
/// assert!(!applies("/usr/bin/qemu-system-aarch64", &[]));
/// assert!(!applies("qemu-system-x86_64", &["-kernel".to_string(), "bzImage".to_string()]));
/// ```
pub fn applies(qemu_prog: &str, args: &[String]) -> bool {
    let x86 = ["qemu-system-x86_64", "qemu-system-i386"].iter().any(|p| qemu_prog.ends_with(p));
    let own_firmware = args.iter().any(|a| matches!(a.as_str(), "-bios" | "-kernel" | "-pflash" | "-L"));
    x86 && !own_firmware
}

/// Write the halting BIOS image into `dir` and return its path.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let bios = iotests::vm::firmware::write_halt_bios(dir.path()).unwrap();
/// let image = std::fs::read(&bios).unwrap();
/// assert_eq!(image.len(), 65536);
/// assert_eq!(&image[0xfff0..0xfff4], &[0xfa, 0xf4, 0xeb, 0xfd]);
/// ```
pub fn write_halt_bios(dir: &Path) -> Result<PathBuf> {
    let mut image = vec![0u8; BIOS_SIZE];
    image[BIOS_SIZE - 16..BIOS_SIZE - 16 + RESET_CODE.len()].copy_from_slice(&RESET_CODE);
    let path = dir.join("halt-bios.bin");
    std::fs::write(&path, image).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(path)
}
