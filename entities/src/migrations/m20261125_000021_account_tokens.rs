//! Email verification and password-reset tokens.
use super::columns::{index, table, Cols};
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000021_account_tokens"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let c = Cols { backend: manager.get_database_backend() };
        manager
            .create_table(
                table("account_tokens")
                    .col(c.pk("id"))
                    .col(c.uuid("user_id"))
                    .col(c.string("purpose", 32))
                    .col(c.string("email", 320))
                    .col(c.time("expires_at"))
                    .col(c.time_null("used_at"))
                    .col(c.time("created_at"))
                    .to_owned(),
            )
            .await?;
        // A new reset request retires the user's earlier unused ones.
        manager.create_index(index("account_tokens", "ix_account_tokens_user", &["user_id", "purpose"], false)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Alias::new("account_tokens")).if_exists().to_owned()).await
    }
}
