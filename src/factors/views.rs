//! Response shapes of the second-factor routes.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::rfc3339;
use crate::store::passkeys::PasskeyRow;

/// What the caller's account has.
#[derive(Debug, Serialize, ToSchema)]
pub struct FactorsView {
    /// An authenticator app is enabled: sign-in asks for a code.
    pub totp: bool,
    /// An enrolment waits for its first code.
    pub totp_pending: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
}

/// A new enrolment. The secret is shown this once; scan the QR code or type the secret into the app,
/// then confirm with its first code.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// Base32, as authenticator apps take it typed.
    pub secret: String,
    /// `otpauth://totp/…`, what the QR code holds.
    pub otpauth_uri: String,
    /// The QR code as an SVG document.
    pub qr_svg: String,
}

/// Recovery codes, shown this once. Each works one time in place of an authenticator code.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// Sign-in needs a second factor: send one with this challenge to `POST /api/v1/auth/mfa/verify`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaChallenge {
    /// Always true; tells this answer apart from a token response.
    pub mfa_required: bool,
    /// Single-use, for this client only.
    pub challenge: String,
    /// Seconds until the challenge expires.
    pub expires_in: u64,
    /// What may answer it: `totp`, `recovery_code`.
    pub methods: Vec<&'static str>,
}

/// A passkey as its owner sees it. The key itself never leaves the authenticator.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyView {
    pub id: uuid::Uuid,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<&PasskeyRow> for PasskeyView {
    fn from(row: &PasskeyRow) -> Self {
        PasskeyView {
            id: row.id,
            name: row.name.clone(),
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
        }
    }
}
