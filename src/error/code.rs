//! Every problem `code` Rampart answers with, in one place. Clients branch on these strings, so each
//! is a stable part of the API; README.md's error table documents every one (a test checks that it
//! does). Status codes are chosen where the error is raised; a code may come with more than one.

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal;)*) => {
        $($(#[$doc])* pub const $name: &str = $value;)*
        /// Every code above.
        pub const ALL: &[&str] = &[$($value),*];
    };
}

codes! {
    /// 400: The body is not valid JSON.
    MALFORMED_JSON = "malformed_json";
    /// 400: The body has a field the route does not accept.
    UNKNOWN_FIELD = "unknown_field";
    /// 400: The JSON body is not an object (an array, a string, a number or `null`).
    BODY_NOT_OBJECT = "body_not_object";
    /// 400: The JSON has the wrong shape or types (including a malformed refresh body).
    INVALID_BODY = "invalid_body";
    /// 400: The body could not be read.
    UNREADABLE_BODY = "unreadable_body";
    /// 400: The query string does not fit the route.
    INVALID_QUERY = "invalid_query";
    /// 400: A path parameter is malformed.
    INVALID_PATH = "invalid_path";
    /// 400: A pagination cursor is not one Rampart issued.
    INVALID_CURSOR = "invalid_cursor";
    /// 400: A token from a mail link (verify, reset, email change) is unknown, used, expired or no longer matches the account's address.
    /// 401: The access token is malformed, has a bad signature, is expired, or is for another issuer or audience. Also sent when the account behind it no longer exists.
    INVALID_TOKEN = "invalid_token";
    /// 400: The upload's multipart body could not be parsed.
    MALFORMED_MULTIPART = "malformed_multipart";
    /// 400: More than one `image` part.
    MULTIPLE_IMAGES = "multiple_images";
    /// 400: More than one `caption` part.
    MULTIPLE_CAPTIONS = "multiple_captions";
    /// 400: A multipart part other than `image` and `caption`.
    UNEXPECTED_FIELD = "unexpected_field";
    /// 400: `Idempotency-Key` is not 1–255 visible ASCII characters.
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key";
    /// 400: A passkey ceremony id is unknown, already finished, expired, for another route or from another client.
    INVALID_CEREMONY = "invalid_ceremony";
    /// 400: Any other 4xx produced outside the handlers (e.g. `416` from `/media`).
    BAD_REQUEST = "bad_request";
    /// 401: The route needs a bearer token and none was sent.
    MISSING_TOKEN = "missing_token";
    /// 401: The token is valid, but its session was logged out, revoked or has expired, or the user is disabled.
    SESSION_ENDED = "session_ended";
    /// 401: Wrong login or password. The same answer is given for unknown and disabled accounts.
    INVALID_CREDENTIALS = "invalid_credentials";
    /// 401: The refresh token is unknown or missing, or its session is no longer live.
    INVALID_REFRESH_TOKEN = "invalid_refresh_token";
    /// 401: An already-used refresh token was presented; the session has been ended.
    REFRESH_TOKEN_REUSED = "refresh_token_reused";
    /// 401: A sensitive action (changing roles, enrolling a factor) in a session whose last strong authentication is older than `auth.reauth_window_secs`; step up with `POST /api/v1/auth/reauthenticate`.
    REAUTHENTICATION_REQUIRED = "reauthentication_required";
    /// 401: The MFA challenge is unknown, already used, expired, from another client, or out of attempts; sign in again.
    INVALID_MFA_CHALLENGE = "invalid_mfa_challenge";
    /// 401: At `POST /auth/mfa/verify`: the TOTP or recovery code is wrong or was already used.
    /// 403: Elsewhere (confirming, disabling, step-up, new recovery codes): the same.
    WRONG_CODE = "wrong_code";
    /// 401: At sign-in: the passkey's answer did not verify (wrong origin, bad signature, unknown credential, another account's, or a signature counter that went backwards, the sign of a cloned authenticator).
    /// 422: At registration: the authenticator's answer did not verify.
    PASSKEY_REJECTED = "passkey_rejected";
    /// 403: `auth.require_mfa_for_staff` is on and this admin or moderator session was not signed in with a second factor.
    SECOND_FACTOR_REQUIRED = "second_factor_required";
    /// 403: The policy does not allow this actor to do this (a non-admin on `/admin`, someone else's post).
    FORBIDDEN = "forbidden";
    /// 403: The current password is wrong (password change, email change, account deletion).
    WRONG_PASSWORD = "wrong_password";
    /// 403: Cookie-mode refresh without the right `X-CSRF-Token`.
    CSRF_FAILED = "csrf_failed";
    /// 403: Posting needs a verified address (`posts.require_verified_email`).
    EMAIL_UNVERIFIED = "email_unverified";
    /// 404: No route at this path.
    NOT_FOUND = "not_found";
    /// 404: No such user (or, on public profiles and user post lists, a disabled one).
    USER_NOT_FOUND = "user_not_found";
    /// 404: No such live session of the caller.
    SESSION_NOT_FOUND = "session_not_found";
    /// 404: No such post (or, on reads and edits, its author is disabled).
    POST_NOT_FOUND = "post_not_found";
    /// 404: No such passkey of the caller.
    PASSKEY_NOT_FOUND = "passkey_not_found";
    /// 404: No such file under `/media`.
    MEDIA_NOT_FOUND = "media_not_found";
    /// 405: The path exists but not with this method (an `Allow` header lists the methods that are).
    METHOD_NOT_ALLOWED = "method_not_allowed";
    /// 408: Reserved for a 408 from a lower layer. Rampart's own request deadline answers `503` instead.
    REQUEST_TIMEOUT = "request_timeout";
    /// 409: An account with this email exists (`errors.email`, or `errors.new_email` on an email change).
    EMAIL_TAKEN = "email_taken";
    /// 409: The username is taken (`errors.username`).
    USERNAME_TAKEN = "username_taken";
    /// 409: The change (demotion, disabling, deletion) would leave no active admin.
    LAST_ADMIN = "last_admin";
    /// 409: A verification re-send for an address that is already verified.
    ALREADY_VERIFIED = "already_verified";
    /// 409: An authenticator is already enabled; disable it before enrolling another.
    TOTP_ALREADY_ENABLED = "totp_already_enabled";
    /// 409: No authenticator is enabled (or, when confirming, none is waiting for its first code).
    TOTP_NOT_ENABLED = "totp_not_enabled";
    /// 409: This authenticator's credential is already registered.
    PASSKEY_EXISTS = "passkey_exists";
    /// 409: Passkeys are off because `public_origin` has no domain name (WebAuthn needs one).
    PASSKEYS_UNAVAILABLE = "passkeys_unavailable";
    /// 409: A request with this `Idempotency-Key` was still running after 20 s of waiting; retry.
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress";
    /// 412: `If-Match` does not name the post's current version.
    PRECONDITION_FAILED = "precondition_failed";
    /// 413: The body is larger than `http.json_limit_bytes` / `http.body_limit_bytes`, or the image part larger than `posts.upload_limit_bytes`.
    PAYLOAD_TOO_LARGE = "payload_too_large";
    /// 415: A JSON route got a body without `Content-Type: application/json`, or the upload route a body that is not `multipart/form-data`.
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type";
    /// 415: The image bytes are not JPEG, PNG, GIF or WebP.
    UNSUPPORTED_IMAGE_TYPE = "unsupported_image_type";
    /// 422: Input was well-formed but failed the rules; `errors` lists every failing field (also a missing `image` part, a bad caption, a bad feed filter).
    VALIDATION_FAILED = "validation_failed";
    /// 422: The image part is empty.
    EMPTY_FILE = "empty_file";
    /// 422: The image bytes also contain HTML, SVG, script or PHP markup.
    POLYGLOT_REJECTED = "polyglot_rejected";
    /// 422: The image exceeds `posts.max_dimension` / `posts.max_pixels` (or the decoder's memory cap).
    IMAGE_TOO_LARGE = "image_too_large";
    /// 422: The image is truncated or corrupt.
    MALFORMED_IMAGE = "malformed_image";
    /// 422: The `Idempotency-Key` was used before with a different body.
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused";
    /// 429: A rate limit or a posting quota was hit; see `Retry-After`.
    RATE_LIMITED = "rate_limited";
    /// 500: An unexpected failure (including a panic).
    INTERNAL_ERROR = "internal_error";
    /// 502: The storage service refused the operation (or a local I/O error); nothing was saved.
    STORAGE_ERROR = "storage_error";
    /// 503: The database or Redis is unreachable, the pool is exhausted, or the request exceeded `http.request_timeout_secs`.
    SERVICE_UNAVAILABLE = "service_unavailable";
    /// 503: The storage service could not be reached or is rate-limiting; nothing was saved.
    STORAGE_UNAVAILABLE = "storage_unavailable";
    /// 504: Storing took longer than `storage.timeout_ms`; nothing was saved.
    STORAGE_TIMEOUT = "storage_timeout";
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_code_is_documented_in_the_readme() {
        let readme = include_str!("../../README.md");
        for code in super::ALL {
            assert!(
                readme.contains(&format!("| `{code}` |")),
                "README.md's error table lacks `{code}`"
            );
        }
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in super::ALL {
            assert!(seen.insert(code), "{code} twice");
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code}");
        }
    }
}
