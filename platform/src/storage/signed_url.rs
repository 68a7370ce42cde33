//! The local adapter's signed URLs: `{public_url}/api/v1/blobs/{key}?expires=…&ct=…&len=…&sig=…` for uploads and
//! `…?expires=…[&disp=…][&ct=…]&sig=…` for downloads, where `sig` is the server key's HMAC (`SecretKey::sign`, purpose
//! `blob_put` or `blob_get`) over every field that shapes the request. The API's blob handler turns the query into
//! a [`BlobQuery`] and lets [`super::LocalStorage::verify_put`] / `verify_get` decide; a change to any field, the
//! key included, breaks the signature.
//!
//! The signed message is a JSON array of the fields in a fixed order, so no value can be shifted into its
//! neighbour and an absent field (`null`) differs from an empty one.
use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::json;

use super::{validate_key, Refusal, StorageError};
use crate::secret_key::SecretKey;

/// Where the API serves blob URLs; keys follow as the rest of the path.
pub const BLOB_ROUTE: &str = "/api/v1/blobs";

const PUT_PURPOSE: &str = "blob_put";
const GET_PURPOSE: &str = "blob_get";

/// Path-segment encoding: everything but unreserved characters (RFC 3986) is escaped.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The query of a blob URL, as the handler received it (every field optional: a missing one is a refusal, not a
/// parse error).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobQuery {
    pub expires: Option<String>,
    pub sig: Option<String>,
    pub ct: Option<String>,
    pub len: Option<String>,
    pub disp: Option<String>,
}

impl BlobQuery {
    /// Parses a raw (still percent-encoded) query string; unknown parameters are ignored, a repeated one refused.
    pub fn parse(query: &str) -> Result<BlobQuery, StorageError> {
        let mut q = BlobQuery::default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                "expires" => &mut q.expires,
                "sig" => &mut q.sig,
                "ct" => &mut q.ct,
                "len" => &mut q.len,
                "disp" => &mut q.disp,
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(StorageError::Forbidden(Refusal::Malformed("a repeated query parameter")));
            }
        }
        Ok(q)
    }

    fn to_query(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (name, value) in
            [("expires", &self.expires), ("ct", &self.ct), ("len", &self.len), ("disp", &self.disp), ("sig", &self.sig)]
        {
            if let Some(v) = value {
                s.append_pair(name, v);
            }
        }
        s.finish()
    }
}

/// What a verified upload URL allows: exactly this type and length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutGrant {
    pub content_type: String,
    pub content_length: u64,
}

impl PutGrant {
    /// Refuses a request whose `Content-Type` or length (the `Content-Length` header, or the bytes actually
    /// received) differs from the signed ones.
    pub fn check(&self, content_type: Option<&str>, content_length: Option<u64>) -> Result<(), StorageError> {
        let sent = content_type.unwrap_or("");
        if sent != self.content_type {
            return Err(StorageError::Forbidden(Refusal::ContentTypeMismatch {
                signed: self.content_type.clone(),
                sent: sent.to_owned(),
            }));
        }
        match content_length {
            Some(len) if len == self.content_length => Ok(()),
            Some(len) => {
                Err(StorageError::Forbidden(Refusal::ContentLengthMismatch { signed: self.content_length, sent: len }))
            }
            None => Err(StorageError::Forbidden(Refusal::Malformed("the upload has no Content-Length"))),
        }
    }
}

/// What a verified download URL asks the response to carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetGrant {
    pub content_disposition: Option<String>,
    pub response_content_type: Option<String>,
}

fn put_message(key: &str, expires: &str, ct: &str, len: &str) -> Vec<u8> {
    json!(["PUT", key, expires, ct, len]).to_string().into_bytes()
}

fn get_message(key: &str, expires: &str, disp: Option<&str>, ct: Option<&str>) -> Vec<u8> {
    json!(["GET", key, expires, disp, ct]).to_string().into_bytes()
}

/// The URL of `key` under `public_url` with `query`.
fn url(public_url: &str, key: &str, query: &BlobQuery) -> String {
    let path: Vec<String> = key.split('/').map(|s| utf8_percent_encode(s, SEGMENT).to_string()).collect();
    format!("{public_url}{BLOB_ROUTE}/{}?{}", path.join("/"), query.to_query())
}

pub(super) fn sign_put(
    secret: &SecretKey,
    public_url: &str,
    key: &str,
    expires_at: DateTime<Utc>,
    content_type: &str,
    content_length: u64,
) -> String {
    let mut q = BlobQuery {
        expires: Some(expires_at.timestamp().to_string()),
        ct: Some(content_type.to_owned()),
        len: Some(content_length.to_string()),
        ..BlobQuery::default()
    };
    let message = put_message(key, q.expires.as_deref().unwrap_or(""), content_type, q.len.as_deref().unwrap_or(""));
    q.sig = Some(secret.sign(PUT_PURPOSE, &message));
    url(public_url, key, &q)
}

pub(super) fn sign_get(
    secret: &SecretKey,
    public_url: &str,
    key: &str,
    expires_at: DateTime<Utc>,
    disp: Option<&str>,
    ct: Option<&str>,
) -> String {
    let mut q = BlobQuery {
        expires: Some(expires_at.timestamp().to_string()),
        disp: disp.map(str::to_owned),
        ct: ct.map(str::to_owned),
        ..BlobQuery::default()
    };
    let message = get_message(key, q.expires.as_deref().unwrap_or(""), disp, ct);
    q.sig = Some(secret.sign(GET_PURPOSE, &message));
    url(public_url, key, &q)
}

/// Signature first, then expiry: a tampered URL is refused as such whatever its dates.
fn check(
    secret: &SecretKey,
    purpose: &str,
    message: &[u8],
    query: &BlobQuery,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let sig = query.sig.as_deref().ok_or(StorageError::Forbidden(Refusal::Malformed("no sig")))?;
    if !secret.verify(purpose, message, sig) {
        return Err(StorageError::Forbidden(Refusal::BadSignature));
    }
    let expires = query.expires.as_deref().and_then(|e| e.parse::<i64>().ok());
    let expired_at = expires
        .and_then(|e| DateTime::<Utc>::from_timestamp(e, 0))
        .ok_or(StorageError::Forbidden(Refusal::Malformed("expires is not a timestamp")))?;
    if now >= expired_at {
        return Err(StorageError::Expired { expired_at });
    }
    Ok(())
}

pub(super) fn verify_put(
    secret: &SecretKey,
    key: &str,
    query: &BlobQuery,
    now: DateTime<Utc>,
) -> Result<PutGrant, StorageError> {
    validate_key(key)?;
    let malformed = |what| StorageError::Forbidden(Refusal::Malformed(what));
    let expires = query.expires.as_deref().ok_or(malformed("no expires"))?;
    let ct = query.ct.as_deref().ok_or(malformed("no ct"))?;
    let len = query.len.as_deref().ok_or(malformed("no len"))?;
    if query.disp.is_some() {
        return Err(malformed("an upload URL carries no disp"));
    }
    check(secret, PUT_PURPOSE, &put_message(key, expires, ct, len), query, now)?;
    let content_length = len.parse().map_err(|_| malformed("len is not a number"))?;
    Ok(PutGrant { content_type: ct.to_owned(), content_length })
}

pub(super) fn verify_get(
    secret: &SecretKey,
    key: &str,
    query: &BlobQuery,
    now: DateTime<Utc>,
) -> Result<GetGrant, StorageError> {
    validate_key(key)?;
    let expires = query.expires.as_deref().ok_or(StorageError::Forbidden(Refusal::Malformed("no expires")))?;
    if query.len.is_some() {
        return Err(StorageError::Forbidden(Refusal::Malformed("a download URL carries no len")));
    }
    let message = get_message(key, expires, query.disp.as_deref(), query.ct.as_deref());
    check(secret, GET_PURPOSE, &message, query, now)?;
    Ok(GetGrant { content_disposition: query.disp.clone(), response_content_type: query.ct.clone() })
}
