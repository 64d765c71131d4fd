//! iotests.py's module attributes — `iotests.test_dir`, `imgfmt`,
//! `sock_dir`, … — for the test running on this thread.
//!
//! Upstream tests compute module-level globals from them
//! (`test_img = os.path.join(iotests.test_dir, 'test.img')`). Here each test
//! has its own directories, so such a global becomes a function that reads
//! the current test:
//!
//! ```no_run
//! use iotests::{globals::test_dir, os};
//! fn test_img() -> String {
//!     os::path::join(test_dir(), "test.img")
//! }
//! ```
//!
//! The harness makes the test current on the thread that runs its body
//! ([`TestContext::enter`]).
//!
//! # Panics
//!
//! Each function panics when no test is current on the calling thread:
//! outside a test, or on a thread the test started without
//! [`TestContext::enter`].

use std::sync::Arc;

use crate::context::TestContext;

/// The test running on this thread.
///
/// # Panics
///
/// When none is (see the [module documentation](self)).
pub fn current() -> Arc<TestContext> {
    TestContext::current().unwrap_or_else(|| {
        panic!("iotests::globals: no test is current on this thread (call TestContext::enter on threads a test starts)")
    })
}

/// `iotests.test_dir`: the test's scratch directory.
pub fn test_dir() -> String {
    current().test_dir().to_string()
}

/// `iotests.sock_dir`: the test's socket directory.
pub fn sock_dir() -> String {
    current().sock_dir().to_string()
}

/// `iotests.imgfmt`.
pub fn imgfmt() -> String {
    current().imgfmt().to_string()
}

/// `iotests.imgproto`.
pub fn imgproto() -> String {
    current().imgproto().to_string()
}

/// `os.environ.get('IMGOPTS')` as the test sees it.
pub fn imgopts() -> Option<String> {
    current().env().imgopts.clone()
}

/// `iotests.cachemode`.
pub fn cachemode() -> String {
    current().cachemode().to_string()
}

/// `iotests.aiomode`.
pub fn aiomode() -> String {
    current().aiomode().to_string()
}

/// `iotests.qemu_default_machine`.
pub fn qemu_default_machine() -> String {
    current().env().qemu_default_machine().to_string()
}

/// `iotests.output_dir`.
pub fn output_dir() -> String {
    current().env().output_dir.display().to_string()
}

/// `iotests.file_path(name)` for the current test (see
/// [`TestContext::file_path`]).
pub fn file_path(name: &str) -> String {
    current().file_path(name)
}
