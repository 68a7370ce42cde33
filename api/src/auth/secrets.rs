//! Random secrets (session cookies, personal access tokens, invitation tokens) and their stored SHA-256 digests.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of personal access tokens, so leaked tokens are easy to spot and scan for.
pub const TOKEN_PREFIX: &str = "tf_";

/// 256 random bits, URL-safe.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new personal access token: `tf_` + 256 random bits.
pub fn new_api_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret())
}

/// Hex SHA-256 of a secret: what the database stores and looks up.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_unique_and_digested() {
        let a = new_api_token();
        let b = new_api_token();
        assert!(a.starts_with("tf_") && a.len() == 46);
        assert_ne!(a, b);
        assert_eq!(digest(&a).len(), 64);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
    }
}
