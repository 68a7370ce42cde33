//! The notification kinds, their default channel, and how a user's preference maps to an email state.
use std::fmt;
use std::str::FromStr;

/// What a notification is about. The name is the `kind` column, the email template and the preference key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    TaskAssigned,
    Mentioned,
    TaskCommented,
    TaskStatusChanged,
    TaskDueChanged,
    Reminder,
    ReportReady,
    /// A file you uploaded was found infected and quarantined.
    AttachmentInfected,
}

/// Where a kind goes for one user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// In-app and by email (immediately, or in the daily digest when the user chose it).
    Email,
    InApp,
    Off,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::TaskAssigned,
        Kind::Mentioned,
        Kind::TaskCommented,
        Kind::TaskStatusChanged,
        Kind::TaskDueChanged,
        Kind::Reminder,
        Kind::ReportReady,
        Kind::AttachmentInfected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::TaskAssigned => "task_assigned",
            Kind::Mentioned => "mentioned",
            Kind::TaskCommented => "task_commented",
            Kind::TaskStatusChanged => "task_status_changed",
            Kind::TaskDueChanged => "task_due_changed",
            Kind::Reminder => "reminder",
            Kind::ReportReady => "report_ready",
            Kind::AttachmentInfected => "attachment_infected",
        }
    }

    /// What a user gets without a preference row. Things addressed to you personally are emailed; the chatter of
    /// tasks you merely watch stays in the app, as most trackers do, so mail stays worth reading.
    pub fn default_channel(self) -> Channel {
        match self {
            Kind::TaskAssigned | Kind::Mentioned | Kind::Reminder | Kind::ReportReady | Kind::AttachmentInfected => {
                Channel::Email
            }
            Kind::TaskCommented | Kind::TaskStatusChanged | Kind::TaskDueChanged => Channel::InApp,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Not a notification kind or channel name.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} `{value}`")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
}

impl FromStr for Kind {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Kind, UnknownName> {
        Kind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| UnknownName { what: "kind", value: s.to_owned() })
    }
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::InApp, Channel::Off];

    pub fn name(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::InApp => "in_app",
            Channel::Off => "off",
        }
    }
}

impl FromStr for Channel {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Channel, UnknownName> {
        Channel::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownName { what: "channel", value: s.to_owned() })
    }
}

/// The `email_state` values of a notification row.
pub mod email_state {
    /// In-app only.
    pub const NONE: &str = "none";
    /// To be emailed now by a `notify` job.
    pub const PENDING: &str = "pending";
    /// Waits for the recipient's daily digest.
    pub const DIGEST: &str = "digest";
    pub const SENT: &str = "sent";
    /// Was to be emailed, but the preference changed or the recipient became unreachable before sending.
    pub const SKIPPED: &str = "skipped";
}

/// The preference row key of the digest switch, beside the kinds: channel `daily` batches every email of the day
/// into one message, `immediate` (the default) sends each at once.
pub const DIGEST_PREFERENCE: &str = "digest";
pub const DIGEST_DAILY: &str = "daily";
pub const DIGEST_IMMEDIATE: &str = "immediate";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(k.name().parse::<Kind>().unwrap(), k);
        }
        for c in Channel::ALL {
            assert_eq!(c.name().parse::<Channel>().unwrap(), c);
        }
        assert!("digest".parse::<Kind>().is_err());
        assert!("sms".parse::<Channel>().is_err());
    }
}
