//! The ImageKit driver, through ImageKit's published REST API.
//!
//! Only the original is uploaded; the display and thumbnail renditions, and their WebP versions, are
//! ImageKit URL transformations of it (`?tr=w-1080…`, `?tr=w-320…`, with `f-webp`), so one upload is
//! the whole unit.
//!
//! Keys: `original_key` is ImageKit's `filePath` (`{folder}/p/<id>/original.<ext>`); `display_key`
//! and `thumbnail_key` are that path plus the transformation query. They describe what clients get;
//! URLs are built from `url_endpoint` + `filePath`, and deletion uses the `fileId` kept in `provider`.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::multipart::{Form, Part};
use reqwest::{Body, RequestBuilder, Response, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::{ImageSet, ImageUrls, MediaStore, StorageError, StoredImage};
use crate::config::ImageKitSettings;

// Fit within a square box (the longest side is bounded) and never enlarge (`c-at_max`).
const DISPLAY_TRANSFORM: &str = "w-1080,h-1080,c-at_max";
const THUMBNAIL_TRANSFORM: &str = "w-320,h-320,c-at_max";
// The same, as WebP (`f-webp`): ImageKit converts on its CDN, so nothing more is uploaded.
const DISPLAY_WEBP_TRANSFORM: &str = "w-1080,h-1080,c-at_max,f-webp";
const THUMBNAIL_WEBP_TRANSFORM: &str = "w-320,h-320,c-at_max,f-webp";
/// The list API's largest page.
const PAGE: usize = 1000;

/// Stores originals in an ImageKit media library.
pub struct ImageKitStore {
    http: reqwest::Client,
    private_key: SecretString,
    url_endpoint: String,
    upload_url: Url,
    api_base: Url,
    /// `""` or `/name[/name…]`, without a trailing slash.
    folder: String,
    timeout: Duration,
}

/// The fields Rampart keeps from ImageKit's file object.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadedFile {
    file_id: String,
    file_path: String,
    url: Option<String>,
    thumbnail_url: Option<String>,
    width: Option<u64>,
    height: Option<u64>,
    size: Option<u64>,
}

/// One entry of the list API; folders have no `fileId`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedAsset {
    #[serde(rename = "type")]
    kind: Option<String>,
    file_id: Option<String>,
    file_path: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

impl ImageKitStore {
    /// Checks the settings and builds the HTTP client; no request is made yet.
    pub fn new(settings: &ImageKitSettings, timeout: Duration) -> anyhow::Result<ImageKitStore> {
        let required = "is required when storage.driver is \"imagekit\"";
        let private_key = crate::config::non_empty(&settings.private_key)
            .ok_or_else(|| anyhow::anyhow!("storage.imagekit.private_key {required}"))?;
        let url_endpoint = non_empty(&settings.url_endpoint)
            .ok_or_else(|| anyhow::anyhow!("storage.imagekit.url_endpoint {required}"))?;
        http_url("storage.imagekit.url_endpoint", url_endpoint)?;
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| anyhow::anyhow!("building the ImageKit HTTP client: {e}"))?;
        Ok(ImageKitStore {
            http,
            private_key: SecretString::from(private_key.to_owned()),
            url_endpoint: url_endpoint.trim_end_matches('/').to_owned(),
            upload_url: http_url("storage.imagekit.upload_url", &settings.upload_url)?,
            api_base: http_url("storage.imagekit.api_base", settings.api_base.trim_end_matches('/'))?,
            folder: normalize_folder(&settings.folder),
            timeout,
        })
    }

    async fn within<T>(&self, call: impl Future<Output = Result<T, StorageError>>) -> Result<T, StorageError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(StorageError::TimedOut))
    }

    /// Sends with the private key as the Basic user name and an empty password.
    async fn send(&self, request: RequestBuilder) -> Result<Response, StorageError> {
        request
            .basic_auth(self.private_key.expose_secret(), None::<&str>)
            .send()
            .await
            .map_err(transport_error)
    }

    fn api_url(&self, segments: &[&str]) -> Url {
        let mut url = self.api_base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn public_url(&self, file_path: &str) -> String {
        format!("{}/{}", self.url_endpoint, file_path.trim_start_matches('/'))
    }

    /// Deletes one file; a file that is already gone counts as deleted.
    async fn delete_file(&self, file_id: &str) -> Result<(), StorageError> {
        self.within(async {
            let response = self.send(self.http.delete(self.api_url(&["files", file_id]))).await?;
            match response.status() {
                s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
                _ => Err(refusal(response, "delete").await),
            }
        })
        .await
    }

    /// Asks the CDN to forget every cached variant of a file. The file itself is already gone, so a
    /// failure is logged, not returned: the cache expires on its own, and failing here would make the
    /// removal impossible to complete (purges are rate-limited per account).
    async fn purge(&self, file_path: &str) {
        // A trailing `*` after a full file path purges the URL with any query, i.e. every `?tr=` variant.
        let url = format!("{}*", self.public_url(file_path));
        let result = self
            .within(async {
                let request = self
                    .http
                    .post(self.api_url(&["files", "purge"]))
                    .json(&json!({ "url": url }));
                let response = self.send(request).await?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(refusal(response, "purge").await)
                }
            })
            .await;
        if let Err(error) = result {
            tracing::warn!(file_path, %error, "ImageKit cache purge failed; cached copies expire on their own");
        }
    }

    /// Every file the list API returns for `query`, page by page.
    async fn list_files(&self, query: &[(&str, &str)]) -> Result<Vec<(String, String)>, StorageError> {
        let mut files = Vec::new();
        let mut skip = 0;
        loop {
            let (limit, skip_text) = (PAGE.to_string(), skip.to_string());
            let mut url = self.api_url(&["files"]);
            url.query_pairs_mut()
                .extend_pairs(query)
                .append_pair("limit", &limit)
                .append_pair("skip", &skip_text);
            let page: Vec<ListedAsset> = self
                .within(async {
                    let response = self.send(self.http.get(url)).await?;
                    if !response.status().is_success() {
                        return Err(refusal(response, "list").await);
                    }
                    response
                        .json()
                        .await
                        .map_err(|e| StorageError::Rejected(format!("imagekit list: {e}")))
                })
                .await?;
            let count = page.len();
            files.extend(page.into_iter().filter_map(|asset| match asset {
                ListedAsset {
                    kind,
                    file_id: Some(id),
                    file_path: Some(path),
                } if kind.as_deref() != Some("folder") => Some((id, path)),
                _ => None,
            }));
            if count < PAGE {
                return Ok(files);
            }
            skip += count;
        }
    }

    /// Files stored directly in the folder of `base_key`, as (fileId, filePath).
    async fn files_of(&self, base_key: &str) -> Result<Vec<(String, String)>, StorageError> {
        let folder = format!("{}/{base_key}", self.folder);
        let prefix = format!("{folder}/");
        let files = self.list_files(&[("path", &folder)]).await?;
        Ok(files
            .into_iter()
            .filter(|(_, path)| path.starts_with(&prefix))
            .collect())
    }
}

#[async_trait]
impl MediaStore for ImageKitStore {
    fn name(&self) -> &'static str {
        "imagekit"
    }

    /// ImageKit serves WebP from the one uploaded original (`f-webp`), so none is encoded here.
    fn stores_webp(&self) -> bool {
        false
    }

    async fn store(&self, base_key: &str, set: ImageSet) -> Result<StoredImage, StorageError> {
        let file_name = format!("original.{}", set.original.extension);
        let folder = format!("{}/{base_key}", self.folder);
        let original = set.original;
        let length = original.bytes.len() as u64;
        let part = Part::stream_with_length(Body::from(original.bytes), length)
            .file_name(file_name.clone())
            .mime_str(original.content_type)
            .map_err(|e| StorageError::Rejected(format!("imagekit upload: content type: {e}")))?;
        let form = Form::new()
            .part("file", part)
            .text("fileName", file_name)
            .text("folder", folder.clone())
            .text("useUniqueFileName", "false");
        // If the answer is lost after ImageKit kept the file, reconciliation finds it as an orphan.
        let file: UploadedFile = self
            .within(async {
                let response = self
                    .send(self.http.post(self.upload_url.clone()).multipart(form))
                    .await?;
                if !response.status().is_success() {
                    return Err(refusal(response, "upload").await);
                }
                response
                    .json()
                    .await
                    .map_err(|e| StorageError::Rejected(format!("imagekit upload: {e}")))
            })
            .await?;
        if !file.file_path.starts_with(&format!("{folder}/")) {
            tracing::warn!(base_key, file_path = %file.file_path, "ImageKit stored the upload outside its folder");
        }
        Ok(StoredImage {
            driver: self.name().to_owned(),
            base_key: base_key.to_owned(),
            original_key: file.file_path.clone(),
            display_key: with_transform(&file.file_path, DISPLAY_TRANSFORM),
            thumbnail_key: with_transform(&file.file_path, THUMBNAIL_TRANSFORM),
            display_webp_key: Some(with_transform(&file.file_path, DISPLAY_WEBP_TRANSFORM)),
            thumbnail_webp_key: Some(with_transform(&file.file_path, THUMBNAIL_WEBP_TRANSFORM)),
            provider: Some(json!({
                "fileId": file.file_id,
                "url": file.url,
                "thumbnailUrl": file.thumbnail_url,
                "width": file.width,
                "height": file.height,
                "size": file.size,
                "filePath": file.file_path,
            })),
        })
    }

    async fn remove(&self, image: &StoredImage) -> Result<(), StorageError> {
        let Some(file_id) = provider_file_id(image) else {
            return self.remove_base_key(&image.base_key).await;
        };
        self.delete_file(file_id).await?;
        self.purge(&image.original_key).await;
        Ok(())
    }

    async fn urls(&self, image: &StoredImage) -> Result<ImageUrls, StorageError> {
        let original = self.public_url(&image.original_key);
        // Records made before WebP renditions existed offer none, like the other drivers' records.
        let webp = |key: &Option<String>, transform| key.as_ref().map(|_| with_transform(&original, transform));
        Ok(ImageUrls {
            display: with_transform(&original, DISPLAY_TRANSFORM),
            thumbnail: with_transform(&original, THUMBNAIL_TRANSFORM),
            display_webp: webp(&image.display_webp_key, DISPLAY_WEBP_TRANSFORM),
            thumbnail_webp: webp(&image.thumbnail_webp_key, THUMBNAIL_WEBP_TRANSFORM),
            original,
        })
    }

    async fn exists(&self, image: &StoredImage) -> Result<bool, StorageError> {
        let Some(file_id) = provider_file_id(image) else {
            let files = self.files_of(&image.base_key).await?;
            return Ok(files.iter().any(|(_, path)| *path == image.original_key));
        };
        self.within(async {
            let response = self
                .send(self.http.get(self.api_url(&["files", file_id, "details"])))
                .await?;
            match response.status() {
                s if s.is_success() => Ok(true),
                StatusCode::NOT_FOUND => Ok(false),
                _ => Err(refusal(response, "file details").await),
            }
        })
        .await
    }

    async fn list_base_keys(&self) -> Result<Vec<String>, StorageError> {
        // The `path` parameter lists one folder only; `path :` in a search query also covers its
        // subfolders, where the files are (`{folder}/p/<id>/original.<ext>`).
        let root = format!("{}/p", self.folder);
        let search = format!("path : \"{root}\"");
        let files = self.list_files(&[("searchQuery", &search)]).await?;
        let prefix = format!("{root}/");
        let keys: BTreeSet<String> = files
            .iter()
            .filter_map(|(_, path)| path.strip_prefix(&prefix)?.split_once('/'))
            .filter(|(id, rest)| !id.is_empty() && !rest.is_empty())
            .map(|(id, _)| format!("p/{id}"))
            .collect();
        Ok(keys.into_iter().collect())
    }

    async fn remove_base_key(&self, base_key: &str) -> Result<(), StorageError> {
        if !base_key
            .strip_prefix("p/")
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
        {
            return Err(StorageError::Rejected(format!("not a base key: {base_key:?}")));
        }
        for (file_id, file_path) in self.files_of(base_key).await? {
            self.delete_file(&file_id).await?;
            self.purge(&file_path).await;
        }
        Ok(())
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn http_url(setting: &str, value: &str) -> anyhow::Result<Url> {
    let url = Url::parse(value.trim()).map_err(|e| anyhow::anyhow!("{setting} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        anyhow::bail!("{setting} must be an http(s) URL");
    }
    Ok(url)
}

/// `/rampart/` → `/rampart`, `rampart` → `/rampart`, `/` → ``.
fn normalize_folder(folder: &str) -> String {
    let inner: Vec<&str> = folder.split('/').filter(|s| !s.is_empty()).collect();
    if inner.is_empty() {
        String::new()
    } else {
        format!("/{}", inner.join("/"))
    }
}

fn with_transform(url: &str, transform: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}tr={transform}")
}

fn provider_file_id(image: &StoredImage) -> Option<&str> {
    image
        .provider
        .as_ref()?
        .get("fileId")?
        .as_str()
        .filter(|id| !id.is_empty())
}

/// A request that got no answer: timeouts and connection failures, with their causes.
fn transport_error(error: reqwest::Error) -> StorageError {
    if error.is_timeout() {
        return StorageError::TimedOut;
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    if error.is_decode() {
        StorageError::Rejected(text)
    } else {
        StorageError::Unreachable(text)
    }
}

/// An error answer. Rate limits and server errors mean the service is unavailable for now (503);
/// other refusals are a bad gateway (502). Only ImageKit's `message` is kept, never the request.
async fn refusal(response: Response, what: &str) -> StorageError {
    let status = response.status();
    let message = response
        .json::<ErrorBody>()
        .await
        .ok()
        .and_then(|b| b.message)
        .unwrap_or_default();
    let message: String = message.chars().take(200).collect();
    let text = if message.is_empty() {
        format!("imagekit {what}: {status}")
    } else {
        format!("imagekit {what}: {status}: {message}")
    };
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        StorageError::Unreachable(text)
    } else {
        StorageError::Rejected(text)
    }
}

#[cfg(test)]
mod tests {
    use super::{normalize_folder, with_transform};

    #[test]
    fn folders_are_normalized_to_a_leading_slash_and_no_trailing_one() {
        for (raw, want) in [
            ("/rampart", "/rampart"),
            ("rampart/", "/rampart"),
            ("/", ""),
            ("", ""),
            ("a//b/", "/a/b"),
        ] {
            assert_eq!(normalize_folder(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn transforms_join_an_existing_query() {
        assert_eq!(with_transform("https://ik/x.jpg", "w-320"), "https://ik/x.jpg?tr=w-320");
        assert_eq!(
            with_transform("https://ik/x.jpg?v=1", "w-320"),
            "https://ik/x.jpg?v=1&tr=w-320"
        );
    }
}
