//! Wake-ups for pollers: a relay or a worker pool that found nothing to do sleeps for its poll interval, unless
//! someone says there is work now. A [`Wake`] is a counter in a `watch` channel, so a wake that comes while the
//! poller is busy (between finding nothing and starting to wait) is not lost: the waiter sees the counter moved and
//! returns at once. Wakes are hints; the poll interval still bounds every wait, so a lost or absent wake costs
//! latency, never work.
use std::time::Duration;

use tokio::sync::watch;

/// The waking side; cheap to clone.
#[derive(Clone, Debug)]
pub struct Wake {
    tx: watch::Sender<u64>,
}

impl Default for Wake {
    fn default() -> Self {
        Wake::new()
    }
}

impl Wake {
    pub fn new() -> Wake {
        Wake { tx: watch::channel(0).0 }
    }

    /// Wakes every waiter (and the next wait of one that is busy now).
    pub fn wake(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A waiter that sees the wakes from now on.
    pub fn waiter(&self) -> Waiter {
        Waiter { rx: self.tx.subscribe() }
    }
}

/// The waiting side: one per poller.
#[derive(Debug)]
pub struct Waiter {
    rx: watch::Receiver<u64>,
}

impl Waiter {
    /// Returns after a wake since the last call, or after `at_most`.
    pub async fn wait(&mut self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.rx.changed()).await;
        self.rx.mark_unchanged();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn a_wake_ends_the_wait_even_when_it_came_first() {
        let wake = Wake::new();
        let mut waiter = wake.waiter();
        wake.wake(); // while the poller is busy
        let started = Instant::now();
        waiter.wait(Duration::from_secs(60)).await;
        assert!(started.elapsed() < Duration::from_secs(5), "returned at once");
        // Seen once: the next wait runs its course.
        let again = Instant::now();
        waiter.wait(Duration::from_millis(100)).await;
        assert!(again.elapsed() >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_wake_during_the_wait_ends_it() {
        let wake = Wake::new();
        let mut waiter = wake.waiter();
        let w = wake.clone();
        tokio::spawn(async move { w.wake() });
        let started = Instant::now();
        waiter.wait(Duration::from_secs(60)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
