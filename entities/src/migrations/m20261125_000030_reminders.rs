//! Task reminders, and the per-user record of daily jobs (the 08:00 digests) that makes each run once a local day.
use super::columns::{composite_pk, index, table, Cols};
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000030_reminders"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let c = Cols { backend: manager.get_database_backend() };
        manager
            .create_table(
                table("reminders")
                    .col(c.pk("id"))
                    .col(c.uuid("org_id"))
                    .col(c.uuid("task_id"))
                    .col(c.uuid("created_by"))
                    .col(c.time_null("remind_at"))
                    .col(ColumnDef::new(Alias::new("offset_minutes")).integer().null())
                    .col(ColumnDef::new(Alias::new("recipients")).json().null())
                    .col(c.text_null("note"))
                    .col(c.time_null("fire_at"))
                    .col(c.time_null("fired_at"))
                    .col(c.uuid_null("claim_token"))
                    .col(c.time_null("claimed_until"))
                    .col(c.time("created_at"))
                    .col(c.time("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table("user_daily_runs")
                    .col(c.uuid("user_id"))
                    .col(c.string("kind", 32))
                    .col(c.string("last_local_date", 10))
                    .col(c.time("updated_at"))
                    .primary_key(&mut composite_pk("user_id", "kind"))
                    .to_owned(),
            )
            .await?;
        for i in [
            // The scheduler's scan: `fired_at IS NULL AND fire_at <= now` is an equality on the first column and a
            // range on the second, so fired rows (the vast majority over time) are never read. Neither backend
            // has a portable partial index; this is the MySQL-compatible equivalent.
            index("reminders", "ix_reminders_due", &["fired_at", "fire_at"], false),
            index("reminders", "ix_reminders_task", &["org_id", "task_id", "created_at"], false),
        ] {
            manager.create_index(i).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["user_daily_runs", "reminders"] {
            manager.drop_table(Table::drop().table(Alias::new(t)).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
