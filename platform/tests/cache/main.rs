//! The cache port: the same behaviour of the in-process and the Redis cache (values, tombstones that a fill cannot
//! undo, expiry), one Redis shared by two processes, and the Redis adapter through an outage of a private
//! `redis-server` (the shared one is never stopped or flushed): reads miss, deletes are kept and replayed after
//! the restart, and the cache is read again once the cool-off has passed.
use std::time::Duration;

use platform::cache::{cache_from_config, Cache, CacheError, MemoryCache, NoCache, RedisCache};
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
    cache.get(key).await.expect("a healthy cache answers")
}

/// What every cache that holds anything does.
async fn holds_values_until_deleted_or_expired(cache: &dyn Cache) {
    assert_eq!(cache.ttl(), TTL);
    let k = key("value");
    assert_eq!(get(cache, &k).await, None, "a new key is a miss");
    cache.fill(&k, b"first").await.unwrap();
    assert_eq!(get(cache, &k).await.as_deref(), Some(&b"first"[..]));
    cache.fill(&k, b"second").await.unwrap();
    assert_eq!(get(cache, &k).await.as_deref(), Some(&b"first"[..]), "a fill never overwrites an entry");

    cache.delete(&k).await.unwrap();
    assert_eq!(get(cache, &k).await, None, "deleted");
    cache.fill(&k, b"read before the delete").await.unwrap();
    assert_eq!(get(cache, &k).await, None, "a fill cannot bring back a key deleted within the TTL");
    eventually(WAIT, "the tombstone to expire and the key to be fillable again", || async {
        cache.fill(&k, b"after").await.unwrap();
        get(cache, &k).await
    })
    .await;

    let e = key("expiring");
    cache.fill(&e, b"short-lived").await.unwrap();
    assert!(get(cache, &e).await.is_some());
    eventually(WAIT, "the entry to expire", || async { get(cache, &e).await.is_none().then_some(()) }).await;

    // Any bytes round-trip, including ones that look like the adapters' own markers.
    let b = key("bytes");
    cache.fill(&b, b"-").await.unwrap();
    assert_eq!(get(cache, &b).await.as_deref(), Some(&b"-"[..]));
    let empty = key("empty");
    cache.fill(&empty, b"").await.unwrap();
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
    platform::cache::fill_json(&cache, &k, &serde_json::json!({"role": "admin"})).await.unwrap();
    let back: serde_json::Value = platform::cache::get_json(&cache, &k).await.unwrap().unwrap();
    assert_eq!(back["role"], "admin");
    let wrong = platform::cache::get_json::<u32>(&cache, &k).await;
    assert!(matches!(wrong, Err(CacheError::Codec(_))), "another shape is an error, i.e. a database read");
}

#[tokio::test]
async fn two_processes_on_one_redis_see_each_others_fills_and_deletes() {
    let Some(url) = shared_redis().await else { return };
    let (a, b) = (RedisCache::connect(&url, TTL).unwrap(), RedisCache::connect(&url, TTL).unwrap());
    let k = key("shared");
    a.fill(&k, b"role=admin").await.unwrap();
    assert_eq!(get(&b, &k).await.as_deref(), Some(&b"role=admin"[..]));
    b.delete(&k).await.unwrap();
    assert_eq!(get(&a, &k).await, None, "a delete on one is seen by the other at once");
    a.fill(&k, b"stale").await.unwrap();
    assert_eq!(get(&b, &k).await, None, "and the other cannot refill it with what it read before");
}

#[tokio::test]
async fn no_cache_and_the_configured_ones() {
    assert!(NoCache.get("anything").await.unwrap_err().is_bypass());
    assert!(NoCache.delete("anything").await.is_ok());
    let none = cache_from_config(&Config::from_pairs([("cache", "none".to_owned())]).unwrap()).unwrap();
    assert!(none.get("anything").await.unwrap_err().is_bypass(), "`none` reads the database every time");
    let memory = cache_from_config(&Config::from_pairs([]).unwrap()).unwrap();
    assert_eq!(memory.get(&key("absent")).await.unwrap(), None, "memory is the default");
}

#[tokio::test]
async fn a_redis_outage_turns_reads_into_misses_and_keeps_deletes_until_redis_is_back() {
    let port = free_port();
    let Some(redis) = PrivateRedis::start(port).await else { return };
    let cache = RedisCache::connect(&redis.url(), OUTAGE_TTL).unwrap();
    let (cached, other) = (key("cached"), key("other"));
    cache.fill(&cached, b"v").await.unwrap();
    assert_eq!(get(&cache, &cached).await.as_deref(), Some(&b"v"[..]));

    redis.stop().await;
    let started = std::time::Instant::now();
    let first = cache.get(&cached).await;
    assert!(matches!(first, Err(CacheError::Unavailable(_))), "the failing read is an error: {first:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "and a quick one: {:?}", started.elapsed());
    assert!(cache.is_bypassed(), "after an error the cache is bypassed");
    let next = cache.get(&cached).await;
    assert!(matches!(next, Err(CacheError::Bypassed(_))), "later reads do not even ask Redis: {next:?}");
    assert!(cache.fill(&other, b"x").await.unwrap_err().is_bypass(), "nor do fills");

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
    fresh.fill(&cached, b"stale").await.unwrap();
    assert_eq!(get(&fresh, &cached).await, None, "the replayed delete holds");
    let untouched = key("untouched");
    fresh.fill(&untouched, b"w").await.unwrap();
    assert_eq!(get(&fresh, &untouched).await.as_deref(), Some(&b"w"[..]), "Redis works again");

    // The process that saw the outage reads the cache again only after a TTL without errors.
    eventually(WAIT, "the cool-off to end", || async { cache.get(&untouched).await.ok().flatten() }).await;
    assert!(!cache.is_bypassed());
}
