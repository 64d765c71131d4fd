//! unittest-style tests: iotests' `iotests.main()`, which runs the module's
//! `unittest.TestCase` classes with upstream's `ReproducibleTestRunner`.
//!
//! A Python class becomes a struct whose `impl` block carries
//! [`#[iotests::test_case]`](crate::test_case). In that block, as in the
//! class body:
//!
//! * `fn new(t: &Case) -> Self` — the class attributes (`image_len = 1 <<
//!   20`, `self.vm = None`), before `setUp` (omit it for a `Default` struct);
//! * `fn set_up(&mut self, t: &Case) -> Result<()>` and `fn tear_down(…)` —
//!   `setUp` / `tearDown`, assigning `self.vm = …` as Python does;
//! * `fn set_up_class(t: &Case)` / `fn tear_down_class(t: &Case)` —
//!   `setUpClass` / `tearDownClass`;
//! * every method whose name starts with `test` is a case, found as
//!   unittest finds them (sorted by name, nothing listed by hand); a
//!   parameter with a Python default (`def test_cycle(self,
//!   read_only_node=False)`) carries it as `#[default(false)]
//!   read_only_node: bool`: unittest passes the default, other methods call
//!   `self.test_cycle(true)`;
//! * decorators are attributes: `#[skip_if_unsupported(["quorum"])]`,
//!   `#[skip_for_formats("qed")]`, `#[skip_if_user_is_root]` (iotests'),
//!   `#[skip("why")]`, `#[skip_if(cond, "why")]`, `#[skip_unless(cond,
//!   "why")]`, `#[expected_failure]` (unittest's), on test methods and —
//!   iotests' ones — on `set_up`. A method's first doc line is its
//!   docstring (`shortDescription()`).
//!
//! Inheritance: `class TestSingleBlockdev(TestSingleDrive)` becomes a struct
//! with a field `base: TestSingleDrive` and `#[test_case(extends =
//! TestSingleDrive, without = [test_large_cluster])]` (`without` is Python's
//! `test_large_cluster = None`). Inherited cases run on `self.base`
//! (`self.qmp_cmd` reads through `Deref`), own methods override inherited
//! ones of the same name, and a `set_up` that is not redefined is the
//! base's. In a subclass's methods, a call whose receiver is `self` or a
//! field path of it and whose arguments read `self` has its arguments
//! evaluated first, so that Python's `self.vm.cmd('eject',
//! id=self.device_name)` compiles as written although `self.vm` and
//! `self.device_name` both reach through `Deref` (arguments holding a
//! closure are left as they are). A subclass that only changes attributes
//! needs no struct at all: `iotest!` declares it as
//! `TestSingleDriveZeroLength: TestSingleDrive { image_len: 0 } without
//! [test_small_buffer2]`.
//!
//! ```no_run
//! use iotests::prelude::*;
//!
//! struct TestUnaligned {
//!     vm: Vm,
//! }
//!
//! #[iotests::test_case]
//! impl TestUnaligned {
//!     fn new(t: &Case) -> Self {
//!         TestUnaligned { vm: t.vm() }
//!     }
//!
//!     fn set_up(&mut self, t: &Case) -> Result<()> {
//!         t.qemu_img(&args!["create", "-f", imgfmt(), test_img(), "512"])?;
//!         self.vm.add_drive(test_img());
//!         self.vm.launch()
//!     }
//!
//!     fn tear_down(&mut self) -> Result<()> {
//!         self.vm.shutdown()?;
//!         os::remove(test_img())
//!     }
//!
//!     fn test_unaligned(&mut self) -> Result<()> {
//!         self.vm.cmd("drive-mirror", kwargs! { device: "drive0", sync: "full", target: target_img() })?;
//!         self.vm.complete_and_wait()?;
//!         assert_equal!(1, 1, "sizes differ");
//!         Ok(())
//!     }
//! }
//!
//! fn test_img() -> String { os::path::join(test_dir(), "test.img") }
//! fn target_img() -> String { os::path::join(test_dir(), "target.img") }
//!
//! iotests::iotest! {
//!     name: "152", groups: [rw, quick],
//!     supported_fmts: ["raw", "qcow2"],
//!     fn t152: unittest { TestUnaligned }
//! }
//! # fn main() {}
//! ```
//!
//! The module's `setUpModule()` / `tearDownModule()` are plain functions
//! named in the `iotest!` class list (`set_up_module: set_up_module`; see
//! [`Suite::set_up_module`]).
//!
//! The run follows unittest exactly: classes in name order, their cases in
//! name order; per case the class-level skip decorators, `new`, `set_up`,
//! then (if that worked) the method and `tear_down` — also when the method
//! failed or panicked. Outcomes print as they happen: `.` for success and
//! for a skip (the reproducible runner prints a dot, not `s`), `F` for a
//! failed assertion ([`Error::Assertion`](crate::Error::Assertion)), `E` for any other error, a panic
//! or `notrun()` (Python's `sys.exit()` inside a case), `x`/`u` for expected
//! failures / unexpected successes. Then the summary as
//! `ReproducibleStreamWrapper` rewrites it: a newline, the `ERROR:` and
//! `FAIL:` blocks, a rule of 70 `-`, `Ran N tests` (always plural, no time),
//! a blank line, and `OK` or `FAILED (failures=N, errors=M[, …])`.
//! Everything goes into the test's log, between what the cases print, as it
//! does on Python's stdout. Under `IOTESTS_DEBUG` (iotests' `-d`, verbosity
//! 2) the `test_x (__main__.Class.test_x) ... ok` lines go to stdout live
//! while the log keeps the dots, so the snapshot still compares.

pub mod assertions;
mod case;
mod class;
pub mod decorators;
mod report;
mod run;

pub use case::Case;
pub use class::{Class, ClassOf, ModuleFixture, Suite, TestMethod};
pub use report::{CaseFailure, SuiteResult};
pub(crate) use run::panic_message;

use crate::error::Result;

/// The module name in case descriptions: an iotest runs as `__main__`.
pub const MODULE: &str = "__main__";

/// A unittest-style test class (Python's `iotests.QMPTestCase` subclass).
/// Implemented by [`#[iotests::test_case]`](crate::test_case) from the
/// methods of an `impl` block; see the [module documentation](self).
pub trait TestCase: Sized + Send + 'static {
    /// The class attributes: the instance before `setUp`.
    fn new(t: &Case<'_>) -> Result<Self>;

    /// `setUp`: an error here skips the method and `tear_down`.
    fn set_up(&mut self, _t: &Case<'_>) -> Result<()> {
        Ok(())
    }

    /// `tearDown`: runs after the method, whether it passed or not.
    fn tear_down(&mut self, _t: &Case<'_>) -> Result<()> {
        Ok(())
    }

    /// `setUpClass`: before the class's first case; an error skips the
    /// class's cases (reported as `setUpClass (__main__.Class)`).
    fn set_up_class(_t: &Case<'_>) -> Result<()> {
        Ok(())
    }

    /// `tearDownClass`: after the class's last case.
    fn tear_down_class(_t: &Case<'_>) -> Result<()> {
        Ok(())
    }

    /// The `test*` methods (inherited ones included), any order.
    fn test_methods() -> Vec<TestMethod<Self>>;
}

/// unittest's `assertTrue(cond, msg)` on a `bool`, as a value.
///
/// ```
/// assert!(iotests::unittest::assert_true(1 + 1 == 2, "math").is_ok());
/// let e = iotests::unittest::assert_true(false, "no").unwrap_err();
/// assert_eq!(e.assertion_message(), Some("False is not true : no"));
/// ```
#[track_caller]
pub fn assert_true(cond: bool, msg: impl AsRef<str>) -> Result<()> {
    let msg = msg.as_ref();
    if cond {
        Ok(())
    } else if msg.is_empty() {
        Err(crate::Error::fail("False is not true"))
    } else {
        Err(crate::Error::fail(format!("False is not true : {msg}")))
    }
}

pub use crate::json::py_str_repr as py_repr;
