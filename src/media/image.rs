//! Sanitising of untrusted image uploads.
//!
//! Nothing the client sends is trusted: not the filename, not the declared content type, not the bytes. The
//! pipeline in [`process`] is, in order:
//!
//! 1. **Empty check.**
//! 2. **Sniff** the format from magic bytes only ([`sniff`]); SVG, HTML, PDF and everything else is refused.
//! 3. **Polyglot scan**: bytes that would also parse as HTML, SVG, script or PHP are refused, as defence in depth
//!    for any path that might ever serve the raw upload.
//! 4. **Header check**: the dimensions are read from the header alone and refused over [`Limits`] *before* any
//!    pixel buffer exists, so a decompression bomb (a few KiB declaring 100 000 × 100 000) never allocates.
//! 5. **Decode** with the image crate's own limits set as a second line of defence. A JPEG must also reach its
//!    end marker, because the lenient JPEG decoder would otherwise store a truncated upload half grey.
//! 6. **Apply EXIF orientation**, because the metadata that carried it is about to be dropped.
//! 7. **Re-encode from pixels.** Only pixels survive: EXIF (GPS!), XMP, IPTC, ICC profiles, comments, extra chunks
//!    and bytes hidden after the end marker are all gone, because no encoder is ever handed any metadata.
//!
//! Decoding is synchronous and CPU-bound; callers run [`process`] on a blocking thread.

use std::fmt::Write as _;
use std::io::Cursor;

use crate::error::code;
use crate::media::sizes::{Size, rendition_size};
use image::codecs::gif::GifDecoder;
use image::codecs::jpeg::{JpegDecoder, JpegEncoder};
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngDecoder, PngEncoder};
use image::codecs::webp::WebPDecoder;
use image::metadata::Orientation;
use image::{AnimationDecoder, DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder};
use sha2::{Digest, Sha256};

const ORIGINAL_JPEG_QUALITY: u8 = 90;
const RENDITION_JPEG_QUALITY: u8 = 82;
/// Blurhash components (x, y): 4×3 suits the mostly landscape and portrait photos of a feed.
const BLURHASH_COMPONENTS: (u32, u32) = (4, 3);

/// Decoding limits, checked against the header before any pixel is decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Widest image accepted, in pixels.
    pub max_width: u32,
    /// Tallest image accepted, in pixels.
    pub max_height: u32,
    /// Largest width × height accepted.
    pub max_pixels: u64,
    /// Most bytes the decoder may allocate at once (passed to the image crate).
    pub max_alloc_bytes: u64,
    /// Encode the WebP renditions too (off when the storage driver would not keep them).
    pub webp: bool,
}

impl Default for Limits {
    /// 12 000 × 12 000, 40 megapixels, 512 MiB: above any phone camera, below what a small server can afford.
    fn default() -> Self {
        Limits {
            max_width: 12_000,
            max_height: 12_000,
            max_pixels: 40_000_000,
            max_alloc_bytes: 512 * 1024 * 1024,
            webp: true,
        }
    }
}

/// An image format Rampart accepts or produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpeg,
    Png,
    Gif,
    WebP,
}

impl Format {
    /// The MIME type to serve the bytes with.
    pub fn content_type(&self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Gif => "image/gif",
            Format::WebP => "image/webp",
        }
    }

    /// The file extension to store the bytes under, without a dot.
    pub fn extension(&self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Gif => "gif",
            Format::WebP => "webp",
        }
    }
}

/// Why an upload was refused. Each variant has a stable machine [`code`](ImageError::code) and an HTTP
/// [`status`](ImageError::status).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a JPEG, PNG, GIF or WebP image")]
    UnsupportedType,
    #[error("the file is also readable as HTML, SVG, script or PHP")]
    Polyglot,
    #[error("the image is {width}x{height}, larger than allowed")]
    TooLarge { width: u32, height: u32 },
    #[error("the image is truncated or corrupt")]
    Malformed,
}

impl ImageError {
    /// Stable machine code for the problem response.
    pub fn code(&self) -> &'static str {
        match self {
            ImageError::Empty => code::EMPTY_FILE,
            ImageError::UnsupportedType => code::UNSUPPORTED_IMAGE_TYPE,
            ImageError::Polyglot => code::POLYGLOT_REJECTED,
            ImageError::TooLarge { .. } => code::IMAGE_TOO_LARGE,
            ImageError::Malformed => code::MALFORMED_IMAGE,
        }
    }

    /// HTTP status: 415 for a type we do not take, 422 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            ImageError::UnsupportedType => 415,
            _ => 422,
        }
    }
}

/// One encoded rendition, ready to store.
#[derive(Clone, PartialEq, Eq)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

/// Shows the byte count rather than megabytes of numbers in logs and test failures.
impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoded")
            .field("bytes", &format_args!("{} bytes", self.bytes.len()))
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

/// The result of sanitising one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    /// Full-size re-encode, orientation applied, no metadata. JPEG in gives JPEG (quality 90); PNG, GIF and WebP
    /// in give PNG, at the source's bit depth. WebP is not written back as WebP because the image crate's WebP
    /// encoder is lossless-only, so PNG, equally lossless and readable everywhere, is used instead.
    pub original: Encoded,
    /// Longest side at most 1080 (never upscaled): JPEG quality 82 when opaque, PNG when translucent.
    pub display: Encoded,
    /// Longest side at most 320, same format rule as `display`.
    pub thumbnail: Encoded,
    /// `display` again as lossy WebP (with alpha when translucent), for browsers that take it; `None`
    /// when `Limits::webp` is off.
    pub display_webp: Option<Encoded>,
    /// `thumbnail` again as lossy WebP.
    pub thumbnail_webp: Option<Encoded>,
    /// Blurhash of the thumbnail, 4×3 components (28 characters).
    pub blurhash: String,
    /// Lowercase hex SHA-256 of `original.bytes`.
    pub sha256: String,
    /// The format the upload was sniffed as.
    pub source_format: Format,
    /// True when a GIF or WebP had more than one frame. Only the first frame is kept: posts are still images,
    /// and re-encoding animations would multiply decode cost and bomb surface for a feature nobody asked for.
    pub animated: bool,
}

/// Identifies the format from magic bytes alone; the declared content type and filename are ignored.
pub fn sniff(bytes: &[u8]) -> Result<Format, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(Format::Jpeg)
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Ok(Format::Png)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Ok(Format::Gif)
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Ok(Format::WebP)
    } else {
        Err(ImageError::UnsupportedType)
    }
}

/// Sanitises one upload: validates it, strips everything but pixels and produces the stored renditions.
///
/// Takes the upload by value and drops it as soon as it is decoded: the raw bytes, the decoded pixels and
/// the encoded original would otherwise all be held at the same time.
pub fn process(bytes: impl AsRef<[u8]>, limits: &Limits) -> Result<Processed, ImageError> {
    let raw = bytes.as_ref();
    if raw.is_empty() {
        return Err(ImageError::Empty);
    }
    let source_format = sniff(raw)?;
    if is_polyglot(raw) {
        return Err(ImageError::Polyglot);
    }
    let (image, animated) = decode(raw, source_format, limits)?;
    drop(bytes);

    let original_format = match source_format {
        Format::Jpeg => Format::Jpeg,
        Format::Png | Format::Gif | Format::WebP => Format::Png,
    };
    let original = encode(&image, original_format, ORIGINAL_JPEG_QUALITY)?;

    // Decided once on the full image so both renditions agree, and on pixel values rather than the colour type:
    // every GIF frame decodes as RGBA, and many PNGs carry an alpha channel that is fully opaque.
    let translucent = is_translucent(&image);
    let rendition_format = if translucent { Format::Png } else { Format::Jpeg };
    let image = to_8_bit(image);
    let (width, height) = (image.width(), image.height());
    let display_image = shrink_to(&image, rendition_size(width, height, Size::Display), translucent)?;
    let display_source = display_image.as_ref().unwrap_or(&image);
    let display = encode(display_source, rendition_format, RENDITION_JPEG_QUALITY)?;
    let webp = |source: &DynamicImage| {
        limits
            .webp
            .then(|| crate::media::webp::encode(source, translucent))
            .transpose()
    };
    let display_webp = webp(display_source)?;
    // Resampling the display rendition instead of the original keeps the thumbnail cheap; at 1080 → 320 the
    // second resample costs no visible quality.
    let thumbnail_image = shrink_to(
        display_source,
        rendition_size(width, height, Size::Thumbnail),
        translucent,
    )?;
    let thumbnail_source = thumbnail_image.as_ref().unwrap_or(display_source);
    let thumbnail = encode(thumbnail_source, rendition_format, RENDITION_JPEG_QUALITY)?;
    let thumbnail_webp = webp(thumbnail_source)?;

    let rgba = thumbnail_source.to_rgba8();
    let blurhash = blurhash::encode(
        BLURHASH_COMPONENTS.0,
        BLURHASH_COMPONENTS.1,
        rgba.width(),
        rgba.height(),
        rgba.as_raw(),
    )
    .map_err(|_| ImageError::Malformed)?;
    let sha256 = hex_sha256(&original.bytes);

    Ok(Processed {
        original,
        display,
        thumbnail,
        display_webp,
        thumbnail_webp,
        blurhash,
        sha256,
        source_format,
        animated,
    })
}

/// Markup that makes bytes dangerous if a browser or interpreter ever sniffs them. Tag names only count when
/// followed by a delimiter, as an HTML tokenizer requires: compressed image data is random enough that a bare
/// four-byte `<svg` turns up in roughly one 5 MB photo in a hundred, and refusing those would be a bug.
const TAG_NAMES: [&[u8]; 5] = [b"<script", b"<html", b"<svg", b"<body", b"<iframe"];
/// Markup long or specific enough to count wherever it appears.
const MARKUP: [&[u8]; 2] = [b"<!doctype", b"<?php"];
const JAVASCRIPT_URL: &[u8] = b"javascript:";

/// Whether the raw bytes contain HTML, SVG, script or PHP markup (ASCII case-insensitive).
fn is_polyglot(bytes: &[u8]) -> bool {
    let found_at = |i: usize, needle: &[u8]| {
        bytes
            .get(i..i + needle.len())
            .is_some_and(|window| window.eq_ignore_ascii_case(needle))
    };
    let tag_ends_at = |i: usize| {
        bytes
            .get(i)
            .is_none_or(|&next| matches!(next, b' ' | b'\t' | b'\n' | b'\r' | 0x0C | b'/' | b'>'))
    };
    (0..bytes.len()).any(|i| match bytes[i] {
        b'<' => {
            TAG_NAMES
                .iter()
                .any(|tag| found_at(i, tag) && tag_ends_at(i + tag.len()))
                || MARKUP.iter().any(|markup| found_at(i, markup))
        }
        b'j' | b'J' => found_at(i, JAVASCRIPT_URL),
        _ => false,
    })
}

/// Decodes the first frame with orientation applied; the flag says whether more frames followed.
fn decode(bytes: &[u8], format: Format, limits: &Limits) -> Result<(DynamicImage, bool), ImageError> {
    let reader = Cursor::new(bytes);
    match format {
        Format::Jpeg => {
            let decoder = JpegDecoder::new(reader).map_err(|_| ImageError::Malformed)?;
            let (width, height) = decoder.dimensions();
            check_dimensions(width, height, limits)?;
            if jpeg_end(bytes).is_none() {
                return Err(ImageError::Malformed);
            }
            decode_still(decoder, limits)
        }
        Format::Png => {
            // The PNG decoder reads its header and metadata chunks in the constructor, so it gets the allocation
            // cap now; the dimension limits come after, so an oversized image reports its size as `TooLarge`.
            let mut header_limits = image::Limits::default();
            header_limits.max_alloc = Some(limits.max_alloc_bytes);
            let decoder = PngDecoder::with_limits(reader, header_limits).map_err(|_| ImageError::Malformed)?;
            decode_still(decoder, limits)
        }
        Format::Gif => {
            let decoder = GifDecoder::new(reader).map_err(|_| ImageError::Malformed)?;
            decode_first_frame(decoder, limits)
        }
        Format::WebP => {
            let decoder = WebPDecoder::new(reader).map_err(|_| ImageError::Malformed)?;
            if decoder.has_animation() {
                decode_first_frame(decoder, limits)
            } else {
                decode_still(decoder, limits)
            }
        }
    }
}

fn decode_still(mut decoder: impl ImageDecoder, limits: &Limits) -> Result<(DynamicImage, bool), ImageError> {
    let (width, height) = admit(&mut decoder, limits)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(e, width, height))?;
    image.apply_orientation(orientation);
    Ok((image, false))
}

fn decode_first_frame<'a>(
    mut decoder: impl ImageDecoder + AnimationDecoder<'a>,
    limits: &Limits,
) -> Result<(DynamicImage, bool), ImageError> {
    let (width, height) = admit(&mut decoder, limits)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut frames = decoder.into_frames();
    let first = frames
        .next()
        .ok_or(ImageError::Malformed)?
        .map_err(|e| decode_error(e, width, height))?;
    // Decoding the second frame is the only reliable count; a corrupt one does not make the upload animated.
    let animated = matches!(frames.next(), Some(Ok(_)));
    let mut image = DynamicImage::ImageRgba8(first.into_buffer());
    image.apply_orientation(orientation);
    Ok((image, animated))
}

/// Refuses the image from its header dimensions, then arms the decoder's own limits. Nothing is decoded yet.
fn admit(decoder: &mut impl ImageDecoder, limits: &Limits) -> Result<(u32, u32), ImageError> {
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    let too_large = ImageError::TooLarge { width, height };
    let mut decode_limits = image::Limits::default();
    decode_limits.max_image_width = Some(limits.max_width);
    decode_limits.max_image_height = Some(limits.max_height);
    decode_limits.max_alloc = Some(limits.max_alloc_bytes);
    // The output buffer counts against the allocation cap, as `ImageReader::decode` does it.
    decode_limits
        .reserve(decoder.total_bytes())
        .map_err(|_| too_large.clone())?;
    decoder.set_limits(decode_limits).map_err(|_| too_large)?;
    Ok((width, height))
}

fn check_dimensions(width: u32, height: u32, limits: &Limits) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Malformed);
    }
    if width > limits.max_width
        || height > limits.max_height
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(ImageError::TooLarge { width, height });
    }
    Ok(())
}

/// Where a JPEG's end-of-image marker ends, or `None` when the file stops before it. The JPEG decoder, in its
/// lenient mode, paints a truncated scan grey instead of failing, which would store half an interrupted upload.
/// The walk skips whole segments by their length, so the EOI of a thumbnail embedded in EXIF does not count, and
/// stops at the first real EOI, so bytes appended after it do not matter.
fn jpeg_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 2;
    loop {
        // Like libjpeg, skip stray bytes before a marker and any 0xFF fill bytes.
        at += bytes.get(at..)?.iter().position(|&b| b == 0xFF)?;
        at += bytes.get(at..)?.iter().position(|&b| b != 0xFF)?;
        let marker = bytes[at];
        at += 1;
        match marker {
            0xD9 => return Some(at),
            // Not markers (0x00 is a stuffed byte) or markers without a length.
            0x00 | 0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let length = bytes.get(at..at + 2)?;
        at += usize::from(u16::from_be_bytes([length[0], length[1]]));
        if marker == 0xDA {
            // Entropy-coded data ends at the first 0xFF that is neither a stuffed 0x00 nor a restart marker.
            loop {
                at += bytes.get(at..)?.iter().position(|&b| b == 0xFF)?;
                match *bytes.get(at + 1)? {
                    0x00 | 0xD0..=0xD7 => at += 2,
                    _ => break,
                }
            }
        }
    }
}

/// A limit hit while decoding means the image was too big after all; anything else is corrupt data.
fn decode_error(error: image::ImageError, width: u32, height: u32) -> ImageError {
    match error {
        image::ImageError::Limits(_) => ImageError::TooLarge { width, height },
        _ => ImageError::Malformed,
    }
}

fn is_translucent(image: &DynamicImage) -> bool {
    match image {
        DynamicImage::ImageLumaA8(buffer) => buffer.pixels().any(|p| p.0[1] < u8::MAX),
        DynamicImage::ImageRgba8(buffer) => buffer.pixels().any(|p| p.0[3] < u8::MAX),
        DynamicImage::ImageLumaA16(buffer) => buffer.pixels().any(|p| p.0[1] < u16::MAX),
        DynamicImage::ImageRgba16(buffer) => buffer.pixels().any(|p| p.0[3] < u16::MAX),
        other => other.color().has_alpha(),
    }
}

/// Renditions are for browsers, which show 8 bits per channel; 16-bit PNGs would only be bigger.
fn to_8_bit(image: DynamicImage) -> DynamicImage {
    match image {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => image,
        _ if image.color().has_alpha() => DynamicImage::ImageRgba8(image.to_rgba8()),
        _ => DynamicImage::ImageRgb8(image.to_rgb8()),
    }
}

/// Scales an 8-bit image down to `size` ([`rendition_size`]); `None` when it already has that size.
///
/// Catmull-Rom: as sharp as Lanczos3 for photographic downscaling, with less ringing and a smaller kernel,
/// which matters when the source is a 40-megapixel upload. `fast_image_resize` convolves in 8-bit fixed
/// point with SIMD; the image crate's own `resize` keeps a 16-byte-per-pixel float copy of the source's
/// width at the new height (32 MiB for a 12-megapixel photo) and is several times slower. Alpha is
/// premultiplied during the resample only when the image is translucent.
fn shrink_to(image: &DynamicImage, size: (u32, u32), translucent: bool) -> Result<Option<DynamicImage>, ImageError> {
    use fast_image_resize::images::{Image, ImageRef};
    use fast_image_resize::{FilterType as Kernel, PixelType, ResizeAlg, ResizeOptions, Resizer};

    let (width, height) = (image.width(), image.height());
    if (width, height) == size {
        return Ok(None);
    }
    let pixel_type = match image {
        DynamicImage::ImageLuma8(_) => PixelType::U8,
        DynamicImage::ImageLumaA8(_) => PixelType::U8x2,
        DynamicImage::ImageRgb8(_) => PixelType::U8x3,
        DynamicImage::ImageRgba8(_) => PixelType::U8x4,
        // `process` converts to 8 bits first.
        _ => return Err(ImageError::Malformed),
    };
    let source = ImageRef::new(width, height, image.as_bytes(), pixel_type).map_err(|_| ImageError::Malformed)?;
    let (new_width, new_height) = size;
    let mut target = Image::new(new_width, new_height, pixel_type);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(Kernel::CatmullRom))
        .use_alpha(translucent);
    Resizer::new()
        .resize(&source, &mut target, &options)
        .map_err(|_| ImageError::Malformed)?;
    let pixels = target.into_vec();
    let resized = match pixel_type {
        PixelType::U8 => image::GrayImage::from_raw(new_width, new_height, pixels).map(DynamicImage::ImageLuma8),
        PixelType::U8x2 => {
            image::GrayAlphaImage::from_raw(new_width, new_height, pixels).map(DynamicImage::ImageLumaA8)
        }
        PixelType::U8x3 => image::RgbImage::from_raw(new_width, new_height, pixels).map(DynamicImage::ImageRgb8),
        _ => image::RgbaImage::from_raw(new_width, new_height, pixels).map(DynamicImage::ImageRgba8),
    };
    resized.map(Some).ok_or(ImageError::Malformed)
}

/// Encodes pixels only. No ICC profile, EXIF or text is ever handed to an encoder, so none is written.
fn encode(image: &DynamicImage, format: Format, jpeg_quality: u8) -> Result<Encoded, ImageError> {
    let mut bytes = Vec::new();
    let (width, height) = (image.width(), image.height());
    let result = match format {
        Format::Jpeg => {
            let encoder = JpegEncoder::new_with_quality(&mut bytes, jpeg_quality);
            // The JPEG encoder takes only 8-bit grey or RGB; those are passed as they are, not copied.
            match image {
                DynamicImage::ImageLuma8(gray) => {
                    encoder.write_image(gray.as_raw(), width, height, ExtendedColorType::L8)
                }
                DynamicImage::ImageRgb8(rgb) => {
                    encoder.write_image(rgb.as_raw(), width, height, ExtendedColorType::Rgb8)
                }
                _ => encoder.write_image(image.to_rgb8().as_raw(), width, height, ExtendedColorType::Rgb8),
            }
        }
        _ => {
            let encoder = PngEncoder::new_with_quality(&mut bytes, CompressionType::Default, PngFilter::Adaptive);
            image.write_with_encoder(encoder)
        }
    };
    result.map_err(|_| ImageError::Malformed)?;
    Ok(Encoded {
        bytes,
        format,
        width,
        height,
    })
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use image::codecs::gif::GifEncoder;
    use image::codecs::webp::WebPEncoder;
    use image::{Frame, GenericImageView, ImageBuffer, Rgb, RgbImage, Rgba, RgbaImage};

    use super::*;

    const GPS_MARKER: &str = "RAMPART-GPS-MARKER";
    /// IFD0 entry pointing at the GPS IFD: tag 0x8825, type LONG, count 1 (little-endian).
    const GPS_POINTER_ENTRY: [u8; 8] = [0x25, 0x88, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00];
    /// GPS IFD entry GPSLatitudeRef = "N": tag 0x0001, type ASCII, count 2, value "N\0".
    const GPS_LATITUDE_REF_ENTRY: [u8; 10] = [0x01, 0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, b'N', 0x00];

    fn gradient(width: u32, height: u32) -> RgbImage {
        ImageBuffer::from_fn(width, height, |x, y| {
            Rgb([
                (x * 255 / width.max(1)) as u8,
                (y * 255 / height.max(1)) as u8,
                ((x ^ y) & 0xFF) as u8,
            ])
        })
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        JpegEncoder::new_with_quality(&mut bytes, 90)
            .encode_image(&gradient(width, height))
            .expect("encoding a JPEG fixture");
        bytes
    }

    fn png(image: &DynamicImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image
            .write_with_encoder(PngEncoder::new(&mut bytes))
            .expect("encoding a PNG fixture");
        bytes
    }

    fn gif(frames: &[Rgba<u8>]) -> Vec<u8> {
        let mut bytes = Vec::new();
        {
            let mut encoder = GifEncoder::new(&mut bytes);
            for &colour in frames {
                let frame = Frame::new(RgbaImage::from_pixel(8, 8, colour));
                encoder.encode_frame(frame).expect("encoding a GIF frame");
            }
        }
        bytes
    }

    fn webp(width: u32, height: u32) -> Vec<u8> {
        let rgba = DynamicImage::ImageRgb8(gradient(width, height)).to_rgba8();
        let mut bytes = Vec::new();
        WebPEncoder::new_lossless(&mut bytes)
            .encode(rgba.as_raw(), width, height, ExtendedColorType::Rgba8)
            .expect("encoding a WebP fixture");
        bytes
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(kind);
        chunk.extend_from_slice(data);
        let crc = crc32(&chunk[4..]);
        chunk.extend_from_slice(&crc.to_be_bytes());
        chunk
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|window| window == needle)
    }

    /// A little-endian TIFF entry: tag, type, count, value or offset.
    fn ifd_entry(tiff: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32) {
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&kind.to_le_bytes());
        tiff.extend_from_slice(&count.to_le_bytes());
        tiff.extend_from_slice(&value.to_le_bytes());
    }

    /// An APP1 Exif segment: IFD0 with ImageDescription, Orientation and a GPSInfo pointer; a GPS IFD with
    /// GPSLatitudeRef "N" and GPSLatitude 52° 31' 12.34".
    fn exif_app1(orientation: u16) -> Vec<u8> {
        let mut description = GPS_MARKER.as_bytes().to_vec();
        description.push(0);
        if description.len() % 2 == 1 {
            description.push(0);
        }
        let ifd0_offset = 8u32;
        let description_offset = ifd0_offset + 2 + 3 * 12 + 4;
        let gps_ifd_offset = description_offset + description.len() as u32;
        let latitude_offset = gps_ifd_offset + 2 + 2 * 12 + 4;

        let mut tiff = b"II".to_vec();
        tiff.extend_from_slice(&42u16.to_le_bytes());
        tiff.extend_from_slice(&ifd0_offset.to_le_bytes());
        tiff.extend_from_slice(&3u16.to_le_bytes());
        ifd_entry(&mut tiff, 0x010E, 2, GPS_MARKER.len() as u32 + 1, description_offset);
        ifd_entry(&mut tiff, 0x0112, 3, 1, u32::from(orientation));
        ifd_entry(&mut tiff, 0x8825, 4, 1, gps_ifd_offset);
        tiff.extend_from_slice(&0u32.to_le_bytes());
        tiff.extend_from_slice(&description);
        tiff.extend_from_slice(&2u16.to_le_bytes());
        ifd_entry(&mut tiff, 0x0001, 2, 2, u32::from_le_bytes([b'N', 0, 0, 0]));
        ifd_entry(&mut tiff, 0x0002, 5, 3, latitude_offset);
        tiff.extend_from_slice(&0u32.to_le_bytes());
        for (numerator, denominator) in [(52u32, 1u32), (31, 1), (1234, 100)] {
            tiff.extend_from_slice(&numerator.to_le_bytes());
            tiff.extend_from_slice(&denominator.to_le_bytes());
        }

        let mut segment = vec![0xFF, 0xE1];
        segment.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
        segment.extend_from_slice(b"Exif\0\0");
        segment.extend_from_slice(&tiff);
        segment
    }

    fn jpeg_with_exif(width: u32, height: u32, orientation: u16) -> Vec<u8> {
        let plain = jpeg(width, height);
        let mut bytes = plain[..2].to_vec();
        bytes.extend_from_slice(&exif_app1(orientation));
        bytes.extend_from_slice(&plain[2..]);
        bytes
    }

    fn processed(bytes: &[u8]) -> Processed {
        process(bytes, &Limits::default()).expect("a valid image is accepted")
    }

    fn decoded(encoded: &Encoded) -> DynamicImage {
        image::load_from_memory(&encoded.bytes).expect("output decodes")
    }

    #[test]
    fn gps_exif_and_its_marker_are_not_in_the_stored_original() {
        let upload = jpeg_with_exif(64, 48, 1);
        assert!(contains(&upload, GPS_MARKER.as_bytes()) && contains(&upload, &GPS_POINTER_ENTRY));
        let exif = JpegDecoder::new(Cursor::new(&upload[..]))
            .unwrap()
            .exif_metadata()
            .unwrap();
        assert!(
            exif.is_some_and(|exif| contains(&exif, GPS_MARKER.as_bytes())),
            "the decoder sees the EXIF"
        );

        let result = processed(&upload);

        let stored = &result.original.bytes;
        assert_eq!(result.original.format, Format::Jpeg);
        assert!(!contains(stored, b"Exif"), "Exif header survived");
        assert!(!contains(stored, GPS_MARKER.as_bytes()), "description marker survived");
        assert!(!contains(stored, &GPS_POINTER_ENTRY), "GPSInfo pointer survived");
        assert!(!contains(stored, &GPS_LATITUDE_REF_ENTRY), "GPSLatitudeRef survived");
        for rendition in [
            &result.display.bytes,
            &result.thumbnail.bytes,
            &result.display_webp.as_ref().unwrap().bytes,
            &result.thumbnail_webp.as_ref().unwrap().bytes,
        ] {
            assert!(!contains(rendition, b"Exif") && !contains(rendition, GPS_MARKER.as_bytes()));
        }
        assert_eq!(result.sha256, hex_sha256(stored));
        assert_eq!(result.sha256.len(), 64);
        assert!(
            result
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }

    #[test]
    fn exif_orientation_six_turns_a_landscape_jpeg_into_a_portrait_original() {
        let result = processed(&jpeg_with_exif(40, 20, 6));

        assert_eq!((result.original.width, result.original.height), (20, 40));
        assert_eq!(decoded(&result.original).dimensions(), (20, 40));
    }

    #[test]
    fn a_png_declaring_100000_by_100000_is_refused_from_its_header_alone() {
        let mut ihdr = 100_000u32.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut bomb = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        bomb.extend(png_chunk(b"IHDR", &ihdr));
        // A zlib stream holding one empty stored block.
        bomb.extend(png_chunk(
            b"IDAT",
            &[0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01],
        ));
        bomb.extend(png_chunk(b"IEND", &[]));

        let started = Instant::now();
        let result = process(&bomb, &Limits::default());

        assert_eq!(
            result,
            Err(ImageError::TooLarge {
                width: 100_000,
                height: 100_000
            })
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn an_image_over_the_pixel_budget_is_too_large_even_within_width_and_height() {
        let limits = Limits {
            max_pixels: 100,
            ..Limits::default()
        };

        assert_eq!(
            process(jpeg(20, 20), &limits),
            Err(ImageError::TooLarge { width: 20, height: 20 })
        );
    }

    #[test]
    fn a_truncated_image_of_any_format_is_malformed() {
        let cases = [
            ("JPEG", jpeg(64, 64)),
            ("PNG", png(&DynamicImage::ImageRgb8(gradient(64, 64)))),
            ("GIF", gif(&[Rgba([255, 0, 0, 255])])),
            ("WebP", webp(64, 64)),
        ];

        for (case, whole) in cases {
            assert_eq!(
                process(&whole[..whole.len() / 2], &Limits::default()),
                Err(ImageError::Malformed),
                "{case}"
            );
        }
    }

    #[test]
    fn a_truncated_jpeg_is_malformed_even_when_its_exif_holds_a_complete_thumbnail() {
        let thumbnail = jpeg(8, 8);
        let mut segment = vec![0xFF, 0xE1];
        segment.extend_from_slice(&((2 + 6 + thumbnail.len()) as u16).to_be_bytes());
        segment.extend_from_slice(b"Exif\0\0");
        segment.extend_from_slice(&thumbnail);
        let whole = jpeg(64, 64);
        let mut upload = whole[..2].to_vec();
        upload.extend_from_slice(&segment);
        upload.extend_from_slice(&whole[2..whole.len() / 2]);

        assert_eq!(process(&upload, &Limits::default()), Err(ImageError::Malformed));
    }

    #[test]
    fn an_empty_upload_is_refused_as_empty() {
        assert_eq!(process([], &Limits::default()), Err(ImageError::Empty));
        assert_eq!(sniff(&[]), Err(ImageError::Empty));
    }

    #[test]
    fn files_that_are_not_jpeg_png_gif_or_webp_are_unsupported() {
        let cases: [(&str, &[u8]); 5] = [
            (
                "SVG with a script",
                b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
            ),
            ("HTML without a name", b"<!DOCTYPE html><html><body>hi</body></html>"),
            ("PDF header", b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n"),
            ("RIFF that is not WebP", b"RIFF\x24\x00\x00\x00WAVEfmt "),
            ("truncated PNG signature", b"\x89PNG\r\n"),
        ];

        for (case, bytes) in cases {
            assert_eq!(
                process(bytes, &Limits::default()),
                Err(ImageError::UnsupportedType),
                "{case}"
            );
        }
    }

    #[test]
    fn a_jpeg_with_html_after_its_end_marker_is_a_polyglot() {
        let mut upload = jpeg(16, 16);
        upload.extend_from_slice(b"<script>alert(1)</script>");

        assert_eq!(process(&upload, &Limits::default()), Err(ImageError::Polyglot));
    }

    #[test]
    fn markup_is_found_in_any_case_but_a_tag_name_needs_its_delimiter() {
        let cases: [(&[u8], bool); 10] = [
            (b"..<ScRiPt>..", true),
            (b"..<svg/onload=x>", true),
            (b"..<SVG\n", true),
            (b"..<body", true),
            (b"..<!DocType html", true),
            (b"..<?PHP echo", true),
            (b"..JavaScript:alert(1)", true),
            (b"..<svgx..", false),
            (b"..<bodyguard..", false),
            (b"..javascript..", false),
        ];

        for (bytes, expected) in cases {
            assert_eq!(is_polyglot(bytes), expected, "{}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn a_wide_image_gets_bounded_renditions_in_jpeg_when_opaque_and_png_when_translucent() {
        let opaque = DynamicImage::ImageRgb8(gradient(3000, 1000));
        let mut translucent = opaque.to_rgba8();
        translucent.put_pixel(10, 10, Rgba([0, 0, 0, 0]));
        let cases = [
            ("opaque", opaque, Format::Jpeg),
            ("translucent", DynamicImage::ImageRgba8(translucent), Format::Png),
        ];

        for (case, image, format) in cases {
            let result = processed(&png(&image));

            assert_eq!(result.original.format, Format::Png, "{case}");
            assert_eq!((result.original.width, result.original.height), (3000, 1000), "{case}");
            assert_eq!((result.display.width, result.display.height), (1080, 360), "{case}");
            assert_eq!(result.thumbnail.width, 320, "{case}");
            assert!(
                result.thumbnail.height.abs_diff(107) <= 1,
                "{case}: {}",
                result.thumbnail.height
            );
            assert_eq!(
                (result.display.format, result.thumbnail.format),
                (format, format),
                "{case}"
            );
            assert_eq!(decoded(&result.display).dimensions(), (1080, 360), "{case}");
            assert_eq!(
                decoded(&result.thumbnail).dimensions(),
                (result.thumbnail.width, result.thumbnail.height)
            );
        }
    }

    #[test]
    fn a_small_image_is_never_upscaled() {
        let result = processed(&jpeg(50, 30));

        for rendition in [&result.original, &result.display, &result.thumbnail] {
            assert_eq!((rendition.width, rendition.height), (50, 30));
        }
    }

    #[test]
    fn every_rendition_has_the_size_rendition_size_gives_and_its_webp_twin_the_same() {
        for (width, height) in [(3000, 1000), (1000, 3000), (333, 1201), (1100, 1099), (50, 30)] {
            let result = processed(&jpeg(width, height));

            let pairs = [
                (&result.display, result.display_webp.as_ref().unwrap(), Size::Display),
                (
                    &result.thumbnail,
                    result.thumbnail_webp.as_ref().unwrap(),
                    Size::Thumbnail,
                ),
            ];
            for (fallback, webp, size) in pairs {
                let case = format!("{width}x{height} {size:?}");
                assert_eq!(
                    (fallback.width, fallback.height),
                    rendition_size(width, height, size),
                    "{case}"
                );
                assert_eq!(
                    (webp.format, webp.width, webp.height),
                    (Format::WebP, fallback.width, fallback.height),
                    "{case}"
                );
                assert_eq!(decoded(webp).dimensions(), (webp.width, webp.height), "{case}");
            }
        }
    }

    #[test]
    fn with_webp_off_no_webp_is_encoded_and_the_rest_is_unchanged() {
        let upload = jpeg(400, 300);
        let with = processed(&upload);
        let without = process(
            &upload,
            &Limits {
                webp: false,
                ..Limits::default()
            },
        )
        .unwrap();
        assert_eq!((without.display_webp, without.thumbnail_webp), (None, None));
        assert_eq!(
            (without.original, without.display, without.thumbnail, without.blurhash),
            (with.original, with.display, with.thumbnail, with.blurhash)
        );
    }

    #[test]
    fn an_animated_gif_is_flagged_and_stored_as_a_png_of_its_first_frame() {
        let red = Rgba([255, 0, 0, 255]);
        let result = processed(&gif(&[red, Rgba([0, 0, 255, 255])]));

        assert!(result.animated);
        assert_eq!(result.source_format, Format::Gif);
        assert_eq!(result.original.format, Format::Png);
        assert_eq!(decoded(&result.original).to_rgba8().get_pixel(4, 4), &red);
    }

    #[test]
    fn a_single_frame_gif_is_not_animated() {
        assert!(!processed(&gif(&[Rgba([0, 255, 0, 255])])).animated);
    }

    #[test]
    fn a_lossless_webp_is_accepted_and_stored_as_png() {
        let result = processed(&webp(30, 20));

        assert_eq!(result.source_format, Format::WebP);
        assert_eq!(result.original.format, Format::Png);
        assert_eq!((result.original.width, result.original.height), (30, 20));
        assert!(!result.animated);
    }

    #[test]
    fn bytes_after_a_png_iend_are_not_stored() {
        let mut upload = png(&DynamicImage::ImageRgb8(gradient(32, 32)));
        upload.extend_from_slice(b"TRAILING-GARBAGE-RAMPART");

        let result = processed(&upload);

        assert!(!contains(&result.original.bytes, b"TRAILING-GARBAGE"));
        assert!(result.original.bytes.ends_with(&png_chunk(b"IEND", &[])));
    }

    #[test]
    fn the_blurhash_has_28_characters_for_4_by_3_components() {
        let result = processed(&jpeg(64, 48));

        // 1 size flag + 1 maximum AC + 4 DC + 2 for each of the 11 AC components.
        assert_eq!(result.blurhash.len(), 28, "{}", result.blurhash);
    }

    #[test]
    fn every_error_has_a_stable_code_and_status() {
        let cases = [
            (ImageError::Empty, "empty_file", 422),
            (ImageError::UnsupportedType, "unsupported_image_type", 415),
            (ImageError::Polyglot, "polyglot_rejected", 422),
            (ImageError::TooLarge { width: 1, height: 1 }, "image_too_large", 422),
            (ImageError::Malformed, "malformed_image", 422),
        ];

        for (error, code, status) in cases {
            assert_eq!((error.code(), error.status()), (code, status), "{error:?}");
        }
    }

    #[test]
    fn sniffing_reads_magic_bytes_only() {
        assert_eq!(sniff(&jpeg(4, 4)), Ok(Format::Jpeg));
        assert_eq!(sniff(&png(&DynamicImage::ImageRgb8(gradient(4, 4)))), Ok(Format::Png));
        assert_eq!(sniff(&gif(&[Rgba([1, 2, 3, 255])])), Ok(Format::Gif));
        assert_eq!(sniff(&webp(4, 4)), Ok(Format::WebP));
        assert_eq!(sniff(b"GIF88a"), Err(ImageError::UnsupportedType));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_bytes_behind_any_magic_are_refused_cleanly_or_accepted_within_the_limits(
            magic in proptest::sample::select(vec![
                &b""[..], b"\xFF\xD8\xFF", b"\x89PNG\r\n\x1A\n", b"GIF89a", b"RIFF\0\0\0\0WEBP",
            ]),
            rest in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            let mut bytes = magic.to_vec();
            bytes.extend_from_slice(&rest);
            // The shared fuzz entry point asserts the limits on anything accepted.
            crate::fuzzing::image(&bytes);
            proptest::prop_assert_eq!(sniff(&bytes).is_ok(), !magic.is_empty() || sniff(&rest).is_ok());
        }

        #[test]
        fn header_dimensions_pass_only_within_every_limit(
            width in 0u32..20_000, height in 0u32..20_000, pixels in 0u64..50_000_000,
        ) {
            let limits = Limits { max_pixels: pixels, ..Limits::default() };
            let within = width > 0 && height > 0 && width <= limits.max_width && height <= limits.max_height
                && u64::from(width) * u64::from(height) <= pixels;
            match check_dimensions(width, height, &limits) {
                Ok(()) => proptest::prop_assert!(within),
                Err(ImageError::Malformed) => proptest::prop_assert!(width == 0 || height == 0),
                Err(e) => proptest::prop_assert_eq!(e, ImageError::TooLarge { width, height }),
            }
            proptest::prop_assert_eq!(check_dimensions(width, height, &limits).is_ok(), within);
        }

        #[test]
        fn a_jpeg_end_found_is_an_end_marker_inside_the_bytes(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![proptest::prelude::any::<u8>(), proptest::strategy::Just(0xFFu8), proptest::strategy::Just(0xD9u8)],
                0..256,
            ),
        ) {
            if let Some(end) = jpeg_end(&bytes) {
                proptest::prop_assert!(end <= bytes.len());
                proptest::prop_assert_eq!(&bytes[end - 2..end], &[0xFF, 0xD9]);
            }
        }

        #[test]
        fn markup_anywhere_in_the_bytes_makes_them_a_polyglot(
            before in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            markup in proptest::sample::select(vec!["<script>", "<SVG ", "<!DOCTYPE", "<?php", "JavaScript:", "<iframe/"]),
            after in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let mut bytes = before;
            bytes.extend_from_slice(markup.as_bytes());
            bytes.extend_from_slice(&after);
            proptest::prop_assert!(is_polyglot(&bytes));
        }
    }

    #[test]
    fn a_whole_valid_image_behind_each_magic_passes_the_fuzz_invariants() {
        // The fuzz entry point's accepting branch, which random bytes alone rarely reach.
        for bytes in [
            jpeg_with_exif(40, 20, 6),
            png(&DynamicImage::ImageRgb8(gradient(300, 20))),
            webp(8, 8),
        ] {
            crate::fuzzing::image(&bytes);
        }
        assert!(process(jpeg(40, 20), &crate::fuzzing::IMAGE_LIMITS).is_ok());
    }

    #[test]
    fn random_mutations_and_truncations_never_panic() {
        // Small limits keep a mutated header from sending the test into a large, slow allocation.
        let limits = Limits {
            max_width: 256,
            max_height: 256,
            max_pixels: 65_536,
            max_alloc_bytes: 16 << 20,
            webp: true,
        };
        let seeds = [
            jpeg_with_exif(24, 16, 6),
            png(&DynamicImage::ImageRgba8(
                DynamicImage::ImageRgb8(gradient(24, 16)).to_rgba8(),
            )),
            gif(&[Rgba([255, 0, 0, 255]), Rgba([0, 0, 255, 128])]),
            webp(24, 16),
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };

        for seed in &seeds {
            for end in 0..seed.len() {
                let _ = process(&seed[..end], &limits);
            }
            for _ in 0..400 {
                let mut mutated = seed.clone();
                for _ in 0..1 + next() % 8 {
                    let at = (next() % mutated.len() as u64) as usize;
                    mutated[at] = next() as u8;
                }
                if next() % 4 == 0 {
                    mutated.truncate((next() % mutated.len() as u64) as usize);
                }
                let _ = process(&mutated, &limits);
            }
        }
    }
}
