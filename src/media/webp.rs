//! Lossy WebP renditions, through libwebp (the `webp` crate, which compiles libwebp's C from its
//! crates.io package). The image crate's own WebP encoder is lossless only, which for photographs is
//! several times the size of the JPEG it would stand beside.
//!
//! libwebp only ever encodes pixels this server decoded itself; uploads are still decoded by the image
//! crate's Rust decoders, so no upload byte reaches C code.

use image::DynamicImage;

use crate::media::image::{Encoded, Format, ImageError};

/// libwebp's quality scale (0–100). 78 gives files about two thirds the size of the JPEG renditions
/// (quality 82) without visible loss at display sizes.
const QUALITY: f32 = 78.0;
/// libwebp's effort, 0 (fastest) to 6. At 2 the encode takes about half the time of libwebp's default
/// of 4 for the same size within a few percent; see `bench/README.md`.
const METHOD: i32 = 2;

/// Encodes pixels only: libwebp is given no EXIF, XMP or ICC profile, so the file holds just the
/// image data (`VP8 `, or `VP8X` + `ALPH` + `VP8 ` with alpha). Alpha is kept only when `translucent`.
pub fn encode(image: &DynamicImage, translucent: bool) -> Result<Encoded, ImageError> {
    let (width, height) = (image.width(), image.height());
    let mut config = ::webp::WebPConfig::new().map_err(|()| ImageError::Malformed)?;
    config.quality = QUALITY;
    config.method = METHOD;
    config.alpha_compression = 1;
    let encoded = if translucent {
        let rgba = image.to_rgba8();
        ::webp::Encoder::from_rgba(rgba.as_raw(), width, height).encode_advanced(&config)
    } else if let DynamicImage::ImageRgb8(rgb) = image {
        ::webp::Encoder::from_rgb(rgb.as_raw(), width, height).encode_advanced(&config)
    } else {
        let rgb = image.to_rgb8();
        ::webp::Encoder::from_rgb(rgb.as_raw(), width, height).encode_advanced(&config)
    };
    // An encoder error here is an internal fault (bad dimensions, out of memory), not a client's; the
    // caller reports every failure of the pipeline the same way.
    let bytes = encoded.map_err(|_| ImageError::Malformed)?.to_vec();
    Ok(Encoded {
        bytes,
        format: Format::WebP,
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use image::{DynamicImage, GenericImageView, Rgb, RgbImage, Rgba, RgbaImage};

    use super::encode;
    use crate::media::image::Format;

    /// The four-character codes of a RIFF file's top-level chunks (and of `VP8X`'s flags byte).
    fn chunks(bytes: &[u8]) -> Vec<String> {
        assert_eq!((&bytes[..4], &bytes[8..12]), (&b"RIFF"[..], &b"WEBP"[..]));
        let mut at = 12;
        let mut names = Vec::new();
        while at + 8 <= bytes.len() {
            names.push(String::from_utf8_lossy(&bytes[at..at + 4]).into_owned());
            let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
            at += 8 + size + size % 2;
        }
        assert_eq!(at, bytes.len(), "chunks fill the file exactly");
        names
    }

    fn photo(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, ((x * y) % 251) as u8])
        })
    }

    #[test]
    fn an_opaque_image_becomes_a_lossy_webp_of_the_same_size_with_only_image_data() {
        let result = encode(&DynamicImage::ImageRgb8(photo(300, 200)), false).unwrap();

        assert_eq!((result.format, result.width, result.height), (Format::WebP, 300, 200));
        assert_eq!(chunks(&result.bytes), ["VP8 "], "lossy, no metadata chunk");
        let decoded = image::load_from_memory(&result.bytes).unwrap();
        assert_eq!(decoded.dimensions(), (300, 200));
    }

    #[test]
    fn a_translucent_image_keeps_its_alpha_and_grey_images_are_encoded_as_colour() {
        let mut rgba = RgbaImage::from_pixel(64, 48, Rgba([200, 10, 10, 255]));
        rgba.put_pixel(3, 3, Rgba([0, 0, 0, 0]));
        let translucent = encode(&DynamicImage::ImageRgba8(rgba), true).unwrap();
        let grey = encode(&DynamicImage::ImageLuma8(image::GrayImage::new(10, 20)), false).unwrap();

        assert_eq!(chunks(&translucent.bytes), ["VP8X", "ALPH", "VP8 "]);
        let decoded = image::load_from_memory(&translucent.bytes).unwrap().to_rgba8();
        assert_eq!(
            decoded.get_pixel(3, 3).0[3],
            0,
            "the transparent pixel stays transparent"
        );
        assert_eq!(decoded.get_pixel(40, 40).0[3], 255);
        assert_eq!(chunks(&grey.bytes), ["VP8 "]);
        assert_eq!(image::load_from_memory(&grey.bytes).unwrap().dimensions(), (10, 20));
    }

    #[test]
    fn a_photo_as_webp_is_smaller_than_as_jpeg_at_the_rendition_quality() {
        let image = DynamicImage::ImageRgb8(photo(1080, 720));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 82)
            .encode_image(&image)
            .unwrap();

        let webp = encode(&image, false).unwrap();

        assert!(
            webp.bytes.len() < jpeg.len(),
            "WebP {} bytes, JPEG {}",
            webp.bytes.len(),
            jpeg.len()
        );
    }
}
