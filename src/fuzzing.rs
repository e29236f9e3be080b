//! Entry points for the fuzz targets in `fuzz/`, one per parser of untrusted input. Each takes the
//! fuzzer's bytes, runs the parser and panics when an invariant breaks; the unit tests below replay
//! the committed corpus through the same functions, so CI, which cannot run the fuzzer, keeps every
//! finding fixed. Compiled only for tests and with the `fuzzing` feature.

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};

use axum::extract::{FromRequest, Multipart};
use axum::http::{HeaderMap, HeaderValue, Request};
use bytes::Bytes;
use hyper::body::Frame;

use crate::auth::extract::bearer_token;
use crate::auth::tokens::{Keys, has_jwt_shape};
use crate::domain::caption::{Caption, MAX_CHARS, MAX_TAG_CHARS, MAX_TAGS, normalise_tag};
use crate::error::AppError;
use crate::http::{client_ip, cursor};
use crate::media::image::{self, ImageError, Limits};
use crate::posts::upload::{self, CAPTION_BYTES, Upload};

/// The boundary every fuzzed multipart body is declared with; the seeds use it.
pub const BOUNDARY: &str = "rampartfuzz";
/// Small, so the fuzzer reaches the over-limit path with short inputs.
pub const UPLOAD_LIMIT: usize = 4096;

/// A request body delivered in chunks of one size, so part boundaries fall anywhere in a chunk.
struct Chunked {
    rest: Bytes,
    size: usize,
}

impl hyper::body::Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.rest.is_empty() {
            return Poll::Ready(None);
        }
        let size = self.size.min(self.rest.len());
        Poll::Ready(Some(Ok(Frame::data(self.rest.split_to(size)))))
    }
}

thread_local! {
    static RUNTIME: RefCell<tokio::runtime::Runtime> = RefCell::new(
        tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime"),
    );
}

/// Runs [`upload::read`] on `body` sent as `multipart/form-data` with [`BOUNDARY`], `chunk` bytes at a time.
pub fn read_multipart(body: &[u8], chunk: usize, limit: usize, expected: Option<usize>) -> Result<Upload, AppError> {
    let request = Request::builder()
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(axum::body::Body::new(Chunked {
            rest: Bytes::copy_from_slice(body),
            size: chunk.max(1),
        }))
        .expect("a valid request");
    RUNTIME.with(|rt| {
        rt.borrow().block_on(async {
            let multipart = Multipart::from_request(request, &()).await;
            upload::read(multipart, limit, expected).await
        })
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// The multipart reader. The first byte picks the chunk size (its low 7 bits) and whether the
/// request announces an absurd length (its high bit); the rest is the body.
pub fn multipart(data: &[u8]) {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first & 0x7F) + 1;
    let expected = (first & 0x80 != 0).then_some(usize::MAX);
    match read_multipart(body, chunk, UPLOAD_LIMIT, expected) {
        Ok(upload) => {
            assert!(upload.image.len() <= UPLOAD_LIMIT, "image over the limit");
            assert!(upload.caption.len() <= CAPTION_BYTES, "caption over the limit");
            assert!(contains(body, &upload.image), "the image is not bytes of the body");
            assert!(
                contains(body, upload.caption.as_bytes()),
                "the caption is not bytes of the body"
            );
        }
        Err(
            AppError::BadRequest {
                code: "malformed_multipart" | "multiple_images" | "multiple_captions" | "unexpected_field",
                ..
            }
            | AppError::PayloadTooLarge { .. }
            | AppError::Validation { .. },
        ) => {}
        Err(other) => panic!("not a client error: {other:?}"),
    }
}

/// Small, so a mutated header cannot send the fuzzer into a large, slow decode.
pub const IMAGE_LIMITS: Limits = Limits {
    max_width: 256,
    max_height: 256,
    max_pixels: 256 * 192,
    max_alloc_bytes: 16 << 20,
    // The encoder only ever sees pixels the decoder produced; the fuzzed part is the decoding.
    webp: true,
};

/// Image sniffing, the header dimension checks and the whole sanitising pipeline.
pub fn image(data: &[u8]) {
    let sniffed = image::sniff(data);
    let limits = &IMAGE_LIMITS;
    match image::process(data, limits) {
        Ok(p) => {
            assert_eq!(Ok(p.source_format), sniffed);
            let (w, h) = (p.original.width, p.original.height);
            // Orientation may swap the sides; both limits are the same, so either way round must fit.
            assert!(
                w > 0 && h > 0 && w.max(h) <= limits.max_width.min(limits.max_height),
                "{w}x{h}"
            );
            assert!(u64::from(w) * u64::from(h) <= limits.max_pixels, "{w}x{h}");
            for (rendition, max) in [(&p.display, 1080), (&p.thumbnail, 320)] {
                assert!(rendition.width.max(rendition.height) <= max);
                assert!(rendition.width <= w && rendition.height <= h, "upscaled");
            }
            let stored = ::image::load_from_memory(&p.original.bytes).expect("the stored original decodes");
            assert_eq!((stored.width(), stored.height()), (w, h));
            assert_eq!(p.blurhash.len(), 28);
        }
        Err(ImageError::Empty) => assert!(data.is_empty()),
        Err(ImageError::UnsupportedType) => assert_eq!(sniffed, Err(ImageError::UnsupportedType)),
        Err(ImageError::TooLarge { width, height }) => assert!(width > 0 && height > 0),
        Err(ImageError::Polyglot | ImageError::Malformed) => assert!(sniffed.is_ok()),
    }
}

/// The caption and hashtag parser, on the input read as UTF-8 (invalid sequences replaced).
pub fn caption(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    let Ok(c) = Caption::parse(&raw) else {
        return;
    };
    assert_eq!(c.as_str(), raw.trim());
    assert!(c.as_str().chars().count() <= MAX_CHARS);
    assert!(c.tags().len() <= MAX_TAGS);
    for (i, tag) in c.tags().iter().enumerate() {
        assert!(!tag.is_empty() && tag.chars().count() <= MAX_TAG_CHARS, "{tag:?}");
        assert!(tag.chars().all(|ch| ch.is_alphanumeric() || ch == '_'), "{tag:?}");
        assert!(!tag.chars().any(char::is_whitespace), "tags are stored space-separated");
        assert!(!c.tags()[..i].contains(tag), "{tag:?} twice");
        assert_eq!(
            normalise_tag(tag).as_ref(),
            Some(tag),
            "a search for {tag:?} would not find it"
        );
    }
    assert_eq!(Caption::parse(c.as_str()).as_ref(), Ok(&c), "parsing is idempotent");
}

/// The pagination cursor decoder, on the input read as UTF-8.
pub fn cursor(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    match cursor::decode(&raw) {
        Ok(id) => assert_eq!(cursor::decode(&cursor::encode(id)).ok(), Some(id)),
        Err(AppError::BadRequest {
            code: "invalid_cursor", ..
        }) => {}
        Err(other) => panic!("not invalid_cursor: {other:?}"),
    }
}

/// A key of our own: no fuzzed token can carry its signature.
static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("an Ed25519 key");
    Keys::from_pkcs8(pkcs8.as_ref(), &crate::config::Settings::default().auth).expect("keys from a fresh key")
});

fn check_token(token: &str) {
    if has_jwt_shape(token) {
        assert!(token.len() <= 4096);
        let segments: Vec<&str> = token.split('.').collect();
        assert_eq!(segments.len(), 3, "{token:?}");
        for segment in segments {
            assert!(!segment.is_empty());
            assert!(
                segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
        }
    }
    assert!(
        KEYS.verify(token).is_none(),
        "a token we never signed verified: {token:?}"
    );
}

/// The `Authorization` header: the bearer parser, the JWT shape check and token verification, on the
/// input as a header value and on the input alone as a token.
pub fn bearer(data: &[u8]) {
    if let Ok(value) = HeaderValue::from_bytes(data)
        && let Ok(token) = bearer_token(&value)
    {
        assert!(!token.is_empty() && token.trim() == token, "{token:?}");
        let text = value.to_str().expect("a token comes from a text value");
        assert!(text.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("bearer ")));
        check_token(token);
    }
    check_token(&String::from_utf8_lossy(data));
}

/// The proxies the `X-Forwarded-For` target trusts.
const TRUSTED: [IpAddr; 3] = [
    IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
    IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
];

/// `X-Forwarded-For`. The first byte picks the socket peer; the rest, split at newlines, are the
/// header's lines (a line that is not a valid header value is left out, as hyper would refuse it).
pub fn forwarded_for(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let peers: [IpAddr; 5] = [
        TRUSTED[0],
        TRUSTED[2],
        "::ffff:10.0.0.2".parse().expect("an address"),
        "203.0.113.9".parse().expect("an address"),
        "2001:db8::1".parse().expect("an address"),
    ];
    let peer = peers[usize::from(first) % peers.len()];
    let lines: Vec<HeaderValue> = rest
        .split(|&b| b == b'\n')
        .filter_map(|line| HeaderValue::from_bytes(line).ok())
        .collect();
    let mut headers = HeaderMap::new();
    for line in &lines {
        headers.append("x-forwarded-for", line.clone());
    }
    let chain = client_ip::forwarded_for(&headers);
    let client = client_ip::resolve(peer, chain.as_deref(), &TRUSTED);

    let peer = peer.to_canonical();
    assert_eq!(client, client.to_canonical());
    if lines.is_empty() || !TRUSTED.contains(&peer) {
        assert_eq!(client, peer, "only a trusted proxy is believed");
        return;
    }
    // The hops a trusted proxy vouches for, right to left over every line: up to and including the
    // first untrusted address, or up to the first hop that is not an address (a line that is not
    // text is one such hop).
    let hops = lines
        .iter()
        .rev()
        .flat_map(|line| line.to_str().unwrap_or("?").rsplit(','));
    let mut vouched = Vec::new();
    for hop in hops {
        let Ok(hop) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        vouched.push(hop.to_canonical());
        if !TRUSTED.contains(&hop.to_canonical()) {
            break;
        }
    }
    match vouched.iter().find(|hop| !TRUSTED.contains(hop)) {
        Some(&untrusted) => assert_eq!(client, untrusted, "{lines:?}"),
        None => assert_eq!(client, vouched.last().copied().unwrap_or(peer), "{lines:?}"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Runs every file of `fuzz/corpus/<target>/` through `entry`, naming the file that fails.
    fn replay(target: &str, entry: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        files.sort();
        assert!(
            files.len() >= 5,
            "{} holds {} files; the corpus is missing",
            dir.display(),
            files.len()
        );
        for file in files {
            let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
            if std::panic::catch_unwind(|| entry(&bytes)).is_err() {
                panic!("{} breaks the {target} target's invariants", file.display());
            }
        }
    }

    #[test]
    fn the_multipart_corpus_replays_cleanly() {
        replay("multipart", super::multipart);
    }

    #[test]
    fn the_image_corpus_replays_cleanly() {
        replay("image", super::image);
    }

    #[test]
    fn the_caption_corpus_replays_cleanly() {
        replay("caption", super::caption);
    }

    #[test]
    fn the_cursor_corpus_replays_cleanly() {
        replay("cursor", super::cursor);
    }

    #[test]
    fn the_bearer_corpus_replays_cleanly() {
        replay("bearer", super::bearer);
    }

    #[test]
    fn the_forwarded_for_corpus_replays_cleanly() {
        replay("forwarded_for", super::forwarded_for);
    }
}
