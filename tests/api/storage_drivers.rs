//! The S3 and ImageKit drivers on their own: store, serve, list, remove, and failure modes.
//! S3 runs against `RAMPART_TEST_S3_URL` (moto, MinIO …) when set; ImageKit runs against the stand-in.

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use image::{DynamicImage, ImageFormat, RgbImage};
use rampart::config::{ImageKitSettings, S3Settings, Settings, StorageDriver};
use rampart::media::storage::{
    ImageSet, MediaStore, Rendition, StorageError, StoredImage, from_settings, new_base_key,
};

use crate::helpers::{imagekit_of, s3_of};
use crate::imagekit_standin::StandIn;

/// A change that makes settings invalid.
type Spoil = fn(&mut Settings);

const PRIVATE_KEY: &str = "private_test_key_do_not_log";

fn encode(width: u32, height: u32, format: ImageFormat) -> Bytes {
    let pixels = RgbImage::from_fn(width, height, |x, y| image::Rgb([(x * 4) as u8, (y * 4) as u8, 128]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(pixels)
        .write_to(&mut out, format)
        .expect("encode");
    Bytes::from(out.into_inner())
}

/// A JPEG original and display, a PNG thumbnail and WebP copies of the last two, small but real.
fn sample_set() -> ImageSet {
    let rendition = |bytes, content_type, extension| Rendition {
        bytes,
        content_type,
        extension,
    };
    ImageSet {
        original: rendition(encode(64, 48, ImageFormat::Jpeg), "image/jpeg", "jpg"),
        display: rendition(encode(32, 24, ImageFormat::Jpeg), "image/jpeg", "jpg"),
        thumbnail: rendition(encode(16, 12, ImageFormat::Png), "image/png", "png"),
        display_webp: Some(rendition(encode(32, 24, ImageFormat::WebP), "image/webp", "webp")),
        thumbnail_webp: Some(rendition(encode(16, 12, ImageFormat::WebP), "image/webp", "webp")),
    }
}

fn build(settings: &Settings) -> Arc<dyn MediaStore> {
    match from_settings(settings) {
        Ok(store) => store,
        Err(e) => panic!("driver builds: {e:#}"),
    }
}

fn build_error(settings: &Settings) -> String {
    match from_settings(settings) {
        Ok(_) => panic!("settings should be refused"),
        Err(e) => format!("{e:#}"),
    }
}

/// A port nothing listens on.
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// A server that accepts connections and never answers.
async fn silent_server_url() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, task)
}

async fn fetch(url: &str) -> (reqwest::StatusCode, Option<String>, Bytes) {
    let response = reqwest::get(url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, content_type, response.bytes().await.unwrap())
}

/// Runs `call` and expects it to fail as unavailable (503/504 material) within a few seconds.
async fn assert_unavailable<T: std::fmt::Debug>(call: impl Future<Output = Result<T, StorageError>>) {
    let started = Instant::now();
    match call.await {
        Err(StorageError::Unreachable(_) | StorageError::TimedOut) => {}
        other => panic!("expected Unreachable or TimedOut, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

// ---- S3 ------------------------------------------------------------------------------------

fn s3_url() -> Option<String> {
    match std::env::var("RAMPART_TEST_S3_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().trim_end_matches('/').to_owned()),
        _ => {
            println!("skipped: set RAMPART_TEST_S3_URL");
            None
        }
    }
}

fn s3_settings(endpoint: &str, bucket: &str) -> Settings {
    let mut settings = Settings::default();
    settings.storage.driver = StorageDriver::S3(S3Settings {
        bucket: bucket.into(),
        endpoint: Some(endpoint.into()),
        region: "us-east-1".into(),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        allow_http: true,
        ..S3Settings::default()
    });
    settings.storage.timeout_ms = 5_000;
    settings
}

async fn fresh_bucket(endpoint: &str) -> String {
    let bucket = format!("rampart-{}", uuid::Uuid::now_v7().simple());
    let response = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("create bucket");
    assert!(response.status().is_success(), "creating bucket: {}", response.status());
    bucket
}

#[tokio::test]
async fn s3_stores_serves_lists_and_removes_an_image() {
    let Some(endpoint) = s3_url() else { return };
    let store = build(&s3_settings(&endpoint, &fresh_bucket(&endpoint).await));
    let base_key = new_base_key();
    let set = sample_set();
    let webp = |r: &Option<Rendition>| r.as_ref().unwrap().bytes.clone();
    let expected = [
        (set.original.bytes.clone(), "image/jpeg"),
        (set.display.bytes.clone(), "image/jpeg"),
        (set.thumbnail.bytes.clone(), "image/png"),
        (webp(&set.display_webp), "image/webp"),
        (webp(&set.thumbnail_webp), "image/webp"),
    ];

    let image = store.store(&base_key, set).await.expect("store");

    assert_eq!(image.driver, "s3");
    assert_eq!(image.original_key, format!("{base_key}/original.jpg"));
    assert_eq!(image.thumbnail_key, format!("{base_key}/thumb.png"));
    assert_eq!(image.display_webp_key, Some(format!("{base_key}/display.webp")));
    assert_eq!(image.thumbnail_webp_key, Some(format!("{base_key}/thumb.webp")));
    assert!(store.exists(&image).await.unwrap());
    let urls = store.urls(&image).await.unwrap();
    let (display_webp, thumbnail_webp) = (urls.display_webp.clone().unwrap(), urls.thumbnail_webp.clone().unwrap());
    for (url, (bytes, content_type)) in [
        &urls.original,
        &urls.display,
        &urls.thumbnail,
        &display_webp,
        &thumbnail_webp,
    ]
    .into_iter()
    .zip(expected)
    {
        assert!(url.contains("X-Amz-Signature="), "presigned: {url}");
        let (status, served_type, served) = fetch(url).await;
        assert_eq!(status, 200, "{url}");
        assert_eq!(served_type.as_deref(), Some(content_type), "{url}");
        assert_eq!(served, bytes, "{url}");
    }
    assert!(store.list_base_keys().await.unwrap().contains(&base_key));

    store.remove(&image).await.expect("remove");

    assert!(!store.exists(&image).await.unwrap());
    assert!(!store.list_base_keys().await.unwrap().contains(&base_key));
    for url in [&urls.original, &display_webp, &thumbnail_webp] {
        assert_eq!(fetch(url).await.0, 404, "{url}");
    }
    store.remove(&image).await.expect("removing twice succeeds");
}

#[tokio::test]
async fn s3_with_a_public_base_url_gives_plain_urls_without_calling_the_service() {
    let mut settings = s3_settings(&closed_port_url().await, "bucket");
    s3_of(&mut settings).public_base_url = Some("https://cdn.example.com/media/".into());
    let store = build(&settings);
    let base_key = new_base_key();
    let image = StoredImage {
        driver: "s3".into(),
        base_key: base_key.clone(),
        original_key: format!("{base_key}/original.jpg"),
        display_key: format!("{base_key}/display.jpg"),
        thumbnail_key: format!("{base_key}/thumb.png"),
        display_webp_key: Some(format!("{base_key}/display.webp")),
        thumbnail_webp_key: None,
        provider: None,
    };

    let urls = store.urls(&image).await.expect("no network needed");

    assert_eq!(
        urls.original,
        format!("https://cdn.example.com/media/{base_key}/original.jpg")
    );
    assert_eq!(
        urls.display,
        format!("https://cdn.example.com/media/{base_key}/display.jpg")
    );
    assert_eq!(
        urls.thumbnail,
        format!("https://cdn.example.com/media/{base_key}/thumb.png")
    );
    assert_eq!(
        urls.display_webp,
        Some(format!("https://cdn.example.com/media/{base_key}/display.webp"))
    );
    assert_eq!(urls.thumbnail_webp, None, "a rendition the record lacks has no URL");
}

#[tokio::test]
async fn s3_remove_base_key_removes_every_object_under_it_and_nothing_else() {
    let Some(endpoint) = s3_url() else { return };
    let bucket = fresh_bucket(&endpoint).await;
    let store = build(&s3_settings(&endpoint, &bucket));
    let orphan = store.store(&new_base_key(), sample_set()).await.unwrap();
    let kept = store.store(&new_base_key(), sample_set()).await.unwrap();
    // A stray object one level deeper, as an interrupted tool might leave.
    let stray = format!("{endpoint}/{bucket}/{}/extra/note.txt", orphan.base_key);
    let put = reqwest::Client::new().put(&stray).body("stray").send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());

    store.remove_base_key(&orphan.base_key).await.expect("remove_base_key");

    let keys = store.list_base_keys().await.unwrap();
    assert!(!keys.contains(&orphan.base_key), "{keys:?}");
    assert!(keys.contains(&kept.base_key), "{keys:?}");
    assert!(!store.exists(&orphan).await.unwrap());
    assert!(store.exists(&kept).await.unwrap());
    assert_eq!(fetch(&stray).await.0, 404);
    store.remove_base_key(&orphan.base_key).await.expect("again");
}

#[tokio::test]
async fn s3_store_against_a_closed_port_fails_quickly() {
    let mut settings = s3_settings(&closed_port_url().await, "rampart");
    settings.storage.timeout_ms = 500;
    let store = build(&settings);
    assert_unavailable(store.store(&new_base_key(), sample_set())).await;
    assert_unavailable(store.list_base_keys()).await;
}

#[tokio::test]
async fn s3_that_never_answers_times_out() {
    let (url, server) = silent_server_url().await;
    let mut settings = s3_settings(&url, "rampart");
    settings.storage.timeout_ms = 300;
    let store = build(&settings);

    let started = Instant::now();
    let result = store.list_base_keys().await;

    assert!(matches!(result, Err(StorageError::TimedOut)), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    server.abort();
}

#[tokio::test]
async fn s3_settings_are_checked_at_start_up() {
    let valid = s3_settings("http://127.0.0.1:9", "bucket");
    let cases: [(&str, Spoil, &str); 4] = [
        ("no bucket", |s| s3_of(s).bucket = " ".into(), "storage.s3.bucket"),
        ("no access key", |s| s3_of(s).access_key_id = None, "access_key_id"),
        (
            "no secret",
            |s| s3_of(s).secret_access_key = Some(String::new().into()),
            "secret_access_key",
        ),
        ("no timeout", |s| s.storage.timeout_ms = 0, "storage.timeout_ms"),
    ];
    for (case, spoil, mentions) in cases {
        let mut settings = valid.clone();
        spoil(&mut settings);
        let message = build_error(&settings);
        assert!(message.contains(mentions), "{case}: {message}");
    }
}

// ---- ImageKit ------------------------------------------------------------------------------

async fn imagekit() -> (StandIn, Arc<dyn MediaStore>) {
    let standin = StandIn::start(PRIVATE_KEY).await;
    let mut settings = Settings::default();
    standin.configure(&mut settings);
    settings.storage.timeout_ms = 5_000;
    let store = build(&settings);
    (standin, store)
}

#[tokio::test]
async fn imagekit_stores_serves_lists_removes_and_purges_an_image() {
    let (standin, store) = imagekit().await;
    let base_key = new_base_key();
    let set = sample_set();
    let original = set.original.bytes.clone();

    let image = store.store(&base_key, set).await.expect("store");

    assert_eq!(image.driver, "imagekit");
    assert_eq!(image.original_key, format!("/rampart/{base_key}/original.jpg"));
    assert_eq!(
        image.display_key,
        format!("{}?tr=w-1080,h-1080,c-at_max", image.original_key)
    );
    assert_eq!(
        image.thumbnail_key,
        format!("{}?tr=w-320,h-320,c-at_max", image.original_key)
    );
    assert_eq!(
        image.display_webp_key,
        Some(format!("{}?tr=w-1080,h-1080,c-at_max,f-webp", image.original_key))
    );
    assert_eq!(
        image.thumbnail_webp_key,
        Some(format!("{}?tr=w-320,h-320,c-at_max,f-webp", image.original_key))
    );
    let provider = image.provider.as_ref().expect("provider metadata");
    assert!(!provider["fileId"].as_str().unwrap().is_empty());
    assert_eq!(
        (provider["width"].as_u64(), provider["height"].as_u64()),
        (Some(64), Some(48))
    );
    assert_eq!(provider["size"].as_u64(), Some(original.len() as u64));
    assert_eq!(provider["filePath"].as_str(), Some(image.original_key.as_str()));
    assert_eq!(standin.file_count(), 1, "only the original is uploaded");
    assert!(store.exists(&image).await.unwrap());
    let without_provider = rampart::media::storage::StoredImage {
        provider: None,
        ..image.clone()
    };
    assert!(store.exists(&without_provider).await.unwrap());

    let urls = store.urls(&image).await.unwrap();
    assert_eq!(
        urls.original,
        format!("{}{}", standin.url_endpoint(), image.original_key)
    );
    assert_eq!(urls.display, format!("{}?tr=w-1080,h-1080,c-at_max", urls.original));
    assert_eq!(urls.thumbnail, format!("{}?tr=w-320,h-320,c-at_max", urls.original));
    for url in [&urls.original, &urls.display, &urls.thumbnail] {
        let (status, content_type, served) = fetch(url).await;
        assert_eq!(status, 200, "{url}");
        assert_eq!(content_type.as_deref(), Some("image/jpeg"), "{url}");
        assert_eq!(served, original, "{url}");
    }
    let (display_webp, thumbnail_webp) = (urls.display_webp.clone().unwrap(), urls.thumbnail_webp.clone().unwrap());
    assert_eq!(
        display_webp,
        format!("{}?tr=w-1080,h-1080,c-at_max,f-webp", urls.original)
    );
    assert_eq!(
        thumbnail_webp,
        format!("{}?tr=w-320,h-320,c-at_max,f-webp", urls.original)
    );
    for url in [&display_webp, &thumbnail_webp] {
        let (status, content_type, served) = fetch(url).await;
        assert_eq!(status, 200, "{url}");
        assert_eq!(content_type.as_deref(), Some("image/webp"), "{url}");
        assert_eq!(image::guess_format(&served).ok(), Some(ImageFormat::WebP), "{url}");
    }
    assert_eq!(standin.file_count(), 1, "WebP renditions are made by URL, not uploaded");
    assert_eq!(store.list_base_keys().await.unwrap(), vec![base_key.clone()]);

    store.remove(&image).await.expect("remove");

    assert_eq!(standin.purged_urls(), vec![format!("{}*", urls.original)]);
    assert!(!store.exists(&image).await.unwrap());
    assert!(store.list_base_keys().await.unwrap().is_empty());
    assert_eq!(standin.file_count(), 0);
    assert_eq!(fetch(&urls.original).await.0, 404);
    store.remove(&image).await.expect("removing twice succeeds");
}

#[tokio::test]
async fn imagekit_remove_base_key_deletes_an_orphan_and_nothing_else() {
    let (standin, store) = imagekit().await;
    let orphan = store.store(&new_base_key(), sample_set()).await.unwrap();
    let kept = store.store(&new_base_key(), sample_set()).await.unwrap();

    store.remove_base_key(&orphan.base_key).await.expect("remove_base_key");

    assert_eq!(store.list_base_keys().await.unwrap(), vec![kept.base_key.clone()]);
    assert_eq!(standin.file_count(), 1);
    assert!(!store.exists(&orphan).await.unwrap());
    assert!(store.exists(&kept).await.unwrap());
    let orphan_url = store.urls(&orphan).await.unwrap().original;
    assert_eq!(standin.purged_urls(), vec![format!("{orphan_url}*")]);
    store.remove_base_key(&orphan.base_key).await.expect("again");
    for bad in ["p", "p/", "p/a/b", "../p/x"] {
        assert!(
            matches!(store.remove_base_key(bad).await, Err(StorageError::Rejected(_))),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn imagekit_outage_fails_the_upload_and_stores_nothing() {
    let (standin, store) = imagekit().await;
    let kept = store.store(&new_base_key(), sample_set()).await.unwrap();
    standin.set_failing(true);

    assert_unavailable(store.store(&new_base_key(), sample_set())).await;
    assert_unavailable(store.exists(&kept)).await;
    assert_unavailable(store.remove(&kept)).await;
    assert_unavailable(store.list_base_keys()).await;

    standin.set_failing(false);
    assert_eq!(standin.file_count(), 1);
    assert_eq!(store.list_base_keys().await.unwrap(), vec![kept.base_key.clone()]);
    assert!(store.exists(&kept).await.unwrap());
}

#[tokio::test]
async fn imagekit_with_a_wrong_private_key_is_rejected_without_echoing_the_key() {
    let standin = StandIn::start(PRIVATE_KEY).await;
    let mut settings = Settings::default();
    standin.configure(&mut settings);
    imagekit_of(&mut settings).private_key = Some("wrong_key_value".into());
    let store = build(&settings);

    let result = store.store(&new_base_key(), sample_set()).await;

    match result {
        Err(StorageError::Rejected(message)) => {
            assert!(message.contains("401"), "{message}");
            assert!(!message.contains("wrong_key_value"), "{message}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(standin.file_count(), 0);
    assert!(matches!(store.list_base_keys().await, Err(StorageError::Rejected(_))));
}

#[tokio::test]
async fn imagekit_against_a_closed_port_fails_quickly() {
    let standin = StandIn::start(PRIVATE_KEY).await;
    let mut settings = Settings::default();
    standin.configure(&mut settings);
    let closed = closed_port_url().await;
    imagekit_of(&mut settings).upload_url = format!("{closed}/api/v1/files/upload");
    imagekit_of(&mut settings).api_base = format!("{closed}/v1");
    settings.storage.timeout_ms = 500;
    let store = build(&settings);

    assert_unavailable(store.store(&new_base_key(), sample_set())).await;
    assert_unavailable(store.list_base_keys()).await;
    assert_eq!(standin.file_count(), 0);
}

#[tokio::test]
async fn imagekit_that_never_answers_times_out_and_stores_nothing() {
    let standin = StandIn::start(PRIVATE_KEY).await;
    let (url, server) = silent_server_url().await;
    let mut settings = Settings::default();
    standin.configure(&mut settings);
    imagekit_of(&mut settings).upload_url = format!("{url}/api/v1/files/upload");
    settings.storage.timeout_ms = 300;
    let store = build(&settings);

    let started = Instant::now();
    let result = store.store(&new_base_key(), sample_set()).await;

    assert!(matches!(result, Err(StorageError::TimedOut)), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(standin.file_count(), 0);
    server.abort();
}

#[tokio::test]
async fn imagekit_settings_are_checked_at_start_up() {
    let mut valid = Settings::default();
    valid.storage.driver = StorageDriver::ImageKit(ImageKitSettings {
        private_key: Some(PRIVATE_KEY.into()),
        url_endpoint: Some("https://ik.imagekit.io/demo".into()),
        ..ImageKitSettings::default()
    });
    build(&valid);
    let cases: [(&str, Spoil, &str); 4] = [
        (
            "no private key",
            |s| imagekit_of(s).private_key = None,
            "storage.imagekit.private_key",
        ),
        (
            "blank private key",
            |s| imagekit_of(s).private_key = Some(" ".into()),
            "private_key",
        ),
        (
            "no url endpoint",
            |s| imagekit_of(s).url_endpoint = None,
            "storage.imagekit.url_endpoint",
        ),
        (
            "bad api base",
            |s| imagekit_of(s).api_base = "ftp://x".into(),
            "storage.imagekit.api_base",
        ),
    ];
    for (case, spoil, mentions) in cases {
        let mut settings = valid.clone();
        spoil(&mut settings);
        let message = build_error(&settings);
        assert!(message.contains(mentions), "{case}: {message}");
        assert!(!message.contains(PRIVATE_KEY), "{case}: {message}");
    }
}
