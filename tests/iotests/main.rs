//! Ports of upstream iotests, one module per test, named after it
//! (`t152` for `152`). Each module's snapshot, `snapshots/<name>.snap`,
//! equals QEMU's `<name>.out`.
//!
//! ```sh
//! cargo test --test iotests t152
//! IMGFMT=qcow2 cargo test --test iotests
//! ```

mod inactive_node_nbd;
mod iothreads_commit_active;
mod iothreads_stream;
mod nbd_reconnect_on_open;
mod parallels_read_bitmap;
mod qsd_migrate;
mod remove_bitmap_from_backing;
mod t141;
mod t152;
mod t194;
mod t202;
mod t203;
mod t206;
mod t208;
mod t209;
mod t210;
mod t211;
mod t212;
mod t213;
mod t216;
mod t218;
mod t228;
mod t234;
mod t235;
mod t237;
mod t238;
mod t242;
mod t246;
mod t248;
mod t254;
mod t255;
mod t256;
mod t258;
mod t260;
mod t262;
mod t266;
mod t274;
mod t277;
mod t280;
mod t299;
mod t304;
mod t307;
mod t310;
