//! Administration over HTTP: listing users, changing roles and disabled state, and the audit trail.

use std::collections::HashSet;

use rampart::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

const USERS: &str = "/api/v1/admin/users";
const AUDIT: &str = "/api/v1/admin/audit";

fn user_path(id: &str) -> String {
    format!("{USERS}/{id}")
}

/// The ids on one page of a listing.
fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items is an array")
        .iter()
        .map(|u| u["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn get_page(app: &TestApp, query: &str, token: &str) -> Value {
    let res = app.get_auth(&format!("{USERS}?{query}"), token).await;
    assert_eq!(res.status(), StatusCode::OK, "listing with {query:?}");
    res.json().await.unwrap()
}

/// Role and disabled state as stored, read past the API.
async fn stored(app: &TestApp, id: &str) -> (Role, bool) {
    let row = rampart::store::users::find_by_id(app.state.db(), id.parse().unwrap())
        .await
        .unwrap()
        .expect("user row");
    (row.role, !row.is_active())
}

#[tokio::test]
async fn users_and_moderators_cannot_list_users() {
    let app = spawn_app().await;
    for role in [Role::User, Role::Moderator] {
        let who = app.user_with_role(role).await;

        let res = app.get_auth(USERS, &who.access).await;

        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
}

#[tokio::test]
async fn listing_users_without_a_token_is_unauthorized() {
    let app = spawn_app().await;

    let res = app.get(USERS).await;

    assert_problem(res, StatusCode::UNAUTHORIZED, "missing_token").await;
}

#[tokio::test]
async fn an_admin_sees_every_user_with_role_and_disabled_state() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let user = app.new_user().await;
    let moderator = app.user_with_role(Role::Moderator).await;

    let page = get_page(&app, "", &admin.access).await;

    let listed = ids(&page);
    for (who, role) in [(&admin, "admin"), (&user, "user"), (&moderator, "moderator")] {
        assert!(listed.contains(&who.id), "{} listed: {page}", who.username);
        let item = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == who.id.as_str())
            .unwrap();
        assert_eq!(item["role"], role);
        assert_eq!(item["username"], who.username.as_str());
        assert_eq!(item["email"], who.email.as_str());
        assert_eq!(item["disabled"], false);
        assert!(item.get("password_hash").is_none(), "no hash leaks: {item}");
    }
    assert_eq!(listed.len(), 3);
    assert!(page["next_cursor"].is_null());
}

#[tokio::test]
async fn the_user_list_can_be_filtered_by_role() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    app.new_user().await;
    let moderator = app.user_with_role(Role::Moderator).await;

    let page = get_page(&app, "role=moderator", &admin.access).await;

    assert_eq!(ids(&page), vec![moderator.id]);
}

#[tokio::test]
async fn the_user_list_can_be_filtered_by_a_substring() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let wanted = app.user_named("needle_in_hay").await;
    app.user_named("haystack_only").await;
    app.user_named("needleless").await;

    let by_name = get_page(&app, "q=LE_IN_H", &admin.access).await;
    let by_email = get_page(&app, "q=needle_in_hay%40example", &admin.access).await;

    assert_eq!(
        ids(&by_name),
        vec![wanted.id.clone()],
        "case-insensitive username match"
    );
    assert_eq!(ids(&by_email), vec![wanted.id], "email match");
}

#[tokio::test]
async fn cursor_pagination_walks_every_user_exactly_once() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let mut expected = HashSet::from([admin.id.clone()]);
    for _ in 0..4 {
        expected.insert(app.new_user().await.id);
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=2&cursor={c}"),
            None => "limit=2".to_owned(),
        };
        let page = get_page(&app, &query, &admin.access).await;
        pages += 1;
        assert!(pages <= 5, "pagination must end");
        let items = ids(&page);
        assert!(items.len() <= 2, "page respects the limit: {page}");
        seen.extend(items);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }

    assert_eq!(pages, 3, "five users in pages of two");
    assert_eq!(seen.len(), expected.len(), "no duplicates: {seen:?}");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);
}

#[tokio::test]
async fn a_malformed_cursor_is_a_bad_request() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    for cursor in ["not-a-cursor", "bm90LWEtdXVpZA", "%F0%9F%92%A9"] {
        let res = app.get_auth(&format!("{USERS}?cursor={cursor}"), &admin.access).await;

        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    }
}

#[tokio::test]
async fn a_page_limit_outside_one_to_a_hundred_is_refused() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    for limit in [0, 101, -1] {
        let res = app.get_auth(&format!("{USERS}?limit={limit}"), &admin.access).await;

        let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(problem["errors"]["limit"].is_array(), "limit={limit}: {problem}");
    }
}

#[tokio::test]
async fn a_promotion_applies_to_the_token_the_user_already_holds() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let user = app.new_user().await;
    assert_eq!(app.get_auth(USERS, &user.access).await.status(), StatusCode::FORBIDDEN);

    let res = app
        .patch_json_auth(&user_path(&user.id), &admin.access, &json!({ "role": "admin" }))
        .await;

    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["role"], "admin");
    assert_eq!(app.get_auth(USERS, &user.access).await.status(), StatusCode::OK);
    assert_eq!(stored(&app, &user.id).await, (Role::Admin, false));
}

#[tokio::test]
async fn a_demotion_applies_to_the_very_next_request() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let other_admin = app.user_with_role(Role::Admin).await;
    assert_eq!(app.get_auth(USERS, &other_admin.access).await.status(), StatusCode::OK);

    let res = app
        .patch_json_auth(&user_path(&other_admin.id), &admin.access, &json!({ "role": "user" }))
        .await;

    assert_eq!(res.status(), StatusCode::OK);
    let res = app.get_auth(USERS, &other_admin.access).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(stored(&app, &other_admin.id).await, (Role::User, false));
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_refuses_their_login_like_a_wrong_password() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let user = app.new_user().await;
    assert_eq!(app.me(&user.access).await.status(), StatusCode::OK);
    let wrong = assert_problem(
        app.login(&user.username, "not the password at all").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    let res = app
        .patch_json_auth(&user_path(&user.id), &admin.access, &json!({ "disabled": true }))
        .await;

    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["disabled"], true);
    let res = app.me(&user.access).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "session_ended").await;
    let refused = assert_problem(
        app.login(&user.username, &user.password).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    for key in ["type", "title", "detail", "code", "status"] {
        assert_eq!(refused[key], wrong[key], "{key} matches a wrong password");
    }
    assert_eq!(stored(&app, &user.id).await, (Role::User, true));
}

#[tokio::test]
async fn a_re_enabled_user_can_log_in_again() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let user = app.new_user().await;
    let path = user_path(&user.id);
    let res = app
        .patch_json_auth(&path, &admin.access, &json!({ "disabled": true }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = app
        .patch_json_auth(&path, &admin.access, &json!({ "disabled": false }))
        .await;

    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["disabled"], false);
    let res = app.login(&user.username, &user.password).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(app.me(access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_last_active_admin_cannot_demote_or_disable_themselves() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let path = user_path(&admin.id);
    let changes = [
        json!({ "role": "user" }),
        json!({ "role": "moderator" }),
        json!({ "disabled": true }),
        json!({ "role": "admin", "disabled": true }),
    ];
    for change in changes {
        let res = app.patch_json_auth(&path, &admin.access, &change).await;

        assert_problem(res, StatusCode::CONFLICT, "last_admin").await;
        assert_eq!(stored(&app, &admin.id).await, (Role::Admin, false), "after {change}");
    }
    assert_eq!(app.get_auth(USERS, &admin.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_admin_can_step_down_while_another_active_admin_remains() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    app.user_with_role(Role::Admin).await;

    let res = app
        .patch_json_auth(&user_path(&admin.id), &admin.access, &json!({ "role": "moderator" }))
        .await;

    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(stored(&app, &admin.id).await, (Role::Moderator, false));
}

#[tokio::test]
async fn a_disabled_admin_does_not_count_as_the_remaining_admin() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let other = app.user_with_role(Role::Admin).await;
    let res = app
        .patch_json_auth(&user_path(&other.id), &admin.access, &json!({ "disabled": true }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = app
        .patch_json_auth(&user_path(&admin.id), &admin.access, &json!({ "role": "user" }))
        .await;

    assert_problem(res, StatusCode::CONFLICT, "last_admin").await;
    assert_eq!(stored(&app, &admin.id).await, (Role::Admin, false));
}

#[tokio::test]
async fn unknown_fields_in_an_update_are_refused_and_nothing_changes() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let user = app.new_user().await;

    let res = app
        .patch_json_auth(
            &user_path(&user.id),
            &admin.access,
            &json!({ "role": "admin", "email": "x@example.com" }),
        )
        .await;

    assert_problem(res, StatusCode::BAD_REQUEST, "unknown_field").await;
    let row = rampart::store::users::find_by_id(app.state.db(), user.uid())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.role, Role::User);
    assert_eq!(row.email, user.email);
}

#[tokio::test]
async fn an_update_without_any_change_is_refused() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let user = app.new_user().await;

    let res = app
        .patch_json_auth(&user_path(&user.id), &admin.access, &json!({}))
        .await;

    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(stored(&app, &user.id).await, (Role::User, false));
}

#[tokio::test]
async fn updating_an_unknown_user_is_not_found() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let missing = uuid::Uuid::now_v7().to_string();

    let res = app
        .patch_json_auth(&user_path(&missing), &admin.access, &json!({ "role": "moderator" }))
        .await;

    assert_problem(res, StatusCode::NOT_FOUND, "user_not_found").await;
}

#[tokio::test]
async fn users_and_moderators_cannot_change_roles_or_disable_anyone() {
    let app = spawn_app().await;
    app.user_with_role(Role::Admin).await;
    let victim = app.new_user().await;
    for role in [Role::User, Role::Moderator] {
        let actor = app.user_with_role(role).await;
        let attempts = [
            (actor.id.clone(), json!({ "role": "admin" })),
            (victim.id.clone(), json!({ "role": "admin" })),
            (victim.id.clone(), json!({ "disabled": true })),
        ];
        for (target, change) in attempts {
            let res = app.patch_json_auth(&user_path(&target), &actor.access, &change).await;

            assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
        }
        assert_eq!(stored(&app, &actor.id).await, (role, false), "{role:?} unchanged");
    }
    assert_eq!(stored(&app, &victim.id).await, (Role::User, false));
}

#[tokio::test]
async fn users_and_moderators_cannot_read_the_audit_trail() {
    let app = spawn_app().await;
    for role in [Role::User, Role::Moderator] {
        let who = app.user_with_role(role).await;

        let res = app.get_auth(AUDIT, &who.access).await;

        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_problem(app.get(AUDIT).await, StatusCode::UNAUTHORIZED, "missing_token").await;
}

#[tokio::test]
async fn security_events_are_audited_with_actor_target_ip_and_user_agent() {
    const AGENT: &str = "rampart-audit-test/1.0";
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let client = reqwest::Client::builder().user_agent(AGENT).build().unwrap();
    let send = |req: reqwest::RequestBuilder| async move { req.send().await.expect("request") };

    let res = send(client.post(app.url("/api/v1/auth/register")).json(&json!({
        "username": "audited", "email": "audited@example.com", "password": "a long enough passphrase"
    })))
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    let target = body["user"]["id"].as_str().unwrap().to_owned();
    let login = |password: &str| {
        client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({ "login": "audited", "password": password }))
    };
    let res = send(login("not the password at all")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = send(login("a long enough passphrase")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap().to_owned();
    let path = app.url(&user_path(&target));
    let promote = client
        .patch(&path)
        .bearer_auth(&admin.access)
        .json(&json!({ "role": "moderator" }));
    assert_eq!(send(promote).await.status(), StatusCode::OK);
    let logout = client.post(app.url("/api/v1/auth/logout")).bearer_auth(&access);
    assert_eq!(send(logout).await.status(), StatusCode::NO_CONTENT);
    let disable = client
        .patch(&path)
        .bearer_auth(&admin.access)
        .json(&json!({ "disabled": true }));
    assert_eq!(send(disable).await.status(), StatusCode::OK);

    let res = app
        .get_auth(&format!("{AUDIT}?user_id={target}&limit=100"), &admin.access)
        .await;

    assert_eq!(res.status(), StatusCode::OK);
    let page: Value = res.json().await.unwrap();
    let events = page["items"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "user_disabled",
            "logout",
            "role_changed",
            "login",
            "login_failed",
            "register"
        ],
        "newest first"
    );
    let expected_actor = |kind: &str| match kind {
        "role_changed" | "user_disabled" => Some(admin.id.as_str()),
        "login_failed" => None,
        _ => Some(target.as_str()),
    };
    for event in events {
        let kind = event["kind"].as_str().unwrap();
        assert_eq!(
            event["actor_id"].as_str(),
            expected_actor(kind),
            "{kind} actor: {event}"
        );
        assert_eq!(event["target_id"], target.as_str(), "{kind} target: {event}");
        assert_eq!(event["ip"], "127.0.0.1", "{kind} ip: {event}");
        assert_eq!(event["user_agent"], AGENT, "{kind} user agent: {event}");
        assert!(event["created_at"].is_string(), "{kind} time: {event}");
    }
    let role_changed = events.iter().find(|e| e["kind"] == "role_changed").unwrap();
    assert_eq!(role_changed["details"], json!({ "from": "user", "to": "moderator" }));
}

#[tokio::test]
async fn the_audit_trail_can_be_filtered_by_kind() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let user = app.new_user().await;
    let res = app.login(&user.username, "not the password at all").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .patch_json_auth(&user_path(&user.id), &admin.access, &json!({ "role": "moderator" }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let all: Value = app.get_auth(AUDIT, &admin.access).await.json().await.unwrap();
    let res = app.get_auth(&format!("{AUDIT}?kind=role_changed"), &admin.access).await;

    assert_eq!(res.status(), StatusCode::OK);
    let page: Value = res.json().await.unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["kind"], "role_changed");
    assert_eq!(items[0]["target_id"], user.id.as_str());
    let kinds: HashSet<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains("register") && kinds.contains("login_failed"),
        "without a filter other kinds are listed too: {kinds:?}"
    );
}

/// Active admins as stored.
async fn active_admins(app: &TestApp) -> i64 {
    app.count(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL",
        &[],
    )
    .await
}

/// `DELETE /api/v1/me` with the caller's password.
async fn delete_self(app: &TestApp, user: &crate::helpers::TestUser) -> StatusCode {
    app.client
        .delete(app.url("/api/v1/me"))
        .bearer_auth(&user.access)
        .json(&json!({ "password": user.password }))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn admins_deleting_their_accounts_at_once_always_leave_one_admin() {
    for round in 0..3 {
        let app = spawn_app().await;
        let mut admins = Vec::new();
        for _ in 0..4 {
            admins.push(app.user_with_role(Role::Admin).await);
        }

        let statuses = futures::future::join_all(admins.iter().map(|a| delete_self(&app, a))).await;

        let deleted = statuses.iter().filter(|s| **s == StatusCode::NO_CONTENT).count();
        let refused = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
        assert_eq!((deleted, refused), (3, 1), "round {round}: {statuses:?}");
        assert_eq!(active_admins(&app).await, 1, "round {round}: exactly one admin remains");
    }
}

#[tokio::test]
async fn deletions_and_demotions_of_the_last_admins_racing_leave_an_admin() {
    for round in 0..3 {
        let app = spawn_app().await;
        let (a, b, c, d) = (
            app.user_with_role(Role::Admin).await,
            app.user_with_role(Role::Admin).await,
            app.user_with_role(Role::Admin).await,
            app.user_with_role(Role::Admin).await,
        );
        let demote = |actor: &crate::helpers::TestUser, target: &crate::helpers::TestUser| {
            let req = app
                .client
                .patch(app.url(&user_path(&target.id)))
                .bearer_auth(&actor.access)
                .json(&json!({ "role": "user" }));
            async move { req.send().await.unwrap().status() }
        };

        // a and b delete themselves while c and d demote each other and a.
        let (da, db, cd, dc, ca) = tokio::join!(
            delete_self(&app, &a),
            delete_self(&app, &b),
            demote(&c, &d),
            demote(&d, &c),
            demote(&c, &a),
        );

        let allowed = [
            StatusCode::OK,
            StatusCode::NO_CONTENT,
            StatusCode::CONFLICT,
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
        ];
        for status in [da, db, cd, dc, ca] {
            assert!(allowed.contains(&status), "round {round}: {status}");
        }
        assert!(
            active_admins(&app).await >= 1,
            "round {round}: an admin remains ({da} {db} {cd} {dc} {ca})"
        );
    }
}

#[tokio::test]
async fn the_user_list_can_be_filtered_by_status() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let active = app.new_user().await;
    let disabled = app.new_user().await;
    let res = app
        .patch_json_auth(&user_path(&disabled.id), &admin.access, &json!({ "disabled": true }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let only_disabled = get_page(&app, "status=disabled", &admin.access).await;
    let only_active = get_page(&app, "status=active&role=user", &admin.access).await;
    let everyone = get_page(&app, "", &admin.access).await;

    assert_eq!(ids(&only_disabled), vec![disabled.id.clone()]);
    assert_eq!(ids(&only_active), vec![active.id.clone()]);
    assert_eq!(ids(&everyone).len(), 3, "no filter, no status left out");
    for bad in ["status=banned", "status=", "status=Active"] {
        let res = app.get_auth(&format!("{USERS}?{bad}"), &admin.access).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
}

/// `DELETE /api/v1/admin/users/{id}/sessions`
fn sessions_path(id: &str) -> String {
    format!("{USERS}/{id}/sessions")
}

#[tokio::test]
async fn an_admin_signs_a_user_out_everywhere_at_once() {
    // Arrange: the user on two devices, and a bystander.
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let user = app.new_user().await;
    let bystander = app.new_user().await;
    let laptop: Value = app.login(&user.username, &user.password).await.json().await.unwrap();

    // Act
    let res = app.delete_auth(&sessions_path(&user.id), &admin.access).await;

    // Assert: both sessions end on their next request and cannot be refreshed; nobody else's does.
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for access in [user.access.as_str(), laptop["access_token"].as_str().unwrap()] {
        assert_problem(app.me(access).await, StatusCode::UNAUTHORIZED, "session_ended").await;
    }
    for refresh in [user.refresh.as_str(), laptop["refresh_token"].as_str().unwrap()] {
        let res = app.refresh(&json!({ "refresh_token": refresh })).await;
        assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }
    assert_eq!(app.me(&bystander.access).await.status(), StatusCode::OK);
    assert_eq!(app.me(&admin.access).await.status(), StatusCode::OK);
    let live = app
        .count(
            "SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL",
            rampart::args![user.uid()],
        )
        .await;
    assert_eq!(live, 0);
    let page: Value = app
        .get_auth(
            &format!("{AUDIT}?kind=sessions_revoked_by_admin&user_id={}", user.id),
            &admin.access,
        )
        .await
        .json()
        .await
        .unwrap();
    let event = &page["items"][0];
    assert_eq!(event["actor_id"], admin.id.as_str(), "{page}");
    assert_eq!(event["target_id"], user.id.as_str());
    assert_eq!(event["details"]["sessions"], 2);
    // The user may sign in again: this ends sessions, not the account.
    assert_eq!(app.login(&user.username, &user.password).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn signing_out_an_unknown_user_is_not_found() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    for id in [uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_owned()] {
        let res = app.delete_auth(&sessions_path(&id), &admin.access).await;
        assert_problem(res, StatusCode::NOT_FOUND, "user_not_found").await;
    }
}

#[tokio::test]
async fn only_an_admin_with_a_recent_sign_in_can_sign_a_user_out() {
    let app = spawn_app().await;
    let victim = app.new_user().await;
    for role in [Role::User, Role::Moderator] {
        let who = app.user_with_role(role).await;
        let res = app.delete_auth(&sessions_path(&victim.id), &who.access).await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let res = app
        .client
        .delete(app.url(&sessions_path(&victim.id)))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "missing_token").await;
    let admin = app.user_with_role(Role::Admin).await;
    let hour_ago = rampart::domain::now() - time::Duration::HOUR;
    app.exec(
        "UPDATE sessions SET authenticated_at = $1 WHERE user_id = $2",
        rampart::args![hour_ago, admin.uid()],
    )
    .await;
    let res = app.delete_auth(&sessions_path(&victim.id), &admin.access).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "reauthentication_required").await;
    assert_eq!(app.me(&victim.access).await.status(), StatusCode::OK, "nothing ended");
}

#[tokio::test]
async fn a_disabled_user_can_neither_refresh_nor_retry_a_refresh() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let user = app.new_user().await;
    let first = app.refresh(&json!({ "refresh_token": user.refresh })).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();

    let res = app
        .patch_json_auth(&user_path(&user.id), &admin.access, &json!({ "disabled": true }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let current = app.refresh(&json!({ "refresh_token": first["refresh_token"] })).await;
    assert_problem(current, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    // The used token, within the retry grace and from the same client: not a retry of a live session.
    let retry = app.refresh(&json!({ "refresh_token": user.refresh })).await;
    assert_eq!(retry.status(), StatusCode::UNAUTHORIZED);
    let res = app.me(first["access_token"].as_str().unwrap()).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "session_ended").await;
}
