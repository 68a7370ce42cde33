//! The one error type of the API's domain services. Variants say what went wrong in domain terms; `problem.rs`
//! maps each to an HTTP status and an RFC 9457 problem with a stable `code`.
use sea_orm::DbErr;

/// A field that failed validation, reported in the problem's `errors` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Why a request could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No credentials, or credentials that are wrong, expired or revoked.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The actor is known but may not do this. `code` names the rule.
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    /// The thing does not exist, or lives in an org or project the actor cannot see. `code` is e.g.
    /// `task_not_found`.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the current state (duplicate key, last owner, …).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// `If-Match` named a version that is no longer current.
    #[error("the resource changed since version {expected}; it is now at version {current}")]
    StaleVersion { expected: i32, current: i32 },
    /// A precondition header is required but missing.
    #[error("{0}")]
    PreconditionRequired(&'static str),
    /// Input that parsed but breaks a rule; each bad field is named.
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    /// Input that could not be understood at all.
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// The thing existed but is no longer available (an expired report).
    #[error("{detail}")]
    Gone { code: &'static str, detail: String },
    /// The thing to store is larger than its limit.
    #[error("{detail}")]
    TooLarge { code: &'static str, detail: String },
    /// Too many attempts; retry after the given number of seconds.
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// A service the request needs (the job queue) is down; nothing was lost, retry later.
    #[error("{detail}")]
    Unavailable { code: &'static str, detail: String },
    /// Anything else: logged once where it becomes a 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// A single-field validation error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::Validation(vec![FieldError { field: field.into(), message: message.into() }])
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> AppError {
        AppError::Forbidden { code, detail: detail.into() }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> AppError {
        AppError::Conflict { code, detail: detail.into() }
    }
}

impl From<DbErr> for AppError {
    fn from(e: DbErr) -> Self {
        // The database aborted the transaction to break a deadlock (or gave up waiting for a lock): nothing was
        // saved, and the same request sent again succeeds. Two writes that lock the same rows in opposite orders
        // (a PATCH of a task's labels while that label is deleted) end this way.
        if platform::db::is_lock_conflict(&e) {
            return AppError::Conflict {
                code: "write_conflict",
                detail: "another change to the same data was being saved at the same time; nothing was saved, \
                         send the request again"
                    .into(),
            };
        }
        AppError::Internal(anyhow::Error::new(e).context("database error"))
    }
}

/// Whether a database error is a unique-key violation (the caller turns it into a 409).
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// Collects field errors and fails with all of them at once.
#[derive(Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn check(&mut self, ok: bool, field: &str, message: &str) -> &mut Self {
        if !ok {
            self.errors.push(FieldError { field: field.to_owned(), message: message.to_owned() });
        }
        self
    }

    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError { field: field.to_owned(), message: message.into() });
    }

    pub fn finish(&mut self) -> Result<(), AppError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(std::mem::take(&mut self.errors)))
        }
    }
}

/// Validates a required, trimmed text of bounded length.
pub fn text_field(v: &mut Validator, field: &str, value: &str, max_chars: usize) -> String {
    let t = value.trim();
    if t.is_empty() {
        v.push(field, "must not be empty");
    } else if t.chars().count() > max_chars {
        v.push(field, format!("must be at most {max_chars} characters"));
    } else if t.chars().any(|c| c.is_control()) {
        v.push(field, "must not contain control characters");
    }
    t.to_owned()
}
