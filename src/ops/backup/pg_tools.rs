//! Running PostgreSQL's own `pg_dump` and `pg_restore`: finding them, and handing them the connection
//! without putting the password on their command line, where every local user could read it (`ps`).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;

/// Where to look for the tools: the configured `pg_dump` (its `pg_restore` beside it), then `PATH`,
/// then the newest `/usr/lib/postgresql/<version>/bin` (Debian and Ubuntu install them there).
pub fn find(tool: &str, configured: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(pg_dump) = configured {
        let path = match tool {
            "pg_dump" => pg_dump.to_path_buf(),
            _ => pg_dump.with_file_name(tool),
        };
        anyhow::ensure!(
            path.is_file(),
            "{} does not exist (from backup.pg_dump)",
            path.display()
        );
        return Ok(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(tool)).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(found) = on_path.into_iter().find(|p| p.is_file()) {
        return Ok(found);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin").join(tool))))
        .filter(|(_, p)| p.is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, p)| p)
        .with_context(|| format!("{tool} not found on PATH or under /usr/lib/postgresql/*/bin; set backup.pg_dump"))
}

/// A `postgres://` URL split into the URL without its password (safe to show and to pass as an
/// argument) and the password (for `PGPASSWORD`).
pub fn split_password(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let scheme_end = url.find("://").context("a PostgreSQL URL has the form postgres://…")? + 3;
    let rest = &url[scheme_end..];
    anyhow::ensure!(
        !rest.contains("password="),
        "give the database password in the URL's user part (postgres://user:password@host/db), not as a parameter"
    );
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return Ok((url.to_owned(), None));
    };
    let Some((user, password)) = rest[..at].split_once(':') else {
        return Ok((url.to_owned(), None));
    };
    let shown = format!("{}{user}{}", &url[..scheme_end], &rest[at..]);
    Ok((shown, Some(percent_decode(password)?)))
}

fn percent_decode(text: &str) -> anyhow::Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .context("a broken %-escape in the database password")?;
            out.push(u8::from_str_radix(hex, 16).context("a broken %-escape in the database password")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).context("the database password is not UTF-8")
}

/// Runs `tool` with `args` against `url`: the URL without its password goes last on the command line,
/// the password in `PGPASSWORD`. Fails with the tool's own error output.
pub async fn run(tool: &Path, args: &[&std::ffi::OsStr], url: &str) -> anyhow::Result<()> {
    let (shown, password) = split_password(url)?;
    let mut cmd = tokio::process::Command::new(tool);
    cmd.args(args)
        .arg(format!("--dbname={shown}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(password) = password {
        cmd.env("PGPASSWORD", password);
    }
    let out = cmd
        .output()
        .await
        .with_context(|| format!("running {}", tool.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "{} failed ({}): {}",
        tool.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_and_is_decoded() {
        let (shown, password) = split_password("postgres://app:p%40ss:w@db:5432/rampart?sslmode=require").unwrap();
        assert_eq!(shown, "postgres://app@db:5432/rampart?sslmode=require");
        assert_eq!(password.as_deref(), Some("p@ss:w"));
        let (shown, password) = split_password("postgresql://app@db/rampart").unwrap();
        assert_eq!((shown.as_str(), password), ("postgresql://app@db/rampart", None));
        assert!(split_password("postgres://db/rampart?password=x").is_err());
    }
}
