//! The embedded event store: the activity log and its daily counters (see `platform::events`).
use super::columns::{index, table, Cols};
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000050_activity"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let c = Cols { backend: manager.get_database_backend() };
        manager
            .create_table(
                table("activity_events")
                    .col(c.pk("id"))
                    .col(c.uuid("org_id"))
                    .col(c.time("occurred_at"))
                    .col(c.string("event_type", 64))
                    .col(c.uuid_null("actor_id"))
                    .col(c.string("entity_type", 32))
                    .col(c.uuid("entity_id"))
                    .col(c.uuid_null("project_id"))
                    .col(c.uuid_null("task_id"))
                    .col(ColumnDef::new(Alias::new("payload")).json().not_null())
                    .col(c.time("expires_at"))
                    .to_owned(),
            )
            .await?;
        // One index per feed, each ending in the feed's order (newest first by time, then id).
        for (name, cols) in [
            ("ix_activity_org", ["org_id", "occurred_at", "id"]),
            ("ix_activity_project", ["org_id", "project_id", "occurred_at"]),
            ("ix_activity_task", ["org_id", "task_id", "occurred_at"]),
            ("ix_activity_actor", ["org_id", "actor_id", "occurred_at"]),
        ] {
            manager.create_index(index("activity_events", name, &cols, false)).await?;
        }
        // Purging expired rows scans by expiry alone.
        manager.create_index(index("activity_events", "ix_activity_expires", &["expires_at"], false)).await?;
        manager
            .create_table(
                table("activity_counters")
                    .col(c.uuid("org_id"))
                    .col(ColumnDef::new(Alias::new("day")).date().not_null())
                    .col(c.uuid("project_id"))
                    .col(c.string("name", 64))
                    .col(ColumnDef::new(Alias::new("value")).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("org_id"))
                            .col(Alias::new("day"))
                            .col(Alias::new("project_id"))
                            .col(Alias::new("name")),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Alias::new("activity_counters")).if_exists().to_owned()).await?;
        manager.drop_table(Table::drop().table(Alias::new("activity_events")).if_exists().to_owned()).await
    }
}
