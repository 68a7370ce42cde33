//! OpenAPI security schemes. The middleware already resolved the caller; these document the two ways in and turn
//! "no actor" into a 401.
use poem::Request;
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::SecurityScheme;

use super::Actor;
use crate::error::AppError;
use crate::problem::ApiError;

fn resolved(req: &Request) -> poem::Result<Actor> {
    req.extensions()
        .get::<Actor>()
        .cloned()
        .ok_or_else(|| ApiError(AppError::Unauthenticated("invalid, expired or revoked credentials")).into())
}

async fn session_checker(req: &Request, _cookie: ApiKey) -> poem::Result<Actor> {
    resolved(req)
}

async fn token_checker(req: &Request, _bearer: Bearer) -> poem::Result<Actor> {
    resolved(req)
}

/// Browser session: the HttpOnly `tf_session` cookie set at login; unsafe methods also need `X-CSRF-Token`.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "tf_session", key_in = "cookie", checker = "session_checker")]
pub struct SessionAuth(pub Actor);

/// Personal access token: `Authorization: Bearer tf_…`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "tf_token", checker = "token_checker")]
pub struct TokenAuth(pub Actor);

/// Either credential.
#[derive(SecurityScheme)]
pub enum Auth {
    Token(TokenAuth),
    Session(SessionAuth),
}

impl Auth {
    pub fn actor(&self) -> &Actor {
        match self {
            Auth::Token(t) => &t.0,
            Auth::Session(s) => &s.0,
        }
    }
}
