//! Reading the multipart upload: exactly one `image` file part and at most one `caption` text part,
//! streamed under a byte limit. The file name and declared content type are never used.

use axum::extract::Multipart;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::AppError;

/// The parts of an upload request.
pub struct Upload {
    pub image: Bytes,
    pub caption: String,
}

/// The longest caption part read, in bytes; the caption rules (2200 characters) apply afterwards.
const CAPTION_BYTES: usize = 16 * 1024;

fn broken(e: MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge {
            detail: "The upload is larger than this route accepts.".into(),
        }
    } else {
        AppError::BadRequest {
            code: "malformed_multipart",
            detail: "The multipart body could not be parsed.".into(),
        }
    }
}

fn too_large(limit: usize) -> AppError {
    AppError::PayloadTooLarge {
        detail: format!("The image is larger than {limit} bytes."),
    }
}

/// The memory upload bodies may occupy at once, over all requests (`posts.upload_buffer_bytes`).
///
/// An upload reserves its size before its body is read and holds it until it is answered, so twenty
/// parallel 10 MiB uploads hold at most this much, not 200 MiB: the rest wait, their bodies left in
/// the kernel's socket buffers, where TCP flow control stalls their senders.
pub struct Budget {
    kib: std::sync::Arc<Semaphore>,
    total_kib: u32,
}

impl Budget {
    pub fn new(bytes: usize) -> Budget {
        let total_kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX).max(1);
        Budget {
            kib: std::sync::Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }

    /// Bytes not reserved right now.
    pub fn available(&self) -> usize {
        self.kib.available_permits() * 1024
    }

    /// Waits until `bytes` (at most the whole budget) are free and holds them until the permit drops.
    pub async fn reserve(&self, bytes: usize) -> Result<OwnedSemaphorePermit, AppError> {
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_kib);
        self.kib
            .clone()
            .acquire_many_owned(kib)
            .await
            .map_err(|e| anyhow::anyhow!("upload budget closed: {e}").into())
    }
}

/// Appends `chunk`, growing `buf` to at most `limit` bytes of capacity: `BytesMut` alone doubles, so
/// a 9.6 MiB image would sit in a 16 MiB buffer.
fn append(buf: &mut BytesMut, chunk: &[u8], limit: usize) {
    let needed = buf.len() + chunk.len();
    if needed > buf.capacity() {
        let mut grown = BytesMut::with_capacity((buf.capacity() * 2).max(needed).min(limit.max(needed)));
        grown.extend_from_slice(buf);
        *buf = grown;
    }
    buf.extend_from_slice(chunk);
}

/// Reads the upload, refusing it as soon as the image passes `limit` bytes. `expected` is the size
/// the request announced (its `Content-Length`), used to size the buffer once.
pub async fn read(
    multipart: Result<Multipart, MultipartRejection>,
    limit: usize,
    expected: Option<usize>,
) -> Result<Upload, AppError> {
    let mut multipart = multipart.map_err(|_| AppError::UnsupportedMediaType {
        code: "unsupported_media_type",
        detail: "Expected a `multipart/form-data` body with an `image` part.".into(),
    })?;
    let mut image: Option<BytesMut> = None;
    let mut caption: Option<String> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(broken)? {
        match field.name() {
            Some("image") => {
                if image.is_some() {
                    return Err(AppError::BadRequest {
                        code: "multiple_images",
                        detail: "Send exactly one `image` part.".into(),
                    });
                }
                let mut buf = BytesMut::with_capacity(expected.unwrap_or(64 * 1024).min(limit));
                while let Some(chunk) = field.chunk().await.map_err(broken)? {
                    if buf.len() + chunk.len() > limit {
                        return Err(too_large(limit));
                    }
                    append(&mut buf, &chunk, limit);
                }
                image = Some(buf);
            }
            Some("caption") => {
                if caption.is_some() {
                    return Err(AppError::BadRequest {
                        code: "multiple_captions",
                        detail: "Send at most one `caption` part.".into(),
                    });
                }
                let mut buf = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(broken)? {
                    if buf.len() + chunk.len() > CAPTION_BYTES {
                        return Err(AppError::invalid("caption", "must be at most 2200 characters"));
                    }
                    buf.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(buf).map_err(|_| AppError::invalid("caption", "must be UTF-8 text"))?;
                caption = Some(text);
            }
            _ => {
                return Err(AppError::BadRequest {
                    code: "unexpected_field",
                    detail: "Only `image` and `caption` parts are accepted.".into(),
                });
            }
        }
    }
    let image = image.ok_or_else(|| AppError::invalid("image", "an `image` file part is required"))?;
    Ok(Upload {
        image: image.freeze(),
        caption: caption.unwrap_or_default(),
    })
}
