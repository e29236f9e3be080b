//! Storage and database stay consistent: `rampart media reconcile`, and killing the server mid-upload.

use rampart::args;
use rampart::store::Exec;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::spawn_app;
use crate::process::Instance;

fn reconcile(data_dir: &Path, dry_run: bool) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RAMPART_") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(data_dir)
        .args(["media", "reconcile", "--data-dir"])
        .arg(data_dir);
    if dry_run {
        cmd.arg("--dry-run");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// A base key made `secs_ago` seconds ago, as the server would have named it then.
fn key_from(secs_ago: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, now - secs_ago, 0);
    format!("p/{}", uuid::Uuid::new_v7(ts).simple())
}

/// Objects under `key` as an upload that never got its row leaves them, WebP renditions included.
fn plant(media: &Path, key: &str) {
    let dir = media.join(key);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("original.jpg"), fixtures::jpeg(10, 10)).unwrap();
    for webp in ["display.webp", "thumb.webp"] {
        std::fs::write(dir.join(webp), b"RIFF\0\0\0\0WEBP").unwrap();
    }
}

#[tokio::test]
async fn reconcile_removes_old_orphans_and_posts_whose_media_is_gone() {
    let app = spawn_app().await;
    if app.state.db().backend() != rampart::store::Backend::Sqlite {
        println!("skipped: the reconcile command test reads the SQLite default");
        return;
    }
    let user = app.new_user().await;
    let keep: Value = app
        .upload(&user.access, fixtures::jpeg(50, 50), "keep")
        .await
        .json()
        .await
        .unwrap();
    let broken: Value = app
        .upload(&user.access, fixtures::jpeg(50, 50), "broken")
        .await
        .json()
        .await
        .unwrap();
    let media = app.dir.path().join("media");
    let broken_id: uuid::Uuid = broken["id"].as_str().unwrap().parse().unwrap();
    let (broken_key,): (String,) = (app.state.db())
        .fetch_one("SELECT base_key FROM posts WHERE id = $1", args![broken_id])
        .await
        .unwrap();
    std::fs::remove_dir_all(media.join(&broken_key)).unwrap();
    let (old, fresh) = (key_from(3600), key_from(5));
    plant(&media, &old);
    plant(&media, &fresh);

    let report = reconcile(app.dir.path(), true);
    assert!(report.contains("orphaned objects (would remove): 1"), "{report}");
    assert!(report.contains(&old) && !report.contains(&fresh), "{report}");
    assert!(
        report.contains("posts with missing media (would remove): 1"),
        "{report}"
    );
    assert!(report.contains("recent objects left alone: 1"), "{report}");
    assert!(media.join(&old).exists(), "a dry run changes nothing");
    assert_eq!(app.post_count().await, 2);

    let keep_id: uuid::Uuid = keep["id"].as_str().unwrap().parse().unwrap();
    let (keep_key,): (String,) = (app.state.db())
        .fetch_one("SELECT base_key FROM posts WHERE id = $1", args![keep_id])
        .await
        .unwrap();
    let keep_webp = [
        media.join(&keep_key).join("display.webp"),
        media.join(&keep_key).join("thumb.webp"),
    ];
    assert!(
        keep_webp.iter().all(|f| f.is_file()),
        "the kept post has WebP renditions"
    );

    reconcile(app.dir.path(), false);
    assert!(
        !media.join(&old).exists(),
        "the old orphan is gone, WebP objects and all"
    );
    assert!(
        keep_webp.iter().all(|f| f.is_file()),
        "a post's WebP objects are its own, not orphans"
    );
    assert!(
        media.join(&fresh).exists(),
        "a possible upload in progress is left alone"
    );
    let broken_id = broken["id"].as_str().unwrap();
    assert_eq!(app.get_post(broken_id).await.status(), StatusCode::NOT_FOUND);
    let keep_id = keep["id"].as_str().unwrap();
    assert_eq!(app.get_post(keep_id).await.status(), StatusCode::OK);
    let after = reconcile(app.dir.path(), true);
    assert!(
        after.contains("orphaned objects (would remove): 0") && after.contains("missing media (would remove): 0"),
        "{after}"
    );
}

#[tokio::test]
async fn killing_the_server_mid_upload_never_leaves_a_post_without_its_image() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("RAMPART_LOG__LEVEL", "error".to_owned())];
    let mut server = Instance::start(dir.path(), &env).await;
    let client = reqwest::Client::new();
    let body = json!({ "username": "crashy", "email": "crashy@example.com", "password": "long enough pass" });
    let reg: Value = client
        .post(format!("{}/api/v1/auth/register", server.url))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = reg["access_token"].as_str().unwrap().to_owned();
    let image = fixtures::jpeg(1600, 1200);

    // Several rounds, each killing the server at a different moment of a burst of uploads.
    for round in 0..4u64 {
        let uploads: Vec<_> = (0..4)
            .map(|_| {
                let form = reqwest::multipart::Form::new()
                    .part(
                        "image",
                        reqwest::multipart::Part::bytes(image.clone()).file_name("x.jpg"),
                    )
                    .text("caption", "crash test");
                client
                    .post(format!("{}/api/v1/posts", server.url))
                    .bearer_auth(&token)
                    .multipart(form)
                    .send()
            })
            .collect();
        let burst = tokio::spawn(futures::future::join_all(uploads));
        tokio::time::sleep(Duration::from_millis(30 + round * round * 150)).await;
        server.kill().await;
        let _ = burst.await;
        server = Instance::start(dir.path(), &env).await;
    }

    let feed: Value = client
        .get(format!("{}/api/v1/posts?limit=100", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let posts = feed["items"].as_array().unwrap();
    println!("{} uploads completed across the rounds", posts.len());
    for post in posts {
        for key in ["url", "display_url", "thumbnail_url"] {
            let url = format!("{}{}", server.url, post["image"][key].as_str().unwrap());
            assert_eq!(client.get(&url).send().await.unwrap().status(), StatusCode::OK, "{url}");
        }
    }
    server.kill().await;
    let report = reconcile(&dir.path().join("data"), true);
    assert!(
        report.contains("posts with missing media (would remove): 0"),
        "{report}"
    );
}

#[tokio::test]
async fn reconcile_reports_an_unreadable_image_record_and_keeps_the_post() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let post: Value = app
        .upload(&user.access, fixtures::jpeg(50, 50), "garbled later")
        .await
        .json()
        .await
        .unwrap();
    let id: uuid::Uuid = post["id"].as_str().unwrap().parse().unwrap();
    app.exec("UPDATE posts SET image = 'not json' WHERE id = $1", args![id])
        .await;

    let report = rampart::ops::reconcile::reconcile(app.state.db(), app.state.media().as_ref(), false, Duration::ZERO)
        .await
        .unwrap();

    assert_eq!(report.unreadable, vec![id], "{report:?}");
    assert!(report.missing.is_empty() && report.orphans.is_empty(), "{report:?}");
    assert_eq!(app.post_count().await, 1, "the post row is kept");
    assert_eq!(app.stored_keys().await.len(), 1, "and so is its media");
    // Reading it fails closed with a problem, never with a guess.
    let res = app.get_post(&id.to_string()).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}
