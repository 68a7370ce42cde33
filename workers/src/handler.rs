//! What a job handler is: a small async function from an [`Envelope`] to success, a retryable failure or a
//! permanent one. The runtime owns everything else (leases, retries, timeouts, metrics), as in apalis and Sidekiq.
use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use platform::jobs::{Envelope, Job};

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Might succeed later (a dependency is down, a row is locked): retried with backoff up to the pool's limit.
    #[error("{0}")]
    Retryable(String),
    /// Will never succeed (the data it needs is gone, the input is invalid): dead-lettered at once.
    #[error("{0}")]
    Permanent(String),
}

impl HandlerError {
    pub fn retryable(reason: impl Display) -> HandlerError {
        HandlerError::Retryable(reason.to_string())
    }

    pub fn permanent(reason: impl Display) -> HandlerError {
        HandlerError::Permanent(reason.to_string())
    }
}

/// A database error is usually transient (deadlock, lost connection), so it is retried.
impl From<sea_orm::DbErr> for HandlerError {
    fn from(e: sea_orm::DbErr) -> Self {
        HandlerError::Retryable(format!("database: {e}"))
    }
}

/// Runs one type of job. Must be idempotent: delivery is at least once.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError>;
}

/// A handler made from an async closure.
pub struct FnHandler<F>(F);

/// Wraps an async closure as a [`Handler`].
pub fn handler_fn<F, Fut>(f: F) -> FnHandler<F>
where
    F: Fn(Envelope) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    FnHandler(f)
}

#[async_trait]
impl<F, Fut> Handler for FnHandler<F>
where
    F: Fn(Envelope) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        (self.0)(envelope).await
    }
}

/// Which handler runs which job type.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Arc<dyn Handler>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers the handler of `job_type` (a name from [`Job::TYPES`]), replacing any earlier one.
    pub fn register(mut self, job_type: &'static str, handler: impl Handler) -> Registry {
        assert!(Job::TYPES.contains(&job_type), "`{job_type}` is not a job type; see Job::TYPES");
        self.handlers.insert(job_type, Arc::new(handler));
        self
    }

    /// The handler of `job`, if one is registered.
    pub fn get(&self, job: &Job) -> Option<Arc<dyn Handler>> {
        self.handlers.get(job.type_name()).cloned()
    }
}
