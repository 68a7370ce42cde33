//! The database queue: `jobs` (pending and leased messages), `failed_jobs` (its dead letter), `processed_jobs`
//! (idempotency records of handlers), and a claim lease on `outbox` rows so several relays can run side by side.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000010_jobs"
    }
}

/// Column builders that pick the right type per backend (as in the core migration).
struct Cols {
    backend: DbBackend,
}

impl Cols {
    fn uuid(&self, name: &str) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        c.uuid().not_null();
        c
    }
    fn uuid_null(&self, name: &str) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        c.uuid().null();
        c
    }
    fn pk(&self, name: &str) -> ColumnDef {
        let mut c = self.uuid(name);
        c.primary_key();
        c
    }
    fn time_type(&self, c: &mut ColumnDef) {
        match self.backend {
            DbBackend::MySql => c.custom(Alias::new("DATETIME(6)")),
            _ => c.timestamp_with_time_zone(),
        };
    }
    fn time(&self, name: &str) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        self.time_type(&mut c);
        c.not_null();
        c
    }
    fn time_null(&self, name: &str) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        self.time_type(&mut c);
        c.null();
        c
    }
    fn string(&self, name: &str, len: u32) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        c.string_len(len).not_null();
        c
    }
    fn string_null(&self, name: &str, len: u32) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        c.string_len(len).null();
        c
    }
    fn text(&self, name: &str) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        c.text().not_null();
        c
    }
    fn text_null(&self, name: &str) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        c.text().null();
        c
    }
    fn int(&self, name: &str) -> ColumnDef {
        let mut c = ColumnDef::new(Alias::new(name));
        c.integer().not_null();
        c
    }
}

fn table(name: &str) -> TableCreateStatement {
    let mut t = Table::create();
    t.table(Alias::new(name)).if_not_exists();
    t
}

fn index(table: &str, name: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(Alias::new(table)).if_not_exists();
    for c in cols {
        i.col(Alias::new(*c));
    }
    i
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
            index("jobs", "ix_jobs_pool_visible", &["pool", "visible_at"]),
            index("failed_jobs", "ix_failed_jobs_pool_failed", &["pool", "failed_at"]),
            index("processed_jobs", "ix_processed_jobs_processed", &["processed_at"]),
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
