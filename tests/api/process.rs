//! Real `rampart` processes and a private PostgreSQL server, for tests that span processes: several
//! instances, and a database that goes away and comes back.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A `rampart serve` child process on its own port and data folder.
pub struct Instance {
    pub url: String,
    child: tokio::process::Child,
    log: PathBuf,
}

impl Instance {
    /// Starts `rampart serve` with a clean environment plus `env`, and waits until `/healthz` answers.
    pub async fn start(dir: &Path, env: &[(&str, String)]) -> Instance {
        let port = free_port();
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.join("serve.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RAMPART_") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(dir)
            .env("RAMPART_AUTH__ARGON2__MEMORY_KIB", "256")
            .env("RAMPART_AUTH__ARGON2__ITERATIONS", "1")
            .env("RAMPART_LOG__LEVEL", "warn")
            .env("RAMPART_METRICS__BIND", "127.0.0.1:0")
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir.join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        // Kept for the scan of the whole run's logs (`log_scan.rs`), as production writes them.
        if let Some(logs) = std::env::var("RAMPART_TEST_LOG_DIR").ok().filter(|d| !d.is_empty()) {
            std::fs::create_dir_all(&logs).unwrap();
            let path = Path::new(&logs).join(format!("instance-{}-{port}.jsonl", std::process::id()));
            cmd.env("RAMPART_LOG__LEVEL", "info")
                .env("RAMPART_LOG__FORMAT", "json")
                .stdout(std::fs::File::create(path).unwrap());
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
            .expect("rampart starts");
        let mut instance = Instance {
            url: format!("http://127.0.0.1:{port}"),
            child,
            log,
        };
        instance.wait_healthy().await;
        instance
    }

    /// `start` with owned arguments, for starting several at once.
    pub async fn start_owned(dir: PathBuf, env: Vec<(&'static str, String)>) -> Instance {
        Instance::start(&dir, &env).await
    }

    async fn wait_healthy(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = client.get(format!("{}/healthz", self.url)).send().await
                && res.status().is_success()
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("rampart exited with {status}: {}", self.log());
            }
            assert!(Instant::now() < deadline, "rampart not healthy in 30 s: {}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asks the process to stop (SIGTERM), as an orchestrator would, and waits until it exits cleanly.
    pub async fn terminate(&mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on our own child's pid; a process that already exited is reported as ESRCH.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("rampart stops within 30 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "rampart exited with {status}: {}", self.log());
    }

    /// Kills the process at once (SIGKILL), as a crash would, and waits for it to go.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// What the process wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A PostgreSQL server of the test's own, which it may stop and start. Needs `RAMPART_TEST_PG_BIN`
/// (the folder holding `initdb` and `pg_ctl`).
pub struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    pub port: u16,
    _root: tempfile::TempDir,
}

impl PrivatePostgres {
    /// Initialises and starts a server, or `None` (after printing why) without `RAMPART_TEST_PG_BIN`.
    pub fn start() -> Option<PrivatePostgres> {
        let Ok(bin) = std::env::var("RAMPART_TEST_PG_BIN") else {
            println!("skipped: set RAMPART_TEST_PG_BIN to the folder holding initdb and pg_ctl");
            return None;
        };
        let root = tempfile::tempdir().unwrap();
        // PostgreSQL refuses to run as root; the server runs as `postgres`, which must reach the folder.
        set_mode(root.path(), 0o777);
        let data = root.path().join("pgdata");
        let pg = PrivatePostgres {
            bin: PathBuf::from(bin),
            data,
            port: free_port(),
            _root: root,
        };
        pg.run(
            "initdb",
            &["-A", "trust", "-U", "postgres", "-D", pg.data.to_str().unwrap()],
        );
        pg.ctl_start();
        Some(pg)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A PostgreSQL tool, run as `postgres` when the tests run as root.
    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("postgres tool runs");
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn ctl_start(&self) {
        let opts = format!("-p {} -k /tmp -c listen_addresses=127.0.0.1", self.port);
        let log = self.data.parent().unwrap().join("pg.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server at once, as a crash or network loss would look to clients.
    pub fn ctl_stop(&self) {
        self.run(
            "pg_ctl",
            &["-D", self.data.to_str().unwrap(), "-m", "immediate", "-w", "stop"],
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
