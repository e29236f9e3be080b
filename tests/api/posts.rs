//! Image posts end to end: upload sanitising, hostile inputs, the feed, ownership, concurrency
//! controls, idempotency and quotas. The same suite runs on every storage driver.

mod renditions;

use rampart::args;

use futures::future::join_all;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{TestApp, TestUser, assert_problem, spawn_app, spawn_app_with};
use rampart::domain::Role;

async fn post(app: &TestApp, user: &TestUser, caption: &str) -> Value {
    let res = app.upload(&user.access, fixtures::jpeg(120, 80), caption).await;
    assert_eq!(res.status(), StatusCode::CREATED, "upload");
    res.json().await.unwrap()
}

#[tokio::test]
async fn an_upload_creates_a_post_with_sanitised_renditions() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app
        .upload(&user.access, fixtures::jpeg(1600, 1200), "Golden #Sunset over the #sea")
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/posts/{}", body["id"].as_str().unwrap()));
    assert_eq!(body["author"]["username"], user.username.as_str());
    assert_eq!(body["caption"], "Golden #Sunset over the #sea");
    assert_eq!(body["tags"], json!(["sunset", "sea"]));
    assert_eq!(body["version"], 1);
    let image = &body["image"];
    assert_eq!(
        (image["width"].as_i64(), image["height"].as_i64()),
        (Some(1600), Some(1200))
    );
    assert_eq!(image["content_type"], "image/jpeg");
    assert!(image["blurhash"].as_str().unwrap().len() >= 6);
    assert!(image["bytes"].as_i64().unwrap() > 0);

    let got = app.get(&location).await;
    assert_eq!(got.headers()["etag"].to_str().unwrap(), etag);
    let again: Value = got.json().await.unwrap();
    assert_eq!(again["id"], body["id"]);

    let original = app.fetch(image["url"].as_str().unwrap()).await;
    assert_eq!(original.status(), StatusCode::OK);
    assert_eq!(original.headers()["content-type"], "image/jpeg");
    let bytes = original.bytes().await.unwrap();
    assert_eq!(bytes.len() as i64, image["bytes"].as_i64().unwrap());
    for (url, max) in [(&image["display_url"], 1080), (&image["thumbnail_url"], 320)] {
        let res = app.fetch(url.as_str().unwrap()).await;
        assert_eq!(res.status(), StatusCode::OK);
        let bytes = res.bytes().await.unwrap();
        let decoded = image::load_from_memory(&bytes).expect("a rendition decodes");
        assert!(decoded.width().max(decoded.height()) <= max, "longest side ≤ {max}");
    }
}

#[tokio::test]
async fn stored_originals_carry_no_exif_gps_or_comments() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let upload = fixtures::jpeg_with_gps();
    assert!(
        upload
            .windows(fixtures::GPS_MARKER.len())
            .any(|w| w == fixtures::GPS_MARKER),
        "the fixture carries it"
    );
    let res = app.upload(&user.access, upload, "where was this?").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    let stored = app
        .fetch(body["image"]["url"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    let contains = |needle: &[u8]| stored.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(b"Exif"), "no EXIF segment");
    assert!(!contains(fixtures::GPS_MARKER), "no image description");
    assert!(!contains(b"http://ns.adobe.com/xap"), "no XMP");
    assert!(image::load_from_memory(&stored).is_ok(), "still a valid image");
    assert_eq!(
        &stored[stored.len() - 2..],
        &[0xFF, 0xD9],
        "nothing after the end of the image"
    );
}

#[tokio::test]
async fn local_media_is_served_safely_with_caching_and_ranges() {
    let app = spawn_app().await;
    if app.state.media().name() != "local" {
        println!("skipped: local media serving applies to the local driver only");
        return;
    }
    let user = app.new_user().await;
    let body = post(&app, &user, "").await;
    let url = body["image"]["url"].as_str().unwrap();
    let res = app.fetch(url).await;
    let h = res.headers().clone();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], "default-src 'none'; sandbox");
    assert!(h["cache-control"].to_str().unwrap().contains("immutable"));
    let etag = h["etag"].to_str().unwrap().to_owned();
    let full = res.bytes().await.unwrap();

    let ranged = app
        .client
        .get(app.url(url))
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        ranged.headers()["content-range"],
        format!("bytes 0-9/{}", full.len()).as_str()
    );
    assert_eq!(ranged.bytes().await.unwrap(), full.slice(0..10));
    let unsatisfiable = app
        .client
        .get(app.url(url))
        .header("range", "bytes=999999-")
        .send()
        .await
        .unwrap();
    assert_eq!(unsatisfiable.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let cached = app
        .client
        .get(app.url(url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);

    for bad in [
        "/media/../rampart.db",
        "/media/p/..%2F..%2Frampart.db",
        "/media/keys/signing-ed25519.pk8",
        "/media/p/x/original.txt",
    ] {
        let res = app.get(bad).await;
        assert!(
            res.status() == StatusCode::NOT_FOUND || res.status() == StatusCode::BAD_REQUEST,
            "{bad}: {}",
            res.status()
        );
    }
}

#[tokio::test]
async fn hostile_uploads_are_refused_cleanly_and_nothing_is_stored() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let truncated = {
        let j = fixtures::jpeg(200, 200);
        j[..j.len() / 2].to_vec()
    };
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "polyglot JPEG+HTML",
            fixtures::polyglot_jpeg_html(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "polyglot_rejected",
        ),
        (
            "SVG with script",
            fixtures::SVG_WITH_SCRIPT.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_image_type",
        ),
        (
            "HTML named .jpg",
            fixtures::HTML.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_image_type",
        ),
        (
            "PDF",
            fixtures::PDF.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_image_type",
        ),
        (
            "truncated JPEG",
            truncated,
            StatusCode::UNPROCESSABLE_ENTITY,
            "malformed_image",
        ),
        (
            "100000x100000 PNG",
            fixtures::png_claiming(100_000, 100_000),
            StatusCode::UNPROCESSABLE_ENTITY,
            "image_too_large",
        ),
        ("zero bytes", Vec::new(), StatusCode::UNPROCESSABLE_ENTITY, "empty_file"),
    ];
    for (why, bytes, status, code) in cases {
        let res = app.upload(&user.access, bytes, "hostile").await;
        let got = res.status();
        let body = assert_problem(res, status, code).await;
        assert_eq!(got, status, "{why}: {body}");
    }
    assert_eq!(app.post_count().await, 0, "no rows");
    assert!(app.stored_keys().await.is_empty(), "no objects");
}

#[tokio::test]
async fn malformed_forms_are_refused_cleanly() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let img = || Part::bytes(fixtures::jpeg(20, 20)).file_name("a.jpg");
    let two_images = Form::new().part("image", img()).part("image", img());
    assert_problem(
        app.upload_form(&user.access, two_images, None).await,
        StatusCode::BAD_REQUEST,
        "multiple_images",
    )
    .await;
    let no_image = Form::new().text("caption", "words only");
    assert_problem(
        app.upload_form(&user.access, no_image, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let extra = Form::new().part("image", img()).text("role", "admin");
    assert_problem(
        app.upload_form(&user.access, extra, None).await,
        StatusCode::BAD_REQUEST,
        "unexpected_field",
    )
    .await;

    let broken = app
        .client
        .post(app.url("/api/v1/posts"))
        .bearer_auth(&user.access)
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc")
        .send()
        .await
        .unwrap();
    assert_problem(broken, StatusCode::BAD_REQUEST, "malformed_multipart").await;
    let not_multipart = app
        .post_json_auth("/api/v1/posts", &user.access, &json!({ "image": "x" }))
        .await;
    assert_problem(
        not_multipart,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_eq!(app.post_count().await, 0);
}

#[tokio::test]
async fn a_hostile_filename_is_ignored_and_keys_are_server_generated() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let name = format!("../../../etc/{}.jpg", "a".repeat(5000));
    let form = Form::new().part(
        "image",
        Part::bytes(fixtures::jpeg(40, 40))
            .file_name(name)
            .mime_str("text/html")
            .unwrap(),
    );
    let res = app.upload_form(&user.access, form, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    let url = body["image"]["url"].as_str().unwrap();
    assert!(
        !url.contains("..") && !url.contains("etc") && !url.contains("aaaa"),
        "{url}"
    );
    assert_eq!(
        body["image"]["content_type"], "image/jpeg",
        "decided from the bytes, not the declared type"
    );
}

#[tokio::test]
async fn uploads_over_the_limit_are_refused_with_413_and_nothing_is_stored() {
    let app = spawn_app_with(|s| s.posts.upload_limit_bytes = 64 * 1024).await;
    let user = app.new_user().await;
    let res = app.upload(&user.access, vec![0xFF; 200 * 1024], "big").await;
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(app.post_count().await, 0);
}

#[tokio::test]
async fn captions_are_validated() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let too_long = app
        .upload(&user.access, fixtures::jpeg(20, 20), &"x".repeat(2201))
        .await;
    let body = assert_problem(too_long, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["errors"]["caption"].is_array());
    let tags: String = (0..31).map(|i| format!("#t{i} ")).collect();
    let too_many = app.upload(&user.access, fixtures::jpeg(20, 20), &tags).await;
    assert_problem(too_many, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(app.post_count().await, 0);
    assert!(app.stored_keys().await.is_empty());
}

#[tokio::test]
async fn posting_needs_an_authenticated_active_account() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/posts"))
        .multipart(Form::new().text("caption", "x"))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "missing_token").await;
    let user = app.new_user().await;
    rampart::store::users::admin_update(app.state.db(), user.uid(), None, Some(true))
        .await
        .unwrap();
    let res = app.upload(&user.access, fixtures::jpeg(20, 20), "x").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_feed_is_newest_first_and_filters_by_author_tag_text_and_time() {
    let app = spawn_app().await;
    let ann = app.user_named("ann_feed").await;
    let bob = app.user_named("bob_feed").await;
    let first = post(&app, &ann, "Morning coffee #daily").await;
    let second = post(&app, &bob, "Mountain sunrise #travel #daily").await;
    let third = post(&app, &ann, "Evening sunrise over lakes #travel").await;

    let feed: Value = app.feed("").await.json().await.unwrap();
    let ids: Vec<&str> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            third["id"].as_str().unwrap(),
            second["id"].as_str().unwrap(),
            first["id"].as_str().unwrap()
        ]
    );
    assert_eq!(feed["next_cursor"], Value::Null);

    let count = |v: &Value| v["items"].as_array().unwrap().len();
    let by_author: Value = app.feed("author=ann_feed").await.json().await.unwrap();
    assert_eq!(count(&by_author), 2);
    let user_posts: Value = app.user_posts("bob_feed").await.json().await.unwrap();
    assert_eq!(count(&user_posts), 1);
    let tagged: Value = app.feed("tag=%23Travel").await.json().await.unwrap();
    assert_eq!(count(&tagged), 2);
    let text: Value = app.feed("q=SUNRISE%20lakes").await.json().await.unwrap();
    assert_eq!(count(&text), 1, "all words must match");
    assert_eq!(text["items"][0]["id"], third["id"]);
    let hostile: Value = app.feed("q=%22%20OR%20*%20NEAR(").await.json().await.unwrap();
    assert_eq!(count(&hostile), 0, "search syntax is treated as words");

    let since = first["created_at"].as_str().unwrap();
    let later: Value = app.feed(&format!("until={since}")).await.json().await.unwrap();
    assert_eq!(count(&later), 0, "until is exclusive");
    let all: Value = app.feed(&format!("since={since}")).await.json().await.unwrap();
    assert_eq!(count(&all), 3);

    assert_problem(
        app.feed("limit=101").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.feed("since=yesterday").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_problem(app.feed("cursor=abc").await, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    assert_problem(app.feed("sort=asc").await, StatusCode::BAD_REQUEST, "invalid_query").await;
    assert_problem(
        app.user_posts("nobody_here").await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    )
    .await;
}

#[tokio::test]
async fn pagination_has_no_duplicates_or_gaps_while_posts_arrive() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut existing = Vec::new();
    for i in 0..7 {
        existing.push(
            post(&app, &user, &format!("post {i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/posts?limit=3&cursor={c}"),
            None => "/api/v1/posts?limit=3".to_owned(),
        };
        let page: Value = app.get(&path).await.json().await.unwrap();
        // New posts arrive between pages; they belong before the first page, not in the walk.
        post(&app, &user, "arrived meanwhile").await;
        for p in page["items"].as_array().unwrap() {
            seen.push(p["id"].as_str().unwrap().to_owned());
        }
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 10, "pagination terminates");
    }
    existing.reverse();
    assert_eq!(seen, existing, "every existing post exactly once, newest first");
}

#[tokio::test]
async fn only_the_owner_edits_and_owner_moderator_or_admin_delete() {
    let app = spawn_app().await;
    let owner = app.new_user().await;
    let other = app.new_user().await;
    let moderator = app.user_with_role(Role::Moderator).await;
    let admin = app.user_with_role(Role::Admin).await;

    let p = post(&app, &owner, "mine").await;
    let id = p["id"].as_str().unwrap();
    for (who, token) in [
        ("other user", &other.access),
        ("moderator", &moderator.access),
        ("admin", &admin.access),
    ] {
        let res = app.edit_post(id, token, &json!({ "caption": "defaced" })).await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
        let _ = who;
    }
    let res = app.delete_post(id, &other.access).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let still: Value = app.get_post(id).await.json().await.unwrap();
    assert_eq!(still["caption"], "mine", "nothing changed");

    let res = app
        .edit_post(id, &owner.access, &json!({ "caption": "still mine #edited" }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let edited: Value = res.json().await.unwrap();
    assert_eq!(
        (edited["version"].as_i64(), &edited["tags"]),
        (Some(2), &json!(["edited"]))
    );

    for deleter in [&owner, &moderator, &admin] {
        let p = post(&app, &owner, "to delete").await;
        let id = p["id"].as_str().unwrap();
        assert_eq!(
            app.delete_post(id, &deleter.access).await.status(),
            StatusCode::NO_CONTENT
        );
        assert_problem(app.get_post(id).await, StatusCode::NOT_FOUND, "post_not_found").await;
    }
    let res = app
        .delete_post("0190c0de-0000-7000-8000-000000000000", &admin.access)
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "post_not_found").await;
}

#[tokio::test]
async fn deleting_a_post_removes_every_rendition() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let p = post(&app, &user, "short-lived").await;
    assert_eq!(app.stored_keys().await.len(), 1);
    let urls: Vec<String> = ["url", "display_url", "thumbnail_url"]
        .iter()
        .map(|k| p["image"][k].as_str().unwrap().to_owned())
        .collect();
    let id = p["id"].as_str().unwrap();
    assert_eq!(app.delete_post(id, &user.access).await.status(), StatusCode::NO_CONTENT);
    assert!(app.stored_keys().await.is_empty(), "storage is empty");
    if app.state.media().name() == "local" {
        for url in urls {
            assert_eq!(app.fetch(&url).await.status(), StatusCode::NOT_FOUND, "{url}");
        }
    }
}

#[tokio::test]
async fn a_stale_if_match_is_refused_with_412() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let p = post(&app, &user, "v1").await;
    let id = p["id"].as_str().unwrap();
    let etag = app.get_post(id).await.headers()["etag"].to_str().unwrap().to_owned();
    let ok = app
        .edit_post_if_match(id, &user.access, &etag, &json!({ "caption": "v2" }))
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let new_etag = ok.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let stale = json!({ "caption": "v3 from a stale copy" });
    assert_problem(
        app.edit_post_if_match(id, &user.access, &etag, &stale).await,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    )
    .await;
    let now: Value = app.get_post(id).await.json().await.unwrap();
    assert_eq!(now["caption"], "v2");
}

#[tokio::test]
async fn posts_of_disabled_accounts_disappear_from_feeds() {
    let app = spawn_app().await;
    let user = app.user_named("fading").await;
    let p = post(&app, &user, "soon hidden").await;
    rampart::store::users::admin_update(app.state.db(), user.uid(), None, Some(true))
        .await
        .unwrap();
    let feed: Value = app.feed("").await.json().await.unwrap();
    assert!(feed["items"].as_array().unwrap().is_empty());
    let id = p["id"].as_str().unwrap();
    assert_problem(app.get_post(id).await, StatusCode::NOT_FOUND, "post_not_found").await;
    assert_problem(app.user_posts("fading").await, StatusCode::NOT_FOUND, "user_not_found").await;
}

fn form(caption: &str, image: Vec<u8>) -> Form {
    Form::new()
        .part("image", Part::bytes(image).file_name("a.jpg"))
        .text("caption", caption.to_owned())
}

#[tokio::test]
async fn an_idempotency_key_replays_the_original_answer() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let img = fixtures::jpeg(60, 40);
    let first = app
        .upload_form(&user.access, form("once", img.clone()), Some("key-1"))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let retry = app
        .upload_form(&user.access, form("once", img.clone()), Some("key-1"))
        .await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry, first, "the same body");
    assert_eq!(app.post_count().await, 1, "nothing new was created");

    let different = app
        .upload_form(&user.access, form("another caption", img.clone()), Some("key-1"))
        .await;
    assert_problem(different, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused").await;

    let other_user = app.new_user().await;
    let theirs = app
        .upload_form(&other_user.access, form("once", img), Some("key-1"))
        .await;
    assert_eq!(theirs.status(), StatusCode::CREATED, "keys are scoped to the user");
    assert_eq!(app.post_count().await, 2);
}

#[tokio::test]
async fn parallel_retries_with_one_key_create_one_post() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let img = fixtures::jpeg(300, 200);
    let attempts = (0..8).map(|_| app.upload_form(&user.access, form("parallel", img.clone()), Some("same-key")));
    let responses = join_all(attempts).await;
    let mut ids = Vec::new();
    for res in responses {
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry answers with the same post");
    assert_eq!(app.post_count().await, 1);
    assert_eq!(app.stored_keys().await.len(), 1);
}

#[tokio::test]
async fn per_user_quotas_refuse_with_429_and_retry_after() {
    let app = spawn_app_with(|s| s.posts.posts_per_hour = 2).await;
    let user = app.new_user().await;
    post(&app, &user, "one").await;
    post(&app, &user, "two").await;
    let res = app.upload(&user.access, fixtures::jpeg(20, 20), "three").await;
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        retry > 3000 && retry <= 3600,
        "retry after the oldest post leaves the hour: {retry}"
    );
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let other = app.new_user().await;
    post(&app, &other, "someone else").await;

    let bytes_app = spawn_app_with(|s| s.posts.bytes_per_day = 1).await;
    let user = bytes_app.new_user().await;
    let res = bytes_app
        .upload(&user.access, fixtures::jpeg(20, 20), "too many bytes")
        .await;
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(
        bytes_app.stored_keys().await.is_empty(),
        "a refused upload leaves nothing behind"
    );
}

#[tokio::test]
async fn the_posts_routes_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    for path in ["/api/v1/posts", "/api/v1/posts/{id}", "/api/v1/users/{username}/posts"] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    assert!(doc["paths"]["/api/v1/posts"]["post"]["requestBody"]["content"]["multipart/form-data"].is_object());
}

#[tokio::test]
async fn upload_bodies_wait_for_the_memory_budget_instead_of_piling_up() {
    let limit = 256 * 1024;
    let app = spawn_app_with(|s| {
        s.posts.upload_limit_bytes = limit;
        s.posts.upload_buffer_bytes = limit + 64 * 1024;
    })
    .await;
    let user = app.new_user().await;
    // A is streamed without a Content-Length, so it reserves the whole budget; its end is held back.
    let boundary = "budget-test-boundary";
    let image = fixtures::jpeg(64, 48);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    );
    tx.send(Ok(head.into_bytes())).await.unwrap();
    tx.send(Ok(image[..100].to_vec())).await.unwrap();
    let body = futures::stream::unfold(rx, |mut rx| async { rx.recv().await.map(|chunk| (chunk, rx)) });
    let a = app
        .client
        .post(app.url("/api/v1/posts"))
        .bearer_auth(&user.access)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let a = tokio::spawn(a);
    let budget = app.state.upload_budget().clone();
    for _ in 0..500 {
        if budget.available() == 0 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    assert_eq!(budget.available(), 0, "A holds the whole budget while its body arrives");

    // B, small and complete, must wait for A: ten reads are answered while it does.
    let b = app.upload(&user.access, fixtures::jpeg(20, 20), "b");
    tokio::pin!(b);
    for _ in 0..10 {
        tokio::select! {
            res = &mut b => panic!("B was answered while A held the budget: {}", res.status()),
            res = app.feed("limit=1") => assert_eq!(res.status(), StatusCode::OK),
        }
    }
    tx.send(Ok(image[100..].to_vec())).await.unwrap();
    tx.send(Ok(format!("\r\n--{boundary}--\r\n").into_bytes()))
        .await
        .unwrap();
    drop(tx);
    assert_eq!(a.await.unwrap().unwrap().status(), StatusCode::CREATED);
    assert_eq!(b.await.status(), StatusCode::CREATED);
    assert_eq!(budget.available(), limit + 64 * 1024, "every reservation is returned");
}

#[tokio::test]
async fn a_flood_of_uploads_does_not_starve_reads() {
    // One decoder at a time, so uploads queue; reads must still be served while they wait.
    let app = spawn_app_with(|s| s.posts.image_concurrency = 1).await;
    let user = app.new_user().await;
    post(&app, &user, "already there").await;
    let big = fixtures::jpeg(1200, 900);
    let uploads: Vec<_> = (0..4).map(|_| app.upload(&user.access, big.clone(), "flood")).collect();
    let flood = futures::future::join_all(uploads);
    let reads = async {
        let mut answered = 0;
        for _ in 0..10 {
            if app.feed("limit=5").await.status() == StatusCode::OK {
                answered += 1;
            }
        }
        answered
    };
    tokio::pin!(flood);
    // The reads are raced against the flood: they must all finish while uploads are still queued.
    let answered = tokio::select! {
        n = reads => n,
        _ = &mut flood => panic!("every upload finished before ten reads were answered"),
    };
    assert_eq!(answered, 10);
    let statuses: Vec<StatusCode> = flood.await.iter().map(|r| r.status()).collect();
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED), "{statuses:?}");
}

#[tokio::test]
async fn an_idempotency_key_left_unfinished_by_a_crash_is_taken_over_by_a_retry() {
    use sha2::{Digest, Sha256};
    let app = spawn_app().await;
    let user = app.new_user().await;
    let img = fixtures::jpeg(60, 40);
    let mut h = Sha256::new();
    h.update(b"after a crash");
    h.update([0u8]);
    h.update(&img);
    let hash: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    // What a server that died mid-request leaves behind: a claim with no answer, long ago.
    let long_ago = rampart::domain::from_unix_ms(0).unwrap();
    app.exec(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at) VALUES ($1, 'k-crash', $2, $3)",
        args![user.uid(), hash, long_ago],
    )
    .await;
    let res = app
        .upload_form(&user.access, form("after a crash", img), Some("k-crash"))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(app.post_count().await, 1);
}
