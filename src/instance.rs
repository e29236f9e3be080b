//! What a client may know about this instance before it sends anything: the upload limit and the
//! image types the pipeline accepts, the caption length, whether posting waits for a verified
//! address and whether passkeys work here. The web app checks a file against these before uploading,
//! so a team that raises `posts.upload_limit_bytes` needs no change to the app.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show_instance))
}

/// The limits and features a client should know about.
#[derive(Serialize, ToSchema)]
struct InstanceView {
    /// Largest image upload accepted, in bytes (`posts.upload_limit_bytes`).
    upload_limit_bytes: usize,
    /// The image types an upload may be; the type is read from the bytes, not from the name.
    image_types: [&'static str; 4],
    /// Longest caption, in characters.
    caption_max_chars: usize,
    /// Posting needs a verified email address.
    posting_requires_verified_email: bool,
    /// Passkeys can be registered and used (they need `public_origin` with a domain name).
    passkeys: bool,
}

/// Limits and features of this instance.
#[utoipa::path(get, path = "/api/v1/instance", tag = "instance",
    responses((status = 200, body = InstanceView)))]
async fn show_instance(State(state): State<AppState>) -> Json<InstanceView> {
    let posts = &state.settings().posts;
    Json(InstanceView {
        upload_limit_bytes: posts.upload_limit_bytes,
        image_types: ["image/jpeg", "image/png", "image/gif", "image/webp"],
        caption_max_chars: crate::domain::caption::MAX_CHARS,
        posting_requires_verified_email: posts.require_verified_email,
        passkeys: state.webauthn().is_some(),
    })
}
