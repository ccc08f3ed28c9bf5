//! JSON (RFC 8259) as the verifier reads and writes it.
//!
//! Every JSON text that reaches a verifier from the network has a fixed
//! shape: a token's header and claims, a DPoP proof's, the JWKS, a feed
//! page. Each shape has a reader beside its type (`Header::read`,
//! `RevocationFeed::from_json`, ...), built on the one pull `Reader` here;
//! the upstream announcements the issuer judges, whose shapes nest and
//! vary, are read whole into a `Value` by the same reader. Each answer an
//! adapter writes (a problem body, claims handed to JavaScript, a status
//! page) goes through [`Object`].
//!
//! Why not serde_json, which the crate used before: its generic
//! deserializers, stamped out once per type, and its error messages (which
//! pull in float formatting) were about a quarter of the WebAssembly the
//! edge worker and the npm package ship (docs/BENCHMARKS.md, issue 20).
//! miniserde, the crate made for small JSON code, overwrites a member given
//! twice, where RFC 7515 and RFC 7519 ask a parser to refuse it or take the
//! last, and our tokens' readers always refused it; it also allocates every
//! string. The reader here:
//! - accepts exactly RFC 8259 (no comments, trailing commas, lone
//!   surrogates, control characters in strings, or leading zeros), nests at
//!   most 127 levels deep as serde_json did, and reads objects only where
//!   an object is meant (serde's derived readers also took an array of the
//!   fields in order, which no JOSE library writes);
//! - refuses a member given twice wherever a type reads it (`Seen`);
//! - borrows strings without escapes from the input, so a token's claims
//!   are read with few allocations;
//! - rounds a fractional NumericDate exactly, from its decimal digits
//!   (`Reader::numeric_date`), where serde_json went through an `f64`.
//!
//! The issuer still writes the wire types with serde (their `Serialize`
//! derives); [`Object`] writes the same text for the shapes adapters
//! answer with, escaping as serde_json does, and tests hold the two equal.

mod number;
#[cfg(test)]
mod oracle;
mod read;
#[cfg(feature = "native")]
mod value;
mod write;

pub use read::Error;
pub(crate) use read::{Kind, Reader, Seen};
#[cfg(feature = "native")]
pub(crate) use value::{Object as Members, Value};
pub use write::Object;
pub(crate) use write::string;
