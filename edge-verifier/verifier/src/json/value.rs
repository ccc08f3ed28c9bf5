//! A JSON value read whole, for the shapes that nest and vary: an upstream
//! provider's logout tokens and Security Event Tokens (events keyed by
//! URI, subjects in several formats). Objects are maps in which, of a name
//! given twice, the last counts (as serde_json's map, which they replace,
//! took it); numbers keep their text, so a date in an event is rounded
//! exactly as a token's `iat` is ([`Value::whole_seconds`]).

use std::collections::BTreeMap;

use super::read::{Error, Kind, Reader};

/// An object's members, by name.
pub(crate) type Object = BTreeMap<String, Value>;

/// Any JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    /// The number as written (RFC 8259's grammar, checked).
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Object),
}

impl Value {
    /// Reads the next value whole; nesting is bounded by the reader.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Value, Error> {
        Ok(match r.kind()? {
            Kind::Null => {
                r.null()?;
                Value::Null
            }
            Kind::Bool => Value::Bool(r.bool()?),
            Kind::Number => Value::Number(String::from_utf8_lossy(r.skip()?).into_owned()),
            Kind::String => Value::String(r.string()?),
            Kind::Array => {
                let mut items = Vec::new();
                r.array(&mut |r| {
                    items.push(Value::read(r)?);
                    Ok(())
                })?;
                Value::Array(items)
            }
            Kind::Object => {
                let mut members = Object::new();
                r.object(&mut |r, name| {
                    members.insert(name.to_owned(), Value::read(r)?);
                    Ok(())
                })?;
                Value::Object(members)
            }
        })
    }

    /// The string, if it is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// The object, if it is one.
    pub(crate) fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(members) => Some(members),
            _ => None,
        }
    }

    /// Whether it is an object.
    pub(crate) fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    /// A number as whole seconds, a fraction rounded up or down exactly
    /// (as [`Reader::numeric_date`] rounds a token's); `None` for anything
    /// else, or a number outside `i64`.
    pub(crate) fn whole_seconds(&self, round_up: bool) -> Option<i64> {
        match self {
            Value::Number(text) => super::number::whole(text.as_bytes(), round_up),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Value {
        Reader::document(text.as_bytes(), Value::read).unwrap()
    }

    /// Objects keep the last of a name given twice; numbers keep their text.
    #[test]
    fn reads_as_serde_jsons_map_did() {
        let value = read(r#"{"b":[1,true,null],"a":"x","a":"y","n":1.50e1}"#);
        let members = value.as_object().unwrap();
        assert_eq!(members.get("a").and_then(Value::as_str), Some("y"));
        assert_eq!(members.keys().collect::<Vec<_>>(), ["a", "b", "n"]);
        assert_eq!(members["n"], Value::Number("1.50e1".into()));
        assert_eq!(members["n"].whole_seconds(true), Some(15));
        assert_eq!(
            read("1763820000.00000001").whole_seconds(true),
            Some(1_763_820_001)
        );
        assert_eq!(read("\"1\"").whole_seconds(true), None);
    }
}
