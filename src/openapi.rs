//! The API contract: an OpenAPI 3.1 document assembled from the route annotations, served at
//! `/api/v1/openapi.json`, and a Swagger UI at `/docs` whose assets are compiled into the binary.

use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::Problem;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Rampart API", description = "Accounts, roles and image posts."),
    modifiers(&BearerAuth),
    components(schemas(Problem)),
    tags(
        (name = "auth", description = "Registration, sign-in, sessions"),
        (name = "me", description = "The caller's own account"),
        (name = "users", description = "Public profiles"),
        (name = "admin", description = "Administration (admins only)"),
        (name = "posts", description = "Image posts and the feed"),
        (name = "ops", description = "Health and readiness"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// Every documented route, with the document they build.
pub fn api_router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::accounts::router())
        .merge(crate::posts::router(state))
}

/// The document and the offline docs page.
pub fn docs_router(openapi: utoipa::openapi::OpenApi) -> Router<AppState> {
    SwaggerUi::new("/docs").url("/api/v1/openapi.json", openapi).into()
}
