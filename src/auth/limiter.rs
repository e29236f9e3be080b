//! Abuse limits as token buckets keyed by strings such as `login:ip:203.0.113.9`.
//!
//! Two implementations behind one trait: in-process buckets (one instance), and Redis (several
//! instances share the buckets). When Redis is configured but unreachable the limiter answers
//! `Unavailable` and callers fail closed with 503: an auth endpoint without its abuse limit is not
//! served.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::config::Rate;

/// Why a request may not proceed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LimitError {
    /// Over the limit; retry after this long.
    Limited(Duration),
    /// The shared limiter cannot be reached.
    Unavailable,
}

/// A keyed rate limiter.
#[async_trait]
pub trait Limiter: Send + Sync {
    /// Takes one token from `key`'s bucket.
    async fn hit(&self, key: &str, rate: Rate) -> Result<(), LimitError>;
    /// Whether a token is available, leaving the bucket as it is.
    async fn peek(&self, key: &str, rate: Rate) -> Result<(), LimitError>;
    /// Gives back a token taken by `hit` (capped at the burst): attempts are charged up front, so
    /// parallel requests cannot all pass a check before any is counted, and refunded when they
    /// turn out not to count (a successful sign-in).
    async fn refund(&self, key: &str, rate: Rate) -> Result<(), LimitError>;
    /// Whether the limiter can answer, for readiness checks.
    async fn ready(&self) -> bool {
        true
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets in a mutex-guarded map; entries that have refilled are dropped when the map grows.
#[derive(Default)]
pub struct InMemoryLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

const PRUNE_ABOVE: usize = 50_000;

/// Seconds each token takes to refill.
fn per_token_secs(rate: Rate) -> f64 {
    rate.per_secs.max(1) as f64 / f64::from(rate.burst.max(1))
}

impl InMemoryLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// `delta` is 1 to take a token, 0 to look, -1 to give one back.
    fn take(&self, key: &str, rate: Rate, delta: i8) -> Result<(), LimitError> {
        let burst = f64::from(rate.burst.max(1));
        let per_token = per_token_secs(rate);
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, b| now.duration_since(b.at).as_secs_f64() < per_token * burst);
        }
        let bucket = map.entry(key.to_owned()).or_insert(Bucket { tokens: burst, at: now });
        let refilled = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() / per_token).min(burst);
        bucket.tokens = refilled;
        bucket.at = now;
        if delta < 0 {
            bucket.tokens = (refilled + 1.0).min(burst);
            Ok(())
        } else if refilled >= 1.0 {
            bucket.tokens -= f64::from(delta);
            Ok(())
        } else {
            Err(LimitError::Limited(Duration::from_secs_f64(
                (1.0 - refilled) * per_token,
            )))
        }
    }
}

#[async_trait]
impl Limiter for InMemoryLimiter {
    async fn hit(&self, key: &str, rate: Rate) -> Result<(), LimitError> {
        self.take(key, rate, 1)
    }

    async fn peek(&self, key: &str, rate: Rate) -> Result<(), LimitError> {
        self.take(key, rate, 0)
    }

    async fn refund(&self, key: &str, rate: Rate) -> Result<(), LimitError> {
        self.take(key, rate, -1)
    }
}

/// The same token bucket, kept in Redis and updated by one atomic script using the server's clock,
/// so instances with skewed clocks still agree.
pub struct RedisLimiter {
    conn: redis::aio::ConnectionManager,
    script: redis::Script,
    prefix: String,
}

const BUCKET_SCRIPT: &str = r"
local burst = tonumber(ARGV[1])
local per_token_ms = tonumber(ARGV[2])
local delta = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil then tokens = burst; at = now end
tokens = math.min(burst, tokens + math.max(0, now - at) / per_token_ms)
local wait = 0
if delta < 0 then
  tokens = math.min(burst, tokens + 1)
elseif tokens >= 1 then
  tokens = tokens - delta
else
  wait = math.ceil((1 - tokens) * per_token_ms)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * per_token_ms) + 1000)
return wait
";

impl RedisLimiter {
    /// Connects lazily; requests fail closed while Redis is unreachable.
    pub fn new(url: &str, timeout: Duration, prefix: &str) -> anyhow::Result<RedisLimiter> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("redis.url is not valid: {e}"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let conn = redis::aio::ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| anyhow::anyhow!("creating the redis connection: {e}"))?;
        Ok(RedisLimiter {
            conn,
            script: redis::Script::new(BUCKET_SCRIPT),
            prefix: prefix.to_owned(),
        })
    }

    async fn take(&self, key: &str, rate: Rate, delta: i8) -> Result<(), LimitError> {
        let per_token_ms = (per_token_secs(rate) * 1000.0).max(1.0);
        let mut conn = self.conn.clone();
        let wait: i64 = self
            .script
            .key(format!("{}{key}", self.prefix))
            .arg(rate.burst.max(1))
            .arg(per_token_ms)
            .arg(i32::from(delta))
            .invoke_async(&mut conn)
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, "rate limiter unavailable; refusing the request");
                LimitError::Unavailable
            })?;
        if wait > 0 {
            Err(LimitError::Limited(Duration::from_millis(wait as u64)))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Limiter for RedisLimiter {
    async fn hit(&self, key: &str, rate: Rate) -> Result<(), LimitError> {
        self.take(key, rate, 1).await
    }

    async fn peek(&self, key: &str, rate: Rate) -> Result<(), LimitError> {
        self.take(key, rate, 0).await
    }

    async fn refund(&self, key: &str, rate: Rate) -> Result<(), LimitError> {
        self.take(key, rate, -1).await
    }

    async fn ready(&self) -> bool {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bucket_allows_its_burst_then_refuses_with_a_delay() {
        let l = InMemoryLimiter::new();
        let rate = Rate { burst: 3, per_secs: 60 };
        for _ in 0..3 {
            l.hit("k", rate).await.unwrap();
        }
        let Err(LimitError::Limited(wait)) = l.hit("k", rate).await else {
            panic!("fourth hit must be limited")
        };
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(l.hit("other", rate).await.is_ok(), "keys are independent");
    }

    #[tokio::test]
    async fn a_refund_gives_back_one_token_without_exceeding_the_burst() {
        let l = InMemoryLimiter::new();
        let rate = Rate {
            burst: 1,
            per_secs: 600,
        };
        l.hit("k", rate).await.unwrap();
        assert!(l.peek("k", rate).await.is_err());
        l.refund("k", rate).await.unwrap();
        l.refund("k", rate).await.unwrap();
        l.hit("k", rate).await.unwrap();
        assert!(l.hit("k", rate).await.is_err(), "refunds never exceed the burst");
    }

    #[tokio::test]
    async fn peeking_does_not_consume() {
        let l = InMemoryLimiter::new();
        let rate = Rate { burst: 1, per_secs: 60 };
        for _ in 0..5 {
            l.peek("k", rate).await.unwrap();
        }
        l.hit("k", rate).await.unwrap();
        assert!(l.peek("k", rate).await.is_err());
    }
}
