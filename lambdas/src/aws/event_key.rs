//! Object keys as S3 event notifications carry them: form-urlencoded, so a space arrives as `+`, a `+` as `%2B`
//! and anything outside ASCII as UTF-8 percent escapes. The key must be decoded before it can name the object.
use percent_encoding::percent_decode_str;

/// The event's key does not decode to UTF-8 text, so it names no object S3 could have written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the event key `{0}` does not decode to UTF-8")]
pub struct UndecodableKey(pub String);

/// The object key an S3 event's `s3.object.key` stands for.
pub fn decode_event_key(raw: &str) -> Result<String, UndecodableKey> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8().map(|key| key.into_owned()).map_err(|_| UndecodableKey(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_form_urlencoded() {
        assert_eq!(decode_event_key("uploads/a/b").unwrap(), "uploads/a/b");
        assert_eq!(decode_event_key("Happy+Face%2B1.jpg").unwrap(), "Happy Face+1.jpg");
        assert_eq!(decode_event_key("uploads%2Fx%2D%C3%BC").unwrap(), "uploads/x-ü");
        assert_eq!(decode_event_key("%FF"), Err(UndecodableKey("%FF".into())));
    }
}
