//! `[mail]`: how mail leaves (a file per message, or SMTP with its own settings) and how long mailed links
//! live. As with storage, the file's flat shape (`transport = "smtp"` beside `[mail.smtp]`) loads into an
//! enum, so the transport's name is matched once, here.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{Environment, secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "MailFile", into = "MailFile")]
pub struct MailSettings {
    pub transport: MailTransport,
    /// The sender address.
    pub from: String,
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

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum MailTransport {
    /// `.eml` files under `<data_dir>/outbox` (the default; for development and tests).
    File,
    Smtp(SmtpSettings),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    #[serde(serialize_with = "secret::masked")]
    pub password: Option<SecretString>,
    pub timeout_ms: u64,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Upgrade a plain connection with STARTTLS (the default).
    StartTls,
    /// Implicit TLS from the first byte.
    Tls,
    /// Plain text; for local relays only, refused in production.
    None,
}

impl MailSettings {
    pub(super) fn check(&self, env: Environment, problems: &mut Vec<String>) {
        let plain_smtp = matches!(&self.transport, MailTransport::Smtp(s) if s.security == SmtpSecurity::None);
        if env == Environment::Production && plain_smtp {
            problems.push(
                "mail.smtp.security = none sends mail and credentials in clear text; refused in production".to_owned(),
            );
        }
    }
}

impl MailTransport {
    /// `file` or `smtp`.
    pub fn name(&self) -> &'static str {
        match self {
            MailTransport::File => "file",
            MailTransport::Smtp(_) => "smtp",
        }
    }
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            transport: MailTransport::File,
            from: "Rampart <no-reply@localhost>".into(),
            retry_base_ms: 5_000,
            retry_max_ms: 3_600_000,
            poll_ms: 5_000,
            verify_ttl_secs: 24 * 3600,
            reset_ttl_secs: 3600,
            change_ttl_secs: 24 * 3600,
        }
    }
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            host: "localhost".into(),
            port: 587,
            security: SmtpSecurity::StartTls,
            username: None,
            password: None,
            timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TransportName {
    File,
    Smtp,
}

/// `[mail]` as the file spells it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MailFile {
    /// `file` (default) or `smtp`.
    transport: TransportName,
    from: String,
    smtp: SmtpSettings,
    retry_base_ms: u64,
    retry_max_ms: u64,
    poll_ms: u64,
    verify_ttl_secs: u64,
    reset_ttl_secs: u64,
    change_ttl_secs: u64,
}

impl From<MailFile> for MailSettings {
    fn from(file: MailFile) -> Self {
        MailSettings {
            transport: match file.transport {
                TransportName::File => MailTransport::File,
                TransportName::Smtp => MailTransport::Smtp(file.smtp),
            },
            from: file.from,
            retry_base_ms: file.retry_base_ms,
            retry_max_ms: file.retry_max_ms,
            poll_ms: file.poll_ms,
            verify_ttl_secs: file.verify_ttl_secs,
            reset_ttl_secs: file.reset_ttl_secs,
            change_ttl_secs: file.change_ttl_secs,
        }
    }
}

impl From<MailSettings> for MailFile {
    fn from(settings: MailSettings) -> Self {
        let (transport, smtp) = match settings.transport {
            MailTransport::File => (TransportName::File, SmtpSettings::default()),
            MailTransport::Smtp(smtp) => (TransportName::Smtp, smtp),
        };
        MailFile {
            transport,
            from: settings.from,
            smtp,
            retry_base_ms: settings.retry_base_ms,
            retry_max_ms: settings.retry_max_ms,
            poll_ms: settings.poll_ms,
            verify_ttl_secs: settings.verify_ttl_secs,
            reset_ttl_secs: settings.reset_ttl_secs,
            change_ttl_secs: settings.change_ttl_secs,
        }
    }
}
