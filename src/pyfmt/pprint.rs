//! Python's `pprint.pformat(obj)` with its defaults (`indent=1`,
//! `width=80`, `depth=None`, `compact=False`, `sort_dicts=True`), for the
//! objects `json.loads` builds.
//!
//! Ported from CPython 3.11's `Lib/pprint.py` (`PrettyPrinter._format`,
//! `_pprint_dict`, `_pprint_list`, `_pprint_str`, `_safe_repr`).

use serde_json::{Map, Value};

use super::value::py_isspace;

const WIDTH: usize = 80;
const INDENT_PER_LEVEL: usize = 1;

/// Python's `pprint.pformat(value)`: the repr if it fits in 80 columns,
/// else one dict entry or list item per line, nested containers indented
/// under their opening bracket, long strings split at whitespace into
/// adjacent literals (parenthesized at the top level). Dict keys are
/// sorted, in one-line reprs too.
///
/// ```
/// use iotests::pyfmt::pprint::pformat;
/// use serde_json::json;
/// assert_eq!(pformat(&json!({"b": 1, "a": [true, null]})), "{'a': [True, None], 'b': 1}");
/// let long = json!({"name": "x".repeat(40), "list": ["y".repeat(35), "z".repeat(35)]});
/// assert_eq!(
///     pformat(&long),
///     format!("{{'list': ['{}',\n          '{}'],\n 'name': '{}'}}", "y".repeat(35), "z".repeat(35), "x".repeat(40))
/// );
/// assert_eq!(pformat(&json!("word ".repeat(20))), format!("('{}'\n '{}')", "word ".repeat(15), "word ".repeat(5)));
/// ```
pub fn pformat(value: &Value) -> String {
    let mut out = String::new();
    format(&mut out, value, 0, 0, 0);
    out
}

/// Python's `len()` of a string: code points.
fn len(s: &str) -> usize {
    s.chars().count()
}

/// `PrettyPrinter._format`: the one-line repr when it fits in what is
/// left of the line (`WIDTH - indent - allowance`), else the container's
/// or string's multi-line form.
fn format(out: &mut String, value: &Value, indent: usize, allowance: usize, level: usize) {
    let rep = safe_repr(value);
    if len(&rep) as isize > WIDTH as isize - indent as isize - allowance as isize {
        match value {
            Value::Object(map) => return pprint_dict(out, map, indent, allowance, level + 1),
            Value::Array(items) => return pprint_list(out, items, indent, allowance, level + 1),
            Value::String(s) => return pprint_str(out, s, &rep, indent, allowance, level + 1),
            _ => {}
        }
    }
    out.push_str(&rep);
}

/// Dict items in `sort_dicts` order. `_safe_tuple` compares the keys
/// first, and JSON keys are distinct strings, so this is key order (code
/// points, which Rust's `str` order is too).
fn sorted_items(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut items: Vec<_> = map.iter().collect();
    items.sort_by(|a, b| a.0.cmp(b.0));
    items
}

/// `PrettyPrinter._safe_repr`: `repr()`, except that dict keys are sorted.
fn safe_repr(value: &Value) -> String {
    let mut out = String::new();
    write_safe_repr(&mut out, value);
    out
}

fn write_safe_repr(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            out.push('{');
            for (i, (key, val)) in sorted_items(map).into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&crate::json::py_str_repr(key));
                out.push_str(": ");
                write_safe_repr(out, val);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_safe_repr(out, item);
            }
            out.push(']');
        }
        scalar => out.push_str(&super::value::py_repr(scalar)),
    }
}

/// `_pprint_dict` and `_format_dict_items`.
fn pprint_dict(out: &mut String, map: &Map<String, Value>, indent: usize, allowance: usize, level: usize) {
    out.push('{');
    let items = sorted_items(map);
    let indent = indent + INDENT_PER_LEVEL;
    let allowance = allowance + 1;
    for (i, (key, val)) in items.iter().enumerate() {
        let last = i + 1 == items.len();
        let rep = crate::json::py_str_repr(key);
        out.push_str(&rep);
        out.push_str(": ");
        format(out, val, indent + len(&rep) + 2, if last { allowance } else { 1 }, level);
        if !last {
            push_delimiter(out, indent);
        }
    }
    out.push('}');
}

/// `_pprint_list` and `_format_items` (not compact).
fn pprint_list(out: &mut String, items: &[Value], indent: usize, allowance: usize, level: usize) {
    out.push('[');
    let indent = indent + INDENT_PER_LEVEL;
    let allowance = allowance + 1;
    for (i, item) in items.iter().enumerate() {
        let last = i + 1 == items.len();
        if i > 0 {
            push_delimiter(out, indent);
        }
        format(out, item, indent, if last { allowance } else { 1 }, level);
    }
    out.push(']');
}

/// `,` and a new line indented by `indent`.
fn push_delimiter(out: &mut String, indent: usize) {
    out.push_str(",\n");
    out.extend(std::iter::repeat_n(' ', indent));
}

/// `_pprint_str`: each line of the string (`splitlines(True)`) becomes one
/// literal, or several where its repr is too wide, split after runs of
/// whitespace (`re.findall(r'\S*\s*', line)`).
fn pprint_str(out: &mut String, s: &str, rep: &str, indent: usize, allowance: usize, level: usize) {
    if s.is_empty() {
        out.push_str(rep);
        return;
    }
    let (indent, allowance) = if level == 1 { (indent + 1, allowance + 1) } else { (indent, allowance) };
    let max_width = WIDTH as isize - indent as isize;
    let lines = super::value::splitlines(s, true);
    let mut chunks = Vec::new();
    // Python writes the last line's repr, not the chunk, when there is one
    // chunk; they are the same string.
    for (i, line) in lines.iter().enumerate() {
        let last_line = i + 1 == lines.len();
        let line_rep = crate::json::py_str_repr(line);
        let max_width1 = if last_line { max_width - allowance as isize } else { max_width };
        if len(&line_rep) as isize <= max_width1 {
            chunks.push(line_rep);
            continue;
        }
        let parts = space_separated_parts(line);
        let mut current = String::new();
        for (j, part) in parts.iter().enumerate() {
            let candidate = format!("{current}{part}");
            let max_width2 = if j + 1 == parts.len() && last_line { max_width - allowance as isize } else { max_width };
            if len(&crate::json::py_str_repr(&candidate)) as isize > max_width2 {
                if !current.is_empty() {
                    chunks.push(crate::json::py_str_repr(&current));
                }
                current = (*part).to_string();
            } else {
                current = candidate;
            }
        }
        if !current.is_empty() {
            chunks.push(crate::json::py_str_repr(&current));
        }
    }
    if chunks.len() == 1 {
        out.push_str(&chunks[0]);
        return;
    }
    if level == 1 {
        out.push('(');
    }
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', indent));
        }
        out.push_str(chunk);
    }
    if level == 1 {
        out.push(')');
    }
}

/// The non-empty matches of `re.findall(r'\S*\s*', line)`: each a run of
/// non-space characters followed by a run of spaces (`\s` being
/// `str.isspace()`).
fn space_separated_parts(line: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (pos, c) in line.char_indices() {
        let space = py_isspace(c);
        if !space && in_space {
            parts.push(&line[start..pos]);
            start = pos;
        }
        in_space = space;
    }
    if start < line.len() {
        parts.push(&line[start..]);
    }
    parts
}
