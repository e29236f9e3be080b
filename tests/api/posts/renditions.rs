//! The renditions a post lists for `<picture>`: JPEG/PNG and WebP display and thumbnail, with their
//! real sizes, served as what they claim, without metadata, and removed with the post.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{TestApp, TestUser, spawn_app};
use rampart::args;
use rampart::store::Exec;

/// RIFF chunks a WebP holding nothing but an image may have; EXIF, XMP and ICCP would be metadata.
const IMAGE_CHUNKS: [&str; 4] = ["VP8 ", "VP8L", "VP8X", "ALPH"];

async fn upload(app: &TestApp, user: &TestUser, image: Vec<u8>) -> Value {
    let res = app.upload(&user.access, image, "renditions").await;
    assert_eq!(res.status(), StatusCode::CREATED, "upload");
    res.json().await.unwrap()
}

/// (name, content type, width, height) of each listed rendition, in order.
fn listed(post: &Value) -> Vec<(String, String, i64, i64)> {
    post["image"]["renditions"]
        .as_array()
        .expect("a renditions list")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["content_type"].as_str().unwrap().to_owned(),
                r["width"].as_i64().unwrap(),
                r["height"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn expected(fallback: &str, display: (i64, i64), thumbnail: (i64, i64)) -> Vec<(String, String, i64, i64)> {
    [
        ("display", fallback, display),
        ("display", "image/webp", display),
        ("thumbnail", fallback, thumbnail),
        ("thumbnail", "image/webp", thumbnail),
    ]
    .into_iter()
    .map(|(name, ct, (w, h))| (name.to_owned(), ct.to_owned(), w, h))
    .collect()
}

/// The top-level chunk names of a RIFF/WebP file; panics when the bytes are not one.
fn webp_chunks(bytes: &[u8]) -> Vec<String> {
    assert!(
        bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        "a WebP file"
    );
    let mut at = 12;
    let mut names = Vec::new();
    while at + 8 <= bytes.len() {
        names.push(String::from_utf8_lossy(&bytes[at..at + 4]).into_owned());
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        at += 8 + size + size % 2;
    }
    names
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn jpeg_and_png_posts_list_webp_and_fallback_renditions_that_decode_to_their_listed_size() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let cases = [
        (
            "JPEG 4:3",
            fixtures::jpeg(1600, 1200),
            "image/jpeg",
            (1080, 810),
            (320, 240),
        ),
        (
            "translucent PNG 3:4",
            fixtures::png(1200, 1600),
            "image/png",
            (810, 1080),
            (240, 320),
        ),
    ];

    for (case, bytes, fallback, display, thumbnail) in cases {
        let post = upload(&app, &user, bytes).await;

        assert_eq!(listed(&post), expected(fallback, display, thumbnail), "{case}");
        let renditions = post["image"]["renditions"].as_array().unwrap();
        assert_eq!(
            renditions[0]["url"], post["image"]["display_url"],
            "{case}: display_url unchanged"
        );
        assert_eq!(
            renditions[2]["url"], post["image"]["thumbnail_url"],
            "{case}: thumbnail_url unchanged"
        );
        let read: Value = app.get_post(post["id"].as_str().unwrap()).await.json().await.unwrap();
        assert_eq!(listed(&read), listed(&post), "{case}: the read lists the same");
        for r in renditions {
            let url = r["url"].as_str().unwrap();
            let res = app.fetch(url).await;
            assert_eq!(res.status(), StatusCode::OK, "{case}: {url}");
            assert_eq!(
                res.headers()["content-type"],
                r["content_type"].as_str().unwrap(),
                "{case}: {url}"
            );
            if app.state.media().name() == "local" {
                assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{case}: {url}");
                assert_eq!(
                    res.headers()["content-security-policy"],
                    "default-src 'none'; sandbox",
                    "{case}: {url}"
                );
                assert!(res.headers()["cache-control"].to_str().unwrap().contains("immutable"));
            }
            let bytes = res.bytes().await.unwrap();
            let format = image::guess_format(&bytes).expect("a known format");
            let want = match r["content_type"].as_str().unwrap() {
                "image/webp" => image::ImageFormat::WebP,
                "image/png" => image::ImageFormat::Png,
                _ => image::ImageFormat::Jpeg,
            };
            assert_eq!(format, want, "{case}: {url}");
            let decoded = image::load_from_memory(&bytes).expect("decodes");
            assert_eq!(
                (i64::from(decoded.width()), i64::from(decoded.height())),
                (r["width"].as_i64().unwrap(), r["height"].as_i64().unwrap()),
                "{case}: {url}"
            );
            if format == image::ImageFormat::WebP {
                let chunks = webp_chunks(&bytes);
                assert!(
                    chunks.iter().all(|c| IMAGE_CHUNKS.contains(&c.as_str())),
                    "{case}: {chunks:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn webp_renditions_carry_no_exif_gps_or_xmp_from_the_upload() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let post = upload(&app, &user, fixtures::jpeg_with_gps()).await;

    let webps: Vec<&Value> = post["image"]["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["content_type"] == "image/webp")
        .collect();
    assert_eq!(webps.len(), 2, "display and thumbnail");
    for r in webps {
        let bytes = app.fetch(r["url"].as_str().unwrap()).await.bytes().await.unwrap();
        let chunks = webp_chunks(&bytes);
        assert!(chunks.iter().all(|c| IMAGE_CHUNKS.contains(&c.as_str())), "{chunks:?}");
        assert!(!contains(&bytes, b"Exif"), "no EXIF");
        assert!(!contains(&bytes, fixtures::GPS_MARKER), "no image description");
        assert!(!contains(&bytes, b"http://ns.adobe.com/xap"), "no XMP");
    }
}

#[tokio::test]
async fn deleting_a_post_removes_its_webp_renditions_with_the_others() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let post = upload(&app, &user, fixtures::jpeg(1600, 1200)).await;
    let id = post["id"].as_str().unwrap();
    let webp_urls: Vec<String> = post["image"]["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["content_type"] == "image/webp")
        .map(|r| r["url"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(webp_urls.len(), 2);
    let uuid: uuid::Uuid = id.parse().unwrap();
    let (base_key,): (String,) = (app.state.db())
        .fetch_one("SELECT base_key FROM posts WHERE id = $1", args![uuid])
        .await
        .unwrap();
    let folder = app.dir.path().join("media").join(&base_key);
    let local = app.state.media().name() == "local";
    if local {
        for file in ["display.webp", "thumb.webp"] {
            assert!(folder.join(file).is_file(), "{file} is stored");
        }
    }

    assert_eq!(app.delete_post(id, &user.access).await.status(), StatusCode::NO_CONTENT);

    // A base key is listed while any object under it remains, WebP ones included.
    assert!(app.stored_keys().await.is_empty(), "storage is empty");
    if local {
        assert!(!folder.exists(), "the post's folder is gone");
        for url in &webp_urls {
            assert_eq!(app.fetch(url).await.status(), StatusCode::NOT_FOUND, "{url}");
        }
    }
}

#[tokio::test]
async fn a_post_stored_before_webp_renditions_still_reads_and_lists_only_its_jpeg_renditions() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let post = upload(&app, &user, fixtures::jpeg(1600, 1200)).await;
    let id = post["id"].as_str().unwrap();
    let uuid: uuid::Uuid = id.parse().unwrap();
    let (stored,): (String,) = (app.state.db())
        .fetch_one("SELECT image FROM posts WHERE id = $1", args![uuid])
        .await
        .unwrap();
    let mut record: Value = serde_json::from_str(&stored).unwrap();
    let keys = record.as_object_mut().unwrap();
    assert!(keys.remove("display_webp_key").is_some() && keys.remove("thumbnail_webp_key").is_some());
    let old_record = record.to_string();
    assert_eq!(
        app.exec("UPDATE posts SET image = $1 WHERE id = $2", args![old_record, uuid])
            .await,
        1
    );

    let read = app.get_post(id).await;

    assert_eq!(read.status(), StatusCode::OK);
    let read: Value = read.json().await.unwrap();
    assert_eq!(
        listed(&read),
        vec![
            ("display".to_owned(), "image/jpeg".to_owned(), 1080, 810),
            ("thumbnail".to_owned(), "image/jpeg".to_owned(), 320, 240),
        ]
    );
    for field in [
        "url",
        "display_url",
        "thumbnail_url",
        "width",
        "height",
        "content_type",
        "bytes",
        "blurhash",
    ] {
        assert_eq!(read["image"][field], post["image"][field], "{field} unchanged");
    }
    let feed: Value = app.feed("").await.json().await.unwrap();
    let in_feed = feed["items"]
        .as_array()
        .and_then(|items| items.iter().find(|p| p["id"] == json!(id)))
        .expect("the post is in the feed");
    assert_eq!(listed(in_feed), listed(&read));
}
