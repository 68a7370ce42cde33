//! `/notifications*` and `/notification-preferences`: the caller's in-app notifications and where each kind goes.
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use crate::auth::schemes::Auth;
use crate::domain::notifications::{self, KindPreference, ListQuery, Preferences, PreferencesUpdate};
use crate::problem::ApiError;
use crate::state::AppState;

/// An in-app notification.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Notification {
    pub id: Uuid,
    /// task_assigned, mentioned, task_commented, task_status_changed, task_due_changed, reminder, report_ready.
    pub kind: String,
    pub org_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    pub title: String,
    pub body: String,
    /// Path in the web app, below the public URL.
    pub url: String,
    pub read: bool,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<entities::tables::notifications::Model> for Notification {
    fn from(n: entities::tables::notifications::Model) -> Self {
        Notification {
            id: n.id,
            kind: n.kind,
            org_id: n.org_id,
            actor_id: n.actor_id,
            entity_type: n.entity_type,
            entity_id: n.entity_id,
            title: n.title,
            body: n.body,
            url: n.url,
            read: n.read_at.is_some(),
            read_at: n.read_at,
            created_at: n.created_at,
        }
    }
}

/// One page of notifications, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NotificationPage {
    pub items: Vec<Notification>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Unread notifications in total (not only on this page).
    pub unread_count: u64,
}

/// The unread count, for the bell badge.
#[derive(Debug, Object)]
pub struct UnreadCount {
    pub count: u64,
}

/// Read state of one notification.
#[derive(Debug, Object)]
pub struct ReadInput {
    pub read: bool,
}

/// How many notifications changed.
#[derive(Debug, Object)]
pub struct MarkedCount {
    pub marked: u64,
}

/// The channel of one notification kind.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct KindChannel {
    pub kind: String,
    /// email (in-app and email), in_app, or off.
    pub channel: String,
    /// The channel without a preference (read-only).
    #[oai(read_only)]
    pub default_channel: Option<String>,
}

impl From<KindPreference> for KindChannel {
    fn from(k: KindPreference) -> Self {
        KindChannel {
            kind: k.kind.name().to_owned(),
            channel: k.channel.name().to_owned(),
            default_channel: Some(k.default_channel.name().to_owned()),
        }
    }
}

/// Notification preferences.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NotificationPreferences {
    /// Send email as one daily digest (08:00 in your time zone) instead of one message per notification.
    pub daily_digest: bool,
    pub kinds: Vec<KindChannel>,
}

impl From<Preferences> for NotificationPreferences {
    fn from(p: Preferences) -> Self {
        NotificationPreferences { daily_digest: p.daily_digest, kinds: p.kinds.into_iter().map(Into::into).collect() }
    }
}

/// A change of preferences; absent fields and unlisted kinds keep their value.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PreferencesInput {
    pub daily_digest: Option<bool>,
    #[oai(default)]
    pub kinds: Vec<KindChannel>,
}

/// The result of an unsubscribe link.
#[derive(Debug, Object)]
pub struct Unsubscribed {
    pub kind: String,
    /// Now `in_app`: the notifications still appear in the app, without email.
    pub channel: String,
}

pub struct NotificationsApi;

#[OpenApi(tag = "ApiTags::Notifications")]
impl NotificationsApi {
    /// List my notifications, newest first
    #[oai(path = "/notifications", method = "get", operation_id = "listNotifications")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        /// Only unread ones.
        #[oai(default)]
        unread: Query<bool>,
        /// Only those of one org.
        org_id: Query<Option<Uuid>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<NotificationPage>, ApiError> {
        let user = auth.actor().user_id;
        let q = ListQuery { unread_only: unread.0, org_id: org_id.0, limit: limit.0, cursor: cursor.0 };
        let page = notifications::list(&state.db, user, q).await?;
        let unread_count = notifications::unread_count(&state.db, user).await?;
        Ok(Json(NotificationPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
            unread_count,
        }))
    }

    /// Count my unread notifications
    #[oai(path = "/notifications/unread-count", method = "get", operation_id = "countUnreadNotifications")]
    async fn unread_count(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<UnreadCount>, ApiError> {
        let count = notifications::unread_count(&state.db, auth.actor().user_id).await?;
        Ok(Json(UnreadCount { count }))
    }

    /// Mark one notification read or unread
    #[oai(path = "/notifications/:notification_id", method = "patch", operation_id = "updateNotification")]
    async fn set_read(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        notification_id: Path<Uuid>,
        body: Json<ReadInput>,
    ) -> Result<Json<Notification>, ApiError> {
        let n = notifications::set_read(&state.db, auth.actor().user_id, notification_id.0, body.read).await?;
        Ok(Json(n.into()))
    }

    /// Mark all my notifications read
    #[oai(path = "/notifications/read-all", method = "post", operation_id = "markAllNotificationsRead")]
    async fn read_all(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        /// Only those of one org.
        org_id: Query<Option<Uuid>>,
    ) -> Result<Json<MarkedCount>, ApiError> {
        let marked = notifications::mark_all_read(&state.db, auth.actor().user_id, org_id.0).await?;
        Ok(Json(MarkedCount { marked }))
    }

    /// Get my notification preferences
    #[oai(path = "/notification-preferences", method = "get", operation_id = "getNotificationPreferences")]
    async fn preferences(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<NotificationPreferences>, ApiError> {
        Ok(Json(notifications::preferences(&state.db, auth.actor().user_id).await?.into()))
    }

    /// Stop emails of one kind (the one-click link of `List-Unsubscribe`, RFC 8058)
    ///
    /// No sign-in: the link is signed for its user and kind. The kind stays in the app.
    #[oai(path = "/notification-preferences/unsubscribe", method = "post", operation_id = "unsubscribe")]
    async fn unsubscribe(
        &self,
        state: Data<&AppState>,
        user: Query<Uuid>,
        kind: Query<String>,
        sig: Query<String>,
    ) -> Result<Json<Unsubscribed>, ApiError> {
        let channel = notifications::unsubscribe(&state, user.0, &kind.0, &sig.0).await?;
        Ok(Json(Unsubscribed { kind: kind.0, channel: channel.name().to_owned() }))
    }

    /// Stop emails of one kind, from the link in an email's footer (same as the POST)
    #[oai(path = "/notification-preferences/unsubscribe", method = "get", operation_id = "unsubscribeByLink")]
    async fn unsubscribe_link(
        &self,
        state: Data<&AppState>,
        user: Query<Uuid>,
        kind: Query<String>,
        sig: Query<String>,
    ) -> Result<Json<Unsubscribed>, ApiError> {
        self.unsubscribe(state, user, kind, sig).await
    }

    /// Change my notification preferences
    #[oai(path = "/notification-preferences", method = "patch", operation_id = "updateNotificationPreferences")]
    async fn update_preferences(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Json<PreferencesInput>,
    ) -> Result<Json<NotificationPreferences>, ApiError> {
        let body = body.0;
        let update = PreferencesUpdate {
            daily_digest: body.daily_digest,
            kinds: body.kinds.into_iter().map(|k| (k.kind, k.channel)).collect(),
        };
        Ok(Json(notifications::update_preferences(&state.db, auth.actor().user_id, update).await?.into()))
    }
}
