//! Differential test of `iotests::json` against python3 itself.
//!
//! Thousands of pseudo-random JSON values go through one python3 process,
//! which prints `json.dumps` in every mode iotests uses, `str()` and
//! `ordered_qmp`; every answer must match the Rust functions byte for byte.

use std::io::{ErrorKind, Write};
use std::process::{Command, Stdio};

use iotests::json::{dumps, ordered_qmp, py_float_repr, py_repr};
use serde_json::{Map, Number, Value};

/// For each input line, one JSON list of strings: `json.dumps` for
/// sort_keys in (True, False) × indent in (None, 2, 0), then `str(v)`, then
/// `json.dumps(ordered_qmp(v))`. Wrapping the answers in `json.dumps` keeps
/// each one on one ASCII line whatever it contains.
const SCRIPT: &str = r#"
import json, sys, unicodedata
from collections import OrderedDict

print(unicodedata.unidata_version)

def ordered_qmp(qmsg, conv_keys=True):
    if isinstance(qmsg, list):
        return [ordered_qmp(atom) for atom in qmsg]
    if isinstance(qmsg, dict):
        od = OrderedDict()
        for k, v in sorted(qmsg.items()):
            if conv_keys:
                k = k.replace('_', '-')
            od[k] = ordered_qmp(v, conv_keys=False)
        return od
    return qmsg

for line in sys.stdin.buffer:
    v = json.loads(line)
    out = [json.dumps(v, sort_keys=s, indent=i) for s in (True, False) for i in (None, 2, 0)]
    out.append(str(v))
    out.append(json.dumps(ordered_qmp(v), sort_keys=False))
    sys.stdout.write(json.dumps(out) + "\n")
"#;

/// The Unicode version of Python 3.11, whose `str.isprintable()` py_repr
/// follows.
const PYTHON_UNICODE: &str = "14.0.0";

const MODES: [(bool, Option<usize>); 6] =
    [(true, None), (true, Some(2)), (true, Some(0)), (false, None), (false, Some(2)), (false, Some(0))];

/// splitmix64: tiny, seedable and good enough to vary test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn digits(&mut self, len: u64) -> String {
        (0..len).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }
}

fn number(text: &str) -> Value {
    let n: Number = serde_json::from_str(text).unwrap_or_else(|e| panic!("generated bad number {text:?}: {e}"));
    Value::Number(n)
}

fn gen_int(rng: &mut Rng) -> Value {
    let text = match rng.below(6) {
        0 => (rng.below(2001) as i64 - 1000).to_string(),
        1 => (rng.next() as i64).to_string(),
        2 => rng.next().to_string(),
        3 => {
            let sign = if rng.below(2) == 0 { "-" } else { "" };
            let len = 19 + rng.below(25);
            format!("{sign}{}{}", 1 + rng.below(9), rng.digits(len))
        }
        4 => rng.pick(&["0", "-0", "9223372036854775807", "-9223372036854775808", "18446744073709551616"]).to_string(),
        _ => rng.below(10).to_string(),
    };
    number(&text)
}

fn gen_float(rng: &mut Rng) -> Value {
    let sign = if rng.below(3) == 0 { "-" } else { "" };
    let text = match rng.below(7) {
        // Any finite double, spelled by serde_json's ryu.
        0 => loop {
            let f = f64::from_bits(rng.next());
            if let Some(n) = f.is_finite().then(|| Number::from_f64(f)).flatten() {
                break n.to_string();
            }
        },
        // Decimal digits beyond double precision, at any magnitude.
        1 => {
            let (lead, int_len, frac_len) = (1 + rng.below(9), rng.below(20), 1 + rng.below(20));
            let exp = rng.below(640) as i64 - 330;
            let (int_rest, frac) = (rng.digits(int_len), rng.digits(frac_len));
            let plus = if exp >= 0 && rng.below(2) == 0 { "+" } else { "" };
            format!("{sign}{lead}{int_rest}.{frac}{}{plus}{exp}", rng.pick(&["e", "E"]))
        }
        // Short decimals around the positional/scientific boundaries.
        2 => {
            let exp = rng.below(44) as i64 - 22;
            let (lead, frac_len) = (1 + rng.below(9), rng.below(3));
            let frac = if frac_len == 0 { "0".to_owned() } else { rng.digits(frac_len) };
            format!("{sign}{lead}.{frac}e{exp}")
        }
        // Integers written as floats.
        3 => {
            let bits = rng.below(60) + 1;
            format!("{sign}{}.0", rng.below(1 << bits))
        }
        // Plain positional decimals.
        4 => {
            let len = 1 + rng.below(25);
            format!("{sign}0.{}", rng.digits(len))
        }
        5 => {
            let exp = rng.below(600) as i64 - 300;
            format!("{sign}{}e{exp}", 1 + rng.below(999))
        }
        _ => rng
            .pick(&[
                "1e16",
                "1e15",
                "9999999999999999.0",
                "1e-5",
                "1e-4",
                "0.0001",
                "0.1",
                "0.3333333333333333",
                "2.0",
                "1e400",
                "-1e400",
                "-0.0",
                "0.0",
                "1e-400",
                "-1e-400",
                "5e-324",
                "1.7976931348623157e308",
                "1e300",
                "1e-7",
                "123456789012345.0",
                "123456789012345678.0",
            ])
            .to_string(),
    };
    number(&text)
}

fn gen_char(rng: &mut Rng) -> char {
    let code = match rng.below(9) {
        0 | 1 => 0x20 + rng.below(0x5f) as u32,
        2 => *rng.pick(&['"', '\'', '\\', '/', ' ', '_', '-']) as u32,
        3 => rng.below(0x20) as u32,
        4 => 0x7f + rng.below(0x81) as u32,
        5 => rng.below(0x10000) as u32,
        6 => 0x10000 + rng.below(0x100000) as u32,
        7 => *rng.pick(&[0x2028, 0xfeff, 0xad, 0x378, 0x3000, 0x1f600, 0xe0001, 0xfffe, 0xe000, 0x200b]),
        _ => 0x80 + rng.below(0x800) as u32,
    };
    // Surrogate code points cannot be in a Rust string (nor in valid JSON
    // text that python decodes to a valid str).
    char::from_u32(code).unwrap_or('\u{fffd}')
}

fn gen_string(rng: &mut Rng) -> String {
    let len = rng.below(12);
    (0..len).map(|_| gen_char(rng)).collect()
}

/// Keys favour QMP-like names so `ordered_qmp` has `_` to convert and
/// collisions such as `a_b` / `a-b` to resolve.
fn gen_key(rng: &mut Rng) -> String {
    if rng.below(3) == 0 {
        return gen_string(rng);
    }
    let len = 1 + rng.below(4);
    (0..len).map(|_| *rng.pick(&['a', 'b', '_', '-', 'Z', 'é'])).collect()
}

fn gen_value(rng: &mut Rng, depth: u32) -> Value {
    let kinds = if depth >= 6 { 6 } else { 10 };
    match rng.below(kinds) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => gen_int(rng),
        3 | 4 => gen_float(rng),
        5 => Value::String(gen_string(rng)),
        6 | 7 => {
            let mut map = Map::new();
            for _ in 0..rng.below(6) {
                map.insert(gen_key(rng), gen_value(rng, depth + 1));
            }
            Value::Object(map)
        }
        _ => Value::Array((0..rng.below(6)).map(|_| gen_value(rng, depth + 1)).collect()),
    }
}

fn inputs() -> Vec<Value> {
    let fixed = [
        r#"{"execute": "blockdev-add", "arguments": {"node_name": "drv0", "driver": "null-co", "size": 1073741824}}"#,
        r#"{"return": [{"device": "drive0", "offset": 0, "len": 65536, "busy": false, "ready": true, "speed": 0}]}"#,
        r#"{"event": "JOB_STATUS_CHANGE", "timestamp": {"seconds": 1, "microseconds": 2}, "data": {"id": "j", "status": "created"}}"#,
        r#"[{"a_b": {"c_d": [{"e_f": 1}]}}, [[{"g_h": []}]], {}]"#,
        r#"{"a_b": 1, "a-b": 2, "a": {}, "b": []}"#,
        r#"{"x": 1e400, "y": -1e400, "z": -0.0, "w": -0, "v": 1E16, "u": 0.00001}"#,
        r#""\u0000\u001f\u007f\u0080\u00a0\u00ad\u2028\ufeff\ud83d\ude00\"\\'""#,
        r#"{"it's": "say \"hi\"", "both'\"": "'"}"#,
        "[]",
        "{}",
        "null",
        "123456789012345678901234567890",
    ];
    let mut values: Vec<Value> =
        fixed.iter().map(|t| serde_json::from_str(t).unwrap_or_else(|e| panic!("bad fixed input {t}: {e}"))).collect();
    let mut rng = Rng(0x10_7e57_5eed);
    for i in 0..5000 {
        // Mostly containers at the top, like QMP messages.
        values.push(if i % 4 == 0 { gen_value(&mut rng, 5) } else { gen_value(&mut rng, 0) });
    }
    values
}

/// Runs `script` in python3 with `input` on stdin and returns its stdout,
/// or `None` when there is no python3 to run.
fn run_python(script: &str, input: String) -> Option<String> {
    let child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            println!("not run: python3 not found");
            return None;
        }
        Err(e) => panic!("cannot start python3: {e}"),
    };
    // Write from another thread so a full stdout pipe cannot deadlock us.
    let mut stdin = child.stdin.take().expect("python3 stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("wait for python3");
    writer.join().expect("writer thread").expect("write to python3");
    assert!(output.status.success(), "python3 failed: {}", output.status);
    Some(String::from_utf8(output.stdout).expect("python3 output is UTF-8"))
}

#[test]
fn matches_python() {
    let values = inputs();
    let mut input = String::new();
    for v in &values {
        input.push_str(&serde_json::to_string(v).expect("serialize input"));
        input.push('\n');
    }
    let Some(stdout) = run_python(SCRIPT, input) else { return };
    let mut lines = stdout.lines();
    // `str()` escapes non-printable characters, and what is printable
    // depends on the Unicode version, which py_repr pins to Python 3.11's.
    let check_repr = lines.next() == Some(PYTHON_UNICODE);
    if !check_repr {
        println!("py_repr not compared: python3 has another Unicode version than {PYTHON_UNICODE}");
    }
    let lines: Vec<&str> = lines.collect();
    assert_eq!(lines.len(), values.len(), "python3 answered a different number of lines");

    let mut compared = 0;
    let mut mismatches = Vec::new();
    for (value, line) in values.iter().zip(&lines) {
        let expected: Vec<String> = serde_json::from_str(line).expect("python3 answer line");
        let mut actual: Vec<(String, String)> = MODES
            .iter()
            .map(|&(sort_keys, indent)| {
                (format!("dumps(sort_keys={sort_keys}, indent={indent:?})"), dumps(value, sort_keys, indent))
            })
            .collect();
        actual.push(("py_repr".to_owned(), py_repr(value)));
        actual.push(("dumps(ordered_qmp)".to_owned(), dumps(&ordered_qmp(value), false, None)));
        assert_eq!(expected.len(), actual.len(), "python3 answer has the wrong shape");
        for ((what, got), want) in actual.iter().zip(&expected) {
            if got != want && (check_repr || what != "py_repr") {
                mismatches.push(format!("{what} of {value}:\n  python: {want:?}\n  rust:   {got:?}"));
            }
        }
        compared += 1;
    }
    if !mismatches.is_empty() {
        let first = mismatches.iter().take(10).map(String::as_str).collect::<Vec<_>>().join("\n");
        panic!("{} mismatches in {compared} values; first ones:\n{first}", mismatches.len());
    }
    assert!(compared > 1000, "only {compared} values compared");
    println!("compared {compared} values with python3, {} outputs each", MODES.len() + 2);
}

/// `py_float_repr` over random bit patterns (subnormals, huge, tiny, NaN,
/// infinities included), where rare shortest-digit ties would show up.
#[test]
fn float_repr_matches_python() {
    const FLOAT_SCRIPT: &str = r#"
import struct, sys
for line in sys.stdin:
    sys.stdout.write(repr(struct.unpack('<d', struct.pack('<Q', int(line)))[0]) + "\n")
"#;
    let mut rng = Rng(0xf10a7);
    let mut floats: Vec<f64> = vec![0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, f64::MAX, f64::MIN_POSITIVE];
    floats.extend(std::iter::repeat_with(|| f64::from_bits(rng.next())).take(50_000));
    // Exponents near the positional/scientific switch need many samples too.
    floats.extend(
        std::iter::repeat_with(|| (rng.next() >> 11) as f64 * 10f64.powi(rng.below(44) as i32 - 37)).take(50_000),
    );
    // Binary fractions and large integers have short exact decimal
    // expansions, so they often lie halfway between two shortest candidates.
    floats.extend(
        std::iter::repeat_with(|| {
            let shift = 11 + rng.below(45);
            (rng.next() >> shift) as f64 * 2f64.powi(rng.below(100) as i32 - 50)
        })
        .take(50_000),
    );
    let input: String = floats.iter().map(|f| format!("{}\n", f.to_bits())).collect();
    let Some(stdout) = run_python(FLOAT_SCRIPT, input) else { return };
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), floats.len(), "python3 answered a different number of lines");
    let mismatches: Vec<String> = floats
        .iter()
        .zip(&lines)
        .filter(|(f, want)| py_float_repr(**f) != **want)
        .take(10)
        .map(|(f, want)| format!("{:#018x}: python {want}, rust {}", f.to_bits(), py_float_repr(*f)))
        .collect();
    assert!(mismatches.is_empty(), "float repr mismatches:\n{}", mismatches.join("\n"));
    println!("compared {} float reprs with python3", floats.len());
}

/// Which characters `repr()` leaves unescaped, for every code point.
#[test]
fn printable_chars_match_python() {
    const PRINTABLE_SCRIPT: &str = r#"
import sys, unicodedata
print(unicodedata.unidata_version)
print(''.join('1' if chr(c).isprintable() else '0' for c in range(0x110000)))
"#;
    let Some(stdout) = run_python(PRINTABLE_SCRIPT, String::new()) else { return };
    let mut lines = stdout.lines();
    if lines.next() != Some(PYTHON_UNICODE) {
        println!("not run: python3 has another Unicode version than {PYTHON_UNICODE}");
        return;
    }
    let flags = lines.next().expect("python3 printable flags").as_bytes();
    assert_eq!(flags.len(), 0x110000);
    let mut mismatches = Vec::new();
    // Surrogates cannot be in a Rust string; the quote, backslash and
    // whitespace escapes are not about printability.
    for c in (0..0x110000u32).filter_map(char::from_u32).filter(|c| !"'\\\t\n\r".contains(*c)) {
        let printable = py_repr(&Value::Array(vec![Value::String(c.to_string())])) == format!("['{c}']");
        if printable != (flags[c as usize] == b'1') {
            mismatches.push(format!("U+{:04X}", c as u32));
        }
    }
    assert!(
        mismatches.is_empty(),
        "printability differs for {} chars: {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(20)]
    );
}
