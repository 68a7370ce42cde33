//! The `noop` job: does nothing; for throughput benchmarks and smoke tests of a deployment.
//!
//! Tests of real worker processes (killing one mid-job) need a job that takes a while and leaves a visible effect.
//! With `TASKFORGE_NOOP_TEST_MODE=1` in the worker's environment, a noop labelled `sleep:MS` waits MS milliseconds
//! and then records its job id in `processed_jobs`, once, like any idempotent handler. Without the variable (the
//! default, and always in production) every noop returns at once, so a stray label cannot stall a pool.
use std::time::Duration;

use async_trait::async_trait;
use platform::jobs::{Envelope, Job};
use sea_orm::DatabaseConnection;

use crate::handler::{Handler, HandlerError};
use crate::idempotency::mark_processed_once;

/// The environment variable that turns the test behaviour on.
pub const TEST_MODE_ENV: &str = "TASKFORGE_NOOP_TEST_MODE";

/// Handles `noop` jobs.
pub struct NoopHandler {
    /// The connection for the test mode's effect; `None` outside test mode.
    test_mode: Option<DatabaseConnection>,
}

impl NoopHandler {
    /// A handler that always returns at once.
    pub fn new() -> NoopHandler {
        NoopHandler { test_mode: None }
    }

    /// Honours `sleep:MS` labels when [`TEST_MODE_ENV`] is `1`.
    pub fn from_env(db: &DatabaseConnection) -> NoopHandler {
        let enabled = std::env::var(TEST_MODE_ENV).is_ok_and(|v| v == "1");
        if enabled {
            tracing::warn!("{TEST_MODE_ENV}=1: noop jobs labelled sleep:MS wait and record themselves");
        }
        NoopHandler { test_mode: enabled.then(|| db.clone()) }
    }
}

impl Default for NoopHandler {
    fn default() -> Self {
        NoopHandler::new()
    }
}

/// The milliseconds of a `sleep:MS` label.
fn sleep_of(label: &str) -> Option<Duration> {
    label.strip_prefix("sleep:")?.parse().ok().map(Duration::from_millis)
}

#[async_trait]
impl Handler for NoopHandler {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        let (Some(db), Job::Noop { label }) = (&self.test_mode, &envelope.job) else {
            return Ok(());
        };
        let Some(pause) = sleep_of(label) else {
            return Ok(());
        };
        tokio::time::sleep(pause).await;
        mark_processed_once(db, envelope.job_id, "noop").await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sleep_labels_with_a_number_pause() {
        assert_eq!(sleep_of("sleep:1500"), Some(Duration::from_millis(1500)));
        assert_eq!(sleep_of("sleep:soon"), None);
        assert_eq!(sleep_of("hello"), None);
    }
}
