//! The one thread that forks every child.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked a child exits,
//! not when the process does. A child forked by a test's thread would be
//! SIGKILLed as soon as that thread ends — yet the handles that own
//! children ([`Vm`](crate::vm::Vm), daemons, background tools) may move to
//! other threads, e.g. a VM launched inside `std::thread::scope` and used
//! after the join. So every fork happens here, on a thread that lives as
//! long as the process: the death signal then means exactly "the test
//! process died".

use std::io;
use std::sync::OnceLock;
use std::sync::mpsc;

type Job = Box<dyn FnOnce() + Send>;

/// The spawner's queue; the thread is started on first use and never ends
/// (the sender lives in a static, so its receiver never sees a hang-up).
fn queue() -> io::Result<&'static mpsc::Sender<Job>> {
    static QUEUE: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    if let Some(q) = QUEUE.get() {
        return Ok(q);
    }
    // Two threads may race here: the loser's thread ends when its sender is
    // dropped, which is harmless since it never forked anything.
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new().name("iotests-spawner".into()).spawn(move || {
        while let Ok(job) = rx.recv() {
            // A panicking job (it should not) must not take the thread,
            // and with it the death signal of every child, down.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        }
    })?;
    Ok(QUEUE.get_or_init(|| tx))
}

/// Run `f` on the spawner thread and return its result.
pub(crate) fn on_spawner<T, F>(f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    queue()?.send(job).map_err(|_| io::Error::other("the iotests spawner thread is gone"))?;
    rx.recv().map_err(|_| io::Error::other("the iotests spawner thread dropped a request"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn jobs_run_on_one_long_lived_thread() {
        let a = super::on_spawner(|| std::thread::current().id()).unwrap();
        let b = std::thread::spawn(|| super::on_spawner(|| std::thread::current().id()).unwrap()).join().unwrap();
        assert_eq!(a, b);
        assert_ne!(a, std::thread::current().id());
        // A panicking job does not end the thread.
        let panicked: std::io::Result<()> = super::on_spawner(|| panic!("job panics"));
        assert!(panicked.is_err());
        assert_eq!(super::on_spawner(|| std::thread::current().id()).unwrap(), a);
    }
}
