//! Images for upload tests, made here: ordinary ones, one carrying GPS metadata, and hostile ones.

use std::io::Cursor;

use image::{ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// A JPEG of the given size with a gradient, so it compresses like a photo.
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// A PNG with transparency.
#[allow(dead_code)]
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let img = RgbaImage::from_fn(width, height, |x, y| Rgba([(x % 256) as u8, (y % 256) as u8, 90, 200]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Text that appears in the GPS-carrying JPEG's metadata, to look for in stored bytes.
pub const GPS_MARKER: &[u8] = b"RAMPART-GPS-MARKER";

/// A JPEG with an EXIF segment holding an image description (`GPS_MARKER`) and GPS coordinates.
pub fn jpeg_with_gps() -> Vec<u8> {
    let base = jpeg(64, 48);
    // TIFF, little-endian: IFD0 with ImageDescription and a GPS IFD pointer; the GPS IFD holds
    // GPSLatitudeRef = 'N' and GPSLatitude = 51/1, 30/1, 0/1.
    let mut tiff: Vec<u8> = Vec::new();
    tiff.extend_from_slice(b"II*\0");
    tiff.extend_from_slice(&8u32.to_le_bytes());
    let ifd0_entries = 2u16;
    let ifd0_size = 2 + 12 * ifd0_entries as u32 + 4;
    let desc_offset = 8 + ifd0_size;
    let desc = [GPS_MARKER, b"\0"].concat();
    let gps_ifd_offset = desc_offset + desc.len() as u32;
    let gps_entries = 2u16;
    let gps_size = 2 + 12 * gps_entries as u32 + 4;
    let rationals_offset = gps_ifd_offset + gps_size;
    tiff.extend_from_slice(&ifd0_entries.to_le_bytes());
    tiff.extend_from_slice(&entry(0x010E, 2, desc.len() as u32, desc_offset));
    tiff.extend_from_slice(&entry(0x8825, 4, 1, gps_ifd_offset));
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(&desc);
    tiff.extend_from_slice(&gps_entries.to_le_bytes());
    tiff.extend_from_slice(&entry(0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0")));
    tiff.extend_from_slice(&entry(0x0002, 5, 3, rationals_offset));
    tiff.extend_from_slice(&0u32.to_le_bytes());
    for (n, d) in [(51u32, 1u32), (30, 1), (0, 1)] {
        tiff.extend_from_slice(&n.to_le_bytes());
        tiff.extend_from_slice(&d.to_le_bytes());
    }
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = base[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&base[2..]);
    out
}

fn entry(tag: u16, kind: u16, count: u32, value: u32) -> [u8; 12] {
    let mut e = [0u8; 12];
    e[..2].copy_from_slice(&tag.to_le_bytes());
    e[2..4].copy_from_slice(&kind.to_le_bytes());
    e[4..8].copy_from_slice(&count.to_le_bytes());
    e[8..].copy_from_slice(&value.to_le_bytes());
    e
}

/// A tiny PNG whose header claims `width` × `height` pixels: a decompression bomb.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
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

/// A JPEG followed by an HTML document: valid as both.
pub fn polyglot_jpeg_html() -> Vec<u8> {
    let mut bytes = jpeg(32, 32);
    bytes.extend_from_slice(b"<html><body><script>alert(document.cookie)</script></body></html>");
    bytes
}

pub const SVG_WITH_SCRIPT: &[u8] =
    b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
pub const HTML: &[u8] = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>";
pub const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n";
