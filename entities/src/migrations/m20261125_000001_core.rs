//! The multi-tenant core: users, orgs, memberships, projects, tasks and their satellites, outbox, idempotency keys.
use super::columns::{composite_pk, index, table, Cols};
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000001_core"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let c = Cols { backend: manager.get_database_backend() };
        let tables = vec![
            table("users")
                .col(c.pk("id"))
                .col(c.string("email", 320).unique_key())
                .col(c.string("name", 200))
                .col(c.string("password_hash", 200))
                .col(c.string("time_zone", 64))
                .col(c.string("locale", 35))
                .col(c.time_null("email_verified_at"))
                .col(c.time("created_at"))
                .col(c.time("updated_at"))
                .to_owned(),
            table("orgs")
                .col(c.pk("id"))
                .col(c.string("name", 200))
                .col(c.time("created_at"))
                .col(c.time("updated_at"))
                .to_owned(),
            table("memberships")
                .col(c.pk("id"))
                .col(c.uuid("org_id"))
                .col(c.uuid("user_id"))
                .col(c.string("role", 16))
                .col(c.time("created_at"))
                .to_owned(),
            table("invitations")
                .col(c.pk("id"))
                .col(c.uuid("org_id"))
                .col(c.string("email", 320))
                .col(c.string("role", 16))
                .col(c.string("token_hash", 64).unique_key())
                .col(c.uuid("invited_by"))
                .col(c.time("expires_at"))
                .col(c.time_null("accepted_at"))
                .col(c.time_null("revoked_at"))
                .col(c.time("created_at"))
                .to_owned(),
            table("sessions")
                .col(c.pk("id"))
                .col(c.uuid("user_id"))
                .col(c.string("token_hash", 64).unique_key())
                .col(c.string("csrf_token", 64))
                .col(c.time("expires_at"))
                .col(c.time("created_at"))
                .col(c.time("last_seen_at"))
                .to_owned(),
            table("api_tokens")
                .col(c.pk("id"))
                .col(c.uuid("user_id"))
                .col(c.string("name", 200))
                .col(c.string("token_hash", 64).unique_key())
                .col(c.string("prefix", 16))
                .col(c.string("scopes", 64))
                .col(c.time_null("expires_at"))
                .col(c.time_null("last_used_at"))
                .col(c.time_null("revoked_at"))
                .col(c.time("created_at"))
                .to_owned(),
            table("projects")
                .col(c.pk("id"))
                .col(c.uuid("org_id"))
                .col(c.string("key", 10))
                .col(c.string("name", 200))
                .col(c.text("description"))
                .col(c.string("visibility", 16))
                .col(ColumnDef::new(Alias::new("next_number")).big_integer().not_null())
                .col(c.time_null("archived_at"))
                .col(c.uuid("created_by"))
                .col(c.time("created_at"))
                .col(c.time("updated_at"))
                .to_owned(),
            table("project_members")
                .col(c.uuid("project_id"))
                .col(c.uuid("user_id"))
                .col(c.uuid("org_id"))
                .col(c.time("created_at"))
                .primary_key(&mut composite_pk("project_id", "user_id"))
                .to_owned(),
            table("statuses")
                .col(c.pk("id"))
                .col(c.uuid("org_id"))
                .col(c.uuid("project_id"))
                .col(c.string("name", 100))
                .col(c.string("category", 16))
                .col(c.int("position"))
                .col(c.time("created_at"))
                .to_owned(),
            table("labels")
                .col(c.pk("id"))
                .col(c.uuid("org_id"))
                .col(c.uuid("project_id"))
                .col(c.string("name", 100))
                .col(c.string("color", 7))
                .col(c.time("created_at"))
                .to_owned(),
            table("tasks")
                .col(c.pk("id"))
                .col(c.uuid("org_id"))
                .col(c.uuid("project_id"))
                .col(ColumnDef::new(Alias::new("number")).big_integer().not_null())
                .col(c.string("title", 500))
                .col(c.text("description"))
                .col(c.uuid("status_id"))
                .col(ColumnDef::new(Alias::new("priority")).small_integer().not_null())
                .col(c.time_null("due_at"))
                .col(c.time_null("start_at"))
                .col(ColumnDef::new(Alias::new("estimate")).integer().null())
                .col(c.uuid_null("parent_id"))
                .col(ColumnDef::new(Alias::new("position")).double().not_null())
                .col(c.int("version"))
                .col(c.time_null("completed_at"))
                .col(c.time_null("deleted_at"))
                .col(c.uuid("created_by"))
                .col(c.time("created_at"))
                .col(c.time("updated_at"))
                .to_owned(),
            table("task_assignees")
                .col(c.uuid("task_id"))
                .col(c.uuid("user_id"))
                .col(c.uuid("org_id"))
                .primary_key(&mut composite_pk("task_id", "user_id"))
                .to_owned(),
            table("task_labels")
                .col(c.uuid("task_id"))
                .col(c.uuid("label_id"))
                .col(c.uuid("org_id"))
                .primary_key(&mut composite_pk("task_id", "label_id"))
                .to_owned(),
            table("comments")
                .col(c.pk("id"))
                .col(c.uuid("org_id"))
                .col(c.uuid("task_id"))
                .col(c.uuid("author_id"))
                .col(c.text("body"))
                .col(c.time("created_at"))
                .col(c.time("updated_at"))
                .to_owned(),
            table("watchers")
                .col(c.uuid("task_id"))
                .col(c.uuid("user_id"))
                .col(c.uuid("org_id"))
                .col(c.time("created_at"))
                .primary_key(&mut composite_pk("task_id", "user_id"))
                .to_owned(),
            table("outbox")
                .col(c.pk("id"))
                .col(c.uuid("org_id"))
                .col(c.string("event_type", 64))
                .col(c.uuid_null("actor_id"))
                .col(c.string("entity_type", 32))
                .col(c.uuid("entity_id"))
                .col(ColumnDef::new(Alias::new("payload")).json().not_null())
                .col(c.time("created_at"))
                .col(c.time_null("published_at"))
                .to_owned(),
            table("idempotency_keys")
                .col(c.uuid("user_id"))
                .col(c.string("key", 255))
                .col(c.string("request_hash", 64))
                .col(c.int("response_status"))
                .col(ColumnDef::new(Alias::new("response_body")).text().not_null())
                .col(c.time("created_at"))
                .primary_key(&mut composite_pk("user_id", "key"))
                .to_owned(),
        ];
        for t in tables {
            manager.create_table(t).await?;
        }
        let indexes = [
            index("memberships", "ux_memberships_org_user", &["org_id", "user_id"], true),
            index("memberships", "ix_memberships_user", &["user_id"], false),
            index("invitations", "ix_invitations_org", &["org_id", "created_at"], false),
            index("sessions", "ix_sessions_user", &["user_id"], false),
            index("api_tokens", "ix_api_tokens_user", &["user_id", "created_at"], false),
            index("projects", "ux_projects_org_key", &["org_id", "key"], true),
            index("project_members", "ix_project_members_user", &["user_id"], false),
            index("statuses", "ix_statuses_project", &["project_id", "position"], false),
            index("labels", "ux_labels_project_name", &["project_id", "name"], true),
            index("tasks", "ux_tasks_project_number", &["project_id", "number"], true),
            index("tasks", "ix_tasks_project_status_position", &["project_id", "status_id", "position"], false),
            index("tasks", "ix_tasks_project_updated", &["project_id", "updated_at"], false),
            index("tasks", "ix_tasks_project_due", &["project_id", "due_at"], false),
            index("tasks", "ix_tasks_project_priority", &["project_id", "priority"], false),
            index("tasks", "ix_tasks_parent", &["parent_id"], false),
            index("task_assignees", "ix_task_assignees_user", &["user_id", "task_id"], false),
            index("task_labels", "ix_task_labels_label", &["label_id", "task_id"], false),
            index("comments", "ix_comments_task", &["task_id", "created_at"], false),
            index("watchers", "ix_watchers_user", &["user_id"], false),
            index("outbox", "ix_outbox_unpublished", &["published_at", "id"], false),
            index("idempotency_keys", "ix_idempotency_created", &["created_at"], false),
        ];
        for i in indexes {
            manager.create_index(i).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "idempotency_keys",
            "outbox",
            "watchers",
            "comments",
            "task_labels",
            "task_assignees",
            "tasks",
            "labels",
            "statuses",
            "project_members",
            "projects",
            "api_tokens",
            "sessions",
            "invitations",
            "memberships",
            "orgs",
            "users",
        ] {
            manager.drop_table(Table::drop().table(Alias::new(t)).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
