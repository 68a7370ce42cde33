//! The queue port: what the worker runtime, the outbox relay and the operator commands need from a queue, with SQS
//! semantics (at-least-once delivery, leases with a visibility timeout, a receive count, a dead letter) so the
//! database adapter and the SQS adapter are interchangeable.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Envelope, Pool};

/// The queue backend failed (the caller retries later; nothing was lost).
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("queue: {0}")]
    Backend(String),
}

/// A message to enqueue: the encoded envelope plus the fields the queue indexes.
#[derive(Clone, Debug)]
pub struct OutgoingMessage {
    pub id: Uuid,
    pub pool: Pool,
    /// The `type` of the job, for listings; `unknown` when the body is not a valid envelope.
    pub job_type: String,
    pub org_id: Option<Uuid>,
    pub body: String,
}

impl From<&Envelope> for OutgoingMessage {
    fn from(env: &Envelope) -> Self {
        OutgoingMessage {
            id: env.job_id,
            pool: env.pool(),
            job_type: env.job.type_name().to_owned(),
            org_id: env.org_id,
            body: env.encode(),
        }
    }
}

/// Proof of a claim. In the database queue only the current holder's lease matches: once it expires and another
/// worker claims the message, the old lease's ack, heartbeat or retry does nothing. SQS fences with its receipt
/// handle, which is weaker: AWS documents that a delete with an outdated handle "succeeds" without saying whether
/// it deleted anything, so there a stale settle can take effect; at-least-once handlers absorb the consequences.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub pool: Pool,
    /// The job's id (the envelope's `job_id`), the same on every backend.
    pub message_id: Uuid,
    /// Unique per claim; the database queue's fencing token, a correlation id in logs elsewhere.
    pub token: Uuid,
    /// The SQS receipt handle of this delivery; `None` in the database queue.
    pub receipt_handle: Option<String>,
}

/// A claimed message.
#[derive(Clone, Debug)]
pub struct LeasedMessage {
    pub lease: Lease,
    /// As given at enqueue ([`OutgoingMessage::job_type`]).
    pub job_type: String,
    pub org_id: Option<Uuid>,
    /// The raw body; decoding it is the runtime's job, so a malformed body can be dead-lettered as poison.
    pub body: String,
    /// Deliveries so far including this one (SQS `ApproximateReceiveCount`).
    pub receive_count: u32,
    pub enqueued_at: DateTime<Utc>,
}

/// Counters of one pool's queue.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolStats {
    pub pool: Pool,
    /// Messages ready to be claimed now.
    pub depth: u64,
    /// Messages claimed by a worker whose lease has not expired.
    pub in_flight: u64,
    /// Messages waiting for their run-at time (delayed enqueues, retries in backoff).
    pub delayed: u64,
    pub dead_letters: u64,
    /// Age of the oldest ready message (zero when there is none); `None` when the backend cannot tell without
    /// disturbing the messages (SQS: the age is a CloudWatch metric, and peeking would count as a receive).
    pub oldest_age: Option<Duration>,
}

/// A dead-lettered message.
#[derive(Clone, Debug)]
pub struct FailedJob {
    pub id: Uuid,
    pub pool: Pool,
    pub job_type: String,
    pub org_id: Option<Uuid>,
    pub body: String,
    pub attempts: u32,
    pub reason: String,
    pub enqueued_at: DateTime<Utc>,
    pub failed_at: DateTime<Utc>,
}

/// A queue with one logical queue (and dead letter) per pool. Methods taking a [`Lease`] (or a [`LeasedMessage`])
/// return `false` when the backend can tell that the lease is no longer current (expired and re-claimed, or the
/// message is gone), and then change nothing; see [`Lease`] for how far SQS can tell.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues messages, visible after `delay`.
    async fn send(&self, messages: Vec<OutgoingMessage>, delay: Duration) -> Result<(), QueueError>;

    /// Claims up to `max` ready messages of `pool`, invisible to others for `visibility`.
    async fn claim_batch(&self, pool: Pool, max: usize, visibility: Duration)
        -> Result<Vec<LeasedMessage>, QueueError>;

    /// Extends a lease to `visibility` from now (the heartbeat of a running job).
    async fn extend(&self, lease: &Lease, visibility: Duration) -> Result<bool, QueueError>;

    /// Deletes a processed message.
    async fn ack(&self, lease: &Lease) -> Result<bool, QueueError>;

    /// Gives a failed message back, visible again after `delay`, recording the error.
    async fn retry_later(&self, lease: &Lease, delay: Duration, error: &str) -> Result<bool, QueueError>;

    /// Gives a claimed but unstarted message back at once; the claim does not count as an attempt. Takes the whole
    /// message because SQS cannot uncount a receive: it sends a fresh copy instead.
    async fn release(&self, message: &LeasedMessage) -> Result<bool, QueueError>;

    /// Moves a claimed message to the pool's dead letter with the reason and its receive count as the attempts.
    /// Takes the whole message because SQS cannot read a message by its receipt handle.
    async fn dead_letter(&self, message: &LeasedMessage, reason: &str) -> Result<bool, QueueError>;

    /// Counters of every pool.
    async fn stats(&self) -> Result<Vec<PoolStats>, QueueError>;

    /// Dead letters, newest first.
    async fn failed_list(&self, pool: Option<Pool>, limit: u64) -> Result<Vec<FailedJob>, QueueError>;

    /// One dead letter.
    async fn failed_show(&self, id: Uuid) -> Result<Option<FailedJob>, QueueError>;

    /// Moves dead letters back to their queues with a fresh attempt count (one by id, or all of a pool, or all);
    /// returns how many moved.
    async fn retry_failed(&self, id: Option<Uuid>, pool: Option<Pool>) -> Result<u64, QueueError>;

    /// Deletes dead letters (of one pool or all); returns how many.
    async fn purge_failed(&self, pool: Option<Pool>) -> Result<u64, QueueError>;

    /// Enqueues jobs, each to its own pool.
    async fn enqueue(&self, envelopes: &[Envelope], delay: Duration) -> Result<(), QueueError> {
        self.send(envelopes.iter().map(OutgoingMessage::from).collect(), delay).await
    }
}
