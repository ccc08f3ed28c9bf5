//! Secrets at rest: signing-key seeds and the refresh key, sealed with
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`) under the key in
//! `TOLLGATE_KEY_ENCRYPTION_KEY`, when one is configured.
//!
//! A sealed value is `tg1:` + a random 24-byte nonce + the ciphertext and
//! tag. The row it belongs to (`signing_key:<kid>:<alg>`, `secret:<name>`) is the
//! associated data, so a sealed value copied into another row does not
//! open. Without a key, values are stored as they are
//! (docs/issuer.md, "Encryption at rest"), and the issuer says so once at
//! start. With a key, values stored
//! plain before still load, so turning encryption on needs no migration;
//! `keys rotate` then stores the new key sealed.

use base64ct::{Base64UrlUnpadded, Encoding};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

/// What a sealed value starts with.
const MAGIC: &[u8] = b"tg1:";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Seals and opens secrets at rest; `Debug` shows only whether it is on.
pub struct Sealer {
    aead: Option<XChaCha20Poly1305>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("on", &self.aead.is_some())
            .finish()
    }
}

/// A secret could not be sealed or opened; the text is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SealError(pub String);

impl Sealer {
    /// Stores secrets as they are.
    pub fn none() -> Self {
        Sealer { aead: None }
    }

    /// Seals under a 32-byte key given in base64 (standard or URL alphabet,
    /// padded or not).
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let text = text
            .trim()
            .trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_");
        let mut key = [0u8; 32];
        let decoded = Base64UrlUnpadded::decode(&text, &mut key).map(<[u8]>::len);
        let sealer = match decoded {
            Ok(32) => Ok(Sealer {
                aead: Some(XChaCha20Poly1305::new(&key.into())),
            }),
            _ => Err(SealError(
                "TOLLGATE_KEY_ENCRYPTION_KEY must be 32 bytes in base64".into(),
            )),
        };
        key.fill(0);
        sealer
    }

    /// Whether values are sealed.
    pub fn is_on(&self) -> bool {
        self.aead.is_some()
    }

    /// `plain`, sealed for the row `label` (or as it is, without a key).
    pub fn seal(&self, label: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some(aead) = &self.aead else {
            return Ok(plain.to_vec());
        };
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = aead
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: label.as_bytes(),
                },
            )
            .map_err(|_| SealError(format!("cannot seal {label}")))?;
        Ok([MAGIC, &nonce, &sealed].concat())
    }

    /// The plain value of `stored`, from the row `label`.
    pub fn open(&self, label: &str, stored: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some(body) = stored.strip_prefix(MAGIC) else {
            // Stored before encryption was turned on (or never turned on).
            // A 32-byte seed or a base64url key never starts with the magic.
            return Ok(stored.to_vec());
        };
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError(format!("{label} is damaged")));
        }
        let Some(aead) = &self.aead else {
            return Err(SealError(format!(
                "{label} is stored encrypted: set TOLLGATE_KEY_ENCRYPTION_KEY to the key it was sealed with"
            )));
        };
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| SealError(format!("{label} is damaged")))?;
        aead.decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: sealed,
                aad: label.as_bytes(),
            },
        )
        .map_err(|_| {
            SealError(format!(
                "TOLLGATE_KEY_ENCRYPTION_KEY does not open {label}: it is not the key the database was sealed with"
            ))
        })
    }

    /// [`Self::seal`] for a text value, as text.
    pub fn seal_text(&self, label: &str, plain: &str) -> Result<String, SealError> {
        if !self.is_on() {
            return Ok(plain.to_owned());
        }
        let sealed = self.seal(label, plain.as_bytes())?;
        Ok(format!(
            "tg1:{}",
            Base64UrlUnpadded::encode_string(&sealed[MAGIC.len()..])
        ))
    }

    /// [`Self::open`] for a text value.
    pub fn open_text(&self, label: &str, stored: &str) -> Result<String, SealError> {
        let Some(body) = stored.strip_prefix("tg1:") else {
            return Ok(stored.to_owned());
        };
        let body = Base64UrlUnpadded::decode_vec(body)
            .map_err(|_| SealError(format!("{label} is damaged")))?;
        let plain = self.open(label, &[MAGIC, &body].concat())?;
        String::from_utf8(plain).map_err(|_| SealError(format!("{label} is damaged")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value that starts like a sealed one but is too short is damaged, not plain.
    #[test]
    fn a_truncated_sealed_value_is_damaged() {
        let sealer = Sealer::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
            .unwrap_or_else(|_| Sealer::none());
        assert!(sealer.open("x", b"tg1:short").is_err());
        assert!(Sealer::none().open("x", b"tg1:short").is_err());
        assert_eq!(sealer.open("x", &[7; 32]), Ok(vec![7; 32]));
    }

    /// A sealed value does not open under another row's label.
    #[test]
    fn a_sealed_value_opens_only_in_its_own_row() {
        let sealer = Sealer::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
            .unwrap_or_else(|_| Sealer::none());
        let sealed = sealer
            .seal("signing_key:a:EdDSA", &[9; 32])
            .unwrap_or_default();
        assert_eq!(sealer.open("signing_key:a:EdDSA", &sealed), Ok(vec![9; 32]));
        assert!(sealer.open("signing_key:b:EdDSA", &sealed).is_err());
        assert!(sealer.open("signing_key:a:ES256", &sealed).is_err());
    }
}
