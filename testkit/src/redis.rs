//! Redis for the tests: the shared server (`TASKFORGE_TEST_REDIS_URL`, never flushed: tests use keys of their own),
//! and private `redis-server` processes that a test may stop and restart without disturbing anyone else.
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{eventually, reachable, unavailable};

const READY: Duration = Duration::from_secs(10);

/// The shared Redis of the tests.
pub fn shared_redis_url() -> String {
    std::env::var("TASKFORGE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The shared Redis's URL if it answers; `None` (or a panic under `CI=true`) if not.
pub async fn shared_redis() -> Option<String> {
    let url = shared_redis_url();
    match reachable(&url.replace("redis://", "http://")).await {
        Ok(()) => Some(url),
        Err(e) => {
            unavailable("Redis", &url, e);
            None
        }
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port").local_addr().expect("a local address").port()
}

/// A private redis-server on `port`, without persistence (a restart starts empty), killed on drop.
pub struct PrivateRedis {
    port: u16,
    child: Child,
}

impl PrivateRedis {
    /// Starts redis-server on `port` and waits until it listens; `None` (or a panic under `CI=true`) when there is
    /// no redis-server to run.
    pub async fn start(port: u16) -> Option<PrivateRedis> {
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn();
        let redis = match spawned {
            Ok(child) => PrivateRedis { port, child },
            Err(e) => {
                unavailable("redis-server", "PATH", e);
                return None;
            }
        };
        let url = format!("http://127.0.0.1:{port}");
        eventually(READY, "the private redis-server to listen", || async { reachable(&url).await.ok() }).await;
        Some(redis)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server and waits until the port refuses connections.
    pub async fn stop(mut self) {
        self.kill();
        let url = format!("http://127.0.0.1:{}", self.port);
        eventually(READY, "the private redis-server to stop", || async { reachable(&url).await.err().map(|_| ()) })
            .await;
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
