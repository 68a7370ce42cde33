//! Idempotency records of job handlers: the key of an effect that has happened, so a redelivery skips it.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "processed_jobs")]
pub struct Model {
    /// The job id, or a natural key of the effect (e.g. the outbox id of a published event).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub job_type: Option<String>,
    pub processed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
