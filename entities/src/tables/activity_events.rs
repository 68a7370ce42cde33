//! The activity log of the embedded event store: one row per published outbox event, kept until `expires_at`.
//! It mirrors the DynamoDB single table (see `platform::events`): the org feed is `(org_id, occurred_at, id)`, the
//! project, task and user feeds are the indexes on `project_id`, `task_id` and `actor_id`.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "activity_events")]
pub struct Model {
    /// The outbox row's id, so recording the same row twice hits the primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub occurred_at: DateTimeUtc,
    pub event_type: String,
    pub actor_id: Option<Uuid>,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub project_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub payload: Json,
    /// When the row may be purged (the DynamoDB TTL attribute's counterpart).
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
