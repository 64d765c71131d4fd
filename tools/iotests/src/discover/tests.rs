use super::*;

fn scan(src: &str) -> Result<Vec<TestDef>> {
    scan_source(Path::new("tests/iotests/t209.rs"), src)
}

fn def(name: &str, groups: &[&str]) -> TestDef {
    TestDef {
        name: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        module: format!("m{name}"),
        kind: Kind::Iotest,
        file: PathBuf::from("x.rs"),
        line: 1,
    }
}

fn names(v: &[&TestDef]) -> Vec<String> {
    v.iter().map(|t| t.name.clone()).collect()
}

#[test]
fn reads_name_and_groups_in_any_layout() {
    let src = r#"
        //! iotests::iotest! { name: "commented-out", groups: [x] }
        use iotests::prelude::*;
        /* iotest! { name: "block-comment" } */
        iotests::iotest! {
            name: "209",
            groups: [
                rw, quick,
                "img",   // strings are fine too
            ],
            formats: ["qcow2"],
            run: |ctx| {
                let s = Struct { name: "inner", groups: [nope] };
                ctx.log("iotest! { name: \"in-a-string\" }");
            },
        }
    "#;
    let defs = scan(src).unwrap();
    assert_eq!(defs.len(), 1, "{defs:?}");
    assert_eq!(defs[0].name, "209");
    assert_eq!(defs[0].groups, ["rw", "quick", "img"]);
    assert_eq!(defs[0].module, "t209");
    assert_eq!(defs[0].kind, Kind::Iotest);
    assert_eq!(defs[0].line, 5);
}

#[test]
fn unittest_one_line_and_key_order() {
    let defs = scan(r#"iotests::unittest!{groups:[auto,],name:r"iothreads-stream"}"#).unwrap();
    assert_eq!(defs[0].name, "iothreads-stream");
    assert_eq!(defs[0].groups, ["auto"]);
    assert_eq!(defs[0].kind, Kind::Unittest);
}

#[test]
fn entries_after_items_without_commas() {
    let defs = scan("iotest! { fn helper() {} name: \"040\", groups: [rw] }").unwrap();
    assert_eq!(defs[0].name, "040");
}

#[test]
fn macro_definitions_and_paths_are_not_invocations() {
    let src = "macro_rules! iotest { () => {} }\nfn f() { let name::x = 1; }\n";
    assert!(scan(src).unwrap().is_empty());
}

#[test]
fn bad_declarations_are_errors_with_lines() {
    let e = scan("\n\niotests::iotest! { groups: [rw] }").unwrap_err().to_string();
    assert!(e.contains("t209.rs:3") && e.contains("name"), "{e}");
    let e = scan("iotest! { name: some_const }").unwrap_err().to_string();
    assert!(e.contains("string literal"), "{e}");
    let e = scan("iotest! { name: \"a\", groups: [rw quick] }").unwrap_err().to_string();
    assert!(e.contains("commas"), "{e}");
    assert!(scan("iotest! { name: \"a\"").is_err());
}

#[test]
fn discover_reads_a_directory() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("main.rs"), "mod a; mod b; iotest! { name: \"root\" }").unwrap();
    std::fs::write(d.path().join("a.rs"), "iotests::iotest! { name: \"002\", groups: [rw] }").unwrap();
    std::fs::create_dir(d.path().join("b")).unwrap();
    std::fs::write(d.path().join("b/mod.rs"), "iotests::iotest! { name: \"001\" }").unwrap();
    std::fs::write(d.path().join("helpers.rs"), "pub fn x() {}").unwrap();
    let defs = discover(d.path()).unwrap();
    assert_eq!(
        defs.iter().map(|t| (t.name.as_str(), t.module.as_str())).collect::<Vec<_>>(),
        [("001", "b"), ("002", "a")]
    );

    std::fs::write(d.path().join("c.rs"), "iotests::iotest! { name: \"001\" }").unwrap();
    let e = discover(d.path()).unwrap_err().to_string();
    assert!(e.contains("already declared"), "{e}");
}

#[test]
fn selection_follows_findtests() {
    let all = vec![
        def("001", &["rw", "auto"]),
        def("002", &["rw", "quick"]),
        def("003", &["quick", "disabled"]),
        def("io-x", &["auto"]),
        def("io-y", &[]),
    ];
    let sel = |g: &[&str], x: &[&str], t: &[&str]| Selection {
        groups: g.iter().map(|s| s.to_string()).collect(),
        exclude: x.iter().map(|s| s.to_string()).collect(),
        tests: t.iter().map(|s| s.to_string()).collect(),
        start_from: None,
    };
    assert_eq!(names(&select(&all, &sel(&[], &[], &[])).unwrap()), ["001", "002", "io-x", "io-y"]);
    assert_eq!(names(&select(&all, &sel(&["quick"], &[], &[])).unwrap()), ["002"]);
    assert_eq!(names(&select(&all, &sel(&["quick", "disabled"], &[], &[])).unwrap()), ["002", "003"]);
    assert_eq!(names(&select(&all, &sel(&["rw"], &["quick"], &["io-y"])).unwrap()), ["001", "io-y"]);
    assert_eq!(names(&select(&all, &sel(&[], &["auto"], &[])).unwrap()), ["002", "io-y"]);
    // Named tests are never excluded, `3` means `003`, module names and globs work.
    assert_eq!(names(&select(&all, &sel(&[], &[], &["3", "mio-x"])).unwrap()), ["003", "io-x"]);
    assert_eq!(names(&select(&all, &sel(&[], &[], &["io-*"])).unwrap()), ["io-x", "io-y"]);
    let err = |s: Selection| select(&all, &s).unwrap_err().to_string();
    assert_eq!(err(sel(&[], &["rw"], &["001"])), "Can't exclude from individually specified tests.");
    assert_eq!(err(sel(&[], &[], &["999"])), "Test \"999\" is not found");
    assert_eq!(err(sel(&["nosuch"], &[], &[])), "No tests selected");
    assert!(err(sel(&[], &[], &["tests/io-x"])).contains("Paths are unsupported"));
    let mut s = sel(&[], &[], &[]);
    s.start_from = Some("io-x".into());
    assert_eq!(names(&select(&all, &s).unwrap()), ["io-x", "io-y"]);
}

#[test]
fn shards_are_disjoint_and_complete() {
    let all: Vec<TestDef> = (0..17).map(|i| def(&format!("{i:03}"), &[])).collect();
    let refs: Vec<&TestDef> = all.iter().collect();
    let mut seen = Vec::new();
    for k in 1..=4 {
        let shard: Shard = format!("{k}/4").parse().unwrap();
        seen.extend(names(&shard.apply(refs.clone())));
    }
    seen.sort();
    assert_eq!(seen, names(&refs));
    assert!("0/3".parse::<Shard>().is_err());
    assert!("4/3".parse::<Shard>().is_err());
    assert!("x".parse::<Shard>().is_err());
}

#[test]
fn groups_split_on_commas() {
    assert_eq!(split_groups(&["rw,quick".into(), " auto ,".into()]), ["rw", "quick", "auto"]);
}
