//! Upstream 147: NBD's blockdev-add interface, against qemu-nbd and QEMU's built-in NBD server (inet, inet6,
//! unix, fd).

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use iotests::prelude::*;
use iotests::random;

const NBD_PORT_START: i64 = 32768;
const NBD_PORT_END: i64 = NBD_PORT_START + 1024;
const NBD_IPV6_PORT_START: i64 = NBD_PORT_END;
const NBD_IPV6_PORT_END: i64 = NBD_IPV6_PORT_START + 1024;

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

fn unix_socket() -> String {
    os::path::join(sock_dir(), "nbd.socket")
}

fn flatten_sock_addr(crumpled_address: &Value) -> Value {
    let mut result = serde_json::Map::new();
    result.insert("type".into(), crumpled_address["type"].clone());
    if let Some(data) = crumpled_address["data"].as_object() {
        result.extend(data.clone());
    }
    Value::Object(result)
}

/// `socket.getaddrinfo("::0", "0", AF_INET6, SOCK_STREAM, IPPROTO_TCP,
/// AI_ADDRCONFIG | AI_CANONNAME)` succeeds: the host has IPv6.
fn ipv6_available() -> bool {
    // SAFETY: the hints are zeroed then filled in, the strings are
    // NUL-terminated literals, and the result list is freed once.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_family = libc::AF_INET6;
        hints.ai_socktype = libc::SOCK_STREAM;
        hints.ai_protocol = libc::IPPROTO_TCP;
        hints.ai_flags = libc::AI_ADDRCONFIG | libc::AI_CANONNAME;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        let rc = libc::getaddrinfo(c"::0".as_ptr(), c"0".as_ptr(), &hints, &mut res);
        if !res.is_null() {
            libc::freeaddrinfo(res);
        }
        rc == 0
    }
}

struct NBDBlockdevAddBase {
    vm: Vm,
}

#[iotests::test_case]
impl NBDBlockdevAddBase {
    fn new(t: &Case) -> Self {
        NBDBlockdevAddBase { vm: t.vm() }
    }

    fn blockdev_add_options(&self, address: &Value, export: Option<&str>, node_name: &str) -> Value {
        let mut options = json!({ "node-name": node_name,
                                  "driver": "raw",
                                  "file": {
                                      "driver": "nbd",
                                      "read-only": true,
                                      "server": address
                                  } });
        if let Some(export) = export {
            options["file"]["export"] = json!(export);
        }
        options
    }

    /// `client_test(filename, address, export=None)`.
    fn client_test(&mut self, filename: Value, address: Value, export: Option<&str>) -> Result<()> {
        self.client_test_with(filename, address, export, "nbd-blockdev", true)
    }

    /// `client_test(filename, address, export, node_name, delete)`.
    fn client_test_with(
        &mut self,
        filename: Value,
        address: Value,
        export: Option<&str>,
        node_name: &str,
        delete: bool,
    ) -> Result<()> {
        let bao = self.blockdev_add_options(&address, export, node_name);
        self.vm.cmd("blockdev-add", bao)?;

        let mut found = false;
        let result = self.vm.qmp("query-named-block-nodes", ())?;
        for node in dictpath(&result, "return")?.as_array().into_iter().flatten() {
            if dictpath(node, "node-name")? == node_name {
                found = true;
                if let Some(filename) = filename.as_str() {
                    assert_qmp(node, "image/filename", filename)?;
                } else {
                    let image_filename = dictpath(node, "image/filename")?.as_str().unwrap_or_default();
                    assert_json_filename_equal(image_filename, &filename)?;
                }
                break;
            }
        }
        assert_true!(found);

        if delete {
            self.vm.cmd("blockdev-del", kwargs! { node_name: node_name })?;
        }
        Ok(())
    }
}

struct QemuNBD {
    base: NBDBlockdevAddBase,
}

#[iotests::test_case(extends = NBDBlockdevAddBase)]
impl QemuNBD {
    fn new(t: &Case) -> Result<Self> {
        Ok(QemuNBD { base: NBDBlockdevAddBase::new(t)? })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), test_img(), "64k"])?;
        self.vm = t.vm();
        self.vm.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        os::remove(test_img())?;
        let _ = os::remove(unix_socket());
        Ok(())
    }

    fn try_server_up(&mut self, t: &Case, args: &[&str]) -> Result<bool> {
        let mut nbd_args = args!["-f", imgfmt(), test_img()];
        nbd_args.extend(args.iter().map(|a| a.to_string()));
        let (status, msg) = t.qemu_nbd_early_pipe(&nbd_args)?;
        if status == 0 {
            return Ok(true);
        }
        if msg.contains("Address already in use") {
            return Ok(false);
        }
        Err(t.fail(msg))
    }

    fn server_up(&mut self, t: &Case, args: &[&str]) -> Result<()> {
        assert_true!(self.try_server_up(t, args)?);
        Ok(())
    }

    fn test_inet(&mut self, t: &Case) -> Result<()> {
        let nbd_port = loop {
            let nbd_port = random::randrange_from(NBD_PORT_START, NBD_PORT_END)?;
            if self.try_server_up(t, &["-b", "localhost", "-p", &nbd_port.to_string()])? {
                break nbd_port;
            }
        };

        let address = json!({ "type": "inet",
                              "data": {
                                  "host": "localhost",
                                  "port": nbd_port.to_string()
                              } });
        self.client_test(json!(format!("nbd://localhost:{nbd_port}")), flatten_sock_addr(&address), None)
    }

    fn test_unix(&mut self, t: &Case) -> Result<()> {
        self.server_up(t, &["-k", &unix_socket()])?;
        let address = json!({ "type": "unix",
                              "data": { "path": unix_socket() } });
        self.client_test(json!(format!("nbd+unix://?socket={}", unix_socket())), flatten_sock_addr(&address), None)
    }
}

struct BuiltinNBD {
    base: NBDBlockdevAddBase,
    server: Vm,
}

#[iotests::test_case(extends = NBDBlockdevAddBase)]
impl BuiltinNBD {
    fn new(t: &Case) -> Result<Self> {
        Ok(BuiltinNBD { base: NBDBlockdevAddBase::new(t)?, server: t.vm_with(".server") })
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        t.qemu_img(&args!["create", "-f", imgfmt(), test_img(), "64k"])?;
        self.vm = t.vm();
        self.vm.launch()?;
        self.server = t.vm_with(".server");
        self.server.add_drive_raw(
            "if=none,id=nbd-export,".to_string()
                + &format!("file={},", test_img())
                + &format!("format={},", imgfmt())
                + &format!("cache={},", cachemode())
                + &format!("aio={}", aiomode()),
        );
        self.server.launch()
    }

    fn tear_down(&mut self) -> Result<()> {
        self.vm.shutdown()?;
        self.server.shutdown()?;
        os::remove(test_img())?;
        let _ = os::remove(unix_socket());
        Ok(())
    }

    /// Returns False on EADDRINUSE; fails an assertion on other errors.
    /// Returns True on success.
    fn try_server_up(
        &mut self,
        address: &Value,
        export_name: Option<&str>,
        export_name2: Option<&str>,
    ) -> Result<bool> {
        let result = self.server.qmp("nbd-server-start", kwargs! { addr: address })?;
        if result.get("error").is_some()
            && dictpath(&result, "error/desc")?.as_str().is_some_and(|d| d.contains("Address already in use"))
        {
            return Ok(false);
        }
        assert_qmp(&result, "return", json!({}))?;

        match export_name {
            None => self.server.cmd("nbd-server-add", kwargs! { device: "nbd-export" })?,
            Some(export_name) => {
                self.server.cmd("nbd-server-add", kwargs! { device: "nbd-export", name: export_name })?
            }
        };

        if let Some(export_name2) = export_name2 {
            self.server.cmd("nbd-server-add", kwargs! { device: "nbd-export", name: export_name2 })?;
        }

        Ok(true)
    }

    fn server_up(&mut self, address: &Value, export_name: Option<&str>, export_name2: Option<&str>) -> Result<()> {
        assert_true!(self.try_server_up(address, export_name, export_name2)?);
        Ok(())
    }

    fn server_down(&mut self) -> Result<()> {
        self.server.cmd("nbd-server-stop", ())?;
        Ok(())
    }

    fn do_test_inet(&mut self, export_name: Option<&str>) -> Result<()> {
        let (nbd_port, address) = loop {
            let nbd_port = random::randrange_from(NBD_PORT_START, NBD_PORT_END)?;
            let address = json!({ "type": "inet",
                                  "data": {
                                      "host": "localhost",
                                      "port": nbd_port.to_string()
                                  } });
            if self.try_server_up(&address, export_name, None)? {
                break (nbd_port, address);
            }
        };

        let export_name = export_name.unwrap_or("nbd-export");
        self.client_test(
            json!(format!("nbd://localhost:{nbd_port}/{export_name}")),
            flatten_sock_addr(&address),
            Some(export_name),
        )?;
        self.server_down()
    }

    fn test_inet_default_export_name(&mut self) -> Result<()> {
        self.do_test_inet(None)
    }

    fn test_inet_same_export_name(&mut self) -> Result<()> {
        self.do_test_inet(Some("nbd-export"))
    }

    fn test_inet_different_export_name(&mut self) -> Result<()> {
        self.do_test_inet(Some("shadow"))
    }

    fn test_inet_two_exports(&mut self) -> Result<()> {
        let (nbd_port, address) = loop {
            let nbd_port = random::randrange_from(NBD_PORT_START, NBD_PORT_END)?;
            let address = json!({ "type": "inet",
                                  "data": {
                                      "host": "localhost",
                                      "port": nbd_port.to_string()
                                  } });
            if self.try_server_up(&address, Some("exp1"), Some("exp2"))? {
                break (nbd_port, address);
            }
        };

        self.client_test_with(
            json!(format!("nbd://localhost:{nbd_port}/exp1")),
            flatten_sock_addr(&address),
            Some("exp1"),
            "node1",
            false,
        )?;
        self.client_test_with(
            json!(format!("nbd://localhost:{nbd_port}/exp2")),
            flatten_sock_addr(&address),
            Some("exp2"),
            "node2",
            false,
        )?;
        self.vm.cmd("blockdev-del", kwargs! { node_name: "node1" })?;
        self.vm.cmd("blockdev-del", kwargs! { node_name: "node2" })?;
        self.server_down()
    }

    fn test_inet6(&mut self) -> Result<()> {
        if !ipv6_available() {
            // IPv6 not available, skip
            return Ok(());
        }

        let address = loop {
            let nbd_port = random::randrange_from(NBD_IPV6_PORT_START, NBD_IPV6_PORT_END)?;
            let address = json!({ "type": "inet",
                                  "data": {
                                      "host": "::1",
                                      "port": nbd_port.to_string(),
                                      "ipv4": false,
                                      "ipv6": true
                                  } });
            if self.try_server_up(&address, None, None)? {
                break address;
            }
        };

        let filename = json!({ "driver": "raw",
                               "file": {
                                   "driver": "nbd",
                                   "export": "nbd-export",
                                   "server": flatten_sock_addr(&address)
                               } });
        self.client_test(filename, flatten_sock_addr(&address), Some("nbd-export"))?;
        self.server_down()
    }

    fn test_unix(&mut self) -> Result<()> {
        let address = json!({ "type": "unix",
                              "data": { "path": unix_socket() } });
        self.server_up(&address, None, None)?;
        self.client_test(
            json!(format!("nbd+unix:///nbd-export?socket={}", unix_socket())),
            flatten_sock_addr(&address),
            Some("nbd-export"),
        )?;
        self.server_down()
    }

    fn test_fd(&mut self) -> Result<()> {
        self.server_up(
            &json!({ "type": "unix",
                                "data": { "path": unix_socket() } }),
            None,
            None,
        )?;

        let sockfd = UnixStream::connect(unix_socket()).context("connecting to the NBD server's socket")?;

        // python/qemu's send_fd_scm() returns 0 or raises
        let result = self.vm.send_fd_scm(sockfd.as_fd()).map(|()| 0)?;
        assert_equal!(result, 0, "Failed to send socket FD");

        self.vm.cmd("getfd", kwargs! { fdname: "nbd-fifo" })?;

        let address = json!({ "type": "fd",
                              "data": { "str": "nbd-fifo" } });
        let filename = json!({ "driver": "raw",
                               "file": {
                                   "driver": "nbd",
                                   "export": "nbd-export",
                                   "server": flatten_sock_addr(&address)
                               } });
        self.client_test(filename, flatten_sock_addr(&address), Some("nbd-export"))?;

        self.server_down()
    }
}

iotests::iotest! {
    name: "147", groups: [img],
    supported_fmts: ["raw"],
    supported_protocols: ["nbd"],
    fn t147: unittest { QemuNBD, BuiltinNBD }
}
