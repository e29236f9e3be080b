//! The web app's files: compiled into the binary, named by one content hash, and gzipped once.
//!
//! Pages refer to `/assets/<name>`; the app shell is served with those references rewritten to
//! `/assets/<version>/<name>`, where `<version>` is a hash over every file. A versioned URL never
//! changes meaning, so browsers may keep it for a year (`immutable`), and a new release is a new URL.
//! ES modules import each other by relative path (`./core.js`), so they inherit the version of the
//! module that imported them. Text files are compressed at first use, not per request.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, LazyLock};

use axum::http::HeaderValue;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

/// Every file under `static/` that is served, with its type. A file missing from this list is a 404.
macro_rules! files {
    ($($name:literal => $kind:expr),* $(,)?) => {
        &[$(($name, $kind, include_bytes!(concat!("static/", $name)))),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

type File = (&'static str, &'static str, &'static [u8]);

static FILES: &[File] = files![
    "app.js" => JS,
    "core.js" => JS,
    "auth.js" => JS,
    "feed.js" => JS,
    "post.js" => JS,
    "upload.js" => JS,
    "profile.js" => JS,
    "settings.js" => JS,
    "factors.js" => JS,
    "blurhash.js" => JS,
    "admin.js" => JS,
    "app.css" => CSS,
    "admin.css" => CSS,
    "favicon.svg" => "image/svg+xml",
];

const SHELL: &[u8] = include_bytes!("static/index.html");

/// One served file.
pub struct Asset {
    pub content_type: &'static str,
    pub body: Bytes,
    /// The gzipped body, when compressing saved something worth having.
    pub gzip: Option<Bytes>,
    /// A strong ETag for the unversioned URL, which browsers revalidate.
    pub etag: HeaderValue,
}

/// The app shell and its files, under one version.
pub struct Assets {
    /// Short hex hash over every file's name and bytes.
    pub version: String,
    pub shell: Asset,
    files: HashMap<String, Asset>,
}

impl Assets {
    pub fn get(&self, name: &str) -> Option<&Asset> {
        self.files.get(name)
    }

    fn build(shell: Vec<u8>, files: Vec<(String, &'static str, Vec<u8>)>) -> Assets {
        let mut all = Sha256::new();
        for (name, _, body) in &files {
            all.update(name.as_bytes());
            all.update((body.len() as u64).to_le_bytes());
            all.update(body);
        }
        let version = hex(&all.finalize()[..6]);
        let shell = String::from_utf8_lossy(&shell).replace("\"/assets/", &format!("\"/assets/{version}/"));
        let files = files
            .into_iter()
            .map(|(name, kind, body)| (name, asset(kind, body)))
            .collect();
        Assets {
            shell: asset("text/html; charset=utf-8", shell.into_bytes()),
            version,
            files,
        }
    }
}

fn asset(content_type: &'static str, body: Vec<u8>) -> Asset {
    // Built once here, so serving never turns the tag into a header again.
    let etag = HeaderValue::from_str(&format!("\"{}\"", hex(&Sha256::digest(&body)[..8])))
        .expect("quoted hex is a valid header value");
    let gzip = gzip(&body).filter(|g| g.len() + 64 < body.len()).map(Bytes::from);
    Asset {
        content_type,
        body: Bytes::from(body),
        gzip,
        etag,
    }
}

fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 3), Compression::best());
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

static BUILT_IN: LazyLock<Arc<Assets>> = LazyLock::new(|| {
    let files = FILES
        .iter()
        .map(|(name, kind, body)| ((*name).to_owned(), *kind, body.to_vec()))
        .collect();
    Arc::new(Assets::build(SHELL.to_vec(), files))
});

/// The files to serve: those compiled in, or, in a debug build started with `RAMPART_DEV_WEB_DIR`,
/// the same names read from that folder on every call, so the app can be edited without rebuilding.
pub fn current() -> Arc<Assets> {
    if cfg!(debug_assertions)
        && let Some(dir) = std::env::var_os("RAMPART_DEV_WEB_DIR")
    {
        let dir = std::path::PathBuf::from(dir);
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap_or_default();
        let files = FILES
            .iter()
            .map(|(name, kind, _)| ((*name).to_owned(), *kind, read(name)))
            .collect();
        return Arc::new(Assets::build(read("index.html"), files));
    }
    BUILT_IN.clone()
}

#[cfg(test)]
mod tests {
    use super::{Assets, BUILT_IN};

    #[test]
    fn the_shell_refers_to_versioned_assets_only() {
        let assets = &*BUILT_IN;
        let shell = String::from_utf8_lossy(&assets.shell.body);
        assert!(!shell.contains("\"/assets/app"), "an unversioned reference is left");
        assert!(shell.contains(&format!("\"/assets/{}/app.js\"", assets.version)));
        assert!(shell.contains(&format!("\"/assets/{}/app.css\"", assets.version)));
    }

    #[test]
    fn the_version_changes_with_any_file_and_text_is_gzipped() {
        let one = Assets::build(b"x".to_vec(), vec![("a.js".into(), "t", b"let a = 1;".repeat(100))]);
        let same = Assets::build(b"y".to_vec(), vec![("a.js".into(), "t", b"let a = 1;".repeat(100))]);
        let other = Assets::build(b"x".to_vec(), vec![("a.js".into(), "t", b"let a = 2;".repeat(100))]);
        assert_eq!(one.version, same.version, "the shell is not part of the version");
        assert_ne!(one.version, other.version);
        let a = one.get("a.js").expect("listed");
        let gz = a.gzip.as_ref().expect("repetitive text compresses");
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out).unwrap();
        assert_eq!(out, a.body);
    }
}
