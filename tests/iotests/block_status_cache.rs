//! Upstream tests/block-status-cache: a want_zero=false block-status query must not corrupt the cache.

use iotests::prelude::*;

const IMAGE_SIZE: u64 = 1024 * 1024;

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

fn nbd_pidfile() -> String {
    os::path::join(test_dir(), "nbd.pid")
}

fn nbd_sock() -> String {
    os::path::join(sock_dir(), "nbd.sock")
}

#[derive(Default)]
struct TestBscWithNbd;

#[iotests::test_case]
impl TestBscWithNbd {
    /// Just create an empty image with a read-only NBD server on it
    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img_create(&args!["-f", imgfmt(), test_img(), IMAGE_SIZE.to_string()])?;

        // Pass --allocation-depth to enable the qemu:allocation-depth context,
        // which we are going to query to provoke a block-status inquiry with
        // want_zero=false.
        ensure!(
            t.qemu_nbd(&args![
                format!("--socket={}", nbd_sock()),
                format!("--format={}", imgfmt()),
                "--persistent",
                "--allocation-depth",
                "--read-only",
                format!("--pid-file={}", nbd_pidfile()),
                test_img(),
            ])? == 0
        );
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        let text = std::fs::read_to_string(nbd_pidfile()).context("reading the NBD server's pid file")?;
        let pid = iotests::codecs::int(&text)?;
        os::kill(pid as i32, os::Signal::SIGTERM)?;
        os::remove(nbd_pidfile())?;
        os::remove(test_img())
    }

    /// Verify that the block-status cache is not corrupted by a
    /// want_zero=false call.
    /// We can provoke a want_zero=false call with `qemu-img map` over NBD with
    /// x-dirty-bitmap=qemu:allocation-depth, so we first run a normal `map`
    /// (which results in want_zero=true), then using said
    /// qemu:allocation-depth context, and finally another normal `map` to
    /// verify that the cache has not been corrupted.
    fn test_with_zero_bug(&mut self, t: &Case) -> Result<()> {
        let nbd_img_opts = format!("driver=nbd,server.type=unix,server.path={}", nbd_sock());
        let nbd_img_opts_alloc_depth = nbd_img_opts.clone() + ",x-dirty-bitmap=qemu:allocation-depth";

        // Normal map, results in want_zero=true.
        // This will probably detect an allocated data sector first (qemu likes
        // to allocate the first sector to facilitate alignment probing), and
        // then the rest to be zero.  The BSC will thus contain (if anything)
        // one range covering the first sector.
        let map_pre = t.qemu_img_map(&args!["--image-opts", &nbd_img_opts])?;

        // qemu:allocation-depth maps for want_zero=false.
        // want_zero=false should (with the file driver, which the server is
        // using) report everything as data.  While this is sufficient for
        // want_zero=false, this is nothing that should end up in the
        // block-status cache.
        // Due to a bug, this information did end up in the cache, though, and
        // this would lead to wrong information being returned on subsequent
        // want_zero=true calls.
        //
        // We need to run this map twice: On the first call, we probably still
        // have the first sector in the cache, and so this will be served from
        // the cache; and only the subsequent range will be queried from the
        // block driver.  This subsequent range will then be entered into the
        // cache.
        // If we did a want_zero=true call at this point, we would thus get
        // correct information: The first sector is not covered by the cache, so
        // we would get fresh block-status information from the driver, which
        // would return a data range, and this would then go into the cache,
        // evicting the wrong range from the want_zero=false call before.
        //
        // Therefore, we need a second want_zero=false map to reproduce:
        // Since the first sector is not in the cache, the query for its status
        // will go to the driver, which will return a result that reports the
        // whole image to be a single data area.  This result will then go into
        // the cache, and so the cache will then report the whole image to
        // contain data.
        //
        // Note that once the cache reports the whole image to contain data, any
        // subsequent map operation will be served from the cache, and so we can
        // never loop too many times here.
        for _ in 0..2 {
            // (Ignore the result, this is just to contaminate the cache)
            t.qemu_img_map(&args!["--image-opts", &nbd_img_opts_alloc_depth])?;
        }

        // Now let's see whether the cache reports everything as data, or
        // whether we get correct information (i.e. the same as we got on our
        // first attempt).
        let map_post = t.qemu_img_map(&args!["--image-opts", &nbd_img_opts])?;

        if map_pre != map_post {
            t.print("ERROR: Map information differs before and after querying qemu:allocation-depth");
            t.print("Before:");
            t.print(iotests::json::py_repr(&map_pre));
            t.print("After:");
            t.print(iotests::json::py_repr(&map_post));

            return Err(t.fail("Map information differs"));
        }
        Ok(())
    }
}

iotests::iotest! {
    name: "block-status-cache", groups: [rw, quick],
    // The block-status cache only works on the protocol layer, so to test it,
    // we can only use the raw format
    supported_fmts: ["raw"],
    supported_protocols: ["file"],
    fn block_status_cache: unittest { TestBscWithNbd }
}
