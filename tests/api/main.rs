//! One integration-test binary for the whole HTTP surface, so linking happens once.

mod helpers;

mod accounts;
mod admin;
mod cli;
mod edge;
mod limits;
mod sessions;
mod tokens;
