//! Reading the multipart upload: exactly one `image` file part and at most one `caption` text part,
//! streamed under a byte limit. The file name and declared content type are never used.

use axum::extract::Multipart;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};

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

/// Reads the upload, refusing it as soon as the image passes `limit` bytes.
pub async fn read(multipart: Result<Multipart, MultipartRejection>, limit: usize) -> Result<Upload, AppError> {
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
                let mut buf = BytesMut::new();
                while let Some(chunk) = field.chunk().await.map_err(broken)? {
                    if buf.len() + chunk.len() > limit {
                        return Err(too_large(limit));
                    }
                    buf.extend_from_slice(&chunk);
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
