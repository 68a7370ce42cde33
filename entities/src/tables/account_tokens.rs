//! Single-use tokens mailed to a person: email verification and password reset. Nothing secret is stored: the token
//! in the email is this row's id with the server's signature (see `platform::secret_key`), so a worker can write
//! the email from the id alone and a leaked table or queue holds no usable token.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "account_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// `verify_email` or `password_reset`.
    pub purpose: String,
    /// The address the token was sent to; a verification is only valid while the account still has it.
    pub email: String,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
