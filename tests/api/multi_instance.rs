//! Several Rampart processes against one PostgreSQL and one Redis: they behave as one service.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::PgDatabase;
use crate::process::Instance;

struct Cluster {
    instances: Vec<Instance>,
    _db: PgDatabase,
    _dir: tempfile::TempDir,
}

/// Starts `n` instances sharing a fresh database, one Redis and one signing key; `None` without the
/// services.
async fn cluster(n: usize, extra: &[(&'static str, String)]) -> Option<Cluster> {
    let (Ok(pg_admin), Ok(redis)) = (
        std::env::var("RAMPART_TEST_DATABASE_URL"),
        std::env::var("RAMPART_TEST_REDIS_URL"),
    ) else {
        println!("skipped: set RAMPART_TEST_DATABASE_URL and RAMPART_TEST_REDIS_URL");
        return None;
    };
    let db = PgDatabase::create(&pg_admin).await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing-key.pem");
    rampart::auth::tokens::write_new_key(&key).unwrap();
    let mut env = vec![
        ("RAMPART_DATABASE__URL", db.url.clone()),
        ("RAMPART_REDIS__URL", redis),
        (
            "RAMPART_REDIS__KEY_PREFIX",
            format!("rampart-test-{}:", uuid::Uuid::now_v7().simple()),
        ),
        ("RAMPART_AUTH__SIGNING_KEY_FILE", key.display().to_string()),
        ("RAMPART_LIMITS__REGISTER_PER_IP__BURST", "1000".into()),
        ("RAMPART_LIMITS__LOGIN_PER_IP__BURST", "1000".into()),
    ];
    env.extend(extra.iter().cloned());
    // The first instance migrates the database before the others start.
    let mut instances = vec![Instance::start(&dir.path().join("i0"), &env).await];
    let rest = (1..n).map(|i| Instance::start_owned(dir.path().join(format!("i{i}")), env.clone()));
    instances.extend(join_all(rest).await);
    Some(Cluster {
        instances,
        _db: db,
        _dir: dir,
    })
}

async fn register(client: &reqwest::Client, base: &str, username: &str, email: &str) -> reqwest::Response {
    let body = json!({ "username": username, "email": email, "password": "long enough pass" });
    client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_registration_race_across_instances_has_exactly_one_winner() {
    let Some(c) = cluster(3, &[]).await else { return };
    let client = reqwest::Client::new();
    let names: Vec<String> = (0..24).map(|i| format!("racer_{i}")).collect();
    let attempts = names.iter().enumerate().map(|(i, name)| {
        let base = &c.instances[i % c.instances.len()].url;
        register(&client, base, name, "Shared@Example.com")
    });
    let statuses: Vec<StatusCode> = join_all(attempts).await.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::CREATED).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(),
        names.len() - 1,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn logout_on_one_instance_is_refused_on_another_at_the_next_request() {
    let Some(c) = cluster(2, &[]).await else { return };
    let (a, b) = (&c.instances[0].url, &c.instances[1].url);
    let client = reqwest::Client::new();
    let body: Value = register(&client, a, "roamer", "roamer@example.com")
        .await
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap();
    let me = |base: &str| client.get(format!("{base}/api/v1/me")).bearer_auth(token).send();
    assert_eq!(
        me(b).await.unwrap().status(),
        StatusCode::OK,
        "a token from A works on B"
    );

    let out = client
        .post(format!("{a}/api/v1/auth/logout"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(b).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_post_uploaded_through_one_instance_is_readable_through_another() {
    let Ok(s3) = std::env::var("RAMPART_TEST_S3_URL") else {
        println!("skipped: set RAMPART_TEST_S3_URL");
        return;
    };
    let bucket = format!("rampart-{}", uuid::Uuid::now_v7().simple());
    assert!(
        reqwest::Client::new()
            .put(format!("{s3}/{bucket}"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let extra = [
        ("RAMPART_STORAGE__DRIVER", "s3".to_owned()),
        ("RAMPART_STORAGE__S3__ENDPOINT", s3.clone()),
        ("RAMPART_STORAGE__S3__BUCKET", bucket),
        ("RAMPART_STORAGE__S3__ACCESS_KEY_ID", "test".to_owned()),
        ("RAMPART_STORAGE__S3__SECRET_ACCESS_KEY", "test".to_owned()),
        ("RAMPART_STORAGE__S3__ALLOW_HTTP", "true".to_owned()),
        // Verification is covered elsewhere; here the account posts straight away.
        ("RAMPART_POSTS__REQUIRE_VERIFIED_EMAIL", "false".to_owned()),
    ];
    let Some(c) = cluster(2, &extra).await else { return };
    let (a, b) = (&c.instances[0].url, &c.instances[1].url);
    let client = reqwest::Client::new();
    let body: Value = register(&client, a, "shared_poster", "poster@example.com")
        .await
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap();
    let form = reqwest::multipart::Form::new()
        .part(
            "image",
            reqwest::multipart::Part::bytes(crate::fixtures::jpeg(300, 200)).file_name("x.jpg"),
        )
        .text("caption", "across instances #cluster");
    let created = client
        .post(format!("{a}/api/v1/posts"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();

    let via_b = client
        .get(format!("{b}/api/v1/posts/{}", created["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(via_b.status(), StatusCode::OK);
    let via_b: Value = via_b.json().await.unwrap();
    assert_eq!(via_b["caption"], "across instances #cluster");
    let image = client
        .get(via_b["image"]["display_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), StatusCode::OK, "the object is in shared storage");
    let tagged: Value = client
        .get(format!("{b}/api/v1/posts?tag=cluster"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tagged["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_rate_limit_is_shared_across_instances() {
    let extra = [
        ("RAMPART_LIMITS__LOGIN_PER_IP__BURST", "4".to_owned()),
        ("RAMPART_LIMITS__LOGIN_PER_IP__PER_SECS", "3600".to_owned()),
    ];
    let Some(c) = cluster(3, &extra).await else { return };
    let client = reqwest::Client::new();
    let login = |base: &str| {
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({ "login": "ghost", "password": "whatever it is" }))
            .send()
    };
    for i in 0..4 {
        let res = login(&c.instances[i % 3].url).await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {i} is within the shared burst"
        );
    }
    let res = login(&c.instances[1].url).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the fifth attempt, on any instance, is limited"
    );
}
