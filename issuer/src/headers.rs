//! The header names the issuer reads and writes beyond HTTP's own, in one
//! place.

/// A DPoP proof (RFC 9449 §4.1).
pub const DPOP: &str = "dpop";

/// A server nonce for DPoP proofs (RFC 9449 §8).
pub const DPOP_NONCE: &str = "dpop-nonce";

/// The client's address, as the edge saw it; trusted only with [`EDGE_SECRET`].
pub const CLIENT_IP: &str = "x-tollgate-client-ip";

/// The edge's proof that it sent the request (`TOLLGATE_EDGE_SECRET`).
pub const EDGE_SECRET: &str = "x-tollgate-edge-secret";

/// A request's id, made if the client sent none, and echoed back.
pub const REQUEST_ID: &str = "x-request-id";
