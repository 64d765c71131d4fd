//! Upstream tests/nbd-multiconn: NBD_FLAG_CAN_MULTI_CONN on QEMU's NBD exports, and writes through one
//! connection seen by another after a flush through a third.
//!
//! Upstream talks NBD with libnbd's Python binding and does not run without
//! it ("Python bindings to libnbd are not installed"); here the toolkit's
//! NBD client ([`iotests::tools::Nbd`], libnbd's API) stands in for it, so
//! the test always runs.

use iotests::json::PyBytes;
use iotests::prelude::*;
use iotests::tools::Nbd;

fn disk() -> String {
    os::path::join(test_dir(), "disk")
}

const SIZE: &str = "4M";

fn nbd_sock() -> String {
    os::path::join(sock_dir(), "nbd_sock")
}

/// `nbd_uri.format(export_name)`
fn nbd_uri(export_name: &str) -> String {
    format!("nbd+unix:///{export_name}?socket={}", nbd_sock())
}

/// `with open_nbd(export_name) as h:` — connected for the body, shut down
/// after it whatever happened.
fn open_nbd(export_name: &str, body: impl FnOnce(&mut Nbd) -> Result<()>) -> Result<()> {
    let mut h = Nbd::new();
    let result = h.connect_uri(&nbd_uri(export_name)).and_then(|()| body(&mut h));
    let shutdown = h.shutdown();
    result.and(shutdown)
}

struct TestNbdMulticonn {
    vm: Vm,
}

#[iotests::test_case]
impl TestNbdMulticonn {
    fn new(t: &Case) -> Self {
        TestNbdMulticonn { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img_create(&args!["-f", imgfmt(), disk(), SIZE])?;
        t.qemu_io(&args!["-c", "w -P 1 0 2M", "-c", "w -P 2 2M 2M", disk()])?;

        self.vm = t.vm();
        self.vm.launch()?;
        self.vm.cmd(
            "blockdev-add",
            json!({
                "driver": "qcow2",
                "node-name": "n",
                "file": {"driver": "file", "filename": disk()}
            }),
        )?;
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(disk())?;
        // try: os.remove(nbd_sock) except OSError: pass
        let _ = os::remove(nbd_sock());
        Ok(())
    }

    /// `with self.run_server(max_connections):` — the server is stopped
    /// after the body only when the body succeeded, as the Python
    /// generator does.
    fn run_server(&mut self, max_connections: Option<u64>, body: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        let mut args = json!({
            "addr": {
                "type": "unix",
                "data": {"path": nbd_sock()}
            }
        });
        if let Some(max_connections) = max_connections {
            args["max-connections"] = json!(max_connections);
        }

        self.vm.cmd("nbd-server-start", args)?;
        body(self)?;

        self.vm.cmd("nbd-server-stop", ())?;
        Ok(())
    }

    fn add_export(&mut self, name: &str, writable: Option<bool>) -> Result<()> {
        let mut args = json!({
            "type": "nbd",
            "id": name,
            "node-name": "n",
            "name": name,
        });
        if let Some(writable) = writable {
            args["writable"] = json!(writable);
        }

        self.vm.cmd("block-export-add", args)?;
        Ok(())
    }

    fn test_default_settings(&mut self) -> Result<()> {
        self.run_server(None, |s| {
            s.add_export("r", None)?;
            s.add_export("w", Some(true))?;
            open_nbd("r", |h| {
                assert_true!(h.can_multi_conn()?);
                Ok(())
            })?;
            open_nbd("w", |h| {
                assert_true!(h.can_multi_conn()?);
                Ok(())
            })
        })
    }

    fn test_limited_connections(&mut self) -> Result<()> {
        self.run_server(Some(1), |s| {
            s.add_export("r", None)?;
            s.add_export("w", Some(true))?;
            open_nbd("r", |h| {
                assert_false!(h.can_multi_conn()?);
                Ok(())
            })?;
            open_nbd("w", |h| {
                assert_false!(h.can_multi_conn()?);
                Ok(())
            })
        })
    }

    fn test_parallel_writes(&mut self) -> Result<()> {
        self.run_server(None, |s| {
            s.add_export("w", Some(true))?;

            let mut clients: Vec<Nbd> = (0..3).map(|_| Nbd::new()).collect();
            for c in &mut clients {
                c.connect_uri(&nbd_uri("w"))?;
                assert_true!(c.can_multi_conn()?);
            }

            let initial_data = clients[0].pread(1024 * 1024, 0)?;
            assert_equal!(PyBytes(&initial_data), PyBytes(&[0x01; 1024 * 1024]));

            let updated_data = vec![0x03u8; 1024 * 1024];
            clients[1].pwrite(&updated_data, 0)?;
            clients[2].flush()?;
            let current_data = clients[0].pread(1024 * 1024, 0)?;

            assert_equal!(PyBytes(&updated_data), PyBytes(&current_data));

            for c in &mut clients {
                c.shutdown()?;
            }
            Ok(())
        })
    }
}

iotests::iotest! {
    name: "nbd-multiconn", groups: [rw, auto, quick],
    supported_fmts: ["qcow2"],
    fn nbd_multiconn: unittest { TestNbdMulticonn }
}
