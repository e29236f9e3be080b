//! A throw-away PostgreSQL database for one run, created through the admin connection named by
//! `RAMPART_BENCH_DATABASE_URL` and dropped afterwards.

use anyhow::Context;
use sqlx::Connection;

pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create(admin_url: &str) -> anyhow::Result<PgDatabase> {
        let name = format!("rampart_bench_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .context("connecting to RAMPART_BENCH_DATABASE_URL")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .context("creating the bench database")?;
        let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin_url);
        Ok(PgDatabase {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    pub async fn drop_database(self) -> anyhow::Result<()> {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await
        .context("dropping the bench database")?;
        Ok(())
    }
}

/// Transactions per second of pgbench running the query behind `GET /api/v1/posts/{id}` (the join
/// `store::posts::find` makes) with `clients` connections for `duration`, or `None` (with a note)
/// when pgbench is missing or fails: it is a reference, not a scenario.
pub async fn pgbench_lookup(
    url: &str,
    post_id: &str,
    clients: u32,
    duration: std::time::Duration,
    work: &std::path::Path,
) -> Option<f64> {
    eprintln!("   pgbench: the post lookup alone, {clients} clients");
    let script = work.join("pgbench-lookup.sql");
    // Seeded ids are UUIDs: nothing in them needs quoting beyond the quotes.
    let sql = format!(
        "SELECT p.id, p.caption, p.image, u.username, u.disabled_at FROM posts p \
         JOIN users u ON u.id = p.author_id WHERE p.id = '{post_id}';\n"
    );
    if let Err(e) = std::fs::write(&script, sql) {
        eprintln!("   pgbench skipped: {e}");
        return None;
    }
    let output = tokio::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-j", "2", "-c", &clients.to_string()])
        .args(["-T", &duration.as_secs().max(1).to_string(), "-f"])
        .arg(&script)
        .arg(url)
        .output()
        .await;
    let text = match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => {
            eprintln!("   pgbench failed: {}", String::from_utf8_lossy(&out.stderr).trim());
            return None;
        }
        Err(e) => {
            eprintln!("   pgbench skipped (not installed?): {e}");
            return None;
        }
    };
    // "tps = 23456.789012 (without initial connection time)"
    text.lines()
        .find_map(|l| l.trim().strip_prefix("tps = ")?.split_whitespace().next()?.parse().ok())
}
