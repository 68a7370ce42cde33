//! A reminder on a task: at an absolute time (`remind_at`) or `offset_minutes` before the task's due date. `fire_at`
//! is when it is due, kept up to date by the task's writes (null while a relative reminder's task has no due date);
//! the scheduler leases a due reminder (`claim_token`, `claimed_until`), delivers it and then sets `fired_at`.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "reminders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub task_id: Uuid,
    pub created_by: Uuid,
    /// With a time zone type on purpose, like the task's dates: see [`crate::far_date`].
    pub remind_at: Option<DateTimeWithTimeZone>,
    pub offset_minutes: Option<i32>,
    /// `None`: the task's assignees when it fires; else a JSON array of user ids.
    pub recipients: Option<Json>,
    #[sea_orm(column_type = "Text", nullable)]
    pub note: Option<String>,
    pub fire_at: Option<DateTimeWithTimeZone>,
    pub fired_at: Option<DateTimeUtc>,
    /// The scheduler run delivering it right now, until `claimed_until`; a crashed run's lease simply expires.
    pub claim_token: Option<Uuid>,
    pub claimed_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
