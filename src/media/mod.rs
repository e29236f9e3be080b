//! Media: image sanitising (`image`), the rendition sizes (`sizes`), the lossy WebP renditions (`webp`) and
//! where the results are kept (`storage`).

pub mod image;
pub mod serve;
pub mod sizes;
pub mod storage;
pub mod webp;
