//! Storage errors by driver: the configured driver wrapped once at start-up, so every operation of
//! every driver is counted in one place and no driver knows about metrics. (`AppError`'s mapping of
//! `StorageError` sees the errors too, but not which driver or operation failed, nor the failures
//! that never reach a response, such as a removal after a failed insert.)

use std::sync::Arc;

use async_trait::async_trait;

use super::Metrics;
use crate::media::storage::{ImageSet, ImageUrls, MediaStore, StorageError, StoredImage};

pub const ERRORS: &str = "rampart_storage_errors_total";

/// A driver whose failures are counted.
pub struct Metered {
    inner: Arc<dyn MediaStore>,
    metrics: Arc<Metrics>,
}

/// Wraps `inner` so that its failures are counted in `metrics`.
pub fn metered(inner: Arc<dyn MediaStore>, metrics: Arc<Metrics>) -> Arc<dyn MediaStore> {
    Arc::new(Metered { inner, metrics })
}

/// The `kind` label of a failure.
pub fn kind(err: &StorageError) -> &'static str {
    match err {
        StorageError::Rejected(_) => "rejected",
        StorageError::Unreachable(_) => "unreachable",
        StorageError::TimedOut => "timeout",
        StorageError::Io(_) => "io",
    }
}

impl Metered {
    fn count<T>(&self, operation: &'static str, outcome: Result<T, StorageError>) -> Result<T, StorageError> {
        if let Err(e) = &outcome {
            self.metrics.storage_error(self.inner.name(), operation, kind(e));
        }
        outcome
    }
}

#[async_trait]
impl MediaStore for Metered {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn stores_webp(&self) -> bool {
        self.inner.stores_webp()
    }

    async fn store(&self, base_key: &str, set: ImageSet) -> Result<StoredImage, StorageError> {
        self.count("store", self.inner.store(base_key, set).await)
    }

    async fn remove(&self, image: &StoredImage) -> Result<(), StorageError> {
        self.count("remove", self.inner.remove(image).await)
    }

    async fn urls(&self, image: &StoredImage) -> Result<ImageUrls, StorageError> {
        self.count("urls", self.inner.urls(image).await)
    }

    async fn exists(&self, image: &StoredImage) -> Result<bool, StorageError> {
        self.count("exists", self.inner.exists(image).await)
    }

    async fn list_base_keys(&self) -> Result<Vec<String>, StorageError> {
        self.count("list", self.inner.list_base_keys().await)
    }

    async fn remove_base_key(&self, base_key: &str) -> Result<(), StorageError> {
        self.count("remove_base_key", self.inner.remove_base_key(base_key).await)
    }
}
