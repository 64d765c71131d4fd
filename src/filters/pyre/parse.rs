//! A port of Python 3.11's `re/_parser.py` (str patterns only): the same
//! tokens, the same tree and the same errors, so that a pattern means — and
//! fails — here as it does in Python.
//!
//! The tree keeps what matching depends on and drops what it does not (the
//! parser's branch-to-set and common-prefix rewrites, which never change
//! what matches); which groups capture, and their names, are kept for
//! `re.sub`'s group references. Constructs the translator
//! cannot express are parsed — their errors are Python's — and marked
//! [`Node::Opaque`], with [`Parsed::unsupported`] saying what they were.

use super::PyReError;
use super::ast::{At, Category, Greed, MAXREPEAT, Node, Parsed, SetItem, flag};
use super::flags::parse_flags;
use super::lex::{DIGITS, HEXDIGITS, OCTDIGITS, REPEAT_CHARS, SPECIAL_CHARS, Source, Tok, WHITESPACE};

/// Parse a Python str pattern as `re.compile(pattern)` does.
pub(super) fn parse(pattern: &str) -> Result<Parsed, PyReError> {
    let mut src = Source::new(pattern)?;
    let mut state = State::default();
    let nodes = parse_sub(&mut src, &mut state, false, 0)?;
    if state.flags & flag::LOCALE != 0 {
        return Err(invalid("cannot use LOCALE flag with a str pattern"));
    }
    let flags = if state.flags & flag::ASCII == 0 {
        state.flags | flag::UNICODE
    } else if state.flags & flag::UNICODE != 0 {
        return Err(invalid("ASCII and UNICODE flags are incompatible"));
    } else {
        state.flags
    };
    if src.next.is_some() {
        return Err(invalid("unbalanced parenthesis"));
    }
    if let Some(&g) = state.grouprefs.iter().find(|&&g| g >= state.groups()) {
        return Err(invalid(format!("invalid group reference {g}")));
    }
    Ok(Parsed { nodes, flags, unsupported: state.unsupported, group_names: state.names })
}

pub(super) fn invalid(msg: impl Into<String>) -> PyReError {
    PyReError::Invalid(msg.into())
}

#[derive(Default)]
pub(super) struct State {
    pub flags: u32,
    /// Group names, in order of group number (group 1 first).
    names: Vec<Option<String>>,
    /// Whether each group (1, 2, …) has been closed.
    closed: Vec<bool>,
    /// Group number of the first group of the lookbehind being parsed.
    lookbehind_groups: Option<usize>,
    grouprefs: Vec<usize>,
    unsupported: Option<&'static str>,
}

impl State {
    fn groups(&self) -> usize {
        self.names.len() + 1
    }
    fn open_group(&mut self, name: Option<String>) -> Result<(), PyReError> {
        if let Some(n) = &name
            && let Some(old) = self.group_named(n)
        {
            return Err(invalid(format!(
                "redefinition of group name '{n}' as group {}; was group {old}",
                self.groups()
            )));
        }
        self.names.push(name);
        self.closed.push(false);
        Ok(())
    }
    fn group_named(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n.as_deref() == Some(name)).map(|i| i + 1)
    }
    fn check_group(&self, gid: usize) -> bool {
        gid >= 1 && gid < self.groups() && self.closed[gid - 1]
    }
    fn check_lookbehind_group(&self, gid: usize) -> Result<(), PyReError> {
        if let Some(first) = self.lookbehind_groups {
            if !self.check_group(gid) {
                return Err(invalid("cannot refer to an open group"));
            }
            if gid >= first {
                return Err(invalid("cannot refer to group defined in the same lookbehind subpattern"));
            }
        }
        Ok(())
    }
    fn unsupported(&mut self, what: &'static str) -> Node {
        self.unsupported.get_or_insert(what);
        Node::Opaque
    }
}

/// `str.isidentifier()` for ASCII names; a non-ASCII name is taken as valid
/// (whether Python agrees needs Unicode's identifier tables) and the
/// pattern marked untranslatable.
fn check_group_name(state: &mut State, name: &str) -> Result<(), PyReError> {
    if !name.is_ascii() {
        state.unsupported.get_or_insert("a non-ASCII group name");
        return Ok(());
    }
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok { Ok(()) } else { Err(invalid(format!("bad character in group name '{name}'"))) }
}

fn hex_escape(src: &mut Source, kind: char, digits: usize) -> Result<u32, PyReError> {
    let hex = src.getwhile(digits, HEXDIGITS)?;
    if hex.len() != digits {
        return Err(invalid(format!("incomplete escape \\{kind}{hex}")));
    }
    let c = u32::from_str_radix(&hex, 16).map_err(|_| invalid("bad escape"))?;
    if c > 0x10FFFF {
        return Err(invalid(format!("bad escape \\{kind}{hex}")));
    }
    Ok(c)
}

/// `\N{name}`: Python looks the name up in its Unicode database, which we
/// do not have.
fn named_escape(src: &mut Source, state: &mut State) -> Result<u32, PyReError> {
    if !src.matches('{')? {
        return Err(invalid("missing {"));
    }
    src.getuntil('}', "character name")?;
    state.unsupported.get_or_insert("a \\N{...} escape");
    Ok(0)
}

fn escape_literal(c: char) -> Option<u32> {
    Some(match c {
        'a' => 7,
        'b' => 8,
        'f' => 12,
        'n' => 10,
        'r' => 13,
        't' => 9,
        'v' => 11,
        '\\' => 92,
        _ => return None,
    })
}

fn category(c: char) -> Option<Category> {
    Some(match c {
        'd' => Category::Digit,
        'D' => Category::NotDigit,
        's' => Category::Space,
        'S' => Category::NotSpace,
        'w' => Category::Word,
        'W' => Category::NotWord,
        _ => return None,
    })
}

/// What an escape inside a set is.
enum ClassEscape {
    Literal(u32),
    Category(Category),
}

/// Python's `_class_escape`.
fn class_escape(src: &mut Source, state: &mut State, c: char) -> Result<ClassEscape, PyReError> {
    if let Some(l) = escape_literal(c) {
        return Ok(ClassEscape::Literal(l));
    }
    if let Some(cat) = category(c) {
        return Ok(ClassEscape::Category(cat));
    }
    let lit = match c {
        'x' => hex_escape(src, c, 2)?,
        'u' => hex_escape(src, c, 4)?,
        'U' => hex_escape(src, c, 8)?,
        'N' => named_escape(src, state)?,
        '0'..='7' => {
            let more = src.getwhile(2, OCTDIGITS)?;
            let v = u32::from_str_radix(&format!("{c}{more}"), 8).unwrap_or(u32::MAX);
            if v > 0o377 {
                return Err(invalid(format!("octal escape value \\{c}{more} outside of range 0-0o377")));
            }
            v
        }
        c if c.is_ascii_alphanumeric() => return Err(invalid(format!("bad escape \\{c}"))),
        c => c as u32,
    };
    Ok(ClassEscape::Literal(lit))
}

/// Python's `_escape`, outside sets.
fn escape(src: &mut Source, state: &mut State, c: char) -> Result<Node, PyReError> {
    let at = match c {
        'A' => Some(At::BeginningString),
        'b' => Some(At::Boundary),
        'B' => Some(At::NonBoundary),
        'Z' => Some(At::EndString),
        _ => None,
    };
    if let Some(at) = at {
        return Ok(Node::At(at));
    }
    if let Some(cat) = category(c) {
        return Ok(Node::Category(cat));
    }
    if let Some(l) = escape_literal(c) {
        return Ok(Node::Literal(l));
    }
    let lit = match c {
        'x' => hex_escape(src, c, 2)?,
        'u' => hex_escape(src, c, 4)?,
        'U' => hex_escape(src, c, 8)?,
        'N' => named_escape(src, state)?,
        '0' => {
            let more = src.getwhile(2, OCTDIGITS)?;
            u32::from_str_radix(&format!("0{more}"), 8).unwrap_or(0)
        }
        '1'..='9' => {
            let mut digits = c.to_string();
            if let Some(d) = src.next.and_then(Tok::plain).filter(|d| d.is_ascii_digit()) {
                src.advance()?;
                digits.push(d);
                let third = src.next.and_then(Tok::plain).filter(|d| OCTDIGITS.contains(*d));
                if OCTDIGITS.contains(c)
                    && OCTDIGITS.contains(d)
                    && let Some(t) = third
                {
                    src.advance()?;
                    digits.push(t);
                    let v = u32::from_str_radix(&digits, 8).unwrap_or(u32::MAX);
                    if v > 0o377 {
                        return Err(invalid(format!("octal escape value \\{digits} outside of range 0-0o377")));
                    }
                    return Ok(Node::Literal(v));
                }
            }
            let group: usize = digits.parse().unwrap_or(usize::MAX);
            if group < state.groups() {
                if !state.check_group(group) {
                    return Err(invalid("cannot refer to an open group"));
                }
                state.check_lookbehind_group(group)?;
                return Ok(state.unsupported("a backreference"));
            }
            return Err(invalid(format!("invalid group reference {group}")));
        }
        c if c.is_ascii_alphanumeric() => return Err(invalid(format!("bad escape \\{c}"))),
        c => c as u32,
    };
    Ok(Node::Literal(lit))
}

/// Python's `_parse_sub`: an alternation.
fn parse_sub(src: &mut Source, state: &mut State, mut verbose: bool, nested: usize) -> Result<Vec<Node>, PyReError> {
    let mut items = Vec::new();
    loop {
        let first = nested == 0 && items.is_empty();
        items.push(parse_seq(src, state, verbose, nested + 1, first)?);
        if !src.matches('|')? {
            break;
        }
        if nested == 0 {
            verbose = state.flags & flag::VERBOSE != 0;
        }
    }
    if items.len() == 1 {
        return Ok(items.pop().unwrap_or_default());
    }
    Ok(vec![Node::Branch(items)])
}

/// Python's `_parse`: a sequence.
fn parse_seq(
    src: &mut Source,
    state: &mut State,
    mut verbose: bool,
    nested: usize,
    first: bool,
) -> Result<Vec<Node>, PyReError> {
    let mut seq: Vec<Node> = Vec::new();
    while let Some(this) = src.next {
        if this.is_in("|)") {
            break;
        }
        src.advance()?;
        if verbose {
            if this.is_in(WHITESPACE) {
                continue;
            }
            if this.is('#') {
                while let Some(t) = src.get()? {
                    if t.is('\n') {
                        break;
                    }
                }
                continue;
            }
        }
        if this.escaped {
            seq.push(escape(src, state, this.c)?);
        } else if !SPECIAL_CHARS.contains(this.c) {
            seq.push(Node::Literal(this.c as u32));
        } else if this.c == '[' {
            seq.push(parse_set(src, state)?);
        } else if REPEAT_CHARS.contains(this.c) {
            parse_repeat(src, state, &mut seq, this.c)?;
        } else if this.c == '.' {
            seq.push(Node::Any);
        } else if this.c == '(' {
            match parse_group(src, state, verbose, nested, first && seq.is_empty())? {
                Grouped::Node(node) => seq.push(node),
                Grouped::Comment => {}
                Grouped::GlobalFlags => verbose = state.flags & flag::VERBOSE != 0,
            }
        } else if this.c == '^' {
            seq.push(Node::At(At::Beginning));
        } else if this.c == '$' {
            seq.push(Node::At(At::End));
        }
    }
    Ok(seq)
}

/// After `[`: a set.
fn parse_set(src: &mut Source, state: &mut State) -> Result<Node, PyReError> {
    let mut set: Vec<SetItem> = Vec::new();
    let negate = src.matches('^')?;
    let unterminated = || invalid("unterminated character set");
    loop {
        let this = src.get()?.ok_or_else(unterminated)?;
        if this.is(']') && !set.is_empty() {
            break;
        }
        let code1 = if this.escaped { class_escape(src, state, this.c)? } else { ClassEscape::Literal(this.c as u32) };
        if src.matches('-')? {
            let that = src.get()?.ok_or_else(unterminated)?;
            if that.is(']') {
                set.push(set_item(code1));
                set.push(SetItem::Literal('-' as u32));
                break;
            }
            let code2 =
                if that.escaped { class_escape(src, state, that.c)? } else { ClassEscape::Literal(that.c as u32) };
            let bad = || invalid(format!("bad character range {}-{}", this.text(), that.text()));
            let (ClassEscape::Literal(lo), ClassEscape::Literal(hi)) = (code1, code2) else { return Err(bad()) };
            if hi < lo {
                return Err(bad());
            }
            set.push(SetItem::Range(lo, hi));
        } else {
            set.push(set_item(code1));
        }
    }
    if set.len() == 1
        && let SetItem::Literal(c) = set[0]
    {
        return Ok(if negate { Node::NotLiteral(c) } else { Node::Literal(c) });
    }
    Ok(Node::In { negate, items: set })
}

fn set_item(e: ClassEscape) -> SetItem {
    match e {
        ClassEscape::Literal(c) => SetItem::Literal(c),
        ClassEscape::Category(c) => SetItem::Category(c),
    }
}

/// A repeat character: applies to the last node of `seq`.
fn parse_repeat(src: &mut Source, state: &mut State, seq: &mut Vec<Node>, this: char) -> Result<(), PyReError> {
    let here = src.tell();
    let (min, max): (u32, Option<u32>) = match this {
        '?' => (0, Some(1)),
        '*' => (0, None),
        '+' => (1, None),
        _ => {
            // `{`
            if src.next.is_some_and(|t| t.is('}')) {
                seq.push(Node::Literal('{' as u32));
                return Ok(());
            }
            let mut lo = String::new();
            let mut hi = String::new();
            while src.next_in(DIGITS) {
                lo.push(src.get()?.map_or('0', |t| t.c));
            }
            if src.matches(',')? {
                while src.next_in(DIGITS) {
                    hi.push(src.get()?.map_or('0', |t| t.c));
                }
            } else {
                hi = lo.clone();
            }
            if !src.matches('}')? {
                seq.push(Node::Literal('{' as u32));
                src.seek(here)?;
                return Ok(());
            }
            let count = |s: &str| -> Result<u32, PyReError> {
                match s.parse::<u64>() {
                    Ok(n) if n < MAXREPEAT => Ok(n as u32),
                    // Python raises OverflowError here.
                    _ => Err(invalid("the repetition number is too large")),
                }
            };
            let min = if lo.is_empty() { 0 } else { count(&lo)? };
            let max = if hi.is_empty() { None } else { Some(count(&hi)?) };
            if max.is_some_and(|m| m < min) {
                return Err(invalid("min repeat greater than max repeat"));
            }
            (min, max)
        }
    };
    match seq.last() {
        None | Some(Node::At(_)) => return Err(invalid("nothing to repeat")),
        Some(Node::Repeat { .. }) => return Err(invalid("multiple repeat")),
        _ => {}
    }
    let greed = if src.matches('?')? {
        Greed::Lazy
    } else if src.matches('+')? {
        state.unsupported.get_or_insert("a possessive repeat");
        Greed::Possessive
    } else {
        Greed::Greedy
    };
    let item = seq.pop().unwrap_or(Node::Opaque);
    seq.push(Node::Repeat { min, max, greed, body: vec![item] });
    Ok(())
}

/// What a `(` started.
enum Grouped {
    Node(Node),
    /// `(?#...)`
    Comment,
    /// `(?x)` at the start: flags for the whole pattern.
    GlobalFlags,
}

/// After `(`: a group, an extension, a comment or global flags.
fn parse_group(
    src: &mut Source,
    state: &mut State,
    verbose: bool,
    nested: usize,
    first: bool,
) -> Result<Grouped, PyReError> {
    let missing_paren = || invalid("missing ), unterminated subpattern");
    let mut capture = true;
    let mut atomic = false;
    let mut name = None;
    let (mut add, mut del) = (0, 0);
    if src.matches('?')? {
        let c = src.get()?.ok_or_else(|| invalid("unexpected end of pattern"))?;
        match c.plain() {
            Some('P') => {
                if src.matches('<')? {
                    let n = src.getuntil('>', "group name")?;
                    check_group_name(state, &n)?;
                    name = Some(n);
                } else if src.matches('=')? {
                    let n = src.getuntil(')', "group name")?;
                    check_group_name(state, &n)?;
                    let gid = state.group_named(&n).ok_or_else(|| invalid(format!("unknown group name '{n}'")))?;
                    if !state.check_group(gid) {
                        return Err(invalid("cannot refer to an open group"));
                    }
                    state.check_lookbehind_group(gid)?;
                    return Ok(Grouped::Node(state.unsupported("a backreference")));
                } else {
                    let c = src.get()?.ok_or_else(|| invalid("unexpected end of pattern"))?;
                    return Err(invalid(format!("unknown extension ?P{}", c.text())));
                }
            }
            Some(':') => capture = false,
            Some('#') => {
                loop {
                    match src.get()? {
                        None => return Err(invalid("missing ), unterminated comment")),
                        Some(t) if t.is(')') => break,
                        Some(_) => {}
                    }
                }
                return Ok(Grouped::Comment);
            }
            Some(c @ ('=' | '!' | '<')) => {
                let mut behind = false;
                let mut outer = state.lookbehind_groups;
                if c == '<' {
                    let d = src.get()?.ok_or_else(|| invalid("unexpected end of pattern"))?;
                    if !d.is_in("=!") {
                        return Err(invalid(format!("unknown extension ?<{}", d.text())));
                    }
                    behind = true;
                    outer = state.lookbehind_groups;
                    if outer.is_none() {
                        state.lookbehind_groups = Some(state.groups());
                    }
                }
                parse_sub(src, state, verbose, nested + 1)?;
                if behind && outer.is_none() {
                    state.lookbehind_groups = None;
                }
                if !src.matches(')')? {
                    return Err(missing_paren());
                }
                return Ok(Grouped::Node(state.unsupported(if behind { "a lookbehind" } else { "a lookahead" })));
            }
            Some('(') => {
                parse_conditional(src, state, verbose, nested)?;
                return Ok(Grouped::Node(state.unsupported("a conditional group")));
            }
            Some('>') => {
                capture = false;
                atomic = true;
            }
            Some(c) if "iLmsxatu-".contains(c) => match parse_flags(src, state, c)? {
                None => {
                    if !first {
                        return Err(invalid("global flags not at the start of the expression"));
                    }
                    return Ok(Grouped::GlobalFlags);
                }
                Some((a, d)) => {
                    add = a;
                    del = d;
                    capture = false;
                }
            },
            _ => return Err(invalid(format!("unknown extension ?{}", c.text()))),
        }
    }
    if capture {
        state.open_group(name)?;
    }
    let gid = state.groups() - 1;
    let sub_verbose = (verbose || add & flag::VERBOSE != 0) && del & flag::VERBOSE == 0;
    let body = parse_sub(src, state, sub_verbose, nested + 1)?;
    if !src.matches(')')? {
        return Err(missing_paren());
    }
    if capture {
        state.closed[gid - 1] = true;
    }
    if atomic {
        return Ok(Grouped::Node(state.unsupported("an atomic group")));
    }
    Ok(Grouped::Node(Node::Group { add, del, capture, body }))
}

/// After `(?(`: a conditional backreference group.
fn parse_conditional(src: &mut Source, state: &mut State, verbose: bool, nested: usize) -> Result<(), PyReError> {
    let cond = src.getuntil(')', "group name")?;
    let is_ident = cond.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && cond.chars().all(|c| c.is_alphanumeric() || c == '_');
    let gid = if is_ident {
        check_group_name(state, &cond)?;
        state.group_named(&cond).ok_or_else(|| invalid(format!("unknown group name '{cond}'")))?
    } else {
        let gid: usize = cond
            .parse()
            .ok()
            .filter(|_| cond.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| invalid(format!("bad character in group name '{cond}'")))?;
        if gid == 0 {
            return Err(invalid("bad group number"));
        }
        state.grouprefs.push(gid);
        gid
    };
    state.check_lookbehind_group(gid)?;
    parse_seq(src, state, verbose, nested + 1, false)?;
    if src.matches('|')? {
        parse_seq(src, state, verbose, nested + 1, false)?;
        if src.next.is_some_and(|t| t.is('|')) {
            return Err(invalid("conditional backref with more than two branches"));
        }
    }
    if !src.matches(')')? {
        return Err(invalid("missing ), unterminated subpattern"));
    }
    Ok(())
}
