//! The shared fixture of the toolkit's own integration tests: a test
//! context for one matrix cell, or "not run" when a binary it needs is
//! missing.

#![allow(dead_code)]

use iotests::TestContext;
use iotests::env::{TestEnv, Vars};

/// A context named `name` from the process environment with `forced`
/// variables on top (`IMGFMT` for tests that pin a format); `default_fmt`
/// when `IMGFMT` is still unset. `needs` are the program variables
/// (`QEMU_PROG`, `QEMU_IMG_PROG`, …) the test cannot run without: if one is
/// missing, this prints `not run: …` and returns `None`.
pub fn context(name: &str, default_fmt: &str, forced: &[(&str, &str)], needs: &[&str]) -> Option<TestContext> {
    let mut vars: Vars = std::env::vars().collect();
    vars.extend(forced.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env = TestEnv::from_vars(&vars, default_fmt);
    let programs = [&env.qemu, &env.qemu_img, &env.qemu_io, &env.qemu_nbd, &env.qsd];
    let missing: Vec<String> = programs
        .iter()
        .filter(|p| needs.contains(&p.var) && !p.exists())
        .map(|p| format!("{} (set {})", p.name, p.var))
        .collect();
    if !missing.is_empty() {
        println!("not run: {} not found", missing.join(", "));
        return None;
    }
    Some(TestContext::new(name, env).expect("test context"))
}
