//! In-app notifications, one row per recipient. Email delivery is driven from the same row (`email_state`), so an
//! email and its in-app entry always describe the same thing, and `dedupe_key` makes producing one idempotent: a
//! replayed event or a second scheduler tick finds the row already there.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `None` for notifications outside any org (e.g. account mail).
    pub org_id: Option<Uuid>,
    pub user_id: Uuid,
    /// One of the notification kinds (`task_assigned`, `mentioned`, `reminder`, …).
    pub kind: String,
    pub actor_id: Option<Uuid>,
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    /// One line, plain text.
    pub title: String,
    /// Plain text; may be empty.
    #[sea_orm(column_type = "Text")]
    pub body: String,
    /// The fields its email template needs besides the recipient's (actor name, task reference, from/to values).
    pub data: Json,
    /// Path below the public URL (`/orgs/…/tasks/…`) the notification links to.
    pub url: String,
    /// Unique: who produced it and for whom, e.g. `event:{outbox_id}:{user_id}`.
    pub dedupe_key: String,
    /// `none` (in-app only), `pending` (to send now), `digest` (waits for the daily digest), `sent`, `skipped`.
    pub email_state: String,
    pub read_at: Option<DateTimeUtc>,
    pub emailed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
