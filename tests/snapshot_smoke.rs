//! The snapshot glue end to end on a tiny log: file name, front matter, body.

use iotests::{TestContext, env::TestEnv};

#[test]
fn log_becomes_named_snapshot() {
    let t = TestContext::new("iotests-selftest-snapshot", TestEnv::from_process_env("raw")).unwrap();
    let img = t.file_path("disk.img");
    t.log_with(format!("Creating {img}"), &[iotests::Filter::Testfiles]);
    t.log(serde_json::json!({"return": {}, "a": [1.0, 1e16, "é"]}));
    t.log(iotests::Msg::ordered(serde_json::json!({"execute": "quit", "arguments": {}})));
    iotests::assert_log_snapshot!("iotests-selftest-snapshot", t.contents());
}
