//! The dead letter of the database queue: messages that failed for good, with the reason. Not tenant data.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "failed_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub pool: String,
    pub job_type: String,
    pub org_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub attempts: i32,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    pub enqueued_at: DateTimeUtc,
    pub failed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
