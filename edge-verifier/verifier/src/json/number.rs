//! Numbers: RFC 8259's grammar, whole numbers, and NumericDates rounded
//! from their decimal digits. No floating point: the rounding is exact,
//! and no float parsing or formatting code ships.

/// The length of the number at the start of `text` in RFC 8259's grammar
/// (`-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`), if one is there.
pub(super) fn scan(text: &[u8]) -> Option<usize> {
    let digits = |from: usize| {
        text[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut at = usize::from(text.first() == Some(&b'-'));
    match text.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => at += digits(at),
        _ => return None,
    }
    if text.get(at) == Some(&b'.') {
        let fraction = digits(at + 1);
        if fraction == 0 {
            return None;
        }
        at += 1 + fraction;
    }
    if let Some(b'e' | b'E') = text.get(at) {
        at += 1;
        if let Some(b'+' | b'-') = text.get(at) {
            at += 1;
        }
        let exponent = digits(at);
        if exponent == 0 {
            return None;
        }
        at += exponent;
    }
    Some(at)
}

/// A number [`scan`] accepted, in parts.
struct Parts<'a> {
    negative: bool,
    /// The digits before the point.
    whole: &'a [u8],
    /// The digits after it.
    fraction: &'a [u8],
    /// The exponent, saturated far beyond any value that fits 64 bits.
    exponent: i64,
    /// Whether the text had neither a fraction nor an exponent.
    written_whole: bool,
}

impl Parts<'_> {
    fn digit(&self, at: usize) -> u8 {
        let digit = match self.whole.get(at) {
            Some(&digit) => digit,
            None => self.fraction[at - self.whole.len()],
        };
        digit - b'0'
    }
}

fn parts(text: &[u8]) -> Parts<'_> {
    let negative = text.first() == Some(&b'-');
    let body = &text[usize::from(negative)..];
    let (mantissa, exponent) = match body.iter().position(|&b| b == b'e' || b == b'E') {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = match mantissa.iter().position(|&b| b == b'.') {
        Some(at) => (&mantissa[..at], Some(&mantissa[at + 1..])),
        None => (mantissa, None),
    };
    Parts {
        negative,
        whole,
        fraction: fraction.unwrap_or_default(),
        exponent: exponent.map_or(0, exponent_value),
        written_whole: fraction.is_none() && exponent.is_none(),
    }
}

fn exponent_value(text: &[u8]) -> i64 {
    let (sign, digits) = match text.first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    };
    sign * digits.iter().fold(0i64, |acc, &d| {
        (acc * 10 + i64::from(d - b'0')).min(1_000_000_000)
    })
}

/// `2^64`: no magnitude at or above it fits either `u64` or `i64`.
const TOO_BIG: u128 = 1 << 64;

/// The whole part's magnitude (`None` from 2^64 up) and whether a nonzero
/// fraction follows it.
fn split(parts: &Parts<'_>) -> Option<(u128, bool)> {
    let len = parts.whole.len() + parts.fraction.len();
    // Where the point falls among the digits once the exponent moved it.
    let point = i64::try_from(parts.whole.len()).ok()? + parts.exponent;
    let whole_len = usize::try_from(point.max(0)).ok()?.min(len);
    let mut magnitude: u128 = 0;
    for at in 0..whole_len {
        magnitude = magnitude * 10 + u128::from(parts.digit(at));
        if magnitude >= TOO_BIG {
            return None;
        }
    }
    if magnitude != 0 {
        // Zeros the exponent appends; a few dozen at most before it overflows.
        for _ in i64::try_from(len).ok()?..point {
            magnitude *= 10;
            if magnitude >= TOO_BIG {
                return None;
            }
        }
    }
    let fraction = (whole_len..len).any(|at| parts.digit(at) != 0);
    Some((magnitude, fraction))
}

/// The value of a plain integer (optional `-`, at most 18 digits): the
/// common case, without the general path's splitting.
fn small_integer(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits
        .iter()
        .fold(0i64, |acc, &digit| acc * 10 + i64::from(digit - b'0'));
    Some(if negative { -magnitude } else { magnitude })
}

/// An integer written without fraction or exponent, in `i64`'s range.
pub(super) fn integer(text: &[u8]) -> Option<i64> {
    if let Some(value) = small_integer(text) {
        return Some(value);
    }
    let parts = parts(text);
    if !parts.written_whole {
        return None;
    }
    let (magnitude, _) = split(&parts)?;
    signed(parts.negative, magnitude)
}

/// A non-negative integer written without fraction or exponent (`-0` too).
pub(super) fn unsigned(text: &[u8]) -> Option<u64> {
    let parts = parts(text);
    if !parts.written_whole || (parts.negative && parts.whole.iter().any(|&d| d != b'0')) {
        return None;
    }
    let (magnitude, _) = split(&parts)?;
    u64::try_from(magnitude).ok()
}

/// A number's whole seconds, rounded up or down, in `i64`'s range.
pub(super) fn whole(text: &[u8], round_up: bool) -> Option<i64> {
    if let Some(value) = small_integer(text) {
        return Some(value);
    }
    let parts = parts(text);
    let (mut magnitude, fraction) = split(&parts)?;
    // Rounding away from zero: up for a positive number, down for a
    // negative one.
    if fraction && round_up != parts.negative {
        magnitude += 1;
    }
    signed(parts.negative, magnitude)
}

fn signed(negative: bool, magnitude: u128) -> Option<i64> {
    let magnitude = i128::try_from(magnitude).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str, round_up: bool) -> Option<i64> {
        assert_eq!(scan(text.as_bytes()), Some(text.len()), "{text}");
        whole(text.as_bytes(), round_up)
    }

    /// `exp` rounds down and `iat`/`nbf` up, exactly, on both sides of zero.
    #[test]
    fn numeric_dates_round_exactly() {
        assert_eq!(date("1763820000", false), Some(1_763_820_000));
        assert_eq!(date("1763820000.5", false), Some(1_763_820_000));
        assert_eq!(date("1763820000.5", true), Some(1_763_820_001));
        assert_eq!(date("1763820000.000", true), Some(1_763_820_000));
        assert_eq!(date("1.7638200005e9", true), Some(1_763_820_001));
        assert_eq!(date("1.7638200005E+9", false), Some(1_763_820_000));
        assert_eq!(date("17638200000e-1", true), Some(1_763_820_000));
        assert_eq!(date("-0.5", false), Some(-1));
        assert_eq!(date("-0.5", true), Some(0));
        assert_eq!(date("-0", true), Some(0));
        assert_eq!(date("0.0000001", true), Some(1));
        assert_eq!(date("0.0000001", false), Some(0));
        // Beyond an f64's precision, still exact.
        assert_eq!(
            date("1763820000.00000000000000000001", true),
            Some(1_763_820_001)
        );
        assert_eq!(date("9223372036854775807", false), Some(i64::MAX));
        assert_eq!(date("-9223372036854775808", false), Some(i64::MIN));
        assert_eq!(date("9223372036854775807.5", true), None);
        assert_eq!(date("9223372036854775808", false), None);
        assert_eq!(date("1e19", false), None);
        assert_eq!(date("1e999999999999", false), None);
        assert_eq!(date("0e999999999999", false), Some(0));
        assert_eq!(date("5e-999999999999", true), Some(1));
    }

    /// Whole numbers are written whole: no fraction, no exponent.
    #[test]
    fn integers() {
        assert_eq!(integer(b"-42"), Some(-42));
        assert_eq!(integer(b"-0"), Some(0));
        assert_eq!(integer(b"1.0"), None);
        assert_eq!(integer(b"1e3"), None);
        assert_eq!(integer(b"9223372036854775808"), None);
        assert_eq!(unsigned(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(unsigned(b"18446744073709551616"), None);
        assert_eq!(unsigned(b"-1"), None);
        assert_eq!(unsigned(b"-0"), Some(0));
    }

    /// RFC 8259's number grammar.
    #[test]
    fn grammar() {
        for (text, len) in [
            ("0", Some(1)),
            ("-0.5e+3,", Some(7)),
            ("01", Some(1)),
            ("1.", None),
            ("1e", None),
            ("1e+", None),
            ("-", None),
            ("-a", None),
            (".5", None),
            ("12x", Some(2)),
        ] {
            assert_eq!(scan(text.as_bytes()), len, "{text}");
        }
    }
}
