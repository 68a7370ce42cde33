//! The HTTP surface: one `#[OpenApi]` struct per area, the middleware, and small shared DTO helpers.
pub mod activity_api;
pub mod analytics_api;
pub mod attachments_api;
pub mod auth_api;
pub mod blobs;
pub mod body_limit;
pub mod idempotency;
pub mod notifications_api;
pub mod observe;
pub mod orgs_api;
pub mod outbox_announce;
pub mod projects_api;
pub mod reminders_api;
pub mod reports_api;
pub mod request_id;
pub mod serde_body;
pub mod stream_api;
pub mod tasks_api;
pub mod types;

/// The tags operations are grouped under in the spec.
#[derive(poem_openapi::Tags)]
pub enum ApiTags {
    /// Sign-up, sign-in, sessions, profile, personal access tokens.
    Auth,
    /// Organisations, members and invitations.
    Orgs,
    /// Projects, their members, statuses and labels.
    Projects,
    /// Tasks, board moves, comments, watchers and reminders.
    Tasks,
    /// My in-app notifications and where each kind is delivered.
    Notifications,
    /// What happened: the org's, a project's, a task's and a member's activity, and exports.
    Activity,
    /// The dashboard's figures: created vs completed, throughput, workload, cycle and lead time, flow.
    Analytics,
    /// Project summaries, team activity and overdue tasks as CSV or XLSX files, built in the background.
    Reports,
}
