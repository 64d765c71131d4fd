//! The filters on REAL output of QEMU's tools, and a differential check
//! against upstream's own Python filter functions.
//!
//! Every test that needs a binary prints `not run: <binary> not found` and
//! returns if it is missing. Scratch files live in a `tempfile` directory
//! (removed on drop, also when an assertion fails); daemons and child
//! processes are owned by guards that kill them on drop.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iotests::filters::{self, Scope};
use iotests::{Filter, Msg};
use serde_json::{Value, json};

/// The filter functions of QEMU 10.0.2's `tests/qemu-iotests/iotests.py`,
/// verbatim (from `def is_str` to the end of `filter_qtest`).
const UPSTREAM_FILTERS: &str = r##"def is_str(val):
    return isinstance(val, str)

test_dir_re = re.compile(r"%s" % test_dir)
def filter_test_dir(msg):
    return test_dir_re.sub("TEST_DIR", msg)

win32_re = re.compile(r"\r")
def filter_win32(msg):
    return win32_re.sub("", msg)

qemu_io_re = re.compile(r"[0-9]* ops; [0-9\/:. sec]* "
                        r"\([0-9\/.inf]* [EPTGMKiBbytes]*\/sec "
                        r"and [0-9\/.inf]* ops\/sec\)")
def filter_qemu_io(msg):
    msg = filter_win32(msg)
    return qemu_io_re.sub("X ops; XX:XX:XX.X "
                          "(XXX YYY/sec and XXX ops/sec)", msg)

chown_re = re.compile(r"chown [0-9]+:[0-9]+")
def filter_chown(msg):
    return chown_re.sub("chown UID:GID", msg)

def filter_qmp_event(event):
    '''Filter a QMP event dict'''
    event = dict(event)
    if 'timestamp' in event:
        event['timestamp']['seconds'] = 'SECS'
        event['timestamp']['microseconds'] = 'USECS'
    return event

def filter_qmp(qmsg, filter_fn):
    '''Given a string filter, filter a QMP object's values.
    filter_fn takes a (key, value) pair.'''
    # Iterate through either lists or dicts;
    if isinstance(qmsg, list):
        items = enumerate(qmsg)
    elif isinstance(qmsg, dict):
        items = qmsg.items()
    else:
        return filter_fn(None, qmsg)

    for k, v in items:
        if isinstance(v, (dict, list)):
            qmsg[k] = filter_qmp(v, filter_fn)
        else:
            qmsg[k] = filter_fn(k, v)
    return qmsg

def filter_testfiles(msg):
    pref1 = os.path.join(test_dir, "%s-" % (os.getpid()))
    pref2 = os.path.join(sock_dir, "%s-" % (os.getpid()))
    return msg.replace(pref1, 'TEST_DIR/PID-').replace(pref2, 'SOCK_DIR/PID-')

def filter_qmp_testfiles(qmsg):
    def _filter(_key, value):
        if is_str(value):
            return filter_testfiles(value)
        return value
    return filter_qmp(qmsg, _filter)

def filter_virtio_scsi(output: str) -> str:
    return re.sub(r'(virtio-scsi)-(ccw|pci)', r'\1', output)

def filter_qmp_virtio_scsi(qmsg):
    def _filter(_key, value):
        if is_str(value):
            return filter_virtio_scsi(value)
        return value
    return filter_qmp(qmsg, _filter)

def filter_generated_node_ids(msg):
    return re.sub("#block[0-9]+", "NODE_NAME", msg)

def filter_qmp_generated_node_ids(qmsg):
    def _filter(_key, value):
        if is_str(value):
            return filter_generated_node_ids(value)
        return value
    return filter_qmp(qmsg, _filter)

def filter_img_info(output: str, filename: str,
                    drop_child_info: bool = True) -> str:
    lines = []
    drop_indented = False
    for line in output.split('\n'):
        if 'disk size' in line or 'actual-size' in line:
            continue

        # Drop child node info
        if drop_indented:
            if line.startswith(' '):
                continue
            drop_indented = False
        if drop_child_info and "Child node '/" in line:
            drop_indented = True
            continue

        line = line.replace(filename, 'TEST_IMG')
        line = filter_testfiles(line)
        line = line.replace(imgfmt, 'IMGFMT')
        line = re.sub('iters: [0-9]+', 'iters: XXX', line)
        line = re.sub('uuid: [-a-f0-9]+',
                      'uuid: XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX',
                      line)
        line = re.sub('cid: [0-9]+', 'cid: XXXXXXXXXX', line)
        line = re.sub('(compression type: )(zlib|zstd)', r'\1COMPRESSION_TYPE',
                      line)
        lines.append(line)
    return '\n'.join(lines)

def filter_imgfmt(msg):
    return msg.replace(imgfmt, 'IMGFMT')

def filter_qmp_imgfmt(qmsg):
    def _filter(_key, value):
        if is_str(value):
            return filter_imgfmt(value)
        return value
    return filter_qmp(qmsg, _filter)

def filter_nbd_exports(output: str) -> str:
    return re.sub(r'((min|opt|max) block): [0-9]+', r'\1: XXX', output)

def filter_qtest(output: str) -> str:
    output = re.sub(r'^\[I \d+\.\d+\] OPENED\n', '', output)
    output = re.sub(r'\n?\[I \+\d+\.\d+\] CLOSED\n?$', '', output)
    return output
"##;

/// Runs upstream's filters: `test_dir`, `sock_dir`, `imgfmt` and the PID
/// come from the scope in argv[1]; stdin is a JSON list of
/// `[name, args]` calls of `filter_<name>(*args)`; stdout the results.
const PY_HEAD: &str = r#"
import json, os, re, sys
from collections import OrderedDict
_cfg = json.loads(sys.argv[1])
test_dir = _cfg['test_dir']
sock_dir = _cfg['sock_dir']
imgfmt = _cfg['imgfmt']
os.getpid = lambda: _cfg['pid']
"#;
const PY_TAIL: &str = r#"
_calls = json.loads(sys.stdin.buffer.read().decode('utf-8'), object_pairs_hook=OrderedDict)
_out = [globals()['filter_' + _name](*_args) for _name, _args in _calls]
sys.stdout.buffer.write(json.dumps(_out).encode('utf-8'))
"#;

const TIMEOUT: Duration = Duration::from_secs(60);

/// Skip the test (with the message the brief asks for) if `$name` is not on
/// `PATH`; otherwise its path.
macro_rules! need {
    ($name:expr) => {
        match find_bin($name) {
            Some(p) => p,
            None => {
                println!("not run: {} not found", $name);
                return;
            }
        }
    };
}

fn find_bin(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false))
}

/// Kills and reaps its child when dropped, whatever happened before.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Kills the daemon named in a pid file when dropped (if the pid file
/// exists and the process still is `comm`), waiting for it to go away.
struct PidFileGuard {
    pid_file: PathBuf,
    comm: &'static str,
}

impl PidFileGuard {
    fn pid(&self) -> Option<nix::unistd::Pid> {
        let pid: i32 = std::fs::read_to_string(&self.pid_file).ok()?.trim().parse().ok()?;
        // Never signal a recycled PID that is no longer our daemon.
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim() == self.comm).then_some(nix::unistd::Pid::from_raw(pid))
    }
}

impl Drop for PidFileGuard {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        let Some(pid) = self.pid() else { return };
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.pid().is_some() {
            if Instant::now() > deadline {
                let _ = kill(pid, Signal::SIGKILL);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Run a command to completion with `input` on stdin, killing it if it
/// takes longer than [`TIMEOUT`].
fn run(cmd: &mut Command, input: &[u8]) -> std::process::Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = ChildGuard(cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")));
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.0.stdin.take(), child.0.stdout.take(), child.0.stderr.take())
    else {
        panic!("no pipes for {cmd:?}");
    };
    let input = input.to_vec();
    // Threads, so that neither side blocks on a full pipe.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "timed out: {cmd:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    let stdout = out.join().expect("stdout reader");
    let stderr = err.join().expect("stderr reader");
    std::process::Output { status, stdout, stderr }
}

/// Run a tool that must succeed; its stdout.
fn tool(cmd: &mut Command) -> String {
    let out = run(cmd, b"");
    assert!(out.status.success(), "{cmd:?}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Call upstream's Python filters; `None` (after saying so) if there is no
/// python3.
fn python(scope: &Scope, calls: &[(&str, Vec<Value>)]) -> Option<Vec<Value>> {
    let Some(py) = find_bin("python3") else {
        println!("not run: python3 not found");
        return None;
    };
    let cfg = json!({"test_dir": scope.test_dir, "sock_dir": scope.sock_dir, "imgfmt": scope.imgfmt, "pid": scope.pid});
    let script = format!("{PY_HEAD}\n{UPSTREAM_FILTERS}\n{PY_TAIL}");
    let input: Vec<Value> = calls.iter().map(|(name, args)| json!([name, args])).collect();
    let out = run(
        Command::new(py).arg("-c").arg(script).arg(cfg.to_string()),
        serde_json::to_string(&input).expect("json").as_bytes(),
    );
    assert!(out.status.success(), "python3 failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(serde_json::from_slice(&out.stdout).expect("python3 printed JSON"))
}

/// The Rust filter called `filter_<name>` in Python, on the same arguments.
fn rust_filter(scope: &Scope, name: &str, args: &[Value]) -> Value {
    let s = |i: usize| args[i].as_str().expect("string argument");
    let text = |f: fn(&str) -> String| Value::String(f(s(0)));
    match name {
        "test_dir" => Value::String(filters::test_dir(scope, s(0))),
        "win32" => text(filters::win32),
        "qemu_io" => text(filters::qemu_io),
        "chown" => text(filters::chown),
        "testfiles" => Value::String(filters::testfiles(scope, s(0))),
        "virtio_scsi" => text(filters::virtio_scsi),
        "generated_node_ids" => text(filters::generated_node_ids),
        "img_info" => Value::String(filters::img_info(scope, s(0), s(1), args[2].as_bool().expect("bool"))),
        "imgfmt" => Value::String(filters::imgfmt(scope, s(0))),
        "nbd_exports" => text(filters::nbd_exports),
        "qtest" => text(filters::qtest),
        "qmp_event" => filters::qmp_event(args[0].clone()),
        "qmp_testfiles" => filters::qmp_testfiles(scope, args[0].clone()),
        "qmp_virtio_scsi" => filters::qmp_virtio_scsi(args[0].clone()),
        "qmp_generated_node_ids" => filters::qmp_generated_node_ids(args[0].clone()),
        "qmp_imgfmt" => filters::qmp_imgfmt(scope, args[0].clone()),
        other => panic!("no filter {other}"),
    }
}

/// Check the Rust filters against upstream's Python on the same calls,
/// including key order (compact JSON text of both).
fn differential(scope: &Scope, calls: &[(&str, Vec<Value>)]) {
    let Some(want) = python(scope, calls) else { return };
    assert_eq!(want.len(), calls.len());
    for ((name, args), want) in calls.iter().zip(want) {
        let got = rust_filter(scope, name, args);
        assert_eq!(got.to_string(), want.to_string(), "filter_{name}{args:?} with {scope:?}");
    }
}

/// A scratch directory with a `.` in its name (a regex metacharacter, as
/// `filter_test_dir` uses the path as a regex) and a scope for it.
fn scratch() -> (tempfile::TempDir, Scope) {
    let dir = tempfile::Builder::new().prefix("iot.filters-").tempdir().expect("tempdir");
    let path = dir.path().to_str().expect("utf-8 tempdir").to_string();
    // A separate socket directory, as iotests has (inside the scratch one,
    // so that it goes away with it).
    let sock_dir = format!("{path}/sock");
    std::fs::create_dir(&sock_dir).expect("sock dir");
    let scope = Scope { test_dir: path, sock_dir, pid: std::process::id(), imgfmt: "qcow2".into() };
    (dir, scope)
}

/// `TEST_DIR/<pid>-<name>`, a scratch file as iotests names them.
fn scratch_file(scope: &Scope, name: &str) -> String {
    format!("{}/{}-{name}", scope.test_dir, scope.pid)
}

fn create_qcow2(qemu_img: &Path, path: &str, backing: Option<&str>) -> String {
    let mut cmd = Command::new(qemu_img);
    cmd.args(["create", "-f", "qcow2"]);
    if let Some(b) = backing {
        cmd.args(["-b", b, "-F", "qcow2"]);
    }
    tool(cmd.args([path, "1M"]))
}

const QEMU_IO_FILTERED: &str = "wrote 65536/65536 bytes at offset 0
64 KiB, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)
read 65536/65536 bytes at offset 0
64 KiB, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)
";

#[test]
fn qemu_io_write_read() {
    let qemu_img = need!("qemu-img");
    let qemu_io = need!("qemu-io");
    let (_dir, scope) = scratch();
    let img = scratch_file(&scope, "t.qcow2");
    create_qcow2(&qemu_img, &img, None);
    let out = tool(Command::new(qemu_io).args(["-f", "qcow2", "-c", "write -P 1 0 64k", "-c", "read 0 64k", &img]));
    assert!(out.contains(" ops/sec)"), "unexpected qemu-io output: {out}");
    assert_eq!(filters::qemu_io(&out), QEMU_IO_FILTERED);
    // Through the log sink's filter list, and through insta's filters.
    assert_eq!(Filter::QemuIo.apply(&scope, Msg::from(out.as_str())), Msg::from(QEMU_IO_FILTERED));
    filters::insta_settings(&scope).bind(|| {
        insta::assert_snapshot!(out, @r"
        wrote 65536/65536 bytes at offset 0
        64 KiB, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)
        read 65536/65536 bytes at offset 0
        64 KiB, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)
        ");
    });
    // The same text with Windows line ends.
    let crlf = out.replace('\n', "\r\n");
    assert_eq!(filters::qemu_io(&crlf), QEMU_IO_FILTERED);
    differential(&scope, &[("qemu_io", vec![json!(out)]), ("qemu_io", vec![json!(crlf)])]);
}

#[test]
fn qemu_img_info_with_backing_file() {
    let qemu_img = need!("qemu-img");
    let (_dir, scope) = scratch();
    let base = scratch_file(&scope, "base.qcow2");
    let top = scratch_file(&scope, "top.qcow2");
    let created = create_qcow2(&qemu_img, &base, None);
    assert!(
        filters::testfiles(&scope, &created).starts_with("Formatting 'TEST_DIR/PID-base.qcow2', fmt=qcow2 "),
        "{created}"
    );
    create_qcow2(&qemu_img, &top, Some(&base));
    let out = tool(Command::new(&qemu_img).args(["info", "-f", "qcow2", &top]));
    assert!(out.contains("disk size:") && out.contains("Child node '/file':"), "unexpected info: {out}");

    let got = filters::img_info(&scope, &out, &top, true);
    let lines: Vec<&str> = got.split('\n').collect();
    for want in [
        "image: TEST_IMG",
        "file format: IMGFMT",
        "virtual size: 1 MiB (1048576 bytes)",
        "backing file: TEST_DIR/PID-base.IMGFMT",
        "backing file format: IMGFMT",
        "    compression type: COMPRESSION_TYPE",
    ] {
        assert!(lines.contains(&want), "no {want:?} in:\n{got}");
    }
    assert_eq!(lines.first(), Some(&"image: TEST_IMG"));
    assert_eq!(lines.last(), Some(&""), "the trailing newline stays");
    assert!(!got.contains("disk size") && !got.contains("Child node") && !got.contains(&scope.test_dir), "{got}");

    let kept = filters::img_info(&scope, &out, &top, false);
    assert!(kept.contains("Child node '/file':\n    filename: TEST_IMG\n"), "{kept}");
    assert!(!kept.contains("disk size"), "{kept}");

    // What img_info_log() would log.
    let msg = Filter::img_info(top.clone()).apply(&scope, Msg::from(out.as_str()));
    assert_eq!(msg, Msg::Text(got));
    differential(
        &scope,
        &[
            ("img_info", vec![json!(out), json!(top), json!(true)]),
            ("img_info", vec![json!(out), json!(top), json!(false)]),
            ("testfiles", vec![json!(created)]),
            ("test_dir", vec![json!(created)]),
        ],
    );
}

#[test]
fn qemu_img_info_json_drops_actual_size() {
    let qemu_img = need!("qemu-img");
    let (_dir, scope) = scratch();
    let base = scratch_file(&scope, "base.qcow2");
    let top = scratch_file(&scope, "top.qcow2");
    create_qcow2(&qemu_img, &base, None);
    create_qcow2(&qemu_img, &top, Some(&base));
    let out = tool(Command::new(&qemu_img).args(["info", "--output=json", "-f", "qcow2", &top]));
    assert!(out.contains("\"actual-size\""), "unexpected info: {out}");
    let got = filters::img_info(&scope, &out, &top, true);
    assert!(!got.contains("actual-size"), "{got}");
    assert!(got.contains("\"filename\": \"TEST_IMG\""), "{got}");
    assert!(got.contains("\"format\": \"IMGFMT\""), "{got}");
    assert!(got.contains("\"backing-filename\": \"TEST_DIR/PID-base.IMGFMT\""), "{got}");
    assert!(got.contains("\"compression-type\": \"zlib\""), "only `compression type: ` is masked: {got}");
    assert_eq!(got.lines().count(), out.lines().count() - out.matches("actual-size").count());
    differential(&scope, &[("img_info", vec![json!(out), json!(top), json!(true)])]);
}

#[test]
fn qemu_nbd_list_exports() {
    let qemu_img = need!("qemu-img");
    let qemu_nbd = need!("qemu-nbd");
    let (dir, scope) = scratch();
    let img = scratch_file(&scope, "exp.qcow2");
    let sock = format!("{}/{}-nbd.sock", scope.sock_dir, scope.pid);
    let pid_file = dir.path().join("nbd.pid");
    create_qcow2(&qemu_img, &img, None);
    // Declared after the directory, so dropped (daemon killed) before it.
    let _daemon = PidFileGuard { pid_file: pid_file.clone(), comm: "qemu-nbd" };
    // The forked daemon inherits stdio; keep it off our pipes so nothing
    // waits for it to exit.
    let log = std::fs::File::create(dir.path().join("nbd.log")).expect("log file");
    let status = Command::new(&qemu_nbd)
        .args(["--fork", "--persistent", "--pid-file"])
        .arg(&pid_file)
        .args(["--socket", &sock, "-f", "qcow2", "-x", "exp", &img])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .status()
        .expect("spawn qemu-nbd");
    assert!(status.success(), "qemu-nbd: {status}: {:?}", std::fs::read_to_string(dir.path().join("nbd.log")));

    let out = tool(Command::new(&qemu_nbd).args(["-L", "-k", &sock]));
    assert!(out.contains("min block:") && out.contains("max block:"), "unexpected list: {out}");
    let got = filters::nbd_exports(&out);
    for want in ["  min block: XXX\n", "  opt block: XXX\n", "  max block: XXX\n", " export: 'exp'\n"] {
        assert!(got.contains(want), "no {want:?} in:\n{got}");
    }
    // Nothing else changes.
    let re = regex::Regex::new(r"((min|opt|max) block): [0-9]+").expect("valid regex");
    assert_eq!(got, re.replace_all(&out, "${1}: XXX"));
    assert_eq!(filters::testfiles(&scope, &sock), "SOCK_DIR/PID-nbd.sock");
    differential(&scope, &[("nbd_exports", vec![json!(out)]), ("testfiles", vec![json!(sock)])]);
}

#[test]
fn qmp_stop_and_shutdown_events() {
    let qemu = need!("qemu-system-x86_64");
    let (_dir, scope) = scratch();
    let input = b"{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"stop\"}\n{\"execute\":\"quit\"}\n";
    let out = run(
        Command::new(qemu).args(["-nodefaults", "-display", "none", "-accel", "tcg", "-M", "none", "-qmp", "stdio"]),
        input,
    );
    assert!(out.status.success(), "qemu: {}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8 QMP");
    let msgs: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad QMP line {l:?}: {e}")))
        .collect();
    let events: Vec<&Value> = msgs.iter().filter(|m| m.get("event").is_some()).collect();
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert!(names.contains(&"STOP") && names.contains(&"SHUTDOWN"), "events: {names:?}");

    for ev in &events {
        let got = filters::qmp_event((*ev).clone());
        assert_eq!(got["timestamp"], json!({"seconds": "SECS", "microseconds": "USECS"}), "{got}");
        assert_eq!(got["event"], ev["event"]);
        assert_eq!(got.get("data"), ev.get("data"));
        // Key order is kept: "timestamp" first, as QEMU sent it.
        assert_eq!(got.as_object().and_then(|m| m.keys().next()).map(String::as_str), Some("timestamp"));
        // qmp_log's OrderedDict becomes a plain (sorted) dict.
        assert_eq!(Filter::QmpEvent.apply(&scope, Msg::Ordered((*ev).clone())), Msg::Json(got));
    }
    let shutdown = events.iter().find(|e| e["event"] == "SHUTDOWN").expect("SHUTDOWN");
    assert_eq!(shutdown["data"], json!({"guest": false, "reason": "host-qmp-quit"}));

    // Responses have no timestamp: unchanged.
    let ret = msgs.iter().find(|m| m.get("return").is_some()).expect("a return");
    assert_eq!(&filters::qmp_event(ret.clone()), ret);

    let mut calls: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in &msgs {
        for name in ["qmp_event", "qmp_testfiles", "qmp_imgfmt", "qmp_generated_node_ids", "qmp_virtio_scsi"] {
            calls.push((name, vec![m.clone()]));
        }
    }
    differential(&scope, &calls);
}

/// Edge cases, against upstream's Python, without any QEMU binary.
#[test]
fn python_differential_edge_cases() {
    let texts: Vec<String> = [
        "",
        "no match at all\n",
        "a\r\nb\r\n",
        "1 ops; 00.00 sec (inf bytes/sec and inf ops/sec)\n2 ops; 0:00:00.1 sec (1.5 KiB/sec and 3 ops/sec)",
        "64 KiB, 1 ops; 00.00 sec (130.898 MiB/sec and 2094.3636 ops/sec)\r\n",
        "chown 0:0 f; chown 1000:1000 g; chown a:b",
        "virtio-scsi-pci virtio-scsi-ccw virtio-scsi-device",
        "#block0 #block123x #blockx",
        "  min block: 1\n  opt block: 4096\n  max block: 33554432\n",
        "qcow2 raw qcow2.qcow2",
        "[I 1.5] OPENED\n[R +0.1] x\n[I +0.2] CLOSED\n",
        "[I 1.5] OPENED\n[I +0.2] CLOSED",
        "x\n[I +0.2] CLOSED\n\n",
        "x\n[I +0.2] CLOSED\n\n\n",
        "x[I +0.2] CLOSED\n",
        "\n\n[I +0.2] CLOSED",
        "[I 1.5] OPENED",
        "/tmp/iot.d/x/77-a /tmp/iotXd/x/77-a /tmp/s/77-sock abxd é",
        "/tmp/a+b(c)/f /tmp/aab(c)/f",
        "iters: 10\nuuid: 0123-abcd\ncid: 5\ncompression type: zstd\n",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let info = "image: /tmp/iot.d/x/77-t.qcow2\nfile format: qcow2\ndisk size: 1\nChild node '/file':\n    a\n\
                disk size: 2\n    b\nChild node '/backing':\n    c\n        d\nx: y\nChild node '/z':";
    let jsons = [
        json!({"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}),
        json!({"event": "X", "timestamp": {"microseconds": 2}, "data": {"a": [1, "qcow2", {"b": "#block7"}]}}),
        json!([{"node-name": "#block1", "file": "/tmp/s/77-f", "driver": "virtio-scsi-ccw"}, null, 1.5, true]),
        json!("/tmp/iot.d/x/77-img.qcow2"),
        json!(5),
    ];
    let scopes = [
        Scope { test_dir: "/tmp/iot.d/x".into(), sock_dir: "/tmp/s/".into(), pid: 77, imgfmt: "qcow2".into() },
        Scope { test_dir: String::new(), sock_dir: String::new(), pid: 77, imgfmt: "raw".into() },
        Scope { test_dir: "x*".into(), sock_dir: "/tmp/s".into(), pid: 1, imgfmt: "qcow2".into() },
        Scope { test_dir: "/tmp/a+b(c)".into(), sock_dir: "/tmp/é".into(), pid: 77, imgfmt: "q.ow2".into() },
    ];
    for scope in &scopes {
        let mut calls: Vec<(&str, Vec<Value>)> = Vec::new();
        for t in &texts {
            for name in [
                "test_dir",
                "win32",
                "qemu_io",
                "chown",
                "testfiles",
                "virtio_scsi",
                "generated_node_ids",
                "imgfmt",
                "nbd_exports",
                "qtest",
            ] {
                calls.push((name, vec![json!(t)]));
            }
            calls.push(("img_info", vec![json!(t), json!("/tmp/iot.d/x/77-t.qcow2"), json!(true)]));
        }
        for drop in [true, false] {
            calls.push(("img_info", vec![json!(info), json!("/tmp/iot.d/x/77-t.qcow2"), json!(drop)]));
            calls.push(("img_info", vec![json!(info), json!(""), json!(drop)]));
        }
        for j in &jsons {
            for name in ["qmp_testfiles", "qmp_virtio_scsi", "qmp_generated_node_ids", "qmp_imgfmt"] {
                calls.push((name, vec![j.clone()]));
            }
            if j.is_object() {
                calls.push(("qmp_event", vec![j.clone()]));
            }
        }
        differential(scope, &calls);
    }
}
