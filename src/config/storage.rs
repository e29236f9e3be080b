//! `[storage]`: which driver holds the media, with that driver's own settings.
//!
//! The file keeps its flat shape (`driver = "s3"` beside `[storage.s3]`), but once loaded the driver is an
//! enum carrying only its own settings, so no code matches the driver's name again.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "StorageFile", into = "StorageFile")]
pub struct StorageSettings {
    pub driver: StorageDriver,
    /// Deadline for one storage operation; past it the request fails with 504 and nothing is written.
    pub timeout_ms: u64,
}

/// The configured driver and its settings.
#[derive(Debug, Clone)]
pub enum StorageDriver {
    Local(LocalSettings),
    S3(S3Settings),
    ImageKit(ImageKitSettings),
}

#[derive(Debug, Clone, Default)]
pub struct LocalSettings {
    /// Folder the files go to; unset: `<data_dir>/media`.
    pub dir: Option<PathBuf>,
    /// Prefix for media URLs (`<base>/media/<key>`); empty gives URLs relative to the API.
    pub url_base: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    pub bucket: String,
    pub region: String,
    /// Custom endpoint for MinIO, R2, moto …; unset: AWS.
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    #[serde(serialize_with = "secret::masked")]
    pub secret_access_key: Option<SecretString>,
    /// Public base URL of the bucket (CDN); unset: clients get presigned URLs.
    pub public_base_url: Option<String>,
    pub presign_ttl_secs: u64,
    /// Allow an `http://` endpoint (local emulators only).
    pub allow_http: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageKitSettings {
    /// Private API key.
    #[serde(serialize_with = "secret::masked")]
    pub private_key: Option<SecretString>,
    /// Your URL endpoint, e.g. `https://ik.imagekit.io/your_id`.
    pub url_endpoint: Option<String>,
    pub upload_url: String,
    pub api_base: String,
    /// Folder uploads go to.
    pub folder: String,
}

impl StorageSettings {
    /// The driver's name as configuration spells it, for logs and records.
    pub fn driver_name(&self) -> &'static str {
        DriverName::of(&self.driver).as_str()
    }
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            driver: StorageDriver::Local(LocalSettings::default()),
            timeout_ms: 15_000,
        }
    }
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            bucket: "rampart".into(),
            region: "us-east-1".into(),
            endpoint: None,
            access_key_id: None,
            secret_access_key: None,
            public_base_url: None,
            presign_ttl_secs: 3600,
            allow_http: false,
        }
    }
}

impl Default for ImageKitSettings {
    fn default() -> Self {
        ImageKitSettings {
            private_key: None,
            url_endpoint: None,
            upload_url: "https://upload.imagekit.io/api/v1/files/upload".into(),
            api_base: "https://api.imagekit.io/v1".into(),
            folder: "/rampart".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum DriverName {
    Local,
    S3,
    ImageKit,
}

impl DriverName {
    fn of(driver: &StorageDriver) -> DriverName {
        match driver {
            StorageDriver::Local(_) => DriverName::Local,
            StorageDriver::S3(_) => DriverName::S3,
            StorageDriver::ImageKit(_) => DriverName::ImageKit,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            DriverName::Local => "local",
            DriverName::S3 => "s3",
            DriverName::ImageKit => "imagekit",
        }
    }
}

/// `[storage]` as the file spells it; the sections of drivers not chosen are read and dropped.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageFile {
    /// `local` (default), `s3` or `imagekit`.
    driver: DriverName,
    local_dir: Option<PathBuf>,
    local_url_base: String,
    timeout_ms: u64,
    s3: S3Settings,
    imagekit: ImageKitSettings,
}

impl From<StorageFile> for StorageSettings {
    fn from(file: StorageFile) -> Self {
        let driver = match file.driver {
            DriverName::Local => StorageDriver::Local(LocalSettings {
                dir: file.local_dir,
                url_base: file.local_url_base,
            }),
            DriverName::S3 => StorageDriver::S3(file.s3),
            DriverName::ImageKit => StorageDriver::ImageKit(file.imagekit),
        };
        StorageSettings {
            driver,
            timeout_ms: file.timeout_ms,
        }
    }
}

impl From<StorageSettings> for StorageFile {
    fn from(settings: StorageSettings) -> Self {
        let mut file = StorageFile {
            driver: DriverName::of(&settings.driver),
            local_dir: None,
            local_url_base: String::new(),
            timeout_ms: settings.timeout_ms,
            s3: S3Settings::default(),
            imagekit: ImageKitSettings::default(),
        };
        match settings.driver {
            StorageDriver::Local(local) => {
                file.local_dir = local.dir;
                file.local_url_base = local.url_base;
            }
            StorageDriver::S3(s3) => file.s3 = s3,
            StorageDriver::ImageKit(imagekit) => file.imagekit = imagekit,
        }
        file
    }
}
