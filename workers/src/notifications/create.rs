//! Creating notifications: the recipient's preference decides whether a row exists and whether it is emailed, and
//! the dedupe key makes creation idempotent, so a replayed event or a repeated tick never notifies twice.
#![allow(clippy::disallowed_methods)] // notifications and preferences belong to a user, looked up by user id

use entities::tables::{notification_preferences, notifications};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, SqlErr};
use serde_json::Value;
use uuid::Uuid;

use entities::notification_kinds::{email_state, Channel, Kind, DIGEST_DAILY, DIGEST_PREFERENCE};

/// A notification to create for one recipient.
#[derive(Clone, Debug)]
pub struct NewNotification {
    pub org_id: Option<Uuid>,
    pub user_id: Uuid,
    pub kind: Kind,
    pub actor_id: Option<Uuid>,
    pub entity_type: Option<&'static str>,
    pub entity_id: Option<Uuid>,
    pub title: String,
    pub body: String,
    /// Path below the public URL.
    pub url: String,
    /// The email template's fields (see platform's mail templates), without the recipient's.
    pub data: Value,
    /// Unique per recipient and cause, e.g. `event:{outbox_id}:{user_id}`.
    pub dedupe_key: String,
}

/// The user's channel for `kind` and whether they take email as a daily digest.
pub async fn preference(db: &impl ConnectionTrait, user_id: Uuid, kind: Kind) -> Result<(Channel, bool), DbErr> {
    let rows = notification_preferences::Entity::find()
        .filter(notification_preferences::Column::UserId.eq(user_id))
        .filter(notification_preferences::Column::Kind.is_in([kind.name(), DIGEST_PREFERENCE]))
        .all(db)
        .await?;
    let mut channel = kind.default_channel();
    let mut digest = false;
    for row in rows {
        if row.kind == DIGEST_PREFERENCE {
            digest = row.channel == DIGEST_DAILY;
        } else {
            // A value written by a newer version is treated as the default rather than failing the delivery.
            channel = row.channel.parse().unwrap_or(channel);
        }
    }
    Ok((channel, digest))
}

/// Creates the notification unless the recipient turned its kind off or it already exists. Returns the new row
/// (its `email_state` says whether a `notify` job should email it now).
pub async fn create(db: &impl ConnectionTrait, n: NewNotification) -> Result<Option<notifications::Model>, DbErr> {
    let (channel, digest) = preference(db, n.user_id, n.kind).await?;
    let state = match channel {
        Channel::Off => return Ok(None),
        Channel::InApp => email_state::NONE,
        Channel::Email if digest => email_state::DIGEST,
        Channel::Email => email_state::PENDING,
    };
    let row = notifications::ActiveModel {
        id: Set(entities::new_id()),
        org_id: Set(n.org_id),
        user_id: Set(n.user_id),
        kind: Set(n.kind.name().to_owned()),
        actor_id: Set(n.actor_id),
        entity_type: Set(n.entity_type.map(str::to_owned)),
        entity_id: Set(n.entity_id),
        title: Set(truncate(&n.title, 300)),
        body: Set(n.body),
        data: Set(n.data),
        url: Set(n.url),
        dedupe_key: Set(n.dedupe_key),
        email_state: Set(state.to_owned()),
        read_at: Set(None),
        emailed_at: Set(None),
        created_at: Set(entities::now()),
    };
    // A plain insert and its unique violation (see `mark_processed_once` for why not an upsert).
    match notifications::Entity::insert(row.clone()).exec_without_returning(db).await {
        Ok(_) => Ok(Some(sea_orm::TryIntoModel::try_into_model(row)?)),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Cuts `s` to at most `max` characters, ending in an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
