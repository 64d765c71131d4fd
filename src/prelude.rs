//! What a ported test needs, in one `use iotests::prelude::*;`: the
//! declaration macros, the context and VM types with their options, the
//! assertions, iotests' module attributes (`test_dir()`, `imgfmt()`, …),
//! `os`, and `json!`.
//!
//! ```
//! use iotests::prelude::*;
//! fn body(t: &TestContext) -> Result<()> {
//!     let img = t.file_path("img");
//!     t.qemu_img_create(&args!["-f", t.imgfmt(), &img, "1M"])?;
//!     t.log_with(format!("created {img}"), &[Filter::Testfiles]);
//!     assert_true!(os::path::exists(&img));
//!     Ok(())
//! }
//! ```

pub use std::time::Duration;

pub use serde_json::{Value, json};

pub use crate::error::Context as _;
pub use crate::globals::{aiomode, cachemode, imgfmt, imgproto, qemu_default_machine, sock_dir, test_dir};
pub use crate::log::LogOpts;
pub use crate::os::{self, sleep};
pub use crate::tools::{Deadline, ImgInfoOpts, QemuIoInteractive, QemuStorageDaemon, QsdOptions, with_timeout};
pub use crate::unittest::{Case, Class, ClassOf, Suite, TestCase};
pub use crate::vm::testcase::{assert_json_filename_equal, assert_qmp, assert_qmp_absent, dictpath};
pub use crate::vm::{
    BlockdevCreate, CancelAndWait, CompleteAndWait, DEFAULT_EVENT_TIMEOUT, Drive, EventWait, GetBitmap, HmpQemuIo,
    PauseJob, RunJobOptions, Vm, WaitUntilCompleted,
};
pub use crate::{
    Error, Filter, Msg, Result, TestContext, args, assert_almost_equal, assert_count_equal, assert_equal, assert_false,
    assert_greater, assert_greater_equal, assert_in, assert_is, assert_is_none, assert_is_not_none, assert_less,
    assert_less_equal, assert_not_equal, assert_not_in, assert_raises, assert_regex, assert_true, ensure, iotest,
    kwargs, test_case,
};
