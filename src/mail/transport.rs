//! Where mail goes: `.eml` files under `<data_dir>/outbox` (development, tests) or an SMTP relay.
//! Both render the same RFC 5322 message with lettre, so a file shows exactly what SMTP would send.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use super::Message;
use crate::config::{MailTransport, Settings, SmtpSecurity, SmtpSettings};

/// Why a message was not delivered. The text never contains the SMTP password.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// What went wrong, fit to store in `outbox.last_error`.
    pub message: String,
    /// Retrying soon will not help (a malformed address, a 5xx reply): the sender waits the longest
    /// retry delay before the next attempt.
    pub permanent: bool,
}

impl SendError {
    fn transient(message: impl Into<String>) -> SendError {
        SendError {
            message: message.into(),
            permanent: false,
        }
    }

    fn permanent(message: impl Into<String>) -> SendError {
        SendError {
            message: message.into(),
            permanent: true,
        }
    }
}

/// The configured way of delivering mail.
pub enum Transport {
    /// Writes each message to `<dir>/<unix-ms>-<id>.eml`, readable by the owner only.
    File { dir: PathBuf },
    /// Hands each message to an SMTP server over pooled connections.
    Smtp(SmtpTransport),
}

/// An SMTP client and what is needed to keep its secret out of error text.
pub struct SmtpTransport {
    client: AsyncSmtpTransport<Tokio1Executor>,
    host: String,
    port: u16,
    password: Option<SecretString>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::File { dir } => f.debug_struct("File").field("dir", dir).finish(),
            Transport::Smtp(s) => f
                .debug_struct("Smtp")
                .field("host", &s.host)
                .field("port", &s.port)
                .finish_non_exhaustive(),
        }
    }
}

impl Transport {
    /// Builds the transport named by `mail.transport`, checking the sender address and SMTP settings
    /// so that a bad configuration stops start-up. Touches neither the disk nor the network.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Transport> {
        let mail = &settings.mail;
        mail.from
            .parse::<Mailbox>()
            .with_context(|| format!("mail.from {:?} is not a valid address", mail.from))?;
        match &mail.transport {
            MailTransport::File => Ok(Transport::File {
                dir: settings.data_dir.join("outbox"),
            }),
            MailTransport::Smtp(smtp) => Ok(Transport::Smtp(smtp_from_settings(smtp)?)),
        }
    }

    /// `file` or `smtp`, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Transport::File { .. } => "file",
            Transport::Smtp(_) => "smtp",
        }
    }

    /// Delivers `message` from `from` (a mailbox such as `Rampart <no-reply@example.com>`).
    pub async fn send(&self, message: &Message, from: &str) -> Result<(), SendError> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let email = render(message, from, &id)?;
        match self {
            Transport::File { dir } => write_eml(dir, &id, email.formatted()).await,
            Transport::Smtp(smtp) => smtp.client.send(email).await.map(drop).map_err(|e| smtp.error(&e)),
        }
    }

    /// Whether mail could leave now, without sending any: for SMTP a connection that gets through
    /// TLS and authentication, for files a folder this process can write. For `rampart doctor`.
    pub async fn check(&self) -> Result<String, SendError> {
        match self {
            Transport::File { dir } => {
                let probe = dir.join(format!(".doctor-{}", uuid::Uuid::now_v7().simple()));
                let written = tokio::fs::create_dir_all(dir)
                    .await
                    .and(tokio::fs::write(&probe, b"").await);
                let _ = tokio::fs::remove_file(&probe).await;
                written
                    .map(|()| format!("files in {}", dir.display()))
                    .map_err(|e| SendError::transient(format!("cannot write to {}: {e}", dir.display())))
            }
            Transport::Smtp(smtp) => match smtp.client.test_connection().await {
                Ok(true) => Ok(format!("SMTP {}:{} accepted a connection", smtp.host, smtp.port)),
                Ok(false) => Err(SendError::transient(format!(
                    "smtp {}:{}: the server did not answer NOOP",
                    smtp.host, smtp.port
                ))),
                Err(e) => Err(smtp.error(&e)),
            },
        }
    }

    /// Closes pooled SMTP connections politely (QUIT); a no-op for files.
    pub async fn shutdown(&self) {
        if let Transport::Smtp(smtp) = self {
            smtp.client.shutdown().await;
        }
    }
}

fn smtp_from_settings(s: &SmtpSettings) -> anyhow::Result<SmtpTransport> {
    anyhow::ensure!(
        !s.host.trim().is_empty(),
        "mail.smtp.host must be set for the smtp transport"
    );
    anyhow::ensure!(s.timeout_ms > 0, "mail.smtp.timeout_ms must be at least 1");
    let builder = match s.security {
        SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
            .with_context(|| format!("preparing STARTTLS for {}", s.host))?,
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)
            .with_context(|| format!("preparing TLS for {}", s.host))?,
        SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
    };
    let mut builder = builder.port(s.port).timeout(Some(Duration::from_millis(s.timeout_ms)));
    let password = s.password.clone();
    match (&s.username, &password) {
        (Some(user), password) => {
            let secret = password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), secret));
        }
        (None, Some(_)) => anyhow::bail!("mail.smtp.password is set without mail.smtp.username"),
        (None, None) => {}
    }
    Ok(SmtpTransport {
        client: builder.build(),
        host: s.host.clone(),
        port: s.port,
        password,
    })
}

impl SmtpTransport {
    fn error(&self, e: &lettre::transport::smtp::Error) -> SendError {
        let mut text = format!("smtp {}:{}: {}", self.host, self.port, chain(e));
        if let Some(password) = &self.password {
            text = redact(&text, password.expose_secret());
        }
        if e.is_permanent() {
            SendError::permanent(text)
        } else {
            SendError::transient(text)
        }
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // lettre's Display already appends the first cause.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Replaces the secret in `text`, also in the base64 forms AUTH PLAIN and AUTH LOGIN put on the wire.
fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    text.replace(secret, "***").replace(&b64, "***")
}

/// The RFC 5322 message, with a Message-ID built from `id` on the sender's domain.
fn render(message: &Message, from: &str, id: &str) -> Result<lettre::Message, SendError> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| SendError::permanent(format!("invalid sender address: {e}")))?;
    let to: Mailbox = message
        .to
        .parse()
        .map_err(|e| SendError::permanent(format!("invalid recipient address: {e}")))?;
    let message_id = format!("<{id}@{}>", from.email.domain());
    lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(message.subject.as_str())
        .message_id(Some(message_id))
        .header(ContentType::TEXT_PLAIN)
        .body(message.text.clone())
        .map_err(|e| SendError::permanent(format!("building the message: {e}")))
}

/// Writes the file under a temporary name and renames it, so a reader never sees half a message.
async fn write_eml(dir: &Path, id: &str, bytes: Vec<u8>) -> Result<(), SendError> {
    let dir = dir.to_path_buf();
    let name = format!("{}-{id}.eml", crate::domain::unix_ms(crate::domain::now()));
    tokio::task::spawn_blocking(move || write_private(&dir, &name, &bytes))
        .await
        .map_err(|e| SendError::transient(format!("writing the message: {e}")))?
        .map_err(|e| SendError::transient(format!("writing the message: {e:#}")))
}

fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    crate::store::ensure_private_dir(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = (|| {
        let mut file = options
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, dir.join(name)).with_context(|| format!("renaming {}", tmp.display()))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_appears_in_error_text_plain_or_base64() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode("hunter22");
        let text = redact(&format!("535 auth failed for hunter22 ({b64})"), "hunter22");
        assert_eq!(text, "535 auth failed for *** (***)");
        assert_eq!(redact("nothing to hide", ""), "nothing to hide");
    }

    #[test]
    fn a_message_renders_as_rfc_5322_with_its_headers() {
        let m = Message {
            to: "ann@example.com".into(),
            subject: "Reset your password".into(),
            text: "Hello\n".into(),
        };
        let email = render(&m, "Rampart <no-reply@example.org>", "abc").unwrap();
        let text = String::from_utf8(email.formatted()).unwrap();
        for header in [
            "From: Rampart <no-reply@example.org>\r\n",
            "To: ann@example.com\r\n",
            "Subject: Reset your password\r\n",
            "Message-ID: <abc@example.org>\r\n",
            "Date: ",
        ] {
            assert!(text.contains(header), "{header:?} missing from:\n{text}");
        }
    }

    #[test]
    fn a_malformed_recipient_is_a_permanent_failure() {
        let m = Message {
            to: "not an address".into(),
            subject: "s".into(),
            text: "t".into(),
        };
        let err = render(&m, "no-reply@example.org", "abc").unwrap_err();
        assert!(err.permanent);
    }

    #[test]
    fn a_bad_configuration_is_refused() {
        type Tweak = fn(&mut Settings);
        // An unknown security mode no longer reaches this far: loading refuses it (see `config`).
        let cases: [(&str, Tweak); 2] = [
            ("invalid from", |s| s.mail.from = "not an address".into()),
            ("password without user", |s| {
                s.mail.transport = MailTransport::Smtp(SmtpSettings {
                    password: Some("secret".into()),
                    ..SmtpSettings::default()
                });
            }),
        ];
        for (name, tweak) in cases {
            let mut settings = Settings::default();
            tweak(&mut settings);
            assert!(Transport::from_settings(&settings).is_err(), "{name}");
        }
    }
}
