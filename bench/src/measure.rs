//! One measurement: wait for quiet, warm up, run wrk, and record the peak RSS of the process under load.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::quiet;
use crate::report::Scenario;
use crate::rss::{PeakWatch, mib};
use crate::server::Served;
use crate::wrk::{self, Load, Script};

/// Writes one item per line; returns the path as the scripts get it.
pub fn write_lines(path: &Path, lines: impl IntoIterator<Item = String>) -> anyhow::Result<String> {
    let text: Vec<String> = lines.into_iter().collect();
    std::fs::write(path, text.join("\n") + "\n").with_context(|| format!("writing {}", path.display()))?;
    Ok(path.display().to_string())
}

/// What must be idle before a measurement starts.
#[derive(Clone, Copy)]
pub struct Quiet<'a> {
    pub rampart_pid: u32,
    /// The bench database, on PostgreSQL.
    pub postgres: Option<&'a str>,
}

impl Quiet<'_> {
    pub async fn settle(&self) {
        quiet::settle(self.rampart_pid, self.postgres).await;
    }
}

/// What the measurements of one backend run share.
pub struct Runner<'a> {
    pub rampart: &'a Served,
    /// Scripts, data files and wrk summaries go here.
    pub work: &'a Path,
    pub quiet: Quiet<'a>,
    pub duration: Duration,
    pub warmup: Duration,
}

/// Whether a scenario gets the warm-up first (the read scenarios, which change nothing).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Warm {
    Up,
    No,
}

impl Runner<'_> {
    /// A load on Rampart.
    pub async fn rampart(
        &self,
        (id, name): (&'static str, &str),
        script: Script,
        connections: u32,
        env: Vec<(&'static str, String)>,
        warm: Warm,
    ) -> anyhow::Result<Scenario> {
        let load = self.load(&self.rampart.base, script, connections, env);
        self.measure(id, name, ("rampart", self.rampart), load, warm).await
    }

    /// The same load on a ceiling server started for it, serving `body`.
    pub async fn ceiling(
        &self,
        (id, name): (&'static str, &str),
        body: &Path,
        script: Script,
        connections: u32,
        env: Vec<(&'static str, String)>,
    ) -> anyhow::Result<Scenario> {
        let ceiling = Served::ceiling(body, &self.work.join(format!("ceiling-{id}.log"))).await?;
        let load = self.load(&ceiling.base, script, connections, env);
        let result = self.measure(id, name, ("ceiling", &ceiling), load, Warm::Up).await;
        ceiling.stop()?;
        result
    }

    fn load(&self, base: &str, script: Script, connections: u32, env: Vec<(&'static str, String)>) -> Load {
        Load {
            base: base.to_owned(),
            script,
            connections,
            duration: self.duration,
            env,
        }
    }

    /// Runs one wrk load once the previous work has drained, and records the target's peak RSS.
    async fn measure(
        &self,
        id: &'static str,
        name: &str,
        (target_name, served): (&'static str, &Served),
        load: Load,
        warm: Warm,
    ) -> anyhow::Result<Scenario> {
        eprintln!(
            "   ({id}) {name}: {} connections, {} s",
            load.connections,
            load.duration.as_secs()
        );
        self.quiet.settle().await;
        if warm == Warm::Up && !self.warmup.is_zero() {
            let warm = Load {
                duration: self.warmup,
                ..load.clone()
            };
            tokio::task::block_in_place(|| wrk::run(&warm, self.work)).with_context(|| format!("warming up ({id})"))?;
            self.quiet.settle().await;
        }
        let watch = PeakWatch::start(served.pid);
        let summary = tokio::task::block_in_place(|| wrk::run(&load, self.work))
            .with_context(|| format!("scenario ({id}) {name}"))?;
        let peak = watch.finish();
        let ms = |us: u64| us as f64 / 1000.0;
        let busy = summary.mean_us * summary.requests as f64;
        let capacity = f64::from(load.connections) * summary.duration_us as f64;
        Ok(Scenario {
            id,
            name: name.to_owned(),
            target: target_name,
            connections: load.connections,
            threads: wrk::threads_for(load.connections),
            requests: summary.requests,
            per_sec: summary.per_sec(),
            p50_ms: ms(summary.p50_us),
            p90_ms: ms(summary.p90_us),
            p99_ms: ms(summary.p99_us),
            max_ms: ms(summary.max_us),
            non_2xx: summary.status,
            socket_errors: summary.socket_errors(),
            peak_rss_mib: mib(peak),
            latency_consistent: busy <= capacity * 1.1,
            wrk: summary,
        })
    }
}
