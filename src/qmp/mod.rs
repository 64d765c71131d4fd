//! A synchronous QMP client: python/qemu's legacy `QEMUMonitorProtocol`
//! together with the event handling of `QEMUMachine`.
//!
//! [`QmpClient`] talks QMP over a Unix socket without an async runtime. It
//! keeps python's semantics where iotests can observe them:
//!
//! * [`QmpClient::qmp`] and [`QmpClient::cmd_obj`] send the message without
//!   an `id` and return the raw response (`{"return": …}` or
//!   `{"error": …}`), like `cmd_raw`/`cmd_obj`; [`QmpClient::cmd`] turns an
//!   error response into [`QmpError::Command`], like `cmd`.
//! * Events that arrive while waiting for a response are queued, and
//!   [`QmpClient::events_wait`], [`QmpClient::get_events`] and friends hand
//!   them out in the same order python's `QEMUMachine` does.
//! * [`QmpClient::send_fd_scm`] passes a file descriptor the way python does.
//!
//! Unlike python, nothing waits forever: every read and write has a deadline
//! (see [`Wait`] and [`QmpClient::set_default_timeout`]).
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use std::os::unix::net::UnixStream;
//! use std::time::Duration;
//! use iotests::qmp::QmpClient;
//! use serde_json::json;
//!
//! let (ours, mut theirs) = UnixStream::pair().unwrap();
//! // A fake QEMU: greeting, capabilities, then one command with an event.
//! let peer = std::thread::spawn(move || {
//!     let mut lines = BufReader::new(theirs.try_clone().unwrap()).lines();
//!     writeln!(theirs, r#"{{"QMP": {{"version": {{}}, "capabilities": []}}}}"#).unwrap();
//!     assert_eq!(lines.next().unwrap().unwrap(), r#"{"execute":"qmp_capabilities","arguments":{}}"#);
//!     writeln!(theirs, r#"{{"return": {{}}}}"#).unwrap();
//!     assert_eq!(lines.next().unwrap().unwrap(), r#"{"execute":"stop"}"#);
//!     writeln!(theirs, r#"{{"event": "STOP", "timestamp": {{"seconds": 1, "microseconds": 2}}}}"#).unwrap();
//!     writeln!(theirs, r#"{{"return": {{}}}}"#).unwrap();
//! });
//!
//! let mut qmp = QmpClient::from_stream(ours);
//! qmp.negotiate(Duration::from_secs(5))?;
//! assert_eq!(qmp.qmp("stop", ())?, json!({"return": {}}));
//! let ev = qmp.event_wait("STOP", Duration::from_secs(5), None)?;
//! assert_eq!(ev["event"], "STOP");
//! peer.join().unwrap();
//! # Ok::<(), iotests::qmp::QmpError>(())
//! ```

mod client;
mod error;
mod events;
mod fdpass;
mod kwargs;
mod listener;
mod queue;
mod wire;

#[cfg(test)]
mod flood_tests;
#[cfg(test)]
mod tests;

pub use client::{Args, QmpClient};
pub use error::QmpError;
pub use events::{EVENTS_WAIT_TOTAL_FACTOR, EventSpec, Wait, event_match};
pub use kwargs::Kwargs;
pub use listener::QmpListener;
pub use queue::{DEFAULT_MAX_QUEUED_BYTES, DEFAULT_MAX_QUEUED_EVENTS};
pub use wire::DEFAULT_MAX_MESSAGE;

/// The default time limit for a command's response and for
/// [`Wait::Forever`], where python waits without limit.
///
/// It is as long as a tool run may take
/// ([`DEFAULT_TOOL_TIMEOUT`](crate::process::DEFAULT_TOOL_TIMEOUT)): some
/// commands are whole operations (`human-monitor-command` running a
/// `qemu-io read` over a qcow v1 image takes minutes on a loaded machine).
/// A hung QEMU is usually caught first by the test's own time limit, which
/// kills it and so ends the wait with an error.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
