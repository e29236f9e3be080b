//! The pixel size of each rendition, computed one way for the pipeline that makes the renditions and
//! for the views that describe them, so a view's `width` × `height` is what the bytes decode to.

/// Longest side of the display rendition.
pub const DISPLAY_MAX: u32 = 1080;
/// Longest side of the thumbnail rendition.
pub const THUMBNAIL_MAX: u32 = 320;

/// The downscaled renditions of an original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Longest side at most [`DISPLAY_MAX`].
    Display,
    /// Longest side at most [`THUMBNAIL_MAX`].
    Thumbnail,
}

impl Size {
    /// The name clients see (`display`, `thumbnail`).
    pub fn name(self) -> &'static str {
        match self {
            Size::Display => "display",
            Size::Thumbnail => "thumbnail",
        }
    }
}

/// The size of a rendition of a `width` × `height` original (orientation applied).
///
/// The thumbnail is computed from the display size because the pipeline resamples the display
/// rendition, not the original, to make it; fitting the original directly can differ by a pixel.
pub fn rendition_size(width: u32, height: u32, size: Size) -> (u32, u32) {
    let display = bounded(width, height, DISPLAY_MAX);
    match size {
        Size::Display => display,
        Size::Thumbnail => bounded(display.0, display.1, THUMBNAIL_MAX),
    }
}

/// `width` × `height` unchanged when it fits in `max` × `max` (never upscaled), else scaled to fit.
fn bounded(width: u32, height: u32, max: u32) -> (u32, u32) {
    if width.max(height) <= max {
        (width, height)
    } else {
        fit(width, height, max)
    }
}

/// The size that fits `width` × `height` into a `max` × `max` box, keeping the aspect ratio; the short
/// side is rounded to the nearest pixel and is at least 1.
fn fit(width: u32, height: u32, max: u32) -> (u32, u32) {
    let scale = |short: u32, long: u32| {
        let scaled = (u64::from(short) * u64::from(max) + u64::from(long) / 2) / u64::from(long);
        u32::try_from(scaled).unwrap_or(max).clamp(1, max)
    };
    if width >= height {
        (max, scale(height, width))
    } else {
        (scale(width, height), max)
    }
}

#[cfg(test)]
mod tests {
    use super::{Size, rendition_size};

    #[test]
    fn renditions_fit_their_box_and_keep_the_aspect_ratio() {
        let cases = [
            ("landscape 4:3", (1600, 1200), (1080, 810), (320, 240)),
            ("portrait 2:3", (2000, 3000), (720, 1080), (213, 320)),
            (
                "3:1, thumbnail from the rounded display",
                (3000, 1000),
                (1080, 360),
                (320, 107),
            ),
            ("already small", (50, 30), (50, 30), (50, 30)),
            ("between the two", (800, 600), (800, 600), (320, 240)),
            ("a sliver keeps one pixel", (12_000, 1), (1080, 1), (320, 1)),
        ];

        for (case, (width, height), display, thumbnail) in cases {
            assert_eq!(rendition_size(width, height, Size::Display), display, "{case}");
            assert_eq!(rendition_size(width, height, Size::Thumbnail), thumbnail, "{case}");
        }
    }

    proptest::proptest! {
        #[test]
        fn a_rendition_is_never_larger_than_its_box_or_its_original(width in 1u32..20_000, height in 1u32..20_000) {
            for (size, max) in [(Size::Display, super::DISPLAY_MAX), (Size::Thumbnail, super::THUMBNAIL_MAX)] {
                let (w, h) = rendition_size(width, height, size);
                proptest::prop_assert!(w >= 1 && h >= 1);
                proptest::prop_assert!(w.max(h) <= max && w <= width && h <= height);
            }
        }
    }
}
