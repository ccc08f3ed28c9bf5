//! The options a JavaScript host hands over as one JSON object: the npm
//! package's `new Verifier({...})` and `createVerifier({...})`. Members
//! are camelCase; one the host does not take is refused, not ignored, so a
//! misspelt option (`leewaySec`) never passes in silence.

use core::fmt;

use crate::algorithm::Algorithm;
use crate::json::{self, Kind, Reader};
use crate::sync::{SyncSettings, millis_text};
use crate::verify::VerifierOptions;

/// What a host takes besides the verifier's own options (`issuer`,
/// `audience`, `algorithms`, `leewaySecs`, `cacheCapacity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// A verifier the caller feeds: `jwks` (a JWKS document), required.
    Keys,
    /// A verifier that syncs itself: the sync settings
    /// ([`SyncSettings::MEMBERS`], each a whole number of milliseconds, as
    /// a number or as decimal text).
    Sync,
}

/// The options, read and checked.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// The verifier's options, checked ([`VerifierOptions::check`]).
    pub verifier: VerifierOptions,
    /// The sync settings set ([`HostKind::Sync`]); resolve and check them
    /// with [`SyncSettings::options`].
    pub sync: SyncSettings,
    /// The `jwks` member's JSON text ([`HostKind::Keys`]).
    pub jwks: Option<String>,
}

/// Options a host cannot take: unknown, of the wrong type, or unsafe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsError(String);

impl OptionsError {
    /// The stable code bindings report it with.
    pub const fn code(&self) -> &'static str {
        "invalid_options"
    }
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OptionsError {}

/// The verifier's members, then the ones of each kind.
const VERIFIER: [&str; 5] = [
    "issuer",
    "audience",
    "algorithms",
    "leewaySecs",
    "cacheCapacity",
];

impl HostOptions {
    /// Reads `json`, an object of the members a host of `kind` takes.
    pub fn from_json(json: &str, kind: HostKind) -> Result<Self, OptionsError> {
        let mut verifier = VerifierOptions::new("", "");
        let (mut issuer, mut audience) = (None, None);
        let mut sync = SyncSettings::default();
        let mut jwks = None;
        // Errors that a JSON error cannot carry, for their words.
        let mut problem: Option<String> = None;
        let read = Reader::document(json.as_bytes(), |r| {
            let mut seen = json::Seen::default();
            r.object(&mut |r, name| {
                if let Some(index) = VERIFIER.iter().position(|known| *known == name) {
                    seen.first(index, r)?;
                    match index {
                        0 => issuer = Some(r.string()?),
                        1 => audience = Some(r.string()?),
                        2 if r.null()? => {}
                        2 => {
                            verifier.algorithms.clear();
                            for alg in r.strings()? {
                                match Algorithm::from_name(&alg) {
                                    Some(alg) => verifier.algorithms.push(alg),
                                    None => {
                                        problem = Some(format!("unsupported algorithm `{alg}`"));
                                        return Err(r.fail("an unsupported algorithm"));
                                    }
                                }
                            }
                        }
                        3 if r.null()? => {}
                        3 => {
                            let at = r.fail("`leewaySecs` is not a whole number of seconds");
                            verifier.leeway_secs = u32::try_from(r.uint()?).map_err(|_| at)?;
                        }
                        4 if r.null()? => {}
                        _ => {
                            let at = r.fail("`cacheCapacity` is not a whole number");
                            verifier.cache_capacity = usize::try_from(r.uint()?).map_err(|_| at)?;
                        }
                    }
                    return Ok(());
                }
                match kind {
                    HostKind::Keys if name == "jwks" => {
                        seen.first(VERIFIER.len(), r)?;
                        jwks = Some(String::from_utf8_lossy(r.skip()?).into_owned());
                        return Ok(());
                    }
                    HostKind::Sync => {
                        let member = SyncSettings::MEMBERS
                            .iter()
                            .position(|known| *known == name);
                        if let Some(index) = member {
                            seen.first(VERIFIER.len() + 1 + index, r)?;
                            *sync.fields_mut()[index] = millis(r)?;
                            return Ok(());
                        }
                    }
                    HostKind::Keys => {}
                }
                problem = Some(format!("unknown option `{name}`"));
                Err(r.fail("an unknown option"))
            })
        });
        if let Err(err) = read {
            return Err(OptionsError(
                problem.unwrap_or_else(|| format!("the options are not valid: {err}")),
            ));
        }
        let missing = |name: &str| OptionsError(format!("the option `{name}` is required"));
        verifier.issuer = issuer.ok_or_else(|| missing("issuer"))?;
        verifier.audience = audience.ok_or_else(|| missing("audience"))?;
        if kind == HostKind::Keys && jwks.is_none() {
            return Err(missing("jwks"));
        }
        verifier
            .check()
            .map_err(|err| OptionsError(err.to_string()))?;
        Ok(HostOptions {
            verifier,
            sync,
            jwks,
        })
    }
}

/// A whole number of milliseconds, as a number or decimal text; `None`
/// for `null`.
fn millis(r: &mut Reader<'_>) -> Result<Option<u64>, json::Error> {
    match r.kind()? {
        Kind::Null => r.null().map(|_| None),
        Kind::String => {
            let at = r.fail("expected a whole number of milliseconds");
            millis_text(&r.str()?).map(Some).ok_or(at)
        }
        _ => r.uint().map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every member of a syncing host, numbers and text alike.
    #[test]
    fn reads_a_syncing_hosts_options() {
        let options = HostOptions::from_json(
            r#"{"issuer":"https://i","audience":"api","algorithms":["EdDSA"],"leewaySecs":5,
                "cacheCapacity":0,"maxAgeMs":"2000","failAfterMs":60000,"jwksCooldownMs":null}"#,
            HostKind::Sync,
        )
        .unwrap();
        assert_eq!(options.verifier.algorithms, [Algorithm::EdDsa]);
        assert_eq!(
            (
                options.verifier.leeway_secs,
                options.verifier.cache_capacity
            ),
            (5, 0)
        );
        assert_eq!(options.sync.max_age_ms, Some(2000));
        assert_eq!(options.sync.fail_after_ms, Some(60000));
        assert_eq!(options.sync.jwks_cooldown_ms, None);
        assert_eq!(options.jwks, None);
    }

    /// What a host does not take, a wrong type, a repeat, an unsafe
    /// leeway: each refused with words that name it.
    #[test]
    fn refuses_what_a_host_does_not_take() {
        let refused =
            |json: &str, kind| HostOptions::from_json(json, kind).unwrap_err().to_string();
        let base = r#""issuer":"i","audience":"a""#;
        assert_eq!(
            refused(&format!(r#"{{{base},"leewaySec":5}}"#), HostKind::Sync),
            "unknown option `leewaySec`"
        );
        assert_eq!(
            refused(&format!(r#"{{{base},"jwks":{{}}}}"#), HostKind::Sync),
            "unknown option `jwks`"
        );
        assert_eq!(
            refused(&format!(r#"{{{base},"maxAgeMs":1}}"#), HostKind::Keys),
            "unknown option `maxAgeMs`"
        );
        assert_eq!(
            refused(
                &format!(r#"{{{base},"algorithms":["none"]}}"#),
                HostKind::Sync
            ),
            "unsupported algorithm `none`"
        );
        assert_eq!(
            refused(r#"{"issuer":"i"}"#, HostKind::Sync),
            "the option `audience` is required"
        );
        assert_eq!(
            refused(&format!("{{{base}}}"), HostKind::Keys),
            "the option `jwks` is required"
        );
        assert!(
            refused(&format!(r#"{{{base},"maxAgeMs":1.5}}"#), HostKind::Sync).contains("not valid")
        );
        assert!(refused(&format!(r#"{{{base},"issuer":"j"}}"#), HostKind::Sync).contains("twice"));
        assert!(
            refused(&format!(r#"{{{base},"leewaySecs":601}}"#), HostKind::Sync).contains("600")
        );
        let keys = HostOptions::from_json(
            &format!(r#"{{{base},"jwks": {{"keys":[]}} }}"#),
            HostKind::Keys,
        );
        assert_eq!(keys.unwrap().jwks.as_deref(), Some(r#"{"keys":[]}"#));
    }
}
