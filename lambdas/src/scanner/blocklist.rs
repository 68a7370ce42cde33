//! A block list of SHA-256 digests of whole uploads: files an operator has decided never to serve (a known bad
//! document, a leaked file), whatever an engine thinks of them.
use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

/// Signature name of a block list hit.
pub const BLOCKLIST_SIGNATURE: &str = "Builtin.Blocklist.SHA256";

/// A block list entry is not a SHA-256 digest in hex.
#[derive(Debug, thiserror::Error)]
#[error("`{entry}` is not a SHA-256 digest (64 hex digits)")]
pub struct BlocklistError {
    pub entry: String,
}

/// A set of SHA-256 digests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blocklist {
    digests: BTreeSet<[u8; 32]>,
}

impl Blocklist {
    /// A block list of the given digests.
    pub fn new(digests: impl IntoIterator<Item = [u8; 32]>) -> Self {
        Blocklist { digests: digests.into_iter().collect() }
    }

    /// Parses comma-separated hex digests (the `scan_blocklist_sha256` setting); blanks between commas are ignored.
    pub fn parse_digests(list: &str) -> Result<Vec<[u8; 32]>, BlocklistError> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|entry| {
                let mut digest = [0u8; 32];
                hex::decode_to_slice(entry, &mut digest).map_err(|_| BlocklistError { entry: entry.to_owned() })?;
                Ok(digest)
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether a file with this digest is blocked.
    pub fn contains(&self, digest: &[u8; 32]) -> bool {
        self.digests.contains(digest)
    }

    /// A short, stable name of this list's contents for verdicts (`none` when empty), so a verdict says which list
    /// judged the file.
    pub fn fingerprint(&self) -> String {
        if self.digests.is_empty() {
            return "none".into();
        }
        let mut hasher = Sha256::new();
        for digest in &self.digests {
            hasher.update(digest);
        }
        hex::encode(&hasher.finalize()[..6])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_parse_from_a_comma_separated_list() {
        let a = "a".repeat(64);
        let b = "0123456789ABCDEF".repeat(4);
        let parsed = Blocklist::parse_digests(&format!(" {a}, ,{b},")).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0], [0xaa; 32]);
        assert_eq!(parsed[1][..2], [0x01, 0x23]);
    }

    #[test]
    fn a_malformed_digest_is_named() {
        let err = Blocklist::parse_digests("abc,").unwrap_err();
        assert_eq!(err.entry, "abc");
        assert!(Blocklist::parse_digests(&"g".repeat(64)).is_err());
    }

    #[test]
    fn the_fingerprint_depends_on_the_contents_only() {
        assert_eq!(Blocklist::default().fingerprint(), "none");
        let one = Blocklist::new([[1; 32], [2; 32]]);
        let same = Blocklist::new([[2; 32], [1; 32]]);
        assert_eq!(one.fingerprint(), same.fingerprint());
        assert_ne!(one.fingerprint(), Blocklist::new([[1; 32]]).fingerprint());
    }
}
