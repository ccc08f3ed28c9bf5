//! The rules for the text fields of a request, each written once: the
//! check a handler runs and the JSON Schema the API document states for the
//! field are built from the same constants here, so a request the document
//! calls valid is accepted and one it calls invalid is refused (the proptests
//! below hold the two together; schemathesis checks both directions against
//! the running issuer in `make test`).
//!
//! Patterns use only anchors, classes with `\uXXXX` escapes and counted
//! repetition, which Rust's `regex` and ECMA-262 with the `u` flag (as JSON
//! Schema asks; without it `{1,64}` counts UTF-16 units) read alike.
//! Python's `re` differs in one place: its `$` also matches before a final
//! newline (schemathesis reads a closing `$` as `\Z`).

use std::sync::LazyLock;

use serde_json::json;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};

use crate::error::FieldError;

/// Unicode `White_Space`: what [`str::trim`] removes and
/// [`char::is_whitespace`] is, as the body of a character class.
const SPACE: &str =
    r"\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Unicode `Cc`: what [`char::is_control`] is, as the body of a class.
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";

/// The longest email address accepted, in characters (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// The longest local part (before the `@`), in characters.
const MAX_LOCAL_CHARS: usize = 64;
/// Shortest password accepted (NIST SP 800-63B asks for at least 8).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted: long enough for any passphrase, short enough
/// that hashing it costs nothing extra.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Longest name accepted.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest device id accepted (fingerprints are 32 hex characters).
pub const MAX_DEVICE_ID_CHARS: usize = 256;
/// Longest device type accepted.
pub const MAX_DEVICE_TYPE_CHARS: usize = 32;

/// Passwords too common to allow, whatever their length; compared without
/// regard to ASCII case.
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "12345678910",
    "0123456789",
    "1111111111",
    "password12",
    "password123",
    "password1234",
    "qwertyuiop",
    "iloveyou12",
    "letmein123",
    "welcome123",
    "administrator",
];

/// An email as [`check_email`] takes it: white space around it (trimmed
/// before it is stored), a local part of 1 to 64 characters, `@`, a dotted
/// domain with no empty label; no white space or control character inside.
static EMAIL_PATTERN: LazyLock<String> = LazyLock::new(|| {
    let atom = format!("[^@.{SPACE}{CONTROL}]+");
    format!(
        "^[{SPACE}]*[^@{SPACE}{CONTROL}]{{1,{MAX_LOCAL_CHARS}}}@{atom}(?:\\.{atom})+[{SPACE}]*$"
    )
});

/// A line as [`check_line`] takes it: no control character, and something
/// other than white space.
static LINE_PATTERN: LazyLock<String> =
    LazyLock::new(|| format!("^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$"));

/// A password [`check_password`] refuses whatever the email: one character
/// repeated, or a common password in any ASCII case (`[pP][aA]...`).
static REFUSED_PASSWORD_PATTERNS: LazyLock<[String; 2]> = LazyLock::new(|| {
    let common: Vec<String> = COMMON_PASSWORDS
        .iter()
        .map(|password| {
            password
                .chars()
                .map(|c| match c {
                    c if c.is_ascii_alphabetic() => {
                        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    }
                    c => c.to_string(),
                })
                .collect()
        })
        .collect();
    [
        r"^([\s\S])\1*$".to_owned(),
        format!("^(?:{})$", common.join("|")),
    ]
});

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// The schema of a signup's `email`.
pub fn email_schema() -> impl Into<RefOr<Schema>> {
    string()
        .max_length(Some(MAX_EMAIL_CHARS))
        .pattern(Some(EMAIL_PATTERN.as_str()))
        .examples(["ada@example.com"])
}

/// The schema of a login's `email`: only bounded (an unknown or malformed
/// address is `invalid_credentials`, like a wrong password).
pub fn login_email_schema() -> impl Into<RefOr<Schema>> {
    string()
        .max_length(Some(MAX_EMAIL_CHARS))
        .examples(["ada@example.com"])
}

/// The schema of a signup's `password`. That it must not be the email or
/// its local part is a rule between two fields, which the document states in
/// words only.
pub fn password_schema() -> impl Into<RefOr<Schema>> {
    let [repeated, common] = &*REFUSED_PASSWORD_PATTERNS;
    // utoipa has no `not`; a JSON Schema keyword set through its extension
    // map serialises like any other.
    let not = json!({"anyOf": [{"pattern": repeated}, {"pattern": common}]});
    string()
        .min_length(Some(MIN_PASSWORD_CHARS))
        .max_length(Some(MAX_PASSWORD_CHARS))
        .description(Some(
            "Not one character repeated, not a common password, not the email or its local part.",
        ))
        .extensions(Some(Extensions::from_iter([("not", not)])))
        .examples(["correct horse battery staple"])
}

/// The schema of a login's `password`: only bounded.
pub fn login_password_schema() -> impl Into<RefOr<Schema>> {
    string().max_length(Some(MAX_PASSWORD_CHARS))
}

fn line_schema(max_chars: usize) -> ObjectBuilder {
    string()
        .min_length(Some(1))
        .max_length(Some(max_chars))
        .pattern(Some(LINE_PATTERN.as_str()))
}

/// The schema of a user's `name`.
pub fn name_schema() -> impl Into<RefOr<Schema>> {
    line_schema(MAX_NAME_CHARS).examples(["Ada Lovelace"])
}

/// The schema of a login's `device.id`.
pub fn device_id_schema() -> impl Into<RefOr<Schema>> {
    line_schema(MAX_DEVICE_ID_CHARS).examples(["3f9c2a7e5b1d4c8f9a0b6e2d7c4f1a3b"])
}

/// The schema of a login's `device.type`.
pub fn device_type_schema() -> impl Into<RefOr<Schema>> {
    line_schema(MAX_DEVICE_TYPE_CHARS).examples(["browser"])
}

/// An email address as stored and compared: trimmed and lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Checks an email as sent (see [`EMAIL_PATTERN`]): at most 254 characters
/// in all; trimmed, one `@` after a local part of 1 to 64 characters and
/// before a dotted domain, no white space or control characters.
pub fn check_email(email: &str, errors: &mut Vec<FieldError>) {
    let bad = |c: char| c.is_whitespace() || c.is_control();
    let trimmed = email.trim();
    let valid = email.chars().count() <= MAX_EMAIL_CHARS
        && !trimmed.chars().any(bad)
        && trimmed.split_once('@').is_some_and(|(local, domain)| {
            (1..=MAX_LOCAL_CHARS).contains(&local.chars().count())
                && domain.split('.').count() >= 2
                && domain
                    .split('.')
                    .all(|label| !label.is_empty() && !label.contains('@'))
        });
    if !valid {
        errors.push(FieldError::new("email", "is not a valid email address"));
    }
}

/// The password policy: length, not one character repeated, not a common
/// password, not the (normalised) email or its local part.
pub fn check_password(password: &str, email: &str, errors: &mut Vec<FieldError>) {
    let chars = password.chars().count();
    let lower = password.to_lowercase();
    let problem = if chars < MIN_PASSWORD_CHARS {
        Some(format!("must be at least {MIN_PASSWORD_CHARS} characters"))
    } else if chars > MAX_PASSWORD_CHARS {
        Some(format!("must be at most {MAX_PASSWORD_CHARS} characters"))
    } else if COMMON_PASSWORDS
        .iter()
        .any(|common| common.eq_ignore_ascii_case(password))
    {
        Some("is too common".to_owned())
    } else if lower == email
        || email
            .split_once('@')
            .is_some_and(|(local, _)| lower == local)
    {
        Some("must not be your email address".to_owned())
    } else if password.chars().all(|c| password.starts_with(c)) {
        Some("must not be one character repeated".to_owned())
    } else {
        None
    };
    if let Some(message) = problem {
        errors.push(FieldError::new("password", message));
    }
}

/// A non-empty, bounded, single-line text field (see [`LINE_PATTERN`]).
pub fn check_line(
    field: &'static str,
    value: &str,
    max_chars: usize,
    errors: &mut Vec<FieldError>,
) {
    if value.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if value.chars().count() > max_chars {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    } else if value.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
}

/// At most `max_chars` characters; for fields checked only for size.
pub fn check_length(
    field: &'static str,
    value: &str,
    max_chars: usize,
    errors: &mut Vec<FieldError>,
) {
    if value.chars().count() > max_chars {
        errors.push(FieldError::new(field, "is too long"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use regex::Regex;

    /// Characters on every edge of the rules: the separators, ASCII and
    /// Unicode white space (trimmed or not), C0 and C1 controls, a BOM
    /// (white space to ECMA's `\s`, not to Rust's), letters with and
    /// without case.
    const EDGES: &[char] = &[
        'a',
        'Z',
        '0',
        'é',
        'K',
        '\u{212a}',
        '@',
        '.',
        ' ',
        '\t',
        '\n',
        '\r',
        '\u{0b}',
        '\u{85}',
        '\u{a0}',
        '\u{2003}',
        '\u{3000}',
        '\u{feff}',
        '\0',
        '\u{7f}',
        '\u{9f}',
        '\u{200b}',
        '\u{1f600}',
    ];

    fn text(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(EDGES), 0..max)
            .prop_map(|chars| chars.into_iter().collect())
    }

    /// What the document says of a string, read with Rust's `regex`.
    fn schema_accepts(pattern: &str, value: &str, min: usize, max: usize) -> bool {
        let chars = value.chars().count();
        Regex::new(pattern).unwrap().is_match(value) && (min..=max).contains(&chars)
    }

    fn passes(check: impl FnOnce(&mut Vec<FieldError>)) -> bool {
        let mut errors = Vec::new();
        check(&mut errors);
        errors.is_empty()
    }

    proptest! {
        #[test]
        fn the_email_schema_is_the_email_check(local in text(8), domain in text(12), around in text(3)) {
            let email = format!("{around}{local}@{domain}{around}");
            prop_assert_eq!(
                schema_accepts(&EMAIL_PATTERN, &email, 0, MAX_EMAIL_CHARS),
                passes(|e| check_email(&email, e)),
                "{:?}", email
            );
        }

        #[test]
        fn the_line_schema_is_the_line_check(value in text(12)) {
            prop_assert_eq!(
                schema_accepts(&LINE_PATTERN, &value, 1, 8),
                passes(|e| check_line("name", &value, 8, e)),
                "{:?}", value
            );
        }

        #[test]
        fn the_password_schema_is_the_password_check(value in text(14)) {
            // Rust's `regex` has no backreferences: "one character
            // repeated" (the first pattern) is spelled out here.
            let refused = Regex::new(&REFUSED_PASSWORD_PATTERNS[1]).unwrap().is_match(&value)
                || value.chars().all(|c| value.starts_with(c));
            prop_assert_eq!(
                !refused && (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&value.chars().count()),
                passes(|e| check_password(&value, "someone@example.com", e)),
                "{:?}", value
            );
        }
    }

    #[test]
    fn the_edges_of_each_rule() {
        let email = |s: &str| passes(|e| check_email(s, e));
        assert!(email("ada@example.com"));
        assert!(email("  Ada@Example.COM\t"));
        assert!(!email("ada@example"));
        assert!(!email("ada@.example.com"));
        assert!(!email("ada@example..com"));
        assert!(!email("a da@example.com"));
        assert!(!email("ada@exa@mple.com"));
        assert!(email(&format!("{}@example.com", "é".repeat(64))));
        assert!(!email(&format!("{}@example.com", "é".repeat(65))));
        let long = format!("a@{}.com", "b".repeat(MAX_EMAIL_CHARS - 6));
        assert_eq!(long.chars().count(), MAX_EMAIL_CHARS);
        assert!(email(&long));
        assert!(!email(&format!(" {long}")));
        for common in COMMON_PASSWORDS {
            let upper = common.to_ascii_uppercase();
            assert!(!passes(|e| check_password(&upper, "x@y.z", e)));
            assert!(
                Regex::new(&REFUSED_PASSWORD_PATTERNS[1])
                    .unwrap()
                    .is_match(&upper)
            );
        }
        assert!(!passes(|e| check_password(
            "ada@example.com",
            "ada@example.com",
            e
        )));
        assert!(!passes(|e| check_password(
            "Lovelace12",
            "lovelace12@example.com",
            e
        )));
    }
}
