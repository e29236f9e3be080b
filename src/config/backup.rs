//! `[backup]`: backups that `serve` takes on a schedule, and where PostgreSQL's tools are. `rampart
//! backup` and `rampart restore` work without any of it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    /// Seconds between scheduled backups taken by `serve`; 0 (the default) turns them off. With
    /// several instances on one PostgreSQL database, an advisory lock keeps them from dumping at once;
    /// turn it on in one instance only.
    pub every_secs: u64,
    /// How many scheduled backups to keep; older ones are deleted after each new one.
    pub keep: usize,
    /// Folder scheduled backups go to, one `rampart-<UTC time>` folder each. Required with `every_secs`.
    pub dir: Option<PathBuf>,
    /// `pg_dump` to run for PostgreSQL (`pg_restore` is taken from the same folder). Unset: `PATH`,
    /// then the newest `/usr/lib/postgresql/*/bin`.
    pub pg_dump: Option<PathBuf>,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            every_secs: 0,
            keep: 7,
            dir: None,
            pg_dump: None,
        }
    }
}

impl BackupSettings {
    /// Whether `serve` takes backups on a schedule.
    pub fn scheduled(&self) -> bool {
        self.every_secs > 0
    }

    pub(super) fn check(&self, data_dir: &std::path::Path, problems: &mut Vec<String>) {
        if !self.scheduled() {
            return;
        }
        match &self.dir {
            None => problems.push("backup.dir must be set when backup.every_secs is".to_owned()),
            // Backups inside the data folder would be copied into each next backup of its media.
            Some(dir) if dir.starts_with(data_dir) && !data_dir.as_os_str().is_empty() => {
                problems.push("backup.dir must be outside the data folder".to_owned())
            }
            Some(_) => {}
        }
        if self.keep == 0 {
            problems.push("backup.keep must be at least 1".to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_needs_a_folder_outside_the_data_folder_and_keeps_at_least_one() {
        let data = std::path::Path::new("/var/lib/rampart");
        for (settings, named) in [
            (
                BackupSettings {
                    every_secs: 60,
                    ..BackupSettings::default()
                },
                "backup.dir",
            ),
            (
                BackupSettings {
                    every_secs: 60,
                    dir: Some(data.join("backups")),
                    ..BackupSettings::default()
                },
                "outside the data folder",
            ),
            (
                BackupSettings {
                    every_secs: 60,
                    keep: 0,
                    dir: Some("/srv/backups".into()),
                    ..BackupSettings::default()
                },
                "backup.keep",
            ),
        ] {
            let mut problems = Vec::new();
            settings.check(data, &mut problems);
            assert!(problems.iter().any(|p| p.contains(named)), "{named}: {problems:?}");
        }
        let mut problems = Vec::new();
        BackupSettings::default().check(data, &mut problems);
        let on = BackupSettings {
            every_secs: 60,
            dir: Some("/srv/backups".into()),
            ..BackupSettings::default()
        };
        on.check(data, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }
}
