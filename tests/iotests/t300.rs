//! Upstream 300: migrating dirty bitmaps with block-bitmap-mapping (node and bitmap aliases, errors, transforms).

use iotests::filters::PyRegex;
use iotests::prelude::*;

/// `BlockBitmapMapping = List[Dict[str, object]]`: a JSON list.
type BlockBitmapMapping = Value;

fn mig_sock() -> String {
    os::path::join(sock_dir(), "mig_sock")
}

struct TestDirtyBitmapMigration {
    src_node_name: String,
    dst_node_name: String,
    src_bmap_name: String,
    dst_bmap_name: String,
    vm_a: Vm,
    vm_b: Vm,
    bitmap_hash_reference: Value,
}

#[iotests::test_case]
impl TestDirtyBitmapMigration {
    fn new(t: &Case) -> Self {
        TestDirtyBitmapMigration {
            src_node_name: String::new(),
            dst_node_name: String::new(),
            src_bmap_name: String::new(),
            dst_bmap_name: String::new(),
            vm_a: t.vm(),
            vm_b: t.vm(),
            bitmap_hash_reference: Value::Null,
        }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.vm_a = t.vm_with("-a");
        self.vm_a.add_blockdev(format!("node-name={},driver=null-co", self.src_node_name));
        self.vm_a.launch()?;

        self.vm_b = t.vm_with("-b");
        self.vm_b.add_blockdev(format!("node-name={},driver=null-co", self.dst_node_name));
        self.vm_b.add_incoming(format!("unix:{}", mig_sock()));
        self.vm_b.launch()?;

        self.vm_a.cmd("block-dirty-bitmap-add", kwargs! { node: self.src_node_name, name: self.src_bmap_name })?;

        // Dirty some random megabytes
        for _ in 0..9 {
            let mb_ofs = iotests::random::randrange(1024)?;
            self.vm_a.hmp_qemu_io(&self.src_node_name, &format!("discard {mb_ofs}M 1M"))?;
        }

        let result = self
            .vm_a
            .qmp("x-debug-block-dirty-bitmap-sha256", kwargs! { node: self.src_node_name, name: self.src_bmap_name })?;
        self.bitmap_hash_reference = dictpath(&result, "return/sha256")?.clone();

        let caps: Vec<Value> =
            ["dirty-bitmaps", "events"].iter().map(|name| json!({"capability": name, "state": true})).collect();

        for vm in [&mut self.vm_a, &mut self.vm_b] {
            vm.cmd("migrate-set-capabilities", kwargs! { capabilities: caps })?;
        }
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm_a.shutdown()?;
        self.vm_b.shutdown()?;
        // try: os.remove(mig_sock) except OSError: pass
        let _ = os::remove(mig_sock());
        Ok(())
    }

    fn check_bitmap(&mut self, bitmap_name_valid: bool) -> Result<()> {
        let result = self
            .vm_b
            .qmp("x-debug-block-dirty-bitmap-sha256", kwargs! { node: self.dst_node_name, name: self.dst_bmap_name })?;
        if bitmap_name_valid {
            assert_qmp(&result, "return/sha256", self.bitmap_hash_reference.clone())
        } else {
            assert_qmp(&result, "error/desc", format!("Dirty bitmap '{}' not found", self.dst_bmap_name))
        }
    }

    /// `migrate(bitmap_name_valid=True, migration_success=True)`.
    fn migrate(&mut self, bitmap_name_valid: bool, migration_success: bool) -> Result<()> {
        self.vm_a.cmd("migrate", kwargs! { uri: format!("unix:{}", mig_sock()) })?;

        with_timeout(5.0, "Timeout waiting for migration to complete", |d| {
            assert_equal!(self.vm_a.wait_migration_until(Some("postmigrate"), Some(d))?, migration_success);
            assert_equal!(self.vm_b.wait_migration_until(Some("running"), Some(d))?, migration_success);
            Ok(())
        })?;

        if migration_success {
            self.check_bitmap(bitmap_name_valid)?;
        }
        Ok(())
    }

    /// Check whether the given error message is present in vm_b's log.
    /// (vm_b is shut down to do so.)
    /// If @msg is None, check that there has not been any error.
    fn verify_dest_error(&mut self, msg: Option<&str>) -> Result<()> {
        self.vm_b.shutdown()?;

        let log = self.vm_b.get_log();
        ensure!(log.is_some()); // Loaded after shutdown
        let log = log.unwrap_or_default();

        match msg {
            None => assert_not_in!("qemu-system-", log),
            Some(msg) => assert_in!(msg, log),
        }
        Ok(())
    }

    fn mapping(node_name: &str, node_alias: &str, bitmap_name: &str, bitmap_alias: &str) -> BlockBitmapMapping {
        json!([{
            "node-name": node_name,
            "alias": node_alias,
            "bitmaps": [{
                "name": bitmap_name,
                "alias": bitmap_alias
            }]
        }])
    }

    /// Invoke migrate-set-parameters on @vm to set the given @mapping.
    /// Check for success if @error is None, or verify the error message
    /// if it is not.
    /// On success, verify that "info migrate_parameters" on HMP returns
    /// our mapping.  (Just to check its formatting code.)
    fn set_mapping(vm: &mut Vm, mapping: &BlockBitmapMapping, error: Option<&str>) -> Result<()> {
        let result = vm.qmp("migrate-set-parameters", kwargs! { block_bitmap_mapping: mapping })?;

        match error {
            None => {
                assert_qmp(&result, "return", json!({}))?;

                let result = vm.qmp("human-monitor-command", kwargs! { command_line: "info migrate_parameters" })?;

                let re = PyRegex::new(r"(?m)^block-bitmap-mapping:\r?(\n  .*)*\n")?;
                let text = result["return"].as_str().unwrap_or_default();
                let m = re.find_at(text, 0);
                let hmp_mapping = m.map(|m| text[m].replace('\r', ""));

                assert_equal!(hmp_mapping, Self::to_hmp_mapping(mapping)?);
            }
            Some(error) => assert_qmp(&result, "error/desc", error)?,
        }
        Ok(())
    }

    fn to_hmp_mapping(mapping: &BlockBitmapMapping) -> Result<String> {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let mut result = "block-bitmap-mapping:\n".to_string();

        for node in mapping.as_array().into_iter().flatten() {
            result += &format!("  '{}' -> '{}'\n", s(&node["node-name"]), s(&node["alias"]));

            ensure!(node["bitmaps"].is_array());
            for bitmap in node["bitmaps"].as_array().into_iter().flatten() {
                result += &format!("    '{}' -> '{}'\n", s(&bitmap["name"]), s(&bitmap["alias"]));
            }
        }

        Ok(result)
    }
}

struct TestAliasMigration {
    base: TestDirtyBitmapMigration,
}

#[iotests::test_case(extends = TestDirtyBitmapMigration)]
impl TestAliasMigration {
    fn new(t: &Case) -> Result<Self> {
        let mut base = TestDirtyBitmapMigration::new(t)?;
        base.src_node_name = "node0".into();
        base.dst_node_name = "node0".into();
        base.src_bmap_name = "bmap0".into();
        base.dst_bmap_name = "bmap0".into();
        Ok(TestAliasMigration { base })
    }

    fn test_migration_without_alias(&mut self) -> Result<()> {
        self.migrate(self.src_node_name == self.dst_node_name && self.src_bmap_name == self.dst_bmap_name, true)?;

        // Check for error message on the destination
        if self.src_node_name != self.dst_node_name {
            let msg = format!("Cannot find device='{}' nor node-name='{}'", self.src_node_name, self.src_node_name);
            self.verify_dest_error(Some(&msg))
        } else {
            self.verify_dest_error(None)
        }
    }

    fn test_alias_on_src_migration(&mut self) -> Result<()> {
        let mapping = TestDirtyBitmapMigration::mapping(
            &self.src_node_name,
            &self.dst_node_name,
            &self.src_bmap_name,
            &self.dst_bmap_name,
        );

        TestDirtyBitmapMigration::set_mapping(&mut self.vm_a, &mapping, None)?;
        self.migrate(true, true)?;
        self.verify_dest_error(None)
    }

    fn test_alias_on_dst_migration(&mut self) -> Result<()> {
        let mapping = TestDirtyBitmapMigration::mapping(
            &self.dst_node_name,
            &self.src_node_name,
            &self.dst_bmap_name,
            &self.src_bmap_name,
        );

        TestDirtyBitmapMigration::set_mapping(&mut self.vm_b, &mapping, None)?;
        self.migrate(true, true)?;
        self.verify_dest_error(None)
    }

    fn test_alias_on_both_migration(&mut self) -> Result<()> {
        let src_map =
            TestDirtyBitmapMigration::mapping(&self.src_node_name, "node-alias", &self.src_bmap_name, "bmap-alias");

        let dst_map =
            TestDirtyBitmapMigration::mapping(&self.dst_node_name, "node-alias", &self.dst_bmap_name, "bmap-alias");

        TestDirtyBitmapMigration::set_mapping(&mut self.vm_a, &src_map, None)?;
        TestDirtyBitmapMigration::set_mapping(&mut self.vm_b, &dst_map, None)?;
        self.migrate(true, true)?;
        self.verify_dest_error(None)
    }
}

struct TestLongBitmapNames {
    base: TestAliasMigration,
}

#[iotests::test_case(extends = TestAliasMigration)]
impl TestLongBitmapNames {
    fn new(t: &Case) -> Result<Self> {
        let mut base = TestAliasMigration::new(t)?;
        // Giving long bitmap names is OK, as long as there is a short alias for
        // migration
        base.src_bmap_name = "a".repeat(512);
        base.dst_bmap_name = "b".repeat(512);
        Ok(TestLongBitmapNames { base })
    }

    // Skip all tests that do not use the intermediate alias
    fn test_migration_without_alias(&mut self) {}

    fn test_alias_on_src_migration(&mut self) {}

    fn test_alias_on_dst_migration(&mut self) {}
}

/// Note that mapping nodes or bitmaps that do not exist is not an error.
struct TestBlockBitmapMappingErrors {
    base: TestDirtyBitmapMigration,
}

#[iotests::test_case(extends = TestDirtyBitmapMigration)]
impl TestBlockBitmapMappingErrors {
    fn new(t: &Case) -> Result<Self> {
        let mut base = TestDirtyBitmapMigration::new(t)?;
        base.src_node_name = "node0".into();
        base.dst_node_name = "node0".into();
        base.src_bmap_name = "bmap0".into();
        base.dst_bmap_name = "bmap0".into();
        Ok(TestBlockBitmapMappingErrors { base })
    }

    fn test_non_injective_node_mapping(&mut self) -> Result<()> {
        let mapping: BlockBitmapMapping = json!([
            {
                "node-name": "node0",
                "alias": "common-alias",
                "bitmaps": [{
                    "name": "bmap0",
                    "alias": "bmap-alias0"
                }]
            },
            {
                "node-name": "node1",
                "alias": "common-alias",
                "bitmaps": [{
                    "name": "bmap1",
                    "alias": "bmap-alias1"
                }]
            }
        ]);

        TestDirtyBitmapMigration::set_mapping(
            &mut self.vm_a,
            &mapping,
            Some("Invalid mapping given for block-bitmap-mapping: The node alias 'common-alias' is used twice"),
        )
    }

    fn test_non_injective_bitmap_mapping(&mut self) -> Result<()> {
        let mapping: BlockBitmapMapping = json!([{
            "node-name": "node0",
            "alias": "node-alias0",
            "bitmaps": [
                {
                    "name": "bmap0",
                    "alias": "common-alias"
                },
                {
                    "name": "bmap1",
                    "alias": "common-alias"
                }
            ]
        }]);

        TestDirtyBitmapMigration::set_mapping(
            &mut self.vm_a,
            &mapping,
            Some(
                "Invalid mapping given for block-bitmap-mapping: \
                 The bitmap alias 'node-alias0'/'common-alias' is used twice",
            ),
        )
    }

    fn test_ambiguous_node_mapping(&mut self) -> Result<()> {
        let mapping: BlockBitmapMapping = json!([
            {
                "node-name": "node0",
                "alias": "node-alias0",
                "bitmaps": [{
                    "name": "bmap0",
                    "alias": "bmap-alias0"
                }]
            },
            {
                "node-name": "node0",
                "alias": "node-alias1",
                "bitmaps": [{
                    "name": "bmap0",
                    "alias": "bmap-alias0"
                }]
            }
        ]);

        TestDirtyBitmapMigration::set_mapping(
            &mut self.vm_a,
            &mapping,
            Some("Invalid mapping given for block-bitmap-mapping: The node name 'node0' is mapped twice"),
        )
    }

    fn test_ambiguous_bitmap_mapping(&mut self) -> Result<()> {
        let mapping: BlockBitmapMapping = json!([{
            "node-name": "node0",
            "alias": "node-alias0",
            "bitmaps": [
                {
                    "name": "bmap0",
                    "alias": "bmap-alias0"
                },
                {
                    "name": "bmap0",
                    "alias": "bmap-alias1"
                }
            ]
        }]);

        TestDirtyBitmapMigration::set_mapping(
            &mut self.vm_a,
            &mapping,
            Some("Invalid mapping given for block-bitmap-mapping: The bitmap 'node0'/'bmap0' is mapped twice"),
        )
    }

    fn test_migratee_node_is_not_mapped_on_src(&mut self) -> Result<()> {
        TestDirtyBitmapMigration::set_mapping(&mut self.vm_a, &json!([]), None)?;
        // Should just ignore all bitmaps on unmapped nodes
        self.migrate(false, true)?;
        self.verify_dest_error(None)
    }

    fn test_migratee_node_is_not_mapped_on_dst(&mut self) -> Result<()> {
        TestDirtyBitmapMigration::set_mapping(&mut self.vm_b, &json!([]), None)?;
        self.migrate(false, true)?;
        let msg = format!("Unknown node alias '{}'", self.src_node_name);
        self.verify_dest_error(Some(&msg))
    }

    fn test_migratee_bitmap_is_not_mapped_on_src(&mut self) -> Result<()> {
        let mapping: BlockBitmapMapping = json!([{
            "node-name": self.src_node_name,
            "alias": self.dst_node_name,
            "bitmaps": []
        }]);

        TestDirtyBitmapMigration::set_mapping(&mut self.vm_a, &mapping, None)?;
        // Should just ignore all unmapped bitmaps
        self.migrate(false, true)?;
        self.verify_dest_error(None)
    }

    fn test_migratee_bitmap_is_not_mapped_on_dst(&mut self) -> Result<()> {
        let mapping: BlockBitmapMapping = json!([{
            "node-name": self.dst_node_name,
            "alias": self.src_node_name,
            "bitmaps": []
        }]);

        TestDirtyBitmapMigration::set_mapping(&mut self.vm_b, &mapping, None)?;
        self.migrate(false, true)?;
        let msg = format!(
            "Unknown bitmap alias '{}' on node '{}' (alias '{}')",
            self.src_bmap_name, self.dst_node_name, self.src_node_name
        );
        self.verify_dest_error(Some(&msg))
    }

    fn test_unused_mapping_on_dst(&mut self) -> Result<()> {
        // Let the source not send any bitmaps
        TestDirtyBitmapMigration::set_mapping(&mut self.vm_a, &json!([]), None)?;

        // Establish some mapping on the destination
        TestDirtyBitmapMigration::set_mapping(&mut self.vm_b, &json!([]), None)?;

        // The fact that there is a mapping on B without any bitmaps
        // being received should be fine, not fatal
        self.migrate(false, true)?;
        self.verify_dest_error(None)
    }

    fn test_non_wellformed_node_alias(&mut self) -> Result<()> {
        let alias = "123-foo";

        let mapping: BlockBitmapMapping = json!([{
            "node-name": self.src_node_name,
            "alias": alias,
            "bitmaps": []
        }]);

        TestDirtyBitmapMigration::set_mapping(
            &mut self.vm_a,
            &mapping,
            Some(&format!(
                "Invalid mapping given for block-bitmap-mapping: The node alias '{alias}' is not well-formed"
            )),
        )
    }

    fn test_node_alias_too_long(&mut self) -> Result<()> {
        let alias = "a".repeat(256);

        let mapping: BlockBitmapMapping = json!([{
            "node-name": self.src_node_name,
            "alias": alias,
            "bitmaps": []
        }]);

        TestDirtyBitmapMigration::set_mapping(
            &mut self.vm_a,
            &mapping,
            Some(&format!(
                "Invalid mapping given for block-bitmap-mapping: The node alias '{alias}' is longer than 255 bytes"
            )),
        )
    }

    fn test_bitmap_alias_too_long(&mut self) -> Result<()> {
        let alias = "a".repeat(256);

        let mapping =
            TestDirtyBitmapMigration::mapping(&self.src_node_name, &self.dst_node_name, &self.src_bmap_name, &alias);

        TestDirtyBitmapMigration::set_mapping(
            &mut self.vm_a,
            &mapping,
            Some(&format!(
                "Invalid mapping given for block-bitmap-mapping: The bitmap alias '{alias}' is longer than 255 bytes"
            )),
        )
    }

    fn test_bitmap_name_too_long(&mut self) -> Result<()> {
        let name = "a".repeat(256);

        self.vm_a.cmd("block-dirty-bitmap-add", kwargs! { node: self.src_node_name, name: name })?;

        self.migrate(false, false)?;

        // Check for the error in the source's log
        self.vm_a.shutdown()?;

        let log = self.vm_a.get_log();
        ensure!(log.is_some()); // Loaded after shutdown
        let log = log.unwrap_or_default();

        assert_in!(
            format!("Cannot migrate bitmap '{name}' on node '{}': Name is longer than 255 bytes", self.src_node_name),
            log
        );

        // Destination VM will terminate w/ error of its own accord
        // due to the failed migration.
        self.vm_b.wait(Duration::from_secs(30))?;
        let rc = self.vm_b.exitcode();
        ensure!(rc.is_some_and(|rc| rc > 0));
        Ok(())
    }

    fn test_aliased_bitmap_name_too_long(&mut self) -> Result<()> {
        // Longer than the maximum for bitmap names
        self.dst_bmap_name = "a".repeat(1024);

        let mapping = TestDirtyBitmapMigration::mapping(
            &self.dst_node_name,
            &self.src_node_name,
            &self.dst_bmap_name,
            &self.src_bmap_name,
        );

        // We would have to create this bitmap during migration, and
        // that would fail, because the name is too long.  Better to
        // catch it early.
        let error = format!(
            "Invalid mapping given for block-bitmap-mapping: The bitmap name '{}' is longer than 1023 bytes",
            self.dst_bmap_name
        );
        TestDirtyBitmapMigration::set_mapping(&mut self.vm_b, &mapping, Some(&error))
    }

    fn test_node_name_too_long(&mut self) -> Result<()> {
        // Longer than the maximum for node names
        self.dst_node_name = "a".repeat(32);

        let mapping = TestDirtyBitmapMigration::mapping(
            &self.dst_node_name,
            &self.src_node_name,
            &self.dst_bmap_name,
            &self.src_bmap_name,
        );

        // During migration, this would appear simply as a node that
        // cannot be found.  Still better to catch impossible node
        // names early (similar to test_non_wellformed_node_alias).
        let error = format!(
            "Invalid mapping given for block-bitmap-mapping: The node name '{}' is longer than 31 bytes",
            self.dst_node_name
        );
        TestDirtyBitmapMigration::set_mapping(&mut self.vm_b, &mapping, Some(&error))
    }
}

/// Swap aliases, both to see that qemu does not get confused, and
/// that we can migrate multiple things at once.
///
/// So we migrate this:
///   node-a.bmap-a -> node-b.bmap-b
///   node-a.bmap-b -> node-b.bmap-a
///   node-b.bmap-a -> node-a.bmap-b
///   node-b.bmap-b -> node-a.bmap-a
struct TestCrossAliasMigration {
    base: TestDirtyBitmapMigration,
}

#[iotests::test_case(extends = TestDirtyBitmapMigration)]
impl TestCrossAliasMigration {
    fn new(t: &Case) -> Result<Self> {
        let mut base = TestDirtyBitmapMigration::new(t)?;
        base.src_node_name = "node-a".into();
        base.dst_node_name = "node-b".into();
        base.src_bmap_name = "bmap-a".into();
        base.dst_bmap_name = "bmap-b".into();
        Ok(TestCrossAliasMigration { base })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.base.set_up(t)?;

        // Now create another block device and let both have two bitmaps each
        self.vm_a.cmd("blockdev-add", kwargs! { node_name: "node-b", driver: "null-co" })?;

        self.vm_b.cmd("blockdev-add", kwargs! { node_name: "node-a", driver: "null-co" })?;

        let bmaps_to_add = [("node-a", "bmap-b"), ("node-b", "bmap-a"), ("node-b", "bmap-b")];

        for (node, bmap) in bmaps_to_add {
            self.vm_a.cmd("block-dirty-bitmap-add", kwargs! { node: node, name: bmap })?;
        }
        Ok(())
    }

    fn cross_mapping() -> BlockBitmapMapping {
        json!([
            {
                "node-name": "node-a",
                "alias": "node-b",
                "bitmaps": [
                    {
                        "name": "bmap-a",
                        "alias": "bmap-b"
                    },
                    {
                        "name": "bmap-b",
                        "alias": "bmap-a"
                    }
                ]
            },
            {
                "node-name": "node-b",
                "alias": "node-a",
                "bitmaps": [
                    {
                        "name": "bmap-b",
                        "alias": "bmap-a"
                    },
                    {
                        "name": "bmap-a",
                        "alias": "bmap-b"
                    }
                ]
            }
        ])
    }

    fn verify_dest_has_all_bitmaps(&mut self) -> Result<()> {
        let mut bitmaps = self.vm_b.query_bitmaps()?;

        // Extract and sort bitmap names
        for (_, node) in bitmaps.iter_mut() {
            let mut names: Vec<Value> =
                node.as_array().into_iter().flatten().map(|bmap| bmap["name"].clone()).collect();
            names.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            *node = Value::Array(names);
        }

        assert_equal!(bitmaps, json!({"node-a": ["bmap-a", "bmap-b"], "node-b": ["bmap-a", "bmap-b"]}));
        Ok(())
    }

    fn test_alias_on_src(&mut self) -> Result<()> {
        TestDirtyBitmapMigration::set_mapping(&mut self.vm_a, &Self::cross_mapping(), None)?;

        // Checks that node-a.bmap-a was migrated to node-b.bmap-b, and
        // that is enough
        self.migrate(true, true)?;
        self.verify_dest_has_all_bitmaps()?;
        self.verify_dest_error(None)
    }

    fn test_alias_on_dst(&mut self) -> Result<()> {
        TestDirtyBitmapMigration::set_mapping(&mut self.vm_b, &Self::cross_mapping(), None)?;

        // Checks that node-a.bmap-a was migrated to node-b.bmap-b, and
        // that is enough
        self.migrate(true, true)?;
        self.verify_dest_has_all_bitmaps()?;
        self.verify_dest_error(None)
    }
}

/// Tests the 'transform' option which modifies bitmap persistence on
/// migration.
struct TestAliasTransformMigration {
    base: TestDirtyBitmapMigration,
}

#[iotests::test_case(extends = TestDirtyBitmapMigration)]
impl TestAliasTransformMigration {
    fn new(t: &Case) -> Result<Self> {
        let mut base = TestDirtyBitmapMigration::new(t)?;
        base.src_node_name = "node-a".into();
        base.dst_node_name = "node-b".into();
        base.src_bmap_name = "bmap-a".into();
        base.dst_bmap_name = "bmap-b".into();
        Ok(TestAliasTransformMigration { base })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.base.set_up(t)?;

        // Now create another block device and let both have two bitmaps each
        self.vm_a.cmd("blockdev-add", kwargs! { node_name: "node-b", driver: "null-co", read_zeroes: false })?;

        self.vm_b.cmd("blockdev-add", kwargs! { node_name: "node-a", driver: "null-co", read_zeroes: false })?;

        let bmaps_to_add = [("node-a", "bmap-b"), ("node-b", "bmap-a"), ("node-b", "bmap-b")];

        for (node, bmap) in bmaps_to_add {
            self.vm_a.cmd("block-dirty-bitmap-add", kwargs! { node: node, name: bmap })?;
        }
        Ok(())
    }

    fn transform_mapping() -> BlockBitmapMapping {
        json!([
            {
                "node-name": "node-a",
                "alias": "node-a",
                "bitmaps": [
                    {
                        "name": "bmap-a",
                        "alias": "bmap-a",
                        "transform":
                            {
                                "persistent": true
                            }
                    },
                    {
                        "name": "bmap-b",
                        "alias": "bmap-b"
                    }
                ]
            },
            {
                "node-name": "node-b",
                "alias": "node-b",
                "bitmaps": [
                    {
                        "name": "bmap-a",
                        "alias": "bmap-a"
                    },
                    {
                        "name": "bmap-b",
                        "alias": "bmap-b"
                    }
                ]
            }
        ])
    }

    fn verify_dest_bitmap_state(&mut self) -> Result<()> {
        let mut bitmaps = self.vm_b.query_bitmaps()?;

        for (_, node) in bitmaps.iter_mut() {
            let mut states: Vec<(String, bool)> = node
                .as_array()
                .into_iter()
                .flatten()
                .map(|bmap| (bmap["name"].as_str().unwrap_or_default().to_string(), bmap["persistent"] == true))
                .collect();
            states.sort();
            *node = json!(states);
        }

        assert_equal!(
            bitmaps,
            json!({"node-a": [["bmap-a", true], ["bmap-b", false]],
                   "node-b": [["bmap-a", false], ["bmap-b", false]]})
        );
        Ok(())
    }

    fn test_transform_on_src(&mut self) -> Result<()> {
        TestDirtyBitmapMigration::set_mapping(&mut self.vm_a, &Self::transform_mapping(), None)?;

        self.migrate(true, true)?;
        self.verify_dest_bitmap_state()?;
        self.verify_dest_error(None)
    }

    fn test_transform_on_dst(&mut self) -> Result<()> {
        TestDirtyBitmapMigration::set_mapping(&mut self.vm_b, &Self::transform_mapping(), None)?;

        self.migrate(true, true)?;
        self.verify_dest_bitmap_state()?;
        self.verify_dest_error(None)
    }
}

iotests::iotest! {
    name: "300", groups: [migration],
    supported_protocols: ["file"],
    fn t300: unittest {
        TestDirtyBitmapMigration,
        TestAliasMigration,
        TestNodeAliasMigration: TestAliasMigration { src_node_name: "node-src".into(), dst_node_name: "node-dst".into() },
        TestBitmapAliasMigration: TestAliasMigration { src_bmap_name: "bmap-src".into(), dst_bmap_name: "bmap-dst".into() },
        TestFullAliasMigration: TestAliasMigration {
            src_node_name: "node-src".into(),
            dst_node_name: "node-dst".into(),
            src_bmap_name: "bmap-src".into(),
            dst_bmap_name: "bmap-dst".into(),
        },
        TestLongBitmapNames,
        TestBlockBitmapMappingErrors,
        TestCrossAliasMigration,
        TestAliasTransformMigration,
    }
}
