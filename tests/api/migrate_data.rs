//! `rampart migrate-data`: moving a SQLite-backed instance to PostgreSQL and back, row for row.

use crate::cli::describe;
use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::Duration;

use rampart::domain::Role;
use rampart::ops::transfer::{ENGINE_ONLY, Kind, TABLES};
use rampart::store::value::Value as Stored;
use rampart::store::{Backend, Db, Exec};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::authenticator::SoftPasskey;
use crate::factors::{Authenticator, challenge, enable_totp};
use crate::fixtures::jpeg;
use crate::helpers::{PgDatabase, TestApp, spawn_app_with};

const PASSWORD: &str = "a long enough passphrase";

/// POSTs `body` to `path` (as `token`'s holder, if given) and expects success.
async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> Value {
    let mut req = app.client.post(app.url(path)).json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    assert!(res.status().is_success(), "POST {path}: {}", res.status());
    res.json().await.unwrap_or(Value::Null)
}

/// Fills every table through the HTTP API: registrations, a second sign-in, a refresh, a role change, a
/// logout, two posts with hashtags (one under an idempotency key), and erin's authenticator with its
/// recovery codes and a sign-in waiting for its code. Returns each password-only user's name and
/// role, and erin's authenticator app and passkey.
async fn seed(app: &TestApp) -> (Vec<(String, &'static str)>, Authenticator, SoftPasskey) {
    let mut tokens = BTreeMap::new();
    for (name, display_name) in [
        ("alice", Some("Alice A.")),
        ("bob", None),
        ("carol", None),
        ("dave", None),
    ] {
        let body = json!({ "username": name, "email": format!("{name}@example.com"),
            "password": PASSWORD, "display_name": display_name });
        tokens.insert(name, post(app, "/api/v1/auth/register", None, body).await);
    }
    // There is no HTTP way to the first admin; `rampart admin create` writes the same row.
    let alice_id = tokens["alice"]["user"]["id"].as_str().unwrap();
    rampart::store::users::admin_update(app.state.db(), alice_id.parse().unwrap(), Some(Role::Admin), None)
        .await
        .unwrap();
    let login = json!({ "login": "alice", "password": PASSWORD });
    let admin = post(app, "/api/v1/auth/login", None, login).await;
    let carol_id = tokens["carol"]["user"]["id"].as_str().unwrap();
    let res = app
        .client
        .patch(format!("{}/api/v1/admin/users/{carol_id}", app.address))
        .bearer_auth(admin["access_token"].as_str().unwrap())
        .json(&json!({ "role": "moderator" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "changing carol's role");
    let refresh = json!({ "refresh_token": tokens["bob"]["refresh_token"] });
    post(app, "/api/v1/auth/refresh", None, refresh).await;
    post(
        app,
        "/api/v1/auth/logout",
        tokens["dave"]["access_token"].as_str(),
        json!({}),
    )
    .await;
    // Posting needs a verified address; the verification flow itself is tested elsewhere.
    app.exec("UPDATE users SET email_verified_at = created_at", &[]).await;
    let bob = tokens["bob"]["access_token"].as_str().unwrap();
    for (caption, key) in [("Sunset over the #pier", Some("first-post")), ("#Harbour lights", None)] {
        let image = Part::bytes(jpeg(48, 32))
            .file_name("photo.jpg")
            .mime_str("image/jpeg")
            .unwrap();
        let form = Form::new().part("image", image).text("caption", caption);
        let url = format!("{}/api/v1/posts", app.address);
        let mut req = app.client.post(url).bearer_auth(bob).multipart(form);
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        assert_eq!(
            req.send().await.unwrap().status(),
            StatusCode::CREATED,
            "posting {caption:?}"
        );
    }
    let erin = app.user_named("erin").await;
    let (phone, _) = enable_totp(app, &erin.access).await;
    let (passkey, _) = crate::passkeys::register(app, &erin, "Erin's key").await;
    challenge(app, &erin).await;
    assert_eq!(
        app.passkey_sign_in_options().await.status(),
        StatusCode::OK,
        "a ceremony left open"
    );
    let users = ["alice", "bob", "carol", "dave"]
        .into_iter()
        .zip(["admin", "user", "moderator", "user"])
        .map(|(name, role)| (name.to_owned(), role))
        .collect();
    (users, phone, passkey)
}

/// A stored value as text, the same on both engines: ids hyphenated, instants in Unix milliseconds.
fn as_text(value: Stored) -> Option<String> {
    match value {
        Stored::Null => None,
        Stored::Text(t) => Some(t),
        Stored::Int(i) => Some(i.to_string()),
        Stored::Id(id) => Some(id.to_string()),
        Stored::Time(t) => Some(rampart::domain::unix_ms(t).to_string()),
    }
}

/// Every table's columns (sorted) and rows (as text, sorted), found through the engine's own catalog
/// rather than `ops::transfer::TABLES`, so a table or column the copy leaves out shows as a difference.
/// Left out is what one engine derives for itself: SQLite's full-text tables and `ENGINE_ONLY` columns,
/// PostgreSQL's generated columns.
type Snapshot = BTreeMap<String, (Vec<String>, Vec<Vec<Option<String>>>)>;

async fn snapshot(url: &str) -> Snapshot {
    let db = Db::connect_url(url, 2, Duration::from_secs(5)).await.unwrap();
    let mut ex = &db;
    let (tables_sql, columns_sql) = match db.backend() {
        Backend::Sqlite => (
            "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations'",
            "SELECT name FROM pragma_table_info($1)",
        ),
        Backend::Postgres => (
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema() \
             AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations'",
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER'",
        ),
    };
    let tables: Vec<(String,)> = ex.fetch_all(tables_sql, &[]).await.unwrap();
    let mut snapshot = Snapshot::new();
    for (table,) in tables {
        let columns: Vec<(String,)> = ex.fetch_all(columns_sql, rampart::args![table]).await.unwrap();
        let mut columns: Vec<String> = columns.into_iter().map(|(c,)| c).collect();
        columns.retain(|c| db.backend() == Backend::Postgres || !ENGINE_ONLY.contains(&(table.as_str(), c.as_str())));
        columns.sort();
        let sql = format!("SELECT {} FROM {table}", columns.join(", "));
        let rows: Vec<Vec<Stored>> = ex.fetch_all(&sql, &[]).await.unwrap();
        let mut rows: Vec<Vec<Option<String>>> = rows
            .into_iter()
            .map(|row| row.into_iter().map(as_text).collect())
            .collect();
        rows.sort();
        snapshot.insert(table, (columns, rows));
    }
    db.close().await;
    snapshot
}

/// Runs `rampart migrate-data` away from the caller's environment and configuration files.
fn migrate_data(from: &str, to: &str, force: bool) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RAMPART_") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(cwd.path())
        .env("RAMPART_DATA_DIR", cwd.path())
        .env("RAMPART_AUTH__ARGON2__MEMORY_KIB", "256")
        .env("RAMPART_AUTH__ARGON2__ITERATIONS", "1")
        .env("RAMPART_LOG__LEVEL", "warn")
        .args(["migrate-data", "--from", from, "--to", to]);
    if force {
        cmd.arg("--force");
    }
    cmd.output().expect("rampart runs")
}

/// `url` with a password, and that password: trust authentication ignores it, but it must not be shown.
fn with_password(url: &str) -> (String, Option<String>) {
    let (Some(scheme), Some(at)) = (url.find("://"), url.rfind('@')) else {
        return (url.to_owned(), None);
    };
    match url[scheme + 3..at].split_once(':') {
        Some((_, password)) => (url.to_owned(), Some(password.to_owned())),
        None => {
            let secret = "migrate-data-secret";
            (
                format!("{}:{secret}{}", &url[..at], &url[at..]),
                Some(secret.to_owned()),
            )
        }
    }
}

#[tokio::test]
async fn migrate_data_moves_every_row_to_postgresql_and_back() {
    let Ok(admin_url) = std::env::var("RAMPART_TEST_DATABASE_URL") else {
        println!("skipped: set RAMPART_TEST_DATABASE_URL");
        return;
    };
    let mut source_app = spawn_app_with(|s| s.public_origin = Some(crate::passkeys::ORIGIN.into())).await;
    if source_app.state.db().backend() != Backend::Sqlite {
        println!("skipped: the source of this test is the SQLite default");
        return;
    }
    let (users, mut erin_phone, mut erin_passkey) = seed(&source_app).await;
    // The copy is read with the source's key for second-factor secrets, as an operator keeps it.
    let mfa_key = source_app.dir.path().join("keys").join("mfa-aes256.key");
    source_app.stop().await;
    source_app.state.db().close().await;
    let source = format!("sqlite://{}", source_app.dir.path().join("rampart.db").display());
    let original = snapshot(&source).await;
    for table in TABLES {
        assert!(
            original.contains_key(table.name),
            "{} missing from the snapshot",
            table.name
        );
    }
    for (table, (_, rows)) in &original {
        assert!(!rows.is_empty(), "seeding left {table} empty");
    }
    let pg = PgDatabase::create(&admin_url).await;

    let (target, secret) = with_password(&pg.url);
    let out = migrate_data(&source, &target, false);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("row counts match"),
        "{}",
        describe(&out)
    );
    if let Some(secret) = secret {
        assert!(
            !describe(&out).contains(&secret),
            "the password was shown: {}",
            describe(&out)
        );
    }
    assert_eq!(snapshot(&pg.url).await, original, "PostgreSQL copy");

    // A second run must not touch a non-empty target, not even a row it did not write itself.
    let marker_id = uuid::Uuid::now_v7();
    let marker_id_text = marker_id.to_string();
    let marker = BTreeMap::from([
        ("id", marker_id_text.as_str()),
        ("kind", "test.marker"),
        ("details", "{}"),
        ("created_at", "1"),
    ]);
    let db = Db::connect_url(&pg.url, 1, Duration::from_secs(5)).await.unwrap();
    (&db)
        .execute(
            "INSERT INTO audit_events (id, kind, details, created_at) VALUES ($1, 'test.marker', '{}', $2)",
            rampart::args![marker_id, rampart::domain::from_unix_ms(1).unwrap()],
        )
        .await
        .unwrap();
    db.close().await;
    let mut marked = original.clone();
    let (columns, rows) = marked.get_mut("audit_events").unwrap();
    rows.push(
        columns
            .iter()
            .map(|c| marker.get(c.as_str()).map(|v| v.to_string()))
            .collect(),
    );
    rows.sort();

    let out = migrate_data(&source, &pg.url, false);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not empty") && stderr.contains("--force"),
        "{}",
        describe(&out)
    );
    assert_eq!(snapshot(&pg.url).await, marked, "a refused run changes nothing");

    let out = migrate_data(&source, &pg.url, true);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(snapshot(&pg.url).await, original, "--force replaces the target's rows");

    let back_dir = tempfile::tempdir().unwrap();
    let back = format!("sqlite://{}?mode=rwc", back_dir.path().join("back.db").display());
    let out = migrate_data(&pg.url, &back, false);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(snapshot(&back).await, original, "SQLite copy of the PostgreSQL copy");
    let db = Db::connect_url(&back, 1, Duration::from_secs(5)).await.unwrap();
    let (found,): (i64,) = (&db)
        .fetch_one("SELECT COUNT(*) FROM posts_fts WHERE posts_fts MATCH 'pier'", &[])
        .await
        .unwrap();
    db.close().await;
    assert_eq!(found, 1, "the SQLite copy's caption index covers the copied posts");

    let copy_url = pg.url.clone();
    let app = spawn_app_with(move |s| {
        s.database.url = Some(copy_url.into());
        s.auth.mfa_key_file = Some(mfa_key);
        s.public_origin = Some(crate::passkeys::ORIGIN.into());
    })
    .await;
    for (username, role) in users {
        let res = app.login(&username, PASSWORD).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{username} signs in with their original password"
        );
        let body: Value = res.json().await.unwrap();
        let me = app.me(body["access_token"].as_str().unwrap()).await;
        let me: Value = me.json().await.unwrap();
        assert_eq!(me["role"], role, "{username}'s role");
    }
    let erin = app.login("erin", PASSWORD).await;
    assert_eq!(erin.status(), StatusCode::ACCEPTED, "erin's authenticator came along");
    let erin: Value = erin.json().await.unwrap();
    let verify = json!({ "challenge": erin["challenge"], "code": erin_phone.next_code().await });
    assert_eq!(
        app.mfa_verify(&verify).await.status(),
        StatusCode::OK,
        "and its secret still opens"
    );
    let started: Value = app.passkey_sign_in_options().await.json().await.unwrap();
    let answer = erin_passkey.get(&started["options"], crate::passkeys::ORIGIN);
    let body = json!({ "ceremony": started["ceremony"], "credential": answer });
    assert_eq!(
        app.passkey_sign_in(&body).await.status(),
        StatusCode::OK,
        "erin's passkey came along"
    );
    let feed: Value = app.feed("q=pier").await.json().await.unwrap();
    let captions: Vec<&str> = (feed["items"].as_array().unwrap().iter())
        .map(|p| p["caption"].as_str().unwrap())
        .collect();
    assert_eq!(
        captions,
        ["Sunset over the #pier"],
        "caption search on the PostgreSQL copy"
    );
}

#[tokio::test]
async fn every_postgresql_column_has_the_type_the_copy_binds() {
    let Ok(admin_url) = std::env::var("RAMPART_TEST_DATABASE_URL") else {
        println!("skipped: set RAMPART_TEST_DATABASE_URL");
        return;
    };
    let pg = PgDatabase::create(&admin_url).await;
    let db = Db::connect_url(&pg.url, 1, Duration::from_secs(5)).await.unwrap();
    db.migrate().await.unwrap();
    let mut ex = &db;
    for table in TABLES {
        for (column, kind) in table.columns {
            let (ty,): (String,) = ex
                .fetch_one(
                    "SELECT CAST(data_type AS TEXT) FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2",
                    rampart::args![table.name, *column],
                )
                .await
                .unwrap();
            let expected = match kind {
                Kind::Text => "text",
                Kind::Int => "bigint",
                Kind::Id => "uuid",
                Kind::Time => "timestamp with time zone",
            };
            assert_eq!(ty, expected, "{}.{column}", table.name);
        }
    }
    db.close().await;
}
