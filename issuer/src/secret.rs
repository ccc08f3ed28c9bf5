//! The server's own 32-byte keys (the refresh-token successor key, the
//! DPoP nonce key): made by whichever replica starts first, shared by all
//! through the database (sealed there when a key-encryption key is set),
//! kept in a `secrecy` box so `Debug` never shows them and memory is zeroed
//! when they are dropped.

use base64ct::{Base64UrlUnpadded, Encoding};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretBox};
use sha2::Sha256;

use crate::store::{KeyStore, StoreError};

/// A 32-byte server key, for HMAC-SHA256.
pub struct ServerKey(SecretBox<[u8; 32]>);

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(<redacted>)")
    }
}

impl ServerKey {
    /// The key stored under `name`, made now if there is none yet.
    pub async fn load(store: &dyn KeyStore, name: &str) -> Result<Self, StoreError> {
        let stored = store.secret(name, &random_token()).await?;
        let mut key = Box::new([0u8; 32]);
        match Base64UrlUnpadded::decode(&stored, key.as_mut()) {
            Ok(decoded) if decoded.len() == 32 => Ok(ServerKey(SecretBox::new(key))),
            _ => Err(StoreError::Corrupt(
                "a stored server key is not 32 bytes of base64url",
            )),
        }
    }

    /// A key from its bytes (tests).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ServerKey(SecretBox::new(Box::new(bytes)))
    }

    /// HMAC-SHA256 under this key of `parts`, one after another.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        // HMAC pads a short key with zeros to the block size (RFC 2104), so
        // this is HMAC under the 32-byte key, through the infallible
        // constructor.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(self.0.expose_secret());
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
        block.fill(0);
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// A new random token: 256 bits, base64url (43 characters). Refresh tokens
/// and the server keys are made with it.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = Base64UrlUnpadded::encode_string(&bytes);
    bytes.fill(0);
    token
}
