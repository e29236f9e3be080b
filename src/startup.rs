//! Wiring: build the state, the router with its layers, and the listener.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::auth::limiter::{InMemoryLimiter, Limiter, RedisLimiter};
use crate::auth::password::Hasher;
use crate::auth::tokens::Keys;
use crate::auth::vault::Vault;
use crate::config::{MetricsBind, Settings};
use crate::http::server;
use crate::mail::transport::Transport;
use crate::state::AppState;
use crate::store::Db;

/// A built application: state ready, listener bound.
pub struct Application {
    listener: TcpListener,
    /// The separate `/metrics` listener (`metrics.bind`), when metrics are on and not on the public port.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    transport: Arc<Transport>,
}

impl Application {
    /// Binds `settings.bind` (port 0 picks one), then connects and migrates the database and loads keys.
    /// Binding comes first so that, in development without a configured `public_origin`, the state
    /// (mail links, the passkeys' relying party) is built with the origin of the port actually bound.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Application> {
        let transport = Arc::new(Transport::from_settings(&settings)?);
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("binding {}", settings.bind))?;
        settings.follow_bound_address(listener.local_addr().context("reading the bound address")?);
        let state = build_state(settings).await?;
        let metrics = &state.settings().metrics;
        let metrics_listener = match metrics.bind {
            MetricsBind::Address(addr) if metrics.enabled => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding metrics.bind {addr}"))?,
            ),
            _ => None,
        };
        Ok(Application {
            listener,
            metrics_listener,
            state,
            transport,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The port of the separate metrics listener, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        let listener = self.metrics_listener.as_ref()?;
        listener.local_addr().ok().map(|a| a.port())
    }

    /// The state, for tools and tests that need the same database.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains requests in flight. The mail sender runs alongside
    /// and stops after the drain; mail still queued then stays in the outbox for the next start.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()> + Send) -> anyhow::Result<()> {
        let s = &self.state.settings().http;
        let options = server::ServeOptions {
            header_read_timeout: Duration::from_secs(s.header_read_timeout_secs),
            shutdown_grace: Duration::from_secs(s.shutdown_grace_secs),
        };
        let app = crate::routes::router(self.state.clone());
        let origin = self.state.settings().public_origin();
        tracing::info!(addr = %self.listener.local_addr()?, public_origin = %origin, "rampart listening");
        let sender = crate::mail::sender::spawn(self.state.clone(), self.transport);
        // Its passes are single statements, so stopping it at any point leaves nothing half done.
        let housekeeping = tokio::spawn(crate::ops::housekeeping::run(self.state.clone()));
        // A backup cut short leaves only a `.partial-…` folder, which the next run removes.
        let backups = self
            .state
            .settings()
            .backup
            .scheduled()
            .then(|| tokio::spawn(crate::ops::backup::schedule::run(self.state.clone())));
        let upkeep = self.state.metrics.as_ref().map(|m| m.spawn_upkeep());
        // Scrapes go on while the public port drains, so the drain itself can be watched.
        let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        let metrics_server = self.metrics_listener.map(|listener| {
            tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "metrics listening");
            let router = crate::metrics::serve::listener_router(self.state.clone());
            tokio::spawn(server::serve(listener, router, options, async {
                let _ = metrics_stopped.await;
            }))
        });
        let served = server::serve(self.listener, app, options, shutdown).await;
        let _ = stop_metrics.send(());
        if let Some(task) = metrics_server {
            let _ = task.await;
        }
        if let Some(task) = upkeep {
            task.abort();
        }
        housekeeping.abort();
        if let Some(backups) = backups {
            backups.abort();
        }
        sender.stop().await;
        served?;
        self.state.db().close().await;
        Ok(())
    }
}

/// Builds the shared state: database (migrated), signing keys, hasher, limiter.
pub async fn build_state(settings: Settings) -> anyhow::Result<AppState> {
    let metrics = settings.metrics.enabled.then(crate::metrics::Metrics::new);
    let mut db = Db::connect(&settings).await?;
    if let Some(m) = &metrics {
        db = db.with_metrics(m.db.clone());
    }
    db.migrate().await?;
    let keys = Keys::load(&settings.auth, &settings.data_dir)?;
    let vault = Vault::load(&settings.auth, &settings.data_dir)?;
    let webauthn = crate::factors::relying_party(&settings).map(Arc::new);
    let hasher = Hasher::new(settings.auth.argon2, settings.auth.hash_concurrency)?;
    let limiter: Arc<dyn Limiter> = match &settings.redis.url {
        Some(url) => {
            let timeout = Duration::from_millis(settings.redis.timeout_ms);
            Arc::new(RedisLimiter::new(
                url.expose_secret(),
                timeout,
                &settings.redis.key_prefix,
            )?)
        }
        None => Arc::new(InMemoryLimiter::new()),
    };
    let mut media = crate::media::storage::from_settings(&settings)?;
    if let Some(m) = &metrics {
        media = crate::metrics::storage::metered(media, m.clone());
    }
    let image_permits = Arc::new(tokio::sync::Semaphore::new(settings.posts.image_concurrency.max(1)));
    let upload_budget = Arc::new(crate::posts::upload::Budget::new(settings.posts.upload_buffer_bytes));
    Ok(AppState {
        settings: Arc::new(settings),
        db,
        hasher: Arc::new(hasher),
        keys: Arc::new(keys),
        vault: Arc::new(vault),
        webauthn,
        limiter,
        media,
        mailer: crate::mail::Mailer::new(),
        image_permits,
        upload_budget,
        metrics,
    })
}
