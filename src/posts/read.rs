//! Reading posts: the feed, one post, one user's posts.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::{PostView, etag, post_view};
use crate::domain::Username;
use crate::domain::caption::normalise_tag;
use crate::error::code;
use crate::error::{AppError, Problem, Result};
use crate::http::cursor;
use crate::http::extract::{AppPath, AppQuery};
use crate::state::AppState;
use crate::store::{self, posts::FeedFilter};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_feed))
        .routes(routes!(get_post))
        .routes(routes!(list_user_posts))
}

const NOT_FOUND: AppError = AppError::NotFound {
    code: code::POST_NOT_FOUND,
    detail: "No such post.",
};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct FeedQuery {
    /// Only posts by this username.
    #[param(schema_with = crate::domain::schema::username)]
    author: Option<String>,
    /// Only posts with this hashtag (with or without `#`).
    tag: Option<String>,
    /// Words that must all appear in the caption.
    q: Option<String>,
    /// RFC 3339; posts created at or after.
    #[param(format = DateTime)]
    since: Option<String>,
    /// RFC 3339; posts created before.
    #[param(format = DateTime)]
    until: Option<String>,
    cursor: Option<String>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

/// A user's posts take the feed's query without `author`, which the path names (the same filters
/// and page; see the feed for each).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct UserPostsQuery {
    tag: Option<String>,
    q: Option<String>,
    #[param(format = DateTime)]
    since: Option<String>,
    #[param(format = DateTime)]
    until: Option<String>,
    cursor: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

impl From<UserPostsQuery> for FeedQuery {
    fn from(q: UserPostsQuery) -> Self {
        let UserPostsQuery {
            tag,
            q,
            since,
            until,
            cursor,
            limit,
        } = q;
        FeedQuery {
            author: None,
            tag,
            q,
            since,
            until,
            cursor,
            limit,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct FeedPage<'a> {
    items: Vec<PostView<'a>>,
    /// Pass as `cursor` for the next (older) page; null at the end.
    next_cursor: Option<String>,
}

fn instant(field: &str, raw: Option<&str>) -> Result<Option<time::OffsetDateTime>> {
    raw.map(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|_| AppError::invalid(field, "must be an RFC 3339 date-time"))
    })
    .transpose()
}

/// Caption words as the search indexes see them: letters, digits and `_`, lower-cased.
fn search_words(q: &str) -> Vec<String> {
    q.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .take(16)
        .map(str::to_lowercase)
        .collect()
}

/// The page as a response: its views borrow from the rows, which live only here.
async fn page(state: &AppState, q: FeedQuery, author: Option<&str>) -> Result<Response> {
    let limit = cursor::page_limit(q.limit)?;
    let before = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let tag = match q.tag.as_deref() {
        Some(t) => Some(normalise_tag(t).ok_or_else(|| AppError::invalid("tag", "is not a hashtag"))?),
        None => None,
    };
    let author = match author.or(q.author.as_deref()) {
        Some(a) => Some(Username::parse(a).map_err(|m| AppError::invalid("author", m))?),
        None => None,
    };
    let words = q.q.as_deref().map(search_words);
    let filter = FeedFilter {
        author_username: author.as_ref().map(Username::as_str),
        tag: tag.as_deref(),
        words: words.as_deref(),
        since: instant("since", q.since.as_deref())?,
        until: instant("until", q.until.as_deref())?,
        before_id: before,
        limit: limit + 1,
    };
    let mut rows = store::posts::feed(state.db(), filter).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| cursor::encode(r.id))
    } else {
        None
    };
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(post_view(state.media().as_ref(), row).await?);
    }
    Ok(Json(FeedPage { items, next_cursor }).into_response())
}

/// The feed, newest first, with filters and keyset pagination.
#[utoipa::path(get, path = "/api/v1/posts", tag = "posts", params(FeedQuery),
    responses((status = 200, body = FeedPage), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn list_feed(State(state): State<AppState>, AppQuery(q): AppQuery<FeedQuery>) -> Result<Response> {
    page(&state, q, None).await
}

/// One user's posts, newest first.
#[utoipa::path(get, path = "/api/v1/users/{username}/posts", tag = "posts", params(("username" = String, Path), UserPostsQuery),
    responses((status = 200, body = FeedPage), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn list_user_posts(
    State(state): State<AppState>,
    AppPath(username): AppPath<String>,
    AppQuery(q): AppQuery<UserPostsQuery>,
) -> Result<Response> {
    let name = Username::parse(&username).map_err(|_| AppError::NotFound {
        code: code::USER_NOT_FOUND,
        detail: "No such user.",
    })?;
    let user = store::users::find_by_username(state.db(), name.as_str())
        .await?
        .filter(|u| u.is_active());
    if user.is_none() {
        return Err(AppError::NotFound {
            code: code::USER_NOT_FOUND,
            detail: "No such user.",
        });
    }
    page(&state, q.into(), Some(name.as_str())).await
}

/// One post. Posts of disabled accounts are not shown.
#[utoipa::path(get, path = "/api/v1/posts/{id}", tag = "posts", params(("id" = String, Path)),
    responses((status = 200, body = PostView, description = "`ETag` names this version"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn get_post(State(state): State<AppState>, AppPath(id): AppPath<String>) -> Result<Response> {
    let id = uuid::Uuid::try_parse(&id).map_err(|_| NOT_FOUND)?;
    let row = store::posts::find(state.db(), id).await?.ok_or(NOT_FOUND)?;
    if row.author_disabled_at.is_some() {
        return Err(NOT_FOUND);
    }
    let view = post_view(state.media().as_ref(), &row).await?;
    let mut res = Json(view).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(&row)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::search_words;

    #[test]
    fn search_words_keep_only_word_characters() {
        assert_eq!(
            search_words("Golden-hour \"sunset\" OR *"),
            ["golden", "hour", "sunset", "or"]
        );
        assert!(search_words("\" * ( )").is_empty());
    }
}
