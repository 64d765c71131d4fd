//! Unit tests: each construct the brief and the module docs name, against
//! what python3 3.11 gives (checked by hand; `tests/pyre_python.rs` checks
//! thousands of generated cases against a running python3).

use super::*;

fn sub(pattern: &str, repl: &str, s: &str) -> String {
    match PyRegex::new(pattern) {
        Ok(re) => re.sub(s, repl),
        Err(e) => panic!("{pattern:?}: {e}"),
    }
}

#[test]
fn empty_matches_follow_python_3_7() {
    assert_eq!(sub("|a", "-", "a"), "---");
    assert_eq!(sub("x*?", "-", "xx"), "-----");
    assert_eq!(sub("x*", "-", "abxd"), "-a-b--d-");
    assert_eq!(sub("", "-", "é"), "-é-");
    // The `regex` crate's syntax, with Python's substitution.
    let re = |p: &str| Regex::new(p).expect("valid regex");
    assert_eq!(py_sub(&re("|a"), "a", "-"), "---");
    assert_eq!(py_sub(&re("x*?"), "xx", "-"), "-----");
    assert_eq!(py_sub(&re("x*"), "abxd", "-"), "-a-b--d-");
    assert_eq!(py_sub(&re(r"\b|x"), "x", "-"), "---");
}

#[test]
fn dollar_matches_before_a_final_newline() {
    assert_eq!(sub("a$", "X", "a\n"), "X\n");
    assert_eq!(sub("a$", "X", "a\n\n"), "a\n\n");
    assert_eq!(sub("(?m)^a$", "X", "a\na\n"), "X\nX\n");
    assert_eq!(sub(r"a\Z", "X", "a\n a"), "a\n X");
    assert_eq!(sub(r"\Aa", "X", "aa"), "Xa");
}

#[test]
fn sets_python_reads_literally() {
    assert_eq!(sub("[[:alpha:]]", "X", "[:alpha:] p] a"), "[:alphaX X a");
    assert_eq!(sub("[a[b]]", "X", "a] [] b]] ab"), "X X X] ab");
    assert_eq!(sub("[a&&b]", "X", "a&b"), "XXX");
    assert_eq!(sub("[a~~b]", "X", "~ab"), "XXX");
    assert_eq!(sub("[a||b]", "X", "|a"), "XX");
    assert_eq!(sub(r"[\b]", "X", "\u{8}"), "X");
}

#[test]
fn escapes_and_braces_python_reads_literally() {
    assert_eq!(sub(r"\<x\>", "X", "<x> x"), "X x");
    assert_eq!(sub("x{ 2}", "X", "x{ 2} xx"), "X xx");
    assert_eq!(sub("a{,3}", "X", "aaaa"), "XXX");
    assert_eq!(sub("x{,3}", "X", "x{,3}"), "XX{X,X3X}X");
    assert_eq!(sub(r"\$", "X", "$"), "X");
    assert_eq!(sub(r"\x41\101\0", "X", "AA\0"), "X");
    assert_eq!(sub(r"\/tmp", "X", "/tmp"), "X");
}

#[test]
fn unicode_classes_are_python_3_11s() {
    // `²` is alphanumeric to Python; a combining mark and `‿` are not.
    assert_eq!(sub(r"\w+", "X", "a²b e\u{301} x\u{203f}y _"), "X X\u{301} X\u{203f}X X");
    // `\x1c` is a space to Python, not to Unicode's White_Space.
    assert_eq!(sub(r"\s", "X", "a\u{1c}b\u{a0}c\u{85}"), "aXbXcX");
    // U+11F50 (Kawi digit zero) is newer than Python 3.11's Unicode 14.
    assert_eq!(sub(r"\d", "X", "1\u{663}\u{11F50}"), "XX\u{11F50}");
    assert_eq!(sub(r"\bx", "X", "\u{301}x ax x"), "\u{301}X ax X");
    assert_eq!(sub(r"(?a)\w+", "X", "aé²b"), "Xé²X");
}

#[test]
fn word_boundaries_never_match_an_empty_string() {
    assert_eq!(sub(r"\B", "X", ""), "");
    assert_eq!(sub(r"(?a)\B", "X", ""), "");
    assert_eq!(sub(r"\b", "X", ""), "");
    assert_eq!(sub(r"(?a)\B", "X", "ab é"), "aXb XéX");
}

#[test]
fn inline_flags() {
    assert_eq!(sub("(?s)a.b", "X", "a\nb"), "X");
    assert_eq!(sub("a.b", "X", "a\nb"), "a\nb");
    assert_eq!(sub("(?x) a b # c", "X", "ab a b"), "X a b");
    assert_eq!(sub("(?ai)k", "X", "kK\u{212a}"), "XX\u{212a}");
    assert_eq!(sub("(?i)1-", "X", "1-"), "X");
    assert_eq!(sub("(?i)(?a)x", "X", "xX"), "XX");
    assert_eq!(sub("a(?s:.)b.", "X", "a\nb\n a\nbc"), "a\nb\n X");
    // Python's case tables: the Kelvin sign and `ſ` are `k` and `s`; `İ`
    // lowers to `i`, which `_casefix` joins to `ı`; a non-BMP capital in a set matches nothing.
    assert_eq!(sub("(?i)k", "X", "kK\u{212a}"), "XXX");
    assert_eq!(sub("(?i)[r-t]", "X", "sSſ"), "XXX");
    assert_eq!(sub("(?i)i", "X", "iI\u{130}ı"), "XXXX");
    assert_eq!(sub(r"(?i)[\U00010400x]", "X", "\u{10400}\u{10428}xX"), "\u{10400}\u{10428}XX");
    assert_eq!(sub(r"(?i)\U00010400", "X", "\u{10400}\u{10428}"), "XX");
}

#[test]
fn python_errors_are_invalid() {
    for p in [
        "a{2,1}",
        "(",
        "[a",
        r"\q",
        "a**",
        "x(?i)",
        r"\1(a)",
        "(?P<1>a)",
        "[z-a]",
        "*",
        "(?<n>a)",
        "\\",
        "(?(1)a)",
        "(?u)(?a)",
        "[a--b]",
        "a{99999999999}",
        "{,3}",
        "(?L)",
        ")",
    ] {
        assert!(matches!(PyRegex::new(p), Err(PyReError::Invalid(_))), "{p:?}");
    }
    assert_eq!(PyRegex::new("a**").err(), Some(PyReError::Invalid("multiple repeat".into())));
}

#[test]
fn untranslatable_constructs_are_refused() {
    for (p, what) in [
        ("(?=a)", "lookahead"),
        ("(?<=ab)c", "lookbehind"),
        (r"(a)\1", "backreference"),
        ("(?P<n>a)(?P=n)", "backreference"),
        ("(a)(?(1)b|c)", "conditional"),
        ("(?>a)", "atomic"),
        ("a*+", "possessive"),
        (r"\N{DIGIT ONE}", r"\N{"),
        (r"(?i)[\U00010000-\U00010400]", "case-insensitive"),
        ("(?:|a)*", "greedy repeat"),
        ("(?:a??)+", "greedy repeat"),
    ] {
        match PyRegex::new(p) {
            Err(PyReError::Untranslatable(why)) => assert!(why.contains(what), "{p:?}: {why}"),
            other => panic!("{p:?}: {other:?}"),
        }
    }
    // These agree with Python: the empty way comes last, or the repeat is lazy.
    assert_eq!(sub("(?:a|)*", "-", "aab"), "--b-");
    assert_eq!(sub("(?:|a)*?b", "-", "aab"), "-");
}

#[test]
fn find_at_starts_at_char_boundaries_only() {
    let re = PyRegex::new("").expect("valid");
    assert_eq!(re.find_at("é", 1), None);
    assert_eq!(re.find_at("é", 2), Some(2..2));
    assert_eq!(re.find_at("é", 3), None);
}

#[test]
fn sub_template_reads_group_references_and_escapes_as_python() {
    // Each expected value is what python3 3.11's `re.sub` gives.
    let sub_template = |pattern: &str, repl: &str, s: &str| match PyRegex::new(pattern) {
        Ok(re) => re.sub_template(s, repl).map_err(|e| e.to_string()),
        Err(e) => panic!("{pattern:?}: {e}"),
    };
    assert_eq!(sub_template(r"(a)|(b)", r"[\1\2]", "abc").as_deref(), Ok("[a][b]c"));
    assert_eq!(sub_template(r"(?P<k>\w+)=(\d*)", r"\g<2>\g<k>\g<0>", "x=1 y=").as_deref(), Ok("1xx=1 yy="));
    assert_eq!(sub_template(r"(a*)", r"<\1>", "baa").as_deref(), Ok("<>b<aa><>"));
    assert_eq!(sub_template(r"(a|ab)(c|bcd)(d*)", r"\3\2\1", "abcd").as_deref(), Ok("bcda"));
    assert_eq!(sub_template(r"(?:x(y)?)*", r"[\1]", "xyx").as_deref(), Ok("[y][]"));
    assert_eq!(sub_template("x", r"\0\101\n\-\\", "x").as_deref(), Ok("\0A\n\\-\\"));
    let error = |repl: &str| sub_template("(a)", repl, "a").unwrap_err();
    let invalid = |msg: &str| format!("invalid Python regex: {msg}");
    assert_eq!(error(r"\2"), invalid("invalid group reference 2"));
    assert_eq!(error(r"\g<n>"), invalid("unknown group name 'n'"));
    assert_eq!(error(r"\q"), invalid(r"bad escape \q"));
    assert_eq!(error("\\"), invalid("bad escape (end of pattern)"));
    assert_eq!(error(r"\g<a b>"), invalid("bad character in group name 'a b'"));
    assert_eq!(error(r"\400"), invalid(r"octal escape value \400 outside of range 0-0o377"));
    assert_eq!(error(r"\g<1"), invalid("missing >, unterminated name"));
}
