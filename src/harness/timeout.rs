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
//! | `IOTESTS_TIMEOUT` | seconds (fractions allowed) for every test, over any per-test value; `0` disables the limit (for gdb); see [`parse_timeout`] |
//!
//! Time during which the test process is stopped (Ctrl-Z of `iotests check`)
//! does not count against the limit.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::context::TestContext;
use crate::error::{Error, Result};

/// A test's time limit when neither it nor `IOTESTS_TIMEOUT` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The variable that sets every test's limit.
pub const TIMEOUT_VAR: &str = "IOTESTS_TIMEOUT";

/// How long a body may take to return after its processes were killed.
const GRACE: Duration = Duration::from_secs(5);

/// The largest limit [`parse_timeout`] accepts: a year. Larger values are
/// certainly mistakes, and an `Instant` cannot be pushed arbitrarily far.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parse a time limit in seconds, as `IOTESTS_TIMEOUT` and `iotests check
/// --timeout` take it: a non-negative number (fractions allowed); `0` means
/// no limit (`None`). Garbage, negative, non-finite values and values above
/// [`MAX_TIMEOUT`] are an [`Error::Env`] that says what was expected.
///
/// ```
/// use std::time::Duration;
/// use iotests::harness::timeout::parse_timeout;
/// assert_eq!(parse_timeout(" 2.5 ")?, Some(Duration::from_millis(2500)));
/// assert_eq!(parse_timeout("0")?, None);
/// assert!(parse_timeout("1e30").unwrap_err().to_string().contains("at most"));
/// assert!(parse_timeout("soon").is_err());
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn parse_timeout(value: &str) -> Result<Option<Duration>> {
    let bad = |why: &str| Error::Env(format!("time limit {value:?}: {why}"));
    let secs: f64 = value.trim().parse().map_err(|_| bad("expected a number of seconds (0: no limit)"))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(bad("expected a non-negative number of seconds (0: no limit)"));
    }
    if secs == 0.0 {
        return Ok(None);
    }
    if secs > MAX_TIMEOUT.as_secs_f64() {
        return Err(bad(&format!("at most {} seconds; use 0 for no limit", MAX_TIMEOUT.as_secs())));
    }
    Ok(Some(Duration::from_secs_f64(secs)))
}

/// The limit for a test declaring `declared`: `IOTESTS_TIMEOUT` if set
/// (`0` → none), else the declaration, else [`DEFAULT_TIMEOUT`]. An
/// `IOTESTS_TIMEOUT` that [`parse_timeout`] rejects is reported and ignored.
///
/// ```
/// use std::time::Duration;
/// if std::env::var_os("IOTESTS_TIMEOUT").is_none() {
///     assert_eq!(iotests::harness::resolve_timeout(None), Some(Duration::from_secs(300)));
///     assert_eq!(iotests::harness::resolve_timeout(Some(Duration::from_secs(9))), Some(Duration::from_secs(9)));
/// }
/// ```
pub fn resolve_timeout(declared: Option<Duration>) -> Option<Duration> {
    let default = Some(declared.unwrap_or(DEFAULT_TIMEOUT).min(MAX_TIMEOUT));
    let Some(value) = std::env::var(TIMEOUT_VAR).ok().filter(|v| !v.trim().is_empty()) else {
        return default;
    };
    match parse_timeout(&value) {
        Ok(limit) => limit,
        Err(e) => {
            eprintln!("{TIMEOUT_VAR}: {e}; ignored");
            default
        }
    }
}

/// How long one wait of [`recv_running`] lasts at most.
const SLICE: Duration = Duration::from_millis(200);

/// A slice that took this much longer than asked means the process was
/// stopped (not merely descheduled on a busy machine).
const STOPPED_SLACK: Duration = Duration::from_secs(1);

/// Receive from `rx` within `limit` of *running* time. The time this process
/// spends stopped (SIGTSTP / SIGSTOP, e.g. when `iotests check` is suspended
/// with Ctrl-Z and forwards the stop to its tests) does not count, so a test
/// does not time out just because it was suspended: the wait goes in short
/// slices, and a slice that overran by far is counted as its nominal length.
fn recv_running<T>(rx: &mpsc::Receiver<T>, limit: Duration) -> Result<T, RecvTimeoutError> {
    let mut used = Duration::ZERO;
    loop {
        let left = limit.saturating_sub(used);
        if left.is_zero() {
            return Err(RecvTimeoutError::Timeout);
        }
        let slice = left.min(SLICE);
        let t0 = Instant::now();
        match rx.recv_timeout(slice) {
            Err(RecvTimeoutError::Timeout) => {
                let took = t0.elapsed();
                used += if took > slice + STOPPED_SLACK { slice } else { took };
            }
            other => return other,
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

thread_local! {
    /// Where the last panic on this thread happened.
    static PANIC_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Where the last panic on this thread happened (`file:line`), if the hook
/// recorded it (see [`record_panic_locations`]).
pub(crate) fn take_panic_location() -> Option<String> {
    PANIC_AT.with(|p| p.borrow_mut().take())
}

/// Wrap the panic hook (once per process) so that it also records where a
/// panic happened, for the failure report of a body that panics. The hook
/// in place (libtest's printing one, or the harness's) still runs.
fn record_panic_locations() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let at = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
            PANIC_AT.with(|p| *p.borrow_mut() = at);
            previous(info);
        }));
    });
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
            record_panic_locations();
            let r = catch_unwind(AssertUnwindSafe(|| body(&thread_ctx))).map_err(|payload| {
                // The payload says what, the hook saw where: keep both.
                let at = take_panic_location();
                let msg = crate::unittest::panic_message(&*payload);
                Box::new(match at {
                    Some(at) => format!("{msg}\n(panicked at {at})"),
                    None => msg,
                }) as Box<dyn Any + Send>
            });
            drop(current);
            // Drop this thread's reference before reporting, so that the
            // context is released as soon as the caller lets go of it.
            drop(thread_ctx);
            let _ = tx.send(r);
        })
        .map_err(|e| Error::io(format!("starting the thread of test {}", ctx.name()), e))?;
    let received = match limit {
        Some(limit) => recv_running(&rx, limit),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_limits_and_rejects_garbage_clearly() {
        assert_eq!(parse_timeout("300").unwrap(), Some(Duration::from_secs(300)));
        assert_eq!(parse_timeout("0.0").unwrap(), None);
        for bad in ["-1", "nan", "inf", "1e19", "1e30", "", "5s"] {
            let e = parse_timeout(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
        assert!(parse_timeout(&MAX_TIMEOUT.as_secs().to_string()).is_ok());
    }

    #[test]
    fn running_time_waits_end_at_the_limit_or_on_a_message() {
        let (tx, rx) = mpsc::channel::<u8>();
        let t0 = Instant::now();
        assert_eq!(recv_running(&rx, Duration::from_millis(450)), Err(RecvTimeoutError::Timeout));
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(3), "{took:?}");
        tx.send(7).unwrap();
        assert_eq!(recv_running(&rx, Duration::from_secs(60)), Ok(7));
        drop(tx);
        assert_eq!(recv_running(&rx, Duration::from_secs(60)), Err(RecvTimeoutError::Disconnected));
    }
}
