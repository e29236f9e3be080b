//! Outbound mail: the outbox, the background sender and both transports, against a real SMTP server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart::config::{MailTransport, Settings, SmtpSecurity, SmtpSettings};
use rampart::domain::now;
use time::OffsetDateTime;

/// `n` milliseconds.
fn ms(n: i64) -> time::Duration {
    time::Duration::milliseconds(n)
}
use rampart::mail::transport::Transport;
use rampart::mail::{Message, sender, templates};
use rampart::store::outbox::{self, OutboxRow};

use crate::helpers::{TestApp, spawn_app_with};
use crate::smtp::{self, SmtpServer};

const RETRY_BASE_MS: u64 = 200;
const POLL_MS: u64 = 100;

/// Plain SMTP to `127.0.0.1:<port>`, with quick polling and retries.
fn smtp_to(port: u16) -> impl FnOnce(&mut Settings) {
    move |s| {
        s.mail.transport = MailTransport::Smtp(SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            security: SmtpSecurity::None,
            timeout_ms: 5_000,
            ..SmtpSettings::default()
        });
        s.mail.from = "Rampart <no-reply@rampart.test>".into();
        s.mail.poll_ms = POLL_MS;
        s.mail.retry_base_ms = RETRY_BASE_MS;
        s.mail.retry_max_ms = 1_000;
    }
}

fn skip_without_aiosmtpd() -> bool {
    if smtp::available() {
        return false;
    }
    eprintln!("skipped: pip install aiosmtpd");
    true
}

/// A reset message as the account flows send it; its link is longer than a mail line, so it is
/// transfer-encoded and the test checks it survives.
fn reset_message(to: &str) -> Message {
    let token = "k".repeat(43);
    templates::reset_password("http://127.0.0.1:8080", to, "ann", &token, 60)
}

async fn outbox_rows(app: &TestApp) -> Vec<OutboxRow> {
    use rampart::store::Exec;
    let sql = format!("SELECT {} FROM outbox ORDER BY created_at, id", OutboxRow::columns());
    (app.state.db()).fetch_all(&sql, &[]).await.unwrap()
}

/// Waits until `done` holds for the outbox rows, or fails after `timeout`.
async fn wait_for_rows(app: &TestApp, timeout: Duration, what: &str, done: impl Fn(&[OutboxRow]) -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        let rows = outbox_rows(app).await;
        if done(&rows) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; outbox: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Queues a row that falls due only at `at`, so the app's own sender leaves it alone until then.
async fn insert_due_at(app: &TestApp, to: &str, at: OffsetDateTime) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    app.exec(
        "INSERT INTO outbox (id, to_address, subject, body_text, created_at, next_attempt_at) \
         VALUES ($1, $2, 'subject', 'text', $3, $4)",
        rampart::args![id, to, now(), at],
    )
    .await;
    id
}

fn same_text(a: &str, b: &str) -> bool {
    a.replace("\r\n", "\n").trim_end() == b.replace("\r\n", "\n").trim_end()
}

#[tokio::test]
async fn queued_mail_arrives_at_the_smtp_server() {
    if skip_without_aiosmtpd() {
        return;
    }
    // Arrange
    let server = SmtpServer::start(smtp::free_port()).await;
    let app = spawn_app_with(smtp_to(server.port)).await;
    let message = reset_message("ann@example.com");

    // Act
    app.state.mailer().queue(app.state.db(), &message).await.unwrap();

    // Assert
    let got = server.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 1, "one message delivered");
    assert_eq!(got[0].to, "ann@example.com");
    assert_eq!(got[0].subject, message.subject);
    assert!(
        same_text(&got[0].body, &message.text),
        "body survives transfer encoding:\n{}\n---\n{}",
        got[0].body,
        message.text
    );
    wait_for_rows(&app, Duration::from_secs(5), "the row marked sent", |rows| {
        rows.len() == 1 && rows[0].sent_at.is_some()
    })
    .await;
    let row = &outbox_rows(&app).await[0];
    assert_eq!(row.attempts, 1);
    assert_eq!((row.locked_until, row.last_error.as_deref()), (None, None));
    assert!(
        outbox::pending_for(app.state.db(), "ann@example.com")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn mail_queued_while_the_server_is_down_is_delivered_once_when_it_returns() {
    if skip_without_aiosmtpd() {
        return;
    }
    // Arrange: nothing listens on the port yet.
    let port = smtp::free_port();
    let app = spawn_app_with(smtp_to(port)).await;
    let message = reset_message("bob@example.com");
    app.state.mailer().queue(app.state.db(), &message).await.unwrap();
    wait_for_rows(&app, Duration::from_secs(10), "a failed attempt", |rows| {
        rows.len() == 1 && rows[0].attempts >= 1 && rows[0].last_error.is_some()
    })
    .await;
    let failed = &outbox_rows(&app).await[0];
    assert!(failed.sent_at.is_none());
    let error = failed.last_error.as_deref().unwrap_or_default();
    assert!(
        error.contains(&format!("127.0.0.1:{port}")),
        "the error names the server: {error}"
    );
    assert!(failed.next_attempt_at > failed.created_at, "a retry is scheduled later");
    assert_eq!(
        outbox::pending_for(app.state.db(), "bob@example.com")
            .await
            .unwrap()
            .len(),
        1
    );

    // Act: the server comes up.
    let server = SmtpServer::start(port).await;

    // Assert: exactly one delivery, and no second one after further retry periods.
    let got = server.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "delivered after the outage");
    tokio::time::sleep(Duration::from_millis(2 * RETRY_BASE_MS + 3 * POLL_MS)).await;
    let got = server.messages();
    assert_eq!(got.len(), 1, "delivered exactly once: {got:#?}");
    assert_eq!(got[0].to, "bob@example.com");
    assert_eq!(got[0].subject, message.subject);
    wait_for_rows(&app, Duration::from_secs(5), "the row marked sent", |rows| {
        rows[0].sent_at.is_some()
    })
    .await;
    let row = &outbox_rows(&app).await[0];
    assert!(
        row.attempts >= 2,
        "one failed attempt and one delivery, got {}",
        row.attempts
    );
    assert_eq!(row.locked_until, None);
}

#[tokio::test]
async fn the_file_transport_writes_a_private_eml_file() {
    // Arrange: the default transport is `file`.
    let app = spawn_app_with(|s| s.mail.poll_ms = POLL_MS).await;
    assert_eq!(app.state.settings().mail.transport.name(), "file");
    let message = reset_message("cat@example.com");
    let outbox_dir = app.dir.path().join("outbox");

    // Act
    app.state.mailer().queue(app.state.db(), &message).await.unwrap();

    // Assert
    let deadline = Instant::now() + Duration::from_secs(10);
    let path = loop {
        let found = std::fs::read_dir(&outbox_dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if let Some(p) = found.first() {
            assert_eq!(found.len(), 1, "one file per message");
            break p.clone();
        }
        assert!(Instant::now() < deadline, "no .eml file under {}", outbox_dir.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let name = path.file_name().unwrap().to_str().unwrap().to_owned();
    let (ms, rest) = name.split_once('-').expect("<unix-ms>-<id>.eml");
    assert!(
        ms.parse::<i64>().is_ok_and(|ms| ms <= rampart::domain::unix_ms(now())),
        "{name}"
    );
    assert!(rest.len() > ".eml".len(), "{name}");

    let raw = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&raw);
    for header in ["From: ", "Date: ", "Message-ID: <", "Content-Type: text/plain"] {
        assert!(text.contains(header), "{header:?} missing:\n{text}");
    }
    let parsed = smtp::parse(&raw);
    assert_eq!(parsed.to, "cat@example.com");
    assert_eq!(parsed.subject, message.subject);
    assert!(same_text(&parsed.body, &message.text), "body:\n{}", parsed.body);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "readable by the owner only");
        let dir_mode = std::fs::metadata(&outbox_dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700, "the outbox folder is private");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&outbox_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path() != path)
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left: {leftovers:?}");
    wait_for_rows(&app, Duration::from_secs(5), "the row marked sent", |rows| {
        rows.len() == 1 && rows[0].sent_at.is_some()
    })
    .await;
}

#[tokio::test]
async fn several_senders_over_one_database_deliver_each_message_once() {
    if skip_without_aiosmtpd() {
        return;
    }
    // Arrange: the app's own sender plus two more, all racing over the same outbox.
    let server = SmtpServer::start(smtp::free_port()).await;
    let app = spawn_app_with(smtp_to(server.port)).await;
    let extra: Vec<_> = (0..2)
        .map(|_| {
            let transport = Arc::new(Transport::from_settings(app.state.settings()).unwrap());
            sender::spawn(app.state.clone(), transport)
        })
        .collect();
    let count = 30;

    // Act
    for i in 0..count {
        let message = Message {
            to: format!("user{i}@example.com"),
            subject: format!("message {i:02}"),
            text: format!("body {i}\n"),
        };
        app.state.mailer().queue(app.state.db(), &message).await.unwrap();
    }

    // Assert
    let got = server.wait_for(count, Duration::from_secs(30)).await;
    assert_eq!(got.len(), count, "all delivered");
    tokio::time::sleep(Duration::from_millis(2 * RETRY_BASE_MS + 3 * POLL_MS)).await;
    let mut subjects: Vec<String> = server.messages().into_iter().map(|m| m.subject).collect();
    subjects.sort();
    let expected: Vec<String> = (0..count).map(|i| format!("message {i:02}")).collect();
    assert_eq!(subjects, expected, "each message exactly once");
    wait_for_rows(&app, Duration::from_secs(5), "every row marked sent", |rows| {
        rows.len() == count && rows.iter().all(|r| r.sent_at.is_some())
    })
    .await;
    assert!(
        outbox_rows(&app).await.iter().all(|r| r.attempts == 1),
        "no message was attempted twice"
    );
    for handle in extra {
        handle.stop().await;
    }
}

#[tokio::test]
async fn only_one_of_many_concurrent_claims_on_a_message_wins() {
    // Arrange: the test drives the claims with its own clock, an hour ahead.
    let app = spawn_app_with(|s| s.mail.poll_ms = 3_600_000).await;
    let db = app.state.db();
    let later = now() + ms(3_600_000);
    let id = insert_due_at(&app, "dan@example.com", later).await;
    let at = later + ms(1);
    assert!(
        !outbox::claim(db, id, later - ms(1), ms(60_000)).await.unwrap(),
        "not due yet"
    );
    assert_eq!(outbox::due(db, at, 10).await.unwrap().len(), 1);

    // Act
    let claims = futures::future::join_all((0..8).map(|_| outbox::claim(db, id, at, ms(60_000)))).await;

    // Assert
    let won = claims.into_iter().map(Result::unwrap).filter(|&won| won).count();
    assert_eq!(won, 1, "exactly one claimer wins");
    assert!(
        outbox::due(db, at + ms(1), 10).await.unwrap().is_empty(),
        "a held row is not due"
    );
    assert!(
        !outbox::claim(db, id, at + ms(59_999), ms(60_000)).await.unwrap(),
        "the lease holds"
    );
    assert!(
        outbox::claim(db, id, at + ms(60_001), ms(60_000)).await.unwrap(),
        "an expired lease (a crashed sender) can be taken over"
    );
    outbox::mark_failed(db, id, "refused", at + ms(1_000)).await.unwrap();
    let row = outbox::find(db, id).await.unwrap().unwrap();
    assert_eq!((row.attempts, row.locked_until), (1, None));
    assert_eq!(row.last_error.as_deref(), Some("refused"));
    assert!(outbox::claim(db, id, at + ms(1_000), ms(60_000)).await.unwrap());
    outbox::mark_sent(db, id, at + ms(1_001)).await.unwrap();
    assert!(
        !outbox::claim(db, id, at + ms(10_000_000), ms(60_000)).await.unwrap(),
        "a sent message is never claimed"
    );
    let row = outbox::find(db, id).await.unwrap().unwrap();
    assert_eq!((row.attempts, row.sent_at), (2, Some(at + ms(1_001))));
}

#[tokio::test]
async fn pending_mail_to_an_address_can_be_dropped() {
    let app = spawn_app_with(|s| s.mail.poll_ms = 3_600_000).await;
    let db = app.state.db();
    for to in ["eve@example.com", "eve@example.com", "fay@example.com"] {
        insert_due_at(&app, to, now() + ms(3_600_000)).await;
    }

    assert_eq!(outbox::pending_for(db, "eve@example.com").await.unwrap().len(), 2);
    assert_eq!(outbox::delete_pending_for(db, "eve@example.com").await.unwrap(), 2);
    assert!(outbox::pending_for(db, "eve@example.com").await.unwrap().is_empty());
    assert_eq!(outbox::pending_for(db, "fay@example.com").await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_invalid_mail_configuration_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(dir.path());
    settings.mail.from = "not an address".into();
    let err = rampart::startup::Application::build(settings)
        .await
        .err()
        .expect("build refuses");
    assert!(format!("{err:#}").contains("mail.from"), "{err:#}");
}

#[tokio::test]
async fn registering_while_the_mail_server_is_down_answers_as_usual_and_mails_once_it_returns() {
    if skip_without_aiosmtpd() {
        return;
    }
    let port = smtp::free_port();
    let app = spawn_app_with(smtp_to(port)).await;
    let res = app
        .register_raw("outage_user", "outage@example.com", "a long enough passphrase")
        .await;
    assert_eq!(
        res.status(),
        reqwest::StatusCode::CREATED,
        "registration does not wait for mail"
    );
    wait_for_rows(&app, Duration::from_secs(10), "a failed attempt", |rows| {
        rows.iter().any(|r| r.last_error.is_some())
    })
    .await;

    let server = SmtpServer::start(port).await;
    let got = server.wait_for(1, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(2 * RETRY_BASE_MS + 3 * POLL_MS)).await;
    let got_later = server.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got_later.len(), 1, "exactly one mail: {got_later:#?}");
    assert_eq!(got_later[0].to, "outage@example.com");
    assert!(got_later[0].subject.contains("Confirm your email"));
    assert!(
        got_later[0].body.contains("/verify-email?token="),
        "the link survives transfer encoding"
    );
}
