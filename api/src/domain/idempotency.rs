//! Idempotency keys: the first POST with a key stores its response; a retry with the same key and body replays it
//! without creating anything; the same key with a different body is refused. A placeholder row is inserted before
//! the request runs, so two concurrent requests with one key cannot both create.
#![allow(clippy::disallowed_methods)] // keyed by the authenticated user, not by a tenant

use entities::tables::idempotency_keys;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::error::{is_unique_violation, AppError};

/// How long an unanswered claim blocks its key before a retry may take it over.
const ABANDONED_AFTER_SECS: i64 = 60;

/// What to do with a request carrying a key.
pub enum Claim {
    /// First use: run the request, then [`complete`] or [`release`].
    Fresh,
    /// Seen before with the same body: send this stored response.
    Replay { status: u16, body: String },
}

/// Claims `key` for this request body hash.
pub async fn claim(db: &DatabaseConnection, user_id: Uuid, key: &str, request_hash: &str) -> Result<Claim, AppError> {
    let placeholder = idempotency_keys::ActiveModel {
        user_id: Set(user_id),
        key: Set(key.to_owned()),
        request_hash: Set(request_hash.to_owned()),
        response_status: Set(0),
        response_body: Set(String::new()),
        created_at: Set(entities::now()),
    };
    match placeholder.insert(db).await {
        Ok(_) => return Ok(Claim::Fresh),
        Err(e) if is_unique_violation(&e) => {}
        Err(e) => return Err(e.into()),
    }
    let row = idempotency_keys::Entity::find()
        .filter(idempotency_keys::Column::UserId.eq(user_id))
        .filter(idempotency_keys::Column::Key.eq(key))
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("idempotency key vanished between insert and read"))?;
    if row.request_hash != request_hash {
        return Err(AppError::Validation(vec![crate::error::FieldError {
            field: "Idempotency-Key".into(),
            message: "was already used with a different request".into(),
        }]));
    }
    if row.response_status == 0 {
        // A placeholder whose request died (process killed, response not stored) would otherwise block the key
        // forever: after ABANDONED_AFTER it is taken over by the retry, under the same conditional-update race
        // protection as a fresh claim.
        let abandoned = entities::now() - chrono::Duration::seconds(ABANDONED_AFTER_SECS);
        if row.created_at < abandoned {
            let taken = idempotency_keys::Entity::update_many()
                .col_expr(idempotency_keys::Column::CreatedAt, sea_orm::sea_query::Expr::value(entities::now()))
                .filter(idempotency_keys::Column::UserId.eq(user_id))
                .filter(idempotency_keys::Column::Key.eq(key))
                .filter(idempotency_keys::Column::ResponseStatus.eq(0))
                .filter(idempotency_keys::Column::CreatedAt.eq(row.created_at))
                .exec(db)
                .await?;
            if taken.rows_affected == 1 {
                return Ok(Claim::Fresh);
            }
        }
        return Err(AppError::conflict("idempotency_in_progress", "a request with this key is still in progress"));
    }
    Ok(Claim::Replay { status: row.response_status as u16, body: row.response_body })
}

/// Stores the response of a claimed request.
pub async fn complete(
    db: &DatabaseConnection,
    user_id: Uuid,
    key: &str,
    status: u16,
    body: String,
) -> Result<(), AppError> {
    idempotency_keys::Entity::update_many()
        .col_expr(idempotency_keys::Column::ResponseStatus, sea_orm::sea_query::Expr::value(status as i32))
        .col_expr(idempotency_keys::Column::ResponseBody, sea_orm::sea_query::Expr::value(body))
        .filter(idempotency_keys::Column::UserId.eq(user_id))
        .filter(idempotency_keys::Column::Key.eq(key))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets a claim whose request failed on the server side, so a retry can run it again.
pub async fn release(db: &DatabaseConnection, user_id: Uuid, key: &str) -> Result<(), AppError> {
    idempotency_keys::Entity::delete_many()
        .filter(idempotency_keys::Column::UserId.eq(user_id))
        .filter(idempotency_keys::Column::Key.eq(key))
        .exec(db)
        .await?;
    Ok(())
}
