//! The database queue: the `jobs` table with leases, `failed_jobs` as its dead letter. It is the embedded default
//! and needs nothing but the database the app already has.
//!
//! A message is ready when `visible_at <= now`. Claiming sets `visible_at` to the lease expiry, a fresh
//! `lease_token` and bumps `attempts`; every later operation on the message names the token, so a worker whose
//! lease expired and whose message was claimed again cannot ack, extend or retry it any more. Claims are safe with
//! many workers: on MySQL/MariaDB the candidate rows are locked with `FOR UPDATE SKIP LOCKED` (concurrent claimers
//! skip each other's rows instead of waiting, as in zero2prod's issue delivery worker) and updated in the same
//! transaction; on SQLite one `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING …` is atomic because SQLite
//! serialises writers.
//!
//! Acks are group-committed (see [`AckBatch`]): the acks that arrive while one is being written go out together as
//! the next single statement, so a pool of short jobs does not pay one commit per job.
#![allow(clippy::disallowed_methods)] // the queue tables are not tenant data

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use entities::tables::{failed_jobs, jobs};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Order, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DbBackend, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::queue::{FailedJob, Lease, LeasedMessage, OutgoingMessage, PoolStats, Queue, QueueError};
use super::{Clock, Pool};

/// Rows per INSERT: well under MySQL's 65,535 placeholders and SQLite's 32,766.
const INSERT_CHUNK: usize = 500;

/// Leases per batched ack statement (two placeholders each).
const ACK_CHUNK: usize = 500;

/// The [`Queue`] over the app's database.
#[derive(Clone, Debug)]
pub struct DbQueue {
    db: DatabaseConnection,
    clock: Clock,
    acks: Arc<AckBatch>,
}

/// What one ack learns from its batch: whether its lease still held, or why the batch failed.
type AckOutcome = Result<bool, String>;

/// Acks waiting to be written together (group commit).
///
/// One DELETE per ack is one commit, and on InnoDB with `innodb_flush_log_at_trx_commit = 1` one log flush: a pool
/// of short jobs then spends more time acking than working. So an ack joins `waiting`, and a single flusher task
/// deletes everything waiting in one statement, then whatever arrived meanwhile, until nothing is left. An ack on an
/// idle queue goes out at once (no timer, no added latency); under load, acks share commits. Each caller still
/// learns whether its own lease held, as with a single DELETE.
#[derive(Default)]
struct AckBatch {
    state: Mutex<AckState>,
}

#[derive(Default)]
struct AckState {
    waiting: Vec<(Lease, oneshot::Sender<AckOutcome>)>,
    /// A flusher task is running and will pick up everything in `waiting`.
    flushing: bool,
}

impl std::fmt::Debug for AckBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("AckBatch").field("waiting", &state.waiting.len()).field("flushing", &state.flushing).finish()
    }
}

/// Armed while a flusher runs: if it stops early (its task aborted as the runtime shuts down), the acks still
/// waiting are answered with an error instead of hanging, and the next ack starts a new flusher.
struct FlushGuard {
    acks: Arc<AckBatch>,
    armed: bool,
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = self.acks.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.flushing = false;
        // Dropping the senders tells their callers the ack did not happen; the lease then runs out and the job is
        // delivered again, which is what a failed ack always means.
        state.waiting.clear();
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn parse_pool(name: &str) -> Result<Pool, QueueError> {
    name.parse().map_err(|e: super::UnknownPool| QueueError::Backend(e.to_string()))
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

impl DbQueue {
    /// A queue over `db` reading the system clock.
    pub fn new(db: DatabaseConnection) -> DbQueue {
        DbQueue::with_clock(db, Clock::system())
    }

    /// A queue whose notion of now is `clock` (tests move it forward).
    pub fn with_clock(db: DatabaseConnection, clock: Clock) -> DbQueue {
        DbQueue { db, clock, acks: Arc::default() }
    }

    /// The connection (for handlers and tests that share it).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    fn leased(rows: Vec<jobs::Model>, pool: Pool, token: Uuid) -> Vec<LeasedMessage> {
        rows.into_iter()
            .map(|row| LeasedMessage {
                lease: Lease { pool, message_id: row.id, token, receipt_handle: None },
                job_type: row.job_type,
                org_id: row.org_id,
                body: row.body,
                receive_count: count(row.attempts),
                enqueued_at: row.enqueued_at,
            })
            .collect()
    }

    async fn claim_sqlite(
        &self,
        pool: Pool,
        max: usize,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        token: Uuid,
    ) -> Result<Vec<jobs::Model>, QueueError> {
        let candidates = Query::select()
            .column(jobs::Column::Id)
            .from(jobs::Entity)
            .and_where(jobs::Column::Pool.eq(pool.name()))
            .and_where(jobs::Column::VisibleAt.lte(now))
            .order_by(jobs::Column::VisibleAt, Order::Asc)
            .order_by(jobs::Column::Id, Order::Asc)
            .limit(max as u64)
            .to_owned();
        let mut rows = jobs::Entity::update_many()
            .col_expr(jobs::Column::LeaseToken, Expr::value(token))
            .col_expr(jobs::Column::VisibleAt, Expr::value(until))
            .col_expr(jobs::Column::Attempts, Expr::col(jobs::Column::Attempts).add(1))
            .filter(jobs::Column::Id.in_subquery(candidates))
            .exec_with_returning(&self.db)
            .await?;
        rows.sort_by_key(|r| (r.visible_at, r.id));
        Ok(rows)
    }

    async fn claim_mysql(
        &self,
        pool: Pool,
        max: usize,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        token: Uuid,
    ) -> Result<Vec<jobs::Model>, QueueError> {
        let tx = crate::db::begin_claim(&self.db).await?;
        let mut rows = jobs::Entity::find()
            .filter(jobs::Column::Pool.eq(pool.name()))
            .filter(jobs::Column::VisibleAt.lte(now))
            .order_by_asc(jobs::Column::VisibleAt)
            .order_by_asc(jobs::Column::Id)
            .limit(max as u64)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(&tx)
            .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(rows);
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        jobs::Entity::update_many()
            .col_expr(jobs::Column::LeaseToken, Expr::value(token))
            .col_expr(jobs::Column::VisibleAt, Expr::value(until))
            .col_expr(jobs::Column::Attempts, Expr::col(jobs::Column::Attempts).add(1))
            .filter(jobs::Column::Id.is_in(ids))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        for row in &mut rows {
            row.attempts += 1;
        }
        Ok(rows)
    }

    /// An UPDATE of the message held by `lease`; true when it still held it.
    async fn update_leased(
        &self,
        lease: &Lease,
        changes: Vec<(jobs::Column, sea_orm::sea_query::Expr)>,
    ) -> Result<bool, QueueError> {
        let mut update = jobs::Entity::update_many()
            .filter(jobs::Column::Id.eq(lease.message_id))
            .filter(jobs::Column::LeaseToken.eq(lease.token));
        for (col, expr) in changes {
            update = update.col_expr(col, expr);
        }
        let mut conflicts = 0;
        loop {
            match update.clone().exec(&self.db).await {
                Ok(done) => return Ok(done.rows_affected == 1),
                Err(e) if crate::db::is_lock_conflict(&e) && conflicts < 3 => conflicts += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The flusher of [`AckBatch`]: writes the waiting acks, a batch at a time, until none is left.
    async fn flush_acks(self) {
        let mut guard = FlushGuard { acks: self.acks.clone(), armed: true };
        loop {
            let mut batch = {
                let mut state = self.acks.state.lock().unwrap_or_else(PoisonError::into_inner);
                if state.waiting.is_empty() {
                    // Under the lock, so an ack arriving now either was taken above or starts the next flusher.
                    state.flushing = false;
                    guard.armed = false;
                    return;
                }
                std::mem::take(&mut state.waiting)
            };
            while !batch.is_empty() {
                let rest = batch.split_off(batch.len().min(ACK_CHUNK));
                let leases: Vec<&Lease> = batch.iter().map(|(lease, _)| lease).collect();
                let outcome = self.delete_leased(&leases).await.map_err(|e| format!("queue database: {e}"));
                for (lease, done) in batch {
                    // A caller that stopped waiting (its job was cancelled) needs no answer.
                    let _ = done.send(
                        outcome
                            .as_ref()
                            .map(|deleted| deleted.contains(&(lease.message_id, lease.token)))
                            .map_err(Clone::clone),
                    );
                }
                batch = rest;
            }
        }
    }

    /// Deletes the messages that `leases` still hold; returns the (message, token) pairs it deleted. A lock
    /// conflict rolled the work back, so it is run again (up to three times) rather than failing the acks.
    async fn delete_leased(&self, leases: &[&Lease]) -> Result<HashSet<(Uuid, Uuid)>, DbErr> {
        let held = leases.iter().fold(Condition::any(), |any, lease| {
            any.add(jobs::Column::Id.eq(lease.message_id).and(jobs::Column::LeaseToken.eq(lease.token)))
        });
        let mut conflicts = 0;
        loop {
            let deleted = match (self.db.get_database_backend(), leases) {
                // One lease: the plain DELETE's row count is the answer, in one round trip.
                (_, [lease]) => jobs::Entity::delete_many().filter(held.clone()).exec(&self.db).await.map(|done| {
                    if done.rows_affected == 1 {
                        HashSet::from([(lease.message_id, lease.token)])
                    } else {
                        HashSet::new()
                    }
                }),
                (DbBackend::MySql, _) => self.delete_leased_mysql(held.clone()).await,
                _ => jobs::Entity::delete_many()
                    .filter(held.clone())
                    .exec_with_returning(&self.db)
                    .await
                    .map(|rows| rows.into_iter().filter_map(|row| Some((row.id, row.lease_token?))).collect()),
            };
            match deleted {
                Err(e) if crate::db::is_lock_conflict(&e) && conflicts < 3 => conflicts += 1,
                deleted => return deleted,
            }
        }
    }

    /// MySQL has no `DELETE … RETURNING`: lock the rows still held (READ COMMITTED, so only those), delete them by
    /// id and commit, all in one transaction, so the rows read are the rows deleted.
    async fn delete_leased_mysql(&self, held: Condition) -> Result<HashSet<(Uuid, Uuid)>, DbErr> {
        let tx = crate::db::begin_claim(&self.db).await?;
        let rows: Vec<(Uuid, Uuid)> = jobs::Entity::find()
            .select_only()
            .column(jobs::Column::Id)
            .column(jobs::Column::LeaseToken)
            .filter(held)
            .lock(LockType::Update)
            .into_tuple()
            .all(&tx)
            .await?;
        if !rows.is_empty() {
            let ids: Vec<Uuid> = rows.iter().map(|(id, _)| *id).collect();
            jobs::Entity::delete_many().filter(jobs::Column::Id.is_in(ids)).exec(&tx).await?;
        }
        tx.commit().await?;
        Ok(rows.into_iter().collect())
    }

    fn failed(row: failed_jobs::Model) -> Result<FailedJob, QueueError> {
        Ok(FailedJob {
            id: row.id,
            pool: parse_pool(&row.pool)?,
            job_type: row.job_type,
            org_id: row.org_id,
            body: row.body,
            attempts: count(row.attempts),
            reason: row.reason,
            enqueued_at: row.enqueued_at,
            failed_at: row.failed_at,
        })
    }
}

#[async_trait]
impl Queue for DbQueue {
    async fn send(&self, messages: Vec<OutgoingMessage>, delay: Duration) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let visible_at = now + chrono_duration(delay);
        let tx = entities::begin_write(&self.db).await?;
        for chunk in messages.chunks(INSERT_CHUNK) {
            let rows = chunk.iter().map(|m| jobs::ActiveModel {
                id: Set(m.id),
                pool: Set(m.pool.name().to_owned()),
                job_type: Set(m.job_type.clone()),
                org_id: Set(m.org_id),
                body: Set(m.body.clone()),
                attempts: Set(0),
                enqueued_at: Set(now),
                visible_at: Set(visible_at),
                lease_token: Set(None),
                last_error: Set(None),
            });
            jobs::Entity::insert_many(rows).exec(&tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn claim_batch(
        &self,
        pool: Pool,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<LeasedMessage>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let until = now + chrono_duration(visibility);
        let token = Uuid::now_v7();
        let mut conflicts = 0;
        loop {
            let claimed = match self.db.get_database_backend() {
                DbBackend::MySql => self.claim_mysql(pool, max, now, until, token).await,
                _ => self.claim_sqlite(pool, max, now, until, token).await,
            };
            match claimed {
                Ok(rows) => return Ok(Self::leased(rows, pool, token)),
                // Rare with READ COMMITTED and SKIP LOCKED, but InnoDB may still pick a claimer as a deadlock
                // victim against a concurrent ack; the claim rolled back, so running it again is safe.
                Err(QueueError::Db(e)) if crate::db::is_lock_conflict(&e) && conflicts < 3 => conflicts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    async fn extend(&self, lease: &Lease, visibility: Duration) -> Result<bool, QueueError> {
        let until = self.clock.now() + chrono_duration(visibility);
        self.update_leased(lease, vec![(jobs::Column::VisibleAt, Expr::value(until))]).await
    }

    async fn ack(&self, lease: &Lease) -> Result<bool, QueueError> {
        let (done, outcome) = oneshot::channel();
        let start_flusher = {
            let mut state = self.acks.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.waiting.push((lease.clone(), done));
            !std::mem::replace(&mut state.flushing, true)
        };
        if start_flusher {
            // A task of its own rather than this caller's future: a caller cancelled mid-flush (a job cut off at
            // the end of the grace period) must not strand the acks queued behind its own.
            tokio::spawn(self.clone().flush_acks());
        }
        match outcome.await {
            Ok(outcome) => outcome.map_err(QueueError::Backend),
            Err(_) => Err(QueueError::Backend("the ack was dropped before it was written".into())),
        }
    }

    async fn retry_later(&self, lease: &Lease, delay: Duration, error: &str) -> Result<bool, QueueError> {
        let visible_at = self.clock.now() + chrono_duration(delay);
        self.update_leased(
            lease,
            vec![
                (jobs::Column::VisibleAt, Expr::value(visible_at)),
                (jobs::Column::LeaseToken, Expr::value(Option::<Uuid>::None)),
                (jobs::Column::LastError, Expr::value(error.to_owned())),
            ],
        )
        .await
    }

    async fn release(&self, message: &LeasedMessage) -> Result<bool, QueueError> {
        let lease = &message.lease;
        let now = self.clock.now();
        self.update_leased(
            lease,
            vec![
                (jobs::Column::VisibleAt, Expr::value(now)),
                (jobs::Column::LeaseToken, Expr::value(Option::<Uuid>::None)),
                (jobs::Column::Attempts, Expr::col(jobs::Column::Attempts).sub(1)),
            ],
        )
        .await
    }

    async fn dead_letter(&self, message: &LeasedMessage, reason: &str) -> Result<bool, QueueError> {
        // The row is the source of truth here; the message only names it.
        let lease = &message.lease;
        let tx = entities::begin_write(&self.db).await?;
        let row = jobs::Entity::find_by_id(lease.message_id)
            .filter(jobs::Column::LeaseToken.eq(lease.token))
            .one(&tx)
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        // Delete by lease first: if another worker claimed the message since the read, the token no longer matches
        // and this holder must not dead-letter it.
        let deleted = jobs::Entity::delete_many()
            .filter(jobs::Column::Id.eq(row.id))
            .filter(jobs::Column::LeaseToken.eq(lease.token))
            .exec(&tx)
            .await?;
        if deleted.rows_affected != 1 {
            return Ok(false);
        }
        failed_jobs::Entity::insert(failed_jobs::ActiveModel {
            id: Set(row.id),
            pool: Set(row.pool),
            job_type: Set(row.job_type),
            org_id: Set(row.org_id),
            body: Set(row.body),
            attempts: Set(row.attempts),
            reason: Set(reason.to_owned()),
            enqueued_at: Set(row.enqueued_at),
            failed_at: Set(self.clock.now()),
        })
        .exec_without_returning(&tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn stats(&self) -> Result<Vec<PoolStats>, QueueError> {
        let now = self.clock.now();
        let mut out = Vec::with_capacity(Pool::ALL.len());
        for pool in Pool::ALL {
            let of_pool = || jobs::Entity::find().filter(jobs::Column::Pool.eq(pool.name()));
            let depth = of_pool().filter(jobs::Column::VisibleAt.lte(now)).count(&self.db).await?;
            let in_flight = of_pool()
                .filter(jobs::Column::VisibleAt.gt(now))
                .filter(jobs::Column::LeaseToken.is_not_null())
                .count(&self.db)
                .await?;
            let delayed = of_pool()
                .filter(jobs::Column::VisibleAt.gt(now))
                .filter(jobs::Column::LeaseToken.is_null())
                .count(&self.db)
                .await?;
            let dead_letters =
                failed_jobs::Entity::find().filter(failed_jobs::Column::Pool.eq(pool.name())).count(&self.db).await?;
            let oldest: Option<DateTime<Utc>> = of_pool()
                .filter(jobs::Column::VisibleAt.lte(now))
                .select_only()
                .column(jobs::Column::EnqueuedAt)
                .order_by_asc(jobs::Column::EnqueuedAt)
                .into_tuple()
                .one(&self.db)
                .await?;
            let oldest_age = Some(oldest.and_then(|t| (now - t).to_std().ok()).unwrap_or_default());
            out.push(PoolStats { pool, depth, in_flight, delayed, dead_letters, oldest_age });
        }
        Ok(out)
    }

    async fn failed_list(&self, pool: Option<Pool>, limit: u64) -> Result<Vec<FailedJob>, QueueError> {
        let mut query = failed_jobs::Entity::find();
        if let Some(pool) = pool {
            query = query.filter(failed_jobs::Column::Pool.eq(pool.name()));
        }
        let rows = query
            .order_by_desc(failed_jobs::Column::FailedAt)
            .order_by_desc(failed_jobs::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        rows.into_iter().map(Self::failed).collect()
    }

    async fn failed_show(&self, id: Uuid) -> Result<Option<FailedJob>, QueueError> {
        failed_jobs::Entity::find_by_id(id).one(&self.db).await?.map(Self::failed).transpose()
    }

    async fn retry_failed(&self, id: Option<Uuid>, pool: Option<Pool>) -> Result<u64, QueueError> {
        let now = self.clock.now();
        let tx = entities::begin_write(&self.db).await?;
        let mut query = failed_jobs::Entity::find();
        if let Some(id) = id {
            query = query.filter(failed_jobs::Column::Id.eq(id));
        }
        if let Some(pool) = pool {
            query = query.filter(failed_jobs::Column::Pool.eq(pool.name()));
        }
        let rows = query.all(&tx).await?;
        for chunk in rows.chunks(INSERT_CHUNK) {
            let ids: Vec<Uuid> = chunk.iter().map(|r| r.id).collect();
            let jobs = chunk.iter().cloned().map(|r| jobs::ActiveModel {
                id: Set(r.id),
                pool: Set(r.pool),
                job_type: Set(r.job_type),
                org_id: Set(r.org_id),
                body: Set(r.body),
                attempts: Set(0),
                enqueued_at: Set(r.enqueued_at),
                visible_at: Set(now),
                lease_token: Set(None),
                last_error: Set(Some(r.reason)),
            });
            jobs::Entity::insert_many(jobs).exec(&tx).await?;
            failed_jobs::Entity::delete_many().filter(failed_jobs::Column::Id.is_in(ids)).exec(&tx).await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn purge_failed(&self, pool: Option<Pool>) -> Result<u64, QueueError> {
        let mut delete = failed_jobs::Entity::delete_many();
        if let Some(pool) = pool {
            delete = delete.filter(failed_jobs::Column::Pool.eq(pool.name()));
        }
        Ok(delete.exec(&self.db).await?.rows_affected)
    }
}
