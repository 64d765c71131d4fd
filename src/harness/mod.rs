//! The test harness: iotests' `script_main` / `script_initialize` /
//! `main`, `execute_setup_common` and its `_verify_*` checks, `notrun` /
//! `case_notrun` and the skip decorators, and upstream's
//! `ReproducibleTestRunner`.
//!
//! A test declares itself with [`iotest!`](crate::iotest), which reads like
//! the Python original's `script_main(…)` / `main(…)` call and generates a
//! `#[test] fn`. That function resolves the environment (`IMGFMT`,
//! `IMGPROTO`, `CACHEMODE`, `AIOMODE` pick the matrix cell; `IMGFMT` unset →
//! the test's first format), runs the checks in upstream's order (a cell the
//! test does not support → not run: the Rust test passes and
//! `<OUTPUT_DIR>/<name>.notrun` says why), runs the body on its own thread
//! under the time limit, and asserts the log snapshot `snapshots/<name>.snap`.
//!
//! Script-style (upstream 209):
//!
//! ```no_run
//! iotests::iotest! {
//!     name: "209", groups: [rw, quick],
//!     supported_fmts: ["qcow2"],
//!     fn t209(t) {
//!         let [disk] = t.file_paths(["disk"]);
//!         t.log(format!("created {disk}"));
//!         Ok(())
//!     }
//! }
//! ```
//!
//! unittest-style (upstream 152):
//!
//! ```no_run
//! use iotests::prelude::*;
//! #[derive(Default)]
//! struct TestUnaligned { img: String }
//! #[iotests::test_case]
//! impl TestUnaligned {
//!     fn set_up(&mut self, t: &Case) {
//!         self.img = t.file_path("test.img");
//!     }
//!     fn tear_down(&mut self) {
//!         iotests::context::try_remove(&self.img);
//!     }
//!     fn test_unaligned(&mut self) {}
//!     fn test_unaligned_with_update(&mut self) {}
//! }
//! iotests::iotest! {
//!     name: "152", groups: [rw, quick],
//!     supported_fmts: ["raw", "qcow2"],
//!     supported_protocols: ["file"],
//!     fn t152: unittest { TestUnaligned }
//! }
//! # fn main() {}
//! ```
//!
//! | variable | meaning |
//! |---|---|
//! | `IOTESTS_LIST=1` | describe each test as a JSON line on stdout (`iotests-spec: {…}`) instead of running it |
//! | `IOTESTS_GROUP`, `IOTESTS_EXCLUDE_GROUP` | comma-separated groups to run / not to run (`check -g` / `-x`) |
//! | `IOTESTS_TIMEOUT` | seconds per test (default 300; `0`: no limit) |
//! | `IOTESTS_DEBUG=1` | the log echoed live; unittest cases listed verbosely on stdout |

mod declare;
mod main;
mod notrun;
mod probes;
mod run;
pub mod timeout;
mod verify;

pub use crate::unittest::{Case, CaseFailure, Class, MODULE, Suite, SuiteResult, TestCase, assert_true, py_repr};
pub use declare::{EXCLUDE_GROUP_VAR, GROUP_VAR, LIST_PREFIX, LIST_VAR, TestKind, TestSpec, python_platform};
pub use main::{Declared, RunEnd, conclude_xfail, declared, main, run_under_libtest};
pub use notrun::{
    casenotrun_path, clear_notrun_files, not_run_reason, notrun, notrun_path, write_case_notrun, write_notrun,
    xfail_path,
};
pub use probes::{
    has_virtio_blk, has_working_luks, parse_supported_formats, py_list, qemu_pipe, supported_formats,
    supports_qcow2_zstd_compression, supports_quorum, unsupported_formats, verify_qcow2_zstd_compression,
    verify_quorum, verify_virtio_blk, verify_virtio_scsi_pci_or_ccw, verify_working_luks,
};
pub use run::{
    Failure, FailureKind, Outcome, assert_with_deaths, run_declared_script, run_declared_unittest, run_script,
    run_unittest,
};
pub use timeout::{DEFAULT_TIMEOUT, Finished, TIMEOUT_VAR, resolve_timeout, run_with_timeout};
pub use verify::{
    verify_aio_mode, verify_cache_mode, verify_formats, verify_image_format, verify_imgopts, verify_platform,
    verify_protocol, verify_setup,
};

/// Declare an iotest: its name and `# group:` line, the arguments of its
/// `script_main` / `main` call, and its body (a script) or its classes
/// (unittest-style). Generates a `#[test] fn` with the given name.
///
/// Each `key: value` becomes a [`TestSpec`] builder call: `supported_fmts`,
/// `unsupported_fmts`, `supported_protocols`, `unsupported_protocols`,
/// `supported_platforms`, `supported_cache_modes`, `supported_aio_modes`,
/// `required_fmts`, `unsupported_imgopts` (lists of strings), `timeout`
/// (seconds), `activate_logging` (bool), `before_main` (unittest-style: a
/// `fn(&TestContext) -> Result<()>` such as `|t| t.verify_quorum()`, the
/// module's code before `iotests.main()`), `xfail` (a reason: see
/// [`TestSpec::xfail`]), `xfail_fmts` (the formats `xfail` is limited to),
/// `xfail_intermittent` (bool: see [`TestSpec::xfail_intermittent`]).
/// `name` comes first, `groups` may
/// follow as bare words, and the declaration ends with
///
/// * `fn <ident>(<t>) { … }` — a script: `t` is the `&TestContext`, the body
///   returns [`Result<()>`](crate::Result), and the log is snapshotted; or
/// * `fn <ident>: unittest { ClassA, ClassB, … }` — classes whose `impl`
///   carries [`#[iotests::test_case]`](crate::test_case), run and summarized
///   as upstream's `ReproducibleTestRunner` does. An entry may also be
///   `Name: Class { attr: value, … } without [test_x, …]` (a subclass that
///   only sets class attributes and drops methods) or `..expr` (a
///   `Vec<Class>` built in code, e.g. in a loop). `set_up_module: f` and
///   `tear_down_module: f` name the module's `setUpModule()` /
///   `tearDownModule()` (`fn f(t: &Case) -> Result<()>`; see
///   [`Suite::set_up_module`]). See [`unittest`](crate::unittest).
///
/// See the [module documentation](crate::harness) for examples.
#[macro_export]
macro_rules! iotest {
    (name: $name:expr, $($rest:tt)*) => {
        $crate::iotest!(@spec [$crate::harness::TestSpec::new($name)] $($rest)*);
    };

    // A script-style body.
    (@spec [$($spec:tt)*] fn $f:ident ($t:ident) $body:block $(,)?) => {
        $crate::iotest!(@register $f [$($spec)*] {
            fn body($t: &$crate::TestContext) -> $crate::Result<()> $body
            fn outcome(path: &str) -> ::std::result::Result<$crate::harness::Outcome, $crate::harness::Failure> {
                $crate::harness::run_declared_script(&SPEC, path, body)
            }
            fn cases() -> ::std::vec::Vec<::std::string::String> {
                ::std::vec::Vec::new()
            }
        });
    };

    // unittest-style classes.
    (@spec [$($spec:tt)*] fn $f:ident : unittest { $($classes:tt)* } $(,)?) => {
        $crate::iotest!(@register $f [$($spec)* .kind($crate::harness::TestKind::Unittest)] {
            fn suite() -> $crate::unittest::Suite {
                let mut suite = $crate::unittest::Suite::default();
                $crate::iotest!(@classes suite $($classes)*);
                suite
            }
            fn outcome(path: &str) -> ::std::result::Result<$crate::harness::Outcome, $crate::harness::Failure> {
                $crate::harness::run_declared_unittest(&SPEC, path, suite)
            }
            fn cases() -> ::std::vec::Vec<::std::string::String> {
                suite().case_ids()
            }
        });
    };

    // The test's module: its declaration, its runner, its registration with
    // the harness, and a `#[test]` for test binaries under libtest.
    (@register $f:ident [$($spec:tt)*] { $($items:item)* }) => {
        #[doc(hidden)]
        #[allow(non_snake_case)]
        mod $f {
            #[allow(unused_imports)]
            use super::*;

            const SPEC: $crate::harness::TestSpec = $($spec)*;

            $($items)*

            /// Runs the test; panics when it fails.
            pub(super) fn run() -> $crate::harness::RunEnd {
                let outcome = outcome(::std::module_path!());
                if let ::std::option::Option::Some(reason) = SPEC.xfail_here() {
                    return $crate::harness::conclude_xfail(&SPEC, reason, outcome, ::std::env!("CARGO_MANIFEST_DIR"));
                }
                match outcome {
                    ::std::result::Result::Ok($crate::harness::Outcome::Passed { log, env, deaths }) => {
                        $crate::harness::assert_with_deaths(&deaths, || {
                            $crate::assert_log_snapshot!(in SPEC.snapshot_dir; SPEC.name, log, ::std::option::Option::Some(&*env));
                        });
                        $crate::harness::RunEnd::Passed
                    }
                    ::std::result::Result::Ok($crate::harness::Outcome::NotRun { reason }) => {
                        $crate::harness::RunEnd::NotRun(reason)
                    }
                    ::std::result::Result::Ok(_) => $crate::harness::RunEnd::Passed,
                    ::std::result::Result::Err(failure) => failure.fail(),
                }
            }

            $crate::__inventory::submit! {
                $crate::harness::Declared { spec: &SPEC, module: ::std::module_path!(), run, cases }
            }
        }

        #[test]
        fn $f() {
            $crate::harness::run_under_libtest($f::run, ::std::stringify!($f));
        }
    };

    // The classes of a unittest block, one entry at a time.
    (@classes $v:ident) => {};
    (@classes $v:ident , $($rest:tt)*) => { $crate::iotest!(@classes $v $($rest)*); };
    // `set_up_module: f` / `tear_down_module: f`: the module's
    // `setUpModule()` / `tearDownModule()` (`fn f(t: &Case) -> Result<()>`).
    (@classes $v:ident set_up_module : $f:expr $(, $($rest:tt)*)?) => {
        $v.set_up_module($f);
        $crate::iotest!(@classes $v $($($rest)*)?);
    };
    (@classes $v:ident tear_down_module : $f:expr $(, $($rest:tt)*)?) => {
        $v.tear_down_module($f);
        $crate::iotest!(@classes $v $($($rest)*)?);
    };
    // `..expr`: more classes (a `Vec<Class>`), e.g. made in a loop.
    (@classes $v:ident .. $e:expr $(, $($rest:tt)*)?) => {
        $v.extend($e);
        $crate::iotest!(@classes $v $($($rest)*)?);
    };
    // `Name: Type { attr: value, … } without [test_x, …]`: a subclass that
    // only sets attributes and drops methods.
    (@classes $v:ident $name:ident : $ty:ident $({ $($attr:ident : $val:expr),* $(,)? })?
        $(without [$($m:ident),* $(,)?])? $(, $($rest:tt)*)?) => {
        $v.push($crate::unittest::ClassOf::<$ty>::new(::std::stringify!($name))
            $(.attrs(|c: &mut $ty| { $(c.$attr = $val;)* }))?
            $(.without(&[$(::std::stringify!($m)),*]))?
            .into());
        $crate::iotest!(@classes $v $($($rest)*)?);
    };
    (@classes $v:ident $name:ident $(, $($rest:tt)*)?) => {
        $v.push($crate::unittest::Class::new::<$name>(::std::stringify!($name)));
        $crate::iotest!(@classes $v $($($rest)*)?);
    };

    // `groups: [rw, quick]` as bare words, like the `# group:` line.
    (@spec [$($spec:tt)*] groups: [$($g:ident),* $(,)?], $($rest:tt)*) => {
        $crate::iotest!(@spec [$($spec)* .groups(&[$(::std::stringify!($g)),*])] $($rest)*);
    };
    // `key: ["a", "b"]` → `.key(&["a", "b"])`.
    (@spec [$($spec:tt)*] $key:ident: [$($v:expr),* $(,)?], $($rest:tt)*) => {
        $crate::iotest!(@spec [$($spec)* .$key(&[$($v),*])] $($rest)*);
    };
    // `key: value` → `.key(value)`.
    (@spec [$($spec:tt)*] $key:ident: $v:expr, $($rest:tt)*) => {
        $crate::iotest!(@spec [$($spec)* .$key($v)] $($rest)*);
    };
}
