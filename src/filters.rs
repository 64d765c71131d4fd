//! Filters — the redaction layer. (Skeleton: the filters helper fills this in.)

use std::sync::Arc;

use serde_json::Value;

use crate::log::Msg;

/// What the context-dependent filters need to know about the test.
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
pub type QmpFn = Arc<dyn Fn(Option<Key<'_>>, Value) -> Value + Send + Sync>;

/// The key of a value in a JSON tree, as `filter_qmp` passes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// An object member name.
    Name(&'a str),
    /// A list index.
    Index(usize),
}

/// One of iotests' filters, composable as a list.
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
    /// `filter_qmp_event`
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
        f.write_str("Filter")
    }
}

impl Filter {
    /// Apply this filter to a message.
    pub fn apply(&self, _scope: &Scope, msg: Msg) -> Msg {
        msg
    }
}
