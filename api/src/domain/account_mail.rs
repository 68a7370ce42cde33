//! Email verification and password reset: single-use tokens whose link a worker emails (`account_mail` job).
//!
//! The token is the `account_tokens` row id signed with the server key ([`platform::secret_key`]), so nothing
//! secret is stored. A reset request answers the same whether or not the address has an account, so the endpoint
//! cannot be used to find out who is signed up; it shares the login rate limits per address and per IP.
#![allow(clippy::disallowed_methods)] // users, sessions and account tokens are not tenant rows

use std::time::Duration as StdDuration;

use chrono::Duration;
use entities::tables::{account_tokens, users};
use platform::jobs::{Envelope, Job};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::accounts::{user, Email};
use crate::auth::passwords;
use crate::error::{AppError, Validator};
use crate::state::AppState;

pub use platform::secret_key::purpose::{PASSWORD_RESET, VERIFY_EMAIL};

/// How long each kind of link works.
pub fn lifetime(purpose: &str) -> Duration {
    if purpose == PASSWORD_RESET {
        Duration::hours(1)
    } else {
        Duration::hours(48)
    }
}

/// Stores a token for `user` and enqueues its email.
async fn issue(state: &AppState, user: &users::Model, purpose: &str) -> Result<account_tokens::Model, AppError> {
    let now = entities::now();
    let tx = entities::begin_write(&state.db).await?;
    // Only the newest link of a kind works: an older one in someone's inbox is retired.
    account_tokens::Entity::update_many()
        .col_expr(account_tokens::Column::UsedAt, Expr::value(Some(now)))
        .filter(account_tokens::Column::UserId.eq(user.id))
        .filter(account_tokens::Column::Purpose.eq(purpose))
        .filter(account_tokens::Column::UsedAt.is_null())
        .exec(&tx)
        .await?;
    let token = account_tokens::ActiveModel {
        id: Set(entities::new_id()),
        user_id: Set(user.id),
        purpose: Set(purpose.to_owned()),
        email: Set(user.email.clone()),
        expires_at: Set(now + lifetime(purpose)),
        used_at: Set(None),
        created_at: Set(now),
    }
    .insert(&tx)
    .await?;
    tx.commit().await?;
    let job = Envelope::new(Job::AccountMail { token_id: token.id }, None);
    state.queue.enqueue(&[job], StdDuration::ZERO).await.map_err(|e| {
        tracing::warn!(error = %e, purpose, "could not enqueue an account email");
        AppError::Unavailable { code: "mail_unavailable", detail: "the email could not be queued; try again".into() }
    })?;
    Ok(token)
}

/// Sends (again) the verification link of the caller's address; 409 when it is already verified.
pub async fn request_verification(state: &AppState, user_id: Uuid) -> Result<(), AppError> {
    let u = user(&state.db, user_id).await?;
    if u.email_verified_at.is_some() {
        return Err(AppError::conflict("already_verified", "this email address is already verified"));
    }
    issue(state, &u, VERIFY_EMAIL).await.map(|_| ())
}

/// Sends the first verification link after sign-up. The account exists either way: a queue outage is logged and
/// the person can ask for the link again.
pub async fn verification_after_sign_up(state: &AppState, user: &users::Model) {
    if let Err(e) = issue(state, user, VERIFY_EMAIL).await {
        tracing::warn!(user_id = %user.id, error = %e, "no verification email after sign-up");
    }
}

/// The unused, unexpired token row a link names, or 422 on `token`.
async fn redeemable(
    db: &impl ConnectionTrait,
    state: &AppState,
    purpose: &str,
    token: &str,
) -> Result<account_tokens::Model, AppError> {
    let invalid = || AppError::invalid("token", "is invalid, expired or already used");
    let id = state.secret.token_id(purpose, token).ok_or_else(invalid)?;
    let row = account_tokens::Entity::find_by_id(id).one(db).await?.ok_or_else(invalid)?;
    if row.purpose != purpose || row.used_at.is_some() || row.expires_at <= entities::now() {
        return Err(invalid());
    }
    Ok(row)
}

/// Marks `row` used; false when a concurrent request used it first.
async fn consume(db: &impl ConnectionTrait, row: &account_tokens::Model) -> Result<bool, AppError> {
    let done = account_tokens::Entity::update_many()
        .col_expr(account_tokens::Column::UsedAt, Expr::value(Some(entities::now())))
        .filter(account_tokens::Column::Id.eq(row.id))
        .filter(account_tokens::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Confirms an address from its emailed link.
pub async fn confirm_verification(state: &AppState, token: &str) -> Result<users::Model, AppError> {
    let tx = entities::begin_write(&state.db).await?;
    let row = redeemable(&tx, state, VERIFY_EMAIL, token).await?;
    let u = user(&tx, row.user_id).await?;
    // The link proves the address it was sent to, not one the account changed to since.
    if u.email != row.email || !consume(&tx, &row).await? {
        return Err(AppError::invalid("token", "is invalid, expired or already used"));
    }
    let mut active: users::ActiveModel = u.into();
    active.email_verified_at = Set(Some(entities::now()));
    active.updated_at = Set(entities::now());
    let u = active.update(&tx).await?;
    tx.commit().await?;
    Ok(u)
}

/// Emails a reset link if `email` has an account. Rate limited; otherwise always succeeds.
pub async fn request_password_reset(
    state: &AppState,
    email: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<(), AppError> {
    state.limiters.check_login(email.trim(), ip)?;
    let Ok(email) = Email::parse(email) else {
        return Err(AppError::invalid("email", "is not an email address"));
    };
    let found = users::Entity::find().filter(users::Column::Email.eq(email.as_str())).one(&state.db).await?;
    match found {
        Some(u) => issue(state, &u, PASSWORD_RESET).await.map(|_| ()),
        None => Ok(()),
    }
}

/// Sets a new password from a reset link, signs out every session and revokes nothing else: personal access
/// tokens are separate credentials the owner manages. A reset also proves the address, so it verifies it.
pub async fn reset_password(state: &AppState, token: &str, new_password: String) -> Result<(), AppError> {
    let mut v = Validator::new();
    passwords::check_policy(&mut v, "password", &new_password);
    v.finish()?;
    let hash = passwords::hash(new_password).await?;
    let tx = entities::begin_write(&state.db).await?;
    let row = redeemable(&tx, state, PASSWORD_RESET, token).await?;
    let u = user(&tx, row.user_id).await?;
    if u.email != row.email || !consume(&tx, &row).await? {
        return Err(AppError::invalid("token", "is invalid, expired or already used"));
    }
    let verified = u.email_verified_at.unwrap_or_else(entities::now);
    let mut active: users::ActiveModel = u.into();
    active.password_hash = Set(hash);
    active.email_verified_at = Set(Some(verified));
    active.updated_at = Set(entities::now());
    active.update(&tx).await?;
    let ended = super::accounts::end_sessions(&tx, row.user_id, None).await?;
    tx.commit().await?;
    super::accounts::forget_sessions(&state.cache, &ended).await;
    Ok(())
}
