//! Differential test of `iotests::pyfmt` against python3 itself.
//!
//! Thousands of pseudo-random cases go through one python3 process, which
//! answers each with what `pprint.pformat`, `difflib` or a real
//! `unittest.TestCase` assertion gives (`str()` of its `AssertionError`, or
//! the other exception it raises); every answer must match the Rust
//! functions byte for byte. `PYFMT_SEED=<n>` varies the inputs.

mod inputs;

use std::io::{ErrorKind, Write};
use std::process::{Command, Stdio};

use inputs::{Rng, number};
use iotests::json::py_float_repr;
use iotests::pyfmt::difflib::{SequenceMatcher, is_character_junk, ndiff};
use iotests::pyfmt::pprint::pformat;
use iotests::pyfmt::unittest::{self as ut, Outcome, PyError};
use serde_json::{Value, json};

/// One JSON answer line per JSON case line.
const SCRIPT: &str = r#"
import difflib, json, pprint, sys, unittest

class T(unittest.TestCase):
    def runTest(self):
        pass

t = T()

def assertion(name, args, kw):
    try:
        getattr(t, name)(*args, **kw)
        return {"ok": None}
    except AssertionError as e:
        return {"fail": str(e)}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}

for line in sys.stdin:
    c = json.loads(line)
    op = c["op"]
    if op == "pformat":
        r = {"text": pprint.pformat(c["a"])}
    elif op == "ndiff":
        r = {"lines": list(difflib.ndiff(c["a"], c["b"]))}
    elif op == "matcher":
        s = difflib.SequenceMatcher(difflib.IS_CHARACTER_JUNK if c["junk"] else None, c["a"], c["b"],
                                    autojunk=c["autojunk"])
        r = {"blocks": [list(m) for m in s.get_matching_blocks()],
             "opcodes": [list(o) for o in s.get_opcodes()],
             "ratios": [repr(s.ratio()), repr(s.quick_ratio()), repr(s.real_quick_ratio())]}
    else:
        r = assertion(op, c["args"], c.get("kw", {}))
    sys.stdout.write(json.dumps(r) + "\n")
"#;

fn pformat_case(v: Value) -> Value {
    json!({"op": "pformat", "a": v})
}

fn assertion(op: &str, args: Vec<Value>, msg: Option<String>) -> Value {
    match msg {
        Some(m) => json!({"op": op, "args": args, "kw": {"msg": m}}),
        None => json!({"op": op, "args": args}),
    }
}

fn msg(rng: &mut Rng) -> Option<String> {
    rng.chance(30).then(|| inputs::sentence(rng, 3))
}

/// Edges the random inputs reach rarely: exactness of big ints against
/// floats, infinities, overflow, bools as ints, deep nesting.
fn fixed_cases() -> Vec<Value> {
    let big = number(&format!("1{}", "0".repeat(400)));
    let (two53, two53_1) = (number("9007199254740992.0"), number("9007199254740993"));
    let (inf, ninf) = (number("1e400"), number("-1e400"));
    let mut deep = json!("x".repeat(30));
    for i in 0..40 {
        deep = if i % 2 == 0 { json!([deep, i]) } else { json!({"k": deep, "j": [i]}) };
    }
    let mut cases = vec![
        assertion("assertEqual", vec![two53.clone(), two53_1.clone()], None),
        assertion("assertLess", vec![two53.clone(), two53_1.clone()], None),
        assertion("assertGreaterEqual", vec![two53, two53_1], None),
        assertion("assertEqual", vec![big.clone(), number("1e400")], None),
        assertion("assertLess", vec![big.clone(), inf.clone()], None),
        assertion("assertAlmostEqual", vec![big.clone(), number("1.5")], None),
        assertion("assertAlmostEqual", vec![big.clone(), number("1")], None),
        assertion("assertAlmostEqual", vec![json!(true), json!(false)], None),
        assertion("assertAlmostEqual", vec![inf.clone(), ninf.clone()], None),
        assertion("assertAlmostEqual", vec![inf.clone(), inf.clone()], None),
        assertion("assertAlmostEqual", vec![inf, number("1")], None),
        assertion(
            "assertCountEqual",
            vec![json!([1, true, 1.0, 0, false, "1"]), json!([1, 1, 1, false, 0.0, "1"])],
            None,
        ),
        assertion("assertCountEqual", vec![json!({"a": 1, "b": 2}), json!("ab")], None),
        assertion("assertCountEqual", vec![json!(1), json!([1])], None),
        assertion("assertIn", vec![json!(1), json!(1)], None),
        assertion("assertIn", vec![json!({}), json!({"a": 1})], None),
        assertion("assertIn", vec![json!(null), json!("None")], None),
        assertion("assertIn", vec![json!(""), json!("")], None),
        assertion("assertLess", vec![json!([1, [2, {}]]), json!([1, [2, {}]])], None),
        assertion("assertLess", vec![json!([1, [2, {}]]), json!([1, [3, null]])], None),
        assertion("assertLess", vec![json!([null]), json!([1])], None),
        assertion("assertGreater", vec![json!(null), json!(null)], None),
        assertion("assertTrue", vec![number("-0.0")], None),
        assertion("assertFalse", vec![number("1e-400")], None),
        assertion("assertEqual", vec![deep.clone(), inputs::mutate(&mut Rng(7), &deep)], None),
        pformat_case(deep),
        pformat_case(json!("")),
        pformat_case(json!("\n".repeat(3))),
        pformat_case(json!("a\r\nb\rc\u{2028}d".repeat(20))),
        pformat_case(json!(["x".repeat(100)])),
    ];
    for msg in [Some(""), Some("a : b")] {
        cases.push(assertion("assertEqual", vec![json!(1), json!(2)], msg.map(String::from)));
    }
    cases
}

fn cases() -> Vec<Value> {
    // PYFMT_SEED picks other inputs, for a longer search by hand.
    let seed = std::env::var("PYFMT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x9f_7f17_5eed);
    let mut rng = Rng(seed);
    let rng = &mut rng;
    let mut cases = fixed_cases();

    for i in 0..1500 {
        let v = if i % 5 == 0 { inputs::value(rng, 4, 5) } else { inputs::value(rng, 3, 4) };
        cases.push(pformat_case(v));
    }
    for _ in 0..300 {
        let s = inputs::sentence(rng, 60);
        cases.push(pformat_case(json!(s)));
        cases.push(pformat_case(json!([s.clone(), {"key": s.clone()}, [[s]]])));
    }

    for _ in 0..800 {
        let a = inputs::lines(rng, 8);
        let b = if rng.chance(85) { inputs::edit_lines(rng, &a) } else { inputs::lines(rng, 8) };
        cases.push(json!({"op": "ndiff", "a": a, "b": b}));
    }

    for i in 0..800 {
        let (junk, autojunk) = (rng.chance(50), rng.chance(70));
        let (a, b) = if i % 4 == 0 {
            let a = inputs::lines(rng, 12);
            (json!(a), json!(inputs::edit_lines(rng, &a)))
        } else {
            let a = if rng.chance(15) { "ab c".repeat(50 + rng.below(10)) } else { inputs::sentence(rng, 30) };
            let b = (0..1 + rng.below(4)).fold(a.clone(), |s, _| inputs::edit_string(rng, &s));
            (json!(a), json!(b))
        };
        cases.push(json!({"op": "matcher", "a": a, "b": b, "junk": junk && i % 4 != 0, "autojunk": autojunk}));
    }

    for i in 0..2500 {
        let a = match i % 10 {
            0 => inputs::value(rng, 2, 12),
            1 | 2 => Value::String((0..1 + rng.below(6)).map(|_| inputs::sentence(rng, 8) + "\n").collect()),
            _ => inputs::value(rng, 3, 5),
        };
        let b = if rng.chance(90) { inputs::mutate(rng, &a) } else { inputs::value(rng, 2, 4) };
        let (a, b) = if rng.chance(50) { (a, b) } else { (b, a) };
        cases.push(assertion("assertEqual", vec![a.clone(), b.clone()], msg(rng)));
        if i % 5 == 0 {
            cases.push(assertion("assertNotEqual", vec![a, b], msg(rng)));
        }
    }
    // Beyond _diffThreshold, strings are compared without a diff.
    let huge = "y".repeat(70_000);
    cases.push(assertion("assertEqual", vec![json!(huge.clone()), json!(format!("{huge}z"))], None));

    for _ in 0..300 {
        let v = if rng.chance(30) { inputs::value(rng, 2, 2) } else { inputs::scalar(rng) };
        for op in ["assertTrue", "assertFalse", "assertIsNone", "assertIsNotNone"] {
            cases.push(assertion(op, vec![v.clone()], msg(rng)));
        }
    }

    for _ in 0..600 {
        let container = match rng.below(4) {
            0 => inputs::value(rng, 2, 5),
            1 => Value::Array((0..rng.below(5)).map(|_| inputs::scalar(rng)).collect()),
            2 => json!(inputs::sentence(rng, 5)),
            _ => Value::Object((0..rng.below(5)).map(|_| (inputs::word(rng), inputs::scalar(rng))).collect()),
        };
        let member = match (&container, rng.below(3)) {
            (Value::Array(items), 0) if !items.is_empty() => {
                let item = rng.pick(items).clone();
                inputs::mutate(rng, &item)
            }
            (Value::Object(map), 0) if !map.is_empty() => json!(map.keys().nth(rng.below(map.len()))),
            (Value::String(s), 0) if !s.is_empty() => {
                let chars: Vec<char> = s.chars().collect();
                let start = rng.below(chars.len());
                json!(chars[start..start + rng.below(chars.len() - start + 1)].iter().collect::<String>())
            }
            (_, 1) => json!(inputs::word(rng)),
            _ => inputs::value(rng, 1, 2),
        };
        let op = if rng.chance(50) { "assertIn" } else { "assertNotIn" };
        cases.push(assertion(op, vec![member, container], msg(rng)));
    }

    for _ in 0..400 {
        let (a, b) = match rng.below(5) {
            0 => (inputs::scalar(rng), inputs::scalar(rng)),
            1 => (json!(inputs::word(rng)), json!(inputs::word(rng))),
            2 => {
                let a = Value::Array((0..rng.below(4)).map(|_| inputs::scalar(rng)).collect());
                let b = inputs::mutate(rng, &a);
                (a, b)
            }
            _ => (number(&inputs::int_text(rng)), number(&inputs::float_text(rng))),
        };
        let op = *rng.pick(&["assertGreater", "assertGreaterEqual", "assertLess", "assertLessEqual"]);
        cases.push(assertion(op, vec![a, b], msg(rng)));
    }

    for _ in 0..600 {
        let a = number(&inputs::float_text(rng));
        let b = match rng.below(6) {
            0 => number(&inputs::int_text(rng)),
            1 => inputs::scalar(rng),
            2 => number(&format!("{}e-{}", 1 + rng.below(9), rng.below(12))),
            _ => {
                let base: f64 = a.to_string().parse().unwrap_or(0.0);
                let step = [1e-9, 4e-8, 5e-8, 6e-8, 1e-7, 0.3, 0.5, 1.5, 2.5, 0.004, 0.006][rng.below(11)];
                let f = base + if rng.chance(50) { step } else { -step };
                if f.is_finite() { number(&py_float_repr(f)) } else { number("0.5") }
            }
        };
        let mut kw = serde_json::Map::new();
        match rng.below(5) {
            0 => {
                kw.insert("places".into(), json!(*rng.pick(&[0, 1, 2, 3, 7, 10, -1, -2, 400])));
            }
            1 => {
                let deltas = ["0.5", "1", "0", "1e-9", "100", "-1", "2.5"];
                let delta = *rng.pick(&deltas);
                kw.insert("delta".into(), number(delta));
            }
            2 if rng.chance(10) => {
                kw.insert("delta".into(), json!("x"));
            }
            3 if rng.chance(10) => {
                kw.insert("places".into(), json!(2));
                kw.insert("delta".into(), json!(1));
            }
            _ => {}
        }
        if let Some(m) = msg(rng) {
            kw.insert("msg".into(), json!(m));
        }
        let (a, b) = if rng.chance(50) { (a, b) } else { (b, a) };
        cases.push(json!({"op": "assertAlmostEqual", "args": [a, b], "kw": kw}));
    }

    for _ in 0..300 {
        let singletons = [Value::Null, json!(true), json!(false)];
        let a = if rng.chance(60) { rng.pick(&singletons).clone() } else { inputs::scalar(rng) };
        // Identity is defined (and ported) where one side is a singleton.
        let b = if rng.chance(60) || !(a.is_null() || a.is_boolean()) {
            rng.pick(&singletons).clone()
        } else {
            inputs::scalar(rng)
        };
        let op = if rng.chance(50) { "assertIs" } else { "assertIsNot" };
        cases.push(assertion(op, vec![a, b], msg(rng)));
    }

    let patterns = [
        r"drive\d",
        "^a",
        "b$",
        "x|y",
        "[a-c]+",
        "ready$",
        r"\s",
        "é",
        "o.e",
        "^$",
        r"\.",
        "running|ready",
        "^(ab)+$",
        r"\d+",
        r"\n",
        "s$",
        "",
        "a{2,}",
        "[^a-z]",
        r"\w+-\w+",
        "(?i)A",
        r"[\s,]+",
        r"\S+$",
        r"[^\S]",
        r"o\Z",
        "[]a]",
        r"\s\w",
    ];
    for _ in 0..500 {
        let mut text = inputs::sentence(rng, 6);
        if rng.chance(30) {
            text.push('\n');
        }
        let pattern = *rng.pick(&patterns);
        let op = if rng.chance(50) { "assertRegex" } else { "assertNotRegex" };
        cases.push(assertion(op, vec![json!(text), json!(pattern)], msg(rng)));
    }

    for _ in 0..500 {
        let pool = [json!(1), json!(1.0), json!(true), json!(0), json!(false), json!("a"), json!("b"), Value::Null];
        let (a, b) = match rng.below(5) {
            0 | 1 => {
                let a: Vec<Value> = (0..rng.below(6)).map(|_| rng.pick(&pool).clone()).collect();
                let b: Vec<Value> = (0..rng.below(6)).map(|_| rng.pick(&pool).clone()).collect();
                (json!(a), json!(b))
            }
            2 => {
                let a: Vec<Value> = (0..rng.below(5)).map(|_| inputs::value(rng, 2, 2)).collect();
                let mut b = a.clone();
                b.reverse();
                (json!(a), inputs::mutate(rng, &json!(b)))
            }
            3 => (json!(inputs::word(rng)), json!(inputs::word(rng))),
            _ => (inputs::value(rng, 2, 40), inputs::value(rng, 2, 40)),
        };
        cases.push(assertion("assertCountEqual", vec![a, b], msg(rng)));
    }
    cases
}

/// What the inputs must reach, judged on Python's answers, so that the
/// comparison stays meaningful when the generators change.
type Reached = fn(&Value, &Value) -> bool;
const COVERAGE: [(&str, Reached); 12] = [
    ("a failed assertEqual of dicts with ? hint lines", |c, a| {
        c["op"] == "assertEqual" && c["args"][0].is_object() && fail(a).contains("\n? ")
    }),
    ("a failed assertEqual of lists with ? hint lines", |c, a| {
        c["op"] == "assertEqual" && c["args"][0].is_array() && fail(a).contains("\n? ")
    }),
    ("a multi-line string diff", |c, a| {
        c["op"] == "assertEqual" && c["args"][0].is_string() && fail(a).contains("\n- ")
    }),
    ("maxDiff truncation", |_, a| fail(a).contains("\nDiff is ")),
    ("a shortened repr", |_, a| fail(a).contains(" chars]")),
    ("First differing element", |_, a| fail(a).contains("\nFirst differing element ")),
    ("additional elements", |_, a| fail(a).contains(" additional elements.\n")),
    ("a caller's message", |c, a| c["kw"]["msg"].is_string() && !fail(a).is_empty()),
    ("an exception other than AssertionError", |_, a| a["error"].is_string()),
    ("a wrapped top-level string", |_, a| a["text"].as_str().is_some_and(|t| t.starts_with("('"))),
    ("pformat across lines", |_, a| a["text"].as_str().is_some_and(|t| t.lines().count() > 5)),
    ("ndiff ? lines", |c, a| {
        c["op"] == "ndiff"
            && a["lines"].as_array().is_some_and(|l| l.iter().any(|x| x.as_str().is_some_and(|x| x.starts_with("? "))))
    }),
];

fn fail(answer: &Value) -> &str {
    answer["fail"].as_str().unwrap_or_default()
}

fn outcome(result: Outcome) -> Option<Value> {
    match result {
        Ok(None) => Some(json!({"ok": null})),
        Ok(Some(text)) => Some(json!({"fail": text})),
        Err(e @ PyError::Exception { .. }) => Some(json!({"error": e.to_string()})),
        Err(PyError::Unsupported(_)) => None,
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().map(|items| items.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

fn matcher<T: Eq + std::hash::Hash>(a: &[T], b: &[T], junk: Option<fn(&T) -> bool>, autojunk: bool) -> Value {
    let mut s = SequenceMatcher::new(junk, a, b, autojunk);
    let blocks: Vec<_> = s.get_matching_blocks().iter().map(|m| json!([m.a, m.b, m.size])).collect();
    let opcodes: Vec<_> = s.get_opcodes().iter().map(|o| json!([o.tag.as_str(), o.i1, o.i2, o.j1, o.j2])).collect();
    let ratios = [py_float_repr(s.ratio()), py_float_repr(s.quick_ratio()), py_float_repr(s.real_quick_ratio())];
    json!({"blocks": blocks, "opcodes": opcodes, "ratios": ratios})
}

/// The Rust answer to a case, shaped as the script's; `None` where the
/// Rust side declares the case unsupported.
fn answer(case: &Value) -> Option<Value> {
    let op = case["op"].as_str().unwrap_or_default();
    let args = case["args"].as_array().map(Vec::as_slice).unwrap_or_default();
    let arg = |i: usize| args.get(i).unwrap_or(&Value::Null);
    let kw = &case["kw"];
    let msg = kw["msg"].as_str();
    let plain = |r: Option<String>| outcome(Ok(r));
    match op {
        "pformat" => Some(json!({"text": pformat(&case["a"])})),
        "ndiff" => Some(json!({"lines": ndiff(&strings(&case["a"]), &strings(&case["b"]))})),
        "matcher" => {
            let autojunk = case["autojunk"] == json!(true);
            Some(match (&case["a"], &case["b"]) {
                (Value::String(a), Value::String(b)) => {
                    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
                    let junk = (case["junk"] == json!(true)).then_some(is_character_junk as fn(&char) -> bool);
                    matcher(&a, &b, junk, autojunk)
                }
                (a, b) => matcher(&strings(a), &strings(b), None, autojunk),
            })
        }
        "assertEqual" => plain(ut::assert_equal(arg(0), arg(1), msg)),
        "assertNotEqual" => plain(ut::assert_not_equal(arg(0), arg(1), msg)),
        "assertTrue" => plain(ut::assert_true(arg(0), msg)),
        "assertFalse" => plain(ut::assert_false(arg(0), msg)),
        "assertIsNone" => plain(ut::assert_is_none(arg(0), msg)),
        "assertIsNotNone" => plain(ut::assert_is_not_none(arg(0), msg)),
        "assertIn" => outcome(ut::assert_in(arg(0), arg(1), msg)),
        "assertNotIn" => outcome(ut::assert_not_in(arg(0), arg(1), msg)),
        "assertGreater" => outcome(ut::assert_greater(arg(0), arg(1), msg)),
        "assertGreaterEqual" => outcome(ut::assert_greater_equal(arg(0), arg(1), msg)),
        "assertLess" => outcome(ut::assert_less(arg(0), arg(1), msg)),
        "assertLessEqual" => outcome(ut::assert_less_equal(arg(0), arg(1), msg)),
        "assertAlmostEqual" => {
            let places = kw["places"].as_i64().map(|p| p as i32);
            let delta = kw.get("delta");
            outcome(ut::assert_almost_equal(arg(0), arg(1), places, delta, msg))
        }
        "assertIs" => outcome(ut::assert_is(arg(0), arg(1), msg)),
        "assertIsNot" => outcome(ut::assert_is_not(arg(0), arg(1), msg)),
        "assertRegex" => outcome(ut::assert_regex(arg(0).as_str()?, arg(1).as_str()?, msg)),
        "assertNotRegex" => outcome(ut::assert_not_regex(arg(0).as_str()?, arg(1).as_str()?, msg)),
        "assertCountEqual" => outcome(ut::assert_count_equal(arg(0), arg(1), msg)),
        other => panic!("unknown case op {other}"),
    }
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
    let cases = cases();
    let input: String = cases.iter().map(|c| format!("{c}\n")).collect();
    // The Rust answers are worked out while python3 works out its own.
    let (answers, stdout) = std::thread::scope(|scope| {
        let rust = scope.spawn(|| cases.iter().map(answer).collect::<Vec<_>>());
        let python = run_python(SCRIPT, input);
        (rust.join().expect("rust answers"), python)
    });
    let Some(stdout) = stdout else { return };
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), cases.len(), "python3 answered a different number of lines");

    let (mut compared, mut unsupported) = (std::collections::BTreeMap::<&str, usize>::new(), 0);
    let mut covered = [0usize; COVERAGE.len()];
    let mut mismatches = Vec::new();
    for ((case, line), got) in cases.iter().zip(&lines).zip(answers) {
        let want: Value = serde_json::from_str(line).expect("python3 answer line");
        for (n, (_, reached)) in covered.iter_mut().zip(COVERAGE) {
            *n += usize::from(reached(case, &want));
        }
        let Some(got) = got else {
            unsupported += 1;
            continue;
        };
        *compared.entry(case["op"].as_str().unwrap_or_default()).or_default() += 1;
        if got != want {
            mismatches.push(format!("{case}\n  python: {want}\n  rust:   {got}"));
        }
    }
    if !mismatches.is_empty() {
        let first = mismatches.iter().take(8).map(String::as_str).collect::<Vec<_>>().join("\n");
        panic!("{} mismatches in {} cases; first ones:\n{first}", mismatches.len(), cases.len());
    }
    for (n, (what, _)) in covered.iter().zip(COVERAGE) {
        assert!(*n >= 10, "only {n} cases reach {what}: the inputs need more variety");
    }
    let total: usize = compared.values().sum();
    assert!(total > 5000 && unsupported < 50, "{total} cases compared, {unsupported} unsupported");
    println!("compared {total} cases with python3 ({unsupported} unsupported): {compared:?}");
    let reached: Vec<String> = covered.iter().zip(COVERAGE).map(|(n, (what, _))| format!("{what}: {n}")).collect();
    println!("reached: {}", reached.join(", "));
}
