//! The embedded mail adapter: every message becomes `{data_dir}/outbox/<timestamp>-<message-id>.eml`, a complete
//! RFC 5322 file any mail client opens.
//!
//! A file appears whole or not at all: the bytes go to a hidden temporary file in the same directory, are synced,
//! and are renamed into place (atomic within one file system), so a reader or a crash never sees half a message.
//! The timestamp prefix makes a plain directory listing chronological.
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::Utc;

use super::{mime, Mail, MailError, Mailer, SentMail};

/// The outbox directory under a data directory.
pub fn outbox_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("outbox")
}

/// Writes each message as an `.eml` file into the outbox directory.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
}

impl OutboxMailer {
    /// The outbox of `data_dir` (`{data_dir}/outbox`).
    pub fn new(data_dir: &Path) -> OutboxMailer {
        OutboxMailer { dir: outbox_dir(data_dir) }
    }

    /// Where the `.eml` files land.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the directory if needed.
    pub fn ensure_dir(&self) -> Result<(), MailError> {
        fs::create_dir_all(&self.dir).map_err(|source| MailError::Outbox { path: self.dir.clone(), source })
    }
}

fn write_atomically(dir: &Path, file_name: &str, bytes: &[u8]) -> Result<(), MailError> {
    let outbox_err = |path: &Path| {
        let path = path.to_owned();
        move |source| MailError::Outbox { path, source }
    };
    fs::create_dir_all(dir).map_err(outbox_err(dir))?;
    let temp = dir.join(format!(".{file_name}.tmp"));
    let target = dir.join(file_name);
    let written = (|| {
        let mut file = fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = written.and_then(|()| fs::rename(&temp, &target)) {
        // Best effort: a leftover hidden temp file is harmless, and the write error is what matters.
        let _ = fs::remove_file(&temp);
        return Err(outbox_err(&target)(e));
    }
    // Persist the rename itself; without this a power loss could forget a message reported as sent.
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(outbox_err(dir))
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &Mail) -> Result<SentMail, MailError> {
        let now = Utc::now();
        let encoded = mime::encode(mail, now)?;
        let file_name = format!("{}-{}.eml", now.format("%Y%m%dT%H%M%S%.6fZ"), encoded.message_id);
        let dir = self.dir.clone();
        let path = dir.join(&file_name);
        // File IO blocks; keep it off the async workers.
        tokio::task::spawn_blocking(move || write_atomically(&dir, &file_name, &encoded.bytes))
            .await
            .map_err(|e| MailError::Outbox { path: path.clone(), source: std::io::Error::other(e) })??;
        tracing::debug!(path = %path.display(), message_id = %encoded.message_id, "mail written to the outbox");
        Ok(SentMail { message_id: encoded.message_id })
    }
}
