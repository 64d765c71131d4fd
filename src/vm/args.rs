//! Building the command line: iotests' `add_drive` & co.
//!
//! Each method appends to the VM's argument list exactly what iotests
//! appends, so that command lines (and anything derived from them, like
//! drive ids) are the same as in the Python test.

use std::os::fd::{AsRawFd, OwnedFd};

use super::Vm;
use super::opts::Drive;

/// Options given as one string or as a list that is joined with `,`
/// (iotests' `add_blockdev(opts)` accepts both).
///
/// ```
/// use iotests::vm::OptList;
/// assert_eq!("driver=null-co".join_opts(), "driver=null-co");
/// assert_eq!(["driver=file", "filename=x"].join_opts(), "driver=file,filename=x");
/// assert_eq!(vec![String::from("a=1")].join_opts(), "a=1");
/// ```
pub trait OptList {
    /// The options as one string.
    fn join_opts(&self) -> String;
}

impl OptList for str {
    fn join_opts(&self) -> String {
        self.to_string()
    }
}

impl OptList for String {
    fn join_opts(&self) -> String {
        self.clone()
    }
}

impl<S: AsRef<str>> OptList for [S] {
    fn join_opts(&self) -> String {
        self.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(",")
    }
}

impl<S: AsRef<str>, const N: usize> OptList for [S; N] {
    fn join_opts(&self) -> String {
        self.as_slice().join_opts()
    }
}

impl<S: AsRef<str>> OptList for Vec<S> {
    fn join_opts(&self) -> String {
        self.as_slice().join_opts()
    }
}

impl<T: OptList + ?Sized> OptList for &T {
    fn join_opts(&self) -> String {
        (**self).join_opts()
    }
}

/// The `path` of [`Vm::add_drive_with`]: a path (`&str`, `&String`,
/// `String`) or an `Option<&str>`, `None` being Python's `None` (a drive
/// without a medium).
pub trait DriveFile {
    /// The path, if any.
    fn drive_file(&self) -> Option<&str>;
}

impl DriveFile for &str {
    fn drive_file(&self) -> Option<&str> {
        Some(self)
    }
}

impl DriveFile for &String {
    fn drive_file(&self) -> Option<&str> {
        Some(self)
    }
}

impl DriveFile for String {
    fn drive_file(&self) -> Option<&str> {
        Some(self)
    }
}

impl DriveFile for Option<&str> {
    fn drive_file(&self) -> Option<&str> {
        *self
    }
}

impl Vm {
    /// iotests' `add_object(opts)`: `-object opts`.
    ///
    /// ```
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    /// let mut vm = t.vm();
    /// vm.add_object("iothread,id=iothread0");
    /// assert_eq!(vm.args().last().unwrap(), "iothread,id=iothread0");
    /// ```
    pub fn add_object(&mut self, opts: impl AsRef<str>) -> &mut Self {
        self.args.extend(["-object".to_string(), opts.as_ref().to_string()]);
        self
    }

    /// iotests' `add_device(opts)`: `-device opts`.
    pub fn add_device(&mut self, opts: impl AsRef<str>) -> &mut Self {
        self.args.extend(["-device".to_string(), opts.as_ref().to_string()]);
        self
    }

    /// iotests' `add_drive_raw(opts)`: `-drive opts`.
    pub fn add_drive_raw(&mut self, opts: impl AsRef<str>) -> &mut Self {
        self.args.extend(["-drive".to_string(), opts.as_ref().to_string()]);
        self
    }

    /// iotests' `add_drive(path)`: a virtio drive of format `IMGFMT` with
    /// the test's cache and AIO modes. See [`add_drive_with`](Vm::add_drive_with).
    ///
    /// ```
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    /// let mut vm = t.vm();
    /// vm.add_drive("/tmp/a.img");
    /// let env = t.env();
    /// assert_eq!(vm.args().last().unwrap(), &format!(
    ///     "if=virtio,id=drive0,file=/tmp/a.img,format={},cache={},aio={}",
    ///     env.imgfmt, env.cachemode, env.aiomode));
    /// ```
    pub fn add_drive(&mut self, path: impl AsRef<str>) -> &mut Self {
        self.add_drive_with(path.as_ref(), Drive::default())
    }

    /// iotests' `add_drive(path, opts, interface, img_format)`:
    /// `-drive if=…,id=driveN[,file=…,format=…,cache=…,aio=…][,opts]`,
    /// with the default LUKS secret for a `luks` image whose `opts` name no
    /// `key-secret`. `N` counts the drives added so far. `path` may be
    /// `None` (no medium); the options are a [`Drive`] or just `opts`.
    ///
    /// ```
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    /// use iotests::vm::Drive;
    /// let mut vm = t.vm();
    /// vm.add_drive_with(None, Drive { opts: "media=cdrom".into(), interface: "ide", ..Default::default() });
    /// assert_eq!(vm.args().last().unwrap(), "if=ide,id=drive0,media=cdrom");
    /// let img = String::from("/tmp/b.img");
    /// vm.add_drive_with(&img, "node-name=b");
    /// assert!(vm.args().last().unwrap().ends_with(",node-name=b"));
    /// ```
    pub fn add_drive_with<'a>(&mut self, path: impl DriveFile, opts: impl Into<Drive<'a>>) -> &mut Self {
        let path = path.drive_file();
        let drive = opts.into();
        let opts = drive.opts.as_str();
        let interface = if drive.interface.is_empty() { "virtio" } else { drive.interface };
        let imgfmt = self.env.imgfmt.clone();
        let img_format = drive.img_format.unwrap_or(&imgfmt);
        let mut options = vec![format!("if={interface}"), format!("id=drive{}", self.num_drives)];
        if let Some(path) = path {
            options.push(format!("file={path}"));
            options.push(format!("format={img_format}"));
            options.push(format!("cache={}", self.env.cachemode));
            options.push(format!("aio={}", self.env.aiomode));
        }
        if !opts.is_empty() {
            options.push(opts.to_string());
        }
        if img_format == "luks" && !opts.contains("key-secret") {
            let secret = self.env.luks_default_secret_object();
            if !self.args.contains(&secret) {
                self.add_object(&secret);
            }
            options.push(self.env.luks_default_key_secret_opt().to_string());
        }
        self.args.extend(["-drive".to_string(), options.join(",")]);
        self.num_drives += 1;
        self
    }

    /// iotests' `add_blockdev(opts)`: `-blockdev opts`, a list joined by `,`.
    ///
    /// ```
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    /// let mut vm = t.vm();
    /// vm.add_blockdev(["driver=null-co", "node-name=null"]);
    /// assert_eq!(&vm.args()[vm.args().len() - 2..], ["-blockdev", "driver=null-co,node-name=null"]);
    /// ```
    pub fn add_blockdev(&mut self, opts: impl OptList) -> &mut Self {
        self.args.extend(["-blockdev".to_string(), opts.join_opts()]);
        self
    }

    /// iotests' `add_incoming(addr)`: `-incoming addr`.
    pub fn add_incoming(&mut self, addr: impl AsRef<str>) -> &mut Self {
        self.args.extend(["-incoming".to_string(), addr.as_ref().to_string()]);
        self
    }

    /// iotests' `add_paused()`: `-S`.
    pub fn add_paused(&mut self) -> &mut Self {
        self.args.push("-S".to_string());
        self
    }

    /// python/qemu's `add_args(*args)`.
    ///
    /// ```
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    /// let mut vm = t.vm();
    /// vm.add_args(["-machine", "accel=tcg"]);
    /// assert_eq!(&vm.args()[vm.args().len() - 2..], ["-machine", "accel=tcg"]);
    /// ```
    pub fn add_args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// A `VM` subclass whose `_base_args` property puts `args` first
    /// (`return ['-accel', 'tcg'] + super()._base_args`, upstream's
    /// stream-under-throttle): they come before everything else on the
    /// command line, also before `-accel qtest` where QEMU has that
    /// accelerator — QEMU takes the first `-accel` that works.
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw"))?;
    /// let mut vm = t.vm();
    /// vm.prepend_base_args(["-accel", "tcg"]);
    /// vm.launch()?;
    /// assert_eq!(&vm.full_args()[1..3], ["-accel", "tcg"]);
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn prepend_base_args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut prefix: Vec<String> = args.into_iter().map(|a| a.as_ref().to_string()).collect();
        prefix.append(&mut self.base_args_prefix);
        self.base_args_prefix = prefix;
        self
    }

    /// python/qemu's `add_monitor_null()`: `-monitor null`.
    pub fn add_monitor_null(&mut self) -> &mut Self {
        self.args.extend(["-monitor".to_string(), "null".to_string()]);
        self
    }

    /// python/qemu's `add_fd(fd, fdset, opaque, opts)`: pass a descriptor
    /// to QEMU as `-add-fd fd=N,set=S,opaque=O[,opts]`. The VM keeps the
    /// descriptor (open in this process, so that a relaunch passes it again)
    /// and QEMU inherits it under the same number.
    ///
    /// ```no_run
    /// # let t = iotests::TestContext::new("x", iotests::env::TestEnv::from_process_env("raw")).unwrap();
    /// let file = std::fs::File::open("/dev/null").unwrap();
    /// let mut vm = t.vm();
    /// vm.add_fd(file, 1, "null", "");
    /// vm.launch()?;
    /// let fdsets = vm.cmd("query-fdsets", ())?;
    /// assert_eq!(fdsets[0]["fdset-id"], 1);
    /// # Ok::<(), iotests::Error>(())
    /// ```
    pub fn add_fd(&mut self, fd: impl Into<OwnedFd>, fdset: u32, opaque: &str, opts: &str) -> &mut Self {
        let fd: OwnedFd = fd.into();
        let mut options = vec![format!("fd={}", fd.as_raw_fd()), format!("set={fdset}"), format!("opaque={opaque}")];
        if !opts.is_empty() {
            options.push(opts.to_string());
        }
        self.args.extend(["-add-fd".to_string(), options.join(",")]);
        self.pass_fds.push(fd);
        self
    }

    /// python/qemu's `set_machine(machine_type)`: `-machine` in the base
    /// arguments.
    pub fn set_machine(&mut self, machine_type: &str) -> &mut Self {
        self.machine = Some(machine_type.to_string());
        self
    }

    /// python/qemu's `set_qmp_monitor(enabled)`: without a monitor there is
    /// no QMP, and shutdown sends SIGTERM.
    pub fn set_qmp_monitor(&mut self, enabled: bool) -> &mut Self {
        self.qmp_set = enabled;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::Drive;
    use crate::TestContext;
    use crate::env::TestEnv;

    fn ctx(fmt: &str) -> TestContext {
        let vars = [("IMGFMT", fmt), ("CACHEMODE", "none"), ("AIOMODE", "native"), ("QEMU_OPTIONS", "-nodefaults")];
        let env = TestEnv::from_vars(&vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), "raw");
        TestContext::new("vm-args", env).unwrap()
    }

    #[test]
    fn add_drive_strings_match_iotests() {
        let t = ctx("qcow2");
        let mut vm = t.vm();
        vm.add_drive("/x/a.img")
            .add_drive_with("/x/b.img", "node-name=b")
            .add_drive_with(None, Drive { opts: "media=cdrom".into(), interface: "ide", ..Default::default() });
        assert_eq!(
            vm.args(),
            [
                "-nodefaults",
                "-drive",
                "if=virtio,id=drive0,file=/x/a.img,format=qcow2,cache=none,aio=native",
                "-drive",
                "if=virtio,id=drive1,file=/x/b.img,format=qcow2,cache=none,aio=native,node-name=b",
                "-drive",
                "if=ide,id=drive2,media=cdrom",
            ]
        );
    }

    #[test]
    fn luks_drive_gets_default_secret_once() {
        let t = ctx("luks");
        let mut vm = t.vm();
        vm.add_drive("/x/a.img").add_drive_with("/x/b.img", "key-secret=mine").add_drive("/x/c.img");
        assert_eq!(
            vm.args(),
            [
                "-nodefaults",
                "-object",
                "secret,id=keysec0,data=123456",
                "-drive",
                "if=virtio,id=drive0,file=/x/a.img,format=luks,cache=none,aio=native,key-secret=keysec0",
                "-drive",
                "if=virtio,id=drive1,file=/x/b.img,format=luks,cache=none,aio=native,key-secret=mine",
                "-drive",
                "if=virtio,id=drive2,file=/x/c.img,format=luks,cache=none,aio=native,key-secret=keysec0",
            ]
        );
    }

    #[test]
    fn other_builders() {
        let t = ctx("raw");
        let mut vm = t.vm_with("b");
        vm.add_object("iothread,id=io0")
            .add_device("virtio-scsi,id=scsi0")
            .add_drive_raw("if=none,id=d")
            .add_blockdev(vec!["driver=null-co".to_string(), "node-name=n".to_string()])
            .add_incoming("defer")
            .add_paused()
            .add_monitor_null()
            .add_args(["-m", "64"]);
        assert_eq!(
            vm.args().join(" "),
            "-nodefaults -object iothread,id=io0 -device virtio-scsi,id=scsi0 -drive if=none,id=d \
             -blockdev driver=null-co,node-name=n -incoming defer -S -monitor null -m 64"
        );
    }
}
