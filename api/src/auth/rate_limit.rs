//! Rate limits: login attempts per account and per client IP (brute force), and requests per personal access token.
//! In-process GCRA limiters (governor); with several API replicas each enforces its own share, which bounds an
//! attacker at replicas × quota — acceptable for login throttling, documented in operations.md.
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use platform::Config;
use uuid::Uuid;

use crate::error::AppError;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// The process's limiters.
pub struct Limiters {
    login_by_account: Keyed<String>,
    login_by_ip: Keyed<IpAddr>,
    by_token: Keyed<Uuid>,
    pub token_quota_per_minute: u32,
}

/// What a token-authenticated response reports in its `RateLimit-*` headers.
#[derive(Clone, Copy, Debug)]
pub struct TokenBudget {
    pub limit: u32,
    pub remaining: u32,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).expect("max(1) is non-zero"))
}

fn retry_after(wait: Duration) -> AppError {
    AppError::RateLimited { retry_after_secs: wait.as_secs().max(1) }
}

impl Limiters {
    pub fn new(config: &Config) -> Limiters {
        let login = per_minute(config.login_attempts_per_minute);
        Limiters {
            login_by_account: RateLimiter::keyed(login).with_middleware(),
            // An office behind one NAT shares an IP: allow several accounts' worth of attempts per IP.
            login_by_ip: RateLimiter::keyed(per_minute(config.login_attempts_per_minute.saturating_mul(5)))
                .with_middleware(),
            by_token: RateLimiter::keyed(per_minute(config.token_requests_per_minute)).with_middleware(),
            token_quota_per_minute: config.token_requests_per_minute,
        }
    }

    /// Spends one login attempt for the account and the IP.
    pub fn check_login(&self, email: &str, ip: Option<IpAddr>) -> Result<(), AppError> {
        if let Some(ip) = ip {
            let by_ip = &self.login_by_ip;
            by_ip.check_key(&ip).map_err(|n| retry_after(n.wait_time_from(by_ip.clock().now())))?;
        }
        let by_account = &self.login_by_account;
        by_account
            .check_key(&email.to_ascii_lowercase())
            .map_err(|n| retry_after(n.wait_time_from(by_account.clock().now())))?;
        Ok(())
    }

    /// Spends one request of a token's budget.
    pub fn check_token(&self, token_id: Uuid) -> Result<TokenBudget, AppError> {
        match self.by_token.check_key(&token_id) {
            Ok(snapshot) => {
                Ok(TokenBudget { limit: self.token_quota_per_minute, remaining: snapshot.remaining_burst_capacity() })
            }
            // The limiter's own clock: making one calibrates a new clock, too costly for every request.
            Err(n) => Err(retry_after(n.wait_time_from(self.by_token.clock().now()))),
        }
    }
}
