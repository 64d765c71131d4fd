//! Upstream tests/graph-changes-while-io: add/remove an overlay and commit it while qemu-img bench does I/O over NBD.

use iotests::globals::current;
use iotests::prelude::*;
use iotests::threading::Thread;

fn top() -> String {
    os::path::join(test_dir(), "top.img")
}

fn nbd_sock() -> String {
    os::path::join(sock_dir(), "nbd.sock")
}

/// Do some I/O requests on `nbd_sock`.
fn do_qemu_img_bench(count: u64) -> Result<()> {
    current().qemu_img(&args![
        "bench",
        "-f",
        "raw",
        "-c",
        count.to_string(),
        format!("nbd+unix:///node0?socket={}", nbd_sock())
    ])?;
    Ok(())
}

struct TestGraphChangesWhileIO {
    qsd: Option<QemuStorageDaemon>,
}

#[iotests::test_case]
impl TestGraphChangesWhileIO {
    fn new() -> Self {
        TestGraphChangesWhileIO { qsd: None }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        // Create an overlay that can be added at runtime on top of the
        // null-co block node that will receive I/O
        t.qemu_img_create(&args!["-f", imgfmt(), "-F", "raw", "-b", "null-co://", top()])?;

        // QSD instance with a null-co block node in an I/O thread,
        // exported over NBD (on `nbd_sock`, export name "node0")
        self.qsd = Some(t.qemu_storage_daemon_with(
            &[
                "--object".to_string(),
                "iothread,id=iothread0".to_string(),
                "--blockdev".to_string(),
                "null-co,node-name=node0,read-zeroes=true".to_string(),
                "--nbd-server".to_string(),
                format!("addr.type=unix,addr.path={}", nbd_sock()),
                "--export".to_string(),
                "nbd,id=exp0,node-name=node0,iothread=iothread0,".to_string() + "fixed-iothread=true,writable=true",
            ],
            QsdOptions { qmp: true, ..Default::default() },
        )?);
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        if let Some(qsd) = self.qsd.as_mut() {
            qsd.stop()?;
        }
        Ok(())
    }

    fn qsd(&mut self) -> Result<&mut QemuStorageDaemon> {
        self.qsd.as_mut().ok_or_else(|| Error::python("AttributeError", "'NoneType' object has no attribute 'cmd'"))
    }

    fn test_blockdev_add_while_io(&mut self) -> Result<()> {
        // Run qemu-img bench in the background
        let bench_thr = Thread::start(|| do_qemu_img_bench(2000000));

        // While qemu-img bench is running, repeatedly add and remove an
        // overlay to/from node0
        while bench_thr.is_alive() {
            self.qsd()?.cmd(
                "blockdev-add",
                json!({
                    "driver": imgfmt(),
                    "node-name": "overlay",
                    "backing": "node0",
                    "file": {
                        "driver": "file",
                        "filename": top()
                    }
                }),
            )?;

            self.qsd()?.cmd(
                "blockdev-del",
                json!({
                    "node-name": "overlay"
                }),
            )?;
        }

        bench_thr.join()
    }

    fn test_commit_while_io(&mut self, t: &Case) -> Result<()> {
        // Run qemu-img bench in the background
        let bench_thr = Thread::start(|| do_qemu_img_bench(200000));

        t.qemu_io(&args!["-c", "write 0 64k", top()])?;
        t.qemu_io(&args!["-c", "write 128k 64k", top()])?;

        self.qsd()?.cmd(
            "blockdev-add",
            json!({
                "driver": imgfmt(),
                "node-name": "overlay",
                "backing": null,
                "file": {
                    "driver": "file",
                    "filename": top()
                }
            }),
        )?;

        self.qsd()?.cmd(
            "blockdev-snapshot",
            json!({
                "node": "node0",
                "overlay": "overlay",
            }),
        )?;

        // While qemu-img bench is running, repeatedly commit overlay to node0
        while bench_thr.is_alive() {
            self.qsd()?.cmd(
                "block-commit",
                json!({
                    "job-id": "job0",
                    "device": "overlay",
                }),
            )?;

            self.qsd()?.cmd(
                "block-job-cancel",
                json!({
                    "device": "job0",
                }),
            )?;

            let mut cancelled = false;
            while !cancelled {
                for event in self.qsd()?.get_qmp()?.get_events(10.0)? {
                    if event["event"] != "JOB_STATUS_CHANGE" {
                        continue;
                    }
                    if event["data"]["status"] == "null" {
                        cancelled = true;
                    }
                }
            }
        }

        bench_thr.join()
    }
}

iotests::iotest! {
    name: "graph-changes-while-io", groups: [rw],
    // Format must support raw backing files
    supported_fmts: ["qcow", "qcow2", "qed"],
    supported_protocols: ["file"],
    fn graph_changes_while_io: unittest { TestGraphChangesWhileIO }
}
