//! In-app notifications and per-kind delivery preferences.
use super::columns::{composite_pk, index, table, Cols};
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000020_notifications"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let c = Cols { backend: manager.get_database_backend() };
        manager
            .create_table(
                table("notifications")
                    .col(c.pk("id"))
                    .col(c.uuid_null("org_id"))
                    .col(c.uuid("user_id"))
                    .col(c.string("kind", 48))
                    .col(c.uuid_null("actor_id"))
                    .col(c.string_null("entity_type", 32))
                    .col(c.uuid_null("entity_id"))
                    .col(c.string("title", 300))
                    .col(c.text("body"))
                    .col(ColumnDef::new(Alias::new("data")).json().not_null())
                    .col(c.string("url", 1000))
                    .col(c.string("dedupe_key", 200))
                    .col(c.string("email_state", 16))
                    .col(c.time_null("read_at"))
                    .col(c.time_null("emailed_at"))
                    .col(c.time("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table("notification_preferences")
                    .col(c.uuid("user_id"))
                    .col(c.string("kind", 48))
                    .col(c.string("channel", 16))
                    .col(c.time("updated_at"))
                    .primary_key(&mut composite_pk("user_id", "kind"))
                    .to_owned(),
            )
            .await?;
        for i in [
            // The list (newest first, keyset on id) and the unread count.
            index("notifications", "ix_notifications_user_id", &["user_id", "id"], false),
            index("notifications", "ix_notifications_user_read", &["user_id", "read_at"], false),
            // The digest picks up the rows waiting for it.
            index("notifications", "ix_notifications_email_state", &["email_state", "user_id"], false),
            index("notifications", "ux_notifications_dedupe", &["dedupe_key"], true),
        ] {
            manager.create_index(i).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["notification_preferences", "notifications"] {
            manager.drop_table(Table::drop().table(Alias::new(t)).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
