//! Upstream 207: ssh image creation with blockdev-create (host key checking modes, bad path and user).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};

use iotests::filters::{Key, PyRegex, qmp as filter_qmp};
use iotests::prelude::*;

/// `filter_hash`; its patterns are compiled once, by [`blockdev_create`].
fn filter_hash(qmsg: Msg, fingerprint_re: &PyRegex, hash_re: &PyRegex) -> Msg {
    let _filter = |key: Option<Key<'_>>, value: Value| {
        if key == Some(Key::Name("hash"))
            && value.as_str().is_some_and(|v| hash_re.find_at(v, 0).is_some_and(|m| m.start == 0))
        {
            return json!("HASH");
        }
        value
    };
    match qmsg {
        // Strip key type and fingerprint (the template was read when the
        // filter was made: it cannot fail here).
        Msg::Text(s) | Msg::Json(Value::String(s)) | Msg::Ordered(Value::String(s)) => {
            Msg::Text(fingerprint_re.sub_template(&s, FINGERPRINT_REPL).unwrap_or(s))
        }
        Msg::Json(v) => Msg::Json(filter_qmp(v, &_filter)),
        Msg::Ordered(v) => Msg::Ordered(filter_qmp(v, &_filter)),
    }
}

const FINGERPRINT_RE: &str = r"\S+ (key fingerprint) '(md5|sha1|sha256):[0-9a-f]+'";
const FINGERPRINT_REPL: &str = r"\1 '\2:HASH'";

fn blockdev_create(vm: &mut Vm, options: Value) -> Result<()> {
    let fingerprint_re = PyRegex::new(FINGERPRINT_RE)?;
    // A bad template is Python's re.error at the first substitution.
    fingerprint_re.sub_template("", FINGERPRINT_REPL)?;
    let hash_re = PyRegex::new("[0-9a-f]+")?;
    let filters = [Filter::QmpTestfiles, Filter::custom(move |qmsg| filter_hash(qmsg, &fingerprint_re, &hash_re))];
    vm.blockdev_create_with(options, BlockdevCreate { filters: Some(&filters), ..Default::default() })?;
    Ok(())
}

/// `subprocess.check_output(cmd, shell=True).rstrip().decode('ascii')`
fn check_output(t: &TestContext, cmd: &str) -> Result<String> {
    Ok(t.subprocess_check_output(&["sh", "-c", cmd])?.trim_end().to_string())
}

iotests::iotest! {
    name: "207", groups: [rw],
    supported_fmts: ["raw"],
    supported_protocols: ["ssh"],
    fn t207(t) {
        // Not in the Python: it assumes an ssh server on 127.0.0.1:22 (one
        // that lets this user in with a key held by ssh-agent) and fails its
        // first step without one. Say so up front, with the test's own reason.
        let sshd = SocketAddr::from(([127, 0, 0, 1], 22));
        if TcpStream::connect_timeout(&sshd, Duration::from_secs(3)).is_err() {
            return t.notrun("Did not find a key that fits 127.0.0.1");
        }

        let disk_path = t.scoped_file_paths(["t.img"]);
        let disk_path = &disk_path[0];
        let mut vm = t.vm();

        let remote_path = t.remote_filename(disk_path)?;

        //
        // Successful image creation (defaults)
        //
        t.log("=== Successful image creation (defaults) ===");
        t.log("");

        vm.launch()?;
        blockdev_create(&mut vm, json!({ "driver": "ssh",
                                         "location": {
                                             "path": disk_path,
                                             "server": {
                                                 "host": "127.0.0.1",
                                                 "port": "22"
                                             }
                                         },
                                         "size": 4194304 }))?;
        vm.shutdown()?;

        t.img_info_log(&remote_path)?;
        t.log("");
        t.img_info_log(disk_path)?;

        //
        // Test host-key-check options
        //
        t.log("=== Test host-key-check options ===");
        t.log("");

        t.log("--- no host key checking --");
        t.log("");

        vm.launch()?;
        blockdev_create(&mut vm, json!({ "driver": "ssh",
                                         "location": {
                                             "path": disk_path,
                                             "server": {
                                                 "host": "127.0.0.1",
                                                 "port": "22"
                                             },
                                             "host-key-check": {
                                                 "mode": "none"
                                             }
                                         },
                                         "size": 8388608 }))?;
        vm.shutdown()?;

        t.img_info_log(&remote_path)?;

        t.log("--- known_hosts key checking --");
        t.log("");

        vm.launch()?;
        blockdev_create(&mut vm, json!({ "driver": "ssh",
                                         "location": {
                                             "path": disk_path,
                                             "server": {
                                                 "host": "127.0.0.1",
                                                 "port": "22"
                                             },
                                             "host-key-check": {
                                                 "mode": "known_hosts"
                                             }
                                         },
                                         "size": 4194304 }))?;
        vm.shutdown()?;

        t.img_info_log(&remote_path)?;

        let keys: Vec<String> = check_output(
            t,
            r#"ssh-keyscan 127.0.0.1 2>/dev/null | grep -v "\^#" | cut -d" " -f3"#,
        )?
        .split('\n')
        .map(str::to_string)
        .collect();

        // Mappings of base64 representations to digests
        let mut md5_keys = HashMap::new();
        let mut sha1_keys = HashMap::new();
        let mut sha256_keys = HashMap::new();

        for key in &keys {
            md5_keys.insert(key.clone(), check_output(t, &format!(r#"echo {key} | base64 -d | md5sum -b | cut -d" " -f1"#))?);

            sha1_keys.insert(key.clone(), check_output(t, &format!(r#"echo {key} | base64 -d | sha1sum -b | cut -d" " -f1"#))?);

            sha256_keys.insert(key.clone(), check_output(t, &format!(r#"echo {key} | base64 -d | sha256sum -b | cut -d" " -f1"#))?);
        }

        vm.launch()?;

        // Find correct key first
        let mut matching_key = None;
        for key in &keys {
            let result = vm.qmp(
                "blockdev-add",
                kwargs! {
                    driver: "ssh", node_name: "node0", path: disk_path,
                    server: {
                        "host": "127.0.0.1",
                        "port": "22",
                    }, host_key_check: {
                        "mode": "hash",
                        "type": "md5",
                        "hash": md5_keys[key],
                    }
                },
            )?;

            if result.get("error").is_none() {
                vm.qmp("blockdev-del", kwargs! { node_name: "node0" })?;
                matching_key = Some(key.clone());
                break;
            }
        }

        let Some(matching_key) = matching_key else {
            vm.shutdown()?;
            return t.notrun("Did not find a key that fits 127.0.0.1");
        };

        t.log("--- explicit md5 key checking --");
        t.log("");

        blockdev_create(&mut vm, json!({ "driver": "ssh",
                                         "location": {
                                             "path": disk_path,
                                             "server": {
                                                 "host": "127.0.0.1",
                                                 "port": "22"
                                             },
                                             "host-key-check": {
                                                 "mode": "hash",
                                                 "type": "md5",
                                                 "hash": "wrong",
                                             }
                                         },
                                         "size": 2097152 }))?;

        blockdev_create(&mut vm, json!({ "driver": "ssh",
                                         "location": {
                                             "path": disk_path,
                                             "server": {
                                                 "host": "127.0.0.1",
                                                 "port": "22"
                                             },
                                             "host-key-check": {
                                                 "mode": "hash",
                                                 "type": "md5",
                                                 "hash": md5_keys[&matching_key],
                                             }
                                         },
                                         "size": 8388608 }))?;
        vm.shutdown()?;

        t.img_info_log(&remote_path)?;

        t.log("--- explicit sha1 key checking --");
        t.log("");

        vm.launch()?;
        blockdev_create(&mut vm, json!({ "driver": "ssh",
                                         "location": {
                                             "path": disk_path,
                                             "server": {
                                                 "host": "127.0.0.1",
                                                 "port": "22"
                                             },
                                             "host-key-check": {
                                                 "mode": "hash",
                                                 "type": "sha1",
                                                 "hash": "wrong",
                                             }
                                         },
                                         "size": 2097152 }))?;
        blockdev_create(&mut vm, json!({ "driver": "ssh",
                                         "location": {
                                             "path": disk_path,
                                             "server": {
                                                 "host": "127.0.0.1",
                                                 "port": "22"
                                             },
                                             "host-key-check": {
                                                 "mode": "hash",
                                                 "type": "sha1",
                                                 "hash": sha1_keys[&matching_key],
                                             }
                                         },
                                         "size": 4194304 }))?;
        vm.shutdown()?;

        t.img_info_log(&remote_path)?;

        t.log("--- explicit sha256 key checking --");
        t.log("");

        vm.launch()?;
        blockdev_create(&mut vm, json!({ "driver": "ssh",
                                         "location": {
                                             "path": disk_path,
                                             "server": {
                                                 "host": "127.0.0.1",
                                                 "port": "22"
                                             },
                                             "host-key-check": {
                                                 "mode": "hash",
                                                 "type": "sha256",
                                                 "hash": "wrong",
                                             }
                                         },
                                         "size": 2097152 }))?;
        blockdev_create(&mut vm, json!({ "driver": "ssh",
                                         "location": {
                                             "path": disk_path,
                                             "server": {
                                                 "host": "127.0.0.1",
                                                 "port": "22"
                                             },
                                             "host-key-check": {
                                                 "mode": "hash",
                                                 "type": "sha256",
                                                 "hash": sha256_keys[&matching_key],
                                             }
                                         },
                                         "size": 4194304 }))?;
        vm.shutdown()?;

        t.img_info_log(&remote_path)?;

        //
        // Invalid path and user
        //
        t.log("=== Invalid path and user ===");
        t.log("");

        vm.launch()?;
        blockdev_create(&mut vm, json!({ "driver": "ssh",
                                         "location": {
                                             "path": "/this/is/not/an/existing/path",
                                             "server": {
                                                 "host": "127.0.0.1",
                                                 "port": "22"
                                             },
                                             "host-key-check": {
                                                 "mode": "none"
                                             }
                                         },
                                         "size": 4194304 }))?;
        blockdev_create(&mut vm, json!({ "driver": "ssh",
                                         "location": {
                                             "path": disk_path,
                                             "user": "invalid user",
                                             "server": {
                                                 "host": "127.0.0.1",
                                                 "port": "22"
                                             },
                                             "host-key-check": {
                                                 "mode": "none"
                                             }
                                         },
                                         "size": 4194304 }))?;
        vm.shutdown()?;
        Ok(())
    }
}
