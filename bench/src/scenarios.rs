//! One backend's run: seed, start Rampart, sign the bench sessions in, then the scenarios of issue 6
//! in order, each with the peak RSS of the process under load.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use rampart::config::Settings;
use serde::Deserialize;
use tokio::task::JoinSet;

use crate::images::{self, Inputs};
use crate::micro;
use crate::pg::PgDatabase;
use crate::quiet;
use crate::report::{BackendReport, MemoryCheck, Scenario};
use crate::rss::{PeakWatch, mib, rss_kib};
use crate::seed::{self, Seeded};
use crate::server::{self, Served};
use crate::wrk::{self, Load, Script};

/// Sizes and durations of a run.
#[derive(Debug, Clone)]
pub struct Profile {
    pub smoke: bool,
    pub users: usize,
    pub posts: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// How long each in-process reference rate is measured.
    pub reference: Duration,
    pub read_connections: u32,
    pub login_connections: u32,
    pub refresh_connections: u32,
    pub upload_connections: u32,
    pub mixed_connections: u32,
    pub parallel_uploads: usize,
}

impl Profile {
    pub fn full() -> Profile {
        Profile {
            smoke: false,
            users: 1000,
            posts: 10_000,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            reference: Duration::from_secs(5),
            read_connections: 64,
            login_connections: 8,
            refresh_connections: 16,
            upload_connections: 4,
            mixed_connections: 32,
            parallel_uploads: 20,
        }
    }

    /// A check that the harness works: every scenario for about a second on two connections.
    pub fn smoke() -> Profile {
        Profile {
            smoke: true,
            users: 20,
            posts: 50,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            reference: Duration::from_millis(500),
            read_connections: 2,
            login_connections: 2,
            refresh_connections: 2,
            upload_connections: 2,
            mixed_connections: 2,
            parallel_uploads: 2,
        }
    }
}

/// Which database a backend run uses.
pub enum Backend {
    Sqlite,
    /// An admin URL; the run creates and drops its own database.
    Postgres(String),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// What every backend run shares.
pub struct Ctx<'a> {
    pub profile: &'a Profile,
    pub rampart: &'a Path,
    pub work: &'a Path,
    pub inputs: &'a Inputs,
    pub log_level: &'a str,
    /// Extra environment for the server (allocator settings and the like, for experiments).
    pub server_env: &'a [(String, String)],
    /// Keep the PostgreSQL database too.
    pub keep: bool,
}

/// The multipart boundary of every upload body.
const BOUNDARY: &str = "rampartbench7d3f2a91c4e8";

pub async fn run(ctx: &Ctx<'_>, backend: &Backend) -> anyhow::Result<BackendReport> {
    let dir = ctx.work.join(backend.name());
    std::fs::create_dir_all(&dir)?;
    let pg = match backend {
        Backend::Postgres(admin) => Some(PgDatabase::create(admin).await?),
        Backend::Sqlite => None,
    };
    let result = run_on(ctx, backend, &dir, pg.as_ref().map(|p| p.url.clone())).await;
    match pg {
        Some(pg) if ctx.keep => eprintln!("kept the database {}", pg.url),
        Some(pg) => {
            if let Err(e) = pg.drop_database().await {
                eprintln!("warning: {e:#}");
            }
        }
        None => {}
    }
    result
}

#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    refresh_token: String,
}

/// Signs in over HTTP (production Argon2), `count` sessions spread over the accounts from `first`.
async fn sign_in(base: &str, users: &[seed::SeedUser], first: usize, count: usize) -> anyhow::Result<Vec<Tokens>> {
    let client = reqwest::Client::new();
    let mut set = JoinSet::new();
    let mut out: Vec<Option<Tokens>> = (0..count).map(|_| None).collect();
    for k in 0..count {
        let login = users[(first + k) % users.len()].username.clone();
        let (client, url) = (client.clone(), format!("{base}/api/v1/auth/login"));
        set.spawn(async move {
            let res = client
                .post(url)
                .json(&serde_json::json!({ "login": login, "password": seed::PASSWORD }))
                .send()
                .await?;
            anyhow::ensure!(res.status().is_success(), "signing in {login}: {}", res.status());
            anyhow::Ok((k, res.json::<Tokens>().await?))
        });
        if set.len() >= 4 {
            let (k, t) = set.join_next().await.context("sign-in task")???;
            out[k] = Some(t);
        }
    }
    while let Some(done) = set.join_next().await {
        let (k, t) = done??;
        out[k] = Some(t);
    }
    Ok(out.into_iter().map(|t| t.expect("every session signed in")).collect())
}

fn write_lines(path: &Path, lines: impl IntoIterator<Item = String>) -> anyhow::Result<String> {
    let text: Vec<String> = lines.into_iter().collect();
    std::fs::write(path, text.join("\n") + "\n").with_context(|| format!("writing {}", path.display()))?;
    Ok(path.display().to_string())
}

/// What must be idle before a measurement starts.
#[derive(Clone, Copy)]
struct Quiet<'a> {
    rampart_pid: u32,
    /// The bench database, on PostgreSQL.
    postgres: Option<&'a str>,
}

impl Quiet<'_> {
    async fn settle(&self) {
        quiet::settle(self.rampart_pid, self.postgres).await;
    }
}

/// Runs one wrk load against a process, once the previous work has drained, and records its peak RSS.
async fn measure(
    id: &'static str,
    name: &str,
    target: (&'static str, &Served),
    load: Load,
    warmup: Duration,
    work: &Path,
    quiet: Quiet<'_>,
) -> anyhow::Result<Scenario> {
    let (target_name, served) = target;
    eprintln!(
        "   ({id}) {name}: {} connections, {} s",
        load.connections,
        load.duration.as_secs()
    );
    quiet.settle().await;
    if !warmup.is_zero() {
        let warm = Load {
            duration: warmup,
            ..load.clone()
        };
        tokio::task::block_in_place(|| wrk::run(&warm, work)).with_context(|| format!("warming up ({id})"))?;
        quiet.settle().await;
    }
    let watch = PeakWatch::start(served.pid);
    let summary =
        tokio::task::block_in_place(|| wrk::run(&load, work)).with_context(|| format!("scenario ({id}) {name}"))?;
    let peak = watch.finish();
    let ms = |us: u64| us as f64 / 1000.0;
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
        wrk: summary,
    })
}

async fn run_on(
    ctx: &Ctx<'_>,
    backend: &Backend,
    dir: &Path,
    database_url: Option<String>,
) -> anyhow::Result<BackendReport> {
    let p = ctx.profile;
    let mut settings = Settings::default();
    settings.data_dir = dir.to_path_buf();
    settings.database.url = database_url.clone();

    eprintln!("== {}: seeding {} users and {} posts", backend.name(), p.users, p.posts);
    let seeded = seed::seed(&settings, p.users, p.posts, &ctx.inputs.seed_photos).await?;
    eprintln!("   seeded in {:.1} s", seeded.elapsed.as_secs_f64());

    let mut env = server::rampart_env(database_url.as_deref(), ctx.log_level);
    env.extend(ctx.server_env.iter().cloned());
    let rampart = Served::rampart(ctx.rampart, dir, &env, "rampart.log").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = rss_kib(rampart.pid).unwrap_or(0);
    eprintln!(
        "   rampart pid {} on {}, idle RSS {:.1} MiB",
        rampart.pid,
        rampart.base,
        mib(idle_rss)
    );

    let load_dir = dir.join("load");
    std::fs::create_dir_all(&load_dir)?;
    let (mut report, token) =
        match scenarios(ctx, &settings, &seeded, &rampart, &load_dir, database_url.as_deref()).await {
            Ok(done) => done,
            Err(e) => {
                let e = e.context(format!("rampart's log ends with:\n{}", rampart.log_tail()));
                let _ = rampart.stop();
                return Err(e);
            }
        };
    rampart.stop()?;
    report.backend = backend.name().to_owned();
    report.idle_rss_mib = mib(idle_rss);

    // A fresh process, so that the growth is measured from start-up memory rather than from what
    // earlier scenarios left behind. The access token survives: the key and the session are stored.
    let fresh = Served::rampart(ctx.rampart, dir, &env, "rampart-memory-check.log").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    quiet::settle(fresh.pid, database_url.as_deref()).await;
    match memory_check(ctx, &settings, &fresh, &token, &load_dir).await {
        Ok(memory) => report.memory = Some(memory),
        Err(e) => {
            let e = e.context(format!("rampart's log ends with:\n{}", fresh.log_tail()));
            let _ = fresh.stop();
            return Err(e);
        }
    }
    fresh.stop()?;
    Ok(report)
}

async fn scenarios(
    ctx: &Ctx<'_>,
    settings: &Settings,
    seeded: &Seeded,
    rampart: &Served,
    work: &Path,
    postgres: Option<&str>,
) -> anyhow::Result<(BackendReport, String)> {
    let p = ctx.profile;
    let base = rampart.base.as_str();
    let quiet = Quiet {
        rampart_pid: rampart.pid,
        postgres,
    };
    let file = |name: &str| work.join(name);

    // Reads spread over up to 2 000 posts, evenly through the table.
    let step = (seeded.post_ids.len() / 2000).max(1);
    let post_paths: Vec<String> = seeded
        .post_ids
        .iter()
        .step_by(step)
        .map(|id| format!("/api/v1/posts/{id}"))
        .collect();
    let posts_file = write_lines(&file("posts.txt"), post_paths.clone())?;
    let sample = reqwest::get(format!("{base}{}", post_paths[0])).await?;
    anyhow::ensure!(sample.status().is_success(), "fetching a post: {}", sample.status());
    let post_body = sample.bytes().await?;
    let body_file = file("post-body.json");
    std::fs::write(&body_file, &post_body)?;

    // Sessions: bearer reads, refresh queues, writers for the mixed load, uploaders, the memory check.
    let read_threads = wrk::threads_for(p.read_connections) as usize;
    let refresh_threads = wrk::threads_for(p.refresh_connections) as usize;
    let refresh_sessions = refresh_threads * (p.refresh_connections as usize / refresh_threads + 4);
    let writers = (wrk::threads_for(p.mixed_connections) as usize).max(4);
    let uploaders = wrk::threads_for(p.upload_connections) as usize;
    let started = Instant::now();
    let readers = sign_in(base, &seeded.users, 0, 16.max(read_threads)).await?;
    let refreshers = sign_in(base, &seeded.users, 16, refresh_sessions).await?;
    let writer_index = |k: usize| (100 + k) % seeded.users.len();
    let writer_sessions = sign_in(base, &seeded.users, 100, writers).await?;
    let uploader_sessions = sign_in(base, &seeded.users, 200, uploaders + 1).await?;
    eprintln!(
        "   signed in {} sessions in {:.1} s",
        readers.len() + refreshers.len() + writer_sessions.len() + uploader_sessions.len(),
        started.elapsed().as_secs_f64()
    );
    let sign_in_rss = rss_kib(rampart.pid).unwrap_or(0);
    let tokens_file = write_lines(&file("tokens.txt"), readers.iter().map(|t| t.access_token.clone()))?;

    let mut results = Vec::new();
    let run = |script: Script, connections: u32, env: Vec<(&'static str, String)>| Load {
        base: String::new(),
        script,
        connections,
        duration: p.duration,
        env,
    };

    // (a) The ceiling, on the same paths as (b).
    let ceiling = Served::ceiling(&body_file, &work.join("ceiling.log")).await?;
    let mut load = run(
        Script::Paths,
        p.read_connections,
        vec![("BENCH_DATA", posts_file.clone())],
    );
    load.base = ceiling.base.clone();
    results.push(
        measure(
            "a",
            "ceiling: fixed post body, minimal axum",
            ("ceiling", &ceiling),
            load,
            p.warmup,
            work,
            quiet,
        )
        .await?,
    );
    ceiling.stop()?;

    let on_rampart = |mut load: Load| {
        load.base = base.to_owned();
        load
    };
    results.push(
        measure(
            "b",
            "GET /posts/{id} anonymous",
            ("rampart", rampart),
            on_rampart(run(
                Script::Paths,
                p.read_connections,
                vec![("BENCH_DATA", posts_file.clone())],
            )),
            p.warmup,
            work,
            quiet,
        )
        .await?,
    );
    results.push(
        measure(
            "c",
            "GET /posts/{id} bearer",
            ("rampart", rampart),
            on_rampart(run(
                Script::Paths,
                p.read_connections,
                vec![
                    ("BENCH_DATA", posts_file.clone()),
                    ("BENCH_TOKENS", tokens_file.clone()),
                ],
            )),
            p.warmup,
            work,
            quiet,
        )
        .await?,
    );

    let feeds: [(&'static str, &str, Vec<String>); 3] = [
        ("d1", "feed, page of 20", vec!["/api/v1/posts?limit=20".to_owned()]),
        (
            "d2",
            "feed, page of 20, tag=",
            seed::TAGS
                .iter()
                .map(|t| format!("/api/v1/posts?limit=20&tag={t}"))
                .collect(),
        ),
        (
            "d3",
            "feed, page of 20, q= (full text)",
            seed::WORDS
                .iter()
                .map(|w| format!("/api/v1/posts?limit=20&q={w}"))
                .collect(),
        ),
    ];
    for (id, name, paths) in &feeds {
        let data = write_lines(&file(&format!("feed-{id}.txt")), paths.clone())?;
        results.push(
            measure(
                id,
                name,
                ("rampart", rampart),
                on_rampart(run(Script::Paths, p.read_connections, vec![("BENCH_DATA", data)])),
                p.warmup,
                work,
                quiet,
            )
            .await?,
        );
    }

    // (e) Sign-in, next to the raw Argon2 rate on as many threads as the server hashes at once.
    eprintln!("   argon2 alone: {} threads", settings.auth.hash_concurrency);
    quiet.settle().await;
    let hash = seeded.password_hash.clone();
    let (threads, secs) = (settings.auth.hash_concurrency, p.reference);
    let argon2 =
        tokio::task::spawn_blocking(move || micro::argon2_verify(&hash, seed::PASSWORD, threads, secs)).await??;
    let logins = write_lines(&file("logins.txt"), seeded.users.iter().map(|u| u.username.clone()))?;
    results.push(
        measure(
            "e",
            "POST /auth/login (argon2id 19 MiB, t=2)",
            ("rampart", rampart),
            on_rampart(run(
                Script::Login,
                p.login_connections,
                vec![("BENCH_DATA", logins), ("BENCH_PASSWORD", seed::PASSWORD.to_owned())],
            )),
            Duration::ZERO,
            work,
            quiet,
        )
        .await?,
    );

    // (f) Refresh: each session's token comes back in the previous answer.
    let refresh_file = write_lines(&file("refresh.txt"), refreshers.iter().map(|t| t.refresh_token.clone()))?;
    results.push(
        measure(
            "f",
            "POST /auth/refresh (rotation)",
            ("rampart", rampart),
            on_rampart(run(
                Script::Refresh,
                p.refresh_connections,
                vec![("BENCH_DATA", refresh_file)],
            )),
            Duration::ZERO,
            work,
            quiet,
        )
        .await?,
    );

    // (g) Upload, next to the pipeline alone on as many threads as the server decodes at once.
    eprintln!("   image pipeline alone: {} threads", settings.posts.image_concurrency);
    quiet.settle().await;
    let (bytes, posts, threads, secs) = (
        ctx.inputs.upload.clone(),
        settings.posts.clone(),
        settings.posts.image_concurrency,
        p.reference,
    );
    let pipeline = tokio::task::spawn_blocking(move || micro::pipeline(bytes, &posts, threads, secs)).await??;
    let upload_body = file("upload.multipart");
    std::fs::write(
        &upload_body,
        images::multipart(BOUNDARY, &ctx.inputs.upload, "uploaded under load #bench"),
    )?;
    let upload_tokens = write_lines(
        &file("upload-tokens.txt"),
        uploader_sessions.iter().map(|t| t.access_token.clone()),
    )?;
    let upload_env = |extra: Vec<(&'static str, String)>| {
        let mut env = vec![
            ("BENCH_BODY", upload_body.display().to_string()),
            ("BENCH_BOUNDARY", BOUNDARY.to_owned()),
        ];
        env.extend(extra);
        env
    };
    results.push(
        measure(
            "g",
            "POST /posts (2 MP JPEG)",
            ("rampart", rampart),
            on_rampart(run(
                Script::Upload,
                p.upload_connections,
                upload_env(vec![("BENCH_TOKENS", upload_tokens)]),
            )),
            Duration::ZERO,
            work,
            quiet,
        )
        .await?,
    );

    // (h) Mixed: reads are three post pages for each feed page.
    let mut reads = Vec::new();
    for (k, path) in post_paths.iter().enumerate() {
        reads.push(path.clone());
        if k % 3 == 2 {
            let (_, _, feed) = &feeds[k / 3 % feeds.len()];
            reads.push(feed[k % feed.len()].clone());
        }
    }
    let reads_file = write_lines(&file("mixed-reads.txt"), reads)?;
    let writer_lines = writer_sessions.iter().enumerate().map(|(k, t)| {
        let ids = &seeded.posts_of[writer_index(k)];
        format!("{} {}", t.access_token, ids.join(" "))
    });
    let writers_file = write_lines(&file("writers.txt"), writer_lines)?;
    results.push(
        measure(
            "h",
            "mixed: 90% reads, 9% PATCH caption, 1% upload",
            ("rampart", rampart),
            on_rampart(run(
                Script::Mixed,
                p.mixed_connections,
                upload_env(vec![("BENCH_DATA", reads_file), ("BENCH_WRITERS", writers_file)]),
            )),
            Duration::ZERO,
            work,
            quiet,
        )
        .await?,
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    let end_rss = rss_kib(rampart.pid).unwrap_or(0);

    let report = BackendReport {
        backend: String::new(),
        seed_users: seeded.users.len(),
        seed_posts: seeded.post_ids.len(),
        seed_seconds: seeded.elapsed.as_secs_f64(),
        idle_rss_mib: 0.0,
        sign_in_rss_mib: mib(sign_in_rss),
        end_rss_mib: mib(end_rss),
        post_body_bytes: post_body.len(),
        scenarios: results,
        argon2,
        pipeline,
        memory: None,
        budget: Vec::new(),
    };
    Ok((report, uploader_sessions[uploaders].access_token.clone()))
}

/// Issue 6 §3, last line: N uploads of an image just under the upload limit, all at once.
async fn memory_check(
    ctx: &Ctx<'_>,
    settings: &Settings,
    rampart: &Served,
    token: &str,
    work: &Path,
) -> anyhow::Result<MemoryCheck> {
    let n = ctx.profile.parallel_uploads;
    eprintln!(
        "   memory check: {n} parallel uploads of {:.2} MiB",
        ctx.inputs.large.len() as f64 / 1048576.0
    );
    let body = bytes::Bytes::from(images::multipart(BOUNDARY, &ctx.inputs.large, "memory check"));
    let path: PathBuf = work.join("large.multipart");
    std::fs::write(&path, &body)?;
    let client = reqwest::Client::new();
    let baseline = rss_kib(rampart.pid).unwrap_or(0);
    let watch = PeakWatch::start(rampart.pid);
    let started = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..n {
        let request = client
            .post(format!("{}/api/v1/posts", rampart.base))
            .bearer_auth(token)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body.clone());
        set.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
    }
    let mut statuses = Vec::new();
    while let Some(done) = set.join_next().await {
        statuses.push(done?.context("sending a parallel upload")?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let peak = watch.finish();
    statuses.sort_unstable();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(rampart.pid).unwrap_or(0);
    let limit = settings.posts.upload_limit_bytes;
    Ok(MemoryCheck {
        uploads: n,
        image_bytes: ctx.inputs.large.len(),
        image_dimensions: ctx.inputs.large_dimensions,
        upload_limit_bytes: limit,
        baseline_rss_mib: mib(baseline),
        peak_rss_mib: mib(peak),
        growth_mib: mib(peak.saturating_sub(baseline)),
        bound_mib: (n * limit) as f64 / 1048576.0,
        statuses,
        seconds,
        after_rss_mib: mib(after),
    })
}
