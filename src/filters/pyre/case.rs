//! `re.IGNORECASE` without `re.A`, as Python 3.11's `_compiler.py` and
//! `sre` do it: a literal or a set matches a character when the
//! character's (simple) lower case is one of the members, the members being
//! lowered already and joined by `_casefix`'s extra equivalences.

use std::sync::LazyLock;

use super::emit::Set;
use super::tables::{CASED, EXTRA_CASES, LOWER};

/// The cased code points.
static CASED_SET: LazyLock<Set> = LazyLock::new(|| Set::of(CASED));

/// The code points whose lower case is not themselves.
static CHANGED: LazyLock<Set> = LazyLock::new(|| {
    let mut out = Vec::new();
    for_each_lowering(|c, _| out.push((c, c)));
    Set::of(&out)
});

/// `_sre.unicode_tolower`.
pub(super) fn lower(c: u32) -> u32 {
    let i = LOWER.partition_point(|&(_, last, _, _)| last < c);
    match LOWER.get(i) {
        Some(&(first, _, step, delta)) if first <= c && (c - first).is_multiple_of(step) => {
            c.wrapping_add_signed(delta)
        }
        _ => c,
    }
}

/// `_sre.unicode_iscased`.
pub(super) fn is_cased(c: u32) -> bool {
    CASED_SET.contains(c)
}

/// Whether a member of `set` is cased.
pub(super) fn has_cased(set: &Set) -> bool {
    set.intersects(&CASED_SET)
}

/// The lower cases of the members of `set` and their extra equivalents:
/// what `_optimize_charset` puts in its charmap for them.
pub(super) fn lowered(set: &Set) -> Set {
    let mut out: Vec<(u32, u32)> = set.minus(&CHANGED).ranges().to_vec();
    for_each_lowering(|c, lo| {
        if set.contains(c) {
            out.push((lo, lo));
        }
    });
    let base = Set::of(&out);
    let extra: Vec<(u32, u32)> =
        EXTRA_CASES.iter().filter(|&&(lo, _)| base.contains(lo)).map(|&(_, other)| (other, other)).collect();
    base.union(&Set::of(&extra))
}

/// The characters whose lower case is in `members`: what `sre`'s
/// `*_UNI_IGNORE` opcodes match with those members.
pub(super) fn preimage(members: &Set) -> Set {
    let mut out: Vec<(u32, u32)> = members.minus(&CHANGED).ranges().to_vec();
    for_each_lowering(|c, lo| {
        if members.contains(lo) {
            out.push((c, c));
        }
    });
    Set::of(&out)
}

/// What a cased literal `c` matches: `LITERAL_UNI_IGNORE`, or an
/// `IN_UNI_IGNORE` of its lower case and that one's extra equivalents.
pub(super) fn literal(c: u32) -> Set {
    let lo = lower(c);
    let mut members = vec![(lo, lo)];
    members.extend(EXTRA_CASES.iter().filter(|&&(l, _)| l == lo).map(|&(_, other)| (other, other)));
    preimage(&Set::of(&members))
}

fn for_each_lowering(mut f: impl FnMut(u32, u32)) {
    for &(first, last, step, delta) in LOWER {
        for c in (first..=last).step_by(step as usize) {
            f(c, c.wrapping_add_signed(delta));
        }
    }
}
