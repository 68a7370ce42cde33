//! Reports: the files members ask for, built by the `reports` pool, and their weekly schedules.
use super::columns::{index, table, Cols};
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000060_reports"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let c = Cols { backend: manager.get_database_backend() };
        manager
            .create_table(
                table("reports")
                    .col(c.pk("id"))
                    .col(c.uuid("org_id"))
                    .col(c.uuid_null("project_id"))
                    .col(c.uuid("requested_by"))
                    .col(c.string("kind", 32))
                    .col(c.string("format", 8))
                    .col(c.string_null("period_from", 10))
                    .col(c.string_null("period_to", 10))
                    .col(c.string("state", 16))
                    .col(c.string("storage_key", 255))
                    .col(ColumnDef::new(Alias::new("size")).big_integer().null())
                    .col(ColumnDef::new(Alias::new("row_count")).big_integer().null())
                    .col(c.text_null("error"))
                    .col(c.time_null("expires_at"))
                    .col(c.time("created_at"))
                    .col(c.time("updated_at"))
                    .to_owned(),
            )
            .await?;
        // "My reports, newest first": ids are UUIDv7, so the key orders by creation.
        manager
            .create_index(index("reports", "ix_reports_requester", &["org_id", "requested_by", "id"], false))
            .await?;
        manager
            .create_table(
                table("report_schedules")
                    .col(c.pk("id"))
                    .col(c.uuid("org_id"))
                    .col(c.uuid_null("project_id"))
                    .col(c.string("kind", 32))
                    .col(c.string("format", 8))
                    .col(ColumnDef::new(Alias::new("weekday")).small_integer().not_null())
                    .col(ColumnDef::new(Alias::new("hour")).small_integer().not_null())
                    .col(c.uuid("created_by"))
                    .col(c.string_null("last_run_on", 10))
                    .col(c.time("created_at"))
                    .col(c.time("updated_at"))
                    .to_owned(),
            )
            .await?;
        // The scheduler's look-up across orgs: the schedules of this weekday up to this hour.
        manager.create_index(index("report_schedules", "ix_report_schedules_due", &["weekday", "hour"], false)).await?;
        manager
            .create_index(index("report_schedules", "ix_report_schedules_owner", &["org_id", "created_by"], false))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["report_schedules", "reports"] {
            manager.drop_table(Table::drop().table(Alias::new(t)).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
