//! The bus port: the in-process bus, and the Redis bus as several processes use it (two buses on one Redis), its
//! reconnect after Redis restarts (a private `redis-server`, so the shared one is never stopped) and a quick
//! failure when Redis is unreachable.
use std::time::Duration;

use chrono::Utc;
use platform::bus::{Bus, BusError, BusMessage, LiveEvent, MemoryBus, RedisBus};
use platform::events::ActivityEvent;
use serde_json::json;
use testkit::redis::{free_port, shared_redis, PrivateRedis};
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

#[tokio::test]
async fn a_redis_restart_is_reported_as_a_gap_and_the_bus_carries_on() {
    let port = free_port();
    let Some(redis) = PrivateRedis::start(port).await else { return };
    let bus = RedisBus::connect(&redis.url()).await.unwrap();
    let mut rx = bus.subscribe();
    next_gap(&mut rx).await; // the first subscription
    redis.stop().await;
    // While Redis is down a publish fails quickly, for the publisher to retry.
    let org = Uuid::now_v7();
    let started = std::time::Instant::now();
    let refused = bus.publish(&event(org)).await;
    assert!(matches!(refused, Err(BusError::Unavailable(_))), "{refused:?}");
    assert!(started.elapsed() < WAIT, "refused without hanging");
    let Some(_again) = PrivateRedis::start(port).await else { return };
    next_gap(&mut rx).await; // resubscribed: streams catch up from the store
    let sent = event(org);
    testkit::eventually(WAIT, "a publish after the restart", || async { bus.publish(&sent).await.ok() }).await;
    assert_eq!(next_event(&mut rx, org).await, sent);
}

#[tokio::test]
async fn an_outbox_announcement_wakes_the_relays_of_every_process() {
    let memory = MemoryBus::new();
    let mut relay = memory.outbox_wake().waiter();
    memory.announce_outbox().await;
    tokio::time::timeout(WAIT, relay.wait(Duration::from_secs(3600))).await.expect("the in-process relay woke");

    let Some(url) = shared_redis().await else { return };
    let (api, worker) = (RedisBus::connect(&url).await.unwrap(), RedisBus::connect(&url).await.unwrap());
    assert!(api.wait_subscribed(WAIT).await && worker.wait_subscribed(WAIT).await, "both subscribed");
    // Made after the subscription's own wake, so only the announcement can end the wait.
    let mut relay = worker.outbox_wake().waiter();
    api.announce_outbox().await;
    tokio::time::timeout(WAIT, relay.wait(Duration::from_secs(3600))).await.expect("the other process's relay woke");
}
