//! # iotests — QEMU's block-layer iotests, in Rust
//!
//! A golden-output snapshot testing toolkit for QEMU's block layer. It does
//! what QEMU's Python `tests/qemu-iotests/iotests.py` does — drive
//! `qemu-img`, `qemu-io`, `qemu-nbd`, `qemu-storage-daemon` and QEMU VMs over
//! QMP, log what happens, filter out what varies — and records that log as an
//! [insta](https://insta.rs) snapshot whose text is byte-identical to what
//! iotests.py prints for the same events.
//!
//! ## A first test
//!
//! A test is a module in `tests/iotests/` (the file is all: the build
//! script finds it) holding an [`iotest!`] declaration that reads like the
//! Python original's `script_main(…)` call:
//!
//! ```no_run
//! use iotests::prelude::*;
//!
//! iotests::iotest! {
//!     name: "209", groups: [rw, quick],
//!     supported_fmts: ["qcow2"],
//!     fn t209(t) {
//!         let disk = t.file_path("disk");
//!         t.qemu_img_create(&args!["-f", imgfmt(), &disk, "1M"])?;
//!         let mut vm = t.vm();
//!         vm.add_drive(&disk);
//!         vm.launch()?;
//!         vm.qmp_log("query-block-jobs", kwargs! {})?;
//!         vm.shutdown()?;
//!         t.log("done.");
//!         Ok(())
//!     }
//! }
//! # fn main() {}
//! ```
//!
//! Its log becomes `snapshots/209.snap`, which must equal QEMU's `209.out`.
//! unittest-style tests (`iotests.main()`) are classes under
//! [`#[iotests::test_case]`](test_case) — see [`unittest`]. The Python →
//! Rust cheat sheet, with a row for every name of iotests.py, is
//! `tests/iotests/PORTING.md`; `use iotests::prelude::*` brings what a port
//! needs.
//!
//! ## Layout
//!
//! The modules follow the data flow:
//!
//! ```text
//! env ─► context ─► tools / vm ◄─► qmp ─► log sink ─► filters ─► snapshot
//! ```
//!
//! * [`env`](mod@env) resolves the test environment (`QEMU_PROG`, `IMGFMT`, …).
//! * [`context::TestContext`] is one test's world: its view of the
//!   environment, scratch directories, log buffer and child processes;
//!   [`globals`] reads iotests' module attributes (`test_dir()`, …) from it.
//! * [`tools`] wraps the QEMU command-line tools, [`vm`] runs QEMU itself and
//!   [`qmp`] talks to it.
//! * [`log`] is the sink with iotests' `log()` semantics, [`json`] prints JSON
//!   exactly as Python's `json.dumps` does and [`filters`] redacts what
//!   varies between runs; [`pyfmt`] renders Python's values, diffs and
//!   unittest messages.
//! * [`harness`] declares and runs tests (its own libtest-compatible
//!   `main`), [`unittest`] runs unittest-style classes, [`snapshot`] turns a
//!   finished log into an insta snapshot.
//!
//! This crate reimplements QEMU's GPL-2.0-or-later test library; see the
//! README for credits.

#![warn(missing_docs)]

// Lets the procedural macros name `::iotests` inside the crate too.
extern crate self as iotests;

pub mod cleanup;
pub mod codecs;
pub mod context;
pub mod deadline;
pub mod env;
pub mod error;
pub mod filters;
pub mod globals;
pub mod harness;
pub mod json;
pub mod log;
mod msg;
pub mod os;
pub mod prelude;
pub mod process;
pub mod pyfmt;
pub mod qmp;
pub mod random;
pub mod snapshot;
pub mod threading;
pub mod tools;
pub mod unittest;
pub mod vm;

pub use context::TestContext;
pub use error::{Error, Result};
pub use filters::Filter;
pub use log::Log;
pub use msg::Msg;

/// Turns an `impl` block into a unittest `TestCase` class: see
/// [`unittest`](mod@unittest).
pub use iotests_macros::test_case;

/// Re-exported for the macros, which expand in the caller's crate.
#[doc(hidden)]
pub use insta as __insta;
/// Re-exported for [`iotest!`], which registers tests in the caller's crate.
#[doc(hidden)]
pub use inventory as __inventory;
/// Re-exported for [`kwargs!`], which expands in the caller's crate.
#[doc(hidden)]
pub use serde_json as __serde_json;

/// Build a command-line argument list from mixed values — Python's
/// `('-f', iotests.imgfmt, path, str(size))` — as a `Vec<String>`.
///
/// ```
/// let path = String::from("/tmp/x.img");
/// let size = 1 << 20;
/// assert_eq!(iotests::args!["-f", "qcow2", &path, size], ["-f", "qcow2", "/tmp/x.img", "1048576"]);
/// ```
#[macro_export]
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        ::std::vec![$(::std::string::ToString::to_string(&$arg)),*] as ::std::vec::Vec<::std::string::String>
    };
}
