//! The `aud` claim (RFC 7519 §4.1.3): one audience or several.

use serde::{Serialize, Serializer};

use crate::json::{self, Kind, Reader};

/// The `aud` claim: a single audience or a list (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// `"aud": "api"`.
    One(String),
    /// `"aud": ["api", "admin"]`.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is among the token's audiences.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(aud) => aud == audience,
            Audience::Many(auds) => auds.iter().any(|aud| aud == audience),
        }
    }

    /// `aud` as sent: a string or an array of strings; `None` for `null`.
    pub(crate) fn read_opt(r: &mut Reader<'_>) -> Result<Option<Audience>, json::Error> {
        Ok(match r.kind()? {
            Kind::Null => r.null().map(|_| None)?,
            Kind::Array => Some(Audience::Many(r.strings()?)),
            _ => Some(Audience::One(r.string()?)),
        })
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Audience::One(aud) => serializer.serialize_str(aud),
            Audience::Many(auds) => auds.serialize(serializer),
        }
    }
}
