//! One integration-test binary for the whole HTTP surface, so linking happens once.

mod helpers;
mod imagekit_standin;

mod accounts;
mod admin;
mod authenticator;
mod backup;
mod cli;
mod contract;
mod doctor;
mod edge;
mod factors;
mod fixtures;
mod health;
mod housekeeping;
mod limits;
mod log_scan;
mod mail;
mod metrics;
mod migrate_data;
mod multi_instance;
mod otlp;
mod outage;
mod passkeys;
mod posts;
mod process;
mod reconcile_crash;
mod recovery;
mod sessions;
mod shared_limits;
mod smtp;
mod storage_drivers;
mod storage_failures;
mod tokens;
mod upgrade;
mod web;
