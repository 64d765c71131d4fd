//! Upstream 277: NBD client reconnection.
//!
//! ```python
//! # group: rw quick
//! iotests.script_initialize()
//! ```
//!
//! Upstream runs `./nbd-fault-injector.py` as a subprocess; the toolkit's
//! [`NbdFaultInjector`] is the same server behind the same `Popen`
//! interface.

use std::time::Duration;

use iotests::tools::{NbdFaultInjector, ToolPopen};
use iotests::{Error, Result, TestContext};

struct Paths {
    conf_file: String,
    nbd_sock: String,
}

/// Create configuration file for the nbd-fault-injector.py
///
/// `event`: which event the server should close a connection on
fn make_conf_file(p: &Paths, event: &str) -> Result<()> {
    std::fs::write(&p.conf_file, format!("[inject-error]\nevent={event}\nwhen=after"))
        .map_err(|e| Error::io(format!("writing {}", p.conf_file), e))
}

fn start_server_nbd(t: &TestContext, p: &Paths, event: &str) -> Result<NbdFaultInjector> {
    make_conf_file(p, event)?;

    let mut srv = t.nbd_fault_injector(&["--classic-negotiation", &p.nbd_sock, &p.conf_file]);
    let line = srv.readline(Duration::from_secs(60))?;
    if line.contains("Listening on ") {
        t.log("NBD server: started");
    } else {
        t.log(format!("NBD server: {}", line.trim_end()));
    }

    Ok(srv)
}

fn start_client_nbd(t: &TestContext, p: &Paths) -> Result<ToolPopen> {
    t.log("NBD client: QEMU-IO write");
    let mut args = t.env().qemu_io_args_no_fmt()?;
    args.extend([
        "-c".to_string(),
        "write -P 0x7 0 3M".to_string(),
        "--image-opts".to_string(),
        format!("driver=nbd,server.type=unix,server.path={},reconnect-delay=7", p.nbd_sock),
    ]);
    let clt = t.qemu_tool_popen("qemu-io", &args, true)?;
    Ok(clt)
}

/// What check_proc_NBD() does with a `Popen`: the server or the client.
trait Proc {
    fn communicate(&mut self, timeout: Duration) -> Result<String>;
    fn returncode(&mut self) -> Result<i32>;
    fn kill(&mut self) -> Result<()>;
}

impl Proc for NbdFaultInjector {
    fn communicate(&mut self, timeout: Duration) -> Result<String> {
        NbdFaultInjector::communicate(self, timeout)
    }
    fn returncode(&mut self) -> Result<i32> {
        self.poll().ok_or_else(|| Error::fail("nbd-fault-injector has not exited"))
    }
    fn kill(&mut self) -> Result<()> {
        NbdFaultInjector::kill(self);
        Ok(())
    }
}

impl Proc for ToolPopen {
    fn communicate(&mut self, timeout: Duration) -> Result<String> {
        ToolPopen::communicate(self, timeout)
    }
    fn returncode(&mut self) -> Result<i32> {
        self.poll()?.ok_or_else(|| Error::fail("qemu-io has not exited"))
    }
    fn kill(&mut self) -> Result<()> {
        ToolPopen::kill(self).map(drop)
    }
}

fn check_proc_nbd(t: &TestContext, p: &Paths, proc: &mut dyn Proc, connector: &str) -> Result<()> {
    let result = (|| {
        match proc.communicate(Duration::from_secs(10)) {
            Ok(outs) => {
                let returncode = proc.returncode()?;
                if returncode < 0 {
                    t.log(format!("NBD {connector}: EXIT SIGNAL {returncode}\n"));
                    t.log(outs);
                } else {
                    let msg: Vec<&str> = outs.splitn(2, '\n').collect();
                    t.log(format!("NBD {connector}: {}", msg[0]));
                }
            }
            Err(Error::Timeout { .. }) => {
                proc.kill()?;
                t.log(format!("NBD {connector}: ERROR timeout expired"));
            }
            Err(e) => return Err(e),
        }
        Ok(())
    })();
    // finally:
    if connector == "server" {
        std::fs::remove_file(&p.nbd_sock).map_err(|e| Error::io(format!("removing {}", p.nbd_sock), e))?;
        std::fs::remove_file(&p.conf_file).map_err(|e| Error::io(format!("removing {}", p.conf_file), e))?;
    }
    result
}

iotests::iotest! {
    name: "277", groups: [rw, quick],
    fn t277(t) {
        let p = Paths {
            conf_file: t.file_path("nbd-fault-injector.conf"),
            nbd_sock: t.sock_path("nbd-sock"),
        };

        let mut srv = start_server_nbd(t, &p, "data")?;
        let mut clt = start_client_nbd(t, &p)?;
        // The server should close the connection after a client write request
        check_proc_nbd(t, &p, &mut srv, "server")?;
        // Start the NBD server again
        let mut srv = start_server_nbd(t, &p, "reply")?;
        // The client should reconnect and complete the write operation
        check_proc_nbd(t, &p, &mut clt, "client")?;
        // Make it sure that server terminated
        check_proc_nbd(t, &p, &mut srv, "server")?;
        Ok(())
    }
}
