//! The command line: `serve` (default), `migrate`, `migrate-data`, `backup`, `restore`, `admin create`,
//! `config check`, `keys generate`, `media reconcile`, `doctor`.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{Settings, redact_url};
use crate::domain::{Email, Password, Role, Username};
use crate::startup::{Application, build_state};
use crate::store::{self, Db};
use crate::{http, telemetry};

#[derive(Parser)]
#[command(name = "rampart", version, about = "A self-hostable backend for image posts")]
struct Cli {
    /// Configuration file (default: ./rampart.toml when present).
    #[arg(long, global = true, env = "RAMPART_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and web app (the default).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Copy every row from one database to another, e.g. from the embedded SQLite file to PostgreSQL.
    /// Stop Rampart first: rows written during the copy are not carried over.
    MigrateData {
        /// Database to read, e.g. sqlite://data/rampart.db. Only read.
        #[arg(long)]
        from: String,
        /// Database to fill, e.g. postgres://rampart:…@db/rampart. Its schema is migrated first.
        #[arg(long)]
        to: String,
        /// Delete the target's rows first (in the same transaction as the copy) instead of refusing
        /// a non-empty target.
        #[arg(long)]
        force: bool,
    },
    /// Take a consistent backup while Rampart runs: the database (SQLite snapshot or pg_dump), then the
    /// local driver's media, and a manifest with a SHA-256 of every file.
    Backup {
        /// Folder to write; must be missing or empty.
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Restore a backup into an empty data folder (and, for PostgreSQL, an empty database), after
    /// checking every file against the manifest.
    Restore {
        /// The backup folder (holding manifest.json).
        dir: PathBuf,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Administrative accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Media storage maintenance.
    #[command(subcommand)]
    Media(MediaCommand),
    /// Check this configuration against the services it names (database, Redis, storage, mail, keys,
    /// folders) and print what is wrong. Exits 1 when something would fail.
    Doctor {
        /// Seconds each network check may take.
        #[arg(long, default_value_t = 5)]
        timeout_secs: u64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Args, Default)]
struct ServeArgs {
    /// Address to listen on, e.g. 0.0.0.0:8080 (RAMPART_BIND).
    #[arg(long)]
    bind: Option<std::net::SocketAddr>,
    /// Data folder (RAMPART_DATA_DIR).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin account. There is never a default account.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration, then print it without secrets.
    Check,
}

#[derive(Subcommand)]
enum MediaCommand {
    /// Find objects no post owns and posts whose objects are missing; remove the former and the
    /// latter's rows (report only with --dry-run).
    Reconcile {
        #[arg(long)]
        dry_run: bool,
        /// Leave objects younger than this alone: uploads in progress store objects before rows.
        #[arg(long, default_value_t = 900)]
        min_age_secs: u64,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new Ed25519 signing key (PKCS#8 PEM, mode 0600) for `auth.signing_key_file`, or with
    /// `--mfa` a 256-bit key (base64, mode 0600) for `auth.mfa_key_file`.
    Generate {
        #[arg(long)]
        out: PathBuf,
        /// The key that seals second-factor secrets instead of a signing key.
        #[arg(long)]
        mfa: bool,
    },
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Generating a key needs no configuration: production refuses to start until the key exists.
    if let Some(Command::Keys(KeysCommand::Generate { out, mfa })) = &cli.command {
        if *mfa {
            crate::auth::vault::write_new_key(out)?;
        } else {
            crate::auth::tokens::write_new_key(out)?;
        }
        println!("wrote {}", out.display());
        return Ok(());
    }
    if let Some(Command::Doctor {
        timeout_secs,
        json,
        data_dir,
    }) = &cli.command
    {
        return doctor(cli.config.as_deref(), *timeout_secs, *json, data_dir.clone()).await;
    }
    let mut settings = Settings::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => {
            if let Some(bind) = args.bind {
                settings.bind = bind;
            }
            if let Some(dir) = args.data_dir {
                settings.data_dir = dir;
            }
            settings.validate()?;
            let telemetry = telemetry::init(&settings)?;
            let served = match Application::build(settings).await {
                Ok(app) => app.run_until(http::server::shutdown_signal()).await,
                Err(e) => Err(e),
            };
            telemetry.shutdown().await;
            served
        }
        Command::Migrate => {
            telemetry::init_logs(&settings);
            let db = Db::connect(&settings).await?;
            db.migrate().await?;
            println!("migrations applied");
            Ok(())
        }
        Command::MigrateData { from, to, force } => {
            telemetry::init_logs(&settings);
            migrate_data(&settings, &from, &to, force).await
        }
        Command::Backup { out, data_dir } => {
            if let Some(dir) = data_dir {
                settings.data_dir = dir;
            }
            telemetry::init_logs(&settings);
            let manifest = crate::ops::backup::take(&settings, &out).await?;
            let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
            println!(
                "backed up {} database at migration {} ({} files, {bytes} bytes) to {}",
                manifest.engine,
                manifest.migration_version,
                manifest.files.len(),
                out.display()
            );
            if !manifest.media.included {
                println!("media not included: {}", manifest.media.note);
            }
            Ok(())
        }
        Command::Restore { dir, data_dir } => {
            if let Some(data_dir) = data_dir {
                settings.data_dir = data_dir;
            }
            telemetry::init_logs(&settings);
            let restored = crate::ops::backup::restore::restore(&settings, &dir).await?;
            let m = &restored.manifest;
            println!(
                "restored the {} database from {} (migration {}) and {} media files",
                m.engine, m.started_at, m.migration_version, restored.media_files
            );
            if restored.pending_migrations {
                println!("the backup predates this rampart: `rampart serve` applies the newer migrations at start");
            }
            Ok(())
        }
        Command::Admin(AdminCommand::Create {
            email,
            username,
            password_stdin,
            data_dir,
        }) => {
            if let Some(dir) = data_dir {
                settings.data_dir = dir;
            }
            create_admin(settings, &email, &username, password_stdin).await
        }
        Command::Config(ConfigCommand::Check) => {
            // Serialising masks every secret and hides the passwords in URLs (see `config::secret`).
            let shown = serde_json::to_value(&settings)?;
            println!("configuration is valid\n{}", serde_json::to_string_pretty(&shown)?);
            Ok(())
        }
        Command::Keys(KeysCommand::Generate { .. }) | Command::Doctor { .. } => Ok(()),
        Command::Media(MediaCommand::Reconcile {
            dry_run,
            min_age_secs,
            data_dir,
        }) => {
            if let Some(dir) = data_dir {
                settings.data_dir = dir;
            }
            telemetry::init_logs(&settings);
            let db = Db::connect(&settings).await?;
            db.migrate().await?;
            let media = crate::media::storage::from_settings(&settings)?;
            let min_age = std::time::Duration::from_secs(min_age_secs);
            let report = crate::ops::reconcile::reconcile(&db, media.as_ref(), dry_run, min_age).await?;
            let verb = if dry_run { "would remove" } else { "removed" };
            println!("orphaned objects ({verb}): {}", report.orphans.len());
            for key in &report.orphans {
                println!("  orphan {key}");
            }
            println!("posts with missing media ({verb}): {}", report.missing.len());
            for id in &report.missing {
                println!("  missing {id}");
            }
            println!(
                "posts with unreadable storage records (left as they are): {}",
                report.unreadable.len()
            );
            for id in &report.unreadable {
                println!("  unreadable {id}");
            }
            println!("recent objects left alone: {}", report.recent);
            if report.other_driver > 0 {
                println!("posts stored by another driver, not checked: {}", report.other_driver);
            }
            Ok(())
        }
    }
}

/// `rampart doctor`: the report on standard output; an error (exit 1) when anything failed.
async fn doctor(
    config: Option<&std::path::Path>,
    timeout_secs: u64,
    json: bool,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    // Settings that do not even parse leave nothing to check.
    let mut settings = Settings::load_unvalidated(config)?;
    if let Some(dir) = data_dir {
        settings.data_dir = dir;
    }
    let report = crate::ops::doctor::run(&settings, Duration::from_secs(timeout_secs.max(1))).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    let failed = report.count(crate::ops::doctor::Status::Fail);
    anyhow::ensure!(failed == 0, "{failed} check(s) failed");
    Ok(())
}

async fn migrate_data(settings: &Settings, from: &str, to: &str, force: bool) -> anyhow::Result<()> {
    let (shown_from, shown_to) = (redact_url(from), redact_url(to));
    let timeout = Duration::from_millis(settings.database.acquire_timeout_ms);
    let connections = settings.database.max_connections;
    let source = Db::connect_url(from, connections, timeout)
        .await
        .with_context(|| format!("opening the source {shown_from}"))?;
    let target = Db::connect_url(to, connections, timeout)
        .await
        .with_context(|| format!("opening the target {shown_to}"))?;
    eprintln!("copying {shown_from} -> {shown_to}");
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} rows ({eta})")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    let copied = crate::ops::transfer::copy_all(&source, &target, force, &bar).await;
    bar.finish_and_clear();
    let summary = copied.with_context(|| format!("copying {shown_from} to {shown_to}"))?;
    for (table, rows) in &summary.tables {
        println!("{table}: {rows} rows");
    }
    println!("copied {} rows; row counts match", summary.total());
    source.close().await;
    target.close().await;
    Ok(())
}

async fn create_admin(settings: Settings, email: &str, username: &str, from_stdin: bool) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("email {e}"))?;
    let username = Username::parse(username).map_err(|e| anyhow::anyhow!("username {e}"))?;
    let raw = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading password from stdin")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Repeat password: ")?;
        anyhow::ensure!(first == again, "the passwords differ");
        first
    };
    let password = Password::parse(&raw, Some(username.as_str())).map_err(|e| anyhow::anyhow!("password {e}"))?;
    let state = build_state(settings).await?;
    let hash = state.hasher().hash(password.expose()).await?;
    let new = store::users::NewUser {
        username: username.as_str(),
        email: email.as_str(),
        password_hash: &hash,
        display_name: None,
        role: Role::Admin,
    };
    match store::users::insert(state.db(), new).await {
        Ok(user) => {
            // The operator typed the address; there is nobody to send a verification link to yet.
            store::users::mark_email_verified(state.db(), user.id, &user.email).await?;
            println!("created admin {} ({})", user.username, user.id);
            Ok(())
        }
        Err(store::users::InsertError::EmailTaken) => {
            anyhow::bail!("that email is already registered")
        }
        Err(store::users::InsertError::UsernameTaken) => anyhow::bail!("that username is taken"),
        Err(store::users::InsertError::Db(e)) => Err(e.into()),
    }
}
