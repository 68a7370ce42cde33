//! Idempotency records for handlers whose effect is not naturally idempotent. Delivery is at least once, so a
//! handler records the key of its effect in `processed_jobs` in the same transaction as the effect: a duplicate
//! delivery finds the key and does nothing.
#![allow(clippy::disallowed_methods)] // processed_jobs is not tenant data

use entities::tables::processed_jobs;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, SqlErr};
use uuid::Uuid;

/// Records `key` (a job id, or a natural key such as an outbox id) as processed. True the first time; false when it
/// was already recorded, and then the caller skips its effect. Call it inside the transaction of the effect, so a
/// rollback forgets the record too.
pub async fn mark_processed_once(tx: &impl ConnectionTrait, key: Uuid, job_type: &str) -> Result<bool, DbErr> {
    let row = processed_jobs::ActiveModel {
        id: Set(key),
        job_type: Set(Some(job_type.to_owned())),
        processed_at: Set(entities::now()),
    };
    // A plain insert and its unique violation, rather than ON CONFLICT DO NOTHING: MySQL's affected-row count for
    // the upsert form depends on connection flags, a duplicate key error does not.
    match processed_jobs::Entity::insert(row).exec_without_returning(tx).await {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(false),
        Err(e) => Err(e),
    }
}
