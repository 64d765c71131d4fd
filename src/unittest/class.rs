//! Classes and suites: what `unittest.main()` finds in a test module.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use super::report::{Reporter, SuiteResult};
use super::{Case, TestCase};
use crate::context::TestContext;
use crate::error::Result;

type MethodFn<C> = Arc<dyn Fn(&mut C, &Case<'_>) -> Result<()> + Send + Sync>;
type SkipFn = Arc<dyn Fn(&Case<'_>) -> Option<String> + Send + Sync>;

/// One `test*` method of class `C`, with its unittest decorators
/// (`skip*`, `expectedFailure`) and docstring. Made by
/// [`#[iotests::test_case]`](crate::test_case).
pub struct TestMethod<C> {
    name: Cow<'static, str>,
    call: MethodFn<C>,
    skips: Vec<SkipFn>,
    expected_failure: bool,
    doc: Option<&'static str>,
}

impl<C> Clone for TestMethod<C> {
    fn clone(&self) -> Self {
        TestMethod {
            name: self.name.clone(),
            call: Arc::clone(&self.call),
            skips: self.skips.clone(),
            expected_failure: self.expected_failure,
            doc: self.doc,
        }
    }
}

impl<C> std::fmt::Debug for TestMethod<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestMethod")
            .field("name", &self.name)
            .field("expected_failure", &self.expected_failure)
            .finish()
    }
}

impl<C: 'static> TestMethod<C> {
    /// Method `name`, calling `call`. The name may be made at run time,
    /// as Python's `setattr(klass, 'test_' + suffix, f)` makes it (see
    /// [`ClassOf::method`]).
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        call: impl Fn(&mut C, &Case<'_>) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        TestMethod { name: name.into(), call: Arc::new(call), skips: Vec::new(), expected_failure: false, doc: None }
    }

    /// unittest's `@skip`/`@skipIf`/`@skipUnless`: `reason` returns why to
    /// skip (before `setUp`), or `None` to run.
    pub fn skip_when(mut self, reason: impl Fn(&Case<'_>) -> Option<String> + Send + Sync + 'static) -> Self {
        self.skips.push(Arc::new(reason));
        self
    }

    /// unittest's `@expectedFailure`.
    pub fn expected_failure(mut self) -> Self {
        self.expected_failure = true;
        self
    }

    /// The docstring's first line (`shortDescription()`).
    pub fn doc(mut self, doc: &'static str) -> Self {
        self.doc = Some(doc);
        self
    }

    /// The method name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same method on a subclass `D` whose base part `base` reaches.
    pub fn inherit<D: 'static>(self, base: fn(&mut D) -> &mut C) -> TestMethod<D> {
        let call = self.call;
        TestMethod {
            name: self.name,
            call: Arc::new(move |d: &mut D, t: &Case<'_>| call(base(d), t)),
            skips: self.skips,
            expected_failure: self.expected_failure,
            doc: self.doc,
        }
    }

    /// Python's `test_x = None` in a subclass: drop inherited methods.
    ///
    /// # Panics
    ///
    /// When a name is not among `methods` (a typo in the test's source,
    /// reported when the suite is built).
    pub fn remove(methods: &mut Vec<TestMethod<C>>, names: &[&str], class: &str) {
        for name in names {
            let before = methods.len();
            methods.retain(|m| m.name != *name);
            assert!(before != methods.len(), "{class}: `without` names {name}, which it does not inherit");
        }
    }

    pub(super) fn skip_reason(&self, t: &Case<'_>) -> Option<String> {
        self.skips.iter().find_map(|s| s(t))
    }

    pub(super) fn call(&self, c: &mut C, t: &Case<'_>) -> Result<()> {
        (self.call)(c, t)
    }

    pub(super) fn is_expected_failure(&self) -> bool {
        self.expected_failure
    }

    pub(super) fn docstring(&self) -> Option<&'static str> {
        self.doc
    }
}

/// Class attributes set on an instance (see [`ClassOf::attrs`]).
pub(super) type Attrs<C> = Arc<dyn Fn(&mut C) + Send + Sync>;

/// Class `C` under a name, with class attributes set and inherited methods
/// removed: Python's `class Name(C): attr = value; test_x = None`. Built
/// by `iotest!` from `Name: C { attr: value } without [test_x]`, or by hand
/// for classes made in a loop (upstream 118's `type(name, (case,), attr)`).
///
/// ```
/// use iotests::unittest::{Case, ClassOf, TestCase, TestMethod};
/// #[derive(Default)]
/// struct TestA { size: u64 }
/// impl TestCase for TestA {
///     fn new(_t: &Case) -> iotests::Result<Self> { Ok(TestA { size: 1 }) }
///     fn test_methods() -> Vec<TestMethod<Self>> {
///         vec![TestMethod::new("test_size", |s: &mut TestA, t: &Case| { t.print(s.size.to_string()); Ok(()) }),
///              TestMethod::new("test_other", |_: &mut TestA, _: &Case| Ok(()))]
///     }
/// }
/// let class = ClassOf::<TestA>::new("TestAZero").attrs(|c| c.size = 0).without(&["test_other"]);
/// let suite = iotests::unittest::Suite::new(vec![class.into()]);
/// assert_eq!(suite.case_ids(), ["TestAZero.test_size"]);
/// ```
pub struct ClassOf<C> {
    name: String,
    methods: Vec<TestMethod<C>>,
    attrs: Vec<Attrs<C>>,
}

impl<C: TestCase> ClassOf<C> {
    /// Class `C` named `name`, with all its test methods.
    pub fn new(name: impl Into<String>) -> Self {
        ClassOf { name: name.into(), methods: C::test_methods(), attrs: Vec::new() }
    }

    /// Python's `setattr(klass, m.name, function)` before `unittest.main()`:
    /// add test method `m` (replacing one of the same name), e.g. cases
    /// generated in a loop with their parameters (upstream
    /// migrate-bitmaps-test's `inject_test_case`).
    ///
    /// ```
    /// use iotests::unittest::{Case, ClassOf, Suite, TestCase, TestMethod};
    /// #[derive(Default)]
    /// struct TestA;
    /// impl TestA {
    ///     fn do_test(&mut self, t: &Case, n: u32) -> iotests::Result<()> { t.print(n.to_string()); Ok(()) }
    /// }
    /// impl TestCase for TestA {
    ///     fn new(_t: &Case) -> iotests::Result<Self> { Ok(TestA) }
    ///     fn test_methods() -> Vec<TestMethod<Self>> { vec![] }
    /// }
    /// let mut class = ClassOf::<TestA>::new("TestA");
    /// for n in [2, 1] {
    ///     class = class.method(TestMethod::new(format!("test_do_test_{n}"), move |s: &mut TestA, t: &Case| s.do_test(t, n)));
    /// }
    /// let suite = Suite::new(vec![class.into()]);
    /// assert_eq!(suite.case_ids(), ["TestA.test_do_test_1", "TestA.test_do_test_2"]);
    /// ```
    pub fn method(mut self, m: TestMethod<C>) -> Self {
        self.methods.retain(|old| old.name != m.name);
        self.methods.push(m);
        self
    }

    /// Set class attributes on each instance after `new`, before `setUp`.
    pub fn attrs(mut self, f: impl Fn(&mut C) + Send + Sync + 'static) -> Self {
        self.attrs.push(Arc::new(f));
        self
    }

    /// Python's `test_x = None`: drop these methods.
    ///
    /// # Panics
    ///
    /// When a name is not a method of the class.
    pub fn without(mut self, names: &[&str]) -> Self {
        TestMethod::remove(&mut self.methods, names, &self.name);
        self
    }
}

impl<C: TestCase> From<ClassOf<C>> for Class {
    fn from(c: ClassOf<C>) -> Class {
        let attrs: Arc<[Attrs<C>]> = c.attrs.into();
        let cases = c
            .methods
            .into_iter()
            .map(|m| {
                let attrs = Arc::clone(&attrs);
                let name = m.name.clone();
                let doc = m.docstring();
                let run: CaseFn = Arc::new(move |ctx: &TestContext, class: &str, r: &Mutex<Reporter>| {
                    let case = Case::in_run(ctx, class, m.name(), doc, r);
                    super::run::run_case::<C>(&case, &m, &attrs);
                });
                (name, run)
            })
            .collect();
        Class {
            name: c.name,
            cases,
            set_up_class: Arc::new(|t| C::set_up_class(t)),
            tear_down_class: Arc::new(|t| C::tear_down_class(t)),
        }
    }
}

type CaseFn = Arc<dyn Fn(&TestContext, &str, &Mutex<Reporter>) + Send + Sync>;
type ClassFixture = Arc<dyn Fn(&Case<'_>) -> Result<()> + Send + Sync>;

/// A class of a suite, whatever its Rust type: see [`ClassOf`].
#[derive(Clone)]
pub struct Class {
    name: String,
    cases: Vec<(Cow<'static, str>, CaseFn)>,
    set_up_class: ClassFixture,
    tear_down_class: ClassFixture,
}

impl std::fmt::Debug for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Class").field("name", &self.name).field("cases", &self.case_names()).finish()
    }
}

impl Class {
    /// Class `C` under its own name.
    pub fn new<C: TestCase>(name: impl Into<String>) -> Class {
        ClassOf::<C>::new(name).into()
    }

    /// The class name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The case names, in run order.
    pub fn case_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.cases.iter().map(|(n, _)| n.as_ref()).collect();
        v.sort_unstable();
        v
    }
}

/// `setUpModule` / `tearDownModule` (see [`Suite::set_up_module`]).
pub type ModuleFixture = Arc<dyn Fn(&Case<'_>) -> Result<()> + Send + Sync>;

/// A test's classes: what `unittest.main()` finds in the module, with the
/// module's `setUpModule` / `tearDownModule` if it defines them.
///
/// ```
/// use iotests::unittest::{Case, Class, Suite, TestCase, TestMethod};
/// struct TestB;
/// impl TestCase for TestB {
///     fn new(_t: &Case) -> iotests::Result<Self> { Ok(TestB) }
///     fn test_methods() -> Vec<TestMethod<Self>> {
///         vec![TestMethod::new("test_y", |_: &mut TestB, t: &Case| { t.print("y"); Ok(()) }),
///              TestMethod::new("test_x", |_: &mut TestB, t: &Case| Err(t.skip_test("no")))]
///     }
/// }
/// let suite = Suite::new(vec![Class::new::<TestB>("TestB")]);
/// assert_eq!(suite.case_ids(), ["TestB.test_x", "TestB.test_y"]);
/// let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
/// let result = suite.run(&t, None);
/// assert!(result.was_successful());
/// assert_eq!(t.contents(), ".y\n.\n----------------------------------------------------------------------\nRan 2 tests\n\nOK\n");
/// # Ok::<(), iotests::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Suite {
    classes: Vec<Class>,
    set_up_module: Option<ModuleFixture>,
    tear_down_module: Option<ModuleFixture>,
}

impl std::fmt::Debug for Suite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suite")
            .field("classes", &self.classes)
            .field("set_up_module", &self.set_up_module.is_some())
            .field("tear_down_module", &self.tear_down_module.is_some())
            .finish()
    }
}

impl Suite {
    /// A suite of `classes` (any order: they run sorted by name, their
    /// cases too, as `unittest.TestLoader` sorts them).
    pub fn new(classes: Vec<Class>) -> Suite {
        let mut suite = Suite::default();
        suite.extend(classes);
        suite
    }

    /// Add a class (it takes its place in name order).
    pub fn push(&mut self, class: Class) {
        let mut class = class;
        class.cases.sort_by(|a, b| a.0.cmp(&b.0));
        let at = self.classes.partition_point(|c| c.name <= class.name);
        self.classes.insert(at, class);
    }

    /// Add classes (see [`push`](Suite::push)).
    pub fn extend(&mut self, classes: impl IntoIterator<Item = Class>) {
        for class in classes {
            self.push(class);
        }
    }

    /// The module's `setUpModule()`: runs once before the first case (not
    /// at all when there are none). An error is reported as `setUpModule
    /// (__main__)` (`E`, or a skip) and then no case runs, no class fixture
    /// and no `tearDownModule` either, as in unittest.
    ///
    /// ```
    /// use iotests::unittest::{Case, Class, Suite, TestCase, TestMethod};
    /// struct TestM;
    /// impl TestCase for TestM {
    ///     fn new(_t: &Case) -> iotests::Result<Self> { Ok(TestM) }
    ///     fn test_methods() -> Vec<TestMethod<Self>> {
    ///         vec![TestMethod::new("test_m", |_: &mut TestM, t: &Case| { t.print("case"); Ok(()) })]
    ///     }
    /// }
    /// let mut suite = Suite::new(vec![Class::new::<TestM>("TestM")]);
    /// suite.set_up_module(|t| { t.print("module up"); Ok(()) });
    /// suite.tear_down_module(|t| { t.print("module down"); Ok(()) });
    /// let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// assert!(suite.run(&t, None).was_successful());
    /// assert!(t.contents().starts_with("module up\ncase\n.module down\n"));
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn set_up_module(&mut self, f: impl Fn(&Case<'_>) -> Result<()> + Send + Sync + 'static) -> &mut Suite {
        self.set_up_module = Some(Arc::new(f));
        self
    }

    /// The module's `tearDownModule()`: runs once after the last class's
    /// `tearDownClass` when `setUpModule` went well; an error is reported
    /// as `tearDownModule (__main__)`.
    pub fn tear_down_module(&mut self, f: impl Fn(&Case<'_>) -> Result<()> + Send + Sync + 'static) -> &mut Suite {
        self.tear_down_module = Some(Arc::new(f));
        self
    }

    /// `Class.test_x` for every case, in run order.
    pub fn case_ids(&self) -> Vec<String> {
        self.classes.iter().flat_map(|c| c.cases.iter().map(move |(m, _)| format!("{}.{m}", c.name))).collect()
    }

    /// Run every case in `ctx`, reporting into its log (and, when `verbose`
    /// is given, unittest's verbosity-2 lines into it).
    pub fn run(&self, ctx: &TestContext, verbose: Option<Box<dyn std::io::Write + Send>>) -> SuiteResult {
        let reporter = Mutex::new(Reporter::new(ctx.logger().clone(), ctx.name(), verbose));
        // unittest handles the module fixtures on the way to the first case
        // and after the last: without cases there are none.
        let has_cases = self.classes.iter().any(|c| !c.cases.is_empty());
        let module = Case::in_run(ctx, "", "", None, &reporter);
        let module_set_up = match (&self.set_up_module, has_cases) {
            (Some(f), true) => super::run::module_fixture(&module, "setUpModule", &**f),
            _ => true,
        };
        if module_set_up {
            for class in &self.classes {
                if class.cases.is_empty() {
                    continue;
                }
                let fixture = Case::in_run(ctx, &class.name, "", None, &reporter);
                if !super::run::class_fixture(&fixture, "setUpClass", &*class.set_up_class) {
                    continue;
                }
                for (_, run) in &class.cases {
                    run(ctx, &class.name, &reporter);
                }
                super::run::class_fixture(&fixture, "tearDownClass", &*class.tear_down_class);
            }
            if let (Some(f), true) = (&self.tear_down_module, has_cases) {
                super::run::module_fixture(&module, "tearDownModule", &**f);
            }
        }
        drop(module);
        reporter.into_inner().unwrap_or_else(|e| e.into_inner()).finish()
    }
}
