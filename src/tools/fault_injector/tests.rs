//! Tests of the fault injector against real NBD client traffic.

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

#[test]
fn a_client_controlled_length_is_capped_not_allocated() {
    // No rule: the server would serve the request as it comes.
    let (_dir, sock, conf) = setup("");
    let mut srv = NbdFaultInjector::start(&["--classic-negotiation", &sock, &conf]);
    srv.readline(T).unwrap();
    let mut c = UnixStream::connect(&sock).unwrap();
    c.set_read_timeout(Some(T)).unwrap();
    let mut hello = [0u8; 152];
    c.read_exact(&mut hello).unwrap();
    let mut req = Vec::new();
    req.extend(super::NBD_REQUEST_MAGIC.to_be_bytes());
    req.extend(super::NBD_CMD_READ.to_be_bytes());
    req.extend(1u64.to_be_bytes());
    req.extend(0u64.to_be_bytes());
    req.extend(u32::MAX.to_be_bytes());
    c.write_all(&req).unwrap();
    // Not 4 GiB of zeros (which it would still be sending): an error, at once.
    assert_eq!(srv.wait(T).unwrap(), 1);
    let out = srv.communicate(T).unwrap();
    assert!(out.contains("request of 4294967295 bytes, more than the 33554432"), "{out}");
}

#[test]
fn the_test_timing_out_stops_the_server() {
    let env = crate::env::TestEnv::from_process_env("raw");
    let t = std::sync::Arc::new(crate::TestContext::new("fault-injector-timeout", env).unwrap());
    let start = std::time::Instant::now();
    let r = crate::harness::run_with_timeout(&t, Some(Duration::from_millis(300)), |t| {
        let (_dir, sock, conf) = setup("");
        let mut srv = t.nbd_fault_injector(&[&sock, &conf]);
        srv.readline(T).unwrap();
        // Blocks until the server says more — or is stopped by the timeout.
        srv.readline(Duration::from_secs(60)).unwrap()
    })
    .unwrap();
    assert!(matches!(r, crate::harness::Finished::TimedOut { .. }), "{r:?}");
    // The body got its answer (the server "exited") without waiting for
    // the 5 s grace period of a stuck body.
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
}
