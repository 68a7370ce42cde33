//! Daily activity counters of the embedded event store (`tasks_created`, `comments_added`, …), per project and
//! for the whole org. The key is `(org_id, day, project_id, name)`; the org total uses the nil UUID as its project,
//! like the `ALL` of the DynamoDB counter items, because a NULL in a unique key would not be unique.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "activity_counters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    /// The UTC day the counted events happened on.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    /// The project, or [`Uuid::nil`] for the org total.
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub value: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
