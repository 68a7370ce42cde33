//! The cache port: the same behaviour of the in-process and the Redis cache (values, tombstones that a fill cannot
//! undo, expiry), one Redis shared by two processes, and the Redis adapter through an outage of a private
//! `redis-server` (the shared one is never stopped or flushed): reads miss, deletes are kept and replayed after
//! the restart, and the cache is read again once the cool-off has passed.
use std::time::Duration;

use platform::cache::{cache_from_config, Cache, CacheError, FillTicket, Found, MemoryCache, NoCache, RedisCache};
use platform::Config;
use testkit::eventually;
use testkit::redis::{free_port, shared_redis, PrivateRedis};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);
/// Short enough for expiry to be awaited in a test, long enough for the steps in between.
const TTL: Duration = Duration::from_millis(800);
/// The outage test checks a replayed tombstone before it expires: more room for a slow machine.
const OUTAGE_TTL: Duration = Duration::from_secs(2);

fn key(what: &str) -> String {
    format!("test:{what}:{}", Uuid::now_v7().simple())
}

async fn get(cache: &dyn Cache, key: &str) -> Option<Vec<u8>> {
    cache.get(key).await.expect("a healthy cache answers").hit()
}

/// The ticket of a read that must miss.
async fn miss(cache: &dyn Cache, key: &str) -> FillTicket {
    match cache.get(key).await.expect("a healthy cache answers") {
        Found::Miss(ticket) => ticket,
        Found::Hit(v) => panic!("{key} should miss, holds {v:?}"),
    }
}

/// A read that misses, then a fill with its ticket (what a lookup does).
async fn read_through(cache: &dyn Cache, key: &str, value: &[u8]) {
    let ticket = miss(cache, key).await;
    cache.fill(key, value, ticket).await.unwrap();
}

/// What every cache that holds anything does.
async fn holds_values_until_deleted_or_expired(cache: &dyn Cache) {
    assert_eq!(cache.ttl(), TTL);
    let k = key("value");
    let first_read = miss(cache, &k).await;
    assert!(!first_read.is_after_delete(), "a new key is a plain miss");
    cache.fill(&k, b"first", first_read.clone()).await.unwrap();
    assert_eq!(get(cache, &k).await.as_deref(), Some(&b"first"[..]));
    cache.fill(&k, b"second", first_read).await.unwrap();
    assert_eq!(get(cache, &k).await.as_deref(), Some(&b"first"[..]), "a fill never overwrites an entry");

    cache.delete(&k).await.unwrap();
    let after_delete = miss(cache, &k).await;
    assert!(after_delete.is_after_delete(), "deleted: a tombstone");
    cache.delete(&k).await.unwrap();
    cache.fill(&k, b"read between two deletes", after_delete).await.unwrap();
    assert_eq!(get(cache, &k).await, None, "a fill cannot undo a delete made after its read");
    read_through(cache, &k, b"read after the last delete").await;
    assert_eq!(get(cache, &k).await.as_deref(), Some(&b"read after the last delete"[..]), "and fills at once");

    let raced = key("raced");
    let before = miss(cache, &raced).await;
    cache.delete(&raced).await.unwrap();
    cache.fill(&raced, b"stale", before).await.unwrap();
    assert_eq!(get(cache, &raced).await, None, "nor can a fill whose read saw the key absent before the delete");

    let e = key("expiring");
    read_through(cache, &e, b"short-lived").await;
    assert!(get(cache, &e).await.is_some());
    eventually(WAIT, "the entry to expire", || async { get(cache, &e).await.is_none().then_some(()) }).await;
    eventually(WAIT, "the tombstone to expire", || async {
        (!miss(cache, &raced).await.is_after_delete()).then_some(())
    })
    .await;

    // Any bytes round-trip, including ones that look like the adapters' own markers.
    let b = key("bytes");
    read_through(cache, &b, b"-").await;
    assert_eq!(get(cache, &b).await.as_deref(), Some(&b"-"[..]));
    let empty = key("empty");
    read_through(cache, &empty, b"").await;
    assert_eq!(get(cache, &empty).await.as_deref(), Some(&b""[..]));
}

#[tokio::test]
async fn the_memory_cache_holds_values_until_deleted_or_expired() {
    holds_values_until_deleted_or_expired(&MemoryCache::new(TTL)).await;
}

#[tokio::test]
async fn the_redis_cache_holds_values_until_deleted_or_expired() {
    let Some(url) = shared_redis().await else { return };
    holds_values_until_deleted_or_expired(&RedisCache::connect(&url, TTL).unwrap()).await;
}

#[tokio::test]
async fn json_values_round_trip() {
    let cache = MemoryCache::new(TTL);
    let k = key("json");
    let ticket = miss(&cache, &k).await;
    platform::cache::fill_json(&cache, &k, &serde_json::json!({"role": "admin"}), ticket).await.unwrap();
    let back: serde_json::Value = platform::cache::get_json(&cache, &k).await.unwrap().hit().unwrap();
    assert_eq!(back["role"], "admin");
    let wrong = platform::cache::get_json::<u32>(&cache, &k).await;
    assert!(matches!(wrong, Err(CacheError::Codec(_))), "another shape is an error, i.e. a database read");
}

#[tokio::test]
async fn two_processes_on_one_redis_see_each_others_fills_and_deletes() {
    let Some(url) = shared_redis().await else { return };
    let (a, b) = (RedisCache::connect(&url, TTL).unwrap(), RedisCache::connect(&url, TTL).unwrap());
    let k = key("shared");
    read_through(&a, &k, b"role=admin").await;
    assert_eq!(get(&b, &k).await.as_deref(), Some(&b"role=admin"[..]));
    b.delete(&k).await.unwrap();
    let read_before_the_next_change = miss(&a, &k).await;
    assert!(read_before_the_next_change.is_after_delete(), "a delete on one is seen by the other at once");
    b.delete(&k).await.unwrap();
    a.fill(&k, b"stale", read_before_the_next_change).await.unwrap();
    assert_eq!(get(&b, &k).await, None, "and the other cannot refill it with what it read before");
    read_through(&b, &k, b"role=member").await;
    assert_eq!(get(&a, &k).await.as_deref(), Some(&b"role=member"[..]));
}

#[tokio::test]
async fn no_cache_and_the_configured_ones() {
    assert!(NoCache.get("anything").await.unwrap_err().is_bypass());
    assert!(NoCache.delete("anything").await.is_ok());
    let none = cache_from_config(&Config::from_pairs([("cache", "none".to_owned())]).unwrap()).unwrap();
    assert!(none.get("anything").await.unwrap_err().is_bypass(), "`none` reads the database every time");
    let memory = cache_from_config(&Config::from_pairs([]).unwrap()).unwrap();
    assert!(matches!(memory.get(&key("absent")).await, Ok(Found::Miss(_))), "memory is the default");
}

#[tokio::test]
async fn a_redis_outage_turns_reads_into_misses_and_keeps_deletes_until_redis_is_back() {
    let port = free_port();
    let Some(redis) = PrivateRedis::start(port).await else { return };
    let cache = RedisCache::connect(&redis.url(), OUTAGE_TTL).unwrap();
    let (cached, other) = (key("cached"), key("other"));
    read_through(&cache, &cached, b"v").await;
    assert_eq!(get(&cache, &cached).await.as_deref(), Some(&b"v"[..]));

    redis.stop().await;
    let started = std::time::Instant::now();
    let first = cache.get(&cached).await;
    assert!(matches!(first, Err(CacheError::Unavailable(_))), "the failing read is an error: {first:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "and a quick one: {:?}", started.elapsed());
    assert!(cache.is_bypassed(), "after an error the cache is bypassed");
    let next = cache.get(&cached).await;
    assert!(matches!(next, Err(CacheError::Bypassed(_))), "later reads do not even ask Redis: {next:?}");
    let ticket = miss(&MemoryCache::new(TTL), &other).await;
    assert!(cache.fill(&other, b"x", ticket).await.unwrap_err().is_bypass(), "nor do fills");

    assert!(cache.delete(&cached).await.is_err(), "a delete Redis did not take is reported");
    assert_eq!(cache.pending_deletes(), 1, "and kept");
    assert!(cache.delete(&other).await.is_err());
    assert_eq!(cache.pending_deletes(), 2, "a later one joins it");

    let Some(restarted) = PrivateRedis::start(port).await else { return };
    eventually(WAIT, "the pending deletes to be replayed", || async { (cache.pending_deletes() == 0).then_some(()) })
        .await;
    // The restarted server started empty, so a tombstone there can only come from the replay: a process that never
    // saw the outage cannot fill the deleted keys with what it read before.
    let fresh = RedisCache::connect(&restarted.url(), OUTAGE_TTL).unwrap();
    assert!(miss(&fresh, &cached).await.is_after_delete(), "the replayed delete is there");
    assert!(miss(&fresh, &other).await.is_after_delete());
    let untouched = key("untouched");
    read_through(&fresh, &untouched, b"w").await;
    assert_eq!(get(&fresh, &untouched).await.as_deref(), Some(&b"w"[..]), "Redis works again");

    // The process that saw the outage reads the cache again only after a TTL without errors.
    eventually(WAIT, "the cool-off to end", || async { cache.get(&untouched).await.ok().and_then(Found::hit) }).await;
    assert!(!cache.is_bypassed());
}
