//! Authentication: who is calling, from a session cookie (the SPA) or a personal access token (API clients).
//!
//! The [`middleware::authenticate`] middleware resolves the caller once per request into an [`Actor`] kept in the
//! request's extensions; the OpenAPI security schemes in [`schemes`] only read it. Lookups hash the presented
//! secret with SHA-256 (the secrets are 256 random bits, so a slow hash adds nothing), never a password hash.
pub mod middleware;
pub mod passwords;
pub mod rate_limit;
pub mod schemes;
pub mod secrets;
pub mod token_use;

use uuid::Uuid;

use crate::error::AppError;

/// How the caller authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A browser session; unsafe methods were CSRF-checked by the middleware.
    Session { session_id: Uuid },
    /// A personal access token with its scopes.
    Token { token_id: Uuid, scopes: TokenScopes },
}

/// Scopes of a personal access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TokenScopes {
    pub read: bool,
    pub write: bool,
    pub admin: bool,
}

impl TokenScopes {
    pub fn parse(list: &[String]) -> Result<TokenScopes, String> {
        let mut s = TokenScopes::default();
        for item in list {
            match item.as_str() {
                "read" => s.read = true,
                "write" => s.write = true,
                "admin" => s.admin = true,
                other => return Err(format!("unknown scope `{other}`; expected read, write or admin")),
            }
        }
        if !(s.read || s.write || s.admin) {
            return Err("at least one scope is required".into());
        }
        Ok(s)
    }

    pub fn to_list(self) -> Vec<String> {
        let mut v = Vec::new();
        if self.read {
            v.push("read".to_owned());
        }
        if self.write {
            v.push("write".to_owned());
        }
        if self.admin {
            v.push("admin".to_owned());
        }
        v
    }
}

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user_id: Uuid,
    pub credential: Credential,
}

impl Actor {
    /// Org administration through a token needs the `admin` scope; sessions have every scope.
    pub fn require_admin_scope(&self) -> Result<(), AppError> {
        match &self.credential {
            Credential::Token { scopes, .. } if !scopes.admin => {
                Err(AppError::forbidden("insufficient_scope", "this token lacks the `admin` scope"))
            }
            _ => Ok(()),
        }
    }

    /// Managing sessions and tokens requires a browser session: a token cannot mint tokens.
    pub fn require_session(&self) -> Result<Uuid, AppError> {
        match &self.credential {
            Credential::Session { session_id } => Ok(*session_id),
            Credential::Token { .. } => {
                Err(AppError::forbidden("session_required", "this operation needs a signed-in session"))
            }
        }
    }
}
