//! The trainer's signing key (ed25519) and signed result files. A result file is JSON:
//! `{"result": {...}, "signature": {"algorithm": "ed25519", "public_key": hex, "value": hex}}`;
//! the signature covers the compact JSON of `result` (keys sorted), so any changed byte of the
//! result, of the signature or of the key is caught.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("no signing key in {0}")]
    NoKey(PathBuf),
    #[error("a signing key already exists in {0}; it signs every result, so it is kept")]
    Exists(PathBuf),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}: the key file is damaged")]
    BadKey(PathBuf),
}

pub fn keys_dir() -> PathBuf {
    crate::project::data_dir().join("keys")
}

fn secret_path(dir: &Path) -> PathBuf {
    dir.join("signing.key")
}

pub fn public_path(dir: &Path) -> PathBuf {
    dir.join("signing.pub")
}

/// Creates the trainer's key pair; returns the public key in hex.
pub fn init(dir: &Path) -> Result<String, SigningError> {
    use std::os::unix::fs::PermissionsExt;
    let secret = secret_path(dir);
    if secret.exists() {
        return Err(SigningError::Exists(secret));
    }
    std::fs::create_dir_all(dir).map_err(|e| SigningError::Io(dir.to_path_buf(), e))?;
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let public = hex::encode(key.verifying_key().to_bytes());
    let tmp = dir.join(".signing.key.tmp");
    std::fs::write(&tmp, hex::encode(key.to_bytes()))
        .map_err(|e| SigningError::Io(tmp.clone(), e))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| SigningError::Io(tmp.clone(), e))?;
    std::fs::rename(&tmp, &secret).map_err(|e| SigningError::Io(secret.clone(), e))?;
    std::fs::write(public_path(dir), format!("{public}\n"))
        .map_err(|e| SigningError::Io(public_path(dir), e))?;
    Ok(public)
}

pub fn load(dir: &Path) -> Result<SigningKey, SigningError> {
    let path = secret_path(dir);
    let text =
        std::fs::read_to_string(&path).map_err(|_| SigningError::NoKey(dir.to_path_buf()))?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SigningError::BadKey(path))?;
    Ok(SigningKey::from_bytes(&bytes))
}

pub fn public_key(dir: &Path) -> Result<String, SigningError> {
    Ok(hex::encode(load(dir)?.verifying_key().to_bytes()))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignatureBlock {
    pub algorithm: String,
    pub public_key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedResult {
    pub result: serde_json::Value,
    pub signature: SignatureBlock,
}

fn canonical(v: &serde_json::Value) -> Vec<u8> {
    // serde_json's maps are sorted by key, so this text is the same wherever it is computed.
    serde_json::to_vec(v).unwrap_or_default()
}

pub fn sign(key: &SigningKey, result: serde_json::Value) -> SignedResult {
    let sig = key.sign(&canonical(&result));
    SignedResult {
        result,
        signature: SignatureBlock {
            algorithm: "ed25519".into(),
            public_key: hex::encode(key.verifying_key().to_bytes()),
            value: hex::encode(sig.to_bytes()),
        },
    }
}

/// Whether a result file is intact and signed by `trusted` (a hex public key); its signed
/// result when it is.
pub fn verify_file(path: &Path, trusted: &str) -> Result<serde_json::Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let signed: SignedResult =
        serde_json::from_slice(&bytes).map_err(|e| format!("not a signed result: {e}"))?;
    if signed.signature.algorithm != "ed25519" {
        return Err(format!("unknown algorithm {}", signed.signature.algorithm));
    }
    if signed.signature.public_key != trusted {
        return Err("signed by another key than the trainer's".into());
    }
    let key_bytes: [u8; 32] = hex::decode(trusted)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("bad public key")?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|e| e.to_string())?;
    let sig_bytes: [u8; 64] = hex::decode(&signed.signature.value)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("damaged signature")?;
    key.verify(
        &canonical(&signed.result),
        &Signature::from_bytes(&sig_bytes),
    )
    .map_err(|_| "altered: the signature does not match the content".to_string())?;
    // The file must be exactly what was written: no bytes added around the JSON either.
    let rewritten = serde_json::to_vec_pretty(&signed).map_err(|e| e.to_string())?;
    if rewritten != bytes && [rewritten.as_slice(), b"\n"].concat() != bytes {
        return Err("altered: the file differs from the signed content".into());
    }
    Ok(signed.result)
}

pub fn write_signed(path: &Path, signed: &SignedResult) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(signed).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    crate::files::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_survive_the_round_trip() {
        let dir = tempfile::tempdir().expect("tmp");
        let public = init(dir.path()).expect("init");
        let key = load(dir.path()).expect("load");
        let file = dir.path().join("r.json");
        for x in [
            0.1,
            1.0 / 3.0,
            0.000_123_456_789,
            123_456.789_012_35,
            f64::MIN_POSITIVE,
        ] {
            write_signed(&file, &sign(&key, serde_json::json!({ "seconds": x }))).expect("write");
            verify_file(&file, &public).expect("a float read back signs the same");
        }
    }

    #[test]
    fn any_changed_byte_is_caught() {
        let dir = tempfile::tempdir().expect("tmp");
        let public = init(dir.path()).expect("init");
        let key = load(dir.path()).expect("load");
        let file = dir.path().join("r.json");
        write_signed(
            &file,
            &sign(&key, serde_json::json!({ "trainee": "ana", "score": 70 })),
        )
        .expect("write");
        verify_file(&file, &public).expect("intact");
        let original = std::fs::read(&file).expect("read");
        for i in 0..original.len() {
            let mut altered = original.clone();
            altered[i] ^= 0x01;
            std::fs::write(&file, &altered).expect("write");
            assert!(
                verify_file(&file, &public).is_err(),
                "byte {i} changed and still verifies"
            );
        }
        assert!(init(dir.path()).is_err(), "an existing key is kept");
    }
}
