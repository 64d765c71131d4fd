//! The tokenizer of Python's `re/_parser.py`.

use super::PyReError;
use super::parse::invalid;

/// One token: a character, or a backslash and the character after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tok {
    pub escaped: bool,
    pub c: char,
}

impl Tok {
    pub(super) fn plain(self) -> Option<char> {
        (!self.escaped).then_some(self.c)
    }
    pub(super) fn is(self, c: char) -> bool {
        self == Tok { escaped: false, c }
    }
    pub(super) fn is_in(self, set: &str) -> bool {
        !self.escaped && set.contains(self.c)
    }
    /// The token's text, as Python's tokenizer returns it.
    pub(super) fn text(self) -> String {
        if self.escaped { format!("\\{}", self.c) } else { self.c.to_string() }
    }
}

/// Python's `Tokenizer`.
pub(super) struct Source {
    chars: Vec<char>,
    index: usize,
    /// The next token.
    pub next: Option<Tok>,
}

impl Source {
    pub(super) fn new(pattern: &str) -> Result<Source, PyReError> {
        let mut s = Source { chars: pattern.chars().collect(), index: 0, next: None };
        s.advance()?;
        Ok(s)
    }

    pub(super) fn advance(&mut self) -> Result<(), PyReError> {
        let Some(&c) = self.chars.get(self.index) else {
            self.next = None;
            return Ok(());
        };
        if c == '\\' {
            let Some(&e) = self.chars.get(self.index + 1) else {
                return Err(invalid("bad escape (end of pattern)"));
            };
            self.next = Some(Tok { escaped: true, c: e });
            self.index += 2;
        } else {
            self.next = Some(Tok { escaped: false, c });
            self.index += 1;
        }
        Ok(())
    }

    pub(super) fn matches(&mut self, c: char) -> Result<bool, PyReError> {
        if self.next.is_some_and(|t| t.is(c)) {
            self.advance()?;
            return Ok(true);
        }
        Ok(false)
    }

    pub(super) fn get(&mut self) -> Result<Option<Tok>, PyReError> {
        let this = self.next;
        self.advance()?;
        Ok(this)
    }

    pub(super) fn next_in(&self, set: &str) -> bool {
        self.next.is_some_and(|t| t.is_in(set))
    }

    /// Up to `n` plain characters from `set`.
    pub(super) fn getwhile(&mut self, n: usize, set: &str) -> Result<String, PyReError> {
        let mut out = String::new();
        for _ in 0..n {
            match self.next {
                Some(t) if t.is_in(set) => out.push(t.c),
                _ => break,
            }
            self.advance()?;
        }
        Ok(out)
    }

    pub(super) fn getuntil(&mut self, terminator: char, name: &str) -> Result<String, PyReError> {
        let mut out = String::new();
        loop {
            let c = self.get()?;
            match c {
                None if out.is_empty() => return Err(invalid(format!("missing {name}"))),
                None => return Err(invalid(format!("missing {terminator}, unterminated name"))),
                Some(t) if t.is(terminator) => {
                    if out.is_empty() {
                        return Err(invalid(format!("missing {name}")));
                    }
                    return Ok(out);
                }
                Some(t) => out.push_str(&t.text()),
            }
        }
    }

    /// The position of the next token.
    pub(super) fn tell(&self) -> usize {
        self.index - self.next.map_or(0, |t| if t.escaped { 2 } else { 1 })
    }

    pub(super) fn seek(&mut self, index: usize) -> Result<(), PyReError> {
        self.index = index;
        self.advance()
    }
}

pub(super) const DIGITS: &str = "0123456789";
pub(super) const OCTDIGITS: &str = "01234567";
pub(super) const HEXDIGITS: &str = "0123456789abcdefABCDEF";
pub(super) const WHITESPACE: &str = " \t\n\r\u{b}\u{c}";
pub(super) const SPECIAL_CHARS: &str = ".\\[{()*+?^$|";
pub(super) const REPEAT_CHARS: &str = "*+?{";
