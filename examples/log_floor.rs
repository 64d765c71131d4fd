//! What `benches/log_throughput.rs` costs outside the library: its Rust loop
//! with the library's work taken out, against the loop as it is.
//!
//! ```text
//! cargo run --release --example log_floor -- full    # the benchmark's loop
//! cargo run --release --example log_floor -- floor   # the same, no library work
//! ```
//!
//! `full` is the benchmark's loop as it is. `floor` still parses the
//! operations first, looks up their fields, builds each message
//! (`Msg::from` of the text, the command through `json!`, which
//! re-serializes its arguments) and drops everything, but calls neither
//! `ordered_qmp` (the arguments go in as they are), nor filters, nor
//! rendering. The two are separate loops: choosing per message at run time
//! (a closure) made the floor itself ~25% slower. Run each in a fresh
//! process a few times, as the benchmark runs its loop once: the parsed
//! operations are cold in the cache either way. The operations are those of
//! the benchmark (keep `operation` in step with it).

use std::time::Instant;

use iotests::filters::{Filter, Scope};
use iotests::{Log, Msg, json};
use serde_json::{Value, json};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn operation(rng: &mut Rng, s: &Scope) -> Value {
    let img = format!("{}/{}-disk{}.qcow2", s.test_dir, s.pid, rng.below(4));
    match rng.below(3) {
        0 => {
            let off = rng.below(1 << 20) * 512;
            let text = format!(
                "wrote 65536/65536 bytes at offset {off}\n64 KiB, 1 ops; 00.00 sec ({}.{:03} MiB/sec and {}.{:04} ops/sec)\nread 512/512 bytes at offset {off} of {img}",
                rng.below(5000),
                rng.below(1000),
                rng.below(90000),
                rng.below(10000)
            );
            json!({"kind": "io", "text": text})
        }
        1 => {
            let status = ["created", "running", "ready", "concluded"][rng.below(4) as usize];
            json!({"kind": "event", "msg": {
                "event": "JOB_STATUS_CHANGE",
                "data": {"status": status, "id": "job0"},
                "timestamp": {"seconds": 1_700_000_000 + rng.below(100_000), "microseconds": rng.below(1_000_000)}
            }})
        }
        _ => json!({
            "kind": "qmp",
            "cmd": "blockdev-add",
            "args": {"node_name": format!("node{}", rng.below(100)), "driver": "qcow2",
                     "file": {"driver": "file", "filename": img, "aio": "threads"},
                     "cache": {"direct": false, "no-flush": rng.below(2) == 1},
                     "speed": (rng.below(1000) as f64) / 8.0},
            "resp": {"return": {}, "extra": [1, 2.5, "é ü", null, true]},
            "indent": if rng.below(4) == 0 { json!(2) } else { Value::Null },
        }),
    }
}

fn main() {
    let floor = match std::env::args().nth(1).as_deref() {
        Some("full") => false,
        Some("floor") => true,
        _ => {
            eprintln!("usage: log_floor full|floor");
            std::process::exit(2);
        }
    };
    let target_mb: usize = std::env::var("IOTESTS_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let s = Scope {
        test_dir: "/tmp/iotests-bench/scratch".into(),
        sock_dir: "/tmp/iot-sock-bench".into(),
        pid: 4242,
        imgfmt: "qcow2".into(),
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let count = target_mb * 1_000_000 / 250;
    let lines: Vec<String> = (0..count).map(|_| operation(&mut rng, &s).to_string()).collect();

    let log = Log::new(s.clone(), false);
    let io_filters = [Filter::Testfiles, Filter::QemuIo];
    let ev_filters = [Filter::QmpEvent];
    let qmp_filters = [Filter::QmpTestfiles];
    let ops: Vec<Value> = lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let start = Instant::now();
    if floor {
        for mut op in ops {
            match op["kind"].as_str() {
                Some("io") => drop(std::hint::black_box(Msg::from(op["text"].as_str().unwrap_or_default()))),
                Some("event") => drop(std::hint::black_box(Msg::from(op["msg"].take()))),
                _ => {
                    let indent = op["indent"].as_u64().map(|i| i as usize);
                    let cmd = json!({"execute": op["cmd"], "arguments": op["args"].take()});
                    drop(std::hint::black_box((Msg::ordered(cmd), indent)));
                    drop(std::hint::black_box(Msg::from(op["resp"].take())));
                }
            }
        }
    } else {
        for mut op in ops {
            match op["kind"].as_str() {
                Some("io") => log.log_with(op["text"].as_str().unwrap_or_default(), &io_filters, None),
                Some("event") => log.log_with(op["msg"].take(), &ev_filters, None),
                _ => {
                    let indent = op["indent"].as_u64().map(|i| i as usize);
                    let cmd = json!({"execute": op["cmd"], "arguments": json::ordered_qmp(&op["args"])});
                    log.log_with(Msg::ordered(cmd), &qmp_filters, indent);
                    log.log_with(op["resp"].take(), &qmp_filters, indent);
                }
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{}: {count} operations, {secs:.4} s", if floor { "floor" } else { "full" });
}
