//! A Pike VM over the `regex` crate's compiled NFA (regex-automata's
//! Thompson NFA) that searches as Python's `sre` does:
//!
//! * leftmost-first, like the `regex` crate's own engines;
//! * the assertions the [translator](super::emit) writes for Python's `$`,
//!   `\b` and `\B` have Python's meaning (its `\w`, and no `\b`/`\B` at all
//!   in an empty string);
//! * after an empty match, `re.sub` searches again with `must_advance`: a
//!   match may not be empty *at the place it starts looking*, but a
//!   non-empty way to match there, even one of lower priority, is taken
//!   (Python 3.7+: `re.sub('|a', '-', 'a') == '---'`). The VM does that by
//!   passing over such an empty match and letting the threads of lower
//!   priority go on, which is what `sre`'s backtracking does.
//!
//! [`Vm::find`] gives match bounds only (capture states are plain epsilon
//! moves there); [`Vm::captures`] also records where each group matched,
//! for `re.sub`'s group references: each thread carries its own slots, and
//! the thread of highest priority that reaches a state keeps its slots, so
//! the groups are those of the path Python's backtracking takes first.

use std::sync::LazyLock;

use regex_automata::nfa::thompson::{NFA, State};
use regex_automata::util::look::Look;
use regex_automata::util::primitives::StateID;

use super::emit::Set;
use super::tables;

/// A compiled pattern for the VM.
#[derive(Debug, Clone)]
pub(super) struct Vm {
    nfa: NFA,
    /// Read the assertions as the translator means them (else as the
    /// `regex` crate does).
    python: bool,
}

/// Python's `\w`, for `\b` and `\B`.
static WORD: LazyLock<Set> = LazyLock::new(|| Set::of(tables::WORD));

/// The threads at one position, in priority order, each with where its
/// match started.
struct Threads {
    dense: Vec<StateID>,
    sparse: Vec<u32>,
    start: Vec<usize>,
}

impl Threads {
    fn new(n: usize) -> Threads {
        Threads { dense: Vec::with_capacity(n), sparse: vec![0; n], start: vec![0; n] }
    }
    fn contains(&self, id: StateID) -> bool {
        let i = self.sparse[id.as_usize()] as usize;
        self.dense.get(i) == Some(&id)
    }
    fn insert(&mut self, id: StateID, start: usize) {
        self.sparse[id.as_usize()] = self.dense.len() as u32;
        self.dense.push(id);
        self.start[id.as_usize()] = start;
    }
    fn clear(&mut self) {
        self.dense.clear();
    }
}

/// Scratch space for searches; one per [`Vm::sub`]-like loop.
pub(super) struct Cache {
    cur: Threads,
    next: Threads,
    stack: Vec<StateID>,
}

/// Scratch space for [`Vm::captures`].
pub(super) struct CapCache {
    cur: Threads,
    next: Threads,
    /// Each state's slots in `cur` and `next`: `slot_len` entries per state.
    cur_slots: Vec<Option<usize>>,
    next_slots: Vec<Option<usize>>,
    stack: Vec<Frame>,
    /// The slots of the path being followed by [`Vm::add_cap`].
    scratch: Vec<Option<usize>>,
}

/// A step of [`Vm::add_cap`]'s depth-first walk.
enum Frame {
    Explore(StateID),
    /// Put a slot back as it was before the walk went through a capture.
    Restore {
        slot: usize,
        old: Option<usize>,
    },
}

impl Vm {
    /// Compile a pattern: a translated one (`python`), or one in the
    /// `regex` crate's own syntax and meaning.
    pub(super) fn new(pattern: &str, python: bool) -> Result<Vm, String> {
        let nfa = NFA::compiler().configure(NFA::config().shrink(false)).build(pattern).map_err(|e| e.to_string())?;
        Ok(Vm { nfa, python })
    }

    pub(super) fn cache(&self) -> Cache {
        let n = self.nfa.states().len();
        Cache { cur: Threads::new(n), next: Threads::new(n), stack: Vec::new() }
    }

    /// The leftmost-first match in `hay` starting at or after `at` (a char
    /// boundary); with `must_advance`, not an empty one at `at`.
    pub(super) fn find(&self, cache: &mut Cache, hay: &str, at: usize, must_advance: bool) -> Option<(usize, usize)> {
        let bytes = hay.as_bytes();
        let Cache { cur, next, stack } = cache;
        cur.clear();
        next.clear();
        let mut found = None;
        let mut pos = at;
        loop {
            if found.is_none() && hay.is_char_boundary(pos) {
                // A new thread starting here, of lower priority than those
                // that started further left.
                self.add(cur, stack, hay, pos, self.nfa.start_anchored(), pos);
            }
            if cur.dense.is_empty() && found.is_some() {
                break;
            }
            for &id in &cur.dense {
                let start = cur.start[id.as_usize()];
                let to = match *self.nfa.state(id) {
                    State::Match { .. } => {
                        if must_advance && pos == at {
                            // sre's must_advance: look for a longer way.
                            continue;
                        }
                        found = Some((start, pos));
                        // Threads of lower priority lose to this match.
                        break;
                    }
                    State::ByteRange { trans } => {
                        bytes.get(pos).and_then(|&b| trans.matches_byte(b).then_some(trans.next))
                    }
                    State::Sparse(ref t) => bytes.get(pos).and_then(|&b| t.matches_byte(b)),
                    State::Dense(ref t) => bytes.get(pos).and_then(|&b| t.matches_byte(b)),
                    _ => None,
                };
                if let Some(to) = to {
                    self.add(next, stack, hay, pos + 1, to, start);
                }
            }
            if pos >= bytes.len() {
                break;
            }
            std::mem::swap(cur, next);
            next.clear();
            pos += 1;
        }
        found
    }

    /// The number of capture slots: two per group, group 0 (the match) first.
    pub(super) fn slot_len(&self) -> usize {
        self.nfa.group_info().slot_len()
    }

    pub(super) fn cap_cache(&self) -> CapCache {
        let n = self.nfa.states().len();
        let slots = self.slot_len();
        CapCache {
            cur: Threads::new(n),
            next: Threads::new(n),
            cur_slots: vec![None; n * slots],
            next_slots: vec![None; n * slots],
            stack: Vec::new(),
            scratch: vec![None; slots],
        }
    }

    /// As [`find`](Self::find), with where each group matched: the slots
    /// (start and end of group 0, of group 1, …; `None` for a group that
    /// did not take part).
    pub(super) fn captures(
        &self,
        cache: &mut CapCache,
        hay: &str,
        at: usize,
        must_advance: bool,
    ) -> Option<Vec<Option<usize>>> {
        let bytes = hay.as_bytes();
        let n = self.slot_len();
        let CapCache { cur, next, cur_slots, next_slots, stack, scratch } = cache;
        cur.clear();
        next.clear();
        let mut found = None;
        let mut pos = at;
        loop {
            if found.is_none() && hay.is_char_boundary(pos) {
                scratch.fill(None);
                self.add_cap(cur, cur_slots, stack, scratch, hay, pos, self.nfa.start_anchored());
            }
            if cur.dense.is_empty() && found.is_some() {
                break;
            }
            for &id in &cur.dense {
                let slots = &cur_slots[id.as_usize() * n..][..n];
                let to = match *self.nfa.state(id) {
                    State::Match { .. } => {
                        if must_advance && pos == at {
                            continue;
                        }
                        found = Some(slots.to_vec());
                        break;
                    }
                    State::ByteRange { trans } => {
                        bytes.get(pos).and_then(|&b| trans.matches_byte(b).then_some(trans.next))
                    }
                    State::Sparse(ref t) => bytes.get(pos).and_then(|&b| t.matches_byte(b)),
                    State::Dense(ref t) => bytes.get(pos).and_then(|&b| t.matches_byte(b)),
                    _ => None,
                };
                if let Some(to) = to {
                    scratch.copy_from_slice(slots);
                    self.add_cap(next, next_slots, stack, scratch, hay, pos + 1, to);
                }
            }
            if pos >= bytes.len() {
                break;
            }
            std::mem::swap(cur, next);
            std::mem::swap(cur_slots, next_slots);
            next.clear();
            pos += 1;
        }
        found
    }

    /// [`add`](Self::add), recording the slots: `scratch` holds those of
    /// the path that led to `id`, and each state added gets a copy of the
    /// slots it was reached with.
    #[allow(clippy::too_many_arguments)]
    fn add_cap(
        &self,
        list: &mut Threads,
        slots: &mut [Option<usize>],
        stack: &mut Vec<Frame>,
        scratch: &mut [Option<usize>],
        hay: &str,
        pos: usize,
        id: StateID,
    ) {
        let n = scratch.len();
        stack.push(Frame::Explore(id));
        while let Some(frame) = stack.pop() {
            let id = match frame {
                Frame::Explore(id) => id,
                Frame::Restore { slot, old } => {
                    scratch[slot] = old;
                    continue;
                }
            };
            if list.contains(id) {
                continue;
            }
            list.insert(id, pos);
            slots[id.as_usize() * n..][..n].copy_from_slice(scratch);
            match *self.nfa.state(id) {
                State::Look { look, next } if self.look(look, hay, pos) => stack.push(Frame::Explore(next)),
                State::Union { ref alternates } => stack.extend(alternates.iter().rev().map(|&a| Frame::Explore(a))),
                State::BinaryUnion { alt1, alt2 } => {
                    stack.push(Frame::Explore(alt2));
                    stack.push(Frame::Explore(alt1));
                }
                State::Capture { next, slot, .. } => {
                    let slot = slot.as_usize();
                    if slot < n {
                        stack.push(Frame::Restore { slot, old: scratch[slot] });
                        scratch[slot] = Some(pos);
                    }
                    stack.push(Frame::Explore(next));
                }
                _ => {}
            }
        }
    }

    /// Add `id` and everything it reaches without consuming input at `pos`
    /// to `list`, depth first in priority order.
    fn add(&self, list: &mut Threads, stack: &mut Vec<StateID>, hay: &str, pos: usize, id: StateID, start: usize) {
        stack.push(id);
        while let Some(id) = stack.pop() {
            if list.contains(id) {
                continue;
            }
            list.insert(id, start);
            match *self.nfa.state(id) {
                State::Look { look, next } if self.look(look, hay, pos) => stack.push(next),
                State::Union { ref alternates } => stack.extend(alternates.iter().rev()),
                State::BinaryUnion { alt1, alt2 } => {
                    stack.push(alt2);
                    stack.push(alt1);
                }
                State::Capture { next, .. } => stack.push(next),
                _ => {}
            }
        }
    }

    /// A look-around assertion at `pos`, with Python's meaning.
    fn look(&self, look: Look, text: &str, pos: usize) -> bool {
        if !self.python {
            return self.nfa.look_matcher().matches(look, text.as_bytes(), pos);
        }
        let hay = text.as_bytes();
        let len = hay.len();
        match look {
            Look::Start => pos == 0,
            Look::End => pos == len,
            Look::StartLF => pos == 0 || hay[pos - 1] == b'\n',
            Look::EndLF => pos == len || hay[pos] == b'\n',
            // Python's `$`.
            Look::EndCRLF => pos == len || (pos + 1 == len && hay[pos] == b'\n'),
            Look::WordAscii => len > 0 && self.ascii_word_before(hay, pos) != self.ascii_word_at(hay, pos),
            // Python's `\B` under `re.A`.
            Look::StartCRLF => len > 0 && self.ascii_word_before(hay, pos) == self.ascii_word_at(hay, pos),
            Look::WordUnicode => len > 0 && self.word_before(text, pos) != self.word_at(text, pos),
            Look::WordUnicodeNegate => len > 0 && self.word_before(text, pos) == self.word_at(text, pos),
            // Never written by the translator.
            _ => false,
        }
    }

    fn ascii_word_before(&self, hay: &[u8], pos: usize) -> bool {
        pos > 0 && is_ascii_word(hay[pos - 1])
    }

    fn ascii_word_at(&self, hay: &[u8], pos: usize) -> bool {
        pos < hay.len() && is_ascii_word(hay[pos])
    }

    fn word_before(&self, hay: &str, pos: usize) -> bool {
        let c = hay.get(..pos).and_then(|t| t.chars().next_back());
        c.is_some_and(|c| WORD.contains(c as u32))
    }

    fn word_at(&self, hay: &str, pos: usize) -> bool {
        let c = hay.get(pos..).and_then(|t| t.chars().next());
        c.is_some_and(|c| WORD.contains(c as u32))
    }
}

fn is_ascii_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
