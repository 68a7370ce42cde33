//! The bus port: the in-process bus, and the Redis bus as several processes use it (two buses on one Redis), its
//! reconnect after Redis restarts (a private `redis-server`, so the shared one is never stopped) and a quick
//! failure when Redis is unreachable.
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use platform::bus::{Bus, BusError, BusMessage, LiveEvent, MemoryBus, RedisBus};
use platform::events::ActivityEvent;
use serde_json::json;
use tokio::sync::broadcast;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

fn event(org_id: Uuid) -> LiveEvent {
    let id = Uuid::now_v7();
    LiveEvent {
        event: ActivityEvent {
            id,
            org_id,
            occurred_at: Utc::now(),
            event_type: "task.moved".into(),
            actor_id: Some(Uuid::now_v7()),
            entity_type: "task".into(),
            entity_id: id,
            project_id: Some(Uuid::now_v7()),
            task_id: Some(id),
            payload: json!({"changes": {"status_id": {"from": "a", "to": "b"}}}),
        },
        task: Some(json!({"id": id, "key": "WEB-1", "version": 2})),
    }
}

/// The next event of `org_id` on `rx` (other tests share the Redis channel), skipping gaps.
async fn next_event(rx: &mut broadcast::Receiver<BusMessage>, org_id: Uuid) -> LiveEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            match rx.recv().await.expect("the bus is open") {
                BusMessage::Event(e) if e.event.org_id == org_id => return (*e).clone(),
                _ => {}
            }
        }
    })
    .await
    .expect("an event within the deadline")
}

async fn next_gap(rx: &mut broadcast::Receiver<BusMessage>) {
    tokio::time::timeout(WAIT, async {
        loop {
            if let BusMessage::Gap = rx.recv().await.expect("the bus is open") {
                return;
            }
        }
    })
    .await
    .expect("a gap within the deadline")
}

#[tokio::test]
async fn the_memory_bus_hands_each_event_to_every_subscriber() {
    let bus = MemoryBus::new();
    let (mut a, mut b) = (bus.subscribe(), bus.subscribe());
    let org = Uuid::now_v7();
    let sent = event(org);
    bus.publish(&sent).await.unwrap();
    assert_eq!(next_event(&mut a, org).await, sent);
    assert_eq!(next_event(&mut b, org).await, sent);
    // Publishing with nobody listening is not an error.
    drop((a, b));
    bus.publish(&event(org)).await.unwrap();
}

fn redis_url() -> String {
    std::env::var("TASKFORGE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn shared_redis() -> Option<String> {
    let url = redis_url();
    match testkit::reachable(&url.replace("redis://", "http://")).await {
        Ok(()) => Some(url),
        Err(e) => {
            testkit::unavailable("Redis", &url, e);
            None
        }
    }
}

#[tokio::test]
async fn events_published_on_one_redis_bus_reach_the_subscribers_of_another() {
    let Some(url) = shared_redis().await else { return };
    let (one, two) = (RedisBus::connect(&url).await.unwrap(), RedisBus::connect(&url).await.unwrap());
    let (mut on_one, mut on_two) = (one.subscribe(), two.subscribe());
    assert!(one.wait_subscribed(WAIT).await && two.wait_subscribed(WAIT).await, "both subscribed");
    let org = Uuid::now_v7();
    let sent = event(org);
    one.publish(&sent).await.unwrap();
    assert_eq!(next_event(&mut on_two, org).await, sent, "the other process gets it, intact");
    assert_eq!(next_event(&mut on_one, org).await, sent, "and so does the publisher's own");
}

/// A private redis-server on a free port, killed on drop.
struct PrivateRedis {
    port: u16,
    child: Child,
}

impl PrivateRedis {
    fn start(port: u16) -> Option<PrivateRedis> {
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn();
        match spawned {
            Ok(child) => Some(PrivateRedis { port, child }),
            Err(e) => {
                testkit::unavailable("redis-server", "PATH", e);
                None
            }
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn wait_ready(&self) {
        let url = format!("http://127.0.0.1:{}", self.port);
        testkit::eventually(WAIT, "the private redis-server to listen", || async {
            testkit::reachable(&url).await.ok()
        })
        .await;
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn a_redis_restart_is_reported_as_a_gap_and_the_bus_carries_on() {
    let port = free_port();
    let Some(redis) = PrivateRedis::start(port) else { return };
    redis.wait_ready().await;
    let bus = RedisBus::connect(&redis.url()).await.unwrap();
    let mut rx = bus.subscribe();
    next_gap(&mut rx).await; // the first subscription
    drop(redis);
    // While Redis is down a publish fails quickly, for the publisher to retry.
    let org = Uuid::now_v7();
    let started = std::time::Instant::now();
    let refused = bus.publish(&event(org)).await;
    assert!(matches!(refused, Err(BusError::Unavailable(_))), "{refused:?}");
    assert!(started.elapsed() < WAIT, "refused without hanging");
    let Some(again) = PrivateRedis::start(port) else { return };
    again.wait_ready().await;
    next_gap(&mut rx).await; // resubscribed: streams catch up from the store
    let sent = event(org);
    testkit::eventually(WAIT, "a publish after the restart", || async { bus.publish(&sent).await.ok() }).await;
    assert_eq!(next_event(&mut rx, org).await, sent);
}
