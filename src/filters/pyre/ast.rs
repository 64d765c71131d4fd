//! The tree Python's parser builds: its `(opcode, argument)` pairs, as far
//! as matching depends on them.

/// Python's `MAXREPEAT` (a repeat count must be below it).
pub(super) const MAXREPEAT: u64 = u32::MAX as u64;

/// A zero-width assertion, as the parser produces it (before flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum At {
    /// `^`
    Beginning,
    /// `\A`
    BeginningString,
    /// `$`
    End,
    /// `\Z`
    EndString,
    /// `\b`
    Boundary,
    /// `\B`
    NonBoundary,
}

/// `\d`, `\s`, `\w` and their negations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Category {
    Digit,
    NotDigit,
    Space,
    NotSpace,
    Word,
    NotWord,
}

/// One member of a `[...]` set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SetItem {
    Literal(u32),
    Range(u32, u32),
    Category(Category),
}

/// How a repeat takes its iterations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Greed {
    Greedy,
    Lazy,
    Possessive,
}

/// A node of the parsed pattern: Python's `(opcode, argument)` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    /// One code point (possibly a lone surrogate, which no Rust string holds).
    Literal(u32),
    /// `[^c]`
    NotLiteral(u32),
    /// `.`
    Any,
    /// `[...]`, negated or not.
    In {
        negate: bool,
        items: Vec<SetItem>,
    },
    /// A Python category escape outside a set (`\d` …).
    Category(Category),
    At(At),
    Branch(Vec<Vec<Node>>),
    Repeat {
        min: u32,
        max: Option<u32>,
        greed: Greed,
        body: Vec<Node>,
    },
    /// `(...)`, `(?:...)` or `(?flags-flags:...)`; `capture` for the first
    /// (numbered, named or not), which the translation keeps as a capturing
    /// group so that its number is Python's.
    Group {
        add: u32,
        del: u32,
        capture: bool,
        body: Vec<Node>,
    },
    /// Something parsed but not translatable (see [`Parsed::unsupported`]).
    Opaque,
}

/// A parsed pattern.
#[derive(Debug)]
pub(super) struct Parsed {
    pub nodes: Vec<Node>,
    /// The global flags (inline `(?x)` at the start), with `UNICODE` added
    /// unless `ASCII` is set, as `fix_flags` does.
    pub flags: u32,
    /// The first untranslatable construct met, if any.
    pub unsupported: Option<&'static str>,
    /// The capturing groups' names, group 1 first (`None`: unnamed); their
    /// number is Python's `Pattern.groups`.
    pub group_names: Vec<Option<String>>,
}

/// Python's `re` flags that matter for str patterns.
pub(super) mod flag {
    pub const IGNORECASE: u32 = 2;
    pub const MULTILINE: u32 = 8;
    pub const DOTALL: u32 = 16;
    pub const UNICODE: u32 = 32;
    pub const VERBOSE: u32 = 64;
    pub const ASCII: u32 = 256;
    pub const LOCALE: u32 = 4;
    /// `a`, `u` and `L`: at most one of them.
    pub const TYPE: u32 = ASCII | UNICODE | LOCALE;
}
