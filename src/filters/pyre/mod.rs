//! Python regexes (`re`, str patterns, Python 3.11) for the filters.
//!
//! Upstream's `filter_test_dir` compiles `TEST_DIR`, a user-supplied path,
//! as a Python regex, and many constructs mean something else to the
//! `regex` crate (`$`, `[[:alpha:]]`, `[a&&b]`, `\<`, `x{ 2}`, `{,3}`, the
//! Unicode classes, …). [`PyRegex`] reads a pattern as Python's parser does
//! (a port of `re/_parser.py`, with its errors), writes it as a `regex`
//! pattern that matches the same text ([`PyRegex::translated`]), and
//! searches and substitutes as Python's `sre` does ([`PyRegex::sub`] is
//! `re.sub` with a literal replacement, [`PyRegex::sub_template`] `re.sub`
//! with group references and escapes in the replacement).
//!
//! What cannot be translated is listed at [`PyRegex`].
//!
//! ```
//! use iotests::filters::PyRegex;
//! let re = PyRegex::new("a$").unwrap();
//! // Python's `$` also matches before a final newline.
//! assert_eq!(re.sub("a\n", "X"), "X\n");
//! // Python 3.7+: an empty match right where an empty match ended may
//! // not repeat, but a non-empty one there is taken.
//! assert_eq!(PyRegex::new("|a").unwrap().sub("a", "-"), "---");
//! ```

use std::borrow::Cow;
use std::ops::Range;
use std::sync::OnceLock;

use regex::Regex;

mod ast;
mod case;
mod emit;
mod flags;
mod lex;
mod parse;
mod tables;
mod template;
#[cfg(test)]
mod tests;
mod vm;

/// Why a Python pattern has no [`PyRegex`].
///
/// ```
/// use iotests::filters::{PyRegex, PyReError};
/// assert!(matches!(PyRegex::new("a{2,1}"), Err(PyReError::Invalid(_))));
/// assert!(matches!(PyRegex::new("(?=a)"), Err(PyReError::Untranslatable(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PyReError {
    /// Python's `re.compile` rejects the pattern (`re.error`, or the
    /// `OverflowError`/`ValueError` it raises for some), with Python's
    /// message.
    #[error("invalid Python regex: {0}")]
    Invalid(String),
    /// The pattern is valid Python but uses something the translator
    /// cannot express (listed at [`PyRegex`]).
    #[error("Python regex cannot be translated: {0}")]
    Untranslatable(String),
}

/// A Python regex, translated for the `regex` crate.
///
/// It matches what Python's `re` matches, as Python 3.11 reads the pattern:
/// its syntax, its errors ([`PyReError::Invalid`]), its flags, its Unicode
/// tables for `\w`, `\d`, `\s` and `\b`, its `$`, and its searching
/// (leftmost match, tried in backtracking order; Python 3.7+'s handling of
/// empty matches in [`sub`](Self::sub)).
///
/// What cannot be translated is refused with
/// [`PyReError::Untranslatable`] (the test-directory filter then replaces
/// the path literally):
///
/// * lookahead and lookbehind (`(?=…)`, `(?!…)`, `(?<=…)`, `(?<!…)`),
///   backreferences (`\1`, `(?P=name)`), conditional groups (`(?(1)…)`),
///   atomic groups (`(?>…)`) and possessive repeats (`*+`, `++`, `?+`,
///   `{m,n}+`): no finite automaton does these;
/// * `\N{name}` escapes and non-ASCII group names (they need Unicode's name
///   and identifier tables);
/// * `re.I` (`(?i)`) on a set with a range beyond U+FFFF (Python matches
///   it with an upper-casing rule the translator does not have);
/// * a greedy repeat of a group that can match empty text before it tries
///   to match more, such as `(|a)*` or `(a??)*` (Python stops repeating
///   after an empty iteration; the automaton tries the group's next way
///   instead);
/// * a pattern too large for the `regex` crate (huge repeat counts).
///
/// ```
/// use iotests::filters::PyRegex;
/// let re = PyRegex::new(r"/tmp/[[:alpha:]]").unwrap();
/// // In Python that is `[[:alph]` and then a `]`.
/// assert_eq!(re.sub("/tmp/p] /tmp/a", "X"), "X /tmp/a");
/// assert_eq!(re.find_at("/tmp/p]", 0), Some(0..7));
/// ```
#[derive(Debug, Clone)]
pub struct PyRegex {
    python: String,
    translated: String,
    /// The `regex` crate's engines, which find the same matches faster,
    /// where the translation does not reinterpret an assertion.
    fast: Option<Regex>,
    /// The VM: built at once without `fast`, else when first needed (the
    /// search after an empty match, group references).
    vm: OnceLock<Option<vm::Vm>>,
    /// The capturing groups' names, group 1 first.
    group_names: Vec<Option<String>>,
}

impl PyRegex {
    /// Compile a Python pattern, as `re.compile(pattern)` does.
    ///
    /// ```
    /// use iotests::filters::PyRegex;
    /// assert_eq!(PyRegex::new(r"x{ 2}").unwrap().sub("x{ 2} xx", "-"), "- xx");
    /// ```
    pub fn new(pattern: &str) -> Result<PyRegex, PyReError> {
        let parsed = parse::parse(pattern)?;
        let t = emit::translate(&parsed)?;
        let too_large = |e: String| PyReError::Untranslatable(format!("too large for the regex crate: {e}"));
        let vm = OnceLock::new();
        let fast = if t.reinterpreted {
            let _ = vm.set(Some(vm::Vm::new(&t.pattern, true).map_err(too_large)?));
            None
        } else {
            Some(Regex::new(&t.pattern).map_err(|e| too_large(e.to_string()))?)
        };
        Ok(PyRegex { python: pattern.to_string(), translated: t.pattern, fast, vm, group_names: parsed.group_names })
    }

    /// The VM, if it compiles (it does whenever the `regex` crate compiled
    /// the same pattern).
    fn vm(&self) -> Option<&vm::Vm> {
        self.vm.get_or_init(|| vm::Vm::new(&self.translated, true).ok()).as_ref()
    }

    /// The Python pattern.
    ///
    /// ```
    /// assert_eq!(iotests::filters::PyRegex::new("a.b").unwrap().as_str(), "a.b");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.python
    }

    /// The pattern in the `regex` crate's syntax. Python's `$`, `\b` and
    /// `\B` come out as assertions that only this type's own matcher reads
    /// as Python does (see [`is_plain`](Self::is_plain)).
    ///
    /// ```
    /// // Python reads `\<` as `<`.
    /// assert_eq!(iotests::filters::PyRegex::new(r"\<x{,2}").unwrap().translated(), r"\x{3C}(?:x){0,2}");
    /// ```
    pub fn translated(&self) -> &str {
        &self.translated
    }

    /// Whether [`translated`](Self::translated) means the same to the
    /// `regex` crate (it has none of Python's `$`, `\b`, `\B`).
    ///
    /// ```
    /// use iotests::filters::PyRegex;
    /// assert!(PyRegex::new("/tmp/x").unwrap().is_plain());
    /// assert!(!PyRegex::new("/tmp/x$").unwrap().is_plain());
    /// ```
    pub fn is_plain(&self) -> bool {
        self.fast.is_some()
    }

    /// The first match at or after byte offset `at` (a char boundary), as
    /// `pattern.search(s, at)` finds it (with `s` indexed in bytes).
    ///
    /// ```
    /// let re = iotests::filters::PyRegex::new(r"\bb").unwrap();
    /// assert_eq!(re.find_at("ab b", 0), Some(3..4));
    /// ```
    pub fn find_at(&self, s: &str, at: usize) -> Option<Range<usize>> {
        if at > s.len() || !s.is_char_boundary(at) {
            return None;
        }
        if let Some(re) = &self.fast {
            return re.find_at(s, at).map(|m| m.range());
        }
        let vm = self.vm()?;
        vm.find(&mut vm.cache(), s, at, false).map(|(a, b)| a..b)
    }

    /// `re.sub(pattern, repl, s)` with `repl` taken literally (as Python
    /// takes a replacement without backslashes: no `\1`, and `$` is not
    /// special either). A replacement with backslashes (group references,
    /// `\n`…) is [`sub_template`](Self::sub_template)'s.
    ///
    /// ```
    /// let re = iotests::filters::PyRegex::new("x*?").unwrap();
    /// assert_eq!(re.sub("xx", "-"), "-----");
    /// assert_eq!(iotests::filters::PyRegex::new("x*").unwrap().sub("abxd", "-"), "-a-b--d-");
    /// ```
    pub fn sub(&self, s: &str, repl: &str) -> String {
        self.sub_cow(Cow::Borrowed(s), repl).into_owned()
    }

    /// `re.sub(pattern, repl, s)` with Python's reading of `repl`: `\1`
    /// to `\99`, `\g<1>` and `\g<name>` stand for what the group matched
    /// (`\g<0>`: the whole match; nothing for a group that did not take
    /// part), `\0` and `\101` are octal escapes, `\n`, `\t`, `\\` and
    /// the other escapes of string literals stand for their character,
    /// and a backslash before another character that is not an ASCII
    /// letter stays. The replacement is read before the search, as Python
    /// does, and a bad one is [`PyReError::Invalid`] with Python's message
    /// (`re.error`, or the `IndexError` of an unknown group name; without
    /// the ` at position N` that `re.error` adds).
    ///
    /// ```
    /// use iotests::filters::PyRegex;
    /// let re = PyRegex::new(r"\S+ (key fingerprint) '(md5|sha1|sha256):[0-9a-f]+'").unwrap();
    /// let s = "ssh-rsa key fingerprint 'md5:0a1b'";
    /// assert_eq!(re.sub_template(s, r"\1 '\2:HASH'").unwrap(), "key fingerprint 'md5:HASH'");
    /// let re = PyRegex::new(r"(?P<k>\w+)=(\d+)?").unwrap();
    /// assert_eq!(re.sub_template("a=1 b=", r"\g<2>:\g<k>").unwrap(), "1:a :b");
    /// assert_eq!(re.sub_template("a=1", r"\3").unwrap_err().to_string(), "invalid Python regex: invalid group reference 3");
    /// ```
    pub fn sub_template(&self, s: &str, repl: &str) -> Result<String, PyReError> {
        if !repl.contains('\\') {
            return Ok(self.sub(s, repl));
        }
        let template = template::parse(repl, self.group_names.len(), &self.group_names)?;
        if let Some(literal) = template.as_literal() {
            return Ok(self.sub(s, literal));
        }
        let vm = self.vm().ok_or_else(|| PyReError::Untranslatable("too large for the regex crate".into()))?;
        if vm.slot_len() != 2 * (self.group_names.len() + 1) {
            // Not reached: the translation keeps exactly Python's groups.
            return Err(PyReError::Untranslatable(format!("the groups of {:?}", self.translated)));
        }
        let mut cache = vm.cap_cache();
        let mut out = String::with_capacity(s.len() + repl.len());
        let (mut copied, mut pos, mut must_advance) = (0, 0, false);
        while pos <= s.len() {
            let Some(slots) = vm.captures(&mut cache, s, pos, must_advance) else { break };
            let (Some(start), Some(end)) = (slots[0], slots[1]) else { break };
            out.push_str(&s[copied..start]);
            template.expand(&mut out, s, &slots);
            copied = end;
            // After an empty match, sre searches again from there with
            // `must_advance`.
            must_advance = start == end;
            pos = end;
        }
        out.push_str(&s[copied..]);
        Ok(out)
    }

    /// [`sub`](Self::sub), passing text without a match through uncopied.
    pub(crate) fn sub_cow<'m>(&self, s: Cow<'m, str>, repl: &str) -> Cow<'m, str> {
        let mut cache = None;
        let mut find = |pos: usize, must_advance: bool| -> Option<(usize, usize)> {
            if let Some(re) = &self.fast {
                let m = re.find_at(&s, pos)?;
                if !(must_advance && m.is_empty() && m.start() == pos) {
                    return Some((m.start(), m.end()));
                }
            }
            match self.vm() {
                Some(vm) => vm.find(cache.get_or_insert_with(|| vm.cache()), &s, pos, must_advance),
                // Not reached (see `vm`); the old way: one character on.
                None => {
                    let next = pos + s[pos..].chars().next()?.len_utf8();
                    self.fast.as_ref()?.find_at(&s, next).map(|m| (m.start(), m.end()))
                }
            }
        };
        let Some(first) = find(0, false) else { return s };
        let mut out = String::with_capacity(s.len() + repl.len());
        let mut next = Some(first);
        let mut copied = 0;
        while let Some((start, end)) = next {
            out.push_str(&s[copied..start]);
            out.push_str(repl);
            copied = end;
            // After an empty match, sre searches again from there with
            // `must_advance`.
            next = if end <= s.len() { find(end, start == end) } else { None };
        }
        out.push_str(&s[copied..]);
        Cow::Owned(out)
    }
}

/// Python's `pattern.sub(repl, s)` algorithm, with a `regex` crate regex
/// (its own syntax and matching) and a literal `repl`: every match is
/// replaced, left to right; after an empty match the search goes on from
/// the same place but may not return an empty match there — it takes a
/// non-empty one there if the pattern has one (Python 3.7+), else looks
/// further on. For a pattern in Python's syntax, see [`PyRegex::sub`].
///
/// ```
/// let re = regex::Regex::new("x*").unwrap();
/// // Python: re.sub('x*', '-', 'abxd') == '-a-b--d-'
/// assert_eq!(iotests::filters::py_sub(&re, "abxd", "-"), "-a-b--d-");
/// // Python: re.sub('|a', '-', 'a') == '---'
/// assert_eq!(iotests::filters::py_sub(&regex::Regex::new("|a").unwrap(), "a", "-"), "---");
/// ```
pub fn py_sub(re: &Regex, s: &str, repl: &str) -> String {
    // The VM (with the `regex` crate's own assertions) is only needed for
    // the search after an empty match, and built when first needed.
    let mut retry: Option<Option<(vm::Vm, vm::Cache)>> = None;
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut pos = 0;
    let mut must_advance = false;
    while pos <= s.len() {
        let Some(m) = re.find_at(s, pos) else { break };
        let (start, end) = if must_advance && m.is_empty() && m.start() == pos {
            let vm = retry.get_or_insert_with(|| {
                let vm = vm::Vm::new(re.as_str(), false).ok()?;
                let cache = vm.cache();
                Some((vm, cache))
            });
            match vm {
                Some((vm, cache)) => match vm.find(cache, s, pos, true) {
                    Some(m) => m,
                    None => break,
                },
                // The `regex` crate compiled it, so its NFA compiler does
                // too; if not, fall back to the next character.
                None => match s[pos..].chars().next().and_then(|c| re.find_at(s, pos + c.len_utf8())) {
                    Some(m) => (m.start(), m.end()),
                    None => break,
                },
            }
        } else {
            (m.start(), m.end())
        };
        out.push_str(&s[copied..start]);
        out.push_str(repl);
        copied = end;
        must_advance = start == end;
        pos = end;
    }
    out.push_str(&s[copied..]);
    out
}
