//! Feed cursors: the position (time in microseconds, event id) of the last event a page covered, as URL-safe
//! base64. Both adapters page by that position, so a cursor means the same thing whichever store made it. It is
//! opaque to clients, not secret: altering it only moves the page, and a malformed one is refused.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::EventStoreError;

/// A place in a feed: everything strictly older than it comes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Position {
    pub micros: i64,
    pub id: Uuid,
}

const VERSION: &str = "v1";

impl Position {
    pub fn of(occurred_at: DateTime<Utc>, id: Uuid) -> Position {
        Position { micros: occurred_at.timestamp_micros(), id }
    }

    pub fn time(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.micros).expect("decode only accepts times chrono can hold")
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{VERSION}:{}:{}", self.micros, self.id.simple()))
    }

    pub fn decode(cursor: &str) -> Result<Position, EventStoreError> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| EventStoreError::BadCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| EventStoreError::BadCursor)?;
        let mut parts = text.split(':');
        let (Some(VERSION), Some(micros), Some(id), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(EventStoreError::BadCursor);
        };
        let micros: i64 = micros.parse().map_err(|_| EventStoreError::BadCursor)?;
        if micros < 0 || DateTime::from_timestamp_micros(micros).is_none() {
            return Err(EventStoreError::BadCursor);
        }
        let id = Uuid::parse_str(id).map_err(|_| EventStoreError::BadCursor)?;
        Ok(Position { micros, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let p = Position::of(Utc::now(), Uuid::now_v7());
        assert_eq!(Position::decode(&p.encode()).unwrap(), p);
        for bad in ["", "!!", "djE6MTox", &URL_SAFE_NO_PAD.encode("v2:1:00000000000000000000000000000000")] {
            assert!(matches!(Position::decode(bad), Err(EventStoreError::BadCursor)), "{bad}");
        }
    }
}
