//! `nbd-fault-injector.py`: the NBD server of qemu-iotests that drops the
//! connection at a chosen point of the protocol.
//!
//! Upstream tests start it as a subprocess
//! (`subprocess.Popen(['./nbd-fault-injector.py', …], stdout=PIPE,
//! stderr=STDOUT)`), read its `Listening on …` line, and later collect the
//! rest of its output and its exit status. Here the same server runs on a
//! thread of the test, behind the same interface ([`NbdFaultInjector`]:
//! [`readline`](NbdFaultInjector::readline),
//! [`communicate`](NbdFaultInjector::communicate),
//! [`kill`](NbdFaultInjector::kill)), so no Python is needed. It prints
//! what the script prints, and "exits" where it exits: with status 0 after
//! `Closing connection on rule match <name>`, with status 1 (and the error
//! on its output) on a bad command line, configuration or protocol error.
//!
//! Command line: `[--classic-negotiation] <tcp-host:port>|<unix-path>
//! <config-file>`. The configuration holds `[inject-error…]` sections with
//! `event` (`neg-classic`, `neg1`, `export`, `neg2`, `request`, `reply`,
//! `data`), `io` (`read`, `write`, `readwrite`; default `readwrite`) and
//! `when` (`before` = 0, `after` = -1, or a number of bytes; default
//! `before`).
//!
//! ```no_run
//! # fn main() -> iotests::Result<()> {
//! # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
//! use std::time::Duration;
//! let conf = t.file_path("nbd-fault-injector.conf");
//! let sock = t.sock_path("nbd-sock");
//! std::fs::write(&conf, "[inject-error]\nevent=data\nwhen=after").unwrap();
//! let mut srv = t.nbd_fault_injector(&["--classic-negotiation", &sock, &conf]);
//! assert!(srv.readline(Duration::from_secs(10))?.starts_with("Listening on "));
//! // … a client writes …
//! let out = srv.communicate(Duration::from_secs(10))?;
//! assert_eq!(out, "Closing connection on rule match inject-error\n");
//! assert_eq!(srv.poll(), Some(0));
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::context::TestContext;
use crate::error::{Error, Result};

/// The size of the fake disk the server exports (8 GiB).
pub const FAKE_DISK_SIZE: u64 = 8 * 1024 * 1024 * 1024;

// Protocol constants.
const NBD_CMD_READ: u32 = 0;
const NBD_CMD_WRITE: u32 = 1;
const NBD_CMD_DISC: u32 = 2;
const NBD_REQUEST_MAGIC: u32 = 0x25609513;
const NBD_SIMPLE_REPLY_MAGIC: u32 = 0x67446698;
const NBD_PASSWD: u64 = 0x4e42444d41474943;
const NBD_OPTS_MAGIC: u64 = 0x49484156454F5054;
const NBD_CLIENT_MAGIC: u64 = 0x0000420281861253;
const NBD_OPT_EXPORT_NAME: u32 = 1 << 0;

/// The events a rule may name.
const EVENTS: &[&str] = &["neg-classic", "neg1", "export", "neg2", "request", "reply", "data"];

/// The return code [`NbdFaultInjector::kill`] reports, as `Popen.kill()`
/// would (`-SIGKILL`).
const KILLED: i32 = -9;

/// How often a blocked server thread looks whether it was killed.
const TICK: Duration = Duration::from_millis(20);

/// An `[inject-error…]` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The section name.
    pub name: String,
    /// The trigger event.
    pub event: String,
    /// `read`, `write` or `readwrite`.
    pub io: String,
    /// After how many bytes to inject the fault: 0 before the I/O, -1
    /// after it.
    pub when: i64,
}

impl Rule {
    fn matches(&self, event: &str, io: &str) -> bool {
        event == self.event && (io == self.io || self.io == "readwrite")
    }
}

/// How the server stopped (Python's `sys.exit(code)`, or an exception:
/// status 1 with the message).
#[derive(Debug)]
enum Exit {
    Code(i32),
    Error(String),
}

type Flow<T> = std::result::Result<T, Exit>;

fn exc(msg: impl Into<String>) -> Exit {
    Exit::Error(msg.into())
}

/// What the server printed and its status, shared with the test.
#[derive(Debug, Default)]
struct State {
    out: String,
    read: usize,
    returncode: Option<i32>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    cond: Condvar,
    killed: AtomicBool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Python's `print(text)` followed by `sys.stdout.flush()`.
    fn print(&self, text: &str) {
        let mut st = self.lock();
        st.out.push_str(text);
        st.out.push('\n');
        self.cond.notify_all();
    }

    fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

/// A running fault-injecting NBD server (the `Popen` of
/// `nbd-fault-injector.py`). Dropping it kills it.
#[derive(Debug)]
pub struct NbdFaultInjector {
    args: Vec<String>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl TestContext {
    /// Start `nbd-fault-injector.py` with `args` (its command line without
    /// the program name). See [the module](crate::tools::fault_injector).
    pub fn nbd_fault_injector<S: AsRef<str>>(&self, args: &[S]) -> NbdFaultInjector {
        NbdFaultInjector::start(args)
    }
}

impl NbdFaultInjector {
    /// Start the server on its own thread.
    pub fn start<S: AsRef<str>>(args: &[S]) -> NbdFaultInjector {
        let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
        let shared = Arc::new(Shared::default());
        let (sh, argv) = (Arc::clone(&shared), args.clone());
        let thread = std::thread::Builder::new()
            .name("nbd-fault-injector".into())
            .spawn(move || {
                let rc = match main(&sh, &argv) {
                    Ok(()) => 0,
                    Err(Exit::Code(c)) => c,
                    Err(Exit::Error(msg)) => {
                        sh.print(&msg);
                        1
                    }
                };
                let mut st = sh.lock();
                st.returncode = Some(if sh.killed() { KILLED } else { rc });
                sh.cond.notify_all();
            })
            .ok();
        if thread.is_none() {
            let mut st = shared.lock();
            st.out.push_str("could not start the nbd-fault-injector thread\n");
            st.returncode = Some(1);
        }
        NbdFaultInjector { args, shared, thread }
    }

    /// The command line it was started with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// `Popen.stdout.readline()`: the next line of output with its `\n`,
    /// what is left without one once the server has exited, `""` at the
    /// end. Waiting longer than `timeout` is an [`Error::Timeout`].
    pub fn readline(&mut self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if let Some(nl) = st.out[st.read..].find('\n') {
                let end = st.read + nl + 1;
                let line = st.out[st.read..end].to_string();
                st.read = end;
                return Ok(line);
            }
            if st.returncode.is_some() {
                let line = st.out[st.read..].to_string();
                st.read = st.out.len();
                return Ok(line);
            }
            st = self.wait_until(st, deadline, "a line from nbd-fault-injector")?;
        }
    }

    /// `Popen.poll()`: the exit status once the server has stopped.
    pub fn poll(&mut self) -> Option<i32> {
        let rc = self.shared.lock().returncode;
        if rc.is_some()
            && let Some(t) = self.thread.take()
        {
            let _ = t.join();
        }
        rc
    }

    /// `Popen.wait(timeout)`: the exit status, or [`Error::Timeout`] (the
    /// server keeps running).
    pub fn wait(&mut self, timeout: Duration) -> Result<i32> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        while st.returncode.is_none() {
            st = self.wait_until(st, deadline, "nbd-fault-injector to exit")?;
        }
        drop(st);
        Ok(self.poll().unwrap_or(KILLED))
    }

    /// `Popen.communicate(timeout=…)[0]`: wait for the server to exit and
    /// return the output not read yet. On timeout ([`Error::Timeout`]) the
    /// server keeps running, as in Python.
    pub fn communicate(&mut self, timeout: Duration) -> Result<String> {
        self.wait(timeout)?;
        let mut st = self.shared.lock();
        let rest = st.out[st.read..].to_string();
        st.read = st.out.len();
        Ok(rest)
    }

    /// `Popen.kill(); Popen.wait()`: stop the server (its sockets are
    /// closed) and return its status, `-9` unless it had exited already.
    pub fn kill(&mut self) -> i32 {
        self.shared.killed.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.lock().returncode.unwrap_or(KILLED)
    }

    fn wait_until<'a>(
        &self,
        st: std::sync::MutexGuard<'a, State>,
        deadline: Instant,
        what: &str,
    ) -> Result<std::sync::MutexGuard<'a, State>> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout {
                what: format!("waiting for {what}: nbd-fault-injector {}", self.args.join(" ")),
                log: st.out.clone(),
            });
        }
        let (st, _) = self.shared.cond.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner());
        Ok(st)
    }
}

impl Drop for NbdFaultInjector {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Python's `configparser.RawConfigParser` reading of the rules file:
/// `[section]` headers, `key = value` / `key: value` options (keys
/// lower-cased, values stripped), `#` / `;` comment lines, indented
/// continuation lines.
fn parse_ini(text: &str, filename: &str) -> Flow<Vec<(String, HashMap<String, String>)>> {
    let mut sections: Vec<(String, HashMap<String, String>)> = Vec::new();
    let mut last_key: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let lineno = n + 1;
        let stripped = raw.trim();
        if stripped.is_empty() || stripped.starts_with('#') || stripped.starts_with(';') {
            last_key = None;
            continue;
        }
        if raw.starts_with([' ', '\t'])
            && let (Some((_, opts)), Some(key)) = (sections.last_mut(), &last_key)
        {
            let v = opts.entry(key.clone()).or_default();
            v.push('\n');
            v.push_str(stripped);
            continue;
        }
        if let Some(rest) = stripped.strip_prefix('[')
            && let Some(end) = rest.find(']')
        {
            let name = rest[..end].to_string();
            if sections.iter().any(|(s, _)| *s == name) {
                return Err(exc(format!(
                    "configparser.DuplicateSectionError: While reading from '{filename}' [line {lineno:2}]: \
                     section '{name}' already exists"
                )));
            }
            sections.push((name, HashMap::new()));
            last_key = None;
            continue;
        }
        let Some((_, opts)) = sections.last_mut() else {
            return Err(exc(format!(
                "configparser.MissingSectionHeaderError: File contains no section headers.\nfile: '{filename}', \
                 line: {lineno}\n'{raw}'"
            )));
        };
        let Some(sep) = stripped.find(['=', ':']) else {
            return Err(exc(format!(
                "configparser.ParsingError: Source contains parsing errors: '{filename}'\n\t[line {lineno:2}]: '{raw}'"
            )));
        };
        let key = stripped[..sep].trim().to_lowercase();
        opts.insert(key.clone(), stripped[sep + 1..].trim().to_string());
        last_key = Some(key);
    }
    Ok(sections)
}

fn err(msg: String) -> Exit {
    Exit::Error(msg)
}

fn parse_inject_error(name: &str, options: &HashMap<String, String>) -> Flow<Rule> {
    let Some(event) = options.get("event") else {
        return Err(err(format!("missing \"event\" option in {name}")));
    };
    if !EVENTS.contains(&event.as_str()) {
        return Err(err(format!("invalid \"event\" option value \"{event}\" in {name}")));
    }
    let io = options.get("io").map_or("readwrite", String::as_str);
    if !["read", "write", "readwrite"].contains(&io) {
        return Err(err(format!("invalid \"io\" option value \"{io}\" in {name}")));
    }
    let when = options.get("when").map_or("before", String::as_str);
    let when = match when.trim().replace('_', "").parse::<i64>() {
        Ok(n) => n,
        Err(_) if when == "before" => 0,
        Err(_) if when == "after" => -1,
        Err(_) => return Err(err(format!("invalid \"when\" option value \"{when}\" in {name}"))),
    };
    Ok(Rule { name: name.to_string(), event: event.clone(), io: io.to_string(), when })
}

/// The rules of a configuration file's text.
///
/// ```
/// use iotests::tools::fault_injector::parse_rules;
/// let rules = parse_rules("[inject-error \"a\"]\nevent=data\nwhen=after\n[inject-error]\nevent = neg1\nio: read", "c")?;
/// assert_eq!((rules[0].name.as_str(), rules[0].event.as_str(), rules[0].io.as_str(), rules[0].when),
///            ("inject-error \"a\"", "data", "readwrite", -1));
/// assert_eq!((rules[1].event.as_str(), rules[1].io.as_str(), rules[1].when), ("neg1", "read", 0));
/// assert!(parse_rules("[other]\n", "c").unwrap_err().to_string().contains("invalid config section name: other"));
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn parse_rules(text: &str, filename: &str) -> Result<Vec<Rule>> {
    parse_config(text, filename).map_err(|e| match e {
        Exit::Error(msg) => Error::Env(msg),
        Exit::Code(c) => Error::Env(format!("exit {c}")),
    })
}

fn parse_config(text: &str, filename: &str) -> Flow<Vec<Rule>> {
    let mut rules = Vec::new();
    for (name, options) in parse_ini(text, filename)? {
        if name.starts_with("inject-error") {
            rules.push(parse_inject_error(&name, &options)?);
        } else {
            return Err(err(format!("invalid config section name: {name}")));
        }
    }
    Ok(rules)
}

/// A connection with the rules applied to what goes through it.
struct FaultInjectionSocket<'a, S> {
    sock: Option<S>,
    rules: &'a [Rule],
    shared: &'a Shared,
}

/// Python's `buf[:n]` length for `n` possibly negative.
fn py_prefix_len(len: usize, n: i64) -> usize {
    if n >= 0 { len.min(n as usize) } else { len.saturating_sub(n.unsigned_abs() as usize) }
}

impl<S: Read + Write> FaultInjectionSocket<'_, S> {
    fn check(&mut self, event: &str, io: &str, bufsize: Option<i64>) -> Flow<Option<i64>> {
        for rule in self.rules {
            if rule.matches(event, io) {
                if rule.when == 0 || bufsize.is_none() {
                    self.shared.print(&format!("Closing connection on rule match {}", rule.name));
                    self.sock = None;
                    return Err(Exit::Code(0));
                }
                if rule.when != -1 {
                    return Ok(Some(rule.when));
                }
            }
        }
        Ok(bufsize)
    }

    fn sock(&mut self) -> Flow<&mut S> {
        self.sock.as_mut().ok_or_else(|| exc("OSError: [Errno 9] Bad file descriptor"))
    }

    fn send(&mut self, buf: &[u8], event: &str) -> Flow<()> {
        let bufsize = self.check(event, "write", Some(buf.len() as i64))?;
        let n = py_prefix_len(buf.len(), bufsize.unwrap_or(buf.len() as i64));
        let shared = self.shared;
        sendall(self.sock()?, &buf[..n], shared)?;
        self.check(event, "write", None)?;
        Ok(())
    }

    fn recv(&mut self, bufsize: usize, event: &str) -> Flow<Vec<u8>> {
        let bufsize = self.check(event, "read", Some(bufsize as i64))?.unwrap_or(0);
        let shared = self.shared;
        let data = recvall(self.sock()?, usize::try_from(bufsize).unwrap_or(0), shared)?;
        self.check(event, "read", None)?;
        Ok(data)
    }
}

fn io_exc(e: std::io::Error) -> Exit {
    exc(format!("OSError: {e}"))
}

fn transient(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted)
}

fn sendall<S: Write>(sock: &mut S, mut buf: &[u8], shared: &Shared) -> Flow<()> {
    while !buf.is_empty() {
        if shared.killed() {
            return Err(Exit::Code(KILLED));
        }
        match sock.write(buf) {
            Ok(0) => return Err(exc("BrokenPipeError: [Errno 32] Broken pipe")),
            Ok(n) => buf = &buf[n..],
            Err(e) if transient(&e) => {}
            Err(e) => return Err(io_exc(e)),
        }
    }
    Ok(())
}

fn recvall<S: Read>(sock: &mut S, bufsize: usize, shared: &Shared) -> Flow<Vec<u8>> {
    let mut data = vec![0u8; bufsize];
    let mut received = 0;
    while received < bufsize {
        if shared.killed() {
            return Err(Exit::Code(KILLED));
        }
        match sock.read(&mut data[received..]) {
            Ok(0) => return Err(exc("Exception: unexpected disconnect")),
            Ok(n) => received += n,
            Err(e) if transient(&e) => {}
            Err(e) => return Err(io_exc(e)),
        }
    }
    Ok(data)
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().unwrap_or_default())
}

fn be_u64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().unwrap_or_default())
}

fn negotiate_classic<S: Read + Write>(conn: &mut FaultInjectionSocket<'_, S>) -> Flow<()> {
    // '>QQQI124x'
    let mut buf = Vec::with_capacity(152);
    buf.extend(NBD_PASSWD.to_be_bytes());
    buf.extend(NBD_CLIENT_MAGIC.to_be_bytes());
    buf.extend(FAKE_DISK_SIZE.to_be_bytes());
    buf.extend(0u32.to_be_bytes());
    buf.extend([0u8; 124]);
    conn.send(&buf, "neg-classic")
}

fn negotiate_export<S: Read + Write>(conn: &mut FaultInjectionSocket<'_, S>) -> Flow<()> {
    // Send negotiation part 1: '>QQH'
    let mut buf = Vec::with_capacity(18);
    buf.extend(NBD_PASSWD.to_be_bytes());
    buf.extend(NBD_OPTS_MAGIC.to_be_bytes());
    buf.extend(0u16.to_be_bytes());
    conn.send(&buf, "neg1")?;

    // Receive export option: '>IQII'
    let buf = conn.recv(20, "export")?;
    let (magic, opt, len) = (be_u64(&buf[4..12]), be_u32(&buf[12..16]), be_u32(&buf[16..20]));
    if magic != NBD_OPTS_MAGIC {
        return Err(exc("AssertionError: export.magic == NBD_OPTS_MAGIC"));
    }
    if opt != NBD_OPT_EXPORT_NAME {
        return Err(exc("AssertionError: export.opt == NBD_OPT_EXPORT_NAME"));
    }
    let _name = conn.recv(len as usize, "export-name")?;

    // Send negotiation part 2: '>QH124x'
    let mut buf = Vec::with_capacity(134);
    buf.extend(FAKE_DISK_SIZE.to_be_bytes());
    buf.extend(0u16.to_be_bytes());
    buf.extend([0u8; 124]);
    conn.send(&buf, "neg2")
}

fn write_reply<S: Read + Write>(conn: &mut FaultInjectionSocket<'_, S>, error: u32, handle: u64) -> Flow<()> {
    // '>IIQ'
    let mut buf = Vec::with_capacity(16);
    buf.extend(NBD_SIMPLE_REPLY_MAGIC.to_be_bytes());
    buf.extend(error.to_be_bytes());
    buf.extend(handle.to_be_bytes());
    conn.send(&buf, "reply")
}

fn handle_connection<S: Read + Write>(conn: &mut FaultInjectionSocket<'_, S>, use_export: bool) -> Flow<()> {
    if use_export {
        negotiate_export(conn)?;
    } else {
        negotiate_classic(conn)?;
    }
    loop {
        // '>IIQQI'
        let buf = conn.recv(28, "request")?;
        let (magic, kind, handle, len) =
            (be_u32(&buf[0..4]), be_u32(&buf[4..8]), be_u64(&buf[8..16]), be_u32(&buf[24..28]));
        if magic != NBD_REQUEST_MAGIC {
            return Err(exc("AssertionError: req.magic == NBD_REQUEST_MAGIC"));
        }
        match kind {
            NBD_CMD_READ => {
                write_reply(conn, 0, handle)?;
                conn.send(&vec![0u8; len as usize], "data")?;
            }
            NBD_CMD_WRITE => {
                let _ = conn.recv(len as usize, "data")?;
                write_reply(conn, 0, handle)?;
            }
            NBD_CMD_DISC => break,
            other => {
                conn.shared.print(&format!("unrecognized command type {other:#x}"));
                break;
            }
        }
    }
    conn.sock = None;
    Ok(())
}

fn serve<S: Read + Write>(sock: S, rules: &[Rule], use_export: bool, shared: &Shared) -> Flow<()> {
    let mut conn = FaultInjectionSocket { sock: Some(sock), rules, shared };
    handle_connection(&mut conn, use_export)
}

/// A connection's socket: blocking, with a read/write timeout so that a
/// killed server notices.
macro_rules! conn_setup {
    ($s:expr) => {
        $s.set_nonblocking(false)
            .and_then(|()| $s.set_read_timeout(Some(TICK)))
            .and_then(|()| $s.set_write_timeout(Some(TICK)))
            .map_err(io_exc)
    };
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

fn open_socket(path: &str, shared: &Shared) -> Flow<Listener> {
    let (listener, path) = if let Some((host, port)) = path.split_once(':') {
        let port: u16 = port.parse().map_err(|_| exc(format!("ValueError: invalid literal for int(): '{port}'")))?;
        let l = TcpListener::bind((host, port)).map_err(io_exc)?;
        let addr = l.local_addr().map_err(io_exc)?;
        (Listener::Tcp(l), format!("{}:{}", addr.ip(), addr.port()))
    } else {
        (Listener::Unix(UnixListener::bind(path).map_err(io_exc)?), path.to_string())
    };
    match &listener {
        Listener::Unix(l) => l.set_nonblocking(true),
        Listener::Tcp(l) => l.set_nonblocking(true),
    }
    .map_err(io_exc)?;
    shared.print(&format!("Listening on {path}"));
    Ok(listener)
}

fn run_server(listener: &Listener, rules: &[Rule], use_export: bool, shared: &Shared) -> Flow<()> {
    loop {
        if shared.killed() {
            return Err(Exit::Code(KILLED));
        }
        let accepted = match listener {
            Listener::Unix(l) => {
                l.accept().map(|(s, _)| conn_setup!(s).and_then(|()| serve(s, rules, use_export, shared)))
            }
            Listener::Tcp(l) => {
                l.accept().map(|(s, _)| conn_setup!(s).and_then(|()| serve(s, rules, use_export, shared)))
            }
        };
        match accepted {
            Ok(served) => served?,
            Err(e) if transient(&e) => std::thread::sleep(TICK),
            Err(e) => return Err(io_exc(e)),
        }
    }
}

fn usage(shared: &Shared) -> Exit {
    shared.print(
        "usage: nbd-fault-injector.py [--classic-negotiation] <tcp-port>|<unix-path> <config-file>\n\
         Run an fault injector NBD server with rules defined in a config file.",
    );
    Exit::Code(1)
}

/// The script's `main(sys.argv)`, `args` without the program name.
fn main(shared: &Shared, args: &[String]) -> Flow<()> {
    if args.len() != 2 && args.len() != 3 {
        return Err(usage(shared));
    }
    let use_export = args[0] != "--classic-negotiation";
    if use_export && args.len() == 3 {
        return Err(usage(shared));
    }
    let sock = open_socket(&args[if use_export { 0 } else { 1 }], shared)?;
    let filename = &args[if use_export { 1 } else { 2 }];
    let text = std::fs::read_to_string(filename).map_err(|e| exc(format!("FileNotFoundError: {e}: '{filename}'")))?;
    let rules = parse_config(&text, filename)?;
    run_server(&sock, &rules, use_export, shared)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use super::NbdFaultInjector;

    const T: Duration = Duration::from_secs(10);

    fn classic_write(sock: &str, len: u32) -> std::io::Result<Vec<u8>> {
        let mut c = UnixStream::connect(sock)?;
        c.set_read_timeout(Some(T))?;
        let mut hello = [0u8; 152];
        c.read_exact(&mut hello)?;
        assert_eq!(&hello[..8], b"NBDMAGIC");
        assert_eq!(u64::from_be_bytes(hello[16..24].try_into().unwrap()), super::FAKE_DISK_SIZE);
        let mut req = Vec::new();
        req.extend(super::NBD_REQUEST_MAGIC.to_be_bytes());
        req.extend(super::NBD_CMD_WRITE.to_be_bytes());
        req.extend(42u64.to_be_bytes());
        req.extend(0u64.to_be_bytes());
        req.extend(len.to_be_bytes());
        c.write_all(&req)?;
        c.write_all(&vec![7u8; len as usize])?;
        let mut reply = Vec::new();
        c.read_to_end(&mut reply)?;
        Ok(reply)
    }

    fn setup(conf: &str) -> (tempfile::TempDir, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("sock").to_string_lossy().into_owned();
        let conf_path = dir.path().join("conf").to_string_lossy().into_owned();
        std::fs::write(&conf_path, conf).unwrap();
        (dir, sock, conf_path)
    }

    #[test]
    fn closes_after_data() {
        let (_dir, sock, conf) = setup("[inject-error]\nevent=data\nwhen=after");
        let mut srv = NbdFaultInjector::start(&["--classic-negotiation", &sock, &conf]);
        assert_eq!(srv.readline(T).unwrap(), format!("Listening on {sock}\n"));
        // The data is read, then the connection closed: no reply.
        assert_eq!(classic_write(&sock, 4096).unwrap(), b"");
        assert_eq!(srv.communicate(T).unwrap(), "Closing connection on rule match inject-error\n");
        assert_eq!(srv.poll(), Some(0));
        // Like a process that exited, it no longer listens.
        assert!(UnixStream::connect(&sock).is_err());
    }

    #[test]
    fn closes_after_reply() {
        let (_dir, sock, conf) = setup("[inject-error]\nevent=reply\nwhen=after");
        let mut srv = NbdFaultInjector::start(&["--classic-negotiation", &sock, &conf]);
        srv.readline(T).unwrap();
        let reply = classic_write(&sock, 512).unwrap();
        assert_eq!(reply.len(), 16);
        assert_eq!(u32::from_be_bytes(reply[0..4].try_into().unwrap()), super::NBD_SIMPLE_REPLY_MAGIC);
        assert_eq!(u64::from_be_bytes(reply[8..16].try_into().unwrap()), 42);
        assert_eq!(srv.communicate(T).unwrap(), "Closing connection on rule match inject-error\n");
    }

    #[test]
    fn partial_send_then_close() {
        // `when` as a byte count: 10 bytes of the classic greeting, then close.
        let (_dir, sock, conf) = setup("[inject-error \"x\"]\nevent=neg-classic\nio=write\nwhen=10\n");
        let mut srv = NbdFaultInjector::start(&["--classic-negotiation", &sock, &conf]);
        srv.readline(T).unwrap();
        let mut c = UnixStream::connect(&sock).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), 10);
        assert_eq!(srv.communicate(T).unwrap(), "Closing connection on rule match inject-error \"x\"\n");
    }

    #[test]
    fn bad_config_and_usage() {
        let (_dir, sock, conf) = setup("[inject-error]\nevent=nope\n");
        let mut srv = NbdFaultInjector::start(&[&sock, &conf]);
        assert_eq!(srv.readline(T).unwrap(), format!("Listening on {sock}\n"));
        assert_eq!(srv.communicate(T).unwrap(), "invalid \"event\" option value \"nope\" in inject-error\n");
        assert_eq!(srv.poll(), Some(1));

        let mut srv = NbdFaultInjector::start(&["a"]);
        assert!(srv.communicate(T).unwrap().starts_with("usage: "));
        assert_eq!(srv.poll(), Some(1));
    }

    #[test]
    fn timeout_and_kill() {
        let (_dir, sock, conf) = setup("[inject-error]\nevent=data\n");
        let mut srv = NbdFaultInjector::start(&[&sock, &conf]);
        srv.readline(T).unwrap();
        let e = srv.communicate(Duration::from_millis(50)).unwrap_err();
        assert!(e.to_string().starts_with("timeout: "), "{e}");
        assert_eq!(srv.kill(), -9);
        assert_eq!(srv.poll(), Some(-9));
    }
}
