//! The signature algorithms this verifier implements, by their JOSE names.

use core::fmt;

use serde::{Deserialize, Serialize};

/// A signature algorithm this verifier implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Algorithm {
    /// Ed25519 signatures (RFC 8037). The default.
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// ECDSA over P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
    /// HMAC with SHA-256; only for single-party setups.
    #[serde(rename = "HS256")]
    Hs256,
    /// RSASSA-PKCS1-v1_5 with SHA-256: what most identity providers sign
    /// with. Checked by the crate with the `rsa` feature, else by the
    /// platform's crypto ([`SignatureCheck`](crate::SignatureCheck)).
    #[serde(rename = "RS256")]
    Rs256,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256, 32-byte salt (RFC 7518 §3.5).
    #[serde(rename = "PS256")]
    Ps256,
}

impl Algorithm {
    /// Every algorithm compiled into this build.
    pub const ALL: &'static [Algorithm] = &[
        Algorithm::EdDsa,
        Algorithm::Es256,
        Algorithm::Hs256,
        Algorithm::Rs256,
        Algorithm::Ps256,
    ];

    /// The JOSE name, as in a token's `alg` header.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Es256 => "ES256",
            Algorithm::Hs256 => "HS256",
            Algorithm::Rs256 => "RS256",
            Algorithm::Ps256 => "PS256",
        }
    }

    /// Whether the key is a shared secret (HS256): never trusted from an
    /// upstream provider, whose JWKS is public.
    pub const fn is_symmetric(self) -> bool {
        matches!(self, Algorithm::Hs256)
    }

    /// Looks an algorithm up by its JOSE name; `none` and anything unknown give `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|alg| alg.name() == name)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
