//! No cache (`TASKFORGE_CACHE=none`): every read goes to the database.
use std::time::Duration;

use async_trait::async_trait;

use super::{Cache, CacheError, FillTicket, Found, DEFAULT_TTL};

/// A cache that holds nothing.
#[derive(Debug, Clone, Copy)]
pub struct NoCache;

#[async_trait]
impl Cache for NoCache {
    async fn get(&self, _key: &str) -> Result<Found, CacheError> {
        Err(CacheError::Bypassed("the cache is off"))
    }

    async fn fill(&self, _key: &str, _value: &[u8], _ticket: FillTicket) -> Result<(), CacheError> {
        Err(CacheError::Bypassed("the cache is off"))
    }

    async fn delete(&self, _key: &str) -> Result<(), CacheError> {
        Ok(())
    }

    fn ttl(&self) -> Duration {
        DEFAULT_TTL
    }
}
