//! The database queue: one row per message waiting, delayed or leased by a worker. Not tenant data.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    /// The job id of the envelope.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub pool: String,
    pub job_type: String,
    pub org_id: Option<Uuid>,
    /// The envelope as JSON, exactly as it would travel on SQS.
    #[sea_orm(column_type = "Text")]
    pub body: String,
    /// How many times the message has been claimed (SQS `ApproximateReceiveCount`).
    pub attempts: i32,
    pub enqueued_at: DateTimeUtc,
    /// Run-at time while waiting; lease expiry while claimed.
    pub visible_at: DateTimeUtc,
    pub lease_token: Option<Uuid>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
