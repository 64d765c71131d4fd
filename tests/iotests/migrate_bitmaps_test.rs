//! Upstream tests/migrate-bitmaps-test: dirty bitmaps across online, offline, shared-storage and resumed migrations.

use iotests::filters::{self, PyRegex};
use iotests::prelude::*;
use iotests::unittest::TestMethod;

fn disk_a() -> String {
    os::path::join(test_dir(), "disk_a")
}

fn disk_b() -> String {
    os::path::join(test_dir(), "disk_b")
}

fn base_a() -> String {
    os::path::join(test_dir(), "base_a")
}

const SIZE: &str = "1M";

fn mig_file() -> String {
    os::path::join(test_dir(), "mig_file")
}

fn mig_cmd() -> String {
    format!("exec: cat > {}", mig_file())
}

fn incoming_cmd() -> String {
    format!("exec: cat {}", mig_file())
}

fn get_bitmap_hash(vm: &mut Vm) -> Result<Value> {
    let result = vm.qmp("x-debug-block-dirty-bitmap-sha256", kwargs! { node: "drive0", name: "bitmap0" })?;
    Ok(dictpath(&result, "return/sha256")?.clone())
}

struct TestDirtyBitmapMigration {
    vm_a: Vm,
    vm_b: Vm,
}

#[iotests::test_case]
impl TestDirtyBitmapMigration {
    fn new(t: &Case) -> Self {
        TestDirtyBitmapMigration { vm_a: t.vm(), vm_b: t.vm() }
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm_a.shutdown()?;
        self.vm_b.shutdown()?;
        os::remove(disk_a())?;
        os::remove(disk_b())?;
        os::remove(mig_file())
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), disk_a(), SIZE])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), disk_b(), SIZE])?;

        self.vm_a = t.vm_with("a");
        self.vm_a.add_drive(disk_a());
        self.vm_a.launch()?;

        self.vm_b = t.vm_with("b");
        Ok(())
    }

    fn add_bitmap(vm: &mut Vm, granularity: u64, persistent: bool) -> Result<()> {
        let mut params = json!({"node": "drive0", "name": "bitmap0", "granularity": granularity});
        if persistent {
            params["persistent"] = json!(true);
        }

        vm.cmd("block-dirty-bitmap-add", params)?;
        Ok(())
    }

    /// `check_bitmap(vm, sha256)`, where Python passes `False` for "no
    /// bitmap": `None` here.
    fn check_bitmap(vm: &mut Vm, sha256: Option<&Value>) -> Result<()> {
        let result = vm.qmp("x-debug-block-dirty-bitmap-sha256", kwargs! { node: "drive0", name: "bitmap0" })?;
        match sha256 {
            Some(sha256) => assert_qmp(&result, "return/sha256", sha256.clone()),
            None => assert_qmp(&result, "error/desc", "Dirty bitmap 'bitmap0' not found"),
        }
    }

    fn do_test_migration_resume_source(&mut self, persistent: bool, migrate_bitmaps: bool) -> Result<()> {
        let granularity = 512;

        // regions = ((start, count), ...)
        let regions = [(0, 0x10000), (0xf0000, 0x10000), (0xa0201, 0x1000)];

        let mut mig_caps = vec![json!({"capability": "events", "state": true})];
        if migrate_bitmaps {
            mig_caps.push(json!({"capability": "dirty-bitmaps", "state": true}));
        }

        self.vm_a.cmd("migrate-set-capabilities", kwargs! { capabilities: mig_caps })?;

        Self::add_bitmap(&mut self.vm_a, granularity, persistent)?;
        for r in regions {
            self.vm_a.hmp_qemu_io("drive0", &format!("write {} {}", r.0, r.1))?;
        }
        let sha256 = get_bitmap_hash(&mut self.vm_a)?;

        self.vm_a.cmd("migrate", kwargs! { uri: mig_cmd() })?;
        loop {
            let event = self.vm_a.event_wait("MIGRATION")?;
            if event["data"]["status"] == "completed" {
                break;
            }
        }
        loop {
            let result = self.vm_a.qmp("query-status", ())?;
            if result["return"]["status"] == "postmigrate" {
                break;
            }
        }

        // test that bitmap is still here
        let removed = (!migrate_bitmaps) && persistent;
        Self::check_bitmap(&mut self.vm_a, if removed { None } else { Some(&sha256) })?;

        self.vm_a.cmd("cont", ())?;

        // test that bitmap is still here after invalidation
        Self::check_bitmap(&mut self.vm_a, Some(&sha256))?;

        // shutdown and check that invalidation didn't fail
        self.vm_a.shutdown()?;

        // catch 'Could not reopen qcow2 layer: Bitmap already exists'
        // possible error
        let log = filters::qtest(self.vm_a.get_log().unwrap_or_default());
        let log = PyRegex::new(r"^(wrote .* bytes at offset .*\n.*KiB.*ops.*sec.*\n?){3}")?.sub(&log, "");
        assert_equal!(log, "");

        // test that bitmap is still persistent
        self.vm_a.launch()?;
        Self::check_bitmap(&mut self.vm_a, if persistent { Some(&sha256) } else { None })
    }

    fn do_test_migration(
        &mut self,
        t: &Case,
        persistent: bool,
        migrate_bitmaps: bool,
        online: bool,
        shared_storage: bool,
        pre_shutdown: bool,
    ) -> Result<()> {
        let granularity = 512;

        // regions = ((start, count), ...)
        let regions = [(0, 0x10000), (0xf0000, 0x10000), (0xa0201, 0x1000)];

        let should_migrate = (migrate_bitmaps && (persistent || !pre_shutdown)) || (persistent && shared_storage);
        let mut mig_caps = vec![json!({"capability": "events", "state": true})];
        if migrate_bitmaps {
            mig_caps.push(json!({"capability": "dirty-bitmaps", "state": true}));
        }

        self.vm_b.add_incoming(if online { incoming_cmd() } else { "defer".into() });
        self.vm_b.add_drive(if shared_storage { disk_a() } else { disk_b() });

        if online {
            os::mkfifo(mig_file())?;
            self.vm_b.launch()?;
            self.vm_b.cmd("migrate-set-capabilities", kwargs! { capabilities: mig_caps })?;
        }

        Self::add_bitmap(&mut self.vm_a, granularity, persistent)?;
        for r in regions {
            self.vm_a.hmp_qemu_io("drive0", &format!("write {} {}", r.0, r.1))?;
        }
        let sha256 = get_bitmap_hash(&mut self.vm_a)?;

        if pre_shutdown {
            self.vm_a.shutdown()?;
            self.vm_a.launch()?;
        }

        self.vm_a.cmd("migrate-set-capabilities", kwargs! { capabilities: mig_caps })?;

        self.vm_a.cmd("migrate", kwargs! { uri: mig_cmd() })?;
        loop {
            let event = self.vm_a.event_wait("MIGRATION")?;
            if event["data"]["status"] == "completed" {
                break;
            }
        }

        if !online {
            self.vm_a.shutdown()?;
            self.vm_b.launch()?;
            self.vm_b.cmd("migrate-set-capabilities", kwargs! { capabilities: mig_caps })?;
            self.vm_b.cmd("migrate-incoming", kwargs! { uri: incoming_cmd() })?;
        }

        loop {
            let event = self.vm_b.event_wait("MIGRATION")?;
            if event["data"]["status"] == "completed" {
                break;
            }
        }

        Self::check_bitmap(&mut self.vm_b, if should_migrate { Some(&sha256) } else { None })?;

        if should_migrate {
            self.vm_b.shutdown()?;

            // catch 'Could not reopen qcow2 layer: Bitmap already exists'
            // possible error
            let log = self.vm_b.get_log().unwrap_or_default().to_string();
            let log = PyRegex::new(r"^\[I \d+\.\d+\] OPENED\n")?.sub(&log, "");
            let log = PyRegex::new(r"\[I \+\d+\.\d+\] CLOSED\n?$")?.sub(&log, "");
            assert_equal!(log, "");

            // recreate vm_b, as we don't want -incoming option (this will lead
            // to "cat" process left alive after test finish)
            self.vm_b = t.vm_with("b");
            self.vm_b.add_drive(if shared_storage { disk_a() } else { disk_b() });
            self.vm_b.launch()?;
            Self::check_bitmap(&mut self.vm_b, if persistent { Some(&sha256) } else { None })?;
        }
        Ok(())
    }
}

/// `inject_test_case(klass, suffix, method, *args)`: add `test_<method><suffix>`
/// to the class, calling `method` (`call`) with the arguments it captured.
fn inject_test_case(
    klass: ClassOf<TestDirtyBitmapMigration>,
    suffix: &str,
    method: &str,
    call: impl Fn(&mut TestDirtyBitmapMigration, &Case) -> Result<()> + Send + Sync + 'static,
) -> ClassOf<TestDirtyBitmapMigration> {
    klass.method(TestMethod::new(format!("test_{method}{suffix}"), call))
}

struct TestDirtyBitmapBackingMigration {
    vm: Vm,
}

#[iotests::test_case]
impl TestDirtyBitmapBackingMigration {
    fn new(t: &Case) -> Self {
        TestDirtyBitmapBackingMigration { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img_create(&args!["-f", imgfmt(), base_a(), SIZE])?;
        t.qemu_img_create(&args!["-f", imgfmt(), "-F", imgfmt(), "-b", base_a(), disk_a(), SIZE])?;

        for f in [disk_a(), base_a()] {
            t.qemu_img(&args!["bitmap", "--add", f, "bmap0"])?;
        }

        let blockdev = json!({
            "node-name": "node0",
            "driver": imgfmt(),
            "file": {
                "driver": "file",
                "filename": disk_a()
            },
            "backing": {
                "node-name": "node0-base",
                "driver": imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": base_a()
                }
            }
        });

        self.vm = t.vm();
        self.vm.launch()?;

        self.vm.cmd("blockdev-add", blockdev)?;

        // Check that the bitmaps are there
        let nodes = dictpath(&self.vm.qmp("query-named-block-nodes", kwargs! { flat: true })?, "return")?.clone();
        for node in nodes.as_array().into_iter().flatten() {
            if node["node-name"].as_str().unwrap_or_default().contains("node0") {
                assert_qmp(node, "dirty-bitmaps[0]/name", "bmap0")?;
            }
        }

        let caps = json!([{"capability": "events", "state": true}]);
        self.vm.cmd("migrate-set-capabilities", kwargs! { capabilities: caps })?;
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        for f in [disk_a(), base_a()] {
            os::remove(f)?;
        }
        Ok(())
    }

    /// Continue the source after migration.
    fn test_cont_on_source(&mut self) -> Result<()> {
        self.vm.cmd("migrate", kwargs! { uri: "exec: cat > /dev/null" })?;

        with_timeout(10.0, "Migration timeout", |d| self.vm.wait_migration_until(Some("postmigrate"), Some(d)))?;

        self.vm.cmd("cont", ())?;
        Ok(())
    }
}

/// Python's `main()`: inject the generated cases into
/// TestDirtyBitmapMigration before `iotests.main()` runs the classes.
fn main() -> Vec<Class> {
    let mut klass = ClassOf::<TestDirtyBitmapMigration>::new("TestDirtyBitmapMigration");
    for cmb in product(5) {
        let mut name = format!("{}persistent_", if cmb[0] { "_" } else { "_not_" });
        name += &format!("{}migbitmap_", if cmb[1] { "_" } else { "_not_" });
        name += if cmb[2] { "_online" } else { "_offline" };
        name += if cmb[3] { "_shared" } else { "_nonshared" };
        if cmb[4] {
            name += "__pre_shutdown";
        }

        klass = inject_test_case(klass, &name, "do_test_migration", move |s, t| {
            s.do_test_migration(t, cmb[0], cmb[1], cmb[2], cmb[3], cmb[4])
        });
    }

    for cmb in product(2) {
        let mut name = format!("{}persistent_", if cmb[0] { "_" } else { "_not_" });
        name += &format!("{}migbitmap", if cmb[1] { "_" } else { "_not_" });

        klass = inject_test_case(klass, &name, "do_test_migration_resume_source", move |s, _| {
            s.do_test_migration_resume_source(cmb[0], cmb[1])
        });
    }

    vec![klass.into()]
}

/// `itertools.product((True, False), repeat=n)`.
fn product(n: usize) -> Vec<Vec<bool>> {
    (0..1usize << n).map(|i| (0..n).map(|bit| i & (1 << (n - 1 - bit)) == 0).collect()).collect()
}

iotests::iotest! {
    name: "migrate-bitmaps-test", groups: [rw, migration],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    unsupported_imgopts: ["compat"],
    fn migrate_bitmaps_test: unittest { ..main(), TestDirtyBitmapBackingMigration }
}
