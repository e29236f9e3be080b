//! `rampart backup` and `rampart restore` through the real binary: a backup taken while a server takes
//! uploads restores every post that was committed before it began, with the same image bytes; damaged,
//! misplaced and too-new backups are refused; `serve` takes scheduled backups and keeps the newest.

use crate::cli::describe;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rampart::ops::backup::manifest::{Manifest, MediaNote};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::jpeg;
use crate::helpers::PgDatabase;
use crate::process::Instance;

/// Settings every server and command of these tests shares: posting without a mailed verification,
/// and no hourly quota in the way of a stream of uploads.
fn env() -> Vec<(&'static str, String)> {
    vec![
        ("RAMPART_POSTS__REQUIRE_VERIFIED_EMAIL", "false".into()),
        ("RAMPART_POSTS__POSTS_PER_HOUR", "100000".into()),
    ]
}

/// A `rampart` command away from the caller's environment and configuration files.
fn rampart(cwd: &Path, extra: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RAMPART_") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(cwd).env("RAMPART_LOG__LEVEL", "warn");
    for (k, v) in env().iter().chain(extra) {
        cmd.env(k, v);
    }
    cmd
}

fn backup(data: &Path, out: &Path, extra: &[(&str, String)]) -> Output {
    let mut cmd = rampart(data.parent().unwrap(), extra);
    cmd.args(["backup", "--data-dir"]).arg(data).arg("--out").arg(out);
    cmd.output().expect("rampart runs")
}

fn restore(from: &Path, data: &Path, extra: &[(&str, String)]) -> Output {
    std::fs::create_dir_all(data.parent().unwrap()).unwrap();
    let mut cmd = rampart(data.parent().unwrap(), extra);
    cmd.arg("restore").arg(from).arg("--data-dir").arg(data);
    cmd.output().expect("rampart runs")
}

fn refused_with(out: &Output, words: &str) -> String {
    assert!(!out.status.success(), "expected a refusal: {}", describe(out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains(words), "expected {words:?}: {stderr}");
    stderr
}

/// Registers a user on `server` and returns their access token.
async fn register(client: &reqwest::Client, server: &Instance, name: &str) -> String {
    let body =
        json!({ "username": name, "email": format!("{name}@example.com"), "password": "a long enough passphrase" });
    let res = client
        .post(format!("{}/api/v1/auth/register", server.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "registering {name}");
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Uploads a `width`-wide JPEG; the response, whatever its status.
async fn upload(client: &reqwest::Client, server: &str, token: &str, width: u32, caption: &str) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(jpeg(width, 24))
        .file_name("photo.jpg")
        .mime_str("image/jpeg")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .part("image", part)
        .text("caption", caption.to_owned());
    client
        .post(format!("{server}/api/v1/posts"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

const IMAGE_KEYS: [&str; 3] = ["url", "display_url", "thumbnail_url"];

/// A post as `server` shows it: its caption and the bytes behind each of its image URLs.
async fn read_post(client: &reqwest::Client, server: &str, id: &str) -> (String, Vec<Vec<u8>>) {
    let res = client.get(format!("{server}/api/v1/posts/{id}")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "post {id} on {server}");
    let post: Value = res.json().await.unwrap();
    let mut images = Vec::new();
    for key in IMAGE_KEYS {
        let url = post["image"][key].as_str().unwrap();
        let url = if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{server}{url}")
        };
        let res = client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{key} of post {id} on {server}");
        images.push(res.bytes().await.unwrap().to_vec());
    }
    (post["caption"].as_str().unwrap().to_owned(), images)
}

#[tokio::test]
async fn a_backup_taken_during_uploads_restores_every_post_committed_before_it_began() {
    let root = tempfile::tempdir().unwrap();
    let original = Instance::start(&root.path().join("original"), &env()).await;
    let client = reqwest::Client::new();
    let token = register(&client, &original, "writer").await;

    // A writer posts until told to stop, noting when each 201 arrived.
    let committed: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (client, url, token) = (client.clone(), original.url.clone(), token.clone());
        let (committed, stop) = (committed.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let res = upload(&client, &url, &token, 16 + n % 200, &format!("post number {n}")).await;
                assert_eq!(res.status(), StatusCode::CREATED, "upload {n}");
                let body: Value = res.json().await.unwrap();
                let id = body["id"].as_str().unwrap().to_owned();
                committed.lock().unwrap().push((id, Instant::now()));
            }
        })
    };
    let posts_so_far = || committed.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while posts_so_far() < 10 {
        assert!(
            Instant::now() < deadline,
            "the writer made {} posts in 30 s",
            posts_so_far()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let out = root.path().join("backup");
    let data = root.path().join("original").join("data");
    let began = Instant::now();
    let taken = {
        let (data, out) = (data.clone(), out.clone());
        tokio::task::spawn_blocking(move || backup(&data, &out, &[]))
            .await
            .unwrap()
    };
    let ended = Instant::now();
    assert!(taken.status.success(), "{}", describe(&taken));
    // Let a few more uploads land after the backup, then stop writing.
    let after = posts_so_far() + 3;
    while posts_so_far() < after {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    let committed = committed.lock().unwrap().clone();
    let before: Vec<&String> = committed
        .iter()
        .filter(|(_, at)| *at < began)
        .map(|(id, _)| id)
        .collect();
    let during = committed.iter().filter(|(_, at)| *at >= began && *at <= ended).count();
    println!(
        "{} posts committed before the backup, {during} while it ran, {} in all",
        before.len(),
        committed.len()
    );
    let mut expected = Vec::new();
    for id in &before {
        expected.push(read_post(&client, &original.url, id).await);
    }

    let fresh = root.path().join("restored");
    let restored = restore(&out, &fresh.join("data"), &[]);
    assert!(restored.status.success(), "{}", describe(&restored));
    let server = Instance::start(&fresh, &env()).await;
    for (id, want) in before.iter().zip(&expected) {
        let got = read_post(&client, &server.url, id).await;
        assert_eq!(got.0, want.0, "caption of {id}");
        for (key, (got, want)) in IMAGE_KEYS.iter().zip(got.1.iter().zip(&want.1)) {
            assert!(got == want, "{key} of {id}: the restored bytes differ");
        }
    }
    let manifest: Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["engine"], "sqlite");
    assert_eq!(manifest["media"]["included"], true);
    let listed: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&"rampart.db"), "{listed:?}");
    assert!(
        listed.iter().filter(|p| p.starts_with("media/")).count() >= 3 * before.len(),
        "{listed:?}"
    );
}

/// A server with one post, backed up into `<root>/backup`; the server is stopped.
async fn one_post_backup(root: &Path) -> PathBuf {
    let mut server = Instance::start(&root.join("source"), &env()).await;
    let client = reqwest::Client::new();
    let token = register(&client, &server, "poster").await;
    let res = upload(&client, &server.url, &token, 40, "the only post").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let out = root.join("backup");
    let taken = backup(&root.join("source").join("data"), &out, &[]);
    assert!(taken.status.success(), "{}", describe(&taken));
    server.kill().await;
    out
}

fn media_files(backup: &Path) -> Vec<PathBuf> {
    let mut files = rampart::ops::backup::manifest::walk(&backup.join("media")).unwrap();
    files.sort();
    files
}

#[tokio::test]
async fn restore_refuses_a_tampered_file_naming_it_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let out = one_post_backup(root.path()).await;
    for victim in [out.join("rampart.db"), media_files(&out)[0].clone()] {
        let bytes = std::fs::read(&victim).unwrap();
        let mut flipped = bytes.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 0x01;
        std::fs::write(&victim, &flipped).unwrap();
        let data = root.path().join("target").join("data");

        let refused = restore(&out, &data, &[]);

        let name = victim.strip_prefix(&out).unwrap().to_str().unwrap();
        let stderr = refused_with(&refused, "corrupted");
        assert!(stderr.contains(name), "the error names {name}: {stderr}");
        assert!(!data.join("rampart.db").exists(), "nothing was restored");
        assert!(!data.join("media").exists(), "no media was restored");
        std::fs::write(&victim, &bytes).unwrap();
    }
    // An extra file that the manifest does not list is refused as well.
    std::fs::write(out.join("media").join("stray.jpg"), b"not from the backup").unwrap();
    refused_with(&restore(&out, &root.path().join("t2").join("data"), &[]), "stray.jpg");
}

#[tokio::test]
async fn restore_refuses_a_target_that_already_has_a_database_or_media() {
    let root = tempfile::tempdir().unwrap();
    let out = one_post_backup(root.path()).await;
    let data = root.path().join("target").join("data");
    let migrate = rampart(root.path(), &[])
        .arg("migrate")
        .env("RAMPART_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{}", describe(&migrate));
    let before = std::fs::read(data.join("rampart.db")).unwrap();

    refused_with(&restore(&out, &data, &[]), "restore only into an empty data folder");
    assert_eq!(
        std::fs::read(data.join("rampart.db")).unwrap(),
        before,
        "the database was left alone"
    );
    assert!(!data.join("media").exists(), "no media was written");

    let other = root.path().join("other").join("data");
    std::fs::create_dir_all(other.join("media").join("p")).unwrap();
    refused_with(&restore(&out, &other, &[]), "is not empty");
    assert!(!other.join("rampart.db").exists());
}

/// Rewrites the manifest's entry for `path` to the file's current size and checksum, as a backup taken
/// in that state would have it.
fn reseal(backup: &Path, path: &str, migration_version: i64) {
    let mut manifest = Manifest::read(backup).unwrap();
    let (size, sha256) = rampart::ops::backup::manifest::hash_file(&backup.join(path)).unwrap();
    let entry = manifest.files.iter_mut().find(|f| f.path == path).unwrap();
    (entry.size, entry.sha256) = (size, sha256);
    manifest.migration_version = migration_version;
    std::fs::write(
        backup.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

#[tokio::test]
async fn restore_refuses_a_backup_from_a_newer_rampart() {
    let root = tempfile::tempdir().unwrap();
    let out = one_post_backup(root.path()).await;
    // What a newer release's database looks like to this one: a migration it does not know.
    let current = rampart::store::snapshot::sqlite_migration(&out.join("rampart.db")).unwrap();
    let newer = current + 1;
    let conn = rusqlite::Connection::open(out.join("rampart.db")).unwrap();
    conn.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (?1, 'from the future', TRUE, x'00', 0)",
        [newer],
    )
    .unwrap();
    drop(conn);
    reseal(&out, "rampart.db", newer);
    let data = root.path().join("target").join("data");

    let stderr = refused_with(&restore(&out, &data, &[]), "upgrade Rampart first");

    assert!(stderr.contains(&newer.to_string()), "{stderr}");
    assert!(!data.join("rampart.db").exists());
}

#[tokio::test]
async fn a_backup_from_an_older_release_restores_and_serve_migrates_it_forward() {
    // The previous release's data folder (see upgrade.rs), made into a backup as that release's
    // database and media would be.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/fixtures-data/release-00acf61");
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("old-backup");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::copy(fixture.join("rampart.db"), out.join("rampart.db")).unwrap();
    rampart::ops::backup::copy_tree(&fixture.join("media"), &out.join("media")).unwrap();
    let old_version = rampart::store::snapshot::sqlite_migration(&out.join("rampart.db")).unwrap();
    let latest = rampart::store::Db::latest_migration(rampart::store::Backend::Sqlite);
    assert!(old_version < latest, "the fixture is older than this release");
    Manifest {
        format: rampart::ops::backup::manifest::FORMAT,
        rampart_version: "0.0.0-previous".into(),
        engine: "sqlite".into(),
        migration_version: old_version,
        started_at: "2026-01-01T00:00:00Z".into(),
        media: MediaNote {
            driver: "local".into(),
            included: true,
            note: String::new(),
        },
        files: Vec::new(),
    }
    .seal(&out)
    .unwrap();
    let fresh = root.path().join("restored");

    let restored = restore(&out, &fresh.join("data"), &[]);

    assert!(restored.status.success(), "{}", describe(&restored));
    assert!(
        String::from_utf8_lossy(&restored.stdout).contains("applies the newer migrations"),
        "{}",
        describe(&restored)
    );
    let server = Instance::start(&fresh, &env()).await;
    let client = reqwest::Client::new();
    let (caption, images) = read_post(&client, &server.url, "01a23830-b7fc-7439-aa20-7a670adc326c").await;
    assert_eq!(caption, "Written by the previous release #legacy");
    assert_eq!(
        images[0],
        std::fs::read(fixture.join("media/p/01a23830b7f8706b811ba6af34a16cea/original.jpg")).unwrap()
    );
    let migrated = rampart::store::snapshot::sqlite_migration(&fresh.join("data").join("rampart.db")).unwrap();
    assert_eq!(migrated, latest, "serve applied the newer migrations");
}

#[tokio::test]
async fn backup_refuses_a_folder_that_is_not_empty() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let migrate = rampart(root.path(), &[])
        .arg("migrate")
        .env("RAMPART_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{}", describe(&migrate));
    let out = root.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep-me"), b"an earlier backup").unwrap();

    refused_with(&backup(&data, &out, &[]), "is not empty");

    assert_eq!(std::fs::read(out.join("keep-me")).unwrap(), b"an earlier backup");
    assert!(!out.join("manifest.json").exists());
}

#[tokio::test]
async fn serve_takes_scheduled_backups_and_keeps_the_newest_two() {
    let root = tempfile::tempdir().unwrap();
    let backups = root.path().join("backups");
    let mut env = env();
    env.push(("RAMPART_BACKUP__EVERY_SECS", "1".into()));
    env.push(("RAMPART_BACKUP__KEEP", "2".into()));
    env.push(("RAMPART_BACKUP__DIR", backups.display().to_string()));
    let mut server = Instance::start(&root.path().join("server"), &env).await;

    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 4 {
        assert!(
            Instant::now() < deadline,
            "only {} scheduled backups in 60 s",
            seen.len()
        );
        let finished: Vec<String> = std::fs::read_dir(&backups)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("rampart-"))
            .collect();
        assert!(finished.len() <= 2, "more than keep = 2 backups: {finished:?}");
        seen.extend(finished);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A kept backup is whole: it restores.
    server.kill().await;
    let newest = std::fs::read_dir(&backups)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("rampart-"))
        .max()
        .unwrap();
    let restored = restore(&newest, &root.path().join("restored").join("data"), &[]);
    assert!(restored.status.success(), "{}", describe(&restored));
}

#[tokio::test]
async fn a_postgresql_backup_restores_into_an_empty_database() {
    let Ok(admin_url) = std::env::var("RAMPART_TEST_DATABASE_URL") else {
        println!("skipped: set RAMPART_TEST_DATABASE_URL");
        return;
    };
    let (source_db, target_db) = (
        PgDatabase::create(&admin_url).await,
        PgDatabase::create(&admin_url).await,
    );
    let root = tempfile::tempdir().unwrap();
    let source_env = [("RAMPART_DATABASE__URL", source_db.url.clone())];
    let mut env_source = env();
    env_source.extend(source_env.iter().cloned());
    let mut source = Instance::start(&root.path().join("source"), &env_source).await;
    let client = reqwest::Client::new();
    let token = register(&client, &source, "pguser").await;
    let res = upload(&client, &source.url, &token, 48, "kept in #postgres").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let want = read_post(&client, &source.url, &id).await;
    let out = root.path().join("backup");

    let taken = backup(&root.path().join("source").join("data"), &out, &source_env);
    source.kill().await;

    assert!(taken.status.success(), "{}", describe(&taken));
    let manifest = Manifest::read(&out).unwrap();
    assert_eq!(manifest.engine, "postgres");
    assert!(manifest.holds("rampart.pgdump"), "{:?}", manifest.files);
    let target_env = [("RAMPART_DATABASE__URL", target_db.url.clone())];
    let fresh = root.path().join("restored");
    let restored = restore(&out, &fresh.join("data"), &target_env);
    assert!(restored.status.success(), "{}", describe(&restored));
    let mut env_target = env();
    env_target.extend(target_env.iter().cloned());
    let server = Instance::start(&fresh, &env_target).await;
    let got = read_post(&client, &server.url, &id).await;
    assert_eq!(got, want, "the post and its image bytes came back");
    let login = json!({ "login": "pguser", "password": "a long enough passphrase" });
    let res = client
        .post(format!("{}/api/v1/auth/login", server.url))
        .json(&login)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the account came back");
    // The target now has tables: a second restore into it is refused.
    refused_with(
        &restore(&out, &root.path().join("again").join("data"), &target_env),
        "restore only into an empty database",
    );
}
