//! Throttled recording of when a personal access token was last used.
//!
//! The token row may come from the cache, whose copy of `last_used_at` is as old as the entry, so the stored time
//! alone cannot say whether a write is due: this process also remembers when it last wrote each token's time.
//! Together they keep it to about one write per token per minute per process.
use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// How stale `last_used_at` may get before a request writes it again.
pub const RECORD_EVERY: Duration = Duration::seconds(60);
/// Tokens remembered at most; past that, the ones recorded longer than [`RECORD_EVERY`] ago are forgotten.
const MAX_TRACKED: usize = 10_000;

/// When this process last recorded each token's use.
#[derive(Debug, Default)]
pub struct TokenUse {
    recorded: Mutex<HashMap<Uuid, DateTime<Utc>>>,
}

impl TokenUse {
    /// Whether a use of `token_id` at `now` should be written, given the stored `last_used_at`; a `true` counts as
    /// written.
    pub fn is_due(&self, token_id: Uuid, stored: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        let mut recorded = self.recorded.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let last = stored.max(recorded.get(&token_id).copied());
        if last.is_some_and(|t| now - t < RECORD_EVERY) {
            return false;
        }
        if recorded.len() >= MAX_TRACKED {
            recorded.retain(|_, t| now - *t < RECORD_EVERY);
        }
        recorded.insert(token_id, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_use_is_written_at_most_once_a_minute() {
        let uses = TokenUse::default();
        let (token, now) = (Uuid::now_v7(), Utc::now());
        assert!(uses.is_due(token, None, now), "never used");
        assert!(!uses.is_due(token, None, now + Duration::seconds(30)), "recorded here half a minute ago");
        assert!(uses.is_due(token, None, now + Duration::seconds(61)));
        let other = Uuid::now_v7();
        assert!(!uses.is_due(other, Some(now - Duration::seconds(10)), now), "stored recently by anyone");
        assert!(uses.is_due(other, Some(now - Duration::seconds(90)), now));
    }
}
