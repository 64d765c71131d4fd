# The Python side of tests/harness_unittest.rs: upstream iotests.py's
# reproducible runner (verbatim) and unittest classes equivalent to the
# Rust ones there. Usage: python3 unittest_ref.py SUITE VERBOSITY
import os, re, sys, unittest
from typing import Any, Optional, TextIO, Type

# Upstream iotests.py's reproducible runner, verbatim.
class ReproducibleTestResult(unittest.TextTestResult):
    def addSkip(self, test, reason):
        # Same as TextTestResult, but print dot instead of "s"
        unittest.TestResult.addSkip(self, test, reason)
        if self.showAll:
            self.stream.writeln("skipped {0!r}".format(reason))
        elif self.dots:
            self.stream.write(".")
            self.stream.flush()

class ReproducibleStreamWrapper:
    def __init__(self, stream: TextIO):
        self.stream = stream

    def __getattr__(self, attr):
        if attr in ('stream', '__getstate__'):
            raise AttributeError(attr)
        return getattr(self.stream, attr)

    def write(self, arg=None):
        arg = re.sub(r'Ran (\d+) tests? in [\d.]+s', r'Ran \1 tests', arg)
        arg = re.sub(r' \(skipped=\d+\)', r'', arg)
        self.stream.write(arg)

class ReproducibleTestRunner(unittest.TextTestRunner):
    def __init__(
        self,
        stream: Optional[TextIO] = None,
        resultclass: Type[unittest.TextTestResult] =
        ReproducibleTestResult,
        **kwargs: Any
    ) -> None:
        rstream = ReproducibleStreamWrapper(stream or sys.stdout)
        super().__init__(stream=rstream,           # type: ignore
                         descriptions=True,
                         resultclass=resultclass,
                         **kwargs)

SUITE = sys.argv[1]
VERBOSITY = int(sys.argv[2])
IMGFMT = 'raw'
if VERBOSITY > 1:
    # The verbose lines go to their own stream in the Rust runner; the
    # cases' output goes to the log.
    print = lambda *a, **k: None

if SUITE == 'pass':
    class TestB(unittest.TestCase):
        def setUp(self): print("setUp", self._testMethodName)
        def tearDown(self): print("tearDown", self._testMethodName)
        def test_b(self): print("in test_b")
        def test_a(self): print("in test_a"); self.skipTest("not for raw")
    class TestA(unittest.TestCase):
        def test_z(self): pass
        def test_y(self): print("in test_y")

elif SUITE == 'fail':
    class TestF(unittest.TestCase):
        def tearDown(self):
            if self._testMethodName == 'test_fail_then_teardown_error':
                raise RuntimeError("teardown")
        def test_fail(self): self.fail("boom")
        def test_error(self): raise ValueError("bad")
        def test_exception(self): raise Exception("exception")
        def test_fail_then_teardown_error(self): self.assertTrue(False, "first")
        def test_ok(self): pass
        def test_skip(self): self.skipTest("it's skipped")
        def test_equal(self): self.assertEqual(1, 2, "numbers")
        def test_bare_assert(self): assert 1 > 2
        def test_file_not_found(self): os.remove('/nonexistent/iotests-harness-file')
    class TestSetUpFails(unittest.TestCase):
        def setUp(self): raise RuntimeError("setup")
        def tearDown(self): print("never")
        def test_one(self): print("never")

elif SUITE == 'inherit':
    class TestBase(unittest.TestCase):
        size = 1024
        name = 'base'
        def setUp(self):
            self.log = ['base setUp']
            print(f"{type(self).__name__}: setUp size={self.size} ({self.name})")
        def test_size(self): print(f"{type(self).__name__}: size {self.size}")
        def test_name(self): print(f"{type(self).__name__}: name {self.name}")
        def test_removed_later(self): print(f"{type(self).__name__}: still here")
    class TestDerived(TestBase):
        name = 'derived'
        def setUp(self):
            TestBase.setUp(self)
            self.extra = True
            print(f"{type(self).__name__}: derived setUp, log {self.log}")
        def test_extra(self): print(f"{type(self).__name__}: extra {self.extra}")
        def test_name(self): print(f"{type(self).__name__}: overridden name {self.name}")
        test_removed_later = None
    class TestBaseZero(TestBase):
        size = 0
        test_name = None
    class TestDerivedZero(TestDerived):
        size = 0
    def make_classes():
        for n, s in [(1, 'one'), (2, 'two')]:
            globals()[f'TestLoop_{s}'] = type(f'TestLoop_{s}', (TestBase,), {'size': n, 'name': s})
    make_classes()

elif SUITE == 'subclass_calls':
    class TestTray(unittest.TestCase):
        device_name = 'qdev0'
        def setUp(self):
            self.calls = []
        def test_cycle(self, read_only_node=False):
            self.calls.append(f"cycle {self.device_name} read_only_node={read_only_node}")
            print(', '.join(self.calls))
        def test_cycle_read_only_media(self):
            self.test_cycle(True)
    class TestTrayFloppy(TestTray):
        device_name = 'floppy0'
        def test_eject(self):
            self.calls.append(f"eject {self.device_name}")
            self.calls.append(f"{len(self.calls)} calls")
            print(', '.join(self.calls))

elif SUITE == 'decorators':
    class TestDecorated(unittest.TestCase):
        def setUp(self): print(f"setUp {self._testMethodName}")
        @unittest.skip("not today")
        def test_skip(self): print("never")
        @unittest.skipIf(IMGFMT == 'raw', "raw is not supported")
        def test_skip_if(self): print("never")
        @unittest.skipUnless(IMGFMT == 'raw', "only raw")
        def test_skip_unless(self): print("runs for raw")
        @unittest.expectedFailure
        def test_expected(self): self.assertEqual("a", "b")
        @unittest.expectedFailure
        def test_unexpected(self): pass
        def test_documented(self):
            """A docstring that shows in verbose mode.

            Only its first line.
            """

elif SUITE == 'subtests':
    class TestSub(unittest.TestCase):
        def test_params(self):
            for i in range(4):
                with self.subTest(i=i, name=f"n{i}"):
                    print(f"sub {i}")
                    self.assertEqual(i % 2, 0, "odd")
        def test_nested(self):
            with self.subTest("outer", a=1):
                with self.subTest("inner", b="x", a=2):
                    raise KeyError('k')
                with self.subTest():
                    self.skipTest("skipped inside")
        def test_all_pass(self):
            with self.subTest(x=None):
                pass
        @unittest.expectedFailure
        def test_expected_in_subtest(self):
            with self.subTest(i=1):
                self.fail("expected")
            print("never")

elif SUITE == 'classes':
    class TestA(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            print("setUpClass")
            raise RuntimeError("no class")
        def test_never(self): print("never")
    class TestB(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            raise unittest.SkipTest("whole class")
        def test_never(self): print("never")
    class TestC(unittest.TestCase):
        @classmethod
        def setUpClass(cls): print("setUpClass")
        @classmethod
        def tearDownClass(cls):
            print("tearDownClass")
            raise RuntimeError("late")
        def test_a(self): print("a")
        def test_b(self): print("b")

elif SUITE in ('module', 'module_fails', 'module_skips'):
    if SUITE == 'module':
        def setUpModule(): print("setUpModule")
        def tearDownModule():
            print("tearDownModule")
            raise RuntimeError("module late")
    elif SUITE == 'module_fails':
        def setUpModule():
            print("setUpModule")
            raise RuntimeError("no module")
        def tearDownModule(): print("never")
    else:
        def setUpModule(): raise unittest.SkipTest("whole module")
    class TestUser(unittest.TestCase):
        @classmethod
        def setUpClass(cls): print("setUpClass")
        @classmethod
        def tearDownClass(cls): print("tearDownClass")
        def test_a(self): print("a")
        def test_b(self): print("b")
    class TestOther(unittest.TestCase):
        def test_c(self): print("c")

elif SUITE == 'notrun':
    class TestN(unittest.TestCase):
        def test_a(self): sys.exit(0)
        def test_b(self): print("b runs")

unittest.main(argv=[sys.argv[0]], testRunner=ReproducibleTestRunner, verbosity=VERBOSITY, warnings='ignore')
