//! Housekeeping: sent mail, spent email tokens and old idempotency keys are deleted by age, and
//! nothing younger or still pending is touched.

use reqwest::StatusCode;
use serde_json::Value;

use crate::fixtures;
use crate::helpers::spawn_app;
use rampart::domain::now_ms;
use rampart::housekeeping::{self, Pruned};

const DAY: i64 = 24 * 3600 * 1000;

async fn count(app: &crate::helpers::TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_pass_deletes_only_what_has_aged_out() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let now = now_ms();
    let db = &app.state.db.pool;

    // Mail: sent 8 days ago (goes), sent an hour ago (stays), never sent and 30 days old (stays).
    for (id, created, sent) in [
        ("m-old-sent", now - 9 * DAY, Some(now - 8 * DAY)),
        ("m-new-sent", now - DAY, Some(now - 3600 * 1000)),
        ("m-unsent", now - 30 * DAY, None),
    ] {
        sqlx::query(
            "INSERT INTO outbox (id, to_address, subject, body_text, created_at, next_attempt_at, sent_at) \
             VALUES ($1, 'a@example.com', 's', 'b', $2, $2, $3)",
        )
        .bind(id)
        .bind(created)
        .bind(sent)
        .execute(db)
        .await
        .unwrap();
    }
    // Tokens: expired two days ago (goes), expired an hour ago (stays), valid (stays).
    for (hash, expires) in [
        ("t-old", now - 2 * DAY),
        ("t-recent", now - 3600 * 1000),
        ("t-valid", now + DAY),
    ] {
        sqlx::query(
            "INSERT INTO email_tokens (hash, user_id, purpose, email, created_at, expires_at) \
             VALUES ($1, $2, 'verify_email', 'a@example.com', $3, $4)",
        )
        .bind(hash)
        .bind(&user.id)
        .bind(expires - DAY)
        .bind(expires)
        .execute(db)
        .await
        .unwrap();
    }
    // Idempotency: a post made with a key, whose record is then aged past 24 hours, and a fresh one.
    let image = fixtures::jpeg(40, 30);
    let form = || reqwest::multipart::Form::new().part("image", reqwest::multipart::Part::bytes(image.clone()));
    let first = app.upload_form(&user.access, form(), Some("k-old")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let kept = app.upload_form(&user.access, form(), Some("k-new")).await;
    assert_eq!(kept.status(), StatusCode::CREATED);
    let kept: Value = kept.json().await.unwrap();
    sqlx::query("UPDATE idempotency_keys SET created_at = $1 WHERE key = 'k-old'")
        .bind(now - DAY - 60_000)
        .execute(db)
        .await
        .unwrap();

    let pruned = housekeeping::run_once(&app.state.db, now).await.unwrap();
    assert_eq!(
        pruned,
        Pruned {
            sent_mail: 1,
            email_tokens: 1,
            idempotency_keys: 1
        }
    );
    let left = count(
        &app,
        "SELECT COUNT(*) FROM outbox WHERE id IN ('m-new-sent', 'm-unsent')",
    )
    .await;
    assert_eq!(
        (
            left,
            count(&app, "SELECT COUNT(*) FROM outbox WHERE id = 'm-old-sent'").await
        ),
        (2, 0)
    );
    let tokens = count(
        &app,
        "SELECT COUNT(*) FROM email_tokens WHERE hash IN ('t-recent', 't-valid')",
    )
    .await;
    assert_eq!(
        (
            tokens,
            count(&app, "SELECT COUNT(*) FROM email_tokens WHERE hash = 't-old'").await
        ),
        (2, 0)
    );

    // Through the API: the forgotten key is a new request, the remembered one still replays.
    let again = app.upload_form(&user.access, form(), Some("k-old")).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert!(again.headers().get("idempotent-replayed").is_none());
    let again: Value = again.json().await.unwrap();
    assert_ne!(again["id"], first["id"], "a key older than 24 hours no longer replays");
    let replay = app.upload_form(&user.access, form(), Some("k-new")).await;
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert!(replay.headers().get("idempotent-replayed").is_some());
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["id"], kept["id"]);

    // A second pass finds nothing more.
    assert_eq!(
        housekeeping::run_once(&app.state.db, now).await.unwrap(),
        Pruned::default()
    );
}
