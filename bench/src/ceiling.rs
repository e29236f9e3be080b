//! Scenario (a): the ceiling. A minimal axum server, on the same runtime defaults as Rampart, that
//! answers every GET with the bytes of a real post-by-id response. No database, no middleware: what
//! this machine and this HTTP stack can do with the load generator beside it.

use std::path::Path;

use anyhow::Context;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use bytes::Bytes;

pub fn serve(port: u16, body: &Path) -> anyhow::Result<()> {
    let body = Bytes::from(std::fs::read(body).with_context(|| format!("reading {}", body.display()))?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let app = Router::new().fallback(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body).into_response() }
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("binding 127.0.0.1:{port}"))?;
        axum::serve(listener, app).await.context("serving")
    })
}
