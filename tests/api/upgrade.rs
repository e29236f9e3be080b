//! Databases written by the previous release upgrade in place and keep every row.
//!
//! SQLite: `fixtures-data/release-00acf61/` was made by the release before the store rebuild (commit
//! 00acf61): `rampart admin create`, then over HTTP a post and a profile change. PostgreSQL: the
//! released migrations 0001–0003 (never edited since) build the old schema, with rows in its format
//! (text ids, Unix milliseconds); starting this release applies 0004 over them.

use std::path::Path;

use rampart::config::{LocalSettings, StorageDriver};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PgDatabase, TestApp, spawn_app_with};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/fixtures-data/release-00acf61");

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

async fn sign_in(app: &TestApp, login: &str, password: &str) -> String {
    let res = app.login(login, password).await;
    assert_eq!(res.status(), StatusCode::OK, "{login} signs in with the old password");
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_sqlite_database_from_the_previous_release_upgrades_and_keeps_its_rows() {
    let data = tempfile::tempdir().unwrap();
    copy_dir(Path::new(FIXTURE), data.path());
    let dir = data.path().to_path_buf();
    let app = spawn_app_with(move |s| {
        s.data_dir = dir;
        s.database.url = None;
        s.storage.driver = StorageDriver::Local(LocalSettings::default());
    })
    .await;

    let version = rampart::store::snapshot::applied_migration(app.state.db())
        .await
        .unwrap();
    assert_eq!(version, Some(7), "the upgrade applied every newer migration");
    let token = sign_in(&app, "oldadmin", "an old release passphrase").await;
    let me: Value = app.me(&token).await.json().await.unwrap();
    assert_eq!(me["id"], "01a23830-437b-7518-ae39-3acd9ebcc4ff");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["bio"], "kept across upgrades");
    assert_eq!(me["email_verified"], true);

    let feed: Value = app.feed("").await.json().await.unwrap();
    let items = feed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{feed}");
    let post = &items[0];
    assert_eq!(post["id"], "01a23830-b7fc-7439-aa20-7a670adc326c");
    assert_eq!(post["caption"], "Written by the previous release #legacy");
    assert_eq!(post["tags"], json!(["legacy"]));
    let image = app.fetch(post["image"]["display_url"].as_str().unwrap()).await;
    assert_eq!(image.status(), StatusCode::OK, "the old media is still served");
    let tagged: Value = app.feed("tag=legacy").await.json().await.unwrap();
    assert_eq!(tagged["items"].as_array().unwrap().len(), 1, "tags survive");
    let found: Value = app.feed("q=previous").await.json().await.unwrap();
    assert_eq!(
        found["items"].as_array().unwrap().len(),
        1,
        "the caption index survives"
    );

    // The upgraded database takes writes.
    let id = post["id"].as_str().unwrap();
    let etag = app.get_post(id).await.headers()["etag"].to_str().unwrap().to_owned();
    let res = app
        .edit_post_if_match(id, &token, &etag, &json!({ "caption": "Edited after the upgrade" }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let edited: Value = res.json().await.unwrap();
    assert_eq!(
        (edited["version"].as_i64(), &edited["created_at"]),
        (Some(2), &post["created_at"])
    );
}

#[tokio::test]
async fn a_postgresql_database_from_the_previous_release_upgrades_and_keeps_its_rows() {
    let Ok(admin_url) = std::env::var("RAMPART_TEST_DATABASE_URL") else {
        println!("skipped: set RAMPART_TEST_DATABASE_URL");
        return;
    };
    let pg = PgDatabase::create(&admin_url).await;
    let released = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    for name in ["0001_accounts.sql", "0002_posts.sql", "0003_mail.sql"] {
        std::fs::copy(source.join(name), released.path().join(name)).unwrap();
    }
    let pool = sqlx::PgPool::connect(&pg.url).await.unwrap();
    sqlx::migrate::Migrator::new(released.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();

    // Rows as the previous release wrote them: text ids and Unix milliseconds.
    let hasher =
        rampart::auth::password::Hasher::new(crate::helpers::test_settings(released.path()).auth.argon2, 1).unwrap();
    let hash = hasher.hash("an old release passphrase").await.unwrap();
    let (user, post, session) = (
        "01a23830-437b-7518-ae39-3acd9ebcc4ff",
        "01a23830-b7fc-7439-aa20-7a670adc326c",
        "01a23830-aaaa-7000-8000-000000000001",
    );
    let created: i64 = 1_764_700_000_123;
    let image = json!({
        "driver": "local", "base_key": "p/01a23830b7f8706b811ba6af34a16cea",
        "original_key": "p/01a23830b7f8706b811ba6af34a16cea/original.jpg",
        "display_key": "p/01a23830b7f8706b811ba6af34a16cea/display.jpg",
        "thumbnail_key": "p/01a23830b7f8706b811ba6af34a16cea/thumb.jpg", "provider": null
    });
    let statements: Vec<(&str, Vec<String>)> = vec![
        (
            "INSERT INTO users (id, username, email, password_hash, bio, role, email_verified_at, created_at, updated_at) \
             VALUES ($1, 'legacy', 'legacy@example.com', $2, 'kept across upgrades', 'admin', $3::bigint, $3::bigint, $3::bigint)",
            vec![user.into(), hash, created.to_string()],
        ),
        (
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, idle_expires_at, absolute_expires_at) \
             VALUES ($1, $2, $3::bigint, $3::bigint, $3::bigint + 1000, $3::bigint + 2000)",
            vec![session.into(), user.into(), created.to_string()],
        ),
        (
            "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ('old-hash', $1, $2::bigint)",
            vec![session.into(), created.to_string()],
        ),
        (
            "INSERT INTO posts (id, author_id, caption, tags, version, created_at, updated_at, image, base_key, width, \
             height, bytes, content_type, sha256, blurhash) VALUES ($1, $2, 'Written by the previous release #legacy', \
             'legacy', 1, $3::bigint, $3::bigint, $4, 'p/01a23830b7f8706b811ba6af34a16cea', 64, 48, 1000, 'image/jpeg', 'ab', 'LKO2?U%2Tw=w')",
            vec![post.into(), user.into(), created.to_string(), image.to_string()],
        ),
        (
            "INSERT INTO post_tags (post_id, tag) VALUES ($1, 'legacy')",
            vec![post.into()],
        ),
        (
            "INSERT INTO audit_events (id, kind, actor_id, target_id, details, created_at) \
             VALUES ('01a23830-aaaa-7000-8000-000000000002', 'login', $1, $1, '{}', $2::bigint)",
            vec![user.into(), created.to_string()],
        ),
        (
            "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at) VALUES ($1, 'k', 'h', $2::bigint)",
            vec![user.into(), created.to_string()],
        ),
        (
            "INSERT INTO outbox (id, to_address, subject, body_text, created_at, next_attempt_at, sent_at) \
             VALUES ('01a23830-aaaa-7000-8000-000000000003', 'legacy@example.com', 's', 'b', $1::bigint, $1::bigint, $1::bigint)",
            vec![created.to_string()],
        ),
        (
            "INSERT INTO email_tokens (hash, user_id, purpose, email, created_at, expires_at) \
             VALUES ('t', $1, 'verify_email', 'legacy@example.com', $2::bigint, $2::bigint)",
            vec![user.into(), created.to_string()],
        ),
    ];
    for (sql, binds) in statements {
        let mut query = sqlx::query(sql);
        for value in binds {
            query = query.bind(value);
        }
        query.execute(&pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    pool.close().await;

    let url = pg.url.clone();
    let app = spawn_app_with(move |s| s.database.url = Some(url.into())).await;
    let version = rampart::store::snapshot::applied_migration(app.state.db())
        .await
        .unwrap();
    assert_eq!(version, Some(7));
    let counts = rampart::ops::transfer::count_rows(&mut app.state.db().begin().await.unwrap())
        .await
        .unwrap();
    // The tables of later migrations start empty.
    let later = [
        "totp_factors",
        "recovery_codes",
        "mfa_challenges",
        "passkeys",
        "webauthn_ceremonies",
    ];
    let (new, old): (Vec<_>, Vec<_>) = counts.iter().partition(|(table, _)| later.contains(table));
    assert!(old.iter().all(|(_, n)| *n == 1), "every row is kept: {counts:?}");
    assert!(new.iter().all(|(_, n)| *n == 0), "{counts:?}");

    let token = sign_in(&app, "legacy", "an old release passphrase").await;
    let me: Value = app.me(&token).await.json().await.unwrap();
    let at = rampart::domain::rfc3339(rampart::domain::from_unix_ms(created).unwrap());
    assert_eq!(
        (&me["id"], &me["role"], &me["created_at"], &me["email_verified"]),
        (&json!(user), &json!("admin"), &json!(at), &json!(true)),
        "ids, roles and instants convert exactly"
    );
    let got: Value = app.get_post(post).await.json().await.unwrap();
    assert_eq!(got["caption"], "Written by the previous release #legacy");
    assert_eq!(got["created_at"], json!(at));
    let found: Value = app.feed("q=previous&tag=legacy").await.json().await.unwrap();
    assert_eq!(
        found["items"].as_array().unwrap().len(),
        1,
        "search and tags work on converted rows"
    );
}
