//! The pull reader: one value at a time, in document order, each read as
//! the type that expects it. Nothing is built that the caller does not ask
//! for, and what the caller does not want is checked and skipped.
//!
//! A type's reader is a closure per object member or array element,
//! passed as `&mut dyn FnMut`: one copy of the reader's code serves every
//! shape, where generic readers would be stamped out once per type.

use std::borrow::Cow;

use super::number;

/// How deep objects and arrays may nest: 127 levels, where serde_json
/// stopped too. Deeper input is refused, so no hostile document can
/// exhaust the stack.
const MAX_DEPTH: u8 = 127;

/// Why a JSON text was refused, and where. Carries no input: nothing of a
/// refused token or page ends up in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    what: &'static str,
    at: usize,
}

impl Error {
    /// What was wrong.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The byte offset in the text where it was found.
    pub fn offset(&self) -> usize {
        self.at
    }
}

impl std::error::Error for Error {}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

/// What the next value is, by its first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

/// Reads one JSON text.
pub(crate) struct Reader<'a> {
    text: &'a [u8],
    at: usize,
    depth: u8,
}

impl<'a> Reader<'a> {
    /// Reads the whole of `text` with `read`, which takes its one value;
    /// nothing but whitespace may follow it.
    pub(crate) fn document<T>(
        text: &'a [u8],
        read: impl FnOnce(&mut Reader<'a>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut reader = Reader {
            text,
            at: 0,
            depth: 0,
        };
        let value = read(&mut reader)?;
        if reader.peek().is_some() {
            return Err(reader.fail("characters after the JSON value"));
        }
        Ok(value)
    }

    /// An error at the current position.
    pub(crate) fn fail(&self, what: &'static str) -> Error {
        Error { what, at: self.at }
    }

    /// The next byte after any whitespace, without taking it.
    fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.text.get(self.at) {
            self.at += 1;
        }
        self.text.get(self.at).copied()
    }

    /// What the next value is.
    pub(crate) fn kind(&mut self) -> Result<Kind, Error> {
        Ok(match self.peek() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b'-' | b'0'..=b'9') => Kind::Number,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            Some(_) => return Err(self.fail("expected a JSON value")),
            None => return Err(self.fail("the JSON text ends early")),
        })
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), Error> {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.fail("expected a JSON value"))
        }
    }

    /// Takes a `null` if one is next; whether it did.
    pub(crate) fn null(&mut self) -> Result<bool, Error> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            return Ok(true);
        }
        Ok(false)
    }

    /// `true` or `false`.
    pub(crate) fn bool(&mut self) -> Result<bool, Error> {
        match self.peek() {
            Some(b't') => self.literal(b"true").map(|()| true),
            Some(b'f') => self.literal(b"false").map(|()| false),
            _ => Err(self.fail("expected true or false")),
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        if self.depth >= MAX_DEPTH {
            return Err(self.fail("JSON nested too deeply"));
        }
        self.depth += 1;
        self.at += 1;
        Ok(())
    }

    /// An object: `each` is called with every member's name and must read
    /// its value (a member it does not know, with [`Self::skip`]).
    pub(crate) fn object(
        &mut self,
        each: &mut dyn FnMut(&mut Reader<'a>, &str) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if self.peek() != Some(b'{') {
            return Err(self.fail("expected an object"));
        }
        self.enter()?;
        if self.peek() == Some(b'}') {
            self.at += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.fail("expected a member name"));
            }
            let name = self.str()?;
            if self.peek() != Some(b':') {
                return Err(self.fail("expected `:` after a member name"));
            }
            self.at += 1;
            let before = self.at;
            each(self, &name)?;
            if self.at == before {
                return Err(self.fail("a member's value was not read"));
            }
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.fail("expected `,` or `}` in an object")),
            }
        }
    }

    /// An object of which `names` are the members a type reads: `each`
    /// gets the index in `names` of each one given (once: a member given
    /// twice is refused), and the others are checked and skipped.
    pub(crate) fn members(
        &mut self,
        names: &[&str],
        each: &mut dyn FnMut(&mut Reader<'a>, usize) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut seen = Seen::default();
        self.object(
            &mut |r, name| match names.iter().position(|known| *known == name) {
                Some(index) => {
                    seen.first(index, r)?;
                    each(r, index)
                }
                None => r.skip().map(drop),
            },
        )
    }

    /// An array: `each` is called for every element and must read it.
    pub(crate) fn array(
        &mut self,
        each: &mut dyn FnMut(&mut Reader<'a>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if self.peek() != Some(b'[') {
            return Err(self.fail("expected an array"));
        }
        self.enter()?;
        if self.peek() == Some(b']') {
            self.at += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            let before = self.at;
            each(self)?;
            if self.at == before {
                return Err(self.fail("an element was not read"));
            }
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.fail("expected `,` or `]` in an array")),
            }
        }
    }

    /// A string, borrowed from the input when it has no escapes.
    pub(crate) fn str(&mut self) -> Result<Cow<'a, str>, Error> {
        if self.peek() != Some(b'"') {
            return Err(self.fail("expected a string"));
        }
        let text = self.text;
        let start = self.at + 1;
        // Up to the first byte that is not plain string content.
        let mut at = start
            + text[start..]
                .iter()
                .position(|&byte| SPECIAL[usize::from(byte)])
                .unwrap_or(text.len() - start);
        match text.get(at) {
            Some(b'"') => {
                let value = core::str::from_utf8(&text[start..at])
                    .map_err(|_| self.fail("a string is not UTF-8"))?;
                self.at = at + 1;
                return Ok(Cow::Borrowed(value));
            }
            Some(b'\\') => {}
            Some(_) => {
                self.at = at;
                return Err(self.fail("a control character in a string"));
            }
            None => return Err(self.fail("a string is not closed")),
        }
        let mut out = text[start..at].to_vec();
        loop {
            match text.get(at) {
                Some(b'"') => {
                    let value =
                        String::from_utf8(out).map_err(|_| self.fail("a string is not UTF-8"))?;
                    self.at = at + 1;
                    return Ok(Cow::Owned(value));
                }
                Some(b'\\') => {
                    let escaped = match text.get(at + 1) {
                        Some(b'"') => b'"',
                        Some(b'\\') => b'\\',
                        Some(b'/') => b'/',
                        Some(b'b') => 0x08,
                        Some(b'f') => 0x0c,
                        Some(b'n') => b'\n',
                        Some(b'r') => b'\r',
                        Some(b't') => b'\t',
                        Some(b'u') => {
                            self.at = at;
                            let (ch, next) = self.unicode_escape(at)?;
                            let mut buf = [0; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                            at = next;
                            continue;
                        }
                        _ => {
                            self.at = at;
                            return Err(self.fail("an invalid escape in a string"));
                        }
                    };
                    out.push(escaped);
                    at += 2;
                }
                Some(0..=0x1f) => {
                    self.at = at;
                    return Err(self.fail("a control character in a string"));
                }
                Some(&byte) => {
                    out.push(byte);
                    at += 1;
                }
                None => return Err(self.fail("a string is not closed")),
            }
        }
    }

    /// The character of the `\uXXXX` escape at `at` (two of them for a
    /// surrogate pair), and where the text goes on. A lone surrogate is
    /// refused, as serde_json refused it.
    fn unicode_escape(&self, at: usize) -> Result<(char, usize), Error> {
        let hex = |at: usize| -> Option<u32> {
            let digits = self.text.get(at + 2..at + 6)?;
            digits.iter().try_fold(0, |acc, &digit| {
                Some(acc * 16 + char::from(digit).to_digit(16)?)
            })
        };
        let invalid = || self.fail("an invalid \\u escape in a string");
        let first = hex(at).ok_or_else(invalid)?;
        if (0xDC00..0xE000).contains(&first) {
            return Err(invalid());
        }
        if !(0xD800..0xDC00).contains(&first) {
            return char::from_u32(first)
                .map(|ch| (ch, at + 6))
                .ok_or_else(invalid);
        }
        if self.text.get(at + 6..at + 8) != Some(b"\\u") {
            return Err(invalid());
        }
        let second = hex(at + 6).ok_or_else(invalid)?;
        if !(0xDC00..0xE000).contains(&second) {
            return Err(invalid());
        }
        let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
        char::from_u32(code)
            .map(|ch| (ch, at + 12))
            .ok_or_else(invalid)
    }

    /// A string, owned.
    pub(crate) fn string(&mut self) -> Result<String, Error> {
        self.str().map(Cow::into_owned)
    }

    /// A string, or `None` for `null`.
    pub(crate) fn opt_string(&mut self) -> Result<Option<String>, Error> {
        if self.null()? {
            return Ok(None);
        }
        self.string().map(Some)
    }

    /// A UUID string (any form `Uuid::try_parse` takes), or `None` for `null`.
    pub(crate) fn opt_uuid(&mut self) -> Result<Option<uuid::Uuid>, Error> {
        if self.null()? {
            return Ok(None);
        }
        let at = self.fail("expected a UUID");
        let text = self.str()?;
        uuid::Uuid::try_parse(&text).map(Some).map_err(|_| at)
    }

    /// An array of strings.
    pub(crate) fn strings(&mut self) -> Result<Vec<String>, Error> {
        let mut items = Vec::new();
        self.array(&mut |r| {
            items.push(r.string()?);
            Ok(())
        })?;
        Ok(items)
    }

    /// The text of the number that is next, in RFC 8259's grammar.
    fn number(&mut self) -> Result<&'a [u8], Error> {
        self.peek();
        let len =
            number::scan(&self.text[self.at..]).ok_or_else(|| self.fail("expected a number"))?;
        let text = &self.text[self.at..self.at + len];
        self.at += len;
        Ok(text)
    }

    /// An integer written without fraction or exponent, in `i64`'s range.
    pub(crate) fn int(&mut self) -> Result<i64, Error> {
        let start = self.at;
        let text = self.number()?;
        number::integer(text).ok_or(Error {
            what: "expected a whole number",
            at: start,
        })
    }

    /// A non-negative integer written without fraction or exponent.
    pub(crate) fn uint(&mut self) -> Result<u64, Error> {
        let start = self.at;
        let text = self.number()?;
        number::unsigned(text).ok_or(Error {
            what: "expected a non-negative whole number",
            at: start,
        })
    }

    /// A NumericDate (RFC 7519 §2: seconds, possibly fractional) as whole
    /// seconds, rounded up or down exactly; `null` is refused.
    pub(crate) fn numeric_date(&mut self, round_up: bool) -> Result<i64, Error> {
        let start = self.at;
        let text = self.number()?;
        number::whole(text, round_up).ok_or(Error {
            what: "a NumericDate out of range",
            at: start,
        })
    }

    /// Checks the next value and steps over it; its text.
    pub(crate) fn skip(&mut self) -> Result<&'a [u8], Error> {
        self.peek();
        let start = self.at;
        match self.kind()? {
            Kind::Object => self.object(&mut |r, _| r.skip().map(drop))?,
            Kind::Array => self.array(&mut |r| r.skip().map(drop))?,
            Kind::String => drop(self.str()?),
            Kind::Number => drop(self.number()?),
            Kind::Bool => drop(self.bool()?),
            Kind::Null => self.literal(b"null")?,
        }
        Ok(&self.text[start..self.at])
    }
}

/// The bytes that end plain string content: `"`, `\\` and the control
/// characters, which a reader must look at and a writer escapes (as
/// serde_json escapes nothing else). One load a byte.
pub(super) const SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Which known members an object has given: a type's reader marks each
/// member it reads, so one given twice is refused (RFC 7515 §4 and RFC
/// 7519 §4 let a parser refuse duplicates; a token read one way by the
/// issuer and another by a verifier is what that prevents).
#[derive(Default)]
pub(crate) struct Seen(u64);

impl Seen {
    /// Marks member `index` (below 64) as given; refused if it was already.
    pub(crate) fn first(&mut self, index: usize, reader: &Reader<'_>) -> Result<(), Error> {
        let bit = 1u64 << index;
        if self.0 & bit != 0 {
            return Err(reader.fail("a member given twice"));
        }
        self.0 |= bit;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(text: &str) -> bool {
        Reader::document(text.as_bytes(), |r| r.skip().map(drop)).is_ok()
    }

    /// RFC 8259's grammar, and nothing around it.
    #[test]
    fn accepts_exactly_json() {
        for ok in [
            "null",
            " true ",
            "[]",
            "{}",
            r#"{"a":[1,-0,0.5,1e3,1E-3,-2.5e+7],"b":{"c":null},"d":"\u00e9\ud83d\ude00\n"}"#,
            "\t[ 1 , 2 ]\r\n",
        ] {
            assert!(valid(ok), "{ok}");
        }
        for bad in [
            "",
            " ",
            "nul",
            "[1,]",
            "{\"a\":1,}",
            "{a:1}",
            "{\"a\" 1}",
            "[1 2]",
            "01",
            "1.",
            ".5",
            "1e",
            "-",
            "+1",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"\\x\"",
            "\"a\nb\"",
            "\"open",
            "[1] 2",
            "\u{feff}1",
            "NaN",
            "'a'",
            "{\"a\":}",
        ] {
            assert!(!valid(bad), "{bad:?}");
        }
    }

    /// Nesting stops where serde_json's did: 127 levels pass, 128 do not.
    #[test]
    fn nesting_is_bounded() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(valid(&nested(127)));
        assert!(!valid(&nested(128)));
        assert!(!valid(&nested(100_000)));
    }

    /// Strings without escapes are borrowed; escapes are decoded.
    #[test]
    fn strings() {
        let read = |text: &'static str| Reader::document(text.as_bytes(), |r| r.str());
        assert!(matches!(read(r#""plain""#), Ok(Cow::Borrowed("plain"))));
        assert_eq!(
            read(r#""a\"\\\/\b\f\n\r\t\u0041\u00e9\ud83d\ude00""#).unwrap(),
            "a\"\\/\u{8}\u{c}\n\r\tAé😀"
        );
        assert!(Reader::document(b"\"\xff\"", |r| r.str()).is_err());
        assert!(Reader::document(b"\"\xc3\\n\"", |r| r.str()).is_err());
    }

    /// A member a type knows may come once.
    #[test]
    fn seen_refuses_a_second_member() {
        let read = |text: &str| {
            Reader::document(text.as_bytes(), |r| {
                let mut seen = Seen::default();
                r.object(&mut |r, name| {
                    if name == "a" {
                        seen.first(0, r)?;
                    }
                    r.skip().map(drop)
                })
            })
        };
        assert!(read(r#"{"a":1,"b":2,"b":3}"#).is_ok());
        assert_eq!(
            read(r#"{"a":1,"\u0061":2}"#).unwrap_err().what(),
            "a member given twice"
        );
    }
}
