//! What a test declares about itself: everything iotests'
//! `execute_setup_common` takes, its `# group:` line, its kind and timeout.
//!
//! A [`TestSpec`] is built with `const fn` builder methods so that the
//! [`iotest!`](crate::iotest) macro can make it a `const` (each `key: value`
//! of the declaration becomes a `.key(value)` call).

use std::time::Duration;

use crate::context::TestContext;
use crate::error::Result;

/// What a test runs before its cases: see [`TestSpec::before_main`].
pub type BeforeMain = fn(&TestContext) -> Result<()>;

/// The shape of a test: iotests' `script_main` / `script_initialize`, or
/// `iotests.main()` running unittest classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKind {
    /// A script: its log, in order, is the output.
    Script,
    /// unittest-style: classes of `test_*` cases and the runner's summary.
    Unittest,
}

impl TestKind {
    /// `script` or `unittest`, as listed by [`TestSpec::describe`].
    pub fn as_str(self) -> &'static str {
        match self {
            TestKind::Script => "script",
            TestKind::Unittest => "unittest",
        }
    }
}

/// A test's declaration: the arguments of iotests' `execute_setup_common`
/// (every list empty means "no restriction", as in Python) plus the upstream
/// `# group:` line, the kind of test and an optional timeout.
///
/// ```
/// use iotests::harness::TestSpec;
/// const SPEC: TestSpec = TestSpec::new("152")
///     .groups(&["rw", "quick"])
///     .supported_fmts(&["raw", "qcow2"])
///     .supported_protocols(&["file"]);
/// assert_eq!(SPEC.default_fmt(), "raw");
/// assert!(SPEC.in_group("quick"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TestSpec {
    /// The upstream test's name (`209`, `iothreads-stream`): names the
    /// snapshot and the `.notrun` / `.casenotrun` files.
    pub name: &'static str,
    /// The groups of its `# group:` line (`rw`, `quick`, `auto`, …).
    pub groups: &'static [&'static str],
    /// Script or unittest-style.
    pub kind: TestKind,
    /// `supported_fmts` (may contain `generic`).
    pub supported_fmts: &'static [&'static str],
    /// `unsupported_fmts`.
    pub unsupported_fmts: &'static [&'static str],
    /// `supported_protocols` (may contain `generic`).
    pub supported_protocols: &'static [&'static str],
    /// `unsupported_protocols`.
    pub unsupported_protocols: &'static [&'static str],
    /// `supported_platforms` (prefixes of Python's `sys.platform`).
    pub supported_platforms: &'static [&'static str],
    /// `supported_cache_modes`.
    pub supported_cache_modes: &'static [&'static str],
    /// `supported_aio_modes`.
    pub supported_aio_modes: &'static [&'static str],
    /// `required_fmts`: formats QEMU must have in its rw whitelist.
    pub required_fmts: &'static [&'static str],
    /// `unsupported_imgopts`: substrings of `IMGOPTS` that rule the test out.
    pub unsupported_imgopts: &'static [&'static str],
    /// Time limit for the whole test; `None` means the default (see
    /// [`timeout`](crate::harness::timeout)).
    pub timeout: Option<Duration>,
    /// unittest-style only: keep `log()` output, as a test that calls
    /// `iotests.activate_logging()` before `iotests.main()` does.
    pub activate_logging: bool,
    /// unittest-style only: the module's code before `iotests.main(…)`
    /// that can refuse to run (`iotests.verify_quorum()`,
    /// `iotests.verify_working_luks()`). It runs on the test's thread after
    /// the declaration's checks and before the first class; an
    /// [`Error::NotRun`](crate::Error::NotRun) from it makes the test not
    /// run, any other error fails it. (Python runs it before main's checks:
    /// the two orders differ only in which reason a cell that fails both
    /// reports.)
    pub before_main: Option<BeforeMain>,
    /// The test is expected to fail on this machine, for this reason (a
    /// QEMU bug or limitation, with the evidence): it runs, and a failure or
    /// an output that differs from its reference is reported as an expected
    /// failure (`xfail`) instead of failing the run; output equal to the
    /// reference fails it, so that a stale `xfail` is noticed.
    pub xfail: Option<&'static str>,
    /// With [`xfail`](TestSpec::xfail): QEMU fails the test only some of
    /// the time here (a race in QEMU, not in the test), so an output equal to
    /// the reference passes instead of flagging a stale declaration; a failure
    /// or a differing output is still the expected failure, with the reason.
    pub xfail_intermittent: bool,
    /// Where the snapshot lives, relative to the crate's manifest directory
    /// (default `snapshots`, or `IOTESTS_SNAPSHOT_DIR`): the toolkit's own
    /// self-tests keep theirs out of the ported tests' directory.
    pub snapshot_dir: Option<&'static str>,
    /// The formats in which [`xfail`](TestSpec::xfail) applies; empty
    /// means all. A test that QEMU breaks in one format only (a LUKS bug)
    /// still has to pass in the others.
    pub xfail_fmts: &'static [&'static str],
}

impl TestSpec {
    /// A script-style test with no restrictions.
    pub const fn new(name: &'static str) -> TestSpec {
        TestSpec {
            name,
            groups: &[],
            kind: TestKind::Script,
            supported_fmts: &[],
            unsupported_fmts: &[],
            supported_protocols: &[],
            unsupported_protocols: &[],
            supported_platforms: &[],
            supported_cache_modes: &[],
            supported_aio_modes: &[],
            required_fmts: &[],
            unsupported_imgopts: &[],
            timeout: None,
            activate_logging: false,
            before_main: None,
            xfail: None,
            xfail_intermittent: false,
            snapshot_dir: None,
            xfail_fmts: &[],
        }
    }

    /// The `# group:` line.
    pub const fn groups(mut self, v: &'static [&'static str]) -> Self {
        self.groups = v;
        self
    }

    /// Script or unittest-style.
    pub const fn kind(mut self, v: TestKind) -> Self {
        self.kind = v;
        self
    }

    /// `supported_fmts=[…]`.
    pub const fn supported_fmts(mut self, v: &'static [&'static str]) -> Self {
        self.supported_fmts = v;
        self
    }

    /// `unsupported_fmts=[…]`.
    pub const fn unsupported_fmts(mut self, v: &'static [&'static str]) -> Self {
        self.unsupported_fmts = v;
        self
    }

    /// `supported_protocols=[…]`.
    pub const fn supported_protocols(mut self, v: &'static [&'static str]) -> Self {
        self.supported_protocols = v;
        self
    }

    /// `unsupported_protocols=[…]`.
    pub const fn unsupported_protocols(mut self, v: &'static [&'static str]) -> Self {
        self.unsupported_protocols = v;
        self
    }

    /// `supported_platforms=[…]`.
    pub const fn supported_platforms(mut self, v: &'static [&'static str]) -> Self {
        self.supported_platforms = v;
        self
    }

    /// `supported_cache_modes=[…]`.
    pub const fn supported_cache_modes(mut self, v: &'static [&'static str]) -> Self {
        self.supported_cache_modes = v;
        self
    }

    /// `supported_aio_modes=[…]`.
    pub const fn supported_aio_modes(mut self, v: &'static [&'static str]) -> Self {
        self.supported_aio_modes = v;
        self
    }

    /// `required_fmts=[…]`.
    pub const fn required_fmts(mut self, v: &'static [&'static str]) -> Self {
        self.required_fmts = v;
        self
    }

    /// `unsupported_imgopts=[…]`.
    pub const fn unsupported_imgopts(mut self, v: &'static [&'static str]) -> Self {
        self.unsupported_imgopts = v;
        self
    }

    /// A time limit in seconds for this test (instead of the default).
    pub const fn timeout(mut self, secs: u64) -> Self {
        self.timeout = Some(Duration::from_secs(secs));
        self
    }

    /// A time limit as a [`Duration`].
    pub const fn timeout_duration(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Keep `log()` output in a unittest-style test (`activate_logging()`).
    pub const fn activate_logging(mut self, v: bool) -> Self {
        self.activate_logging = v;
        self
    }

    /// Keep the snapshot in `dir` (relative to the manifest directory).
    pub const fn snapshot_dir(mut self, dir: &'static str) -> Self {
        self.snapshot_dir = Some(dir);
        self
    }

    /// Run `f` before the cases: see [`TestSpec::before_main`].
    ///
    /// ```
    /// use iotests::harness::TestSpec;
    /// const SPEC: TestSpec = TestSpec::new("148").before_main(|t| t.verify_quorum());
    /// assert!(SPEC.before_main.is_some());
    /// ```
    pub const fn before_main(mut self, f: BeforeMain) -> Self {
        self.before_main = Some(f);
        self
    }

    /// Expected to fail here, for `reason`: see [`TestSpec::xfail`].
    pub const fn xfail(mut self, reason: &'static str) -> Self {
        self.xfail = Some(reason);
        self
    }

    /// The declared `xfail` happens only some of the time: see
    /// [`TestSpec::xfail_intermittent`].
    ///
    /// ```
    /// use iotests::harness::TestSpec;
    /// const SPEC: TestSpec = TestSpec::new("x").xfail("a QEMU race").xfail_intermittent(true);
    /// assert!(SPEC.xfail_intermittent);
    /// ```
    pub const fn xfail_intermittent(mut self, v: bool) -> Self {
        self.xfail_intermittent = v;
        self
    }

    /// Limit [`xfail`](TestSpec::xfail) to these formats.
    pub const fn xfail_fmts(mut self, v: &'static [&'static str]) -> Self {
        self.xfail_fmts = v;
        self
    }

    /// The `xfail` reason that applies when the image format is `imgfmt`.
    ///
    /// ```
    /// use iotests::harness::TestSpec;
    /// const SPEC: TestSpec = TestSpec::new("295").xfail("QEMU aborts").xfail_fmts(&["luks"]);
    /// assert_eq!(SPEC.xfail_in("luks"), Some("QEMU aborts"));
    /// assert_eq!(SPEC.xfail_in("qcow2"), None);
    /// assert_eq!(TestSpec::new("x").xfail("always").xfail_in("raw"), Some("always"));
    /// ```
    pub fn xfail_in(&self, imgfmt: &str) -> Option<&'static str> {
        self.xfail.filter(|_| self.xfail_fmts.is_empty() || self.xfail_fmts.contains(&imgfmt))
    }

    /// The `xfail` reason that applies to this run: [`xfail_in`](Self::xfail_in)
    /// the format of `IMGFMT` (unset: [`default_fmt`](Self::default_fmt)).
    pub fn xfail_here(&self) -> Option<&'static str> {
        let imgfmt = std::env::var("IMGFMT").ok().filter(|f| !f.is_empty());
        self.xfail_in(imgfmt.as_deref().unwrap_or(self.default_fmt()))
    }

    /// The format used when `IMGFMT` is unset: the first supported format,
    /// or `raw` when the test takes any (`generic` or no list).
    ///
    /// ```
    /// use iotests::harness::TestSpec;
    /// assert_eq!(TestSpec::new("x").supported_fmts(&["qcow2", "raw"]).default_fmt(), "qcow2");
    /// assert_eq!(TestSpec::new("x").supported_fmts(&["generic"]).default_fmt(), "raw");
    /// ```
    pub fn default_fmt(&self) -> &'static str {
        match self.supported_fmts.first() {
            Some(&f) if f != "generic" => f,
            _ => "raw",
        }
    }

    /// Whether the `# group:` line names `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.contains(&group)
    }

    /// `check -g` / `-x`: selected when `include` is empty or shares a group
    /// with the test, and `exclude` shares none.
    ///
    /// ```
    /// use iotests::harness::TestSpec;
    /// let s = TestSpec::new("x").groups(&["rw", "quick"]);
    /// assert!(s.selected(&["quick".into()], &[]));
    /// assert!(!s.selected(&[], &["rw".into()]));
    /// assert!(!s.selected(&["migration".into()], &[]));
    /// ```
    pub fn selected(&self, include: &[String], exclude: &[String]) -> bool {
        let any = |list: &[String]| list.iter().any(|g| self.in_group(g));
        (include.is_empty() || any(include)) && !any(exclude)
    }

    /// One JSON line describing the test, for the CLI (see
    /// [`LIST_VAR`]): `test` is the Rust test path, `cases` the
    /// unittest-style `Class.test_name`s in run order.
    ///
    /// ```
    /// use iotests::harness::TestSpec;
    /// let j = TestSpec::new("209").groups(&["rw"]).supported_fmts(&["qcow2"]).describe("t209::main", &[]);
    /// assert_eq!(j["name"], "209");
    /// assert_eq!(j["kind"], "script");
    /// assert_eq!(j["supported_fmts"][0], "qcow2");
    /// ```
    pub fn describe(&self, test: &str, cases: &[String]) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "test": test,
            "kind": self.kind.as_str(),
            "groups": self.groups,
            "supported_fmts": self.supported_fmts,
            "unsupported_fmts": self.unsupported_fmts,
            "supported_protocols": self.supported_protocols,
            "unsupported_protocols": self.unsupported_protocols,
            "supported_platforms": self.supported_platforms,
            "supported_cache_modes": self.supported_cache_modes,
            "supported_aio_modes": self.supported_aio_modes,
            "required_fmts": self.required_fmts,
            "unsupported_imgopts": self.unsupported_imgopts,
            "timeout": self.timeout.map(|d| d.as_secs_f64()),
            "xfail": self.xfail,
            "xfail_intermittent": self.xfail_intermittent,
            "xfail_fmts": self.xfail_fmts,
            "cases": cases,
        })
    }
}

/// Set to `1`, a declared test does not run: it prints
/// `iotests-spec: <json>` (see [`TestSpec::describe`]) on stdout and passes.
/// `IOTESTS_LIST=1 cargo test --test iotests -- --nocapture` thus lists every
/// test with its groups and formats; the CLI selects on that and runs the
/// chosen ones by name.
///
/// The list comes from the test binary itself because the CLI is a separate
/// program: an in-process registry (`inventory`, `linkme`) would not reach
/// it, and no extra crate is needed this way.
pub const LIST_VAR: &str = "IOTESTS_LIST";

/// What precedes each description printed in list mode. libtest may have
/// printed `test <name> ... ` on the same line: look for it anywhere in a
/// line; the JSON runs to the end of that line.
pub const LIST_PREFIX: &str = "iotests-spec: ";

/// Comma-separated groups to run (`check -g`); others are skipped quietly.
pub const GROUP_VAR: &str = "IOTESTS_GROUP";

/// Comma-separated groups not to run (`check -x`).
pub const EXCLUDE_GROUP_VAR: &str = "IOTESTS_EXCLUDE_GROUP";

/// A comma-separated list from the environment; empty when unset.
pub(crate) fn env_list(var: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Python's `sys.platform` for this build (`linux`, `darwin`, `freebsd`…),
/// what `supported_platforms` prefixes are matched against.
pub fn python_platform() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        os => os,
    }
}
