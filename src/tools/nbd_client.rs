//! A small NBD client: what upstream tests do with libnbd's Python binding
//! (`import nbd`; `h = nbd.NBD(); h.connect_uri(uri); h.pread(…)`), for
//! tests such as `tests/nbd-multiconn` that talk to QEMU's NBD server
//! directly rather than through qemu-io.
//!
//! [`Nbd`] speaks the fixed-newstyle handshake with `NBD_OPT_GO` and simple
//! replies (see the NBD protocol document, `doc/proto.md` in the NBD
//! project) over a Unix socket (`nbd+unix:///export?socket=/path`) or TCP
//! (`nbd://host[:port]/export`). Its methods have libnbd's names; errors are
//! [`Error::Unexpected`] reading `nbd.Error: …`, as the Python binding
//! raises `nbd.Error`. Every socket operation is bounded by a timeout
//! ([`NBD_CLIENT_TIMEOUT`] unless [`Nbd::set_timeout`] says otherwise).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::error::{Error, Result};

/// How long one socket read or write may take by default.
///
/// ```
/// assert_eq!(iotests::tools::NBD_CLIENT_TIMEOUT, std::time::Duration::from_secs(30));
/// ```
pub const NBD_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The NBD port when a `nbd://` URI names none.
const NBD_DEFAULT_PORT: u16 = 10809;

const NBDMAGIC: u64 = 0x4e42_444d_4147_4943; // "NBDMAGIC"
const IHAVEOPT: u64 = 0x4948_4156_454f_5054; // "IHAVEOPT"
const OPT_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
const REQUEST_MAGIC: u32 = 0x2560_9513;
const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;

const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
const FLAG_NO_ZEROES: u16 = 1 << 1;
const FLAG_C_FIXED_NEWSTYLE: u32 = 1 << 0;
const FLAG_C_NO_ZEROES: u32 = 1 << 1;

const OPT_GO: u32 = 7;
const REP_ACK: u32 = 1;
const REP_INFO: u32 = 3;
const REP_FLAG_ERROR: u32 = 1 << 31;
const INFO_EXPORT: u16 = 0;

const CMD_READ: u16 = 0;
const CMD_WRITE: u16 = 1;
const CMD_DISC: u16 = 2;
const CMD_FLUSH: u16 = 3;

/// Transmission flags the server sent for the export (`NBD_FLAG_*`).
const TFLAG_READ_ONLY: u16 = 1 << 1;
const TFLAG_SEND_FLUSH: u16 = 1 << 2;
const TFLAG_CAN_MULTI_CONN: u16 = 1 << 8;

/// The largest single read or write QEMU's server accepts (32 MiB).
const MAX_REQUEST: usize = 32 * 1024 * 1024;

/// libnbd's `nbd.Error`.
fn nbd_error(msg: impl std::fmt::Display) -> Error {
    Error::python("nbd.Error", msg)
}

/// Where an NBD URI points.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Address {
    Unix(String),
    Tcp(String, u16),
}

/// A parsed `nbd+unix:///export?socket=…` or `nbd://host[:port]/export`.
///
/// ```
/// # use iotests::tools::nbd_client::parse_uri;
/// assert_eq!(parse_uri("nbd+unix:///exp?socket=/tmp/s").unwrap(), ("exp".to_string(), "unix:/tmp/s".to_string()));
/// assert_eq!(parse_uri("nbd://127.0.0.1:4000/a%20b").unwrap(), ("a b".to_string(), "tcp:127.0.0.1:4000".to_string()));
/// assert!(parse_uri("nbd+unix:///exp").is_err());
/// ```
#[doc(hidden)]
pub fn parse_uri(uri: &str) -> Result<(String, String)> {
    let (export, address) = parse(uri)?;
    let address = match address {
        Address::Unix(p) => format!("unix:{p}"),
        Address::Tcp(h, p) => format!("tcp:{h}:{p}"),
    };
    Ok((export, address))
}

fn parse(uri: &str) -> Result<(String, Address)> {
    let bad = |why: &str| nbd_error(format!("nbd_connect_uri: {uri}: {why}"));
    let (scheme, rest) = uri.split_once("://").ok_or_else(|| bad("not a URI"))?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let export = percent_decode(path).ok_or_else(|| bad("bad %-escape in the export name"))?;
    let mut socket = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if let Some(v) = pair.strip_prefix("socket=") {
            socket = Some(percent_decode(v).ok_or_else(|| bad("bad %-escape in the socket path"))?);
        }
    }
    match scheme {
        "nbd+unix" => {
            if !authority.is_empty() {
                return Err(bad("a Unix socket URI has no server name"));
            }
            Ok((export, Address::Unix(socket.ok_or_else(|| bad("no socket= parameter"))?)))
        }
        "nbd" => {
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().map_err(|_| bad("bad port"))?),
                None => (authority, NBD_DEFAULT_PORT),
            };
            Ok((export, Address::Tcp(host.to_string(), port)))
        }
        _ => Err(bad("unsupported scheme (nbd+unix:// or nbd://)")),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The socket, either kind.
#[derive(Debug)]
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn set_timeout(&self, t: Duration) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(Some(t)).and_then(|()| s.set_write_timeout(Some(t))),
            Stream::Tcp(s) => s.set_read_timeout(Some(t)).and_then(|()| s.set_write_timeout(Some(t))),
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.read_exact(buf),
            Stream::Tcp(s) => s.read_exact(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.write_all(buf),
            Stream::Tcp(s) => s.write_all(buf),
        }
    }

    fn shutdown(&self) {
        let _ = match self {
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Both),
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

/// An open connection: the socket and what the handshake told us.
#[derive(Debug)]
struct Connection {
    stream: Stream,
    size: u64,
    flags: u16,
    next_handle: u64,
}

/// libnbd's handle (`nbd.NBD()`): created unconnected, then
/// [`connect_uri`](Nbd::connect_uri)'d; the connection ends with
/// [`shutdown`](Nbd::shutdown) (or when dropped).
///
/// ```no_run
/// # fn main() -> iotests::Result<()> {
/// use iotests::tools::Nbd;
/// let mut h = Nbd::new();
/// h.connect_uri("nbd+unix:///exp?socket=/tmp/nbd.sock")?;
/// assert!(h.can_multi_conn()?);
/// let data = h.pread(512, 0)?;
/// h.pwrite(&data, 512)?;
/// h.flush()?;
/// h.shutdown()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct Nbd {
    conn: Option<Connection>,
    timeout: Option<Duration>,
}

impl Nbd {
    /// `nbd.NBD()`: a handle, not yet connected.
    pub fn new() -> Nbd {
        Nbd::default()
    }

    /// Bound every later socket read and write by `timeout` instead of
    /// [`NBD_CLIENT_TIMEOUT`].
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.timeout = Some(timeout);
        if let Some(c) = &self.conn {
            c.stream.set_timeout(timeout).map_err(|e| Error::io("setting the NBD socket's timeouts", e))?;
        }
        Ok(())
    }

    /// `h.connect_uri(uri)`: connect and negotiate the export the URI names
    /// (`NBD_OPT_GO`). A server that refuses the export is an error naming
    /// the server's reply.
    pub fn connect_uri(&mut self, uri: &str) -> Result<()> {
        if self.conn.is_some() {
            return Err(nbd_error("nbd_connect_uri: invalid state: the handle is already connected"));
        }
        let (export, address) = parse(uri)?;
        let stream = match &address {
            Address::Unix(path) => UnixStream::connect(path).map(Stream::Unix),
            Address::Tcp(host, port) => TcpStream::connect((host.as_str(), *port)).map(Stream::Tcp),
        }
        .map_err(|e| nbd_error(format!("nbd_connect_uri: connect: {e}")))?;
        stream
            .set_timeout(self.timeout.unwrap_or(NBD_CLIENT_TIMEOUT))
            .map_err(|e| Error::io("setting the NBD socket's timeouts", e))?;
        self.conn = Some(handshake(stream, &export)?);
        Ok(())
    }

    fn conn(&mut self, what: &str) -> Result<&mut Connection> {
        self.conn.as_mut().ok_or_else(|| nbd_error(format!("nbd_{what}: invalid state: the handle is not connected")))
    }

    /// `h.get_size()`: the export's size in bytes.
    pub fn get_size(&mut self) -> Result<u64> {
        Ok(self.conn("get_size")?.size)
    }

    /// `h.can_multi_conn()`: whether the server advertised
    /// `NBD_FLAG_CAN_MULTI_CONN` for the export.
    pub fn can_multi_conn(&mut self) -> Result<bool> {
        Ok(self.conn("can_multi_conn")?.flags & TFLAG_CAN_MULTI_CONN != 0)
    }

    /// `h.can_flush()`: whether the server takes `NBD_CMD_FLUSH`.
    pub fn can_flush(&mut self) -> Result<bool> {
        Ok(self.conn("can_flush")?.flags & TFLAG_SEND_FLUSH != 0)
    }

    /// `h.is_read_only()`: whether the export is read-only.
    pub fn is_read_only(&mut self) -> Result<bool> {
        Ok(self.conn("is_read_only")?.flags & TFLAG_READ_ONLY != 0)
    }

    /// `h.pread(count, offset)`: read `count` bytes at `offset`.
    pub fn pread(&mut self, count: usize, offset: u64) -> Result<Vec<u8>> {
        check_length("pread", count)?;
        let c = self.conn("pread")?;
        let handle = c.request(CMD_READ, offset, count, &[])?;
        c.reply("pread", handle)?;
        let mut buf = vec![0; count];
        c.stream.read_exact(&mut buf).map_err(|e| nbd_error(format!("nbd_pread: recv: {e}")))?;
        Ok(buf)
    }

    /// `h.pwrite(buf, offset)`: write `buf` at `offset`.
    pub fn pwrite(&mut self, buf: &[u8], offset: u64) -> Result<()> {
        check_length("pwrite", buf.len())?;
        let c = self.conn("pwrite")?;
        if c.flags & TFLAG_READ_ONLY != 0 {
            return Err(nbd_error("nbd_pwrite: server does not support write operations"));
        }
        let handle = c.request(CMD_WRITE, offset, buf.len(), buf)?;
        c.reply("pwrite", handle)
    }

    /// `h.flush()`: `NBD_CMD_FLUSH`.
    pub fn flush(&mut self) -> Result<()> {
        let c = self.conn("flush")?;
        if c.flags & TFLAG_SEND_FLUSH == 0 {
            return Err(nbd_error("nbd_flush: server does not support flush operations"));
        }
        let handle = c.request(CMD_FLUSH, 0, 0, &[])?;
        c.reply("flush", handle)
    }

    /// `h.shutdown()`: `NBD_CMD_DISC`, then close. Shutting down a handle
    /// that is not connected does nothing.
    pub fn shutdown(&mut self) -> Result<()> {
        let Some(mut c) = self.conn.take() else { return Ok(()) };
        let sent = c.request(CMD_DISC, 0, 0, &[]).map(drop);
        c.stream.shutdown();
        sent
    }
}

impl Drop for Nbd {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn check_length(what: &str, count: usize) -> Result<()> {
    if count > MAX_REQUEST {
        return Err(nbd_error(format!("nbd_{what}: count too large ({count} > {MAX_REQUEST})")));
    }
    Ok(())
}

impl Connection {
    /// Send a request; returns its handle.
    fn request(&mut self, kind: u16, offset: u64, length: usize, data: &[u8]) -> Result<u64> {
        let handle = self.next_handle;
        self.next_handle += 1;
        let mut msg = Vec::with_capacity(28 + data.len());
        msg.extend(REQUEST_MAGIC.to_be_bytes());
        msg.extend(0u16.to_be_bytes());
        msg.extend(kind.to_be_bytes());
        msg.extend(handle.to_be_bytes());
        msg.extend(offset.to_be_bytes());
        msg.extend((length as u32).to_be_bytes());
        msg.extend(data);
        self.stream.write_all(&msg).map_err(|e| nbd_error(format!("send: {e}")))?;
        Ok(handle)
    }

    /// Read the simple reply to `handle` (data, if any, follows it).
    fn reply(&mut self, what: &str, handle: u64) -> Result<()> {
        let mut hdr = [0u8; 16];
        self.stream.read_exact(&mut hdr).map_err(|e| nbd_error(format!("nbd_{what}: recv: {e}")))?;
        let magic = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let error = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        let got: [u8; 8] = hdr[8..16].try_into().unwrap_or_default();
        if magic != SIMPLE_REPLY_MAGIC {
            return Err(nbd_error(format!("nbd_{what}: unexpected reply magic {magic:#x}")));
        }
        if u64::from_be_bytes(got) != handle {
            return Err(nbd_error(format!("nbd_{what}: reply for another request")));
        }
        if error != 0 {
            return Err(nbd_error(format!("nbd_{what}: server replied with error {error}")));
        }
        Ok(())
    }
}

fn read_u16(s: &mut Stream) -> Result<u16> {
    let mut b = [0; 2];
    s.read_exact(&mut b).map_err(|e| nbd_error(format!("nbd_connect_uri: handshake: recv: {e}")))?;
    Ok(u16::from_be_bytes(b))
}

fn read_u32(s: &mut Stream) -> Result<u32> {
    let mut b = [0; 4];
    s.read_exact(&mut b).map_err(|e| nbd_error(format!("nbd_connect_uri: handshake: recv: {e}")))?;
    Ok(u32::from_be_bytes(b))
}

fn read_u64(s: &mut Stream) -> Result<u64> {
    let mut b = [0; 8];
    s.read_exact(&mut b).map_err(|e| nbd_error(format!("nbd_connect_uri: handshake: recv: {e}")))?;
    Ok(u64::from_be_bytes(b))
}

fn read_bytes(s: &mut Stream, n: usize) -> Result<Vec<u8>> {
    let mut b = vec![0; n];
    s.read_exact(&mut b).map_err(|e| nbd_error(format!("nbd_connect_uri: handshake: recv: {e}")))?;
    Ok(b)
}

/// Fixed newstyle negotiation of `export` with `NBD_OPT_GO`.
fn handshake(mut stream: Stream, export: &str) -> Result<Connection> {
    let fail = |why: String| nbd_error(format!("nbd_connect_uri: handshake: {why}"));
    if read_u64(&mut stream)? != NBDMAGIC {
        return Err(fail("not an NBD server".into()));
    }
    if read_u64(&mut stream)? != IHAVEOPT {
        return Err(fail("the server speaks oldstyle or an unknown protocol".into()));
    }
    let gflags = read_u16(&mut stream)?;
    if gflags & FLAG_FIXED_NEWSTYLE == 0 {
        return Err(fail("the server is not fixed newstyle".into()));
    }
    let mut cflags = FLAG_C_FIXED_NEWSTYLE;
    if gflags & FLAG_NO_ZEROES != 0 {
        cflags |= FLAG_C_NO_ZEROES;
    }
    let send_err = |e: std::io::Error| fail(format!("send: {e}"));
    stream.write_all(&cflags.to_be_bytes()).map_err(send_err)?;

    // NBD_OPT_GO: name length, name, no extra information requests.
    let mut data = Vec::new();
    data.extend((export.len() as u32).to_be_bytes());
    data.extend(export.as_bytes());
    data.extend(0u16.to_be_bytes());
    let mut opt = Vec::new();
    opt.extend(IHAVEOPT.to_be_bytes());
    opt.extend(OPT_GO.to_be_bytes());
    opt.extend((data.len() as u32).to_be_bytes());
    opt.extend(data);
    stream.write_all(&opt).map_err(send_err)?;

    let mut export_info = None;
    loop {
        if read_u64(&mut stream)? != OPT_REPLY_MAGIC {
            return Err(fail("bad option reply magic".into()));
        }
        let option = read_u32(&mut stream)?;
        let kind = read_u32(&mut stream)?;
        let len = read_u32(&mut stream)? as usize;
        if len > 64 * 1024 {
            return Err(fail(format!("option reply too long ({len} bytes)")));
        }
        let payload = read_bytes(&mut stream, len)?;
        if option != OPT_GO {
            return Err(fail(format!("reply to option {option}, not NBD_OPT_GO")));
        }
        match kind {
            REP_ACK => break,
            REP_INFO if payload.len() >= 12 && u16::from_be_bytes([payload[0], payload[1]]) == INFO_EXPORT => {
                let size = u64::from_be_bytes(payload[2..10].try_into().unwrap_or_default());
                let flags = u16::from_be_bytes([payload[10], payload[11]]);
                export_info = Some((size, flags));
            }
            REP_INFO => {}
            k if k & REP_FLAG_ERROR != 0 => {
                let msg = String::from_utf8_lossy(&payload);
                return Err(fail(format!("server refused export '{export}' (error {:#x}): {msg}", k)));
            }
            k => return Err(fail(format!("unexpected option reply {k}"))),
        }
    }
    let (size, flags) = export_info.ok_or_else(|| fail("the server sent no export information".into()))?;
    Ok(Connection { stream, size, flags, next_handle: 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(parse("nbd+unix:///?socket=/s").unwrap(), (String::new(), Address::Unix("/s".into())));
        assert_eq!(parse("nbd+unix:///w?socket=%2Ftmp%2Fs").unwrap(), ("w".into(), Address::Unix("/tmp/s".into())));
        assert_eq!(parse("nbd://h/e").unwrap(), ("e".into(), Address::Tcp("h".into(), 10809)));
        for bad in ["nbd+unix://host/e?socket=/s", "http://x/y", "nbd://h:port/e", "nbd+unix:///%zz?socket=/s", "x"] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("nbd.Error: nbd_connect_uri: "), "{e}");
        }
    }

    #[test]
    fn unconnected_handle() {
        let mut h = Nbd::new();
        assert!(h.can_multi_conn().unwrap_err().to_string().contains("not connected"));
        assert!(h.pread(1, 0).is_err());
        assert!(h.shutdown().is_ok());
        assert!(h.pread(MAX_REQUEST + 1, 0).unwrap_err().to_string().contains("too large"));
    }

    #[test]
    fn not_a_server() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"HELLO, WORLD!!!!").unwrap();
        });
        let mut h = Nbd::new();
        let e = h.connect_uri(&format!("nbd+unix:///x?socket={}", path.display())).unwrap_err();
        assert!(e.to_string().contains("not an NBD server"), "{e}");
        server.join().unwrap();
    }
}
