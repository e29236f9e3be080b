//! Housekeeping: sent mail, spent email tokens and old idempotency keys are deleted by age, sealed
//! refresh-token successors past any retry window are cleared, and nothing younger or still pending is
//! touched.

use reqwest::StatusCode;
use serde_json::{Value, json};

use rampart::domain::now;
use rampart::ops::housekeeping::{self, Pruned};
use rampart::store::value::Arg;
use time::Duration;
use uuid::Uuid;

use crate::fixtures;
use crate::helpers::spawn_app;

const DAY: Duration = Duration::DAY;

#[tokio::test]
async fn a_pass_deletes_only_what_has_aged_out() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let now = now();

    // Mail: sent 8 days ago (goes), sent an hour ago (stays), never sent and 30 days old (stays).
    // Outbox ids are UUIDs: these are named for the test.
    let (old_sent, new_sent, unsent) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for (id, created, sent) in [
        (old_sent, now - 9 * DAY, Some(now - 8 * DAY)),
        (new_sent, now - DAY, Some(now - Duration::HOUR)),
        (unsent, now - 30 * DAY, None),
    ] {
        app.exec(
            "INSERT INTO outbox (id, to_address, subject, body_text, created_at, next_attempt_at, sent_at) \
             VALUES ($1, 'a@example.com', 's', 'b', $2, $2, $3)",
            rampart::args![id, created, sent],
        )
        .await;
    }
    // Tokens: expired two days ago (goes), expired an hour ago (stays), valid (stays).
    for (hash, expires) in [
        ("t-old", now - 2 * DAY),
        ("t-recent", now - Duration::HOUR),
        ("t-valid", now + DAY),
    ] {
        app.exec(
            "INSERT INTO email_tokens (hash, user_id, purpose, email, created_at, expires_at) \
             VALUES ($1, $2, 'verify_email', 'a@example.com', $3, $4)",
            rampart::args![hash, user.uid(), expires - DAY, expires],
        )
        .await;
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
    app.exec(
        "UPDATE idempotency_keys SET created_at = $1 WHERE key = 'k-old'",
        rampart::args![now - DAY - Duration::MINUTE],
    )
    .await;

    // Sealed successors: one of a refresh two minutes ago (cleared), one of a refresh just now (kept).
    let (aged, fresh) = (app.new_user().await, app.new_user().await);
    for u in [&aged, &fresh] {
        let res = app.refresh(&json!({ "refresh_token": u.refresh })).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    app.exec(
        "UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2",
        rampart::args![now - 2 * Duration::MINUTE, rampart::auth::secrets::hash(&aged.refresh)],
    )
    .await;

    let pruned = housekeeping::run_once(app.state.db(), now).await.unwrap();
    assert_eq!(
        pruned,
        Pruned {
            sent_mail: 1,
            email_tokens: 1,
            idempotency_keys: 1,
            mfa_challenges: 0,
            webauthn_ceremonies: 0,
            sealed_successors: 1,
        }
    );
    let sealed = "SELECT COUNT(*) FROM refresh_tokens WHERE hash = $1 AND successor_sealed IS NOT NULL";
    let hash_of = |u: &crate::helpers::TestUser| rampart::auth::secrets::hash(&u.refresh);
    assert_eq!(app.count(sealed, rampart::args![hash_of(&aged)]).await, 0);
    assert_eq!(app.count(sealed, rampart::args![hash_of(&fresh)]).await, 1);
    let left = app
        .count(
            "SELECT COUNT(*) FROM outbox WHERE id IN ($1, $2)",
            &[Arg::Id(Some(new_sent)), Arg::Id(Some(unsent))],
        )
        .await;
    assert_eq!(
        (
            left,
            app.count("SELECT COUNT(*) FROM outbox WHERE id = $1", &[Arg::Id(Some(old_sent))])
                .await
        ),
        (2, 0)
    );
    let tokens = app
        .count(
            "SELECT COUNT(*) FROM email_tokens WHERE hash IN ('t-recent', 't-valid')",
            &[],
        )
        .await;
    assert_eq!(
        (
            tokens,
            app.count("SELECT COUNT(*) FROM email_tokens WHERE hash = 't-old'", &[])
                .await
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
        housekeeping::run_once(app.state.db(), now).await.unwrap(),
        Pruned::default()
    );
}
