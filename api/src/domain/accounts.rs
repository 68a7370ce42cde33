//! Accounts: sign-up, sign-in and sessions, profile, password changes, personal access tokens.
#![allow(clippy::disallowed_methods)] // users, sessions and tokens are not tenant data

use chrono::{Duration, Utc};
use entities::tables::{api_tokens, sessions, users};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use crate::auth::{passwords, secrets, TokenScopes};
use crate::error::{is_unique_violation, text_field, AppError, Validator};
use crate::read_cache::{session_key, token_key, ReadCache};
use crate::state::AppState;

/// A syntactically valid, lower-cased email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses an address: one `@`, a dotted domain, no spaces, at most 320 characters.
    pub fn parse(raw: &str) -> Result<Email, String> {
        let s = raw.trim().to_lowercase();
        let ok = s.len() <= 320
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && match s.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !domain.contains("..")
                }
                None => false,
            };
        if ok {
            Ok(Email(s))
        } else {
            Err("must be a valid email address".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks an IANA time zone name's shape (`UTC`, `Europe/Paris`, `America/Argentina/Buenos_Aires`).
pub fn check_time_zone(v: &mut Validator, field: &str, tz: &str) {
    let ok = !tz.is_empty()
        && tz.len() <= 64
        && tz.split('/').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
        })
        && tz.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    v.check(ok, field, "must be an IANA time zone name such as `Europe/Paris` or `UTC`");
}

/// Checks a BCP 47 language tag's shape (`en`, `en-GB`, `pt-BR`).
pub fn check_locale(v: &mut Validator, field: &str, locale: &str) {
    let mut parts = locale.split('-');
    let lang_ok = parts.next().is_some_and(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_lowercase()));
    let rest_ok = parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    v.check(lang_ok && rest_ok && locale.len() <= 35, field, "must be a language tag such as `en` or `en-GB`");
}

/// Sign-up input.
pub struct Registration {
    pub email: String,
    pub name: String,
    pub password: String,
    pub time_zone: Option<String>,
    pub locale: Option<String>,
}

/// A new session: the cookie secret (shown once) and its CSRF token.
pub struct NewSession {
    pub secret: String,
    pub csrf_token: String,
    pub expires_at: chrono::DateTime<Utc>,
}

/// Creates an account.
pub async fn register(state: &AppState, input: Registration) -> Result<users::Model, AppError> {
    let mut v = Validator::new();
    let email = match Email::parse(&input.email) {
        Ok(e) => Some(e),
        Err(m) => {
            v.push("email", m);
            None
        }
    };
    let name = text_field(&mut v, "name", &input.name, 200);
    passwords::check_policy(&mut v, "password", &input.password);
    let time_zone = input.time_zone.unwrap_or_else(|| "UTC".into());
    check_time_zone(&mut v, "time_zone", &time_zone);
    let locale = input.locale.unwrap_or_else(|| "en".into());
    check_locale(&mut v, "locale", &locale);
    v.finish()?;
    let email = email.expect("validated above");
    let password_hash = passwords::hash(input.password).await?;
    let now = entities::now();
    let user = users::ActiveModel {
        id: Set(entities::new_id()),
        email: Set(email.as_str().to_owned()),
        name: Set(name),
        password_hash: Set(password_hash),
        time_zone: Set(time_zone),
        locale: Set(locale),
        email_verified_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    user.insert(&state.db).await.map_err(|e| {
        if is_unique_violation(&e) {
            AppError::conflict("email_taken", "an account with this email already exists")
        } else {
            e.into()
        }
    })
}

/// Checks credentials (rate limited per account and IP) and returns the user.
pub async fn verify_login(
    state: &AppState,
    email: &str,
    password: String,
    ip: Option<std::net::IpAddr>,
) -> Result<users::Model, AppError> {
    state.limiters.check_login(email.trim(), ip)?;
    let user = match Email::parse(email) {
        Ok(e) => users::Entity::find().filter(users::Column::Email.eq(e.as_str())).one(&state.db).await?,
        Err(_) => None,
    };
    let Some(user) = user else {
        passwords::dummy_verify(password).await;
        return Err(AppError::Unauthenticated("wrong email or password"));
    };
    if passwords::verify(password, user.password_hash.clone()).await? {
        Ok(user)
    } else {
        Err(AppError::Unauthenticated("wrong email or password"))
    }
}

/// Opens a session for `user_id`.
pub async fn open_session(state: &AppState, user_id: Uuid) -> Result<NewSession, AppError> {
    let secret = secrets::random_secret();
    let csrf_token = secrets::random_secret();
    let now = entities::now();
    let expires_at = now + Duration::hours(state.config.session_ttl_hours as i64);
    sessions::ActiveModel {
        id: Set(entities::new_id()),
        user_id: Set(user_id),
        token_hash: Set(secrets::digest(&secret)),
        csrf_token: Set(csrf_token.clone()),
        expires_at: Set(expires_at),
        created_at: Set(now),
        last_seen_at: Set(now),
    }
    .insert(&state.db)
    .await?;
    Ok(NewSession { secret, csrf_token, expires_at })
}

/// The CSRF token of a live session.
pub async fn session_csrf(db: &impl ConnectionTrait, session_id: Uuid) -> Result<String, AppError> {
    let s = sessions::Entity::find_by_id(session_id).one(db).await?.ok_or(AppError::NotFound("session_not_found"))?;
    Ok(s.csrf_token)
}

/// Ends a session, in the database and then in the cache.
pub async fn close_session(db: &impl ConnectionTrait, cache: &ReadCache, session_id: Uuid) -> Result<(), AppError> {
    let Some(s) = sessions::Entity::find_by_id(session_id).one(db).await? else { return Ok(()) };
    sessions::Entity::delete_by_id(session_id).exec(db).await?;
    cache.forget(&session_key(&s.token_hash)).await;
    Ok(())
}

/// Deletes the user's sessions (all but `keep`) inside the caller's transaction; returns their digests, for
/// [`forget_sessions`] once it commits.
pub async fn end_sessions(
    tx: &impl ConnectionTrait,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<Vec<String>, AppError> {
    let mut ended = sessions::Entity::find().filter(sessions::Column::UserId.eq(user_id));
    let mut others = sessions::Entity::delete_many().filter(sessions::Column::UserId.eq(user_id));
    if let Some(keep) = keep {
        ended = ended.filter(sessions::Column::Id.ne(keep));
        others = others.filter(sessions::Column::Id.ne(keep));
    }
    let digests = ended.all(tx).await?.into_iter().map(|s| s.token_hash).collect();
    others.exec(tx).await?;
    Ok(digests)
}

/// Deletes ended sessions from the cache (after their transaction committed).
pub async fn forget_sessions(cache: &ReadCache, digests: &[String]) {
    for digest in digests {
        cache.forget(&session_key(digest)).await;
    }
}

/// Loads a user.
pub async fn user(db: &impl ConnectionTrait, user_id: Uuid) -> Result<users::Model, AppError> {
    users::Entity::find_by_id(user_id).one(db).await?.ok_or(AppError::NotFound("user_not_found"))
}

/// Profile fields that may change; `None` keeps the current value.
pub struct ProfileChange {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub locale: Option<String>,
}

/// Updates the caller's profile.
pub async fn update_profile(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    change: ProfileChange,
) -> Result<users::Model, AppError> {
    let current = user(db, user_id).await?;
    let mut v = Validator::new();
    let mut active: users::ActiveModel = current.into();
    if let Some(name) = &change.name {
        active.name = Set(text_field(&mut v, "name", name, 200));
    }
    if let Some(tz) = change.time_zone {
        check_time_zone(&mut v, "time_zone", &tz);
        active.time_zone = Set(tz);
    }
    if let Some(locale) = change.locale {
        check_locale(&mut v, "locale", &locale);
        active.locale = Set(locale);
    }
    v.finish()?;
    active.updated_at = Set(entities::now());
    Ok(active.update(db).await?)
}

/// Changes the password after checking the current one, and signs out every other session.
pub async fn change_password(
    state: &AppState,
    user_id: Uuid,
    keep_session: Option<Uuid>,
    current_password: String,
    new_password: String,
) -> Result<(), AppError> {
    let mut v = Validator::new();
    passwords::check_policy(&mut v, "new_password", &new_password);
    v.finish()?;
    let u = user(&state.db, user_id).await?;
    if !passwords::verify(current_password, u.password_hash.clone()).await? {
        return Err(AppError::invalid("current_password", "is not the current password"));
    }
    let hash = passwords::hash(new_password).await?;
    let tx = entities::begin_write(&state.db).await?;
    let mut active: users::ActiveModel = u.into();
    active.password_hash = Set(hash);
    active.updated_at = Set(entities::now());
    active.update(&tx).await?;
    let ended = end_sessions(&tx, user_id, keep_session).await?;
    tx.commit().await?;
    forget_sessions(&state.cache, &ended).await;
    Ok(())
}

/// Input for a new personal access token.
pub struct NewToken {
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_in_days: Option<i64>,
}

/// Creates a token; returns the row and the secret, which is never shown again.
pub async fn create_token(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    input: NewToken,
) -> Result<(api_tokens::Model, String), AppError> {
    let mut v = Validator::new();
    let name = text_field(&mut v, "name", &input.name, 200);
    let scopes = match TokenScopes::parse(&input.scopes) {
        Ok(s) => Some(s),
        Err(m) => {
            v.push("scopes", m);
            None
        }
    };
    if let Some(d) = input.expires_in_days {
        v.check((1..=3650).contains(&d), "expires_in_days", "must be between 1 and 3650");
    }
    v.finish()?;
    let secret = secrets::new_api_token();
    let now = entities::now();
    let row = api_tokens::ActiveModel {
        id: Set(entities::new_id()),
        user_id: Set(user_id),
        name: Set(name),
        token_hash: Set(secrets::digest(&secret)),
        prefix: Set(secret[..8].to_owned()),
        scopes: Set(scopes.expect("validated above").to_list().join(",")),
        expires_at: Set(input.expires_in_days.map(|d| now + Duration::days(d))),
        last_used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok((row, secret))
}

/// The caller's tokens, newest first.
pub async fn list_tokens(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<api_tokens::Model>, AppError> {
    Ok(api_tokens::Entity::find()
        .filter(api_tokens::Column::UserId.eq(user_id))
        .order_by_desc(api_tokens::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Revokes one of the caller's tokens (then deletes it from the cache); another user's token id answers 404.
pub async fn revoke_token(
    db: &impl ConnectionTrait,
    cache: &ReadCache,
    user_id: Uuid,
    token_id: Uuid,
) -> Result<(), AppError> {
    let row = api_tokens::Entity::find_by_id(token_id)
        .filter(api_tokens::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("token_not_found"))?;
    let key = token_key(&row.token_hash);
    if row.revoked_at.is_none() {
        let mut active: api_tokens::ActiveModel = row.into();
        active.revoked_at = Set(Some(entities::now()));
        active.update(db).await?;
    }
    cache.forget(&key).await;
    Ok(())
}

/// The user with this email, if any.
pub async fn find_by_email(db: &impl ConnectionTrait, email: &str) -> Result<Option<users::Model>, AppError> {
    let Ok(email) = Email::parse(email) else {
        return Ok(None);
    };
    Ok(users::Entity::find().filter(users::Column::Email.eq(email.as_str())).one(db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_parse_and_normalise() {
        assert_eq!(Email::parse(" Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
        for bad in ["", "ada", "ada@", "@example.com", "a b@example.com", "ada@example", "a@b@c.com", "ada@.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_zones_and_locales_are_checked() {
        let mut v = Validator::new();
        check_time_zone(&mut v, "tz", "Europe/Paris");
        check_time_zone(&mut v, "tz", "UTC");
        check_locale(&mut v, "l", "en-GB");
        assert!(v.finish().is_ok());
        check_time_zone(&mut v, "tz", "../etc/passwd");
        check_locale(&mut v, "l", "English");
        assert!(matches!(v.finish(), Err(AppError::Validation(e)) if e.len() == 2));
    }
}
