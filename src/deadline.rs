//! Deadlines: the one type every bounded wait in the crate uses.
//!
//! A [`Deadline`] is a point in time fixed when it is made, with the length
//! it was made with (for messages: "did not answer within 5s") and,
//! optionally, the message a wait fails with once it has passed — iotests'
//! `Timeout(seconds, errmsg)`. Waits take what is left of it
//! ([`Deadline::remaining`], or its `poll(2)` timeout inside the crate),
//! so that a series of waits under one deadline cannot add up past it.
//!
//! Python arms `SIGALRM` and lets the handler raise `TimeoutError(errmsg)`
//! into whatever the block is doing. A process-wide signal cannot target one
//! of many test threads, so here the bound is cooperative: a polling loop
//! calls [`Deadline::check`] each round (or uses [`Deadline::poll_until`]),
//! and every blocking call inside it is bounded by the remaining time.
//!
//! Lengths that do not fit an [`Instant`] (`Duration::MAX`, `1e30` seconds:
//! "no limit" to callers) end a year from now instead of panicking.
//!
//! This module is at the bottom of the crate: it depends on nothing else in
//! it. Its error, [`Expired`], converts into [`crate::Error::Timeout`].

use std::time::{Duration, Instant};

/// Where a length too large for an [`Instant`] ends: far enough to be "no
/// limit" for any test, near enough to be representable.
const FAR: Duration = Duration::from_secs(366 * 24 * 3600);

/// The instant `length` from now, or a year from now when `length` is too
/// large for an [`Instant`].
///
/// ```
/// use std::time::{Duration, Instant};
/// let t = iotests::deadline::instant_after(Duration::MAX); // no panic
/// assert!(t > Instant::now() + Duration::from_secs(3600));
/// ```
pub fn instant_after(length: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(length).unwrap_or_else(|| now + FAR)
}

/// A point in time after which a bounded wait gives up.
///
/// ```
/// use std::time::Duration;
/// use iotests::deadline::Deadline;
/// let d = Deadline::after(Duration::from_secs(5), "Timeout waiting for job to pause");
/// assert!(d.check().is_ok());
/// assert!(d.remaining() <= Duration::from_secs(5));
/// assert_eq!(d.length(), Duration::from_secs(5));
/// let d = Deadline::after(Duration::ZERO, "too late");
/// assert_eq!(d.check().unwrap_err().to_string(), "timeout: too late");
/// ```
#[derive(Debug, Clone)]
pub struct Deadline {
    end: Instant,
    length: Duration,
    errmsg: String,
}

impl Deadline {
    /// A deadline `length` from now, without a message of its own (for
    /// waits whose caller words the error).
    ///
    /// ```
    /// let d = iotests::deadline::Deadline::within(std::time::Duration::from_secs(1));
    /// assert!(!d.expired());
    /// ```
    pub fn within(length: Duration) -> Deadline {
        Deadline { end: instant_after(length), length, errmsg: String::new() }
    }

    /// A deadline `length` from now that fails with `errmsg`.
    pub fn after(length: Duration, errmsg: impl Into<String>) -> Deadline {
        Deadline { errmsg: errmsg.into(), ..Deadline::within(length) }
    }

    /// `Timeout(seconds, errmsg)`: a deadline in (fractional) seconds.
    /// Negative or NaN means already expired, too large means no limit.
    ///
    /// ```
    /// use iotests::deadline::Deadline;
    /// assert!(Deadline::seconds(-1.0, "past").expired());
    /// assert!(!Deadline::seconds(1e30, "never").expired());
    /// ```
    pub fn seconds(seconds: f64, errmsg: impl Into<String>) -> Deadline {
        let length =
            Duration::try_from_secs_f64(seconds).unwrap_or(if seconds > 0.0 { Duration::MAX } else { Duration::ZERO });
        Deadline::after(length, errmsg)
    }

    /// When it passes.
    pub fn instant(&self) -> Instant {
        self.end
    }

    /// The length it was made with (for messages).
    pub fn length(&self) -> Duration {
        self.length
    }

    /// The message given (empty for [`Deadline::within`]).
    pub fn errmsg(&self) -> &str {
        &self.errmsg
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.end
    }

    /// The time left (zero once expired).
    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// The time left as a `poll(2)` timeout, rounded up to whole
    /// milliseconds so that a wait does not wake just before the deadline
    /// and spin; zero once it has passed. (Crate-private: nix's type is
    /// not part of the public API.)
    pub(crate) fn poll_timeout(&self) -> nix::poll::PollTimeout {
        let ms = self.remaining().as_micros().div_ceil(1000);
        nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX)
    }

    /// Sleep `interval`, or what is left if that is less.
    pub fn sleep(&self, interval: Duration) {
        std::thread::sleep(interval.min(self.remaining()));
    }

    /// `Err(Expired)` with the message once the deadline has passed;
    /// `?` turns it into [`crate::Error::Timeout`].
    pub fn check(&self) -> Result<(), Expired> {
        if self.expired() { Err(self.error()) } else { Ok(()) }
    }

    /// The error this deadline fails with.
    pub fn error(&self) -> Expired {
        let what = match self.errmsg.is_empty() {
            true => format!("did not finish within {:?}", self.length),
            false => self.errmsg.clone(),
        };
        Expired { what }
    }

    /// Call `f` every `interval` until it returns `Some`, failing once the
    /// deadline has passed — `while True:` inside `with Timeout(…)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let d = iotests::deadline::Deadline::after(Duration::from_secs(5), "never ready");
    /// let mut n = 0;
    /// let v = d.poll_until(Duration::from_millis(1), || {
    ///     n += 1;
    ///     Ok::<_, iotests::Error>((n == 3).then_some(n))
    /// });
    /// assert_eq!(v.unwrap(), 3);
    /// ```
    pub fn poll_until<T, E: From<Expired>>(
        &self,
        interval: Duration,
        mut f: impl FnMut() -> Result<Option<T>, E>,
    ) -> Result<T, E> {
        loop {
            if let Some(v) = f()? {
                return Ok(v);
            }
            self.check()?;
            self.sleep(interval);
        }
    }
}

/// A [`Deadline`] passed: what was being waited for.
///
/// ```
/// let e = iotests::deadline::Deadline::seconds(0.0, "Migration does not complete").error();
/// assert_eq!(e.to_string(), "timeout: Migration does not complete");
/// let e: iotests::Error = e.into();
/// assert!(matches!(e, iotests::Error::Timeout { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// The deadline's message.
    pub what: String,
}

impl std::fmt::Display for Expired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "timeout: {}", self.what)
    }
}

impl std::error::Error for Expired {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_lengths_do_not_overflow() {
        for d in [Deadline::within(Duration::MAX), Deadline::seconds(f64::INFINITY, "x"), Deadline::seconds(1e19, "x")]
        {
            assert!(!d.expired());
            assert!(d.remaining() > Duration::from_secs(300 * 24 * 3600));
            assert_eq!(d.poll_timeout(), nix::poll::PollTimeout::MAX);
        }
        assert!(Deadline::seconds(f64::NAN, "x").expired());
    }

    #[test]
    fn poll_timeouts_round_up() {
        let d = Deadline::within(Duration::from_micros(1500));
        assert!(u16::try_from(d.poll_timeout()).is_ok_and(|ms| (1..=2).contains(&ms)));
    }

    #[test]
    fn an_unnamed_deadline_says_its_length() {
        let d = Deadline::within(Duration::ZERO);
        assert_eq!(d.check().unwrap_err().to_string(), "timeout: did not finish within 0ns");
        assert_eq!(d.poll_timeout(), nix::poll::PollTimeout::ZERO);
    }

    #[test]
    fn poll_until_gives_up_at_the_deadline() {
        let d = Deadline::after(Duration::from_millis(30), "never");
        let t0 = Instant::now();
        let r: Result<(), Expired> = d.poll_until(Duration::from_secs(10), || Ok(None));
        assert_eq!(r.unwrap_err().what, "never");
        assert!(t0.elapsed() < Duration::from_secs(5), "slept past the deadline: {:?}", t0.elapsed());
    }
}
