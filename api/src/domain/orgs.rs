//! Organisations, their members and invitations.
//!
//! Invariants: an org always has at least one owner; only owners grant, revoke or remove the owner role; an admin
//! never acts on an owner. Invitations carry a role no higher than the inviter's.
use chrono::Duration;
use entities::tables::{invitations, memberships, orgs, project_members, task_assignees, users, watchers};
use entities::{Permission, Role, Scope};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use super::access::{forget_membership, require};
use super::outbox::{self, Event};
use super::project_access::forget_project_gate;
use crate::auth::secrets;
use crate::domain::accounts::Email;
use crate::error::{text_field, AppError, Validator};
use crate::read_cache::ReadCache;

/// An org with the caller's role in it.
pub struct OrgWithRole {
    pub org: orgs::Model,
    pub role: Role,
}

fn parse_role(field: &str, raw: &str) -> Result<Role, AppError> {
    raw.parse().map_err(|_| AppError::invalid(field, "must be one of owner, admin, member, guest"))
}

/// The org row behind a scope.
#[allow(clippy::disallowed_methods)] // the orgs table is keyed by the scope's own org id
pub async fn get(db: &impl ConnectionTrait, scope: &Scope) -> Result<orgs::Model, AppError> {
    orgs::Entity::find_by_id(scope.org_id()).one(db).await?.ok_or(AppError::NotFound("org_not_found"))
}

/// Creates an org with the caller as its owner.
pub async fn create(db: &DatabaseConnection, user_id: Uuid, name: &str) -> Result<OrgWithRole, AppError> {
    let mut v = Validator::new();
    let name = text_field(&mut v, "name", name, 200);
    v.finish()?;
    let now = entities::now();
    let org_id = entities::new_id();
    let scope = Scope::of_new_org_owner(org_id, user_id);
    let tx = entities::begin_write(db).await?;
    let org = orgs::ActiveModel {
        id: Set(org_id),
        name: Set(name),
        max_attachment_bytes: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&tx)
    .await?;
    memberships::ActiveModel {
        id: Set(entities::new_id()),
        org_id: Set(scope.org_id()),
        user_id: Set(user_id),
        role: Set(Role::Owner.as_str().to_owned()),
        created_at: Set(now),
    }
    .insert(&tx)
    .await?;
    outbox::record(
        &tx,
        Event {
            org_id,
            actor_id: Some(user_id),
            event_type: "org.created",
            entity_type: "org",
            entity_id: org_id,
            payload: json!({ "name": org.name }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(OrgWithRole { org, role: Role::Owner })
}

/// The orgs the user belongs to, oldest membership first.
#[allow(clippy::disallowed_methods)] // listing the caller's own memberships across orgs is the entry point to scopes
pub async fn list_mine(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<OrgWithRole>, AppError> {
    let ms = memberships::Entity::find()
        .filter(memberships::Column::UserId.eq(user_id))
        .order_by_asc(memberships::Column::CreatedAt)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = ms.iter().map(|m| m.org_id).collect();
    let orgs = orgs::Entity::find().filter(orgs::Column::Id.is_in(ids)).all(db).await?;
    Ok(ms
        .into_iter()
        .filter_map(|m| {
            let org = orgs.iter().find(|o| o.id == m.org_id)?.clone();
            Some(OrgWithRole { org, role: m.role.parse().ok()? })
        })
        .collect())
}

/// A merge patch of an org: `None` keeps a field.
#[derive(Debug, Default)]
pub struct OrgPatch {
    pub name: Option<String>,
    /// `Some(None)`: back to the server's limit.
    pub max_attachment_bytes: Option<Option<i64>>,
}

/// Renames the org and/or sets its attachment size limit (at most `server_max_bytes`).
pub async fn update(
    db: &DatabaseConnection,
    scope: &Scope,
    patch: OrgPatch,
    server_max_bytes: u64,
) -> Result<orgs::Model, AppError> {
    require(scope, Permission::ManageOrg)?;
    let mut v = Validator::new();
    let name = patch.name.as_deref().map(|n| text_field(&mut v, "name", n, 200));
    if let Some(Some(limit)) = patch.max_attachment_bytes {
        v.check(
            limit >= 1 && limit as u64 <= server_max_bytes,
            "max_attachment_bytes",
            &format!("must be between 1 and the server's limit of {server_max_bytes} bytes"),
        );
    }
    v.finish()?;
    let tx = entities::begin_write(db).await?;
    let org = get(&tx, scope).await?;
    let mut changes = serde_json::Map::new();
    let mut active: orgs::ActiveModel = org.clone().into();
    if let Some(name) = name.filter(|n| *n != org.name) {
        changes.insert("name".into(), json!({ "from": org.name, "to": name }));
        active.name = Set(name);
    }
    if let Some(limit) = patch.max_attachment_bytes.filter(|l| *l != org.max_attachment_bytes) {
        changes.insert("max_attachment_bytes".into(), json!({ "from": org.max_attachment_bytes, "to": limit }));
        active.max_attachment_bytes = Set(limit);
    }
    if changes.is_empty() {
        return Ok(org);
    }
    active.updated_at = Set(entities::now());
    let org = active.update(&tx).await?;
    let event_type = if changes.len() == 1 && changes.contains_key("name") { "org.renamed" } else { "org.updated" };
    outbox::record(
        &tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type,
            entity_type: "org",
            entity_id: scope.org_id(),
            payload: json!({ "changes": changes }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(org)
}

/// Deletes the org and all its data (owner only), then every member's cached membership and its projects' gates.
#[allow(clippy::disallowed_methods)] // the orgs row itself, keyed by the scope's org id
pub async fn delete(db: &DatabaseConnection, cache: &ReadCache, scope: &Scope) -> Result<(), AppError> {
    require(scope, Permission::DeleteOrg)?;
    use entities::tables::{comments, labels, projects, statuses, task_labels, tasks};
    let tx = entities::begin_write(db).await?;
    scope.delete_many::<comments::Entity>().exec(&tx).await?;
    scope.delete_many::<watchers::Entity>().exec(&tx).await?;
    scope.delete_many::<task_labels::Entity>().exec(&tx).await?;
    scope.delete_many::<task_assignees::Entity>().exec(&tx).await?;
    scope.delete_many::<tasks::Entity>().exec(&tx).await?;
    scope.delete_many::<labels::Entity>().exec(&tx).await?;
    scope.delete_many::<statuses::Entity>().exec(&tx).await?;
    scope.delete_many::<project_members::Entity>().exec(&tx).await?;
    let project_ids: Vec<Uuid> =
        scope.find::<projects::Entity>().select_only().column(projects::Column::Id).into_tuple().all(&tx).await?;
    scope.delete_many::<projects::Entity>().exec(&tx).await?;
    scope.delete_many::<invitations::Entity>().exec(&tx).await?;
    let former_members: Vec<Uuid> =
        scope.find::<memberships::Entity>().all(&tx).await?.into_iter().map(|m| m.user_id).collect();
    scope.delete_many::<memberships::Entity>().exec(&tx).await?;
    orgs::Entity::delete_by_id(scope.org_id()).exec(&tx).await?;
    outbox::record(
        &tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type: "org.deleted",
            entity_type: "org",
            entity_id: scope.org_id(),
            payload: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    for user_id in former_members {
        forget_membership(cache, scope.org_id(), user_id).await;
    }
    for project_id in project_ids {
        forget_project_gate(cache, scope.org_id(), project_id).await;
    }
    Ok(())
}

/// A member with their user record.
pub struct Member {
    pub membership: memberships::Model,
    pub user: users::Model,
}

/// Members of the org, oldest first.
#[allow(clippy::disallowed_methods)] // users are looked up by ids taken from this org's memberships
pub async fn members(db: &impl ConnectionTrait, scope: &Scope) -> Result<Vec<Member>, AppError> {
    let ms = scope.find::<memberships::Entity>().order_by_asc(memberships::Column::CreatedAt).all(db).await?;
    let ids: Vec<Uuid> = ms.iter().map(|m| m.user_id).collect();
    let us = users::Entity::find().filter(users::Column::Id.is_in(ids)).all(db).await?;
    Ok(ms
        .into_iter()
        .filter_map(|m| {
            let user = us.iter().find(|u| u.id == m.user_id)?.clone();
            Some(Member { membership: m, user })
        })
        .collect())
}

/// One member; a user outside the org answers 404.
pub async fn member(db: &impl ConnectionTrait, scope: &Scope, user_id: Uuid) -> Result<Member, AppError> {
    members(db, scope).await?.into_iter().find(|m| m.user.id == user_id).ok_or(AppError::NotFound("member_not_found"))
}

async fn owner_count(db: &impl ConnectionTrait, scope: &Scope) -> Result<u64, AppError> {
    Ok(scope.find::<memberships::Entity>().filter(memberships::Column::Role.eq(Role::Owner.as_str())).count(db).await?)
}

/// Changes a member's role (and forgets the cached one).
pub async fn change_role(
    db: &DatabaseConnection,
    cache: &ReadCache,
    scope: &Scope,
    user_id: Uuid,
    role: &str,
) -> Result<Member, AppError> {
    require(scope, Permission::ManageMembers)?;
    let new_role = parse_role("role", role)?;
    let tx = entities::begin_write(db).await?;
    let target = member(&tx, scope, user_id).await?;
    let old_role: Role = target.membership.role.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    if (old_role == Role::Owner || new_role == Role::Owner) && scope.role() != Role::Owner {
        return Err(AppError::forbidden("owner_required", "only an owner grants or revokes the owner role"));
    }
    if old_role == Role::Owner && new_role != Role::Owner && owner_count(&tx, scope).await? <= 1 {
        return Err(AppError::conflict("last_owner", "the org must keep at least one owner"));
    }
    let mut active: memberships::ActiveModel = target.membership.into();
    active.role = Set(new_role.as_str().to_owned());
    let membership = active.update(&tx).await?;
    outbox::record(
        &tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type: "member.role_changed",
            entity_type: "user",
            entity_id: user_id,
            payload: json!({ "changes": { "role": { "from": old_role.as_str(), "to": new_role.as_str() } } }),
        },
    )
    .await?;
    tx.commit().await?;
    forget_membership(cache, scope.org_id(), user_id).await;
    Ok(Member { membership, user: target.user })
}

async fn drop_membership(
    tx: &impl ConnectionTrait,
    scope: &Scope,
    target: &Member,
    event_type: &str,
) -> Result<(), AppError> {
    let user_id = target.user.id;
    let role: Role = target.membership.role.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    if role == Role::Owner && owner_count(tx, scope).await? <= 1 {
        return Err(AppError::conflict("last_owner", "the org must keep at least one owner"));
    }
    scope.delete_many::<memberships::Entity>().filter(memberships::Column::UserId.eq(user_id)).exec(tx).await?;
    scope.delete_many::<project_members::Entity>().filter(project_members::Column::UserId.eq(user_id)).exec(tx).await?;
    super::task_links::unassign_everywhere(tx, scope, user_id).await?;
    scope.delete_many::<watchers::Entity>().filter(watchers::Column::UserId.eq(user_id)).exec(tx).await?;
    outbox::record(
        tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type,
            entity_type: "user",
            entity_id: user_id,
            payload: json!({ "role": role.as_str() }),
        },
    )
    .await
}

/// Removes a member (and their assignments and watches in this org), then their cached membership.
pub async fn remove_member(
    db: &DatabaseConnection,
    cache: &ReadCache,
    scope: &Scope,
    user_id: Uuid,
) -> Result<(), AppError> {
    require(scope, Permission::ManageMembers)?;
    let tx = entities::begin_write(db).await?;
    let target = member(&tx, scope, user_id).await?;
    if target.membership.role == Role::Owner.as_str() && scope.role() != Role::Owner {
        return Err(AppError::forbidden("owner_required", "only an owner removes an owner"));
    }
    drop_membership(&tx, scope, &target, "member.removed").await?;
    tx.commit().await?;
    forget_membership(cache, scope.org_id(), user_id).await;
    Ok(())
}

/// The caller leaves the org (and their cached membership goes).
pub async fn leave(db: &DatabaseConnection, cache: &ReadCache, scope: &Scope) -> Result<(), AppError> {
    let tx = entities::begin_write(db).await?;
    let target = member(&tx, scope, scope.user_id()).await?;
    drop_membership(&tx, scope, &target, "member.left").await?;
    tx.commit().await?;
    forget_membership(cache, scope.org_id(), scope.user_id()).await;
    Ok(())
}

/// A created invitation and its secret token (shown once; emailed once mail exists).
pub struct CreatedInvitation {
    pub invitation: invitations::Model,
    pub token: String,
}

/// The purpose invitation tokens are signed for.
pub const INVITATION_TOKEN: &str = platform::secret_key::purpose::INVITATION;

/// Invites `email` with `role`. A pending invitation to the same address is replaced.
#[allow(clippy::disallowed_methods)] // checks whether the invited address already has an account in this org
pub async fn invite(
    db: &DatabaseConnection,
    scope: &Scope,
    email: &str,
    role: &str,
    ttl_hours: u64,
    secret: &platform::secret_key::SecretKey,
) -> Result<CreatedInvitation, AppError> {
    require(scope, Permission::ManageMembers)?;
    let mut v = Validator::new();
    let email = Email::parse(email).map_err(|m| v.push("email", m)).ok();
    let role = parse_role("role", role).map_err(|_| v.push("role", "must be one of owner, admin, member, guest")).ok();
    v.finish()?;
    let (email, role) = (email.expect("validated"), role.expect("validated"));
    if role > scope.role() {
        return Err(AppError::forbidden("role_too_high", "you cannot invite with a role above your own"));
    }
    let tx = entities::begin_write(db).await?;
    if let Some(u) = users::Entity::find().filter(users::Column::Email.eq(email.as_str())).one(&tx).await? {
        let existing =
            scope.find::<memberships::Entity>().filter(memberships::Column::UserId.eq(u.id)).one(&tx).await?;
        if existing.is_some() {
            return Err(AppError::conflict("already_member", "this person is already a member"));
        }
    }
    let now = entities::now();
    scope
        .update_many::<invitations::Entity>()
        .col_expr(invitations::Column::RevokedAt, sea_orm::sea_query::Expr::value(now))
        .filter(invitations::Column::Email.eq(email.as_str()))
        .filter(invitations::Column::AcceptedAt.is_null())
        .filter(invitations::Column::RevokedAt.is_null())
        .exec(&tx)
        .await?;
    // Derived from the id, so the worker that emails the invitation can write the link without the token ever
    // being stored; only its digest is, for the lookup on accept.
    let id = entities::new_id();
    let token = secret.token(INVITATION_TOKEN, id);
    let invitation = invitations::ActiveModel {
        id: Set(id),
        org_id: Set(scope.org_id()),
        email: Set(email.as_str().to_owned()),
        role: Set(role.as_str().to_owned()),
        token_hash: Set(secrets::digest(&token)),
        invited_by: Set(scope.user_id()),
        expires_at: Set(now + Duration::hours(ttl_hours as i64)),
        accepted_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(now),
    }
    .insert(&tx)
    .await?;
    outbox::record(
        &tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type: "invitation.created",
            entity_type: "invitation",
            entity_id: invitation.id,
            payload: json!({ "email": invitation.email, "role": invitation.role }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedInvitation { invitation, token })
}

/// Invitations not yet accepted or revoked, newest first.
pub async fn pending_invitations(
    db: &impl ConnectionTrait,
    scope: &Scope,
) -> Result<Vec<invitations::Model>, AppError> {
    require(scope, Permission::ManageMembers)?;
    Ok(scope
        .find::<invitations::Entity>()
        .filter(invitations::Column::AcceptedAt.is_null())
        .filter(invitations::Column::RevokedAt.is_null())
        .order_by_desc(invitations::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Revokes a pending invitation.
pub async fn revoke_invitation(db: &DatabaseConnection, scope: &Scope, id: Uuid) -> Result<(), AppError> {
    require(scope, Permission::ManageMembers)?;
    let tx = entities::begin_write(db).await?;
    let inv = scope
        .find::<invitations::Entity>()
        .filter(invitations::Column::Id.eq(id))
        .filter(invitations::Column::AcceptedAt.is_null())
        .filter(invitations::Column::RevokedAt.is_null())
        .one(&tx)
        .await?
        .ok_or(AppError::NotFound("invitation_not_found"))?;
    let mut active: invitations::ActiveModel = inv.into();
    active.revoked_at = Set(Some(entities::now()));
    active.update(&tx).await?;
    outbox::record(
        &tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type: "invitation.revoked",
            entity_type: "invitation",
            entity_id: id,
            payload: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Accepts an invitation with its token. The signed-in user's email must be the invited address. The cached
/// "not a member" of the user (from a visit before accepting) goes once it commits.
#[allow(clippy::disallowed_methods)] // the token is the capability: it names its own org
pub async fn accept_invitation(
    db: &DatabaseConnection,
    cache: &ReadCache,
    user_id: Uuid,
    token: &str,
) -> Result<OrgWithRole, AppError> {
    let tx = entities::begin_write(db).await?;
    let inv = invitations::Entity::find()
        .filter(invitations::Column::TokenHash.eq(secrets::digest(token.trim())))
        .one(&tx)
        .await?
        .ok_or(AppError::NotFound("invitation_not_found"))?;
    let now = entities::now();
    if inv.revoked_at.is_some() || inv.accepted_at.is_some() || inv.expires_at <= now {
        return Err(AppError::conflict("invitation_unusable", "this invitation was revoked, used or has expired"));
    }
    let user = users::Entity::find_by_id(user_id).one(&tx).await?.ok_or(AppError::NotFound("user_not_found"))?;
    if user.email != inv.email {
        return Err(AppError::forbidden("invitation_email_mismatch", "this invitation is for another email address"));
    }
    let role: Role = inv.role.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    if Scope::of_member(&tx, user_id, inv.org_id).await?.is_some() {
        return Err(AppError::conflict("already_member", "you are already a member of this org"));
    }
    memberships::ActiveModel {
        id: Set(entities::new_id()),
        org_id: Set(inv.org_id),
        user_id: Set(user_id),
        role: Set(role.as_str().to_owned()),
        created_at: Set(now),
    }
    .insert(&tx)
    .await?;
    let org_id = inv.org_id;
    let inv_id = inv.id;
    let mut active: invitations::ActiveModel = inv.into();
    active.accepted_at = Set(Some(now));
    active.update(&tx).await?;
    outbox::record(
        &tx,
        Event {
            org_id,
            actor_id: Some(user_id),
            event_type: "invitation.accepted",
            entity_type: "invitation",
            entity_id: inv_id,
            payload: json!({ "user_id": user_id, "role": role.as_str() }),
        },
    )
    .await?;
    let org = orgs::Entity::find_by_id(org_id).one(&tx).await?.ok_or(AppError::NotFound("org_not_found"))?;
    tx.commit().await?;
    forget_membership(cache, org_id, user_id).await;
    Ok(OrgWithRole { org, role })
}
