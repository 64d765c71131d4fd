//! Upstream tests/stream-unaligned-prefetch: a stream job's unaligned prefetch read (padding with a NULL qiov).

use iotests::prelude::*;

const IMAGE_SIZE: u64 = 1024 * 1024;
const CLUSTER_SIZE: u64 = 64 * 1024;

fn base() -> String {
    os::path::join(test_dir(), "base.img")
}

fn top() -> String {
    os::path::join(test_dir(), "top.img")
}

struct TestStreamUnalignedPrefetch {
    vm: Vm,
}

#[iotests::test_case]
impl TestStreamUnalignedPrefetch {
    fn new(t: &Case) -> Self {
        TestStreamUnalignedPrefetch { vm: t.vm() }
    }

    /// Create two images:
    /// - base image {base} with {cluster_size // 2} bytes allocated
    /// - top image {top} without any data allocated and coarser
    ///   cluster size
    ///
    /// Attach a compress filter for the top image, because that
    /// requires that the request alignment is the top image's cluster
    /// size.
    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img_create(&args![
            "-f",
            imgfmt(),
            "-o",
            format!("cluster_size={}", CLUSTER_SIZE / 2),
            base(),
            IMAGE_SIZE.to_string()
        ])?;
        t.qemu_io(&args!["-c", format!("write 0 {}", CLUSTER_SIZE / 2), base()])?;
        t.qemu_img_create(&args![
            "-f",
            imgfmt(),
            "-o",
            format!("cluster_size={CLUSTER_SIZE}"),
            top(),
            IMAGE_SIZE.to_string()
        ])?;

        self.vm = t.vm();
        let opts = self.vm.qmp_to_opts(&json!({
            "driver": imgfmt(),
            "node-name": "base",
            "file": {
                "driver": "file",
                "filename": base()
            }
        }))?;
        self.vm.add_blockdev(opts);
        let opts = self.vm.qmp_to_opts(&json!({
            "driver": "compress",
            "node-name": "compress-top",
            "file": {
                "driver": imgfmt(),
                "node-name": "top",
                "file": {
                    "driver": "file",
                    "filename": top()
                },
                "backing": "base"
            }
        }))?;
        self.vm.add_blockdev(opts);
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(top())?;
        os::remove(base())?;
        Ok(())
    }

    fn test_stream_unaligned_prefetch(&mut self) -> Result<()> {
        self.vm.cmd("block-stream", kwargs! { job_id: "stream", device: "compress-top" })?;
        Ok(())
    }
}

iotests::iotest! {
    name: "stream-unaligned-prefetch", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    fn stream_unaligned_prefetch: unittest { TestStreamUnalignedPrefetch }
}
