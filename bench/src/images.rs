//! Synthetic photographs for the benchmark: smooth gradients and shapes with sensor-like noise, encoded
//! as JPEG so that every upload goes through the real decoder, resizer and encoders.

use anyhow::Context;
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};

/// A small xorshift generator: deterministic inputs from run to run, no extra dependency.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A photo-like picture: two-axis gradient, a few discs, and noise of amplitude `noise` (0–255).
pub fn photo(width: u32, height: u32, seed: u64, noise: u8) -> RgbImage {
    let mut rng = XorShift::new(seed);
    let base = [rng.below(200) as f32, rng.below(200) as f32, rng.below(200) as f32];
    let discs: Vec<(f32, f32, f32, [f32; 3])> = (0..6)
        .map(|_| {
            let x = rng.below(u64::from(width)) as f32;
            let y = rng.below(u64::from(height)) as f32;
            let r = (rng.below(u64::from(width.min(height) / 3)) + 8) as f32;
            let c = [rng.below(255) as f32, rng.below(255) as f32, rng.below(255) as f32];
            (x, y, r, c)
        })
        .collect();
    let (w, h) = (width as f32, height as f32);
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let mut px = [
            base[0] + 55.0 * fx / w,
            base[1] + 55.0 * fy / h,
            base[2] + 40.0 * (fx + fy) / (w + h),
        ];
        for (cx, cy, r, c) in &discs {
            let d2 = (fx - cx).powi(2) + (fy - cy).powi(2);
            if d2 < r * r {
                let t = 1.0 - d2 / (r * r);
                for i in 0..3 {
                    px[i] = px[i] * (1.0 - t) + c[i] * t;
                }
            }
        }
        let mut out = [0u8; 3];
        for i in 0..3 {
            let n = if noise == 0 {
                0.0
            } else {
                rng.below(u64::from(noise) * 2 + 1) as f32 - f32::from(noise)
            };
            out[i] = (px[i] + n).clamp(0.0, 255.0) as u8;
        }
        Rgb(out)
    })
}

/// Encodes as a baseline JPEG.
pub fn jpeg(image: &RgbImage, quality: u8) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .write_image(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgb8)
        .context("encoding a JPEG")?;
    Ok(bytes)
}

/// A high-entropy JPEG between 95% and 100% of `target` bytes (for the memory check).
pub fn jpeg_of_size(target: usize) -> anyhow::Result<(Vec<u8>, u32, u32)> {
    let (mut w, mut h) = (1600u32, 1200u32);
    for _ in 0..8 {
        let bytes = jpeg(&photo(w, h, 7, 120), 95)?;
        let ratio = target as f64 / bytes.len() as f64;
        if bytes.len() <= target && bytes.len() * 100 >= target * 95 {
            return Ok((bytes, w, h));
        }
        // Size grows with the pixel count; aim a little low so that the next try lands under the target.
        let scale = (ratio * 0.975).sqrt();
        w = ((f64::from(w) * scale) as u32).max(16);
        h = ((f64::from(h) * scale) as u32).max(16);
    }
    anyhow::bail!("could not make a JPEG of about {target} bytes")
}

/// A `multipart/form-data` body with an `image` part and a `caption` part.
pub fn multipart(boundary: &str, image: &[u8], caption: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(image.len() + 512);
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\n{caption}\r\n").as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"photo.jpg\"\r\n\
             Content-Type: image/jpeg\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(image);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// The multipart boundary of every upload body.
pub const BOUNDARY: &str = "rampartbench7d3f2a91c4e8";

/// Every input image of a run.
pub struct Inputs {
    /// Small photos (320×240) for the seeded posts.
    pub seed_photos: Vec<Vec<u8>>,
    /// The 2-megapixel upload of scenario (g) and of the mixed load.
    pub upload: Vec<u8>,
    /// About `upload_limit` bytes, for the parallel-upload memory check.
    pub large: Vec<u8>,
    pub large_dimensions: (u32, u32),
}

pub const UPLOAD_DIMENSIONS: (u32, u32) = (1920, 1080);

impl Inputs {
    pub fn generate(upload_limit: usize) -> anyhow::Result<Inputs> {
        let seed_photos = (0..16)
            .map(|i| jpeg(&photo(320, 240, 100 + i, 6), 85))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let upload = jpeg(&photo(UPLOAD_DIMENSIONS.0, UPLOAD_DIMENSIONS.1, 42, 10), 90)?;
        // Leave room under the limit: the limit applies to the image part, exact bytes are not the point.
        let (large, w, h) = jpeg_of_size(upload_limit - upload_limit / 50)?;
        Ok(Inputs {
            seed_photos,
            upload,
            large,
            large_dimensions: (w, h),
        })
    }
}
