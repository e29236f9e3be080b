//! Cookie mode: the refresh token in an HttpOnly, Secure, SameSite=Strict cookie scoped to `/api/v1/auth`,
//! and a CSRF token the client echoes in `X-CSRF-Token` (checked against the session's stored hash).

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

pub const REFRESH_COOKIE: &str = "rampart_refresh";
pub const CSRF_HEADER: &str = "x-csrf-token";
const AUTH_PATH: &str = "/api/v1/auth";

/// Sets the refresh cookie.
pub fn with_refresh(jar: CookieJar, token: String, max_age_secs: i64) -> CookieJar {
    jar.add(
        Cookie::build((REFRESH_COOKIE, token))
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Strict)
            .path(AUTH_PATH)
            .max_age(time::Duration::seconds(max_age_secs))
            .build(),
    )
}

/// Clears the refresh cookie.
pub fn cleared(jar: CookieJar) -> CookieJar {
    jar.remove(Cookie::build(REFRESH_COOKIE).path(AUTH_PATH).build())
}
