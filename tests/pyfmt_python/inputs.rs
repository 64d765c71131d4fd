//! Pseudo-random inputs for the pyfmt differential tests: JSON values
//! shaped to reach pprint's wrapping, ndiff's hint lines and fancy
//! replacements, unittest's shortened reprs and maxDiff truncation.

use serde_json::{Map, Number, Value};

/// splitmix64: tiny, seedable and good enough to vary test inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

pub fn number(text: &str) -> Value {
    let n: Number = serde_json::from_str(text).unwrap_or_else(|e| panic!("generated bad number {text:?}: {e}"));
    Value::Number(n)
}

/// Words, QMP-like names and the characters that make reprs interesting:
/// quotes, backslashes, escapes, non-ASCII printable and not, whitespace
/// `str.isspace()` knows beyond ASCII.
const WORDS: &[&str] = &[
    "drive0",
    "node",
    "a",
    "b",
    "ab",
    "abc",
    "abd",
    "status",
    "running",
    "ready",
    "null",
    "qcow2",
    "raw",
    "size",
    "x",
    "y",
    "foo",
    "bar",
    "job-id",
    "été",
    "日本語",
    "😀",
    "it's",
    "say \"hi\"",
    "both'\"",
    "back\\slash",
    "tab\there",
    "nl\nline",
    "cr\rx",
    "nbsp\u{a0}x",
    "nel\u{85}y",
    "ls\u{2028}z",
    "\u{1}ctl",
    "del\u{7f}",
    "zw\u{200b}j",
    "\u{ad}soft",
    "wide\u{3000}space",
    "fs\u{1c}gs\u{1d}",
    "us\u{1f}x",
    "vt\u{b}ff\u{c}",
];

pub fn word(rng: &mut Rng) -> String {
    if rng.chance(70) {
        // Plain ASCII words dominate, so that similar strings are common.
        let len = 1 + rng.below(8);
        return (0..len).map(|_| *rng.pick(&['a', 'b', 'c', 'd', 'e', 'o', 'r', 's', 't', '-', '_', '0'])).collect();
    }
    rng.pick(WORDS).to_string()
}

/// Words joined by whitespace, up to a few hundred characters.
pub fn sentence(rng: &mut Rng, max_words: usize) -> String {
    let n = 1 + rng.below(max_words);
    let mut s = String::new();
    for i in 0..n {
        if i > 0 || rng.chance(5) {
            let separators = [" ", " ", " ", " ", "  ", "\t", " \u{a0}", "\n", "\u{3000}"];
            let separator = *rng.pick(&separators);
            s.push_str(separator);
        }
        s.push_str(&word(rng));
    }
    if rng.chance(10) {
        s.push(' ');
    }
    s
}

pub fn string(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=3 => word(rng),
        4..=6 => sentence(rng, 25),
        7 => String::new(),
        8 => "x".repeat(rng.below(120)),
        _ => (0..1 + rng.below(4)).map(|_| sentence(rng, 6)).collect::<Vec<_>>().join("\n"),
    }
}

pub fn int_text(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 | 1 => (rng.below(2001) as i64 - 1000).to_string(),
        2 => rng.below(10).to_string(),
        3 => (rng.next() as i64).to_string(),
        _ => rng
            .pick(&[
                "0",
                "-0",
                "1",
                "65536",
                "1073741824",
                "18446744073709551615",
                "9007199254740993",
                "123456789012345678901234567890",
                "-9223372036854775808",
            ])
            .to_string(),
    }
}

pub fn float_text(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!("{}.{}", rng.below(2001) as i64 - 1000, rng.below(1000)),
        1 => format!("{}e{}", 1 + rng.below(99), rng.below(60) as i64 - 30),
        _ => rng
            .pick(&[
                "0.0",
                "-0.0",
                "1.0",
                "1.5",
                "0.1",
                "2.5",
                "1e16",
                "1e-7",
                "1.5e300",
                "1e400",
                "-1e400",
                "3.141592653589793",
                "100.0",
                "9007199254740992.0",
                "0.30000000000000004",
                "5e-324",
                "1.7976931348623157e308",
                "65536.0",
            ])
            .to_string(),
    }
}

pub fn scalar(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 | 3 => number(&int_text(rng)),
        4 => number(&float_text(rng)),
        _ => Value::String(string(rng)),
    }
}

pub fn key(rng: &mut Rng) -> String {
    if rng.chance(80) { word(rng) } else { string(rng) }
}

/// A value nested up to `depth` levels, with containers of up to `width`
/// items.
pub fn value(rng: &mut Rng, depth: usize, width: usize) -> Value {
    if depth == 0 || rng.chance(35) {
        return scalar(rng);
    }
    if rng.chance(50) {
        let mut map = Map::new();
        for _ in 0..rng.below(width + 1) {
            map.insert(key(rng), value(rng, depth - 1, width));
        }
        Value::Object(map)
    } else {
        Value::Array((0..rng.below(width + 1)).map(|_| value(rng, depth - 1, width)).collect())
    }
}

/// A string like `s` with one small edit.
pub fn edit_string(rng: &mut Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let at = rng.below(chars.len() + 1);
    match rng.below(5) {
        0 if at < chars.len() => {
            chars.remove(at);
        }
        1 if at < chars.len() => chars[at] = *rng.pick(&['x', 'Z', ' ', '\'', 'é', '\t']),
        2 => chars.splice(at..at, word(rng).chars()).for_each(drop),
        3 => chars.splice(at..at, [' ']).for_each(drop),
        _ => chars.push(*rng.pick(&['s', '!', '\n'])),
    }
    chars.into_iter().collect()
}

/// A value like `v` with one small change somewhere, or (sometimes) one
/// that Python considers equal (`1` for `True`, `1.0` for `1`).
pub fn mutate(rng: &mut Rng, v: &Value) -> Value {
    match v {
        Value::Object(map) if !map.is_empty() => {
            let mut map = map.clone();
            let k = map.keys().nth(rng.below(map.len())).cloned().unwrap_or_default();
            match rng.below(5) {
                0 | 1 => {
                    let changed = mutate(rng, &map[&k]);
                    map.insert(k, changed);
                }
                2 => {
                    map.shift_remove(&k);
                }
                3 => {
                    map.insert(key(rng), value(rng, 1, 3));
                }
                _ => {
                    let val = map.shift_remove(&k).unwrap_or_default();
                    map.insert(edit_string(rng, &k), val);
                }
            }
            Value::Object(map)
        }
        Value::Array(items) if !items.is_empty() => {
            let mut items = items.clone();
            let at = rng.below(items.len());
            match rng.below(5) {
                0 | 1 => items[at] = mutate(rng, &items[at]),
                2 => {
                    items.remove(at);
                }
                3 => items.insert(at, value(rng, 1, 3)),
                _ => items.push(scalar(rng)),
            }
            Value::Array(items)
        }
        Value::Object(_) => Value::Object(Map::from_iter([(key(rng), scalar(rng))])),
        Value::Array(_) => Value::Array(vec![scalar(rng)]),
        Value::String(s) => Value::String(edit_string(rng, s)),
        Value::Bool(b) => match rng.below(3) {
            0 => Value::Bool(!b),
            1 => number(if *b { "1" } else { "0" }),
            _ => number(if *b { "1.0" } else { "0.0" }),
        },
        Value::Number(n) => {
            let text = n.to_string();
            match rng.below(4) {
                0 if !text.contains(['.', 'e', 'E']) => number(&format!("{text}.0")),
                1 if text == "1" || text == "0" => Value::Bool(text == "1"),
                2 => Value::String(text),
                _ => scalar(rng),
            }
        }
        Value::Null => rng.pick(&[Value::Bool(false), number("0"), Value::String("None".into())]).clone(),
    }
}

/// Lines of a text in a small alphabet, so that lines are often similar.
pub fn lines(rng: &mut Rng, max: usize) -> Vec<String> {
    (0..rng.below(max + 1))
        .map(|_| {
            let max = if rng.chance(10) { 260 } else { 30 };
            let len = rng.below(max);
            (0..len).map(|_| *rng.pick(&['a', 'b', 'c', 'd', ' ', ' ', '\t', 'x', 'é', '\''])).collect()
        })
        .collect()
}

/// `lines` with a few lines edited, inserted, removed or repeated.
pub fn edit_lines(rng: &mut Rng, lines: &[String]) -> Vec<String> {
    let mut out = lines.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(out.len() + 1);
        match rng.below(4) {
            0 if at < out.len() => out[at] = edit_string(rng, &out[at]),
            1 if at < out.len() => {
                out.remove(at);
            }
            2 if at < out.len() => out.insert(at, out[at].clone()),
            _ => out.insert(at, sentence(rng, 4)),
        }
    }
    out
}
