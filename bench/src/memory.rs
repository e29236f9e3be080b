//! The memory check of issue 6 §3: parallel uploads of an image just under the upload limit.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use rampart::config::Settings;
use tokio::task::JoinSet;

use crate::images::{self, BOUNDARY};
use crate::report::MemoryCheck;
use crate::rss::{PeakWatch, mib, rss_kib};
use crate::scenarios::Ctx;
use crate::server::Served;

/// Issue 6 §3, last line: N uploads of an image just under the upload limit, all at once.
pub async fn memory_check(
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
    tokio::time::sleep(ctx.profile.pause).await;
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
