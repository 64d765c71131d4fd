//! The text filters. The parent module lists where Python's `re` and the
//! `regex` crate differ and how the code here follows Python.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use memchr::memmem::Finder;
use regex::{NoExpand, Regex, Replacer};

use super::Scope;
use super::pyre::PyRegex;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid regex")
}

/// The `filter_qemu_io` regex, verbatim.
pub(crate) const QEMU_IO_RE: &str =
    r"[0-9]* ops; [0-9\/:. sec]* \([0-9\/.inf]* [EPTGMKiBbytes]*\/sec and [0-9\/.inf]* ops\/sec\)";
pub(crate) const QEMU_IO_REPL: &str = "X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)";
pub(crate) const CHOWN_RE: &str = r"chown [0-9]+:[0-9]+";
pub(crate) const VIRTIO_SCSI_RE: &str = r"(virtio-scsi)-(ccw|pci)";
pub(crate) const NODE_ID_RE: &str = r"#block[0-9]+";
pub(crate) const NBD_EXPORTS_RE: &str = r"((min|opt|max) block): [0-9]+";

#[cfg(test)]
pub(crate) static QEMU_IO: LazyLock<Regex> = LazyLock::new(|| re(QEMU_IO_RE));
static CHOWN: LazyLock<Regex> = LazyLock::new(|| re(CHOWN_RE));
static VIRTIO_SCSI: LazyLock<Regex> = LazyLock::new(|| re(VIRTIO_SCSI_RE));
static NODE_ID: LazyLock<Regex> = LazyLock::new(|| re(NODE_ID_RE));
static NBD_EXPORTS: LazyLock<Regex> = LazyLock::new(|| re(NBD_EXPORTS_RE));
static ITERS: LazyLock<Regex> = LazyLock::new(|| re("iters: [0-9]+"));
static UUID: LazyLock<Regex> = LazyLock::new(|| re("uuid: [-a-f0-9]+"));
static CID: LazyLock<Regex> = LazyLock::new(|| re("cid: [0-9]+"));
static COMPRESSION: LazyLock<Regex> = LazyLock::new(|| re("(compression type: )(zlib|zstd)"));
// `^` without MULTILINE is the start of the string, as in Rust.
static QTEST_OPENED: LazyLock<Regex> = LazyLock::new(|| re(r"^\[I \d+\.\d+\] OPENED\n"));
// Python's `\n?\[I \+\d+\.\d+\] CLOSED\n?$`: `$` matches at the end or
// before a final newline, so the match may leave one trailing `\n` behind.
// Group 1 is the Python match; the extra `\n?\z` is the part `$` looks past.
static QTEST_CLOSED: LazyLock<Regex> = LazyLock::new(|| re(r"(\n?\[I \+\d+\.\d+\] CLOSED\n?)\n?\z"));

/// `filter_test_dir` for one scope: `test_dir` compiled as a Python regex,
/// as `re.compile(r"%s" % test_dir)` does at import, once per log (the log
/// sink keeps one in its prepared filter state).
///
/// A path that Python would reject, or that uses what [`PyRegex`] cannot
/// translate, is replaced literally instead: a literal match is what such a
/// path was meant to be (Python would fail at import, or match with a
/// construct no test directory needs).
#[derive(Debug, Clone)]
pub(crate) enum TestDir {
    /// The path as a Python regex.
    Regex(PyRegex),
    /// The path as text.
    Literal(String),
}

impl TestDir {
    pub(crate) fn new(scope: &Scope) -> TestDir {
        match PyRegex::new(&scope.test_dir) {
            Ok(re) => TestDir::Regex(re),
            Err(_) => TestDir::Literal(scope.test_dir.clone()),
        }
    }

    /// [`test_dir`] on text that may be ours; unchanged text is not copied.
    pub(crate) fn apply<'m>(&self, msg: Cow<'m, str>) -> Cow<'m, str> {
        match self {
            TestDir::Regex(re) => re.sub_cow(msg, "TEST_DIR"),
            // Python's `str.replace` with an empty pattern inserts
            // everywhere, as Rust's does.
            TestDir::Literal(dir) if dir.is_empty() || !msg.contains(dir.as_str()) => msg,
            TestDir::Literal(dir) => Cow::Owned(msg.replace(dir.as_str(), "TEST_DIR")),
        }
    }
}

/// `filter_test_dir`: the test directory, used as a Python regex, →
/// `TEST_DIR`.
///
/// Like Python, nothing in the path is escaped: a `.` matches any character
/// (see [`PyRegex`] for how Python's syntax is read). A path that is not a
/// valid Python regex, or not one [`PyRegex`] can translate, is replaced
/// literally instead.
///
/// ```
/// use iotests::filters::{test_dir, Scope};
/// let scope = Scope { test_dir: "/tmp/a.b".into(), ..Scope::default() };
/// assert_eq!(test_dir(&scope, "/tmp/a.b/img /tmp/aXb/img"), "TEST_DIR/img TEST_DIR/img");
/// ```
pub fn test_dir(scope: &Scope, msg: &str) -> String {
    TestDir::new(scope).apply(Cow::Borrowed(msg)).into_owned()
}

/// `filter_win32`: drops every `\r`.
///
/// ```
/// assert_eq!(iotests::filters::win32("a\r\nb\r"), "a\nb");
/// ```
pub fn win32(msg: &str) -> String {
    win32_cow(Cow::Borrowed(msg)).into_owned()
}

/// [`win32`] without copying text that has no `\r` or is ours to edit.
pub(crate) fn win32_cow(mut msg: Cow<'_, str>) -> Cow<'_, str> {
    if memchr::memchr(b'\r', msg.as_bytes()).is_some() {
        msg.to_mut().retain(|c| c != '\r');
    }
    msg
}

/// `filter_qemu_io`: [`win32`], then qemu-io's timing lines →
/// `X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)`.
///
/// ```
/// let out = "64 KiB, 1 ops; 00.00 sec (1.420 GiB/sec and 23269.8841 ops/sec)\r\n";
/// assert_eq!(
///     iotests::filters::qemu_io(out),
///     "64 KiB, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)\n"
/// );
/// ```
pub fn qemu_io(msg: &str) -> String {
    qemu_io_cow(Cow::Borrowed(msg)).into_owned()
}

/// [`qemu_io`] on text that may be ours to edit in place.
pub(crate) fn qemu_io_cow(msg: Cow<'_, str>) -> Cow<'_, str> {
    // The pattern never matches empty text, as `replace_matches` needs.
    replace_matches(win32_cow(msg), QEMU_IO_REPL, qemu_io_find)
}

static OPS: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(" ops; "));

/// The first match of [`QEMU_IO_RE`] in `s` at or after `from`, as
/// `QEMU_IO.find_at(s, from)` finds it, in a tenth of the time: every line
/// qemu-io prints about a request has one, and the regex engine spends
/// ~200 ns finding where it starts. `qemu_io_find_is_the_regex` in the tests
/// checks the two agree.
///
/// The pattern is `[0-9]* ops; ` and a tail in which every `*` run is
/// followed by a character its class lacks, except the first (its class has
/// the space of ` \(`). So a match can only start at the digits right
/// before a ` ops; `, at most one match starts there, and it is found
/// without backtracking; the leftmost is that of the first ` ops; ` whose
/// tail matches. The classes are ASCII, so bytes do for characters.
pub(crate) fn qemu_io_find(s: &str, from: usize) -> Option<Range<usize>> {
    let bytes = s.as_bytes();
    let mut at = from;
    while let Some(i) = OPS.find(&bytes[at..]) {
        let ops = at + i;
        let digits = bytes[from..ops].iter().rev().take_while(|b| b.is_ascii_digit()).count();
        let tail = ops + " ops; ".len();
        if let Some(len) = qemu_io_tail(&bytes[tail..]) {
            return Some(ops - digits..tail + len);
        }
        at = ops + 1;
    }
    None
}

/// The length of the match of `[0-9\/:. sec]* \([0-9\/.inf]*
/// [EPTGMKiBbytes]*\/sec and [0-9\/.inf]* ops\/sec\)` at the start of `s`.
fn qemu_io_tail(s: &[u8]) -> Option<usize> {
    fn run(s: &[u8], at: usize, class: impl Fn(u8) -> bool) -> usize {
        at + s[at..].iter().take_while(|&&b| class(b)).count()
    }
    fn lit(s: &[u8], at: usize, text: &str) -> Option<usize> {
        s[at..].starts_with(text.as_bytes()).then_some(at + text.len())
    }
    let rate = |b: u8| matches!(b, b'0'..=b'9' | b'/' | b'.' | b'i' | b'n' | b'f');
    // `[0-9\/:. sec]*` runs into the space of ` (`, and gives it back.
    let i = run(s, 0, |b| matches!(b, b'0'..=b'9' | b'/' | b':' | b'.' | b' ' | b's' | b'e' | b'c'));
    if i == 0 || s[i - 1] != b' ' || s.get(i) != Some(&b'(') {
        return None;
    }
    let i = run(s, i + 1, rate);
    let i = lit(s, i, " ")?;
    let i = run(s, i, |b| b"EPTGMKiBbytes".contains(&b));
    let i = lit(s, i, "/sec and ")?;
    let i = run(s, i, rate);
    lit(s, i, " ops/sec)")
}

/// Python's `re.sub` with a regex that has `$`-expanded replacements, as a
/// `Cow`: unchanged text is passed through without a copy.
pub(crate) fn regex_sub<'m>(re: &Regex, msg: Cow<'m, str>, rep: impl Replacer) -> Cow<'m, str> {
    let replaced = match re.replace_all(&msg, rep) {
        Cow::Owned(s) => Some(s),
        Cow::Borrowed(_) => None,
    };
    replaced.map_or(msg, Cow::Owned)
}

/// Replaces every match of a pattern in `text`, left to right and not
/// overlapping, with the literal `repl`, as Python's `str.replace` and
/// `re.sub` do; `find(s, from)` is the first match in `s` at or after
/// `from`. The pattern must never match empty text.
///
/// Text without a match is returned as it is, and a single match in text
/// of our own — the usual case — is replaced in place; otherwise the result
/// is built in one pass.
pub(crate) fn replace_matches<'m>(
    text: Cow<'m, str>,
    repl: &str,
    find: impl Fn(&str, usize) -> Option<Range<usize>>,
) -> Cow<'m, str> {
    let Some(first) = find(&text, 0) else { return text };
    let mut next = find(&text, first.end);
    if next.is_none()
        && let Cow::Owned(mut s) = text
    {
        s.replace_range(first, repl);
        return Cow::Owned(s);
    }
    let mut out = String::with_capacity(text.len() + repl.len());
    out.push_str(&text[..first.start]);
    out.push_str(repl);
    let mut copied = first.end;
    while let Some(m) = next {
        out.push_str(&text[copied..m.start]);
        out.push_str(repl);
        copied = m.end;
        next = find(&text, m.end);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// `filter_chown`: `chown N:M` → `chown UID:GID`.
///
/// ```
/// assert_eq!(iotests::filters::chown("chown 0:1000 f"), "chown UID:GID f");
/// ```
pub fn chown(msg: &str) -> String {
    chown_cow(Cow::Borrowed(msg)).into_owned()
}

pub(crate) fn chown_cow(msg: Cow<'_, str>) -> Cow<'_, str> {
    regex_sub(&CHOWN, msg, NoExpand("chown UID:GID"))
}

/// Python's `os.path.join(dir, name)` for a `name` that is not absolute.
fn path_join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir.ends_with('/') { format!("{dir}{name}") } else { format!("{dir}/{name}") }
}

/// The two prefixes `filter_testfiles` replaces, in order, with their
/// replacements.
pub(crate) fn testfiles_prefixes(scope: &Scope) -> [(String, &'static str); 2] {
    let pid = format!("{}-", scope.pid);
    [(path_join(&scope.test_dir, &pid), "TEST_DIR/PID-"), (path_join(&scope.sock_dir, &pid), "SOCK_DIR/PID-")]
}

/// `filter_testfiles` for one scope, with its two prefixes' searchers built
/// once: the log sink keeps one for its test, and the QMP walk calls it for
/// every string.
#[derive(Debug, Clone)]
pub(crate) struct Testfiles {
    prefixes: [(Finder<'static>, &'static str); 2],
}

impl Testfiles {
    pub(crate) fn new(scope: &Scope) -> Testfiles {
        Testfiles { prefixes: testfiles_prefixes(scope).map(|(p, r)| (Finder::new(p.as_bytes()).into_owned(), r)) }
    }

    /// [`testfiles`], replacing in place in text of our own and leaving
    /// text without a scratch path (most of it) uncopied.
    pub(crate) fn apply<'m>(&self, mut msg: Cow<'m, str>) -> Cow<'m, str> {
        for (finder, repl) in &self.prefixes {
            // A literal, non-empty prefix: fine for `replace_matches`.
            let len = finder.needle().len();
            msg = replace_matches(msg, repl, |s, from| {
                finder.find(&s.as_bytes()[from..]).map(|i| from + i..from + i + len)
            });
        }
        msg
    }
}

/// `filter_testfiles`: `<test_dir>/<pid>-` → `TEST_DIR/PID-`, then
/// `<sock_dir>/<pid>-` → `SOCK_DIR/PID-` (plain text, not regexes).
///
/// ```
/// use iotests::filters::{testfiles, Scope};
/// let scope = Scope { test_dir: "/t/".into(), sock_dir: "/s".into(), pid: 7, ..Scope::default() };
/// assert_eq!(testfiles(&scope, "/t/7-a.img /s/7-sock"), "TEST_DIR/PID-a.img SOCK_DIR/PID-sock");
/// ```
pub fn testfiles(scope: &Scope, msg: &str) -> String {
    Testfiles::new(scope).apply(Cow::Borrowed(msg)).into_owned()
}

/// `filter_virtio_scsi`: `virtio-scsi-ccw`/`virtio-scsi-pci` → `virtio-scsi`.
///
/// ```
/// assert_eq!(iotests::filters::virtio_scsi("virtio-scsi-pci,id=s"), "virtio-scsi,id=s");
/// ```
pub fn virtio_scsi(output: &str) -> String {
    virtio_scsi_cow(Cow::Borrowed(output)).into_owned()
}

pub(crate) fn virtio_scsi_cow(output: Cow<'_, str>) -> Cow<'_, str> {
    regex_sub(&VIRTIO_SCSI, output, "${1}")
}

/// `filter_generated_node_ids`: `#block123` → `NODE_NAME`.
///
/// ```
/// assert_eq!(iotests::filters::generated_node_ids("#block042: x"), "NODE_NAME: x");
/// ```
pub fn generated_node_ids(msg: &str) -> String {
    generated_node_ids_cow(Cow::Borrowed(msg)).into_owned()
}

pub(crate) fn generated_node_ids_cow(msg: Cow<'_, str>) -> Cow<'_, str> {
    regex_sub(&NODE_ID, msg, NoExpand("NODE_NAME"))
}

/// `filter_img_info(output, filename, drop_child_info)` (upstream's
/// version): drops `disk size`/`actual-size` lines and, with
/// `drop_child_info`, `Child node '/…'` sections; then per line `filename` →
/// `TEST_IMG`, [`testfiles`], the format → `IMGFMT`, and masks iteration
/// counts, UUIDs, CIDs and the compression type. Lines are joined with `\n`
/// as Python's `'\n'.join` does, so a trailing newline in `output` stays.
///
/// ```
/// use iotests::filters::{img_info, Scope};
/// let scope = Scope { imgfmt: "qcow2".into(), ..Scope::default() };
/// let out = "image: /t/a\nfile format: qcow2\nChild node '/file':\n    filename: /t/a\nx\n";
/// assert_eq!(img_info(&scope, out, "/t/a", true), "image: TEST_IMG\nfile format: IMGFMT\nx\n");
/// ```
pub fn img_info(scope: &Scope, output: &str, filename: &str, drop_child_info: bool) -> String {
    img_info_with(scope, &Testfiles::new(scope), output, filename, drop_child_info)
}

/// [`img_info`] with the scope's [`Testfiles`] at hand.
pub(crate) fn img_info_with(
    scope: &Scope,
    testfiles: &Testfiles,
    output: &str,
    filename: &str,
    drop_child_info: bool,
) -> String {
    let mut lines = Vec::new();
    let mut drop_indented = false;
    for line in output.split('\n') {
        if line.contains("disk size") || line.contains("actual-size") {
            continue;
        }
        // Drop child node info.
        if drop_indented {
            if line.starts_with(' ') {
                continue;
            }
            drop_indented = false;
        }
        if drop_child_info && line.contains("Child node '/") {
            drop_indented = true;
            continue;
        }
        let line = line.replace(filename, "TEST_IMG");
        let line = testfiles.apply(Cow::Owned(line));
        let line = line.replace(&scope.imgfmt, "IMGFMT");
        let line = ITERS.replace_all(&line, NoExpand("iters: XXX"));
        let line = UUID.replace_all(&line, NoExpand("uuid: XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"));
        let line = CID.replace_all(&line, NoExpand("cid: XXXXXXXXXX"));
        let line = COMPRESSION.replace_all(&line, "${1}COMPRESSION_TYPE");
        lines.push(line.into_owned());
    }
    lines.join("\n")
}

/// `filter_imgfmt`: the image format → `IMGFMT` (plain text).
///
/// ```
/// use iotests::filters::{imgfmt, Scope};
/// let scope = Scope { imgfmt: "raw".into(), ..Scope::default() };
/// assert_eq!(imgfmt(&scope, "fmt=raw"), "fmt=IMGFMT");
/// ```
pub fn imgfmt(scope: &Scope, msg: &str) -> String {
    imgfmt_cow(scope, Cow::Borrowed(msg)).into_owned()
}

pub(crate) fn imgfmt_cow<'m>(scope: &Scope, msg: Cow<'m, str>) -> Cow<'m, str> {
    let fmt = scope.imgfmt.as_str();
    if fmt.is_empty() {
        // Python's `str.replace` with an empty pattern inserts everywhere,
        // as Rust's does.
        return Cow::Owned(msg.replace(fmt, "IMGFMT"));
    }
    replace_matches(msg, "IMGFMT", |s, from| s[from..].find(fmt).map(|i| from + i..from + i + fmt.len()))
}

/// `filter_nbd_exports`: `min/opt/max block: N` → `…: XXX`.
///
/// ```
/// assert_eq!(iotests::filters::nbd_exports("  opt block: 4096"), "  opt block: XXX");
/// ```
pub fn nbd_exports(output: &str) -> String {
    nbd_exports_cow(Cow::Borrowed(output)).into_owned()
}

pub(crate) fn nbd_exports_cow(output: Cow<'_, str>) -> Cow<'_, str> {
    regex_sub(&NBD_EXPORTS, output, "${1}: XXX")
}

/// `filter_qtest`: drops qtest's leading `[I <t>] OPENED` line and its
/// closing `[I +<t>] CLOSED` line.
///
/// Python's `$` also matches before a final newline, so of `CLOSED\n\n`
/// one `\n` is left, exactly as in Python.
///
/// ```
/// let out = "[I 0.1] OPENED\n[R +0.2] OK\n[I +0.3] CLOSED\n";
/// assert_eq!(iotests::filters::qtest(out), "[R +0.2] OK");
/// assert_eq!(iotests::filters::qtest("x\n[I +0.3] CLOSED\n\n"), "x\n");
/// ```
pub fn qtest(output: &str) -> String {
    let output = QTEST_OPENED.replace(output, "");
    match QTEST_CLOSED.captures(&output).and_then(|c| c.get(1)) {
        Some(m) => format!("{}{}", &output[..m.start()], &output[m.end()..]),
        None => output.into_owned(),
    }
}
