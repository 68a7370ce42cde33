//! Behaviour every adapter shares, written once against `dyn Storage`.
use platform::storage::{Storage, StorageError};
use tokio::io::AsyncReadExt;

/// Bytes that differ at every offset, so a reordered or dropped chunk shows.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

async fn read_all(storage: &dyn Storage, key: &str) -> Vec<u8> {
    let mut object = storage.open(key).await.expect("the object opens");
    let mut bytes = Vec::new();
    object.body.read_to_end(&mut bytes).await.expect("the object reads to its end");
    assert_eq!(object.meta.size, bytes.len() as u64, "open reports the size it streams");
    bytes
}

/// head, copy, rename, tags and delete on `prefix/…` keys.
pub async fn head_copy_rename_tags_delete_round_trip(storage: &dyn Storage, prefix: &str) {
    let key = format!("{prefix}/original/report.pdf");
    assert_eq!(storage.head(&key).await.unwrap(), None, "nothing there yet");
    assert!(matches!(storage.open(&key).await, Err(StorageError::NotFound { .. })));

    let meta = storage.put(&key, &mut &b"%PDF-1.7 hello"[..], "application/pdf").await.unwrap();
    assert_eq!((meta.size, meta.content_type.as_str()), (14, "application/pdf"));
    let head = storage.head(&key).await.unwrap().expect("the object exists");
    assert_eq!((head.size, head.content_type.as_str()), (14, "application/pdf"));

    let tags = vec![("scan".to_owned(), "clean".to_owned()), ("engine".to_owned(), "clamav 1.4".to_owned())];
    storage.set_tags(&key, &tags).await.unwrap();
    let mut sorted = tags.clone();
    sorted.sort();
    assert_eq!(storage.tags(&key).await.unwrap(), sorted);
    storage.set_tags(&key, &[("scan".into(), "infected".into())]).await.unwrap();
    assert_eq!(storage.tags(&key).await.unwrap(), [("scan".to_owned(), "infected".to_owned())], "tags are replaced");
    let too_many: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    assert!(matches!(storage.set_tags(&key, &too_many).await, Err(StorageError::InvalidSpec { .. })));

    let copy = format!("{prefix}/copy/report.pdf");
    storage.copy(&key, &copy).await.unwrap();
    assert_eq!(read_all(storage, &copy).await, b"%PDF-1.7 hello");
    assert_eq!(storage.head(&copy).await.unwrap(), Some(head.clone()), "the copy keeps the type");
    assert_eq!(storage.tags(&copy).await.unwrap(), [("scan".to_owned(), "infected".to_owned())], "and the tags");
    assert!(storage.head(&key).await.unwrap().is_some(), "a copy leaves the source");

    let quarantined = format!("{prefix}/quarantine/report.pdf");
    storage.rename(&key, &quarantined).await.unwrap();
    assert_eq!(storage.head(&key).await.unwrap(), None, "a move removes the source");
    assert_eq!(read_all(storage, &quarantined).await, b"%PDF-1.7 hello");
    assert_eq!(storage.tags(&quarantined).await.unwrap(), [("scan".to_owned(), "infected".to_owned())]);
    assert!(matches!(storage.rename(&key, &copy).await, Err(StorageError::NotFound { .. })));

    storage.delete(&quarantined).await.unwrap();
    assert_eq!(storage.head(&quarantined).await.unwrap(), None);
    storage.delete(&quarantined).await.expect("deleting a missing object succeeds");
    assert!(matches!(storage.tags(&quarantined).await, Err(StorageError::NotFound { .. })));
}

/// A multi-megabyte object goes in through `put` and comes back through `open` byte for byte, and replacing it
/// with a smaller one leaves only the new bytes.
pub async fn multi_megabyte_objects_stream_in_and_out(storage: &dyn Storage, prefix: &str) {
    let key = format!("{prefix}/big.bin");
    // Past two S3 parts (8 MiB each), not a multiple of the part size.
    let bytes = pattern(19 * 1024 * 1024 + 12_345);
    let meta = storage.put(&key, &mut bytes.as_slice(), "application/octet-stream").await.unwrap();
    assert_eq!(meta.size, bytes.len() as u64);
    assert_eq!(storage.head(&key).await.unwrap().unwrap().size, bytes.len() as u64);
    assert!(read_all(storage, &key).await == bytes, "the streamed bytes differ from what was put");

    storage.put(&key, &mut &b"small"[..], "text/plain").await.unwrap();
    assert_eq!(read_all(storage, &key).await, b"small");
    assert_eq!(storage.head(&key).await.unwrap().unwrap().content_type, "text/plain");
    // The S3 run shares one moto server with every other test: leave nothing big behind.
    storage.delete(&key).await.unwrap();
}

/// Keys that could leave the store's namespace are refused by every operation, before any I/O.
pub async fn traversal_keys_are_refused(storage: &dyn Storage) {
    use platform::storage::{GetSpec, PutSpec};
    use std::time::Duration;
    for key in ["../x", "/etc/passwd", "a/../../b", "a\0b", ""] {
        let invalid =
            |r: Result<(), StorageError>| assert!(matches!(r, Err(StorageError::InvalidKey { .. })), "{key:?}");
        let put = PutSpec { content_type: "text/plain".into(), content_length: 1, expires_in: Duration::from_secs(60) };
        invalid(storage.presign_put(key, put).await.map(|_| ()));
        let get = GetSpec { expires_in: Duration::from_secs(60), ..GetSpec::default() };
        invalid(storage.presign_get(key, get).await.map(|_| ()));
        invalid(storage.put(key, &mut &b"x"[..], "text/plain").await.map(|_| ()));
        invalid(storage.open(key).await.map(|_| ()));
        invalid(storage.head(key).await.map(|_| ()));
        invalid(storage.delete(key).await);
        invalid(storage.copy("ok", key).await);
        invalid(storage.set_tags(key, &[]).await);
    }
}
