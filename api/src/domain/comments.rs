//! Comments on tasks (markdown; only the author edits or deletes) and watchers.
use std::collections::HashMap;

use entities::tables::{comments, memberships, users, watchers};
use entities::{Permission, Scope};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, QueryFilter, QueryOrder, Set};
use serde_json::json;
use uuid::Uuid;

use super::access::require;
use super::outbox::{self, Event};
use super::project_access::member_sees;
use super::tasks::find;
use crate::error::{AppError, Validator};

pub const MAX_BODY_CHARS: usize = 50_000;

/// The addresses written as `@email` in a body, lower-cased.
fn mentioned_emails(body: &str) -> Vec<String> {
    body.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '<' | '>'))
        .filter_map(|w| w.strip_prefix('@'))
        .map(|w| w.trim_end_matches(['.', ':', '!', '?']).to_lowercase())
        .filter(|w| w.contains('@'))
        .collect()
}

/// Email → user id of the org's members among `emails`, in one lookup however many bodies they came from.
async fn members_by_email(
    db: &impl ConnectionTrait,
    scope: &Scope,
    emails: Vec<String>,
) -> Result<HashMap<String, Uuid>, AppError> {
    if emails.is_empty() {
        return Ok(HashMap::new());
    }
    let member_ids: Vec<Uuid> =
        scope.find::<memberships::Entity>().all(db).await?.into_iter().map(|m| m.user_id).collect();
    #[allow(clippy::disallowed_methods)] // users are filtered to this org's member ids
    let found = <users::Entity as sea_orm::EntityTrait>::find()
        .filter(users::Column::Email.is_in(emails))
        .filter(users::Column::Id.is_in(member_ids))
        .all(db)
        .await?;
    Ok(found.into_iter().map(|u| (u.email, u.id)).collect())
}

/// Ids of org members mentioned as `@email` in `body`, given the members by email, in order of first mention.
fn mentions_in(body: &str, members: &HashMap<String, Uuid>) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = Vec::new();
    for id in mentioned_emails(body).iter().filter_map(|e| members.get(e)) {
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    ids
}

/// Ids of org members mentioned as `@email` in a body.
async fn mentions(db: &impl ConnectionTrait, scope: &Scope, body: &str) -> Result<Vec<Uuid>, AppError> {
    let members = members_by_email(db, scope, mentioned_emails(body)).await?;
    Ok(mentions_in(body, &members))
}

fn check_body(body: &str) -> Result<String, AppError> {
    let mut v = Validator::new();
    let b = body.trim();
    v.check(!b.is_empty(), "body", "must not be empty");
    v.check(b.chars().count() <= MAX_BODY_CHARS, "body", "must be at most 50000 characters");
    v.finish()?;
    Ok(b.to_owned())
}

/// A comment with the ids of the members it mentions.
pub struct CommentView {
    pub comment: comments::Model,
    pub mentions: Vec<Uuid>,
}

/// Comments of a task, oldest first.
pub async fn list(db: &impl ConnectionTrait, scope: &Scope, task_ref: &str) -> Result<Vec<CommentView>, AppError> {
    let (task, _) = find(db, scope, task_ref).await?;
    let rows = scope
        .find::<comments::Entity>()
        .filter(comments::Column::TaskId.eq(task.id))
        .order_by_asc(comments::Column::CreatedAt)
        .order_by_asc(comments::Column::Id)
        .all(db)
        .await?;
    // One member lookup for the whole thread, not one per comment.
    let members = members_by_email(db, scope, rows.iter().flat_map(|c| mentioned_emails(&c.body)).collect()).await?;
    Ok(rows
        .into_iter()
        .map(|c| {
            let mentions = mentions_in(&c.body, &members);
            CommentView { comment: c, mentions }
        })
        .collect())
}

/// Adds a comment; the author and mentioned members start watching the task.
pub async fn create(
    db: &DatabaseConnection,
    scope: &Scope,
    task_ref: &str,
    body: &str,
) -> Result<CommentView, AppError> {
    let (task, project) = find(db, scope, task_ref).await?;
    require(scope, Permission::Comment)?;
    super::project_access::ensure_not_archived(&project)?;
    let body = check_body(body)?;
    let mentioned = mentions(db, scope, &body).await?;
    let mut visible_mentions = Vec::new();
    for m in mentioned {
        if member_sees(db, scope, m, &project).await? {
            visible_mentions.push(m);
        }
    }
    let now = entities::now();
    let tx = entities::begin_write(db).await?;
    let comment = comments::ActiveModel {
        id: Set(entities::new_id()),
        org_id: Set(scope.org_id()),
        task_id: Set(task.id),
        author_id: Set(scope.user_id()),
        body: Set(body),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&tx)
    .await?;
    let mut watching = vec![scope.user_id()];
    watching.extend(&visible_mentions);
    for user in watching {
        let exists = scope
            .find::<watchers::Entity>()
            .filter(watchers::Column::TaskId.eq(task.id))
            .filter(watchers::Column::UserId.eq(user))
            .one(&tx)
            .await?
            .is_some();
        if !exists {
            watchers::ActiveModel {
                task_id: Set(task.id),
                user_id: Set(user),
                org_id: Set(scope.org_id()),
                created_at: Set(now),
            }
            .insert(&tx)
            .await?;
        }
    }
    outbox::record(
        &tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type: "comment.created",
            entity_type: "comment",
            entity_id: comment.id,
            payload: json!({ "task_id": task.id, "mentions": visible_mentions }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(CommentView { comment, mentions: visible_mentions })
}

async fn own_comment(
    db: &impl ConnectionTrait,
    scope: &Scope,
    task_ref: &str,
    comment_id: Uuid,
) -> Result<comments::Model, AppError> {
    let (task, project) = find(db, scope, task_ref).await?;
    super::project_access::ensure_not_archived(&project)?;
    authored_comment(db, scope, task.id, comment_id, "only the author edits or deletes a comment").await
}

/// Comment `comment_id` of task `task_id`, which the actor must have written (`refusal` says what only its author
/// may do).
pub(crate) async fn authored_comment(
    db: &impl ConnectionTrait,
    scope: &Scope,
    task_id: Uuid,
    comment_id: Uuid,
    refusal: &str,
) -> Result<comments::Model, AppError> {
    let c = scope
        .find::<comments::Entity>()
        .filter(comments::Column::Id.eq(comment_id))
        .filter(comments::Column::TaskId.eq(task_id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("comment_not_found"))?;
    if c.author_id != scope.user_id() {
        return Err(AppError::forbidden("not_comment_author", refusal.to_owned()));
    }
    Ok(c)
}

/// Edits the caller's own comment.
pub async fn edit(
    db: &DatabaseConnection,
    scope: &Scope,
    task_ref: &str,
    comment_id: Uuid,
    body: &str,
) -> Result<CommentView, AppError> {
    let c = own_comment(db, scope, task_ref, comment_id).await?;
    let body = check_body(body)?;
    let tx = entities::begin_write(db).await?;
    let task_id = c.task_id;
    let mut active: comments::ActiveModel = c.into();
    active.body = Set(body);
    active.updated_at = Set(entities::now());
    let comment = active.update(&tx).await?;
    outbox::record(
        &tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type: "comment.edited",
            entity_type: "comment",
            entity_id: comment_id,
            payload: json!({ "task_id": task_id }),
        },
    )
    .await?;
    tx.commit().await?;
    let mentions = mentions(db, scope, &comment.body).await?;
    Ok(CommentView { comment, mentions })
}

/// Deletes the caller's own comment.
pub async fn delete(db: &DatabaseConnection, scope: &Scope, task_ref: &str, comment_id: Uuid) -> Result<(), AppError> {
    let c = own_comment(db, scope, task_ref, comment_id).await?;
    let tx = entities::begin_write(db).await?;
    scope.delete_many::<comments::Entity>().filter(comments::Column::Id.eq(c.id)).exec(&tx).await?;
    outbox::record(
        &tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type: "comment.deleted",
            entity_type: "comment",
            entity_id: c.id,
            payload: json!({ "task_id": c.task_id }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Watchers of a task (user ids, oldest first).
pub async fn watchers_of(db: &impl ConnectionTrait, scope: &Scope, task_ref: &str) -> Result<Vec<Uuid>, AppError> {
    let (task, _) = find(db, scope, task_ref).await?;
    Ok(scope
        .find::<watchers::Entity>()
        .filter(watchers::Column::TaskId.eq(task.id))
        .order_by_asc(watchers::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|w| w.user_id)
        .collect())
}

/// Adds a watcher: anyone may watch a task they see; adding someone else needs the write permission.
pub async fn watch(
    db: &DatabaseConnection,
    scope: &Scope,
    task_ref: &str,
    user_id: Uuid,
) -> Result<Vec<Uuid>, AppError> {
    let (task, project) = find(db, scope, task_ref).await?;
    if user_id != scope.user_id() {
        require(scope, Permission::WriteTasks)?;
    }
    if !member_sees(db, scope, user_id, &project).await? {
        return Err(AppError::invalid("user_id", "is not a member with access to this project"));
    }
    let exists = scope
        .find::<watchers::Entity>()
        .filter(watchers::Column::TaskId.eq(task.id))
        .filter(watchers::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .is_some();
    if !exists {
        let tx = entities::begin_write(db).await?;
        watchers::ActiveModel {
            task_id: Set(task.id),
            user_id: Set(user_id),
            org_id: Set(scope.org_id()),
            created_at: Set(entities::now()),
        }
        .insert(&tx)
        .await?;
        outbox::record(
            &tx,
            Event {
                org_id: scope.org_id(),
                actor_id: Some(scope.user_id()),
                event_type: "task.watcher_added",
                entity_type: "task",
                entity_id: task.id,
                payload: json!({ "user_id": user_id }),
            },
        )
        .await?;
        tx.commit().await?;
    }
    watchers_of(db, scope, task_ref).await
}

/// Removes a watcher (oneself, or anyone with the write permission).
pub async fn unwatch(db: &DatabaseConnection, scope: &Scope, task_ref: &str, user_id: Uuid) -> Result<(), AppError> {
    let (task, _) = find(db, scope, task_ref).await?;
    if user_id != scope.user_id() {
        require(scope, Permission::WriteTasks)?;
    }
    let tx = entities::begin_write(db).await?;
    let removed = scope
        .delete_many::<watchers::Entity>()
        .filter(watchers::Column::TaskId.eq(task.id))
        .filter(watchers::Column::UserId.eq(user_id))
        .exec(&tx)
        .await?;
    if removed.rows_affected == 0 {
        return Err(AppError::NotFound("watcher_not_found"));
    }
    outbox::record(
        &tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type: "task.watcher_removed",
            entity_type: "task",
            entity_id: task.id,
            payload: json!({ "user_id": user_id }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
