//! The scan Lambda's configuration, read once from its environment at start-up (the function's environment
//! variables in AWS). The SDK reads its own variables (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL` and the
//! per-service `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_SQS`); this is the rest.
use std::sync::Arc;
use std::time::Duration;

use crate::scanner::{Blocklist, BuiltinScanner, ClamdScanner, Scanner};

pub const SCANS_QUEUE_URL: &str = "TASKFORGE_SCANS_QUEUE_URL";
pub const CLAMD_ADDR: &str = "TASKFORGE_CLAMD_ADDR";
pub const CLAMD_TIMEOUT_SECONDS: &str = "TASKFORGE_CLAMD_TIMEOUT_SECONDS";
pub const SCAN_BLOCKLIST_SHA256: &str = "TASKFORGE_SCAN_BLOCKLIST_SHA256";
pub const QUARANTINE_BUCKET: &str = "TASKFORGE_QUARANTINE_BUCKET";

/// The same default as the platform's `clamd_timeout_seconds`.
const DEFAULT_CLAMD_TIMEOUT: Duration = Duration::from_secs(60);

/// What the Lambda needs besides the SDK's own configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where scan results go: the `scans` queue the worker pool reads.
    pub scans_queue_url: String,
    /// clamd's `host:port`; without it the built-in scanner judges (EICAR, block list, executables).
    pub clamd_addr: Option<String>,
    pub clamd_timeout: Duration,
    pub blocklist: Blocklist,
    /// A bucket of its own for infected uploads; without it they move under `quarantine/` in their own bucket.
    pub quarantine_bucket: Option<String>,
}

/// A setting is missing or malformed; the message names the variable and the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("{0} is not set: the scan Lambda needs the URL of the scans queue")]
    Missing(&'static str),
    #[error("{name}={value:?} is invalid: {reason}")]
    Invalid { name: &'static str, value: String, reason: String },
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, SettingsError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup`; blank values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let scans_queue_url = get(SCANS_QUEUE_URL).ok_or(SettingsError::Missing(SCANS_QUEUE_URL))?;
        let clamd_timeout = match get(CLAMD_TIMEOUT_SECONDS) {
            None => DEFAULT_CLAMD_TIMEOUT,
            Some(value) => match value.parse::<u64>() {
                Ok(secs @ 1..=3600) => Duration::from_secs(secs),
                _ => {
                    return Err(SettingsError::Invalid {
                        name: CLAMD_TIMEOUT_SECONDS,
                        value,
                        reason: "expected whole seconds from 1 to 3600".into(),
                    })
                }
            },
        };
        let blocklist =
            match get(SCAN_BLOCKLIST_SHA256) {
                None => Blocklist::default(),
                Some(value) => Blocklist::new(Blocklist::parse_digests(&value).map_err(|e| {
                    SettingsError::Invalid { name: SCAN_BLOCKLIST_SHA256, value: value.clone(), reason: e.to_string() }
                })?),
            };
        Ok(Settings {
            scans_queue_url,
            clamd_addr: get(CLAMD_ADDR),
            clamd_timeout,
            blocklist,
            quarantine_bucket: get(QUARANTINE_BUCKET),
        })
    }

    /// clamd when an address is configured, else the built-in scanner; the block list applies to both.
    pub fn scanner(&self) -> Arc<dyn Scanner> {
        match &self.clamd_addr {
            Some(addr) => Arc::new(
                ClamdScanner::new(addr.clone()).with_timeout(self.clamd_timeout).with_blocklist(self.blocklist.clone()),
            ),
            None => Arc::new(BuiltinScanner::new(self.blocklist.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn the_queue_url_is_required_and_the_rest_has_defaults() {
        assert_eq!(settings(&[]), Err(SettingsError::Missing(SCANS_QUEUE_URL)));
        assert_eq!(settings(&[(SCANS_QUEUE_URL, "  ")]), Err(SettingsError::Missing(SCANS_QUEUE_URL)));
        let s = settings(&[(SCANS_QUEUE_URL, "https://sqs/q"), (CLAMD_ADDR, "")]).unwrap();
        assert_eq!(s.scans_queue_url, "https://sqs/q");
        assert_eq!((s.clamd_addr, s.quarantine_bucket), (None, None));
        assert_eq!(s.clamd_timeout, DEFAULT_CLAMD_TIMEOUT);
        assert!(s.blocklist.is_empty());
    }

    #[test]
    fn every_setting_is_read_and_a_bad_value_is_named() {
        let digest = "ab".repeat(32);
        let s = settings(&[
            (SCANS_QUEUE_URL, "https://sqs/q"),
            (CLAMD_ADDR, "127.0.0.1:3310"),
            (CLAMD_TIMEOUT_SECONDS, "90"),
            (SCAN_BLOCKLIST_SHA256, &digest),
            (QUARANTINE_BUCKET, "tf-quarantine"),
        ])
        .unwrap();
        assert_eq!(s.clamd_addr.as_deref(), Some("127.0.0.1:3310"));
        assert_eq!(s.clamd_timeout, Duration::from_secs(90));
        assert!(s.blocklist.contains(&[0xab; 32]));
        assert_eq!(s.quarantine_bucket.as_deref(), Some("tf-quarantine"));

        let bad = settings(&[(SCANS_QUEUE_URL, "q"), (SCAN_BLOCKLIST_SHA256, "beef")]).unwrap_err();
        assert!(matches!(&bad, SettingsError::Invalid { name: SCAN_BLOCKLIST_SHA256, .. }), "{bad}");
        let bad = settings(&[(SCANS_QUEUE_URL, "q"), (CLAMD_TIMEOUT_SECONDS, "0")]).unwrap_err();
        assert!(bad.to_string().contains("TASKFORGE_CLAMD_TIMEOUT_SECONDS=\"0\""), "{bad}");
    }
}
