//! The S3 driver: any S3-compatible service (AWS, MinIO, R2, moto) through `object_store`.
//!
//! Renditions (with their WebP copies) are written side by side under `p/<id>/`. Every call to the
//! service is bounded by `storage.timeout_ms`; a failed or timed-out upload deletes whatever it wrote.
//! A write still in flight when the deadline passes may land after that cleanup; reconciliation
//! (`list_base_keys`) finds such orphans.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::join_all;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::path::Path;
use object_store::signer::{Method, Signer};
use object_store::{
    Attribute, AttributeValue, Attributes, ClientOptions, ObjectStore, ObjectStoreExt, PutOptions, RetryConfig,
};

use super::{ImageSet, ImageUrls, MediaStore, Rendition, StorageError, StoredImage};
use crate::config::S3Settings;

/// The folder every base key lives in.
const ROOT: &str = "p";

/// Stores renditions as objects in one bucket.
pub struct S3Store {
    store: AmazonS3,
    public_base_url: Option<String>,
    presign_ttl: Duration,
    timeout: Duration,
}

impl S3Store {
    /// Builds the client; no request is made until the first operation.
    ///
    /// Credentials come only from `settings`, never from the environment or instance metadata.
    pub fn new(settings: &S3Settings, timeout: Duration) -> anyhow::Result<S3Store> {
        if settings.bucket.trim().is_empty() {
            anyhow::bail!("storage.s3.bucket is required when storage.driver is \"s3\"");
        }
        let (Some(key_id), Some(secret)) = (
            non_empty(&settings.access_key_id),
            crate::config::non_empty(&settings.secret_access_key),
        ) else {
            anyhow::bail!(
                "storage.s3.access_key_id and storage.s3.secret_access_key are required when storage.driver is \"s3\""
            );
        };
        if settings.presign_ttl_secs == 0 || settings.presign_ttl_secs > 7 * 24 * 3600 {
            anyhow::bail!("storage.s3.presign_ttl_secs must be between 1 and 604800 (7 days, the S3 maximum)");
        }
        let client = ClientOptions::new()
            .with_allow_http(settings.allow_http)
            .with_timeout(timeout)
            .with_connect_timeout(timeout);
        // object_store retries transient failures on its own; keep those retries inside our deadline.
        let retry = RetryConfig {
            max_retries: 2,
            retry_timeout: timeout,
            ..RetryConfig::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(settings.bucket.trim())
            .with_region(if settings.region.trim().is_empty() {
                "us-east-1"
            } else {
                settings.region.trim()
            })
            .with_access_key_id(key_id)
            .with_secret_access_key(secret)
            .with_client_options(client)
            .with_retry(retry);
        if let Some(endpoint) = non_empty(&settings.endpoint) {
            builder = builder.with_endpoint(endpoint.trim_end_matches('/'));
        }
        // The builder's error text names the setting, never the secret.
        let store = builder
            .build()
            .map_err(|e| anyhow::anyhow!("configuring storage.s3: {}", sanitize(&e)))?;
        Ok(S3Store {
            store,
            public_base_url: non_empty(&settings.public_base_url).map(|u| u.trim_end_matches('/').to_owned()),
            presign_ttl: Duration::from_secs(settings.presign_ttl_secs),
            timeout,
        })
    }

    async fn within<T>(&self, call: impl Future<Output = object_store::Result<T>>) -> Result<T, StorageError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(map_error),
            Err(_) => Err(StorageError::TimedOut),
        }
    }

    async fn put(&self, key: &str, rendition: &Rendition) -> Result<(), StorageError> {
        let path = parse_key(key)?;
        let attributes =
            Attributes::from_iter([(Attribute::ContentType, AttributeValue::from(rendition.content_type))]);
        let payload = rendition.bytes.clone().into();
        self.within(self.store.put_opts(&path, payload, PutOptions::from(attributes)))
            .await
            .map(|_| ())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = parse_key(key)?;
        // S3 answers 204 for a missing key; some compatible services answer 404 instead.
        match tokio::time::timeout(self.timeout, self.store.delete(&path)).await {
            Ok(Ok(())) | Ok(Err(object_store::Error::NotFound { .. })) => Ok(()),
            Ok(Err(e)) => Err(map_error(e)),
            Err(_) => Err(StorageError::TimedOut),
        }
    }

    async fn present(&self, key: &str) -> Result<bool, StorageError> {
        let path = parse_key(key)?;
        match tokio::time::timeout(self.timeout, self.store.head(&path)).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(object_store::Error::NotFound { .. })) => Ok(false),
            Ok(Err(e)) => Err(map_error(e)),
            Err(_) => Err(StorageError::TimedOut),
        }
    }

    async fn url(&self, key: &str) -> Result<String, StorageError> {
        if let Some(base) = &self.public_base_url {
            return Ok(format!("{base}/{key}"));
        }
        let path = parse_key(key)?;
        let url = self
            .within(self.store.signed_url(Method::GET, &path, self.presign_ttl))
            .await?;
        Ok(url.to_string())
    }

    async fn optional_url(&self, key: Option<&str>) -> Result<Option<String>, StorageError> {
        match key {
            Some(key) => self.url(key).await.map(Some),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl MediaStore for S3Store {
    fn name(&self) -> &'static str {
        "s3"
    }

    async fn store(&self, base_key: &str, set: ImageSet) -> Result<StoredImage, StorageError> {
        let image = StoredImage::keyed(self.name(), base_key, &set);
        // Written concurrently, so the whole upload takes about one round trip and one deadline.
        let puts = image.writes(&set).into_iter().map(|(key, r)| self.put(key, r));
        if let Err(e) = join_all(puts).await.into_iter().collect::<Result<Vec<()>, _>>() {
            if let Err(cleanup) = self.remove(&image).await {
                tracing::warn!(base_key, error = %cleanup, "could not remove a partly stored image; reconciliation will");
            }
            return Err(e);
        }
        Ok(image)
    }

    async fn remove(&self, image: &StoredImage) -> Result<(), StorageError> {
        let deletes = image.keys().into_iter().map(|key| self.delete(key));
        join_all(deletes).await.into_iter().collect()
    }

    async fn urls(&self, image: &StoredImage) -> Result<ImageUrls, StorageError> {
        Ok(ImageUrls {
            original: self.url(&image.original_key).await?,
            display: self.url(&image.display_key).await?,
            thumbnail: self.url(&image.thumbnail_key).await?,
            display_webp: self.optional_url(image.display_webp_key.as_deref()).await?,
            thumbnail_webp: self.optional_url(image.thumbnail_webp_key.as_deref()).await?,
        })
    }

    async fn exists(&self, image: &StoredImage) -> Result<bool, StorageError> {
        let checks = image.keys().into_iter().map(|key| self.present(key));
        let present = join_all(checks).await.into_iter().collect::<Result<Vec<bool>, _>>()?;
        Ok(present.into_iter().all(|p| p))
    }

    async fn list_base_keys(&self) -> Result<Vec<String>, StorageError> {
        // One delimited listing (paged internally) returns each `p/<id>` once, however many objects it holds.
        let listing = self
            .within(self.store.list_with_delimiter(Some(&Path::from(ROOT))))
            .await?;
        let mut keys: Vec<String> = listing
            .common_prefixes
            .iter()
            .map(|p| p.to_string())
            .filter(|k| is_base_key(k))
            .collect();
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    async fn remove_base_key(&self, base_key: &str) -> Result<(), StorageError> {
        if !is_base_key(base_key) {
            return Err(StorageError::Rejected(format!("not a base key: {base_key:?}")));
        }
        let mut folders = vec![parse_key(base_key)?];
        while let Some(folder) = folders.pop() {
            let listing = self.within(self.store.list_with_delimiter(Some(&folder))).await?;
            for object in &listing.objects {
                self.delete(object.location.as_ref()).await?;
            }
            folders.extend(listing.common_prefixes);
        }
        Ok(())
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn parse_key(key: &str) -> Result<Path, StorageError> {
    Path::parse(key).map_err(|_| StorageError::Rejected(format!("invalid object key {key:?}")))
}

/// `p/<id>` with one non-empty id segment.
fn is_base_key(key: &str) -> bool {
    key.strip_prefix("p/")
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// Transport failures mean the service could not be reached; anything else is its answer.
fn map_error(error: object_store::Error) -> StorageError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(err) = source {
        if let Some(http) = err.downcast_ref::<HttpError>() {
            return match http.kind() {
                HttpErrorKind::Timeout => StorageError::TimedOut,
                HttpErrorKind::Connect | HttpErrorKind::Request | HttpErrorKind::Interrupted => {
                    StorageError::Unreachable(sanitize(&error))
                }
                _ => StorageError::Rejected(sanitize(&error)),
            };
        }
        source = err.source();
    }
    StorageError::Rejected(sanitize(&error))
}

/// The error and its causes, without any response body: S3 error documents can echo the access key
/// id and the string that was signed, neither of which belongs in logs.
fn sanitize(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    let cut = text.find('<').unwrap_or(text.len());
    text[..cut].trim_end().chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::{is_base_key, sanitize};

    #[test]
    fn only_single_segment_ids_are_base_keys() {
        assert!(is_base_key("p/0190abcd"));
        for bad in ["p/", "p", "q/abc", "p/abc/original.jpg", "/p/abc"] {
            assert!(!is_base_key(bad), "{bad:?}");
        }
    }

    #[test]
    fn sanitized_errors_drop_the_response_document() {
        let raw = std::io::Error::other(
            "Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?><Error>\
             <AWSAccessKeyId>AKIDEXAMPLE</AWSAccessKeyId></Error>",
        );
        let clean = sanitize(&raw);
        assert_eq!(clean, "Server returned non-2xx status code: 403 Forbidden:");
        assert!(!clean.contains("AKID"));
    }
}
