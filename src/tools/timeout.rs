//! iotests' `Timeout(seconds, errmsg)` without signals.
//!
//! Python arms `SIGALRM` and lets the handler raise `TimeoutError(errmsg)`
//! into whatever the block is doing. A process-wide signal cannot target one
//! of many test threads, so here the bound is cooperative:
//!
//! * a polling loop (like `QMPTestCase.pause_wait`) calls
//!   [`Deadline::check`] each round, or uses [`Deadline::poll_until`];
//! * each blocking call inside the block is bounded by its own timeout
//!   (tool runs by [`ToolOpts::timeout`](super::ToolOpts), interactive
//!   qemu-io by its command timeout, QMP reads by the client's), and can be
//!   given [`Deadline::remaining`] to stay within the block's budget.
//!
//! [`with_timeout`] also fails a block that returned after its deadline,
//! since Python's alarm would have interrupted it.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A point in time after which a bounded block fails with
/// [`Error::Timeout`] carrying the block's message.
///
/// ```
/// use std::time::Duration;
/// use iotests::tools::Deadline;
/// let d = Deadline::after(Duration::from_secs(5), "Timeout waiting for job to pause");
/// assert!(d.check().is_ok());
/// assert!(d.remaining() <= Duration::from_secs(5));
/// let d = Deadline::after(Duration::ZERO, "too late");
/// assert_eq!(d.check().unwrap_err().to_string(), "timeout: too late");
/// ```
#[derive(Debug, Clone)]
pub struct Deadline {
    end: Instant,
    errmsg: String,
}

impl Deadline {
    /// A deadline `timeout` from now.
    pub fn after(timeout: Duration, errmsg: impl Into<String>) -> Deadline {
        let now = Instant::now();
        Deadline {
            end: now.checked_add(timeout).unwrap_or(now + Duration::from_secs(86400 * 365)),
            errmsg: errmsg.into(),
        }
    }

    /// `Timeout(seconds, errmsg)`: a deadline in (fractional) seconds.
    /// Negative or NaN means already expired.
    pub fn seconds(seconds: f64, errmsg: impl Into<String>) -> Deadline {
        let d =
            Duration::try_from_secs_f64(seconds).unwrap_or(if seconds > 0.0 { Duration::MAX } else { Duration::ZERO });
        Deadline::after(d, errmsg)
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.end
    }

    /// The time left (zero once expired).
    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// The message given.
    pub fn errmsg(&self) -> &str {
        &self.errmsg
    }

    /// `Err(Error::Timeout)` with the message once the deadline has passed.
    pub fn check(&self) -> Result<()> {
        if self.expired() { Err(self.error()) } else { Ok(()) }
    }

    /// The error this deadline fails with.
    pub fn error(&self) -> Error {
        Error::Timeout { what: self.errmsg.clone(), log: String::new() }
    }

    /// Call `f` every `interval` until it returns `Some`, failing once the
    /// deadline has passed — `while True:` inside `with Timeout(…)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let d = iotests::tools::Deadline::after(Duration::from_secs(5), "never ready");
    /// let mut n = 0;
    /// let v = d.poll_until(Duration::from_millis(1), || { n += 1; Ok((n == 3).then_some(n)) }).unwrap();
    /// assert_eq!(v, 3);
    /// ```
    pub fn poll_until<T>(&self, interval: Duration, mut f: impl FnMut() -> Result<Option<T>>) -> Result<T> {
        loop {
            if let Some(v) = f()? {
                return Ok(v);
            }
            self.check()?;
            std::thread::sleep(interval.min(self.remaining()));
        }
    }
}

/// `with Timeout(seconds, errmsg): body` — run `body` with a [`Deadline`]
/// it checks in its loops; a body still running (returning) after the
/// deadline fails with [`Error::Timeout`] and the message, as Python's
/// alarm would have made it.
///
/// ```
/// use iotests::tools::with_timeout;
/// let r = with_timeout(3.0, "Timeout waiting for job to pause", |d| {
///     loop {
///         d.check()?;
///         break Ok("paused");
///     }
/// });
/// assert_eq!(r.unwrap(), "paused");
/// let r: iotests::Result<()> = with_timeout(0.01, "too slow", |d| loop { d.check()?; });
/// assert_eq!(r.unwrap_err().to_string(), "timeout: too slow");
/// ```
pub fn with_timeout<T>(seconds: f64, errmsg: &str, body: impl FnOnce(&Deadline) -> Result<T>) -> Result<T> {
    let deadline = Deadline::seconds(seconds, errmsg);
    let value = body(&deadline)?;
    deadline.check()?;
    Ok(value)
}
