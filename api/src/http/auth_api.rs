//! `/auth/*` and `/me*`: sign-up, sign-in/out, the current user and profile, password, personal access tokens.
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::types::{Accepted, Created, NoContent};
use super::ApiTags;
use crate::auth::middleware::SESSION_COOKIE;
use crate::auth::schemes::Auth;
use crate::auth::Credential;
use crate::domain::account_mail;
use crate::domain::accounts::{self, NewSession, NewToken, ProfileChange, Registration};
use crate::problem::ApiError;
use crate::state::AppState;

/// A token from an emailed link.
#[derive(Debug, Object)]
pub struct TokenInput {
    pub token: String,
}

/// Who forgot their password.
#[derive(Debug, Object)]
pub struct ResetRequest {
    pub email: String,
}

/// A new password with the token from the reset email.
#[derive(Debug, Object)]
pub struct ResetConfirm {
    pub token: String,
    /// At least 10 characters.
    pub password: String,
}

/// The signed-in user.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// IANA time zone, e.g. `Europe/Paris`.
    pub time_zone: String,
    /// BCP 47 language tag, e.g. `en-GB`.
    pub locale: String,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}

impl From<entities::tables::users::Model> for User {
    fn from(u: entities::tables::users::Model) -> Self {
        User {
            id: u.id,
            email: u.email,
            name: u.name,
            time_zone: u.time_zone,
            locale: u.locale,
            email_verified: u.email_verified_at.is_some(),
            created_at: u.created_at,
        }
    }
}

/// Sign-up request.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RegisterRequest {
    pub email: String,
    pub name: String,
    /// At least 10 characters.
    pub password: String,
    pub time_zone: Option<String>,
    pub locale: Option<String>,
}

/// Sign-in request.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// A browser session: the cookie is HttpOnly; send `csrf_token` as `X-CSRF-Token` on unsafe requests.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SessionInfo {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// The session as seen from an authenticated request.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CurrentSession {
    pub user: User,
    /// Present for cookie sessions, absent for token requests.
    #[oai(skip_serializing_if_is_none)]
    pub csrf_token: Option<String>,
}

/// Profile change (merge semantics: absent fields stay).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ProfilePatch {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub locale: Option<String>,
}

/// Password change.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// New personal access token.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TokenRequest {
    pub name: String,
    /// Any of `read`, `write`, `admin`.
    pub scopes: Vec<String>,
    /// Days until expiry (1–3650); absent: never expires.
    pub expires_in_days: Option<i64>,
}

/// A personal access token (the secret is shown only at creation).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Token {
    pub id: Uuid,
    pub name: String,
    /// First characters of the token, to recognise it.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
    pub created_at: DateTime<Utc>,
}

impl From<entities::tables::api_tokens::Model> for Token {
    fn from(t: entities::tables::api_tokens::Model) -> Self {
        Token {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            scopes: t.scopes.split(',').map(str::to_owned).collect(),
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked: t.revoked_at.is_some(),
            created_at: t.created_at,
        }
    }
}

/// A newly created token with its secret.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CreatedToken {
    pub token: Token,
    /// The secret, `tf_…`: store it now, it is never shown again.
    pub secret: String,
}

/// Response that opens a session.
#[derive(ApiResponse)]
pub enum SessionOpened {
    /// Account created and signed in.
    #[oai(status = 201)]
    Created(Json<SessionInfo>, #[oai(header = "Set-Cookie")] String),
    /// Signed in.
    #[oai(status = 200)]
    SignedIn(Json<SessionInfo>, #[oai(header = "Set-Cookie")] String),
}

/// Response that ends a session.
#[derive(ApiResponse)]
pub enum SessionClosed {
    /// Signed out; the cookie is cleared.
    #[oai(status = 204)]
    SignedOut(#[oai(header = "Set-Cookie")] String),
}

fn session_cookie(state: &AppState, s: &NewSession) -> String {
    let secure = if state.config.cookie_secure { "; Secure" } else { "" };
    let max_age = (s.expires_at - entities::now()).num_seconds().max(0);
    format!("{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}", s.secret)
}

async fn session_info(
    state: &AppState,
    user: entities::tables::users::Model,
) -> Result<(SessionInfo, String), ApiError> {
    let s = accounts::open_session(state, user.id).await?;
    let cookie = session_cookie(state, &s);
    Ok((SessionInfo { user: user.into(), csrf_token: s.csrf_token, expires_at: s.expires_at }, cookie))
}

pub struct AuthApi;

#[OpenApi(tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account and sign in
    #[oai(path = "/auth/register", method = "post", operation_id = "register")]
    async fn register(&self, state: Data<&AppState>, body: Json<RegisterRequest>) -> Result<SessionOpened, ApiError> {
        let b = body.0;
        let user = accounts::register(
            &state,
            Registration {
                email: b.email,
                name: b.name,
                password: b.password,
                time_zone: b.time_zone,
                locale: b.locale,
            },
        )
        .await?;
        account_mail::verification_after_sign_up(&state, &user).await;
        let (info, cookie) = session_info(&state, user).await?;
        Ok(SessionOpened::Created(Json(info), cookie))
    }

    /// Confirm an email address with the token from the verification email
    #[oai(path = "/auth/verify-email", method = "post", operation_id = "verifyEmail")]
    async fn verify_email(&self, state: Data<&AppState>, body: Json<TokenInput>) -> Result<Json<User>, ApiError> {
        Ok(Json(account_mail::confirm_verification(&state, &body.token).await?.into()))
    }

    /// Email a password-reset link
    ///
    /// Answers 202 whether or not the address has an account. Rate limited like sign-in.
    #[oai(path = "/auth/password-reset", method = "post", operation_id = "requestPasswordReset")]
    async fn request_password_reset(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<ResetRequest>,
    ) -> Result<Accepted, ApiError> {
        let ip = req.remote_addr().as_socket_addr().map(|a| a.ip());
        account_mail::request_password_reset(&state, &body.email, ip).await?;
        Ok(Accepted::Accepted)
    }

    /// Set a new password with the token from the reset email; every session is signed out
    #[oai(path = "/auth/password-reset/confirm", method = "post", operation_id = "resetPassword")]
    async fn reset_password(&self, state: Data<&AppState>, body: Json<ResetConfirm>) -> Result<NoContent, ApiError> {
        let ResetConfirm { token, password } = body.0;
        account_mail::reset_password(&state, &token, password).await?;
        Ok(NoContent::Done)
    }

    /// Sign in with email and password
    ///
    /// Rate limited per account and per client IP (429 with Retry-After).
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<LoginRequest>,
    ) -> Result<SessionOpened, ApiError> {
        let ip = req.remote_addr().as_socket_addr().map(|a| a.ip());
        let LoginRequest { email, password } = body.0;
        let user = accounts::verify_login(&state, &email, password, ip).await?;
        let (info, cookie) = session_info(&state, user).await?;
        Ok(SessionOpened::SignedIn(Json(info), cookie))
    }

    /// Sign out of this browser session
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, state: Data<&AppState>, auth: Auth) -> Result<SessionClosed, ApiError> {
        let session_id = auth.actor().require_session()?;
        accounts::close_session(&state.db, &state.cache, session_id).await?;
        Ok(SessionClosed::SignedOut(format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")))
    }

    /// The current user, and the CSRF token of a cookie session
    #[oai(path = "/auth/session", method = "get", operation_id = "getSession")]
    async fn session(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<CurrentSession>, ApiError> {
        let actor = auth.actor();
        let user = accounts::user(&state.db, actor.user_id).await?;
        let csrf_token = match actor.credential {
            Credential::Session { session_id } => Some(accounts::session_csrf(&state.db, session_id).await?),
            Credential::Token { .. } => None,
        };
        Ok(Json(CurrentSession { user: user.into(), csrf_token }))
    }

    /// The current user's profile
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn me(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<User>, ApiError> {
        Ok(Json(accounts::user(&state.db, auth.actor().user_id).await?.into()))
    }

    /// Update name, time zone or locale
    #[oai(path = "/me", method = "patch", operation_id = "updateMe")]
    async fn update_me(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Json<ProfilePatch>,
    ) -> Result<Json<User>, ApiError> {
        let b = body.0;
        let change = ProfileChange { name: b.name, time_zone: b.time_zone, locale: b.locale };
        Ok(Json(accounts::update_profile(&state.db, auth.actor().user_id, change).await?.into()))
    }

    /// Change the password; other sessions are signed out
    #[oai(path = "/me/password", method = "post", operation_id = "changePassword")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Json<PasswordChange>,
    ) -> Result<NoContent, ApiError> {
        let actor = auth.actor();
        let keep = match actor.credential {
            Credential::Session { session_id } => Some(session_id),
            Credential::Token { .. } => None,
        };
        accounts::change_password(&state, actor.user_id, keep, body.0.current_password, body.0.new_password).await?;
        Ok(NoContent::Done)
    }

    /// Send the email verification link again
    #[oai(path = "/me/email-verification", method = "post", operation_id = "resendEmailVerification")]
    async fn resend_verification(&self, state: Data<&AppState>, auth: Auth) -> Result<Accepted, ApiError> {
        account_mail::request_verification(&state, auth.actor().user_id).await?;
        Ok(Accepted::Accepted)
    }

    /// List my personal access tokens
    #[oai(path = "/me/tokens", method = "get", operation_id = "listTokens")]
    async fn list_tokens(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<Vec<Token>>, ApiError> {
        let rows = accounts::list_tokens(&state.db, auth.actor().user_id).await?;
        Ok(Json(rows.into_iter().map(Token::from).collect()))
    }

    /// Create a personal access token (needs a signed-in session)
    #[oai(path = "/me/tokens", method = "post", operation_id = "createToken")]
    async fn create_token(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Json<TokenRequest>,
    ) -> Result<Created<CreatedToken>, ApiError> {
        let actor = auth.actor();
        actor.require_session()?;
        let b = body.0;
        let (row, secret) = accounts::create_token(
            &state.db,
            actor.user_id,
            NewToken { name: b.name, scopes: b.scopes, expires_in_days: b.expires_in_days },
        )
        .await?;
        Ok(Created::Created(Json(CreatedToken { token: row.into(), secret })))
    }

    /// Revoke a personal access token
    #[oai(path = "/me/tokens/:token_id", method = "delete", operation_id = "revokeToken")]
    async fn revoke_token(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        token_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        accounts::revoke_token(&state.db, &state.cache, auth.actor().user_id, token_id.0).await?;
        Ok(NoContent::Done)
    }
}
