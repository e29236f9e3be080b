//! The logs of a whole test run, scanned for secrets (issue 14 §3). `.ci/test` runs every suite with
//! `RAMPART_TEST_LOG_DIR` set, so the in-process servers, the `rampart serve` processes and the
//! browser suite's servers log as production does (JSON, `info`; Rampart's own lines at `debug` in
//! process) into one folder; then it runs this module with `RAMPART_LOG_SCAN_DIR` naming that folder.
//!
//! A line fails when it carries an access token (a JWT), an opaque token (refresh, CSRF, mailed-link:
//! 43 characters of base64url), an email address, a `Bearer` credential, a query string with a
//! secret-named parameter, a field named like a secret, or any password the tests use (read from the
//! test sources, so a new test's password is covered without a list to maintain).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

struct Detector {
    kind: &'static str,
    pattern: Regex,
}

static DETECTORS: LazyLock<Vec<Detector>> = LazyLock::new(|| {
    let d = |kind, pattern: &str| Detector {
        kind,
        pattern: Regex::new(pattern).expect("detector pattern"),
    };
    vec![
        d(
            "access token (JWT)",
            r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*",
        ),
        // Exactly 43 characters of base64url, not part of a longer run (hex digests are 64 long).
        d(
            "opaque token",
            r"(?:^|[^A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?:[^A-Za-z0-9_-]|$)",
        ),
        d(
            "email address",
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
        ),
        d("bearer credential", r"(?i)bearer\s+[A-Za-z0-9._~+/-]{16,}"),
        d(
            "secret in a query string",
            r"(?i)[?&](?:token|code|password|secret|key|access_token|refresh_token|signature|x-amz-signature|x-amz-credential)=",
        ),
        d(
            "field named like a secret",
            r#"(?i)"(?:password|new_password|current_password|token|access_token|refresh_token|secret|authorization|cookie|set-cookie|private_key|totp_secret|recovery_code)"\s*:"#,
        ),
    ]
});

/// Every password literal in the test sources (Rust, Python, JavaScript), at least 8 characters.
fn test_passwords() -> Vec<String> {
    let literal = Regex::new(
        r#"(?i)(?:"(?:password|new_password|current_password)"\s*:\s*|PASSWORD\s*(?::\s*&str\s*)?=\s*)['"]([^'"\n]{8,})['"]"#,
    )
    .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut found: Vec<String> = files(&root)
        .into_iter()
        .filter(|p| {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or_default();
            ["rs", "py", "js"].contains(&ext) && !p.components().any(|c| c.as_os_str() == "node_modules")
        })
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|text| {
            literal
                .captures_iter(&text)
                .map(|c| c[1].to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The kinds of secret in `line`.
fn secrets_in(line: &str, passwords: &[String]) -> Vec<&'static str> {
    let mut kinds: Vec<&'static str> = DETECTORS
        .iter()
        .filter(|d| d.pattern.is_match(line))
        .map(|d| d.kind)
        .collect();
    if passwords.iter().any(|p| line.contains(p.as_str())) {
        kinds.push("a test's password");
    }
    kinds
}

#[test]
fn every_kind_of_secret_is_found_and_an_ordinary_line_passes() {
    let passwords = vec!["a long enough passphrase".to_owned()];
    let ordinary = r#"{"timestamp":"2026-12-06T02:00:00Z","level":"INFO","status":200,"elapsed_ms":1.2,"message":"request served","span":{"request_id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","method":"GET","route":"/api/v1/posts/{id}","path":"/api/v1/posts/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","user_id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c","status":200,"name":"request"},"digest":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}"#;
    assert_eq!(secrets_in(ordinary, &passwords), Vec::<&str>::new());
    let cases = [
        (
            "access token (JWT)",
            r#"{"message":"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"}"#,
        ),
        (
            "opaque token",
            r#"{"refresh":"q3Vx0bY7nTzK8fW2mP5sR9cA1dE4gH6jL0oU3iN7yXB"}"#,
        ),
        ("email address", r#"{"message":"sent to alice@example.com"}"#),
        (
            "bearer credential",
            r#"{"header":"Bearer abcdefghijklmnopqrstuvwxyz012345"}"#,
        ),
        ("secret in a query string", r#"{"path":"/verify-email?token=abc"}"#),
        ("field named like a secret", r#"{"password":"x"}"#),
        ("a test's password", r#"{"message":"a long enough passphrase"}"#),
    ];
    for (kind, line) in cases {
        assert!(
            secrets_in(line, &passwords).contains(&kind),
            "{kind} not found in {line}"
        );
    }
    // The test sources' passwords are found, so the scan knows what to look for.
    let known = test_passwords();
    assert!(known.iter().any(|p| p == "a long enough passphrase"), "{known:?}");
}

/// Excerpt of a failing line with the secret's surroundings but not the whole line (which may be long).
fn excerpt(line: &str) -> String {
    line.chars().take(300).collect()
}

#[test]
fn the_logs_of_a_full_test_run_carry_no_secrets() {
    let Ok(dir) = std::env::var("RAMPART_LOG_SCAN_DIR") else {
        println!("skipped: set RAMPART_LOG_SCAN_DIR to the RAMPART_TEST_LOG_DIR of a finished run (.ci/test does)");
        return;
    };
    let passwords = test_passwords();
    let logs: Vec<PathBuf> = files(Path::new(&dir))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    assert!(!logs.is_empty(), "no *.jsonl logs under {dir}");
    let (mut lines, mut served, mut with_user, mut problems) = (0usize, 0usize, 0usize, Vec::new());
    for path in &logs {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        for (n, line) in text.lines().enumerate() {
            lines += 1;
            let kinds = secrets_in(line, &passwords);
            if !kinds.is_empty() {
                problems.push(format!(
                    "{}:{}: {}\n    {}",
                    path.display(),
                    n + 1,
                    kinds.join(", "),
                    excerpt(line)
                ));
            }
            // Every line from a server is a JSON object (a panic's text would not be, and is a finding too).
            let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
                problems.push(format!(
                    "{}:{}: not a JSON line\n    {}",
                    path.display(),
                    n + 1,
                    excerpt(line)
                ));
                continue;
            };
            if value["message"] == "request served" {
                served += 1;
                let span = &value["span"];
                for field in ["request_id", "route", "status"] {
                    assert!(!span[field].is_null(), "{field} missing: {line}");
                }
                assert!(value["elapsed_ms"].is_number(), "latency missing: {line}");
                if span["user_id"].is_string() {
                    with_user += 1;
                }
            }
        }
    }
    println!(
        "scanned {lines} lines in {} files ({served} requests, {with_user} signed in) for {} kinds of secret and {} test passwords",
        logs.len(),
        DETECTORS.len(),
        passwords.len()
    );
    assert!(
        served > 1000,
        "only {served} requests logged: did the run keep its logs?"
    );
    assert!(with_user > 100, "only {with_user} requests carry a user id");
    assert!(
        problems.is_empty(),
        "{} log lines carry secrets or are not JSON:\n{}",
        problems.len(),
        problems.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}
