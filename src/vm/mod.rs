//! QEMU VMs: iotests' `VM` class on python/qemu's `QEMUQtestMachine`.
//!
//! A [`Vm`] is built up with iotests' builder methods
//! ([`add_drive`](Vm::add_drive), [`add_blockdev`](Vm::add_blockdev), …),
//! then [`launch`](Vm::launch)ed: QEMU starts with its QMP monitor and its
//! qtest channel on socketpairs, exactly as python/qemu starts it, and its
//! standard output and error go to a log file that
//! [`get_log`](Vm::get_log) returns after shutdown.
//!
//! The helpers iotests adds to the VM ([`qmp_log`](Vm::qmp_log),
//! [`run_job`](Vm::run_job), [`blockdev_create`](Vm::blockdev_create), …)
//! log exactly the text iotests logs, into the test's log. QMPTestCase's
//! assertions and waits are in [`testcase`].
//!
//! Nothing waits forever: launch, commands, events and shutdown all have
//! time limits, a VM whose QEMU ignores `quit` is killed, and QEMU dies with
//! the test process even when that is SIGKILLed (see [`crate::process`]).
//!
//! ```no_run
//! use iotests::{TestContext, env::TestEnv, vm::Vm};
//! use serde_json::json;
//!
//! let t = TestContext::new("example", TestEnv::from_process_env("qcow2"))?;
//! let mut vm = t.vm();
//! vm.add_blockdev("driver=null-co,node-name=null");
//! vm.launch()?;
//! vm.qmp_log("query-block-jobs", json!({}))?;
//! vm.shutdown()?;
//! assert_eq!(t.contents(), "{\"execute\": \"query-block-jobs\", \"arguments\": {}}\n{\"return\": []}\n");
//! # Ok::<(), iotests::Error>(())
//! ```

mod args;
pub mod firmware;
mod helpers;
mod machine;
mod monitor;
mod opts;
pub(crate) mod pyval;
mod run_job;
mod state;
pub mod testcase;

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use crate::context::TestContext;
use crate::env::TestEnv;
use crate::log::Log;
use crate::process::ProcessRegistry;

pub use crate::qmp::{Wait, event_match};
pub use args::{DriveFile, OptList};
pub use helpers::{flatten_qmp_object, qmp_to_opts};
pub use machine::DEFAULT_SHUTDOWN_TIMEOUT;
pub use monitor::DEFAULT_EVENT_TIMEOUT;
pub use opts::{
    BlockdevCreate, CancelAndWait, CompleteAndWait, Drive, EventWait, GetBitmap, HmpQemuIo, PauseJob, PreFinalize,
    RunJobOptions, WaitUntilCompleted,
};

/// A failed VM operation, with python/qemu's wording where it has one.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// QEMU did not come up (python/qemu's `VMLaunchFailure`). The text is
    /// python's: the cause, then the exit code, command line and output.
    #[error(
        "{cause}\n{}\tCommand: {command}\n\tOutput: {}\n",
        exitcode.map(|c| format!("\tExit code: {c}\n")).unwrap_or_default(),
        output.as_deref().unwrap_or("None")
    )]
    LaunchFailure {
        /// Why the launch failed (the underlying error's text).
        cause: String,
        /// QEMU's exit code (`-N` for signal `N`), if it exited.
        exitcode: Option<i32>,
        /// The whole command line, space-joined.
        command: String,
        /// Everything QEMU printed, if it could be read.
        output: Option<String>,
    },

    /// `launch()` on a VM that is running.
    #[error("VM already launched")]
    AlreadyLaunched,

    /// A QMP command on a VM that has no QMP connection (not launched, shut
    /// down, or launched without a monitor).
    #[error("Attempt to access QMP with no connection")]
    NoQmp,

    /// `qtest()` on a VM that is not running.
    #[error("qtest socket not available")]
    NoQtest,

    /// The qtest channel failed.
    #[error("qtest: {0}")]
    Qtest(String),

    /// A graceful shutdown was requested but QEMU had to be killed
    /// (python/qemu's `AbnormalShutdown`). `cause` says why.
    #[error("Could not perform graceful shutdown: {cause}{}", log_note(log))]
    AbnormalShutdown {
        /// What went wrong with the soft shutdown.
        cause: String,
        /// QEMU's output.
        log: String,
    },
}

fn log_note(log: &str) -> String {
    if log.is_empty() { String::new() } else { format!("\n--- QEMU output ---\n{log}") }
}

/// One QEMU VM: iotests' `VM(path_suffix)`.
///
/// Build its command line, [`launch`](Vm::launch) it, talk to it over QMP
/// and qtest, shut it down. Dropping a running VM shuts it down (softly,
/// for a few seconds, then by SIGKILL).
///
/// A `Vm` may move between threads (launch it in a scoped thread, use it
/// after the join): QEMU dies with the test *process*, not with the thread
/// that launched it (see [`crate::process`]).
///
/// ```no_run
/// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("qcow2"))?;
/// use iotests::vm::Vm;
/// let mut vm = t.vm_with("a");
/// vm.add_drive_with(&t.file_path("disk.img"), "node-name=disk");
/// vm.launch()?;
/// let status = vm.cmd("query-status", ())?;
/// assert_eq!(status["status"], "running");
/// vm.shutdown()?;
/// # Ok::<(), iotests::Error>(())
/// ```
#[derive(Debug)]
pub struct Vm {
    env: Arc<TestEnv>,
    log: Log,
    registry: Arc<ProcessRegistry>,
    test_dir: String,

    /// `qemu<suffix>-<pid>`: names the log file.
    name: String,
    /// `QEMU_OPTIONS` followed by what the builder methods added.
    args: Vec<String>,
    /// Arguments put before the base arguments ([`Vm::prepend_base_args`]).
    base_args_prefix: Vec<String>,
    machine: Option<String>,
    qmp_set: bool,
    /// Whether QEMU gets the qtest channel (`QEMUQtestMachine`, iotests'
    /// `VM`) or not (a plain `QEMUMachine`).
    qtest_set: bool,
    num_drives: usize,
    /// Descriptors given to [`Vm::add_fd`]; kept open so that a relaunch
    /// passes them again.
    pass_fds: Vec<OwnedFd>,
    /// Time allowed for QEMU to greet on QMP after it started.
    qmp_timer: Duration,

    /// The whole command line of the last launch.
    full_args: Vec<String>,
    /// Configured, running or stopped, with what each holds.
    state: state::State,
}

impl Vm {
    /// iotests' `VM(path_suffix)`: a VM of this test, not yet launched, whose
    /// arguments start with `QEMU_OPTIONS`. Made by [`TestContext::vm`] and
    /// [`TestContext::vm_with`].
    pub(crate) fn new(t: &TestContext, path_suffix: &str) -> Vm {
        Vm {
            env: t.env_arc(),
            log: t.logger().clone(),
            registry: Arc::clone(t.processes()),
            test_dir: t.test_dir().to_string(),
            name: format!("qemu{path_suffix}-{}", std::process::id()),
            args: t.env().qemu_opts().to_vec(),
            base_args_prefix: Vec::new(),
            machine: None,
            qmp_set: true,
            qtest_set: true,
            num_drives: 0,
            pass_fds: Vec::new(),
            qmp_timer: Duration::from_secs(15),
            full_args: Vec::new(),
            state: state::State::Configured,
        }
    }

    /// python/qemu's `QEMUMachine(iotests.qemu_prog)`: see
    /// [`TestContext::qemu_machine`].
    pub(crate) fn qemu_machine(t: &TestContext) -> Vm {
        let mut vm = Vm::new(t, "");
        vm.args.clear();
        vm.qtest_set = false;
        vm.qmp_timer = Duration::from_secs(30);
        vm
    }

    /// Whether the VM has the qtest channel ([`Vm::qtest`]): true for
    /// iotests' `VM`, false for a [`TestContext::qemu_machine`].
    pub fn has_qtest(&self) -> bool {
        self.qtest_set
    }

    /// The VM's name, `qemu<suffix>-<pid>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The extra arguments given to QEMU (python's `vm.args`): `QEMU_OPTIONS`
    /// and everything the builder methods added.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The extra arguments, to edit (python's `vm._args`).
    pub fn args_mut(&mut self) -> &mut Vec<String> {
        &mut self.args
    }

    /// The whole command line of the last launch (python's
    /// `_qemu_full_args`), empty before the first launch.
    pub fn full_args(&self) -> &[String] {
        &self.full_args
    }

    /// The environment the VM was made in.
    pub fn env(&self) -> &TestEnv {
        &self.env
    }

    /// The test's log, which the VM's helpers write to.
    pub fn logger(&self) -> &Log {
        &self.log
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if self.state.is_launched() {
            // Errors have nowhere to go from here; the signal warning, if
            // any, is still printed.
            let _ = self.shutdown_with(false, machine::DROP_SHUTDOWN_TIMEOUT);
        }
    }
}

impl TestContext {
    /// iotests' `VM()`: a VM of this test, not yet launched, whose
    /// arguments start with `QEMU_OPTIONS`.
    ///
    /// ```
    /// let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    /// let vm = t.vm();
    /// assert_eq!(vm.name(), format!("qemu-{}", std::process::id()));
    /// assert_eq!(vm.args(), t.env().qemu_opts());
    /// ```
    pub fn vm(&self) -> Vm {
        Vm::new(self, "")
    }

    /// iotests' `VM(path_suffix)`: a VM whose log and socket names carry
    /// the suffix, for tests with several VMs (`VM('a')`, `VM('b')`).
    ///
    /// ```
    /// let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    /// assert_eq!(t.vm_with("b").name(), format!("qemub-{}", std::process::id()));
    /// ```
    pub fn vm_with(&self, path_suffix: &str) -> Vm {
        Vm::new(self, path_suffix)
    }

    /// python/qemu's `QEMUMachine(iotests.qemu_prog)`: a plain machine,
    /// not iotests' `VM` — its arguments do not start with `QEMU_OPTIONS`,
    /// it has no qtest channel (no `-qtest`, no `-accel qtest`) and QEMU has
    /// 30 s (python/qemu's default `qmp_timer`) to greet on QMP. Everything
    /// else (builders, QMP, helpers, shutdown) is as for [`TestContext::vm`].
    ///
    /// ```
    /// let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    /// let mut vm = t.qemu_machine();
    /// vm.add_args(["-accel", "tcg"]);
    /// assert_eq!(vm.args(), ["-accel", "tcg"]);
    /// assert!(!vm.has_qtest());
    /// ```
    pub fn qemu_machine(&self) -> Vm {
        Vm::qemu_machine(self)
    }
}
