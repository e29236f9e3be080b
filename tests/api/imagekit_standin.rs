//! An in-process stand-in for ImageKit's REST API and CDN, close enough to the published API for the
//! driver to run unchanged against it: upload, list/search, details, delete, purge, and file serving.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use rampart::config::{ImageKitSettings, Settings, StorageDriver};
use serde_json::{Value, json};

const HELP: &str = "For support kindly contact us at support@imagekit.io .";

/// A running stand-in; the server stops when this is dropped.
pub struct StandIn {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

struct Shared {
    private_key: String,
    base_url: String,
    state: Mutex<Library>,
}

#[derive(Default)]
struct Library {
    /// In upload order, like the list API's default `ASC_CREATED`.
    files: Vec<StoredFile>,
    purged: Vec<String>,
    failing: bool,
}

struct StoredFile {
    id: String,
    name: String,
    path: String,
    bytes: Bytes,
    mime: String,
    dimensions: Option<(u32, u32)>,
}

impl StandIn {
    /// Starts a stand-in on `127.0.0.1:0` that accepts `private_key` as the Basic user name.
    pub async fn start(private_key: &str) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stand-in");
        let base_url = format!("http://{}", listener.local_addr().expect("stand-in address"));
        let shared = Arc::new(Shared {
            private_key: private_key.to_owned(),
            base_url: base_url.clone(),
            state: Mutex::new(Library::default()),
        });
        let app = Router::new()
            .route("/api/v1/files/upload", post(upload))
            .route("/v1/files", get(list))
            .route("/v1/files/purge", post(purge))
            .route("/v1/files/{id}", delete(remove))
            .route("/v1/files/{id}/details", get(details))
            .route("/ik/{*path}", get(serve_file))
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StandIn {
            base_url,
            shared,
            server,
        }
    }

    /// Where uploads go (`storage.imagekit.upload_url`).
    pub fn upload_url(&self) -> String {
        format!("{}/api/v1/files/upload", self.base_url)
    }

    /// The management API (`storage.imagekit.api_base`).
    pub fn api_base(&self) -> String {
        format!("{}/v1", self.base_url)
    }

    /// The delivery endpoint (`storage.imagekit.url_endpoint`).
    pub fn url_endpoint(&self) -> String {
        format!("{}/ik", self.base_url)
    }

    /// Points `settings` at this stand-in with the `imagekit` driver and the key it was started with.
    pub fn configure(&self, settings: &mut Settings) {
        settings.storage.driver = StorageDriver::ImageKit(ImageKitSettings {
            private_key: Some(self.shared.private_key.clone().into()),
            url_endpoint: Some(self.url_endpoint()),
            upload_url: self.upload_url(),
            api_base: self.api_base(),
            ..ImageKitSettings::default()
        });
    }

    /// Files currently in the media library.
    pub fn file_count(&self) -> usize {
        self.shared.state.lock().unwrap().files.len()
    }

    /// Every URL a purge was requested for, in order.
    pub fn purged_urls(&self) -> Vec<String> {
        self.shared.state.lock().unwrap().purged.clone()
    }

    /// While set, every endpoint answers 500, as during an ImageKit outage.
    pub fn set_failing(&self, failing: bool) {
        self.shared.state.lock().unwrap().failing = failing;
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An ImageKit-style error answer: `{"message", "help"}`.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "message": self.1, "help": HELP }))).into_response()
    }
}

fn error(status: StatusCode, message: &str) -> Refusal {
    Refusal(status, message.to_owned())
}

/// The outage switch, then Basic auth: the private key as user name, the password ignored.
fn check(shared: &Shared, headers: &HeaderMap) -> Result<(), Refusal> {
    if shared.state.lock().unwrap().failing {
        return Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "We have experienced an internal error while processing your request.",
        ));
    }
    let user = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| BASE64.decode(v.trim()).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .map(|v| v.split_once(':').map_or(v.clone(), |(user, _)| user.to_owned()));
    match user {
        None => Err(error(
            StatusCode::UNAUTHORIZED,
            "Your request does not contain private API key.",
        )),
        Some(user) if user != shared.private_key => {
            Err(error(StatusCode::UNAUTHORIZED, "Your account cannot be authenticated."))
        }
        Some(_) => Ok(()),
    }
}

/// `/a//b/` → `/a/b`; the root is ``.
fn normalize_folder(folder: &str) -> String {
    let parts: Vec<&str> = folder.split('/').filter(|s| !s.is_empty()).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("/{}", parts.join("/"))
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn random_hex(bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

impl StoredFile {
    fn url(&self, base: &str) -> String {
        format!("{base}/ik{}", self.path)
    }

    fn thumbnail_url(&self, base: &str) -> String {
        format!("{base}/ik/tr:n-ik_ml_thumbnail{}", self.path)
    }

    fn file_type(&self) -> &'static str {
        if self.dimensions.is_some() {
            "image"
        } else {
            "non-image"
        }
    }

    /// The file object of the list and details APIs.
    fn object(&self, base: &str) -> Value {
        json!({
            "type": "file",
            "fileId": self.id,
            "name": self.name,
            "filePath": self.path,
            "url": self.url(base),
            "thumbnail": self.thumbnail_url(base),
            "fileType": self.file_type(),
            "mime": self.mime,
            "width": self.dimensions.map(|d| d.0),
            "height": self.dimensions.map(|d| d.1),
            "size": self.bytes.len(),
            "isPrivateFile": false,
            "tags": null,
            "customCoordinates": null,
        })
    }
}

async fn upload(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<Response, Refusal> {
    check(&shared, &headers)?;
    let (mut file, mut mime, mut fields) = (None, None, HashMap::new());
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(error(StatusCode::BAD_REQUEST, &format!("Invalid multipart body: {e}"))),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let is_file_part = field.file_name().is_some();
        let content_type = field.content_type().map(str::to_owned);
        let Ok(data) = field.bytes().await else {
            return Err(error(StatusCode::BAD_REQUEST, "Invalid multipart body"));
        };
        if name == "file" {
            // A file part is binary; a plain field carries base64.
            file = if is_file_part {
                Some(data)
            } else {
                BASE64.decode(data.trim_ascii()).ok().map(Bytes::from)
            };
            mime = content_type;
        } else {
            fields.insert(name, String::from_utf8_lossy(&data).into_owned());
        }
    }
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        return Err(error(StatusCode::BAD_REQUEST, "Missing file parameter for upload"));
    };
    let Some(file_name) = fields
        .get("fileName")
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
    else {
        return Err(error(StatusCode::BAD_REQUEST, "Missing fileName parameter for upload"));
    };
    let name = if fields.get("useUniqueFileName").map(String::as_str) == Some("false") {
        file_name
    } else {
        match file_name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}_{}.{ext}", random_hex(4)),
            None => format!("{file_name}_{}", random_hex(4)),
        }
    };
    let folder = normalize_folder(fields.get("folder").map(String::as_str).unwrap_or("/"));
    let path = format!("{folder}/{name}");
    let reader = image::ImageReader::new(Cursor::new(&bytes[..])).with_guessed_format();
    let dimensions = reader.ok().and_then(|r| r.into_dimensions().ok());
    let mime = mime.unwrap_or_else(|| "application/octet-stream".into());

    let mut library = shared.state.lock().unwrap();
    // Uploading to an existing path replaces the file and keeps its id, as a new version would.
    let id = match library.files.iter().position(|f| f.path == path) {
        Some(i) => library.files.remove(i).id,
        None => random_hex(12),
    };
    let stored = StoredFile {
        id,
        name,
        path,
        bytes,
        mime,
        dimensions,
    };
    let base = &shared.base_url;
    let body = json!({
        "fileId": stored.id,
        "name": stored.name,
        "size": stored.bytes.len(),
        "versionInfo": { "id": stored.id, "name": "Version 1" },
        "filePath": stored.path,
        "url": stored.url(base),
        "fileType": stored.file_type(),
        "width": stored.dimensions.map(|d| d.0),
        "height": stored.dimensions.map(|d| d.1),
        "thumbnailUrl": stored.thumbnail_url(base),
        "AITags": null,
    });
    library.files.push(stored);
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// Which folders a listing covers: `path` is one folder; `searchQuery` supports the `path` field
/// with `=` (that folder) and `:` (begins with, so subfolders too).
enum Scope {
    All,
    Folder(String),
    Under(String),
}

fn scope(query: &HashMap<String, String>) -> Result<Scope, Refusal> {
    if let Some(search) = query.get("searchQuery") {
        let search = search.trim();
        let invalid = || error(StatusCode::BAD_REQUEST, "Your searchQuery is invalid.");
        let rest = search.strip_prefix("path").ok_or_else(invalid)?.trim_start();
        let quoted = |v: &str| {
            v.trim()
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_owned)
        };
        return match (rest.strip_prefix('='), rest.strip_prefix(':')) {
            (Some(v), _) => quoted(v)
                .map(|v| Scope::Folder(normalize_folder(&v)))
                .ok_or_else(invalid),
            (_, Some(v)) => quoted(v).map(Scope::Under).ok_or_else(invalid),
            _ => Err(invalid()),
        };
    }
    Ok(match query.get("path") {
        Some(path) => Scope::Folder(normalize_folder(path)),
        None => Scope::All,
    })
}

/// `skip` (0 or more) or `limit` (1 to 1000).
fn number(query: &HashMap<String, String>, key: &str, default: usize) -> Result<usize, Refusal> {
    let valid = |n: &usize| key != "limit" || (1..=1000).contains(n);
    match query.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(valid)
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, &format!("Invalid {key} parameter."))),
    }
}

async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Refusal> {
    check(&shared, &headers)?;
    let (scope, skip, limit) = (
        scope(&query)?,
        number(&query, "skip", 0)?,
        number(&query, "limit", 1000)?,
    );
    if query.get("type").map(String::as_str) == Some("folder") {
        return Ok(Json(json!([])).into_response());
    }
    let library = shared.state.lock().unwrap();
    let page: Vec<Value> = library
        .files
        .iter()
        .filter(|f| match &scope {
            Scope::All => true,
            Scope::Folder(folder) => parent(&f.path) == folder,
            Scope::Under(prefix) => parent(&f.path).starts_with(prefix.as_str()),
        })
        .skip(skip)
        .take(limit)
        .map(|f| f.object(&shared.base_url))
        .collect();
    Ok(Json(Value::Array(page)).into_response())
}

async fn details(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    check(&shared, &headers)?;
    let library = shared.state.lock().unwrap();
    match library.files.iter().find(|f| f.id == id) {
        Some(file) => Ok(Json(file.object(&shared.base_url)).into_response()),
        None => Err(error(StatusCode::NOT_FOUND, "The requested file does not exist.")),
    }
}

async fn remove(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    check(&shared, &headers)?;
    let mut library = shared.state.lock().unwrap();
    match library.files.iter().position(|f| f.id == id) {
        Some(i) => {
            library.files.remove(i);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        None => Err(error(StatusCode::NOT_FOUND, "The requested file does not exist.")),
    }
}

async fn purge(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Result<Response, Refusal> {
    check(&shared, &headers)?;
    let url = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("url")?.as_str().map(str::to_owned));
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return Err(error(StatusCode::BAD_REQUEST, "Missing url parameter."));
    };
    shared.state.lock().unwrap().purged.push(url);
    Ok((StatusCode::CREATED, Json(json!({ "requestId": random_hex(12) }))).into_response())
}

/// The CDN: public. Like ImageKit it applies a size transformation (`?tr=w-N,h-M`, resizing down to
/// fit N × M, keeping the aspect ratio) and a format one (`f-webp`, `f-jpg`, `f-png`); without `f-`
/// the output keeps the original's format. Other transformations are ignored.
async fn serve_file(
    State(shared): State<Arc<Shared>>,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Refusal> {
    if shared.state.lock().unwrap().failing {
        return Err(error(StatusCode::INTERNAL_SERVER_ERROR, "Internal error."));
    }
    let path = match path.split_once('/') {
        Some((first, rest)) if first.starts_with("tr:") => rest.to_owned(),
        _ => path,
    };
    let wanted = format!("/{path}");
    let (mime, bytes) = {
        let library = shared.state.lock().unwrap();
        match library.files.iter().find(|f| f.path == wanted) {
            Some(file) => (file.mime.clone(), file.bytes.clone()),
            None => return Ok(StatusCode::NOT_FOUND.into_response()),
        }
    };
    let transform = |prefix: &str| {
        query
            .get("tr")
            .and_then(|tr| tr.split(',').find_map(|t| t.strip_prefix(prefix).map(str::to_owned)))
    };
    let dimension = |prefix: &str| transform(prefix).and_then(|v| v.parse::<u32>().ok());
    let width = dimension("w-");
    let height = dimension("h-").unwrap_or(u32::MAX);
    let format = match transform("f-").as_deref() {
        Some("webp") => Some((image::ImageFormat::WebP, "image/webp")),
        Some("jpg") => Some((image::ImageFormat::Jpeg, "image/jpeg")),
        Some("png") => Some((image::ImageFormat::Png, "image/png")),
        _ => None,
    };
    if width.is_none() && format.is_none() {
        return Ok(([(header::CONTENT_TYPE, mime)], bytes).into_response());
    }
    let Ok(img) = image::load_from_memory(&bytes) else {
        return Ok(([(header::CONTENT_TYPE, mime)], bytes).into_response());
    };
    let shrink = width.filter(|&width| img.width() > width || img.height() > height);
    let (format, out_mime) = match (format, mime.as_str()) {
        (Some(chosen), _) => chosen,
        (None, "image/png") => (image::ImageFormat::Png, "image/png"),
        (None, _) => (image::ImageFormat::Jpeg, "image/jpeg"),
    };
    if shrink.is_none() && out_mime == mime {
        return Ok(([(header::CONTENT_TYPE, mime)], bytes).into_response());
    }
    let resized = match shrink {
        Some(width) => img.resize(width, height, image::imageops::FilterType::Triangle),
        None => img,
    };
    // The image crate's WebP encoder is lossless and takes 8-bit RGB(A) only; ImageKit's is lossy, but
    // what a client can check is the format and the size.
    let pixels = match format {
        image::ImageFormat::Jpeg => image::DynamicImage::ImageRgb8(resized.to_rgb8()),
        _ => image::DynamicImage::ImageRgba8(resized.to_rgba8()),
    };
    let mut out = std::io::Cursor::new(Vec::new());
    pixels
        .write_to(&mut out, format)
        .map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "Internal error."))?;
    Ok(([(header::CONTENT_TYPE, out_mime.to_owned())], out.into_inner()).into_response())
}
