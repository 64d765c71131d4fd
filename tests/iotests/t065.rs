//! Upstream 065: the additional qcow2 information `qemu-img info` and `query-block` report.

use iotests::filters::PyRegex;
use iotests::prelude::*;

fn test_img() -> String {
    os::path::join(test_dir(), "test.img")
}

/// Abstract base class for ImageInfoSpecific tests
struct TestImageInfoSpecific {
    img_options: Option<String>,
}

#[iotests::test_case]
impl TestImageInfoSpecific {
    fn new() -> Self {
        TestImageInfoSpecific { img_options: None }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        let Some(img_options) = &self.img_options else {
            return Err(t.skip_test("Skipping abstract test class"));
        };
        t.qemu_img(&args!["create", "-f", imgfmt(), "-o", img_options, test_img(), "128K"])?;
        Ok(())
    }

    fn tear_down(&mut self) -> Result<()> {
        os::remove(test_img())
    }
}

/// Abstract base class for qemu-img info tests
struct TestQemuImgInfo {
    base: TestImageInfoSpecific,
    json_compare: Value,
    human_compare: Vec<String>,
}

#[iotests::test_case(extends = TestImageInfoSpecific)]
impl TestQemuImgInfo {
    fn new() -> Self {
        TestQemuImgInfo {
            base: TestImageInfoSpecific { img_options: None },
            json_compare: Value::Null,
            human_compare: vec![],
        }
    }

    fn test_json(&mut self, t: &Case) -> Result<()> {
        let data = t.qemu_img_info(&[test_img()])?["format-specific"].clone();
        assert_equal!(data["type"], imgfmt());
        assert_equal!(data["data"], self.json_compare);
        Ok(())
    }

    fn test_human(&mut self, t: &Case) -> Result<()> {
        let stdout = t.qemu_img(&args!["info", "--output=human", test_img()])?.stdout;
        let data: Vec<&str> = stdout.split('\n').collect();
        let index = |line: &str| {
            data.iter()
                .position(|l| *l == line)
                .ok_or_else(|| Error::python("ValueError", format!("'{line}' is not in list")))
        };
        let data = &data[(index("Format specific information:")? + 1)..index("Child node '/file':")?];
        let indented = PyRegex::new("^ {4}[^ ]")?;
        for field in data {
            assert_true!(indented.find_at(field, 0).is_some());
        }
        let data: Vec<&str> = data.iter().map(|line| line.trim()).collect();
        assert_equal!(data, self.human_compare);
        Ok(())
    }
}

/// Abstract base class for qemu QMP tests
struct TestQMP {
    base: TestImageInfoSpecific,
    qemu_options: &'static str,
    compare: Value,
    vm: Vm,
}

#[iotests::test_case(extends = TestImageInfoSpecific)]
impl TestQMP {
    fn new(t: &Case) -> Self {
        TestQMP {
            base: TestImageInfoSpecific { img_options: None },
            qemu_options: "",
            compare: Value::Null,
            vm: t.vm(),
        }
    }

    fn set_up(&mut self, t: &Case) -> Result<()> {
        self.base.set_up(t)?;
        self.vm = t.vm();
        self.vm.add_drive_with(test_img(), self.qemu_options);
        self.vm.launch()
    }

    fn tear_down(&mut self, t: &Case) -> Result<()> {
        self.vm.shutdown()?;
        self.base.tear_down(t)
    }

    fn test_qmp(&mut self) -> Result<()> {
        let result = self.vm.qmp("query-block", ())?["return"].clone();
        let drive = result
            .as_array()
            .into_iter()
            .flatten()
            .find(|drive| drive["device"] == "drive0")
            .ok_or_else(|| Error::python("StopIteration", ""))?;
        let data = &drive["inserted"]["image"]["format-specific"];
        assert_equal!(data["type"], imgfmt());
        assert_equal!(data["data"], self.compare);
        Ok(())
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Testing a qcow2 version 3 image with lazy refcounts disabled
struct TestQCow3NotLazy {
    base: TestQemuImgInfo,
}

#[iotests::test_case(extends = TestQemuImgInfo)]
impl TestQCow3NotLazy {
    fn new(t: &Case) -> Result<Self> {
        let mut base = TestQemuImgInfo::new(t)?;
        let compression_type = if t.supports_qcow2_zstd_compression()? { "zstd" } else { "zlib" };

        let mut img_options = "compat=1.1,lazy_refcounts=off".to_string();
        img_options += &format!(",compression_type={compression_type}");
        base.img_options = Some(img_options);
        base.json_compare = json!({ "compat": "1.1", "lazy-refcounts": false,
                                    "refcount-bits": 16, "corrupt": false,
                                    "compression-type": compression_type, "extended-l2": false });
        base.human_compare = strings(&[
            "compat: 1.1",
            &format!("compression type: {compression_type}"),
            "lazy refcounts: false",
            "refcount bits: 16",
            "corrupt: false",
            "extended l2: false",
        ]);
        Ok(TestQCow3NotLazy { base })
    }
}

/// Testing a qcow2 version 3 image with lazy refcounts enabled, opening
/// with lazy refcounts disabled
struct TestQCow3LazyQMP {
    base: TestQMP,
}

#[iotests::test_case(extends = TestQMP)]
impl TestQCow3LazyQMP {
    fn new(t: &Case) -> Result<Self> {
        let mut base = TestQMP::new(t)?;
        let compression_type = if t.supports_qcow2_zstd_compression()? { "zstd" } else { "zlib" };

        let mut img_options = "compat=1.1,lazy_refcounts=on".to_string();
        img_options += &format!(",compression_type={compression_type}");
        base.img_options = Some(img_options);
        base.qemu_options = "lazy-refcounts=off";
        base.compare = json!({ "compat": "1.1", "lazy-refcounts": true,
                               "refcount-bits": 16, "corrupt": false,
                               "compression-type": compression_type, "extended-l2": false });
        Ok(TestQCow3LazyQMP { base })
    }
}

// TestImageInfoSpecific, TestQemuImgInfo and TestQMP are set to None at
// module level: they are not listed.
iotests::iotest! {
    name: "065", groups: [rw, quick],
    supported_fmts: ["qcow2"],
    supported_protocols: ["file"],
    unsupported_imgopts: ["refcount_bits"],
    fn t065: unittest {
        // Testing a qcow2 version 2 image
        TestQCow2: TestQemuImgInfo {
            img_options: Some("compat=0.10,compression_type=zlib".into()),
            json_compare: json!({ "compat": "0.10", "refcount-bits": 16,
                                  "compression-type": "zlib" }),
            human_compare: strings(&[ "compat: 0.10", "compression type: zlib",
                                      "refcount bits: 16" ]),
        },
        TestQCow3NotLazy,
        // Testing a qcow2 version 3 image with lazy refcounts enabled
        TestQCow3Lazy: TestQemuImgInfo {
            img_options: Some("compat=1.1,lazy_refcounts=on,compression_type=zlib".into()),
            json_compare: json!({ "compat": "1.1", "lazy-refcounts": true,
                                  "refcount-bits": 16, "corrupt": false,
                                  "compression-type": "zlib", "extended-l2": false }),
            human_compare: strings(&[ "compat: 1.1", "compression type: zlib",
                                      "lazy refcounts: true", "refcount bits: 16",
                                      "corrupt: false", "extended l2: false" ]),
        },
        // Testing a qcow2 version 3 image with lazy refcounts disabled,
        // opening with lazy refcounts enabled
        TestQCow3NotLazyQMP: TestQMP {
            img_options: Some("compat=1.1,lazy_refcounts=off,compression_type=zlib".into()),
            qemu_options: "lazy-refcounts=on",
            compare: json!({ "compat": "1.1", "lazy-refcounts": false,
                             "refcount-bits": 16, "corrupt": false,
                             "compression-type": "zlib", "extended-l2": false }),
        },
        TestQCow3LazyQMP,
    }
}
