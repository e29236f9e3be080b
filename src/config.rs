//! Typed, layered configuration: built-in defaults, then an optional `rampart.toml`, then `RAMPART_*`
//! environment variables (`RAMPART_SECTION__KEY` for nested keys). Invalid or unsafe values fail start-up.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Where Rampart runs: production refuses unsafe settings and logs JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

/// All settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `development` (default) or `production`.
    pub env: Environment,
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Folder for the SQLite file, media and generated keys.
    pub data_dir: PathBuf,
    /// The externally visible origin, used for links in mail; never taken from request headers.
    pub public_origin: String,
    pub log: LogSettings,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub limits: LimitSettings,
    pub redis: RedisSettings,
    pub storage: StorageSettings,
    pub posts: PostSettings,
    pub mail: MailSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// `file` (default: `.eml` files under `<data_dir>/outbox`) or `smtp`.
    pub transport: String,
    /// The sender address.
    pub from: String,
    pub smtp: SmtpSettings,
    /// First retry delay after a failed send; doubles per attempt up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// How often the sender looks for due mail when not woken by new mail.
    pub poll_ms: u64,
    /// Lifetime of an email-verification link.
    pub verify_ttl_secs: u64,
    /// Lifetime of a password-reset link.
    pub reset_ttl_secs: u64,
    /// Lifetime of an email-change confirmation link.
    pub change_ttl_secs: u64,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// `starttls` (default), `tls` (implicit TLS) or `none` (plain text; local relays only).
    pub security: String,
    pub username: Option<String>,
    /// Secret.
    pub password: Option<String>,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// `local` (default), `s3` or `imagekit`.
    pub driver: String,
    /// Folder for the local driver; unset: `<data_dir>/media`.
    pub local_dir: Option<PathBuf>,
    /// Prefix for local media URLs (`<base>/media/<key>`); empty gives URLs relative to the API.
    pub local_url_base: String,
    /// Deadline for one storage operation; past it the request fails with 504 and nothing is written.
    pub timeout_ms: u64,
    pub s3: S3Settings,
    pub imagekit: ImageKitSettings,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    pub bucket: String,
    pub region: String,
    /// Custom endpoint for MinIO, R2, moto …; unset: AWS.
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Public base URL of the bucket (CDN); unset: clients get presigned URLs.
    pub public_base_url: Option<String>,
    pub presign_ttl_secs: u64,
    /// Allow an `http://` endpoint (local emulators only).
    pub allow_http: bool,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageKitSettings {
    /// Private API key (secret).
    pub private_key: Option<String>,
    /// Your URL endpoint, e.g. `https://ik.imagekit.io/your_id`.
    pub url_endpoint: Option<String>,
    pub upload_url: String,
    pub api_base: String,
    /// Folder uploads go to.
    pub folder: String,
}

/// What multipart framing (boundaries, part headers, the caption) may add to an upload's image.
pub const MULTIPART_FRAMING_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostSettings {
    /// Largest accepted upload body.
    pub upload_limit_bytes: usize,
    /// Largest image side in pixels.
    pub max_dimension: u32,
    /// Largest image area in pixels (decompression-bomb guard).
    pub max_pixels: u64,
    /// Images decoded at once; each holds its pixels in memory.
    pub image_concurrency: usize,
    /// Upload bodies held in memory at once, over all requests; further uploads wait for room.
    pub upload_buffer_bytes: usize,
    /// Posts a user may create per hour.
    pub posts_per_hour: u32,
    /// Upload bytes a user may send per day.
    pub bytes_per_day: u64,
    /// Only accounts with a verified email address may post.
    pub require_verified_email: bool,
}

impl PostSettings {
    /// The largest upload request body: the image limit plus multipart framing.
    pub fn upload_body_limit(&self) -> usize {
        self.upload_limit_bytes + MULTIPART_FRAMING_BYTES
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://host:port/db`. Set it when several instances run: rate limits are then shared.
    /// Unset: limits are kept in process.
    pub url: Option<String>,
    /// Connect and response timeout; past it, auth endpoints answer 503 (fail closed).
    pub timeout_ms: u64,
    /// Prefix for every key Rampart writes.
    pub key_prefix: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `tracing` filter directive, e.g. `info` or `rampart=debug`.
    pub level: String,
    /// `json` or `pretty`; unset picks json in production.
    pub format: Option<String>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://…` or `postgres://…`; unset means `<data_dir>/rampart.db`.
    pub url: Option<String>,
    pub max_connections: u32,
    /// How long a request waits for a connection before answering 503.
    pub acquire_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Whole-request deadline.
    pub request_timeout_secs: u64,
    /// Time a client has to send its request headers.
    pub header_read_timeout_secs: u64,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace_secs: u64,
    /// Largest body any route accepts.
    pub body_limit_bytes: usize,
    /// Largest body a JSON route accepts.
    pub json_limit_bytes: usize,
    /// Exact origins allowed by CORS (`https://app.example.com`). Empty: no cross-origin access.
    pub cors_origins: Vec<String>,
    /// Whether CORS responses allow credentials (cookies).
    pub cors_allow_credentials: bool,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    /// Access-token lifetime; at most 900 seconds.
    pub access_ttl_secs: u64,
    /// A session unused for this long ends.
    pub session_idle_secs: u64,
    /// A session ends this long after sign-in, used or not.
    pub session_absolute_secs: u64,
    /// PKCS#8 Ed25519 key file. Unset: generated under `<data_dir>/keys` (development only).
    pub signing_key_file: Option<PathBuf>,
    pub argon2: Argon2Settings,
    /// Concurrent password hashes; each takes `argon2.memory_kib` of memory.
    pub hash_concurrency: usize,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

/// A token bucket: `burst` requests at once, refilled over `per_secs`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub burst: u32,
    pub per_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub register_per_ip: Rate,
    pub login_per_ip: Rate,
    pub refresh_per_ip: Rate,
    pub refresh_per_session: Rate,
    /// Failed sign-ins for one account from one IP.
    pub login_failures_per_account_ip: Rate,
    /// Failed sign-ins for one account from anywhere; higher, so one attacker cannot lock the owner out.
    pub login_failures_per_account: Rate,
    /// Password-reset requests and verification re-sends per IP.
    pub recovery_per_ip: Rate,
    /// Password-reset requests and verification re-sends per account (or per address asked about).
    pub recovery_per_account: Rate,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            env: Environment::Development,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            public_origin: "http://127.0.0.1:8080".into(),
            log: LogSettings {
                level: "info".into(),
                format: None,
            },
            database: DatabaseSettings {
                url: None,
                max_connections: 16,
                acquire_timeout_ms: 3000,
            },
            http: HttpSettings {
                request_timeout_secs: 30,
                header_read_timeout_secs: 10,
                shutdown_grace_secs: 20,
                body_limit_bytes: 12 * 1024 * 1024,
                json_limit_bytes: 64 * 1024,
                cors_origins: Vec::new(),
                cors_allow_credentials: false,
                trusted_proxies: Vec::new(),
            },
            auth: AuthSettings {
                issuer: "rampart".into(),
                audience: "rampart-api".into(),
                access_ttl_secs: 900,
                session_idle_secs: 14 * 24 * 3600,
                session_absolute_secs: 60 * 24 * 3600,
                signing_key_file: None,
                argon2: Argon2Settings {
                    memory_kib: 19456,
                    iterations: 2,
                    parallelism: 1,
                },
                hash_concurrency: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            },
            limits: LimitSettings {
                register_per_ip: Rate {
                    burst: 10,
                    per_secs: 3600,
                },
                login_per_ip: Rate {
                    burst: 30,
                    per_secs: 60,
                },
                refresh_per_ip: Rate {
                    burst: 60,
                    per_secs: 60,
                },
                refresh_per_session: Rate {
                    burst: 10,
                    per_secs: 60,
                },
                login_failures_per_account_ip: Rate {
                    burst: 5,
                    per_secs: 900,
                },
                login_failures_per_account: Rate {
                    burst: 50,
                    per_secs: 3600,
                },
                recovery_per_ip: Rate {
                    burst: 10,
                    per_secs: 3600,
                },
                recovery_per_account: Rate {
                    burst: 3,
                    per_secs: 3600,
                },
            },
            redis: RedisSettings {
                url: None,
                timeout_ms: 500,
                key_prefix: "rampart:".into(),
            },
            storage: StorageSettings {
                driver: "local".into(),
                local_dir: None,
                local_url_base: String::new(),
                timeout_ms: 15_000,
                s3: S3Settings {
                    bucket: "rampart".into(),
                    region: "us-east-1".into(),
                    endpoint: None,
                    access_key_id: None,
                    secret_access_key: None,
                    public_base_url: None,
                    presign_ttl_secs: 3600,
                    allow_http: false,
                },
                imagekit: ImageKitSettings {
                    private_key: None,
                    url_endpoint: None,
                    upload_url: "https://upload.imagekit.io/api/v1/files/upload".into(),
                    api_base: "https://api.imagekit.io/v1".into(),
                    folder: "/rampart".into(),
                },
            },
            mail: MailSettings {
                transport: "file".into(),
                from: "Rampart <no-reply@localhost>".into(),
                smtp: SmtpSettings {
                    host: "localhost".into(),
                    port: 587,
                    security: "starttls".into(),
                    username: None,
                    password: None,
                    timeout_ms: 10_000,
                },
                retry_base_ms: 5_000,
                retry_max_ms: 3_600_000,
                poll_ms: 5_000,
                verify_ttl_secs: 24 * 3600,
                reset_ttl_secs: 3600,
                change_ttl_secs: 24 * 3600,
            },
            posts: PostSettings {
                upload_limit_bytes: 10 * 1024 * 1024,
                max_dimension: 12_000,
                max_pixels: 40_000_000,
                image_concurrency: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
                upload_buffer_bytes: 40 * 1024 * 1024,
                posts_per_hour: 60,
                bytes_per_day: 500 * 1024 * 1024,
                require_verified_email: true,
            },
        }
    }
}

impl Settings {
    /// Loads defaults → `config_file` (if it exists) → environment.
    pub fn load(config_file: Option<&Path>) -> anyhow::Result<Settings> {
        let file = config_file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("rampart.toml"));
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        if file.exists() {
            fig = fig.merge(Toml::file(&file));
        } else if config_file.is_some() {
            anyhow::bail!("configuration file {} does not exist", file.display());
        }
        let settings: Settings = fig
            .merge(Env::prefixed("RAMPART_").filter(is_setting).split("__"))
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The folder the local storage driver writes to.
    pub fn media_dir(&self) -> PathBuf {
        self.storage
            .local_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("media"))
    }

    /// The database URL, defaulting to a SQLite file in the data folder.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("rampart.db").display()),
        }
    }

    /// Refuses settings that are invalid anywhere, and settings that are unsafe in production.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        let a = &self.auth;
        if a.access_ttl_secs == 0 || a.access_ttl_secs > 900 {
            problems.push("auth.access_ttl_secs must be between 1 and 900".to_owned());
        }
        if a.session_idle_secs == 0 || a.session_absolute_secs < a.session_idle_secs {
            problems.push("auth.session_absolute_secs must be at least auth.session_idle_secs (> 0)".to_owned());
        }
        if a.hash_concurrency == 0 {
            problems.push("auth.hash_concurrency must be at least 1".to_owned());
        }
        if argon2::Params::new(a.argon2.memory_kib, a.argon2.iterations, a.argon2.parallelism, None).is_err() {
            problems.push("auth.argon2 parameters are not valid Argon2 parameters".to_owned());
        }
        for origin in &self.http.cors_origins {
            if origin == "*" && self.http.cors_allow_credentials {
                problems
                    .push("http.cors_origins may not contain `*` while http.cors_allow_credentials is true".to_owned());
            } else if origin == "null" {
                problems.push("http.cors_origins may not contain `null`".to_owned());
            } else if origin != "*" && !is_exact_origin(origin) {
                problems.push(format!(
                    "http.cors_origins entry {origin:?} is not an exact origin like https://app.example.com"
                ));
            }
        }
        if self.posts.upload_buffer_bytes < self.posts.upload_body_limit() {
            problems.push("posts.upload_buffer_bytes must be at least posts.upload_limit_bytes + 64 KiB".to_owned());
        }
        if self.posts.upload_body_limit() > self.http.body_limit_bytes {
            problems.push("http.body_limit_bytes must exceed posts.upload_limit_bytes by at least 64 KiB".to_owned());
        }
        if self.storage.timeout_ms == 0 || self.database.acquire_timeout_ms == 0 {
            problems.push("storage.timeout_ms and database.acquire_timeout_ms must be greater than 0".to_owned());
        }
        if !["file", "smtp"].contains(&self.mail.transport.as_str()) {
            problems.push("mail.transport must be file or smtp".to_owned());
        }
        if !["starttls", "tls", "none"].contains(&self.mail.smtp.security.as_str()) {
            problems.push("mail.smtp.security must be starttls, tls or none".to_owned());
        }
        if self.env == Environment::Production && self.mail.transport == "smtp" && self.mail.smtp.security == "none" {
            problems.push(
                "mail.smtp.security = none sends mail and credentials in clear text; refused in production".to_owned(),
            );
        }
        if !["local", "s3", "imagekit"].contains(&self.storage.driver.as_str()) {
            problems.push("storage.driver must be local, s3 or imagekit".to_owned());
        }
        if self.http.json_limit_bytes > self.http.body_limit_bytes {
            problems.push("http.json_limit_bytes may not exceed http.body_limit_bytes".to_owned());
        }
        if self.env == Environment::Production {
            if a.signing_key_file.is_none() {
                problems.push(
                    "auth.signing_key_file must be set in production (generate one with `rampart keys generate`)"
                        .to_owned(),
                );
            }
            if self.http.cors_origins.iter().any(|o| o == "*") {
                problems.push("http.cors_origins may not contain `*` in production".to_owned());
            }
            if a.argon2.memory_kib < 19456 {
                problems.push("auth.argon2.memory_kib below 19456 is refused in production".to_owned());
            }
            if !self.public_origin.starts_with("https://") {
                problems.push("public_origin must be https:// in production".to_owned());
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("refusing to start:\n  - {}", problems.join("\n  - "))
        }
    }
}

/// Secrets never reach logs through `Debug`: these settings print with their secrets masked.
fn mask(secret: &Option<String>) -> &'static str {
    if secret.is_some() { "***" } else { "unset" }
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
            .finish()
    }
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("timeout_ms", &self.timeout_ms)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &mask(&self.secret_access_key))
            .field("public_base_url", &self.public_base_url)
            .field("presign_ttl_secs", &self.presign_ttl_secs)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

impl std::fmt::Debug for ImageKitSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageKitSettings")
            .field("private_key", &mask(&self.private_key))
            .field("url_endpoint", &self.url_endpoint)
            .field("upload_url", &self.upload_url)
            .field("api_base", &self.api_base)
            .field("folder", &self.folder)
            .finish()
    }
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &mask(&self.password))
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Top-level keys that `RAMPART_*` variables may set. Other `RAMPART_*` variables (the test suite's
/// `RAMPART_TEST_*`, `RAMPART_CONFIG`) are not settings and are left alone.
const SECTIONS: [&str; 13] = [
    "env",
    "bind",
    "data_dir",
    "public_origin",
    "log",
    "database",
    "http",
    "auth",
    "limits",
    "redis",
    "storage",
    "posts",
    "mail",
];

fn is_setting(key: &figment::value::UncasedStr) -> bool {
    let key = key.as_str().to_ascii_lowercase();
    let top = key.split("__").next().unwrap_or_default();
    SECTIONS.contains(&top)
}

/// Hides the password in a URL such as `postgres://user:secret@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or_default();
            format!("{}://{}:***@{}", &url[..scheme], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

fn is_exact_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    matches!(rest, Some(host) if !host.is_empty() && !host.contains('/') && !host.contains('*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_use_the_production_argon2_parameters() {
        let s = Settings::default();
        s.validate().unwrap();
        assert_eq!(
            (
                s.auth.argon2.memory_kib,
                s.auth.argon2.iterations,
                s.auth.argon2.parallelism
            ),
            (19456, 2, 1)
        );
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn a_cors_wildcard_with_credentials_is_refused() {
        let mut s = Settings::default();
        s.http.cors_origins = vec!["*".into()];
        s.http.cors_allow_credentials = true;
        assert!(s.validate().unwrap_err().to_string().contains("cors"));
    }

    #[test]
    fn an_upload_buffer_smaller_than_one_upload_is_refused() {
        let mut s = Settings::default();
        s.posts.upload_limit_bytes = 50 * 1024 * 1024;
        s.http.body_limit_bytes = 51 * 1024 * 1024;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("upload_buffer_bytes"), "{err}");
        s.posts.upload_buffer_bytes = 50 * 1024 * 1024 + 64 * 1024;
        s.validate().unwrap();
    }

    #[test]
    fn production_without_a_signing_key_is_refused() {
        let s = Settings {
            env: Environment::Production,
            public_origin: "https://example.com".into(),
            ..Settings::default()
        };
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("signing_key_file"), "{err}");
    }

    #[test]
    fn every_top_level_setting_can_be_set_from_the_environment() {
        let value = serde_json::to_value(Settings::default()).unwrap();
        for key in value.as_object().unwrap().keys() {
            assert!(SECTIONS.contains(&key.as_str()), "{key} missing from SECTIONS");
        }
    }

    #[test]
    fn the_example_configuration_file_is_valid_and_names_every_section() {
        let example = include_str!("../deploy/rampart.toml.example");
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(example))
            .extract()
            .expect("deploy/rampart.toml.example parses");
        settings.validate().unwrap();
        let value = serde_json::to_value(Settings::default()).unwrap();
        for (key, v) in value.as_object().unwrap() {
            if v.is_object() {
                let named = example.contains(&format!("[{key}]")) || example.contains(&format!("[{key}."));
                assert!(named, "the example lacks [{key}]");
            }
        }
    }

    #[test]
    fn debug_output_masks_every_secret() {
        let mut s = Settings::default();
        s.storage.s3.secret_access_key = Some("s3-secret-value".into());
        s.storage.imagekit.private_key = Some("private_ik_value".into());
        s.mail.smtp.password = Some("smtp-secret-value".into());
        s.database.url = Some("postgres://app:db-secret-value@db/rampart".into());
        s.redis.url = Some("redis://:redis-secret-value@cache:6379".into());
        let text = format!("{s:?}");
        for secret in [
            "s3-secret-value",
            "private_ik_value",
            "smtp-secret-value",
            "db-secret-value",
            "redis-secret-value",
        ] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/rampart"),
            "postgres://app:***@db:5432/rampart"
        );
        assert_eq!(redact_url("sqlite://data/rampart.db"), "sqlite://data/rampart.db");
    }

    #[test]
    fn origins_must_be_exact() {
        for bad in ["null", "https://*.example.com", "example.com", "https://a.com/path"] {
            let mut s = Settings::default();
            s.http.cors_origins = vec![bad.into()];
            assert!(s.validate().is_err(), "{bad} should be refused");
        }
    }
}
