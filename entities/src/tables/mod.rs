//! One module per table. Tenant tables carry `org_id` and implement [`crate::TenantEntity`].
pub mod account_tokens;
pub mod activity_counters;
pub mod activity_events;
pub mod api_tokens;
pub mod attachments;
pub mod comments;
pub mod failed_jobs;
pub mod idempotency_keys;
pub mod invitations;
pub mod jobs;
pub mod labels;
pub mod memberships;
pub mod notification_preferences;
pub mod notifications;
pub mod orgs;
pub mod outbox;
pub mod processed_jobs;
pub mod project_members;
pub mod projects;
pub mod reminders;
pub mod report_schedules;
pub mod reports;
pub mod sessions;
pub mod statuses;
pub mod task_assignees;
pub mod task_labels;
pub mod tasks;
pub mod user_daily_runs;
pub mod users;
pub mod watchers;

macro_rules! tenant {
    ($($m:ident),*) => {
        $(impl crate::TenantEntity for $m::Entity {
            fn org_id_column() -> Self::Column {
                $m::Column::OrgId
            }
        })*
    };
}

tenant!(
    memberships,
    invitations,
    projects,
    project_members,
    statuses,
    labels,
    tasks,
    task_assignees,
    task_labels,
    comments,
    watchers,
    outbox,
    reminders,
    attachments,
    activity_events,
    activity_counters,
    reports,
    report_schedules
);
