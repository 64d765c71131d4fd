//! Unit tests of the client against a fake peer on a socketpair.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

const SHORT: Duration = Duration::from_millis(200);
/// Generous bound for "returned promptly after a SHORT timeout".
const PROMPT: Duration = Duration::from_secs(10);

/// The fake QEMU end of the socket.
struct Peer {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Peer {
    fn send(&mut self, line: &str) {
        self.stream.write_all(line.as_bytes()).unwrap();
        self.stream.write_all(b"\n").unwrap();
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// The next line the client sent, without its newline.
    fn line(&mut self) -> String {
        let mut s = String::new();
        self.reader.read_line(&mut s).unwrap();
        s.strip_suffix('\n').map(str::to_owned).unwrap_or(s)
    }
}

fn pair() -> (QmpClient, Peer) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    // The test peer must not hang a failing test either.
    theirs.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let reader = BufReader::new(theirs.try_clone().unwrap());
    (QmpClient::from_stream(ours), Peer { stream: theirs, reader })
}

fn ev(name: &str, data: Value) -> String {
    json!({"timestamp": {"seconds": 1, "microseconds": 2}, "event": name, "data": data}).to_string()
}

fn names(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| format!("{}:{}", e["event"].as_str().unwrap(), e["data"]["n"])).collect()
}

const GREETING: &str =
    r#"{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": ""}, "capabilities": []}}"#;

#[test]
fn negotiate_sends_capabilities_and_keeps_greeting() {
    let (mut qmp, mut peer) = pair();
    peer.send(GREETING);
    peer.send(r#"{"return": {}}"#);
    let g = qmp.negotiate(SHORT).unwrap();
    assert_eq!(g["QMP"]["version"]["qemu"]["major"], 10);
    assert_eq!(qmp.greeting(), Some(&g));
    assert_eq!(peer.line(), r#"{"execute":"qmp_capabilities","arguments":{}}"#);
}

#[test]
fn negotiate_enables_oob_when_offered() {
    let (mut qmp, mut peer) = pair();
    peer.send(r#"{"QMP": {"version": {}, "capabilities": ["oob"]}}"#);
    peer.send("{\"return\": {}}\r");
    qmp.negotiate(SHORT).unwrap();
    assert_eq!(peer.line(), r#"{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}"#);
}

#[test]
fn negotiate_rejects_bad_greetings() {
    for bad in [r#"{"hello": 1}"#, "not json", "[1, 2]", r#"{"QMP": {"capabilities": 3}}"#] {
        let (mut qmp, mut peer) = pair();
        peer.send(bad);
        let e = qmp.negotiate(SHORT).unwrap_err();
        assert!(matches!(e, QmpError::Negotiation { .. }), "{bad}: {e:?}");
        assert!(e.to_string().contains("negotiation failed"), "{e}");
    }
}

#[test]
fn negotiate_times_out_without_greeting() {
    let (mut qmp, _peer) = pair();
    let t = Instant::now();
    let e = qmp.negotiate(SHORT).unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert!(t.elapsed() >= SHORT && t.elapsed() < PROMPT, "{:?}", t.elapsed());
    assert!(e.to_string().contains("greeting"), "{e}");
}

#[test]
fn command_queues_interleaved_events() {
    let (mut qmp, mut peer) = pair();
    peer.send(&ev("A", json!({"n": 1})));
    peer.send(&ev("B", json!({"n": 2})));
    peer.send(r#"{"return": {"status": "paused"}}"#);
    peer.send(&ev("C", json!({"n": 3})));
    let r = qmp.qmp("query-status", ()).unwrap();
    assert_eq!(r, json!({"return": {"status": "paused"}}));
    assert_eq!(peer.line(), r#"{"execute":"query-status"}"#);
    // A and B were queued while waiting; C is still in the socket.
    assert_eq!(names(&qmp.queued_events().cloned().collect::<Vec<_>>()), ["A:1", "B:2"]);
    assert_eq!(names(&qmp.get_events(Wait::No).unwrap()), ["A:1", "B:2", "C:3"]);
    assert!(qmp.get_events(false).unwrap().is_empty());
}

#[test]
fn qmp_arguments_keep_order_and_empty_ones_are_omitted() {
    let (mut qmp, mut peer) = pair();
    for _ in 0..3 {
        peer.send(r#"{"return": {}}"#);
    }
    qmp.qmp("x", json!({"z": 1, "a": {"y": 2, "b": 3}, "m": [1.5, null]})).unwrap();
    qmp.qmp("y", json!({})).unwrap();
    qmp.qmp("z", None::<serde_json::Map<String, Value>>).unwrap();
    assert_eq!(peer.line(), r#"{"execute":"x","arguments":{"z":1,"a":{"y":2,"b":3},"m":[1.5,null]}}"#);
    assert_eq!(peer.line(), r#"{"execute":"y"}"#);
    assert_eq!(peer.line(), r#"{"execute":"z"}"#);
}

#[test]
fn cmd_returns_value_or_command_error() {
    let (mut qmp, mut peer) = pair();
    peer.send(r#"{"return": {"running": true}, "id": "__qmp#00000"}"#);
    peer.send(r#"{"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}, "id": "__qmp#00001"}"#);
    assert_eq!(qmp.cmd("query-status", ()).unwrap(), json!({"running": true}));
    let e = qmp.cmd("nope", json!({"a": 1})).unwrap_err();
    let QmpError::Command { class, desc, response, command, .. } = &e else { panic!("{e:?}") };
    assert_eq!(&**command, "nope");
    assert_eq!(class, "CommandNotFound");
    assert_eq!(desc, "The command nope has not been found");
    assert_eq!(response["id"], "__qmp#00001");
    assert_eq!(
        e.to_string(),
        "QMP command nope failed: CommandNotFound: The command nope has not been found\n  arguments: {\"a\":1}"
    );
    assert_eq!(peer.line(), r#"{"execute":"query-status","arguments":{},"id":"__qmp#00000"}"#);
    assert_eq!(peer.line(), r#"{"execute":"nope","arguments":{"a":1},"id":"__qmp#00001"}"#);
}

#[test]
fn cmd_rejects_malformed_replies() {
    let (mut qmp, mut peer) = pair();
    peer.send(r#"{"id": "__qmp#00000"}"#);
    peer.send(r#"{"error": {"desc": "no class"}, "id": "__qmp#00001"}"#);
    let e = qmp.cmd("a", ()).unwrap_err();
    assert!(matches!(e, QmpError::Protocol { .. }) && e.to_string().contains("neither"), "{e}");
    let e = qmp.cmd("b", ()).unwrap_err();
    assert!(matches!(e, QmpError::Protocol { .. }) && e.to_string().contains("malformed"), "{e}");
}

#[test]
fn cmd_drops_responses_with_foreign_ids() {
    let (mut qmp, mut peer) = pair();
    peer.send(r#"{"return": "someone else's", "id": "other"}"#);
    peer.send(r#"{"return": "ours", "id": "__qmp#00000"}"#);
    assert_eq!(qmp.cmd("x", ()).unwrap(), "ours");
}

#[test]
fn events_wait_searches_set_aside_events_first() {
    let (mut qmp, mut peer) = pair();
    peer.send(&ev("STOP", json!({"n": 1})));
    peer.send(&ev("JOB", json!({"n": 2, "status": "running"})));
    peer.send(&ev("JOB", json!({"n": 3, "status": "ready"})));
    let ready = json!({"data": {"status": "ready"}});
    let e = qmp.event_wait("JOB", SHORT, Some(&ready)).unwrap();
    assert_eq!(e["data"]["n"], 3);
    // STOP and the running JOB were set aside; STOP comes from there.
    assert_eq!(qmp.event_wait("STOP", SHORT, None).unwrap()["data"]["n"], 1);
    // New events come before set-aside ones, as in python's get_qmp_events.
    peer.send(&ev("RESUME", json!({"n": 4})));
    assert_eq!(names(&qmp.get_events(false).unwrap()), ["RESUME:4", "JOB:2"]);
}

#[test]
fn events_wait_matches_any_of_several() {
    let (mut qmp, mut peer) = pair();
    peer.send(&ev("X", json!({"n": 1, "device": "a"})));
    peer.send(&ev("Y", json!({"n": 2, "device": "b"})));
    let b = json!({"data": {"device": "b"}});
    let got = qmp.events_wait(&[("X", Some(&b)), ("Y", Some(&b))], SHORT).unwrap();
    assert_eq!(got["event"], "Y");
    assert_eq!(names(&qmp.get_events(false).unwrap()), ["X:1"]);
}

#[test]
fn get_event_prefers_set_aside_events() {
    let (mut qmp, mut peer) = pair();
    peer.send(&ev("A", json!({"n": 1})));
    peer.send(&ev("B", json!({"n": 2})));
    qmp.event_wait("B", SHORT, None).unwrap();
    peer.send(&ev("C", json!({"n": 3})));
    assert_eq!(qmp.get_event(false).unwrap().unwrap()["event"], "A");
    // pull_event (python's legacy client) never looks at the cache.
    assert_eq!(qmp.pull_event(SHORT).unwrap().unwrap()["event"], "C");
}

#[test]
fn wait_no_returns_none_without_error() {
    let (mut qmp, _peer) = pair();
    let t = Instant::now();
    assert_eq!(qmp.get_event(Wait::No).unwrap(), None);
    assert_eq!(qmp.pull_event(false).unwrap(), None);
    assert!(qmp.get_events(0.0).unwrap().is_empty());
    assert_eq!(qmp.event_poll("STOP", None).unwrap(), None);
    assert!(t.elapsed() < SHORT);
}

#[test]
fn events_poll_sets_aside_what_does_not_match() {
    let (mut qmp, mut peer) = pair();
    peer.send(&ev("A", json!({"n": 1})));
    assert_eq!(qmp.event_poll("B", None).unwrap(), None);
    assert_eq!(names(&qmp.queued_events().cloned().collect::<Vec<_>>()), ["A:1"]);
    assert_eq!(qmp.event_poll("A", None).unwrap().unwrap()["data"]["n"], 1);
    qmp.clear_events();
    assert_eq!(qmp.queued_events().count(), 0);
}

#[test]
fn command_timeout_and_late_response_is_dropped() {
    let (mut qmp, mut peer) = pair();
    qmp.set_default_timeout(SHORT);
    let t = Instant::now();
    let e = qmp.qmp("slow", ()).unwrap_err();
    assert!(t.elapsed() >= SHORT && t.elapsed() < PROMPT, "{:?}", t.elapsed());
    assert_eq!(e.to_string(), "QMP: timed out after 200ms while waiting for the response to \"slow\"");
    // The late answer must not be taken for the next command's.
    peer.send(r#"{"return": "late"}"#);
    peer.send(r#"{"return": "fresh"}"#);
    assert_eq!(qmp.qmp("fast", ()).unwrap(), json!({"return": "fresh"}));
}

#[test]
fn late_response_mid_line_is_finished_later() {
    let (mut qmp, mut peer) = pair();
    qmp.set_default_timeout(SHORT);
    peer.send_raw(br#"{"return": "#);
    assert!(qmp.qmp("slow", ()).unwrap_err().is_timeout());
    peer.send("1}");
    peer.send(r#"{"return": 2}"#);
    assert_eq!(qmp.qmp("next", ()).unwrap(), json!({"return": 2}));
}

#[test]
fn event_wait_times_out_and_names_other_events() {
    let (mut qmp, mut peer) = pair();
    peer.send(&ev("OTHER", json!({"n": 1})));
    let t = Instant::now();
    let e = qmp.event_wait("STOP", SHORT, Some(&json!({"data": {"x": 1}}))).unwrap_err();
    assert!(t.elapsed() >= SHORT && t.elapsed() < PROMPT, "{:?}", t.elapsed());
    assert_eq!(
        e.to_string(),
        r#"QMP: timed out after 200ms while waiting for event STOP matching {"data":{"x":1}} (other events queued: OTHER)"#
    );
}

#[test]
fn wait_forever_is_capped_by_default_timeout() {
    let (mut qmp, _peer) = pair();
    qmp.set_default_timeout(SHORT);
    let t = Instant::now();
    assert!(qmp.get_event(Wait::Forever).unwrap_err().is_timeout());
    assert!(qmp.get_events(true).unwrap_err().is_timeout());
    assert!(t.elapsed() < 2 * PROMPT);
}

#[test]
fn eof_mid_message_reports_partial() {
    let (mut qmp, mut peer) = pair();
    let peer = thread::spawn(move || {
        peer.line();
        peer.send_raw(br#"{"return": {"a""#);
    });
    let e = qmp.qmp("query-status", ()).unwrap_err();
    peer.join().unwrap();
    let QmpError::Eof { partial, .. } = &e else { panic!("{e:?}") };
    assert_eq!(partial, r#"{"return": {"a""#);
    assert_eq!(
        e.to_string(),
        r#"QMP: connection closed by the peer while waiting for the response to "query-status" (after an incomplete message: {"return": {"a")"#
    );
    // And it stays closed.
    assert!(qmp.qmp("x", ()).unwrap_err().is_eof());
}

#[test]
fn eof_after_complete_message_without_newline_still_delivers_it() {
    let (mut qmp, mut peer) = pair();
    let peer = thread::spawn(move || {
        peer.line();
        peer.send_raw(br#"{"return": {}}"#);
    });
    assert_eq!(qmp.qmp("quit", ()).unwrap(), json!({"return": {}}));
    peer.join().unwrap();
}

#[test]
fn eof_before_send_keeps_what_the_peer_said() {
    let (mut qmp, mut peer) = pair();
    peer.send(&ev("SHUTDOWN", json!({"n": 1})));
    peer.send_raw(br#"{"ret"#);
    drop(peer);
    let e = qmp.qmp("x", ()).unwrap_err();
    let QmpError::Eof { partial, .. } = &e else { panic!("{e:?}") };
    assert_eq!(partial, r#"{"ret"#);
    assert_eq!(names(&qmp.get_events(false).unwrap()), ["SHUTDOWN:1"]);
}

#[test]
fn eof_is_not_an_error_when_not_waiting() {
    let (mut qmp, mut peer) = pair();
    peer.send(&ev("SHUTDOWN", json!({"n": 1})));
    drop(peer);
    assert_eq!(names(&qmp.get_events(false).unwrap()), ["SHUTDOWN:1"]);
    assert!(qmp.get_events(false).unwrap().is_empty());
    assert!(qmp.get_event(SHORT).unwrap_err().is_eof());
}

#[test]
fn garbage_line_is_reported_and_skipped() {
    let (mut qmp, mut peer) = pair();
    peer.send("this is not json");
    peer.send(r#"{"return": 1}"#);
    let e = qmp.qmp("x", ()).unwrap_err();
    let QmpError::Garbage { line, .. } = &e else { panic!("{e:?}") };
    assert_eq!(line, "this is not json");
    assert!(e.to_string().contains("not JSON"), "{e}");
    assert_eq!(qmp.qmp("y", ()).unwrap(), json!({"return": 1}));
}

#[test]
fn non_object_message_is_a_protocol_error() {
    let (mut qmp, mut peer) = pair();
    peer.send("[1, 2, 3]");
    let e = qmp.qmp("x", ()).unwrap_err();
    assert!(matches!(e, QmpError::Protocol { .. }), "{e:?}");
    assert!(e.to_string().contains("[1, 2, 3]"), "{e}");
}

#[test]
fn unsolicited_error_while_reading_events_is_a_protocol_error() {
    let (mut qmp, mut peer) = pair();
    peer.send(r#"{"error": {"class": "GenericError", "desc": "JSON parse error"}}"#);
    let e = qmp.get_event(SHORT).unwrap_err();
    assert!(matches!(e, QmpError::Protocol { .. }), "{e:?}");
}

#[test]
fn oversized_message_is_rejected_and_stream_resyncs() {
    let (mut qmp, mut peer) = pair();
    qmp.set_max_message_size(1024);
    qmp.set_default_timeout(SHORT);
    // No newline, more than the limit.
    peer.send_raw(&[b'x'; 2000]);
    let e = qmp.qmp("x", ()).unwrap_err();
    let QmpError::Oversize { limit, head, .. } = &e else { panic!("{e:?}") };
    assert_eq!(*limit, 1024);
    assert!(head.starts_with("xxx") && head.len() <= 200, "{head}");
    // The rest of the monster, then a normal reply.
    peer.send_raw(&[b'x'; 3000]);
    peer.send("");
    peer.send(r#"{"return": "ok"}"#);
    assert_eq!(qmp.qmp("y", ()).unwrap(), json!({"return": "ok"}));
    // A complete but too long line.
    let long = json!({"return": "y".repeat(2000)}).to_string();
    peer.send(&long);
    peer.send(r#"{"return": "ok2"}"#);
    assert!(matches!(qmp.qmp("z", ()).unwrap_err(), QmpError::Oversize { .. }));
    assert_eq!(qmp.qmp("w", ()).unwrap(), json!({"return": "ok2"}));
}

#[test]
fn big_message_in_many_chunks() {
    let (mut qmp, mut peer) = pair();
    let big = "b".repeat(3 * 1024 * 1024);
    let reply = json!({"return": big}).to_string();
    let writer = thread::spawn(move || {
        peer.send(&reply);
        peer
    });
    let r = qmp.qmp("x", ()).unwrap();
    assert_eq!(r["return"].as_str().unwrap().len(), big.len());
    writer.join().unwrap();
}

#[test]
fn send_times_out_when_peer_does_not_read() {
    let (mut qmp, _peer) = pair();
    qmp.set_default_timeout(SHORT);
    let blob = json!({"blob": "z".repeat(16 * 1024 * 1024)});
    let t = Instant::now();
    let e = qmp.qmp("x", blob).unwrap_err();
    assert!(e.is_timeout() && e.to_string().contains("not reading"), "{e}");
    assert!(t.elapsed() < PROMPT);
}

#[test]
fn send_to_closed_peer_is_eof_not_sigpipe() {
    let (mut qmp, peer) = pair();
    drop(peer);
    assert!(qmp.qmp("x", ()).unwrap_err().is_eof());
}

#[test]
fn getfd_sends_fd_then_command() {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

    let (mut qmp, peer) = pair();
    let server = thread::spawn(move || {
        let mut data = Vec::new();
        let mut fds: Vec<OwnedFd> = Vec::new();
        while !data.ends_with(b"\n") {
            let mut buf = [0u8; 256];
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let mut space = nix::cmsg_space!([RawFd; 4]);
            let msg = recvmsg::<()>(peer.stream.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()).unwrap();
            for c in msg.cmsgs().unwrap() {
                if let ControlMessageOwned::ScmRights(r) = c {
                    // SAFETY: the kernel just gave us these descriptors.
                    fds.extend(r.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
                }
            }
            let n = msg.bytes;
            assert!(n > 0);
            data.extend_from_slice(&buf[..n]);
        }
        let mut s = peer.stream;
        s.write_all(b"{\"return\": {}, \"id\": \"__qmp#00000\"}\n").unwrap();
        (String::from_utf8(data).unwrap(), fds)
    });
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(b"passed").unwrap();
    qmp.getfd(f.as_fd(), "img").unwrap();
    let (data, fds) = server.join().unwrap();
    assert_eq!(data, " {\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"img\"},\"id\":\"__qmp#00000\"}\n");
    assert_eq!(fds.len(), 1);
    let mut got = std::fs::File::from(fds.into_iter().next().unwrap());
    let mut text = String::new();
    use std::io::Seek;
    got.rewind().unwrap();
    got.read_to_string(&mut text).unwrap();
    assert_eq!(text, "passed");
}

#[test]
fn connect_retries_until_socket_appears() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.sock");
    let p2 = path.clone();
    let server = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        let l = std::os::unix::net::UnixListener::bind(&p2).unwrap();
        let (mut s, _) = l.accept().unwrap();
        s.write_all(b"{\"return\": 5}\n").unwrap();
        thread::sleep(Duration::from_millis(100));
    });
    let mut qmp = QmpClient::connect(&path, Duration::from_secs(5)).unwrap();
    assert_eq!(qmp.qmp("x", ()).unwrap(), json!({"return": 5}));
    server.join().unwrap();
}

#[test]
fn listener_replaces_stale_socket_but_not_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(stale); // leaves the file behind
    let l = QmpListener::bind(&path).unwrap();
    assert_eq!(l.path(), path);
    drop(l);
    std::fs::write(&path, "a file").unwrap();
    assert!(matches!(QmpListener::bind(&path).unwrap_err(), QmpError::Io { .. }));
}

#[test]
fn wait_from_f64() {
    assert_eq!(Wait::from(-1.0), Wait::For(Duration::ZERO));
    assert_eq!(Wait::from(f64::NAN), Wait::For(Duration::ZERO));
    assert_eq!(Wait::from(f64::INFINITY), Wait::Forever);
    assert_eq!(Wait::from(Duration::ZERO), Wait::No);
}

#[test]
fn event_match_python_semantics() {
    let t = |e: Value, p: Value| event_match(&e, &p);
    // Dict subsets, recursively; null matches anything but the key must exist.
    assert!(t(json!({"a": 1, "b": {"c": 2, "d": 3}}), json!({"b": {"d": 3}})));
    assert!(!t(json!({"a": 1}), json!({"b": null})));
    assert!(!t(json!({"a": {"b": 1}}), json!({"a": {"b": 2}})));
    // Python equality: 1 == 1.0 == True.
    assert!(t(json!({"a": 1}), json!({"a": 1.0})));
    assert!(t(json!({"a": true}), json!({"a": 1})));
    assert!(!t(json!({"a": "1"}), json!({"a": 1})));
    // Empty containers and strings iterate over nothing: they match anything.
    assert!(t(json!(5), json!({})));
    assert!(t(json!("x"), json!("")));
    assert!(t(json!(null), json!([])));
    // A dict pattern never matches a non-dict.
    assert!(!t(json!("abc"), json!({"a": null})));
    assert!(!t(json!(["a"]), json!({"a": null})));
    // Scalars and strings compare by equality.
    assert!(t(json!("abc"), json!("abc")));
    assert!(!t(json!("abc"), json!("ab")));
    assert!(!t(json!(null), json!(0)));
    // Lists compare by equality unless their elements are indices.
    assert!(t(json!(["a", "b"]), json!(["a", "b"])));
    assert!(!t(json!(["a", "b"]), json!(["b", "a"])));
    assert!(t(json!([0, 5]), json!([0])));
    assert!(!t(json!([1]), json!([1]))); // python: IndexError
    assert!(!t(json!({"a": [1]}), json!({"a": ["x"]})));
}
