//! `difflib.Differ` as `difflib.ndiff` uses it: line diff, with similar
//! line pairs shown with `? ` hint lines marking the changed characters.

use super::{SequenceMatcher, Tag};
use crate::pyfmt::value::py_isspace;

/// Python's `difflib.IS_CHARACTER_JUNK`: a space or a tab.
///
/// ```
/// assert!(iotests::pyfmt::difflib::is_character_junk(&'\t'));
/// assert!(!iotests::pyfmt::difflib::is_character_junk(&'\n'));
/// ```
pub fn is_character_junk(c: &char) -> bool {
    *c == ' ' || *c == '\t'
}

/// Python's `list(difflib.ndiff(a, b))` with the defaults (`linejunk=None`,
/// `charjunk=IS_CHARACTER_JUNK`): each line prefixed by `"  "`, `"- "` or
/// `"+ "`; a replaced line that is similar enough to its replacement
/// (ratio of at least 0.75) is followed by a `"? "` line marking changes
/// with `^`, `-` and `+`. Like Python, the `?` lines end in `"\n"` and the
/// others end as the input lines do.
///
/// ```
/// use iotests::pyfmt::difflib::ndiff;
/// let diff = ndiff(&["one", "two", "three"], &["ore", "tree", "emu"]);
/// assert_eq!(diff, ["+ ore", "- one", "- two", "- three", "?  -\n", "+ tree", "+ emu"]);
/// ```
pub fn ndiff(a: &[&str], b: &[&str]) -> Vec<String> {
    let mut differ = Differ { out: Vec::new(), a, b, a_chars: chars_of(a), b_chars: chars_of(b) };
    let mut cruncher = SequenceMatcher::new(None, a, b, true);
    for op in cruncher.get_opcodes() {
        match op.tag {
            Tag::Replace => differ.fancy_replace(op.i1, op.i2, op.j1, op.j2),
            Tag::Delete => differ.dump_a('-', op.i1, op.i2),
            Tag::Insert => differ.dump_b('+', op.j1, op.j2),
            Tag::Equal => differ.dump_a(' ', op.i1, op.i2),
        }
    }
    differ.out
}

fn chars_of(lines: &[&str]) -> Vec<Vec<char>> {
    lines.iter().map(|line| line.chars().collect()).collect()
}

/// `Differ` with `charjunk=IS_CHARACTER_JUNK`, collecting its output.
struct Differ<'s> {
    out: Vec<String>,
    a: &'s [&'s str],
    b: &'s [&'s str],
    a_chars: Vec<Vec<char>>,
    b_chars: Vec<Vec<char>>,
}

impl Differ<'_> {
    /// `_dump(tag, a, lo, hi)`.
    fn dump_a(&mut self, tag: char, lo: usize, hi: usize) {
        self.out.extend(self.a[lo..hi].iter().map(|line| format!("{tag} {line}")));
    }

    /// `_dump(tag, b, lo, hi)`.
    fn dump_b(&mut self, tag: char, lo: usize, hi: usize) {
        self.out.extend(self.b[lo..hi].iter().map(|line| format!("{tag} {line}")));
    }

    /// `_plain_replace`: the shorter block first.
    fn plain_replace(&mut self, alo: usize, ahi: usize, blo: usize, bhi: usize) {
        if bhi - blo < ahi - alo {
            self.dump_b('+', blo, bhi);
            self.dump_a('-', alo, ahi);
        } else {
            self.dump_a('-', alo, ahi);
            self.dump_b('+', blo, bhi);
        }
    }

    /// `_fancy_replace`: finds the most similar pair of lines in the two
    /// blocks (ratio above 0.74, the first of equal ones in `b`, then in
    /// `a`), diffs the blocks before it, shows it with hint lines, and diffs
    /// the blocks after it. Without a pair of at least 0.75, an identical
    /// pair (junk lines only) synchronizes instead, else a plain replace.
    fn fancy_replace(&mut self, alo: usize, ahi: usize, blo: usize, bhi: usize) {
        let (mut best_ratio, cutoff) = (0.74, 0.75);
        let (mut best_i, mut best_j) = (0, 0);
        let mut eq: Option<(usize, usize)> = None;
        {
            let empty: &[char] = &[];
            let mut cruncher = SequenceMatcher::new(Some(is_character_junk), empty, empty, true);
            for j in blo..bhi {
                cruncher.set_seq2(&self.b_chars[j]);
                for i in alo..ahi {
                    if self.a[i] == self.b[j] {
                        eq.get_or_insert((i, j));
                        continue;
                    }
                    cruncher.set_seq1(&self.a_chars[i]);
                    if cruncher.real_quick_ratio() > best_ratio
                        && cruncher.quick_ratio() > best_ratio
                        && cruncher.ratio() > best_ratio
                    {
                        (best_ratio, best_i, best_j) = (cruncher.ratio(), i, j);
                    }
                }
            }
        }
        let synch_on_equal = if best_ratio < cutoff {
            match eq {
                None => return self.plain_replace(alo, ahi, blo, bhi),
                Some((i, j)) => {
                    (best_i, best_j) = (i, j);
                    true
                }
            }
        } else {
            false
        };

        self.fancy_helper(alo, best_i, blo, best_j);
        if synch_on_equal {
            self.out.push(format!("  {}", self.a[best_i]));
        } else {
            self.qformat(best_i, best_j);
        }
        self.fancy_helper(best_i + 1, ahi, best_j + 1, bhi);
    }

    /// `_fancy_helper`.
    fn fancy_helper(&mut self, alo: usize, ahi: usize, blo: usize, bhi: usize) {
        if alo < ahi {
            if blo < bhi {
                self.fancy_replace(alo, ahi, blo, bhi);
            } else {
                self.dump_a('-', alo, ahi);
            }
        } else if blo < bhi {
            self.dump_b('+', blo, bhi);
        }
    }

    /// The intraline tags of `_fancy_replace` and `_qformat`: both lines,
    /// each followed by its `? ` line where it has changes.
    fn qformat(&mut self, i: usize, j: usize) {
        let (aelt, belt) = (&self.a_chars[i], &self.b_chars[j]);
        let (mut atags, mut btags) = (String::new(), String::new());
        let mut cruncher = SequenceMatcher::new(Some(is_character_junk), aelt, belt, true);
        for op in cruncher.get_opcodes() {
            let (la, lb) = (op.i2 - op.i1, op.j2 - op.j1);
            let (ca, cb) = match op.tag {
                Tag::Replace => ('^', '^'),
                Tag::Delete => ('-', ' '),
                Tag::Insert => (' ', '+'),
                Tag::Equal => (' ', ' '),
            };
            if op.tag != Tag::Insert {
                atags.extend(std::iter::repeat_n(ca, la));
            }
            if op.tag != Tag::Delete {
                btags.extend(std::iter::repeat_n(cb, lb));
            }
        }
        let atags = keep_original_ws(aelt, &atags);
        let btags = keep_original_ws(belt, &btags);
        self.out.push(format!("- {}", self.a[i]));
        if !atags.is_empty() {
            self.out.push(format!("? {atags}\n"));
        }
        self.out.push(format!("+ {}", self.b[j]));
        if !btags.is_empty() {
            self.out.push(format!("? {btags}\n"));
        }
    }
}

/// `_keep_original_ws(s, tags).rstrip()`: where a tag is a space and the
/// line has whitespace (a tab, say), the hint keeps the line's character so
/// that the marks line up.
fn keep_original_ws(line: &[char], tags: &str) -> String {
    let kept: String =
        line.iter().zip(tags.chars()).map(|(&c, tag)| if tag == ' ' && py_isspace(c) { c } else { tag }).collect();
    kept.trim_end_matches(py_isspace).to_string()
}
