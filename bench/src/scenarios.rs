//! One backend's run: seed, start Rampart, sign the bench sessions in, then the scenarios of issue 6
//! in order, and the memory check on a fresh process.

use std::path::Path;
use std::time::Instant;

use rampart::config::{DatabaseSettings, Settings};

use crate::images::{self, BOUNDARY, Inputs};
use crate::measure::{Quiet, Runner, Warm, write_lines};
use crate::memory::memory_check;
use crate::micro;
use crate::pg::PgDatabase;
use crate::profile::Profile;
use crate::quiet;
use crate::report::BackendReport;
use crate::rss::{mib, rss_kib};
use crate::seed::{self, Seeded};
use crate::server::{self, Served};
use crate::sessions::sign_in;
use crate::wrk::{self, Script};

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

async fn run_on(
    ctx: &Ctx<'_>,
    backend: &Backend,
    dir: &Path,
    database_url: Option<String>,
) -> anyhow::Result<BackendReport> {
    let p = ctx.profile;
    // The settings the server will run with, as far as seeding and the reference rates need them.
    let defaults = Settings::default();
    let settings = Settings {
        data_dir: dir.to_path_buf(),
        database: DatabaseSettings {
            url: database_url.clone().map(Into::into),
            ..defaults.database.clone()
        },
        ..defaults
    };

    eprintln!("== {}: seeding {} users and {} posts", backend.name(), p.users, p.posts);
    let seeded = seed::seed(&settings, p.users, p.posts, &ctx.inputs.seed_photos).await?;
    eprintln!("   seeded in {:.1} s", seeded.elapsed.as_secs_f64());

    let mut env = server::rampart_env(database_url.as_deref(), ctx.log_level);
    env.extend(ctx.server_env.iter().cloned());
    let rampart = Served::rampart(ctx.rampart, dir, &env, "rampart.log").await?;
    tokio::time::sleep(p.pause).await;
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
    tokio::time::sleep(p.pause).await;
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

    let runner = Runner {
        rampart,
        work,
        quiet,
        duration: p.duration,
        warmup: p.warmup,
    };
    let mut results = Vec::new();
    let posts_data = || vec![("BENCH_DATA", posts_file.clone())];
    let (conns, ceiling) = (p.read_connections, ("a", "ceiling: fixed post body, minimal axum"));

    // (a) The ceiling, on the same paths as (b); again after (d), and the budget takes the mean.
    results.push(
        runner
            .ceiling(ceiling, &body_file, Script::Paths, conns, posts_data())
            .await?,
    );
    // (s) Rampart's own HTTP stack and middleware with no handler work, and on PostgreSQL the post
    // lookup alone from pgbench: the floors under (b), which say how much of the gap to (a) is the
    // stack, and how much the database round trip.
    let (id, name) = ("s", "GET /healthz: the middleware stack alone");
    let env = vec![(
        "BENCH_DATA",
        write_lines(&file("healthz.txt"), vec!["/healthz".to_owned()])?,
    )];
    results.push(runner.rampart((id, name), Script::Paths, conns, env, Warm::Up).await?);
    let pg_floor = match postgres {
        Some(url) => {
            quiet.settle().await;
            crate::pg::pgbench_lookup(url, &seeded.post_ids[0], conns, p.duration, work).await
        }
        None => None,
    };

    let (id, name) = ("b", "GET /posts/{id} anonymous");
    results.push(
        runner
            .rampart((id, name), Script::Paths, conns, posts_data(), Warm::Up)
            .await?,
    );
    let (id, name) = ("c", "GET /posts/{id} bearer");
    let mut env = posts_data();
    env.push(("BENCH_TOKENS", tokens_file));
    results.push(runner.rampart((id, name), Script::Paths, conns, env, Warm::Up).await?);

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
        let env = vec![(
            "BENCH_DATA",
            write_lines(&file(&format!("feed-{id}.txt")), paths.clone())?,
        )];
        results.push(runner.rampart((id, name), Script::Paths, conns, env, Warm::Up).await?);
    }
    let ceiling = ("a2", "ceiling again, after (d)");
    results.push(
        runner
            .ceiling(ceiling, &body_file, Script::Paths, conns, posts_data())
            .await?,
    );

    // (e) Sign-in, between two measurements of the raw Argon2 rate on as many threads as the server
    // hashes at once.
    let argon2_alone = || async {
        eprintln!("   argon2 alone: {} threads", settings.auth.hash_concurrency);
        quiet.settle().await;
        let hash = seeded.password_hash.clone();
        let (threads, secs) = (settings.auth.hash_concurrency, p.reference);
        tokio::task::spawn_blocking(move || micro::argon2_verify(&hash, seed::PASSWORD, threads, secs)).await?
    };
    let argon2_before = argon2_alone().await?;
    let logins = write_lines(&file("logins.txt"), seeded.users.iter().map(|u| u.username.clone()))?;
    let env = vec![("BENCH_DATA", logins), ("BENCH_PASSWORD", seed::PASSWORD.to_owned())];
    let (id, name) = ("e", "POST /auth/login (argon2id 19 MiB, t=2)");
    results.push(
        runner
            .rampart((id, name), Script::Login, p.login_connections, env, Warm::No)
            .await?,
    );
    let argon2 = [argon2_before, argon2_alone().await?];

    // (f) Refresh: each session's token comes back in the previous answer.
    let refresh_file = write_lines(&file("refresh.txt"), refreshers.iter().map(|t| t.refresh_token.clone()))?;
    let (id, name) = ("f", "POST /auth/refresh (rotation)");
    let env = vec![("BENCH_DATA", refresh_file)];
    results.push(
        runner
            .rampart((id, name), Script::Refresh, p.refresh_connections, env, Warm::No)
            .await?,
    );

    // (g) Upload, between two measurements of the pipeline alone on as many threads as the server
    // decodes at once.
    let pipeline_alone = || async {
        eprintln!("   image pipeline alone: {} threads", settings.posts.image_concurrency);
        quiet.settle().await;
        let (bytes, posts, threads, secs) = (
            ctx.inputs.upload.clone(),
            settings.posts.clone(),
            settings.posts.image_concurrency,
            p.reference,
        );
        tokio::task::spawn_blocking(move || micro::pipeline(bytes, &posts, threads, secs)).await?
    };
    let pipeline_before = pipeline_alone().await?;
    let upload_body = file("upload.multipart");
    let caption = "uploaded under load #bench";
    std::fs::write(&upload_body, images::multipart(BOUNDARY, &ctx.inputs.upload, caption))?;
    let upload_env = |extra: Vec<(&'static str, String)>| {
        let mut env = vec![
            ("BENCH_BODY", upload_body.display().to_string()),
            ("BENCH_BOUNDARY", BOUNDARY.to_owned()),
        ];
        env.extend(extra);
        env
    };
    let upload_tokens = uploader_sessions[..uploaders].iter().map(|t| t.access_token.clone());
    let env = upload_env(vec![(
        "BENCH_TOKENS",
        write_lines(&file("upload-tokens.txt"), upload_tokens)?,
    )]);
    let (id, name) = ("g", "POST /posts (2 MP JPEG)");
    results.push(
        runner
            .rampart((id, name), Script::Upload, p.upload_connections, env, Warm::No)
            .await?,
    );
    let pipeline = [pipeline_before, pipeline_alone().await?];

    // (h) Mixed: reads are three post pages for each feed page.
    let mut reads = Vec::new();
    for (k, path) in post_paths.iter().enumerate() {
        reads.push(path.clone());
        if k % 3 == 2 {
            let (_, _, feed) = &feeds[k / 3 % feeds.len()];
            reads.push(feed[k % feed.len()].clone());
        }
    }
    let writer_lines = writer_sessions.iter().enumerate().map(|(k, t)| {
        let ids = &seeded.posts_of[writer_index(k)];
        format!("{} {}", t.access_token, ids.join(" "))
    });
    let env = upload_env(vec![
        ("BENCH_DATA", write_lines(&file("mixed-reads.txt"), reads)?),
        ("BENCH_WRITERS", write_lines(&file("writers.txt"), writer_lines)?),
    ]);
    let (id, name) = ("h", "mixed: 90% reads, 9% PATCH caption, 1% upload");
    results.push(
        runner
            .rampart((id, name), Script::Mixed, p.mixed_connections, env, Warm::No)
            .await?,
    );

    tokio::time::sleep(p.pause).await;
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
        pg_floor,
        memory: None,
        budget: Vec::new(),
    };
    Ok((report, uploader_sessions[uploaders].access_token.clone()))
}
