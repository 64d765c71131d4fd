//! Upstream 045: file descriptor sets (-add-fd, query-fdsets, remove-fd) and fds passed over SCM_RIGHTS.

use std::fs::{File, OpenOptions};

use iotests::prelude::*;

fn image0() -> String {
    os::path::join(test_dir(), "image0")
}
fn image1() -> String {
    os::path::join(test_dir(), "image1")
}
fn image2() -> String {
    os::path::join(test_dir(), "image2")
}
fn image3() -> String {
    os::path::join(test_dir(), "image3")
}
fn image4() -> String {
    os::path::join(test_dir(), "image4")
}

/// Python's `open(path, 'r')`.
fn open_r(path: &str) -> Result<File> {
    File::open(path).context(format!("open({path:?}, 'r')"))
}

/// Python's `open(path, 'w+')`: read and write, truncated.
fn open_w_plus(path: &str) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .context(format!("open({path:?}, 'w+')"))
}

/// A descriptor for QEMU to inherit, while the test keeps its file open
/// (Python passes `file.fileno()` and closes the file in tearDown).
fn fileno(file: &Option<File>) -> Result<File> {
    let file = file.as_ref().ok_or_else(|| Error::python("AttributeError", "file not open"))?;
    file.try_clone().context("dup")
}

struct TestFdSets {
    vm: Vm,
    file0: Option<File>,
    file1: Option<File>,
    file2: Option<File>,
    file3: Option<File>,
    file4: Option<File>,
}

#[iotests::test_case]
impl TestFdSets {
    fn new(t: &Case) -> Self {
        TestFdSets { vm: t.vm(), file0: None, file1: None, file2: None, file3: None, file4: None }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.vm = t.vm();
        t.qemu_img(&args!["create", "-f", imgfmt(), image0(), "128K"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), image1(), "128K"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), image2(), "128K"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), image3(), "128K"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), image4(), "128K"])?;
        self.file0 = Some(open_r(&image0())?);
        self.file1 = Some(open_w_plus(&image1())?);
        self.file2 = Some(open_r(&image2())?);
        self.file3 = Some(open_r(&image3())?);
        self.file4 = Some(open_r(&image4())?);
        self.vm.add_fd(fileno(&self.file0)?, 1, "image0:r", "");
        self.vm.add_fd(fileno(&self.file1)?, 1, "image1:w+", "");
        self.vm.add_fd(fileno(&self.file2)?, 0, "image2:r", "");
        self.vm.add_fd(fileno(&self.file3)?, 2, "image3:r", "");
        self.vm.add_fd(fileno(&self.file4)?, 2, "image4:r", "");
        self.vm.add_drive("/dev/fdset/1");
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        self.file0 = None;
        self.file1 = None;
        self.file2 = None;
        self.file3 = None;
        self.file4 = None;
        os::remove(image0())?;
        os::remove(image1())?;
        os::remove(image2())?;
        os::remove(image3())?;
        os::remove(image4())?;
        Ok(())
    }

    fn test_query_fdset(&mut self) -> Result<()> {
        let result = self.vm.qmp("query-fdsets", ())?;
        assert_qmp(&result, "return[0]/fdset-id", 2)?;
        assert_qmp(&result, "return[1]/fdset-id", 1)?;
        assert_qmp(&result, "return[2]/fdset-id", 0)?;
        assert_qmp(&result, "return[0]/fds[0]/opaque", "image3:r")?;
        assert_qmp(&result, "return[0]/fds[1]/opaque", "image4:r")?;
        assert_qmp(&result, "return[1]/fds[0]/opaque", "image0:r")?;
        assert_qmp(&result, "return[1]/fds[1]/opaque", "image1:w+")?;
        assert_qmp(&result, "return[2]/fds[0]/opaque", "image2:r")?;
        self.vm.shutdown()
    }

    fn test_remove_fdset(&mut self) -> Result<()> {
        self.vm.cmd("remove-fd", kwargs! { fdset_id: 2 })?;
        let result = self.vm.qmp("query-fdsets", ())?;
        assert_qmp(&result, "return[0]/fdset-id", 1)?;
        assert_qmp(&result, "return[1]/fdset-id", 0)?;
        assert_qmp(&result, "return[0]/fds[0]/opaque", "image0:r")?;
        assert_qmp(&result, "return[0]/fds[1]/opaque", "image1:w+")?;
        assert_qmp(&result, "return[1]/fds[0]/opaque", "image2:r")?;
        self.vm.shutdown()
    }

    fn test_remove_fd(&mut self) -> Result<()> {
        let result = self.vm.qmp("query-fdsets", ())?;
        let fd_image3 = dictpath(&result, "return[0]/fds[0]/fd")?.clone();
        self.vm.cmd("remove-fd", kwargs! { fdset_id: 2, fd: fd_image3 })?;
        let result = self.vm.qmp("query-fdsets", ())?;
        assert_qmp(&result, "return[0]/fdset-id", 2)?;
        assert_qmp(&result, "return[1]/fdset-id", 1)?;
        assert_qmp(&result, "return[2]/fdset-id", 0)?;
        assert_qmp(&result, "return[0]/fds[0]/opaque", "image4:r")?;
        assert_qmp(&result, "return[1]/fds[0]/opaque", "image0:r")?;
        assert_qmp(&result, "return[1]/fds[1]/opaque", "image1:w+")?;
        assert_qmp(&result, "return[2]/fds[0]/opaque", "image2:r")?;
        self.vm.shutdown()
    }

    fn test_remove_fd_invalid_fdset(&mut self) -> Result<()> {
        let result = self.vm.qmp("query-fdsets", ())?;
        let fd_image3 = dictpath(&result, "return[0]/fds[0]/fd")?.clone();
        let result = self.vm.qmp("remove-fd", kwargs! { fdset_id: 3, fd: fd_image3 })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", format!("File descriptor named 'fdset-id:3, fd:{fd_image3}' not found"))?;
        self.vm.shutdown()
    }

    fn test_remove_fd_invalid_fd(&mut self) -> Result<()> {
        let _result = self.vm.qmp("query-fdsets", ())?;
        let result = self.vm.qmp("remove-fd", kwargs! { fdset_id: 2, fd: 999 })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "File descriptor named 'fdset-id:2, fd:999' not found")?;
        self.vm.shutdown()
    }

    fn test_add_fd_invalid_fd(&mut self) -> Result<()> {
        let result = self.vm.qmp("add-fd", kwargs! { fdset_id: 2 })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "No file descriptor supplied via SCM_RIGHTS")?;
        self.vm.shutdown()
    }
}

/// Add fd at runtime, there are two ways: monitor related or fdset related
struct TestSCMFd {
    vm: Vm,
}

#[iotests::test_case]
impl TestSCMFd {
    fn new(t: &Case) -> Self {
        TestSCMFd { vm: t.vm() }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.vm = t.vm();
        t.qemu_img(&args!["create", "-f", imgfmt(), image0(), "128K"])?;
        // Add an unused monitor, to verify it works fine when two monitor
        // instances present
        self.vm.add_monitor_null();
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(image0())
    }

    fn _send_fd_by_scm(&mut self) -> Result<()> {
        // python/qemu's send_fd_scm() returns 0 or raises
        let ret = self.vm.send_file_scm(image0()).map(|()| 0)?;
        assert_equal!(ret, 0, "Failed to send fd with UNIX SCM");
        Ok(())
    }

    fn test_add_fd(&mut self) -> Result<()> {
        self._send_fd_by_scm()?;
        let result = self.vm.qmp("add-fd", kwargs! { fdset_id: 2, opaque: "image0:r" })?;
        assert_qmp(&result, "return/fdset-id", 2)
    }

    fn test_getfd(&mut self) -> Result<()> {
        self._send_fd_by_scm()?;
        self.vm.cmd("getfd", kwargs! { fdname: "image0:r" })?;
        Ok(())
    }

    fn test_getfd_invalid_fdname(&mut self) -> Result<()> {
        self._send_fd_by_scm()?;
        let result = self.vm.qmp("getfd", kwargs! { fdname: "0image0:r" })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", "Parameter 'fdname' expects a name not starting with a digit")
    }

    fn test_closefd(&mut self) -> Result<()> {
        self._send_fd_by_scm()?;
        self.vm.cmd("getfd", kwargs! { fdname: "image0:r" })?;
        self.vm.cmd("closefd", kwargs! { fdname: "image0:r" })?;
        Ok(())
    }

    fn test_closefd_fd_not_found(&mut self) -> Result<()> {
        let fdname = "image0:r";
        let result = self.vm.qmp("closefd", kwargs! { fdname: fdname })?;
        assert_qmp(&result, "error/class", "GenericError")?;
        assert_qmp(&result, "error/desc", format!("File descriptor named '{fdname}' not found"))
    }
}

iotests::iotest! {
    name: "045", groups: [rw, quick],
    supported_fmts: ["raw"],
    supported_protocols: ["file"],
    fn t045: unittest { TestFdSets, TestSCMFd }
}
