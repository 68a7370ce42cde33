//! `/orgs/{org_id}/projects*`: projects, their members, statuses and labels.
use chrono::{DateTime, Utc};
use entities::tables::{labels as label_rows, projects as project_rows, statuses as status_rows};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::types::{Created, NoContent, UserSummary};
use super::ApiTags;
use crate::auth::schemes::Auth;
use crate::domain::access::scope;
use crate::domain::projects::labels::{self, LabelChanges, NewLabel};
use crate::domain::projects::statuses::{self, NewStatus, StatusChanges};
use crate::domain::projects::{self, ArchivedFilter, NewProject, ProjectChanges};
use crate::problem::ApiError;
use crate::state::AppState;

/// A project.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Project {
    pub id: Uuid,
    /// Upper-case key that prefixes task numbers (`WEB` in `WEB-42`).
    pub key: String,
    pub name: String,
    pub description: String,
    /// `org` (every member of the org sees it) or `private` (only its members, owners and admins).
    pub visibility: String,
    pub archived: bool,
    /// When it was archived; null while it is active.
    pub archived_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<project_rows::Model> for Project {
    fn from(p: project_rows::Model) -> Self {
        Project {
            id: p.id,
            key: p.key,
            name: p.name,
            description: p.description,
            visibility: p.visibility,
            archived: p.archived_at.is_some(),
            archived_at: p.archived_at,
            created_by: p.created_by,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A new project.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CreateProjectInput {
    /// 2–10 characters: a letter, then letters or digits. Lower-case letters are accepted and stored upper-case
    /// (`web` becomes `WEB`). Unique in the org; it cannot be changed later.
    pub key: String,
    /// 1–200 characters.
    pub name: String,
    /// Up to 10,000 characters; empty when absent.
    pub description: Option<String>,
    /// `org` (default) or `private`.
    pub visibility: Option<String>,
}

/// Changes to a project; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UpdateProjectInput {
    /// 1–200 characters.
    pub name: Option<String>,
    /// Up to 10,000 characters; an empty string clears it.
    pub description: Option<String>,
    /// `org` or `private`.
    pub visibility: Option<String>,
}

/// Someone to add to a project.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AddProjectMemberInput {
    /// A member of the org.
    pub user_id: Uuid,
}

/// A workflow status of a project.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Status {
    pub id: Uuid,
    pub name: String,
    /// backlog, unstarted, started, completed or cancelled.
    pub category: String,
    /// 0-based place in the project's board order.
    pub position: i32,
}

impl From<status_rows::Model> for Status {
    fn from(s: status_rows::Model) -> Self {
        Status { id: s.id, name: s.name, category: s.category, position: s.position }
    }
}

/// A new status.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CreateStatusInput {
    /// 1–100 characters, unique in the project regardless of case.
    pub name: String,
    /// backlog, unstarted, started, completed or cancelled.
    pub category: String,
    /// Where to insert it (0 = first); at the end when absent or past the end.
    pub position: Option<i32>,
}

/// Changes to a status; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UpdateStatusInput {
    /// 1–100 characters, unique in the project regardless of case.
    pub name: Option<String>,
    /// backlog, unstarted, started, completed or cancelled.
    pub category: Option<String>,
}

/// A new order of a project's statuses.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReorderStatusesInput {
    /// Every status id of the project, each exactly once, first to last.
    pub status_ids: Vec<Uuid>,
}

/// A label of a project.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Label {
    pub id: Uuid,
    pub name: String,
    /// `#rrggbb`, lower-case.
    pub color: String,
}

impl From<label_rows::Model> for Label {
    fn from(l: label_rows::Model) -> Self {
        Label { id: l.id, name: l.name, color: l.color }
    }
}

/// A new label.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CreateLabelInput {
    /// 1–100 characters, unique in the project regardless of case.
    pub name: String,
    /// `#rrggbb` in either case; stored lower-case.
    pub color: String,
}

/// Changes to a label; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UpdateLabelInput {
    /// 1–100 characters, unique in the project regardless of case.
    pub name: Option<String>,
    /// `#rrggbb` in either case; stored lower-case.
    pub color: Option<String>,
}

pub struct ProjectsApi;

#[OpenApi(tag = "ApiTags::Projects")]
impl ProjectsApi {
    /// Create a project with the default statuses (owner, admin or member)
    #[oai(path = "/orgs/:org_id/projects", method = "post", operation_id = "createProject")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        body: Json<CreateProjectInput>,
    ) -> Result<Created<Project>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let body = body.0;
        let input =
            NewProject { key: body.key, name: body.name, description: body.description, visibility: body.visibility };
        Ok(Created::Created(Json(projects::create(&state.db, &s, input).await?.into())))
    }

    /// List the projects I can see, ordered by key
    #[oai(path = "/orgs/:org_id/projects", method = "get", operation_id = "listProjects")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        /// `false` (default): active projects; `true`: archived ones; `all`: both.
        archived: Query<Option<String>>,
    ) -> Result<Json<Vec<Project>>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let filter = archived.0.as_deref().map(ArchivedFilter::parse).transpose()?.unwrap_or_default();
        Ok(Json(projects::list(&state.db, &s, filter).await?.into_iter().map(Project::from).collect()))
    }

    /// Get a project
    #[oai(path = "/orgs/:org_id/projects/:project_id", method = "get", operation_id = "getProject")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
    ) -> Result<Json<Project>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(projects::get(&state.db, &s, project_id.0).await?.into()))
    }

    /// Change a project's name, description or visibility
    #[oai(path = "/orgs/:org_id/projects/:project_id", method = "patch", operation_id = "updateProject")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
        body: Json<UpdateProjectInput>,
    ) -> Result<Json<Project>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let body = body.0;
        let changes = ProjectChanges { name: body.name, description: body.description, visibility: body.visibility };
        Ok(Json(projects::update(&state.db, &state.cache, &s, project_id.0, changes).await?.into()))
    }

    /// Archive a project: it stays readable but takes no changes
    #[oai(path = "/orgs/:org_id/projects/:project_id/archive", method = "post", operation_id = "archiveProject")]
    async fn archive(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
    ) -> Result<Json<Project>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(projects::set_archived(&state.db, &s, project_id.0, true).await?.into()))
    }

    /// Unarchive a project
    #[oai(path = "/orgs/:org_id/projects/:project_id/unarchive", method = "post", operation_id = "unarchiveProject")]
    async fn unarchive(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
    ) -> Result<Json<Project>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(projects::set_archived(&state.db, &s, project_id.0, false).await?.into()))
    }

    /// Delete a project with its tasks, statuses and labels (owner or admin)
    #[oai(path = "/orgs/:org_id/projects/:project_id", method = "delete", operation_id = "deleteProject")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        auth.actor().require_admin_scope()?;
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        projects::delete(&state.db, &state.cache, &s, project_id.0).await?;
        Ok(NoContent::Done)
    }

    /// List a project's members
    #[oai(path = "/orgs/:org_id/projects/:project_id/members", method = "get", operation_id = "listProjectMembers")]
    async fn members(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
    ) -> Result<Json<Vec<UserSummary>>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let users = projects::members(&state.db, &s, project_id.0).await?;
        Ok(Json(users.iter().map(UserSummary::from).collect()))
    }

    /// Add a member of the org to a project
    #[oai(path = "/orgs/:org_id/projects/:project_id/members", method = "post", operation_id = "addProjectMember")]
    async fn add_member(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
        body: Json<AddProjectMemberInput>,
    ) -> Result<Created<UserSummary>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let user = projects::add_member(&state.db, &s, project_id.0, body.user_id).await?;
        Ok(Created::Created(Json((&user).into())))
    }

    /// Remove someone from a project's members
    #[oai(
        path = "/orgs/:org_id/projects/:project_id/members/:user_id",
        method = "delete",
        operation_id = "removeProjectMember"
    )]
    async fn remove_member(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        projects::remove_member(&state.db, &s, project_id.0, user_id.0).await?;
        Ok(NoContent::Done)
    }

    /// List a project's statuses in board order
    #[oai(path = "/orgs/:org_id/projects/:project_id/statuses", method = "get", operation_id = "listStatuses")]
    async fn statuses(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
    ) -> Result<Json<Vec<Status>>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(statuses::list(&state.db, &s, project_id.0).await?.into_iter().map(Status::from).collect()))
    }

    /// Add a status to a project
    #[oai(path = "/orgs/:org_id/projects/:project_id/statuses", method = "post", operation_id = "createStatus")]
    async fn create_status(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
        body: Json<CreateStatusInput>,
    ) -> Result<Created<Status>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let body = body.0;
        let input = NewStatus { name: body.name, category: body.category, position: body.position };
        Ok(Created::Created(Json(statuses::create(&state.db, &s, project_id.0, input).await?.into())))
    }

    /// Put a project's statuses in a new order
    #[oai(
        path = "/orgs/:org_id/projects/:project_id/statuses/reorder",
        method = "post",
        operation_id = "reorderStatuses"
    )]
    async fn reorder_statuses(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
        body: Json<ReorderStatusesInput>,
    ) -> Result<Json<Vec<Status>>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let list = statuses::reorder(&state.db, &s, project_id.0, body.0.status_ids).await?;
        Ok(Json(list.into_iter().map(Status::from).collect()))
    }

    /// Rename a status or change its category
    #[oai(
        path = "/orgs/:org_id/projects/:project_id/statuses/:status_id",
        method = "patch",
        operation_id = "updateStatus"
    )]
    async fn update_status(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
        status_id: Path<Uuid>,
        body: Json<UpdateStatusInput>,
    ) -> Result<Json<Status>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let body = body.0;
        let changes = StatusChanges { name: body.name, category: body.category };
        Ok(Json(statuses::update(&state.db, &s, project_id.0, status_id.0, changes).await?.into()))
    }

    /// Delete a status, moving the tasks in it to `move_to`
    #[oai(
        path = "/orgs/:org_id/projects/:project_id/statuses/:status_id",
        method = "delete",
        operation_id = "deleteStatus"
    )]
    async fn delete_status(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
        status_id: Path<Uuid>,
        /// Another status of the project for the tasks in this one; required when tasks use it.
        move_to: Query<Option<Uuid>>,
    ) -> Result<NoContent, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        statuses::delete(&state.db, &s, project_id.0, status_id.0, move_to.0).await?;
        Ok(NoContent::Done)
    }

    /// List a project's labels by name
    #[oai(path = "/orgs/:org_id/projects/:project_id/labels", method = "get", operation_id = "listLabels")]
    async fn labels(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
    ) -> Result<Json<Vec<Label>>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(labels::list(&state.db, &s, project_id.0).await?.into_iter().map(Label::from).collect()))
    }

    /// Add a label to a project
    #[oai(path = "/orgs/:org_id/projects/:project_id/labels", method = "post", operation_id = "createLabel")]
    async fn create_label(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
        body: Json<CreateLabelInput>,
    ) -> Result<Created<Label>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let body = body.0;
        let input = NewLabel { name: body.name, color: body.color };
        Ok(Created::Created(Json(labels::create(&state.db, &s, project_id.0, input).await?.into())))
    }

    /// Rename or recolour a label
    #[oai(path = "/orgs/:org_id/projects/:project_id/labels/:label_id", method = "patch", operation_id = "updateLabel")]
    async fn update_label(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
        label_id: Path<Uuid>,
        body: Json<UpdateLabelInput>,
    ) -> Result<Json<Label>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let body = body.0;
        let changes = LabelChanges { name: body.name, color: body.color };
        Ok(Json(labels::update(&state.db, &s, project_id.0, label_id.0, changes).await?.into()))
    }

    /// Delete a label and take it off every task
    #[oai(
        path = "/orgs/:org_id/projects/:project_id/labels/:label_id",
        method = "delete",
        operation_id = "deleteLabel"
    )]
    async fn delete_label(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
        label_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        labels::delete(&state.db, &s, project_id.0, label_id.0).await?;
        Ok(NoContent::Done)
    }
}
