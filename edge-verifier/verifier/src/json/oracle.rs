//! The readers against what they replaced: serde_json with the derived
//! readers the crate had before (copied here, as they were), over every
//! input of the fuzz corpora (hours of libFuzzer each, docs/FUZZING.md)
//! and over generated documents. Both must accept the same inputs with the
//! same values and refuse the same inputs, but for these differences, each
//! a choice (json/mod.rs):
//! - serde's derived readers took a JSON array of a struct's fields, in
//!   order, where an object was meant; the new ones refuse it;
//! - a NumericDate with a fraction was rounded through an `f64`; now its
//!   decimal digits are rounded exactly (they differ past 15 significant
//!   digits, and where an `f64` underflows: `1.5e-400` was 0, is now 1
//!   rounded up);
//! - a DPoP proof's `jwk` with a member given twice took the last; now it
//!   is refused, as a member given twice is everywhere else;
//! - serde_json skipped the strings of members nobody reads without
//!   checking that they are UTF-8 (RFC 8259 §8.1 asks it of all JSON
//!   text); now every string is checked.

use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use uuid::Uuid;

use crate::audience::Audience;
use crate::claims::{AccessClaims, RawClaims};
use crate::error::VerifyError;
use crate::feed::{RevocationEntry, RevocationFeed, Revoked};
use crate::jws::Header;
use crate::keys::{Jwk, Jwks};
use crate::upstream::UpstreamRules;

mod old {
    //! The derived readers as they were.
    use super::*;

    #[derive(Deserialize)]
    pub struct Header {
        pub alg: String,
        pub kid: Option<String>,
        pub typ: Option<String>,
        #[serde(default, deserialize_with = "present")]
        pub crit: bool,
        #[serde(default, deserialize_with = "present")]
        pub b64: bool,
    }

    fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        de::IgnoredAny::deserialize(d).map(|_| true)
    }

    pub struct Aud(pub Audience);

    impl<'de> Deserialize<'de> for Aud {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            #[derive(Deserialize)]
            #[serde(untagged)]
            enum Wire {
                One(String),
                Many(Vec<String>),
            }
            // An untagged enum stands in for the old visitor: a string or a
            // sequence of strings, nothing else.
            Ok(Aud(match Wire::deserialize(d)? {
                Wire::One(aud) => Audience::One(aud),
                Wire::Many(auds) => Audience::Many(auds),
            }))
        }
    }

    #[derive(Deserialize)]
    pub struct RawClaims {
        pub iss: Option<String>,
        pub sub: Option<String>,
        pub aud: Option<Aud>,
        #[serde(default, deserialize_with = "date_ceil")]
        pub iat: Option<i64>,
        #[serde(default, deserialize_with = "date_floor")]
        pub exp: Option<i64>,
        #[serde(default, deserialize_with = "date_ceil")]
        pub nbf: Option<i64>,
        pub jti: Option<Uuid>,
        pub sid: Option<Uuid>,
        #[serde(default)]
        pub roles: Option<Vec<String>>,
        pub email: Option<String>,
        pub cnf: Option<Confirmation>,
    }

    #[derive(Deserialize)]
    pub struct Confirmation {
        pub jkt: Option<String>,
    }

    fn date_floor<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        d.deserialize_any(NumericDate { round_up: false }).map(Some)
    }

    fn date_ceil<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        d.deserialize_any(NumericDate { round_up: true }).map(Some)
    }

    struct NumericDate {
        round_up: bool,
    }

    impl Visitor<'_> for NumericDate {
        type Value = i64;

        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("a NumericDate")
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<i64, E> {
            Ok(value)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<i64, E> {
            i64::try_from(value).map_err(|_| E::custom("out of range"))
        }

        #[allow(clippy::cast_possible_truncation)]
        fn visit_f64<E: de::Error>(self, value: f64) -> Result<i64, E> {
            let rounded = if self.round_up {
                value.ceil()
            } else {
                value.floor()
            };
            const RANGE: core::ops::Range<f64> =
                -9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0;
            if RANGE.contains(&rounded) {
                Ok(rounded as i64)
            } else {
                Err(E::custom("out of range"))
            }
        }
    }

    #[derive(Deserialize)]
    pub struct Feed {
        pub cursor: String,
        #[serde(default)]
        pub reset: bool,
        #[serde(default)]
        pub more: bool,
        #[serde(default)]
        pub keys: Option<String>,
        pub revoked: Vec<Entry>,
    }

    #[derive(Deserialize)]
    pub struct Entry {
        #[serde(default)]
        pub iss: Option<String>,
        #[serde(default)]
        pub sid: Option<Uuid>,
        #[serde(default)]
        pub jti: Option<Uuid>,
        #[serde(default)]
        pub key: Option<String>,
        #[serde(default)]
        pub before: Option<i64>,
        pub until: i64,
    }

    #[derive(Deserialize)]
    pub struct Jwks {
        pub keys: Vec<Jwk>,
        #[serde(default, rename = "keys_version")]
        pub version: Option<String>,
        #[serde(default)]
        pub upstreams: Vec<Rules>,
        #[serde(default)]
        pub upstream_keys: Vec<Jwk>,
    }

    #[derive(Deserialize)]
    pub struct Jwk {
        pub kty: String,
        #[serde(default)]
        pub kid: Option<String>,
        #[serde(default)]
        pub iss: Option<String>,
        #[serde(default)]
        pub alg: Option<String>,
        #[serde(rename = "use", default)]
        pub key_use: Option<String>,
        #[serde(default)]
        pub crv: Option<String>,
        #[serde(default)]
        pub x: Option<String>,
        #[serde(default)]
        pub y: Option<String>,
        #[serde(default)]
        pub n: Option<String>,
        #[serde(default)]
        pub e: Option<String>,
        #[serde(default)]
        pub k: Option<String>,
    }

    #[derive(Deserialize)]
    pub struct Rules {
        pub iss: String,
        pub audiences: Vec<String>,
        #[serde(default = "algorithms")]
        pub algorithms: Vec<String>,
        #[serde(default = "token_types")]
        pub token_types: Vec<String>,
        #[serde(default)]
        pub session_claim: Option<String>,
        #[serde(default)]
        pub roles_claim: Option<String>,
        #[serde(default = "lifetime")]
        pub max_token_lifetime_secs: u32,
    }

    fn algorithms() -> Vec<String> {
        vec!["RS256".into()]
    }

    fn token_types() -> Vec<String> {
        vec!["at+jwt".into(), "JWT".into()]
    }

    fn lifetime() -> u32 {
        3600
    }
}

impl From<old::Jwk> for Jwk {
    fn from(o: old::Jwk) -> Self {
        Jwk {
            kty: o.kty,
            kid: o.kid,
            iss: o.iss,
            alg: o.alg,
            key_use: o.key_use,
            crv: o.crv,
            x: o.x,
            y: o.y,
            n: o.n,
            e: o.e,
            k: o.k,
        }
    }
}

fn old_jwks(text: &str) -> Option<Jwks> {
    let o: old::Jwks = serde_json::from_str(text).ok()?;
    Some(Jwks {
        keys: o.keys.into_iter().map(Jwk::from).collect(),
        version: o.version,
        upstreams: o
            .upstreams
            .into_iter()
            .map(|r| UpstreamRules {
                iss: r.iss,
                audiences: r.audiences,
                algorithms: r.algorithms,
                token_types: r.token_types,
                session_claim: r.session_claim,
                roles_claim: r.roles_claim,
                max_token_lifetime_secs: r.max_token_lifetime_secs,
            })
            .collect(),
        upstream_keys: o.upstream_keys.into_iter().map(Jwk::from).collect(),
    })
}

fn old_feed(text: &str) -> Option<RevocationFeed> {
    use base64::Engine as _;
    let o: old::Feed = serde_json::from_str(text).ok()?;
    let mut revoked = Vec::new();
    for e in o.revoked {
        let key = match e.key {
            None => None,
            Some(text) => {
                let mut key = [0u8; 16];
                match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode_slice(&text, &mut key)
                {
                    Ok(16) => Some(key),
                    _ => return None,
                }
            }
        };
        if e.iss.as_deref() == Some("") {
            return None;
        }
        let target = match (e.sid, e.jti, key, e.before, e.iss) {
            (Some(sid), None, None, None, None) => Revoked::Sid(sid),
            (None, Some(jti), None, None, None) => Revoked::Jti(jti),
            (None, None, Some(key), None, Some(iss)) => Revoked::Upstream { iss, key },
            (None, None, Some(key), Some(before), iss) => Revoked::Cutoff { iss, key, before },
            _ => return None,
        };
        revoked.push(RevocationEntry {
            target,
            until: e.until,
        });
    }
    Some(RevocationFeed {
        cursor: o.cursor,
        reset: o.reset,
        more: o.more,
        keys: o.keys,
        revoked,
    })
}

type HeaderView = (String, Option<String>, Option<String>, bool, bool);

fn old_header(json: &[u8]) -> Option<HeaderView> {
    let h: old::Header = serde_json::from_slice(json).ok()?;
    Some((h.alg, h.kid, h.typ, h.crit, h.b64))
}

fn new_header(json: &[u8]) -> Option<HeaderView> {
    let h = Header::read(json).ok()?;
    Some((
        h.alg.into_owned(),
        h.kid.map(Into::into),
        h.typ.map(Into::into),
        h.crit,
        h.b64,
    ))
}

/// A payload's claims as a tollgate token's, or the code refusing them.
fn old_claims(json: &[u8]) -> Result<AccessClaims, &'static str> {
    let c: old::RawClaims = serde_json::from_slice(json).map_err(|_| "malformed")?;
    let need = |present: bool, name| if present { Ok(()) } else { Err(name) };
    need(c.iss.is_some(), "iss")?;
    need(c.sub.is_some(), "sub")?;
    need(c.aud.is_some(), "aud")?;
    need(c.iat.is_some(), "iat")?;
    need(c.exp.is_some(), "exp")?;
    need(c.jti.is_some(), "jti")?;
    need(c.sid.is_some(), "sid")?;
    let cnf = match c.cnf {
        None => None,
        Some(old::Confirmation { jkt: Some(jkt) }) => Some(crate::Confirmation { jkt }),
        Some(_) => return Err("malformed"),
    };
    Ok(AccessClaims {
        iss: c.iss.unwrap_or_default(),
        sub: c.sub.unwrap_or_default(),
        aud: c.aud.map(|a| a.0).unwrap_or(Audience::One(String::new())),
        iat: c.iat.unwrap_or_default(),
        exp: c.exp.unwrap_or_default(),
        nbf: c.nbf,
        jti: c.jti.map(|u| u.to_string()),
        sid: c.sid.map(|u| u.to_string()),
        roles: c.roles.unwrap_or_default(),
        email: c.email,
        cnf,
    })
}

fn new_claims(json: &[u8]) -> Result<AccessClaims, &'static str> {
    let raw = RawClaims::read(json).map_err(|_| "malformed")?;
    raw.require().map_err(|err| match err {
        VerifyError::MissingClaim(name) => name,
        _ => "malformed",
    })
}

/// Whether serde's derived reader took `json` as an array of fields: the
/// one shape the new readers refuse on purpose.
fn array_form(json: &[u8]) -> bool {
    json.iter()
        .find(|b| !b" \t\r\n".contains(b))
        .is_some_and(|&b| b == b'[')
        || contains_array_struct(json)
}

/// The new reader refused what serde took as an array of fields, or a
/// text that is not UTF-8.
fn refused_array<T>(json: &[u8], _: &Option<T>, after: &Option<T>) -> bool {
    (array_form(json) || std::str::from_utf8(json).is_err()) && after.is_none()
}

/// Whether some object member that serde read as a struct (`cnf`) holds
/// an array, or a feed entry or JWK is one.
fn contains_array_struct(json: &[u8]) -> bool {
    let text = String::from_utf8_lossy(json);
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    [
        "\"cnf\":[",
        "\"revoked\":[[",
        ",[",
        "\"keys\":[[",
        "\"upstreams\":[[",
    ]
    .iter()
    .any(|needle| compact.contains(needle))
}

/// Whether `json` has a number an `f64` and its exact digits may round
/// differently: with a fraction or exponent and more than 15 significant
/// digits, or an exponent an `f64` overflows or underflows at.
fn long_fraction(json: &[u8]) -> bool {
    let text = String::from_utf8_lossy(json);
    text.split(|c: char| !(c.is_ascii_digit() || ".eE+-".contains(c)))
        .any(|number| {
            let mut parts = number.split(['e', 'E']);
            let mantissa = parts.next().unwrap_or_default();
            let exponent: i64 = parts
                .next()
                .map_or(0, |e| e.trim_start_matches('+').parse().unwrap_or(i64::MAX));
            let digits = mantissa
                .chars()
                .filter(char::is_ascii_digit)
                .skip_while(|&d| d == '0')
                .count();
            (mantissa.contains('.') || number.contains(['e', 'E']))
                && (digits > 15 || !(-300..=300).contains(&exponent))
        })
}

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name);
    // An entry that goes while it is read (a fuzzer running beside the
    // tests merges its corpus) is skipped.
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
        .collect();
    inputs.sort();
    inputs
}

/// The decoded header and payload of every token-like input.
fn token_parts(inputs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let decode = |part: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .ok()
    };
    let mut parts = Vec::new();
    for input in inputs {
        let Ok(text) = std::str::from_utf8(input) else {
            continue;
        };
        // A DPoP input's first line is its request.
        let token = text.rsplit('\n').next().unwrap_or(text);
        let mut pieces = token.split('.');
        for piece in [pieces.next(), pieces.next()].into_iter().flatten() {
            parts.extend(decode(piece));
        }
    }
    parts
}

/// Reads every input both ways; how many read the same. Where they differ,
/// `allowed(input, before, after)` must say the difference is one of the
/// chosen ones.
fn compare<T: PartialEq + core::fmt::Debug>(
    what: &str,
    inputs: &[Vec<u8>],
    old: impl Fn(&[u8]) -> T,
    new: impl Fn(&[u8]) -> T,
    allowed: impl Fn(&[u8], &T, &T) -> bool,
) -> usize {
    let mut same = 0;
    for input in inputs {
        let (before, after) = (old(input), new(input));
        if before == after {
            same += 1;
        } else {
            assert!(
                allowed(input, &before, &after),
                "{what}: {:?}\nbefore: {before:?}\nafter: {after:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
    same
}

/// Token headers and claims (the `verify` and `dpop` corpora, decoded).
#[test]
fn token_headers_and_claims_read_as_before() {
    let mut parts = token_parts(&corpus("verify"));
    parts.extend(token_parts(&corpus("dpop")));
    assert!(parts.len() > 3000, "{}", parts.len());
    let headers = compare("header", &parts, old_header, new_header, refused_array);
    let claims = compare(
        "claims",
        &parts,
        old_claims,
        new_claims,
        |json, _, after| {
            ((array_form(json) || std::str::from_utf8(json).is_err()) && after.is_err())
                || long_fraction(json)
        },
    );
    assert!(headers > parts.len() * 9 / 10 && claims > parts.len() * 9 / 10);
}

/// Feed pages (the `feed` corpus).
#[test]
fn feed_pages_read_as_before() {
    let inputs = corpus("feed");
    let text = |input: &[u8]| std::str::from_utf8(input).ok().map(str::to_owned);
    let same = compare(
        "feed",
        &inputs,
        |input| text(input).and_then(|t| old_feed(&t)),
        |input| text(input).and_then(|t| RevocationFeed::from_json(&t).ok()),
        refused_array,
    );
    assert!(same > inputs.len() * 9 / 10);
}

/// JWKS documents (the `jwks` corpus).
#[test]
fn jwks_documents_read_as_before() {
    let inputs = corpus("jwks");
    let text = |input: &[u8]| std::str::from_utf8(input).ok().map(str::to_owned);
    let same = compare(
        "jwks",
        &inputs,
        |input| text(input).and_then(|t| old_jwks(&t)),
        |input| text(input).and_then(|t| Jwks::from_json(&t).ok()),
        refused_array,
    );
    assert!(same > inputs.len() * 9 / 10);
}

mod generated {
    //! Documents built from the shapes' own members, with values of every
    //! JSON type, repeats and escapes: what a fuzzer finds slowly.
    use proptest::prelude::*;

    use super::*;

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("[]".to_owned()),
            Just("{}".to_owned()),
            Just(r#"["api","x"]"#.to_owned()),
            Just(r#"{"jkt":"abc"}"#.to_owned()),
            Just(r#""6c9a1b0e-3c0f-4d4e-9a57-0f7f8f2c1d11""#.to_owned()),
            Just(r#""6c9a1b0e3c0f4d4e9a570f7f8f2c1d11""#.to_owned()),
            Just(r#""AAAAAAAAAAAAAAAAAAAAAA""#.to_owned()),
            Just(r#""a\u0041\n""#.to_owned()),
            (-3_000_000_000i64..3_000_000_000).prop_map(|n| n.to_string()),
            (0u32..1_000_000, 0u32..1000).prop_map(|(a, b)| format!("{a}.{b}")),
            (1u32..99, 0u32..12).prop_map(|(a, e)| format!("{a}e{e}")),
            "[a-z]{0,6}".prop_map(|s| format!("{s:?}")),
        ]
    }

    /// A value `name` could validly have.
    fn valid(name: &'static str) -> BoxedStrategy<String> {
        match name {
            "aud" => prop_oneof![
                Just(r#""api""#.to_owned()),
                Just(r#"["x","api"]"#.to_owned())
            ]
            .boxed(),
            "iat" | "exp" | "nbf" => prop_oneof![
                (1_700_000_000u32..1_800_000_000).prop_map(|n| n.to_string()),
                (1_700_000_000u32..1_800_000_000, 0u32..1000).prop_map(|(a, b)| format!("{a}.{b}")),
                (17_000u32..18_000, 0u32..99_999).prop_map(|(a, b)| format!("{a}.{b:05}e5")),
            ]
            .boxed(),
            "jti" | "sid" => Just(r#""6c9a1b0e-3c0f-4d4e-9a57-0f7f8f2c1d11""#.to_owned()).boxed(),
            "roles" => Just(r#"["ADMIN","USER"]"#.to_owned()).boxed(),
            "cnf" => Just(r#"{"jkt":"abc","x5t":1}"#.to_owned()).boxed(),
            _ => "[a-z]{1,6}".prop_map(|s| format!("{s:?}")).boxed(),
        }
    }

    /// An object with each of `names` valid (mostly), of any other value,
    /// or absent, and perhaps one given twice.
    fn object(names: &'static [&'static str]) -> impl Strategy<Value = String> {
        let members: Vec<BoxedStrategy<Option<(&'static str, String)>>> = names
            .iter()
            .map(|&name| {
                prop_oneof![
                    6 => valid(name).prop_map(move |v| Some((name, v))),
                    1 => value().prop_map(move |v| Some((name, v))),
                    1 => Just(None),
                ]
                .boxed()
            })
            .collect();
        let repeat = proptest::option::weighted(0.1, (proptest::sample::select(names), value()));
        (members, repeat).prop_map(|(members, repeat)| {
            let body: Vec<String> = members
                .into_iter()
                .flatten()
                .chain(repeat)
                .map(|(name, value)| format!("{name:?}:{value}"))
                .collect();
            format!("{{{}}}", body.join(","))
        })
    }

    const CLAIMS: &[&str] = &[
        "iss", "sub", "aud", "iat", "exp", "nbf", "jti", "sid", "roles", "email", "cnf", "other",
    ];
    const HEADER: &[&str] = &["alg", "kid", "typ", "crit", "b64", "jku"];

    proptest! {
        #[test]
        fn claims_read_as_before(json in object(CLAIMS)) {
            prop_assert_eq!(old_claims(json.as_bytes()), new_claims(json.as_bytes()), "{}", json);
        }

        #[test]
        fn headers_read_as_before(json in object(HEADER)) {
            prop_assert_eq!(old_header(json.as_bytes()), new_header(json.as_bytes()), "{}", json);
        }
    }
}
