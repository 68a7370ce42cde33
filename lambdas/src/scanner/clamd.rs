//! A clamd client: `zINSTREAM` to scan, `zVERSION` for the engine and signature versions, `zPING` for readiness.
//!
//! INSTREAM (clamd(8)): after the command, the file follows as chunks, each a 4-byte big-endian length and that many
//! bytes, ended by a zero length; clamd answers `stream: OK`, `stream: <signature> FOUND` or `<message> ERROR`. The
//! `z` prefix makes commands and replies NUL-terminated. clamd closes the connection once a stream passes its
//! `StreamMaxLength` and says `INSTREAM size limit exceeded. ERROR`; a write that fails is therefore followed by an
//! attempt to read that reply, so the caller learns the reason rather than a broken pipe.
//!
//! Written on tokio directly: the protocol is a few lines, and this way the upload is read and sent one
//! [`CHUNK_SIZE`] piece at a time with a timeout on every step.
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::blocklist::BLOCKLIST_SIGNATURE;
use super::{Blocklist, Outcome, ScanError, ScanInput, Scanner, Verdict, CHUNK_SIZE};

/// Replies longer than this are not clamd's; the longest real ones are signature names and error messages.
const MAX_REPLY_BYTES: usize = 4096;

/// Scans through a clamd reached over TCP.
#[derive(Debug, Clone)]
pub struct ClamdScanner {
    addr: String,
    timeout: Duration,
    blocklist: Blocklist,
}

impl ClamdScanner {
    /// A client of the clamd at `addr` (`host:port`), with a 30 s timeout per step and no block list.
    pub fn new(addr: impl Into<String>) -> Self {
        ClamdScanner { addr: addr.into(), timeout: Duration::from_secs(30), blocklist: Blocklist::default() }
    }

    /// Limits connecting, each write and each read, including the wait for the verdict after the last chunk
    /// (clamd scans then), so it must exceed the longest scan clamd is allowed (`MaxScanTime`).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Also blocks files whose SHA-256 is on this list (computed while streaming; clamd's verdict comes first).
    pub fn with_blocklist(mut self, blocklist: Blocklist) -> Self {
        self.blocklist = blocklist;
        self
    }

    /// Whether clamd answers `PONG`.
    pub async fn ping(&self) -> Result<(), ScanError> {
        let reply = self.command(b"zPING\0").await?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(self.protocol(reply))
        }
    }

    /// clamd's version line without the `ClamAV ` prefix: `1.4.6/27500/<date of the daily database>`, or just the
    /// engine version when the loaded databases carry no version (custom signatures only).
    pub async fn version(&self) -> Result<String, ScanError> {
        let reply = self.command(b"zVERSION\0").await?;
        match reply.strip_prefix("ClamAV ") {
            Some(version) if !version.is_empty() => Ok(version.to_owned()),
            _ => Err(self.protocol(reply)),
        }
    }

    async fn connect(&self) -> Result<TcpStream, ScanError> {
        let stream = self
            .step("connecting", TcpStream::connect(&self.addr))
            .await?
            .map_err(|source| ScanError::Connect { addr: self.addr.clone(), source })?;
        // Chunks are written whole; Nagle would only delay the terminator.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// Sends a one-shot command and returns its reply.
    async fn command(&self, command: &[u8]) -> Result<String, ScanError> {
        let mut conn = self.connect().await?;
        self.write(&mut conn, command, "sending a command").await?;
        self.read_reply(&mut conn).await
    }

    async fn write(&self, conn: &mut TcpStream, bytes: &[u8], stage: &'static str) -> Result<(), ScanError> {
        self.step(stage, conn.write_all(bytes)).await?.map_err(|source| self.io(stage, source))
    }

    /// Reads up to the NUL that ends a `z` reply (or the end of the connection).
    async fn read_reply(&self, conn: &mut TcpStream) -> Result<String, ScanError> {
        let mut reply = Vec::with_capacity(64);
        let mut buf = [0u8; 512];
        loop {
            let n = self
                .step("waiting for the reply", conn.read(&mut buf))
                .await?
                .map_err(|source| self.io("waiting for the reply", source))?;
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buf[..n]);
            if let Some(end) = reply.iter().position(|&b| b == 0) {
                reply.truncate(end);
                break;
            }
            if reply.len() > MAX_REPLY_BYTES {
                return Err(self.protocol(String::from_utf8_lossy(&reply[..MAX_REPLY_BYTES]).into_owned()));
            }
        }
        if reply.is_empty() {
            return Err(self.protocol("(connection closed without a reply)".into()));
        }
        Ok(String::from_utf8_lossy(&reply).trim().to_owned())
    }

    /// After a failed write: clamd may have closed the stream on purpose and said why.
    async fn explain_write_failure(&self, conn: &mut TcpStream, source: std::io::Error) -> ScanError {
        match self.read_reply(conn).await {
            Ok(reply) => match self.interpret(reply) {
                Err(explained) => explained,
                // A verdict before the stream ended is not one to trust.
                Ok(_) => self.io("streaming the upload", source),
            },
            Err(_) => self.io("streaming the upload", source),
        }
    }

    /// Turns an INSTREAM reply into an outcome or the error it reports.
    fn interpret(&self, reply: String) -> Result<Outcome, ScanError> {
        if let Some(result) = reply.strip_prefix("stream: ") {
            if result == "OK" {
                return Ok(Outcome::Clean);
            }
            if let Some(signature) = result.strip_suffix(" FOUND") {
                return Ok(Outcome::Infected { signature: signature.to_owned() });
            }
        }
        if reply.contains("size limit exceeded") {
            return Err(ScanError::SizeLimitExceeded { addr: self.addr.clone() });
        }
        if reply.ends_with("ERROR") {
            return Err(ScanError::Engine { addr: self.addr.clone(), reply });
        }
        Err(self.protocol(reply))
    }

    async fn step<T>(&self, stage: &'static str, fut: impl Future<Output = T>) -> Result<T, ScanError> {
        tokio::time::timeout(self.timeout, fut).await.map_err(|_| ScanError::Timeout {
            addr: self.addr.clone(),
            stage,
            timeout: self.timeout,
        })
    }

    fn io(&self, stage: &'static str, source: std::io::Error) -> ScanError {
        ScanError::Io { addr: self.addr.clone(), stage, source }
    }

    fn protocol(&self, reply: String) -> ScanError {
        ScanError::Protocol { addr: self.addr.clone(), reply }
    }
}

#[async_trait]
impl Scanner for ClamdScanner {
    async fn scan(&self, upload: &mut (dyn AsyncRead + Send + Unpin), input: &ScanInput) -> Result<Verdict, ScanError> {
        // Asked per scan rather than cached: clamd reloads its databases while running, and the verdict must name the
        // signatures that actually judged this file. One extra local round trip is small next to the scan.
        let mut engine_version = self.version().await?;
        let mut conn = self.connect().await?;
        self.write(&mut conn, b"zINSTREAM\0", "starting the stream").await?;

        // One buffer for the whole stream: a 4-byte length prefix followed by up to CHUNK_SIZE bytes of the upload,
        // written with one call per chunk.
        let mut frame = vec![0u8; 4 + CHUNK_SIZE];
        let mut hasher = Sha256::new();
        let mut streamed: u64 = 0;
        loop {
            let n = upload.read(&mut frame[4..]).await.map_err(ScanError::Source)?;
            if n == 0 {
                break;
            }
            hasher.update(&frame[4..4 + n]);
            streamed += n as u64;
            frame[..4].copy_from_slice(&(n as u32).to_be_bytes());
            let sent = self.step("streaming the upload", conn.write_all(&frame[..4 + n])).await?;
            if let Err(source) = sent {
                return Err(self.explain_write_failure(&mut conn, source).await);
            }
        }
        if let Err(source) = self.step("ending the stream", conn.write_all(&0u32.to_be_bytes())).await? {
            return Err(self.explain_write_failure(&mut conn, source).await);
        }
        let reply = self.read_reply(&mut conn).await?;
        let mut outcome = self.interpret(reply)?;

        if !self.blocklist.is_empty() {
            engine_version = format!("{engine_version}; blocklist {}", self.blocklist.fingerprint());
            if outcome == Outcome::Clean && self.blocklist.contains(&hasher.finalize().into()) {
                outcome = Outcome::Infected { signature: BLOCKLIST_SIGNATURE.into() };
            }
        }
        tracing::debug!(
            file_name = %input.file_name,
            declared_content_type = %input.declared_content_type,
            bytes = streamed,
            ?outcome,
            "clamd scanned an upload"
        );
        Ok(Verdict { outcome, engine: "clamav".into(), engine_version })
    }
}
