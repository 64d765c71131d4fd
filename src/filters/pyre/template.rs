//! `re.sub`'s replacement templates: a port of Python 3.11's
//! `re._parser.parse_template` (str templates) and `expand_template`.
//!
//! A template is literal text with backslash escapes: `\1`…`\99` and
//! `\g<1>`, `\g<name>` refer to groups (`\g<0>` is the whole match), `\0`
//! and three-digit `\101` are octal escapes, `\n` and the other escapes of
//! string literals stand for their character, a backslash before anything
//! else that is not an ASCII letter stays as it is, and a letter is an
//! error. A group that did not take part in the match is replaced by
//! nothing.

use super::PyReError;
use super::parse::invalid;
use super::tables;

/// `_sre.MAXGROUPS` on 64-bit builds.
const MAXGROUPS: u64 = 1_073_741_823;

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece {
    Literal(String),
    Group(usize),
}

/// A parsed template: literal text and group references, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// The text, when the template has no group reference (after its
    /// escapes are read): `re.sub` then substitutes it as it is.
    pub(super) fn as_literal(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [] => Some(""),
            [Piece::Literal(s)] => Some(s),
            _ => None,
        }
    }

    /// Append the replacement for one match: `slots` as
    /// [`Vm::captures`](super::vm::Vm::captures) gives them for `hay`.
    pub(super) fn expand(&self, out: &mut String, hay: &str, slots: &[Option<usize>]) {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Group(g) => {
                    if let (Some(Some(start)), Some(Some(end))) = (slots.get(2 * g), slots.get(2 * g + 1)) {
                        out.push_str(&hay[*start..*end]);
                    }
                }
            }
        }
    }
}

/// A token: a character, or a backslash and the character after it.
type Tok = (bool, char);

/// Python's `Tokenizer`: it reads one token ahead, so that a lone
/// backslash at the end is an error as soon as the token before it is
/// taken.
struct Tokens<'a> {
    chars: std::str::Chars<'a>,
    next: Option<Tok>,
}

impl<'a> Tokens<'a> {
    fn new(source: &'a str) -> Result<Tokens<'a>, PyReError> {
        let mut t = Tokens { chars: source.chars(), next: None };
        t.advance()?;
        Ok(t)
    }

    /// `__next`: read the next token into `next`.
    fn advance(&mut self) -> Result<(), PyReError> {
        self.next = match self.chars.next() {
            None => None,
            Some('\\') => match self.chars.next() {
                Some(c) => Some((true, c)),
                None => return Err(invalid("bad escape (end of pattern)")),
            },
            Some(c) => Some((false, c)),
        };
        Ok(())
    }

    /// `get()`: the next token, reading the one after it.
    fn get(&mut self) -> Result<Option<Tok>, PyReError> {
        let this = self.next;
        self.advance()?;
        Ok(this)
    }

    /// `s.next in charset` for a set of plain characters: take it if so.
    fn get_if(&mut self, pred: impl Fn(char) -> bool) -> Result<Option<char>, PyReError> {
        match self.next {
            Some((false, c)) if pred(c) => {
                self.advance()?;
                Ok(Some(c))
            }
            _ => Ok(None),
        }
    }

    /// `getuntil('>', 'group name')`: the text of the tokens (a backslash
    /// token is both its characters, as in Python) up to `>`.
    fn getuntil_gt(&mut self) -> Result<String, PyReError> {
        let mut result = String::new();
        loop {
            let c = self.next;
            self.advance()?;
            match c {
                None if result.is_empty() => return Err(invalid("missing group name")),
                None => return Err(invalid("missing >, unterminated name")),
                Some((false, '>')) if result.is_empty() => return Err(invalid("missing group name")),
                Some((false, '>')) => return Ok(result),
                Some((backslash, c)) => {
                    if backslash {
                        result.push('\\');
                    }
                    result.push(c);
                }
            }
        }
    }
}

/// Parse `source` for a pattern with `groups` groups named `names`
/// (group 1 first), with Python's errors (their message, without the
/// position): `re.error`, or the `IndexError` of an unknown group name.
pub(super) fn parse(source: &str, groups: usize, names: &[Option<String>]) -> Result<Template, PyReError> {
    let mut s = Tokens::new(source)?;
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut addgroup = |literal: &mut String, index: u64, shown: &str| {
        if index > groups as u64 {
            return Err(invalid(format!("invalid group reference {shown}")));
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(std::mem::take(literal)));
        }
        pieces.push(Piece::Group(index as usize));
        Ok(())
    };
    while let Some((backslash, c)) = s.get()? {
        if !backslash {
            literal.push(c);
            continue;
        }
        match c {
            'g' => {
                if s.get_if(|c| c == '<')?.is_none() {
                    return Err(invalid("missing <"));
                }
                let name = s.getuntil_gt()?;
                if is_identifier(&name) {
                    let index = names.iter().position(|n| n.as_deref() == Some(name.as_str()));
                    let index = index.ok_or_else(|| invalid(format!("unknown group name '{name}'")))?;
                    addgroup(&mut literal, index as u64 + 1, &(index + 1).to_string())?;
                } else {
                    let Some(digits) = py_int(&name) else {
                        return Err(invalid(format!(
                            "bad character in group name {}",
                            crate::json::py_str_repr(&name)
                        )));
                    };
                    // `int(name)`, compared and shown as Python's int.
                    let index = if digits.len() > 10 { u64::MAX } else { digits.parse().unwrap_or(u64::MAX) };
                    if index >= MAXGROUPS {
                        return Err(invalid(format!("invalid group reference {digits}")));
                    }
                    addgroup(&mut literal, index, &digits)?;
                }
            }
            '0' => {
                let mut value = 0;
                for _ in 0..2 {
                    match s.get_if(|d| d.is_digit(8))? {
                        Some(d) => value = value * 8 + d.to_digit(8).unwrap_or(0),
                        None => break,
                    }
                }
                literal.push(char::from((value & 0xff) as u8));
            }
            '1'..='9' => {
                let mut this = c.to_string();
                let mut octal = false;
                if let Some(d) = s.get_if(|d| d.is_ascii_digit())? {
                    this.push(d);
                    if c.is_digit(8)
                        && d.is_digit(8)
                        && let Some(e) = s.get_if(|e| e.is_digit(8))?
                    {
                        this.push(e);
                        octal = true;
                        let value = u32::from_str_radix(&this, 8).unwrap_or(0);
                        if value > 0o377 {
                            return Err(invalid(format!("octal escape value \\{this} outside of range 0-0o377")));
                        }
                        literal.push(char::from(value as u8));
                    }
                }
                if !octal {
                    let index: u64 = this.parse().unwrap_or(0);
                    addgroup(&mut literal, index, &this)?;
                }
            }
            'a' => literal.push('\u{7}'),
            'b' => literal.push('\u{8}'),
            'f' => literal.push('\u{c}'),
            'n' => literal.push('\n'),
            'r' => literal.push('\r'),
            't' => literal.push('\t'),
            'v' => literal.push('\u{b}'),
            '\\' => literal.push('\\'),
            c if c.is_ascii_alphabetic() => return Err(invalid(format!("bad escape \\{c}"))),
            c => {
                literal.push('\\');
                literal.push(c);
            }
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(Template { pieces })
}

/// `str.isidentifier()`. Python uses Unicode's XID tables for non-ASCII
/// names; this takes letters for XID_Start and letters, digits and marks
/// for XID_Continue. Such a name never names a group here (the translator
/// refuses non-ASCII group names), so the approximation only decides which
/// of Python's two errors is reported.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric() || (!c.is_ascii() && !c.is_whitespace() && !c.is_control()))
}

/// `int(s)` for a str, as the decimal digits of the (non-negative) result
/// without leading zeros; `None` where Python raises `ValueError` or the
/// result is negative. Python strips white space, takes one sign, and
/// digits (any Unicode decimal digit) with single underscores between them.
fn py_int(s: &str) -> Option<String> {
    let is_space = |c: char| in_table(tables::SPACE, c).is_some();
    let s = s.trim_matches(is_space);
    let (negative, body) = match s.chars().next()? {
        '-' => (true, &s[1..]),
        '+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut digits = String::new();
    let mut underscore_ok = false;
    for c in body.chars() {
        if c == '_' && underscore_ok {
            underscore_ok = false;
            continue;
        }
        let d = decimal_value(c)?;
        digits.push(char::from(b'0' + d));
        underscore_ok = true;
    }
    if digits.is_empty() || !underscore_ok {
        return None;
    }
    let digits = match digits.trim_start_matches('0') {
        "" => "0".to_string(),
        d => d.to_string(),
    };
    (!negative || digits == "0").then_some(digits)
}

/// The value of a Unicode decimal digit (`str.isdecimal()`): the digits
/// come in runs of ten, from zero.
fn decimal_value(c: char) -> Option<u8> {
    in_table(tables::DIGIT, c).map(|lo| ((c as u32 - lo) % 10) as u8)
}

/// The start of the range of `table` holding `c`.
fn in_table(table: &[(u32, u32)], c: char) -> Option<u32> {
    let c = c as u32;
    table.iter().find(|&&(lo, hi)| lo <= c && c <= hi).map(|&(lo, _)| lo)
}
