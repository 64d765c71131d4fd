//! Python's `difflib.SequenceMatcher` and `difflib.ndiff`, giving the same
//! matches, opcodes, ratios and diff lines as CPython 3.11.
//!
//! Ported from CPython 3.11's `Lib/difflib.py` (Tim Peters' Ratcliff/Obershelp
//! variant with the junk and "popular element" heuristics).

mod differ;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

pub use differ::{is_character_junk, ndiff};

/// The multiply-rotate hash of rustc's `FxHasher`: the matcher hashes
/// every character or line it looks up, and SipHash's resistance to
/// chosen collisions is not needed for diffing test output.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;
type FxMap<K, V> = HashMap<K, V, FxBuild>;
type FxSet<K> = HashSet<K, FxBuild>;

/// A matching block: `a[a..a + size] == b[b..b + size]` (Python's
/// `difflib.Match`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Match {
    /// Start in the first sequence.
    pub a: usize,
    /// Start in the second sequence.
    pub b: usize,
    /// Length of the match.
    pub size: usize,
}

/// What an [`Opcode`] does to turn `a[i1..i2]` into `b[j1..j2]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// `a[i1..i2]` is replaced by `b[j1..j2]`.
    Replace,
    /// `a[i1..i2]` is deleted (`j1 == j2`).
    Delete,
    /// `b[j1..j2]` is inserted (`i1 == i2`).
    Insert,
    /// `a[i1..i2] == b[j1..j2]`.
    Equal,
}

impl Tag {
    /// Python's name for the tag.
    ///
    /// ```
    /// assert_eq!(iotests::pyfmt::difflib::Tag::Replace.as_str(), "replace");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Tag::Replace => "replace",
            Tag::Delete => "delete",
            Tag::Insert => "insert",
            Tag::Equal => "equal",
        }
    }
}

/// One step of [`SequenceMatcher::get_opcodes`]: Python's 5-tuple
/// `(tag, i1, i2, j1, j2)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opcode {
    /// What happens.
    pub tag: Tag,
    /// Start in `a`.
    pub i1: usize,
    /// End in `a`.
    pub i2: usize,
    /// Start in `b`.
    pub j1: usize,
    /// End in `b`.
    pub j2: usize,
}

/// Python's `difflib.SequenceMatcher(isjunk, a, b, autojunk)` over slices
/// of any hashable elements (lines, characters).
///
/// `isjunk` marks elements of `b` that never start a match (they can only
/// extend one); with `autojunk`, elements making up more than 1% of a `b`
/// of 200 or more are treated as junk too ("popular").
///
/// ```
/// use iotests::pyfmt::difflib::{Match, SequenceMatcher};
/// let (a, b): (Vec<char>, Vec<char>) = ("abxcd".chars().collect(), "abcd".chars().collect());
/// let mut s = SequenceMatcher::new(None, &a, &b, true);
/// assert_eq!(s.get_matching_blocks(), [Match { a: 0, b: 0, size: 2 }, Match { a: 3, b: 2, size: 2 }, Match { a: 5, b: 4, size: 0 }]);
/// assert_eq!(s.ratio(), 0.8888888888888888);
/// let ops: Vec<_> = s.get_opcodes().iter().map(|o| (o.tag.as_str(), o.i1, o.i2, o.j1, o.j2)).collect();
/// assert_eq!(ops, [("equal", 0, 2, 0, 2), ("delete", 2, 3, 2, 2), ("equal", 3, 5, 2, 4)]);
/// ```
pub struct SequenceMatcher<'s, T: Eq + Hash> {
    isjunk: Option<fn(&T) -> bool>,
    autojunk: bool,
    a: &'s [T],
    b: &'s [T],
    /// For each non-junk, non-popular element of `b`, where it occurs.
    b2j: FxMap<&'s T, Vec<usize>>,
    bjunk: FxSet<&'s T>,
    matching_blocks: Option<Vec<Match>>,
    opcodes: Option<Vec<Opcode>>,
    fullbcount: Option<FxMap<&'s T, usize>>,
}

impl<'s, T: Eq + Hash> SequenceMatcher<'s, T> {
    /// Python's `SequenceMatcher(isjunk, a, b, autojunk)`.
    ///
    /// ```
    /// use iotests::pyfmt::difflib::SequenceMatcher;
    /// let (a, b) = (["x", "y"], ["y", "x"]);
    /// assert_eq!(SequenceMatcher::new(None, &a, &b, true).ratio(), 0.5);
    /// ```
    pub fn new(isjunk: Option<fn(&T) -> bool>, a: &'s [T], b: &'s [T], autojunk: bool) -> Self {
        let mut s = SequenceMatcher {
            isjunk,
            autojunk,
            a,
            b,
            b2j: FxMap::default(),
            bjunk: FxSet::default(),
            matching_blocks: None,
            opcodes: None,
            fullbcount: None,
        };
        s.chain_b();
        s
    }

    /// Python's `set_seq1(a)`: compares a new `a` with the same `b`.
    ///
    /// ```
    /// use iotests::pyfmt::difflib::SequenceMatcher;
    /// let mut s = SequenceMatcher::new(None, &[1, 2][..], &[2, 3][..], true);
    /// s.set_seq1(&[2, 3]);
    /// assert_eq!(s.ratio(), 1.0);
    /// ```
    pub fn set_seq1(&mut self, a: &'s [T]) {
        self.a = a;
        self.matching_blocks = None;
        self.opcodes = None;
    }

    /// Python's `set_seq2(b)`: compares the same `a` with a new `b`,
    /// re-indexing `b`.
    ///
    /// ```
    /// use iotests::pyfmt::difflib::SequenceMatcher;
    /// let mut s = SequenceMatcher::new(None, &[1, 2][..], &[2, 3][..], true);
    /// s.set_seq2(&[1, 2, 3]);
    /// assert_eq!(s.real_quick_ratio(), 0.8);
    /// ```
    pub fn set_seq2(&mut self, b: &'s [T]) {
        self.b = b;
        self.matching_blocks = None;
        self.opcodes = None;
        self.fullbcount = None;
        self.chain_b();
    }

    /// Python's `set_seqs(a, b)`.
    ///
    /// ```
    /// use iotests::pyfmt::difflib::SequenceMatcher;
    /// let mut s = SequenceMatcher::new(None, &[1][..], &[1][..], true);
    /// s.set_seqs(&[1, 2], &[3]);
    /// assert_eq!(s.ratio(), 0.0);
    /// ```
    pub fn set_seqs(&mut self, a: &'s [T], b: &'s [T]) {
        self.set_seq1(a);
        self.set_seq2(b);
    }

    /// `__chain_b`: indexes `b`, leaving out junk and popular elements.
    fn chain_b(&mut self) {
        let b = self.b;
        let mut b2j: FxMap<&'s T, Vec<usize>> = FxMap::default();
        for (i, elt) in b.iter().enumerate() {
            b2j.entry(elt).or_default().push(i);
        }
        let mut junk = FxSet::default();
        if let Some(isjunk) = self.isjunk {
            junk.extend(b2j.keys().copied().filter(|elt| isjunk(elt)));
            b2j.retain(|elt, _| !junk.contains(elt));
        }
        let n = b.len();
        if self.autojunk && n >= 200 {
            let ntest = n / 100 + 1;
            b2j.retain(|_, idxs| idxs.len() <= ntest);
        }
        self.b2j = b2j;
        self.bjunk = junk;
    }

    fn is_bjunk(&self, elt: &T) -> bool {
        self.bjunk.contains(elt)
    }

    /// Python's `find_longest_match(alo, ahi, blo, bhi)`: the longest
    /// matching block in `a[alo..ahi]` and `b[blo..bhi]` that does not start
    /// with junk, extended by junk on both sides; of equally long ones the
    /// earliest in `a`, then in `b`.
    ///
    /// ```
    /// use iotests::pyfmt::difflib::{Match, SequenceMatcher};
    /// let (a, b): (Vec<char>, Vec<char>) = (" abcd".chars().collect(), "abcd abcd".chars().collect());
    /// let s = SequenceMatcher::new(None, &a, &b, true);
    /// assert_eq!(s.find_longest_match(0, 5, 0, 9), Match { a: 0, b: 4, size: 5 });
    /// ```
    pub fn find_longest_match(&self, alo: usize, ahi: usize, blo: usize, bhi: usize) -> Match {
        let (a, b) = (self.a, self.b);
        let (mut besti, mut bestj, mut bestsize) = (alo, blo, 0);
        // j2len of the previous row of `a`: (j, length of the match ending
        // at a[i-1], b[j]), in increasing j, as b2j's lists are.
        let mut j2len: Vec<(usize, usize)> = Vec::new();
        let mut newj2len: Vec<(usize, usize)> = Vec::new();
        for (i, elt) in a.iter().enumerate().take(ahi).skip(alo) {
            newj2len.clear();
            let mut prev = 0;
            for &j in self.b2j.get(elt).map_or(&[][..], Vec::as_slice) {
                if j < blo {
                    continue;
                }
                if j >= bhi {
                    break;
                }
                // j - 1 only grows, so the lookup walks j2len once.
                while prev < j2len.len() && j2len[prev].0 + 1 < j {
                    prev += 1;
                }
                let before = match j2len.get(prev) {
                    Some(&(pj, k)) if pj + 1 == j => k,
                    _ => 0,
                };
                let k = before + 1;
                newj2len.push((j, k));
                if k > bestsize {
                    (besti, bestj, bestsize) = (i + 1 - k, j + 1 - k, k);
                }
            }
            std::mem::swap(&mut j2len, &mut newj2len);
        }
        // Extend with equal non-junk elements, then with equal junk.
        for junk in [false, true] {
            while besti > alo && bestj > blo && self.is_bjunk(&b[bestj - 1]) == junk && a[besti - 1] == b[bestj - 1] {
                (besti, bestj, bestsize) = (besti - 1, bestj - 1, bestsize + 1);
            }
            while besti + bestsize < ahi
                && bestj + bestsize < bhi
                && self.is_bjunk(&b[bestj + bestsize]) == junk
                && a[besti + bestsize] == b[bestj + bestsize]
            {
                bestsize += 1;
            }
        }
        Match { a: besti, b: bestj, size: bestsize }
    }

    /// Python's `get_matching_blocks()`: non-adjacent matching blocks in
    /// increasing order, ending with the sentinel `(len(a), len(b), 0)`.
    ///
    /// ```
    /// use iotests::pyfmt::difflib::{Match, SequenceMatcher};
    /// let mut s = SequenceMatcher::new(None, &["a", "b"][..], &["b"][..], true);
    /// assert_eq!(s.get_matching_blocks(), [Match { a: 1, b: 0, size: 1 }, Match { a: 2, b: 1, size: 0 }]);
    /// ```
    pub fn get_matching_blocks(&mut self) -> Vec<Match> {
        if let Some(blocks) = &self.matching_blocks {
            return blocks.clone();
        }
        let (la, lb) = (self.a.len(), self.b.len());
        let mut queue = vec![(0, la, 0, lb)];
        let mut blocks = Vec::new();
        while let Some((alo, ahi, blo, bhi)) = queue.pop() {
            let x = self.find_longest_match(alo, ahi, blo, bhi);
            let (i, j, k) = (x.a, x.b, x.size);
            if k > 0 {
                blocks.push(x);
                if alo < i && blo < j {
                    queue.push((alo, i, blo, j));
                }
                if i + k < ahi && j + k < bhi {
                    queue.push((i + k, ahi, j + k, bhi));
                }
            }
        }
        blocks.sort();
        let mut merged = Vec::new();
        let (mut i1, mut j1, mut k1) = (0, 0, 0);
        for Match { a: i2, b: j2, size: k2 } in blocks {
            if i1 + k1 == i2 && j1 + k1 == j2 {
                k1 += k2;
            } else {
                if k1 > 0 {
                    merged.push(Match { a: i1, b: j1, size: k1 });
                }
                (i1, j1, k1) = (i2, j2, k2);
            }
        }
        if k1 > 0 {
            merged.push(Match { a: i1, b: j1, size: k1 });
        }
        merged.push(Match { a: la, b: lb, size: 0 });
        self.matching_blocks = Some(merged.clone());
        merged
    }

    /// Python's `get_opcodes()`: how to turn `a` into `b`.
    ///
    /// ```
    /// use iotests::pyfmt::difflib::{Opcode, SequenceMatcher, Tag};
    /// let mut s = SequenceMatcher::new(None, &[1, 2][..], &[3][..], true);
    /// assert_eq!(s.get_opcodes(), [Opcode { tag: Tag::Replace, i1: 0, i2: 2, j1: 0, j2: 1 }]);
    /// ```
    pub fn get_opcodes(&mut self) -> Vec<Opcode> {
        if let Some(opcodes) = &self.opcodes {
            return opcodes.clone();
        }
        let (mut i, mut j) = (0, 0);
        let mut answer = Vec::new();
        for Match { a: ai, b: bj, size } in self.get_matching_blocks() {
            let tag = match (i < ai, j < bj) {
                (true, true) => Some(Tag::Replace),
                (true, false) => Some(Tag::Delete),
                (false, true) => Some(Tag::Insert),
                (false, false) => None,
            };
            if let Some(tag) = tag {
                answer.push(Opcode { tag, i1: i, i2: ai, j1: j, j2: bj });
            }
            (i, j) = (ai + size, bj + size);
            if size > 0 {
                answer.push(Opcode { tag: Tag::Equal, i1: ai, i2: i, j1: bj, j2: j });
            }
        }
        self.opcodes = Some(answer.clone());
        answer
    }

    /// Python's `ratio()`: `2.0 * matches / (len(a) + len(b))`, 1.0 for two
    /// empty sequences.
    ///
    /// ```
    /// use iotests::pyfmt::difflib::SequenceMatcher;
    /// let (a, b): (Vec<char>, Vec<char>) = ("abcd".chars().collect(), "bcde".chars().collect());
    /// assert_eq!(SequenceMatcher::new(None, &a, &b, true).ratio(), 0.75);
    /// ```
    pub fn ratio(&mut self) -> f64 {
        let matches = self.get_matching_blocks().iter().map(|m| m.size).sum();
        calculate_ratio(matches, self.a.len() + self.b.len())
    }

    /// Python's `quick_ratio()`: an upper bound on [`ratio`](Self::ratio)
    /// from element counts alone.
    ///
    /// ```
    /// use iotests::pyfmt::difflib::SequenceMatcher;
    /// let (a, b) = (["x", "y"], ["y", "x"]);
    /// assert_eq!(SequenceMatcher::new(None, &a, &b, true).quick_ratio(), 1.0);
    /// ```
    pub fn quick_ratio(&mut self) -> f64 {
        let b = self.b;
        let fullbcount = self.fullbcount.get_or_insert_with(|| {
            let mut counts = FxMap::default();
            for elt in b {
                *counts.entry(elt).or_insert(0) += 1;
            }
            counts
        });
        let mut avail: FxMap<&T, isize> = FxMap::default();
        let mut matches = 0;
        for elt in self.a {
            let numb = *avail.get(elt).unwrap_or(&(fullbcount.get(elt).copied().unwrap_or(0) as isize));
            avail.insert(elt, numb - 1);
            if numb > 0 {
                matches += 1;
            }
        }
        calculate_ratio(matches, self.a.len() + self.b.len())
    }

    /// Python's `real_quick_ratio()`: an upper bound on
    /// [`ratio`](Self::ratio) from the lengths alone.
    ///
    /// ```
    /// use iotests::pyfmt::difflib::SequenceMatcher;
    /// assert_eq!(SequenceMatcher::new(None, &[1, 2, 3][..], &[4][..], true).real_quick_ratio(), 0.5);
    /// ```
    pub fn real_quick_ratio(&self) -> f64 {
        let (la, lb) = (self.a.len(), self.b.len());
        calculate_ratio(la.min(lb), la + lb)
    }
}

/// `_calculate_ratio`: Python's `2.0 * matches / length`.
fn calculate_ratio(matches: usize, length: usize) -> f64 {
    if length > 0 { 2.0 * matches as f64 / length as f64 } else { 1.0 }
}
