//! Python's `threading.Thread`, for tests that run something in the
//! background while they drive QEMU (upstream graph-changes-while-io runs
//! `qemu-img bench` in a thread and changes the block graph meanwhile).
//!
//! The thread runs in the test that started it: [`globals`](crate::globals)
//! (`test_dir()`, `imgfmt()`, …) read that test, and the processes the
//! thread starts are the test's (they die with it).
//!
//! ```
//! # let t = std::sync::Arc::new(iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap());
//! # let _current = t.enter();
//! use iotests::threading::Thread;
//! let bench_thr = Thread::start(|| {                  // Thread(target=…).start()
//!     assert!(iotests::globals::test_dir().len() > 0); // the test's module attributes
//!     Ok(())
//! });
//! while bench_thr.is_alive() {}                       // bench_thr.is_alive()
//! bench_thr.join()?;                                  // bench_thr.join()
//! # Ok::<(), iotests::Error>(())
//! ```

use std::thread::JoinHandle;

use crate::context::TestContext;
use crate::error::{Error, Result};

/// A started `threading.Thread(target=f)`: see the [module](self).
#[derive(Debug)]
pub struct Thread {
    handle: JoinHandle<Result<()>>,
}

impl Thread {
    /// `Thread(target=target).start()` (a closure stands for `args=`).
    /// The thread runs in the test current on the calling thread, if any.
    pub fn start(target: impl FnOnce() -> Result<()> + Send + 'static) -> Thread {
        let test = TestContext::current();
        let handle = std::thread::spawn(move || {
            let _current = test.as_ref().map(TestContext::enter);
            target()
        });
        Thread { handle }
    }

    /// `is_alive()`: whether the target is still running.
    pub fn is_alive(&self) -> bool {
        !self.handle.is_finished()
    }

    /// `join()`: wait for the target to return (it is bounded by the
    /// test's own timeout, as the tools it runs are by theirs).
    ///
    /// Unlike Python, where an exception in a thread is printed by
    /// `threading.excepthook` and `join()` returns `None`, what the target
    /// raised is returned here, so that the test fails with it; a panic in
    /// the target is an [`Error::Unexpected`].
    pub fn join(self) -> Result<()> {
        self.handle.join().unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a thread panicked".to_string());
            Err(Error::exception(what))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc;

    use super::*;
    use crate::env::TestEnv;

    #[test]
    fn runs_in_the_starting_test_and_returns_what_the_target_raised() {
        let t = Arc::new(TestContext::new("threading", TestEnv::from_process_env("raw")).unwrap());
        let _current = t.enter();
        let dir = t.test_dir().to_string();
        let (tx, rx) = mpsc::channel::<()>();
        let thr = Thread::start(move || {
            assert_eq!(crate::globals::test_dir(), dir);
            rx.recv().map_err(Error::exception)?;
            Err(Error::python("OSError", "bench failed"))
        });
        assert!(thr.is_alive());
        tx.send(()).unwrap();
        assert_eq!(thr.join().unwrap_err().to_string(), "OSError: bench failed");
    }

    #[test]
    fn a_panic_is_an_error_and_no_test_is_needed() {
        let thr = Thread::start(|| panic!("boom"));
        assert_eq!(thr.join().unwrap_err().to_string(), "Exception: boom");
        assert!(Thread::start(|| Ok(())).join().is_ok());
    }
}
