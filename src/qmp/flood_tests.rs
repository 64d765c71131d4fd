//! The client against a peer that never stops sending: every call stays
//! within its deadline and the event queues stay bounded.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// A peer that sends `line` every `every` (back to back when zero) until
/// the client goes away, `stop` is set or `lasting` has passed.
struct Flood {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Flood {
    fn start(mut peer: UnixStream, line: &str, every: Duration, lasting: Duration) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        // Batches, so that a back-to-back flood really is one.
        let batch: Vec<u8> = if every.is_zero() { bytes.repeat(64) } else { bytes };
        let end = Instant::now() + lasting;
        let thread = thread::spawn(move || {
            peer.set_write_timeout(Some(Duration::from_millis(100))).unwrap();
            while !flag.load(Ordering::Relaxed) && Instant::now() < end {
                match peer.write_all(&batch) {
                    Ok(()) => {}
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                    Err(_) => return,
                }
                if !every.is_zero() {
                    thread::sleep(every);
                }
            }
        });
        Flood { stop, thread: Some(thread) }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn client() -> (QmpClient, UnixStream) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    (QmpClient::from_stream(ours), theirs)
}

const TICK: &str = r#"{"event": "TICK", "data": {"n": 1}, "timestamp": {"seconds": 1, "microseconds": 2}}"#;

/// How long the peers keep going: far longer than any bound below, so
/// that a call that ignores its deadline is caught.
const LASTING: Duration = Duration::from_secs(20);

#[test]
fn a_command_times_out_while_events_keep_coming() {
    let (mut qmp, peer) = client();
    // Back to back, and no queue limit: only the deadline can end the wait.
    qmp.set_max_queued_events(usize::MAX, usize::MAX);
    let _flood = Flood::start(peer, TICK, Duration::ZERO, LASTING);
    qmp.set_default_timeout(Duration::from_millis(300));
    let start = Instant::now();
    let e = qmp.cmd("query-status", ()).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}: {e}", start.elapsed());
    assert!(e.is_timeout(), "{e}");
}

#[test]
fn a_flood_of_events_is_a_clear_error_not_unbounded_memory() {
    let (mut qmp, peer) = client();
    let _flood = Flood::start(peer, TICK, Duration::ZERO, LASTING);
    qmp.set_default_timeout(Duration::from_secs(10));
    let start = Instant::now();
    let e = qmp.cmd("query-status", ()).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    match &e {
        QmpError::Flooded { queued, last, .. } => {
            assert_eq!(*queued, DEFAULT_MAX_QUEUED_EVENTS + 1);
            assert!(last.contains("TICK"), "{last}");
        }
        other => panic!("expected Flooded, got {other}"),
    }
    assert!(e.to_string().contains("floods"), "{e}");
    // The same under event_wait, and after the queue is cleared.
    qmp.clear_events();
    let e = qmp.event_wait("NEVER", Duration::from_secs(10), None).unwrap_err();
    assert!(matches!(e, QmpError::Flooded { .. }), "{e}");
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
}

#[test]
fn event_wait_has_an_overall_bound_but_restarts_per_event() {
    let (mut qmp, peer) = client();
    let _flood = Flood::start(peer, TICK, Duration::from_millis(50), LASTING);
    let timeout = Duration::from_millis(200);
    let start = Instant::now();
    let e = qmp.event_wait("NEVER", timeout, None).unwrap_err();
    let took = start.elapsed();
    let bound = timeout * EVENTS_WAIT_TOTAL_FACTOR;
    assert!(took >= bound && took < bound + Duration::from_secs(2), "{took:?}");
    assert!(e.is_timeout() && e.to_string().contains("kept arriving"), "{e}");
    assert!(e.to_string().contains("other events queued: TICK"), "{e}");
}

#[test]
fn python_per_event_timeout_is_kept_within_the_bound() {
    let (mut qmp, mut peer) = client();
    // Unrelated events every 100 ms for 1 s, each within the 300 ms
    // timeout, then the one waited for: python waits that long too.
    let feeder = thread::spawn(move || {
        for _ in 0..10 {
            writeln!(peer, "{TICK}").unwrap();
            thread::sleep(Duration::from_millis(100));
        }
        writeln!(peer, r#"{{"event": "DONE"}}"#).unwrap();
        peer
    });
    let ev = qmp.event_wait("DONE", Duration::from_millis(300), None).unwrap();
    assert_eq!(ev["event"], "DONE");
    assert_eq!(qmp.get_events(false).unwrap().len(), 10);
    drop(feeder.join().unwrap());
}

#[test]
fn not_waiting_takes_what_is_there_not_what_keeps_coming() {
    let (mut qmp, peer) = client();
    qmp.set_max_queued_events(usize::MAX, usize::MAX);
    let _flood = Flood::start(peer, TICK, Duration::ZERO, LASTING);
    thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    let events = qmp.get_events(Wait::No).unwrap();
    assert!(!events.is_empty());
    let polled = qmp.event_poll("NEVER", None).unwrap();
    assert_eq!(polled, None);
    let one = qmp.get_event(Wait::No).unwrap();
    assert!(one.is_some());
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
}

#[test]
fn wait_no_still_takes_every_complete_message_already_received() {
    let (mut qmp, mut peer) = client();
    for n in 0..5 {
        writeln!(peer, r#"{{"event": "E", "data": {{"n": {n}}}}}"#).unwrap();
    }
    let events = qmp.get_events(false).unwrap();
    assert_eq!(events.len(), 5);
}
