//! Media: image sanitising (`image`) and where the results are kept (`storage`).

pub mod image;
pub mod serve;
pub mod storage;
