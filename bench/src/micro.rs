//! In-process reference rates, measured in the same run on the same cores as the HTTP scenarios:
//! Argon2id verifications (what a sign-in costs) and the image pipeline alone (what an upload costs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::cell::RefCell;

use argon2::Block;
use rampart::auth::password;
use rampart::config::PostSettings;
use rampart::media::image::{self, Limits};
use serde::Serialize;

/// Operations per second over `threads` threads, each running `op` until `duration` has passed.
fn rate(threads: usize, duration: Duration, op: impl Fn() -> bool + Send + Sync + 'static) -> anyhow::Result<Rate> {
    let op = Arc::new(op);
    let started = Instant::now();
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let op = op.clone();
            std::thread::spawn(move || {
                let mut done = 0u64;
                loop {
                    anyhow::ensure!(op(), "the measured operation failed");
                    done += 1;
                    if started.elapsed() >= duration {
                        return Ok(done);
                    }
                }
            })
        })
        .collect();
    let mut ops = 0;
    for w in workers {
        ops += w.join().map_err(|_| anyhow::anyhow!("a measuring thread panicked"))??;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(Rate {
        threads: threads.max(1),
        ops,
        secs,
        per_sec: ops as f64 / secs,
    })
}

/// A measured rate.
#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    pub threads: usize,
    pub ops: u64,
    pub secs: f64,
    pub per_sec: f64,
}

/// Two measurements taken apart, as one: all operations over all the time.
pub fn combined(runs: &[Rate]) -> Rate {
    let ops = runs.iter().map(|r| r.ops).sum();
    let secs: f64 = runs.iter().map(|r| r.secs).sum();
    Rate {
        threads: runs.first().map_or(0, |r| r.threads),
        ops,
        secs,
        per_sec: ops as f64 / secs.max(1e-9),
    }
}

/// Argon2id verifications of `password` against `hash` (a PHC string that carries its parameters),
/// done exactly as `rampart::auth::password::Hasher::verify` does them (the same function, each thread
/// reusing its working memory as the server's pool does), without the HTTP around it.
pub fn argon2_verify(hash: &str, password: &str, threads: usize, duration: Duration) -> anyhow::Result<Rate> {
    thread_local! {
        static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
    }
    let (hash, password) = (hash.to_owned(), password.to_owned());
    rate(threads, duration, move || {
        MEMORY.with_borrow_mut(|memory| password::verify_with(memory, password.as_bytes(), &hash))
    })
}

/// `rampart::media::image::process` on `bytes`, with the limits the server derives from `posts`.
pub fn pipeline(bytes: Vec<u8>, posts: &PostSettings, threads: usize, duration: Duration) -> anyhow::Result<Rate> {
    let limits = Limits {
        max_width: posts.max_dimension,
        max_height: posts.max_dimension,
        max_pixels: posts.max_pixels,
        ..Limits::default()
    };
    rate(threads, duration, move || image::process(&bytes, &limits).is_ok())
}
