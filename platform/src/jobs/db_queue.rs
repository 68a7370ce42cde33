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
#![allow(clippy::disallowed_methods)] // the queue tables are not tenant data

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use entities::tables::{failed_jobs, jobs};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Order, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::queue::{FailedJob, Lease, LeasedMessage, OutgoingMessage, PoolStats, Queue, QueueError};
use super::{Clock, Pool};

/// Rows per INSERT: well under MySQL's 65,535 placeholders and SQLite's 32,766.
const INSERT_CHUNK: usize = 500;

/// The [`Queue`] over the app's database.
#[derive(Clone, Debug)]
pub struct DbQueue {
    db: DatabaseConnection,
    clock: Clock,
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
        DbQueue { db, clock: Clock::system() }
    }

    /// A queue whose notion of now is `clock` (tests move it forward).
    pub fn with_clock(db: DatabaseConnection, clock: Clock) -> DbQueue {
        DbQueue { db, clock }
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
        let tx = self.db.begin().await?;
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
        let delete = jobs::Entity::delete_many()
            .filter(jobs::Column::Id.eq(lease.message_id))
            .filter(jobs::Column::LeaseToken.eq(lease.token));
        // A single statement picked as a deadlock victim changed nothing, so running it again is safe; giving up
        // would only mean a redelivery.
        let mut conflicts = 0;
        loop {
            match delete.clone().exec(&self.db).await {
                Ok(done) => return Ok(done.rows_affected == 1),
                Err(e) if crate::db::is_lock_conflict(&e) && conflicts < 3 => conflicts += 1,
                Err(e) => return Err(e.into()),
            }
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
        let tx = self.db.begin().await?;
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
        let tx = self.db.begin().await?;
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
