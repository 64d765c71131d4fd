//! Throughput of the log pipeline — filters + JSON logging — against
//! iotests.py's own functions doing the same work in python3.
//!
//! ```text
//! cargo bench --bench log_throughput            # ~100 MB of log output
//! IOTESTS_BENCH_MB=20 cargo bench --bench log_throughput
//! ```
//!
//! Both sides read the same generated operations (qemu-io output through
//! `filter_testfiles` + `filter_qemu_io`; QMP events through
//! `filter_qmp_event`; `qmp_log`-style ordered commands and responses through
//! `filter_qmp_testfiles`, some indented), parsed — as the QMP client hands
//! them over — in chunks of 1000 before the clock starts for each chunk, and
//! log them. The outputs must be byte-identical; the
//! report gives MB/s for each and the ratio.
//!
//! The Python side needs QEMU's sources (`IOTESTS_QEMU_SRC`, or
//! `../qemu-src/qemu-*` as unpacked by `../shared/tools/qemu-src`).

use std::io::Write;
use std::time::{Duration, Instant};

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

fn scope() -> Scope {
    Scope {
        test_dir: "/tmp/iotests-bench/scratch".into(),
        sock_dir: "/tmp/iot-sock-bench".into(),
        pid: 4242,
        imgfmt: "qcow2".into(),
    }
}

/// One generated operation, as a JSON line both sides read.
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

fn rust_side(lines: &[String], s: &Scope) -> (f64, String) {
    let log = Log::new(s.clone(), false);
    let io_filters = [Filter::Testfiles, Filter::QemuIo];
    let ev_filters = [Filter::QmpEvent];
    let qmp_filters = [Filter::QmpTestfiles];
    // Messages arrive parsed (the QMP client returns values), a few at a
    // time: parse a chunk untimed, then time logging it. Chunks keep the live
    // heap as small as a test's, instead of hundreds of MB of parsed input.
    let mut elapsed = Duration::ZERO;
    for chunk in lines.chunks(CHUNK) {
        let mut ops: Vec<Value> = chunk.iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let start = Instant::now();
        // Like the Python side, whose chunk list keeps the operations alive
        // until the next chunk replaces it, free them after the clock.
        for op in &mut ops {
            match op["kind"].as_str() {
                Some("io") => log.log_with(op["text"].take(), &io_filters, None),
                Some("event") => log.log_with(op["msg"].take(), &ev_filters, None),
                _ => {
                    let indent = op["indent"].as_u64().map(|i| i as usize);
                    // As `Vm::qmp_log` builds it.
                    let mut cmd = serde_json::Map::new();
                    cmd.insert("execute".into(), op["cmd"].take());
                    cmd.insert("arguments".into(), json::ordered_qmp(&op["args"]));
                    log.log_with(Msg::ordered(Value::Object(cmd)), &qmp_filters, indent);
                    log.log_with(op["resp"].take(), &qmp_filters, indent);
                }
            }
        }
        elapsed += start.elapsed();
        drop(ops);
    }
    (elapsed.as_secs_f64(), log.contents())
}

/// Operations parsed and then logged at a time, on both sides.
const CHUNK: usize = 1000;

fn qemu_src() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("IOTESTS_QEMU_SRC") {
        return Some(p.into());
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu-src");
    std::fs::read_dir(root).ok()?.flatten().map(|e| e.path()).find(|p| p.join("tests/qemu-iotests/iotests.py").exists())
}

fn main() {
    let target_mb: usize = std::env::var("IOTESTS_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let s = scope();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Each operation logs ~250 bytes on average; generate enough for the target.
    let count = target_mb * 1_000_000 / 250;
    let lines: Vec<String> = (0..count).map(|_| operation(&mut rng, &s).to_string()).collect();

    let (rust_secs, rust_out) = rust_side(&lines, &s);
    let mb = rust_out.len() as f64 / 1e6;
    println!("log_throughput: {count} operations, {mb:.1} MB of log");
    println!("  rust:   {rust_secs:8.3} s  {:9.1} MB/s", mb / rust_secs);

    let Some(src) = qemu_src() else {
        println!("  python: not run: no QEMU sources (set IOTESTS_QEMU_SRC or run ../shared/tools/qemu-src)");
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = dir.path().join("ops.jsonl");
    let output = dir.path().join("python.out");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).expect("create input"));
        let header = json!({"test_dir": s.test_dir, "sock_dir": s.sock_dir, "pid": s.pid, "imgfmt": s.imgfmt});
        writeln!(f, "{header}").expect("write input");
        for l in &lines {
            writeln!(f, "{l}").expect("write input");
        }
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/log_throughput.py");
    let out = std::process::Command::new("python3").arg(script).arg(&src).arg(&input).arg(&output).output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        println!("  python: failed to run python3 on {}", src.display());
        return;
    };
    let py_secs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(f64::NAN);
    let py_out = std::fs::read_to_string(&output).unwrap_or_default();
    println!("  python: {py_secs:8.3} s  {:9.1} MB/s", mb / py_secs);
    println!("  ratio:  {:.1}x python's throughput", py_secs / rust_secs);
    if py_out == rust_out {
        println!("  output: byte-identical ({} bytes)", rust_out.len());
    } else {
        let first = py_out.lines().zip(rust_out.lines()).position(|(a, b)| a != b);
        println!("  output: DIFFERS (python {} bytes, rust {} bytes)", py_out.len(), rust_out.len());
        if let Some(i) = first {
            println!("    line {}: python {:?}", i + 1, py_out.lines().nth(i));
            println!("    line {}: rust   {:?}", i + 1, rust_out.lines().nth(i));
        }
        std::process::exit(1);
    }
}
