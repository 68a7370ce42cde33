//! The server's secret key, for values the server must be able to recreate or check without storing them: the
//! tokens in invitation, verification and password-reset emails (a worker derives the token from the row id when it
//! writes the email, so no plaintext token ever sits in a table or a queue message) and, later, signed URLs.
//!
//! Set `secret_key` (`TASKFORGE_SECRET_KEY`, at least 32 characters) wherever several processes must agree, as in
//! production; without it a random key is created once in `{data_dir}/secret.key` (mode 0600), which suits the
//! single `serve` process.
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::Config;

/// What a token or signature is for; a value signed for one purpose never passes as another.
pub mod purpose {
    pub const INVITATION: &str = "invitation";
    pub const VERIFY_EMAIL: &str = "verify_email";
    pub const PASSWORD_RESET: &str = "password_reset";
    pub const UNSUBSCRIBE: &str = "unsubscribe";
}

/// Shortest accepted configured key.
pub const MIN_LEN: usize = 32;

/// An HMAC-SHA256 key.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

/// The key could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum SecretKeyError {
    #[error("secret key file {path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("secret key file {path} holds fewer than {MIN_LEN} characters")]
    TooShort { path: String },
}

impl SecretKey {
    /// A key from its text.
    pub fn new(key: impl AsRef<[u8]>) -> SecretKey {
        SecretKey(key.as_ref().to_vec())
    }

    /// The configured key, else the one in `{data_dir}/secret.key`, created on first use.
    pub fn load(config: &Config) -> Result<SecretKey, SecretKeyError> {
        if let Some(k) = &config.secret_key {
            return Ok(SecretKey::new(k));
        }
        Self::from_file(&config.data_dir.join("secret.key"))
    }

    fn from_file(path: &Path) -> Result<SecretKey, SecretKeyError> {
        let shown = path.display().to_string();
        let io = |source| SecretKeyError::File { path: shown.clone(), source };
        match std::fs::read_to_string(path) {
            Ok(text) if text.trim().len() >= MIN_LEN => return Ok(SecretKey::new(text.trim())),
            Ok(_) => return Err(SecretKeyError::TooShort { path: shown }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let key = hex_encode(&bytes);
        // create_new: two processes starting at once must not each write their own key; the loser reads the file.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut f) => {
                std::io::Write::write_all(&mut f, key.as_bytes()).map_err(io)?;
                Ok(SecretKey::new(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::from_file(path),
            Err(e) => Err(io(e)),
        }
    }

    /// A URL-safe signature of `message` for one `purpose` (so a signature made for one use never passes another).
    pub fn sign(&self, purpose: &str, message: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(purpose, message).finalize().into_bytes())
    }

    /// Whether `signature` is [`SecretKey::sign`]'s output for `purpose` and `message` (constant time).
    pub fn verify(&self, purpose: &str, message: &[u8], signature: &str) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        self.mac(purpose, message).verify_slice(&bytes).is_ok()
    }

    /// The emailed token of row `id` for `purpose`: the id and its signature, `{id}.{signature}`, URL-safe.
    pub fn token(&self, purpose: &str, id: uuid::Uuid) -> String {
        format!("{}.{}", URL_SAFE_NO_PAD.encode(id.as_bytes()), self.sign(purpose, id.as_bytes()))
    }

    /// The row id inside a token made by [`SecretKey::token`] for `purpose`, or `None` for anything else.
    pub fn token_id(&self, purpose: &str, token: &str) -> Option<uuid::Uuid> {
        let (id, signature) = token.trim().split_once('.')?;
        let id = uuid::Uuid::from_slice(&URL_SAFE_NO_PAD.decode(id).ok()?).ok()?;
        self.verify(purpose, id.as_bytes(), signature).then_some(id)
    }

    fn mac(&self, purpose: &str, message: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(message);
        mac
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_purpose_message_and_key() {
        let k = SecretKey::new("k".repeat(32));
        let sig = k.sign("invitation", b"abc");
        assert!(k.verify("invitation", b"abc", &sig));
        assert!(!k.verify("password_reset", b"abc", &sig));
        assert!(!k.verify("invitation", b"abd", &sig));
        assert!(!SecretKey::new("x".repeat(32)).verify("invitation", b"abc", &sig));
        assert!(!k.verify("invitation", b"abc", "not base64!"));
    }

    #[test]
    fn tokens_carry_their_id_and_only_open_for_their_purpose() {
        let k = SecretKey::new("k".repeat(32));
        let id = uuid::Uuid::now_v7();
        let t = k.token("password_reset", id);
        assert_eq!(k.token_id("password_reset", &t), Some(id));
        assert_eq!(k.token_id("verify_email", &t), None);
        assert_eq!(k.token_id("password_reset", &t.replace('.', "")), None);
        let other = k.token("password_reset", uuid::Uuid::now_v7());
        let forged = format!("{}.{}", t.split('.').next().unwrap(), other.split('.').nth(1).unwrap());
        assert_eq!(k.token_id("password_reset", &forged), None);
    }

    #[test]
    fn a_key_file_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("tf-secret-{}", uuid::Uuid::now_v7()));
        let path = dir.join("secret.key");
        let a = SecretKey::from_file(&path).unwrap();
        let b = SecretKey::from_file(&path).unwrap();
        assert_eq!(a.sign("p", b"m"), b.sign("p", b"m"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "short").unwrap();
        assert!(matches!(SecretKey::from_file(&path), Err(SecretKeyError::TooShort { .. })));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
