//! `rampart-bench`: the load benchmark of issue 6, kept out of the test run. `bench/run` builds it
//! and calls `run`; `ceiling` is the minimal server of scenario (a), started by `run` itself.
//! See `bench/README.md` for what each scenario measures.

mod ceiling;
mod images;
mod measure;
mod memory;
mod micro;
mod pg;
mod profile;
mod quiet;
mod report;
mod rss;
mod scenarios;
mod seed;
mod server;
mod sessions;
mod wrk;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::profile::Profile;
use crate::report::{Machine, Report};
use crate::scenarios::Backend;

#[derive(Parser)]
#[command(name = "rampart-bench", about = "Load benchmark for Rampart (issue 6)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Seed, start Rampart, run every scenario, write bench/results/ and print the budget.
    Run(RunArgs),
    /// The image pipeline alone on the 2 MP upload of (g), without a server: a quick A/B of `process`.
    Pipeline {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 10)]
        secs: u64,
        /// Threads (default: `posts.image_concurrency`, the server's).
        #[arg(long)]
        threads: Option<usize>,
        /// Measurements, printed one per line.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Serve one file's bytes as JSON on every path (scenario (a); started by `run`).
    Ceiling {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        body: PathBuf,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Every scenario for about a second, two connections, 20 users and 50 posts: checks the harness.
    #[arg(long)]
    smoke: bool,
    /// Seconds per scenario (default 10, or 1 with --smoke).
    #[arg(long)]
    duration: Option<u64>,
    /// The server binary (default: `rampart` next to this binary).
    #[arg(long)]
    rampart: Option<PathBuf>,
    /// Where the markdown and JSON results go.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/results"))]
    results: PathBuf,
    /// PostgreSQL admin URL; the run creates and drops its own database. Unset: SQLite only.
    #[arg(long, env = "RAMPART_BENCH_DATABASE_URL")]
    postgres: Option<String>,
    /// Rampart's log level during the run (`info` adds one access-log line per request).
    #[arg(long, env = "RAMPART_BENCH_LOG_LEVEL", default_value = "warn")]
    log_level: String,
    /// Keep the temporary data folders (databases, media, logs, wrk scripts) for inspection.
    #[arg(long)]
    keep: bool,
    /// Run one backend only: `sqlite` or `postgres`.
    #[arg(long)]
    only: Option<String>,
    /// Extra environment for the server, e.g. `--server-env MALLOC_ARENA_MAX=2` (repeatable).
    #[arg(long, value_parser = key_value)]
    server_env: Vec<(String, String)>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ceiling { port, body } => ceiling::serve(port, &body),
        Command::Pipeline { secs, threads, rounds } => pipeline(secs, threads, rounds),
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the runtime")
            .and_then(|rt| rt.block_on(run(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the pipeline-alone rate of (g) `rounds` times.
fn pipeline(secs: u64, threads: Option<usize>, rounds: usize) -> anyhow::Result<()> {
    let posts = rampart::config::Settings::default().posts;
    let inputs = images::Inputs::generate(posts.upload_limit_bytes)?;
    let threads = threads.unwrap_or(posts.image_concurrency);
    for _ in 0..rounds {
        let rate = micro::pipeline(
            inputs.upload.clone(),
            &posts,
            threads,
            std::time::Duration::from_secs(secs),
        )?;
        println!(
            "pipeline alone, {}x{} JPEG ({} bytes), {threads} threads: {:.2}/s ({} in {:.1} s)",
            images::UPLOAD_DIMENSIONS.0,
            images::UPLOAD_DIMENSIONS.1,
            inputs.upload.len(),
            rate.per_sec,
            rate.ops,
            rate.secs
        );
    }
    Ok(())
}

/// Removes the temporary folder unless asked to keep it.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut profile = if args.smoke { Profile::smoke() } else { Profile::full() };
    if let Some(secs) = args.duration {
        profile.duration = std::time::Duration::from_secs(secs.max(1));
    }
    let rampart = match args.rampart {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("rampart"),
    };
    anyhow::ensure!(
        rampart.exists(),
        "{} not found; build it with `cargo build --release --bins --features bench`",
        rampart.display()
    );
    let work = WorkDir {
        path: std::env::temp_dir().join(format!("rampart-bench-{}", uuid::Uuid::now_v7().simple())),
        keep: args.keep,
    };
    std::fs::create_dir_all(&work.path)?;

    let started_at = now_rfc3339();
    let mut machine = Machine::probe(wrk::version());
    eprintln!("== generating input images");
    let defaults = rampart::config::Settings::default();
    let generating = std::time::Instant::now();
    let inputs = images::Inputs::generate(defaults.posts.upload_limit_bytes)?;
    eprintln!("   in {:.1} s", generating.elapsed().as_secs_f64());

    let mut backends = vec![Backend::Sqlite];
    if let Some(url) = args.postgres.filter(|u| !u.is_empty()) {
        backends.push(Backend::Postgres(url));
    }
    if let Some(only) = &args.only {
        backends.retain(|b| b.name() == only);
        anyhow::ensure!(
            !backends.is_empty(),
            "--only {only}: no such backend in this run (postgres needs RAMPART_BENCH_DATABASE_URL)"
        );
    }
    let ctx = scenarios::Ctx {
        profile: &profile,
        rampart: &rampart,
        work: &work.path,
        inputs: &inputs,
        log_level: &args.log_level,
        server_env: &args.server_env,
        keep: args.keep,
    };
    let mut reports = Vec::new();
    for backend in &backends {
        let mut r = scenarios::run(&ctx, backend).await?;
        r.budget = report::budget(&r, !profile.smoke);
        reports.push(r);
    }
    machine.load_average_end = report::load_average();

    let report = Report {
        started_at: started_at.clone(),
        mode: if profile.smoke { "smoke" } else { "full" },
        machine,
        server_env: {
            let mut env = server::rampart_env(None, &args.log_level);
            env.extend(args.server_env.iter().cloned());
            env
        },
        scenario_seconds: profile.duration.as_secs(),
        upload_image: format!(
            "{}×{} JPEG, {:.0} KiB",
            images::UPLOAD_DIMENSIONS.0,
            images::UPLOAD_DIMENSIONS.1,
            inputs.upload.len() as f64 / 1024.0
        ),
        backends: reports,
    };
    let markdown = report::markdown(&report);
    let (md, json) = write_results(&args.results, &report, &markdown)?;
    println!("{markdown}");
    println!("wrote {} and {}", md.display(), json.display());
    Ok(())
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn write_results(dir: &Path, report: &Report, markdown: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stamp: String = report
        .started_at
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    let name = format!("{stamp}-{}", report.mode);
    let md = dir.join(format!("{name}.md"));
    let json = dir.join(format!("{name}.json"));
    std::fs::write(&md, markdown).with_context(|| format!("writing {}", md.display()))?;
    std::fs::write(&json, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("writing {}", json.display()))?;
    Ok((md, json))
}
