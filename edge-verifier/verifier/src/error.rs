//! Why a token was refused, as a typed error with a stable code.
//!
//! The codes are part of the wire contract: the issuer puts them in
//! problem+json bodies, the npm package sets them as `error.code`, and the
//! worker answers with them. Renaming one is a breaking change.

use core::fmt;

use serde::{Deserialize, Serialize};

/// The stable, machine-readable reason a token was refused.
///
/// Serialises as the snake_case string returned by [`ErrorCode::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Not a compact JWS this verifier understands.
    Malformed,
    /// Longer than [`crate::MAX_TOKEN_LEN`] bytes.
    TokenTooLarge,
    /// The header names an algorithm that is not allowed, or not the one the key is pinned to.
    UnsupportedAlg,
    /// No configured key has the header's `kid` (or there is no `kid`).
    UnknownKid,
    /// The signature does not verify with the selected key.
    BadSignature,
    /// The `typ` header is not `at+jwt`.
    WrongType,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    WrongAudience,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    NotYetValid,
    /// A required claim is absent.
    MissingClaim,
    /// The token's device session or the token itself was revoked.
    Revoked,
    /// The revocation state is too old to trust (the issuer has been unreachable too long).
    RevocationStateStale,
    /// A DPoP-bound token came without a valid proof of its key (or as
    /// Bearer), or a proof is wrong (RFC 9449).
    InvalidDpopProof,
    /// The server wants a DPoP proof with a nonce it issued; the answer
    /// carries one in `DPoP-Nonce` (RFC 9449 §8).
    UseDpopNonce,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::Malformed,
        ErrorCode::TokenTooLarge,
        ErrorCode::UnsupportedAlg,
        ErrorCode::UnknownKid,
        ErrorCode::BadSignature,
        ErrorCode::WrongType,
        ErrorCode::WrongIssuer,
        ErrorCode::WrongAudience,
        ErrorCode::Expired,
        ErrorCode::NotYetValid,
        ErrorCode::MissingClaim,
        ErrorCode::Revoked,
        ErrorCode::RevocationStateStale,
        ErrorCode::InvalidDpopProof,
        ErrorCode::UseDpopNonce,
    ];

    /// The code as it appears on the wire, e.g. `"bad_signature"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::TokenTooLarge => "token_too_large",
            ErrorCode::UnsupportedAlg => "unsupported_alg",
            ErrorCode::UnknownKid => "unknown_kid",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::WrongType => "wrong_type",
            ErrorCode::WrongIssuer => "wrong_issuer",
            ErrorCode::WrongAudience => "wrong_audience",
            ErrorCode::Expired => "expired",
            ErrorCode::NotYetValid => "not_yet_valid",
            ErrorCode::MissingClaim => "missing_claim",
            ErrorCode::Revoked => "revoked",
            ErrorCode::RevocationStateStale => "revocation_state_stale",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token was refused.
///
/// The message says what was wrong in words safe to show a client: it never
/// contains the token, a key, or claim values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a compact JWS this verifier understands; the text says which part.
    Malformed(&'static str),
    /// The token is longer than [`crate::MAX_TOKEN_LEN`] bytes.
    TokenTooLarge {
        /// The token's length in bytes.
        len: usize,
    },
    /// The header's `alg` is not allowed, or does not match the key's pinned algorithm.
    UnsupportedAlg,
    /// The header has no `kid`, or one no configured key has.
    UnknownKid,
    /// The signature does not verify.
    BadSignature,
    /// The `typ` header is missing or not `at+jwt`.
    WrongType,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    WrongAudience,
    /// `exp` plus the leeway is not after now.
    Expired,
    /// `nbf` or `iat` is later than now plus the leeway.
    NotYetValid,
    /// A required claim is absent; the field names it.
    MissingClaim(&'static str),
    /// The token's `sid` or `jti` is in the revocation set.
    Revoked,
    /// The revocation state is older than the caller's `fail_after`.
    RevocationStateStale,
    /// A DPoP proof is missing, wrong, replayed, or not of the token's key;
    /// the text says which, without echoing it.
    InvalidDpopProof(&'static str),
    /// The proof lacks a nonce the server issued (or its nonce is no
    /// longer accepted).
    UseDpopNonce,
}

impl VerifyError {
    /// The stable code for this error.
    pub const fn code(&self) -> ErrorCode {
        match self {
            VerifyError::Malformed(_) => ErrorCode::Malformed,
            VerifyError::TokenTooLarge { .. } => ErrorCode::TokenTooLarge,
            VerifyError::UnsupportedAlg => ErrorCode::UnsupportedAlg,
            VerifyError::UnknownKid => ErrorCode::UnknownKid,
            VerifyError::BadSignature => ErrorCode::BadSignature,
            VerifyError::WrongType => ErrorCode::WrongType,
            VerifyError::WrongIssuer => ErrorCode::WrongIssuer,
            VerifyError::WrongAudience => ErrorCode::WrongAudience,
            VerifyError::Expired => ErrorCode::Expired,
            VerifyError::NotYetValid => ErrorCode::NotYetValid,
            VerifyError::MissingClaim(_) => ErrorCode::MissingClaim,
            VerifyError::Revoked => ErrorCode::Revoked,
            VerifyError::RevocationStateStale => ErrorCode::RevocationStateStale,
            VerifyError::InvalidDpopProof(_) => ErrorCode::InvalidDpopProof,
            VerifyError::UseDpopNonce => ErrorCode::UseDpopNonce,
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Malformed(what) => write!(f, "malformed token: {what}"),
            VerifyError::TokenTooLarge { len } => write!(
                f,
                "token is {len} bytes, more than the {} allowed",
                crate::bounds::MAX_TOKEN_LEN
            ),
            VerifyError::UnsupportedAlg => {
                f.write_str("token algorithm is not accepted for its key")
            }
            VerifyError::UnknownKid => f.write_str("token key id is not in the key set"),
            VerifyError::BadSignature => f.write_str("token signature is invalid"),
            VerifyError::WrongType => f.write_str("token type is not at+jwt"),
            VerifyError::WrongIssuer => f.write_str("token issuer is not trusted"),
            VerifyError::WrongAudience => f.write_str("token is not meant for this audience"),
            VerifyError::Expired => f.write_str("token has expired"),
            VerifyError::NotYetValid => f.write_str("token is not valid yet"),
            VerifyError::MissingClaim(claim) => write!(f, "token lacks the `{claim}` claim"),
            VerifyError::Revoked => f.write_str("token has been revoked"),
            VerifyError::RevocationStateStale => {
                f.write_str("revocation state is stale; cannot check tokens")
            }
            VerifyError::InvalidDpopProof(what) => write!(f, "invalid DPoP proof: {what}"),
            VerifyError::UseDpopNonce => {
                f.write_str("a DPoP proof with the server's nonce is required")
            }
        }
    }
}

impl std::error::Error for VerifyError {}

/// A key set (JWKS) could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The JWKS document is not valid JSON of the expected shape.
    Json(String),
    /// A key of a supported type is broken; `kid` names it.
    InvalidKey {
        /// The key's id.
        kid: String,
        /// What is wrong, in words.
        reason: &'static str,
    },
    /// A key has no `kid`; keys are chosen by `kid`, so every key needs one.
    MissingKid,
    /// Two keys of one issuer share a `kid`.
    DuplicateKid(String),
    /// The rules of an upstream issuer are unusable; `iss` names it.
    InvalidUpstream {
        /// The upstream's issuer identifier.
        iss: String,
        /// What is wrong, in words.
        reason: &'static str,
    },
    /// Two upstream entries name the same issuer.
    DuplicateUpstream(String),
}

impl KeyError {
    /// A stable code for the error, for bindings that expose codes.
    pub const fn code(&self) -> &'static str {
        "invalid_jwks"
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Json(err) => write!(f, "invalid JWKS document: {err}"),
            KeyError::InvalidKey { kid, reason } => write!(f, "key `{kid}` is invalid: {reason}"),
            KeyError::MissingKid => f.write_str("a key in the JWKS has no `kid`"),
            KeyError::DuplicateKid(kid) => write!(f, "two keys in the JWKS share kid `{kid}`"),
            KeyError::InvalidUpstream { iss, reason } => {
                write!(f, "upstream issuer `{iss}` is invalid: {reason}")
            }
            KeyError::DuplicateUpstream(iss) => {
                write!(f, "two upstream entries name issuer `{iss}`")
            }
        }
    }
}

impl std::error::Error for KeyError {}
