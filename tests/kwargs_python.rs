//! `qmp_log`'s logged command against python3: for generated keyword sets
//! (identifiers with and without `_`, mixed case, digits), what iotests'
//! `qmp_log` logs — `OrderedDict(execute=…, arguments=ordered_qmp(kwargs))`
//! — must equal what [`Kwargs::ordered`] gives, whether the port spelled the
//! keywords with `_` (as Python does) or with `-`.

use std::io::Write;
use std::process::{Command, Stdio};

use iotests::json::dumps;
use iotests::qmp::Kwargs;
use serde_json::{Map, Value, json};

const SCRIPT: &str = r#"
import json, sys
from collections import OrderedDict

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

def qmp_log_line(cmd, **kwargs):
    full_cmd = OrderedDict((("execute", cmd), ("arguments", ordered_qmp(kwargs))))
    return json.dumps(full_cmd)

for line in sys.stdin:
    kwargs = json.loads(line, object_pairs_hook=OrderedDict)
    print(qmp_log_line('x', **kwargs))
"#;

/// splitmix64.
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
}

/// A Python identifier made of the characters that make sorting tricky.
fn ident(rng: &mut Rng) -> String {
    const FIRST: &[u8] = b"abnABN_";
    const REST: &[u8] = b"abnABN_019";
    let len = 1 + rng.below(6) as usize;
    let mut s = String::new();
    s.push(FIRST[rng.below(FIRST.len() as u64) as usize] as char);
    for _ in 1..len {
        s.push(REST[rng.below(REST.len() as u64) as usize] as char);
    }
    s
}

fn value(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth > 1 { 3 } else { 5 }) {
        0 => json!(rng.below(100)),
        1 => json!(format!("v{}", rng.below(10))),
        2 => json!(rng.below(2) == 1),
        3 => {
            let mut m = Map::new();
            for _ in 0..rng.below(4) {
                m.insert(ident(rng), value(rng, depth + 1));
            }
            Value::Object(m)
        }
        _ => Value::Array((0..rng.below(3)).map(|_| value(rng, depth + 1)).collect()),
    }
}

#[test]
fn qmp_log_orders_keywords_as_python() {
    let mut rng = Rng(0x5eed_1234);
    let mut cases = Vec::new();
    for _ in 0..3000 {
        let mut m = Map::new();
        for _ in 0..1 + rng.below(7) {
            m.insert(ident(&mut rng), value(&mut rng, 0));
        }
        cases.push(m);
    }
    let mut child =
        match Command::new("python3").args(["-c", SCRIPT]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("not run: python3 unavailable: {e}");
                return;
            }
        };
    let mut input = String::new();
    for m in &cases {
        input.push_str(&serde_json::to_string(m).unwrap());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let expected: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(expected.len(), cases.len());
    for (m, want) in cases.iter().zip(expected) {
        // Spelled as Python spells keywords…
        let mut full = Map::new();
        full.insert("execute".into(), json!("x"));
        full.insert("arguments".into(), Kwargs::from(m.clone()).ordered());
        assert_eq!(dumps(&Value::Object(full.clone()), false, None), want, "{m:?}");
        // …and with the top-level `_` already turned into `-` by the port.
        let dashed: Map<String, Value> = m.iter().map(|(k, v)| (k.replace('_', "-"), v.clone())).collect();
        if dashed.len() == m.len() {
            full.insert("arguments".into(), Kwargs::from(dashed).ordered());
            assert_eq!(dumps(&Value::Object(full), false, None), want, "dashed {m:?}");
        }
    }
}
