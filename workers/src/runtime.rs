//! The worker runtime of one pool: claims messages in batches, runs up to `concurrency` handlers at once, keeps
//! their leases alive, retries failures with backoff, dead-letters what cannot succeed, and drains on shutdown.
//!
//! Shutdown follows mini-redis: a `watch` channel carries the signal, the claim loop stops at once, messages that
//! were claimed but not started are released so another worker picks them up immediately, and running jobs get a
//! grace period to finish. Jobs still running after it are cancelled; their leases expire and they run again
//! elsewhere, which at-least-once handlers tolerate.
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use platform::jobs::{Envelope, Lease, LeasedMessage, Pool, Queue};
use platform::wake::Wake;
use rand::Rng;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

use crate::handler::{HandlerError, Registry};

/// How a runtime runs; [`RuntimeOptions::for_pool`] takes the pool's settings from [`Pool::settings`].
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    pub pool: Pool,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Messages claimed beyond the free slots, waiting in memory for one. A receive claims only what can start at
    /// once (plus this), so leases do not tick away in a buffer; raise it only for jobs far shorter than the
    /// visibility timeout, where saving round trips matters.
    pub prefetch: usize,
    pub visibility_timeout: Duration,
    pub max_attempts: u32,
    pub job_timeout: Duration,
    /// Pause between receives while the queue is empty.
    pub poll_interval: Duration,
    /// Retry delay of the first failure; it doubles per attempt up to `backoff_cap`, then full jitter picks a
    /// delay between zero and that bound, so a burst of failures does not retry in lockstep.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Full jitter on retry delays; off only where a test needs exact delays.
    pub jitter: bool,
    /// How long running jobs may take to finish after shutdown is signalled.
    pub grace: Duration,
}

impl RuntimeOptions {
    /// The pool's settings with the default polling, backoff and grace period.
    pub fn for_pool(pool: Pool) -> RuntimeOptions {
        let s = pool.settings();
        RuntimeOptions {
            pool,
            concurrency: s.concurrency,
            prefetch: 0,
            visibility_timeout: s.visibility_timeout,
            max_attempts: s.max_attempts,
            job_timeout: s.job_timeout,
            poll_interval: Duration::from_millis(250),
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(15 * 60),
            jitter: true,
            grace: Duration::from_secs(25),
        }
    }

    /// Overrides the concurrency.
    pub fn with_concurrency(mut self, concurrency: usize) -> RuntimeOptions {
        self.concurrency = concurrency.max(1);
        self
    }

    /// The delay before retry number `attempt + 1`: exponential backoff with full jitter.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let exp = 2u32.saturating_pow(attempt.saturating_sub(1));
        let bound = self.backoff_base.saturating_mul(exp).min(self.backoff_cap);
        if !self.jitter {
            return bound;
        }
        let micros = u64::try_from(bound.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::rng().random_range(0..=micros))
    }
}

/// What shutdown left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Claimed messages given back without running.
    pub released: usize,
    /// Jobs cancelled because they outlived the grace period.
    pub cancelled: usize,
}

/// The outcome label of `taskforge_jobs_processed_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Retried,
    DeadLettered,
    Poison,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Retried => "retried",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Poison => "poison",
        }
    }
}

/// The worker runtime of one pool.
pub struct Runtime {
    queue: Arc<dyn Queue>,
    registry: Arc<Registry>,
    options: Arc<RuntimeOptions>,
    /// Cuts the idle pause short: the relay of this process enqueued jobs.
    woken_by: Option<Wake>,
}

/// Aborts a spawned handler when the job is dropped (timeout, or cancellation after the grace period), so a
/// cancelled job does not keep running detached.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Resolves when shutdown is signalled (or the signal's sender is gone, which means the same).
async fn signalled(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

impl Runtime {
    pub fn new(queue: Arc<dyn Queue>, registry: Arc<Registry>, options: RuntimeOptions) -> Runtime {
        Runtime { queue, registry, options: Arc::new(options), woken_by: None }
    }

    /// Claims at once, instead of at the next poll, when `wake` fires.
    pub fn woken_by(mut self, wake: Wake) -> Runtime {
        self.woken_by = Some(wake);
        self
    }

    /// Runs until `shutdown` turns true, then drains.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> DrainReport {
        let opts = self.options.clone();
        let pool = opts.pool;
        let slots = Arc::new(Semaphore::new(opts.concurrency));
        let mut running = JoinSet::new();
        let mut claimed: VecDeque<LeasedMessage> = VecDeque::new();
        tracing::info!(pool = pool.name(), concurrency = opts.concurrency, "worker pool started");
        let mut waiter = self.woken_by.as_ref().map(Wake::waiter);
        loop {
            // Reap finished jobs so the set does not grow with every job ever run.
            while running.try_join_next().is_some() {}
            // Wait for a free slot first: claiming only what can start now keeps leases from ticking away while
            // messages sit in memory.
            let permit = tokio::select! {
                biased;
                _ = signalled(&mut shutdown) => break,
                permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            };
            if claimed.is_empty() {
                let want = slots.available_permits() + 1 + opts.prefetch;
                match self.queue.claim_batch(pool, want, opts.visibility_timeout).await {
                    Ok(batch) if !batch.is_empty() => claimed.extend(batch),
                    outcome => {
                        if let Err(e) = outcome {
                            tracing::warn!(pool = pool.name(), error = %e, "claiming jobs failed; retrying");
                        }
                        drop(permit);
                        tokio::select! {
                            biased;
                            _ = signalled(&mut shutdown) => break,
                            _ = crate::outbox_relay::idle(waiter.as_mut(), opts.poll_interval) => continue,
                        }
                    }
                }
            }
            let message = claimed.pop_front().expect("a message was claimed above");
            running.spawn(self.run_job(message, permit));
        }

        // Drain: give back what never started, then let running jobs finish within the grace period.
        let mut report = DrainReport::default();
        for message in claimed {
            match self.queue.release(&message).await {
                Ok(_) => report.released += 1,
                Err(e) => tracing::warn!(pool = pool.name(), error = %e, "releasing a claimed job failed; it \
                    becomes visible when its lease expires"),
            }
        }
        tracing::info!(pool = pool.name(), running = running.len(), released = report.released, "draining");
        let finished = tokio::time::timeout(opts.grace, async { while running.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            report.cancelled = running.len();
            tracing::warn!(pool = pool.name(), cancelled = report.cancelled, "grace period over; cancelling jobs");
            running.shutdown().await;
        }
        tracing::info!(pool = pool.name(), "worker pool stopped");
        report
    }

    fn run_job(&self, message: LeasedMessage, permit: OwnedSemaphorePermit) -> impl std::future::Future<Output = ()> {
        let queue = self.queue.clone();
        let registry = self.registry.clone();
        let opts = self.options.clone();
        let span = tracing::info_span!(
            "job",
            pool = opts.pool.name(),
            job_id = %message.lease.message_id,
            org_id = tracing::field::Empty,
            attempt = message.receive_count,
            job_type = tracing::field::Empty,
        );
        async move {
            let _permit = permit;
            let started = Instant::now();
            let lease = message.lease.clone();
            let outcome = process(&*queue, &registry, &opts, message).await;
            let pool = opts.pool.name();
            metrics::counter!("taskforge_jobs_processed_total", "pool" => pool, "outcome" => outcome.label())
                .increment(1);
            metrics::histogram!("taskforge_job_duration_seconds", "pool" => pool)
                .record(started.elapsed().as_secs_f64());
            tracing::debug!(outcome = outcome.label(), lease = %lease.token, "job done");
        }
        .instrument(span)
    }
}

/// Runs one claimed message to an outcome and settles it with the queue.
async fn process(queue: &dyn Queue, registry: &Registry, opts: &RuntimeOptions, message: LeasedMessage) -> Outcome {
    let lease = message.lease.clone();
    let envelope = match Envelope::decode(&message.body) {
        Ok(mut envelope) => {
            envelope.attempt = message.receive_count;
            envelope
        }
        Err(e) => {
            let reason = format!("poison: the message does not decode as a job: {e}");
            tracing::error!(reason = %reason, "dead-lettering a malformed job");
            settle(queue.dead_letter(&message, &reason).await, &lease);
            return Outcome::Poison;
        }
    };
    let span = tracing::Span::current();
    span.record("job_type", envelope.job.type_name());
    if let Some(org_id) = envelope.org_id {
        span.record("org_id", tracing::field::display(org_id));
    }
    let Some(handler) = registry.get(&envelope.job) else {
        let reason = format!("poison: no handler for `{}` in pool {}", envelope.job.type_name(), opts.pool);
        tracing::error!(reason = %reason, "dead-lettering a job nobody handles");
        settle(queue.dead_letter(&message, &reason).await, &lease);
        return Outcome::Poison;
    };

    let attempt = envelope.attempt;
    let mut work = AbortOnDrop(tokio::spawn(async move { handler.handle(envelope).await }.in_current_span()));
    let deadline = tokio::time::sleep(opts.job_timeout);
    tokio::pin!(deadline);
    // Extend the lease well before it runs out: a third of the visibility timeout leaves two chances to retry a
    // failed heartbeat before another worker may claim the message.
    let every = (opts.visibility_timeout / 3).max(Duration::from_millis(10));
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let result = loop {
        tokio::select! {
            joined = &mut work.0 => break match joined {
                Ok(result) => result,
                Err(e) if e.is_panic() => Err(HandlerError::retryable("the handler panicked")),
                Err(_) => Err(HandlerError::retryable("the handler was cancelled")),
            },
            _ = &mut deadline => {
                work.0.abort();
                break Err(HandlerError::retryable(format!("timed out after {:?}", opts.job_timeout)));
            }
            _ = heartbeat.tick() => match queue.extend(&lease, opts.visibility_timeout).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!("the job's lease was lost; another worker may run it too"),
                Err(e) => tracing::warn!(error = %e, "extending the job's lease failed"),
            },
        }
    };

    match result {
        Ok(()) => {
            settle(queue.ack(&lease).await, &lease);
            Outcome::Succeeded
        }
        Err(HandlerError::Permanent(reason)) => {
            tracing::error!(reason = %reason, "job failed permanently; dead-lettering it");
            settle(queue.dead_letter(&message, &reason).await, &lease);
            Outcome::DeadLettered
        }
        Err(HandlerError::Retryable(reason)) if attempt >= opts.max_attempts => {
            tracing::error!(reason = %reason, max_attempts = opts.max_attempts, "job failed on its last attempt; \
                dead-lettering it");
            let reason = format!("failed {attempt} times; last error: {reason}");
            settle(queue.dead_letter(&message, &reason).await, &lease);
            Outcome::DeadLettered
        }
        Err(HandlerError::Retryable(reason)) => {
            let delay = opts.retry_delay(attempt);
            tracing::warn!(reason = %reason, retry_in = ?delay, "job failed; retrying later");
            settle(queue.retry_later(&lease, delay, &reason).await, &lease);
            Outcome::Retried
        }
    }
}

/// Logs a settle operation that did not take effect. Nothing else to do: the message stays leased until its
/// visibility timeout and is then delivered again, which idempotent handlers absorb.
fn settle(result: Result<bool, platform::jobs::QueueError>, lease: &Lease) {
    match result {
        Ok(true) => {}
        Ok(false) => tracing::warn!(lease = %lease.token, "the lease expired before the job was settled"),
        Err(e) => tracing::error!(error = %e, "settling the job with the queue failed; it will be redelivered"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_exponentially_up_to_the_cap_with_jitter() {
        let mut opts = RuntimeOptions::for_pool(Pool::Notifications);
        opts.backoff_base = Duration::from_millis(100);
        opts.backoff_cap = Duration::from_secs(1);
        for (attempt, bound) in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (30, 1000)] {
            for _ in 0..50 {
                assert!(opts.retry_delay(attempt) <= Duration::from_millis(bound), "attempt {attempt}");
            }
        }
        // Full jitter spreads retries over the whole range rather than clustering at the bound.
        let delays: Vec<_> = (0..200).map(|_| opts.retry_delay(5)).collect();
        assert!(delays.iter().any(|d| *d < Duration::from_millis(500)));
        assert!(delays.iter().any(|d| *d > Duration::from_millis(500)));
    }
}
