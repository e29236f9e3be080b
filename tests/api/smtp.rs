//! A real SMTP server for mail tests: aiosmtpd (PyPI) writing what it receives to a Maildir.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// A received message, decoded enough to assert on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMail {
    pub to: String,
    pub subject: String,
    /// The decoded body with `\n` line ends.
    pub body: String,
}

/// An aiosmtpd process on `127.0.0.1:<port>`, killed when dropped.
pub struct SmtpServer {
    pub port: u16,
    maildir: PathBuf,
    _child: Child,
    _dir: tempfile::TempDir,
}

/// Whether `python3` can import aiosmtpd; tests print `skipped: pip install aiosmtpd` without it.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::process::Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    })
}

/// A port nothing listens on at the moment.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl SmtpServer {
    /// Starts the server and waits until it accepts connections.
    pub async fn start(port: u16) -> SmtpServer {
        let dir = tempfile::tempdir().expect("temp dir");
        // Python's Maildir creates new/, cur/ and tmp/ only for a folder that does not exist yet.
        let maildir = dir.path().join("maildir");
        let mut child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting python3 -m aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = stderr.read_to_string(&mut err).await;
                }
                panic!("aiosmtpd exited ({status}): {err}");
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on {port} within 15 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        SmtpServer {
            port,
            maildir,
            _child: child,
            _dir: dir,
        }
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<ParsedMail> {
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) {
                files.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
            }
        }
        files.sort();
        files.iter().map(|p| parse_file(p)).collect()
    }

    /// Waits until at least `n` messages arrived or `timeout` passed; returns what arrived.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ParsedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn parse_file(path: &Path) -> ParsedMail {
    parse(&std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())))
}

/// Parses a single-part text message: headers (unfolded), then the body decoded from 7bit,
/// quoted-printable or base64.
pub fn parse(raw: &[u8]) -> ParsedMail {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let body = match header("content-transfer-encoding").to_ascii_lowercase().as_str() {
        "quoted-printable" => decode_quoted_printable(body),
        "base64" => {
            use base64::Engine;
            let compact: String = body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .expect("base64 body");
            String::from_utf8(bytes).expect("utf-8 body").replace("\r\n", "\n")
        }
        _ => body.to_owned(),
    };
    ParsedMail {
        to: header("to"),
        subject: header("subject"),
        body,
    }
}

fn decode_quoted_printable(body: &str) -> String {
    let mut out = Vec::new();
    for line in body.split('\n') {
        let (line, soft) = match line.strip_suffix('=') {
            Some(rest) => (rest, true),
            None => (line, false),
        };
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let escaped = (bytes[i] == b'=')
                .then(|| line.get(i + 1..i + 3))
                .flatten()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok());
            if let Some(byte) = escaped {
                out.push(byte);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        if !soft {
            out.push(b'\n');
        }
    }
    out.pop();
    String::from_utf8(out).expect("utf-8 body")
}
