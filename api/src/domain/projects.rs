//! Projects: creation with a default workflow, listing what the actor sees, settings, archiving, deletion, and the
//! members of a project (who see it when it is private). Statuses and labels live in the submodules.
//!
//! Who may do what: anyone who sees a project reads it (see [`super::project_access`]). Owners and admins, and
//! members who see the project, manage it: settings, archiving, statuses, labels and project members. Only owners and
//! admins delete it. Guests never manage. An archived project is read-only until it is unarchived: its settings,
//! statuses and labels refuse changes with 409 `project_archived`, while its members can still be changed so that
//! people can be given read access to an archive.
//!
//! Writes re-read the project under a row lock ([`lock_visible`]) so that concurrent changes to one project (status
//! positions, name checks) run one after the other on MySQL; SQLite has a single writer anyway.
pub mod labels;
pub mod statuses;

use entities::tables::{
    comments, labels as label_rows, memberships, project_members, projects, statuses as status_rows, task_assignees,
    task_labels, tasks, users, watchers,
};
use entities::{Permission, Scope};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Set,
};
use serde_json::{json, Map, Value};
use uuid::Uuid;

pub use statuses::{statuses_of, StatusCategory};

use super::access::require;
use super::outbox::{self, Event};
use super::project_access::{
    ensure_not_archived, forget_project_gate, visible_project, visible_project_ids, VISIBILITY_ORG, VISIBILITY_PRIVATE,
};
use crate::error::{is_unique_violation, text_field, AppError, Validator};
use crate::read_cache::ReadCache;

/// Longest project description, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 10_000;

/// A project key: 2–10 characters, an ASCII letter then letters or digits, kept upper-case (`WEB`, `OPS2`). It
/// prefixes task numbers (`WEB-42`), so it never changes after creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectKey(String);

impl ProjectKey {
    /// Parses a key, upper-casing it first: `web` becomes `WEB`.
    pub fn parse(raw: &str) -> Result<ProjectKey, &'static str> {
        let key = raw.trim().to_ascii_uppercase();
        let mut chars = key.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_uppercase());
        let rest_alphanumeric = chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if (2..=10).contains(&key.len()) && starts_with_letter && rest_alphanumeric {
            Ok(ProjectKey(key))
        } else {
            Err("must be 2 to 10 characters: a letter A-Z, then letters A-Z or digits")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who sees a project besides owners, admins and its members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Every member of the org (not guests).
    Org,
    /// Only the project's members.
    Private,
}

impl Visibility {
    /// Parses `org` or `private`.
    pub fn parse(raw: &str) -> Result<Visibility, &'static str> {
        match raw {
            VISIBILITY_ORG => Ok(Visibility::Org),
            VISIBILITY_PRIVATE => Ok(Visibility::Private),
            _ => Err("must be one of org, private"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Org => VISIBILITY_ORG,
            Visibility::Private => VISIBILITY_PRIVATE,
        }
    }
}

/// Which projects a listing returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ArchivedFilter {
    /// Only projects that are not archived.
    #[default]
    Active,
    /// Only archived projects.
    Archived,
    /// Both.
    All,
}

impl ArchivedFilter {
    /// Parses the `archived` query value: `false`, `true` or `all`.
    pub fn parse(raw: &str) -> Result<ArchivedFilter, AppError> {
        match raw {
            "false" => Ok(ArchivedFilter::Active),
            "true" => Ok(ArchivedFilter::Archived),
            "all" => Ok(ArchivedFilter::All),
            _ => Err(AppError::invalid("archived", "must be one of false, true, all")),
        }
    }
}

/// A new project.
pub struct NewProject {
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub visibility: Option<String>,
}

/// Changes to a project's settings; `None` leaves a field as it is.
#[derive(Default)]
pub struct ProjectChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<String>,
}

/// Fails with 403 unless the actor may manage projects they see: owners, admins and members, not guests.
pub(crate) fn require_manage(scope: &Scope) -> Result<(), AppError> {
    require(scope, Permission::WriteTasks)
}

/// The project if the actor sees it (else 404 `project_not_found`), re-read under a row lock held until `tx` ends.
pub(crate) async fn lock_visible(
    tx: &DatabaseTransaction,
    scope: &Scope,
    project_id: Uuid,
) -> Result<projects::Model, AppError> {
    visible_project(tx, scope, project_id).await?;
    scope
        .find::<projects::Entity>()
        .filter(projects::Column::Id.eq(project_id))
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or(AppError::NotFound("project_not_found"))
}

/// An outbox event by the actor of `scope`.
pub(crate) fn event<'a>(
    scope: &Scope,
    event_type: &'a str,
    entity_type: &'a str,
    entity_id: Uuid,
    payload: Value,
) -> Event<'a> {
    Event { org_id: scope.org_id(), actor_id: Some(scope.user_id()), event_type, entity_type, entity_id, payload }
}

/// Records `from → to` under `field` when they differ; the `changes` payload of update events.
pub(crate) fn note_change<T: serde::Serialize + PartialEq>(
    changes: &mut Map<String, Value>,
    field: &str,
    from: &T,
    to: &T,
) {
    if from != to {
        changes.insert(field.to_owned(), json!({ "from": from, "to": to }));
    }
}

fn description_field(v: &mut Validator, field: &str, value: &str) -> String {
    let t = value.trim();
    if t.chars().count() > DESCRIPTION_MAX_CHARS {
        v.push(field, format!("must be at most {DESCRIPTION_MAX_CHARS} characters"));
    }
    t.to_owned()
}

fn key_taken() -> AppError {
    AppError::conflict("project_key_taken", "another project of this org already uses this key")
}

/// Creates a project with the default statuses; the creator becomes a member of it.
pub async fn create(db: &DatabaseConnection, scope: &Scope, input: NewProject) -> Result<projects::Model, AppError> {
    require(scope, Permission::CreateProject)?;
    let mut v = Validator::new();
    let key = ProjectKey::parse(&input.key).map_err(|m| v.push("key", m)).ok();
    let name = text_field(&mut v, "name", &input.name, 200);
    let description = description_field(&mut v, "description", input.description.as_deref().unwrap_or(""));
    let visibility = match input.visibility.as_deref() {
        None => Some(Visibility::Org),
        Some(raw) => Visibility::parse(raw).map_err(|m| v.push("visibility", m)).ok(),
    };
    v.finish()?;
    let (key, visibility) = (key.expect("validated"), visibility.expect("validated"));
    let tx = entities::begin_write(db).await?;
    let existing = scope.find::<projects::Entity>().filter(projects::Column::Key.eq(key.as_str())).one(&tx).await?;
    if existing.is_some() {
        return Err(key_taken());
    }
    let now = entities::now();
    let project = projects::ActiveModel {
        id: Set(entities::new_id()),
        org_id: Set(scope.org_id()),
        key: Set(key.as_str().to_owned()),
        name: Set(name),
        description: Set(description),
        visibility: Set(visibility.as_str().to_owned()),
        next_number: Set(1),
        archived_at: Set(None),
        created_by: Set(scope.user_id()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&tx)
    .await
    // Two creates with the same key can both pass the check above; the unique index decides.
    .map_err(|e| if is_unique_violation(&e) { key_taken() } else { e.into() })?;
    project_members::ActiveModel {
        project_id: Set(project.id),
        user_id: Set(scope.user_id()),
        org_id: Set(scope.org_id()),
        created_at: Set(now),
    }
    .insert(&tx)
    .await?;
    statuses::create_defaults(&tx, scope, project.id, now).await?;
    let payload = json!({ "key": project.key, "name": project.name, "visibility": project.visibility });
    outbox::record(&tx, event(scope, "project.created", "project", project.id, payload)).await?;
    tx.commit().await?;
    Ok(project)
}

/// The projects the actor sees, ordered by key.
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &Scope,
    archived: ArchivedFilter,
) -> Result<Vec<projects::Model>, AppError> {
    let mut query = scope.find::<projects::Entity>();
    if let Some(ids) = visible_project_ids(db, scope).await? {
        query = query.filter(projects::Column::Id.is_in(ids));
    }
    query = match archived {
        ArchivedFilter::Active => query.filter(projects::Column::ArchivedAt.is_null()),
        ArchivedFilter::Archived => query.filter(projects::Column::ArchivedAt.is_not_null()),
        ArchivedFilter::All => query,
    };
    Ok(query.order_by_asc(projects::Column::Key).all(db).await?)
}

/// One project the actor sees.
pub async fn get(db: &impl ConnectionTrait, scope: &Scope, project_id: Uuid) -> Result<projects::Model, AppError> {
    visible_project(db, scope, project_id).await
}

/// Changes a project's name, description or visibility. Nothing changed means no event and no new `updated_at`.
pub async fn update(
    db: &DatabaseConnection,
    cache: &ReadCache,
    scope: &Scope,
    project_id: Uuid,
    input: ProjectChanges,
) -> Result<projects::Model, AppError> {
    require_manage(scope)?;
    let mut v = Validator::new();
    let name = input.name.as_deref().map(|n| text_field(&mut v, "name", n, 200));
    let description = input.description.as_deref().map(|d| description_field(&mut v, "description", d));
    let visibility =
        input.visibility.as_deref().and_then(|raw| Visibility::parse(raw).map_err(|m| v.push("visibility", m)).ok());
    v.finish()?;
    let tx = entities::begin_write(db).await?;
    let project = lock_visible(&tx, scope, project_id).await?;
    ensure_not_archived(&project)?;
    let mut changes = Map::new();
    let mut active: projects::ActiveModel = project.clone().into();
    if let Some(name) = name {
        note_change(&mut changes, "name", &project.name, &name);
        active.name = Set(name);
    }
    if let Some(description) = description {
        note_change(&mut changes, "description", &project.description, &description);
        active.description = Set(description);
    }
    if let Some(visibility) = visibility {
        let to = visibility.as_str().to_owned();
        note_change(&mut changes, "visibility", &project.visibility, &to);
        active.visibility = Set(to);
    }
    if changes.is_empty() {
        return Ok(project);
    }
    active.updated_at = Set(entities::now());
    let project = active.update(&tx).await?;
    outbox::record(&tx, event(scope, "project.updated", "project", project.id, json!({ "changes": changes }))).await?;
    tx.commit().await?;
    forget_project_gate(cache, scope.org_id(), project.id).await;
    Ok(project)
}

/// Archives (`archived = true`) or unarchives a project. Asking for the state it is already in changes nothing.
pub async fn set_archived(
    db: &DatabaseConnection,
    scope: &Scope,
    project_id: Uuid,
    archived: bool,
) -> Result<projects::Model, AppError> {
    require_manage(scope)?;
    let tx = entities::begin_write(db).await?;
    let project = lock_visible(&tx, scope, project_id).await?;
    if project.archived_at.is_some() == archived {
        return Ok(project);
    }
    let now = entities::now();
    let mut active: projects::ActiveModel = project.into();
    active.archived_at = Set(archived.then_some(now));
    active.updated_at = Set(now);
    let project = active.update(&tx).await?;
    let event_type = if archived { "project.archived" } else { "project.unarchived" };
    outbox::record(&tx, event(scope, event_type, "project", project.id, json!({}))).await?;
    tx.commit().await?;
    Ok(project)
}

/// Deletes a project with its tasks (and their assignees, labels, comments, watchers), labels, statuses and members.
/// Owners and admins only.
pub async fn delete(
    db: &DatabaseConnection,
    cache: &ReadCache,
    scope: &Scope,
    project_id: Uuid,
) -> Result<(), AppError> {
    require(scope, Permission::AdministerProjects)?;
    let tx = entities::begin_write(db).await?;
    let project = lock_visible(&tx, scope, project_id).await?;
    // The satellites of tasks carry no project id: select them through the project's task ids.
    let task_ids = || {
        scope
            .find::<tasks::Entity>()
            .filter(tasks::Column::ProjectId.eq(project_id))
            .select_only()
            .column(tasks::Column::Id)
            .into_query()
    };
    scope.delete_many::<comments::Entity>().filter(comments::Column::TaskId.in_subquery(task_ids())).exec(&tx).await?;
    scope.delete_many::<watchers::Entity>().filter(watchers::Column::TaskId.in_subquery(task_ids())).exec(&tx).await?;
    scope
        .delete_many::<task_labels::Entity>()
        .filter(task_labels::Column::TaskId.in_subquery(task_ids()))
        .exec(&tx)
        .await?;
    scope
        .delete_many::<task_assignees::Entity>()
        .filter(task_assignees::Column::TaskId.in_subquery(task_ids()))
        .exec(&tx)
        .await?;
    scope.delete_many::<tasks::Entity>().filter(tasks::Column::ProjectId.eq(project_id)).exec(&tx).await?;
    scope.delete_many::<label_rows::Entity>().filter(label_rows::Column::ProjectId.eq(project_id)).exec(&tx).await?;
    scope.delete_many::<status_rows::Entity>().filter(status_rows::Column::ProjectId.eq(project_id)).exec(&tx).await?;
    scope
        .delete_many::<project_members::Entity>()
        .filter(project_members::Column::ProjectId.eq(project_id))
        .exec(&tx)
        .await?;
    scope.delete_many::<projects::Entity>().filter(projects::Column::Id.eq(project_id)).exec(&tx).await?;
    let payload = json!({ "key": project.key, "name": project.name });
    outbox::record(&tx, event(scope, "project.deleted", "project", project_id, payload)).await?;
    tx.commit().await?;
    forget_project_gate(cache, scope.org_id(), project_id).await;
    Ok(())
}

/// The members of a project the actor sees, earliest added first.
#[allow(clippy::disallowed_methods)] // users are looked up by ids taken from this org's project_members rows
pub async fn members(
    db: &impl ConnectionTrait,
    scope: &Scope,
    project_id: Uuid,
) -> Result<Vec<users::Model>, AppError> {
    visible_project(db, scope, project_id).await?;
    let rows = scope
        .find::<project_members::Entity>()
        .filter(project_members::Column::ProjectId.eq(project_id))
        .order_by_asc(project_members::Column::CreatedAt)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.user_id).collect();
    let us = users::Entity::find().filter(users::Column::Id.is_in(ids)).all(db).await?;
    Ok(rows.iter().filter_map(|r| us.iter().find(|u| u.id == r.user_id).cloned()).collect())
}

/// Adds a member of the org to a project.
#[allow(clippy::disallowed_methods)] // the user row of someone whose membership in this org was just checked
pub async fn add_member(
    db: &DatabaseConnection,
    scope: &Scope,
    project_id: Uuid,
    user_id: Uuid,
) -> Result<users::Model, AppError> {
    require_manage(scope)?;
    let tx = entities::begin_write(db).await?;
    lock_visible(&tx, scope, project_id).await?;
    let membership =
        scope.find::<memberships::Entity>().filter(memberships::Column::UserId.eq(user_id)).one(&tx).await?;
    let user = match membership {
        Some(_) => users::Entity::find_by_id(user_id).one(&tx).await?,
        None => None,
    }
    .ok_or_else(|| AppError::invalid("user_id", "must be a member of the org"))?;
    let already = || AppError::conflict("already_project_member", "this person is already a member of the project");
    let existing = scope
        .find::<project_members::Entity>()
        .filter(project_members::Column::ProjectId.eq(project_id))
        .filter(project_members::Column::UserId.eq(user_id))
        .one(&tx)
        .await?;
    if existing.is_some() {
        return Err(already());
    }
    project_members::ActiveModel {
        project_id: Set(project_id),
        user_id: Set(user_id),
        org_id: Set(scope.org_id()),
        created_at: Set(entities::now()),
    }
    .insert(&tx)
    .await
    .map_err(|e| if is_unique_violation(&e) { already() } else { e.into() })?;
    let payload = json!({ "user_id": user_id });
    outbox::record(&tx, event(scope, "project.member_added", "project", project_id, payload)).await?;
    tx.commit().await?;
    Ok(user)
}

/// Removes someone from a project's members; in a private project they no longer see it (unless owner or admin).
pub async fn remove_member(
    db: &DatabaseConnection,
    scope: &Scope,
    project_id: Uuid,
    user_id: Uuid,
) -> Result<(), AppError> {
    require_manage(scope)?;
    let tx = entities::begin_write(db).await?;
    lock_visible(&tx, scope, project_id).await?;
    let removed = scope
        .delete_many::<project_members::Entity>()
        .filter(project_members::Column::ProjectId.eq(project_id))
        .filter(project_members::Column::UserId.eq(user_id))
        .exec(&tx)
        .await?;
    if removed.rows_affected == 0 {
        return Err(AppError::NotFound("project_member_not_found"));
    }
    let payload = json!({ "user_id": user_id });
    outbox::record(&tx, event(scope, "project.member_removed", "project", project_id, payload)).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_upper_cased_letters_then_letters_or_digits() {
        assert_eq!(ProjectKey::parse("web").unwrap().as_str(), "WEB");
        assert_eq!(ProjectKey::parse(" Ops2 ").unwrap().as_str(), "OPS2");
        assert_eq!(ProjectKey::parse("ABCDEFGHIJ").unwrap().as_str(), "ABCDEFGHIJ");
        for bad in ["", "W", "2WEB", "WE-B", "ABCDEFGHIJK", "WÉB", "W B"] {
            assert!(ProjectKey::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn the_archived_filter_names_its_parameter() {
        assert_eq!(ArchivedFilter::parse("all").unwrap(), ArchivedFilter::All);
        match ArchivedFilter::parse("yes") {
            Err(AppError::Validation(errors)) => assert_eq!(errors[0].field, "archived"),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }
}
