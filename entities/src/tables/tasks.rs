//! A task. `version` guards concurrent edits; `position` orders the board column.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub project_id: Uuid,
    pub number: i64,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub status_id: Uuid,
    pub priority: i16,
    /// With a time zone type on purpose: see [`crate::far_date`].
    pub due_at: Option<DateTimeWithTimeZone>,
    pub start_at: Option<DateTimeWithTimeZone>,
    pub estimate: Option<i32>,
    pub parent_id: Option<Uuid>,
    #[sea_orm(column_type = "Double")]
    pub position: f64,
    pub version: i32,
    /// The first time the task entered a status of the `started` category (cycle time runs from here).
    pub started_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub deleted_at: Option<DateTimeUtc>,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
