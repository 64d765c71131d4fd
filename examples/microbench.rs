//! Per-piece timings of the log pipeline, for profiling what
//! `benches/log_throughput.rs` measures as a whole.
//!
//! ```text
//! cargo run --release --example microbench          # every piece
//! BENCH=ordered cargo run --release --example microbench
//! ```

use iotests::filters::{Filter, Scope};
use iotests::{Log, Msg, json};
use serde_json::json;
use std::time::Instant;

fn main() {
    let s = Scope {
        test_dir: "/tmp/iotests-bench/scratch".into(),
        sock_dir: "/tmp/iot-sock-bench".into(),
        pid: 4242,
        imgfmt: "qcow2".into(),
    };
    let n = 200_000;
    let text = "wrote 65536/65536 bytes at offset 1234\n64 KiB, 1 ops; 00.00 sec (123.456 MiB/sec and 1234.5678 ops/sec)\nread 512/512 bytes at offset 5 of /tmp/iotests-bench/scratch/4242-disk1.qcow2";
    let ev = json!({"event": "JOB_STATUS_CHANGE", "data": {"status": "running", "id": "job0"}, "timestamp": {"seconds": 1700000000, "microseconds": 123456}});
    let args = json!({"node_name": "node1", "driver": "qcow2", "file": {"driver": "file", "filename": "/tmp/iotests-bench/scratch/4242-disk1.qcow2", "aio": "threads"}, "cache": {"direct": false, "no-flush": true}, "speed": 12.5});
    let resp = json!({"return": {}, "extra": [1, 2.5, "é ü", null, true]});
    let only = std::env::var("BENCH").unwrap_or_default();
    let bench = |name: &str, f: &mut dyn FnMut()| {
        if !name.contains(only.as_str()) {
            return;
        }
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        println!("{name:30} {:8.0} ns/op", t.elapsed().as_nanos() as f64 / n as f64);
    };
    let log = Log::new(s.clone(), false);
    bench("io log", &mut || log.log_with(text, &[Filter::Testfiles, Filter::QemuIo], None));
    bench("testfiles text", &mut || {
        std::hint::black_box(iotests::filters::testfiles(&s, text));
    });
    bench("qemu_io text", &mut || {
        std::hint::black_box(iotests::filters::qemu_io(text));
    });
    bench("event clone", &mut || {
        std::hint::black_box(ev.clone());
    });
    bench("event log", &mut || log.log_with(ev.clone(), &[Filter::QmpEvent], None));
    bench("event dumps", &mut || {
        std::hint::black_box(json::dumps(&ev, true, None));
    });
    bench("ordered_qmp", &mut || {
        std::hint::black_box(json::ordered_qmp(&args));
    });
    bench("qmp cmd log", &mut || {
        let cmd = json!({"execute": "blockdev-add", "arguments": json::ordered_qmp(&args)});
        log.log_with(Msg::ordered(cmd), &[Filter::QmpTestfiles], None)
    });
    bench("qmp resp log", &mut || log.log_with(resp.clone(), &[Filter::QmpTestfiles], None));
    bench("qmp resp dumps", &mut || {
        std::hint::black_box(json::dumps(&resp, true, None));
    });
    let cmd = json!({"execute": "blockdev-add", "arguments": json::ordered_qmp(&args)});
    bench("qmp cmd build", &mut || {
        std::hint::black_box(json!({"execute": "blockdev-add", "arguments": json::ordered_qmp(&args)}));
    });
    bench("qmp cmd clone", &mut || {
        std::hint::black_box(cmd.clone());
    });
    bench("qmp cmd clone+filter", &mut || {
        std::hint::black_box(log.apply(Msg::ordered(cmd.clone()), &[Filter::QmpTestfiles]));
    });
    bench("qmp cmd dumps", &mut || {
        std::hint::black_box(json::dumps(&cmd, false, None));
    });
    bench("event clone+filter", &mut || {
        std::hint::black_box(log.apply(Msg::from(ev.clone()), &[Filter::QmpEvent]));
    });
    let mut buf = String::new();
    for (name, v, sorted, indent) in [
        ("render event", &ev, true, None),
        ("render cmd", &cmd, false, None),
        ("render cmd indent", &cmd, false, Some(2)),
        ("render resp", &resp, true, None),
    ] {
        bench(name, &mut || {
            buf.clear();
            json::dump_into(&mut buf, v, sorted, indent);
            std::hint::black_box(&buf);
        });
    }
}
