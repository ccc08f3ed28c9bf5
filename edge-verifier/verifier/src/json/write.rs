//! Writing JSON text: an object member by member, with strings escaped as
//! serde_json escapes them (`"`, `\`, and control characters; nothing
//! else), so what an adapter writes here reads the same as what the issuer
//! writes with serde.

use super::read::SPECIAL;

/// A JSON object being written, member by member, in the order given.
///
/// ```
/// use tollgate_verifier::json::Object;
/// let mut body = Object::new();
/// body.str("code", "revoked").uint("status", 401).bool("ready", false);
/// assert_eq!(body.finish(), r#"{"code":"revoked","status":401,"ready":false}"#);
/// ```
#[derive(Debug, Clone)]
pub struct Object {
    text: String,
    empty: bool,
}

impl Default for Object {
    fn default() -> Self {
        Self::new()
    }
}

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Object {
            text: String::from("{"),
            empty: true,
        }
    }

    fn name(&mut self, name: &str) -> &mut String {
        if !self.empty {
            self.text.push(',');
        }
        self.empty = false;
        push_string(&mut self.text, name);
        self.text.push(':');
        &mut self.text
    }

    /// A string member.
    pub fn str(&mut self, name: &str, value: &str) -> &mut Self {
        push_string(self.name(name), value);
        self
    }

    /// A string member, or `null`.
    pub fn opt_str(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.str(name, value),
            None => self.null(name),
        }
    }

    /// An array of strings.
    pub fn strs<'s>(&mut self, name: &str, values: impl IntoIterator<Item = &'s str>) -> &mut Self {
        let text = self.name(name);
        text.push('[');
        for (index, value) in values.into_iter().enumerate() {
            if index > 0 {
                text.push(',');
            }
            push_string(text, value);
        }
        text.push(']');
        self
    }

    /// A signed integer member.
    pub fn int(&mut self, name: &str, value: i64) -> &mut Self {
        let text = self.name(name);
        if value < 0 {
            text.push('-');
        }
        push_digits(text, value.unsigned_abs());
        self
    }

    /// An unsigned integer member.
    pub fn uint(&mut self, name: &str, value: u64) -> &mut Self {
        push_digits(self.name(name), value);
        self
    }

    /// An unsigned integer member, or `null`.
    pub fn opt_uint(&mut self, name: &str, value: Option<u64>) -> &mut Self {
        match value {
            Some(value) => self.uint(name, value),
            None => self.null(name),
        }
    }

    /// A boolean member.
    pub fn bool(&mut self, name: &str, value: bool) -> &mut Self {
        self.name(name)
            .push_str(if value { "true" } else { "false" });
        self
    }

    /// A `null` member.
    pub fn null(&mut self, name: &str) -> &mut Self {
        self.name(name).push_str("null");
        self
    }

    /// A member whose value is JSON text already (another [`Object`]'s).
    pub fn raw(&mut self, name: &str, json: &str) -> &mut Self {
        self.name(name).push_str(json);
        self
    }

    /// The text.
    pub fn finish(mut self) -> String {
        self.text.push('}');
        self.text
    }
}

/// `value` as a JSON string, quoted and escaped.
pub(crate) fn string(value: &str) -> String {
    let mut text = String::with_capacity(value.len() + 2);
    push_string(&mut text, value);
    text
}

fn push_string(text: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    text.push('"');
    let mut plain = 0;
    for (at, &byte) in value.as_bytes().iter().enumerate() {
        if !SPECIAL[usize::from(byte)] {
            continue;
        }
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "\\u00",
            _ => continue,
        };
        // Every byte escaped is ASCII, so `at` is a character boundary.
        text.push_str(&value[plain..at]);
        text.push_str(escape);
        if escape == "\\u00" {
            text.push(char::from(HEX[usize::from(byte >> 4)]));
            text.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        plain = at + 1;
    }
    text.push_str(&value[plain..]);
    text.push('"');
}

fn push_digits(text: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        // A remainder below 10 fits a u8.
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    text.extend(digits[start..].iter().map(|&digit| char::from(digit)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings escape exactly what serde_json escapes.
    #[test]
    fn strings_escape_as_serde_json_does() {
        let every_ascii: String = (0u8..=127).map(char::from).collect();
        for value in [every_ascii.as_str(), "é😀 </script>", "", "\u{7f}\u{2028}"] {
            assert_eq!(string(value), serde_json::to_string(value).unwrap());
        }
    }

    /// Integers at their limits, and members in order.
    #[test]
    fn objects() {
        let mut object = Object::new();
        object
            .int("min", i64::MIN)
            .int("zero", 0)
            .uint("max", u64::MAX)
            .opt_str("none", None)
            .strs("list", ["a", "b\""])
            .raw("inner", &Object::new().finish());
        assert_eq!(
            object.finish(),
            r#"{"min":-9223372036854775808,"zero":0,"max":18446744073709551615,"none":null,"list":["a","b\""],"inner":{}}"#
        );
    }
}
