//! The embedded storage adapter: objects as files under `{data_dir}/blobs/`, reached by clients through signed URLs
//! to the API's blob endpoint (see `signed_url.rs`).
//!
//! Layout: `objects/{key}` holds the bytes, `meta/{key}.json` the content type and tags (what S3 keeps as object
//! metadata and tagging), and `tmp/` the files being written. Every write goes to `tmp/` first and is renamed into
//! place once complete and synced, so a reader sees the old object or the new one, never a partial file; `tmp/` is
//! inside the same directory so the rename never crosses a filesystem. The metadata is written before the object
//! is renamed in, so a visible object always has its metadata.
//!
//! Unlike S3, a key cannot be both an object and a prefix of another (`a` and `a/b`): the file system refuses the
//! second, which surfaces as a backend error. Taskforge's keys never do this.
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::key::key_path;
use super::signed_url::{self, BlobQuery, GetGrant, PutGrant};
use super::{
    validate_content_type, validate_expires_in, validate_header_value, GetSpec, Object, ObjectMeta, PresignedRequest,
    PutSpec, Refusal, Storage, StorageError,
};
use crate::secret_key::SecretKey;
use crate::Config;

/// `{data_dir}/blobs`, the local adapter's root.
pub fn blobs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("blobs")
}

/// What `meta/{key}.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sidecar {
    content_type: String,
    #[serde(default)]
    tags: Vec<(String, String)>,
}

/// Files under a directory, with HMAC-signed URLs served by the API.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
    public_url: String,
    secret: SecretKey,
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StorageError {
    StorageError::backend(format!("{what} {}", path.display()), e)
}

impl LocalStorage {
    /// Objects under `root`; URLs start with `public_url` (no trailing slash) and are signed with `secret`.
    pub fn new(root: impl Into<PathBuf>, public_url: impl Into<String>, secret: SecretKey) -> LocalStorage {
        LocalStorage { root: root.into(), public_url: public_url.into().trim_end_matches('/').to_owned(), secret }
    }

    /// `{data_dir}/blobs`, `public_url` and the server's secret key from `config`.
    pub fn from_config(config: &Config) -> Result<LocalStorage, StorageError> {
        let secret = SecretKey::load(config).map_err(|e| StorageError::Setup(e.to_string()))?;
        Ok(LocalStorage::new(blobs_dir(&config.data_dir), config.public_url.clone(), secret))
    }

    /// Checks an upload request's URL at `now`; the handler then checks the request against the grant
    /// ([`PutGrant::check`]) and stores the body with [`LocalStorage::put_granted`].
    pub fn verify_put(&self, key: &str, query: &BlobQuery, now: DateTime<Utc>) -> Result<PutGrant, StorageError> {
        signed_url::verify_put(&self.secret, key, query, now)
    }

    /// Checks a download request's URL at `now`.
    pub fn verify_get(&self, key: &str, query: &BlobQuery, now: DateTime<Utc>) -> Result<GetGrant, StorageError> {
        signed_url::verify_get(&self.secret, key, query, now)
    }

    /// Stores an upload only if it is exactly the granted length: reading stops one byte past it, and a short or long
    /// body leaves any existing object untouched.
    pub async fn put_granted(
        &self,
        key: &str,
        grant: &PutGrant,
        body: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<ObjectMeta, StorageError> {
        let mut capped = body.take(grant.content_length.saturating_add(1));
        self.write(key, &mut capped, &grant.content_type, Some(grant.content_length)).await
    }

    fn object_path(&self, key: &str) -> Result<PathBuf, StorageError> {
        key_path(&self.root.join("objects"), key)
    }

    fn sidecar_path(&self, key: &str) -> Result<PathBuf, StorageError> {
        let mut path = key_path(&self.root.join("meta"), key)?;
        path.as_mut_os_string().push(".json");
        Ok(path)
    }

    fn tmp_path(&self) -> PathBuf {
        self.root.join("tmp").join(uuid::Uuid::now_v7().simple().to_string())
    }

    async fn read_sidecar(&self, key: &str) -> Result<Option<Sidecar>, StorageError> {
        let path = self.sidecar_path(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StorageError::backend(format!("reading {}", path.display()), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("reading", &path, e)),
        }
    }

    /// The sidecar of an object that must exist.
    async fn existing_sidecar(&self, key: &str) -> Result<Sidecar, StorageError> {
        self.read_sidecar(key).await?.ok_or_else(|| StorageError::NotFound { key: key.to_owned() })
    }

    async fn write_sidecar(&self, key: &str, sidecar: &Sidecar) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(sidecar).expect("a sidecar serialises");
        self.write_file(&self.sidecar_path(key)?, &mut bytes.as_slice(), None).await.map(|_| ())
    }

    /// Streams `body` into a temporary file, checks its length if `expected` is given, syncs it and renames it to
    /// `target`. Returns the number of bytes written.
    async fn write_file(
        &self,
        target: &Path,
        body: &mut (dyn AsyncRead + Send + Unpin),
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        let tmp = self.tmp_path();
        let dir = tmp.parent().expect("tmp files live in a directory");
        tokio::fs::create_dir_all(dir).await.map_err(|e| io_error("creating", dir, e))?;
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await.map_err(|e| io_error("creating", &tmp, e))?;
            let written = tokio::io::copy(body, &mut file).await.map_err(|e| io_error("writing", &tmp, e))?;
            if let Some(signed) = expected.filter(|&n| n != written) {
                return Err(StorageError::Forbidden(Refusal::ContentLengthMismatch { signed, sent: written }));
            }
            file.sync_all().await.map_err(|e| io_error("syncing", &tmp, e))?;
            drop(file);
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(|e| io_error("creating", parent, e))?;
            }
            tokio::fs::rename(&tmp, target).await.map_err(|e| io_error("renaming into", target, e))?;
            Ok(written)
        }
        .await;
        if result.is_err() {
            // Best effort: a leftover temporary file wastes space but is never read.
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    async fn write(
        &self,
        key: &str,
        body: &mut (dyn AsyncRead + Send + Unpin),
        content_type: &str,
        expected: Option<u64>,
    ) -> Result<ObjectMeta, StorageError> {
        validate_content_type(content_type)?;
        let target = self.object_path(key)?;
        // Write the bytes to a temporary file first so a refused upload (wrong length) changes nothing; the
        // sidecar goes in before the object appears.
        let tmp_target = self.tmp_path();
        let size = self.write_file(&tmp_target, body, expected).await?;
        let sidecar = Sidecar { content_type: content_type.to_owned(), tags: Vec::new() };
        if let Err(e) = self.write_sidecar(key, &sidecar).await {
            let _ = tokio::fs::remove_file(&tmp_target).await;
            return Err(e);
        }
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| io_error("creating", parent, e))?;
        }
        tokio::fs::rename(&tmp_target, &target).await.map_err(|e| io_error("renaming into", &target, e))?;
        Ok(ObjectMeta { size, content_type: content_type.to_owned() })
    }
}

fn expires_at(expires_in: std::time::Duration) -> DateTime<Utc> {
    // Whole seconds: the URL carries a Unix timestamp.
    let at = Utc::now().timestamp() + expires_in.as_secs() as i64;
    DateTime::from_timestamp(at, 0).expect("now plus at most 7 days is a valid time")
}

#[async_trait]
impl Storage for LocalStorage {
    async fn presign_put(&self, key: &str, spec: PutSpec) -> Result<PresignedRequest, StorageError> {
        self.object_path(key)?;
        validate_content_type(&spec.content_type)?;
        validate_expires_in(spec.expires_in)?;
        let expires_at = expires_at(spec.expires_in);
        let url = signed_url::sign_put(
            &self.secret,
            &self.public_url,
            key,
            expires_at,
            &spec.content_type,
            spec.content_length,
        );
        Ok(PresignedRequest {
            method: "PUT".into(),
            url,
            headers: vec![
                ("content-type".into(), spec.content_type),
                ("content-length".into(), spec.content_length.to_string()),
            ],
            expires_at,
        })
    }

    async fn presign_get(&self, key: &str, spec: GetSpec) -> Result<PresignedRequest, StorageError> {
        self.object_path(key)?;
        validate_expires_in(spec.expires_in)?;
        if let Some(d) = &spec.content_disposition {
            validate_header_value("content disposition", d)?;
        }
        if let Some(ct) = &spec.response_content_type {
            validate_content_type(ct)?;
        }
        let expires_at = expires_at(spec.expires_in);
        let url = signed_url::sign_get(
            &self.secret,
            &self.public_url,
            key,
            expires_at,
            spec.content_disposition.as_deref(),
            spec.response_content_type.as_deref(),
        );
        Ok(PresignedRequest { method: "GET".into(), url, headers: Vec::new(), expires_at })
    }

    async fn open(&self, key: &str) -> Result<Object, StorageError> {
        let path = self.object_path(key)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::NotFound { key: key.to_owned() })
            }
            Err(e) => return Err(io_error("opening", &path, e)),
        };
        // The size comes from the open file, not the path: a concurrent replace renames a new file in and leaves
        // this one intact.
        let size = file.metadata().await.map_err(|e| io_error("reading", &path, e))?.len();
        let sidecar = self.existing_sidecar(key).await?;
        Ok(Object { body: Box::pin(file), meta: ObjectMeta { size, content_type: sidecar.content_type } })
    }

    async fn put(
        &self,
        key: &str,
        body: &mut (dyn AsyncRead + Send + Unpin),
        content_type: &str,
    ) -> Result<ObjectMeta, StorageError> {
        self.write(key, body, content_type, None).await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let path = self.object_path(key)?;
        let size = match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("reading", &path, e)),
        };
        let sidecar = self.existing_sidecar(key).await?;
        Ok(Some(ObjectMeta { size, content_type: sidecar.content_type }))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        // The object first: once it is gone the key reads as missing, whatever happens to the sidecar.
        for path in [self.object_path(key)?, self.sidecar_path(key)?] {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("removing", &path, e)),
            }
        }
        Ok(())
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let target = self.object_path(to)?;
        let Object { mut body, .. } = self.open(from).await?;
        let sidecar = self.existing_sidecar(from).await?;
        let tmp_target = self.tmp_path();
        self.write_file(&tmp_target, &mut body, None).await?;
        self.write_sidecar(to, &sidecar).await?;
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| io_error("creating", parent, e))?;
        }
        tokio::fs::rename(&tmp_target, &target).await.map_err(|e| io_error("renaming into", &target, e))
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let (source, target) = (self.object_path(from)?, self.object_path(to)?);
        if from == to {
            return self.head(from).await?.map(|_| ()).ok_or_else(|| StorageError::NotFound { key: from.into() });
        }
        let sidecar = self.existing_sidecar(from).await?;
        self.write_sidecar(to, &sidecar).await?;
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| io_error("creating", parent, e))?;
        }
        match tokio::fs::rename(&source, &target).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::NotFound { key: from.to_owned() })
            }
            Err(e) => return Err(io_error("renaming into", &target, e)),
        }
        let old = self.sidecar_path(from)?;
        tokio::fs::remove_file(&old).await.map_err(|e| io_error("removing", &old, e))
    }

    async fn set_tags(&self, key: &str, tags: &[(String, String)]) -> Result<(), StorageError> {
        validate_tags(tags)?;
        if self.head(key).await?.is_none() {
            return Err(StorageError::NotFound { key: key.to_owned() });
        }
        let mut sidecar = self.existing_sidecar(key).await?;
        sidecar.tags = tags.to_vec();
        sidecar.tags.sort();
        self.write_sidecar(key, &sidecar).await
    }

    async fn tags(&self, key: &str) -> Result<Vec<(String, String)>, StorageError> {
        if self.head(key).await?.is_none() {
            return Err(StorageError::NotFound { key: key.to_owned() });
        }
        Ok(self.existing_sidecar(key).await?.tags)
    }
}

/// S3's tagging limits, applied locally too so a set that works in one mode works in the other.
pub(super) fn validate_tags(tags: &[(String, String)]) -> Result<(), StorageError> {
    let invalid = |reason: String| StorageError::InvalidSpec { field: "tags", reason };
    if tags.len() > 10 {
        return Err(invalid(format!("{} tags, at most 10", tags.len())));
    }
    let mut keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    if keys.windows(2).any(|w| w[0] == w[1]) {
        return Err(invalid("a tag key appears twice".into()));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(invalid(format!("tag `{k}`: keys 1..=128 characters, values at most 256")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_write_leaves_no_temporary_file_and_no_object() {
        let root = std::env::temp_dir().join(format!("tf-local-{}", uuid::Uuid::now_v7().simple()));
        let storage = LocalStorage::new(&root, "http://x", SecretKey::new("k".repeat(32)));
        let grant = PutGrant { content_type: "text/plain".into(), content_length: 3 };
        let err = storage.put_granted("a/b", &grant, &mut &b"four"[..]).await.unwrap_err();
        assert!(matches!(err, StorageError::Forbidden(Refusal::ContentLengthMismatch { signed: 3, sent: 4 })), "{err}");
        assert_eq!(storage.head("a/b").await.unwrap(), None);
        assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
        std::fs::remove_dir_all(root).unwrap();
    }
}
