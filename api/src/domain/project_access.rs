//! Who sees which project. Owners and admins see every project of the org; members see org-wide projects and the
//! private ones they belong to; guests see only projects they were added to. A project the actor cannot see answers
//! 404, exactly like one that does not exist.
use entities::tables::{memberships, project_members, projects};
use entities::{Permission, Role, Scope};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;
use crate::read_cache::{project_gate_key, Cached, Lookup, ReadCache};

/// Project visibility values.
pub const VISIBILITY_ORG: &str = "org";
pub const VISIBILITY_PRIVATE: &str = "private";

async fn is_project_member(
    db: &impl ConnectionTrait,
    scope: &Scope,
    project_id: Uuid,
    user_id: Uuid,
) -> Result<bool, AppError> {
    Ok(scope
        .find::<project_members::Entity>()
        .filter(project_members::Column::ProjectId.eq(project_id))
        .filter(project_members::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .is_some())
}

/// Whether a user with `role` sees the project `project_id` of `visibility`.
async fn role_sees(
    db: &impl ConnectionTrait,
    scope: &Scope,
    role: Role,
    user_id: Uuid,
    project_id: Uuid,
    visibility: &str,
) -> Result<bool, AppError> {
    let org_wide = visibility == VISIBILITY_ORG;
    // Ask the project membership only when the role alone does not decide.
    if role.sees_project(org_wide, false) {
        return Ok(true);
    }
    Ok(role.sees_project(org_wide, is_project_member(db, scope, project_id, user_id).await?))
}

/// The project if the actor sees it, else 404 `project_not_found`.
pub async fn visible_project(
    db: &impl ConnectionTrait,
    scope: &Scope,
    project_id: Uuid,
) -> Result<projects::Model, AppError> {
    let project = scope
        .find::<projects::Entity>()
        .filter(projects::Column::Id.eq(project_id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("project_not_found"))?;
    if role_sees(db, scope, scope.role(), scope.user_id(), project.id, &project.visibility).await? {
        Ok(project)
    } else {
        Err(AppError::NotFound("project_not_found"))
    }
}

/// What a task list needs of its project: the key its task keys start with, and who sees it. A list asks for it on
/// every page, so it is cached per project ([`crate::read_cache`]); the key never changes, and every write that
/// changes the visibility or deletes the project calls [`forget_project_gate`] after committing. Project
/// membership, which decides for private projects, is not part of it: it is read each time it is needed.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProjectGate {
    pub key: String,
    pub visibility: String,
}

/// The gate of the project if the actor sees it, else 404 `project_not_found`, like [`visible_project`].
pub async fn visible_project_gate(
    db: &impl ConnectionTrait,
    cache: &ReadCache,
    scope: &Scope,
    project_id: Uuid,
) -> Result<ProjectGate, AppError> {
    let cache_key = project_gate_key(scope.org_id(), project_id);
    let gate = match cache.read::<ProjectGate>(Lookup::ProjectGate, &cache_key).await {
        Cached::Hit(gate) => gate,
        Cached::Miss(ticket) => {
            let gate = read_gate(db, scope, project_id).await?;
            cache.fill(Lookup::ProjectGate, &cache_key, &gate, ticket).await;
            gate
        }
    };
    if role_sees(db, scope, scope.role(), scope.user_id(), project_id, &gate.visibility).await? {
        Ok(gate)
    } else {
        Err(AppError::NotFound("project_not_found"))
    }
}

/// A project's gate from the database; a project that does not exist is not cached (its id may yet be created).
async fn read_gate(db: &impl ConnectionTrait, scope: &Scope, project_id: Uuid) -> Result<ProjectGate, AppError> {
    let (key, visibility) = scope
        .find::<projects::Entity>()
        .filter(projects::Column::Id.eq(project_id))
        .select_only()
        .columns([projects::Column::Key, projects::Column::Visibility])
        .into_tuple::<(String, String)>()
        .one(db)
        .await?
        .ok_or(AppError::NotFound("project_not_found"))?;
    Ok(ProjectGate { key, visibility })
}

/// Deletes the cached gate of a project after a committed write changed its visibility or deleted it.
pub async fn forget_project_gate(cache: &ReadCache, org_id: Uuid, project_id: Uuid) {
    cache.forget(&project_gate_key(org_id, project_id)).await;
}

/// Fails with 409 `project_archived` when the project no longer takes changes.
pub fn ensure_not_archived(project: &projects::Model) -> Result<(), AppError> {
    if project.archived_at.is_some() {
        Err(AppError::conflict("project_archived", "the project is archived; unarchive it to make changes"))
    } else {
        Ok(())
    }
}

/// Ids of the projects the actor sees; `None` means all of the org's projects.
pub async fn visible_project_ids(db: &impl ConnectionTrait, scope: &Scope) -> Result<Option<Vec<Uuid>>, AppError> {
    if scope.can(Permission::AdministerProjects) {
        return Ok(None);
    }
    let mut ids: Vec<Uuid> = scope
        .find::<project_members::Entity>()
        .filter(project_members::Column::UserId.eq(scope.user_id()))
        .select_only()
        .column(project_members::Column::ProjectId)
        .into_tuple()
        .all(db)
        .await?;
    if scope.role() != Role::Guest {
        let open: Vec<Uuid> = scope
            .find::<projects::Entity>()
            .filter(projects::Column::Visibility.eq(VISIBILITY_ORG))
            .select_only()
            .column(projects::Column::Id)
            .into_tuple()
            .all(db)
            .await?;
        ids.extend(open);
    }
    Ok(Some(ids))
}

/// Whether another member of the org (`user_id`) sees `project`: assignees and watchers must.
pub async fn member_sees(
    db: &impl ConnectionTrait,
    scope: &Scope,
    user_id: Uuid,
    project: &projects::Model,
) -> Result<bool, AppError> {
    let Some(m) = scope.find::<memberships::Entity>().filter(memberships::Column::UserId.eq(user_id)).one(db).await?
    else {
        return Ok(false);
    };
    let role: Role = m.role.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    role_sees(db, scope, role, user_id, project.id, &project.visibility).await
}
