//! The per-test time limit.
//!
//! A test's body runs on a thread of its own. If it is still running when
//! its time is up, every process the test started is killed through its
//! [`ProcessRegistry`](crate::process::ProcessRegistry) — which makes a QMP
//! read or a tool wait blocked on one of them return an error — the thread
//! gets a short grace period, and the test fails with its last log lines.
//! The run never blocks on a stuck body: the thread is left behind.
//!
//! | variable | meaning |
//! |---|---|
//! | `IOTESTS_TIMEOUT` | seconds (fractions allowed) for every test, over any per-test value; `0` disables the limit (for gdb) |

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use crate::context::TestContext;
use crate::error::{Error, Result};

/// A test's time limit when neither it nor `IOTESTS_TIMEOUT` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The variable that sets every test's limit.
pub const TIMEOUT_VAR: &str = "IOTESTS_TIMEOUT";

/// How long a body may take to return after its processes were killed.
const GRACE: Duration = Duration::from_secs(5);

/// The limit for a test declaring `declared`: `IOTESTS_TIMEOUT` if set
/// (`0` → none), else the declaration, else [`DEFAULT_TIMEOUT`]. An
/// unparsable `IOTESTS_TIMEOUT` is reported and ignored.
///
/// ```
/// use std::time::Duration;
/// if std::env::var_os("IOTESTS_TIMEOUT").is_none() {
///     assert_eq!(iotests::harness::resolve_timeout(None), Some(Duration::from_secs(300)));
///     assert_eq!(iotests::harness::resolve_timeout(Some(Duration::from_secs(9))), Some(Duration::from_secs(9)));
/// }
/// ```
pub fn resolve_timeout(declared: Option<Duration>) -> Option<Duration> {
    let default = Some(declared.unwrap_or(DEFAULT_TIMEOUT));
    let Some(value) = std::env::var(TIMEOUT_VAR).ok().filter(|v| !v.trim().is_empty()) else {
        return default;
    };
    match value.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
        Ok(s) if s.abs() < f64::EPSILON => None,
        _ => {
            eprintln!("{TIMEOUT_VAR}={value:?} is not a number of seconds; ignored");
            default
        }
    }
}

/// How a body run under [`run_with_timeout`] ended.
pub enum Finished<T> {
    /// It returned.
    Returned(T),
    /// It panicked; the payload, to resume unwinding with.
    Panicked(Box<dyn Any + Send>),
    /// It ran over its limit. `killed` names the processes that were
    /// killed (`name (pid N)`).
    TimedOut {
        /// The limit.
        limit: Duration,
        /// The processes that were still registered.
        killed: Vec<String>,
    },
}

impl<T> std::fmt::Debug for Finished<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finished::Returned(_) => f.write_str("Returned"),
            Finished::Panicked(p) => write!(f, "Panicked({})", crate::unittest::panic_message(&**p)),
            Finished::TimedOut { limit, killed } => write!(f, "TimedOut({limit:?}, {killed:?})"),
        }
    }
}

/// Run `body(ctx)` on its own thread, for at most `limit` (`None`: no
/// limit).
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use iotests::harness::{run_with_timeout, Finished};
/// let t = Arc::new(iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?);
/// let r = run_with_timeout(&t, Some(Duration::from_millis(100)), |_| std::thread::sleep(Duration::from_secs(1)))?;
/// assert!(matches!(r, Finished::TimedOut { .. }));
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn run_with_timeout<T, F>(ctx: &Arc<TestContext>, limit: Option<Duration>, body: F) -> Result<Finished<T>>
where
    T: Send + 'static,
    F: FnOnce(&TestContext) -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let thread_ctx = Arc::clone(ctx);
    let handle = std::thread::Builder::new()
        .name(ctx.name().to_string())
        .spawn(move || {
            let current = thread_ctx.enter();
            let r = catch_unwind(AssertUnwindSafe(|| body(&thread_ctx)));
            drop(current);
            // Drop the context's last references on this thread, before
            // reporting: its processes were forked here.
            drop(thread_ctx);
            let _ = tx.send(r);
        })
        .map_err(|e| Error::io(format!("starting the thread of test {}", ctx.name()), e))?;
    let received = match limit {
        Some(limit) => rx.recv_timeout(limit),
        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
    };
    match received {
        Ok(Ok(v)) => {
            let _ = handle.join();
            Ok(Finished::Returned(v))
        }
        Ok(Err(p)) => {
            let _ = handle.join();
            Ok(Finished::Panicked(p))
        }
        Err(RecvTimeoutError::Disconnected) => {
            Ok(Finished::Panicked(Box::new(format!("the thread of test {} ended without a result", ctx.name()))))
        }
        Err(RecvTimeoutError::Timeout) => {
            let killed = ctx.processes().pids().iter().map(|(pid, name)| format!("{name} (pid {pid})")).collect();
            ctx.processes().kill_all();
            // Let the body see its dead processes and unwind, so that its
            // cleanup runs; but do not wait for it beyond the grace period.
            if rx.recv_timeout(GRACE).is_ok() {
                let _ = handle.join();
            } else {
                // The body is stuck outside any process and keeps the context
                // alive on its detached thread: remove the scratch space now,
                // as nothing else will before the process exits.
                ctx.remove_scratch();
            }
            Ok(Finished::TimedOut { limit: limit.unwrap_or_default(), killed })
        }
    }
}
