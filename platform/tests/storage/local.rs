//! The local adapter: signed upload and download URLs checked the way the API's blob handler will check them, and
//! atomic, streamed writes under `{data_dir}/blobs/`.
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use platform::secret_key::SecretKey;
use platform::storage::{
    storage_from_config, BlobQuery, GetGrant, GetSpec, LocalStorage, PutGrant, PutSpec, Refusal, Storage, StorageError,
    BLOB_ROUTE,
};
use platform::Config;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use crate::contract;

const PUBLIC_URL: &str = "https://tasks.example.com";

/// A private blob directory, removed at the end of the test.
struct Blobs(PathBuf);

impl Blobs {
    fn new() -> Blobs {
        Blobs(std::env::temp_dir().join(format!("taskforge-blobs-test-{}", Uuid::now_v7().simple())))
    }

    fn storage(&self) -> LocalStorage {
        LocalStorage::new(&self.0, PUBLIC_URL, SecretKey::new("s".repeat(32)))
    }
}

impl Drop for Blobs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The key (percent-decoded) and the raw query of a blob URL, as the handler's router would split them.
fn split(url: &str) -> (String, String) {
    let rest = url.strip_prefix(&format!("{PUBLIC_URL}{BLOB_ROUTE}/")).expect("a blob URL under the public URL");
    let (path, query) = rest.split_once('?').expect("a query");
    let key = percent_encoding::percent_decode_str(path).decode_utf8().unwrap().into_owned();
    (key, query.to_owned())
}

/// `query` with parameter `name` replaced by `value` (or removed for `None`).
fn with_param(query: &str, name: &str, value: Option<&str>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k != name {
            s.append_pair(&k, &v);
        } else if let Some(value) = value {
            s.append_pair(&k, value);
        }
    }
    s.finish()
}

fn put_spec(content_type: &str, len: u64) -> PutSpec {
    PutSpec { content_type: content_type.into(), content_length: len, expires_in: Duration::from_secs(300) }
}

fn soon() -> DateTime<Utc> {
    Utc::now()
}

#[tokio::test]
async fn a_signed_upload_url_accepts_exactly_the_declared_upload() {
    let blobs = Blobs::new();
    let storage = blobs.storage();
    let key = "orgs/1/attachments/2/Zoë's report (final).pdf";
    let body = b"%PDF-1.7 twenty bytes";
    let req = storage.presign_put(key, put_spec("application/pdf", body.len() as u64)).await.unwrap();
    assert_eq!(req.method, "PUT");
    assert!(req.headers.contains(&("content-type".into(), "application/pdf".into())), "{:?}", req.headers);
    let lifetime = req.expires_at - Utc::now();
    assert!(lifetime <= chrono::Duration::seconds(300) && lifetime > chrono::Duration::seconds(290), "{lifetime}");

    let (url_key, query) = split(&req.url);
    assert_eq!(url_key, key, "the key survives the URL's encoding");
    let grant = storage.verify_put(&url_key, &BlobQuery::parse(&query).unwrap(), soon()).unwrap();
    assert_eq!(grant, PutGrant { content_type: "application/pdf".into(), content_length: body.len() as u64 });
    grant.check(Some("application/pdf"), Some(body.len() as u64)).unwrap();

    let refused = |r: Result<(), StorageError>| match r {
        Err(StorageError::Forbidden(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(matches!(refused(grant.check(Some("text/html"), Some(21))), Refusal::ContentTypeMismatch { .. }));
    assert!(matches!(refused(grant.check(None, Some(21))), Refusal::ContentTypeMismatch { .. }));
    assert!(matches!(
        refused(grant.check(Some("application/pdf"), Some(22))),
        Refusal::ContentLengthMismatch { signed: 21, sent: 22 }
    ));
    assert!(matches!(refused(grant.check(Some("application/pdf"), None)), Refusal::Malformed(_)));

    let meta = storage.put_granted(&url_key, &grant, &mut &body[..]).await.unwrap();
    assert_eq!((meta.size, meta.content_type.as_str()), (21, "application/pdf"));
    let mut object = storage.open(key).await.unwrap();
    let mut back = Vec::new();
    object.body.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, body);
    assert!(blobs.0.join("objects/orgs/1/attachments/2").is_dir(), "objects live under blobs/objects/");
}

#[tokio::test]
async fn an_upload_longer_or_shorter_than_signed_is_refused_and_keeps_the_old_object() {
    let blobs = Blobs::new();
    let storage = blobs.storage();
    storage.put("a/b.txt", &mut &b"old"[..], "text/plain").await.unwrap();
    let grant = PutGrant { content_type: "text/plain".into(), content_length: 5 };
    for body in [&b"four"[..], &b"sixsix"[..], &contract::pattern(1 << 20)[..]] {
        let err = storage.put_granted("a/b.txt", &grant, &mut &body[..]).await.unwrap_err();
        assert!(matches!(err, StorageError::Forbidden(Refusal::ContentLengthMismatch { signed: 5, .. })), "{err}");
    }
    let mut back = Vec::new();
    storage.open("a/b.txt").await.unwrap().body.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"old");
    assert_eq!(std::fs::read_dir(blobs.0.join("tmp")).unwrap().count(), 0, "no temporary file is left behind");
}

#[tokio::test]
async fn changing_any_field_of_an_upload_url_breaks_its_signature() {
    let blobs = Blobs::new();
    let storage = blobs.storage();
    let req = storage.presign_put("a/b.png", put_spec("image/png", 1000)).await.unwrap();
    let (key, query) = split(&req.url);
    let expires: i64 = BlobQuery::parse(&query).unwrap().expires.unwrap().parse().unwrap();
    let later = (expires + 3600).to_string();
    let tampered = [
        ("expires", Some(later.as_str())),
        ("ct", Some("text/html")),
        ("len", Some("1000000000")),
        ("sig", Some("AAAA")),
    ];
    for (name, value) in tampered {
        let q = BlobQuery::parse(&with_param(&query, name, value)).unwrap();
        let err = storage.verify_put(&key, &q, soon()).unwrap_err();
        assert!(matches!(err, StorageError::Forbidden(Refusal::BadSignature)), "{name}: {err}");
    }
    for name in ["expires", "ct", "len", "sig"] {
        let q = BlobQuery::parse(&with_param(&query, name, None)).unwrap();
        let err = storage.verify_put(&key, &q, soon()).unwrap_err();
        assert!(matches!(err, StorageError::Forbidden(Refusal::Malformed(_))), "without {name}: {err}");
    }
    let q = BlobQuery::parse(&query).unwrap();
    let err = storage.verify_put("a/c.png", &q, soon()).unwrap_err();
    assert!(matches!(err, StorageError::Forbidden(Refusal::BadSignature)), "another key: {err}");
    let other_key = LocalStorage::new(&blobs.0, PUBLIC_URL, SecretKey::new("t".repeat(32)));
    assert!(matches!(other_key.verify_put(&key, &q, soon()), Err(StorageError::Forbidden(Refusal::BadSignature))));
    let err = storage.verify_get(&key, &q, soon()).unwrap_err();
    assert!(matches!(err, StorageError::Forbidden(_)), "an upload URL is no download URL: {err}");
    let err = BlobQuery::parse(&format!("{query}&ct=text/html")).unwrap_err();
    assert!(matches!(err, StorageError::Forbidden(Refusal::Malformed(_))), "a repeated parameter: {err}");
}

#[tokio::test]
async fn a_signed_url_is_refused_from_its_expiry_on() {
    let blobs = Blobs::new();
    let storage = blobs.storage();
    let put = storage.presign_put("a/b", put_spec("text/plain", 1)).await.unwrap();
    let get = storage.presign_get("a/b", GetSpec { expires_in: Duration::from_secs(60), ..GetSpec::default() });
    let get = get.await.unwrap();
    let (key, put_query) = split(&put.url);
    let (_, get_query) = split(&get.url);
    let (put_query, get_query) = (BlobQuery::parse(&put_query).unwrap(), BlobQuery::parse(&get_query).unwrap());
    let just_before = put.expires_at - chrono::Duration::seconds(1);
    storage.verify_put(&key, &put_query, just_before).expect("valid until its expiry");
    for at in [put.expires_at, put.expires_at + chrono::Duration::days(1)] {
        let err = storage.verify_put(&key, &put_query, at).unwrap_err();
        assert!(matches!(err, StorageError::Expired { expired_at } if expired_at == put.expires_at), "{err}");
    }
    storage.verify_get(&key, &get_query, get.expires_at - chrono::Duration::seconds(1)).unwrap();
    let err = storage.verify_get(&key, &get_query, get.expires_at).unwrap_err();
    assert!(matches!(err, StorageError::Expired { .. }), "{err}");
}

#[tokio::test]
async fn a_download_url_carries_its_signed_disposition_and_type() {
    let blobs = Blobs::new();
    let storage = blobs.storage();
    let spec = GetSpec {
        expires_in: Duration::from_secs(120),
        content_disposition: Some("attachment; filename=\"a b.html\"; filename*=UTF-8''a%20b.html".into()),
        response_content_type: Some("text/plain; charset=utf-8".into()),
    };
    let req = storage.presign_get("x/a b.html", spec.clone()).await.unwrap();
    assert_eq!(req.method, "GET");
    let (key, query) = split(&req.url);
    let grant = storage.verify_get(&key, &BlobQuery::parse(&query).unwrap(), soon()).unwrap();
    assert_eq!(
        grant,
        GetGrant {
            content_disposition: spec.content_disposition.clone(),
            response_content_type: spec.response_content_type.clone()
        }
    );
    for (name, value) in [("disp", Some("inline")), ("disp", None), ("ct", Some("text/html")), ("ct", None)] {
        let q = BlobQuery::parse(&with_param(&query, name, value)).unwrap();
        let err = storage.verify_get(&key, &q, soon()).unwrap_err();
        assert!(matches!(err, StorageError::Forbidden(Refusal::BadSignature)), "{name}={value:?}: {err}");
    }
    let q = BlobQuery::parse(&format!("{query}&len=5")).unwrap();
    assert!(matches!(storage.verify_get(&key, &q, soon()), Err(StorageError::Forbidden(Refusal::Malformed(_)))));

    let plain = storage.presign_get("x/y", GetSpec { expires_in: Duration::from_secs(60), ..Default::default() });
    let (key, query) = split(&plain.await.unwrap().url);
    let grant = storage.verify_get(&key, &BlobQuery::parse(&query).unwrap(), soon()).unwrap();
    assert_eq!(grant, GetGrant { content_disposition: None, response_content_type: None });
    let q = BlobQuery::parse(&format!("{query}&disp=")).unwrap();
    assert!(
        matches!(storage.verify_get(&key, &q, soon()), Err(StorageError::Forbidden(Refusal::BadSignature))),
        "an empty disposition is not an absent one"
    );
}

#[tokio::test]
async fn traversal_keys_are_refused_by_every_operation_and_by_url_checks() {
    let blobs = Blobs::new();
    let storage = blobs.storage();
    contract::traversal_keys_are_refused(&storage).await;
    // A URL signed for a good key does not open another path, whatever the handler's router hands over.
    let req = storage.presign_put("a/b", put_spec("text/plain", 1)).await.unwrap();
    let (_, query) = split(&req.url);
    let q = BlobQuery::parse(&query).unwrap();
    for key in ["../x", "/etc/passwd", "a/../../b", "a/b/.."] {
        assert!(matches!(storage.verify_put(key, &q, soon()), Err(StorageError::InvalidKey { .. })), "{key}");
        assert!(matches!(storage.verify_get(key, &q, soon()), Err(StorageError::InvalidKey { .. })), "{key}");
    }
    assert!(!blobs.0.join("x").exists() && !blobs.0.exists(), "nothing was written");
}

#[tokio::test]
async fn a_reader_keeps_the_version_it_opened_while_the_object_is_replaced() {
    let blobs = Blobs::new();
    let storage = blobs.storage();
    let old = contract::pattern(3 * 1024 * 1024);
    storage.put("k", &mut old.as_slice(), "application/octet-stream").await.unwrap();
    let mut reader = storage.open("k").await.unwrap();
    let mut first = vec![0u8; 1024];
    reader.body.read_exact(&mut first).await.unwrap();
    storage.put("k", &mut &b"new"[..], "text/plain").await.unwrap();
    let mut rest = Vec::new();
    reader.body.read_to_end(&mut rest).await.unwrap();
    first.extend(rest);
    assert!(first == old, "the open reader saw a mix of old and new bytes");
    assert_eq!(storage.head("k").await.unwrap().unwrap().size, 3);
}

#[tokio::test]
async fn local_storage_passes_the_shared_round_trip() {
    let blobs = Blobs::new();
    contract::head_copy_rename_tags_delete_round_trip(&blobs.storage(), "orgs/1").await;
}

#[tokio::test]
async fn local_storage_streams_multi_megabyte_objects() {
    let blobs = Blobs::new();
    contract::multi_megabyte_objects_stream_in_and_out(&blobs.storage(), "orgs/1").await;
}

#[tokio::test]
async fn the_configured_local_storage_signs_with_the_public_url_under_the_data_dir() {
    let blobs = Blobs::new();
    let config = Config::from_pairs([
        ("data_dir", blobs.0.display().to_string()),
        ("public_url", "https://tf.example.org/".to_string()),
    ])
    .unwrap();
    let storage = storage_from_config(&config).await.unwrap();
    let req = storage.presign_put("a/b", put_spec("text/plain", 1)).await.unwrap();
    assert!(req.url.starts_with("https://tf.example.org/api/v1/blobs/a/b?"), "{}", req.url);
    storage.put("a/b", &mut &b"x"[..], "text/plain").await.unwrap();
    assert!(blobs.0.join("blobs/objects/a/b").is_file());
    assert!(blobs.0.join("secret.key").is_file(), "the URLs are signed with the server's key");
}
