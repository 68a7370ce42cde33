//! What a file's first bytes say it is, and whether that agrees with the type its uploader declared.
//!
//! Downloads are served with the declared type (and `nosniff`), so a file whose bytes disagree with it — HTML
//! declared as a PNG, an executable declared as a PDF — is refused at scan time instead of being served under a
//! false name.

/// How many leading bytes [`sniff`] looks at.
pub const HEAD_LEN: usize = 512;

/// The type the leading bytes show, when they show one.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\xFF\xD8\xFF", "image/jpeg"),
        (b"\x89PNG\r\n\x1A\n", "image/png"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"II*\0", "image/tiff"),
        (b"MM\0*", "image/tiff"),
        (b"%PDF-", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"PK\x05\x06", "application/zip"),
        (b"\x1F\x8B", "application/gzip"),
        (b"7z\xBC\xAF\x27\x1C", "application/x-7z-compressed"),
        (b"Rar!\x1A\x07", "application/vnd.rar"),
        (b"MZ", "application/x-msdownload"),
        (b"\x7FELF", "application/x-executable"),
        (b"\xCF\xFA\xED\xFE", "application/x-mach-binary"),
        (b"\xCE\xFA\xED\xFE", "application/x-mach-binary"),
        (b"\xCA\xFE\xBA\xBE", "application/x-mach-binary"),
        (b"ID3", "audio/mpeg"),
        (b"OggS", "audio/ogg"),
        (b"fLaC", "audio/flac"),
        (b"\x1A\x45\xDF\xA3", "video/webm"),
    ];
    if let Some((_, kind)) = MAGIC.iter().find(|(magic, _)| head.starts_with(magic)) {
        return Some(kind);
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" {
        match &head[8..12] {
            b"WEBP" => return Some("image/webp"),
            b"WAVE" => return Some("audio/wav"),
            b"AVI " => return Some("video/x-msvideo"),
            _ => {}
        }
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return Some(match &head[8..12] {
            b"heic" | b"heix" | b"mif1" => "image/heic",
            b"avif" => "image/avif",
            b"qt  " => "video/quicktime",
            _ => "video/mp4",
        });
    }
    if head.len() >= 2 && &head[..2] == b"BM" && head.len() >= 14 {
        return Some("image/bmp");
    }
    sniff_text(head)
}

/// Markup browsers would render, else plain text when the bytes are text at all.
fn sniff_text(head: &[u8]) -> Option<&'static str> {
    if head.is_empty() || head.contains(&0) {
        return None;
    }
    // A multi-byte character cut at the end of the head is still text.
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    let start = text.trim_start_matches('\u{FEFF}').trim_start().to_ascii_lowercase();
    if ["<!doctype html", "<html", "<script", "<head", "<body", "<iframe"].iter().any(|m| start.starts_with(m)) {
        return Some("text/html");
    }
    if start.starts_with("<svg") || (start.starts_with("<?xml") && start.contains("<svg")) {
        return Some("image/svg+xml");
    }
    Some("text/plain")
}

/// `type/subtype` in lower case, without parameters, with common aliases folded.
pub fn essence(content_type: &str) -> String {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "image/jpg" | "image/pjpeg" => "image/jpeg".into(),
        "image/x-ms-bmp" | "image/x-bmp" => "image/bmp".into(),
        "application/x-zip-compressed" | "application/x-zip" => "application/zip".into(),
        "application/x-gzip" => "application/gzip".into(),
        "audio/mp3" => "audio/mpeg".into(),
        _ => essence,
    }
}

/// Formats stored inside a zip container.
const ZIP_CONTAINERS: &[&str] = &[
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/epub+zip",
    "application/java-archive",
];

/// Whether bytes sniffed as `sniffed` may be served as `declared`.
///
/// `application/octet-stream` claims nothing and agrees with anything. A type with a signature of its own (an
/// image, a PDF, an archive) must match exactly; a declared text type accepts any text; bytes with no recognisable
/// signature agree with any declared type that would have had one only if it has none.
pub fn agrees(declared: &str, sniffed: Option<&str>) -> bool {
    let declared = essence(declared);
    if declared == "application/octet-stream" {
        return true;
    }
    match sniffed {
        Some(sniffed) if sniffed == declared => true,
        Some("application/zip") => ZIP_CONTAINERS.contains(&declared.as_str()),
        Some("text/plain") => is_textual(&declared),
        Some("text/html") => matches!(declared.as_str(), "text/plain" | "application/xhtml+xml"),
        Some("image/svg+xml") => matches!(declared.as_str(), "text/xml" | "application/xml"),
        Some("video/mp4") => matches!(declared.as_str(), "audio/mp4" | "video/quicktime" | "audio/x-m4a"),
        Some(_) => false,
        None => !has_signature(&declared),
    }
}

fn is_textual(declared: &str) -> bool {
    declared.starts_with("text/")
        || matches!(
            declared,
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-yaml"
                | "application/yaml"
                | "application/x-ndjson"
                | "application/sql"
                | "application/rtf"
                | "image/svg+xml"
        )
}

/// Declared types whose files always start with a signature [`sniff`] knows.
fn has_signature(declared: &str) -> bool {
    matches!(
        declared,
        "image/jpeg"
            | "image/png"
            | "image/gif"
            | "image/webp"
            | "image/tiff"
            | "image/bmp"
            | "application/pdf"
            | "application/zip"
            | "application/gzip"
    ) || ZIP_CONTAINERS.contains(&declared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_name_the_type() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1A\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff(b"MZ\x90\0"), Some("application/x-msdownload"));
        assert_eq!(sniff(b"  <!DOCTYPE html><p>hi"), Some("text/html"));
        assert_eq!(sniff(b"<?xml version=\"1.0\"?><svg xmlns=\"x\">"), Some("image/svg+xml"));
        assert_eq!(sniff("plain words, caf\u{e9}".as_bytes()), Some("text/plain"));
        assert_eq!(sniff(&"é".as_bytes()[..1]), Some("text/plain"), "a character cut by the head is still text");
        assert_eq!(sniff(b"\0\x01\x02binary"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn declared_types_must_agree_with_the_bytes() {
        assert!(agrees("image/png", Some("image/png")));
        assert!(agrees("IMAGE/JPG; charset=x", Some("image/jpeg")));
        assert!(agrees(
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Some("application/zip")
        ));
        assert!(agrees("text/csv", Some("text/plain")));
        assert!(agrees("application/octet-stream", Some("application/x-msdownload")));
        assert!(agrees("application/x-custom", None));

        assert!(!agrees("image/png", Some("text/html")), "HTML declared as an image");
        assert!(!agrees("image/png", Some("image/jpeg")));
        assert!(!agrees("application/pdf", Some("application/x-msdownload")));
        assert!(!agrees("image/png", None), "a PNG always has its signature");
        assert!(!agrees("text/plain", Some("application/x-executable")));
        assert!(!agrees("image/jpeg", Some("image/svg+xml")));
    }
}
