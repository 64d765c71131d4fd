//! Expected strings are what Python 3.11 prints for the same input.

use serde_json::{Value, json};

use super::printable::is_printable;
use super::{dumps, increment_digits, ordered_qmp, py_float_repr, py_repr};

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("bad test JSON {text:?}: {e}"))
}

fn dumps_text(text: &str) -> String {
    dumps(&parse(text), false, None)
}

#[test]
fn separators_without_indent() {
    assert_eq!(
        dumps_text(r#"{"a":[1,2,{"b":null}],"c":true,"d":false}"#),
        r#"{"a": [1, 2, {"b": null}], "c": true, "d": false}"#
    );
    assert_eq!(dumps_text("[]"), "[]");
    assert_eq!(dumps_text("{}"), "{}");
    assert_eq!(dumps_text("null"), "null");
}

#[test]
fn indentation() {
    let v = parse(r#"{"a": [1, [], {}, {"b": [2]}], "c": "x"}"#);
    assert_eq!(
        dumps(&v, false, Some(2)),
        "{\n  \"a\": [\n    1,\n    [],\n    {},\n    {\n      \"b\": [\n        2\n      ]\n    }\n  ],\n  \"c\": \"x\"\n}"
    );
    assert_eq!(dumps(&v, false, Some(0)), "{\n\"a\": [\n1,\n[],\n{},\n{\n\"b\": [\n2\n]\n}\n],\n\"c\": \"x\"\n}");
    assert_eq!(dumps(&parse("[]"), false, Some(4)), "[]");
    assert_eq!(dumps(&parse("{}"), true, Some(4)), "{}");
    assert_eq!(dumps(&parse("5"), false, Some(4)), "5");
}

#[test]
fn sort_keys_by_code_point() {
    let v = parse(r#"{"b": 1, "a": {"z": 1, "y": 2}, "é": 3, "Z": 4, "😀": 5, "\uffff": 6, "_": 7, "-": 8}"#);
    assert_eq!(
        dumps(&v, true, None),
        r#"{"-": 8, "Z": 4, "_": 7, "a": {"y": 2, "z": 1}, "b": 1, "\u00e9": 3, "\uffff": 6, "\ud83d\ude00": 5}"#
    );
    assert_eq!(
        dumps(&v, false, None),
        r#"{"b": 1, "a": {"z": 1, "y": 2}, "\u00e9": 3, "Z": 4, "\ud83d\ude00": 5, "\uffff": 6, "_": 7, "-": 8}"#
    );
}

#[test]
fn duplicate_keys_keep_first_position_last_value() {
    assert_eq!(dumps_text(r#"{"a": 1, "b": 2, "a": 3}"#), r#"{"a": 3, "b": 2}"#);
}

#[test]
fn string_escapes_ensure_ascii() {
    let v = json!("q\"b\\n\nr\rt\tb\u{8}f\u{c}\u{0}\u{1f} ~\u{7f}\u{80}é\u{ffff}😀/'");
    assert_eq!(
        dumps(&v, false, None),
        r#""q\"b\\n\nr\rt\tb\bf\f\u0000\u001f ~\u007f\u0080\u00e9\uffff\ud83d\ude00/'""#
    );
}

#[test]
fn ints_are_exact() {
    assert_eq!(dumps_text("0"), "0");
    assert_eq!(dumps_text("-0"), "0");
    assert_eq!(dumps_text("-17"), "-17");
    assert_eq!(dumps_text("123456789012345678901234567890"), "123456789012345678901234567890");
    assert_eq!(dumps_text("-123456789012345678901234567890"), "-123456789012345678901234567890");
    assert_eq!(dumps_text("18446744073709551616"), "18446744073709551616");
    assert_eq!(py_repr(&parse("-0")), "0");
}

#[test]
fn floats_in_json() {
    let cases = [
        ("1.0", "1.0"),
        ("2.50", "2.5"),
        ("-0.0", "-0.0"),
        ("0.0", "0.0"),
        ("0e0", "0.0"),
        ("1E2", "100.0"),
        ("1e16", "1e+16"),
        ("1e15", "1000000000000000.0"),
        ("123456789012345.0", "123456789012345.0"),
        ("1234567890123456.0", "1234567890123456.0"),
        ("12345678901234567.0", "1.2345678901234568e+16"),
        ("0.0001", "0.0001"),
        ("0.00001", "1e-05"),
        ("0.000015", "1.5e-05"),
        ("0.1", "0.1"),
        ("0.30000000000000004", "0.30000000000000004"),
        ("0.3333333333333333", "0.3333333333333333"),
        ("-2.5e300", "-2.5e+300"),
        ("1e-7", "1e-07"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("5e-324", "5e-324"),
        ("1e-400", "0.0"),
        ("-1e-400", "-0.0"),
        ("1e400", "Infinity"),
        ("-1e400", "-Infinity"),
        ("1.00000000000000000000000001", "1.0"),
    ];
    for (text, expected) in cases {
        assert_eq!(dumps_text(text), expected, "dumps of {text}");
    }
}

#[test]
fn float_repr() {
    assert_eq!(py_float_repr(1.0), "1.0");
    assert_eq!(py_float_repr(-1.5), "-1.5");
    assert_eq!(py_float_repr(1e22), "1e+22");
    assert_eq!(py_float_repr(1e100), "1e+100");
    assert_eq!(py_float_repr(1.5e-100), "1.5e-100");
    assert_eq!(py_float_repr(9999999999999998.0), "9999999999999998.0");
    assert_eq!(py_float_repr(0.001), "0.001");
    assert_eq!(py_float_repr(-0.0), "-0.0");
    assert_eq!(py_float_repr(f64::INFINITY), "inf");
    assert_eq!(py_float_repr(f64::NAN), "nan");
    assert_eq!(py_float_repr(f64::MIN_POSITIVE), "2.2250738585072014e-308");
    assert_eq!(py_float_repr(1.0 / 3.0), "0.3333333333333333");
}

#[test]
// The literals are the exact values of the doubles; that they have more
// digits than the shortest repr is the point of the test.
#[allow(clippy::excessive_precision)]
fn float_repr_ties_go_to_even_digit() {
    // Exactly halfway between two 17-digit candidates: Python picks the even
    // one where Rust's shortest formatting rounds up.
    assert_eq!(py_float_repr(2185045066045045.25), "2185045066045045.2");
    assert_eq!(py_float_repr(-1083822479705719.25), "-1083822479705719.2");
    assert_eq!(py_float_repr(28486988743271.5625), "28486988743271.562");
    assert_eq!(py_float_repr(268304398035991.625), "268304398035991.62");
    // Not ties: nothing to change.
    assert_eq!(py_float_repr(2185045066045045.5), "2185045066045045.5");
    assert_eq!(py_float_repr(0.3), "0.3");
}

#[test]
fn increment_carries() {
    assert_eq!(increment_digits("12", 3), ("13".to_owned(), 3));
    assert_eq!(increment_digits("19", 3), ("20".to_owned(), 3));
    assert_eq!(increment_digits("99", -3), ("10".to_owned(), -2));
}

#[test]
fn ordered_qmp_converts_keys_only_where_python_does() {
    let v = parse(r#"{"z_z": {"b_b": [{"c_c": {"d_d": 1}}], "a_a": 2}, "a_b": [[{"x_y": 3}], 4], "m": "v_w"}"#);
    assert_eq!(
        dumps(&ordered_qmp(&v), false, None),
        r#"{"a-b": [[{"x-y": 3}], 4], "m": "v_w", "z-z": {"a_a": 2, "b_b": [{"c-c": {"d_d": 1}}]}}"#
    );
    let list = parse(r#"[{"b_b": 1, "a_a": {"c_c": 2}}, 3]"#);
    assert_eq!(dumps(&ordered_qmp(&list), false, None), r#"[{"a-a": {"c_c": 2}, "b-b": 1}, 3]"#);
    assert_eq!(ordered_qmp(&json!("s_t")), json!("s_t"));
}

#[test]
fn ordered_qmp_sorts_before_converting() {
    // `-` sorts before `_`, but Python sorts the original keys, then renames.
    let v = parse(r#"{"a-c": 1, "a_b": 2, "a": 3}"#);
    assert_eq!(dumps(&ordered_qmp(&v), false, None), r#"{"a": 3, "a-c": 1, "a-b": 2}"#);
    // A collision keeps the first position with the later value.
    let v = parse(r#"{"a_b": 1, "a-b": 2, "c": 3}"#);
    assert_eq!(dumps(&ordered_qmp(&v), false, None), r#"{"a-b": 1, "c": 3}"#);
}

#[test]
fn repr_of_containers_and_scalars() {
    let v = parse(r#"{"a": 1, "b": [true, false, null, "x", 1.5, 1e16, 1e400, -1e400, []], "c": {}}"#);
    assert_eq!(py_repr(&v), "{'a': 1, 'b': [True, False, None, 'x', 1.5, 1e+16, inf, -inf, []], 'c': {}}");
}

#[test]
fn repr_of_strings() {
    let cases = [
        ("plain", "'plain'"),
        ("it's", r#""it's""#),
        (r#"say "hi""#, r#"'say "hi"'"#),
        (r#"both ' and ""#, r#"'both \' and "'"#),
        ("back\\slash", r"'back\\slash'"),
        ("nl\ncr\rtab\t", r"'nl\ncr\rtab\t'"),
        ("\u{0}\u{1f}\u{7f}", r"'\x00\x1f\x7f'"),
        ("\u{80}\u{a0}\u{ad}é\u{ff}", r"'\x80\xa0\xadéÿ'"),
        ("\u{2028}\u{3000}\u{feff}\u{378}Ω", r"'\u2028\u3000\ufeff\u0378Ω'"),
        ("😀\u{e0001}\u{f0000}\u{10ffff}", r"'😀\U000e0001\U000f0000\U0010ffff'"),
        ("", "''"),
    ];
    for (s, expected) in cases {
        assert_eq!(py_repr(&json!([s])), format!("[{expected}]"), "repr of {s:?}");
    }
    assert_eq!(py_repr(&json!({"it's": "x"})), r#"{"it's": 'x'}"#);
    // `str()` of a bare string is the string itself.
    assert_eq!(py_repr(&json!("a'\n\u{0}")), "a'\n\u{0}");
}

#[test]
fn printable_table_edges() {
    assert!(is_printable(' '));
    assert!(is_printable('~'));
    assert!(!is_printable('\u{7f}'));
    assert!(!is_printable('\u{9f}'));
    assert!(!is_printable('\u{a0}'));
    assert!(is_printable('\u{a1}'));
    assert!(is_printable('\u{377}'));
    assert!(!is_printable('\u{378}'));
    assert!(!is_printable('\u{e000}'));
    assert!(is_printable('\u{f900}'));
    assert!(!is_printable('\u{fffe}'));
    assert!(is_printable('\u{1f600}'));
    assert!(!is_printable('\u{10ffff}'));
}

/// The positional-decimal fast path of `write_number` agrees with the
/// general `repr()` path (checked against python3 in `tests/json_python.rs`)
/// around its limits: 15 and 16 significant digits, exponents -5..17.
#[test]
fn short_decimal_fast_path_matches_repr() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    for _ in 0..200_000 {
        let digits: String = (0..1 + next(18)).map(|_| char::from(b'0' + next(10) as u8)).collect();
        let point = next(digits.len() as u64 + 1) as usize;
        let (int, frac) = digits.split_at(point);
        let int = int.trim_start_matches('0');
        let zeros = "0".repeat(next(6) as usize);
        let sign = if next(2) == 0 { "-" } else { "" };
        let text = match next(3) {
            0 => format!("{sign}0.{zeros}{frac}{int}"),
            _ if int.is_empty() => format!("{sign}0.{frac}"),
            _ => format!("{sign}{int}.{frac}{zeros}"),
        };
        let text = if text.ends_with('.') { format!("{text}0") } else { text };
        let n: serde_json::Number = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let mut fast = String::new();
        super::write_number(&mut fast, &n, true);
        assert_eq!(fast, py_float_repr(text.parse().unwrap()), "{text}");
    }
}

#[test]
fn del_removes_keeping_order_and_raises_as_python() {
    use super::del;
    let mut d = json!({"a": 1, "b": 2, "c": 3});
    assert_eq!(del(&mut d, "a").unwrap(), json!(1));
    assert_eq!(dumps(&d, false, None), r#"{"b": 2, "c": 3}"#);
    // Python 3.11's texts for `del x['k']`.
    assert_eq!(del(&mut d, "it's").unwrap_err().to_string(), r#"KeyError: "it's""#);
    let texts: Vec<String> = [json!(null), json!("a"), json!(1), json!(1.5), json!(true), json!([1])]
        .iter_mut()
        .map(|x| del(x, "k").unwrap_err().to_string())
        .collect();
    assert_eq!(
        texts,
        [
            "TypeError: 'NoneType' object does not support item deletion",
            "TypeError: 'str' object does not support item deletion",
            "TypeError: 'int' object does not support item deletion",
            "TypeError: 'float' object does not support item deletion",
            "TypeError: 'bool' object does not support item deletion",
            "TypeError: list indices must be integers or slices, not str",
        ]
    );
}

#[test]
fn subscript_raises_what_python_raises() {
    use super::Subscript;
    let v = serde_json::json!({"return": [{"a": 1}], "n": null, "s": "x", "f": 1.5, "i": 2, "b": true});
    let err = |r: crate::Result<&Value>| r.unwrap_err().to_string();
    assert_eq!(v.at("return").unwrap().at(0).unwrap().at("a").unwrap(), 1);
    assert_eq!(v.at("return").unwrap().at(-1).unwrap().at("a").unwrap(), 1);
    assert_eq!(err(v.at("x")), "KeyError: 'x'");
    assert_eq!(err(v.at("x'y")), "KeyError: \"x'y\"");
    assert_eq!(err(v.at(0)), "KeyError: 0");
    assert_eq!(err(v.at("return").unwrap().at(1)), "IndexError: list index out of range");
    assert_eq!(err(v.at("return").unwrap().at(-2)), "IndexError: list index out of range");
    assert_eq!(err(v.at("return").unwrap().at("a")), "TypeError: list indices must be integers or slices, not str");
    assert_eq!(err(v.at("n").unwrap().at("a")), "TypeError: 'NoneType' object is not subscriptable");
    assert_eq!(err(v.at("s").unwrap().at("a")), "TypeError: string indices must be integers, not 'str'");
    assert_eq!(err(v.at("f").unwrap().at(0)), "TypeError: 'float' object is not subscriptable");
    assert_eq!(err(v.at("i").unwrap().at(0)), "TypeError: 'int' object is not subscriptable");
    assert_eq!(err(v.at("b").unwrap().at(0)), "TypeError: 'bool' object is not subscriptable");
    assert!(v.at("x").unwrap_err().is_instance("LookupError"));
}
