//! Workers: the runtime that drains a pool's queue ([`Runtime`]), the job handlers, and the outbox relay.
//!
//! A handler is a small async function from an envelope to a result; the runtime owns leases, retries, timeouts,
//! dead letters, metrics and the drain on shutdown. [`Workers::start`] composes one runtime per pool, the outbox
//! relay and the queue gauges: `taskforge worker --pool NAME` starts one pool, `taskforge serve` all of them.
//! This crate depends on `platform` and `entities`, never on `api`.
pub mod access;
pub mod activity_sink;
pub mod attachments;
pub mod daily_digests;
pub mod handler;
pub mod idempotency;
pub mod images;
pub mod live_updates;
pub mod mail_jobs;
pub mod noop;
pub mod notifications;
pub mod outbox_relay;
pub mod publish_event;
pub mod reminders;
pub mod reports;
pub mod runtime;
pub mod scheduler;

use std::sync::Arc;
use std::time::Duration;

use platform::bus::Bus;
use platform::events::EventStore;
use platform::jobs::{Clock, Pool, Queue};
use platform::wake::Wake;
use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use attachments::FileDeps;
pub use handler::{handler_fn, Handler, HandlerError, Registry};
pub use idempotency::mark_processed_once;
pub use mail_jobs::{
    AccountMailHandler, InvitationMailHandler, MailDeps, NotificationDigestHandler, NotifyHandler, OverdueDigestHandler,
};
pub use notifications::NotificationSink;
pub use outbox_relay::OutboxRelay;
pub use publish_event::{EventSink, LogSink, PublishEventHandler};
pub use runtime::{DrainReport, Runtime, RuntimeOptions};
pub use scheduler::Scheduler;

/// The handlers of every job type, wired to their dependencies.
pub fn registry(
    db: &DatabaseConnection,
    queue: Arc<dyn Queue>,
    mail: &MailDeps,
    files: &FileDeps,
    events: &Arc<dyn EventStore>,
    bus: Option<&Arc<dyn Bus>>,
) -> Registry {
    let sinks: Vec<Arc<dyn EventSink>> =
        vec![Arc::new(LogSink), Arc::new(NotificationSink), Arc::new(activity_sink::ActivitySink::new(events.clone()))];
    let mut publish = PublishEventHandler::new(db.clone(), queue.clone(), sinks);
    if let Some(bus) = bus {
        publish = publish.with_bus(bus.clone());
    }
    Registry::new()
        .register("noop", noop::NoopHandler::from_env(db))
        .register("publish_event", publish)
        .register("scan_upload", attachments::ScanUploadHandler::new(files.clone(), queue.clone()))
        .register("scan_result", attachments::ScanResultHandler::new(db.clone(), queue.clone(), files.clone()))
        .register("thumbnails", attachments::ThumbnailsHandler::new(db.clone(), files.clone()))
        .register("build_report", reports::BuildReportHandler::new(db.clone(), queue.clone(), files.clone()))
        .register("scheduler_tick", Scheduler::new(db.clone(), queue).with_event_store(events.clone()))
        .register("notify", NotifyHandler::new(db.clone(), mail.clone()))
        .register("account_mail", AccountMailHandler::new(db.clone(), mail.clone()))
        .register("invitation_mail", InvitationMailHandler::new(db.clone(), mail.clone()))
        .register("overdue_digest", OverdueDigestHandler::new(db.clone(), mail.clone()))
        .register("notification_digest", NotificationDigestHandler::new(db.clone(), mail.clone()))
}

/// Updates the queue gauges (`taskforge_queue_depth`, `taskforge_queue_in_flight`,
/// `taskforge_queue_dead_letters`, `taskforge_queue_oldest_age_seconds`, per pool) every `every` until shutdown.
pub async fn report_queue_gauges(queue: Arc<dyn Queue>, every: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        match queue.stats().await {
            Ok(stats) => {
                for s in stats {
                    let pool = s.pool.name();
                    metrics::gauge!("taskforge_queue_depth", "pool" => pool).set(s.depth as f64);
                    metrics::gauge!("taskforge_queue_in_flight", "pool" => pool).set(s.in_flight as f64);
                    metrics::gauge!("taskforge_queue_delayed", "pool" => pool).set(s.delayed as f64);
                    metrics::gauge!("taskforge_queue_dead_letters", "pool" => pool).set(s.dead_letters as f64);
                    // Left unset where the backend cannot tell (SQS): a made-up zero would hide a stuck queue.
                    if let Some(age) = s.oldest_age {
                        metrics::gauge!("taskforge_queue_oldest_age_seconds", "pool" => pool).set(age.as_secs_f64());
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading queue statistics failed"),
        }
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// What to start.
#[derive(Clone, Debug)]
pub struct WorkersConfig {
    pub pools: Vec<Pool>,
    /// Overrides every started pool's concurrency.
    pub concurrency: Option<usize>,
    /// Also run an outbox relay.
    pub relay: bool,
    /// The mailer, templates, key and public URL of the mail jobs and notification links.
    pub mail: MailDeps,
    /// Storage and scanner of the attachment jobs.
    pub files: FileDeps,
    /// The activity log that published events are recorded in.
    pub events: Arc<dyn EventStore>,
    /// The live-update bus published events go on; `None` publishes no live updates.
    pub bus: Option<Arc<dyn Bus>>,
    /// Also enqueue a scheduler tick this often (`serve`; in AWS an EventBridge schedule does it).
    pub scheduler_tick: Option<Duration>,
}

/// Running pools, relay and gauges; [`Workers::shutdown`] drains them.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Workers {
    /// Starts the configured pools on `queue`, with the handlers of [`registry`].
    pub fn start(db: &DatabaseConnection, queue: Arc<dyn Queue>, config: WorkersConfig) -> Workers {
        let (stop, shutdown) = watch::channel(false);
        let registry =
            Arc::new(registry(db, queue.clone(), &config.mail, &config.files, &config.events, config.bus.as_ref()));
        let mut tasks = JoinSet::new();
        // The relay wakes this process's pools when it enqueued, and the bus wakes the relay when a write committed.
        let jobs_enqueued = Wake::new();
        for pool in config.pools {
            let mut options = RuntimeOptions::for_pool(pool);
            if let Some(n) = config.concurrency {
                options = options.with_concurrency(n);
            }
            let runtime = Runtime::new(queue.clone(), registry.clone(), options).woken_by(jobs_enqueued.clone());
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                runtime.run(shutdown).await;
            });
        }
        if config.relay {
            let mut relay = OutboxRelay::new(db.clone(), queue.clone()).wakes(jobs_enqueued);
            if let Some(bus) = &config.bus {
                relay = relay.woken_by(bus.outbox_wake());
            }
            tasks.spawn(relay.run(shutdown.clone()));
        }
        if let Some(every) = config.scheduler_tick {
            tasks.spawn(scheduler::run_timer(queue.clone(), every, Clock::system(), shutdown.clone()));
        }
        tasks.spawn(report_queue_gauges(queue, Duration::from_secs(15), shutdown));
        Workers { stop, tasks }
    }

    /// Signals shutdown and waits for every pool to drain (each within its grace period).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}
