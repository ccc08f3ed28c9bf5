//! The `typ` header (RFC 7515 §4.1.9): a media type, compared as RFC 2045
//! says, without regard to case, and with or without `application/`.

/// `typ` (RFC 7515 §4.1.9) is `expected`, in any case, optionally with the
/// `application/` prefix.
pub(crate) fn is_type(typ: &str, expected: &str) -> bool {
    let typ = typ
        .get(..12)
        .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| &typ[12..]);
    typ.eq_ignore_ascii_case(expected)
}
