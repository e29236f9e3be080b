//! How big and how long a run is: the full benchmark, or the smoke check of the harness.

use std::time::Duration;

/// Sizes and durations of a run.
#[derive(Debug, Clone)]
pub struct Profile {
    pub smoke: bool,
    pub users: usize,
    pub posts: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// How long each in-process reference rate is measured.
    pub reference: Duration,
    pub read_connections: u32,
    pub login_connections: u32,
    pub refresh_connections: u32,
    pub upload_connections: u32,
    pub mixed_connections: u32,
    pub parallel_uploads: usize,
    /// How long a freshly started server is left alone before its idle RSS is read, and how long
    /// after the memory check the RSS is read again.
    pub pause: Duration,
}

impl Profile {
    pub fn full() -> Profile {
        Profile {
            smoke: false,
            users: 1000,
            posts: 10_000,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            reference: Duration::from_secs(5),
            read_connections: 64,
            login_connections: 8,
            refresh_connections: 16,
            upload_connections: 4,
            mixed_connections: 32,
            parallel_uploads: 20,
            pause: Duration::from_secs(2),
        }
    }

    /// A check that the harness works: every scenario for about a second on two connections.
    pub fn smoke() -> Profile {
        Profile {
            smoke: true,
            users: 20,
            posts: 50,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            reference: Duration::from_millis(500),
            read_connections: 2,
            login_connections: 2,
            refresh_connections: 2,
            upload_connections: 2,
            mixed_connections: 2,
            parallel_uploads: 2,
            pause: Duration::from_millis(200),
        }
    }
}
