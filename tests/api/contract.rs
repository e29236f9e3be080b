//! The OpenAPI document against the server that serves it: every answer a shared layer gives is
//! documented on the operation that gives it, parameters sit where the server reads them, the
//! documented limits are the enforced ones, and every link leads somewhere. (tests/contract runs
//! schemathesis over the whole document; these are the rules a new route could break first.)

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, TestUser, spawn_app};
use rampart::domain::Role;

struct Operation {
    method: Method,
    path: String,
    op: Value,
}

async fn document(app: &TestApp) -> Value {
    app.get("/api/v1/openapi.json").await.json().await.unwrap()
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            all.push(Operation {
                method,
                path: path.clone(),
                op: op.clone(),
            });
        }
    }
    assert!(all.len() > 20, "the document lists the API");
    all
}

fn params<'a>(op: &'a Value, place: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |p| p["in"] == place)
}

fn documented(op: &Value, status: StatusCode) -> bool {
    op["responses"].get(status.as_str()).is_some()
}

/// The path with real values: a fresh id (nothing lives there) and the caller's own username.
fn concrete(path: &str, user: &TestUser) -> String {
    path.replace("{id}", &uuid::Uuid::now_v7().to_string())
        .replace("{username}", &user.username)
}

fn secured(op: &Value) -> bool {
    op["security"].as_array().is_some_and(|s| !s.is_empty())
}

fn json_body(op: &Value) -> bool {
    op["requestBody"]["content"].get("application/json").is_some()
}

#[tokio::test]
async fn every_answer_from_a_shared_layer_is_documented_where_it_comes() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let doc = document(&app).await;
    let mut checked = 0;
    for Operation { method, path, op } in operations(&doc) {
        let url = app.url(&concrete(&path, &admin));
        if secured(&op) {
            let mut req = app.client.request(method.clone(), &url);
            if json_body(&op) {
                req = req.json(&serde_json::json!({}));
            }
            let res = req.send().await.unwrap();
            assert_eq!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a token"
            );
            assert!(
                documented(&op, StatusCode::UNAUTHORIZED),
                "{method} {path}: 401 undocumented"
            );
            checked += 1;
        }
        if json_body(&op) {
            let send = |content_type: &'static str, body: &'static str| {
                app.client
                    .request(method.clone(), &url)
                    .bearer_auth(&admin.access)
                    .header("content-type", content_type)
                    .body(body)
                    .send()
            };
            let res = send("application/json", "[1]").await.unwrap();
            assert_eq!(
                res.status(),
                StatusCode::BAD_REQUEST,
                "{method} {path} with an array body"
            );
            assert!(
                documented(&op, StatusCode::BAD_REQUEST),
                "{method} {path}: 400 undocumented"
            );
            let res = send("text/plain", "{}").await.unwrap();
            assert_eq!(
                res.status(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{method} {path} as text/plain"
            );
            assert!(
                documented(&op, StatusCode::UNSUPPORTED_MEDIA_TYPE),
                "{method} {path}: 415 undocumented"
            );
            checked += 1;
        }
        if params(&op, "query").next().is_some() {
            let res = app
                .client
                .request(method.clone(), format!("{url}?no_such_parameter=1"))
                .bearer_auth(&admin.access)
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                StatusCode::BAD_REQUEST,
                "{method} {path} with an unknown parameter"
            );
            assert!(
                documented(&op, StatusCode::BAD_REQUEST),
                "{method} {path}: 400 undocumented"
            );
            checked += 1;
        }
        // Every error answer is a problem document.
        for (status, response) in op["responses"].as_object().unwrap() {
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/Problem", "{method} {path} {status}");
            }
        }
    }
    assert!(checked > 25, "the shared layers were exercised ({checked})");
}

#[tokio::test]
async fn parameters_are_documented_where_the_server_reads_them() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for Operation { method, path, op } in operations(&doc) {
        // Every `{name}` in the path is a path parameter and every path parameter is in the path.
        let in_path: Vec<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(name, _)| name))
            .collect();
        let declared: Vec<&str> = params(&op, "path").map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(in_path, declared, "{method} {path}: path parameters");
    }
    // The feed's filters are query parameters (they were once documented as path parameters).
    let feed = &doc["paths"]["/api/v1/posts"]["get"];
    let query: Vec<&str> = params(feed, "query").map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(query, ["author", "tag", "q", "since", "until", "cursor", "limit"]);
    let user_posts = &doc["paths"]["/api/v1/users/{username}/posts"]["get"];
    assert!(
        params(user_posts, "query").all(|p| p["name"] != "author"),
        "the path names the author"
    );
}

#[tokio::test]
async fn page_sizes_are_refused_outside_their_documented_bounds() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let doc = document(&app).await;
    let mut lists = 0;
    for Operation { method, path, op } in operations(&doc) {
        let Some(limit) = params(&op, "query").find(|p| p["name"] == "limit") else {
            continue;
        };
        let (min, max) = (
            limit["schema"]["minimum"].as_i64().unwrap(),
            limit["schema"]["maximum"].as_i64().unwrap(),
        );
        let url = app.url(&concrete(&path, &admin));
        for (n, expected) in [
            (min - 1, StatusCode::UNPROCESSABLE_ENTITY),
            (min, StatusCode::OK),
            (max, StatusCode::OK),
            (max + 1, StatusCode::UNPROCESSABLE_ENTITY),
        ] {
            let res = app
                .client
                .request(method.clone(), format!("{url}?limit={n}"))
                .bearer_auth(&admin.access)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), expected, "{method} {path}?limit={n}");
        }
        lists += 1;
    }
    assert_eq!(lists, 4, "feed, user posts, admin users, admin audit");
}

#[tokio::test]
async fn every_link_leads_to_a_real_operation_and_its_parameters() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let all = operations(&doc);
    let mut links = 0;
    for Operation { method, path, op } in &all {
        for (status, response) in op["responses"].as_object().unwrap() {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                let target = all
                    .iter()
                    .find(|o| o.op["operationId"] == link["operationId"])
                    .unwrap_or_else(|| panic!("{method} {path} {status}: link {name} leads nowhere"));
                for (param, expression) in link["parameters"].as_object().unwrap() {
                    let (place, param) = match param.split_once('.') {
                        Some(qualified) => qualified,
                        None if target.path.contains(&format!("{{{param}}}")) => ("path", param.as_str()),
                        None => ("query", param.as_str()),
                    };
                    assert!(
                        params(&target.op, place).any(|p| p["name"] == param),
                        "{method} {path} → {name}: no {place} parameter {param}"
                    );
                    assert!(expression.as_str().unwrap().starts_with('$'), "{expression}");
                }
                links += 1;
            }
        }
    }
    assert!(links >= 15, "links: {links}");
}
