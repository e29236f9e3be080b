//! Seeding through the library, before the server starts: users and posts are written with the same
//! store and media functions the API uses (`store::users::insert`, `media::image::process`, the local
//! storage driver, `store::posts::insert`), which is far faster than a thousand sign-ups over HTTP.
//!
//! Every account gets the same PHC string, hashed once with the production Argon2 parameters: a
//! verification costs what the parameters in the hash say, so sign-ins against seeded accounts cost
//! exactly what they cost in production, and seeding pays for one hash instead of a thousand.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rampart::auth::password::Hasher;
use rampart::config::Settings;
use rampart::domain::{Caption, Role};
use rampart::media::image::{self, Encoded, Limits, Processed};
use rampart::media::storage::{self, ImageSet, Rendition};
use rampart::store::{self, Backend, Db};
use tokio::task::JoinSet;

use crate::images::XorShift;

/// The password of every seeded account.
pub const PASSWORD: &str = "bench-Correct-Horse-Battery-42";

/// Caption words; every post gets six, so each word is in roughly a third of the posts.
pub const WORDS: [&str; 20] = [
    "golden", "hour", "lake", "mountain", "city", "night", "coffee", "street", "forest", "beach", "sunrise", "rain",
    "bridge", "market", "garden", "snow", "river", "harbour", "desert", "train",
];

/// Hashtags; every post gets two.
pub const TAGS: [&str; 20] = [
    "sunset",
    "nature",
    "travel",
    "food",
    "streetphoto",
    "portrait",
    "architecture",
    "bw",
    "film",
    "macro",
    "landscape",
    "urban",
    "wildlife",
    "night",
    "sea",
    "autumn",
    "winter",
    "spring",
    "summer",
    "people",
];

/// A seeded account.
#[derive(Debug, Clone)]
pub struct SeedUser {
    pub id: String,
    pub username: String,
}

/// What was seeded.
pub struct Seeded {
    pub users: Vec<SeedUser>,
    /// Post ids, oldest first.
    pub post_ids: Vec<String>,
    /// Post ids per user, same order as `users`.
    pub posts_of: Vec<Vec<String>>,
    /// The PHC string every account has.
    pub password_hash: String,
    pub elapsed: Duration,
}

pub fn username(i: usize) -> String {
    format!("bench_u{i:05}")
}

fn caption(i: usize) -> String {
    let mut rng = XorShift::new(i as u64 + 1);
    let words: Vec<&str> = (0..6).map(|_| WORDS[rng.below(WORDS.len() as u64) as usize]).collect();
    let t1 = TAGS[rng.below(TAGS.len() as u64) as usize];
    let t2 = TAGS[rng.below(TAGS.len() as u64) as usize];
    format!("{} #{t1} #{t2}", words.join(" "))
}

fn rendition(e: &Encoded) -> Rendition {
    Rendition {
        bytes: bytes::Bytes::from(e.bytes.clone()),
        content_type: e.format.content_type(),
        extension: e.format.extension(),
    }
}

/// Migrates the configured database and fills it.
pub async fn seed(settings: &Settings, users: usize, posts: usize, photos: &[Vec<u8>]) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let db = Db::connect(settings).await?;
    db.migrate().await?;
    let media = storage::from_settings(settings)?;

    let hasher = Hasher::new(settings.auth.argon2, 1)?;
    let password_hash = hasher.hash(PASSWORD).await?;

    let mut set = JoinSet::new();
    let hash = Arc::new(password_hash.clone());
    let mut seeded_users = vec![None; users];
    for i in 0..users {
        let (db, hash) = (db.clone(), hash.clone());
        set.spawn(async move {
            let name = username(i);
            let email = format!("{name}@bench.example.com");
            let new = store::users::NewUser {
                username: &name,
                email: &email,
                password_hash: &hash,
                display_name: Some("Bench User"),
                role: Role::User,
            };
            let row = store::users::insert(&db, new)
                .await
                .map_err(|e| anyhow::anyhow!("inserting user {name}: {e}"))?;
            // Posting needs a verified address; seeded accounts are established ones.
            store::users::mark_email_verified(&db, row.id, &email)
                .await
                .context("verifying a seeded address")?;
            anyhow::Ok((
                i,
                SeedUser {
                    id: row.id.to_string(),
                    username: name,
                },
            ))
        });
        if set.len() >= 8 {
            let (i, user) = set.join_next().await.context("user task")???;
            seeded_users[i] = Some(user);
        }
    }
    while let Some(done) = set.join_next().await {
        let (i, user) = done??;
        seeded_users[i] = Some(user);
    }
    let users: Vec<SeedUser> = seeded_users
        .into_iter()
        .collect::<Option<_>>()
        .context("a seeded user is missing")?;

    let limits = Limits::default();
    let processed: Vec<Processed> = photos
        .iter()
        .map(|p| image::process(p, &limits).map_err(|e| anyhow::anyhow!("processing a seed photo: {e}")))
        .collect::<anyhow::Result<_>>()?;
    let processed = Arc::new(processed);

    let mut post_ids = vec![String::new(); posts];
    let mut posts_of = vec![Vec::new(); users.len()];
    let mut set = JoinSet::new();
    for i in 0..posts {
        let author = i % users.len();
        let author_id: uuid::Uuid = users[author].id.parse().context("a seeded user id")?;
        let (db, media, processed) = (db.clone(), media.clone(), processed.clone());
        // Ids are minted here, in order, so that the seeded feed has a stable order.
        let id = store::new_id();
        set.spawn(async move {
            let p = &processed[i % processed.len()];
            let caption = Caption::parse(&caption(i)).map_err(|m| anyhow::anyhow!("caption {m}"))?;
            let base_key = storage::new_base_key();
            let stored = media
                .store(
                    &base_key,
                    ImageSet {
                        original: rendition(&p.original),
                        display: rendition(&p.display),
                        thumbnail: rendition(&p.thumbnail),
                        display_webp: p.display_webp.as_ref().map(rendition),
                        thumbnail_webp: p.thumbnail_webp.as_ref().map(rendition),
                    },
                )
                .await?;
            let new = store::posts::NewPost {
                id,
                author_id,
                caption: caption.as_str(),
                tags: caption.tags(),
                image: &stored,
                width: i64::from(p.original.width),
                height: i64::from(p.original.height),
                bytes: p.original.bytes.len() as i64,
                content_type: p.original.format.content_type(),
                sha256: &p.sha256,
                blurhash: &p.blurhash,
            };
            let mut tx = db.begin().await?;
            store::posts::insert(&mut tx, new).await.context("inserting a post")?;
            tx.commit().await?;
            anyhow::Ok((i, author, id.to_string()))
        });
        if set.len() >= 16 {
            let (i, author, id) = set.join_next().await.context("post task")???;
            post_ids[i] = id.clone();
            posts_of[author].push(id);
        }
    }
    while let Some(done) = set.join_next().await {
        let (i, author, id) = done??;
        post_ids[i] = id.clone();
        posts_of[author].push(id);
    }
    if db.backend() == Backend::Postgres {
        // On a live server autovacuum keeps the planner's statistics current as rows arrive; a bulk
        // load is measured before it has run, and the plans without statistics are far worse.
        // SQLite is left as Rampart leaves it in production: it never runs ANALYZE there.
        use rampart::store::Exec;
        (&db).execute("ANALYZE", &[]).await.context("ANALYZE after seeding")?;
    }
    db.close().await;
    Ok(Seeded {
        users,
        post_ids,
        posts_of,
        password_hash,
        elapsed: started.elapsed(),
    })
}
