//! Driving `wrk`: one Lua script per kind of load (in `bench/lua/`, compiled in), data handed over in
//! files and environment variables, and a JSON summary written by the script's `done()`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

const COMMON: &str = include_str!("../lua/common.lua");

/// The Lua scripts, by kind of load.
#[derive(Debug, Clone, Copy)]
pub enum Script {
    Paths,
    Login,
    Refresh,
    Upload,
    Mixed,
}

impl Script {
    fn source(self) -> (&'static str, &'static str) {
        match self {
            Script::Paths => ("paths", include_str!("../lua/paths.lua")),
            Script::Login => ("login", include_str!("../lua/login.lua")),
            Script::Refresh => ("refresh", include_str!("../lua/refresh.lua")),
            Script::Upload => ("upload", include_str!("../lua/upload.lua")),
            Script::Mixed => ("mixed", include_str!("../lua/mixed.lua")),
        }
    }
}

/// One wrk invocation.
#[derive(Debug, Clone)]
pub struct Load {
    pub base: String,
    pub script: Script,
    pub connections: u32,
    pub duration: Duration,
    /// Extra `BENCH_*` variables for the script.
    pub env: Vec<(&'static str, String)>,
}

/// What the script's `done()` reports (latencies in microseconds).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Summary {
    pub duration_us: u64,
    pub requests: u64,
    pub bytes: u64,
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    /// Responses with a status of 400 or more.
    pub status: u64,
    pub timeout: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl Summary {
    pub fn socket_errors(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout
    }

    pub fn per_sec(&self) -> f64 {
        self.requests as f64 / (self.duration_us as f64 / 1e6).max(1e-9)
    }
}

/// Threads for a connection count: the machine has few cores, and wrk shares them with the server.
pub fn threads_for(connections: u32) -> u32 {
    connections.clamp(1, 2)
}

/// Runs wrk and returns the script's summary. `work` receives the script and the summary file.
pub fn run(load: &Load, work: &Path) -> anyhow::Result<Summary> {
    let (name, body) = load.script.source();
    let script = work.join(format!("{name}.lua"));
    std::fs::write(&script, format!("{COMMON}\n{body}")).context("writing the wrk script")?;
    let out: PathBuf = work.join(format!("{name}-summary.json"));
    let _ = std::fs::remove_file(&out);
    let threads = threads_for(load.connections);
    let secs = load.duration.as_secs().max(1);
    let output = Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{secs}s"))
        .arg("--timeout")
        .arg("30s")
        .arg("-s")
        .arg(&script)
        .arg(&load.base)
        .env("BENCH_OUT", &out)
        .env("BENCH_THREADS", threads.to_string())
        .envs(load.env.iter().map(|(k, v)| (*k, v)))
        .output()
        .context("running wrk (is it installed? bench/run installs it)")?;
    anyhow::ensure!(
        output.status.success(),
        "wrk failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&out).with_context(|| {
        format!(
            "wrk wrote no summary:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("reading the wrk summary {text:?}"))
}

/// wrk's version line, for the report.
pub fn version() -> String {
    Command::new("wrk")
        .arg("-v")
        .output()
        .ok()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or_default().trim().to_owned()
        })
        .unwrap_or_else(|| "wrk not found".to_owned())
}
