//! `spawn_app()`: a real Rampart on a random port with its own temp data folder and database.

use std::time::Duration;

use rampart::config::{Argon2Settings, ImageKitSettings, Rate, S3Settings, Settings, StorageDriver};
use rampart::domain::Role;
use rampart::startup::Application;
use rampart::state::AppState;
use rampart::store::Exec;
use rampart::store::value::Arg;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::imagekit_standin::StandIn;

/// A running application and a client for it.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// The separate metrics listener's port, when metrics are on and not on the public port.
    pub metrics_port: Option<u16>,
    pub client: reqwest::Client,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    pub server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// Held for its `Drop`, which removes the database.
    _pg: Option<PgDatabase>,
    /// Held for its `Drop`: the ImageKit stand-in, when that driver is under test.
    _standin: Option<StandIn>,
}

/// Settings for tests: a temp folder, port 0, cheap Argon2, generous limits.
pub fn test_settings(dir: &std::path::Path) -> Settings {
    let mut s = Settings {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        ..Settings::default()
    };
    s.auth.argon2 = Argon2Settings {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    };
    s.auth.hash_concurrency = 8;
    s.http.shutdown_grace_secs = 5;
    // On, as by default, but on a port of its own per app: tests run many servers at once.
    s.metrics.bind = rampart::config::MetricsBind::Address("127.0.0.1:0".parse().unwrap());
    let lots = Rate {
        burst: 10_000,
        per_secs: 1,
    };
    s.limits.register_per_ip = lots;
    s.limits.login_per_ip = lots;
    s.limits.refresh_per_ip = lots;
    s.limits.refresh_per_session = lots;
    s.limits.login_failures_per_account_ip = lots;
    s.limits.login_failures_per_account = lots;
    s
}

/// Starts an app with the default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts an app after `tweak` adjusts its settings.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(dir.path());
    let pg = match (
        std::env::var("RAMPART_TEST_BACKEND").as_deref(),
        std::env::var("RAMPART_TEST_DATABASE_URL"),
    ) {
        (Ok("postgres"), Ok(admin_url)) => Some(PgDatabase::create(&admin_url).await),
        (Ok("postgres"), Err(_)) => panic!("RAMPART_TEST_BACKEND=postgres needs RAMPART_TEST_DATABASE_URL"),
        _ => None,
    };
    if let Some(pg) = &pg {
        settings.database.url = Some(pg.url.clone().into());
    }
    let standin = configure_storage(&mut settings).await;
    tweak(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let port = app.port();
    let metrics_port = app.metrics_port();
    let state = app.state().clone();
    if pg.is_some() {
        assert_eq!(
            state.db().backend(),
            rampart::store::Backend::Postgres,
            "the suite runs on PostgreSQL"
        );
    }
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        metrics_port,
        client,
        state,
        dir,
        shutdown: Some(tx),
        server: Some(server),
        _pg: pg,
        _standin: standin,
    }
}

/// Points the app at the storage driver named by `RAMPART_TEST_STORAGE` (`local`, the default; `s3`,
/// which needs `RAMPART_TEST_S3_URL`; `imagekit`, against the in-process stand-in).
async fn configure_storage(settings: &mut Settings) -> Option<StandIn> {
    match std::env::var("RAMPART_TEST_STORAGE").as_deref() {
        Ok("s3") => {
            let url = std::env::var("RAMPART_TEST_S3_URL").expect("RAMPART_TEST_STORAGE=s3 needs RAMPART_TEST_S3_URL");
            let bucket = format!("rampart-{}", uuid::Uuid::now_v7().simple());
            let res = reqwest::Client::new()
                .put(format!("{url}/{bucket}"))
                .send()
                .await
                .expect("S3 server answers");
            assert!(res.status().is_success(), "creating bucket {bucket}: {}", res.status());
            settings.storage.driver = StorageDriver::S3(S3Settings {
                endpoint: Some(url),
                bucket,
                access_key_id: Some("test".into()),
                secret_access_key: Some("test".into()),
                allow_http: true,
                ..S3Settings::default()
            });
            None
        }
        Ok("imagekit") => {
            let standin = StandIn::start("private_test_key").await;
            standin.configure(settings);
            Some(standin)
        }
        _ => None,
    }
}

/// A throw-away PostgreSQL database, dropped when the test ends.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create(admin_url: &str) -> PgDatabase {
        use sqlx::Connection;
        let name = format!("rampart_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect to RAMPART_TEST_DATABASE_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin_url);
        PgDatabase {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // The test's runtime may already be shutting down; drop from a runtime of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// `TEST_LOG=1` prints the servers' log lines. `RAMPART_TEST_LOG_DIR` (set by `.ci/test`) keeps them as
/// production writes them, JSON at `info` (Rampart's own at `debug`), in a file per test process, for
/// the scan of the whole run (`log_scan.rs`).
fn init_logs() {
    if let Some(dir) = std::env::var("RAMPART_TEST_LOG_DIR").ok().filter(|d| !d.is_empty()) {
        std::fs::create_dir_all(&dir).expect("RAMPART_TEST_LOG_DIR can be created");
        let path = std::path::Path::new(&dir).join(format!("api-{}.jsonl", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
        let writer = tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::sync::Mutex::new(file));
        rampart::telemetry::init_json_logs_to("info,rampart=debug", writer);
    } else if std::env::var("TEST_LOG").is_ok() {
        rampart::telemetry::init_logs(&Settings::default());
    }
}

/// A registered user and their tokens.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

impl TestUser {
    /// The id as the store takes it.
    pub fn uid(&self) -> uuid::Uuid {
        self.id.parse().expect("user ids are UUIDs")
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Asks the server to stop without waiting.
    pub fn signal_stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Asks the server to stop and waits for it to drain.
    pub async fn stop(&mut self) {
        self.signal_stop();
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran cleanly");
        }
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json_auth(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn patch_json_auth(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_auth(&self, path: &str, token: &str) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete_auth(&self, path: &str, token: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    // One method per endpoint, so tests speak the API rather than repeat its paths.

    /// `GET /api/v1/me`
    pub async fn me(&self, token: &str) -> Response {
        self.get_auth("/api/v1/me", token).await
    }

    /// `PATCH /api/v1/me`
    pub async fn update_me(&self, token: &str, body: &Value) -> Response {
        self.patch_json_auth("/api/v1/me", token, body).await
    }

    /// `GET /api/v1/me/export`
    pub async fn export_account(&self, token: &str) -> Response {
        self.get_auth("/api/v1/me/export", token).await
    }

    /// `POST /api/v1/me/password`
    pub async fn change_password(&self, token: &str, body: &Value) -> Response {
        self.post_json_auth("/api/v1/me/password", token, body).await
    }

    /// `POST /api/v1/me/email`
    pub async fn request_email_change(&self, token: &str, body: &Value) -> Response {
        self.post_json_auth("/api/v1/me/email", token, body).await
    }

    /// `POST /api/v1/auth/register`
    pub async fn register(&self, body: &Value) -> Response {
        self.post_json("/api/v1/auth/register", body).await
    }

    /// `POST /api/v1/auth/login`
    pub async fn login_with(&self, body: &Value) -> Response {
        self.post_json("/api/v1/auth/login", body).await
    }

    /// `POST /api/v1/auth/refresh`
    pub async fn refresh(&self, body: &Value) -> Response {
        self.post_json("/api/v1/auth/refresh", body).await
    }

    /// `POST /api/v1/auth/password/forgot`
    pub async fn forgot_password(&self, body: &Value) -> Response {
        self.post_json("/api/v1/auth/password/forgot", body).await
    }

    /// `POST /api/v1/auth/password/reset`
    pub async fn reset_password(&self, body: &Value) -> Response {
        self.post_json("/api/v1/auth/password/reset", body).await
    }

    /// `POST /api/v1/auth/verify-email`
    pub async fn verify_email(&self, body: &Value) -> Response {
        self.post_json("/api/v1/auth/verify-email", body).await
    }

    /// `POST /api/v1/auth/email/confirm`
    pub async fn confirm_email_change(&self, body: &Value) -> Response {
        self.post_json("/api/v1/auth/email/confirm", body).await
    }

    /// `POST /api/v1/auth/verify-email/resend`
    pub async fn resend_verification(&self, token: &str) -> Response {
        self.post_auth("/api/v1/auth/verify-email/resend", token).await
    }

    /// `POST /api/v1/auth/logout`
    pub async fn logout(&self, token: &str) -> Response {
        self.post_auth("/api/v1/auth/logout", token).await
    }

    /// `POST /api/v1/auth/logout-all`
    pub async fn logout_all(&self, token: &str) -> Response {
        self.post_auth("/api/v1/auth/logout-all", token).await
    }

    /// `GET /api/v1/auth/sessions`
    pub async fn sessions(&self, token: &str) -> Response {
        self.get_auth("/api/v1/auth/sessions", token).await
    }

    /// `GET /api/v1/posts?{query}` (the feed; `query` may be empty).
    pub async fn feed(&self, query: &str) -> Response {
        let path = if query.is_empty() {
            "/api/v1/posts".to_owned()
        } else {
            format!("/api/v1/posts?{query}")
        };
        self.get(&path).await
    }

    /// `GET /api/v1/users/{username}/posts`
    pub async fn user_posts(&self, username: &str) -> Response {
        self.get(&format!("/api/v1/users/{username}/posts")).await
    }

    /// `GET /api/v1/posts/{id}`
    pub async fn get_post(&self, id: &str) -> Response {
        self.get(&post_path(id)).await
    }

    /// `PATCH /api/v1/posts/{id}` without `If-Match`.
    pub async fn edit_post(&self, id: &str, token: &str, body: &Value) -> Response {
        self.patch_json_auth(&post_path(id), token, body).await
    }

    /// `PATCH /api/v1/posts/{id}` with `If-Match: {etag}`.
    pub async fn edit_post_if_match(&self, id: &str, token: &str, etag: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(&post_path(id)))
            .bearer_auth(token)
            .header("if-match", etag)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `DELETE /api/v1/posts/{id}`
    pub async fn delete_post(&self, id: &str, token: &str) -> Response {
        self.delete_auth(&post_path(id), token).await
    }

    /// Subjects and bodies of the mail queued for `address`, oldest first.
    pub async fn mail_to(&self, address: &str) -> Vec<(String, String)> {
        (self.state.db())
            .fetch_all(
                "SELECT subject, body_text FROM outbox WHERE to_address = $1 ORDER BY created_at, id",
                rampart::args![address],
            )
            .await
            .unwrap()
    }

    /// `GET /api/v1/me/mfa`
    pub async fn factors(&self, token: &str) -> Response {
        self.get_auth("/api/v1/me/mfa", token).await
    }

    /// `POST /api/v1/me/mfa/totp`
    pub async fn enrol_totp(&self, token: &str) -> Response {
        self.post_auth("/api/v1/me/mfa/totp", token).await
    }

    /// `POST /api/v1/me/mfa/totp/confirm`
    pub async fn confirm_totp(&self, token: &str, code: &str) -> Response {
        self.post_json_auth("/api/v1/me/mfa/totp/confirm", token, &json!({ "code": code }))
            .await
    }

    /// `DELETE /api/v1/me/mfa/totp`
    pub async fn disable_totp(&self, token: &str, body: &Value) -> Response {
        self.client
            .delete(self.url("/api/v1/me/mfa/totp"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `POST /api/v1/me/mfa/recovery-codes`
    pub async fn regenerate_recovery_codes(&self, token: &str) -> Response {
        self.post_auth("/api/v1/me/mfa/recovery-codes", token).await
    }

    /// `POST /api/v1/auth/mfa/verify`
    pub async fn mfa_verify(&self, body: &Value) -> Response {
        self.post_json("/api/v1/auth/mfa/verify", body).await
    }

    /// `POST /api/v1/auth/reauthenticate`
    pub async fn reauthenticate(&self, token: &str, body: &Value) -> Response {
        self.post_json_auth("/api/v1/auth/reauthenticate", token, body).await
    }

    /// `POST /api/v1/me/passkeys/options`
    pub async fn passkey_registration_options(&self, token: &str) -> Response {
        self.post_auth("/api/v1/me/passkeys/options", token).await
    }

    /// `POST /api/v1/me/passkeys`
    pub async fn register_passkey(&self, token: &str, body: &Value) -> Response {
        self.post_json_auth("/api/v1/me/passkeys", token, body).await
    }

    /// `GET /api/v1/me/passkeys`
    pub async fn passkeys(&self, token: &str) -> Response {
        self.get_auth("/api/v1/me/passkeys", token).await
    }

    /// `PATCH /api/v1/me/passkeys/{id}`
    pub async fn rename_passkey(&self, token: &str, id: &str, name: &str) -> Response {
        self.patch_json_auth(&format!("/api/v1/me/passkeys/{id}"), token, &json!({ "name": name }))
            .await
    }

    /// `DELETE /api/v1/me/passkeys/{id}`
    pub async fn delete_passkey(&self, token: &str, id: &str) -> Response {
        self.delete_auth(&format!("/api/v1/me/passkeys/{id}"), token).await
    }

    /// `POST /api/v1/auth/passkey/options`
    pub async fn passkey_sign_in_options(&self) -> Response {
        self.post_json("/api/v1/auth/passkey/options", &json!({})).await
    }

    /// `POST /api/v1/auth/passkey`
    pub async fn passkey_sign_in(&self, body: &Value) -> Response {
        self.post_json("/api/v1/auth/passkey", body).await
    }

    /// `POST /api/v1/auth/mfa/passkey/options`
    pub async fn mfa_passkey_options(&self, challenge: &str) -> Response {
        self.post_json("/api/v1/auth/mfa/passkey/options", &json!({ "challenge": challenge }))
            .await
    }

    /// `DELETE /api/v1/auth/sessions/{id}`
    pub async fn revoke_session(&self, id: &str, token: &str) -> Response {
        self.delete_auth(&format!("/api/v1/auth/sessions/{id}"), token).await
    }

    pub async fn register_raw(&self, username: &str, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/register",
            &json!({ "username": username, "email": email, "password": password }),
        )
        .await
    }

    /// Registers a fresh user with a unique name.
    pub async fn new_user(&self) -> TestUser {
        let n = uuid::Uuid::now_v7().simple().to_string();
        let username = format!("u{}", &n[n.len() - 12..]);
        self.user_named(&username).await
    }

    /// Registers `username` with a generated email and password.
    pub async fn user_named(&self, username: &str) -> TestUser {
        let email = format!("{username}@example.com");
        let password = "a long enough passphrase".to_owned();
        let res = self.register_raw(username, &email, &password).await;
        assert_eq!(res.status(), StatusCode::CREATED, "registering {username}");
        let body: Value = res.json().await.unwrap();
        // Most tests post; verification itself is exercised through the mail in its own tests.
        let id = body["user"]["id"].as_str().unwrap();
        assert!(
            rampart::store::users::mark_email_verified(self.state.db(), id.parse().unwrap(), &email)
                .await
                .unwrap()
        );
        TestUser {
            id: body["user"]["id"].as_str().unwrap().to_owned(),
            username: username.to_owned(),
            email,
            password,
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Registers a user and gives them `role` directly in the database.
    pub async fn user_with_role(&self, role: Role) -> TestUser {
        let user = self.new_user().await;
        rampart::store::users::admin_update(self.state.db(), user.uid(), Some(role), None)
            .await
            .unwrap();
        user
    }

    /// Uploads `image` with `caption` as `photo.jpg`.
    pub async fn upload(&self, token: &str, image: Vec<u8>, caption: &str) -> Response {
        let form = reqwest::multipart::Form::new()
            .part(
                "image",
                reqwest::multipart::Part::bytes(image)
                    .file_name("photo.jpg")
                    .mime_str("image/jpeg")
                    .unwrap(),
            )
            .text("caption", caption.to_owned());
        self.upload_form(token, form, None).await
    }

    /// Sends a multipart form to `POST /api/v1/posts`, with an optional Idempotency-Key.
    pub async fn upload_form(&self, token: &str, form: reqwest::multipart::Form, key: Option<&str>) -> Response {
        let mut req = self
            .client
            .post(self.url("/api/v1/posts"))
            .bearer_auth(token)
            .multipart(form);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        req.send().await.expect("request")
    }

    /// Fetches a media URL, relative (local driver) or absolute.
    pub async fn fetch(&self, url: &str) -> Response {
        let full = if url.starts_with("http") {
            url.to_owned()
        } else {
            self.url(url)
        };
        self.client.get(full).send().await.expect("request")
    }

    /// Number of post rows.
    pub async fn post_count(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM posts", &[]).await
    }

    /// The one number `sql` returns (a `COUNT(*)`), for assertions on stored state.
    pub async fn count(&self, sql: &str, args: &[Arg<'_>]) -> i64 {
        let (n,): (i64,) = (self.state.db()).fetch_one(sql, args).await.unwrap();
        n
    }

    /// Runs a write straight on the database, to arrange state the API cannot (aged rows, crashes).
    pub async fn exec(&self, sql: &str, args: &[Arg<'_>]) -> u64 {
        (self.state.db()).execute(sql, args).await.unwrap()
    }

    /// Base keys the storage driver holds.
    pub async fn stored_keys(&self) -> Vec<String> {
        self.state.media().list_base_keys().await.unwrap()
    }

    pub async fn login(&self, login: &str, password: &str) -> Response {
        self.post_json("/api/v1/auth/login", &json!({ "login": login, "password": password }))
            .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts a problem+json response with `status` and `code`, returning the body.
pub async fn assert_problem(res: Response, status: StatusCode, code: &str) -> Value {
    let got = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let request_id = res
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "status; body: {body}");
    assert_eq!(ct, "application/problem+json", "content type; body: {body}");
    assert_eq!(body["code"], code, "code; body: {body}");
    assert_eq!(body["status"], status.as_u16(), "status field; body: {body}");
    for key in ["type", "title", "detail", "request_id"] {
        assert!(body[key].is_string(), "problem field {key} missing: {body}");
    }
    assert_eq!(
        body["request_id"].as_str(),
        request_id.as_deref(),
        "request id echoed in body and header"
    );
    body
}

/// The path of one post, for requests the named methods do not cover (extra headers).
pub fn post_path(id: &str) -> String {
    format!("/api/v1/posts/{id}")
}

/// The S3 settings of `settings`, which must name the `s3` driver.
pub fn s3_of(settings: &mut Settings) -> &mut S3Settings {
    match &mut settings.storage.driver {
        StorageDriver::S3(s3) => s3,
        other => panic!("the s3 driver is not configured: {other:?}"),
    }
}

/// The ImageKit settings of `settings`, which must name the `imagekit` driver.
pub fn imagekit_of(settings: &mut Settings) -> &mut ImageKitSettings {
    match &mut settings.storage.driver {
        StorageDriver::ImageKit(imagekit) => imagekit,
        other => panic!("the imagekit driver is not configured: {other:?}"),
    }
}
