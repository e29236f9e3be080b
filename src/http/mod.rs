//! The HTTP edge: extractors that speak our error shape, and the middleware every request passes.

pub mod client_ip;
pub mod cursor;
pub mod extract;
pub mod idempotency;
pub mod middleware;
pub mod request_id;
pub mod server;
