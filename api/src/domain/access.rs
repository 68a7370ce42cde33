//! Turning an authenticated actor and an org id from the URL into a tenant [`Scope`].
use entities::{Permission, Scope};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::auth::Actor;
use crate::error::AppError;

/// The actor's scope in `org_id`; an org they do not belong to answers 404 exactly like one that does not exist.
pub async fn scope(db: &impl ConnectionTrait, actor: &Actor, org_id: Uuid) -> Result<Scope, AppError> {
    let scope = Scope::of_member(db, actor.user_id, org_id).await?.ok_or(AppError::NotFound("org_not_found"))?;
    tracing::Span::current().record("org_id", tracing::field::display(org_id));
    Ok(scope)
}

/// Fails with 403 unless the scope's role grants `permission`.
pub fn require(scope: &Scope, permission: Permission) -> Result<(), AppError> {
    if scope.can(permission) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "insufficient_role",
            format!("the {} role may not do this ({permission:?})", scope.role()),
        ))
    }
}
