//! Notifications: created from events ([`NotificationSink`]) and by the scheduler (reminders), shown in the app,
//! and emailed by the `notify` job according to each recipient's preferences.
pub mod create;
pub mod fanout;

pub use create::{create, preference, NewNotification};
pub use entities::notification_kinds::{email_state, Channel, Kind};
pub use fanout::NotificationSink;
