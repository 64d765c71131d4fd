//! Upstream tests/backing-file-invalidation: migration must not change the filename of a node whose backing
//! file strings are json:{} filenames.

use iotests::json::{Subscript, dumps};
use iotests::prelude::*;

const IMAGE_SIZE: u64 = 1024 * 1024;

fn imgs() -> Vec<String> {
    (0..4).map(|i| os::path::join(test_dir(), format!("{i}.img"))).collect()
}

fn mig_sock() -> String {
    os::path::join(sock_dir(), "mig.sock")
}

/// `vm.node_info(name)['file']`: Python's `TypeError` when there is no such
/// node (`None`), its `KeyError` when the entry has no `file`.
fn node_file(vm: &mut Vm, node_name: &str) -> Result<Value> {
    Ok(vm.node_info(node_name)?.unwrap_or_default().at("file")?.clone())
}

#[derive(Default)]
struct TestPostMigrateFilename {
    vm_s: Option<Vm>,
    vm_d: Option<Vm>,
}

#[iotests::test_case]
impl TestPostMigrateFilename {
    fn set_up(&mut self, t: &Case) -> Result<()> {
        let imgs = imgs();
        // Create backing chain of three images, where the backing file strings
        // are json:{} filenames
        t.qemu_img_create(&args!["-f", imgfmt(), &imgs[0], IMAGE_SIZE.to_string()])?;
        for i in 1..3 {
            let backing = json!({
                "driver": imgfmt(),
                "file": {
                    "driver": "file",
                    "filename": imgs[i - 1]
                }
            });
            t.qemu_img_create(&args![
                "-f",
                imgfmt(),
                "-F",
                imgfmt(),
                "-b",
                format!("json:{}", dumps(&backing, false, None)),
                &imgs[i],
                IMAGE_SIZE.to_string()
            ])?;
        }
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        if let Some(vm_s) = &mut self.vm_s {
            vm_s.shutdown()?;
        }
        if let Some(vm_d) = &mut self.vm_d {
            vm_d.shutdown()?;
        }

        for img in imgs() {
            let _ = os::remove(img);
        }
        let _ = os::remove(mig_sock());
        Ok(())
    }

    /// Migrate a VM with the backing chain created in setUp() attached.  At
    /// the end of the migration process, the destination will run
    /// bdrv_invalidate_cache(), which for some image formats (qcow2 and qed)
    /// means the backing file string is re-read from the image header.  If
    /// this overwrites bs->auto_backing_file, doing so may cause
    /// bdrv_backing_overridden() to become true: The image header reports a
    /// json:{} filename, but when opening it, bdrv_refresh_filename() will
    /// simplify it to a plain simple filename; and when bs->auto_backing_file
    /// and bs->backing->bs->filename differ, bdrv_backing_overridden() becomes
    /// true.
    /// If bdrv_backing_overridden() is true, the BDS will be forced to get a
    /// json:{} filename, which in general is not the end of the world, but not
    /// great.  Check whether that happens, i.e. whether migration changes the
    /// node's filename.
    fn test_migration(&mut self, t: &Case) -> Result<()> {
        let imgs = imgs();
        let blockdev = json!({
            "node-name": "node0",
            "driver": imgfmt(),
            "file": {
                "driver": "file",
                "filename": imgs[2]
            }
        });

        let mut vm_s = t.vm_with("a");
        vm_s.add_blockdev(dumps(&blockdev, false, None));
        let mut vm_d = t.vm_with("b");
        vm_d.add_blockdev(dumps(&blockdev, false, None)).add_incoming(format!("unix:{}", mig_sock()));
        let vm_s = self.vm_s.insert(vm_s);
        let vm_d = self.vm_d.insert(vm_d);

        vm_s.launch()?;
        vm_d.launch()?;

        let pre_mig_filename = node_file(vm_s, "node0")?;

        vm_s.qmp("migrate", kwargs! { uri: format!("unix:{}", mig_sock()) })?;

        // Wait for migration to be done
        vm_s.event_wait("STOP")?;
        vm_d.event_wait("RESUME")?;

        let post_mig_filename = node_file(vm_d, "node0")?;

        // Verify that the filename hasn't changed from before the migration
        assert_equal!(pre_mig_filename, post_mig_filename);

        vm_s.shutdown()?;
        self.vm_s = None;

        // For good measure, try creating an overlay and check its backing
        // chain below.  This is how the issue was originally found.
        vm_d.cmd(
            "blockdev-snapshot-sync",
            kwargs! {
                format: imgfmt(),
                snapshot_file: imgs[3],
                node_name: "node0",
                snapshot_node_name: "node0-overlay"
            },
        )?;

        vm_d.shutdown()?;
        self.vm_d = None;

        // Check the newly created overlay's backing chain
        let chain = t.qemu_img_info(&args!["--backing-chain", &imgs[3]])?;
        for (index, image) in chain.as_array().into_iter().flatten().enumerate() {
            assert_equal!(dictpath(image, "filename")?, imgs[3 - index]);
        }
        Ok(())
    }
}

iotests::iotest! {
    name: "backing-file-invalidation", groups: [rw, migration],
    // These are the image formats that run their open() function from their
    // .bdrv_co_invaliate_cache() implementations, so test them
    supported_fmts: ["qcow2", "qed"],
    supported_protocols: ["file"],
    fn backing_file_invalidation: unittest { TestPostMigrateFilename }
}
