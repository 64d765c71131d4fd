//! [`QmpClient`]: connection set-up, negotiation and commands.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};

use super::DEFAULT_TIMEOUT;
use super::error::{QmpError, value_snippet};
use super::queue::{DEFAULT_MAX_QUEUED_BYTES, DEFAULT_MAX_QUEUED_EVENTS, Queue};
use super::wire::{Until, Wire};
use crate::deadline::Deadline;

/// The arguments of a command: anything that converts into a JSON object,
/// or nothing.
///
/// Insertion order is kept on the wire (serde_json's `preserve_order`).
///
/// ```
/// use iotests::qmp::Args;
/// use serde_json::{json, Map};
///
/// let _none: Args = ().into();
/// let _none: Args = None::<Map<_, _>>.into();
/// let _obj: Args = json!({"device": "drive0", "speed": 0}).into();
/// let _map: Args = Map::new().into();
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args(Option<Value>);

impl Args {
    /// The arguments as python's `cmd_raw` sends them: `None` when there
    /// are none or they are empty (`if args:`).
    fn truthy(self) -> Option<Value> {
        match self.0 {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) if m.is_empty() => None,
            Some(v) => Some(v),
        }
    }

    /// The arguments as sent: `{}` for none.
    pub fn to_value(&self) -> Value {
        self.clone().or_empty()
    }

    /// The arguments as python's `execute` sends them: always an object.
    fn or_empty(self) -> Value {
        match self.0 {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(v) => v,
        }
    }
}

impl From<()> for Args {
    fn from(_: ()) -> Self {
        Args(None)
    }
}

impl From<Value> for Args {
    /// `null` means no arguments; any other non-object value is sent as is
    /// (and QEMU will reject it, as it would from python).
    fn from(v: Value) -> Self {
        Args(Some(v))
    }
}

impl From<&Value> for Args {
    fn from(v: &Value) -> Self {
        Args(Some(v.clone()))
    }
}

impl From<Map<String, Value>> for Args {
    fn from(m: Map<String, Value>) -> Self {
        Args(Some(Value::Object(m)))
    }
}

impl From<Option<Map<String, Value>>> for Args {
    fn from(m: Option<Map<String, Value>>) -> Self {
        Args(m.map(Value::Object))
    }
}

/// A synchronous QMP client over a Unix socket.
///
/// Create it with [`QmpClient::from_stream`] (one end of a socketpair, as
/// python's `QEMUMachine` does), [`QmpClient::connect`] or
/// [`QmpListener::accept`](super::QmpListener::accept), then call
/// [`QmpClient::negotiate`]. See the [module documentation](super) for an
/// example.
///
/// Events are kept in two queues, because python keeps them in two places
/// and the order in which `get_qmp_events` returns them depends on it: the
/// *incoming* queue (python's `QMPClient.events`: events read off the socket
/// and not yet pulled) and the *cache* (`QEMUMachine._events`: events that
/// [`events_wait`](QmpClient::events_wait) pulled but did not want).
///
/// Nothing waits past its deadline, also while the peer keeps sending, and
/// the queues are bounded ([`set_max_queued_events`](QmpClient::set_max_queued_events)):
/// a peer that floods the connection with events makes the call that
/// would queue too many fail with [`QmpError::Flooded`].
#[derive(Debug)]
pub struct QmpClient {
    pub(super) wire: Wire,
    greeting: Option<Value>,
    pub(super) incoming: Queue,
    pub(super) cache: Queue,
    /// Limits on the queued events: how many, how many bytes.
    pub(super) max_queued: (usize, usize),
    pub(super) default_timeout: Duration,
    /// Counter for python's `__qmp#NNNNN` execution ids.
    next_id: u64,
    /// Responses still owed for id-less commands that timed out: the next
    /// that many id-less responses are stale and dropped, so that a late
    /// answer is never taken for the answer to a later command.
    pub(super) stale: usize,
}

impl QmpClient {
    /// A client on an already connected stream (e.g. one end of
    /// `UnixStream::pair()` whose other end QEMU got as `-chardev
    /// socket,fd=N`).
    ///
    /// ```
    /// # use std::os::unix::net::UnixStream;
    /// let (ours, _theirs) = UnixStream::pair().unwrap();
    /// let qmp = iotests::qmp::QmpClient::from_stream(ours);
    /// assert!(qmp.greeting().is_none());
    /// ```
    pub fn from_stream(stream: UnixStream) -> Self {
        QmpClient {
            wire: Wire::new(stream),
            greeting: None,
            incoming: Queue::default(),
            cache: Queue::default(),
            max_queued: (DEFAULT_MAX_QUEUED_EVENTS, DEFAULT_MAX_QUEUED_BYTES),
            default_timeout: DEFAULT_TIMEOUT,
            next_id: 0,
            stale: 0,
        }
    }

    /// Connects to a QMP server socket (e.g. `-qmp unix:PATH,server=on,wait=off`).
    ///
    /// Retries while the socket does not exist yet or refuses connections,
    /// since QEMU creates it some time after it was started, for up to
    /// `timeout`. Does not negotiate; call [`QmpClient::negotiate`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// let e = iotests::qmp::QmpClient::connect("/nonexistent/qmp.sock", Duration::from_millis(50)).unwrap_err();
    /// assert!(e.is_timeout());
    /// ```
    pub fn connect(path: impl AsRef<Path>, timeout: Duration) -> Result<Self, QmpError> {
        let path = path.as_ref();
        let deadline = Deadline::within(timeout);
        loop {
            match UnixStream::connect(path) {
                Ok(s) => return Ok(Self::from_stream(s)),
                Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused) => {
                    if deadline.expired() {
                        return Err(QmpError::Timeout {
                            what: format!("connecting to {} (last error: {e})", path.display()),
                            after: timeout,
                        });
                    }
                    deadline.sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(QmpError::io(format!("connecting to {}", path.display()), e)),
            }
        }
    }

    /// Reads the greeting, negotiates capabilities and returns the greeting,
    /// all within `timeout`.
    ///
    /// Like python, it enables `oob` if the server offers it and otherwise
    /// sends `{"execute":"qmp_capabilities","arguments":{}}`.
    ///
    /// ```
    /// # use std::io::{BufRead, BufReader, Write};
    /// # use std::os::unix::net::UnixStream;
    /// # use std::time::Duration;
    /// let (ours, mut theirs) = UnixStream::pair().unwrap();
    /// // A peer that greets and then says something that is not a reply.
    /// writeln!(theirs, r#"{{"QMP": {{"version": {{}}, "capabilities": ["oob"]}}}}"#).unwrap();
    /// writeln!(theirs, r#"{{"error": {{"class": "GenericError", "desc": "no"}}}}"#).unwrap();
    /// let mut qmp = iotests::qmp::QmpClient::from_stream(ours);
    /// let e = qmp.negotiate(Duration::from_secs(5)).unwrap_err();
    /// assert!(e.to_string().contains("negotiation failed"), "{e}");
    /// let mut sent = String::new();
    /// BufReader::new(theirs).read_line(&mut sent).unwrap();
    /// assert_eq!(sent, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}\n");
    /// ```
    pub fn negotiate(&mut self, timeout: Duration) -> Result<Value, QmpError> {
        let deadline = Deadline::within(timeout);
        let what = "waiting for the QMP greeting";
        let greeting = match self.wire.recv(Until::By(&deadline), what) {
            Ok(Some(g)) => g,
            Ok(None) => return Err(QmpError::Timeout { what: what.into(), after: timeout }),
            // Python's GreetingError: the first line was not a greeting.
            Err(QmpError::Garbage { line, reason, .. }) => {
                return Err(QmpError::Negotiation {
                    reason: format!("the greeting is not JSON ({reason})"),
                    message: line,
                });
            }
            Err(QmpError::Protocol { message, .. }) => {
                return Err(QmpError::Negotiation { reason: "the greeting is not a JSON object".into(), message });
            }
            Err(e) => return Err(e),
        };
        let caps = greeting.get("QMP").and_then(|q| q.get("capabilities")).and_then(Value::as_array);
        let Some(caps) = caps else {
            return Err(QmpError::Negotiation {
                reason: "the greeting is not {\"QMP\": {\"capabilities\": [...], ...}}".into(),
                message: value_snippet(&Value::Object(greeting)),
            });
        };
        let mut args = Map::new();
        if caps.iter().any(|c| c == "oob") {
            args.insert("enable".into(), Value::Array(vec!["oob".into()]));
        }
        let greeting = Value::Object(greeting);
        self.greeting = Some(greeting.clone());

        let msg = serde_json::json!({"execute": "qmp_capabilities", "arguments": args});
        let reply = self.exchange(&msg, None, &deadline, "qmp_capabilities")?;
        if reply.contains_key("error") || !reply.contains_key("return") {
            return Err(QmpError::Negotiation {
                reason: "qmp_capabilities was not accepted".into(),
                message: value_snippet(&Value::Object(reply)),
            });
        }
        Ok(greeting)
    }

    /// The greeting, once [`QmpClient::negotiate`] has read it.
    pub fn greeting(&self) -> Option<&Value> {
        self.greeting.as_ref()
    }

    /// Sets the time limit for a command's response and for
    /// [`Wait::Forever`](super::Wait::Forever) (default:
    /// [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT), 300 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let (ours, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let mut qmp = iotests::qmp::QmpClient::from_stream(ours);
    /// qmp.set_default_timeout(Duration::from_secs(300));
    /// assert_eq!(qmp.default_timeout(), Duration::from_secs(300));
    /// ```
    pub fn set_default_timeout(&mut self, timeout: Duration) {
        self.default_timeout = timeout;
    }

    /// The time limit set by [`QmpClient::set_default_timeout`].
    pub fn default_timeout(&self) -> Duration {
        self.default_timeout
    }

    /// Sets the size limit for one incoming message (default:
    /// [`DEFAULT_MAX_MESSAGE`](super::DEFAULT_MAX_MESSAGE), 64 MiB). A
    /// longer one is a [`QmpError::Oversize`].
    pub fn set_max_message_size(&mut self, bytes: usize) {
        self.wire.max_message = bytes;
    }

    /// Sets the limits on events queued and not yet taken by the test:
    /// their number and their total size as received (defaults:
    /// [`DEFAULT_MAX_QUEUED_EVENTS`](super::DEFAULT_MAX_QUEUED_EVENTS),
    /// [`DEFAULT_MAX_QUEUED_BYTES`](super::DEFAULT_MAX_QUEUED_BYTES)).
    /// A call that would queue more fails with [`QmpError::Flooded`].
    ///
    /// ```
    /// # use std::io::Write;
    /// # let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let mut qmp = iotests::qmp::QmpClient::from_stream(ours);
    /// qmp.set_max_queued_events(2, 1 << 20);
    /// for _ in 0..3 {
    ///     writeln!(theirs, r#"{{"event": "STOP"}}"#).unwrap();
    /// }
    /// writeln!(theirs, r#"{{"return": {{}}}}"#).unwrap();
    /// let e = qmp.qmp("stop", ()).unwrap_err();
    /// assert!(matches!(e, iotests::qmp::QmpError::Flooded { queued: 3, .. }), "{e}");
    /// qmp.clear_events();
    /// ```
    pub fn set_max_queued_events(&mut self, events: usize, bytes: usize) {
        self.max_queued = (events, bytes);
    }

    /// Queues an event just read (its size: the wire's last message), or
    /// fails once the queues hold more than the limits allow.
    pub(super) fn queue_event(&mut self, ev: Value, what: &str) -> Result<(), QmpError> {
        self.incoming.push_back(ev, self.wire.last_len);
        self.check_queues(what)
    }

    /// [`QmpError::Flooded`] once the queues hold more than the limits.
    pub(super) fn check_queues(&self, what: &str) -> Result<(), QmpError> {
        let queued = self.incoming.len() + self.cache.len();
        let bytes = self.incoming.bytes() + self.cache.bytes();
        if queued <= self.max_queued.0 && bytes <= self.max_queued.1 {
            return Ok(());
        }
        let newest = self.incoming.back().or(self.cache.back());
        Err(QmpError::Flooded {
            what: what.to_owned(),
            queued,
            bytes,
            last: newest.map(value_snippet).unwrap_or_default(),
        })
    }

    /// The underlying socket, e.g. to check its peer's credentials.
    pub fn stream(&self) -> &UnixStream {
        self.wire.stream()
    }

    /// Sends a command and returns the raw response, `{"return": …}` or
    /// `{"error": …}`: python's `cmd_raw`, which `VM.qmp()` uses.
    ///
    /// The message has no `id`; `arguments` is left out when `args` is empty.
    /// Events that arrive before the response are queued.
    ///
    /// ```
    /// # use std::io::{BufRead, BufReader, Write};
    /// # use std::os::unix::net::UnixStream;
    /// use serde_json::json;
    /// let (ours, mut theirs) = UnixStream::pair().unwrap();
    /// writeln!(theirs, r#"{{"error": {{"class": "GenericError", "desc": "Device 'x' not found"}}}}"#).unwrap();
    /// let mut qmp = iotests::qmp::QmpClient::from_stream(ours);
    /// let r = qmp.qmp("block_resize", json!({"device": "x", "size": 512}))?;
    /// assert_eq!(r["error"]["class"], "GenericError");
    /// let mut sent = String::new();
    /// BufReader::new(theirs).read_line(&mut sent).unwrap();
    /// assert_eq!(sent, "{\"execute\":\"block_resize\",\"arguments\":{\"device\":\"x\",\"size\":512}}\n");
    /// # Ok::<(), iotests::qmp::QmpError>(())
    /// ```
    pub fn qmp(&mut self, cmd: &str, args: impl Into<Args>) -> Result<Value, QmpError> {
        let mut msg = Map::new();
        msg.insert("execute".into(), cmd.into());
        if let Some(args) = args.into().truthy() {
            msg.insert("arguments".into(), args);
        }
        self.cmd_obj(&Value::Object(msg))
    }

    /// Sends a whole message and returns the raw response: python's
    /// `cmd_obj`. The message is sent as given (an `id` in it is kept and
    /// the response must carry it back).
    ///
    /// ```
    /// # use std::io::Write;
    /// # use std::os::unix::net::UnixStream;
    /// use serde_json::json;
    /// let (ours, mut theirs) = UnixStream::pair().unwrap();
    /// writeln!(theirs, r#"{{"return": {{"status": "running"}}, "id": 7}}"#).unwrap();
    /// let mut qmp = iotests::qmp::QmpClient::from_stream(ours);
    /// let r = qmp.cmd_obj(&json!({"execute": "query-status", "id": 7}))?;
    /// assert_eq!(r["return"]["status"], "running");
    /// # Ok::<(), iotests::qmp::QmpError>(())
    /// ```
    pub fn cmd_obj(&mut self, msg: &Value) -> Result<Value, QmpError> {
        let id = msg.get("id").cloned();
        let name = msg.get("execute").or_else(|| msg.get("exec-oob")).and_then(Value::as_str).unwrap_or("?");
        let name = name.to_owned();
        let deadline = Deadline::within(self.default_timeout);
        self.exchange(msg, id.as_ref(), &deadline, &name).map(Value::Object)
    }

    /// Runs a command and returns its return value; an error response is a
    /// [`QmpError::Command`]: python's `cmd`, which `VM.cmd()` uses.
    ///
    /// Like python's `execute`, the message carries an `id`
    /// (`__qmp#00000`, …) and always has `arguments`.
    ///
    /// ```
    /// # use std::io::Write;
    /// # use std::os::unix::net::UnixStream;
    /// use iotests::qmp::QmpError;
    /// let (ours, mut theirs) = UnixStream::pair().unwrap();
    /// writeln!(theirs, r#"{{"error": {{"class": "CommandNotFound", "desc": "nope"}}, "id": "__qmp#00000"}}"#).unwrap();
    /// let mut qmp = iotests::qmp::QmpClient::from_stream(ours);
    /// match qmp.cmd("nope", ()) {
    ///     Err(QmpError::Command { class, .. }) => assert_eq!(class, "CommandNotFound"),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn cmd(&mut self, cmd: &str, args: impl Into<Args>) -> Result<Value, QmpError> {
        let id = Value::String(format!("__qmp#{:05}", self.next_id));
        self.next_id += 1;
        let mut msg = Map::new();
        msg.insert("execute".into(), cmd.into());
        let args = args.into().or_empty();
        let arguments = value_snippet(&args);
        msg.insert("arguments".into(), args);
        msg.insert("id".into(), id.clone());
        let deadline = Deadline::within(self.default_timeout);
        let mut reply = self.exchange(&Value::Object(msg), Some(&id), &deadline, cmd)?;
        let what = || format!("running {cmd:?}");
        if let Some(err) = reply.get("error") {
            let class = err.get("class").and_then(Value::as_str);
            let desc = err.get("desc").and_then(Value::as_str);
            let (Some(class), Some(desc)) = (class, desc) else {
                return Err(QmpError::Protocol {
                    what: what(),
                    reason: "malformed error response".into(),
                    message: value_snippet(&Value::Object(reply)),
                });
            };
            let (class, desc) = (class.to_owned(), desc.to_owned());
            return Err(QmpError::Command {
                command: cmd.into(),
                arguments: arguments.into(),
                class,
                desc,
                response: Box::new(Value::Object(reply)),
            });
        }
        match reply.shift_remove("return") {
            Some(v) => Ok(v),
            None => Err(QmpError::Protocol {
                what: what(),
                reason: "the response has neither \"return\" nor \"error\"".into(),
                message: value_snippet(&Value::Object(reply)),
            }),
        }
    }

    /// Sends `msg` and reads until its response (the first non-event
    /// message with the same `id`, or none for `None`), queuing events.
    fn exchange(
        &mut self,
        msg: &Value,
        id: Option<&Value>,
        deadline: &Deadline,
        cmd: &str,
    ) -> Result<Map<String, Value>, QmpError> {
        let what = format!("waiting for the response to {cmd:?}");
        match self.wire.send(msg, deadline, &format!("sending {cmd:?}")) {
            Ok(()) => {}
            Err(e) if e.is_eof() => return Err(self.salvage(e)),
            Err(e) => return Err(e),
        }
        loop {
            // Checked before every message, not only when none is buffered:
            // a peer that keeps sending must not extend the wait.
            let m = if !deadline.expired() { self.wire.recv(Until::By(deadline), &what)? } else { None };
            let Some(m) = m else {
                if id.is_none() {
                    self.stale += 1;
                }
                return Err(QmpError::Timeout { what, after: deadline.length() });
            };
            if m.contains_key("event") {
                self.queue_event(Value::Object(m), &what)?;
                continue;
            }
            if m.get("id") == id {
                if id.is_none() && self.stale > 0 {
                    // The late answer to a command that timed out.
                    self.stale -= 1;
                    continue;
                }
                return Ok(m);
            }
            self.unrouted(m, &what)?;
        }
    }

    /// After the peer hung up on a send: keeps what it said before it went
    /// (events are queued, a partial message goes into the error).
    fn salvage(&mut self, err: QmpError) -> QmpError {
        loop {
            match self.wire.recv(Until::Now, "reading what the peer sent before it hung up") {
                Ok(Some(m)) if m.contains_key("event") => {
                    if self.queue_event(Value::Object(m), "reading what the peer sent before it hung up").is_err() {
                        return err;
                    }
                }
                Ok(Some(_)) => {}
                Err(QmpError::Eof { partial, .. }) if !partial.is_empty() => {
                    let QmpError::Eof { what, .. } = err else { return err };
                    return QmpError::Eof { what, partial };
                }
                Ok(None) | Err(_) => return err,
            }
        }
    }

    /// A response that belongs to no pending command. Like python: an
    /// id-less error is the server failing to parse something, which is
    /// fatal; anything else is dropped.
    pub(super) fn unrouted(&mut self, m: Map<String, Value>, what: &str) -> Result<(), QmpError> {
        if !m.contains_key("id") && self.stale > 0 {
            self.stale -= 1;
            return Ok(());
        }
        if m.contains_key("error") && !m.contains_key("id") {
            return Err(QmpError::Protocol {
                what: what.to_owned(),
                reason: "the server sent an error response without id when no id-less command was pending \
                         (probably it could not parse what we sent)"
                    .into(),
                message: value_snippet(&Value::Object(m)),
            });
        }
        Ok(())
    }
}

impl AsFd for QmpClient {
    /// The socket, e.g. to `poll` it together with a child's pidfd.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.wire.fd()
    }
}
