//! Upstream 148: the rate limit of QMP events (QUORUM_REPORT_BAD), with the read patterns quorum and fifo.

use iotests::prelude::*;

fn imgs() -> [String; 3] {
    [
        os::path::join(test_dir(), "quorum0.img"),
        os::path::join(test_dir(), "quorum1.img"),
        os::path::join(test_dir(), "quorum2.img"),
    ]
}

fn img_conf() -> [String; 3] {
    [
        os::path::join(test_dir(), "quorum0.conf"),
        os::path::join(test_dir(), "quorum1.conf"),
        os::path::join(test_dir(), "quorum2.conf"),
    ]
}

const EVENT_RATE: u64 = 1000000000;
const SECTOR_SIZE: u64 = 512;
const OFFSET: u64 = 10;

struct TestQuorumEvents {
    read_pattern: &'static str,
    vm: Vm,
}

#[iotests::test_case]
impl TestQuorumEvents {
    fn new(t: &Case) -> Self {
        TestQuorumEvents { read_pattern: "quorum", vm: t.vm() }
    }

    fn create_blkdebug_file(&self, blkdebug_file: &str, bad_sector: u64) -> Result<()> {
        let text = format!(
            "
[inject-error]
event = \"read_aio\"
errno = \"5\"
sector = \"{bad_sector}\"
"
        );
        std::fs::write(blkdebug_file, text).with_context(|| format!("writing {blkdebug_file}"))
    }

    #[skip_if_unsupported(["quorum"])]
    fn set_up(&mut self, t: &Case) -> Result<()> {
        let (imgs, img_conf) = (imgs(), img_conf());
        let mut driveopts = vec!["driver=quorum".to_string(), "vote-threshold=2".to_string()];
        driveopts.push(format!("read-pattern={}", self.read_pattern));
        for i in 0..imgs.len() {
            t.qemu_img(&args!["create", "-f", imgfmt(), &imgs[i], "1M"])?;
            self.create_blkdebug_file(&img_conf[i], i as u64 + OFFSET)?;
            driveopts.push(format!("children.{i}.driver={}", imgfmt()));
            driveopts.push(format!("children.{i}.file.driver=blkdebug"));
            driveopts.push(format!("children.{i}.file.config={}", img_conf[i]));
            driveopts.push(format!("children.{i}.file.image.filename={}", imgs[i]));
            driveopts.push(format!("children.{i}.node-name=img{i}"));
        }
        self.vm = t.vm();
        self.vm.add_drive_with(None, driveopts.join(","));
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        for (img, conf) in imgs().iter().zip(img_conf()) {
            os::remove(img)?;
            os::remove(conf)?;
        }
        Ok(())
    }

    /// `do_check_event(node, sector=0)`.
    fn do_check_event(&mut self, node: Option<&str>, sector: u64) -> Result<()> {
        let Some(node) = node else {
            assert_equal!(self.vm.get_qmp_event()?, None::<Value>);
            return Ok(());
        };

        for event in self.vm.get_qmp_events_with(true)? {
            if event["event"] == "QUORUM_REPORT_BAD" {
                assert_qmp(&event, "data/node-name", node)?;
                assert_qmp(&event, "data/sector-num", sector)?;
            }
        }
        Ok(())
    }

    #[allow(non_snake_case)]
    fn testQuorum(&mut self) -> Result<()> {
        let n_imgs = imgs().len() as u64;

        // Generate an error and get an event
        self.vm.hmp_qemu_io("drive0", &format!("aio_read {} {}", OFFSET * SECTOR_SIZE, SECTOR_SIZE))?;
        self.vm.qtest("clock_step 10")?;
        self.do_check_event(Some("img0"), OFFSET)?;

        // I/O errors in the same child: only one event is emitted
        let delay = 10;
        for _ in 0..3 {
            self.vm.hmp_qemu_io("drive0", &format!("aio_read {} {}", OFFSET * SECTOR_SIZE, SECTOR_SIZE))?;
            self.vm.qtest(&format!("clock_step {delay}"))?;
            self.do_check_event(None, 0)?;
        }

        // Wait enough so the event is finally emitted
        self.vm.qtest(&format!("clock_step {}", 2 * EVENT_RATE))?;
        self.do_check_event(Some("img0"), OFFSET)?;

        // I/O errors in the same child: all events are emitted
        let delay = 2 * EVENT_RATE;
        for _ in 0..3 {
            self.vm.hmp_qemu_io("drive0", &format!("aio_read {} {}", OFFSET * SECTOR_SIZE, SECTOR_SIZE))?;
            self.vm.qtest(&format!("clock_step {delay}"))?;
            self.do_check_event(Some("img0"), OFFSET)?;
        }

        // I/O errors in different children: all events are emitted
        let delay = 10;
        for i in 0..n_imgs {
            self.vm.hmp_qemu_io("drive0", &format!("aio_read {} {}", (OFFSET + i) * SECTOR_SIZE, SECTOR_SIZE))?;
            self.vm.qtest(&format!("clock_step {delay}"))?;
            // In fifo mode only errors in the first child are detected
            if i > 0 && self.read_pattern == "fifo" {
                self.do_check_event(None, 0)?;
            } else {
                self.do_check_event(Some(&format!("img{i}")), OFFSET + i)?;
            }
        }

        // I/O errors in different children: all events are emitted
        let delay = 2 * EVENT_RATE;
        for i in 0..n_imgs {
            self.vm.hmp_qemu_io("drive0", &format!("aio_read {} {}", (OFFSET + i) * SECTOR_SIZE, SECTOR_SIZE))?;
            self.vm.qtest(&format!("clock_step {delay}"))?;
            // In fifo mode only errors in the first child are detected
            if i > 0 && self.read_pattern == "fifo" {
                self.do_check_event(None, 0)?;
            } else {
                self.do_check_event(Some(&format!("img{i}")), OFFSET + i)?;
            }
        }

        // No more pending events
        self.do_check_event(None, 0)
    }
}

iotests::iotest! {
    name: "148", groups: [rw, quick],
    supported_fmts: ["raw"],
    supported_protocols: ["file"],
    before_main: |t| t.verify_quorum(),
    fn t148: unittest {
        TestQuorumEvents,
        TestFifoQuorumEvents: TestQuorumEvents { read_pattern: "fifo" },
    }
}
