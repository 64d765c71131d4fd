//! Events: python's `pull_event`/`get_events` and `QEMUMachine`'s
//! `get_qmp_event(s)`, `event_wait`, `events_wait` and `event_match`.

use std::time::{Duration, Instant};

use serde_json::{Number, Value};

use super::QmpClient;
use super::error::QmpError;
use super::wire::Until;
use crate::deadline::Deadline;

/// How long to wait for an event: python's `wait` argument.
///
/// Converts from what python accepts: `false`/`0.0` → [`Wait::No`], `true`
/// → [`Wait::Forever`], seconds as `f64` or a `Duration` → [`Wait::For`].
///
/// ```
/// use std::time::Duration;
/// use iotests::qmp::Wait;
///
/// assert_eq!(Wait::from(false), Wait::No);
/// assert_eq!(Wait::from(true), Wait::Forever);
/// assert_eq!(Wait::from(0.0), Wait::No);
/// assert_eq!(Wait::from(1.5), Wait::For(Duration::from_millis(1500)));
/// assert_eq!(Wait::from(Duration::from_secs(2)), Wait::For(Duration::from_secs(2)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Do not wait: only what is queued or readable right now; nothing
    /// there is not an error (python's `wait=False`).
    No,
    /// Wait "forever" (python's `wait=True`) — in fact for the client's
    /// default timeout, because nothing here waits without a limit.
    Forever,
    /// Wait this long, then fail with [`QmpError::Timeout`].
    For(Duration),
}

impl From<bool> for Wait {
    fn from(wait: bool) -> Self {
        if wait { Wait::Forever } else { Wait::No }
    }
}

impl From<Duration> for Wait {
    /// A zero duration is python's falsy `0.0`: do not wait.
    fn from(d: Duration) -> Self {
        if d.is_zero() { Wait::No } else { Wait::For(d) }
    }
}

impl From<f64> for Wait {
    /// Seconds, as python takes them. `0.0` does not wait; a negative or
    /// NaN timeout expires at once; an infinite one is [`Wait::Forever`].
    fn from(secs: f64) -> Self {
        if secs == 0.0 {
            Wait::No
        } else if secs.is_nan() || secs < 0.0 {
            Wait::For(Duration::ZERO)
        } else {
            Duration::try_from_secs_f64(secs).map_or(Wait::Forever, Wait::For)
        }
    }
}

impl Wait {
    /// As a time limit for a wait that must end in an event: `No` is zero,
    /// `Forever` the default limit ([`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT)).
    ///
    /// ```
    /// use iotests::qmp::Wait;
    /// use std::time::Duration;
    /// assert_eq!(Wait::from(2.5).as_timeout(), Duration::from_millis(2500));
    /// assert_eq!(Wait::from(true).as_timeout(), iotests::qmp::DEFAULT_TIMEOUT);
    /// ```
    pub fn as_timeout(self) -> Duration {
        match self {
            Wait::No => Duration::ZERO,
            Wait::Forever => super::DEFAULT_TIMEOUT,
            Wait::For(d) => d,
        }
    }
}

/// Whole seconds, as Python writes `timeout=3`.
impl From<u64> for Wait {
    fn from(secs: u64) -> Self {
        Wait::from(Duration::from_secs(secs))
    }
}

/// Whole seconds, as Python writes `timeout=3`.
impl From<i32> for Wait {
    fn from(secs: i32) -> Self {
        Wait::from(f64::from(secs))
    }
}

/// Whether `event` matches `pattern`: python's `QEMUMachine.event_match`.
///
/// A JSON object pattern matches an object that has all its keys, with
/// values that match recursively; `null` matches anything; other values
/// compare with python's `==` (so `1 == 1.0 == true`). Python's quirks are
/// kept: an empty object, empty string or empty list matches anything, and
/// an object pattern never matches a non-object (a list pattern's integer
/// elements are indices, as in python; where python would raise
/// `IndexError`, this returns `false`).
///
/// ```
/// use iotests::qmp::event_match;
/// use serde_json::json;
///
/// assert!(event_match(&json!({"foo": {"bar": 1}}), &json!(null)));
/// assert!(event_match(&json!({"foo": {"bar": 1}}), &json!({"foo": null})));
/// assert!(event_match(&json!({"foo": 5}), &json!({"foo": null})));
/// assert!(!event_match(&json!({"foo": {"bar": 1}}), &json!({"foo": {"abc": null}})));
/// assert!(event_match(&json!({"foo": {"bar": 1, "rab": 2}}), &json!({"foo": {"rab": 2}})));
/// ```
pub fn event_match(event: &Value, pattern: &Value) -> bool {
    match pattern {
        Value::Null => true,
        // `for key in match` over nothing: vacuously true, whatever `event` is.
        Value::Object(p) if p.is_empty() => true,
        Value::String(s) if s.is_empty() => true,
        Value::Array(a) if a.is_empty() => true,
        Value::Object(p) => match event {
            Value::Object(e) => p.iter().all(|(k, pv)| e.get(k).is_some_and(|ev| event_match(ev, pv))),
            // `key in event` is False or raises TypeError, or `event[key]`
            // raises TypeError, and `dict == non-dict` is False.
            _ => false,
        },
        Value::Array(p) => match_list(event, p, pattern),
        // Iterating a non-empty string pattern ends in a TypeError (or a
        // failed `in` that agrees with `==`); numbers are not iterable.
        _ => py_eq(pattern, event),
    }
}

/// A non-empty list pattern: python iterates its elements and uses them as
/// keys into `event` and into the pattern itself.
fn match_list(event: &Value, pat: &[Value], pattern: &Value) -> bool {
    // A non-list `event` makes `key in event` False or raise TypeError, or
    // `event[key]` raise TypeError; a list never equals a non-list.
    let Value::Array(ev) = event else { return false };
    for key in pat {
        if !ev.iter().any(|e| py_eq(e, key)) {
            return false;
        }
        let idx = match key {
            Value::Bool(b) => i64::from(*b),
            Value::Number(n) if !n.is_f64() => match n.as_i64() {
                Some(i) => i,
                None => return false, // IndexError: no list is that long
            },
            // TypeError: list indices must be integers.
            _ => return py_eq(pattern, event),
        };
        let (Some(e), Some(p)) = (py_index(ev, idx), py_index(pat, idx)) else { return false };
        if !event_match(e, p) {
            return false;
        }
    }
    true
}

/// `list[i]` with python's negative indices.
fn py_index(list: &[Value], i: i64) -> Option<&Value> {
    let len = i64::try_from(list.len()).ok()?;
    let i = if i < 0 { i + len } else { i };
    list.get(usize::try_from(i).ok()?)
}

/// Python's `==` on values decoded by `json.loads`.
fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| py_eq(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, xv)| y.get(k).is_some_and(|yv| py_eq(xv, yv)))
        }
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => match (py_num(a), py_num(b)) {
            (Some(x), Some(y)) => x.eq(y),
            _ => false,
        },
    }
}

/// A python number: `bool` is an `int`.
#[derive(Clone, Copy)]
enum PyNum {
    Int(i128),
    Float(f64),
}

impl PyNum {
    fn eq(self, other: PyNum) -> bool {
        match (self, other) {
            (PyNum::Int(x), PyNum::Int(y)) => x == y,
            (PyNum::Float(x), PyNum::Float(y)) => x == y,
            // Exact int/float comparison, as python does it.
            (PyNum::Int(i), PyNum::Float(f)) | (PyNum::Float(f), PyNum::Int(i)) => {
                f.is_finite() && f.fract() == 0.0 && f.abs() < 1.7e38 && f as i128 == i
            }
        }
    }
}

fn py_num(v: &Value) -> Option<PyNum> {
    match v {
        Value::Bool(b) => Some(PyNum::Int(i128::from(*b))),
        Value::Number(n) => Some(number(n)),
        _ => None,
    }
}

fn number(n: &Number) -> PyNum {
    if let Some(i) = n.as_i64() {
        PyNum::Int(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        PyNum::Int(i128::from(u))
    } else if let Some(i) = (!n.is_f64()).then(|| n.to_string().parse::<i128>().ok()).flatten() {
        // Bigger than u64: arbitrary_precision keeps the digits.
        PyNum::Int(i)
    } else {
        PyNum::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// `(name, match)` pairs as python's `events_wait` takes them.
pub type EventSpec<'a> = (&'a str, Option<&'a Value>);

fn spec_matches(events: &[EventSpec<'_>], ev: &Value) -> bool {
    events
        .iter()
        .any(|(name, pat)| ev.get("event").is_some_and(|n| n == *name) && pat.is_none_or(|p| event_match(ev, p)))
}

fn describe(events: &[EventSpec<'_>]) -> String {
    let parts: Vec<String> = events
        .iter()
        .map(|(name, pat)| match pat {
            Some(p) => format!("{name} matching {p}"),
            None => (*name).to_owned(),
        })
        .collect();
    format!("waiting for event {}", parts.join(" or "))
}

/// How much longer than its per-event `timeout` a wait for an event may
/// last in all while other events keep arriving: python restarts the
/// timeout at each event, which a peer that never stops sending would make
/// endless. [`QmpClient::events_wait`] keeps python's per-event timeout
/// within a total of `timeout ×` this factor.
pub const EVENTS_WAIT_TOTAL_FACTOR: u32 = 10;

impl QmpClient {
    /// Reads one message into the queues. `Ok(false)`: the deadline passed.
    fn read_one(&mut self, until: Until<'_>, what: &str) -> Result<bool, QmpError> {
        match self.wire.recv(until, what)? {
            None => Ok(false),
            Some(m) if m.contains_key("event") => self.queue_event(Value::Object(m), what).map(|()| true),
            Some(m) => self.unrouted(m, what).map(|()| true),
        }
    }

    /// Queues every complete message that is readable right now: what the
    /// socket held when the call began, and what that completes — not what
    /// a peer that keeps sending adds meanwhile. A closed connection is not
    /// an error here — nothing was waited for — and the next blocking read
    /// reports it.
    fn drain_ready(&mut self, what: &str) -> Result<(), QmpError> {
        let until = self.wire.received() + self.wire.readable();
        let mut read = Until::Now;
        loop {
            if self.wire.received() >= until {
                // Read what was there: take what is buffered, read no more.
                read = Until::Buffered;
            }
            match self.read_one(read, what) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) if e.is_eof() => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    fn wait_deadline(&self, wait: Wait) -> Option<Deadline> {
        match wait {
            Wait::No => None,
            Wait::Forever => Some(Deadline::within(self.default_timeout)),
            Wait::For(d) => Some(Deadline::within(d)),
        }
    }

    /// The next event off the connection, not looking at the cache.
    fn pull(&mut self, wait: Wait, what: &str) -> Result<Option<Value>, QmpError> {
        Ok(self.pull_sized(wait, what)?.map(|(ev, _)| ev))
    }

    /// [`pull`](Self::pull), with the event's size as received.
    fn pull_sized(&mut self, wait: Wait, what: &str) -> Result<Option<(Value, usize)>, QmpError> {
        let Some(deadline) = self.wait_deadline(wait) else {
            self.drain_ready(what)?;
            return Ok(self.incoming.pop_front());
        };
        loop {
            if let Some(ev) = self.incoming.pop_front() {
                return Ok(Some(ev));
            }
            if !self.read_one(Until::By(&deadline), what)? {
                return Err(QmpError::Timeout { what: what.to_owned(), after: deadline.length() });
            }
        }
    }

    /// The next event from the connection, ignoring events that
    /// [`QmpClient::events_wait`] set aside: python's legacy `pull_event`.
    ///
    /// `Ok(None)` only with [`Wait::No`]; otherwise no event in time is a
    /// [`QmpError::Timeout`].
    pub fn pull_event(&mut self, wait: impl Into<Wait>) -> Result<Option<Value>, QmpError> {
        self.pull(wait.into(), "waiting for an event")
    }

    /// The next event: one set aside by [`QmpClient::events_wait`] if there
    /// is one, else the next from the connection. Python's
    /// `VM.get_qmp_event(wait)`.
    ///
    /// ```
    /// # use std::io::Write;
    /// # use std::os::unix::net::UnixStream;
    /// use std::time::Duration;
    /// use iotests::qmp::{QmpClient, Wait};
    ///
    /// let (ours, mut theirs) = UnixStream::pair().unwrap();
    /// let mut qmp = QmpClient::from_stream(ours);
    /// assert_eq!(qmp.get_event(Wait::No)?, None);
    /// assert!(qmp.get_event(Duration::from_millis(20)).unwrap_err().is_timeout());
    /// writeln!(theirs, r#"{{"event": "RESUME", "timestamp": {{}}}}"#).unwrap();
    /// assert_eq!(qmp.get_event(true)?.unwrap()["event"], "RESUME");
    /// # Ok::<(), iotests::qmp::QmpError>(())
    /// ```
    pub fn get_event(&mut self, wait: impl Into<Wait>) -> Result<Option<Value>, QmpError> {
        if let Some((ev, _)) = self.cache.pop_front() {
            return Ok(Some(ev));
        }
        self.pull_event(wait)
    }

    /// All pending events: python's `VM.get_qmp_events(wait)`.
    ///
    /// Like python, it returns the events from the connection first and
    /// then those [`QmpClient::events_wait`] set aside, and waits (per
    /// `wait`) only when the connection has none, even if some were set
    /// aside. No event within the wait is a [`QmpError::Timeout`], as in
    /// python.
    ///
    /// ```
    /// # use std::io::Write;
    /// # use std::os::unix::net::UnixStream;
    /// use iotests::qmp::QmpClient;
    ///
    /// let (ours, mut theirs) = UnixStream::pair().unwrap();
    /// let mut qmp = QmpClient::from_stream(ours);
    /// writeln!(theirs, r#"{{"event": "STOP", "timestamp": {{}}}}"#).unwrap();
    /// writeln!(theirs, r#"{{"event": "RESUME", "timestamp": {{}}}}"#).unwrap();
    /// let names: Vec<_> = qmp.get_events(false)?.iter().map(|e| e["event"].clone()).collect();
    /// assert_eq!(names, ["STOP", "RESUME"]);
    /// assert!(qmp.get_events(false)?.is_empty());
    /// # Ok::<(), iotests::qmp::QmpError>(())
    /// ```
    pub fn get_events(&mut self, wait: impl Into<Wait>) -> Result<Vec<Value>, QmpError> {
        let what = "waiting for events";
        self.drain_ready(what)?;
        let mut events: Vec<Value> = self.incoming.drain_all().collect();
        if events.is_empty() {
            events.extend(self.pull(wait.into(), what)?);
        }
        events.extend(self.cache.drain_all());
        Ok(events)
    }

    /// Discards all queued events (those read off the connection and those
    /// set aside by [`QmpClient::events_wait`]). Events still unread in the
    /// socket are not touched.
    pub fn clear_events(&mut self) {
        self.incoming.clear();
        self.cache.clear();
    }

    /// The queued events, in the order [`QmpClient::get_events`] would
    /// return them, without removing them.
    pub fn queued_events(&self) -> impl Iterator<Item = &Value> {
        self.incoming.iter().chain(self.cache.iter())
    }

    /// Waits for an event named `name` that matches `pattern` (see
    /// [`event_match`]): python's `VM.event_wait(name, timeout, match)`.
    ///
    /// ```
    /// # use std::io::Write;
    /// # use std::os::unix::net::UnixStream;
    /// use std::time::Duration;
    /// use iotests::qmp::QmpClient;
    /// use serde_json::json;
    ///
    /// let (ours, mut theirs) = UnixStream::pair().unwrap();
    /// let mut qmp = QmpClient::from_stream(ours);
    /// writeln!(theirs, r#"{{"event": "JOB_STATUS_CHANGE", "data": {{"id": "j", "status": "running"}}}}"#).unwrap();
    /// writeln!(theirs, r#"{{"event": "JOB_STATUS_CHANGE", "data": {{"id": "j", "status": "ready"}}}}"#).unwrap();
    /// let pat = json!({"data": {"status": "ready"}});
    /// let ev = qmp.event_wait("JOB_STATUS_CHANGE", Duration::from_secs(5), Some(&pat))?;
    /// assert_eq!(ev["data"]["status"], "ready");
    /// // The "running" one was set aside, not lost.
    /// assert_eq!(qmp.get_event(false)?.unwrap()["data"]["status"], "running");
    /// # Ok::<(), iotests::qmp::QmpError>(())
    /// ```
    pub fn event_wait(&mut self, name: &str, timeout: Duration, pattern: Option<&Value>) -> Result<Value, QmpError> {
        self.events_wait(&[(name, pattern)], timeout)
    }

    /// Waits for the first event that matches any of `events`: python's
    /// `VM.events_wait(events, timeout)`.
    ///
    /// Events set aside earlier are searched first (and the match removed);
    /// then events are read, and those that do not match are set aside.
    /// As in python, `timeout` applies to each wait for the next event, so a
    /// stream of unrelated events extends the total wait — but only up to
    /// `timeout ×` [`EVENTS_WAIT_TOTAL_FACTOR`]: a peer that never stops
    /// sending cannot keep the test waiting forever. A zero `timeout`
    /// fails at once unless a matching event is at hand; for python's
    /// `timeout=0` (return `None`), use [`QmpClient::events_poll`].
    ///
    /// ```
    /// # use std::io::Write;
    /// # use std::os::unix::net::UnixStream;
    /// use std::time::{Duration, Instant};
    /// let (ours, mut theirs) = UnixStream::pair().unwrap();
    /// let mut qmp = iotests::qmp::QmpClient::from_stream(ours);
    /// // An unrelated event every 10 ms, each within the 50 ms timeout.
    /// std::thread::spawn(move || while writeln!(theirs, r#"{{"event": "TICK"}}"#).is_ok() {
    ///     std::thread::sleep(Duration::from_millis(10));
    /// });
    /// let start = Instant::now();
    /// let e = qmp.event_wait("NEVER", Duration::from_millis(50), None).unwrap_err();
    /// assert!(e.is_timeout() && start.elapsed() < Duration::from_secs(5), "{e}");
    /// ```
    pub fn events_wait(&mut self, events: &[EventSpec<'_>], timeout: Duration) -> Result<Value, QmpError> {
        if let Some(ev) = self.take_cached(events) {
            return Ok(ev);
        }
        let what = describe(events);
        let total = Deadline::within(timeout.saturating_mul(EVENTS_WAIT_TOTAL_FACTOR));
        let started = Instant::now();
        let overall = |client: &Self| QmpError::Timeout {
            what: format!(
                "{what} (events kept arriving, each within the per-event timeout of {timeout:?}){}",
                client.seen_note()
            ),
            after: started.elapsed(),
        };
        let mut first = true;
        loop {
            let left = total.remaining();
            if !first && left.is_zero() {
                return Err(overall(self));
            }
            first = false;
            let per_event = timeout.min(left);
            match self.pull_sized(Wait::For(per_event), &what) {
                Ok(Some((ev, size))) => {
                    if spec_matches(events, &ev) {
                        return Ok(ev);
                    }
                    self.cache.push_back(ev, size);
                    self.check_queues(&what)?;
                }
                Ok(None) | Err(QmpError::Timeout { .. }) if per_event < timeout => return Err(overall(self)),
                Ok(None) | Err(QmpError::Timeout { .. }) => {
                    return Err(QmpError::Timeout { what: format!("{what}{}", self.seen_note()), after: timeout });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Like [`QmpClient::events_wait`] without waiting: a matching event that
    /// is set aside or readable right now, or `None`. Python's
    /// `events_wait(events, timeout=0)`.
    pub fn events_poll(&mut self, events: &[EventSpec<'_>]) -> Result<Option<Value>, QmpError> {
        if let Some(ev) = self.take_cached(events) {
            return Ok(Some(ev));
        }
        let what = describe(events);
        // What is readable now, once: a peer that keeps sending does not
        // keep a poll going.
        self.drain_ready(&what)?;
        while let Some((ev, size)) = self.incoming.pop_front() {
            if spec_matches(events, &ev) {
                return Ok(Some(ev));
            }
            self.cache.push_back(ev, size);
        }
        Ok(None)
    }

    /// [`QmpClient::events_poll`] for one event name: python's
    /// `event_wait(name, timeout=0, match)`.
    pub fn event_poll(&mut self, name: &str, pattern: Option<&Value>) -> Result<Option<Value>, QmpError> {
        self.events_poll(&[(name, pattern)])
    }

    fn take_cached(&mut self, events: &[EventSpec<'_>]) -> Option<Value> {
        self.cache.take_first(|ev| spec_matches(events, ev))
    }

    /// For a timeout message: which other events did arrive.
    fn seen_note(&self) -> String {
        if self.cache.is_empty() {
            return String::new();
        }
        let names: Vec<&str> =
            self.cache.iter().take(10).map(|e| e.get("event").and_then(Value::as_str).unwrap_or("?")).collect();
        let more = if self.cache.len() > 10 { ", …" } else { "" };
        format!(" (other events queued: {}{more})", names.join(", "))
    }
}
