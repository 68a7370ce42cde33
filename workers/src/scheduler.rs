//! The scheduler tick: `Job::SchedulerTick { at }` fires the reminders due at `at` ([`crate::reminders`]), claims
//! the daily digests due by then ([`crate::daily_digests`]) and starts the weekly reports due
//! ([`crate::reports::schedules`]); with an event store it also purges the activity events past their retention.
//!
//! Ticks come from [`run_timer`] inside `taskforge serve`, and in AWS from an EventBridge schedule that sends the
//! same message to the `scheduler` queue (docs/operations.md). Any number of ticks may run at once, on any number
//! of workers: every effect is claimed with a conditional update, so overlapping ticks share the work instead of
//! repeating it. Ticks cannot pile up into work either: a tick older than [`MAX_TICK_AGE`] (a backlog after an
//! outage) is acknowledged without running, since the next fresh tick sees everything it would have seen.
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::events::EventStore;
use platform::jobs::{Clock, Envelope, Job, Queue};
use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use crate::daily_digests;
use crate::handler::{Handler, HandlerError};
use crate::reminders::ReminderFiring;

/// Ticks older than this are skipped.
pub const MAX_TICK_AGE: Duration = Duration::from_secs(5 * 60);

/// How long one tick keeps firing reminder batches before leaving the rest to the next tick; well inside the
/// scheduler pool's job timeout.
const FIRING_BUDGET: Duration = Duration::from_secs(15);

/// What one tick did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Reminders this tick delivered to at least one recipient.
    pub reminders_fired: usize,
    /// Digest jobs this tick enqueued.
    pub digests_enqueued: usize,
    /// Scheduled reports this tick asked for.
    pub reports_started: usize,
    /// Activity events deleted because their retention ended.
    pub events_purged: u64,
}

/// Handles `scheduler_tick` jobs.
#[derive(Clone)]
pub struct Scheduler {
    db: DatabaseConnection,
    queue: Arc<dyn Queue>,
    clock: Clock,
    firing: ReminderFiring,
    events: Option<Arc<dyn EventStore>>,
}

impl Scheduler {
    pub fn new(db: DatabaseConnection, queue: Arc<dyn Queue>) -> Scheduler {
        Scheduler::with_clock(db, queue, Clock::system())
    }

    pub fn with_clock(db: DatabaseConnection, queue: Arc<dyn Queue>, clock: Clock) -> Scheduler {
        let firing = ReminderFiring::new(db.clone(), clock.clone());
        Scheduler { db, queue, clock, firing, events: None }
    }

    /// Also purges `events` of what outlived its retention, once per tick.
    pub fn with_event_store(mut self, events: Arc<dyn EventStore>) -> Scheduler {
        self.events = Some(events);
        self
    }

    /// Runs one tick as of `at`: the reminders due by then and the digests whose local 08:00 has passed.
    pub async fn tick(&self, at: DateTime<Utc>) -> Result<TickReport, HandlerError> {
        let mut report = TickReport::default();
        let started = Instant::now();
        loop {
            let (fired, more) = self.firing.fire_batch(&*self.queue, at).await?;
            report.reminders_fired += fired;
            if !more || started.elapsed() > FIRING_BUDGET {
                break;
            }
        }
        report.digests_enqueued = daily_digests::enqueue_due(&self.db, &*self.queue, at).await?;
        report.reports_started = crate::reports::schedules::enqueue_due(&self.db, &*self.queue, at).await?;
        if let Some(events) = &self.events {
            // Retention is housekeeping: a failure is logged and the next tick tries again.
            match events.purge_expired(at).await {
                Ok(n) => report.events_purged = n,
                Err(e) => tracing::warn!(error = %e, "purging expired activity events failed"),
            }
        }
        if report != TickReport::default() {
            tracing::info!(
                reminders_fired = report.reminders_fired,
                digests_enqueued = report.digests_enqueued,
                reports_started = report.reports_started,
                events_purged = report.events_purged,
                "scheduler tick"
            );
        }
        Ok(report)
    }
}

#[async_trait]
impl Handler for Scheduler {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        let Job::SchedulerTick { at } = envelope.job else {
            return Err(HandlerError::permanent("not a scheduler_tick job"));
        };
        let now = self.clock.now();
        if now.signed_duration_since(at) > chrono::Duration::from_std(MAX_TICK_AGE).expect("minutes fit") {
            tracing::debug!(%at, "skipping a stale scheduler tick");
            return Ok(());
        }
        // A tick stamped ahead of this worker's clock (clock skew) must not fire reminders early.
        self.tick(at.min(now)).await.map(|_| ())
    }
}

/// Enqueues a `SchedulerTick` every `every` until shutdown: the scheduler of `taskforge serve`.
pub async fn run_timer(queue: Arc<dyn Queue>, every: Duration, clock: Clock, mut shutdown: watch::Receiver<bool>) {
    tracing::info!(every_secs = every.as_secs(), "scheduler timer started");
    let mut interval = tokio::time::interval(every);
    // After a stall, one tick rather than a burst of catch-up ticks.
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => break,
            _ = interval.tick() => {}
        }
        let tick = Envelope::new(Job::SchedulerTick { at: clock.now() }, None);
        if let Err(e) = queue.enqueue(&[tick], Duration::ZERO).await {
            tracing::warn!(error = %e, "enqueueing a scheduler tick failed; the next one follows");
        }
    }
    tracing::info!("scheduler timer stopped");
}
