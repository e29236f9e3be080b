//! `rampart doctor`, run as the binary: a working configuration passes, every unreachable service is
//! named with the setting to look at, invalid settings are reported beside the rest, and nothing it
//! prints carries a password.

use std::process::{Command, Output};

use serde_json::Value;

use crate::cli::{describe, rampart};
use crate::helpers::PgDatabase;

fn doctor(mut cmd: Command) -> (Output, Value) {
    let out = cmd
        .args(["doctor", "--json", "--timeout-secs", "3"])
        .output()
        .expect("rampart doctor runs");
    let report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON report ({e}): {}", describe(&out)));
    (out, report)
}

/// The finding for `part`, as (status, detail).
fn finding(report: &Value, part: &str) -> (String, String) {
    let found = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["part"] == part)
        .unwrap_or_else(|| panic!("no finding for {part}: {report:#}"));
    (
        found["status"].as_str().unwrap().to_owned(),
        found["detail"].as_str().unwrap().to_owned(),
    )
}

fn closed_port() -> u16 {
    crate::process::free_port()
}

#[tokio::test]
async fn a_migrated_embedded_default_passes_and_a_fresh_one_only_warns() {
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = doctor(rampart(dir.path()));
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(finding(&report, "database").0, "warn", "{report:#}");
    assert!(finding(&report, "database").1.contains("is empty"), "{report:#}");
    assert_eq!(finding(&report, "signing key").0, "warn", "{report:#}");
    // A temporary folder is open to everyone (0755); the data folder holds the keys.
    assert_eq!(finding(&report, "data folder").0, "warn", "{report:#}");
    assert!(finding(&report, "data folder").1.contains("chmod 700"), "{report:#}");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();

    let migrated = rampart(dir.path()).arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{}", describe(&migrated));
    // A port free a moment ago, so the listener check has something to check (8080 may be taken).
    let mut cmd = rampart(dir.path());
    cmd.env("RAMPART_BIND", format!("127.0.0.1:{}", closed_port()));
    let (out, report) = doctor(cmd);
    assert!(out.status.success(), "{}", describe(&out));
    for part in [
        "configuration",
        "data folder",
        "database",
        "storage",
        "mail",
        "metrics",
        "listener",
    ] {
        assert_eq!(finding(&report, part).0, "ok", "{part}: {report:#}");
    }
    assert!(
        finding(&report, "database").1.contains("migrations up to date"),
        "{report:#}"
    );
    assert!(
        finding(&report, "storage").1.contains("written, read and removed"),
        "{report:#}"
    );
    // The probe left nothing behind in the media folder.
    let media = dir.path().join("media");
    let left: Vec<_> = walk(&media);
    assert!(left.is_empty(), "probe objects left: {left:?}");

    // The text form says the same, for a person.
    let text = rampart(dir.path()).arg("doctor").output().unwrap();
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(text.status.success(), "{}", describe(&text));
    assert!(stdout.contains("no problems found"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("ok") && l.contains("database")),
        "{stdout}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let p = e.path();
            if p.is_dir() { walk(&p) } else { vec![p] }
        })
        .collect()
}

#[tokio::test]
async fn every_unreachable_service_fails_by_name_and_no_secret_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = rampart(dir.path());
    cmd.env(
        "RAMPART_DATABASE__URL",
        format!("postgres://rampart:pg-secret-value@127.0.0.1:{}/rampart", closed_port()),
    )
    .env(
        "RAMPART_REDIS__URL",
        format!("redis://:redis-secret-value@127.0.0.1:{}", closed_port()),
    )
    .env("RAMPART_REDIS__TIMEOUT_MS", "500")
    .env("RAMPART_STORAGE__DRIVER", "s3")
    .env("RAMPART_STORAGE__TIMEOUT_MS", "1000")
    .env("RAMPART_STORAGE__S3__BUCKET", "media")
    .env(
        "RAMPART_STORAGE__S3__ENDPOINT",
        format!("http://127.0.0.1:{}", closed_port()),
    )
    .env("RAMPART_STORAGE__S3__ALLOW_HTTP", "true")
    .env("RAMPART_STORAGE__S3__ACCESS_KEY_ID", "AKIADOCTOR")
    .env("RAMPART_STORAGE__S3__SECRET_ACCESS_KEY", "s3-secret-value")
    .env("RAMPART_MAIL__TRANSPORT", "smtp")
    .env("RAMPART_MAIL__SMTP__HOST", "127.0.0.1")
    .env("RAMPART_MAIL__SMTP__PORT", closed_port().to_string())
    .env("RAMPART_MAIL__SMTP__SECURITY", "none")
    .env("RAMPART_MAIL__SMTP__USERNAME", "mailer")
    .env("RAMPART_MAIL__SMTP__PASSWORD", "smtp-secret-value")
    .env("RAMPART_MAIL__SMTP__TIMEOUT_MS", "1000")
    .env(
        "RAMPART_TELEMETRY__OTLP_ENDPOINT",
        format!("http://127.0.0.1:{}", closed_port()),
    );
    let (out, report) = doctor(cmd);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    for part in ["database", "redis", "storage", "mail", "trace export"] {
        assert_eq!(finding(&report, part).0, "fail", "{part}: {report:#}");
    }
    assert_eq!(finding(&report, "configuration").0, "ok", "{report:#}");
    assert!(
        finding(&report, "database").1.contains("rampart:***@127.0.0.1"),
        "{report:#}"
    );
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in [
        "pg-secret-value",
        "redis-secret-value",
        "s3-secret-value",
        "smtp-secret-value",
    ] {
        assert!(!printed.contains(secret), "{secret} printed: {printed}");
    }
}

#[tokio::test]
async fn invalid_settings_are_reported_with_the_checks_that_still_ran() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = rampart(dir.path());
    cmd.env("RAMPART_ENV", "production")
        .env("RAMPART_PUBLIC_ORIGIN", "http://insecure.example")
        .env("RAMPART_TELEMETRY__SAMPLE_RATIO", "2");
    let (out, report) = doctor(cmd);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let (status, detail) = finding(&report, "configuration");
    assert_eq!(status, "fail");
    assert!(detail.contains("public_origin must be https://"), "{detail}");
    assert!(detail.contains("telemetry.sample_ratio"), "{detail}");
    // Production without a signing key file is its own finding; the database was still checked.
    assert_eq!(finding(&report, "signing key").0, "fail", "{report:#}");
    assert_ne!(finding(&report, "database").0, "fail", "{report:#}");
}

/// Every service real, as `.ci/run` provides them: PostgreSQL, Redis, S3 (moto) and SMTP (aiosmtpd).
#[tokio::test]
async fn real_services_pass() {
    let (Ok(pg), Ok(redis), Ok(s3)) = (
        std::env::var("RAMPART_TEST_DATABASE_URL"),
        std::env::var("RAMPART_TEST_REDIS_URL"),
        std::env::var("RAMPART_TEST_S3_URL"),
    ) else {
        println!("skipped: set RAMPART_TEST_DATABASE_URL, RAMPART_TEST_REDIS_URL and RAMPART_TEST_S3_URL");
        return;
    };
    if !crate::smtp::available() {
        println!("skipped: pip install aiosmtpd");
        return;
    }
    let db = PgDatabase::create(&pg).await;
    let smtp = crate::smtp::SmtpServer::start(crate::smtp::free_port()).await;
    let s3 = s3.trim_end_matches('/').to_owned();
    let bucket = format!("rampart-{}", uuid::Uuid::now_v7().simple());
    let created = reqwest::Client::new()
        .put(format!("{s3}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "creating {bucket}: {}", created.status());
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = rampart(dir.path());
    cmd.env("RAMPART_DATABASE__URL", &db.url)
        .env("RAMPART_REDIS__URL", &redis)
        .env("RAMPART_STORAGE__DRIVER", "s3")
        .env("RAMPART_STORAGE__S3__BUCKET", &bucket)
        .env("RAMPART_STORAGE__S3__ENDPOINT", &s3)
        .env("RAMPART_STORAGE__S3__ALLOW_HTTP", "true")
        .env("RAMPART_STORAGE__S3__ACCESS_KEY_ID", "test")
        .env("RAMPART_STORAGE__S3__SECRET_ACCESS_KEY", "test")
        .env("RAMPART_MAIL__TRANSPORT", "smtp")
        .env("RAMPART_MAIL__SMTP__HOST", "127.0.0.1")
        .env("RAMPART_MAIL__SMTP__PORT", smtp.port.to_string())
        .env("RAMPART_MAIL__SMTP__SECURITY", "none");
    let (out, report) = doctor(cmd);
    assert!(out.status.success(), "{}", describe(&out));
    for part in ["database", "redis", "storage", "mail", "backups"] {
        assert_ne!(finding(&report, part).0, "fail", "{part}: {report:#}");
    }
    assert_eq!(finding(&report, "redis").0, "ok", "{report:#}");
    assert_eq!(finding(&report, "mail").0, "ok", "{report:#}");
    assert!(finding(&report, "storage").1.contains(&bucket), "{report:#}");
    // A database nothing was migrated into yet is a warning, not a failure.
    assert!(finding(&report, "database").1.contains("is empty"), "{report:#}");
}
