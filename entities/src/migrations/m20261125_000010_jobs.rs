//! The database queue: `jobs` (pending and leased messages), `failed_jobs` (its dead letter), `processed_jobs`
//! (idempotency records of handlers), and a claim lease on `outbox` rows so several relays can run side by side.
use super::columns::{index, table, Cols};
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000010_jobs"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let c = Cols { backend: manager.get_database_backend() };
        let tables = vec![
            // `visible_at` is both the run-at time of a waiting message and the lease expiry of a claimed one; a
            // claim replaces `lease_token`, so only the latest holder of a message can ack or retry it.
            table("jobs")
                .col(c.pk("id"))
                .col(c.string("pool", 32))
                .col(c.string("job_type", 64))
                .col(c.uuid_null("org_id"))
                .col(c.text("body"))
                .col(c.int("attempts"))
                .col(c.time("enqueued_at"))
                .col(c.time("visible_at"))
                .col(c.uuid_null("lease_token"))
                .col(c.text_null("last_error"))
                .to_owned(),
            table("failed_jobs")
                .col(c.pk("id"))
                .col(c.string("pool", 32))
                .col(c.string("job_type", 64))
                .col(c.uuid_null("org_id"))
                .col(c.text("body"))
                .col(c.int("attempts"))
                .col(c.text("reason"))
                .col(c.time("enqueued_at"))
                .col(c.time("failed_at"))
                .to_owned(),
            table("processed_jobs")
                .col(c.pk("id"))
                .col(c.string_null("job_type", 64))
                .col(c.time("processed_at"))
                .to_owned(),
        ];
        for t in tables {
            manager.create_table(t).await?;
        }
        for i in [
            index("jobs", "ix_jobs_pool_visible", &["pool", "visible_at"], false),
            index("failed_jobs", "ix_failed_jobs_pool_failed", &["pool", "failed_at"], false),
            index("processed_jobs", "ix_processed_jobs_processed", &["processed_at"], false),
        ] {
            manager.create_index(i).await?;
        }
        manager
            .alter_table(Table::alter().table(Alias::new("outbox")).add_column(c.time_null("claimed_until")).to_owned())
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Alias::new("outbox")).drop_column(Alias::new("claimed_until")).to_owned())
            .await?;
        for t in ["processed_jobs", "failed_jobs", "jobs"] {
            manager.drop_table(Table::drop().table(Alias::new(t)).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
