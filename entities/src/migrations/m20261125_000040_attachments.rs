//! Attachments, and each org's upload size limit.
use super::columns::{index, table, Cols};
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000040_attachments"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let c = Cols { backend: manager.get_database_backend() };
        manager
            .create_table(
                table("attachments")
                    .col(c.pk("id"))
                    .col(c.uuid("org_id"))
                    .col(c.uuid("project_id"))
                    .col(c.uuid("task_id"))
                    .col(c.uuid_null("comment_id"))
                    .col(c.uuid("uploaded_by"))
                    .col(c.string("file_name", 255))
                    .col(c.string("content_type", 255))
                    .col(ColumnDef::new(Alias::new("size")).big_integer().not_null())
                    .col(c.string("state", 16))
                    .col(c.string("storage_key", 255))
                    .col(c.string_null("quarantine_key", 255))
                    .col(c.string_null("sha256", 64))
                    .col(c.string_null("sniffed_type", 255))
                    .col(c.string_null("scan_engine", 32))
                    .col(c.string_null("scan_engine_version", 255))
                    .col(c.string_null("scan_signature", 255))
                    .col(c.string_null("failure_code", 64))
                    .col(c.text_null("failure_detail"))
                    .col(c.time_null("scanned_at"))
                    .col(c.string("thumbnail_state", 16))
                    .col(ColumnDef::new(Alias::new("thumbnails")).json().null())
                    .col(c.string_null("thumbnail_error", 255))
                    .col(c.time("created_at"))
                    .col(c.time("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("attachments", "ix_attachments_task", &["org_id", "task_id", "created_at"], false))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("orgs"))
                    .add_column(ColumnDef::new(Alias::new("max_attachment_bytes")).big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Alias::new("orgs")).drop_column(Alias::new("max_attachment_bytes")).to_owned(),
            )
            .await?;
        manager.drop_table(Table::drop().table(Alias::new("attachments")).if_exists().to_owned()).await
    }
}
