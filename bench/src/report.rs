//! Results: the JSON document, the markdown table, and the budget of issue 6 §3 as PASS/MISS lines.

use std::fmt::Write as _;

use serde::Serialize;

use crate::micro::{Rate, combined};
use crate::wrk::Summary;

/// One measured scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// `a`, `b`, `c`, `d1` … as in issue 6.
    pub id: &'static str,
    pub name: String,
    /// `ceiling` or `rampart`.
    pub target: &'static str,
    pub connections: u32,
    pub threads: u32,
    pub requests: u64,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Responses with status ≥ 400.
    pub non_2xx: u64,
    /// Connect, read, write errors and timeouts.
    pub socket_errors: u64,
    /// Peak RSS of the process under load during the scenario.
    pub peak_rss_mib: f64,
    /// Whether wrk's latencies add up: in a closed loop their sum cannot exceed connections ×
    /// duration. Where they do not (seen with heavy tails, e.g. uploads mixed with reads), wrk's
    /// percentiles are not to be trusted; the mean is then better taken as connections ÷ req/s.
    pub latency_consistent: bool,
    pub wrk: Summary,
}

impl Scenario {
    pub fn errors(&self) -> u64 {
        self.non_2xx + self.socket_errors
    }
}

/// The parallel-upload memory check.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryCheck {
    pub uploads: usize,
    pub image_bytes: usize,
    pub image_dimensions: (u32, u32),
    pub upload_limit_bytes: usize,
    pub baseline_rss_mib: f64,
    pub peak_rss_mib: f64,
    pub growth_mib: f64,
    /// `uploads × upload_limit_bytes`.
    pub bound_mib: f64,
    pub statuses: Vec<u16>,
    pub seconds: f64,
    /// RSS a moment (`Profile::pause`) after the last answer.
    pub after_rss_mib: f64,
}

/// One backend's run.
#[derive(Debug, Clone, Serialize)]
pub struct BackendReport {
    pub backend: String,
    pub seed_users: usize,
    pub seed_posts: usize,
    pub seed_seconds: f64,
    pub idle_rss_mib: f64,
    /// After the bench sessions were signed in (each sign-in runs one Argon2id verification).
    pub sign_in_rss_mib: f64,
    pub end_rss_mib: f64,
    pub post_body_bytes: usize,
    pub scenarios: Vec<Scenario>,
    /// Raw Argon2id verifications per second, in process, threads = `auth.hash_concurrency`;
    /// measured before and after (e).
    pub argon2: [Rate; 2],
    /// `media::image::process` on the upload image, threads = `posts.image_concurrency`; measured
    /// before and after (g).
    pub pipeline: [Rate; 2],
    /// PostgreSQL only: pgbench running the post-by-id query alone, transactions per second, with as
    /// many clients as (b) has connections.
    pub pg_floor: Option<f64>,
    /// Run on a freshly started process after the scenarios.
    pub memory: Option<MemoryCheck>,
    pub budget: Vec<BudgetLine>,
}

/// One line of the budget.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetLine {
    pub rule: String,
    pub pass: bool,
    pub detail: String,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub started_at: String,
    pub mode: &'static str,
    pub machine: Machine,
    pub server_env: Vec<(String, String)>,
    pub scenario_seconds: u64,
    pub upload_image: String,
    pub backends: Vec<BackendReport>,
}

/// Where it ran.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub wrk: String,
    pub load_average_start: String,
    pub load_average_end: String,
}

impl Machine {
    pub fn probe(wrk: String) -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("model name")
                        .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
                })
            })
            .unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            cpu_model,
            kernel: read_trim("/proc/sys/kernel/osrelease"),
            wrk,
            load_average_start: load_average(),
            load_average_end: String::new(),
        }
    }
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default().trim().to_owned()
}

pub fn load_average() -> String {
    read_trim("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn find<'a>(scenarios: &'a [Scenario], id: &str) -> Option<&'a Scenario> {
    scenarios.iter().find(|s| s.id == id)
}

fn ratio_line(rule: &str, num: Option<(&str, f64)>, den: Option<(&str, f64)>, min: f64) -> BudgetLine {
    match (num, den) {
        (Some((n_name, n)), Some((d_name, d))) if d > 0.0 => {
            let ratio = n / d;
            BudgetLine {
                rule: rule.to_owned(),
                pass: ratio >= min,
                detail: format!(
                    "{:.0}% ({n_name} {n:.1}/s vs {d_name} {d:.1}/s; needs {:.0}%)",
                    ratio * 100.0,
                    min * 100.0
                ),
            }
        }
        _ => BudgetLine {
            rule: rule.to_owned(),
            pass: false,
            detail: "not measured".to_owned(),
        },
    }
}

/// The budget of issue 6 §3, as ratios within this run.
pub fn budget(r: &BackendReport, full_connections: bool) -> Vec<BudgetLine> {
    let s = &r.scenarios;
    let rps = |id: &'static str| find(s, id).map(|x| (id, x.per_sec));
    // The ceiling was measured before (b) and after (d): the mean evens out drift on a shared machine.
    let ceilings: Vec<f64> = ["a", "a2"]
        .iter()
        .filter_map(|id| find(s, id))
        .map(|x| x.per_sec)
        .collect();
    let a = (!ceilings.is_empty()).then(|| ("a", ceilings.iter().sum::<f64>() / ceilings.len() as f64));
    let mut lines = vec![
        ratio_line("(c) bearer GET ≥ 50% of (a)", rps("c"), a, 0.50),
        ratio_line("(b) anonymous GET ≥ 60% of (a)", rps("b"), a, 0.60),
        ratio_line("(d1) feed ≥ 30% of (a)", rps("d1"), a, 0.30),
        ratio_line("(d2) feed tag= ≥ 30% of (a)", rps("d2"), a, 0.30),
        ratio_line("(d3) feed q= ≥ 30% of (a)", rps("d3"), a, 0.30),
        ratio_line(
            "(e) login ≥ 85% of raw argon2",
            rps("e"),
            Some(("argon2", combined(&r.argon2).per_sec)),
            0.85,
        ),
        ratio_line(
            "(g) upload ≥ 80% of pipeline alone",
            rps("g"),
            Some(("pipeline", combined(&r.pipeline).per_sec)),
            0.80,
        ),
    ];
    let mut with_errors: Vec<String> = s
        .iter()
        .filter(|x| x.errors() > 0)
        .map(|x| format!("{}: {} non-2xx, {} socket", x.id, x.non_2xx, x.socket_errors))
        .collect();
    let failed_uploads = r
        .memory
        .as_ref()
        .map_or(0, |m| m.statuses.iter().filter(|c| !(200..300).contains(*c)).count());
    if failed_uploads > 0 {
        with_errors.push(format!("memory check: {failed_uploads} non-2xx"));
    }
    lines.push(BudgetLine {
        rule: "zero errors everywhere".to_owned(),
        pass: with_errors.is_empty(),
        detail: if with_errors.is_empty() {
            "none".to_owned()
        } else {
            with_errors.join("; ")
        },
    });
    lines.push(match find(s, "c") {
        Some(c) => BudgetLine {
            rule: "(c) p99 ≤ 10 ms at 64 connections".to_owned(),
            pass: c.p99_ms <= 10.0 && (c.connections == 64 || !full_connections),
            detail: format!(
                "p99 {:.2} ms at {} connections{}",
                c.p99_ms,
                c.connections,
                if c.latency_consistent {
                    ""
                } else {
                    " (wrk's latencies inconsistent)"
                }
            ),
        },
        None => BudgetLine {
            rule: "(c) p99 ≤ 10 ms at 64 connections".to_owned(),
            pass: false,
            detail: "not measured".to_owned(),
        },
    });
    lines.extend(store_budget(r));
    lines.push(BudgetLine {
        rule: "idle RSS ≤ 30 MiB".to_owned(),
        pass: r.idle_rss_mib <= 30.0,
        detail: format!("{:.1} MiB after start-up", r.idle_rss_mib),
    });
    lines.push(match find(s, "h") {
        Some(h) => BudgetLine {
            rule: "(h) peak RSS ≤ 200 MiB".to_owned(),
            pass: h.peak_rss_mib <= 200.0,
            detail: format!("{:.1} MiB", h.peak_rss_mib),
        },
        None => BudgetLine {
            rule: "(h) peak RSS ≤ 200 MiB".to_owned(),
            pass: false,
            detail: "not measured".to_owned(),
        },
    });
    lines.push(match &r.memory {
        Some(m) => BudgetLine {
            rule: format!("{} parallel uploads grow RSS ≤ {} × upload limit", m.uploads, m.uploads),
            pass: m.growth_mib <= m.bound_mib,
            detail: format!(
                "+{:.1} MiB (fresh process, {:.1} → peak {:.1}) vs bound {:.1} MiB; each image {:.2} MiB, {}×{} px",
                m.growth_mib,
                m.baseline_rss_mib,
                m.peak_rss_mib,
                m.bound_mib,
                m.image_bytes as f64 / 1048576.0,
                m.image_dimensions.0,
                m.image_dimensions.1
            ),
        },
        None => BudgetLine {
            rule: "parallel uploads grow RSS ≤ N × upload limit".to_owned(),
            pass: false,
            detail: "not measured".to_owned(),
        },
    });
    lines
}

/// p99 of scenario `id` against `max_ms`, with wrk's own warning when its latencies do not add up.
fn p99_line(s: &[Scenario], id: &str, rule: &str, max_ms: f64) -> BudgetLine {
    match find(s, id) {
        Some(x) => BudgetLine {
            rule: rule.to_owned(),
            pass: x.p99_ms <= max_ms,
            detail: format!(
                "p99 {:.2} ms at {} connections{}",
                x.p99_ms,
                x.connections,
                if x.latency_consistent {
                    ""
                } else {
                    " (wrk's latencies inconsistent)"
                }
            ),
        },
        None => BudgetLine {
            rule: rule.to_owned(),
            pass: false,
            detail: "not measured".to_owned(),
        },
    }
}

/// The targets of issue 10 (the store on native drivers) that a run can judge by itself. PostgreSQL:
/// post reads against pgbench running the same lookup in the same run. SQLite: write latency under
/// concurrency, now a queue wait. (d1)'s target is a ratio to an earlier run; bench/README.md has it.
fn store_budget(r: &BackendReport) -> Vec<BudgetLine> {
    let s = &r.scenarios;
    let rps = |id: &'static str| find(s, id).map(|x| (id, x.per_sec));
    match r.backend.as_str() {
        "postgres" => {
            let floor = r.pg_floor.map(|tps| ("pgbench", tps));
            vec![
                ratio_line("(b) anonymous GET ≥ 50% of pgbench's lookup", rps("b"), floor, 0.50),
                ratio_line("(c) bearer GET ≥ 40% of pgbench's lookup", rps("c"), floor, 0.40),
            ]
        }
        _ => vec![
            p99_line(s, "f", "(f) refresh p99 ≤ 25 ms at 16 connections", 25.0),
            p99_line(s, "h", "(h) mixed p99 ≤ 50 ms", 50.0),
        ],
    }
}

/// The report as markdown.
pub fn markdown(r: &Report) -> String {
    let mut md = String::new();
    let m = &r.machine;
    let _ = writeln!(md, "# Rampart benchmark, {} ({})\n", r.started_at, r.mode);
    let _ = writeln!(
        md,
        "{} CPUs ({}), Linux {}, {}. Load average {} at the start, {} at the end. \
         Each scenario ran {} s over loopback; wrk shares the cores with the server.\n",
        m.cpus, m.cpu_model, m.kernel, m.wrk, m.load_average_start, m.load_average_end, r.scenario_seconds
    );
    let _ = writeln!(md, "Upload image: {}.\n", r.upload_image);
    for b in &r.backends {
        let _ = writeln!(
            md,
            "## {}\n\nSeeded {} users and {} posts in {:.1} s. RSS: {:.1} MiB idle after start-up, {:.1} MiB \
             after the bench sessions signed in, {:.1} MiB idle at the end. Post-by-id body: {} bytes.\n",
            b.backend,
            b.seed_users,
            b.seed_posts,
            b.seed_seconds,
            b.idle_rss_mib,
            b.sign_in_rss_mib,
            b.end_rss_mib,
            b.post_body_bytes
        );
        let _ = writeln!(
            md,
            "| | scenario | conns | req/s | p50 ms | p99 ms | non-2xx | socket errors | peak RSS MiB |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for s in &b.scenarios {
            let mark = if s.latency_consistent { "" } else { " †" };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.1} | {:.2}{mark} | {:.2}{mark} | {} | {} | {:.1} |",
                s.id, s.name, s.connections, s.per_sec, s.p50_ms, s.p99_ms, s.non_2xx, s.socket_errors, s.peak_rss_mib
            );
        }
        if b.scenarios.iter().any(|s| !s.latency_consistent) {
            let _ = writeln!(
                md,
                "\n† wrk's latencies for this row add up to more than connections × duration, which a closed loop \
                 cannot do, so its percentiles are unreliable here; the mean latency is connections ÷ req/s \
                 ({}). Run with `--log-level info --keep` to get the server's own timings from its access log.",
                b.scenarios
                    .iter()
                    .filter(|s| !s.latency_consistent)
                    .map(|s| format!(
                        "{}: {:.1} ms",
                        s.id,
                        f64::from(s.connections) * 1000.0 / s.per_sec.max(1e-9)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let (argon2, pipeline) = (&b.argon2, &b.pipeline);
        let _ = writeln!(
            md,
            "\nIn process, same run: Argon2id verify {:.2}/s before (e), {:.2}/s after ({} threads); \
             image pipeline alone {:.2}/s before (g), {:.2}/s after ({} threads).\n",
            argon2[0].per_sec,
            argon2[1].per_sec,
            argon2[0].threads,
            pipeline[0].per_sec,
            pipeline[1].per_sec,
            pipeline[0].threads
        );
        if let Some(tps) = b.pg_floor {
            let _ = writeln!(
                md,
                "pgbench, same run, the post-by-id query alone (same connections as (b)): {tps:.0} transactions/s.\n"
            );
        }
        if let Some(mem) = &b.memory {
            let _ = writeln!(
                md,
                "Memory check (fresh process): {} parallel uploads of {:.2} MiB, answers {:?} in {:.1} s; \
                 RSS {:.1} → peak {:.1} MiB, {:.1} MiB a moment later.\n",
                mem.uploads,
                mem.image_bytes as f64 / 1048576.0,
                mem.statuses,
                mem.seconds,
                mem.baseline_rss_mib,
                mem.peak_rss_mib,
                mem.after_rss_mib
            );
        }
        if r.mode == "smoke" {
            let _ = writeln!(
                md,
                "Budget (smoke run: durations and connection counts are too small for these lines to mean anything):\n"
            );
        } else {
            let _ = writeln!(md, "Budget:\n");
        }
        for line in &b.budget {
            let _ = writeln!(
                md,
                "- {} {}: {}",
                if line.pass { "PASS" } else { "MISS" },
                line.rule,
                line.detail
            );
        }
        md.push('\n');
    }
    md
}
