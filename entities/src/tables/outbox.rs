//! Domain events written in the same transaction as the change; a relay publishes them.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub event_type: String,
    pub actor_id: Option<Uuid>,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub payload: Json,
    pub created_at: DateTimeUtc,
    pub published_at: Option<DateTimeUtc>,
    /// While set and in the future, one relay is publishing this row and the others leave it alone.
    pub claimed_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// One event to append.
pub struct Event<'a> {
    pub org_id: Uuid,
    pub actor_id: Option<Uuid>,
    /// Dotted name, e.g. `task.created`.
    pub event_type: &'a str,
    pub entity_type: &'a str,
    pub entity_id: Uuid,
    /// What changed: for updates `{"changes": {"field": {"from": …, "to": …}}}`, else the new entity.
    pub payload: Json,
}

/// Appends `event` using `tx`, which must be the transaction of the change, so the event exists exactly when the
/// change committed.
pub async fn append(tx: &impl ConnectionTrait, event: Event<'_>) -> Result<(), DbErr> {
    ActiveModel {
        id: sea_orm::Set(crate::new_id()),
        org_id: sea_orm::Set(event.org_id),
        event_type: sea_orm::Set(event.event_type.to_owned()),
        actor_id: sea_orm::Set(event.actor_id),
        entity_type: sea_orm::Set(event.entity_type.to_owned()),
        entity_id: sea_orm::Set(event.entity_id),
        payload: sea_orm::Set(event.payload),
        created_at: sea_orm::Set(crate::now()),
        published_at: sea_orm::Set(None),
        claimed_until: sea_orm::Set(None),
    }
    .insert(tx)
    .await?;
    Ok(())
}
