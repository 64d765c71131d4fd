//! Nothing outlives its test: after a tour of every wrapper — including a
//! forked qemu-nbd daemon, the storage daemon, interactive qemu-io, a
//! background qemu-io and a panicking body with an NBD server guard alive —
//! no process started here is left and the scratch directories are gone.
//!
//! A test binary of its own (one test), so that "children of this process"
//! means children of these wrappers only.

use std::path::Path;
use std::time::{Duration, Instant};

use iotests::env::{TestEnv, Vars};
use iotests::tools::QsdOptions;
use iotests::{TestContext, args};

const TOOLS: [&str; 4] = ["qemu-img", "qemu-io", "qemu-nbd", "qemu-storage-d"];

/// Processes that are our children, or whose command line mentions `root`.
fn leftovers(root: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return found };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() || name == me {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{name}/stat")) else { continue };
        let comm = stat.split_once('(').and_then(|(_, r)| r.rsplit_once(')')).map(|(c, _)| c).unwrap_or("");
        let rest: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
        let ppid = rest.get(1).copied().unwrap_or("");
        let cmdline = std::fs::read(format!("/proc/{name}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        let ours = ppid == me || cmdline.contains(root);
        if ours && (TOOLS.iter().any(|t| comm.starts_with(t)) || cmdline.contains(root)) {
            found.push(format!("pid {name} ({comm}, ppid {ppid}, state {}): {cmdline}", rest.first().unwrap_or(&"?")));
        }
    }
    found
}

fn context(name: &str, root: &Path, fmt: &str) -> Option<TestContext> {
    let mut vars: Vars = std::env::vars().collect();
    vars.insert("IMGFMT".into(), fmt.into());
    vars.insert("TEST_DIR".into(), root.join("test").to_string_lossy().into_owned());
    vars.insert("SOCK_DIR".into(), root.join("sock").to_string_lossy().into_owned());
    vars.remove("IOTESTS_KEEP_SCRATCH");
    let env = TestEnv::from_vars(&vars, fmt);
    for p in [&env.qemu_img, &env.qemu_io, &env.qemu_nbd, &env.qsd] {
        if !p.exists() {
            println!("not run: {} not found", p.name);
            return None;
        }
    }
    Some(TestContext::new(name, env).unwrap())
}

fn tour(t: &TestContext) {
    let img = t.file_path("disk");
    t.qemu_img_create(&args!["-f", t.imgfmt(), &img, "4M"]).unwrap();
    t.qemu_img_info(&["-f", t.imgfmt(), &img]).unwrap();
    t.qemu_io_log(&["-c", "write 0 64k", &img]).unwrap();
    let _ = t.qemu_io_silent(&["-c", "read 0 64k", &img]).unwrap();

    // Forked daemons, with and without a pid file.
    let pid_file = t.file_path("nbd.pid");
    let [s1, s2, s3] = [t.sock_path("nbd1"), t.sock_path("nbd2"), t.sock_path("nbd3")];
    assert_eq!(
        t.qemu_nbd(&["-k", &s1, "--pid-file", &pid_file, "--persistent", "-r", "-f", t.imgfmt(), &img]).unwrap(),
        0
    );
    assert_eq!(t.qemu_nbd(&["-k", &s2, "--persistent", "-r", "-f", t.imgfmt(), &img]).unwrap(), 0);
    t.qemu_nbd_list_log(&["-k", &s1]).unwrap();

    // The storage daemon, with QMP.
    let qsd_img = t.file_path("qsd.img");
    t.qemu_img_create(&args!["-f", "raw", &qsd_img, "1M"]).unwrap();
    let mut qsd = t
        .qemu_storage_daemon_with(
            &["--blockdev", &format!("file,node-name=f0,filename={qsd_img}")],
            QsdOptions { qmp: true, ..Default::default() },
        )
        .unwrap();
    qsd.cmd("query-block-exports", ()).unwrap();

    // Interactive qemu-io, left open.
    let mut qio = t.qemu_io_interactive(&["-r", &img]).unwrap();
    qio.cmd("read 0 512").unwrap();

    // Background qemu-io, still running.
    let _bg = t.qemu_io_popen(&["-r", "-c", "sleep 60000", &img]).unwrap();

    // A panicking test body with an NBD server guard alive.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _nbd = t.qemu_nbd_popen(&["-k", &s3, "-r", "-f", t.imgfmt(), &img]).unwrap();
        panic!("test body failed while the NBD server runs");
    }));
    assert!(r.is_err());
    assert!(t.contents().ends_with("Kill NBD server\n"));
    // qsd, qio and _bg are dropped here; the daemons go with the context.
}

#[test]
fn no_processes_or_scratch_left() {
    let root = tempfile::Builder::new().prefix("iot-noleak-").tempdir_in("/tmp").unwrap();
    let root_str = root.path().to_string_lossy().into_owned();
    for fmt in ["qcow2", "raw"] {
        let Some(t) = context(&format!("no-leaks-{fmt}"), root.path(), fmt) else { return };
        tour(&t);
        // One more interactive qemu-io that outlives its context: the
        // registry kills it, the guard reaps it.
        let late = t.qemu_io_interactive(&["-r", &t.file_path("disk")]).unwrap();
        drop(t);
        drop(late);
    }
    // A killed daemon is reaped by init, not us: give that a moment.
    let end = Instant::now() + Duration::from_secs(10);
    let mut left = leftovers(&root_str);
    while !left.is_empty() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        left = leftovers(&root_str);
    }
    assert!(left.is_empty(), "processes left behind:\n{}", left.join("\n"));
    for sub in ["test", "sock"] {
        let dir = root.path().join(sub);
        let entries: Vec<_> =
            std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        assert!(entries.is_empty(), "scratch left in {}: {entries:?}", dir.display());
    }
}
