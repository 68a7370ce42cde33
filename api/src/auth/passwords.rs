//! Password hashing with argon2id (the crate's defaults: 19 MiB, 2 passes, OWASP's recommendation). Hashing runs on
//! the blocking pool so a login never stalls the async workers.
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::{AppError, Validator};

/// Minimum and maximum password length in characters.
pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 256;

/// Checks the password policy; reports the problem on `field`.
pub fn check_policy(v: &mut Validator, field: &str, password: &str) {
    let n = password.chars().count();
    if n < MIN_LEN {
        v.push(field, format!("must be at least {MIN_LEN} characters"));
    } else if n > MAX_LEN {
        v.push(field, format!("must be at most {MAX_LEN} characters"));
    }
}

/// Hashes a password into a PHC string.
pub async fn hash(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
    })
    .await
    .map_err(|e| anyhow::anyhow!("hashing task failed: {e}"))?
    .map_err(AppError::Internal)
}

/// Whether `password` matches the stored PHC string.
pub async fn verify(password: String, phc: String) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("verification task failed: {e}")))
}

/// A hash of a random password, verified against when the account does not exist, so that a login for an unknown
/// email costs the same time as one for a known email.
pub async fn dummy_verify(password: String) {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    if let Ok(phc) = DUMMY.get_or_try_init(|| hash("dummy-password-never-matches".into())).await {
        let _ = verify(password, phc.clone()).await;
    }
}
