//! The outbox relay: turns committed domain events (`outbox` rows) into `PublishEvent` jobs.
//!
//! Several relays may run at once (every `serve` and every worker process runs one). Each claims a batch of
//! unpublished rows by setting `claimed_until` (MySQL: `FOR UPDATE SKIP LOCKED` then UPDATE in one transaction;
//! SQLite: one atomic `UPDATE … RETURNING`), enqueues one job per row, then marks the rows published. The queue may
//! be another system than the database, so enqueue and mark cannot share a transaction: a crash between them leaves
//! the claim to expire and the rows to be enqueued again, a duplicate the idempotent handler absorbs.
#![allow(clippy::disallowed_methods)] // the relay works across all orgs; it reads no tenant data beyond the row

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entities::tables::outbox;
use platform::jobs::{Clock, Envelope, Job, Queue, QueueError};
use platform::wake::{Waiter, Wake};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, Order, Query};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tokio::sync::watch;
use uuid::Uuid;

/// Publishing a batch failed; the rows stay unpublished and are claimed again after the lease.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("outbox database: {0}")]
    Db(#[from] DbErr),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Publishes outbox rows as jobs.
#[derive(Clone)]
pub struct OutboxRelay {
    db: DatabaseConnection,
    queue: Arc<dyn Queue>,
    clock: Clock,
    /// Rows per claim.
    pub batch_size: u64,
    /// How long a claim keeps other relays away; longer than one enqueue takes.
    pub claim_lease: Duration,
    /// Pause between claims while the outbox is empty (cut short by [`OutboxRelay::woken_by`]).
    pub poll_interval: Duration,
    /// Woken when rows were announced (the bus's outbox wake), to publish without waiting out the poll.
    woken_by: Option<Wake>,
    /// Woken after jobs were enqueued, for the worker pools of this process to claim them at once.
    wakes: Option<Wake>,
}

impl OutboxRelay {
    pub fn new(db: DatabaseConnection, queue: Arc<dyn Queue>) -> OutboxRelay {
        OutboxRelay {
            db,
            queue,
            clock: Clock::system(),
            batch_size: 100,
            claim_lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(200),
            woken_by: None,
            wakes: None,
        }
    }

    /// Cuts the idle pause short when `wake` fires.
    pub fn woken_by(mut self, wake: Wake) -> OutboxRelay {
        self.woken_by = Some(wake);
        self
    }

    /// Fires `wake` after every batch it enqueued.
    pub fn wakes(mut self, wake: Wake) -> OutboxRelay {
        self.wakes = Some(wake);
        self
    }

    /// Claims, enqueues and marks one batch; returns how many rows were published.
    pub async fn relay_once(&self) -> Result<usize, RelayError> {
        let now = self.clock.now();
        let until = now + chrono::Duration::from_std(self.claim_lease).unwrap_or(chrono::Duration::MAX);
        let mut conflicts = 0;
        let rows = loop {
            let claimed = match self.db.get_database_backend() {
                DbBackend::MySql => self.claim_mysql(now, until).await,
                _ => self.claim_sqlite(now, until).await,
            };
            match claimed {
                Ok(rows) => break rows,
                // A deadlock victim's claim rolled back; claiming again is safe.
                Err(e) if platform::db::is_lock_conflict(&e) && conflicts < 3 => conflicts += 1,
                Err(e) => return Err(e.into()),
            }
        };
        if rows.is_empty() {
            return Ok(0);
        }
        let jobs: Vec<Envelope> = rows
            .iter()
            .map(|(id, org_id)| Envelope::new(Job::PublishEvent { outbox_id: *id }, Some(*org_id)))
            .collect();
        self.queue.enqueue(&jobs, Duration::ZERO).await?;
        let ids: Vec<Uuid> = rows.iter().map(|(id, _)| *id).collect();
        outbox::Entity::update_many()
            .col_expr(outbox::Column::PublishedAt, Expr::value(self.clock.now()))
            .col_expr(outbox::Column::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(outbox::Column::Id.is_in(ids))
            .exec(&self.db)
            .await?;
        metrics::counter!("taskforge_outbox_published_total").increment(rows.len() as u64);
        Ok(rows.len())
    }

    fn claimable(now: DateTime<Utc>) -> Condition {
        Condition::all().add(outbox::Column::PublishedAt.is_null()).add(
            Condition::any().add(outbox::Column::ClaimedUntil.is_null()).add(outbox::Column::ClaimedUntil.lte(now)),
        )
    }

    async fn claim_sqlite(&self, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
        let candidates = Query::select()
            .column(outbox::Column::Id)
            .from(outbox::Entity)
            .cond_where(Self::claimable(now))
            .order_by(outbox::Column::Id, Order::Asc)
            .limit(self.batch_size)
            .to_owned();
        let rows = outbox::Entity::update_many()
            .col_expr(outbox::Column::ClaimedUntil, Expr::value(until))
            .filter(outbox::Column::Id.in_subquery(candidates))
            .exec_with_returning(&self.db)
            .await?;
        Ok(rows.into_iter().map(|r| (r.id, r.org_id)).collect())
    }

    async fn claim_mysql(&self, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
        let tx = platform::db::begin_claim(&self.db).await?;
        let rows: Vec<(Uuid, Uuid)> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Id)
            .column(outbox::Column::OrgId)
            .filter(Self::claimable(now))
            .order_by_asc(outbox::Column::Id)
            .limit(self.batch_size)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .into_tuple()
            .all(&tx)
            .await?;
        if !rows.is_empty() {
            outbox::Entity::update_many()
                .col_expr(outbox::Column::ClaimedUntil, Expr::value(until))
                .filter(outbox::Column::Id.is_in(rows.iter().map(|(id, _)| *id)))
                .exec(&tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows)
    }

    /// Publishes until `shutdown` turns true: back to back while there is a backlog, polling when it is empty.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!("outbox relay started");
        let mut waiter = self.woken_by.as_ref().map(Wake::waiter);
        loop {
            let outcome = self.relay_once().await;
            if let (Ok(n), Some(wake)) = (&outcome, &self.wakes) {
                if *n > 0 {
                    wake.wake();
                }
            }
            let pause = match outcome {
                Ok(n) if n as u64 >= self.batch_size => Duration::ZERO,
                Ok(_) => self.poll_interval,
                Err(e) => {
                    tracing::warn!(error = %e, "publishing outbox rows failed; retrying");
                    self.poll_interval
                }
            };
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|stop| *stop) => break,
                _ = idle(waiter.as_mut(), pause) => {}
            }
        }
        tracing::info!("outbox relay stopped");
    }
}

/// Sleeps `pause`, or less when `waiter` is woken first.
pub(crate) async fn idle(waiter: Option<&mut Waiter>, pause: Duration) {
    match waiter {
        _ if pause.is_zero() => {}
        Some(w) => w.wait(pause).await,
        None => tokio::time::sleep(pause).await,
    }
}
