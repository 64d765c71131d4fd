//! Upstream 030: image streaming (block-stream): whole and partial chains, pause, parallel and overlapping jobs, errors, speed.

use iotests::json::Subscript;
use iotests::prelude::*;

fn backing_img() -> String {
    os::path::join(test_dir(), "backing.img")
}

fn mid_img() -> String {
    os::path::join(test_dir(), "mid.img")
}

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

struct TestSingleDrive {
    vm: Vm,
}

#[iotests::test_case]
impl TestSingleDrive {
    const IMAGE_LEN: u64 = 1024 * 1024; // MB

    fn new(t: &Case) -> Self {
        TestSingleDrive { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.create_image(&backing_img(), TestSingleDrive::IMAGE_LEN)?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", backing_img()),
            "-F",
            "raw",
            mid_img()
        ])?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", mid_img()),
            "-F",
            imgfmt(),
            test_img()
        ])?;
        t.qemu_io(&args!["-f", "raw", "-c", "write -P 0x1 0 512", backing_img()])?;
        t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P 0x1 524288 512", mid_img()])?;
        self.vm = t.vm();
        self.vm.add_drive_with(
            format!("blkdebug::{}", test_img()),
            "backing.node-name=mid,".to_string() + "backing.backing.node-name=base",
        );
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(mid_img())?;
        os::remove(backing_img())?;
        Ok(())
    }

    fn test_stream(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("block-stream", kwargs! { device: "drive0" })?;

        self.vm.wait_until_completed()?;

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()?;

        assert_equal!(
            t.qemu_io(&args!["-f", "raw", "-c", "map", backing_img()])?.stdout,
            t.qemu_io(&args!["-f", imgfmt(), "-c", "map", test_img()])?.stdout,
            "image file map does not match backing file after streaming"
        );
        Ok(())
    }

    fn test_stream_intermediate(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        assert_not_equal!(
            t.qemu_io(&args!["-f", "raw", "-rU", "-c", "map", backing_img()])?.stdout,
            t.qemu_io(&args!["-f", imgfmt(), "-rU", "-c", "map", mid_img()])?.stdout,
            "image file map matches backing file before streaming"
        );

        self.vm.cmd("block-stream", kwargs! { device: "mid", job_id: "stream-mid" })?;

        self.vm.wait_until_completed_with("stream-mid")?;

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()?;

        assert_equal!(
            t.qemu_io(&args!["-f", "raw", "-c", "map", backing_img()])?.stdout,
            t.qemu_io(&args!["-f", imgfmt(), "-c", "map", mid_img()])?.stdout,
            "image file map does not match backing file after streaming"
        );
        Ok(())
    }

    fn test_stream_pause(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.pause_drive("drive0")?;
        self.vm.cmd("block-stream", kwargs! { device: "drive0" })?;

        self.vm.pause_job_with(PauseJob { job_id: "drive0", wait: false })?;
        self.vm.resume_drive("drive0")?;
        self.vm.pause_wait_with("drive0")?;

        let result = self.vm.qmp("query-block-jobs", ())?;
        let offset = dictpath(&result, "return[0]/offset")?.clone();

        sleep(0.5);
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/offset", offset)?;

        self.vm.cmd("block-job-resume", kwargs! { device: "drive0" })?;

        self.vm.wait_until_completed()?;

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()?;

        assert_equal!(
            t.qemu_io(&args!["-f", "raw", "-c", "map", backing_img()])?.stdout,
            t.qemu_io(&args!["-f", imgfmt(), "-c", "map", test_img()])?.stdout,
            "image file map does not match backing file after streaming"
        );
        Ok(())
    }

    fn test_stream_no_op(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        // The image map is empty before the operation
        let empty_map = t.qemu_io(&args!["-f", imgfmt(), "-rU", "-c", "map", test_img()])?.stdout;

        // This is a no-op: no data should ever be copied from the base image
        self.vm.cmd("block-stream", kwargs! { device: "drive0", base: mid_img() })?;

        self.vm.wait_until_completed()?;

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()?;

        assert_equal!(
            t.qemu_io(&args!["-f", imgfmt(), "-c", "map", test_img()])?.stdout,
            empty_map,
            "image file map changed after a no-op"
        );
        Ok(())
    }

    fn test_stream_partial(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("block-stream", kwargs! { device: "drive0", base: backing_img() })?;

        self.vm.wait_until_completed()?;

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()?;

        assert_equal!(
            t.qemu_io(&args!["-f", imgfmt(), "-c", "map", mid_img()])?.stdout,
            t.qemu_io(&args!["-f", imgfmt(), "-c", "map", test_img()])?.stdout,
            "image file map does not match backing file after streaming"
        );
        Ok(())
    }

    fn test_device_not_found(&mut self) -> Result<()> {
        let result = self.vm.qmp("block-stream", kwargs! { device: "nonexistent" })?;
        assert_qmp(&result, "error/desc", "Cannot find device='nonexistent' nor node-name='nonexistent'")?;
        Ok(())
    }

    fn test_job_id_missing(&mut self) -> Result<()> {
        let result = self.vm.qmp("block-stream", kwargs! { device: "mid" })?;
        assert_qmp(&result, "error/desc", "Invalid job ID ''")?;
        Ok(())
    }

    fn test_read_only(&mut self, t: &Case) -> Result<()> {
        // Create a new file that we can attach (we need a read-only top)
        let ro_top_path = t.scoped_file_paths(["ro-top.img"]);
        let ro_top_path = &ro_top_path[0];
        t.qemu_img(&args!["create", "-f", imgfmt(), ro_top_path, TestSingleDrive::IMAGE_LEN.to_string()])?;

        self.vm.cmd(
            "blockdev-add",
            kwargs! {
                node_name: "ro-top",
                driver: imgfmt(),
                read_only: true,
                file: {
                    "driver": "file",
                    "filename": ro_top_path,
                    "read-only": true
                },
                backing: "mid"
            },
        )?;

        let result = self.vm.qmp("block-stream", kwargs! { job_id: "stream", device: "ro-top", base_node: "base" })?;
        assert_qmp(&result, "error/desc", "Block node is read-only")?;

        self.vm.cmd("blockdev-del", kwargs! { node_name: "ro-top" })?;
        Ok(())
    }
}

struct TestParallelOps {
    #[allow(dead_code)] // only the class body reads it
    num_ops: usize,
    num_imgs: usize,
    image_len: u64,
    imgs: Vec<String>,
    vm: Vm,
}

#[iotests::test_case]
impl TestParallelOps {
    fn new(t: &Case) -> Self {
        let num_ops = 4; // Number of parallel block-stream operations
        TestParallelOps {
            num_ops,
            num_imgs: num_ops * 2 + 1,
            image_len: num_ops as u64 * 4 * 1024 * 1024,
            imgs: Vec::new(),
            vm: t.vm(),
        }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        let mut opts = Vec::new();
        self.imgs = Vec::new();

        // Initialize file names and command-line options
        for i in 0..self.num_imgs {
            let img_depth = self.num_imgs - i - 1;
            opts.push("backing.".repeat(img_depth) + &format!("node-name=node{i}"));
            self.imgs.push(os::path::join(test_dir(), format!("img-{i}.img")));
        }

        // Create all images
        t.create_image(&self.imgs[0], self.image_len)?;
        for i in 1..self.num_imgs {
            t.qemu_img(&args![
                "create",
                "-f",
                imgfmt(),
                "-o",
                format!("backing_file={}", self.imgs[i - 1]),
                "-F",
                if i == 1 { "raw".to_string() } else { imgfmt() },
                &self.imgs[i]
            ])?;
        }

        // Put data into the images we are copying data from
        let odd_img_indexes: Vec<usize> = (0..self.num_imgs).rev().filter(|x| x % 2 == 1).collect();
        for (i, &odd_img_index) in odd_img_indexes.iter().enumerate() {
            // Alternate between 2MB and 4MB.
            // This way jobs will not finish in the same order they were created
            let num_mb = 2 + 2 * (i % 2);
            t.qemu_io(&args![
                "-f",
                imgfmt(),
                "-c",
                format!("write -P 0xFF {}M {num_mb}M", i * 4),
                &self.imgs[odd_img_index]
            ])?;
        }

        // Attach the drive to the VM
        self.vm = t.vm();
        self.vm.add_drive_with(&self.imgs[self.imgs.len() - 1], opts.join(","));
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        for img in &self.imgs {
            os::remove(img)?;
        }
        Ok(())
    }

    // Test that it's possible to run several block-stream operations
    // in parallel in the same snapshot chain
    #[skip_if(std::env::var("QEMU_CHECK_BLOCK_AUTO").is_ok_and(|v| !v.is_empty()), "disabled in CI")]
    fn test_stream_parallel(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        // Check that the maps don't match before the streaming operations
        for i in (2..self.num_imgs).step_by(2) {
            assert_not_equal!(
                t.qemu_io(&args!["-f", imgfmt(), "-rU", "-c", "map", &self.imgs[i]])?.stdout,
                t.qemu_io(&args!["-f", imgfmt(), "-rU", "-c", "map", &self.imgs[i - 1]])?.stdout,
                "image file map matches backing file before streaming"
            );
        }

        // Create all streaming jobs
        let mut pending_jobs = Vec::new();
        for i in (2..self.num_imgs).step_by(2) {
            let node_name = format!("node{i}");
            let job_id = format!("stream-{node_name}");
            pending_jobs.push(job_id.clone());
            self.vm.cmd(
                "block-stream",
                kwargs! { device: node_name, job_id: job_id, bottom: format!("node{}", i - 1), speed: 1024 },
            )?;
        }

        // Do this in reverse: After unthrottling them, some jobs may finish
        // before we have unthrottled all of them.  This will drain their
        // subgraph, and this will make jobs above them advance (despite those
        // jobs on top being throttled).  In the worst case, all jobs below the
        // top one are finished before we can unthrottle it, and this makes it
        // advance so far that it completes before we can unthrottle it - which
        // results in an error.
        // Starting from the top (i.e. in reverse) does not have this problem:
        // When a job finishes, the ones below it are not advanced.
        for job in pending_jobs.iter().rev() {
            self.vm.cmd("block-job-set-speed", kwargs! { device: job, speed: 0 })?;
        }

        // Wait for all jobs to be finished.
        while !pending_jobs.is_empty() {
            for event in self.vm.get_qmp_events_with(true)? {
                if event["event"] == "BLOCK_JOB_COMPLETED" {
                    let job_id = dictpath(&event, "data/device")?.clone();
                    assert_true!(pending_jobs.iter().any(|j| job_id == j.as_str()));
                    assert_qmp_absent(&event, "data/error")?;
                    pending_jobs.retain(|j| job_id != j.as_str());
                }
            }
        }

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()?;

        // Check that all maps match now
        for i in (2..self.num_imgs).step_by(2) {
            assert_equal!(
                t.qemu_io(&args!["-f", imgfmt(), "-c", "map", &self.imgs[i]])?.stdout,
                t.qemu_io(&args!["-f", imgfmt(), "-c", "map", &self.imgs[i - 1]])?.stdout,
                "image file map does not match backing file after streaming"
            );
        }
        Ok(())
    }

    // Test that it's not possible to perform two block-stream
    // operations if there are nodes involved in both.
    fn test_overlapping_1(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        // Set a speed limit to make sure that this job blocks the rest
        self.vm.cmd(
            "block-stream",
            kwargs! {
                device: "node4", job_id: "stream-node4", base: self.imgs[1],
                filter_node_name: "stream-filter", speed: 1024 * 1024
            },
        )?;

        let result =
            self.vm.qmp("block-stream", kwargs! { device: "node5", job_id: "stream-node5", base: self.imgs[2] })?;
        assert_qmp(&result, "error/desc", "Node 'stream-filter' is busy: block device is in use by block job: stream")?;

        let result =
            self.vm.qmp("block-stream", kwargs! { device: "node3", job_id: "stream-node3", base: self.imgs[2] })?;
        assert_qmp(&result, "error/desc", "Node 'node3' is busy: block device is in use by block job: stream")?;

        let result = self.vm.qmp("block-stream", kwargs! { device: "node4", job_id: "stream-node4-v2" })?;
        assert_qmp(&result, "error/desc", "Node 'node4' is busy: block device is in use by block job: stream")?;

        // block-commit should also fail if it touches nodes used by the stream job
        let result =
            self.vm.qmp("block-commit", kwargs! { device: "drive0", base: self.imgs[4], job_id: "commit-node4" })?;
        assert_qmp(&result, "error/desc", "Node 'stream-filter' is busy: block device is in use by block job: stream")?;

        let result = self.vm.qmp(
            "block-commit",
            kwargs! { device: "drive0", base: self.imgs[1], top: self.imgs[3], job_id: "commit-node1" },
        )?;
        assert_qmp(&result, "error/desc", "Node 'node3' is busy: block device is in use by block job: stream")?;

        // This fails because it needs to modify the backing string in node2, which is blocked
        let result = self.vm.qmp(
            "block-commit",
            kwargs! { device: "drive0", base: self.imgs[0], top: self.imgs[1], job_id: "commit-node0" },
        )?;
        assert_qmp(&result, "error/desc", "Node 'node2' is busy: block device is in use by block job: stream")?;

        self.vm.cmd("block-job-set-speed", kwargs! { device: "stream-node4", speed: 0 })?;

        self.vm.wait_until_completed_with("stream-node4")?;
        self.vm.assert_no_active_block_jobs()
    }

    // Similar to test_overlapping_1, but with block-commit
    // blocking the other jobs
    fn test_overlapping_2(&mut self) -> Result<()> {
        assert_less_equal!(9, self.num_imgs);
        self.vm.assert_no_active_block_jobs()?;

        // Set a speed limit to make sure that this job blocks the rest
        self.vm.cmd(
            "block-commit",
            kwargs! {
                device: "drive0", top: self.imgs[5], base: self.imgs[3], job_id: "commit-node3", speed: 1024 * 1024
            },
        )?;

        let result = self.vm.qmp("block-stream", kwargs! { device: "node3", job_id: "stream-node3" })?;
        assert_qmp(&result, "error/desc", "Node 'node3' is busy: block device is in use by block job: commit")?;

        let result =
            self.vm.qmp("block-stream", kwargs! { device: "node6", base: self.imgs[2], job_id: "stream-node6" })?;
        assert_qmp(&result, "error/desc", "Node 'node5' is busy: block device is in use by block job: commit")?;

        let result =
            self.vm.qmp("block-stream", kwargs! { device: "node4", base: self.imgs[2], job_id: "stream-node4" })?;
        assert_qmp(&result, "error/desc", "Node 'node4' is busy: block device is in use by block job: commit")?;

        let result =
            self.vm.qmp("block-stream", kwargs! { device: "node6", base: self.imgs[4], job_id: "stream-node6-v2" })?;
        assert_qmp(&result, "error/desc", "Node 'node5' is busy: block device is in use by block job: commit")?;

        // This fails because block-commit currently blocks the active layer even if it's not used
        let result =
            self.vm.qmp("block-stream", kwargs! { device: "drive0", base: self.imgs[5], job_id: "stream-drive0" })?;
        assert_qmp(&result, "error/desc", "Node 'drive0' is busy: block device is in use by block job: commit")?;

        self.vm.cmd("block-job-set-speed", kwargs! { device: "commit-node3", speed: 0 })?;

        self.vm.wait_until_completed_with("commit-node3")?;
        Ok(())
    }

    // Similar to test_overlapping_2, but here block-commit doesn't use the 'top' parameter.
    // Internally this uses a mirror block job, hence the separate test case.
    fn test_overlapping_3(&mut self) -> Result<()> {
        assert_less_equal!(8, self.num_imgs);
        self.vm.assert_no_active_block_jobs()?;

        // Set a speed limit to make sure that this job blocks the rest
        self.vm.cmd(
            "block-commit",
            kwargs! { device: "drive0", base: self.imgs[3], job_id: "commit-drive0", speed: 1024 * 1024 },
        )?;

        let result =
            self.vm.qmp("block-stream", kwargs! { device: "node5", base: self.imgs[3], job_id: "stream-node6" })?;
        assert_qmp(&result, "error/desc", "Node 'node5' is busy: block device is in use by block job: commit")?;

        self.vm.cmd("block-job-set-speed", kwargs! { device: "commit-drive0", speed: 0 })?;

        let event = self.vm.event_wait("BLOCK_JOB_READY")?;
        assert_qmp(&event, "data/device", "commit-drive0")?;
        assert_qmp(&event, "data/type", "commit")?;
        assert_qmp_absent(&event, "data/error")?;

        self.vm.cmd("block-job-complete", kwargs! { device: "commit-drive0" })?;

        self.vm.wait_until_completed_with("commit-drive0")?;
        Ok(())
    }

    // In this case the base node of the stream job is the same as the
    // top node of commit job. Since this results in the commit filter
    // node being part of the stream chain, this is not allowed.
    fn test_overlapping_4(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        // Commit from node2 into node0
        self.vm.cmd(
            "block-commit",
            kwargs! {
                device: "drive0", top: self.imgs[2], base: self.imgs[0],
                filter_node_name: "commit-filter", speed: 1024 * 1024
            },
        )?;

        // Stream from node2 into node4
        let result = self.vm.qmp("block-stream", kwargs! { device: "node4", base_node: "node2", job_id: "node4" })?;
        assert_qmp(&result, "error/desc", "Cannot freeze 'backing' link to 'commit-filter'")?;

        self.vm.cmd("block-job-set-speed", kwargs! { device: "drive0", speed: 0 })?;

        self.vm.wait_until_completed()?;
        self.vm.assert_no_active_block_jobs()
    }

    // In this case the base node of the stream job is the commit job's
    // filter node.  stream does not have a real dependency on its base
    // node, so even though commit removes it when it is done, there is
    // no conflict.
    fn test_overlapping_5(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        // Commit from node2 into node0
        self.vm.cmd(
            "block-commit",
            kwargs! {
                device: "drive0", top_node: "node2", base_node: "node0",
                filter_node_name: "commit-filter", speed: 1024 * 1024
            },
        )?;

        // Stream from node2 into node4
        self.vm.cmd("block-stream", kwargs! { device: "node4", base_node: "commit-filter", job_id: "node4" })?;

        self.vm.cmd("block-job-set-speed", kwargs! { device: "drive0", speed: 0 })?;

        self.vm.run_job_with("drive0", RunJobOptions { auto_dismiss: true, ..Default::default() })?;
        self.vm.run_job_with("node4", RunJobOptions { auto_dismiss: true, ..Default::default() })?;
        self.vm.assert_no_active_block_jobs()?;

        // Assert that node0 is now the backing node of node4
        let result = self.vm.qmp("query-named-block-nodes", ())?;
        let node4 = result["return"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|node| node["node-name"] == "node4"))
            .ok_or_else(|| Error::python("StopIteration", ""))?;
        assert_equal!(node4["image"]["backing-image"]["filename"], self.imgs[0]);
        Ok(())
    }

    // Test a block-stream and a block-commit job in parallel
    // Here the stream job is supposed to finish quickly in order to reproduce
    // the scenario that triggers the bug fixed in 3d5d319e1221 and 1a63a907507
    fn test_stream_commit_1(&mut self) -> Result<()> {
        assert_less_equal!(8, self.num_imgs);
        self.vm.assert_no_active_block_jobs()?;

        // Stream from node0 into node2
        self.vm.cmd("block-stream", kwargs! { device: "node2", base_node: "node0", job_id: "node2" })?;

        // Commit from the active layer into node3
        self.vm.cmd("block-commit", kwargs! { device: "drive0", base: self.imgs[3] })?;

        // Wait for all jobs to be finished.
        let mut pending_jobs = vec!["node2", "drive0"];
        while !pending_jobs.is_empty() {
            for event in self.vm.get_qmp_events_with(true)? {
                if event["event"] == "BLOCK_JOB_COMPLETED" {
                    let node_name = dictpath(&event, "data/device")?.clone();
                    assert_true!(pending_jobs.iter().any(|j| node_name == *j));
                    assert_qmp_absent(&event, "data/error")?;
                    pending_jobs.retain(|j| node_name != *j);
                }
                if event["event"] == "BLOCK_JOB_READY" {
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/type", "commit")?;
                    assert_qmp_absent(&event, "data/error")?;
                    assert_true!(pending_jobs.contains(&"drive0"));
                    self.vm.qmp("block-job-complete", kwargs! { device: "drive0" })?;
                }
            }
        }

        self.vm.assert_no_active_block_jobs()
    }

    // This is similar to test_stream_commit_1 but both jobs are slowed
    // down so they can run in parallel for a little while.
    fn test_stream_commit_2(&mut self) -> Result<()> {
        assert_less_equal!(8, self.num_imgs);
        self.vm.assert_no_active_block_jobs()?;

        // Stream from node0 into node4
        self.vm.cmd(
            "block-stream",
            kwargs! { device: "node4", base_node: "node0", job_id: "node4", speed: 1024 * 1024 },
        )?;

        // Commit from the active layer into node5
        self.vm.cmd("block-commit", kwargs! { device: "drive0", base: self.imgs[5], speed: 1024 * 1024 })?;

        for job in ["drive0", "node4"] {
            self.vm.cmd("block-job-set-speed", kwargs! { device: job, speed: 0 })?;
        }

        // Wait for all jobs to be finished.
        let mut pending_jobs = vec!["node4", "drive0"];
        while !pending_jobs.is_empty() {
            for event in self.vm.get_qmp_events_with(true)? {
                if event["event"] == "BLOCK_JOB_COMPLETED" {
                    let node_name = dictpath(&event, "data/device")?.clone();
                    assert_true!(pending_jobs.iter().any(|j| node_name == *j));
                    assert_qmp_absent(&event, "data/error")?;
                    pending_jobs.retain(|j| node_name != *j);
                }
                if event["event"] == "BLOCK_JOB_READY" {
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/type", "commit")?;
                    assert_qmp_absent(&event, "data/error")?;
                    assert_true!(pending_jobs.contains(&"drive0"));
                    self.vm.qmp("block-job-complete", kwargs! { device: "drive0" })?;
                }
            }
        }

        self.vm.assert_no_active_block_jobs()
    }

    // Test the base_node parameter
    fn test_stream_base_node_name(&mut self, t: &Case) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        assert_not_equal!(
            t.qemu_io(&args!["-f", imgfmt(), "-rU", "-c", "map", &self.imgs[4]])?.stdout,
            t.qemu_io(&args!["-f", imgfmt(), "-rU", "-c", "map", &self.imgs[3]])?.stdout,
            "image file map matches backing file before streaming"
        );

        // Error: the base node does not exist
        let result = self.vm.qmp("block-stream", kwargs! { device: "node4", base_node: "none", job_id: "stream" })?;
        assert_qmp(&result, "error/desc", "Cannot find device='' nor node-name='none'")?;

        // Error: the base node is not a backing file of the top node
        let result = self.vm.qmp("block-stream", kwargs! { device: "node4", base_node: "node6", job_id: "stream" })?;
        assert_qmp(&result, "error/desc", "Node 'node6' is not a backing image of 'node4'")?;

        // Error: the base node is the same as the top node
        let result = self.vm.qmp("block-stream", kwargs! { device: "node4", base_node: "node4", job_id: "stream" })?;
        assert_qmp(&result, "error/desc", "Node 'node4' is not a backing image of 'node4'")?;

        // Error: cannot specify 'base' and 'base-node' at the same time
        let result = self.vm.qmp(
            "block-stream",
            kwargs! { device: "node4", base: self.imgs[2], base_node: "node2", job_id: "stream" },
        )?;
        assert_qmp(&result, "error/desc", "'base' and 'base-node' cannot be specified at the same time")?;

        // Success: the base node is a backing file of the top node
        self.vm.cmd("block-stream", kwargs! { device: "node4", base_node: "node2", job_id: "stream" })?;

        self.vm.wait_until_completed_with("stream")?;

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()?;

        assert_equal!(
            t.qemu_io(&args!["-f", imgfmt(), "-c", "map", &self.imgs[4]])?.stdout,
            t.qemu_io(&args!["-f", imgfmt(), "-c", "map", &self.imgs[3]])?.stdout,
            "image file map matches backing file after streaming"
        );
        Ok(())
    }
}

struct TestQuorum {
    num_children: usize,
    children: Vec<String>,
    backing: Vec<String>,
    vm: Vm,
}

#[iotests::test_case]
impl TestQuorum {
    fn new(t: &Case) -> Self {
        TestQuorum { num_children: 3, children: Vec::new(), backing: Vec::new(), vm: t.vm() }
    }

    #[skip_if_unsupported(["quorum"])]
    fn set_up(&mut self, t: &Case) -> Result<()> {
        let mut opts = vec!["driver=quorum".to_string(), "vote-threshold=2".to_string()];

        // Initialize file names and command-line options
        for i in 0..self.num_children {
            let child_img = os::path::join(test_dir(), format!("img-{i}.img"));
            let backing_img = os::path::join(test_dir(), format!("backing-{i}.img"));
            self.children.push(child_img.clone());
            self.backing.push(backing_img.clone());
            t.qemu_img(&args!["create", "-f", imgfmt(), &backing_img, "1M"])?;
            t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P 0x55 0 1024", &backing_img])?;
            t.qemu_img(&args![
                "create",
                "-f",
                imgfmt(),
                "-o",
                format!("backing_file={backing_img}"),
                "-F",
                imgfmt(),
                &child_img
            ])?;
            opts.push(format!("children.{i}.file.filename={child_img}"));
            opts.push(format!("children.{i}.node-name=node{i}"));
        }

        // Attach the drive to the VM
        self.vm = t.vm();
        self.vm.add_drive_with(None, opts.join(","));
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        for img in &self.children {
            os::remove(img)?;
        }
        for img in &self.backing {
            os::remove(img)?;
        }
        Ok(())
    }

    fn test_stream_quorum(&mut self, t: &Case) -> Result<()> {
        assert_not_equal!(
            t.qemu_io(&args!["-f", imgfmt(), "-rU", "-c", "map", &self.children[0]])?.stdout,
            t.qemu_io(&args!["-f", imgfmt(), "-rU", "-c", "map", &self.backing[0]])?.stdout,
            "image file map matches backing file before streaming"
        );

        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("block-stream", kwargs! { device: "node0", job_id: "stream-node0" })?;

        self.vm.wait_until_completed_with("stream-node0")?;

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()?;

        assert_equal!(
            t.qemu_io(&args!["-f", imgfmt(), "-c", "map", &self.children[0]])?.stdout,
            t.qemu_io(&args!["-f", imgfmt(), "-c", "map", &self.backing[0]])?.stdout,
            "image file map does not match backing file after streaming"
        );
        Ok(())
    }
}

struct TestSmallerBackingFile {
    backing_len: u64,
    image_len: u64,
    vm: Vm,
}

#[iotests::test_case]
impl TestSmallerBackingFile {
    fn new(t: &Case) -> Self {
        let backing_len = 1024 * 1024; // MB
        TestSmallerBackingFile { backing_len, image_len: 2 * backing_len, vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.create_image(&backing_img(), self.backing_len)?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", backing_img()),
            "-F",
            "raw",
            test_img(),
            self.image_len.to_string()
        ])?;
        self.vm = t.vm();
        self.vm.add_drive(test_img());
        self.vm.launch()
    }

    // If this hangs, then you are missing a fix to complete streaming when the
    // end of the backing file is reached.
    fn test_stream(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("block-stream", kwargs! { device: "drive0" })?;

        self.vm.wait_until_completed()?;

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()
    }
}

#[derive(Default)]
struct TestErrors;

#[iotests::test_case]
impl TestErrors {
    const IMAGE_LEN: u64 = 2 * 1024 * 1024; // MB

    // this should match STREAM_BUFFER_SIZE/512 in block/stream.c
    const STREAM_BUFFER_SIZE: u64 = 512 * 1024;

    fn create_blkdebug_file(&self, name: &str, event: &str, errno: i32) -> Result<()> {
        std::fs::write(
            name,
            format!(
                r#"
[inject-error]
state = "1"
event = "{event}"
errno = "{errno}"
immediately = "off"
once = "on"
sector = "{}"

[set-state]
state = "1"
event = "{event}"
new_state = "2"

[set-state]
state = "2"
event = "{event}"
new_state = "1"
"#,
                Self::STREAM_BUFFER_SIZE / 512
            ),
        )
        .context(format!("writing {name}"))
    }
}

struct TestEIO {
    base: TestErrors,
    blkdebug_file: String,
    vm: Vm,
}

#[iotests::test_case(extends = TestErrors)]
impl TestEIO {
    fn new(t: &Case) -> Result<Self> {
        Ok(TestEIO { base: TestErrors::new(t)?, blkdebug_file: String::new(), vm: t.vm() })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.blkdebug_file = backing_img() + ".blkdebug";
        t.create_image(&backing_img(), TestErrors::IMAGE_LEN)?;
        self.create_blkdebug_file(&self.blkdebug_file, "read_aio", 5)?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file=blkdebug:{}:{},backing_fmt=raw", self.blkdebug_file, backing_img()),
            test_img()
        ])?;
        self.vm = t.vm();
        self.vm.add_drive(test_img());
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(backing_img())?;
        os::remove(&self.blkdebug_file)?;
        Ok(())
    }

    fn test_report(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("block-stream", kwargs! { device: "drive0" })?;

        let mut completed = false;
        let mut error = false;
        while !completed {
            for event in self.vm.get_qmp_events_with(true)? {
                if event["event"] == "BLOCK_JOB_ERROR" {
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/operation", "read")?;
                    error = true;
                } else if event["event"] == "BLOCK_JOB_COMPLETED" {
                    assert_true!(error, "job completed unexpectedly");
                    assert_qmp(&event, "data/type", "stream")?;
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/error", "Input/output error")?;
                    assert_qmp(&event, "data/offset", TestErrors::STREAM_BUFFER_SIZE)?;
                    assert_qmp(&event, "data/len", TestErrors::IMAGE_LEN)?;
                    completed = true;
                } else if event["event"] == "JOB_STATUS_CHANGE" {
                    assert_qmp(&event, "data/id", "drive0")?;
                }
            }
        }

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()
    }

    fn test_ignore(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("block-stream", kwargs! { device: "drive0", on_error: "ignore" })?;

        let mut error = false;
        let mut completed = false;
        while !completed {
            for event in self.vm.get_qmp_events_with(true)? {
                if event["event"] == "BLOCK_JOB_ERROR" {
                    error = true;
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/operation", "read")?;
                    let result = self.vm.qmp("query-block-jobs", ())?;
                    if result == json!({"return": []}) {
                        // Job finished too quickly
                        continue;
                    }
                    assert_in!(result["return"][0]["status"], ["running", "pending", "aborting", "concluded"]);
                } else if event["event"] == "BLOCK_JOB_COMPLETED" {
                    assert_true!(error, "job completed unexpectedly");
                    assert_qmp(&event, "data/type", "stream")?;
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/error", "Input/output error")?;
                    assert_qmp(&event, "data/offset", TestErrors::IMAGE_LEN)?;
                    assert_qmp(&event, "data/len", TestErrors::IMAGE_LEN)?;
                    completed = true;
                } else if event["event"] == "JOB_STATUS_CHANGE" {
                    assert_qmp(&event, "data/id", "drive0")?;
                }
            }
        }

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()
    }

    fn test_stop(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("block-stream", kwargs! { device: "drive0", on_error: "stop" })?;

        let mut error = false;
        let mut completed = false;
        while !completed {
            for event in self.vm.get_qmp_events_with(true)? {
                if event["event"] == "BLOCK_JOB_ERROR" {
                    error = true;
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/operation", "read")?;

                    if self.vm.qmp("query-block-jobs", ())?.at("return")?.at(0)?.at("status")? != "paused" {
                        let paused = json!({"data": {"id": "drive0", "status": "paused"}});
                        self.vm.events_wait(&[("JOB_STATUS_CHANGE", Some(&paused))])?;
                    }

                    let result = self.vm.qmp("query-block-jobs", ())?;
                    assert_qmp(&result, "return[0]/status", "paused")?;
                    assert_qmp(&result, "return[0]/offset", TestErrors::STREAM_BUFFER_SIZE)?;
                    assert_qmp(&result, "return[0]/io-status", "failed")?;

                    self.vm.cmd("block-job-resume", kwargs! { device: "drive0" })?;

                    let result = self.vm.qmp("query-block-jobs", ())?;
                    if result == json!({"return": []}) {
                        // Race; likely already finished. Check.
                        continue;
                    }
                    assert_in!(result["return"][0]["status"], ["running", "pending", "aborting", "concluded"]);
                    assert_qmp(&result, "return[0]/io-status", "ok")?;
                } else if event["event"] == "BLOCK_JOB_COMPLETED" {
                    assert_true!(error, "job completed unexpectedly");
                    assert_qmp(&event, "data/type", "stream")?;
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp_absent(&event, "data/error")?;
                    assert_qmp(&event, "data/offset", TestErrors::IMAGE_LEN)?;
                    assert_qmp(&event, "data/len", TestErrors::IMAGE_LEN)?;
                    completed = true;
                } else if event["event"] == "JOB_STATUS_CHANGE" {
                    assert_qmp(&event, "data/id", "drive0")?;
                }
            }
        }

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()
    }

    fn test_enospc(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("block-stream", kwargs! { device: "drive0", on_error: "enospc" })?;

        let mut completed = false;
        let mut error = false;
        while !completed {
            for event in self.vm.get_qmp_events_with(true)? {
                if event["event"] == "BLOCK_JOB_ERROR" {
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/operation", "read")?;
                    error = true;
                } else if event["event"] == "BLOCK_JOB_COMPLETED" {
                    assert_true!(error, "job completed unexpectedly");
                    assert_qmp(&event, "data/type", "stream")?;
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/error", "Input/output error")?;
                    assert_qmp(&event, "data/offset", TestErrors::STREAM_BUFFER_SIZE)?;
                    assert_qmp(&event, "data/len", TestErrors::IMAGE_LEN)?;
                    completed = true;
                } else if event["event"] == "JOB_STATUS_CHANGE" {
                    assert_qmp(&event, "data/id", "drive0")?;
                }
            }
        }

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()
    }
}

struct TestENOSPC {
    base: TestErrors,
    blkdebug_file: String,
    vm: Vm,
}

#[iotests::test_case(extends = TestErrors)]
impl TestENOSPC {
    fn new(t: &Case) -> Result<Self> {
        Ok(TestENOSPC { base: TestErrors::new(t)?, blkdebug_file: String::new(), vm: t.vm() })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.blkdebug_file = backing_img() + ".blkdebug";
        t.create_image(&backing_img(), TestErrors::IMAGE_LEN)?;
        self.create_blkdebug_file(&self.blkdebug_file, "read_aio", 28)?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file=blkdebug:{}:{},backing_fmt=raw", self.blkdebug_file, backing_img()),
            test_img()
        ])?;
        self.vm = t.vm();
        self.vm.add_drive(test_img());
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(backing_img())?;
        os::remove(&self.blkdebug_file)?;
        Ok(())
    }

    fn test_enospc(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("block-stream", kwargs! { device: "drive0", on_error: "enospc" })?;

        let mut error = false;
        let mut completed = false;
        while !completed {
            for event in self.vm.get_qmp_events_with(true)? {
                if event["event"] == "BLOCK_JOB_ERROR" {
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp(&event, "data/operation", "read")?;
                    error = true;

                    if self.vm.qmp("query-block-jobs", ())?.at("return")?.at(0)?.at("status")? != "paused" {
                        let paused = json!({"data": {"id": "drive0", "status": "paused"}});
                        self.vm.events_wait(&[("JOB_STATUS_CHANGE", Some(&paused))])?;
                    }

                    let result = self.vm.qmp("query-block-jobs", ())?;
                    assert_qmp(&result, "return[0]/status", "paused")?;
                    assert_qmp(&result, "return[0]/offset", TestErrors::STREAM_BUFFER_SIZE)?;
                    assert_qmp(&result, "return[0]/io-status", "nospace")?;

                    self.vm.cmd("block-job-resume", kwargs! { device: "drive0" })?;

                    let result = self.vm.qmp("query-block-jobs", ())?;
                    if result == json!({"return": []}) {
                        // Race; likely already finished. Check.
                        continue;
                    }
                    assert_in!(result["return"][0]["status"], ["running", "pending", "aborting", "concluded"]);
                    assert_qmp(&result, "return[0]/io-status", "ok")?;
                } else if event["event"] == "BLOCK_JOB_COMPLETED" {
                    assert_true!(error, "job completed unexpectedly");
                    assert_qmp(&event, "data/type", "stream")?;
                    assert_qmp(&event, "data/device", "drive0")?;
                    assert_qmp_absent(&event, "data/error")?;
                    assert_qmp(&event, "data/offset", TestErrors::IMAGE_LEN)?;
                    assert_qmp(&event, "data/len", TestErrors::IMAGE_LEN)?;
                    completed = true;
                } else if event["event"] == "JOB_STATUS_CHANGE" {
                    assert_qmp(&event, "data/id", "drive0")?;
                }
            }
        }

        self.vm.assert_no_active_block_jobs()?;
        self.vm.shutdown()
    }
}

struct TestStreamStop {
    vm: Vm,
}

#[iotests::test_case]
impl TestStreamStop {
    const IMAGE_LEN: u64 = 8 * 1024 * 1024 * 1024; // GB

    fn new(t: &Case) -> Self {
        TestStreamStop { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", backing_img(), TestStreamStop::IMAGE_LEN.to_string()])?;
        t.qemu_io(&args!["-f", "raw", "-c", "write -P 0x1 0 32M", backing_img()])?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", backing_img()),
            "-F",
            "raw",
            test_img()
        ])?;
        t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P 0x1 32M 32M", test_img()])?;
        self.vm = t.vm();
        self.vm.add_drive(format!("blkdebug::{}", test_img()));
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(backing_img())?;
        Ok(())
    }

    // (Upstream's harness hangs here on a QEMU without the qtest accelerator:
    // under tcg the real firmware's boot read of drive0 goes through the
    // stream job's copy-on-read filter while the job's request is suspended
    // at the blkdebug breakpoint, and QEMU's main loop then blocks for good.
    // The toolkit's halting firmware runs no guest code, as qtest does.)
    fn test_stream_stop(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.pause_drive("drive0")?;
        self.vm.cmd("block-stream", kwargs! { device: "drive0" })?;

        sleep(0.1);
        let events = self.vm.get_qmp_events()?;
        for e in &events {
            assert_qmp(e, "event", "JOB_STATUS_CHANGE")?;
            assert_qmp(e, "data/id", "drive0")?;
        }

        self.vm.cancel_and_wait_with(CancelAndWait { resume: true, ..Default::default() })?;
        Ok(())
    }
}

struct TestSetSpeed {
    vm: Vm,
}

#[iotests::test_case]
impl TestSetSpeed {
    const IMAGE_LEN: u64 = 80 * 1024 * 1024; // MB

    fn new(t: &Case) -> Self {
        TestSetSpeed { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", backing_img(), TestSetSpeed::IMAGE_LEN.to_string()])?;
        t.qemu_io(&args!["-f", "raw", "-c", "write -P 0x1 0 32M", backing_img()])?;
        t.qemu_img(&args![
            "create",
            "-f",
            imgfmt(),
            "-o",
            format!("backing_file={}", backing_img()),
            "-F",
            "raw",
            test_img()
        ])?;
        t.qemu_io(&args!["-f", imgfmt(), "-c", "write -P 0x1 32M 32M", test_img()])?;
        self.vm = t.vm();
        self.vm.add_drive(format!("blkdebug::{}", test_img()));
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        os::remove(backing_img())?;
        Ok(())
    }

    // This is a short performance test which is not run by default.
    // Invoke "IMGFMT=qed ./030 TestSetSpeed.perf_test_throughput"
    #[allow(dead_code)]
    fn perf_test_throughput(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.cmd("block-stream", kwargs! { device: "drive0" })?;

        self.vm.cmd("block-job-set-speed", kwargs! { device: "drive0", speed: 8 * 1024 * 1024 })?;

        self.vm.wait_until_completed()?;

        self.vm.assert_no_active_block_jobs()
    }

    fn test_set_speed(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        self.vm.pause_drive("drive0")?;
        self.vm.cmd("block-stream", kwargs! { device: "drive0" })?;

        // Default speed is 0
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/device", "drive0")?;
        assert_qmp(&result, "return[0]/speed", 0)?;

        self.vm.cmd("block-job-set-speed", kwargs! { device: "drive0", speed: 8 * 1024 * 1024 })?;

        // Ensure the speed we set was accepted
        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/device", "drive0")?;
        assert_qmp(&result, "return[0]/speed", 8 * 1024 * 1024)?;

        self.vm.cancel_and_wait_with(CancelAndWait { resume: true, ..Default::default() })?;
        self.vm.pause_drive("drive0")?;

        // Check setting speed in block-stream works
        self.vm.cmd("block-stream", kwargs! { device: "drive0", speed: 4 * 1024 * 1024 })?;

        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/device", "drive0")?;
        assert_qmp(&result, "return[0]/speed", 4 * 1024 * 1024)?;

        self.vm.cancel_and_wait_with(CancelAndWait { resume: true, ..Default::default() })?;
        Ok(())
    }

    fn test_set_speed_invalid(&mut self) -> Result<()> {
        self.vm.assert_no_active_block_jobs()?;

        let result = self.vm.qmp("block-stream", kwargs! { device: "drive0", speed: -1 })?;
        assert_qmp(&result, "error/desc", "Parameter 'speed' expects a non-negative value")?;

        self.vm.assert_no_active_block_jobs()?;

        self.vm.pause_drive("drive0")?;
        self.vm.cmd("block-stream", kwargs! { device: "drive0" })?;

        let result = self.vm.qmp("block-job-set-speed", kwargs! { device: "drive0", speed: -1 })?;
        assert_qmp(&result, "error/desc", "Parameter 'speed' expects a non-negative value")?;

        self.vm.cancel_and_wait_with(CancelAndWait { resume: true, ..Default::default() })?;
        Ok(())
    }
}

iotests::iotest! {
    name: "030", groups: [rw, backing],
    supported_fmts: ["qcow2", "qed"],
    supported_protocols: ["file"],
    fn t030: unittest {
        TestSingleDrive,
        TestParallelOps,
        TestQuorum,
        TestSmallerBackingFile,
        TestErrors,
        TestEIO,
        TestENOSPC,
        TestStreamStop,
        TestSetSpeed,
    }
}
