//! Time-based one-time passwords (RFC 6238): HMAC-SHA1, six digits, 30-second steps, the parameters
//! every authenticator app understands. Pure functions; the store keeps the secret sealed and the
//! last accepted step, which is what makes a code single-use.

use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

/// Seconds per step.
pub const PERIOD: u64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;

/// The step `unix_secs` falls in.
pub fn step_at(unix_secs: u64) -> u64 {
    unix_secs / PERIOD
}

/// The code for one step (RFC 4226's HOTP with the step as the counter).
pub fn code_for_step(secret: &[u8], step: u64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &step.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    format!("{:0width$}", binary % 10u32.pow(DIGITS), width = DIGITS as usize)
}

/// The code an authenticator shows at `unix_secs`.
pub fn code_at(secret: &[u8], unix_secs: u64) -> String {
    code_for_step(secret, step_at(unix_secs))
}

/// The step whose code `code` is, looking one step either side of `unix_secs` (clock drift), and
/// only at steps after `last_step` (a code is accepted once, and never one older than the last).
pub fn matching_step(secret: &[u8], code: &str, unix_secs: u64, last_step: Option<u64>) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_secs);
    let mut found = None;
    // Every candidate is computed and compared, so the time taken says nothing about which matched.
    for step in [now.saturating_sub(1), now, now + 1] {
        let fresh = last_step.is_none_or(|last| step > last);
        let same: bool = code_for_step(secret, step).as_bytes().ct_eq(code.as_bytes()).into();
        if same && fresh && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// RFC 4648 base32 without padding, as `otpauth://` URIs carry secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The bytes of RFC 4648 base32 text (padding, spaces and case ignored), as typed from an enrolment.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !matches!(c, '=' | ' ')) {
        let value = match c.to_ascii_uppercase() {
            l @ 'A'..='Z' => u32::from(l) - u32::from('A'),
            d @ '2'..='7' => u32::from(d) - u32::from('2') + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The provisioning URI authenticator apps read from the QR code (Google's Key URI format).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}",
        account = percent_encode(account),
        secret = base32(secret),
    )
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 secret and the last six digits of its eight-digit codes.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn the_rfc_6238_test_vectors_hold() {
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code_at(RFC_SECRET, time), code, "T = {time}");
        }
    }

    #[test]
    fn a_code_matches_one_step_either_side_and_only_after_the_last_accepted() {
        let t = 1_234_567_890;
        let now = step_at(t);
        let earlier = code_for_step(RFC_SECRET, now - 1);
        let later = code_for_step(RFC_SECRET, now + 1);
        assert_eq!(matching_step(RFC_SECRET, &code_at(RFC_SECRET, t), t, None), Some(now));
        assert_eq!(matching_step(RFC_SECRET, &earlier, t, None), Some(now - 1));
        assert_eq!(matching_step(RFC_SECRET, &later, t, None), Some(now + 1));
        assert_eq!(
            matching_step(RFC_SECRET, &code_for_step(RFC_SECRET, now - 2), t, None),
            None
        );
        assert_eq!(
            matching_step(RFC_SECRET, &code_for_step(RFC_SECRET, now + 2), t, None),
            None
        );
        // Replay: the step already accepted, or an older one, never matches again.
        assert_eq!(matching_step(RFC_SECRET, &code_at(RFC_SECRET, t), t, Some(now)), None);
        assert_eq!(matching_step(RFC_SECRET, &earlier, t, Some(now)), None);
        assert_eq!(matching_step(RFC_SECRET, &later, t, Some(now)), Some(now + 1));
    }

    #[test]
    fn malformed_codes_never_match() {
        let t = 59;
        for bad in ["", "28708", "2870822", "28708a", "２８７０８２", "-28708"] {
            assert_eq!(matching_step(RFC_SECRET, bad, t, None), None, "{bad:?}");
        }
        assert_eq!(matching_step(RFC_SECRET, " 287082 ", t, None), Some(1));
    }

    #[test]
    fn base32_follows_rfc_4648() {
        for (input, expected) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), expected, "{input:?}");
            assert_eq!(from_base32(expected).as_deref(), Some(input.as_bytes()), "{expected:?}");
        }
    }

    #[test]
    fn base32_decoding_ignores_case_and_padding_and_refuses_other_letters() {
        assert_eq!(from_base32("mzxw6===").as_deref(), Some(&b"foo"[..]));
        assert_eq!(from_base32("MZXW1"), None);
    }

    #[test]
    fn the_uri_names_issuer_and_account_and_escapes_them() {
        let uri = otpauth_uri("Rampart Photos", "ann@example.com", b"12345");
        assert_eq!(
            uri,
            "otpauth://totp/Rampart%20Photos:ann%40example.com?secret=GEZDGNBV&issuer=Rampart%20Photos&algorithm=SHA1&digits=6&period=30"
        );
    }
}
