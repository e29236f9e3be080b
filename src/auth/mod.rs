//! Authentication and authorization: password hashing, tokens, the request extractors that establish
//! who is calling, the policy that decides what they may do, and abuse limits.

pub mod extract;
pub mod limiter;
pub mod limits;
pub mod password;
pub mod policy;
pub mod secrets;
pub mod sessions;
pub mod tokens;
pub mod totp;
pub mod vault;
