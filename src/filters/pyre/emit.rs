//! The parsed Python pattern as a Rust `regex` pattern that matches the
//! same text, and the same match first.
//!
//! Nothing in the output is left to the `regex` crate's own reading of a
//! construct that Python reads differently: every character is written as
//! `\x{…}` unless it is an ASCII letter, digit or `_`; every set, category
//! and `.` as an explicit class of Python's members (Python 3.11's Unicode
//! tables for `\w`, `\d`, `\s`); Python's flags are applied here rather
//! than passed on. The assertions that have no `regex` equivalent are
//! written as ones that Python patterns never produce otherwise, which the
//! [matcher](super::vm) evaluates with Python's meaning:
//!
//! | Python | written as | Python's meaning |
//! |---|---|---|
//! | `$` (no `re.M`) | `(?mR:$)` | end, or before a final `\n` |
//! | `\b` | `\b` | boundary of Python's `\w`; never in an empty string |
//! | `\B` | `\B` | not such a boundary; never in an empty string |
//! | `\B` under `re.A` | `(?mR:^)` | not an ASCII word boundary; never in an empty string |

use super::PyReError;
use super::ast::{At, Category, Greed, Node, Parsed, SetItem, flag};
use super::{case, tables};

/// A translated pattern.
#[derive(Debug)]
pub(super) struct Translation {
    /// The pattern in the `regex` crate's syntax.
    pub pattern: String,
    /// Whether it uses an assertion written for the matcher (see the
    /// module docs), so that the `regex` crate's own engines would not
    /// match it as Python does.
    pub reinterpreted: bool,
}

/// Translate a parsed pattern.
pub(super) fn translate(parsed: &Parsed) -> Result<Translation, PyReError> {
    if let Some(what) = parsed.unsupported {
        return Err(PyReError::Untranslatable(what.to_string()));
    }
    let mut e = Emitter { out: String::new(), reinterpreted: false };
    e.seq(&parsed.nodes, parsed.flags)?;
    Ok(Translation { pattern: e.out, reinterpreted: e.reinterpreted })
}

/// What matters about the ways a node can match, for
/// [`Emitter::check_repeat`]. "Paths" are the node's ways of matching in
/// the order a backtracking matcher tries them.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// Some path matches empty text.
    nullable: bool,
    /// Some path matches non-empty text.
    consuming: bool,
    /// Some empty path is tried before some non-empty path.
    empty_first: bool,
    /// More than one path matches empty text (or may).
    many_empty: bool,
}

impl Shape {
    const UNIT: Shape = Shape { nullable: false, consuming: true, empty_first: false, many_empty: false };
    const EMPTY: Shape = Shape { nullable: true, consuming: false, empty_first: false, many_empty: false };

    fn then(self, b: Shape) -> Shape {
        let a = self;
        let both = a.nullable && b.nullable;
        Shape {
            nullable: both,
            consuming: a.consuming || b.consuming,
            empty_first: both && (a.empty_first || (b.consuming && (b.empty_first || a.many_empty))),
            many_empty: both && (a.many_empty || b.many_empty),
        }
    }

    fn or(self, b: Shape) -> Shape {
        let a = self;
        Shape {
            nullable: a.nullable || b.nullable,
            consuming: a.consuming || b.consuming,
            empty_first: a.empty_first || b.empty_first || (a.nullable && b.consuming),
            many_empty: a.many_empty || b.many_empty || (a.nullable && b.nullable),
        }
    }
}

struct Emitter {
    out: String,
    reinterpreted: bool,
}

/// `_combine_flags`: a group's flags within its parent's.
fn combine(flags: u32, add: u32, del: u32) -> u32 {
    let flags = if add & flag::TYPE != 0 { flags & !flag::TYPE } else { flags };
    (flags | add) & !del
}

impl Emitter {
    fn seq(&mut self, nodes: &[Node], flags: u32) -> Result<Shape, PyReError> {
        let mut shape = Shape::EMPTY;
        for n in nodes {
            shape = shape.then(self.node(n, flags)?);
        }
        Ok(shape)
    }

    fn node(&mut self, node: &Node, flags: u32) -> Result<Shape, PyReError> {
        match node {
            Node::Literal(c) => {
                let set = self.literal(flags, *c);
                self.set(&set);
            }
            Node::NotLiteral(c) => {
                let set = self.literal(flags, *c);
                self.set(&set.complement());
            }
            Node::Any => {
                let set = if flags & flag::DOTALL != 0 { Set::all() } else { Set::of(&[(10, 10)]).complement() };
                self.set(&set);
            }
            Node::Category(c) => self.set(&category(*c, flags)),
            Node::In { negate, items } => {
                let set = self.set_items(items, flags)?;
                self.set(&if *negate { set.complement() } else { set });
            }
            Node::At(at) => {
                self.at(*at, flags);
                return Ok(Shape::EMPTY);
            }
            Node::Branch(alts) => {
                self.out.push_str("(?:");
                let mut shape = None;
                for (i, alt) in alts.iter().enumerate() {
                    if i > 0 {
                        self.out.push('|');
                    }
                    let s = self.seq(alt, flags)?;
                    shape = Some(shape.map_or(s, |acc: Shape| acc.or(s)));
                }
                self.out.push(')');
                return Ok(shape.unwrap_or(Shape::EMPTY));
            }
            Node::Group { add, del, capture, body } => {
                // A capturing group stays one, and nothing else is one: the
                // `regex` crate numbers groups by their `(` as Python does.
                self.out.push_str(if *capture { "(" } else { "(?:" });
                let shape = self.seq(body, combine(flags, *add, *del))?;
                self.out.push(')');
                return Ok(shape);
            }
            Node::Repeat { min, max, greed, body } => {
                self.out.push_str("(?:");
                let body_shape = self.seq(body, flags)?;
                self.out.push(')');
                match max {
                    Some(max) => self.out.push_str(&format!("{{{min},{max}}}")),
                    None => self.out.push_str(&format!("{{{min},}}")),
                }
                if *greed == Greed::Lazy {
                    self.out.push('?');
                }
                return check_repeat(*min, *max, *greed, body_shape);
            }
            Node::Opaque => return Err(PyReError::Untranslatable("an unsupported construct".into())),
        }
        Ok(Shape::UNIT)
    }

    /// The assertion, in the form the module docs give.
    fn at(&mut self, at: At, flags: u32) {
        let multiline = flags & flag::MULTILINE != 0;
        let unicode = flags & flag::UNICODE != 0;
        let (text, reinterpreted) = match at {
            At::Beginning if multiline => ("(?m:^)", false),
            At::Beginning | At::BeginningString => (r"\A", false),
            At::End if multiline => ("(?m:$)", false),
            At::End => ("(?mR:$)", true),
            At::EndString => (r"\z", false),
            At::Boundary if unicode => (r"\b", true),
            At::Boundary => (r"(?-u:\b)", false),
            At::NonBoundary if unicode => (r"\B", true),
            At::NonBoundary => ("(?mR:^)", true),
        };
        self.out.push_str(text);
        self.reinterpreted |= reinterpreted;
    }

    /// The members of a `[...]` (before negation).
    fn set_items(&mut self, items: &[SetItem], flags: u32) -> Result<Set, PyReError> {
        let mut chars = Vec::new();
        let mut cats = Set::default();
        for item in items {
            match *item {
                SetItem::Literal(c) => chars.push((c, c)),
                SetItem::Range(lo, hi) => chars.push((lo, hi)),
                SetItem::Category(c) => cats = cats.union(&category(c, flags)),
            }
        }
        let chars = Set::of(&chars);
        if flags & flag::IGNORECASE == 0 {
            return Ok(chars.union(&cats));
        }
        // With a cased member (`hascased`), the set is matched against the
        // lowered character, with its own members lowered
        // (`_optimize_charset`); categories test the lowered character too.
        // A non-BMP member makes the set cased; a non-BMP literal is kept
        // as it is, a non-BMP range becomes RANGE_UNI_IGNORE, which also
        // tries the character's Unicode upper case (even under `re.A`).
        let mut astral = Vec::new();
        for item in items {
            match *item {
                SetItem::Literal(c) if c > 0xFFFF => astral.push((c, c)),
                SetItem::Range(_, hi) if hi > 0xFFFF => return Err(ignore_case("a non-BMP range in a set")),
                _ => {}
            }
        }
        if flags & flag::UNICODE == 0 {
            let letters = Set::of(&[(0x41, 0x5A), (0x61, 0x7A)]);
            if astral.is_empty() && !chars.intersects(&letters) {
                return Ok(chars.union(&cats));
            }
            return Ok(ascii_preimage(&chars.map_ascii_lower().union(&cats)));
        }
        let bmp = chars.minus(&Set::of(&[(0x10000, 0x10FFFF)]));
        if astral.is_empty() && !case::has_cased(&bmp) {
            return Ok(chars.union(&cats));
        }
        Ok(case::preimage(&case::lowered(&bmp).union(&Set::of(&astral)).union(&cats)))
    }

    /// What a literal matches under `flags`.
    fn literal(&mut self, flags: u32, c: u32) -> Set {
        if flags & flag::IGNORECASE == 0 {
            return Set::of(&[(c, c)]);
        }
        if flags & flag::UNICODE != 0 {
            return if case::is_cased(c) { case::literal(c) } else { Set::of(&[(c, c)]) };
        }
        ascii_preimage(&Set::of(&[(c, c)]).map_ascii_lower())
    }

    fn set(&mut self, set: &Set) {
        set.write(&mut self.out);
    }
}

fn ignore_case(what: &str) -> PyReError {
    PyReError::Untranslatable(format!("case-insensitive matching (re.I) of {what}"))
}

/// Python stops repeating `(R)*` after an iteration that matched empty text
/// and goes on with the rest of the pattern; the `regex` crate instead drops
/// that way of matching and tries R's next alternative. The two agree
/// unless an empty way through R comes before a non-empty one (`(|a)*`,
/// `(a??)*`) in a greedy repeat of more than one iteration.
fn check_repeat(min: u32, max: Option<u32>, greed: Greed, body: Shape) -> Result<Shape, PyReError> {
    let many = max.is_none_or(|m| m >= 2);
    if greed == Greed::Greedy && many && body.nullable && body.empty_first {
        return Err(PyReError::Untranslatable(
            "a greedy repeat of a group that can match empty text before it tries to match more".into(),
        ));
    }
    let none = max == Some(0);
    let nullable = min == 0 || body.nullable || none;
    let consuming = body.consuming && !none;
    Ok(Shape {
        nullable,
        consuming,
        empty_first: body.empty_first || (greed == Greed::Lazy && min == 0 && consuming),
        many_empty: nullable && (body.nullable || body.many_empty),
    })
}

/// `\d` … under `flags`.
fn category(c: Category, flags: u32) -> Set {
    let unicode = flags & flag::UNICODE != 0;
    let (table, negate): (&[(u32, u32)], bool) = match c {
        Category::Digit => (if unicode { tables::DIGIT } else { &[(0x30, 0x39)] }, false),
        Category::NotDigit => (if unicode { tables::DIGIT } else { &[(0x30, 0x39)] }, true),
        Category::Space => (if unicode { tables::SPACE } else { ASCII_SPACE }, false),
        Category::NotSpace => (if unicode { tables::SPACE } else { ASCII_SPACE }, true),
        Category::Word => (if unicode { tables::WORD } else { ASCII_WORD }, false),
        Category::NotWord => (if unicode { tables::WORD } else { ASCII_WORD }, true),
    };
    let set = Set::of(table);
    if negate { set.complement() } else { set }
}

/// `\s` under `re.A`: Python's `Py_ISSPACE` (no `\x1c`–`\x1f`).
const ASCII_SPACE: &[(u32, u32)] = &[(0x09, 0x0D), (0x20, 0x20)];
/// `\w` under `re.A`.
pub(super) const ASCII_WORD: &[(u32, u32)] = &[(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)];

/// The characters whose ASCII lower case is in `lowered`: what Python's
/// `IN_IGNORE` matches with `lowered` as its (already lowered) members.
fn ascii_preimage(lowered: &Set) -> Set {
    let upper = Set::of(&[(0x41, 0x5A)]);
    let kept = lowered.minus(&upper);
    let ups: Vec<(u32, u32)> = (0x41..=0x5A).filter(|c| lowered.contains(c + 32)).map(|c| (c, c)).collect();
    kept.union(&Set::of(&ups))
}

/// A set of code points: sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Set {
    ranges: Vec<(u32, u32)>,
}

impl Set {
    const MAX: u32 = 0x10FFFF;

    pub(super) fn of(ranges: &[(u32, u32)]) -> Set {
        let mut r: Vec<(u32, u32)> = ranges.to_vec();
        r.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(r.len());
        for (lo, hi) in r {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Set { ranges: out }
    }

    fn all() -> Set {
        Set { ranges: vec![(0, Self::MAX)] }
    }

    pub(super) fn union(&self, other: &Set) -> Set {
        Set::of(&[self.ranges.as_slice(), other.ranges.as_slice()].concat())
    }

    fn complement(&self) -> Set {
        let mut out = Vec::new();
        let mut next = 0u32;
        for &(lo, hi) in &self.ranges {
            if lo > next {
                out.push((next, lo - 1));
            }
            next = hi.saturating_add(1);
        }
        if next <= Self::MAX {
            out.push((next, Self::MAX));
        }
        Set { ranges: out }
    }

    pub(super) fn minus(&self, other: &Set) -> Set {
        self.complement().union(other).complement()
    }

    pub(super) fn contains(&self, c: u32) -> bool {
        self.ranges
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    std::cmp::Ordering::Less
                } else if lo > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }

    pub(super) fn intersects(&self, other: &Set) -> bool {
        self.minus(&other.complement()) != Set::default()
    }

    pub(super) fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges
    }

    /// Each member's ASCII lower case.
    fn map_ascii_lower(&self) -> Set {
        let upper = Set::of(&[(0x41, 0x5A)]);
        let lowered: Vec<(u32, u32)> = (0x41..=0x5A).filter(|&c| self.contains(c)).map(|c| (c + 32, c + 32)).collect();
        self.minus(&upper).union(&Set::of(&lowered))
    }

    /// The set as a `regex` class; surrogates, which no Rust string holds,
    /// are left out, and an empty set is a class that never matches.
    fn write(&self, out: &mut String) {
        let set = self.minus(&Set::of(&[(0xD800, 0xDFFF)]));
        if let [(lo, hi)] = set.ranges[..]
            && lo == hi
        {
            write_char(out, lo);
            return;
        }
        if set.ranges.is_empty() {
            out.push_str(r"[^\x{0}-\x{10FFFF}]");
            return;
        }
        out.push('[');
        for &(lo, hi) in &set.ranges {
            write_char(out, lo);
            if hi > lo {
                out.push('-');
                write_char(out, hi);
            }
        }
        out.push(']');
    }
}

/// One code point, in a form that means itself in and out of a class.
fn write_char(out: &mut String, c: u32) {
    match char::from_u32(c) {
        Some(ch) if ch.is_ascii_alphanumeric() || ch == '_' => out.push(ch),
        _ => out.push_str(&format!("\\x{{{c:X}}}")),
    }
}
