//! The NBD client (`iotests::tools::Nbd`, libnbd's Python API) against
//! QEMU's NBD servers: qemu-storage-daemon's exports and qemu-nbd.

mod common;

use iotests::tools::Nbd;
use iotests::{TestContext, args};

fn ctx(name: &str) -> Option<TestContext> {
    common::context(name, "raw", &[("IMGFMT", "raw")], &["QEMU_IMG_PROG", "QEMU_IO_PROG", "QEMU_NBD_PROG", "QSD_PROG"])
}

/// A 1 MiB raw image: 0x11 in the first half, 0x22 in the second.
fn image(t: &TestContext) -> String {
    let img = t.file_path("disk");
    t.qemu_img_create(&args!["-f", "raw", &img, "1M"]).unwrap();
    t.qemu_io(&args!["-f", "raw", "-c", "write -P 0x11 0 512k", "-c", "write -P 0x22 512k 512k", &img]).unwrap();
    img
}

#[test]
fn qsd_exports_multi_conn_read_write_flush() {
    let Some(t) = ctx("nbd-client-qsd") else { return };
    let img = image(&t);
    let sock = t.sock_path("nbd.sock");
    let _qsd = t
        .qemu_storage_daemon(&[
            "--blockdev",
            &format!("file,node-name=n,filename={img}"),
            "--nbd-server",
            &format!("addr.type=unix,addr.path={sock}"),
            "--export",
            "nbd,id=w,node-name=n,name=w,writable=on",
            "--export",
            "nbd,id=r,node-name=n,name=r",
        ])
        .unwrap();
    let uri = |name: &str| format!("nbd+unix:///{name}?socket={sock}");

    let mut w = Nbd::new();
    w.connect_uri(&uri("w")).unwrap();
    assert!(w.can_multi_conn().unwrap());
    assert!(!w.is_read_only().unwrap());
    assert!(w.can_flush().unwrap());
    assert_eq!(w.get_size().unwrap(), 1 << 20);
    assert_eq!(w.pread(4096, 0).unwrap(), vec![0x11; 4096]);
    assert_eq!(w.pread(4096, 512 << 10).unwrap(), vec![0x22; 4096]);

    // A write through one connection is read back through another.
    let mut r = Nbd::new();
    r.connect_uri(&uri("r")).unwrap();
    assert!(r.can_multi_conn().unwrap());
    assert!(r.is_read_only().unwrap());
    w.pwrite(&[0x33; 65536], 4096).unwrap();
    w.flush().unwrap();
    assert_eq!(r.pread(65536, 4096).unwrap(), vec![0x33; 65536]);
    assert!(r.pwrite(&[0; 512], 0).unwrap_err().to_string().contains("does not support write"));

    // Reading past the end is the server's error, and the connection lives on.
    let e = w.pread(512, 1 << 20).unwrap_err().to_string();
    assert!(e.starts_with("nbd.Error: nbd_pread: server replied with error"), "{e}");
    assert_eq!(w.pread(1, 0).unwrap(), [0x11]);

    // Connecting twice, and to an export that does not exist.
    assert!(w.connect_uri(&uri("w")).unwrap_err().to_string().contains("already connected"));
    let e = Nbd::new().connect_uri(&uri("nope")).unwrap_err().to_string();
    assert!(e.contains("server refused export 'nope'"), "{e}");

    w.shutdown().unwrap();
    r.shutdown().unwrap();
    assert!(w.pread(1, 0).unwrap_err().to_string().contains("not connected"));

    // What went through NBD is in the image.
    let out = t.qemu_io(&args!["-f", "raw", "-r", "-c", "read -P 0x33 4096 64k", &img]).unwrap();
    assert!(out.stdout.contains("read 65536/65536"), "{}", out.stdout);
}

#[test]
fn one_connection_server_has_no_multi_conn() {
    let Some(t) = ctx("nbd-client-max-conn") else { return };
    let img = image(&t);
    let sock = t.sock_path("nbd.sock");
    let _qsd = t
        .qemu_storage_daemon(&[
            "--blockdev",
            &format!("file,node-name=n,filename={img}"),
            "--nbd-server",
            &format!("addr.type=unix,addr.path={sock},max-connections=1"),
            "--export",
            "nbd,id=w,node-name=n,name=w,writable=on",
        ])
        .unwrap();
    let mut w = Nbd::new();
    w.connect_uri(&format!("nbd+unix:///w?socket={sock}")).unwrap();
    assert!(!w.can_multi_conn().unwrap());
    assert_eq!(w.pread(2, (512 << 10) - 1).unwrap(), [0x11, 0x22]);
}

#[test]
fn qemu_nbd_server() {
    let Some(t) = ctx("nbd-client-qemu-nbd") else { return };
    let img = image(&t);
    let sock = t.sock_path("nbd.sock");
    let _nbd = t.qemu_nbd_popen(&args!["-k", &sock, "-x", "exp", "-f", "raw", &img]).unwrap();
    let mut h = Nbd::new();
    h.connect_uri(&format!("nbd+unix:///exp?socket={sock}")).unwrap();
    assert_eq!(h.get_size().unwrap(), 1 << 20);
    assert_eq!(h.pread(512, (1 << 20) - 512).unwrap(), vec![0x22; 512]);
    h.pwrite(&[0x44; 512], 0).unwrap();
    h.flush().unwrap();
    assert_eq!(h.pread(1024, 0).unwrap()[..513], [&[0x44; 512][..], &[0x11]].concat());
    h.shutdown().unwrap();
}
