//! A bounded memory of the latest events a process met, by event id: the live streams' duplicate filter and the
//! analytics cache's once-per-event invalidation both need "have I seen this event lately, and what did I note",
//! without growing with every event ever published.
use std::collections::{HashMap, VecDeque};

use uuid::Uuid;

/// The last `capacity` event ids offered, each with a value; the oldest is forgotten first.
#[derive(Debug)]
pub struct RecentEvents<V> {
    capacity: usize,
    by_id: HashMap<Uuid, V>,
    order: VecDeque<Uuid>,
}

impl<V> RecentEvents<V> {
    pub fn new(capacity: usize) -> RecentEvents<V> {
        RecentEvents { capacity, by_id: HashMap::new(), order: VecDeque::new() }
    }

    /// The value noted for `id`, noting `value()` first if `id` is not remembered; `true` when it was just noted.
    pub fn note(&mut self, id: Uuid, value: impl FnOnce() -> V) -> (&V, bool) {
        let is_new = !self.by_id.contains_key(&id);
        if is_new {
            self.order.push_back(id);
            if self.order.len() > self.capacity {
                if let Some(oldest) = self.order.pop_front() {
                    self.by_id.remove(&oldest);
                }
            }
        }
        (self.by_id.entry(id).or_insert_with(value), is_new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_new_once_and_forgotten_past_capacity() {
        let mut recent = RecentEvents::new(3);
        let first = Uuid::now_v7();
        assert_eq!(recent.note(first, || 1), (&1, true));
        assert_eq!(recent.note(first, || 2), (&1, false), "remembered with its first value");
        for _ in 0..3 {
            recent.note(Uuid::now_v7(), || 0);
        }
        assert_eq!(recent.note(first, || 3), (&3, true), "the oldest id is forgotten once three came after it");
    }
}
