//! ClamAV's signature databases kept under an S3 prefix, so the scan Lambda's container starts clamd with current
//! definitions without reaching ClamAV's mirrors on every cold start (they rate-limit, and a cold start must be
//! quick). A scheduled job runs `freshclam` and [`push`]es the database directory; the container's entrypoint
//! [`pull`]s it into `/tmp` before it starts clamd. Files are flat under the prefix (`main.cvd`, `daily.cld`, ...).
use std::path::{Path, PathBuf};

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

/// `freshclam`'s own bookkeeping in its database directory; not a database, and specific to the host it ran on.
const FRESHCLAM_STATE: &str = "freshclam.dat";

/// Where the definitions live: `s3://bucket/prefix/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionsLocation {
    pub bucket: String,
    /// Empty, or ending in `/`.
    pub prefix: String,
}

/// Copying definitions failed.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionsError {
    #[error("`{0}` is not an S3 location (expected s3://bucket/prefix/)")]
    NotAnS3Location(String),
    #[error("no definitions under s3://{bucket}/{prefix}: has the refresh job run?")]
    Empty { bucket: String, prefix: String },
    #[error("{action} failed: {message}")]
    S3 { action: String, message: String },
    #[error("{action} {path}: {source}")]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl DefinitionsLocation {
    pub fn parse(url: &str) -> Result<DefinitionsLocation, DefinitionsError> {
        let bad = || DefinitionsError::NotAnS3Location(url.to_owned());
        let rest = url.strip_prefix("s3://").ok_or_else(bad)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad());
        }
        let prefix = match prefix.trim_end_matches('/') {
            "" => String::new(),
            p => format!("{p}/"),
        };
        Ok(DefinitionsLocation { bucket: bucket.to_owned(), prefix })
    }
}

/// Downloads every database file under the location into `dir` (created if needed), each streamed to a temporary
/// name and renamed into place, so clamd never loads a half-written file. Returns the file names.
pub async fn pull(s3: &Client, from: &DefinitionsLocation, dir: &Path) -> Result<Vec<String>, DefinitionsError> {
    let file_error = |action, path: &Path| {
        let path = path.to_owned();
        move |source| DefinitionsError::File { action, path, source }
    };
    tokio::fs::create_dir_all(dir).await.map_err(file_error("creating", dir))?;
    let mut names = Vec::new();
    for (key, name) in list(s3, from).await? {
        let object = s3
            .get_object()
            .bucket(&from.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| s3_error(format!("downloading s3://{}/{key}", from.bucket), e))?;
        let (part, path) = (dir.join(format!(".{name}.part")), dir.join(&name));
        let mut file = tokio::fs::File::create(&part).await.map_err(file_error("creating", &part))?;
        tokio::io::copy(&mut object.body.into_async_read(), &mut file).await.map_err(file_error("writing", &part))?;
        file.sync_all().await.map_err(file_error("writing", &part))?;
        tokio::fs::rename(&part, &path).await.map_err(file_error("renaming into", &path))?;
        names.push(name);
    }
    if names.is_empty() {
        return Err(DefinitionsError::Empty { bucket: from.bucket.clone(), prefix: from.prefix.clone() });
    }
    Ok(names)
}

/// Uploads every database file of `dir` (a `freshclam` database directory) to the location, and removes files
/// there that `dir` no longer has (freshclam replaces `daily.cvd` with `daily.cld`, for one). Returns the names.
pub async fn push(s3: &Client, dir: &Path, to: &DefinitionsLocation) -> Result<Vec<String>, DefinitionsError> {
    let reading = |source| DefinitionsError::File { action: "reading", path: dir.to_owned(), source };
    let mut entries = tokio::fs::read_dir(dir).await.map_err(reading)?;
    let mut names = Vec::new();
    while let Some(entry) = entries.next_entry().await.map_err(reading)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().await.map_err(reading)?.is_file();
        if !is_file || !is_database_name(&name) {
            continue;
        }
        let key = format!("{}{name}", to.prefix);
        let body = ByteStream::from_path(entry.path()).await.map_err(|e| DefinitionsError::File {
            action: "reading",
            path: entry.path(),
            source: std::io::Error::other(e),
        })?;
        s3.put_object()
            .bucket(&to.bucket)
            .key(&key)
            .body(body)
            .send()
            .await
            .map_err(|e| s3_error(format!("uploading s3://{}/{key}", to.bucket), e))?;
        names.push(name);
    }
    if names.is_empty() {
        // Never empty the prefix: every later cold start would fail.
        return Err(DefinitionsError::File {
            action: "finding databases in",
            path: dir.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no database files"),
        });
    }
    for (key, name) in list(s3, to).await? {
        if !names.contains(&name) {
            s3.delete_object()
                .bucket(&to.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| s3_error(format!("deleting s3://{}/{key}", to.bucket), e))?;
        }
    }
    names.sort();
    Ok(names)
}

/// The database files directly under the location, as (key, file name).
async fn list(s3: &Client, at: &DefinitionsLocation) -> Result<Vec<(String, String)>, DefinitionsError> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(&at.bucket)
            .prefix(&at.prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| s3_error(format!("listing s3://{}/{}", at.bucket, at.prefix), e))?;
        for object in page.contents.unwrap_or_default() {
            let Some(key) = object.key else { continue };
            let name = key[at.prefix.len()..].to_owned();
            if !name.contains('/') && is_database_name(&name) {
                found.push((key, name));
            }
        }
        token = page.next_continuation_token;
        if token.is_none() {
            break;
        }
    }
    Ok(found)
}

/// A file name that can be a database: no path, no hidden or temporary file, not freshclam's state.
fn is_database_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && name != FRESHCLAM_STATE
}

fn s3_error<E, R>(action: String, error: aws_sdk_s3::error::SdkError<E, R>) -> DefinitionsError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    DefinitionsError::S3 { action, message: DisplayErrorContext(&error).to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_s3_urls_with_an_optional_prefix() {
        let at = |bucket: &str, prefix: &str| DefinitionsLocation { bucket: bucket.into(), prefix: prefix.into() };
        assert_eq!(DefinitionsLocation::parse("s3://defs/clamav/").unwrap(), at("defs", "clamav/"));
        assert_eq!(DefinitionsLocation::parse("s3://defs/a/b").unwrap(), at("defs", "a/b/"));
        assert_eq!(DefinitionsLocation::parse("s3://defs").unwrap(), at("defs", ""));
        assert_eq!(DefinitionsLocation::parse("s3://defs/").unwrap(), at("defs", ""));
        for bad in ["defs/clamav", "s3:///clamav", "https://defs.s3.amazonaws.com/clamav"] {
            assert!(DefinitionsLocation::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_database_files_are_copied() {
        assert!(is_database_name("main.cvd") && is_database_name("daily.cld") && is_database_name("local.hdb"));
        assert!(!is_database_name("freshclam.dat") && !is_database_name(".main.cvd.part") && !is_database_name(""));
    }
}
