//! Filters — the redaction layer: iotests.py's `filter_*` functions.
//!
//! Every filter here does what the upstream (QEMU 10.0.2) Python function of
//! the same name does, byte for byte: the same regexes, applied in the same
//! order, with Python's `re` semantics where they differ from the `regex`
//! crate's:
//!
//! * `re.sub`'s `\1` is written `${1}`;
//! * Python's `$` without `re.MULTILINE` also matches before a final newline
//!   (only `filter_qtest` uses it; [`qtest`] reproduces it);
//! * Python's `re.sub` also replaces an empty match right after a non-empty
//!   one, which `Regex::replace_all` skips, and after an empty match takes a
//!   non-empty one at the same place (only a test-directory pattern can
//!   match empty; [`test_dir`] uses [`PyRegex`], which follows Python);
//! * the test directory is a pattern in Python's syntax, which [`PyRegex`]
//!   reads as Python does and translates.
//!
//! * Text filters take and return a `String`: [`test_dir`], [`win32`],
//!   [`qemu_io`], [`chown`], [`testfiles`], [`virtio_scsi`],
//!   [`generated_node_ids`], [`img_info`], [`imgfmt`], [`nbd_exports`],
//!   [`qtest`].
//! * JSON filters take and return a [`serde_json::Value`]: [`qmp_event`],
//!   [`qmp`] (the tree walk the others are built on), [`qmp_testfiles`],
//!   [`qmp_virtio_scsi`], [`qmp_generated_node_ids`], [`qmp_imgfmt`].
//! * [`Filter`] is one of them as a value, for `log()`'s filter list; its
//!   [`Filter::apply`] works on a whole [`Msg`].
//! * [`insta_settings`] registers the regex filters with insta, for tests
//!   that snapshot raw output rather than logging through the sink.
//! * [`PyRegex`] is a regex in Python's syntax, matched as Python's `re`
//!   does (translated for the `regex` crate; [`PyRegex::sub`] is `re.sub`);
//!   [`py_sub`] is `re.sub`'s algorithm over a `regex::Regex`.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::msg::Msg;

mod json;
mod pyre;
mod settings;
#[cfg(test)]
mod tests;
mod text;

pub use json::{qmp, qmp_event, qmp_generated_node_ids, qmp_imgfmt, qmp_testfiles, qmp_virtio_scsi};
pub use pyre::{PyReError, PyRegex, py_sub};
pub use settings::insta_settings;
pub use text::{
    chown, generated_node_ids, img_info, imgfmt, nbd_exports, qemu_io, qtest, test_dir, testfiles, virtio_scsi, win32,
};

/// What the context-dependent filters need to know about the test.
///
/// ```
/// use iotests::filters::Scope;
/// let scope = Scope { test_dir: "/tmp/t".into(), sock_dir: "/tmp/s".into(), pid: 42, imgfmt: "qcow2".into() };
/// assert_eq!(iotests::filters::testfiles(&scope, "/tmp/s/42-nbd.sock"), "SOCK_DIR/PID-nbd.sock");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The test's scratch directory (`iotests.test_dir`).
    pub test_dir: String,
    /// The test's socket directory (`iotests.sock_dir`).
    pub sock_dir: String,
    /// The PID in scratch file names (`os.getpid()`).
    pub pid: u32,
    /// The image format (`iotests.imgfmt`).
    pub imgfmt: String,
}

/// A (key, value) function for [`Filter::Qmp`]; the key is `None` for a bare
/// scalar message, a string for an object member, an index for a list item.
///
/// ```
/// use iotests::filters::{Key, QmpFn};
/// use serde_json::{json, Value};
/// let f: QmpFn = std::sync::Arc::new(|key: Option<Key<'_>>, v: Value| match key {
///     Some(Key::Name("node-name")) => json!("NODE"),
///     _ => v,
/// });
/// assert_eq!(iotests::filters::qmp(json!({"node-name": "n0"}), &*f), json!({"node-name": "NODE"}));
/// ```
pub type QmpFn = Arc<dyn Fn(Option<Key<'_>>, Value) -> Value + Send + Sync>;

/// The key of a value in a JSON tree, as `filter_qmp` passes it.
///
/// ```
/// use iotests::filters::{qmp, Key};
/// use serde_json::{json, Value};
/// let keys = std::cell::RefCell::new(Vec::new());
/// qmp(json!({"a": [true]}), &|k: Option<Key<'_>>, v: Value| {
///     keys.borrow_mut().push(format!("{k:?}"));
///     v
/// });
/// assert_eq!(keys.into_inner(), ["Some(Index(0))"]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// An object member name.
    Name(&'a str),
    /// A list index.
    Index(usize),
}

/// One of iotests' filters, composable as a list.
///
/// Text filters (everything without `Qmp` in its name, and [`Filter::Text`])
/// act on [`Msg::Text`]. Given a JSON message they leave it unchanged: in
/// Python that is a `TypeError` (`re.sub` on a dict), which a test never
/// relies on, and a redaction layer must not panic. A JSON string value held
/// in [`Msg::Json`]/[`Msg::Ordered`] is a Python `str`, so text filters apply
/// to it.
///
/// The `Qmp*` filters act on JSON messages, keeping [`Msg::Json`] or
/// [`Msg::Ordered`], and — like upstream's `filter_qmp` — also on a bare
/// string message, calling their function with key `None`.
///
/// ```
/// use iotests::{filters::Scope, Filter, Msg};
/// let scope = Scope { test_dir: "/tmp/t".into(), ..Scope::default() };
/// let msg = Filter::TestDir.apply(&scope, Msg::from("/tmp/t/img"));
/// assert_eq!(msg, Msg::from("TEST_DIR/img"));
/// ```
#[derive(Clone)]
pub enum Filter {
    /// `filter_test_dir`
    TestDir,
    /// `filter_win32`
    Win32,
    /// `filter_qemu_io`
    QemuIo,
    /// `filter_chown`
    Chown,
    /// `filter_qmp_event`: turns an `OrderedDict` into a plain dict, so
    /// [`Msg::Ordered`] becomes [`Msg::Json`].
    QmpEvent,
    /// `filter_qmp(msg, fn)`
    Qmp(QmpFn),
    /// `filter_testfiles`
    Testfiles,
    /// `filter_qmp_testfiles`
    QmpTestfiles,
    /// `filter_virtio_scsi`
    VirtioScsi,
    /// `filter_qmp_virtio_scsi`
    QmpVirtioScsi,
    /// `filter_generated_node_ids`
    GeneratedNodeIds,
    /// `filter_qmp_generated_node_ids`
    QmpGeneratedNodeIds,
    /// `filter_img_info(output, filename, drop_child_info)`
    ImgInfo {
        /// The image file name to replace with `TEST_IMG`.
        filename: String,
        /// Drop `Child node '/…'` sections.
        drop_child_info: bool,
    },
    /// `filter_imgfmt`
    Imgfmt,
    /// `filter_qmp_imgfmt`
    QmpImgfmt,
    /// `filter_nbd_exports`
    NbdExports,
    /// `filter_qtest`
    Qtest,
    /// Any function on text (a test's own `lambda` over strings).
    Text(Arc<dyn Fn(&str) -> String + Send + Sync>),
    /// Any function on a whole message.
    Custom(Arc<dyn Fn(Msg) -> Msg + Send + Sync>),
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Filter::TestDir => "TestDir",
            Filter::Win32 => "Win32",
            Filter::QemuIo => "QemuIo",
            Filter::Chown => "Chown",
            Filter::QmpEvent => "QmpEvent",
            Filter::Qmp(_) => "Qmp(..)",
            Filter::Testfiles => "Testfiles",
            Filter::QmpTestfiles => "QmpTestfiles",
            Filter::VirtioScsi => "VirtioScsi",
            Filter::QmpVirtioScsi => "QmpVirtioScsi",
            Filter::GeneratedNodeIds => "GeneratedNodeIds",
            Filter::QmpGeneratedNodeIds => "QmpGeneratedNodeIds",
            Filter::ImgInfo { filename, drop_child_info } => {
                return f
                    .debug_struct("ImgInfo")
                    .field("filename", filename)
                    .field("drop_child_info", drop_child_info)
                    .finish();
            }
            Filter::Imgfmt => "Imgfmt",
            Filter::QmpImgfmt => "QmpImgfmt",
            Filter::NbdExports => "NbdExports",
            Filter::Qtest => "Qtest",
            Filter::Text(_) => "Text(..)",
            Filter::Custom(_) => "Custom(..)",
        };
        f.write_str(name)
    }
}

impl Filter {
    /// `filter_qmp(msg, fn)` with a closure.
    ///
    /// ```
    /// use iotests::{filters::{Key, Scope}, Filter, Msg};
    /// use serde_json::{json, Value};
    /// let f = Filter::qmp(|key, value| match key {
    ///     Some(Key::Name("offset")) => json!("OFFSET"),
    ///     _ => value,
    /// });
    /// let msg = f.apply(&Scope::default(), Msg::Json(json!([{"offset": 7}])));
    /// assert_eq!(msg, Msg::Json(json!([{"offset": "OFFSET"}])));
    /// ```
    pub fn qmp(f: impl Fn(Option<Key<'_>>, Value) -> Value + Send + Sync + 'static) -> Filter {
        Filter::Qmp(Arc::new(f))
    }

    /// A filter on text, like a test's own `lambda msg: …`.
    ///
    /// ```
    /// use iotests::{filters::Scope, Filter, Msg};
    /// let f = Filter::text(|s| s.replace("secret", "XXX"));
    /// assert_eq!(f.apply(&Scope::default(), Msg::from("a secret")), Msg::from("a XXX"));
    /// ```
    pub fn text(f: impl Fn(&str) -> String + Send + Sync + 'static) -> Filter {
        Filter::Text(Arc::new(f))
    }

    /// A filter on a whole message.
    ///
    /// ```
    /// use iotests::{filters::Scope, Filter, Msg};
    /// let f = Filter::custom(|_| Msg::from("gone"));
    /// assert_eq!(f.apply(&Scope::default(), Msg::from("x")), Msg::from("gone"));
    /// ```
    pub fn custom(f: impl Fn(Msg) -> Msg + Send + Sync + 'static) -> Filter {
        Filter::Custom(Arc::new(f))
    }

    /// `filter_img_info(output, filename)` with upstream's default
    /// `drop_child_info=True`.
    ///
    /// ```
    /// use iotests::{filters::Scope, Filter, Msg};
    /// let scope = Scope { imgfmt: "qcow2".into(), ..Scope::default() };
    /// let out = "image: /t/a.img\nfile format: qcow2\ndisk size: 4 KiB\n";
    /// let msg = Filter::img_info("/t/a.img").apply(&scope, Msg::from(out));
    /// assert_eq!(msg, Msg::from("image: TEST_IMG\nfile format: IMGFMT\n"));
    /// ```
    pub fn img_info(filename: impl Into<String>) -> Filter {
        Filter::ImgInfo { filename: filename.into(), drop_child_info: true }
    }

    /// Apply this filter to a message. See [`Filter`] for which filter acts
    /// on which kind of message; a filter given a message it does not act on
    /// returns it unchanged.
    ///
    /// ```
    /// use iotests::{filters::Scope, Filter, Msg};
    /// use serde_json::json;
    /// let scope = Scope::default();
    /// let ev = Msg::Ordered(json!({"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}));
    /// assert_eq!(
    ///     Filter::QmpEvent.apply(&scope, ev),
    ///     Msg::Json(json!({"event": "STOP", "timestamp": {"seconds": "SECS", "microseconds": "USECS"}}))
    /// );
    /// // A text filter leaves JSON alone (a TypeError in Python).
    /// let j = Msg::Json(json!({"a": "chown 1:2"}));
    /// assert_eq!(Filter::Chown.apply(&scope, j.clone()), j);
    /// ```
    pub fn apply(&self, scope: &Scope, msg: Msg) -> Msg {
        self.apply_prepared(scope, &Prepared::default(), msg)
    }

    /// [`apply`](Self::apply) with what the filters derive from `scope`
    /// kept in `prepared` (the log sink keeps one for its test).
    pub(crate) fn apply_prepared(&self, scope: &Scope, prepared: &Prepared, msg: Msg) -> Msg {
        match self {
            Filter::TestDir => on_text(msg, |s| prepared.test_dir(scope).apply(s)),
            Filter::Win32 => on_text(msg, text::win32_cow),
            Filter::QemuIo => on_text(msg, text::qemu_io_cow),
            Filter::Chown => on_text(msg, text::chown_cow),
            Filter::Testfiles => on_text(msg, |s| prepared.testfiles(scope).apply(s)),
            Filter::VirtioScsi => on_text(msg, text::virtio_scsi_cow),
            Filter::GeneratedNodeIds => on_text(msg, text::generated_node_ids_cow),
            Filter::ImgInfo { filename, drop_child_info } => on_text(msg, |s| {
                Cow::Owned(text::img_info_with(scope, prepared.testfiles(scope), &s, filename, *drop_child_info))
            }),
            Filter::Imgfmt => on_text(msg, |s| text::imgfmt_cow(scope, s)),
            Filter::NbdExports => on_text(msg, text::nbd_exports_cow),
            Filter::Qtest => on_text(msg, |s| Cow::Owned(qtest(&s))),
            Filter::Text(f) => on_text(msg, |s| Cow::Owned(f(&s))),
            Filter::Custom(f) => f(msg),
            Filter::QmpEvent => match msg {
                Msg::Json(v @ Value::Object(_)) | Msg::Ordered(v @ Value::Object(_)) => Msg::Json(qmp_event(v)),
                // `dict()` of a list or a string is an error in Python.
                other => other,
            },
            Filter::Qmp(f) => on_json(msg, |v| qmp(v, &**f)),
            Filter::QmpTestfiles => on_json(msg, |v| json::qmp_testfiles_with(prepared.testfiles(scope), v)),
            Filter::QmpVirtioScsi => on_json(msg, qmp_virtio_scsi),
            Filter::QmpGeneratedNodeIds => on_json(msg, qmp_generated_node_ids),
            Filter::QmpImgfmt => on_json(msg, |v| qmp_imgfmt(scope, v)),
        }
    }
}

/// What filters derive from a [`Scope`] (the `filter_testfiles` prefixes'
/// searchers, the compiled `TEST_DIR` regex), built when first needed. The
/// log sink keeps one for its test's scope rather than rebuilding it for
/// every message; nothing is shared between logs.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    testfiles: OnceLock<text::Testfiles>,
    test_dir: OnceLock<text::TestDir>,
}

impl Prepared {
    /// The compiled [`TestDir`](text::TestDir) of `scope`, which must be
    /// the same scope on every call.
    fn test_dir(&self, scope: &Scope) -> &text::TestDir {
        self.test_dir.get_or_init(|| text::TestDir::new(scope))
    }

    /// The [`Testfiles`](text::Testfiles) of `scope`, which must be the
    /// same scope on every call.
    fn testfiles(&self, scope: &Scope) -> &text::Testfiles {
        self.testfiles.get_or_init(|| text::Testfiles::new(scope))
    }
}

/// Apply a text filter to a message that is a Python `str`. The message's
/// own string goes in, so a filter that changes nothing, or can edit in
/// place, copies nothing.
fn on_text(msg: Msg, f: impl FnOnce(Cow<'static, str>) -> Cow<'static, str>) -> Msg {
    let f = |s: String| f(Cow::Owned(s)).into_owned();
    match msg {
        Msg::Text(s) => Msg::Text(f(s)),
        Msg::Json(Value::String(s)) => Msg::Json(Value::String(f(s))),
        Msg::Ordered(Value::String(s)) => Msg::Ordered(Value::String(f(s))),
        other => other,
    }
}

/// Apply a `filter_qmp`-based filter to any message. A bare string goes
/// through the walk as a scalar, as upstream's `filter_qmp(str, fn)` does.
fn on_json(msg: Msg, f: impl FnOnce(Value) -> Value) -> Msg {
    match msg {
        Msg::Json(v) => Msg::Json(f(v)),
        Msg::Ordered(v) => Msg::Ordered(f(v)),
        Msg::Text(s) => scalar_result(f(Value::String(s))),
    }
}

/// What `log()` prints for whatever a filter function returned for a bare
/// string: a `str` prints as itself; `None`/`True`/`False` print as Python's
/// `str()` does (not as JSON); numbers print the same either way, and a
/// dict/list is JSON.
fn scalar_result(v: Value) -> Msg {
    match v {
        Value::String(s) => Msg::Text(s),
        Value::Null => Msg::Text("None".into()),
        Value::Bool(true) => Msg::Text("True".into()),
        Value::Bool(false) => Msg::Text("False".into()),
        v => Msg::Json(v),
    }
}
