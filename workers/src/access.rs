//! Whether a person may still see a project, checked by workers before telling them about it (people leave orgs
//! and private projects between an event and its email). The rule is the API's: [`entities::Role::sees_project`].
use entities::tables::{project_members, projects};
use entities::Scope;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, QueryFilter};
use uuid::Uuid;

pub async fn sees_project(db: &impl ConnectionTrait, user_id: Uuid, project: &projects::Model) -> Result<bool, DbErr> {
    let Some(scope) = Scope::of_member(db, user_id, project.org_id).await? else {
        return Ok(false);
    };
    let org_wide = project.visibility == "org";
    if scope.role().sees_project(org_wide, false) {
        return Ok(true);
    }
    let member = scope
        .find::<project_members::Entity>()
        .filter(project_members::Column::ProjectId.eq(project.id))
        .filter(project_members::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .is_some();
    Ok(scope.role().sees_project(org_wide, member))
}
