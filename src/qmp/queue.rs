//! The client's event queues, with the size of each event as it came off
//! the wire, so that their total can be bounded: a peer that sends events
//! faster than the test takes them must not eat all memory.

use std::collections::VecDeque;

use serde_json::Value;

/// The default limit on queued events ([`QmpClient::set_max_queued_events`](super::QmpClient::set_max_queued_events)):
/// far more than any test leaves unread, small enough to stay in memory.
pub const DEFAULT_MAX_QUEUED_EVENTS: usize = 10_000;

/// The default limit on the bytes of queued events (as received).
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// Events in arrival order, each with its size in bytes.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    items: VecDeque<(Value, usize)>,
    bytes: usize,
}

impl Queue {
    pub(crate) fn push_back(&mut self, ev: Value, size: usize) {
        self.bytes += size;
        self.items.push_back((ev, size));
    }

    pub(crate) fn pop_front(&mut self) -> Option<(Value, usize)> {
        let (ev, size) = self.items.pop_front()?;
        self.bytes -= size;
        Some((ev, size))
    }

    /// Removes and returns the first event for which `pred` holds.
    pub(crate) fn take_first(&mut self, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let i = self.items.iter().position(|(ev, _)| pred(ev))?;
        let (ev, size) = self.items.remove(i)?;
        self.bytes -= size;
        Some(ev)
    }

    pub(crate) fn drain_all(&mut self) -> impl Iterator<Item = Value> + '_ {
        self.bytes = 0;
        self.items.drain(..).map(|(ev, _)| ev)
    }

    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Value> {
        self.items.iter().map(|(ev, _)| ev)
    }

    pub(crate) fn back(&self) -> Option<&Value> {
        self.items.back().map(|(ev, _)| ev)
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_follow_the_events() {
        let mut q = Queue::default();
        q.push_back(json!({"event": "A"}), 10);
        q.push_back(json!({"event": "B"}), 20);
        q.push_back(json!({"event": "C"}), 30);
        assert_eq!((q.len(), q.bytes()), (3, 60));
        assert_eq!(q.take_first(|e| e["event"] == "B"), Some(json!({"event": "B"})));
        assert_eq!(q.bytes(), 40);
        assert_eq!(q.pop_front().map(|(_, s)| s), Some(10));
        assert_eq!(q.back(), Some(&json!({"event": "C"})));
        assert_eq!(q.drain_all().count(), 1);
        assert!(q.is_empty() && q.bytes() == 0);
    }
}
