//! Idle CPUs that poll instead of halting while QEMU runs (`iotests check
//! --idle-poll`, and the suite benchmark for both harnesses alike).
//!
//! In a VM whose idle vCPUs halt at once (a Firecracker guest with
//! `haltpoll.guest_halt_poll_ns=0`, say), every cross-CPU wakeup costs a VM
//! exit. QEMU's thread-pool I/O hands each request to a worker thread and
//! back, so a test made of many small requests waits on wakeups rather than
//! on work: 044's `qemu-img check` takes 80 s on such an idle 2-CPU guest and
//! 22 s with idle polling. A PM QoS CPU latency request of 0 makes idle CPUs
//! poll. The kernel keeps the request only while the file stays open — it
//! ends with the run, also when `iotests` is killed, so nothing outlives it.
//! It changes timing, not what QEMU does; it costs a spinning CPU whenever
//! one is idle, which is why it is not the default.

use std::fs::{File, OpenOptions};
use std::io::Write;

/// The PM QoS device.
const CPU_DMA_LATENCY: &str = "/dev/cpu_dma_latency";

/// A held latency request; dropping it ends the request.
#[derive(Debug)]
pub struct IdlePoll {
    _request: File,
}

/// Ask for a CPU latency of 0 µs until the returned value is dropped.
/// Writing the device needs root (or its permissions).
///
/// ```
/// match iotests::process::idle_poll() {
///     Ok(_held) => { /* idle CPUs poll until `_held` goes */ }
///     Err(e) => eprintln!("idle CPUs keep halting: {e}"),
/// }
/// ```
pub fn idle_poll() -> std::io::Result<IdlePoll> {
    let mut request = OpenOptions::new().write(true).open(CPU_DMA_LATENCY)?;
    request.write_all(&0i32.to_ne_bytes())?;
    Ok(IdlePoll { _request: request })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request is visible while held (the device reads back the
    /// effective latency) and gone when dropped.
    #[test]
    fn held_while_alive() {
        let read = || std::fs::read(CPU_DMA_LATENCY).ok().and_then(|b| b.try_into().ok()).map(i32::from_ne_bytes);
        let Ok(guard) = idle_poll() else {
            eprintln!("not run: {CPU_DMA_LATENCY} is not writable here");
            return;
        };
        assert_eq!(read(), Some(0));
        drop(guard);
        assert_ne!(read(), Some(0), "the latency request outlived its guard");
    }
}
