//! Who sees which project. Owners and admins see every project of the org; members see org-wide projects and the
//! private ones they belong to; guests see only projects they were added to. A project the actor cannot see answers
//! 404, exactly like one that does not exist.
use entities::tables::{memberships, project_members, projects};
use entities::{Permission, Role, Scope};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::error::AppError;

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

/// Whether a user with `role` sees `project`.
async fn role_sees(
    db: &impl ConnectionTrait,
    scope: &Scope,
    role: Role,
    user_id: Uuid,
    project: &projects::Model,
) -> Result<bool, AppError> {
    let org_wide = project.visibility == VISIBILITY_ORG;
    // Ask the project membership only when the role alone does not decide.
    if role.sees_project(org_wide, false) {
        return Ok(true);
    }
    Ok(role.sees_project(org_wide, is_project_member(db, scope, project.id, user_id).await?))
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
    if role_sees(db, scope, scope.role(), scope.user_id(), &project).await? {
        Ok(project)
    } else {
        Err(AppError::NotFound("project_not_found"))
    }
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
    role_sees(db, scope, role, user_id, project).await
}
