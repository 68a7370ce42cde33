//! Where an upload lives in the store. The key names the org and the attachment, so a scan result found by key
//! alone (an S3 event carries nothing else) leads back to its attachment without trusting anything the uploader
//! sent. Uploads, quarantined files and thumbnails have separate prefixes: the bucket's scan trigger is filtered
//! on `uploads/`, so moving a file to quarantine or writing a thumbnail never triggers another scan.
use uuid::Uuid;

pub const UPLOADS_PREFIX: &str = "uploads/";
pub const QUARANTINE_PREFIX: &str = "quarantine/";
pub const THUMBNAILS_PREFIX: &str = "thumbnails/";

/// The object key of one attachment's upload: `uploads/{org_id}/{attachment_id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadKey {
    pub org_id: Uuid,
    pub attachment_id: Uuid,
}

/// The key is not an upload key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not an upload key (expected uploads/<org uuid>/<attachment uuid>)")]
pub struct NotAnUploadKey(pub String);

impl UploadKey {
    pub fn new(org_id: Uuid, attachment_id: Uuid) -> UploadKey {
        UploadKey { org_id, attachment_id }
    }

    pub fn parse(key: &str) -> Result<UploadKey, NotAnUploadKey> {
        let bad = || NotAnUploadKey(key.to_owned());
        let rest = key.strip_prefix(UPLOADS_PREFIX).ok_or_else(bad)?;
        let (org, attachment) = rest.split_once('/').ok_or_else(bad)?;
        let parse = |s: &str| if s.len() == 36 { Uuid::try_parse(s).ok() } else { None };
        Ok(UploadKey { org_id: parse(org).ok_or_else(bad)?, attachment_id: parse(attachment).ok_or_else(bad)? })
    }

    /// Where the upload is.
    pub fn key(&self) -> String {
        format!("{UPLOADS_PREFIX}{}/{}", self.org_id, self.attachment_id)
    }

    /// Where an infected upload is moved to.
    pub fn quarantine_key(&self) -> String {
        format!("{QUARANTINE_PREFIX}{}/{}", self.org_id, self.attachment_id)
    }

    /// Where the thumbnail of bounding box `size` is stored.
    pub fn thumbnail_key(&self, size: u32) -> String {
        format!("{THUMBNAILS_PREFIX}{}/{}/{size}", self.org_id, self.attachment_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_anything_else_is_refused() {
        let key = UploadKey::new(Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(UploadKey::parse(&key.key()), Ok(key));
        assert!(key.quarantine_key().starts_with("quarantine/"));
        for bad in [
            "uploads/x/y",
            &key.quarantine_key(),
            &format!("{}/extra", key.key()),
            &format!("uploads/{}", key.org_id),
            &key.key().to_uppercase(),
            "",
        ] {
            assert!(UploadKey::parse(bad).is_err(), "{bad}");
        }
    }
}
