//! Ports of upstream iotests, one module per test, named after it
//! (`t152.rs` for `152`, `reopen_file.rs` for `tests/reopen-file`). Each
//! module's snapshot, `snapshots/<name>.snap`, equals QEMU's `<name>.out`.
//!
//! The modules are found by the build script (`build.rs`): adding a test is
//! adding its file. The binary runs under the toolkit's libtest-compatible
//! harness ([`iotests::harness::main`]), which lists tests that cannot run
//! in the selected matrix cell as ignored.
//!
//! ```sh
//! cargo test --test iotests t152
//! IMGFMT=qcow2 cargo test --test iotests
//! cargo test --test iotests -- --list --ignored     # what does not run here
//! ```

include!(concat!(env!("OUT_DIR"), "/iotests_modules.rs"));

fn main() {
    iotests::harness::main()
}
