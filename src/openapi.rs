//! The API contract: an OpenAPI 3.1 document assembled from the route annotations (the routes
//! themselves are in `routes.rs`), served at
//! `/api/v1/openapi.json`, and a Swagger UI at `/docs` whose assets are compiled into the binary.

use axum::Router;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
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
        (name = "instance", description = "Limits and features of this instance"),
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

/// An empty router that collects the document of the routes merged into it (`routes::api`).
pub fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
}

/// The routes and their document, completed with the shared answers and the links.
pub fn finish(api: OpenApiRouter<AppState>) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = api.split_for_parts();
    shared_answers(&mut doc);
    links(&mut doc);
    (router, doc)
}

/// OpenAPI links: which answer feeds which next call (a created post to its page, edit and delete, a
/// listed user to the admin's update, …). Clients and generators (schemathesis's stateful phase) follow
/// them.
const LINKS: &[LinkSpec] = &[
    ("create_post", "201", "get_post", &[("id", "$response.body#/id")]),
    (
        "create_post",
        "201",
        "update_post",
        &[
            ("id", "$response.body#/id"),
            ("header.If-Match", "$response.header.ETag"),
        ],
    ),
    ("create_post", "201", "delete_post", &[("id", "$response.body#/id")]),
    (
        "get_post",
        "200",
        "update_post",
        &[
            ("id", "$response.body#/id"),
            ("header.If-Match", "$response.header.ETag"),
        ],
    ),
    ("get_post", "200", "delete_post", &[("id", "$response.body#/id")]),
    (
        "get_post",
        "200",
        "get_profile",
        &[("username", "$response.body#/author/username")],
    ),
    ("update_post", "200", "get_post", &[("id", "$response.body#/id")]),
    ("list_feed", "200", "get_post", &[("id", "$response.body#/items/0/id")]),
    (
        "list_feed",
        "200",
        "update_post",
        &[("id", "$response.body#/items/0/id")],
    ),
    (
        "list_feed",
        "200",
        "delete_post",
        &[("id", "$response.body#/items/0/id")],
    ),
    (
        "list_feed",
        "200",
        "list_user_posts",
        &[("username", "$response.body#/items/0/author/username")],
    ),
    (
        "list_user_posts",
        "200",
        "get_post",
        &[("id", "$response.body#/items/0/id")],
    ),
    (
        "register",
        "201",
        "get_profile",
        &[("username", "$request.body#/username")],
    ),
    (
        "get_me",
        "200",
        "get_profile",
        &[("username", "$response.body#/username")],
    ),
    (
        "get_me",
        "200",
        "list_user_posts",
        &[("username", "$response.body#/username")],
    ),
    (
        "get_profile",
        "200",
        "list_user_posts",
        &[("username", "$response.body#/username")],
    ),
    (
        "list_sessions",
        "200",
        "revoke_session",
        &[("id", "$response.body#/items/0/id")],
    ),
    (
        "list_users",
        "200",
        "update_user",
        &[("id", "$response.body#/items/0/id")],
    ),
    ("update_user", "200", "list_audit", &[("user_id", "$response.body#/id")]),
];

/// Every operation of the document (the methods Rampart uses).
fn operations_mut(doc: &mut utoipa::openapi::OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    })
}

/// (source operation, status, target operation, [(parameter, runtime expression)])
type LinkSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

fn links(doc: &mut utoipa::openapi::OpenApi) {
    for op in operations_mut(doc) {
        let Some(id) = op.operation_id.clone() else { continue };
        for (_, status, target, params) in LINKS.iter().filter(|(source, ..)| *source == id) {
            let Some(RefOr::T(response)) = op.responses.responses.get_mut(*status) else {
                continue;
            };
            let mut link = utoipa::openapi::link::LinkBuilder::new().operation_id(*target);
            for (name, expression) in *params {
                link = link.parameter(*name, *expression);
            }
            response.links.insert((*target).to_owned(), RefOr::T(link.build()));
        }
    }
}

/// Adds to every operation the answers that come from a shared layer rather than from its handler,
/// so that no route has to repeat them and no new route can forget them: the extractors (a bearer
/// token, a JSON or multipart body, a query string, path ids) and the layers every request passes
/// (the request deadline, the database and Redis failing closed). An answer the handler documents
/// itself keeps the handler's description.
fn shared_answers(doc: &mut utoipa::openapi::OpenApi) {
    for op in operations_mut(doc) {
        complete(op);
    }
}

fn complete(op: &mut Operation) {
    unwrap_optional_body(op);
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let body = match &op.request_body {
        Some(RefOr::T(b)) => {
            let json = b.content.contains_key("application/json");
            Some((json, !json))
        }
        _ => None,
    };
    let has = |place: ParameterIn| {
        op.parameters
            .iter()
            .flatten()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
    };
    let (query, path) = (has(ParameterIn::Query), has(ParameterIn::Path));

    let mut bad_request = Vec::new();
    if let Some((json, _)) = body {
        bad_request.push(if json {
            "the body is not JSON (`malformed_json`), not an object (`body_not_object`), has a field this \
             route does not take (`unknown_field`) or a value of the wrong type (`invalid_body`)"
        } else {
            "the multipart body is malformed or has parts this route does not take"
        });
    }
    if query {
        bad_request.push(
            "the query string has a parameter this route does not take or a value of the wrong type (`invalid_query`)",
        );
    }
    if !bad_request.is_empty() {
        add(op, "400", &format!("Malformed request: {}.", bad_request.join("; ")));
    }
    if secured {
        add(
            op,
            "401",
            "No bearer token (`missing_token`), a token that is invalid or expired (`invalid_token`), or a \
             session that has ended (`session_ended`).",
        );
    }
    if path {
        add(
            op,
            "404",
            "Nothing lives at this id or name (a malformed id answers the same).",
        );
    }
    if let Some((_, multipart)) = body {
        add(
            op,
            "413",
            "The body is larger than this route accepts (`payload_too_large`).",
        );
        add(
            op,
            "415",
            if multipart {
                "The body is not `multipart/form-data`, or the image is not an accepted type (`unsupported_media_type`)."
            } else {
                "The body is not `application/json` (`unsupported_media_type`)."
            },
        );
    }
    if body.is_some_and(|(json, _)| json) || query {
        add(
            op,
            "422",
            "A field did not pass validation (`validation_failed`, with `errors` by field).",
        );
    }
    add(
        op,
        "503",
        "The database or Redis is unavailable, or the request passed its deadline (`service_unavailable`, with \
         `Retry-After`).",
    );
}

/// A body declared as `Option<T>` comes out as `oneOf [T, null]`; but a JSON body must be an object
/// (`AppJson` refuses a bare `null` with `400 body_not_object`), so what `Option` means here is that the
/// body may be left out, which `required: false` already says.
fn unwrap_optional_body(op: &mut Operation) {
    let Some(RefOr::T(body)) = &mut op.request_body else {
        return;
    };
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else { continue };
        if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema {
            let mut others = one_of
                .items
                .iter()
                .filter(|s| !matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == Type::Null.into()));
            if let (Some(only), None) = (others.next(), others.next()) {
                content.schema = Some(only.clone());
            }
        }
    }
}

/// Documents `status` with the problem schema unless the operation already does.
fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses.responses.entry(status.to_owned()).or_insert_with(|| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    Content::new(Some(Ref::from_schema_name("Problem"))),
                )
                .build(),
        )
    });
}

/// The document and the offline docs page.
pub fn docs_router(openapi: utoipa::openapi::OpenApi) -> Router<AppState> {
    SwaggerUi::new("/docs").url("/api/v1/openapi.json", openapi).into()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    /// The types deriving `ToSchema` in `dir`, with the file each is in.
    fn schema_types(dir: &Path, found: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                schema_types(&path, found);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let mut derives = false;
            for line in text.lines().map(str::trim) {
                if line.starts_with("#[derive(") && line.contains("ToSchema") {
                    derives = true;
                } else if derives && !line.starts_with("#[") && !line.starts_with("///") {
                    let name = line
                        .split_whitespace()
                        .skip_while(|w| *w != "struct" && *w != "enum")
                        .nth(1)
                        .map(|n| n.split(['<', '{', '(']).next().unwrap_or(n).to_owned());
                    if let Some(name) = name {
                        found.push((name, path.display().to_string()));
                    }
                    derives = false;
                }
            }
        }
    }

    /// utoipa names a component after its type; a second type of the same name silently replaces the
    /// first in the document, so clients would be told the wrong body.
    #[test]
    fn every_schema_type_has_a_name_of_its_own() {
        let mut found = Vec::new();
        schema_types(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        assert!(found.len() > 20, "{found:?}");
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for (name, file) in &found {
            if let Some(other) = seen.insert(name, file) {
                panic!("two schema types are named {name}: {other} and {file}");
            }
        }
    }
}
