//! Reading the multipart upload: exactly one `image` file part and at most one `caption` text part,
//! streamed under a byte limit. The file name and declared content type are never used.

use axum::extract::Multipart;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::AppError;
use crate::error::code;

/// The parts of an upload request.
pub struct Upload {
    pub image: Bytes,
    pub caption: String,
}

/// The longest caption part read, in bytes; the caption rules (2200 characters) apply afterwards.
pub(crate) const CAPTION_BYTES: usize = 16 * 1024;

fn broken(e: MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge {
            detail: "The upload is larger than this route accepts.".into(),
        }
    } else {
        AppError::BadRequest {
            code: code::MALFORMED_MULTIPART,
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
        code: code::UNSUPPORTED_MEDIA_TYPE,
        detail: "Expected a `multipart/form-data` body with an `image` part.".into(),
    })?;
    let mut image: Option<BytesMut> = None;
    let mut caption: Option<String> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(broken)? {
        match field.name() {
            Some("image") => {
                if image.is_some() {
                    return Err(AppError::BadRequest {
                        code: code::MULTIPLE_IMAGES,
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
                        code: code::MULTIPLE_CAPTIONS,
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
                    code: code::UNEXPECTED_FIELD,
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzzing::{BOUNDARY, read_multipart};

    const LIMIT: usize = 512;

    /// A `multipart/form-data` body with one part per `(name, content)`.
    fn body(parts: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, content) in parts {
            body.extend_from_slice(
                format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
            );
            if *name == "image" {
                body.extend_from_slice(b"; filename=\"x.jpg\"\r\nContent-Type: image/jpeg");
            }
            body.extend_from_slice(b"\r\n\r\n");
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        body
    }

    fn code(result: Result<Upload, AppError>) -> &'static str {
        match result {
            Ok(_) => "ok",
            Err(AppError::BadRequest { code, .. }) | Err(AppError::Validation { code, .. }) => code,
            Err(AppError::PayloadTooLarge { .. }) => "too_large",
            Err(other) => panic!("not a client error: {other:?}"),
        }
    }

    /// Contents that never hold the boundary, so a part ends where the generator meant it to.
    fn content(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..max).prop_filter("no boundary inside", |c| {
            !c.windows(BOUNDARY.len()).any(|w| w == BOUNDARY.as_bytes())
        })
    }

    #[test]
    fn an_image_one_byte_over_the_limit_is_too_large_in_any_chunking() {
        for chunk in [1, 7, 4096] {
            let at_limit = body(&[("image", vec![7; LIMIT])]);
            assert_eq!(
                read_multipart(&at_limit, chunk, LIMIT, None).unwrap().image.len(),
                LIMIT
            );
            let over = body(&[("image", vec![7; LIMIT + 1])]);
            assert_eq!(
                code(read_multipart(&over, chunk, LIMIT, None)),
                "too_large",
                "chunk {chunk}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_bodies_are_refused_with_a_client_error(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            chunk in 1usize..64,
        ) {
            let mut with_start = format!("--{BOUNDARY}\r\n").into_bytes();
            with_start.extend_from_slice(&bytes);
            for body in [&bytes, &with_start] {
                // `code` panics on anything that is not a client error.
                let _ = code(read_multipart(body, chunk, LIMIT, Some(usize::MAX)));
            }
        }

        #[test]
        fn well_formed_bodies_yield_exactly_the_parts_sent(
            parts in proptest::collection::vec(
                (prop_oneof![Just("image"), Just("caption"), Just("other")], content(LIMIT + 40)),
                0..4,
            ),
            chunk in 1usize..128,
        ) {
            let parts: Vec<(&str, Vec<u8>)> = parts.iter().map(|(n, c)| (*n, c.clone())).collect();
            let result = read_multipart(&body(&parts), chunk, LIMIT, None);
            // The reader stops at the first offending part, so the earliest one decides.
            let (mut image, mut caption) = (false, false);
            let mut problem = None;
            for (name, content) in &parts {
                problem = match *name {
                    "image" if image => Some("multiple_images"),
                    "image" if content.len() > LIMIT => Some("too_large"),
                    "caption" if caption => Some("multiple_captions"),
                    "caption" if std::str::from_utf8(content).is_err() => Some("validation_failed"),
                    "other" => Some("unexpected_field"),
                    _ => None,
                };
                if problem.is_some() {
                    break;
                }
                image |= *name == "image";
                caption |= *name == "caption";
            }
            let expected = problem.unwrap_or(if image { "ok" } else { "validation_failed" });
            match (expected, result) {
                ("ok", Ok(upload)) => {
                    let image = &parts.iter().find(|(n, _)| *n == "image").unwrap().1;
                    prop_assert_eq!(&upload.image[..], &image[..]);
                    let caption = parts.iter().find(|(n, _)| *n == "caption").map(|(_, c)| c.clone()).unwrap_or_default();
                    prop_assert_eq!(upload.caption.as_bytes(), &caption[..]);
                }
                (expected, result) => prop_assert_eq!(code(result), expected),
            }
        }

        #[test]
        fn the_buffer_never_grows_past_the_limit(
            chunks in proptest::collection::vec(1usize..300, 0..20),
            limit in 1usize..2048,
            start in 0usize..2048,
        ) {
            let mut buf = BytesMut::with_capacity(start.min(limit));
            for chunk in chunks {
                if buf.len() + chunk > limit {
                    break;
                }
                append(&mut buf, &vec![1; chunk], limit);
                prop_assert!(buf.capacity() <= limit, "{} of {limit}", buf.capacity());
            }
        }
    }
}
