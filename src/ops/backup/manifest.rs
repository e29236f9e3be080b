//! `manifest.json`: what a backup holds and the SHA-256 of every file in it, so a restore can refuse a
//! backup that was damaged or tampered with before writing anything.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bumped when the layout of a backup changes in a way an older `restore` would misread.
pub const FORMAT: u32 = 1;
/// The manifest's file name inside a backup folder.
pub const FILE: &str = "manifest.json";

/// The description of one backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// The `rampart` that took the backup.
    pub rampart_version: String,
    /// `sqlite` or `postgres`.
    pub engine: String,
    /// The latest migration applied to the database in the backup.
    pub migration_version: i64,
    /// When the database snapshot began (RFC 3339, UTC).
    pub started_at: String,
    pub media: MediaNote,
    /// Every file of the backup except the manifest, sorted by path.
    pub files: Vec<FileEntry>,
}

/// Whether the media is in the backup, and where it is otherwise.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaNote {
    /// The storage driver at backup time.
    pub driver: String,
    /// `media/` holds the local driver's files.
    pub included: bool,
    pub note: String,
}

/// One file: its path relative to the backup folder (always with `/`), size and SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

impl Manifest {
    /// Lists and hashes every file under `dir` (the manifest aside) into `files`, then writes
    /// `dir/manifest.json`, flushed to disk.
    pub fn seal(mut self, dir: &Path) -> anyhow::Result<Manifest> {
        let mut files = Vec::new();
        for path in walk(dir)? {
            let rel = relative(dir, &path)?;
            if rel == FILE {
                continue;
            }
            let (size, sha256) = hash_file(&path)?;
            files.push(FileEntry {
                path: rel,
                size,
                sha256,
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        self.files = files;
        let text = serde_json::to_vec_pretty(&self).context("encoding the manifest")?;
        let target = dir.join(FILE);
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
        std::fs::File::open(&target)?.sync_all()?;
        Ok(self)
    }

    /// Reads `dir/manifest.json`.
    pub fn read(dir: &Path) -> anyhow::Result<Manifest> {
        let path = dir.join(FILE);
        let text =
            std::fs::read(&path).with_context(|| format!("reading {} (is this a Rampart backup?)", path.display()))?;
        let manifest: Manifest =
            serde_json::from_slice(&text).with_context(|| format!("{} is not a backup manifest", path.display()))?;
        anyhow::ensure!(
            manifest.format == FORMAT,
            "the backup's format is {} but this rampart reads format {FORMAT}",
            manifest.format
        );
        Ok(manifest)
    }

    /// Checks that `dir` holds exactly the listed files with their sizes and checksums; the error names
    /// the first file that differs.
    pub fn verify(&self, dir: &Path) -> anyhow::Result<()> {
        for entry in &self.files {
            anyhow::ensure!(
                is_plain_relative(&entry.path),
                "the manifest lists {:?}, which is outside the backup",
                entry.path
            );
            let path = dir.join(&entry.path);
            let (size, sha256) =
                hash_file(&path).with_context(|| format!("backup file {} is unreadable", entry.path))?;
            anyhow::ensure!(
                size == entry.size && sha256 == entry.sha256,
                "backup file {} is corrupted: its size or SHA-256 differs from the manifest",
                entry.path
            );
        }
        for path in walk(dir)? {
            let rel = relative(dir, &path)?;
            anyhow::ensure!(
                rel == FILE || self.files.iter().any(|f| f.path == rel),
                "backup file {rel} is not in the manifest"
            );
        }
        Ok(())
    }

    /// Whether the backup lists `path`.
    pub fn holds(&self, path: &str) -> bool {
        self.files.iter().any(|f| f.path == path)
    }
}

/// A path the manifest may name: relative, no `..`, no empty segment.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

fn relative(dir: &Path, path: &Path) -> anyhow::Result<String> {
    let rel = path.strip_prefix(dir).context("a file outside the backup folder")?;
    let parts: Vec<&str> = rel
        .components()
        .map(|c| c.as_os_str().to_str().context("a file name that is not UTF-8"))
        .collect::<anyhow::Result<_>>()?;
    Ok(parts.join("/"))
}

/// Every regular file under `dir`, recursively. Symbolic links are refused: a backup is plain files.
pub fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).with_context(|| format!("listing {}", folder.display()))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            } else {
                anyhow::bail!("{} is neither a file nor a folder", entry.path().display());
            }
        }
    }
    Ok(files)
}

/// Size and hex SHA-256 of a file, read in chunks.
pub fn hash_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let digest = hasher.finalize();
    Ok((size, digest.iter().map(|b| format!("{b:02x}")).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_accepted() {
        for good in ["rampart.db", "media/p/abc/original.jpg"] {
            assert!(is_plain_relative(good), "{good}");
        }
        for bad in ["", "/etc/passwd", "../x", "media/../../x", "media//x", "./x"] {
            assert!(!is_plain_relative(bad), "{bad}");
        }
    }

    #[test]
    fn sha256_of_a_known_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        let (size, hash) = hash_file(&path).unwrap();
        assert_eq!(size, 3);
        assert_eq!(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
