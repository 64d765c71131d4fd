//! One test's world.
//!
//! iotests.py keeps its state in module globals: the environment, the
//! scratch directory, the log handler, the list of files to remove at exit.
//! Here a [`TestContext`] owns all of it, so the tests of one test binary can
//! run as parallel threads: each has its own scratch and socket directories,
//! its own log buffer and its own set of child processes, all cleaned up when
//! the context is dropped — also when the test panics, and when the test
//! process is stopped by SIGTERM, SIGINT or SIGHUP (see [`crate::cleanup`]).
//!
//! Scratch file names are `<dir>/<pid>-<name>` exactly as iotests makes them,
//! so after [`filters::testfiles`](crate::filters) they render as
//! `TEST_DIR/PID-<name>`. Tests in one process share the PID; they do not
//! collide because each context has directories of its own.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::env::TestEnv;
use crate::error::{Error, Result};
use crate::filters::Scope;
use crate::log::{Log, LogOpts, Msg};
use crate::process::ProcessRegistry;

/// The longest `TMPDIR` that holds a test's temporary socket directory:
/// `<TMPDIR>/iot-sock-XXXXXX/<pid>-<name>` must leave room for socket
/// names of about 40 bytes within the 107 a UNIX socket path may have.
pub const MAX_SOCK_ROOT_LEN: usize = 40;

/// A test's environment view, scratch space, log and processes.
///
/// ```
/// use iotests::{TestContext, env::TestEnv};
/// let t = TestContext::new("example", TestEnv::from_process_env("raw")).unwrap();
/// let img = t.file_path("disk.img");
/// assert_eq!(img, format!("{}/{}-disk.img", t.test_dir(), std::process::id()));
/// t.log(format!("created {img}"));
/// t.log_with(format!("created {img}"), &[iotests::Filter::Testfiles]);
/// assert!(t.contents().ends_with("created TEST_DIR/PID-disk.img\n"));
/// ```
#[derive(Debug)]
pub struct TestContext {
    name: String,
    env: Arc<TestEnv>,
    test_dir: String,
    sock_dir: String,
    scratch: Vec<tempfile::TempDir>,
    log: Log,
    processes: Arc<ProcessRegistry>,
    files: Mutex<Vec<String>>,
    /// The scratch directories, for removal on a signal (after `scratch`:
    /// dropped once the directories are gone).
    _on_signal: Vec<crate::cleanup::Registered>,
}

impl TestContext {
    /// Create the context of test `name`: scratch and socket directories
    /// (under `TEST_DIR` / `SOCK_DIR` when set, else temporary ones in
    /// `TMPDIR`), an empty log, no processes.
    ///
    /// A UNIX socket path holds at most 107 bytes, so the temporary socket
    /// directory goes to `/tmp` instead when `TMPDIR` is longer than
    /// [`MAX_SOCK_ROOT_LEN`].
    pub fn new(name: &str, env: TestEnv) -> Result<TestContext> {
        let safe: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        let mk = |root: &Path, prefix: &str| {
            std::fs::create_dir_all(root).map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
            tempfile::Builder::new()
                .prefix(prefix)
                .tempdir_in(root)
                .map_err(|e| Error::io(format!("creating a scratch directory for {name} in {}", root.display()), e))
        };
        crate::cleanup::install_signal_cleanup();
        let tmp = env.tmp_dir.as_path();
        let sock_tmp = if tmp.as_os_str().len() <= MAX_SOCK_ROOT_LEN { tmp } else { Path::new("/tmp") };
        let test_dir = mk(env.test_dir_root.as_deref().unwrap_or(tmp), &format!("iotests-{safe}-"))?;
        let sock_dir = mk(env.sock_dir_root.as_deref().unwrap_or(sock_tmp), "iot-sock-")?;
        let on_signal = if env.keep_scratch {
            Vec::new()
        } else {
            [&test_dir, &sock_dir].map(|d| crate::cleanup::register_scratch(d.path())).into()
        };
        let path_str = |d: &tempfile::TempDir| d.path().to_string_lossy().into_owned();
        let scope = Scope {
            test_dir: path_str(&test_dir),
            sock_dir: path_str(&sock_dir),
            pid: std::process::id(),
            imgfmt: env.imgfmt.clone(),
        };
        Ok(TestContext {
            name: name.to_string(),
            test_dir: scope.test_dir.clone(),
            sock_dir: scope.sock_dir.clone(),
            log: Log::new(scope, env.debug),
            env: Arc::new(env),
            scratch: vec![test_dir, sock_dir],
            processes: Arc::new(ProcessRegistry::default()),
            files: Mutex::new(Vec::new()),
            _on_signal: on_signal,
        })
    }

    /// The test's name (`206`, `iothreads-stream`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The resolved environment.
    pub fn env(&self) -> &TestEnv {
        &self.env
    }

    /// A shared handle on the environment, for VMs and daemons.
    pub fn env_arc(&self) -> Arc<TestEnv> {
        Arc::clone(&self.env)
    }

    /// `iotests.imgfmt`.
    pub fn imgfmt(&self) -> &str {
        &self.env.imgfmt
    }

    /// `iotests.imgproto`.
    pub fn imgproto(&self) -> &str {
        &self.env.imgproto
    }

    /// `iotests.cachemode`.
    pub fn cachemode(&self) -> &str {
        &self.env.cachemode
    }

    /// `iotests.aiomode`.
    pub fn aiomode(&self) -> &str {
        &self.env.aiomode
    }

    /// `iotests.test_dir`: this test's scratch directory.
    pub fn test_dir(&self) -> &str {
        &self.test_dir
    }

    /// `iotests.sock_dir`: this test's socket directory.
    pub fn sock_dir(&self) -> &str {
        &self.sock_dir
    }

    /// The log sink (a cheap, shareable handle).
    pub fn logger(&self) -> &Log {
        &self.log
    }

    /// The processes this test started.
    pub fn processes(&self) -> &Arc<ProcessRegistry> {
        &self.processes
    }

    /// iotests' `log(msg)`.
    pub fn log(&self, msg: impl Into<Msg>) {
        self.log.log(msg)
    }

    /// iotests' `log(msg, filters=…, indent=…)`: the options are a
    /// [`LogOpts`] or just the filters.
    ///
    /// ```
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    /// use iotests::{Filter, log::LogOpts};
    /// t.log_with(t.file_path("x"), &[Filter::Testfiles]);
    /// t.log_with(serde_json::json!({"a": 1}), LogOpts { indent: Some(2), ..Default::default() });
    /// assert_eq!(t.contents(), "TEST_DIR/PID-x\n{\n  \"a\": 1\n}\n");
    /// ```
    pub fn log_with<'a>(&self, msg: impl Into<Msg>, opts: impl Into<LogOpts<'a>>) {
        let LogOpts { filters, indent } = opts.into();
        self.log.log_with(msg, filters, indent)
    }

    /// Python's `print(text)` in a test: into the log, unfiltered.
    pub fn print(&self, text: impl AsRef<str>) {
        self.log.print(text)
    }

    /// Everything logged so far: what the snapshot will hold.
    pub fn contents(&self) -> String {
        self.log.contents()
    }

    /// iotests' `file_pattern(name)`: `<pid>-<name>`.
    pub fn file_pattern(&self, name: &str) -> String {
        format!("{}-{}", std::process::id(), name)
    }

    /// iotests' `file_path(name)`: a path in the scratch directory, removed
    /// when the test ends.
    pub fn file_path(&self, name: &str) -> String {
        self.file_path_in(&self.test_dir, name)
    }

    /// iotests' `file_path(*names)` for several names at once.
    ///
    /// ```
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    /// let [a, b] = t.file_paths(["a.img", "b.img"]);
    /// assert!(a.ends_with("-a.img") && b.ends_with("-b.img"));
    /// ```
    pub fn file_paths<const N: usize>(&self, names: [&str; N]) -> [String; N] {
        names.map(|n| self.file_path(n))
    }

    /// iotests' `file_path(name, base_dir=sock_dir)`.
    pub fn sock_path(&self, name: &str) -> String {
        self.file_path_in(&self.sock_dir, name)
    }

    /// iotests' `file_path(name, base_dir=dir)`.
    pub fn file_path_in(&self, base_dir: &str, name: &str) -> String {
        let path = crate::os::path::join(base_dir, self.file_pattern(name));
        self.files.lock().unwrap_or_else(|e| e.into_inner()).push(path.clone());
        path
    }

    /// iotests' `FilePath(*names)`: paths removed when the guard drops.
    ///
    /// ```
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    /// let path = {
    ///     let f = t.scoped_file_paths(["tmp.img"]);
    ///     std::fs::write(&f[0], b"x").unwrap();
    ///     f[0].clone()
    /// };
    /// assert!(!std::path::Path::new(&path).exists());
    /// ```
    pub fn scoped_file_paths<const N: usize>(&self, names: [&str; N]) -> FilePath<N> {
        FilePath { paths: names.map(|n| crate::os::path::join(&self.test_dir, self.file_pattern(n))) }
    }

    /// [`scoped_file_paths`](Self::scoped_file_paths) with `base_dir`.
    pub fn scoped_file_paths_in<const N: usize>(&self, base_dir: &str, names: [&str; N]) -> FilePath<N> {
        FilePath { paths: names.map(|n| crate::os::path::join(base_dir, self.file_pattern(n))) }
    }
}

thread_local! {
    /// The test whose body runs on this thread (see [`TestContext::enter`]).
    static CURRENT: std::cell::RefCell<Option<Arc<TestContext>>> = const { std::cell::RefCell::new(None) };
}

/// Makes a test current on this thread until dropped: see
/// [`TestContext::enter`].
#[derive(Debug)]
#[must_use = "the test is current only while the guard lives"]
pub struct CurrentGuard {
    previous: Option<Arc<TestContext>>,
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

impl TestContext {
    /// Make this test the current one on this thread, so that
    /// [`globals`](crate::globals) (`test_dir()`, `imgfmt()`, … — iotests'
    /// module attributes) read it. The harness does this for the thread
    /// that runs a test's body; a test that starts threads of its own
    /// calls it on them.
    ///
    /// ```
    /// # let t = std::sync::Arc::new(iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap());
    /// let _current = t.enter();
    /// assert_eq!(iotests::globals::test_dir(), t.test_dir());
    /// ```
    pub fn enter(self: &Arc<Self>) -> CurrentGuard {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(Arc::clone(self)));
        CurrentGuard { previous }
    }

    /// The test current on this thread, if any (see [`enter`](Self::enter)).
    pub fn current() -> Option<Arc<TestContext>> {
        CURRENT.with(|c| c.borrow().clone())
    }
}

impl TestContext {
    /// Remove the scratch and socket directories now (unless
    /// `IOTESTS_KEEP_SCRATCH`), for a test whose body is stuck on a thread
    /// that will never drop the context.
    pub(crate) fn remove_scratch(&self) {
        self.processes.kill_all();
        if !self.env.keep_scratch {
            for d in &self.scratch {
                let _ = std::fs::remove_dir_all(d.path());
            }
        }
    }
}

/// iotests' `try_remove(path)`: remove a file, ignoring errors.
pub fn try_remove(path: impl AsRef<Path>) {
    let _ = std::fs::remove_file(path);
}

/// Scoped scratch paths (iotests' `FilePath`): each is removed on drop.
#[derive(Debug)]
pub struct FilePath<const N: usize> {
    paths: [String; N],
}

impl<const N: usize> std::ops::Deref for FilePath<N> {
    type Target = [String; N];
    fn deref(&self) -> &[String; N] {
        &self.paths
    }
}

impl<const N: usize> Drop for FilePath<N> {
    fn drop(&mut self) {
        for p in &self.paths {
            try_remove(p);
        }
    }
}

impl Drop for TestContext {
    fn drop(&mut self) {
        // Kill before removing files: a live QEMU may still hold them.
        self.processes.kill_all();
        let files = std::mem::take(&mut *self.files.lock().unwrap_or_else(|e| e.into_inner()));
        for f in files.iter().rev() {
            try_remove(f);
        }
        if self.env.keep_scratch {
            for d in self.scratch.drain(..) {
                let kept = d.keep();
                eprintln!("{}: scratch kept in {}", self.name, kept.display());
            }
        }
        // Otherwise the TempDirs remove themselves.
    }
}
