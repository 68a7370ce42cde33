//! The queue's notion of "now". Production reads the system clock; tests move a manual clock forward to expire
//! leases and reach delayed messages without sleeping.
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The system clock plus an offset that only tests change.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// The current time at microsecond precision (what every backend stores).
    pub fn now(&self) -> DateTime<Utc> {
        entities::now() + chrono::Duration::microseconds(self.offset_micros.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.as_micros()).expect("a test advances the clock by less than 292,000 years");
        self.offset_micros.fetch_add(micros, Ordering::Relaxed);
    }
}
