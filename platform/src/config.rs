//! Configuration: built-in defaults, then an optional `taskforge.toml` (or the file named by `TASKFORGE_CONFIG`),
//! then `TASKFORGE_*` environment variables. Everything is validated into typed values before anything starts, and
//! an invalid value stops start-up with a message that names the key.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Raw settings as read from the layers; turned into [`Config`] by [`Config::load`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
struct RawConfig {
    http_addr: String,
    public_url: String,
    data_dir: String,
    database_url: Option<String>,
    database_max_connections: u32,
    queue: String,
    sqs_prefix: String,
    storage: String,
    s3_bucket: Option<String>,
    mail: String,
    mail_from: String,
    ses_configuration_set: Option<String>,
    events: String,
    dynamodb_table: String,
    event_ttl_days: u32,
    bus: String,
    cache: String,
    aws_region: String,
    aws_endpoint_url: Option<String>,
    secret_key: Option<String>,
    log: String,
    log_format: String,
    cors_origins: String,
    body_limit_bytes: u64,
    session_ttl_hours: u64,
    login_attempts_per_minute: u32,
    token_requests_per_minute: u32,
    invitation_ttl_hours: u64,
    cookie_secure: bool,
    scheduler_tick_seconds: u64,
    clamd_addr: Option<String>,
    clamd_timeout_seconds: u64,
    scan_blocklist_sha256: String,
    attachment_max_bytes: u64,
    #[serde(deserialize_with = "list_text")]
    thumbnail_sizes: String,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            http_addr: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            data_dir: "./var".into(),
            database_url: None,
            database_max_connections: 32,
            queue: "database".into(),
            sqs_prefix: "taskforge".into(),
            storage: "local".into(),
            s3_bucket: None,
            mail: "outbox".into(),
            mail_from: "Taskforge <no-reply@taskforge.localhost>".into(),
            ses_configuration_set: None,
            events: "database".into(),
            dynamodb_table: "taskforge-events".into(),
            event_ttl_days: 400,
            bus: "memory".into(),
            cache: "memory".into(),
            aws_region: "us-east-1".into(),
            aws_endpoint_url: None,
            secret_key: None,
            log: "info".into(),
            log_format: "pretty".into(),
            cors_origins: String::new(),
            body_limit_bytes: 1024 * 1024,
            session_ttl_hours: 24 * 14,
            login_attempts_per_minute: 10,
            token_requests_per_minute: 600,
            invitation_ttl_hours: 24 * 7,
            cookie_secure: false,
            scheduler_tick_seconds: 30,
            clamd_addr: None,
            clamd_timeout_seconds: 60,
            scan_blocklist_sha256: String::new(),
            attachment_max_bytes: 100 * 1024 * 1024,
            thumbnail_sizes: "64,256,1024".into(),
        }
    }
}

/// Which database the process talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    MySql,
}

/// Queue adapter selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    Database,
    Sqs,
}

/// Storage adapter selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    Local,
    S3,
}

/// Mail adapter selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    Outbox,
    Ses,
}

/// Event store selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsKind {
    Database,
    DynamoDb,
}

/// Cache adapter selection (see `platform::cache`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheKind {
    /// In this process only: right for `serve`, wrong for several `api` processes.
    Memory,
    /// No cache: every lookup reads the database.
    None,
    /// Redis at this URL, shared by every process.
    Redis(String),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Validated configuration of one process.
#[derive(Debug, Clone)]
pub struct Config {
    pub http_addr: SocketAddr,
    pub public_url: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub database_kind: DatabaseKind,
    /// Connections in the MySQL pool of this process (SQLite always uses one).
    pub database_max_connections: u32,
    pub queue: QueueKind,
    pub sqs_prefix: String,
    pub storage: StorageKind,
    pub s3_bucket: Option<String>,
    pub mail: MailKind,
    /// Sender of every mail: `"Name <address>"` or a bare address.
    pub mail_from: String,
    /// SES configuration set named on every send (event publishing: bounces, complaints); `None` for none.
    pub ses_configuration_set: Option<String>,
    pub events: EventsKind,
    pub dynamodb_table: String,
    /// Days raw activity events are kept (DynamoDB TTL, `expires_at` in the database); counters are kept.
    pub event_ttl_days: u32,
    /// `None` for the in-process bus, else the Redis URL.
    pub bus_redis_url: Option<String>,
    /// Where sessions, tokens and memberships are cached.
    pub cache: CacheKind,
    /// Region of every AWS client (SQS, SES, S3, DynamoDB).
    pub aws_region: String,
    /// Overrides the AWS endpoints (a moto server or LocalStack); `None` in AWS.
    pub aws_endpoint_url: Option<String>,
    /// Key for derived tokens and signatures (see `secret_key`); `None` uses `{data_dir}/secret.key`.
    pub secret_key: Option<String>,
    pub log: String,
    pub log_format: LogFormat,
    /// Origins allowed by CORS; empty means same-origin only.
    pub cors_origins: Vec<String>,
    pub body_limit_bytes: u64,
    pub session_ttl_hours: u64,
    pub login_attempts_per_minute: u32,
    pub token_requests_per_minute: u32,
    pub invitation_ttl_hours: u64,
    /// Mark session cookies `Secure` (on behind HTTPS).
    pub cookie_secure: bool,
    /// How often `serve` enqueues a scheduler tick (reminders, daily digests).
    pub scheduler_tick: std::time::Duration,
    /// clamd to scan uploads with (`host:port`); `None` uses the built-in scanner.
    pub clamd_addr: Option<String>,
    /// Limit on each step of a clamd exchange, including the wait for the verdict (see `ClamdScanner::with_timeout`).
    pub clamd_timeout: std::time::Duration,
    /// SHA-256 digests of files never to serve, whichever scanner runs.
    pub scan_blocklist_sha256: Vec<[u8; 32]>,
    /// The largest upload any org accepts (an org may set a lower limit of its own).
    pub attachment_max_bytes: u64,
    /// Bounding boxes of the thumbnails made of image attachments, ascending.
    pub thumbnail_sizes: Vec<u32>,
}

/// A configuration value could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Read(#[from] Box<figment::Error>),
    #[error("configuration key `{key}` (env TASKFORGE_{env}): invalid value `{value}`: {reason}")]
    Invalid { key: &'static str, env: String, value: String, reason: String },
}

fn invalid(key: &'static str, value: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, env: key.to_ascii_uppercase(), value: value.into(), reason: reason.into() }
}

fn one_of<T: Copy>(key: &'static str, value: &str, options: &[(&str, T)]) -> Result<T, ConfigError> {
    options.iter().find(|(name, _)| *name == value).map(|(_, v)| *v).ok_or_else(|| {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        invalid(key, value, format!("expected one of {}", names.join(", ")))
    })
}

impl Config {
    /// Loads defaults → `taskforge.toml` (or `$TASKFORGE_CONFIG`) → `TASKFORGE_*` env, and validates.
    pub fn load() -> Result<Config, ConfigError> {
        let file = std::env::var("TASKFORGE_CONFIG").unwrap_or_else(|_| "taskforge.toml".into());
        Self::from_figment(
            Figment::from(Serialized::defaults(RawConfig::default()))
                .merge(Toml::file(file))
                .merge(Env::prefixed("TASKFORGE_").ignore(&["config"])),
        )
    }

    /// Defaults overlaid with the given `key = value` pairs only (no file, no environment): for tests and tools.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(RawConfig::default()));
        for (k, v) in pairs {
            // Parse like an environment variable would be, so "10" is a number and "true" a boolean.
            let value: figment::value::Value = v.parse().unwrap_or_else(|_| v.clone().into());
            fig = fig.merge(Serialized::default(k, value));
        }
        Self::from_figment(fig)
    }

    fn from_figment(fig: Figment) -> Result<Config, ConfigError> {
        let raw: RawConfig = fig.extract().map_err(|e| ConfigError::Read(Box::new(e)))?;
        let http_addr = raw
            .http_addr
            .parse()
            .map_err(|_| invalid("http_addr", &raw.http_addr, "expected host:port, e.g. 127.0.0.1:8080"))?;
        if !(raw.public_url.starts_with("http://") || raw.public_url.starts_with("https://")) {
            return Err(invalid("public_url", &raw.public_url, "expected an http:// or https:// URL"));
        }
        let data_dir = PathBuf::from(&raw.data_dir);
        let database_url = raw
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", Path::new(&raw.data_dir).join("taskforge.db").display()));
        let database_kind = if database_url.starts_with("sqlite:") {
            DatabaseKind::Sqlite
        } else if database_url.starts_with("mysql://") || database_url.starts_with("mariadb://") {
            DatabaseKind::MySql
        } else {
            return Err(invalid("database_url", &database_url, "expected sqlite://PATH or mysql://USER@HOST/DB"));
        };
        let queue = one_of("queue", &raw.queue, &[("database", QueueKind::Database), ("sqs", QueueKind::Sqs)])?;
        let storage = one_of("storage", &raw.storage, &[("local", StorageKind::Local), ("s3", StorageKind::S3)])?;
        if storage == StorageKind::S3 && raw.s3_bucket.as_deref().unwrap_or("").is_empty() {
            return Err(invalid("s3_bucket", "", "required when storage = s3"));
        }
        let mail = one_of("mail", &raw.mail, &[("outbox", MailKind::Outbox), ("ses", MailKind::Ses)])?;
        if let Err(e) = crate::mail::validate_address(&raw.mail_from) {
            return Err(invalid("mail_from", &raw.mail_from, e.to_string()));
        }
        let ses_configuration_set = raw.ses_configuration_set.filter(|s| !s.trim().is_empty());
        let events =
            one_of("events", &raw.events, &[("database", EventsKind::Database), ("dynamodb", EventsKind::DynamoDb)])?;
        if raw.dynamodb_table.trim().is_empty() {
            return Err(invalid("dynamodb_table", "", "must name a table"));
        }
        if !(1..=36_500).contains(&raw.event_ttl_days) {
            return Err(invalid("event_ttl_days", raw.event_ttl_days.to_string(), "must be between 1 and 36500"));
        }
        let bus_redis_url = match raw.bus.as_str() {
            "memory" => None,
            url if url.starts_with("redis://") || url.starts_with("rediss://") => Some(url.to_owned()),
            other => return Err(invalid("bus", other, "expected `memory` or a redis:// URL")),
        };
        let cache = match raw.cache.as_str() {
            "memory" => CacheKind::Memory,
            "none" => CacheKind::None,
            url if url.starts_with("redis://") || url.starts_with("rediss://") => CacheKind::Redis(url.to_owned()),
            other => return Err(invalid("cache", other, "expected `memory`, `none` or a redis:// URL")),
        };
        if raw.aws_region.trim().is_empty() {
            return Err(invalid("aws_region", "", "must name a region, e.g. eu-west-1"));
        }
        let aws_endpoint_url = raw.aws_endpoint_url.filter(|u| !u.trim().is_empty());
        if let Some(url) = &aws_endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid("aws_endpoint_url", url, "expected an http:// or https:// URL"));
            }
        }
        let secret_key = raw.secret_key.filter(|k| !k.is_empty());
        if secret_key.as_ref().is_some_and(|k| k.len() < crate::secret_key::MIN_LEN) {
            return Err(invalid("secret_key", "(hidden)", "must be at least 32 characters"));
        }
        let log_format =
            one_of("log_format", &raw.log_format, &[("pretty", LogFormat::Pretty), ("json", LogFormat::Json)])?;
        if raw.body_limit_bytes < 1024 {
            return Err(invalid("body_limit_bytes", raw.body_limit_bytes.to_string(), "must be at least 1024"));
        }
        if !(1..=1000).contains(&raw.database_max_connections) {
            let value = raw.database_max_connections.to_string();
            return Err(invalid("database_max_connections", value, "must be between 1 and 1000"));
        }
        if raw.login_attempts_per_minute == 0 {
            return Err(invalid("login_attempts_per_minute", "0", "must be at least 1"));
        }
        if raw.token_requests_per_minute == 0 {
            return Err(invalid("token_requests_per_minute", "0", "must be at least 1"));
        }
        if raw.session_ttl_hours == 0 {
            return Err(invalid("session_ttl_hours", "0", "must be at least 1"));
        }
        if !(1..=3600).contains(&raw.scheduler_tick_seconds) {
            return Err(invalid(
                "scheduler_tick_seconds",
                raw.scheduler_tick_seconds.to_string(),
                "must be between 1 and 3600",
            ));
        }
        let clamd_addr = raw.clamd_addr.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
        if let Some(addr) = &clamd_addr {
            let port_ok =
                addr.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                return Err(invalid("clamd_addr", addr, "expected host:port, e.g. 127.0.0.1:3310"));
            }
        }
        if !(1..=3600).contains(&raw.clamd_timeout_seconds) {
            return Err(invalid(
                "clamd_timeout_seconds",
                raw.clamd_timeout_seconds.to_string(),
                "must be between 1 and 3600",
            ));
        }
        let scan_blocklist_sha256 = crate::scanner::Blocklist::parse_digests(&raw.scan_blocklist_sha256)
            .map_err(|e| invalid("scan_blocklist_sha256", &raw.scan_blocklist_sha256, e.to_string()))?;
        if !(1..=5 * 1024 * 1024 * 1024).contains(&raw.attachment_max_bytes) {
            return Err(invalid(
                "attachment_max_bytes",
                raw.attachment_max_bytes.to_string(),
                "must be between 1 and 5368709120 (5 GiB, the largest single S3 upload)",
            ));
        }
        let thumbnail_sizes = parse_thumbnail_sizes(&raw.thumbnail_sizes).ok_or_else(|| {
            invalid(
                "thumbnail_sizes",
                &raw.thumbnail_sizes,
                "expected 1 to 8 sizes between 16 and 4096 px, e.g. 64,256,1024",
            )
        })?;
        let cors_origins =
            raw.cors_origins.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
        Ok(Config {
            http_addr,
            public_url: raw.public_url.trim_end_matches('/').to_owned(),
            data_dir,
            database_url,
            database_kind,
            database_max_connections: raw.database_max_connections,
            queue,
            sqs_prefix: raw.sqs_prefix,
            storage,
            s3_bucket: raw.s3_bucket,
            mail,
            mail_from: raw.mail_from,
            ses_configuration_set,
            events,
            dynamodb_table: raw.dynamodb_table,
            event_ttl_days: raw.event_ttl_days,
            bus_redis_url,
            cache,
            aws_region: raw.aws_region,
            aws_endpoint_url: aws_endpoint_url.map(|u| u.trim_end_matches('/').to_owned()),
            secret_key,
            log: raw.log,
            log_format,
            cors_origins,
            body_limit_bytes: raw.body_limit_bytes,
            session_ttl_hours: raw.session_ttl_hours,
            login_attempts_per_minute: raw.login_attempts_per_minute,
            token_requests_per_minute: raw.token_requests_per_minute,
            invitation_ttl_hours: raw.invitation_ttl_hours,
            cookie_secure: raw.cookie_secure,
            scheduler_tick: std::time::Duration::from_secs(raw.scheduler_tick_seconds),
            clamd_addr,
            clamd_timeout: std::time::Duration::from_secs(raw.clamd_timeout_seconds),
            scan_blocklist_sha256,
            attachment_max_bytes: raw.attachment_max_bytes,
            thumbnail_sizes,
        })
    }
}

/// A comma-separated list as text. The environment layer reads a lone number (`TASKFORGE_THUMBNAIL_SIZES=256`) as
/// an integer and a TOML file may hold an array, so both are accepted and turned back into the text form.
fn list_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListText {
        Text(String),
        Number(u64),
        Numbers(Vec<u64>),
    }
    Ok(match ListText::deserialize(deserializer)? {
        ListText::Text(s) => s,
        ListText::Number(n) => n.to_string(),
        ListText::Numbers(v) => v.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
    })
}

/// `64,256,1024` → sorted distinct sizes, each 16–4096 px, one to eight of them.
fn parse_thumbnail_sizes(list: &str) -> Option<Vec<u32>> {
    let mut sizes = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let size: u32 = part.parse().ok()?;
        if !(16..=4096).contains(&size) {
            return None;
        }
        sizes.push(size);
    }
    sizes.sort_unstable();
    sizes.dedup();
    (1..=8).contains(&sizes.len()).then_some(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnail_sizes_and_the_upload_limit_are_checked() {
        let c = Config::from_pairs([("thumbnail_sizes", " 1024,64 ,256,64".to_owned())]).unwrap();
        assert_eq!(c.thumbnail_sizes, vec![64, 256, 1024]);
        assert_eq!(c.attachment_max_bytes, 100 * 1024 * 1024);
        assert_eq!(Config::from_pairs([("thumbnail_sizes", "256".to_owned())]).unwrap().thumbnail_sizes, vec![256]);
        for bad in ["", "8", "64,x", "5000"] {
            let err = Config::from_pairs([("thumbnail_sizes", bad.to_owned())]).unwrap_err().to_string();
            assert!(err.contains("`thumbnail_sizes`"), "{err}");
        }
        let err = Config::from_pairs([("attachment_max_bytes", "0".to_owned())]).unwrap_err().to_string();
        assert!(err.contains("`attachment_max_bytes`"), "{err}");
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let c = Config::from_pairs([]).unwrap();
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_kind, DatabaseKind::Sqlite);
        assert!(c.database_url.ends_with("taskforge.db"));
        assert_eq!(c.queue, QueueKind::Database);
        assert!(c.bus_redis_url.is_none());
    }

    #[test]
    fn an_invalid_value_names_its_key() {
        let err = Config::from_pairs([("queue", "kafka".to_string())]).unwrap_err().to_string();
        assert!(err.contains("`queue`") && err.contains("TASKFORGE_QUEUE") && err.contains("kafka"), "{err}");
        let err = Config::from_pairs([("http_addr", "nowhere".to_string())]).unwrap_err().to_string();
        assert!(err.contains("`http_addr`"), "{err}");
        let err = Config::from_pairs([("storage", "s3".to_string())]).unwrap_err().to_string();
        assert!(err.contains("`s3_bucket`"), "{err}");
        let err = Config::from_pairs([("mail_from", "Taskforge <no-reply>".to_string())]).unwrap_err().to_string();
        assert!(err.contains("`mail_from`") && err.contains("TASKFORGE_MAIL_FROM"), "{err}");
    }

    #[test]
    fn scanner_settings_are_validated() {
        let c = Config::from_pairs([]).unwrap();
        assert!(c.clamd_addr.is_none() && c.scan_blocklist_sha256.is_empty());
        let digest = "ab".repeat(32);
        let c = Config::from_pairs([
            ("clamd_addr", "clamav.internal:3310".to_string()),
            ("scan_blocklist_sha256", format!("{digest}, {}", "CD".repeat(32))),
        ])
        .unwrap();
        assert_eq!(c.clamd_addr.as_deref(), Some("clamav.internal:3310"));
        assert_eq!(c.scan_blocklist_sha256, vec![[0xab; 32], [0xcd; 32]]);
        let err = Config::from_pairs([("clamd_addr", "clamav".to_string())]).unwrap_err().to_string();
        assert!(err.contains("`clamd_addr`") && err.contains("TASKFORGE_CLAMD_ADDR"), "{err}");
        let err = Config::from_pairs([("scan_blocklist_sha256", format!("{digest},nope"))]).unwrap_err().to_string();
        assert!(err.contains("`scan_blocklist_sha256`") && err.contains("`nope`"), "{err}");
    }

    #[test]
    fn the_cache_is_memory_none_or_a_redis_url() {
        assert_eq!(Config::from_pairs([]).unwrap().cache, CacheKind::Memory);
        assert_eq!(Config::from_pairs([("cache", "none".to_owned())]).unwrap().cache, CacheKind::None);
        let url = "rediss://cache.internal:6379/0";
        assert_eq!(Config::from_pairs([("cache", url.to_owned())]).unwrap().cache, CacheKind::Redis(url.into()));
        for bad in ["redis", "memcached://x", ""] {
            let err = Config::from_pairs([("cache", bad.to_owned())]).unwrap_err().to_string();
            assert!(err.contains("`cache`") && err.contains("TASKFORGE_CACHE"), "{err}");
        }
    }

    #[test]
    fn the_database_pool_size_is_bounded() {
        assert_eq!(Config::from_pairs([]).unwrap().database_max_connections, 32);
        let c = Config::from_pairs([("database_max_connections", "8".to_owned())]).unwrap();
        assert_eq!(c.database_max_connections, 8);
        for bad in ["0", "1001"] {
            let err = Config::from_pairs([("database_max_connections", bad.to_owned())]).unwrap_err().to_string();
            assert!(
                err.contains("`database_max_connections`") && err.contains("TASKFORGE_DATABASE_MAX_CONNECTIONS"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let err = Config::from_pairs([("body_limit_bytes", "lots".to_string())]).unwrap_err().to_string();
        assert!(err.contains("body_limit_bytes"), "{err}");
    }
}
