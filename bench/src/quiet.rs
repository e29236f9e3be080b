//! Waiting for the previous scenario to finish before the next one starts. When wrk stops, work it
//! started can still be running: queued requests inside Rampart, and on PostgreSQL queries whose
//! client has gone but which the server finishes anyway. Measuring on top of that would charge one
//! scenario with another's work.

use std::time::{Duration, Instant};

use sqlx::Connection;

/// CPU time (user + system) of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Queries running in the bench database, other than this one.
async fn active_queries(url: &str) -> Option<i64> {
    let mut conn = sqlx::PgConnection::connect(url).await.ok()?;
    let n = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut conn)
    .await
    .ok();
    let _ = conn.close().await;
    n
}

/// Waits until `pid` uses under a tenth of a core and PostgreSQL (when given) runs no query of the
/// bench database, for at most a minute.
pub async fn settle(pid: u32, postgres: Option<&str>) {
    let started = Instant::now();
    let window = Duration::from_millis(200);
    loop {
        let before = cpu_ticks(pid);
        tokio::time::sleep(window).await;
        let busy = match (before, cpu_ticks(pid)) {
            // 100 ticks a second: 2 ticks in 200 ms is a tenth of a core.
            (Some(a), Some(b)) => b.saturating_sub(a) > 2,
            _ => false,
        };
        let queries = match postgres {
            Some(url) => active_queries(url).await.unwrap_or(0),
            None => 0,
        };
        if !busy && queries == 0 {
            if started.elapsed() > Duration::from_secs(2) {
                eprintln!(
                    "   (waited {:.1} s for the server to go quiet)",
                    started.elapsed().as_secs_f64()
                );
            }
            return;
        }
        if started.elapsed() > Duration::from_secs(60) {
            eprintln!("   warning: still busy after 60 s ({queries} queries running); measuring anyway");
            return;
        }
    }
}
