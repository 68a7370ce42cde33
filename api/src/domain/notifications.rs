//! The caller's in-app notifications and their delivery preferences. Notifications belong to one user: another
//! user's id answers 404, like any id the caller cannot see.
#![allow(clippy::disallowed_methods)] // notifications and preferences are per user, always filtered by the caller

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entities::notification_kinds::{Channel, Kind, DIGEST_DAILY, DIGEST_IMMEDIATE, DIGEST_PREFERENCE};
use entities::tables::{notification_preferences, notifications};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::error::{AppError, Validator};

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

/// Which notifications to list.
#[derive(Default)]
pub struct ListQuery {
    pub unread_only: bool,
    pub org_id: Option<Uuid>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

pub struct Page {
    pub items: Vec<notifications::Model>,
    pub next_cursor: Option<String>,
}

fn bad_cursor() -> AppError {
    AppError::invalid("cursor", "is not a cursor returned by this list")
}

/// Newest first, keyset-paginated on the time-ordered id.
pub async fn list(db: &impl ConnectionTrait, user_id: Uuid, q: ListQuery) -> Result<Page, AppError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(AppError::invalid("limit", format!("must be between 1 and {MAX_LIMIT}")));
    }
    let mut select = notifications::Entity::find().filter(notifications::Column::UserId.eq(user_id));
    if q.unread_only {
        select = select.filter(notifications::Column::ReadAt.is_null());
    }
    if let Some(org) = q.org_id {
        select = select.filter(notifications::Column::OrgId.eq(org));
    }
    if let Some(c) = &q.cursor {
        let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad_cursor())?;
        let after = Uuid::from_slice(&bytes).map_err(|_| bad_cursor())?;
        select = select.filter(notifications::Column::Id.lt(after));
    }
    let mut items = select.order_by_desc(notifications::Column::Id).limit(limit + 1).all(db).await?;
    let next_cursor = if items.len() as u64 > limit {
        items.truncate(limit as usize);
        items.last().map(|n| URL_SAFE_NO_PAD.encode(n.id.as_bytes()))
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// How many of the caller's notifications are unread.
pub async fn unread_count(db: &impl ConnectionTrait, user_id: Uuid) -> Result<u64, AppError> {
    Ok(notifications::Entity::find()
        .filter(notifications::Column::UserId.eq(user_id))
        .filter(notifications::Column::ReadAt.is_null())
        .count(db)
        .await?)
}

/// Marks one notification read (or unread again); 404 when it is not the caller's.
pub async fn set_read(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    id: Uuid,
    read: bool,
) -> Result<notifications::Model, AppError> {
    let found = notifications::Entity::find()
        .filter(notifications::Column::Id.eq(id))
        .filter(notifications::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("notification_not_found"))?;
    // Reading twice keeps the first read time.
    let read_at = match (read, found.read_at) {
        (true, Some(t)) => Some(t),
        (true, None) => Some(entities::now()),
        (false, _) => None,
    };
    if read_at == found.read_at {
        return Ok(found);
    }
    notifications::Entity::update_many()
        .col_expr(notifications::Column::ReadAt, Expr::value(read_at))
        .filter(notifications::Column::Id.eq(id))
        .filter(notifications::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(notifications::Model { read_at, ..found })
}

/// Marks every unread notification of the caller read (optionally only one org's); returns how many changed.
pub async fn mark_all_read(db: &impl ConnectionTrait, user_id: Uuid, org_id: Option<Uuid>) -> Result<u64, AppError> {
    let mut update = notifications::Entity::update_many()
        .col_expr(notifications::Column::ReadAt, Expr::value(Some(entities::now())))
        .filter(notifications::Column::UserId.eq(user_id))
        .filter(notifications::Column::ReadAt.is_null());
    if let Some(org) = org_id {
        update = update.filter(notifications::Column::OrgId.eq(org));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// One kind's effective channel.
pub struct KindPreference {
    pub kind: Kind,
    pub channel: Channel,
    pub default_channel: Channel,
}

/// Everything the preferences screen shows.
pub struct Preferences {
    /// Email as one daily message instead of one per notification.
    pub daily_digest: bool,
    pub kinds: Vec<KindPreference>,
}

pub async fn preferences(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Preferences, AppError> {
    let rows = notification_preferences::Entity::find()
        .filter(notification_preferences::Column::UserId.eq(user_id))
        .all(db)
        .await?;
    let stored = |name: &str| rows.iter().find(|r| r.kind == name).map(|r| r.channel.as_str());
    let kinds = Kind::ALL
        .into_iter()
        .map(|kind| KindPreference {
            kind,
            channel: stored(kind.name()).and_then(|c| c.parse().ok()).unwrap_or(kind.default_channel()),
            default_channel: kind.default_channel(),
        })
        .collect();
    Ok(Preferences { daily_digest: stored(DIGEST_PREFERENCE) == Some(DIGEST_DAILY), kinds })
}

/// A change of preferences: absent fields keep their value.
pub struct PreferencesUpdate {
    pub daily_digest: Option<bool>,
    /// `(kind, channel)` names as sent by the client.
    pub kinds: Vec<(String, String)>,
}

pub async fn update_preferences(
    db: &DatabaseConnection,
    user_id: Uuid,
    update: PreferencesUpdate,
) -> Result<Preferences, AppError> {
    let mut v = Validator::default();
    let mut rows = Vec::new();
    for (i, (kind, channel)) in update.kinds.iter().enumerate() {
        match (kind.parse::<Kind>(), channel.parse::<Channel>()) {
            (Ok(k), Ok(c)) => rows.push((k.name(), c.name())),
            (Err(e), _) => v.push(&format!("kinds[{i}].kind"), e.to_string()),
            (_, Err(e)) => v.push(&format!("kinds[{i}].channel"), e.to_string()),
        }
    }
    v.finish()?;
    if let Some(daily) = update.daily_digest {
        rows.push((DIGEST_PREFERENCE, if daily { DIGEST_DAILY } else { DIGEST_IMMEDIATE }));
    }
    let tx = entities::begin_write(db).await?;
    for (kind, channel) in rows {
        set_preference(&tx, user_id, kind, channel).await?;
    }
    tx.commit().await?;
    preferences(db, user_id).await
}

/// Stores one preference row (insert or replace).
pub async fn set_preference(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    kind: &str,
    channel: &str,
) -> Result<(), AppError> {
    let row = notification_preferences::ActiveModel {
        user_id: Set(user_id),
        kind: Set(kind.to_owned()),
        channel: Set(channel.to_owned()),
        updated_at: Set(entities::now()),
    };
    notification_preferences::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([notification_preferences::Column::UserId, notification_preferences::Column::Kind])
                .update_columns([
                    notification_preferences::Column::Channel,
                    notification_preferences::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Applies a signed unsubscribe link: the kind's email stops, the in-app notifications stay. A bad signature is a
/// 404, like a link that never existed.
pub async fn unsubscribe(
    state: &crate::state::AppState,
    user_id: Uuid,
    kind: &str,
    signature: &str,
) -> Result<Channel, AppError> {
    let message = platform::mail::unsubscribe_message(user_id, kind);
    let purpose = platform::secret_key::purpose::UNSUBSCRIBE;
    if !state.secret.verify(purpose, message.as_bytes(), signature) {
        return Err(AppError::NotFound("unsubscribe_link_not_found"));
    }
    let kind: Kind = kind.parse().map_err(|_| AppError::NotFound("unsubscribe_link_not_found"))?;
    // Someone who already turned the kind off entirely keeps it off.
    let current = preferences(&state.db, user_id).await?;
    let channel = current.kinds.iter().find(|k| k.kind == kind).map_or(kind.default_channel(), |k| k.channel);
    if channel == Channel::Off {
        return Ok(Channel::Off);
    }
    set_preference(&state.db, user_id, kind.name(), Channel::InApp.name()).await?;
    Ok(Channel::InApp)
}
