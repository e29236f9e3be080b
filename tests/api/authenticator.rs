//! A software passkey authenticator for the tests, written from the WebAuthn Level 3 and CTAP2
//! specifications: an ES256 (P-256) key per credential, `none` attestation, user presence and user
//! verification always given, a signature counter raised on every use, and the user handle returned
//! with every assertion (a discoverable credential). It also plays the browser's part, building
//! `clientDataJSON` for the origin it is told it runs on, so tests can present a wrong origin, and
//! it can be cloned to replay an older counter.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// Flags of authenticator data: user present, user verified, attested credential data included.
const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

#[derive(Clone)]
pub struct SoftPasskey {
    pkcs8: Vec<u8>,
    pub credential_id: Vec<u8>,
    user_handle: Vec<u8>,
    rp_id: String,
    /// The signature counter of the next assertion's predecessor.
    pub counter: u32,
}

impl SoftPasskey {
    /// Answers `navigator.credentials.create(options)` on a page at `origin`: a new credential, and
    /// the `PublicKeyCredential` JSON the browser would hand the page.
    pub fn create(options: &Value, origin: &str) -> (SoftPasskey, Value) {
        let public_key = &options["publicKey"];
        let rp_id = public_key["rp"]["id"].as_str().expect("rp.id").to_owned();
        let user_handle = unb64(public_key["user"]["id"].as_str().expect("user.id"));
        let challenge = public_key["challenge"].as_str().expect("challenge");
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
            .unwrap()
            .as_ref()
            .to_vec();
        let mut credential_id = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut credential_id).unwrap();
        let passkey = SoftPasskey {
            pkcs8,
            credential_id,
            user_handle,
            rp_id,
            counter: 0,
        };
        let client_data = client_data("webauthn.create", challenge, origin);
        let mut auth_data = passkey.auth_data_head(UP | UV | AT, 0);
        auth_data.extend([0u8; 16]); // AAGUID: none
        auth_data.extend((passkey.credential_id.len() as u16).to_be_bytes());
        auth_data.extend(&passkey.credential_id);
        auth_data.extend(passkey.cose_key());
        let mut attestation = Vec::new();
        cbor_head(&mut attestation, 5, 3);
        cbor_text(&mut attestation, "fmt");
        cbor_text(&mut attestation, "none");
        cbor_text(&mut attestation, "attStmt");
        cbor_head(&mut attestation, 5, 0);
        cbor_text(&mut attestation, "authData");
        cbor_bytes(&mut attestation, &auth_data);
        let id = b64(&passkey.credential_id);
        let credential = json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "attestationObject": b64(&attestation),
                "clientDataJSON": b64(client_data.as_bytes()),
            },
            "extensions": {},
        });
        (passkey, credential)
    }

    /// Answers `navigator.credentials.get(options)` on a page at `origin`, raising the counter.
    pub fn get(&mut self, options: &Value, origin: &str) -> Value {
        let challenge = options["publicKey"]["challenge"].as_str().expect("challenge");
        self.counter += 1;
        let client_data = client_data("webauthn.get", challenge, origin);
        let auth_data = self.auth_data_head(UP | UV, self.counter);
        let mut signed = auth_data.clone();
        signed.extend(digest(&SHA256, client_data.as_bytes()).as_ref());
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.pkcs8).unwrap();
        let signature = key.sign(&SystemRandom::new(), &signed).unwrap();
        let id = b64(&self.credential_id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(client_data.as_bytes()),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&self.user_handle),
            },
            "extensions": {},
        })
    }

    /// rpIdHash ‖ flags ‖ signCount.
    fn auth_data_head(&self, flags: u8, counter: u32) -> Vec<u8> {
        let mut data = digest(&SHA256, self.rp_id.as_bytes()).as_ref().to_vec();
        data.push(flags);
        data.extend(counter.to_be_bytes());
        data
    }

    /// The public key as a COSE_Key: EC2, ES256, P-256, x and y.
    fn cose_key(&self) -> Vec<u8> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.pkcs8).unwrap();
        let point = key.public_key().as_ref(); // 0x04 ‖ x ‖ y
        let (x, y) = point[1..].split_at(32);
        let mut out = Vec::new();
        cbor_head(&mut out, 5, 5);
        for (label, value) in [(1, 2), (3, -7), (-1, 1)] {
            cbor_int(&mut out, label);
            cbor_int(&mut out, value);
        }
        cbor_int(&mut out, -2);
        cbor_bytes(&mut out, x);
        cbor_int(&mut out, -3);
        cbor_bytes(&mut out, y);
        out
    }
}

fn client_data(kind: &str, challenge: &str, origin: &str) -> String {
    json!({ "type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false }).to_string()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).expect("base64url")
}

fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let major = major << 5;
    match n {
        0..24 => out.push(major | n as u8),
        24..256 => out.extend([major | 24, n as u8]),
        256..65536 => {
            out.push(major | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(major | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

fn cbor_int(out: &mut Vec<u8>, value: i64) {
    if value >= 0 {
        cbor_head(out, 0, value as u64);
    } else {
        cbor_head(out, 1, (-1 - value) as u64);
    }
}

fn cbor_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    cbor_head(out, 2, bytes.len() as u64);
    out.extend(bytes);
}

fn cbor_text(out: &mut Vec<u8>, text: &str) {
    cbor_head(out, 3, text.len() as u64);
    out.extend(text.as_bytes());
}
