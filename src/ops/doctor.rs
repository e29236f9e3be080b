//! `rampart doctor`: checks a configuration against the real services it names, the way `serve` would
//! use them, and says what is wrong in words an operator can act on. Unlike `serve` it does not stop
//! at the first problem: every part is checked, each under a time limit, and the report lists them all.
//!
//! It changes nothing that matters: it applies no migration and generates no key. It writes and removes
//! one probe object in media storage (under a fresh upload key, so a leftover is an orphan that `rampart
//! media reconcile` removes) and one empty file in the data folder and the mail folder. Opening a SQLite
//! database that does not exist yet creates the empty file, as `serve` would.
//!
//! Like the health report, nothing here prints a password or a token: URLs are shown with their
//! credentials masked, and error texts from SMTP have the password taken out.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{Environment, MetricsBind, Settings, StorageDriver, redact_url};
use crate::media::storage::{ImageSet, MediaStore, Rendition, new_base_key};
use crate::store::{self, Backend, Db};

/// How a part fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but will surprise someone (a key that will be generated, migrations that will run).
    Warn,
    /// Will not work: `serve` refuses to start, or a feature fails when first used.
    Fail,
}

/// One part's result.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub part: &'static str,
    pub status: Status,
    /// What was found, or what is wrong and which setting to look at.
    pub detail: String,
    /// How long the check took, in milliseconds.
    pub ms: u64,
}

/// Every finding, in the order the parts were checked.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub env: Environment,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn count(&self, status: Status) -> usize {
        self.findings.iter().filter(|f| f.status == status).count()
    }

    pub fn get(&self, part: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.part == part)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            let mark = match finding.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            writeln!(f, "{mark}  {:<18} {}", finding.part, finding.detail)?;
        }
        let (fails, warns) = (self.count(Status::Fail), self.count(Status::Warn));
        match fails {
            0 => write!(f, "no problems found ({warns} warning(s))"),
            n => write!(f, "{n} problem(s), {warns} warning(s)"),
        }
    }
}

/// What one check answers: its status and detail.
type Outcome = (Status, String);

/// Checks every part `settings` names. `timeout` bounds each network check.
pub async fn run(settings: &Settings, timeout: Duration) -> Report {
    let mut findings = Vec::new();
    let mut push = |part, (status, detail): Outcome, started: Instant| {
        findings.push(Finding {
            part,
            status,
            detail,
            ms: started.elapsed().as_millis() as u64,
        })
    };
    let t = Instant::now();
    push("configuration", configuration(settings), t);
    let t = Instant::now();
    push("data folder", data_folder(&settings.data_dir), t);
    let t = Instant::now();
    push("signing key", signing_key(settings), t);
    let t = Instant::now();
    push("second-factor key", mfa_key(settings), t);
    let t = Instant::now();
    push("listener", listener(settings), t);
    let t = Instant::now();
    push("database", bounded(timeout, database(settings)).await, t);
    if settings.redis.url.is_some() {
        let t = Instant::now();
        push("redis", bounded(timeout, redis(settings)).await, t);
    }
    let t = Instant::now();
    push("storage", bounded(timeout * 3, storage(settings)).await, t);
    let t = Instant::now();
    push("mail", bounded(timeout, mail(settings)).await, t);
    if settings.backup.scheduled() || !settings.database_url().starts_with("sqlite:") {
        let t = Instant::now();
        push("backups", backups(settings), t);
    }
    let t = Instant::now();
    push("metrics", metrics(settings), t);
    if settings.telemetry.otlp_endpoint.is_some() {
        let t = Instant::now();
        push("trace export", bounded(timeout, trace_export(settings)).await, t);
    }
    Report {
        env: settings.env,
        findings,
    }
}

async fn bounded(limit: Duration, check: impl Future<Output = Outcome>) -> Outcome {
    match tokio::time::timeout(limit, check).await {
        Ok(outcome) => outcome,
        Err(_) => (Status::Fail, format!("no answer within {} ms", limit.as_millis())),
    }
}

fn ok(detail: impl Into<String>) -> Outcome {
    (Status::Ok, detail.into())
}

fn warn(detail: impl Into<String>) -> Outcome {
    (Status::Warn, detail.into())
}

fn fail(detail: impl Into<String>) -> Outcome {
    (Status::Fail, detail.into())
}

fn configuration(settings: &Settings) -> Outcome {
    let problems = settings.problems();
    if problems.is_empty() {
        ok(format!("valid for {}", env_name(settings.env)))
    } else {
        fail(problems.join("; "))
    }
}

fn env_name(env: Environment) -> &'static str {
    match env {
        Environment::Development => "development",
        Environment::Production => "production",
    }
}

fn data_folder(dir: &Path) -> Outcome {
    if !dir.exists() {
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        return match writable(parent) {
            Ok(()) => warn(format!(
                "{} does not exist yet; `serve` creates it (owner only)",
                dir.display()
            )),
            Err(e) => fail(format!("{} does not exist and cannot be created: {e}", dir.display())),
        };
    }
    if let Err(e) = writable(dir) {
        return fail(format!("{} is not writable: {e}", dir.display()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(dir)
            && meta.permissions().mode() & 0o077 != 0
        {
            return warn(format!(
                "{} is open to other users (mode {:o}); it holds the database and keys: chmod 700",
                dir.display(),
                meta.permissions().mode() & 0o777
            ));
        }
    }
    ok(format!("{} (writable, owner only)", dir.display()))
}

/// Creates and removes an empty file in `dir`.
fn writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".doctor-{}", uuid::Uuid::now_v7().simple()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

fn signing_key(settings: &Settings) -> Outcome {
    let default = crate::auth::tokens::default_key_path(&settings.data_dir);
    let path = settings.auth.signing_key_file.clone().unwrap_or(default);
    if settings.auth.signing_key_file.is_none() && !path.exists() {
        return match settings.env {
            Environment::Development => warn(format!(
                "none yet; `serve` generates a development key at {}",
                path.display()
            )),
            Environment::Production => {
                fail("auth.signing_key_file must be set in production (`rampart keys generate`)")
            }
        };
    }
    match crate::auth::tokens::Keys::load(&settings.auth, &settings.data_dir) {
        Ok(_) => ok(format!("Ed25519 key {}", path.display())),
        Err(e) => fail(format!("{e:#}")),
    }
}

fn mfa_key(settings: &Settings) -> Outcome {
    let default = crate::auth::vault::default_key_path(&settings.data_dir);
    let path = settings.auth.mfa_key_file.clone().unwrap_or(default);
    if settings.auth.mfa_key_file.is_none() && !path.exists() {
        return warn(format!("none yet; `serve` generates one at {}", path.display()));
    }
    match crate::auth::vault::Vault::load(&settings.auth, &settings.data_dir) {
        Ok(_) => ok(format!("256-bit key {}", path.display())),
        Err(e) => fail(format!("{e:#}")),
    }
}

/// Whether the public address (and the metrics one) can be bound now. Taken usually means Rampart
/// already runs there, which is fine for a check of a live configuration.
fn listener(settings: &Settings) -> Outcome {
    let mut taken = Vec::new();
    let mut addresses = vec![settings.bind];
    if let (true, MetricsBind::Address(addr)) = (settings.metrics.enabled, settings.metrics.bind) {
        addresses.push(addr);
    }
    for addr in addresses {
        if addr.port() == 0 {
            continue;
        }
        match std::net::TcpListener::bind(addr) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => taken.push(addr.to_string()),
            Err(e) => return fail(format!("cannot listen on {addr}: {e}")),
        }
    }
    if taken.is_empty() {
        ok(format!("{} is free", settings.bind))
    } else {
        warn(format!(
            "{} in use (is Rampart already running there?)",
            taken.join(" and ")
        ))
    }
}

async fn database(settings: &Settings) -> Outcome {
    let url = settings.database_url();
    let shown = redact_url(&url);
    let db = match Db::connect(settings).await {
        Ok(db) => db,
        Err(e) => return fail(format!("{shown}: {}", without(&format!("{e:#}"), &url))),
    };
    let outcome = if !db.ping().await {
        fail(format!("{shown}: connected, but a query failed"))
    } else {
        let latest = Db::latest_migration(db.backend());
        let engine = match db.backend() {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        };
        match store::snapshot::applied_migration(&db).await {
            Ok(Some(v)) if v == latest => ok(format!("{engine} {shown}, migrations up to date ({v})")),
            Ok(Some(v)) if v > latest => fail(format!(
                "{engine} {shown} is at migration {v}, newer than this binary's {latest}: run the newer Rampart"
            )),
            Ok(Some(v)) => warn(format!(
                "{engine} {shown} is at migration {v} of {latest}; `serve` or `rampart migrate` applies the rest"
            )),
            Ok(None) => warn(format!(
                "{engine} {shown} is empty; `serve` or `rampart migrate` creates the schema"
            )),
            Err(e) => fail(format!("{shown}: reading the migrations: {e}")),
        }
    };
    db.close().await;
    outcome
}

/// `text` with `secret` (a URL holding a password) replaced by its masked form.
fn without(text: &str, secret: &str) -> String {
    text.replace(secret, &redact_url(secret))
}

async fn redis(settings: &Settings) -> Outcome {
    use secrecy::ExposeSecret;
    let Some(url) = &settings.redis.url else {
        return ok("not configured");
    };
    let url = url.expose_secret();
    let shown = redact_url(url);
    let timeout = Duration::from_millis(settings.redis.timeout_ms);
    let limiter = match crate::auth::limiter::RedisLimiter::new(url, timeout, &settings.redis.key_prefix) {
        Ok(l) => l,
        Err(e) => return fail(format!("{shown}: {}", without(&format!("{e:#}"), url))),
    };
    use crate::auth::limiter::Limiter;
    if limiter.ready().await {
        ok(format!("{shown} answers PING"))
    } else {
        fail(format!(
            "{shown} does not answer PING (check redis.url, its password, and that the server runs)"
        ))
    }
}

/// Stores a tiny image set under a fresh upload key, checks it exists and has URLs, and removes it.
async fn storage(settings: &Settings) -> Outcome {
    let media = match crate::media::storage::from_settings(settings) {
        Ok(m) => m,
        Err(e) => return fail(format!("{e:#}")),
    };
    let driver = media.name();
    let place = match &settings.storage.driver {
        StorageDriver::Local(_) => settings.media_dir().display().to_string(),
        StorageDriver::S3(s3) => format!("bucket {} at {}", s3.bucket, s3.endpoint.as_deref().unwrap_or("AWS")),
        StorageDriver::ImageKit(_) => "ImageKit".to_owned(),
    };
    match round_trip(media.as_ref()).await {
        Ok(()) => ok(format!(
            "{driver}: {place}; a probe object was written, read and removed"
        )),
        Err(step) => fail(format!("{driver}: {place}: {step}")),
    }
}

async fn round_trip(media: &dyn MediaStore) -> Result<(), String> {
    let jpeg = probe_jpeg().map_err(|e| format!("making the probe image: {e}"))?;
    let rendition = || Rendition {
        bytes: jpeg.clone().into(),
        content_type: "image/jpeg",
        extension: "jpg",
    };
    let set = ImageSet {
        original: rendition(),
        display: rendition(),
        thumbnail: rendition(),
        display_webp: None,
        thumbnail_webp: None,
    };
    let stored = media
        .store(&new_base_key(), set)
        .await
        .map_err(|e| format!("writing failed: {e}"))?;
    let checked = async {
        match media.exists(&stored).await {
            Ok(true) => {}
            Ok(false) => return Err("an object just written is not there".to_owned()),
            Err(e) => return Err(format!("reading failed: {e}")),
        }
        media
            .urls(&stored)
            .await
            .map_err(|e| format!("building URLs failed: {e}"))?;
        Ok(())
    }
    .await;
    let removed = media.remove(&stored).await.map_err(|e| {
        format!(
            "removing the probe {} failed: {e} (`rampart media reconcile` removes it later)",
            stored.base_key
        )
    });
    checked.and(removed)
}

/// A 1×1 JPEG, a real image for drivers that look at what they store.
fn probe_jpeg() -> image::ImageResult<Vec<u8>> {
    let mut bytes = Vec::new();
    let pixel = image::RgbImage::from_pixel(1, 1, image::Rgb([128, 128, 128]));
    image::codecs::jpeg::JpegEncoder::new(&mut bytes).encode_image(&pixel)?;
    Ok(bytes)
}

async fn mail(settings: &Settings) -> Outcome {
    let transport = match crate::mail::transport::Transport::from_settings(settings) {
        Ok(t) => t,
        Err(e) => return fail(format!("{e:#}")),
    };
    let outcome = match transport.check().await {
        Ok(detail) => ok(detail),
        Err(e) => fail(format!(
            "{} (check mail.smtp.host, port, security, username and password)",
            e.message
        )),
    };
    transport.shutdown().await;
    outcome
}

fn backups(settings: &Settings) -> Outcome {
    let mut notes = Vec::new();
    if !settings.database_url().starts_with("sqlite:") {
        match crate::ops::backup::pg_tools::find("pg_dump", settings.backup.pg_dump.as_deref()) {
            Ok(path) => notes.push(format!("pg_dump at {}", path.display())),
            Err(e) if settings.backup.scheduled() => return fail(format!("{e:#}")),
            Err(e) => return warn(format!("{e:#}: `rampart backup` needs it")),
        }
    }
    // A schedule without `backup.dir` is already a configuration problem.
    if let (true, Some(dir)) = (settings.backup.scheduled(), &settings.backup.dir) {
        if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| writable(dir)) {
            return fail(format!("backup.dir {} is not writable: {e}", dir.display()));
        }
        notes.push(format!(
            "every {} s into {}, keeping {}",
            settings.backup.every_secs,
            dir.display(),
            settings.backup.keep
        ));
    }
    ok(notes.join("; "))
}

fn metrics(settings: &Settings) -> Outcome {
    let m = &settings.metrics;
    match (m.enabled, m.bind) {
        (false, _) => ok("off"),
        (true, MetricsBind::Public) => ok("on the public port, behind metrics.token"),
        (true, MetricsBind::Address(addr)) if addr.ip().is_loopback() => ok(format!("on {addr} (loopback only)")),
        (true, MetricsBind::Address(addr)) if m.token.is_none() => warn(format!(
            "on {addr} without metrics.token: anyone who reaches that address reads them"
        )),
        (true, MetricsBind::Address(addr)) => ok(format!("on {addr}, behind metrics.token")),
    }
}

/// Whether the OTLP collector's address accepts a connection. A refused export would only show as a
/// warning in the server's log, much later.
async fn trace_export(settings: &Settings) -> Outcome {
    let Some(endpoint) = &settings.telemetry.otlp_endpoint else {
        return ok("off");
    };
    let parsed = reqwest::Url::parse(endpoint).ok();
    let Some((host, port)) = parsed
        .as_ref()
        .and_then(|url| Some((url.host_str()?.to_owned(), url.port_or_known_default()?)))
    else {
        return fail("telemetry.otlp_endpoint is not an http(s) URL with a host");
    };
    // Only the host and port are shown: an endpoint URL may carry credentials.
    match tokio::net::TcpStream::connect((host.as_str(), port)).await {
        Ok(_) => ok(format!("OTLP/HTTP collector at {host}:{port} accepts connections")),
        Err(e) => fail(format!("OTLP collector {host}:{port} refuses connections: {e}")),
    }
}
