//! The `rampart` binary: creating an admin, checking configuration, and serving until SIGTERM.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

/// A `rampart` command isolated from the caller's environment: its own data folder as working
/// directory (so no `rampart.toml` is found), no inherited `RAMPART_*` variables, and cheap Argon2.
pub(crate) fn rampart(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RAMPART_") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(data_dir)
        .env("RAMPART_DATA_DIR", data_dir)
        .env("RAMPART_AUTH__ARGON2__MEMORY_KIB", "256")
        .env("RAMPART_AUTH__ARGON2__ITERATIONS", "1")
        .env("RAMPART_LOG__LEVEL", "warn")
        // Servers of parallel tests must not all want the default metrics port.
        .env("RAMPART_METRICS__BIND", "127.0.0.1:0");
    cmd
}

/// Runs `cmd` with `stdin` piped in and waits for it.
fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rampart starts");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().expect("rampart finishes")
}

fn create_admin(dir: &Path, username: &str, password: &str) -> Output {
    let mut cmd = rampart(dir);
    cmd.args(["admin", "create", "--email"])
        .arg(format!("{username}@example.com"))
        .args(["--username", username, "--password-stdin", "--data-dir"])
        .arg(dir);
    run_with_stdin(cmd, &format!("{password}\n"))
}

pub(crate) fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The (username, role) rows of the SQLite database `rampart.db` in `dir`, read directly.
async fn stored_users(dir: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(dir.join("rampart.db")).expect("open rampart.db");
    let mut stmt = conn
        .prepare("SELECT username, role FROM users ORDER BY username")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .expect("read users")
}

#[tokio::test]
async fn admin_create_reads_the_password_from_stdin_and_stores_an_admin() {
    let dir = tempfile::tempdir().unwrap();

    let out = create_admin(dir.path(), "root_admin", "a long enough passphrase");

    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        stored_users(dir.path()).await,
        vec![("root_admin".to_owned(), "admin".to_owned())]
    );
    let check = rampart(dir.path()).args(["config", "check"]).output().unwrap();
    assert!(check.status.success(), "{}", describe(&check));
}

#[tokio::test]
async fn admin_create_refuses_a_weak_password_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = rampart(dir.path()).arg("migrate").output().unwrap();
    assert!(migrate.status.success(), "{}", describe(&migrate));

    for weak in ["short", "password123", "root_admin rules"] {
        let out = create_admin(dir.path(), "root_admin", weak);

        assert!(!out.status.success(), "{weak:?} accepted: {}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("password"),
            "{weak:?}: error names the password: {stderr}"
        );
    }
    assert_eq!(stored_users(dir.path()).await, vec![]);
}

#[test]
fn config_check_refuses_production_without_a_signing_key() {
    let dir = tempfile::tempdir().unwrap();

    let out = rampart(dir.path())
        .env("RAMPART_ENV", "production")
        .args(["config", "check"])
        .output()
        .unwrap();

    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("signing_key_file"), "{stderr}");
}

#[test]
fn config_check_refuses_a_cors_wildcard_with_credentials() {
    let dir = tempfile::tempdir().unwrap();

    let out = rampart(dir.path())
        .env("RAMPART_HTTP__CORS_ORIGINS", r#"["*"]"#)
        .env("RAMPART_HTTP__CORS_ALLOW_CREDENTIALS", "true")
        .args(["config", "check"])
        .output()
        .unwrap();

    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cors"), "{stderr}");
}

#[test]
fn config_check_accepts_the_defaults_and_prints_them() {
    let dir = tempfile::tempdir().unwrap();

    let out = rampart(dir.path()).args(["config", "check"]).output().unwrap();

    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("configuration is valid"), "{stdout}");
}

#[test]
fn config_check_prints_the_chosen_driver_with_its_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();

    let out = rampart(dir.path())
        .env("RAMPART_STORAGE__DRIVER", "s3")
        .env("RAMPART_STORAGE__S3__SECRET_ACCESS_KEY", "s3-secret-value")
        .env("RAMPART_MAIL__TRANSPORT", "smtp")
        .env("RAMPART_MAIL__SMTP__USERNAME", "mailer")
        .env("RAMPART_MAIL__SMTP__PASSWORD", "smtp-secret-value")
        .env("RAMPART_REDIS__URL", "redis://:redis-secret-value@cache:6379")
        .args(["config", "check"])
        .output()
        .unwrap();

    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for secret in ["s3-secret-value", "smtp-secret-value", "redis-secret-value"] {
        assert!(!stdout.contains(secret), "{secret} printed: {stdout}");
    }
    for shown in [r#""driver": "s3""#, r#""transport": "smtp""#, "redis://:***@cache:6379"] {
        assert!(stdout.contains(shown), "{shown} missing: {stdout}");
    }
}

#[test]
fn config_check_refuses_an_unknown_storage_driver_by_name() {
    let dir = tempfile::tempdir().unwrap();

    let out = rampart(dir.path())
        .env("RAMPART_STORAGE__DRIVER", "ftp")
        .args(["config", "check"])
        .output()
        .unwrap();

    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ftp") && stderr.contains("imagekit"), "{stderr}");
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn serve_creates_its_data_and_stops_cleanly_on_sigterm() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log_path = dir.path().join("serve.log");
    let port = free_port();
    let mut cmd = rampart(dir.path());
    cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap());
    let mut child = tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .expect("rampart starts");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.get(&url).send().await {
            Ok(res) if res.status() == StatusCode::OK => break,
            _ if Instant::now() > deadline => panic!("no healthy answer in 20 s; log:\n{}", log()),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("rampart exited early with {status}; log:\n{}", log());
        }
    }
    drop(client);

    assert!(data.join("rampart.db").is_file(), "the database is created");
    let key = data.join("keys").join("signing-ed25519.pk8");
    let mode = std::fs::metadata(&key)
        .expect("a signing key is generated")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the signing key is private");

    let pid = child.id().expect("running").to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap_or_else(|_| panic!("still running 10 s after SIGTERM; log:\n{}", log()))
        .unwrap();

    assert!(status.success(), "exit after SIGTERM: {status}; log:\n{}", log());
}

#[test]
fn production_needs_both_generated_keys_and_accepts_them() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let signing = dir.path().join("keys").join("signing.pem");
    let mfa = dir.path().join("keys").join("mfa.key");
    for (out, extra) in [(&signing, None), (&mfa, Some("--mfa"))] {
        let mut cmd = rampart(dir.path());
        cmd.args(["keys", "generate", "--out"]).arg(out).args(extra);
        let generated = cmd.output().unwrap();
        assert!(generated.status.success(), "{}", describe(&generated));
        let mode = std::fs::metadata(out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{} is private", out.display());
    }
    let production = |with_mfa: bool| {
        let mut cmd = rampart(dir.path());
        cmd.env("RAMPART_ENV", "production")
            .env("RAMPART_PUBLIC_ORIGIN", "https://photos.example.com")
            .env("RAMPART_AUTH__ARGON2__MEMORY_KIB", "19456")
            .env("RAMPART_AUTH__SIGNING_KEY_FILE", &signing);
        if with_mfa {
            cmd.env("RAMPART_AUTH__MFA_KEY_FILE", &mfa);
        }
        cmd.args(["config", "check"]).output().unwrap()
    };

    let refused = production(false);
    assert!(!refused.status.success(), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("mfa_key_file"),
        "{}",
        describe(&refused)
    );
    let accepted = production(true);
    assert!(accepted.status.success(), "{}", describe(&accepted));
}

/// The one `.eml` file the file transport wrote under `outbox`, once it is there.
async fn the_one_mail_in(outbox: &Path) -> crate::smtp::ParsedMail {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let files: Vec<_> = std::fs::read_dir(outbox)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if let [file] = files.as_slice() {
            return crate::smtp::parse(&std::fs::read(file).unwrap());
        }
        assert!(files.len() < 2, "one mail expected: {files:?}");
        assert!(Instant::now() < deadline, "no mail under {} in 15 s", outbox.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn in_development_mailed_links_point_at_the_port_serve_was_bound_to() {
    // Arrange: `serve --bind` on a free port, no public_origin anywhere (Instance clears RAMPART_*).
    let dir = tempfile::tempdir().unwrap();
    // The same binary on the suite's engine: the origin must not depend on the store.
    let pg = match std::env::var("RAMPART_TEST_BACKEND").as_deref() {
        Ok("postgres") => {
            let admin = std::env::var("RAMPART_TEST_DATABASE_URL").expect("RAMPART_TEST_DATABASE_URL");
            Some(crate::helpers::PgDatabase::create(&admin).await)
        }
        _ => None,
    };
    let env: Vec<(&str, String)> = pg.iter().map(|db| ("RAMPART_DATABASE__URL", db.url.clone())).collect();
    let server = crate::process::Instance::start(dir.path(), &env).await;
    let client = reqwest::Client::new();

    // Act
    let res = client
        .post(format!("{}/api/v1/auth/register", server.url))
        .json(&serde_json::json!({
            "username": "port_follower",
            "email": "follower@example.com",
            "password": "a long enough passphrase",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "{}", server.log());
    let access = res.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mail = the_one_mail_in(&dir.path().join("data").join("outbox")).await;

    // Assert: the link names this server, and its token verifies the address through the API.
    assert_eq!(mail.to, "follower@example.com");
    let prefix = format!("{}/verify-email?token=", server.url);
    assert!(server.url.starts_with("http://127.0.0.1:"), "{}", server.url);
    let link = mail
        .body
        .split_whitespace()
        .find(|word| word.starts_with("http"))
        .unwrap_or_else(|| panic!("no link in:\n{}", mail.body));
    let token = link
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{link} does not start with {prefix}"));
    let verified = client
        .post(format!("{}/api/v1/auth/verify-email", server.url))
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert!(verified.status().is_success(), "verify: {}", verified.status());
    let me: serde_json::Value = client
        .get(format!("{}/api/v1/me", server.url))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], true, "{me}");
    assert!(!server.log().contains(token), "no token in the log");
}
