//! One VM's life — launch → QMP ready → `quit` → reaped — three ways:
//!
//! * **iotests**: this crate's [`Vm`](iotests::vm::Vm) (QMP on a socketpair,
//!   a qtest chardev, QEMU's output to a log file, soft shutdown);
//! * **python/qemu**: QEMU's own `QEMUMachine` doing the same (python3 with
//!   QEMU's `python/` on `PYTHONPATH`);
//! * **floor**: the bare QEMU command line fed `qmp_capabilities` and `quit`
//!   on `-qmp stdio`, waiting only for it to exit.
//!
//! ```text
//! cargo bench --bench vm_launch              # 20 rounds each
//! IOTESTS_BENCH_ROUNDS=50 cargo bench --bench vm_launch
//! ```
//!
//! Reports the median and mean of each, and the ratios to the floor. The
//! Python side needs QEMU's sources (`IOTESTS_QEMU_SRC`, or
//! `../qemu-src/qemu-*` from `../shared/tools/qemu-src`).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use iotests::TestContext;
use iotests::env::TestEnv;

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let median = v[v.len() / 2];
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (median, mean)
}

fn ms(s: f64) -> String {
    format!("{:7.1} ms", s * 1000.0)
}

fn floor_round(prog: &str, opts: &[String]) -> f64 {
    let start = Instant::now();
    let mut child = Command::new(prog)
        .args(opts)
        .args(["-qmp", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start qemu");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"{\"execute\": \"qmp_capabilities\"}\n{\"execute\": \"quit\"}\n");
    }
    let _ = child.wait();
    start.elapsed().as_secs_f64()
}

fn qemu_src() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("IOTESTS_QEMU_SRC") {
        return Some(p.into());
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu-src");
    std::fs::read_dir(root).ok()?.flatten().map(|e| e.path()).find(|p| p.join("python/qemu/machine").exists())
}

fn main() {
    let rounds: usize = std::env::var("IOTESTS_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let t = TestContext::new("bench-vm-launch", TestEnv::from_process_env("raw")).expect("test context");
    let Ok(prog) = t.env().qemu.get().map(str::to_string) else {
        println!("vm_launch: not run: {} not found (set QEMU_PROG)", t.env().qemu.name);
        return;
    };
    let mut opts = t.env().qemu_opts().to_vec();
    // Without a qtest accelerator the toolkit's VMs boot a halting firmware
    // (see iotests::vm::firmware); give the floor and python/qemu the same
    // guest so that all three start the same QEMU.
    let has_qtest = iotests::env::qemu_accels(std::path::Path::new(&prog)).iter().any(|a| a == "qtest");
    if !has_qtest && t.env().halt_firmware && iotests::vm::firmware::applies(&prog, &opts) {
        let bios = iotests::vm::firmware::write_halt_bios(std::path::Path::new(t.test_dir())).expect("bios");
        opts.extend(["-bios".to_string(), bios.to_string_lossy().into_owned()]);
    }
    println!("vm_launch: {rounds} rounds of launch -> QMP ready -> quit -> reaped");
    println!("  qemu: {prog} {}", opts.join(" "));

    // Warm the page cache and QEMU's own start-up paths once for everyone.
    floor_round(&prog, &opts);

    let floor: Vec<f64> = (0..rounds).map(|_| floor_round(&prog, &opts)).collect();
    let ours: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let mut vm = t.vm();
            vm.launch().expect("launch");
            vm.shutdown_with(false, Duration::from_secs(30)).expect("shutdown");
            start.elapsed().as_secs_f64()
        })
        .collect();

    let (floor_med, floor_mean) = stats(floor);
    let (ours_med, ours_mean) = stats(ours);
    println!("  {:<12} median {}  mean {}", "floor", ms(floor_med), ms(floor_mean));
    println!(
        "  {:<12} median {}  mean {}  ({:.2}x floor)",
        "iotests",
        ms(ours_med),
        ms(ours_mean),
        ours_med / floor_med
    );

    let Some(src) = qemu_src() else {
        println!("  python/qemu: not run: no QEMU sources (set IOTESTS_QEMU_SRC or run ../shared/tools/qemu-src)");
        return;
    };
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/vm_launch.py");
    let out = Command::new("python3").arg(script).arg(&src).arg(&prog).arg(rounds.to_string()).args(&opts).output();
    let py: Vec<f64> = match out {
        Ok(o) if o.status.success() => {
            String::from_utf8_lossy(&o.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect()
        }
        _ => Vec::new(),
    };
    if py.is_empty() {
        println!("  python/qemu: failed to run python3 with {}", src.display());
        return;
    }
    let (py_med, py_mean) = stats(py);
    println!(
        "  {:<12} median {}  mean {}  ({:.2}x floor, iotests is {:.1}x faster)",
        "python/qemu",
        ms(py_med),
        ms(py_mean),
        py_med / floor_med,
        py_med / ours_med
    );
}
