//! Fixed expectations, each the text Python 3.11 prints for the same call.

use serde_json::{Value, json};

use super::difflib::ndiff;
use super::pprint::pformat;
use super::unittest::*;

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn dict_diff_with_hint_lines_and_message() {
    let first = json!({"device": "drive0", "busy": false, "len": 1048576, "offset": 524288, "type": "mirror"});
    let second = json!({"device": "drive0", "busy": true, "len": 1048576, "offset": 1048576, "type": "mirror"});
    assert_eq!(
        assert_equal(&first, &second, Some("job state")).unwrap(),
        "{'dev[19 chars]sy': False, 'len': 1048576, 'offset': 524288, 'type': 'mirror'} != \
         {'dev[19 chars]sy': True, 'len': 1048576, 'offset': 1048576, 'type': 'mirror'}\n\
         - {'busy': False,\n\
         ?          ^^^^\n\n\
         + {'busy': True,\n\
         ?          ^^^\n\n   \
         'device': 'drive0',\n   \
         'len': 1048576,\n\
         -  'offset': 524288,\n\
         +  'offset': 1048576,\n   \
         'type': 'mirror'} : job state"
    );
}

#[test]
fn list_diff_names_first_difference_and_extra_elements() {
    let first = json!([1, "two", {"three": 3}, parse("4.0")]);
    assert_eq!(
        assert_equal(&first, &json!([1, "too", {"three": 3}]), None).unwrap(),
        "Lists differ: [1, 'two', {'three': 3}, 4.0] != [1, 'too', {'three': 3}]\n\n\
         First differing element 1:\n'two'\n'too'\n\n\
         First list contains 1 additional elements.\nFirst extra element 3:\n4.0\n\n\
         - [1, 'two', {'three': 3}, 4.0]\n\
         ?       ^                -----\n\n\
         + [1, 'too', {'three': 3}]\n\
         ?       ^\n"
    );
}

#[test]
fn multi_line_string_diff() {
    let first = json!("first line\nsecond line\nthird line\n");
    let second = json!("first line\nsecond lime\nthird line\nfourth\n");
    assert_eq!(
        assert_equal(&first, &second, None).unwrap(),
        "'first line\\nsecond line\\nthird line\\n' != 'first line\\nsecond lime\\nthird line\\nfourth\\n'\n  \
         first line\n- second line\n?          ^\n+ second lime\n?          ^\n  third line\n+ fourth\n"
    );
    // One line without a line end is given one, so the hint lines align.
    assert_eq!(
        assert_equal(&json!("qcow2 image"), &json!("qcow2 images"), None).unwrap(),
        "'qcow2 image' != 'qcow2 images'\n- qcow2 image\n+ qcow2 images\n?            +\n"
    );
}

#[test]
fn long_reprs_are_shortened() {
    let (first, second) = (json!("abc".repeat(40)), json!(format!("{}x", "abc".repeat(30))));
    let message = assert_equal(&first, &second, None).unwrap();
    let (head, diff) = message.split_once('\n').unwrap();
    assert_eq!(
        head,
        format!("'abca[54 chars]{}' != 'abca[54 chars]{}x'", &"bca".repeat(21)[..62], &"bca".repeat(11)[..32])
    );
    assert_eq!(
        diff,
        format!(
            "- {}\n? {}{}\n+ {}x\n? {}^\n",
            "abc".repeat(40),
            " ".repeat(90),
            "^".repeat(30),
            "abc".repeat(30),
            " ".repeat(90)
        )
    );
}

#[test]
fn long_diffs_are_omitted() {
    let first: serde_json::Map<String, Value> = (0..40).map(|i| (i.to_string(), json!(format!("value {i}")))).collect();
    let mut second = first.clone();
    second.insert("7".into(), json!("value 70"));
    let message = assert_equal(&Value::Object(first), &Value::Object(second), None).unwrap();
    assert_eq!(
        message,
        "{'0':[116 chars]lue 7', '8': 'value 8', '9': 'value 9', '10': [528 chars] 39'} != \
         {'0':[116 chars]lue 70', '8': 'value 8', '9': 'value 9', '10':[529 chars] 39'}\n\
         Diff is 859 characters long. Set self.maxDiff to None to see it."
    );
}

#[test]
fn count_equal_of_unhashable_items() {
    let first = json!([[1], {"a": 1}, [1]]);
    let second = json!([[1], {"a": parse("1.0")}, {"a": 2}]);
    assert_eq!(
        assert_count_equal(&first, &second, None),
        Ok(Some(
            "Element counts were not equal:\nFirst has 2, Second has 1:  [1]\nFirst has 0, Second has 1:  {'a': 2}"
                .into()
        ))
    );
}

#[test]
fn pformat_wraps_sorts_and_splits() {
    let value = json!({
        "node-name": "drv0",
        "children": [{"child": "file", "node-name": "x".repeat(50)}],
        "über": 1,
        "Z": null,
        "cache": {"size": parse("1.5e20"), "writeback": true},
        "text": "lorem ipsum dolor sit amet ".repeat(5),
        "nl": "line one\nline two\n",
    });
    assert_eq!(
        pformat(&value),
        "{'Z': None,\n \
         'cache': {'size': 1.5e+20, 'writeback': True},\n \
         'children': [{'child': 'file',\n               \
         'node-name': 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}],\n \
         'nl': 'line one\\nline two\\n',\n \
         'node-name': 'drv0',\n \
         'text': 'lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum '\n         \
         'dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit '\n         \
         'amet ',\n \
         'über': 1}"
    );
    assert_eq!(
        pformat(&json!("the quick brown fox jumps over the lazy dog, ".repeat(3))),
        "('the quick brown fox jumps over the lazy dog, the quick brown fox jumps over '\n \
         'the lazy dog, the quick brown fox jumps over the lazy dog, ')"
    );
}

#[test]
fn ndiff_hints_keep_tabs() {
    assert_eq!(
        ndiff(&["\tkey = value", "same"], &["\tkey = valve!", "same"]),
        ["- \tkey = value", "? \t         ^\n", "+ \tkey = valve!", "? \t         ^ +\n", "  same"]
    );
}

#[test]
fn matcher_junk_and_popular_elements() {
    use super::difflib::{Match, SequenceMatcher};
    let chars = |s: &str| s.chars().collect::<Vec<char>>();
    let (a, b) = (
        chars(&format!("{}{}y", "x".repeat(10), "ab".repeat(100))),
        chars(&format!("{}{}", "ab".repeat(100), "y".repeat(10))),
    );
    // In a b of 210, 'a', 'b' and 'y' each make up over 1%: all popular.
    let mut s = SequenceMatcher::new(None, &a, &b, true);
    assert_eq!(s.get_matching_blocks(), [Match { a: 211, b: 210, size: 0 }]);
    let mut s = SequenceMatcher::new(None, &a, &b, false);
    assert_eq!(s.get_matching_blocks(), [Match { a: 10, b: 0, size: 201 }, Match { a: 211, b: 210, size: 0 }]);
    assert_eq!(s.ratio(), 0.9548693586698337);
    let (a, b) = (chars("private Thread currentThread;"), chars("private volatile Thread currentThread;"));
    let mut s = SequenceMatcher::new(Some(super::difflib::is_character_junk), &a, &b, true);
    assert_eq!(
        s.get_matching_blocks(),
        [Match { a: 0, b: 0, size: 8 }, Match { a: 8, b: 17, size: 21 }, Match { a: 29, b: 38, size: 0 }]
    );
    assert_eq!(s.ratio(), 0.8656716417910447);
}

#[test]
fn comparisons_python_rejects_are_errors_not_failures() {
    let e = assert_greater(&json!({"a": 1}), &json!({"a": 0}), None).unwrap_err();
    assert_eq!(e.to_string(), "TypeError: '>' not supported between instances of 'dict' and 'dict'");
    let e = assert_in(&json!([1]), &json!({"a": 1}), None).unwrap_err();
    assert_eq!(e.to_string(), "TypeError: unhashable type: 'list'");
    let e = assert_almost_equal(&json!(1), &json!(2), Some(2), Some(&json!(1)), None).unwrap_err();
    assert_eq!(e.to_string(), "TypeError: specify delta or places not both");
    // ...but only once the values are found unequal, as in Python.
    assert_eq!(assert_almost_equal(&json!(1), &json!(1), Some(2), Some(&json!(1)), None), Ok(None));
}

#[test]
fn regex_reads_patterns_as_python_does() {
    // Python's \s is str.isspace(), which includes the separators \x1c..\x1f.
    assert_eq!(
        assert_not_regex("fs\u{1c}x", r"\s", None),
        Ok(Some(r"Regex matched: '\x1c' matches '\\s' in 'fs\x1cx'".into()))
    );
    assert_eq!(
        assert_regex("a\u{1f}", r"a\S", None),
        Ok(Some(r"Regex didn't match: 'a\\S' not found in 'a\x1f'".into()))
    );
    assert_eq!(assert_regex("a[b", "[[]b", None), Ok(None));
    assert_eq!(assert_regex("a]", "[]]", None), Ok(None));
    assert_eq!(
        assert_regex("end\n", r"end\Z", None),
        Ok(Some(r"Regex didn't match: 'end\\Z' not found in 'end\n'".into()))
    );
    assert_eq!(assert_regex("end\n", "end$", None), Ok(None));
    assert!(matches!(assert_regex("aa", r"(a)\1", None), Err(PyError::Unsupported(_))));
}
