//! Resolves the caller of every request into an [`Actor`] (or none), enforces CSRF on cookie-authenticated unsafe
//! requests, token scopes by method, and the per-token rate limit with its `RateLimit-*` headers.
//!
//! Token and session rows are read through the cache ([`crate::read_cache`]) by the secret's digest. Only rows that
//! exist are cached (a stream of made-up tokens must not fill the cache); revocation, logout and the end of a
//! user's sessions delete the entry when they commit, and expiry is checked on every request against the row's own
//! `expires_at`, so neither depends on the entry's TTL.
#![allow(clippy::disallowed_methods)] // sessions and tokens belong to users, not to a tenant

use chrono::{DateTime, Utc};
use entities::tables::{api_tokens, sessions};
use poem::http::{HeaderValue, Method};
use poem::{Endpoint, IntoResponse, Request, Response};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::rate_limit::TokenBudget;
use super::{secrets, Actor, Credential, TokenScopes};
use crate::error::AppError;
use crate::problem::ApiError;
use crate::read_cache::{session_key, token_key, Cached, Lookup};
use crate::state::AppState;

/// Name of the HttpOnly session cookie.
pub const SESSION_COOKIE: &str = "tf_session";
/// Header the SPA echoes the session's CSRF token in on unsafe methods.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of cookie `name` in the request, if present.
pub fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers().get_all("cookie").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then(|| v.trim_matches('"').to_owned())
    })
}

fn bearer(req: &Request) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Middleware body: see the module docs.
pub async fn authenticate<E: Endpoint>(ep: E, mut req: Request) -> poem::Result<Response> {
    let state = req.data::<AppState>().expect("AppState is attached to every request").clone();
    let mut budget: Option<TokenBudget> = None;
    let resolved = if let Some(token) = bearer(&req) {
        match token_actor(&state, &token, req.method()).await {
            Ok(Some((actor, b))) => {
                budget = Some(b);
                Some(actor)
            }
            Ok(None) => None,
            Err(e) => return Ok(ApiError(e).into_response()),
        }
    } else if let Some(secret) = cookie(&req, SESSION_COOKIE) {
        match session_actor(&state, &secret, &req).await {
            Ok(actor) => actor,
            Err(e) => return Ok(ApiError(e).into_response()),
        }
    } else {
        None
    };
    if let Some(actor) = resolved {
        tracing::Span::current().record("user_id", tracing::field::display(actor.user_id));
        req.extensions_mut().insert(actor);
    }
    let mut resp = ep.call(req).await?.into_response();
    if let Some(b) = budget {
        let h = resp.headers_mut();
        h.insert("ratelimit-limit", HeaderValue::from(b.limit));
        h.insert("ratelimit-remaining", HeaderValue::from(b.remaining));
        h.insert("ratelimit-reset", HeaderValue::from(60u32));
    }
    Ok(resp)
}

/// What a request needs of an `api_tokens` row, as cached.
#[derive(Debug, Serialize, Deserialize)]
struct TokenRow {
    id: Uuid,
    user_id: Uuid,
    scopes: String,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<api_tokens::Model> for TokenRow {
    fn from(m: api_tokens::Model) -> Self {
        TokenRow {
            id: m.id,
            user_id: m.user_id,
            scopes: m.scopes,
            expires_at: m.expires_at,
            revoked_at: m.revoked_at,
            last_used_at: m.last_used_at,
        }
    }
}

/// What a request needs of a `sessions` row, as cached.
#[derive(Debug, Serialize, Deserialize)]
struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    csrf_token: String,
    expires_at: DateTime<Utc>,
}

impl From<sessions::Model> for SessionRow {
    fn from(m: sessions::Model) -> Self {
        SessionRow { id: m.id, user_id: m.user_id, csrf_token: m.csrf_token, expires_at: m.expires_at }
    }
}

async fn token_row(state: &AppState, digest: String) -> Result<Option<TokenRow>, AppError> {
    let key = token_key(&digest);
    let ticket = match state.cache.read::<TokenRow>(Lookup::Token, &key).await {
        Cached::Hit(row) => return Ok(Some(row)),
        Cached::Miss(ticket) => ticket,
    };
    let found = api_tokens::Entity::find().filter(api_tokens::Column::TokenHash.eq(digest)).one(&state.db).await?;
    let Some(row) = found.map(TokenRow::from) else { return Ok(None) };
    state.cache.fill(Lookup::Token, &key, &row, ticket).await;
    Ok(Some(row))
}

async fn session_row(state: &AppState, digest: String) -> Result<Option<SessionRow>, AppError> {
    let key = session_key(&digest);
    let ticket = match state.cache.read::<SessionRow>(Lookup::Session, &key).await {
        Cached::Hit(row) => return Ok(Some(row)),
        Cached::Miss(ticket) => ticket,
    };
    let found = sessions::Entity::find().filter(sessions::Column::TokenHash.eq(digest)).one(&state.db).await?;
    let Some(row) = found.map(SessionRow::from) else { return Ok(None) };
    state.cache.fill(Lookup::Session, &key, &row, ticket).await;
    Ok(Some(row))
}

async fn token_actor(state: &AppState, token: &str, method: &Method) -> Result<Option<(Actor, TokenBudget)>, AppError> {
    if !token.starts_with(secrets::TOKEN_PREFIX) {
        return Ok(None);
    }
    let now = entities::now();
    let Some(row) = token_row(state, secrets::digest(token)).await? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= now) {
        return Ok(None);
    }
    let budget = state.limiters.check_token(row.id)?;
    let scopes = TokenScopes::parse(&row.scopes.split(',').map(str::to_owned).collect::<Vec<_>>())
        .map_err(|e| anyhow::anyhow!("stored token scopes are invalid: {e}"))?;
    let allowed = if is_safe(method) { scopes.read || scopes.write } else { scopes.write };
    if !allowed {
        let needed = if is_safe(method) { "read" } else { "write" };
        return Err(AppError::forbidden("insufficient_scope", format!("this token lacks the `{needed}` scope")));
    }
    // Record use at most once a minute: a write per request would make every read a write. Only the time is
    // written (and it is not cached), so a revocation committed meanwhile is not undone.
    if state.token_use.is_due(row.id, row.last_used_at, now) {
        api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::LastUsedAt, Expr::value(now))
            .filter(api_tokens::Column::Id.eq(row.id))
            .exec(&state.db)
            .await?;
    }
    let actor = Actor { user_id: row.user_id, credential: Credential::Token { token_id: row.id, scopes } };
    Ok(Some((actor, budget)))
}

async fn session_actor(state: &AppState, secret: &str, req: &Request) -> Result<Option<Actor>, AppError> {
    let now = entities::now();
    let Some(row) = session_row(state, secrets::digest(secret)).await? else {
        return Ok(None);
    };
    if row.expires_at <= now {
        return Ok(None);
    }
    if !is_safe(req.method()) {
        let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !constant_time_eq(sent.as_bytes(), row.csrf_token.as_bytes()) {
            return Err(AppError::forbidden(
                "csrf_failed",
                "missing or wrong X-CSRF-Token header for a cookie-authenticated request",
            ));
        }
    }
    Ok(Some(Actor { user_id: row.user_id, credential: Credential::Session { session_id: row.id } }))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
