//! Storage keys: one set of rules for S3 and the local directory, so a key valid in one mode is valid in the other
//! and none can escape the local blob directory.
use std::path::{Path, PathBuf};

use super::StorageError;

/// The longest key S3 accepts, in bytes.
const MAX_KEY_LEN: usize = 1024;

/// Accepts a relative `/`-separated key whose segments are non-empty and not `.` or `..`, with no backslash, no
/// control character (NUL included) and at most 1024 bytes.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let invalid = |reason| Err(StorageError::InvalidKey { key: key.escape_debug().to_string(), reason });
    if key.is_empty() {
        return invalid("empty");
    }
    if key.len() > MAX_KEY_LEN {
        return invalid("longer than 1024 bytes");
    }
    if key.chars().any(char::is_control) {
        return invalid("contains a control character");
    }
    if key.contains('\\') {
        return invalid("contains a backslash");
    }
    if key.starts_with('/') {
        return invalid("absolute");
    }
    for segment in key.split('/') {
        match segment {
            "" => return invalid("has an empty segment"),
            "." | ".." => return invalid("has a `.` or `..` segment"),
            _ => {}
        }
    }
    Ok(())
}

/// `root` joined with the key's segments, after [`validate_key`].
pub(super) fn key_path(root: &Path, key: &str) -> Result<PathBuf, StorageError> {
    validate_key(key)?;
    let mut path = root.to_path_buf();
    path.extend(key.split('/'));
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_could_leave_the_root_are_refused() {
        for bad in ["", "../x", "/etc/passwd", "a/../../b", "a/./b", "a//b", "a/", "..", "a\\..\\b", "a\0b", "a\nb"] {
            assert!(matches!(validate_key(bad), Err(StorageError::InvalidKey { .. })), "{bad:?} must be refused");
        }
        assert!(validate_key(&"k".repeat(1025)).is_err());
    }

    #[test]
    fn ordinary_keys_map_below_the_root() {
        let root = Path::new("/data/blobs/objects");
        for ok in ["a", "orgs/1/attachments/2/original", "x/..y/z..", "name with spaces.pdf", "ünïcode/ø"] {
            let path = key_path(root, ok).unwrap();
            assert!(path.starts_with(root) && path != root, "{ok:?} → {path:?}");
        }
    }
}
