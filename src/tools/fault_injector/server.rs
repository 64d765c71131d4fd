//! The NBD server side: negotiation, requests, and the fault injection.

use super::*;

/// A connection with the rules applied to what goes through it.
pub(super) struct FaultInjectionSocket<'a, S> {
    pub(super) sock: Option<S>,
    pub(super) rules: &'a [Rule],
    pub(super) shared: &'a Shared,
}

/// Python's `buf[:n]` length for `n` possibly negative.
pub(super) fn py_prefix_len(len: usize, n: i64) -> usize {
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

pub(super) fn io_exc(e: std::io::Error) -> Exit {
    exc(format!("OSError: {e}"))
}

pub(super) fn transient(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted)
}

pub(super) fn sendall<S: Write>(sock: &mut S, mut buf: &[u8], shared: &Shared) -> Flow<()> {
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

pub(super) fn recvall<S: Read>(sock: &mut S, bufsize: usize, shared: &Shared) -> Flow<Vec<u8>> {
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

pub(super) fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().unwrap_or_default())
}

pub(super) fn be_u64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().unwrap_or_default())
}

pub(super) fn negotiate_classic<S: Read + Write>(conn: &mut FaultInjectionSocket<'_, S>) -> Flow<()> {
    // '>QQQI124x'
    let mut buf = Vec::with_capacity(152);
    buf.extend(NBD_PASSWD.to_be_bytes());
    buf.extend(NBD_CLIENT_MAGIC.to_be_bytes());
    buf.extend(FAKE_DISK_SIZE.to_be_bytes());
    buf.extend(0u32.to_be_bytes());
    buf.extend([0u8; 124]);
    conn.send(&buf, "neg-classic")
}

pub(super) fn negotiate_export<S: Read + Write>(conn: &mut FaultInjectionSocket<'_, S>) -> Flow<()> {
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
    if len > MAX_EXPORT_NAME {
        return Err(exc(format!("ValueError: export name of {len} bytes, more than the {MAX_EXPORT_NAME} NBD allows")));
    }
    let _name = conn.recv(len as usize, "export-name")?;

    // Send negotiation part 2: '>QH124x'
    let mut buf = Vec::with_capacity(134);
    buf.extend(FAKE_DISK_SIZE.to_be_bytes());
    buf.extend(0u16.to_be_bytes());
    buf.extend([0u8; 124]);
    conn.send(&buf, "neg2")
}

pub(super) fn write_reply<S: Read + Write>(
    conn: &mut FaultInjectionSocket<'_, S>,
    error: u32,
    handle: u64,
) -> Flow<()> {
    // '>IIQ'
    let mut buf = Vec::with_capacity(16);
    buf.extend(NBD_SIMPLE_REPLY_MAGIC.to_be_bytes());
    buf.extend(error.to_be_bytes());
    buf.extend(handle.to_be_bytes());
    conn.send(&buf, "reply")
}

pub(super) fn handle_connection<S: Read + Write>(conn: &mut FaultInjectionSocket<'_, S>, use_export: bool) -> Flow<()> {
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
        if matches!(kind, NBD_CMD_READ | NBD_CMD_WRITE) && len > MAX_REQUEST_LENGTH {
            // The client chooses the length: do not allocate what it says.
            return Err(exc(format!(
                "ValueError: request of {len} bytes, more than the {MAX_REQUEST_LENGTH} the server accepts"
            )));
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

pub(super) fn serve<S: Read + Write>(sock: S, rules: &[Rule], use_export: bool, shared: &Shared) -> Flow<()> {
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

pub(super) enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

pub(super) fn open_socket(path: &str, shared: &Shared) -> Flow<Listener> {
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

pub(super) fn run_server(listener: &Listener, rules: &[Rule], use_export: bool, shared: &Shared) -> Flow<()> {
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

pub(super) fn usage(shared: &Shared) -> Exit {
    shared.print(
        "usage: nbd-fault-injector.py [--classic-negotiation] <tcp-port>|<unix-path> <config-file>\n\
         Run an fault injector NBD server with rules defined in a config file.",
    );
    Exit::Code(1)
}

/// The script's `main(sys.argv)`, `args` without the program name.
pub(super) fn main(shared: &Shared, args: &[String]) -> Flow<()> {
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
