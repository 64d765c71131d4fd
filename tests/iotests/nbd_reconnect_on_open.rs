//! Upstream tests/nbd-reconnect-on-open: NBD reconnect on open.
//!
//! ```python
//! # (no group line)
//! iotests.script_initialize(supported_fmts=['qcow2'])
//! ```

use std::time::{Duration, Instant};

use iotests::json::py_float_repr;
use iotests::process::DEFAULT_TOOL_TIMEOUT;
use iotests::{Filter, Result, TestContext, args};

fn create_args(nbd_sock: &str, open_timeout: u32) -> Vec<String> {
    args![
        "--image-opts",
        "-c",
        "read 0 1M",
        format!("driver=nbd,open-timeout={open_timeout},server.type=unix,server.path={nbd_sock}")
    ]
}

fn check_fail_to_connect(t: &TestContext, nbd_sock: &str, open_timeout: u32) -> Result<()> {
    t.log(format!("Check fail to connect with {open_timeout} seconds of timeout"));

    let start_t = Instant::now();
    t.qemu_io_cmd(&create_args(nbd_sock, open_timeout)).check(false).log()?;
    let delta_t = start_t.elapsed().as_secs_f64();

    let max_delta = f64::from(open_timeout) + 0.2;
    if f64::from(open_timeout) <= delta_t && delta_t <= max_delta {
        t.log(format!("qemu_io finished in {open_timeout}..{} seconds, OK", py_float_repr(max_delta)));
    } else {
        let note = if delta_t < f64::from(open_timeout) { "too early" } else { "too long" };
        t.log(format!("qemu_io finished in {delta_t:.1} seconds, {note}"));
    }
    Ok(())
}

iotests::iotest! {
    name: "nbd-reconnect-on-open", groups: [],
    supported_fmts: ["qcow2"],
    fn nbd_reconnect_on_open(t) {
        let disk = t.file_path("disk");
        let nbd_sock = t.sock_path("nbd-sock");

        t.qemu_img_create(&args!["-f", t.imgfmt(), &disk, "1M"])?;

        // Start NBD client when NBD server is not yet running. It should not fail, but
        // wait for 5 seconds for the server to be available.
        let mut client = t.qemu_io_popen(&create_args(&nbd_sock, 5))?;

        std::thread::sleep(Duration::from_secs(1));
        t.qemu_nbd(&["-k", &nbd_sock, "-f", t.imgfmt(), &disk])?;

        // client should succeed
        t.log_with(client.communicate(DEFAULT_TOOL_TIMEOUT)?, &[Filter::QemuIo]);

        // Server was started without --persistent flag, so it should be off now. Let's
        // check it and at the same time check that with open-timeout=0 client fails
        // immediately.
        check_fail_to_connect(t, &nbd_sock, 0)?;

        // Check that we will fail after non-zero timeout if server is still unavailable
        check_fail_to_connect(t, &nbd_sock, 1)?;
        Ok(())
    }
}
