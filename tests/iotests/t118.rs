//! Upstream 118: removable media (tray, eject, change, insert/remove, read-only modes) on IDE/SCSI CD-ROMs and floppies.

use iotests::prelude::*;

fn old_img() -> String {
    os::path::join(test_dir(), "test0.img")
}

fn new_img() -> String {
    os::path::join(test_dir(), "test1.img")
}

fn interface_to_device_name(interface: &str) -> Option<&'static str> {
    if interface == "ide" {
        Some("ide-cd")
    } else if interface == "floppy" {
        Some("floppy")
    } else if interface == "scsi" {
        Some("scsi-cd")
    } else {
        None
    }
}

struct ChangeBaseClass {
    has_opened: bool,
    has_closed: bool,

    device_name: &'static str,
    use_drive: bool,

    /// Not an attribute of the base class: the subclasses that wait for
    /// the tray set it.
    has_real_tray: bool,
    vm: Vm,
}

#[iotests::test_case]
impl ChangeBaseClass {
    fn new(t: &Case) -> Self {
        ChangeBaseClass {
            has_opened: false,
            has_closed: false,
            device_name: "qdev0",
            use_drive: false,
            has_real_tray: false,
            vm: t.vm(),
        }
    }

    fn process_events(&mut self) -> Result<()> {
        for event in self.vm.get_qmp_events_with(false)? {
            if event["event"] == "DEVICE_TRAY_MOVED"
                && (event["data"]["device"] == "drive0" || event["data"]["id"] == self.device_name)
            {
                if event["data"]["tray-open"] == false {
                    self.has_closed = true;
                } else {
                    self.has_opened = true;
                }
            }
        }
        Ok(())
    }

    fn wait_for_open(&mut self) -> Result<()> {
        if !self.has_real_tray {
            return Ok(());
        }

        with_timeout(3.0, "Timeout while waiting for the tray to open", |d| {
            while !self.has_opened {
                d.check()?;
                self.process_events()?;
            }
            Ok(())
        })
    }

    fn wait_for_close(&mut self) -> Result<()> {
        if !self.has_real_tray {
            return Ok(());
        }

        with_timeout(3.0, "Timeout while waiting for the tray to close", |d| {
            while !self.has_closed {
                d.check()?;
                self.process_events()?;
            }
            Ok(())
        })
    }
}

struct GeneralChangeTestsBaseClass {
    base: ChangeBaseClass,
    /// Set by TestInitiallyFilled and TestInitiallyEmpty.
    was_empty: bool,
    /// Set by create_basic_test_classes (with `interface`, `has_real_tray`
    /// and `use_drive`).
    media: &'static str,
    interface: &'static str,
}

#[iotests::test_case(extends = ChangeBaseClass)]
impl GeneralChangeTestsBaseClass {
    fn new(t: &Case) -> Result<Self> {
        Ok(GeneralChangeTestsBaseClass { base: ChangeBaseClass::new(t)?, was_empty: false, media: "", interface: "" })
    }

    fn test_blockdev_change_medium(&mut self) -> Result<()> {
        self.vm
            .cmd("blockdev-change-medium", kwargs! { id: self.device_name, filename: new_img(), format: imgfmt() })?;

        self.wait_for_open()?;
        self.wait_for_close()?;

        let result = self.vm.qmp("query-block", ())?;
        if self.has_real_tray {
            assert_qmp(&result, "return[0]/tray_open", false)?;
        }
        assert_qmp(&result, "return[0]/inserted/image/filename", new_img())
    }

    fn test_eject(&mut self) -> Result<()> {
        self.vm.cmd("eject", kwargs! { id: self.device_name, force: true })?;

        self.wait_for_open()?;

        let result = self.vm.qmp("query-block", ())?;
        if self.has_real_tray {
            assert_qmp(&result, "return[0]/tray_open", true)?;
        }
        assert_qmp_absent(&result, "return[0]/inserted")
    }

    fn test_tray_eject_change(&mut self) -> Result<()> {
        self.vm.cmd("eject", kwargs! { id: self.device_name, force: true })?;

        self.wait_for_open()?;

        let result = self.vm.qmp("query-block", ())?;
        if self.has_real_tray {
            assert_qmp(&result, "return[0]/tray_open", true)?;
        }
        assert_qmp_absent(&result, "return[0]/inserted")?;

        self.vm
            .cmd("blockdev-change-medium", kwargs! { id: self.device_name, filename: new_img(), format: imgfmt() })?;

        self.wait_for_close()?;

        let result = self.vm.qmp("query-block", ())?;
        if self.has_real_tray {
            assert_qmp(&result, "return[0]/tray_open", false)?;
        }
        assert_qmp(&result, "return[0]/inserted/image/filename", new_img())
    }

    fn test_tray_open_close(&mut self) -> Result<()> {
        self.vm.cmd("blockdev-open-tray", kwargs! { id: self.device_name, force: true })?;

        self.wait_for_open()?;

        let result = self.vm.qmp("query-block", ())?;
        if self.has_real_tray {
            assert_qmp(&result, "return[0]/tray_open", true)?;
        }
        if self.was_empty {
            assert_qmp_absent(&result, "return[0]/inserted")?;
        } else {
            assert_qmp(&result, "return[0]/inserted/image/filename", old_img())?;
        }

        self.vm.cmd("blockdev-close-tray", kwargs! { id: self.device_name })?;

        if self.has_real_tray || !self.was_empty {
            self.wait_for_close()?;
        }

        let result = self.vm.qmp("query-block", ())?;
        if self.has_real_tray {
            assert_qmp(&result, "return[0]/tray_open", false)?;
        }
        if self.was_empty {
            assert_qmp_absent(&result, "return[0]/inserted")
        } else {
            assert_qmp(&result, "return[0]/inserted/image/filename", old_img())
        }
    }

    fn test_tray_eject_close(&mut self) -> Result<()> {
        self.vm.cmd("eject", kwargs! { id: self.device_name, force: true })?;

        self.wait_for_open()?;

        let result = self.vm.qmp("query-block", ())?;
        if self.has_real_tray {
            assert_qmp(&result, "return[0]/tray_open", true)?;
        }
        assert_qmp_absent(&result, "return[0]/inserted")?;

        self.vm.cmd("blockdev-close-tray", kwargs! { id: self.device_name })?;

        self.wait_for_close()?;

        let result = self.vm.qmp("query-block", ())?;
        if self.has_real_tray {
            assert_qmp(&result, "return[0]/tray_open", false)?;
        }
        assert_qmp_absent(&result, "return[0]/inserted")
    }

    fn test_tray_open_change(&mut self) -> Result<()> {
        self.vm.cmd("blockdev-open-tray", kwargs! { id: self.device_name, force: true })?;

        self.wait_for_open()?;

        let result = self.vm.qmp("query-block", ())?;
        if self.has_real_tray {
            assert_qmp(&result, "return[0]/tray_open", true)?;
        }
        if self.was_empty {
            assert_qmp_absent(&result, "return[0]/inserted")?;
        } else {
            assert_qmp(&result, "return[0]/inserted/image/filename", old_img())?;
        }

        self.vm
            .cmd("blockdev-change-medium", kwargs! { id: self.device_name, filename: new_img(), format: imgfmt() })?;

        self.wait_for_close()?;

        let result = self.vm.qmp("query-block", ())?;
        if self.has_real_tray {
            assert_qmp(&result, "return[0]/tray_open", false)?;
        }
        assert_qmp(&result, "return[0]/inserted/image/filename", new_img())
    }

    fn test_cycle(&mut self, #[default(false)] read_only_node: bool) -> Result<()> {
        self.vm.cmd(
            "blockdev-add",
            kwargs! {
                node_name: "new",
                driver: imgfmt(),
                read_only: read_only_node,
                file: {"filename": new_img(),
                       "driver": "file"}
            },
        )?;

        self.vm.cmd("blockdev-open-tray", kwargs! { id: self.device_name, force: true })?;

        self.wait_for_open()?;

        let result = self.vm.qmp("query-block", ())?;
        if self.has_real_tray {
            assert_qmp(&result, "return[0]/tray_open", true)?;
        }
        if self.was_empty {
            assert_qmp_absent(&result, "return[0]/inserted")?;
        } else {
            assert_qmp(&result, "return[0]/inserted/image/filename", old_img())?;
        }

        self.vm.cmd("blockdev-remove-medium", kwargs! { id: self.device_name })?;

        let result = self.vm.qmp("query-block", ())?;
        if self.has_real_tray {
            assert_qmp(&result, "return[0]/tray_open", true)?;
        }
        assert_qmp_absent(&result, "return[0]/inserted")?;

        self.vm.cmd("blockdev-insert-medium", kwargs! { id: self.device_name, node_name: "new" })?;

        let result = self.vm.qmp("query-block", ())?;
        if self.has_real_tray {
            assert_qmp(&result, "return[0]/tray_open", true)?;
        }
        assert_qmp(&result, "return[0]/inserted/image/filename", new_img())?;

        self.vm.cmd("blockdev-close-tray", kwargs! { id: self.device_name })?;

        self.wait_for_close()?;

        let result = self.vm.qmp("query-block", ())?;
        if self.has_real_tray {
            assert_qmp(&result, "return[0]/tray_open", false)?;
        }
        assert_qmp(&result, "return[0]/inserted/image/filename", new_img())
    }

    fn test_cycle_read_only_media(&mut self) -> Result<()> {
        self.test_cycle(true)
    }

    fn test_close_on_closed(&mut self) -> Result<()> {
        // Should be a no-op
        self.vm.cmd("blockdev-close-tray", kwargs! { id: self.device_name })?;
        assert_equal!(self.vm.get_qmp_events_with(false)?, Vec::<Value>::new());
        Ok(())
    }

    fn test_remove_on_closed(&mut self) -> Result<()> {
        if !self.has_real_tray {
            return Ok(());
        }

        let result = self.vm.qmp("blockdev-remove-medium", kwargs! { id: self.device_name })?;
        assert_qmp(&result, "error/class", "GenericError")
    }

    fn test_insert_on_closed(&mut self) -> Result<()> {
        if !self.has_real_tray {
            return Ok(());
        }

        self.vm.cmd(
            "blockdev-add",
            kwargs! {
                node_name: "new",
                driver: imgfmt(),
                file: {"filename": new_img(),
                       "driver": "file"}
            },
        )?;

        let result = self.vm.qmp("blockdev-insert-medium", kwargs! { id: self.device_name, node_name: "new" })?;
        assert_qmp(&result, "error/class", "GenericError")
    }
}

struct TestInitiallyFilled {
    base: GeneralChangeTestsBaseClass,
}

#[iotests::test_case(extends = GeneralChangeTestsBaseClass)]
impl TestInitiallyFilled {
    fn new(t: &Case) -> Result<Self> {
        let mut base = GeneralChangeTestsBaseClass::new(t)?;
        base.was_empty = false;
        Ok(TestInitiallyFilled { base })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), old_img(), "1440k"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), new_img(), "1440k"])?;
        self.vm = t.vm();
        if self.use_drive {
            let drive = Drive { opts: format!("media={}", self.media), interface: "none", ..Default::default() };
            self.vm.add_drive_with(old_img(), drive);
        } else {
            self.vm.add_blockdev([
                "node-name=drive0".to_string(),
                format!("driver={}", imgfmt()),
                "file.driver=file".to_string(),
                format!("file.filename={}", old_img()),
            ]);
        }
        if self.interface == "scsi" {
            self.vm.add_object("iothread,id=iothread0");
            self.vm.add_device("virtio-scsi-pci,iothread=iothread0");
        }
        // '%s' % None for an unknown interface
        let device = interface_to_device_name(self.interface).unwrap_or("None");
        self.vm.add_device(format!("{device},drive=drive0,id={}", self.device_name));
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(old_img())?;
        os::remove(new_img())
    }

    fn test_insert_on_filled(&mut self) -> Result<()> {
        self.vm.cmd(
            "blockdev-add",
            kwargs! {
                node_name: "new",
                driver: imgfmt(),
                file: {"filename": new_img(),
                       "driver": "file"}
            },
        )?;

        self.vm.cmd("blockdev-open-tray", kwargs! { id: self.device_name })?;

        self.wait_for_open()?;

        let result = self.vm.qmp("blockdev-insert-medium", kwargs! { id: self.device_name, node_name: "new" })?;
        assert_qmp(&result, "error/class", "GenericError")
    }
}

struct TestInitiallyEmpty {
    base: GeneralChangeTestsBaseClass,
}

#[iotests::test_case(extends = GeneralChangeTestsBaseClass)]
impl TestInitiallyEmpty {
    fn new(t: &Case) -> Result<Self> {
        let mut base = GeneralChangeTestsBaseClass::new(t)?;
        base.was_empty = true;
        Ok(TestInitiallyEmpty { base })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), new_img(), "1440k"])?;
        self.vm = t.vm();
        if self.use_drive {
            let drive = Drive { opts: format!("media={}", self.media), interface: "none", ..Default::default() };
            self.vm.add_drive_with(None, drive);
        }
        if self.interface == "scsi" {
            self.vm.add_object("iothread,id=iothread0");
            self.vm.add_device("virtio-scsi-pci,iothread=iothread0");
        }
        // '%s' % None for an unknown interface
        let device = interface_to_device_name(self.interface).unwrap_or("None");
        let drive = if self.use_drive { "drive=drive0," } else { "" };
        self.vm.add_device(format!("{device},{drive}id={}", self.device_name));
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(new_img())
    }

    fn test_remove_on_empty(&mut self) -> Result<()> {
        self.vm.cmd("blockdev-open-tray", kwargs! { id: self.device_name })?;

        self.wait_for_open()?;

        // Should be a no-op
        self.vm.cmd("blockdev-remove-medium", kwargs! { id: self.device_name })?;
        Ok(())
    }
}

/// The class attributes `create_basic_test_classes` gives each class
/// (Python's `attr` dict).
#[derive(Clone, Copy)]
struct Attr {
    media: &'static str,
    interface: &'static str,
    has_real_tray: bool,
    use_drive: bool,
}

/// `type(name, (case, ), attr)` for one `case`.
type Subclass = fn(String, Attr) -> Class;

/// `type(name, (case, ), attr)`.
fn subclass<C>(name: String, attr: Attr) -> Class
where
    C: TestCase + std::ops::DerefMut<Target = GeneralChangeTestsBaseClass>,
{
    ClassOf::<C>::new(name)
        .attrs(move |c| {
            c.media = attr.media;
            c.interface = attr.interface;
            c.has_real_tray = attr.has_real_tray;
            c.use_drive = attr.use_drive;
        })
        .into()
}

// Do this in a function to avoid leaking variables like case into the global
// name space (otherwise tests would be run for the abstract base classes)
fn create_basic_test_classes() -> Vec<Class> {
    let mut classes = Vec::new();
    for (media, interface, has_real_tray) in
        [("cdrom", "ide", true), ("cdrom", "scsi", true), ("disk", "floppy", false)]
    {
        let cases: [(&str, Subclass); 2] = [
            ("TestInitiallyFilled", subclass::<TestInitiallyFilled>),
            ("TestInitiallyEmpty", subclass::<TestInitiallyEmpty>),
        ];
        for (case_name, case) in cases {
            for use_drive in [true, false] {
                let attr = Attr { media, interface, has_real_tray, use_drive };

                let name = format!("{case_name}_{media}_{interface}_{}", if use_drive { "drive" } else { "blockdev" });
                classes.push(case(name, attr));
            }
        }
    }
    classes
}

struct TestChangeReadOnly {
    base: ChangeBaseClass,
}

#[iotests::test_case(extends = ChangeBaseClass)]
impl TestChangeReadOnly {
    fn new(t: &Case) -> Result<Self> {
        let mut base = ChangeBaseClass::new(t)?;
        base.device_name = "qdev0";
        Ok(TestChangeReadOnly { base })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), old_img(), "1440k"])?;
        t.qemu_img(&args!["create", "-f", imgfmt(), new_img(), "1440k"])?;
        self.vm = t.vm();
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::chmod(old_img(), 0o666)?;
        os::chmod(new_img(), 0o666)?;
        os::remove(old_img())?;
        os::remove(new_img())
    }

    fn test_ro_ro_retain(&mut self) -> Result<()> {
        os::chmod(old_img(), 0o444)?;
        os::chmod(new_img(), 0o444)?;
        self.vm.add_drive_with(
            old_img(),
            Drive { opts: "media=disk,read-only=on".into(), interface: "none", ..Default::default() },
        );
        self.vm.add_device(format!("floppy,drive=drive0,id={}", self.device_name));
        self.vm.launch()?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", true)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", old_img())?;

        self.vm.cmd(
            "blockdev-change-medium",
            kwargs! { id: self.device_name, filename: new_img(), format: imgfmt(), read_only_mode: "retain" },
        )?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", true)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", new_img())
    }

    fn test_ro_rw_retain(&mut self) -> Result<()> {
        os::chmod(old_img(), 0o444)?;
        self.vm.add_drive_with(
            old_img(),
            Drive { opts: "media=disk,read-only=on".into(), interface: "none", ..Default::default() },
        );
        self.vm.add_device(format!("floppy,drive=drive0,id={}", self.device_name));
        self.vm.launch()?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", true)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", old_img())?;

        self.vm.cmd(
            "blockdev-change-medium",
            kwargs! { id: self.device_name, filename: new_img(), format: imgfmt(), read_only_mode: "retain" },
        )?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", true)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", new_img())
    }

    #[skip_if_user_is_root]
    fn test_rw_ro_retain(&mut self) -> Result<()> {
        os::chmod(new_img(), 0o444)?;
        self.vm.add_drive_with(old_img(), Drive { opts: "media=disk".into(), interface: "none", ..Default::default() });
        self.vm.add_device(format!("floppy,drive=drive0,id={}", self.device_name));
        self.vm.launch()?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", false)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", old_img())?;

        let result = self.vm.qmp(
            "blockdev-change-medium",
            kwargs! { id: self.device_name, filename: new_img(), format: imgfmt(), read_only_mode: "retain" },
        )?;
        assert_qmp(&result, "error/class", "GenericError")?;

        assert_equal!(self.vm.get_qmp_events_with(false)?, Vec::<Value>::new());

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", false)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", old_img())
    }

    fn test_ro_rw(&mut self) -> Result<()> {
        os::chmod(old_img(), 0o444)?;
        self.vm.add_drive_with(
            old_img(),
            Drive { opts: "media=disk,read-only=on".into(), interface: "none", ..Default::default() },
        );
        self.vm.add_device(format!("floppy,drive=drive0,id={}", self.device_name));
        self.vm.launch()?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", true)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", old_img())?;

        self.vm.cmd(
            "blockdev-change-medium",
            kwargs! { id: self.device_name, filename: new_img(), format: imgfmt(), read_only_mode: "read-write" },
        )?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", false)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", new_img())
    }

    fn test_rw_ro(&mut self) -> Result<()> {
        os::chmod(new_img(), 0o444)?;
        self.vm.add_drive_with(old_img(), Drive { opts: "media=disk".into(), interface: "none", ..Default::default() });
        self.vm.add_device(format!("floppy,drive=drive0,id={}", self.device_name));
        self.vm.launch()?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", false)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", old_img())?;

        self.vm.cmd(
            "blockdev-change-medium",
            kwargs! { id: self.device_name, filename: new_img(), format: imgfmt(), read_only_mode: "read-only" },
        )?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", true)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", new_img())
    }

    fn test_make_rw_ro(&mut self) -> Result<()> {
        self.vm.add_drive_with(old_img(), Drive { opts: "media=disk".into(), interface: "none", ..Default::default() });
        self.vm.add_device(format!("floppy,drive=drive0,id={}", self.device_name));
        self.vm.launch()?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", false)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", old_img())?;

        self.vm.cmd(
            "blockdev-change-medium",
            kwargs! { id: self.device_name, filename: new_img(), format: imgfmt(), read_only_mode: "read-only" },
        )?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", true)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", new_img())
    }

    #[skip_if_user_is_root]
    fn test_make_ro_rw(&mut self) -> Result<()> {
        os::chmod(new_img(), 0o444)?;
        self.vm.add_drive_with(old_img(), Drive { opts: "media=disk".into(), interface: "none", ..Default::default() });
        self.vm.add_device(format!("floppy,drive=drive0,id={}", self.device_name));
        self.vm.launch()?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", false)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", old_img())?;

        let result = self.vm.qmp(
            "blockdev-change-medium",
            kwargs! { id: self.device_name, filename: new_img(), format: imgfmt(), read_only_mode: "read-write" },
        )?;
        assert_qmp(&result, "error/class", "GenericError")?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", false)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", old_img())
    }

    fn test_make_rw_ro_by_retain(&mut self) -> Result<()> {
        os::chmod(old_img(), 0o444)?;
        self.vm.add_drive_with(
            old_img(),
            Drive { opts: "media=disk,read-only=on".into(), interface: "none", ..Default::default() },
        );
        self.vm.add_device(format!("floppy,drive=drive0,id={}", self.device_name));
        self.vm.launch()?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", true)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", old_img())?;

        self.vm.cmd(
            "blockdev-change-medium",
            kwargs! { id: self.device_name, filename: new_img(), format: imgfmt(), read_only_mode: "retain" },
        )?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", true)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", new_img())
    }

    #[skip_if_user_is_root]
    fn test_make_ro_rw_by_retain(&mut self) -> Result<()> {
        os::chmod(new_img(), 0o444)?;
        self.vm.add_drive_with(old_img(), Drive { opts: "media=disk".into(), interface: "none", ..Default::default() });
        self.vm.add_device(format!("floppy,drive=drive0,id={}", self.device_name));
        self.vm.launch()?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", false)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", old_img())?;

        let result = self.vm.qmp(
            "blockdev-change-medium",
            kwargs! { id: self.device_name, filename: new_img(), format: imgfmt(), read_only_mode: "retain" },
        )?;
        assert_qmp(&result, "error/class", "GenericError")?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", false)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", old_img())
    }

    fn test_rw_ro_cycle(&mut self) -> Result<()> {
        os::chmod(new_img(), 0o444)?;
        self.vm.add_drive_with(old_img(), Drive { opts: "media=disk".into(), interface: "none", ..Default::default() });
        self.vm.add_device(format!("floppy,drive=drive0,id={}", self.device_name));
        self.vm.launch()?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", false)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", old_img())?;

        self.vm.cmd(
            "blockdev-add",
            kwargs! {
                node_name: "new",
                driver: imgfmt(),
                read_only: true,
                file: {"filename": new_img(),
                       "driver": "file"}
            },
        )?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", false)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", old_img())?;

        self.vm.cmd("blockdev-remove-medium", kwargs! { id: self.device_name })?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp_absent(&result, "return[0]/inserted")?;

        self.vm.cmd("blockdev-insert-medium", kwargs! { id: self.device_name, node_name: "new" })?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", true)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", new_img())?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/ro", true)?;
        assert_qmp(&result, "return[0]/inserted/image/filename", new_img())
    }
}

// GeneralChangeTestsBaseClass, TestInitiallyFilled and TestInitiallyEmpty are
// set to None at module level: they are not listed.

struct TestBlockJobsAfterCycle {
    base: ChangeBaseClass,
}

#[iotests::test_case(extends = ChangeBaseClass)]
impl TestBlockJobsAfterCycle {
    fn new(t: &Case) -> Result<Self> {
        let mut base = ChangeBaseClass::new(t)?;
        base.device_name = "qdev0";
        Ok(TestBlockJobsAfterCycle { base })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), old_img(), "1440K"])?;

        self.vm = t.vm();
        self.vm.add_drive_raw("id=drive0,driver=null-co,if=none");
        self.vm.add_device(format!("floppy,drive=drive0,id={}", self.device_name));
        self.vm.launch()?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/image/format", "null-co")?;

        // For device-less BBs, calling blockdev-open-tray or blockdev-close-tray
        // is not necessary
        self.vm.cmd("blockdev-remove-medium", kwargs! { id: self.device_name })?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp_absent(&result, "return[0]/inserted")?;

        self.vm.cmd(
            "blockdev-add",
            kwargs! {
                node_name: "node0",
                driver: imgfmt(),
                file: {"filename": old_img(),
                       "driver": "file"}
            },
        )?;

        self.vm.cmd("blockdev-insert-medium", kwargs! { id: self.device_name, node_name: "node0" })?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/image/filename", old_img())
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(old_img())?;
        // try: os.remove(new_img) except OSError: pass
        let _ = os::remove(new_img());
        Ok(())
    }

    // We need backing file support
    #[skip_for_formats(["vpc", "parallels", "qcow", "vdi", "vmdk", "raw", "vhdx"])]
    fn test_snapshot_and_commit(&mut self) -> Result<()> {
        self.vm
            .cmd("blockdev-snapshot-sync", kwargs! { device: "drive0", snapshot_file: new_img(), format: imgfmt() })?;

        let result = self.vm.qmp("query-block", ())?;
        assert_qmp(&result, "return[0]/inserted/image/filename", new_img())?;
        assert_qmp(&result, "return[0]/inserted/image/backing-image/filename", old_img())?;

        self.vm.cmd("block-commit", kwargs! { device: "drive0" })?;

        self.vm.event_wait("BLOCK_JOB_READY")?;

        let result = self.vm.qmp("query-block-jobs", ())?;
        assert_qmp(&result, "return[0]/device", "drive0")?;

        self.vm.cmd("block-job-complete", kwargs! { device: "drive0" })?;

        self.vm.event_wait("BLOCK_JOB_COMPLETED")?;
        Ok(())
    }
}

/// The `__main__` block before `iotests.main()`.
fn check_machine(t: &TestContext) -> Result<()> {
    if qemu_default_machine() != "pc" {
        // We need floppy and IDE CD-ROM
        return t.notrun(format!("not suitable for this machine type: {}", qemu_default_machine()));
    }
    Ok(())
}

iotests::iotest! {
    name: "118", groups: [rw],
    // Need to support image creation
    supported_fmts: ["vpc", "parallels", "qcow", "vdi", "qcow2", "vmdk", "raw", "vhdx", "qed"],
    supported_protocols: ["file"],
    before_main: check_machine,
    fn t118: unittest {
        ..create_basic_test_classes(),
        TestChangeReadOnly,
        TestBlockJobsAfterCycle,
    }
}
