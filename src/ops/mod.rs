//! Maintenance, apart from the features it maintains: moving a database between engines
//! (`rampart migrate-data`), reconciling stored media with the posts table (`rampart media
//! reconcile`), backups and restores (`rampart backup`, `rampart restore`, scheduled backups), the
//! periodic clean-up every instance runs, the health report, and checking a configuration against
//! its services (`rampart doctor`).

pub mod backup;
pub mod doctor;
pub mod health;
pub mod housekeeping;
pub mod reconcile;
pub mod transfer;
