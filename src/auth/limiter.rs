//! Abuse limits as token buckets keyed by strings such as `login:ip:203.0.113.9`.
//!
//! This is the in-process implementation behind a small trait, so that a shared (Redis) limiter can
//! replace it when several instances run.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Rate;

/// A keyed rate limiter.
pub trait Limiter: Send + Sync {
    /// Takes one token from `key`'s bucket, or says how long until one is available.
    fn hit(&self, key: &str, rate: Rate) -> Result<(), Duration>;
    /// Like `hit`, but leaves the bucket as it is.
    fn peek(&self, key: &str, rate: Rate) -> Result<(), Duration>;
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

impl InMemoryLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    fn take(&self, key: &str, rate: Rate, consume: bool) -> Result<(), Duration> {
        let burst = f64::from(rate.burst.max(1));
        let per_token = rate.per_secs.max(1) as f64 / burst;
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, b| now.duration_since(b.at).as_secs_f64() < per_token * burst);
        }
        let bucket = map.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refilled =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() / per_token).min(burst);
        bucket.tokens = refilled;
        bucket.at = now;
        if refilled >= 1.0 {
            if consume {
                bucket.tokens -= 1.0;
            }
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - refilled) * per_token))
        }
    }
}

impl Limiter for InMemoryLimiter {
    fn hit(&self, key: &str, rate: Rate) -> Result<(), Duration> {
        self.take(key, rate, true)
    }

    fn peek(&self, key: &str, rate: Rate) -> Result<(), Duration> {
        self.take(key, rate, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_a_delay() {
        let l = InMemoryLimiter::new();
        let rate = Rate {
            burst: 3,
            per_secs: 60,
        };
        for _ in 0..3 {
            l.hit("k", rate).unwrap();
        }
        let wait = l.hit("k", rate).unwrap_err();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(l.hit("other", rate).is_ok(), "keys are independent");
    }

    #[test]
    fn peeking_does_not_consume() {
        let l = InMemoryLimiter::new();
        let rate = Rate {
            burst: 1,
            per_secs: 60,
        };
        for _ in 0..5 {
            l.peek("k", rate).unwrap();
        }
        l.hit("k", rate).unwrap();
        assert!(l.peek("k", rate).is_err());
    }
}
