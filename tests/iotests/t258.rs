//! Upstream 258: very specific tests for adjacent commit/stream block jobs.
//!
//! ```python
//! # group: rw quick
//! # Need backing file and change-backing-file support
//! iotests.script_main(main,
//!                     supported_fmts=['qcow2', 'qed'],
//!                     supported_platforms=['linux'])
//! ```

use iotests::filters::Filter;
use iotests::harness::assert_true;
use iotests::vm::RunJobOptions;
use iotests::vm::testcase::dictpath;
use iotests::{Error, Result, TestContext, args};
use serde_json::{Value, json};

/// Returns a node for blockdev-add.
fn node(
    t: &TestContext,
    node_name: &str,
    path: &str,
    backing: Option<Value>,
    fmt: Option<&str>,
    throttle: Option<&str>,
) -> Value {
    let fmt = fmt.unwrap_or(t.imgfmt());

    let mut res = json!({
        "node-name": node_name,
        "driver": fmt,
        "file": {
            "driver": "file",
            "filename": path
        }
    });

    if let Some(backing) = backing {
        res["backing"] = backing;
    }

    if let Some(throttle) = throttle {
        res["file"] = json!({
            "driver": "throttle",
            "throttle-group": throttle,
            "file": res["file"].take()
        });
    }

    res
}

/// Finds a node in the debug block graph.
fn find_graph_node<'a>(graph: &'a Value, node_id: &Value) -> Result<&'a Value> {
    dictpath(graph, "nodes")?
        .as_array()
        .into_iter()
        .flatten()
        .find(|node| &node["id"] == node_id)
        .ok_or_else(|| Error::fail(format!("StopIteration: no node {node_id} in the block graph")))
}

fn test_concurrent_finish(t: &TestContext, write_to_stream_node: bool) -> Result<()> {
    t.log("");
    t.log(format!(
        "=== Commit and stream finish concurrently (letting {} write) ===",
        if write_to_stream_node { "stream" } else { "commit" }
    ));
    t.log("");

    // All chosen in such a way that when the commit job wants to
    // finish, it polls and thus makes stream finish concurrently --
    // and the other way around, depending on whether the commit job
    // is finalized before stream completes or not.

    let node4_path = t.scoped_file_paths(["node4.img"]);
    let node3_path = t.scoped_file_paths(["node3.img"]);
    let node2_path = t.scoped_file_paths(["node2.img"]);
    let node1_path = t.scoped_file_paths(["node1.img"]);
    let node0_path = t.scoped_file_paths(["node0.img"]);
    let (node4_path, node3_path, node2_path, node1_path, node0_path) =
        (&node4_path[0], &node3_path[0], &node2_path[0], &node1_path[0], &node0_path[0]);
    let mut vm = t.vm();

    // It is important to use raw for the base layer (so that
    // permissions are just handed through to the protocol layer)
    t.qemu_img(&args!["create", "-f", "raw", node0_path, "64M"])?;

    let stream_throttle;
    let commit_throttle;

    for path in [node1_path, node2_path, node3_path, node4_path] {
        t.qemu_img(&args!["create", "-f", t.imgfmt(), path, "64M"])?;
    }

    if write_to_stream_node {
        // This is what (most of the time) makes commit finish
        // earlier and then pull in stream
        t.qemu_io(&args![
            node2_path,
            "-c",
            format!("write {}K 64K", 65536 - 192),
            "-c",
            format!("write {}K 64K", 65536 - 64)
        ])?;

        stream_throttle = Some("tg");
        commit_throttle = None;
    } else {
        // And this makes stream finish earlier
        t.qemu_io(&args![node1_path, "-c", format!("write {}K 64K", 65536 - 64)])?;

        stream_throttle = None;
        commit_throttle = Some("tg");
    }

    vm.launch()?;

    vm.qmp_log(
        "object-add",
        json!({
            "qom_type": "throttle-group",
            "id": "tg",
            "limits": {
                "iops-write": 1,
                "iops-write-max": 1
            }
        }),
    )?;

    let node0 = node(t, "node0", node0_path, None, Some("raw"), commit_throttle);
    let node1 = node(t, "node1", node1_path, Some(node0), None, None);
    let node2 = node(t, "node2", node2_path, Some(node1), None, None);
    let node3 = node(t, "node3", node3_path, Some(node2), None, None);
    let node4 = node(t, "node4", node4_path, Some(node3), None, stream_throttle);
    vm.qmp_log_with("blockdev-add", node4, &[Filter::QmpTestfiles, Filter::QmpImgfmt])?;

    vm.qmp_log(
        "block-commit",
        json!({
            "job_id": "commit",
            "device": "node4",
            "filter_node_name": "commit-filter",
            "top_node": "node1",
            "base_node": "node0",
            "auto_finalize": false
        }),
    )?;

    vm.qmp_log("block-stream", json!({"job_id": "stream", "device": "node3", "base_node": "commit-filter"}))?;

    if write_to_stream_node {
        vm.run_job_with("commit", RunJobOptions { auto_finalize: false, auto_dismiss: true, ..Default::default() })?;
        vm.run_job_with("stream", RunJobOptions { auto_finalize: true, auto_dismiss: true, ..Default::default() })?;
    } else {
        // No, the jobs do not really finish concurrently here,
        // the stream job does complete strictly before commit.
        // But still, this is close enough for what we want to
        // test.
        vm.run_job_with("stream", RunJobOptions { auto_finalize: true, auto_dismiss: true, ..Default::default() })?;
        vm.run_job_with("commit", RunJobOptions { auto_finalize: false, auto_dismiss: true, ..Default::default() })?;
    }

    // Assert that the backing node of node3 is node 0 now
    let graph = vm.qmp("x-debug-query-block-graph", ())?;
    let graph = dictpath(&graph, "return")?;
    let edges =
        dictpath(graph, "edges")?.as_array().ok_or_else(|| Error::fail("TypeError: graph['edges'] is not a list"))?;
    for edge in edges {
        if edge["name"] == "backing" && find_graph_node(graph, &edge["parent"])?["name"] == "node3" {
            assert_true(
                find_graph_node(graph, &edge["child"])?["name"] == "node0",
                "assert find_graph_node(graph, edge['child'])['name'] == 'node0'",
            )?;
            break;
        }
    }

    vm.shutdown()?;
    Ok(())
}

iotests::iotest! {
    name: "258", groups: [rw, quick],
    supported_fmts: ["qcow2", "qed"],
    supported_platforms: ["linux"],
    fn t258(t) {
        t.log("Running tests:");
        test_concurrent_finish(t, true)?;
        test_concurrent_finish(t, false)?;
        Ok(())
    }
}
