//! Rampart: a self-hostable backend for image posts.
//!
//! Requests flow Validation → Authentication → Authorization → Controller → Database → Response;
//! `docs/ARCHITECTURE.md` maps each layer to its module.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod factors;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod http;
pub mod instance;
pub mod mail;
pub mod media;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod posts;
pub mod routes;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod web;
