//! The local-disk driver: files under the media folder, written to a temporary name, flushed to disk,
//! then renamed, so a crash never leaves a half-written file under a real key.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::{ImageSet, ImageUrls, MediaStore, Rendition, StorageError, StoredImage};

/// Stores renditions in a folder and serves them at `/media/<key>`.
pub struct LocalStore {
    root: PathBuf,
    url_base: String,
}

impl LocalStore {
    /// `url_base` prefixes `/media/<key>` in URLs; empty gives URLs relative to the API origin.
    pub fn new(root: PathBuf, url_base: &str) -> anyhow::Result<LocalStore> {
        std::fs::create_dir_all(&root).map_err(|e| anyhow::anyhow!("creating media folder {}: {e}", root.display()))?;
        Ok(LocalStore {
            root,
            url_base: url_base.trim_end_matches('/').to_owned(),
        })
    }

    /// The file for a key. Keys are made by the server, but the path is still checked so that a key
    /// can never leave the media folder.
    pub fn path_for(&self, key: &str) -> Option<PathBuf> {
        if !is_safe_key(key) {
            return None;
        }
        Some(self.root.join(key))
    }

    async fn write(&self, key: &str, r: &Rendition) -> Result<(), StorageError> {
        let path = self
            .path_for(key)
            .ok_or_else(|| StorageError::Rejected("unsafe key".into()))?;
        let dir = path
            .parent()
            .ok_or_else(|| StorageError::Rejected("key without folder".into()))?;
        tokio::fs::create_dir_all(dir).await?;
        let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::now_v7().simple()));
        let result = async {
            let mut f = tokio::fs::File::create(&tmp).await?;
            f.write_all(&r.bytes).await?;
            f.sync_all().await?;
            drop(f);
            tokio::fs::rename(&tmp, &path).await?;
            sync_dir(dir).await
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result.map_err(StorageError::Io)
    }

    async fn remove_key(&self, key: &str) -> Result<(), StorageError> {
        let Some(path) = self.path_for(key) else { return Ok(()) };
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    // The rename is durable only once the folder entry is on disk.
    let d = tokio::fs::File::open(dir).await?;
    d.sync_all().await
}

/// Keys look like `p/<hex>/<name>.<ext>`: ASCII letters, digits, `_`, `-`, `.`, `/`; no `..`, no
/// leading slash, no empty segment.
pub fn is_safe_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 200
        && !key.starts_with('/')
        && key
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && !seg.starts_with('.'))
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.'))
}

#[async_trait]
impl MediaStore for LocalStore {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn store(&self, base_key: &str, set: ImageSet) -> Result<StoredImage, StorageError> {
        let image = StoredImage::keyed(self.name(), base_key, &set);
        for (key, rendition) in image.writes(&set) {
            if let Err(e) = self.write(key, rendition).await {
                let _ = self.remove(&image).await;
                return Err(e);
            }
        }
        Ok(image)
    }

    async fn remove(&self, image: &StoredImage) -> Result<(), StorageError> {
        for key in image.keys() {
            self.remove_key(key).await?;
        }
        if let Some(dir) = self.path_for(&image.base_key) {
            let _ = tokio::fs::remove_dir(dir).await;
        }
        Ok(())
    }

    async fn urls(&self, image: &StoredImage) -> Result<ImageUrls, StorageError> {
        let url = |key: &str| format!("{}/media/{key}", self.url_base);
        Ok(ImageUrls {
            original: url(&image.original_key),
            display: url(&image.display_key),
            thumbnail: url(&image.thumbnail_key),
            display_webp: image.display_webp_key.as_deref().map(url),
            thumbnail_webp: image.thumbnail_webp_key.as_deref().map(url),
        })
    }

    async fn exists(&self, image: &StoredImage) -> Result<bool, StorageError> {
        for key in image.keys() {
            match self.path_for(key) {
                Some(p) if tokio::fs::try_exists(&p).await? => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    async fn list_base_keys(&self) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let prefix_dir = self.root.join("p");
        let mut entries = match tokio::fs::read_dir(&prefix_dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(keys),
            Err(e) => return Err(e.into()),
        };
        while let Some(entry) = entries.next_entry().await? {
            if let Some(name) = entry.file_name().to_str()
                && entry.file_type().await?.is_dir()
            {
                keys.push(format!("p/{name}"));
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn remove_base_key(&self, base_key: &str) -> Result<(), StorageError> {
        let Some(dir) = self.path_for(base_key) else {
            return Ok(());
        };
        match tokio::fs::remove_dir_all(dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_safe_key;

    #[test]
    fn only_server_shaped_keys_are_safe() {
        assert!(is_safe_key("p/0190abcd/original.jpg"));
        for bad in [
            "",
            "/etc/passwd",
            "p/../../etc",
            "p//x",
            "p/./x",
            "p/.hidden",
            "p/a b",
            "p/%2e%2e/x",
            "p\\x",
        ] {
            assert!(!is_safe_key(bad), "{bad:?}");
        }
    }
}
