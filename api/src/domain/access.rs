//! Turning an authenticated actor and an org id from the URL into a tenant [`Scope`].
//!
//! The membership behind a scope is read on nearly every request, so it goes through the cache: the user's role in
//! the org, or the fact that they are not a member (an org id from another tenant is asked for again and again by
//! a client that keeps its old links). Every write that changes a membership (role change, removal, leaving,
//! deleting the org, accepting an invitation) calls [`forget_membership`] after it commits.
use entities::{Permission, Scope};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Actor;
use crate::error::AppError;
use crate::read_cache::{membership_key, Cached, Lookup, ReadCache};

/// A membership as cached: the role's name, `None` for "not a member".
#[derive(Debug, Serialize, Deserialize)]
struct CachedMembership {
    role: Option<String>,
}

/// The actor's scope in `org_id`; an org they do not belong to answers 404 exactly like one that does not exist.
pub async fn scope(
    db: &impl ConnectionTrait,
    cache: &ReadCache,
    actor: &Actor,
    org_id: Uuid,
) -> Result<Scope, AppError> {
    let scope = member_scope(db, cache, actor.user_id, org_id).await?.ok_or(AppError::NotFound("org_not_found"))?;
    tracing::Span::current().record("org_id", tracing::field::display(org_id));
    Ok(scope)
}

async fn member_scope(
    db: &impl ConnectionTrait,
    cache: &ReadCache,
    user_id: Uuid,
    org_id: Uuid,
) -> Result<Option<Scope>, AppError> {
    let key = membership_key(org_id, user_id);
    let ticket = match cache.read::<CachedMembership>(Lookup::Membership, &key).await {
        Cached::Hit(cached) => match cached.role.map(|r| r.parse()) {
            None => return Ok(None),
            Some(Ok(role)) => return Ok(Some(Scope::of_cached_member(org_id, user_id, role))),
            // A role this release does not know: ask the database, which is the record (and leave the entry).
            Some(Err(_)) => None,
        },
        Cached::Miss(ticket) => ticket,
    };
    let scope = Scope::of_member(db, user_id, org_id).await?;
    let cached = CachedMembership { role: scope.as_ref().map(|s| s.role().as_str().to_owned()) };
    cache.fill(Lookup::Membership, &key, &cached, ticket).await;
    Ok(scope)
}

/// Deletes the cached membership of `user_id` in `org_id`, after the write that changed it committed.
pub async fn forget_membership(cache: &ReadCache, org_id: Uuid, user_id: Uuid) {
    cache.forget(&membership_key(org_id, user_id)).await;
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
