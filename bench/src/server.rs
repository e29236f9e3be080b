//! The processes under load: Rampart itself (`rampart serve` with bench limits) and the ceiling server.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// Token-bucket limits raised so that the load measures work, not refusals.
const LIMITS: [&str; 6] = [
    "REGISTER_PER_IP",
    "LOGIN_PER_IP",
    "REFRESH_PER_IP",
    "REFRESH_PER_SESSION",
    "LOGIN_FAILURES_PER_ACCOUNT_IP",
    "LOGIN_FAILURES_PER_ACCOUNT",
];

/// A child process serving HTTP on loopback.
pub struct Served {
    child: Child,
    pub pid: u32,
    pub base: String,
    log: PathBuf,
}

/// A free loopback port (there is a small window before the child binds it).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The environment Rampart runs with in the bench, shown in the report.
pub fn rampart_env(database_url: Option<&str>, log_level: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("RAMPART_ENV".to_owned(), "development".to_owned()),
        ("RAMPART_LOG__LEVEL".to_owned(), log_level.to_owned()),
        // Metrics as deployed (on, own listener); `--server-env RAMPART_METRICS__ENABLED=false` for the A/B.
        ("RAMPART_METRICS__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("RAMPART_POSTS__POSTS_PER_HOUR".to_owned(), "1000000000".to_owned()),
        ("RAMPART_POSTS__BYTES_PER_DAY".to_owned(), "1000000000000000".to_owned()),
    ];
    for limit in LIMITS {
        env.push((format!("RAMPART_LIMITS__{limit}__BURST"), "1000000000".to_owned()));
        env.push((format!("RAMPART_LIMITS__{limit}__PER_SECS"), "1".to_owned()));
    }
    if let Some(url) = database_url {
        env.push(("RAMPART_DATABASE__URL".to_owned(), url.to_owned()));
    }
    env
}

impl Served {
    /// Starts `rampart serve` on a fresh port in `data_dir` and waits for `/readyz`.
    pub async fn rampart(
        binary: &Path,
        data_dir: &Path,
        env: &[(String, String)],
        log_name: &str,
    ) -> anyhow::Result<Served> {
        let port = free_port()?;
        let mut cmd = Command::new(binary);
        cmd.arg("serve")
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            // No `./rampart.toml` of the caller's is picked up.
            .current_dir(data_dir);
        for (key, _) in std::env::vars() {
            if key.starts_with("RAMPART_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        Served::spawn(cmd, port, &data_dir.join(log_name), "/readyz").await
    }

    /// Starts this binary's `ceiling` command serving `body`.
    pub async fn ceiling(body: &Path, log: &Path) -> anyhow::Result<Served> {
        let port = free_port()?;
        let mut cmd = Command::new(std::env::current_exe().context("locating rampart-bench")?);
        cmd.arg("ceiling")
            .arg("--port")
            .arg(port.to_string())
            .arg("--body")
            .arg(body);
        Served::spawn(cmd, port, log, "/").await
    }

    async fn spawn(mut cmd: Command, port: u16, log: &Path, ready_path: &str) -> anyhow::Result<Served> {
        let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        let child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
        let mut served = Served {
            pid: child.id(),
            child,
            base: format!("http://127.0.0.1:{port}"),
            log: log.to_path_buf(),
        };
        served.wait_ready(ready_path).await?;
        Ok(served)
    }

    async fn wait_ready(&mut self, path: &str) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("{}{path}", self.base);
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "the server exited with {status} before it was ready:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(res) = client.get(&url).send().await
                && res.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!("the server did not become ready in 60 s:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The end of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then up to 30 s for the drain, then SIGKILL. Errors if the process had already died.
    pub fn stop(mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!("the server had exited ({status}) during the run:\n{}", self.log_tail());
        }
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Only reached on an error path: never leave a server behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
