//! `[posts]`: what an upload may be and how much one user may post.

use serde::{Deserialize, Serialize};

/// What multipart framing (boundaries, part headers, the caption) may add to an upload's image.
pub const MULTIPART_FRAMING_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostSettings {
    /// Largest accepted upload body.
    pub upload_limit_bytes: usize,
    /// Largest image side in pixels.
    pub max_dimension: u32,
    /// Largest image area in pixels (decompression-bomb guard).
    pub max_pixels: u64,
    /// Images decoded at once; each holds its pixels in memory.
    pub image_concurrency: usize,
    /// Upload bodies held in memory at once, over all requests; further uploads wait for room.
    pub upload_buffer_bytes: usize,
    /// Posts a user may create per hour.
    pub posts_per_hour: u32,
    /// Upload bytes a user may send per day.
    pub bytes_per_day: u64,
    /// Only accounts with a verified email address may post.
    pub require_verified_email: bool,
}

impl PostSettings {
    /// The largest upload request body: the image limit plus multipart framing.
    pub fn upload_body_limit(&self) -> usize {
        self.upload_limit_bytes + MULTIPART_FRAMING_BYTES
    }

    pub(super) fn check(&self, problems: &mut Vec<String>) {
        if self.upload_buffer_bytes < self.upload_body_limit() {
            problems.push("posts.upload_buffer_bytes must be at least posts.upload_limit_bytes + 64 KiB".to_owned());
        }
    }
}

impl Default for PostSettings {
    fn default() -> Self {
        PostSettings {
            upload_limit_bytes: 10 * 1024 * 1024,
            max_dimension: 12_000,
            max_pixels: 40_000_000,
            image_concurrency: super::cores(),
            upload_buffer_bytes: 40 * 1024 * 1024,
            posts_per_hour: 60,
            bytes_per_day: 500 * 1024 * 1024,
            require_verified_email: true,
        }
    }
}
