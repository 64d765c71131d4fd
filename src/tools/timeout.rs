//! iotests' `with Timeout(seconds, errmsg):` without signals, over the
//! crate's [`Deadline`](crate::deadline::Deadline) (re-exported here, where
//! ports find it).
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

pub use crate::deadline::Deadline;
use crate::error::Result;

/// `with Timeout(seconds, errmsg): body` — run `body` with a [`Deadline`]
/// it checks in its loops; a body still running (returning) after the
/// deadline fails with [`Error::Timeout`](crate::Error::Timeout) and the message, as Python's
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
