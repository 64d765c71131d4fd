//! Upstream 245: the QMP `blockdev-reopen` command (options, backing and file children, filters, jobs, iothreads).
//
// Ported from QEMU's tests/qemu-iotests/245 (Copyright (C) 2018-2019 Igalia, S.L., Alberto Garcia,
// GPL-2.0-or-later).

use iotests::filters::PyRegex;
use iotests::json;
use iotests::prelude::*;

fn hd_path() -> [String; 3] {
    [
        os::path::join(test_dir(), "hd0.img"),
        os::path::join(test_dir(), "hd1.img"),
        os::path::join(test_dir(), "hd2.img"),
    ]
}

fn hd_opts(idx: usize) -> Value {
    json!({"driver": imgfmt(),
           "node-name": format!("hd{idx}"),
           "file": {"driver": "file",
                    "node-name": format!("hd{idx}-file"),
                    "filename":  hd_path()[idx] } })
}

struct TestBlockdevReopen {
    total_io_cmds: u32,
    vm: Vm,
}

#[iotests::test_case]
impl TestBlockdevReopen {
    fn new(t: &Case) -> Self {
        TestBlockdevReopen { total_io_cmds: 0, vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        let hd_path = hd_path();
        t.qemu_img(&args!["create", "-f", imgfmt(), &hd_path[0], "3M"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), "-b", &hd_path[0], "-F", imgfmt(), &hd_path[1]])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), &hd_path[2], "3M"])?;
        t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P 0xa0  0 1M", &hd_path[0]])?;
        t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P 0xa1 1M 1M", &hd_path[1]])?;
        t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P 0xa2 2M 1M", &hd_path[2]])?;
        self.vm = t.vm();
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        self.check_qemu_io_errors()?;
        let hd_path = hd_path();
        os::remove(&hd_path[0])?;
        os::remove(&hd_path[1])?;
        os::remove(&hd_path[2])?;
        Ok(())
    }

    // The output of qemu-io is not returned by vm.hmp_qemu_io() but
    // it's stored in the log and can only be read when the VM has been
    // shut down. This function runs qemu-io and keeps track of the
    // number of times it's been called.
    fn run_qemu_io(&mut self, img: &str, cmd: &str) -> Result<()> {
        let result = self.vm.hmp_qemu_io(img, cmd)?;
        assert_qmp(&result, "return", "")?;
        self.total_io_cmds += 1;
        Ok(())
    }

    // Once the VM is shut down we can parse the log and see if qemu-io
    // ran without errors.
    fn check_qemu_io_errors(&mut self) -> Result<()> {
        assert_false!(self.vm.is_running());
        let mut found = 0;
        let log = self
            .vm
            .get_log()
            .ok_or_else(|| Error::python("AttributeError", "'NoneType' object has no attribute 'split'"))?;
        let io_line = PyRegex::new("(read|wrote) .*/.* bytes at offset")?;
        for line in log.split('\n') {
            if line.starts_with("Pattern verification failed") {
                return Err(Error::exception(format!("{line} (command #{found})")));
            }
            // re.match(): a match at the start of the line
            if io_line.find_at(line, 0).is_some_and(|m| m.start == 0) {
                found += 1;
            }
        }
        assert_equal!(
            found,
            self.total_io_cmds,
            "Expected output of {} qemu-io commands, found {}",
            found,
            self.total_io_cmds
        );
        Ok(())
    }

    // Run blockdev-reopen on a list of block devices
    fn reopen_multiple(&mut self, opts: Value, errmsg: Option<&str>) -> Result<()> {
        let result = self.vm.qmp("blockdev-reopen", json!({ "options": opts }))?;
        if let Some(errmsg) = errmsg {
            assert_qmp(&result, "error/class", "GenericError")?;
            assert_qmp(&result, "error/desc", errmsg)?;
        } else {
            assert_qmp(&result, "return", json!({}))?;
        }
        Ok(())
    }

    // Run blockdev-reopen on a single block device (specified by
    // 'opts') but applying 'newopts' on top of it. The original 'opts'
    // dict is unmodified
    fn reopen(&mut self, opts: &Value, newopts: Value, errmsg: Option<&str>) -> Result<()> {
        let mut opts = opts.clone();

        // Apply the changes from 'newopts' on top of 'opts'
        let Value::Object(newopts) = newopts else {
            return Err(Error::python("TypeError", "'newopts' is not a dict"));
        };
        for (key, value) in newopts {
            // If key has the form "foo.bar" then we need to do
            // opts["foo"]["bar"] = value, not opts["foo.bar"] = value
            let mut subdict: Option<&str> = None;
            let mut key = key.as_str();
            while let Some((prefix, rest)) = key.split_once('.') {
                key = rest;
                // subdict = opts[prefix]: always a child of the top level, as upstream does
                subdict = Some(prefix);
            }
            let subdict = match subdict {
                None => &mut opts,
                Some(prefix) => opts
                    .get_mut(prefix)
                    .ok_or_else(|| Error::python("KeyError", json::py_value_repr(&json!(prefix))))?,
            };
            let Value::Object(subdict) = subdict else {
                return Err(Error::python("TypeError", "object does not support item assignment"));
            };
            subdict.insert(key.to_string(), value);
        }

        self.reopen_multiple(json!([opts]), errmsg)
    }

    // Run query-named-block-nodes and return the specified entry
    fn get_node(&mut self, node_name: &str) -> Result<Value> {
        let result = self.vm.qmp("query-named-block-nodes", ())?;
        for node in dictpath(&result, "return")?.as_array().into_iter().flatten() {
            if node["node-name"] == node_name {
                return Ok(node.clone());
            }
        }
        Ok(Value::Null)
    }

    // Run 'query-named-block-nodes' and compare its output with the
    // value passed by the user in 'graph'
    fn check_node_graph(&mut self, graph: &Value) -> Result<()> {
        let result = self.vm.qmp("query-named-block-nodes", ())?;
        assert_equal!(json::dumps(graph, true, None), json::dumps(&result, true, None));
        Ok(())
    }

    // This test opens one single disk image (without backing files)
    // and tries to reopen it with illegal / incorrect parameters.
    fn test_incorrect_parameters_single_file(&mut self) -> Result<()> {
        // Open 'hd0' only (no backing files)
        let mut opts = hd_opts(0);
        self.vm.cmd("blockdev-add", &opts)?;
        let original_graph = self.vm.qmp("query-named-block-nodes", ())?;

        // We can reopen the image passing the same options
        self.reopen(&opts, json!({}), None)?;

        // We can also reopen passing a child reference in 'file'
        self.reopen(&opts, json!({"file": "hd0-file"}), None)?;

        // We cannot change any of these
        self.reopen(&opts, json!({"node-name": "not-found"}), Some("Failed to find node with node-name='not-found'"))?;
        self.reopen(&opts, json!({"node-name": ""}), Some("Failed to find node with node-name=''"))?;
        self.reopen(
            &opts,
            json!({"node-name": null}),
            Some("Invalid parameter type for 'options[0].node-name', expected: string"),
        )?;
        self.reopen(&opts, json!({"driver": "raw"}), Some("Cannot change the option 'driver'"))?;
        self.reopen(&opts, json!({"driver": ""}), Some("Parameter 'driver' does not accept value ''"))?;
        self.reopen(
            &opts,
            json!({"driver": null}),
            Some("Invalid parameter type for 'options[0].driver', expected: string"),
        )?;
        self.reopen(&opts, json!({"file": "not-found"}), Some("Cannot find device='' nor node-name='not-found'"))?;
        self.reopen(&opts, json!({"file": ""}), Some("Cannot find device='' nor node-name=''"))?;
        self.reopen(&opts, json!({"file": null}), Some("Invalid parameter type for 'file', expected: BlockdevRef"))?;
        self.reopen(&opts, json!({"file.node-name": "newname"}), Some("Cannot change the option 'node-name'"))?;
        self.reopen(&opts, json!({"file.driver": "host_device"}), Some("Cannot change the option 'driver'"))?;
        self.reopen(&opts, json!({"file.filename": hd_path()[1]}), Some("Cannot change the option 'filename'"))?;
        self.reopen(&opts, json!({"file.aio": "native"}), Some("Cannot change the option 'aio'"))?;
        self.reopen(&opts, json!({"file.locking": "off"}), Some("Cannot change the option 'locking'"))?;
        self.reopen(
            &opts,
            json!({"file.filename": null}),
            Some("Invalid parameter type for 'options[0].file.filename', expected: string"),
        )?;

        // node-name is optional in BlockdevOptions, but blockdev-reopen needs it
        json::del(&mut opts, "node-name")?;
        self.reopen(&opts, json!({}), Some("node-name not specified"))?;

        // Check that nothing has changed
        self.check_node_graph(&original_graph)?;

        // Remove the node
        self.vm.cmd("blockdev-del", kwargs! { node_name: "hd0" })?;
        Ok(())
    }

    // This test opens an image with a backing file and tries to reopen
    // it with illegal / incorrect parameters.
    fn test_incorrect_parameters_backing_file(&mut self) -> Result<()> {
        // Open hd1 omitting the backing options (hd0 will be opened
        // with the default options)
        let mut opts = hd_opts(1);
        self.vm.cmd("blockdev-add", &opts)?;
        let original_graph = self.vm.qmp("query-named-block-nodes", ())?;

        // We can't reopen the image passing the same options, 'backing' is mandatory
        self.reopen(&opts, json!({}), Some("backing is missing for 'hd1'"))?;

        // Everything works if we pass 'backing' using the existing node name
        let mut backing_node_name = None;
        for node in dictpath(&original_graph, "return")?.as_array().into_iter().flatten() {
            if node["drv"] == imgfmt() && node["file"] == hd_path()[0] {
                backing_node_name = Some(node["node-name"].clone());
            }
        }
        let backing_node_name = backing_node_name.ok_or_else(|| {
            Error::python(
                "UnboundLocalError",
                "cannot access local variable 'backing_node_name' where it is not associated with a value",
            )
        })?;
        self.reopen(&opts, json!({"backing": backing_node_name}), None)?;

        // We can't use a non-existing or empty (non-NULL) node as the backing image
        self.reopen(&opts, json!({"backing": "not-found"}), Some("Cannot find device='' nor node-name='not-found'"))?;
        self.reopen(&opts, json!({"backing": ""}), Some("Cannot find device='' nor node-name=''"))?;

        // We can reopen the image just fine if we specify the backing options
        opts["backing"] = json!({"driver": imgfmt(),
                                 "file": {"driver": "file",
                                          "filename": hd_path()[0]}});
        self.reopen(&opts, json!({}), None)?;

        // We cannot change any of these options
        self.reopen(&opts, json!({"backing.node-name": "newname"}), Some("Cannot change the option 'node-name'"))?;
        self.reopen(&opts, json!({"backing.driver": "raw"}), Some("Cannot change the option 'driver'"))?;
        self.reopen(&opts, json!({"backing.file.node-name": "newname"}), Some("Cannot change the option 'node-name'"))?;
        self.reopen(&opts, json!({"backing.file.driver": "host_device"}), Some("Cannot change the option 'driver'"))?;

        // Check that nothing has changed since the beginning
        self.check_node_graph(&original_graph)?;

        // Remove the node
        self.vm.cmd("blockdev-del", kwargs! { node_name: "hd1" })?;
        Ok(())
    }

    // Reopen an image several times changing some of its options
    fn test_reopen(&mut self, t: &Case) -> Result<()> {
        let supports_direct = match t.qemu_io(&args!["-f", "raw", "-t", "none", "-c", "quit", hd_path()[0]]) {
            Ok(_) => true,
            Err(Error::ToolFailed { output, .. }) if output.contains("O_DIRECT") => false,
            Err(exc) => return Err(exc),
        };

        // Open the hd1 image passing all backing options
        let mut opts = hd_opts(1);
        opts["backing"] = hd_opts(0);
        self.vm.cmd("blockdev-add", &opts)?;
        let original_graph = self.vm.qmp("query-named-block-nodes", ())?;

        // We can reopen the image passing the same options
        self.reopen(&opts, json!({}), None)?;

        // Reopen in read-only mode
        assert_qmp(&self.get_node("hd1")?, "ro", false)?;

        self.reopen(&opts, json!({"read-only": true}), None)?;
        assert_qmp(&self.get_node("hd1")?, "ro", true)?;
        self.reopen(&opts, json!({}), None)?;
        assert_qmp(&self.get_node("hd1")?, "ro", false)?;

        // Change the cache options
        assert_qmp(&self.get_node("hd1")?, "cache/writeback", true)?;
        assert_qmp(&self.get_node("hd1")?, "cache/direct", false)?;
        assert_qmp(&self.get_node("hd1")?, "cache/no-flush", false)?;
        self.reopen(&opts, json!({"cache": { "direct": supports_direct, "no-flush": true }}), None)?;
        assert_qmp(&self.get_node("hd1")?, "cache/writeback", true)?;
        assert_qmp(&self.get_node("hd1")?, "cache/direct", supports_direct)?;
        assert_qmp(&self.get_node("hd1")?, "cache/no-flush", true)?;

        // Reopen again with the original options
        self.reopen(&opts, json!({}), None)?;
        assert_qmp(&self.get_node("hd1")?, "cache/writeback", true)?;
        assert_qmp(&self.get_node("hd1")?, "cache/direct", false)?;
        assert_qmp(&self.get_node("hd1")?, "cache/no-flush", false)?;

        // Change 'detect-zeroes' and 'discard'
        assert_qmp(&self.get_node("hd1")?, "detect_zeroes", "off")?;
        self.reopen(&opts, json!({"detect-zeroes": "on"}), None)?;
        assert_qmp(&self.get_node("hd1")?, "detect_zeroes", "on")?;
        self.reopen(
            &opts,
            json!({"detect-zeroes": "unmap"}),
            Some(concat!(
                "setting detect-zeroes to unmap is not allowed ",
                "without setting discard operation to unmap"
            )),
        )?;
        assert_qmp(&self.get_node("hd1")?, "detect_zeroes", "on")?;
        self.reopen(&opts, json!({"detect-zeroes": "unmap", "discard": "unmap"}), None)?;
        assert_qmp(&self.get_node("hd1")?, "detect_zeroes", "unmap")?;
        self.reopen(&opts, json!({}), None)?;
        assert_qmp(&self.get_node("hd1")?, "detect_zeroes", "off")?;

        // Changing 'force-share' is currently not supported
        self.reopen(&opts, json!({"force-share": true}), Some("Cannot change the option 'force-share'"))?;

        // Change some qcow2-specific options
        // No way to test for success other than checking the return message
        if imgfmt() == "qcow2" {
            self.reopen(
                &opts,
                json!({"l2-cache-entry-size": 128 * 1024}),
                Some(concat!(
                    "L2 cache entry size must be a power of two ",
                    "between 512 and the cluster size (65536)"
                )),
            )?;
            self.reopen(
                &opts,
                json!({"l2-cache-size": 1024 * 1024,
                       "cache-size":     512 * 1024}),
                Some("l2-cache-size may not exceed cache-size"),
            )?;
            self.reopen(
                &opts,
                json!({"l2-cache-size":        4 * 1024 * 1024,
                       "refcount-cache-size":  4 * 1024 * 1024,
                       "l2-cache-entry-size": 32 * 1024}),
                None,
            )?;
            self.reopen(&opts, json!({"pass-discard-request": true}), None)?;
        }

        // Check that nothing has changed since the beginning
        // (from the parameters that we can check)
        self.check_node_graph(&original_graph)?;

        // Check that the node names (other than the top-level one) are optional
        json::del(&mut opts["file"], "node-name")?;
        json::del(&mut opts["backing"], "node-name")?;
        json::del(&mut opts["backing"]["file"], "node-name")?;
        self.reopen(&opts, json!({}), None)?;
        self.check_node_graph(&original_graph)?;

        // Reopen setting backing = null, this removes the backing image from the chain
        self.reopen(&opts, json!({"backing": null}), None)?;
        assert_qmp_absent(&self.get_node("hd1")?, "image/backing-image")?;

        // Open the 'hd0' image
        self.vm.cmd("blockdev-add", hd_opts(0))?;

        // Reopen the hd1 image setting 'hd0' as its backing image
        self.reopen(&opts, json!({"backing": "hd0"}), None)?;
        assert_qmp(&self.get_node("hd1")?, "image/backing-image/filename", hd_path()[0].as_str())?;

        // Check that nothing has changed since the beginning
        self.reopen(&hd_opts(0), json!({"read-only": true}), None)?;
        self.check_node_graph(&original_graph)?;

        // The backing file (hd0) is now a reference, we cannot change backing.* anymore
        self.reopen(&opts, json!({}), Some("Cannot change the option 'backing.driver'"))?;

        // We can't remove 'hd0' while it's a backing image of 'hd1'
        let result = self.vm.qmp("blockdev-del", kwargs! { node_name: "hd0" })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "Node 'hd0' is busy: node is used as backing hd of 'hd1'")?;

        // But we can remove both nodes if done in the proper order
        self.vm.cmd("blockdev-del", kwargs! { node_name: "hd1" })?;
        self.vm.cmd("blockdev-del", kwargs! { node_name: "hd0" })?;
        Ok(())
    }

    // Reopen a raw image and see the effect of changing the 'offset' option
    fn test_reopen_raw(&mut self, t: &Case) -> Result<()> {
        let opts = json!({"driver": "raw", "node-name": "hd0",
                          "file": { "driver": "file",
                                    "filename": hd_path()[0],
                                    "node-name": "hd0-file" } });

        // First we create a 2MB raw file, and fill each half with a
        // different value
        t.qemu_img(&args!["create", "-f", "raw", hd_path()[0], "2M"])?;
        t.qemu_io(&args!["-f", "raw", "-c", "write -P 0xa0  0 1M", hd_path()[0]])?;
        t.qemu_io(&args!["-f", "raw", "-c", "write -P 0xa1 1M 1M", hd_path()[0]])?;

        // Open the raw file with QEMU
        self.vm.cmd("blockdev-add", &opts)?;

        // Read 1MB from offset 0
        self.run_qemu_io("hd0", "read -P 0xa0  0 1M")?;

        // Reopen the image with a 1MB offset.
        // Now the results are different
        self.reopen(&opts, json!({"offset": 1024 * 1024}), None)?;
        self.run_qemu_io("hd0", "read -P 0xa1  0 1M")?;

        // Reopen again with the original options.
        // We get the original results again
        self.reopen(&opts, json!({}), None)?;
        self.run_qemu_io("hd0", "read -P 0xa0  0 1M")?;

        // Remove the block device
        self.vm.cmd("blockdev-del", kwargs! { node_name: "hd0" })?;
        Ok(())
    }

    // Omitting an option should reset it to the default value, but if
    // an option cannot be changed it shouldn't be possible to reset it
    // to its default value either
    fn test_reset_default_values(&mut self) -> Result<()> {
        let mut opts = json!({"driver": "qcow2", "node-name": "hd0",
                              "file": { "driver": "file",
                                        "filename": hd_path()[0],
                                        "x-check-cache-dropped": true, // This one can be changed
                                        "locking": "off",              // This one can NOT be changed
                                        "node-name": "hd0-file" } });

        // Open the file with QEMU
        self.vm.cmd("blockdev-add", &opts)?;

        // file.x-check-cache-dropped can be changed...
        self.reopen(&opts, json!({ "file.x-check-cache-dropped": false }), None)?;
        // ...and dropped completely (resetting to the default value)
        json::del(&mut opts["file"], "x-check-cache-dropped")?;
        self.reopen(&opts, json!({}), None)?;

        // file.locking cannot be changed nor reset to the default value
        self.reopen(&opts, json!({ "file.locking": "on" }), Some("Cannot change the option 'locking'"))?;
        json::del(&mut opts["file"], "locking")?;
        self.reopen(&opts, json!({}), Some("Option 'locking' cannot be reset to its default value"))?;
        // But we can reopen it if we maintain its previous value
        self.reopen(&opts, json!({ "file.locking": "off" }), None)?;

        // Remove the block device
        self.vm.cmd("blockdev-del", kwargs! { node_name: "hd0" })?;
        Ok(())
    }

    // This test modifies the node graph a few times by changing the
    // 'backing' option on reopen and verifies that the guest data that
    // is read afterwards is consistent with the graph changes.
    fn test_io_with_graph_changes(&mut self) -> Result<()> {
        let mut opts = vec![];

        // Open hd0, hd1 and hd2 without any backing image
        for i in 0..3 {
            opts.push(hd_opts(i));
            opts[i]["backing"] = Value::Null;
            self.vm.cmd("blockdev-add", &opts[i])?;
        }

        // hd0
        self.run_qemu_io("hd0", "read -P 0xa0  0 1M")?;
        self.run_qemu_io("hd0", "read -P 0    1M 1M")?;
        self.run_qemu_io("hd0", "read -P 0    2M 1M")?;

        // hd1 <- hd0
        self.reopen(&opts[0], json!({"backing": "hd1"}), None)?;

        self.run_qemu_io("hd0", "read -P 0xa0  0 1M")?;
        self.run_qemu_io("hd0", "read -P 0xa1 1M 1M")?;
        self.run_qemu_io("hd0", "read -P 0    2M 1M")?;

        // hd1 <- hd0 , hd1 <- hd2
        self.reopen(&opts[2], json!({"backing": "hd1"}), None)?;

        self.run_qemu_io("hd2", "read -P 0     0 1M")?;
        self.run_qemu_io("hd2", "read -P 0xa1 1M 1M")?;
        self.run_qemu_io("hd2", "read -P 0xa2 2M 1M")?;

        // hd1 <- hd2 <- hd0
        self.reopen(&opts[0], json!({"backing": "hd2"}), None)?;

        self.run_qemu_io("hd0", "read -P 0xa0  0 1M")?;
        self.run_qemu_io("hd0", "read -P 0xa1 1M 1M")?;
        self.run_qemu_io("hd0", "read -P 0xa2 2M 1M")?;

        // hd2 <- hd0
        self.reopen(&opts[2], json!({"backing": null}), None)?;

        self.run_qemu_io("hd0", "read -P 0xa0  0 1M")?;
        self.run_qemu_io("hd0", "read -P 0    1M 1M")?;
        self.run_qemu_io("hd0", "read -P 0xa2 2M 1M")?;

        // hd2 <- hd1 <- hd0
        self.reopen(&opts[1], json!({"backing": "hd2"}), None)?;
        self.reopen(&opts[0], json!({"backing": "hd1"}), None)?;

        self.run_qemu_io("hd0", "read -P 0xa0  0 1M")?;
        self.run_qemu_io("hd0", "read -P 0xa1 1M 1M")?;
        self.run_qemu_io("hd0", "read -P 0xa2 2M 1M")?;

        // Illegal operation: hd2 is a child of hd1
        self.reopen(
            &opts[2],
            json!({"backing": "hd1"}),
            Some("Making 'hd1' a backing child of 'hd2' would create a cycle"),
        )?;

        // hd2 <- hd0, hd2 <- hd1
        self.reopen(&opts[0], json!({"backing": "hd2"}), None)?;

        self.run_qemu_io("hd1", "read -P 0     0 1M")?;
        self.run_qemu_io("hd1", "read -P 0xa1 1M 1M")?;
        self.run_qemu_io("hd1", "read -P 0xa2 2M 1M")?;

        // More illegal operations
        self.reopen(
            &opts[2],
            json!({"backing": "hd1"}),
            Some("Making 'hd1' a backing child of 'hd2' would create a cycle"),
        )?;
        self.reopen(
            &opts[2],
            json!({"file": "hd0-file"}),
            Some("Permission conflict on node 'hd0-file': permissions 'write, resize' are both required by node 'hd0' (uses node 'hd0-file' as 'file' child) and unshared by node 'hd2' (uses node 'hd0-file' as 'file' child)."),
        )?;

        let result = self.vm.qmp("blockdev-del", kwargs! { node_name: "hd2" })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "Node 'hd2' is busy: node is used as backing hd of 'hd0'")?;

        // hd1 doesn't have a backing file now
        self.reopen(&opts[1], json!({"backing": null}), None)?;

        self.run_qemu_io("hd1", "read -P 0     0 1M")?;
        self.run_qemu_io("hd1", "read -P 0xa1 1M 1M")?;
        self.run_qemu_io("hd1", "read -P 0    2M 1M")?;

        // We can't remove the 'backing' option if the image has a
        // default backing file
        json::del(&mut opts[1], "backing")?;
        self.reopen(&opts[1], json!({}), Some("backing is missing for 'hd1'"))?;

        self.run_qemu_io("hd1", "read -P 0     0 1M")?;
        self.run_qemu_io("hd1", "read -P 0xa1 1M 1M")?;
        self.run_qemu_io("hd1", "read -P 0    2M 1M")?;
        Ok(())
    }

    // This test verifies that we can't change the children of a block
    // device during a reopen operation in a way that would create
    // cycles in the node graph
    #[skip_if_unsupported(["blkverify"])]
    fn test_graph_cycles(&mut self) -> Result<()> {
        let mut opts = vec![];

        // Open all three images without backing file
        for i in 0..3 {
            opts.push(hd_opts(i));
            opts[i]["backing"] = Value::Null;
            self.vm.cmd("blockdev-add", &opts[i])?;
        }

        // hd1 <- hd0, hd1 <- hd2
        self.reopen(&opts[0], json!({"backing": "hd1"}), None)?;
        self.reopen(&opts[2], json!({"backing": "hd1"}), None)?;

        // Illegal: hd2 is backed by hd1
        self.reopen(
            &opts[1],
            json!({"backing": "hd2"}),
            Some("Making 'hd2' a backing child of 'hd1' would create a cycle"),
        )?;

        // hd1 <- hd0 <- hd2
        self.reopen(&opts[2], json!({"backing": "hd0"}), None)?;

        // Illegal: hd2 is backed by hd0, which is backed by hd1
        self.reopen(
            &opts[1],
            json!({"backing": "hd2"}),
            Some("Making 'hd2' a backing child of 'hd1' would create a cycle"),
        )?;

        // Illegal: hd1 cannot point to itself
        self.reopen(
            &opts[1],
            json!({"backing": "hd1"}),
            Some("Making 'hd1' a backing child of 'hd1' would create a cycle"),
        )?;

        // Remove all backing files
        self.reopen(&opts[0], json!({}), None)?;
        self.reopen(&opts[2], json!({}), None)?;

        //////////////////////////////////////////
        // Add a blkverify node using hd0 and hd1 //
        //////////////////////////////////////////
        let bvopts = json!({"driver": "blkverify",
                            "node-name": "bv",
                            "test": "hd0",
                            "raw": "hd1"});
        self.vm.cmd("blockdev-add", &bvopts)?;

        // blkverify doesn't currently allow reopening. TODO: implement this
        self.reopen(
            &bvopts,
            json!({}),
            Some(concat!("Block format 'blkverify' used by node 'bv'", " does not support reopening files")),
        )?;

        // Illegal: hd0 is a child of the blkverify node
        self.reopen(
            &opts[0],
            json!({"backing": "bv"}),
            Some("Making 'bv' a backing child of 'hd0' would create a cycle"),
        )?;

        // Delete the blkverify node
        self.vm.cmd("blockdev-del", kwargs! { node_name: "bv" })?;
        Ok(())
    }

    // Replace the protocol layer ('file' parameter) of a disk image
    fn test_replace_file(&mut self, t: &Case) -> Result<()> {
        // Create two small raw images and add them to a running VM
        t.qemu_img(&args!["create", "-f", "raw", hd_path()[0], "10k"])?;
        t.qemu_img(&args!["create", "-f", "raw", hd_path()[1], "10k"])?;

        let hd0_opts = json!({"driver": "file", "node-name": "hd0-file", "filename":  hd_path()[0] });
        let hd1_opts = json!({"driver": "file", "node-name": "hd1-file", "filename":  hd_path()[1] });

        self.vm.cmd("blockdev-add", &hd0_opts)?;
        self.vm.cmd("blockdev-add", &hd1_opts)?;

        // Add a raw format layer that uses hd0-file as its protocol layer
        let opts = json!({"driver": "raw", "node-name": "hd", "file": "hd0-file"});

        self.vm.cmd("blockdev-add", &opts)?;

        // Fill the image with data
        self.run_qemu_io("hd", "read  -P 0 0 10k")?;
        self.run_qemu_io("hd", "write -P 0xa0 0 10k")?;

        // Replace hd0-file with hd1-file and fill it with (different) data
        self.reopen(&opts, json!({"file": "hd1-file"}), None)?;
        self.run_qemu_io("hd", "read  -P 0 0 10k")?;
        self.run_qemu_io("hd", "write -P 0xa1 0 10k")?;

        // Use hd0-file again and check that it contains the expected data
        self.reopen(&opts, json!({"file": "hd0-file"}), None)?;
        self.run_qemu_io("hd", "read  -P 0xa0 0 10k")?;

        // And finally do the same with hd1-file
        self.reopen(&opts, json!({"file": "hd1-file"}), None)?;
        self.run_qemu_io("hd", "read  -P 0xa1 0 10k")?;
        Ok(())
    }

    // Insert (and remove) a throttle filter
    fn test_insert_throttle_filter(&mut self) -> Result<()> {
        // Add an image to the VM
        let hd0_opts = hd_opts(0);
        self.vm.cmd("blockdev-add", &hd0_opts)?;

        // Create a throttle-group object
        let opts = json!({ "qom-type": "throttle-group", "id": "group0",
                           "limits": { "iops-total": 1000 } });
        self.vm.cmd("object-add", &opts)?;

        // Add a throttle filter with the group that we just created.
        // The filter is not used by anyone yet
        let opts = json!({ "driver": "throttle", "node-name": "throttle0",
                           "throttle-group": "group0", "file": "hd0-file" });
        self.vm.cmd("blockdev-add", &opts)?;

        // Insert the throttle filter between hd0 and hd0-file
        self.reopen(&hd0_opts, json!({"file": "throttle0"}), None)?;

        // Remove the throttle filter from hd0
        self.reopen(&hd0_opts, json!({"file": "hd0-file"}), None)?;
        Ok(())
    }

    // Insert (and remove) a compress filter
    #[skip_if_unsupported(["compress"])]
    fn test_insert_compress_filter(&mut self, t: &Case) -> Result<()> {
        // Add an image to the VM: hd (raw) -> hd0 (qcow2) -> hd0-file (file)
        let opts = json!({"driver": "raw", "node-name": "hd", "file": hd_opts(0), "discard": "unmap"});
        self.vm.cmd("blockdev-add", &opts)?;

        // Add a 'compress' filter
        let filter_opts = json!({"driver": "compress",
                                 "node-name": "compress0",
                                 "file": "hd0"});
        self.vm.cmd("blockdev-add", &filter_opts)?;

        // Unmap the beginning of the image (we cannot write compressed
        // data to an allocated cluster)
        self.run_qemu_io("hd", "write -z -u 0 128k")?;

        // Write data to the first cluster
        self.run_qemu_io("hd", "write -P 0xa0 0 64k")?;

        // Insert the filter then write to the second cluster
        // hd -> compress0 -> hd0 -> hd0-file
        self.reopen(&opts, json!({"file": "compress0"}), None)?;
        self.run_qemu_io("hd", "write -P 0xa1 64k 64k")?;

        // Remove the filter then write to the third cluster
        // hd -> hd0 -> hd0-file
        self.reopen(&opts, json!({"file": "hd0"}), None)?;
        self.run_qemu_io("hd", "write -P 0xa2 128k 64k")?;

        // Verify the data that we just wrote
        self.run_qemu_io("hd", "read -P 0xa0    0 64k")?;
        self.run_qemu_io("hd", "read -P 0xa1  64k 64k")?;
        self.run_qemu_io("hd", "read -P 0xa2 128k 64k")?;

        self.vm.shutdown()?;

        // Check the first byte of the first three L2 entries and verify that
        // the second one is compressed (0x40) while the others are not (0x80)
        t.qemu_io(&args![
            "-f",
            "raw",
            "-c",
            "read -P 0x80 0x40000 1",
            "-c",
            "read -P 0x40 0x40008 1",
            "-c",
            "read -P 0x80 0x40010 1",
            hd_path()[0]
        ])?;
        Ok(())
    }

    // Swap the disk images of two active block devices
    fn test_swap_files(&mut self) -> Result<()> {
        // Add hd0 and hd2 (none of them with backing files)
        let mut opts0 = hd_opts(0);
        self.vm.cmd("blockdev-add", &opts0)?;

        let mut opts2 = hd_opts(2);
        self.vm.cmd("blockdev-add", &opts2)?;

        // Write different data to both block devices
        self.run_qemu_io("hd0", "write -P 0xa0 0 1k")?;
        self.run_qemu_io("hd2", "write -P 0xa2 0 1k")?;

        // Check that the data reads correctly
        self.run_qemu_io("hd0", "read  -P 0xa0 0 1k")?;
        self.run_qemu_io("hd2", "read  -P 0xa2 0 1k")?;

        // It's not possible to make a block device use an image that
        // is already being used by the other device.
        self.reopen(
            &opts0,
            json!({"file": "hd2-file"}),
            Some(concat!(
                "Permission conflict on node 'hd2-file': permissions ",
                "'write, resize' are both required by node 'hd2' (uses ",
                "node 'hd2-file' as 'file' child) and unshared by node ",
                "'hd0' (uses node 'hd2-file' as 'file' child)."
            )),
        )?;
        self.reopen(
            &opts2,
            json!({"file": "hd0-file"}),
            Some(concat!(
                "Permission conflict on node 'hd0-file': permissions ",
                "'write, resize' are both required by node 'hd0' (uses ",
                "node 'hd0-file' as 'file' child) and unshared by node ",
                "'hd2' (uses node 'hd0-file' as 'file' child)."
            )),
        )?;

        // But we can swap the images if we reopen both devices at the
        // same time
        opts0["file"] = json!("hd2-file");
        opts2["file"] = json!("hd0-file");
        self.reopen_multiple(json!([opts0, opts2]), None)?;
        self.run_qemu_io("hd0", "read  -P 0xa2 0 1k")?;
        self.run_qemu_io("hd2", "read  -P 0xa0 0 1k")?;

        // And we can of course come back to the original state
        opts0["file"] = json!("hd0-file");
        opts2["file"] = json!("hd2-file");
        self.reopen_multiple(json!([opts0, opts2]), None)?;
        self.run_qemu_io("hd0", "read  -P 0xa0 0 1k")?;
        self.run_qemu_io("hd2", "read  -P 0xa2 0 1k")?;
        Ok(())
    }

    // Misc reopen tests with different block drivers
    #[skip_if_unsupported(["quorum", "throttle"])]
    fn test_misc_drivers(&mut self) -> Result<()> {
        //////////////////////
        /////// quorum ///////
        //////////////////////
        for i in 0..3 {
            let mut opts = hd_opts(i);
            // Open all three images without backing file
            opts["backing"] = Value::Null;
            self.vm.cmd("blockdev-add", &opts)?;
        }

        let opts = json!({"driver": "quorum",
                          "node-name": "quorum0",
                          "children": ["hd0", "hd1", "hd2"],
                          "vote-threshold": 2});
        self.vm.cmd("blockdev-add", &opts)?;

        // Quorum doesn't currently allow reopening. TODO: implement this
        self.reopen(
            &opts,
            json!({}),
            Some(concat!("Block format 'quorum' used by node 'quorum0'", " does not support reopening files")),
        )?;

        // You can't make quorum0 a backing file of hd0:
        // hd0 is already a child of quorum0.
        self.reopen(
            &hd_opts(0),
            json!({"backing": "quorum0"}),
            Some("Making 'quorum0' a backing child of 'hd0' would create a cycle"),
        )?;

        // Delete quorum0
        self.vm.cmd("blockdev-del", kwargs! { node_name: "quorum0" })?;

        // Delete hd0, hd1 and hd2
        for i in 0..3 {
            self.vm.cmd("blockdev-del", kwargs! { node_name: format!("hd{i}") })?;
        }

        ////////////////////////
        /////// blkdebug ///////
        ////////////////////////
        let mut opts = json!({"driver": "blkdebug",
                              "node-name": "bd",
                              "config": "/dev/null",
                              "image": hd_opts(0)});
        self.vm.cmd("blockdev-add", &opts)?;

        // blkdebug allows reopening if we keep the same options
        self.reopen(&opts, json!({}), None)?;

        // but it currently does not allow changes
        self.reopen(&opts, json!({"image": "hd1"}), Some("Cannot change the option 'image'"))?;
        self.reopen(&opts, json!({"align": 33554432}), Some("Cannot change the option 'align'"))?;
        self.reopen(&opts, json!({"config": "/non/existent"}), Some("Cannot change the option 'config'"))?;
        json::del(&mut opts, "config")?;
        self.reopen(&opts, json!({}), Some("Option 'config' cannot be reset to its default value"))?;

        // Delete the blkdebug node
        self.vm.cmd("blockdev-del", kwargs! { node_name: "bd" })?;

        ////////////////////
        /////// null ///////
        ////////////////////
        let mut opts = json!({"driver": "null-co", "node-name": "root", "size": 1024});

        self.vm.cmd("blockdev-add", &opts)?;

        // 1 << 30 is the default value, but we cannot change it explicitly
        self.reopen(&opts, json!({"size": (1 << 30)}), Some("Cannot change the option 'size'"))?;

        // We cannot change 'size' back to its default value either
        json::del(&mut opts, "size")?;
        self.reopen(&opts, json!({}), Some("Option 'size' cannot be reset to its default value"))?;

        self.vm.cmd("blockdev-del", kwargs! { node_name: "root" })?;

        ////////////////////
        /////// file ///////
        ////////////////////
        let mut opts = hd_opts(0);
        opts["file"]["locking"] = json!("on");
        self.vm.cmd("blockdev-add", &opts)?;

        // 'locking' cannot be changed
        json::del(&mut opts["file"], "locking")?;
        self.reopen(&opts, json!({"file.locking": "on"}), None)?;
        self.reopen(&opts, json!({"file.locking": "off"}), Some("Cannot change the option 'locking'"))?;
        self.reopen(&opts, json!({}), Some("Option 'locking' cannot be reset to its default value"))?;

        // Trying to reopen the 'file' node directly does not make a difference
        let opts = opts["file"].clone();
        self.reopen(&opts, json!({"locking": "on"}), None)?;
        self.reopen(&opts, json!({"locking": "off"}), Some("Cannot change the option 'locking'"))?;
        self.reopen(&opts, json!({}), Some("Option 'locking' cannot be reset to its default value"))?;

        self.vm.cmd("blockdev-del", kwargs! { node_name: "hd0" })?;

        ////////////////////////
        /////// throttle ///////
        ////////////////////////
        let opts = json!({ "qom-type": "throttle-group", "id": "group0",
                           "limits": { "iops-total": 1000 } });
        self.vm.cmd("object-add", &opts)?;

        let opts = json!({ "qom-type": "throttle-group", "id": "group1",
                           "limits": { "iops-total": 2000 } });
        self.vm.cmd("object-add", &opts)?;

        // Add a throttle filter with group = group0
        let opts = json!({ "driver": "throttle", "node-name": "throttle0",
                           "throttle-group": "group0", "file": hd_opts(0) });
        self.vm.cmd("blockdev-add", &opts)?;

        // We can reopen it if we keep the same options
        self.reopen(&opts, json!({}), None)?;

        // We can also reopen if 'file' is a reference to the child
        self.reopen(&opts, json!({"file": "hd0"}), None)?;

        // This is illegal
        self.reopen(&opts, json!({"throttle-group": "notfound"}), Some("Throttle group 'notfound' does not exist"))?;

        // But it's possible to change the group to group1
        self.reopen(&opts, json!({"throttle-group": "group1"}), None)?;

        // Now group1 is in use, it cannot be deleted
        let result = self.vm.qmp("object-del", kwargs! { id: "group1" })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "object 'group1' is in use, can not be deleted")?;

        // Default options, this switches the group back to group0
        self.reopen(&opts, json!({}), None)?;

        // So now we cannot delete group0
        let result = self.vm.qmp("object-del", kwargs! { id: "group0" })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "object 'group0' is in use, can not be deleted")?;

        // But group1 is free this time, and it can be deleted
        self.vm.cmd("object-del", kwargs! { id: "group1" })?;

        // Let's delete the filter node
        self.vm.cmd("blockdev-del", kwargs! { node_name: "throttle0" })?;

        // And we can finally get rid of group0
        self.vm.cmd("object-del", kwargs! { id: "group0" })?;
        Ok(())
    }

    // If an image has a backing file then the 'backing' option must be
    // passed on reopen. We don't allow leaving the option out in this
    // case because it's unclear what the correct semantics would be.
    fn test_missing_backing_options_1(&mut self) -> Result<()> {
        // hd2
        let opts = hd_opts(2);
        self.vm.cmd("blockdev-add", &opts)?;

        // hd0
        let opts = hd_opts(0);
        self.vm.cmd("blockdev-add", &opts)?;

        // hd0 has no backing file: we can omit the 'backing' option
        self.reopen(&opts, json!({}), None)?;

        // hd2 <- hd0
        self.reopen(&opts, json!({"backing": "hd2"}), None)?;

        // hd0 has a backing file: we must set the 'backing' option
        self.reopen(&opts, json!({}), Some("backing is missing for 'hd0'"))?;

        // hd2 can't be removed because it's the backing file of hd0
        let result = self.vm.qmp("blockdev-del", kwargs! { node_name: "hd2" })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "Node 'hd2' is busy: node is used as backing hd of 'hd0'")?;

        // Detach hd2 from hd0.
        self.reopen(&opts, json!({"backing": null}), None)?;

        // Without a backing file, we can omit 'backing' again
        self.reopen(&opts, json!({}), None)?;

        // Remove both hd0 and hd2
        self.vm.cmd("blockdev-del", kwargs! { node_name: "hd0" })?;

        self.vm.cmd("blockdev-del", kwargs! { node_name: "hd2" })?;
        Ok(())
    }

    // If an image has default backing file (as part of its metadata)
    // then the 'backing' option must be passed on reopen. We don't
    // allow leaving the option out in this case because it's unclear
    // what the correct semantics would be.
    fn test_missing_backing_options_2(&mut self) -> Result<()> {
        // hd0 <- hd1
        // (hd0 is hd1's default backing file)
        let opts = hd_opts(1);
        self.vm.cmd("blockdev-add", &opts)?;

        // hd1 has a backing file: we can't omit the 'backing' option
        self.reopen(&opts, json!({}), Some("backing is missing for 'hd1'"))?;

        // Let's detach the backing file
        self.reopen(&opts, json!({"backing": null}), None)?;

        // No backing file attached to hd1 now, but we still can't omit the 'backing' option
        self.reopen(&opts, json!({}), Some("backing is missing for 'hd1'"))?;

        self.vm.cmd("blockdev-del", kwargs! { node_name: "hd1" })?;
        Ok(())
    }

    // Test that making 'backing' a reference to an existing child
    // keeps its current options
    fn test_backing_reference(&mut self) -> Result<()> {
        // hd2 <- hd1 <- hd0
        let mut opts = hd_opts(0);
        opts["backing"] = hd_opts(1);
        opts["backing"]["backing"] = hd_opts(2);
        // Enable 'detect-zeroes' on all three nodes
        opts["detect-zeroes"] = json!("on");
        opts["backing"]["detect-zeroes"] = json!("on");
        opts["backing"]["backing"]["detect-zeroes"] = json!("on");
        self.vm.cmd("blockdev-add", &opts)?;

        // Reopen the chain passing the minimum amount of required options.
        // By making 'backing' a reference to hd1 (instead of a sub-dict)
        // we tell QEMU to keep its current set of options.
        let opts = json!({"driver": imgfmt(),
                          "node-name": "hd0",
                          "file": "hd0-file",
                          "backing": "hd1" });
        self.reopen(&opts, json!({}), None)?;

        // This has reset 'detect-zeroes' on hd0, but not on hd1 and hd2.
        assert_qmp(&self.get_node("hd0")?, "detect_zeroes", "off")?;
        assert_qmp(&self.get_node("hd1")?, "detect_zeroes", "on")?;
        assert_qmp(&self.get_node("hd2")?, "detect_zeroes", "on")?;
        Ok(())
    }

    // Test what happens if the graph changes due to other operations
    // such as block-stream
    fn test_block_stream_1(&mut self) -> Result<()> {
        // hd1 <- hd0
        let mut opts = hd_opts(0);
        opts["backing"] = hd_opts(1);
        opts["backing"]["backing"] = Value::Null;
        self.vm.cmd("blockdev-add", &opts)?;

        // Stream hd1 into hd0 and wait until it's done
        self.vm.cmd("block-stream", kwargs! { job_id: "stream0", device: "hd0" })?;
        self.vm.wait_until_completed_with("stream0")?;

        // Now we have only hd0
        assert_equal!(self.get_node("hd1")?, Value::Null);

        // We have backing.* options but there's no backing file anymore
        self.reopen(&opts, json!({}), Some("Cannot change the option 'backing.driver'"))?;

        // If we remove the 'backing' option then we can reopen hd0 just fine
        json::del(&mut opts, "backing")?;
        self.reopen(&opts, json!({}), None)?;

        // We can also reopen hd0 if we set 'backing' to null
        self.reopen(&opts, json!({"backing": null}), None)?;

        self.vm.cmd("blockdev-del", kwargs! { node_name: "hd0" })?;
        Ok(())
    }

    // Another block_stream test
    fn test_block_stream_2(&mut self) -> Result<()> {
        // hd2 <- hd1 <- hd0
        let mut opts = hd_opts(0);
        opts["backing"] = hd_opts(1);
        opts["backing"]["backing"] = hd_opts(2);
        self.vm.cmd("blockdev-add", &opts)?;

        // Stream hd1 into hd0 and wait until it's done
        self.vm.cmd("block-stream", kwargs! { job_id: "stream0", device: "hd0", base_node: "hd2" })?;
        self.vm.wait_until_completed_with("stream0")?;

        // The chain is hd2 <- hd0 now. hd1 is missing
        assert_equal!(self.get_node("hd1")?, Value::Null);

        // The backing options in the dict were meant for hd1, but we cannot
        // use them with hd2 because hd1 had a backing file while hd2 does not.
        self.reopen(&opts, json!({}), Some("Cannot change the option 'backing.driver'"))?;

        // If we remove hd1's options from the dict then things work fine
        opts["backing"] = opts["backing"]["backing"].clone();
        self.reopen(&opts, json!({}), None)?;

        // We can also reopen hd0 if we use a reference to the backing file
        self.reopen(&opts, json!({"backing": "hd2"}), None)?;

        // But we cannot leave the option out
        json::del(&mut opts, "backing")?;
        self.reopen(&opts, json!({}), Some("backing is missing for 'hd0'"))?;

        // Now we can delete hd0 (and hd2)
        self.vm.cmd("blockdev-del", kwargs! { node_name: "hd0" })?;
        assert_equal!(self.get_node("hd2")?, Value::Null);
        Ok(())
    }

    // Reopen the chain during a block-stream job (from hd1 to hd0)
    fn test_block_stream_3(&mut self) -> Result<()> {
        // hd2 <- hd1 <- hd0
        let mut opts = hd_opts(0);
        opts["backing"] = hd_opts(1);
        opts["backing"]["backing"] = hd_opts(2);
        self.vm.cmd("blockdev-add", &opts)?;

        // hd2 <- hd0
        self.vm.cmd(
            "block-stream",
            kwargs! { job_id: "stream0", device: "hd0", base_node: "hd2", auto_finalize: false },
        )?;

        // We can remove hd2 while the stream job is ongoing
        opts["backing"]["backing"] = Value::Null;
        self.reopen(&opts, json!({}), None)?;

        // We can't remove hd1 while the stream job is ongoing
        opts["backing"] = Value::Null;
        self.reopen(&opts, json!({}), Some("Cannot change frozen 'backing' link from 'hd0' to 'hd1'"))?;

        self.vm.run_job_with(
            "stream0",
            RunJobOptions { auto_finalize: false, auto_dismiss: true, ..Default::default() },
        )?;
        Ok(())
    }

    // Reopen the chain during a block-stream job (from hd2 to hd1)
    fn test_block_stream_4(&mut self) -> Result<()> {
        // hd2 <- hd1 <- hd0
        let mut opts = hd_opts(0);
        opts["backing"] = hd_opts(1);
        opts["backing"]["backing"] = hd_opts(2);
        self.vm.cmd("blockdev-add", &opts)?;

        // hd1 <- hd0
        self.vm.cmd(
            "block-stream",
            kwargs! { job_id: "stream0", device: "hd1", filter_node_name: "cor", auto_finalize: false },
        )?;

        // We can't reopen with the original options because there is a filter
        // inserted by stream job above hd1.
        self.reopen(&opts, json!({}), Some("Cannot change the option 'backing.backing.file.node-name'"))?;

        // We can't reopen hd1 to read-only, as block-stream requires it to be
        // read-write
        self.reopen(
            &opts["backing"],
            json!({"read-only": true}),
            Some("Read-only block node 'hd1' cannot support read-write users"),
        )?;

        // We can't remove hd2 while the stream job is ongoing
        opts["backing"]["backing"] = Value::Null;
        self.reopen(
            &opts["backing"],
            json!({"read-only": false}),
            Some("Cannot change frozen 'backing' link from 'hd1' to 'hd2'"),
        )?;

        // We can detach hd1 from hd0 because it doesn't affect the stream job
        opts["backing"] = Value::Null;
        self.reopen(&opts, json!({}), None)?;

        self.vm.run_job_with(
            "stream0",
            RunJobOptions { auto_finalize: false, auto_dismiss: true, ..Default::default() },
        )?;
        Ok(())
    }

    // Reopen the chain during a block-commit job (from hd0 to hd2)
    fn test_block_commit_1(&mut self) -> Result<()> {
        // hd2 <- hd1 <- hd0
        let mut opts = hd_opts(0);
        opts["backing"] = hd_opts(1);
        opts["backing"]["backing"] = hd_opts(2);
        self.vm.cmd("blockdev-add", &opts)?;

        self.vm.cmd("block-commit", kwargs! { job_id: "commit0", device: "hd0" })?;

        // We can't remove hd2 while the commit job is ongoing
        opts["backing"]["backing"] = Value::Null;
        self.reopen(&opts, json!({}), Some("Cannot change frozen 'backing' link from 'hd1' to 'hd2'"))?;

        // We can't remove hd1 while the commit job is ongoing
        opts["backing"] = Value::Null;
        self.reopen(&opts, json!({}), Some("Cannot change frozen 'backing' link from 'hd0' to 'hd1'"))?;

        let event = self.vm.event_wait("BLOCK_JOB_READY")?;
        assert_qmp(&event, "data/device", "commit0")?;
        assert_qmp(&event, "data/type", "commit")?;
        assert_qmp_absent(&event, "data/error")?;

        self.vm.cmd("block-job-complete", kwargs! { device: "commit0" })?;

        self.vm.wait_until_completed_with("commit0")?;
        Ok(())
    }

    // Reopen the chain during a block-commit job (from hd1 to hd2)
    fn test_block_commit_2(&mut self) -> Result<()> {
        // hd2 <- hd1 <- hd0
        let mut opts = hd_opts(0);
        opts["backing"] = hd_opts(1);
        opts["backing"]["backing"] = hd_opts(2);
        self.vm.cmd("blockdev-add", &opts)?;

        self.vm
            .cmd("block-commit", kwargs! { job_id: "commit0", device: "hd0", top_node: "hd1", auto_finalize: false })?;

        // We can't remove hd2 while the commit job is ongoing
        opts["backing"]["backing"] = Value::Null;
        self.reopen(&opts, json!({}), Some("Cannot change the option 'backing.driver'"))?;

        // We can't remove hd1 while the commit job is ongoing
        opts["backing"] = Value::Null;
        self.reopen(&opts, json!({}), Some("Cannot replace implicit backing child of hd0"))?;

        // hd2 <- hd0
        self.vm.run_job_with(
            "commit0",
            RunJobOptions { auto_finalize: false, auto_dismiss: true, ..Default::default() },
        )?;

        assert_qmp(&self.get_node("hd0")?, "ro", false)?;
        assert_equal!(self.get_node("hd1")?, Value::Null);
        assert_qmp(&self.get_node("hd2")?, "ro", true)?;
        Ok(())
    }

    fn run_test_iothreads(
        &mut self,
        iothread_a: &str,
        iothread_b: &str,
        errmsg: Option<&str>,
        opts_a: Option<Value>,
        opts_b: Option<Value>,
    ) -> Result<()> {
        let opts = opts_a.unwrap_or_else(|| hd_opts(0));
        self.vm.cmd("blockdev-add", &opts)?;

        let opts2 = opts_b.unwrap_or_else(|| hd_opts(2));
        self.vm.cmd("blockdev-add", &opts2)?;

        self.vm.cmd("object-add", kwargs! { qom_type: "iothread", id: "iothread0" })?;

        self.vm.cmd("object-add", kwargs! { qom_type: "iothread", id: "iothread1" })?;

        self.vm.cmd("device_add", kwargs! { driver: "virtio-scsi", id: "scsi0", iothread: iothread_a })?;

        self.vm.cmd("device_add", kwargs! { driver: "virtio-scsi", id: "scsi1", iothread: iothread_b })?;

        if !iothread_a.is_empty() {
            self.vm.cmd("device_add", kwargs! { driver: "scsi-hd", drive: "hd0", share_rw: true, bus: "scsi0.0" })?;
        }

        if !iothread_b.is_empty() {
            self.vm.cmd("device_add", kwargs! { driver: "scsi-hd", drive: "hd2", share_rw: true, bus: "scsi1.0" })?;
        }

        // Attaching the backing file may or may not work
        self.reopen(&opts, json!({"backing": "hd2"}), errmsg)?;

        // But removing the backing file should always work
        self.reopen(&opts, json!({"backing": null}), None)?;

        self.vm.shutdown()
    }

    // We don't allow setting a backing file that uses a different AioContext if
    // neither of them can switch to the other AioContext
    fn test_iothreads_error(&mut self) -> Result<()> {
        self.run_test_iothreads(
            "iothread0",
            "iothread1",
            Some("Cannot change iothread of active block backend"),
            None,
            None,
        )
    }

    fn test_iothreads_compatible_users(&mut self) -> Result<()> {
        self.run_test_iothreads("iothread0", "iothread0", None, None, None)
    }

    fn test_iothreads_switch_backing(&mut self) -> Result<()> {
        self.run_test_iothreads("iothread0", "", None, None, None)
    }

    fn test_iothreads_switch_overlay(&mut self) -> Result<()> {
        self.run_test_iothreads("", "iothread0", None, None, None)
    }

    fn test_iothreads_with_throttling(&mut self) -> Result<()> {
        // Create a throttle-group object
        let opts = json!({ "qom-type": "throttle-group", "id": "group0",
                           "limits": { "iops-total": 1000 } });
        self.vm.cmd("object-add", &opts)?;

        // Options with a throttle filter between format and protocol
        let opts = [0, 2].map(|idx| {
            json!({
                "driver": imgfmt(),
                "node-name": format!("hd{idx}"),
                "file" : {
                    "node-name": format!("hd{idx}-throttle"),
                    "driver": "throttle",
                    "throttle-group": "group0",
                    "file": {
                        "driver": "file",
                        "node-name": format!("hd{idx}-file"),
                        "filename": hd_path()[idx],
                    },
                },
            })
        });

        self.run_test_iothreads("iothread0", "iothread0", None, Some(opts[0].clone()), Some(opts[1].clone()))
    }
}

iotests::iotest! {
    name: "245", groups: [rw],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    activate_logging: true,
    fn t245: unittest { TestBlockdevReopen }
}
