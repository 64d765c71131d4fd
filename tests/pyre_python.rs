//! `filters::PyRegex` against Python's own `re`, differentially: generated
//! patterns (random mixes of the constructs Python and the `regex` crate
//! read differently, and ordinary path characters) and generated messages,
//! `re.sub(pattern, repl, msg)` for a few replacements, all in one python3
//! process. Prints `not run: python3 not found` and passes without python3.
//!
//! For every pattern:
//! * Python compiles it and we translate it: every substitution must give
//!   Python's text;
//! * Python rejects it: we must reject it too (`Invalid`, or
//!   `Untranslatable` for constructs we refuse before Python's compiler
//!   would complain about them);
//! * Python compiles it and we refuse it as `Untranslatable`: allowed only
//!   for the constructs documented as such, and counted.

use std::io::Write;
use std::process::{Command, Stdio};

use iotests::filters::{PyReError, PyRegex};
use serde_json::{Value, json};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Pieces of patterns: what means something else to the `regex` crate, and
/// what a path has.
const TRICKY: &[&str] = &[
    "$",
    "^",
    r"\A",
    r"\Z",
    r"\z",
    r"\b",
    r"\B",
    r"\w",
    r"\W",
    r"\s",
    r"\S",
    r"\d",
    r"\D",
    "[[:alpha:]]",
    "[a[b]]",
    "[a&&b]",
    "[a~~b]",
    "[a--b]",
    "[a||b]",
    r"\<",
    r"\>",
    "x{ 2}",
    "{,3}",
    "a{,2}",
    "a{2}",
    "x{2,}",
    "b{1,2}?",
    "{",
    "}",
    "{}",
    "a{",
    "(?m)",
    "(?s)",
    "(?x)",
    "(?a)",
    "(?i)",
    "(?a:\\w)",
    "(?i:a)",
    "(?ai:k)",
    "(?ai:[a-z])",
    "(?i:1)",
    "(?m:^)",
    "(?m:$)",
    "(?s:.)",
    "(?-s:.)",
    "(?x: a )",
    "|",
    "|a",
    "(",
    ")",
    "(?:",
    "()",
    "*",
    "+",
    "?",
    "*?",
    "??",
    "+?",
    "*+",
    ".",
    r"\.",
    r"\n",
    "\n",
    "[^a]",
    r"[^\n]",
    r"[\w-]",
    r"[\d.]",
    "[-a]",
    "[a-]",
    "[]a]",
    "[^]a]",
    r"[\b]",
    r"[\s\S]",
    "[é-ü]",
    "[^/]",
    r"\x41",
    r"\101",
    r"\0",
    r"\u00e9",
    r"\U0001F600",
    r"\e",
    r"\q",
    "(?P<n>a)",
    "(?=a)",
    r"\1",
    "(?>a)",
    "[z-a]",
    "a**",
    "x*?",
    "(?:x*)*",
    "(?:|a)*",
    "(a|)*",
    "(?:a?)+",
    "(?#c)",
    " ",
    "#",
    "\\",
    r"\\",
    r"\$",
    r"\^",
    r"\[",
    r"\]",
    r"\{",
    r"\ ",
    r"\-",
    r"\/",
    r"\é",
    "\t",
    "(?u)",
    "(?L)",
    "(?i-s:a)",
    "(?-i:a)",
    "[\\d-z]",
    r"[\w-\d]",
    "[a-\\d]",
    r"\N{DIGIT ONE}",
    "a|b|",
    "(?:a|ab)(?:c|bcd)",
    "(?:a|ab)",
    "(?:ab|a)",
    "a??",
    "(?:a*?)+",
    "(?:a|b)*?",
    "(a*)+",
    "(?:x|)",
    "(?:|x)?",
    "(?:a?b?)*",
    "(?:a|b|)*",
    "(?i:[a-z])",
    "(?i)k",
    "(?i:ſ)",
    "(?i:[^k])",
    "(?i:İ)",
    r"(?i:[\w])",
    r"(?i:\U00010400)",
    r"(?i:[\U00010400x])",
    "(?i:ß)",
    "(?i:[À-Þ])",
    "(?i:[^ǅ])",
    "(?i:µ)",
    r"(?i:[\W\d])",
    "(?i:[k-m])",
    r"(?i:[\u0100-\u017f])",
    r"(?ai:[\U00010400-\U00010427])",
    r"(?ai:[-\U00010400])",
    r"(?ai:[k\U00010400])",
    "(?i:[ǅ-ǈ])",
    r"(?i)[^\W\d]",
    "(?:|a){2,3}",
    "(?:a??){0,3}b",
    "(?:b|a*)*",
    ".*",
    ".*?",
    "[ab]*b",
    "(?:a|)+?",
    "(?:(?:a|)b?)*",
];

const PATH: &[&str] = &["/tmp/", "/", "iotests", "-", "_", "x", "a", "b", "1", "é", ".", "scratch", "k", "A", "ab"];

/// Pieces of messages.
const TEXT: &[&str] = &[
    "a",
    "b",
    "x",
    "xx",
    "\n",
    " ",
    "/tmp/",
    "é",
    "e\u{301}",
    "²",
    "_",
    "1",
    "٣",
    "\u{a0}",
    "\u{1c}",
    "[",
    "]",
    ":",
    "&",
    "~",
    "-",
    "<",
    ">",
    "{",
    "}",
    ",",
    "A",
    "K",
    "k",
    "\u{212a}",
    "ſ",
    "\u{130}",
    ".",
    "$",
    "\\",
    "alpha",
    "\t",
    "\r",
    "ab",
    "abc",
    "scratch",
    "iotests",
    "😀",
    "‿",
    "\u{200d}",
    "Ⅻ",
    "ǅ",
    "ß",
    "ẞ",
    "\u{10428}",
    "\u{10400}",
    "ı",
    "σς Σ",
    "Ǆǆ",
    "µ",
    "Μ",
    "Ā",
    "ſ",
    "Ω",
    "ω",
    "Å",
    "Z",
    "M",
];

fn pattern(rng: &mut Rng) -> String {
    let mut p = String::new();
    for _ in 0..1 + rng.below(6) {
        let piece = if rng.below(5) < 3 { rng.pick(TRICKY) } else { rng.pick(PATH) };
        p.push_str(piece);
    }
    p
}

fn messages(rng: &mut Rng, pattern: &str) -> Vec<String> {
    let mut out = vec![String::new(), pattern.to_string()];
    for _ in 0..5 {
        let mut m = String::new();
        for _ in 0..rng.below(8) {
            match rng.below(6) {
                // Pieces of the pattern itself, so that it often matches.
                0 => {
                    let chars: Vec<char> = pattern.chars().collect();
                    if !chars.is_empty() {
                        let from = rng.below(chars.len());
                        let to = from + rng.below(chars.len() - from + 1);
                        m.extend(&chars[from..to]);
                    }
                }
                _ => m.push_str(rng.pick(TEXT)),
            }
        }
        out.push(m);
    }
    out
}

const REPLACEMENTS: &[&str] = &["TEST_DIR", "", "$1", "-é-"];

const PY: &str = r#"
import json, re, sys, warnings
warnings.simplefilter("ignore")
out = []
for pattern, msgs in json.load(sys.stdin):
    try:
        rx = re.compile(pattern)
    except Exception as e:
        out.append({"error": "%s: %s" % (type(e).__name__, e)})
        continue
    out.append({"subs": [[rx.sub(r, m) for r in REPLACEMENTS] for m in msgs]})
json.dump(out, sys.stdout)
"#;

fn python(cases: &[(String, Vec<String>)]) -> Option<Vec<Value>> {
    let script = PY.replace("REPLACEMENTS", &serde_json::to_string(REPLACEMENTS).expect("json"));
    let child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        println!("not run: python3 not found");
        return None;
    };
    let input = serde_json::to_vec(&cases.iter().map(|(p, m)| json!([p, m])).collect::<Vec<_>>()).expect("json");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("python3 runs");
    writer.join().expect("writer").expect("write to python3");
    assert!(out.status.success(), "python3 failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(serde_json::from_slice(&out.stdout).expect("python3 printed JSON"))
}

/// What the module docs list as untranslatable.
const DOCUMENTED: &[&str] = &[
    "lookahead",
    "lookbehind",
    "backreference",
    "conditional",
    "atomic",
    "possessive",
    "\\N{",
    "group name",
    "case-insensitive",
    "greedy repeat of a group that can match empty",
    "too large",
];

#[test]
fn pyregex_sub_is_python_re_sub() {
    // IOTESTS_PYRE_CASES and IOTESTS_PYRE_SEED run more, or other, cases.
    let count: usize = std::env::var("IOTESTS_PYRE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(4000);
    let seed: u64 =
        std::env::var("IOTESTS_PYRE_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x2545_f491_4f6c_dd1d);
    let mut rng = Rng(seed | 1);
    let mut cases: Vec<(String, Vec<String>)> = Vec::new();
    // The brief's and the docs' examples first, then generated ones.
    for p in ["|a", "x*?", "x*", "", "a$", "$", r"\b", r"\B", "(?a)\\B", "[[:alpha:]]", r"\<x\>", "/tmp/a.b"] {
        cases.push((p.to_string(), messages(&mut rng, p)));
    }
    while cases.len() < count {
        let p = pattern(&mut rng);
        let m = messages(&mut rng, &p);
        cases.push((p, m));
    }
    let Some(want) = python(&cases) else { return };
    assert_eq!(want.len(), cases.len());
    let (mut translated, mut rejected_both, mut refused) = (0, 0, Vec::new());
    let mut failures = Vec::new();
    for ((pattern, msgs), want) in cases.iter().zip(&want) {
        let ours = PyRegex::new(pattern);
        match (want.get("error"), ours) {
            (None, Ok(re)) => {
                translated += 1;
                let subs = want["subs"].as_array().expect("subs");
                for (msg, wants) in msgs.iter().zip(subs) {
                    for (repl, w) in REPLACEMENTS.iter().zip(wants.as_array().expect("list")) {
                        let got = re.sub(msg, repl);
                        if Some(got.as_str()) != w.as_str() {
                            failures.push(format!(
                                "re.sub({pattern:?}, {repl:?}, {msg:?}): python {w}, ours {got:?} (as {:?})",
                                re.translated()
                            ));
                        }
                    }
                }
            }
            (Some(_), Err(_)) => rejected_both += 1,
            (Some(err), Ok(re)) => {
                failures.push(format!("{pattern:?}: python: {err}; ours translated it to {:?}", re.translated()))
            }
            (None, Err(PyReError::Invalid(e))) => failures.push(format!("{pattern:?}: valid in python, ours: {e}")),
            (None, Err(PyReError::Untranslatable(why))) => {
                if !DOCUMENTED.iter().any(|d| why.contains(d)) {
                    failures.push(format!("{pattern:?}: refused for an undocumented reason: {why}"));
                }
                refused.push(why);
            }
        }
    }
    println!(
        "{} patterns: {translated} translated (all substitutions equal), {rejected_both} rejected by both, {} valid but refused",
        cases.len(),
        refused.len()
    );
    assert!(
        failures.is_empty(),
        "{} differences from python:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
    assert!(translated * 2 > cases.len(), "too few patterns translated: {translated}");
    assert!(refused.len() * 5 < translated, "too many refused: {}", refused.len());
}

/// `re.I` on every cased character, as a literal and in a set: what each
/// matches among all cased characters (Python's case tables against ours).
#[test]
fn ignorecase_matches_what_python_matches() {
    const PY: &str = r#"
import _sre, json, re, sys
cased = [c for c in range(0x110000) if _sre.unicode_iscased(c)]
text = "".join(map(chr, cased)) + "-"
out = []
for c in cased:
    for p in ("(?i)\\U%08x" % c, "(?i)[\\-\\U%08x]" % c):
        out.append([p, [m.start() for m in re.finditer(p, text)]])
json.dump([text, out], sys.stdout)
"#;
    let out = Command::new("python3").arg("-c").arg(PY).output();
    let Ok(out) = out else {
        println!("not run: python3 not found");
        return;
    };
    assert!(out.status.success(), "python3 failed: {}", String::from_utf8_lossy(&out.stderr));
    let (text, cases): (String, Vec<(String, Vec<usize>)>) = serde_json::from_slice(&out.stdout).expect("json");
    // Python gives code point offsets; ours are bytes.
    let offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let mut failures = Vec::new();
    for (pattern, want) in &cases {
        let want: Vec<usize> = want.iter().map(|&i| offsets[i]).collect();
        let got: Vec<usize> = match PyRegex::new(pattern) {
            Ok(re) => {
                std::iter::successors(re.find_at(&text, 0), |m| re.find_at(&text, m.end)).map(|m| m.start).collect()
            }
            // A non-BMP range is refused; a single character is no range.
            Err(e) => {
                failures.push(format!("{pattern}: {e}"));
                continue;
            }
        };
        if got != want {
            failures.push(format!("{pattern}: python matches at {want:?}, ours at {got:?}"));
        }
    }
    assert!(cases.len() > 5000);
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures[..failures.len().min(20)].join("\n"));
}

/// Patterns with groups, for [`pyregex_sub_template_is_python_re_sub`]:
/// numbered and named, nested, optional, repeated, in alternatives.
const GROUPED: &[&str] = &[
    "(a)",
    "(x*)",
    "(?P<n>b)",
    "(a|b)",
    "(?:(a)|b)*",
    "(?:(a)|(b))+",
    "((a)b)",
    "(a)?",
    r"(\w+)",
    "(.)",
    "(a*?)",
    r"(?P<name>\d+)",
    "(é|ab)",
    "()",
    "(|a)",
    "(a)(b)?(c)?",
    "(?P<x>a)|(?P<y>b)",
    r"(\s)$",
    r"\b(\w)",
    "(?i:(k))",
    "(a){2}",
    "(a|ab)(c|bcd)(d*)",
    "(?:x(y)?)*",
];

/// Group references in replacement templates (one to a group the pattern
/// lacks is an error).
const TEMPLATE_REFS: &[&str] = &[
    r"\1",
    r"\2",
    r"\3",
    r"\g<1>",
    r"\g<2>",
    r"\g<n>",
    r"\g<name>",
    r"\g<x>",
    r"\g<y>",
    r"\g<nope>",
    r"\18",
    r"\8",
    r"\10",
    r"\g< 1>",
    r"\g<+1>",
    r"\g<1_0>",
    r"\g<٣>",
];

/// Other pieces of templates: escapes, the whole match, plain text.
const TEMPLATE: &[&str] = &[
    r"\g<0>", r"\0", r"\01", r"\012", r"\0123", r"\101", r"\400", r"\n", r"\t", r"\a", r"\\", r"\-", r"\é", r"\<",
    r"\g<-0>", r"\g<0_1>", "a", "$1", "é", ">", "<", "-", "",
];

/// Pieces that make a template an error, whatever the pattern.
const BAD_TEMPLATE: &[&str] = &[
    r"\q",
    r"\g",
    r"\g<",
    r"\g<>",
    r"\g<1",
    r"\g<-1>",
    r"\g<1__0>",
    r"\g<x y>",
    r"\g<a\b>",
    r"\g<99999999999>",
    r"\g<1073741823>",
    r"\g<é>",
    "\\",
];

const PY_TEMPLATE: &str = r#"
import json, re, sys, warnings
warnings.simplefilter("ignore")

def sub(rx, t, m):
    try:
        return rx.sub(t, m)
    except re.error as e:
        return {"error": e.msg}
    except IndexError as e:
        return {"error": str(e)}

out = []
for pattern, templates, msgs in json.load(sys.stdin):
    try:
        rx = re.compile(pattern)
    except Exception as e:
        out.append({"error": "%s: %s" % (type(e).__name__, e)})
        continue
    out.append({"subs": [[sub(rx, t, m) for t in templates] for m in msgs]})
json.dump(out, sys.stdout)
"#;

#[test]
fn pyregex_sub_template_is_python_re_sub() {
    let count: usize = std::env::var("IOTESTS_PYRE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1500);
    let mut rng = Rng(0x5eed_7e3b_1a7e_0001);
    let mut cases: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    let template = |rng: &mut Rng| -> String {
        let mut t = String::new();
        for _ in 0..1 + rng.below(3) {
            t.push_str(if rng.below(3) == 0 { rng.pick(TEMPLATE_REFS) } else { rng.pick(TEMPLATE) });
        }
        if rng.below(8) == 0 {
            t.push_str(rng.pick(BAD_TEMPLATE));
        }
        t
    };
    // The example of the docs and 207's filter first.
    let p207 = r"\S+ (key fingerprint) '(md5|sha1|sha256):[0-9a-f]+'";
    let m207 = vec!["ssh-ed25519 key fingerprint 'sha256:0a1b2c' x".to_string(), String::new()];
    cases.push((p207.to_string(), vec![r"\1 '\2:HASH'".to_string()], m207));
    while cases.len() < count {
        let mut p = String::new();
        for _ in 0..1 + rng.below(3) {
            match rng.below(3) {
                0 => p.push_str(&pattern(&mut rng)),
                _ => p.push_str(rng.pick(GROUPED)),
            }
        }
        let templates: Vec<String> = (0..4).map(|_| template(&mut rng)).collect();
        let m = messages(&mut rng, &p);
        cases.push((p, templates, m));
    }
    let child = Command::new("python3")
        .arg("-c")
        .arg(PY_TEMPLATE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        println!("not run: python3 not found");
        return;
    };
    let input = serde_json::to_vec(&cases.iter().map(|(p, t, m)| json!([p, t, m])).collect::<Vec<_>>()).expect("json");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("python3 runs");
    writer.join().expect("writer").expect("write to python3");
    assert!(out.status.success(), "python3 failed: {}", String::from_utf8_lossy(&out.stderr));
    let want: Vec<Value> = serde_json::from_slice(&out.stdout).expect("python3 printed JSON");

    let (mut compared, mut errors, mut refused) = (0, 0, 0);
    let mut failures = Vec::new();
    for ((pattern, templates, msgs), want) in cases.iter().zip(&want) {
        let re = match (want.get("error"), PyRegex::new(pattern)) {
            (None, Ok(re)) => re,
            (None, Err(PyReError::Untranslatable(_))) => {
                refused += 1;
                continue;
            }
            (Some(_), Err(_)) => continue,
            (w, ours) => {
                failures.push(format!("{pattern:?}: python {w:?}, ours {:?}", ours.map(|r| r.translated().to_owned())));
                continue;
            }
        };
        for (msg, wants) in msgs.iter().zip(want["subs"].as_array().expect("subs")) {
            for (t, w) in templates.iter().zip(wants.as_array().expect("list")) {
                let got = match re.sub_template(msg, t) {
                    Ok(s) => json!(s),
                    Err(PyReError::Invalid(e)) => json!({ "error": e }),
                    Err(e) => json!({ "refused": e.to_string() }),
                };
                compared += 1;
                errors += usize::from(w.get("error").is_some());
                if &got != w {
                    failures.push(format!(
                        "re.sub({pattern:?}, {t:?}, {msg:?}): python {w}, ours {got} (as {:?})",
                        re.translated()
                    ));
                }
            }
        }
    }
    println!("{compared} substitutions compared ({errors} errors), {refused} patterns refused");
    assert!(
        failures.is_empty(),
        "{} differences from python:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
    assert!(
        compared > 10 * count && errors * 10 > compared && errors * 2 < compared,
        "too few substitutions, or errors, compared: {compared} ({errors} errors)"
    );
}
