//! Ports of upstream iotests, one module per test, named after it
//! (`t152` for `152`). Each module's snapshot, `snapshots/<name>.snap`,
//! equals QEMU's `<name>.out`.
//!
//! ```sh
//! cargo test --test iotests t152
//! IMGFMT=qcow2 cargo test --test iotests
//! ```

mod t152;
