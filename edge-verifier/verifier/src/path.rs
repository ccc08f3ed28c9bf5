//! The edge's request paths, judged as an origin would read them.
//!
//! A request is routed (public, issuer, protected) on its normalized path,
//! and the normalized path is what the origin receives, so no spelling of a
//! path can be public at the edge and protected at the origin:
//! - percent-encoded unreserved characters are decoded (`%2e` is `.`,
//!   RFC 3986 §6.2.2.2) and other escapes are upper-cased;
//! - empty segments are merged (`//a` is `/a`) and dot segments resolved
//!   (`/a/../b` is `/b`, RFC 3986 §5.2.4);
//! - a path carrying an encoded `/` or `\` (`%2F`, `%5C`), a raw `\`, a `;`
//!   anywhere (Tomcat and Spring read `..;` as `..`), an encoded `?` or `#`
//!   (an origin that decodes and splits again reads `/public/..%3F` as
//!   `/public/..`), escapes that are not UTF-8 (an overlong `%C0%AE` is `.`
//!   to a lax decoder), a control character or a broken escape is refused:
//!   an origin could read any of them as another path. Envoy calls the
//!   same rules `normalize_path`, `merge_slashes` and
//!   `path_with_escaped_slashes_action: REJECT_REQUEST`;
//! - so is a character an origin may fold into one of those or a `.`
//!   (NFKC's full-width `／` and `‥`, Windows' best-fit `∕` and `¥`), and a
//!   segment of only dots and spaces but `.` and `..` (`..%20`, `...`,
//!   `..%2520`, `..` and an ideographic space: Windows trims trailing dots
//!   and spaces, and reads `..`).
//!
//! A `%25` (an escaped `%`) that would decode to one of those (`%252F`,
//! `%252e`, ...) is refused too: an origin that decodes twice would read it
//! as the character itself. That check runs on the normalized segment, so
//! one assembled by decoding (`%25%32F` is `%252F`) is refused as well, and
//! a normalized path normalizes to itself. And headers that tell an origin
//! to serve another path than the request line's ([`rewrites_path`]) are
//! not passed on.
//!
//! Prefix rules ([`Prefixes`]) match on segment boundaries: `/healthz`
//! matches `/healthz`, `/healthz/` and `/healthz/x`, never `/healthzX`; a
//! prefix ending in `/` means that folder (`/demo/` matches `/demo/x`, not
//! `/demo`).

use core::fmt;

use crate::percent::HEX;

/// Why a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathError(&'static str);

impl PathError {
    /// The stable code an edge answers with (400).
    pub const fn code(&self) -> &'static str {
        "invalid_path"
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for PathError {}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~".contains(&byte)
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// One segment with its escapes normalized, or why it is refused.
///
/// `decoded_bytes` is scratch space, reused across a path's segments: the
/// segment as an origin that decodes it once reads it, which must be UTF-8
/// (no overlong `.` or `/`, no surrogates), as RFC 3987 asks.
fn segment(raw: &str, decoded_bytes: &mut Vec<u8>) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    decoded_bytes.clear();
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError("the path has a broken percent-escape"));
                };
                let decoded = hi << 4 | lo;
                decoded_bytes.push(decoded);
                match decoded {
                    b'/' | b'\\' => {
                        return Err(PathError("the path has an encoded slash or backslash"));
                    }
                    // An origin that decodes and then splits again reads
                    // them as the start of a query or a fragment.
                    b'?' | b'#' => return Err(PathError("the path has an encoded '?' or '#'")),
                    b';' => return Err(PathError("the path has a ';' in a segment")),
                    _ if decoded < 0x20 || decoded == 0x7f => {
                        return Err(PathError("the path has a control character"));
                    }
                    _ if is_unreserved(decoded) => out.push(char::from(decoded)),
                    _ => {
                        out.push('%');
                        out.push(char::from(HEX[usize::from(hi)]));
                        out.push(char::from(HEX[usize::from(lo)]));
                    }
                }
                i += 3;
            }
            b';' => return Err(PathError("the path has a ';' in a segment")),
            b'\\' => return Err(PathError("the path has a backslash")),
            _ if byte < 0x20 || byte == 0x7f || byte >= 0x80 => {
                return Err(PathError("the path has a byte that must be escaped"));
            }
            _ => {
                out.push(char::from(byte));
                decoded_bytes.push(byte);
                i += 1;
            }
        }
    }
    let Ok(text) = core::str::from_utf8(decoded_bytes) else {
        return Err(PathError("the path's escapes are not UTF-8"));
    };
    // Only escapes bring non-ASCII here; most segments skip the scan.
    if !text.is_ascii() && text.chars().any(folds_to_separator) {
        return Err(PathError(
            "the path has a character an origin may fold to '/', '\\', '.', '%', '?', '#' or ';'",
        ));
    }
    if windows_dot_segment(text) {
        return Err(PathError(
            "the path has a segment of dots and spaces (Windows reads it as '..')",
        ));
    }
    // Judged on the output, not the input: an escaped unreserved character
    // after an escaped `%` (`%25` `%32` `F`) assembles `%252F` here.
    if doubly_encoded(out.as_bytes()) {
        return Err(PathError("the path has a doubly encoded separator"));
    }
    Ok(out)
}

/// Whether an origin may read `c` as one of the characters refused or
/// resolved here (`/ \ . % ? # ;`): every character whose NFKC form holds
/// one (full-width `／`, `．`, `‥`, `⒈`, `℀`, ...; a framework that
/// normalizes paths to NFKC reads `／..／` as `/../`), and the look-alikes
/// Windows' best-fit code-page conversion maps to `/` or `\` (`∕`, `⁄`,
/// `∖`, `⧵`, `⧸`, `⧹`). The NFKC list is checked against the
/// `unicode-normalization` crate over every code point in the tests.
fn folds_to_separator(c: char) -> bool {
    matches!(
        c,
        '\u{037E}'
            | '\u{2024}'..='\u{2026}'
            | '\u{2044}'
            | '\u{2047}'..='\u{2049}'
            | '\u{2100}'..='\u{2101}'
            | '\u{2105}'..='\u{2106}'
            | '\u{2215}'..='\u{2216}'
            | '\u{2488}'..='\u{249B}'
            | '\u{29F5}'
            | '\u{29F8}'..='\u{29F9}'
            | '\u{33C2}'
            | '\u{33C7}'
            | '\u{33D8}'
            | '\u{FE14}'
            | '\u{FE16}'
            | '\u{FE19}'
            | '\u{FE30}'
            | '\u{FE52}'
            | '\u{FE54}'
            | '\u{FE56}'
            | '\u{FE5F}'
            | '\u{FE68}'
            | '\u{FE6A}'
            | '\u{FF03}'
            | '\u{FF05}'
            | '\u{FF0E}'..='\u{FF0F}'
            | '\u{FF1B}'
            | '\u{FF1F}'
            | '\u{FF3C}'
            | '\u{1F100}'
            // Best-fit backslashes: the yen sign on code page 932, the won
            // sign on 949 (an ANSI program on a Japanese or Korean Windows
            // reads `..¥api` as `..\api`).
            | '\u{00A5}'
            | '\u{20A9}'
    )
}

/// Whether an origin may read `c` as a space before it trims: every
/// character whose NFKC form is a space (no-break, em and ideographic
/// spaces, ...; checked over every code point in the tests), which best-fit
/// conversion maps to a space too.
fn folds_to_space(c: char) -> bool {
    matches!(
        c,
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// Whether a decoded segment is only dots and spaces but not `.` or `..`
/// (`...`, `..%20`, `%20`): Windows trims trailing dots and spaces from a
/// segment, so an origin there reads it as `..` or nothing, a path the
/// edge never resolved. A space may also come escaped once more (`%2520`,
/// for an origin that decodes twice) or as a look-alike an origin folds
/// ([`folds_to_space`]).
fn windows_dot_segment(text: &str) -> bool {
    if matches!(text, "" | "." | "..") {
        return false;
    }
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        rest = match rest.strip_prefix("%20") {
            Some(after) => after,
            None if c == '.' || c == ' ' || folds_to_space(c) => &rest[c.len_utf8()..],
            None => return false,
        };
    }
    true
}

/// Whether a normalized segment holds an escaped `%` that escapes a
/// character refused here (`%252F`, `%255C`, `%253B`, `%252E`, `%2525`,
/// `%253F`, `%2523`, a control character) or a byte of a non-ASCII
/// character (`%25C0`, which a lax decoder may read as half of an overlong
/// `.`): an origin that decodes twice would read it as one.
fn doubly_encoded(segment: &[u8]) -> bool {
    segment.windows(5).any(|w| {
        if w[0] != b'%' || !w[1..3].eq_ignore_ascii_case(b"25") {
            return false;
        }
        let (Some(hi), Some(lo)) = (hex(w[3]), hex(w[4])) else {
            return false;
        };
        let byte = hi << 4 | lo;
        matches!(byte, b'/' | b'\\' | b';' | b'.' | b'%' | b'?' | b'#')
            || !(0x20..0x7f).contains(&byte)
    })
}

/// `path` (no query, no fragment; as the client sent it, escapes and all)
/// normalized as the [module docs](self) say, or why it is refused.
///
/// ```
/// use tollgate_verifier::path::normalize;
/// assert_eq!(normalize("//demo/./a/../%61pp.js").unwrap(), "/demo/app.js");
/// assert_eq!(normalize("/demo/%2e%2e/api").unwrap(), "/api");
/// assert!(normalize("/demo/..%2Fapi").is_err());
/// assert!(normalize("/demo/..;/api").is_err());
/// ```
pub fn normalize(path: &str) -> Result<String, PathError> {
    if !path.starts_with('/') {
        return Err(PathError("the path must start with '/'"));
    }
    let mut segments: Vec<String> = Vec::new();
    // Whether the result ends with '/': after an empty last segment, or a
    // dot segment (RFC 3986 §5.2.4: `/a/b/..` is `/a/`).
    let mut trailing = false;
    let mut scratch = Vec::new();
    for raw in path[1..].split('/') {
        let seg = segment(raw, &mut scratch)?;
        match seg.as_str() {
            "" => trailing = true,
            "." => trailing = true,
            ".." => {
                segments.pop();
                trailing = true;
            }
            _ => {
                segments.push(seg);
                trailing = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for seg in &segments {
        out.push('/');
        out.push_str(seg);
    }
    if trailing || segments.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// The query of a request URL as the client sent it (without its `?`), to
/// forward beside the normalized path: what follows the first `?` before
/// any `#`. A `?` inside the fragment starts no query.
///
/// ```
/// use tollgate_verifier::path::query;
/// assert_eq!(query("https://h/a?x=1#f"), Some("x=1"));
/// assert_eq!(query("https://h/a#f?x=1"), None);
/// ```
pub fn query(url: &str) -> Option<&str> {
    let before_fragment = url.split_once('#').map_or(url, |(before, _)| before);
    before_fragment.split_once('?').map(|(_, query)| query)
}

/// Whether a request header tells some origins to serve another path than
/// the request line's (IIS URL Rewrite's `X-Original-URL` and
/// `X-Rewrite-URL`, Spring's and others' `X-Forwarded-Prefix`, ...), so an
/// edge that judged the request line must not pass it on. Case-insensitive,
/// with `_` read as `-`.
pub fn rewrites_path(header: &str) -> bool {
    const NAMES: [&str; 7] = [
        "x-original-url",
        "x-rewrite-url",
        "x-original-uri",
        "x-forwarded-uri",
        "x-forwarded-prefix",
        "x-forwarded-path",
        "x-envoy-original-path",
    ];
    NAMES.iter().any(|name| {
        name.len() == header.len()
            && name.bytes().zip(header.bytes()).all(|(want, got)| {
                let got = got.to_ascii_lowercase();
                got == want || (got == b'_' && want == b'-')
            })
    })
}

/// Path prefixes (`PUBLIC_PATHS`, `ISSUER_PATHS`), matched against
/// normalized paths on segment boundaries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefixes(Vec<String>);

impl Prefixes {
    /// The comma-separated prefixes in `list` (blanks ignored). Each must
    /// be a normalized path itself, or the list is refused: a prefix the
    /// rules can never match would silently protect nothing.
    pub fn parse(list: &str) -> Result<Self, PathError> {
        let mut prefixes = Vec::new();
        for prefix in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if normalize(prefix).ok().as_deref() != Some(prefix) {
                return Err(PathError(
                    "a path prefix must be a normalized path, starting with '/'",
                ));
            }
            prefixes.push(prefix.to_owned());
        }
        Ok(Prefixes(prefixes))
    }

    /// Whether the normalized `path` is under one of the prefixes.
    pub fn matches(&self, path: &str) -> bool {
        self.0.iter().any(|prefix| under(path, prefix))
    }
}

/// `path` is `prefix`, or in it: on a segment boundary.
fn under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        None => false,
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dot segments, repeated slashes and unreserved escapes normalize;
    /// other escapes keep their meaning, upper-cased.
    #[test]
    fn paths_normalize_as_rfc_3986_says() {
        for (raw, normal) in [
            ("/", "/"),
            ("/a", "/a"),
            ("/a/", "/a/"),
            ("//a//b", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/..", "/"),
            ("/../../a", "/a"),
            ("/a/%2e%2E/b", "/b"),
            ("/a/.%2e/b", "/b"),
            ("/%7Euser/%61", "/~user/a"),
            ("/a%20b/%c3%a9", "/a%20b/%C3%A9"),
            ("/a/%25/b", "/a/%25/b"),
            ("/a/%2541", "/a/%2541"),
            ("/%E2%82%AC/%f0%9f%98%80", "/%E2%82%AC/%F0%9F%98%80"),
        ] {
            assert_eq!(normalize(raw).as_deref(), Ok(normal), "{raw}");
        }
    }

    /// What an origin could read as another path is refused.
    #[test]
    fn ambiguous_paths_are_refused() {
        for raw in [
            "/a/..%2Fb",
            "/a/..%2fb",
            "/a%5Cb",
            "/a%5cb",
            "/a\\b",
            "/a/..;/b",
            "/a;x/b",
            "/a/b;jsessionid=1",
            "/a%3Bb",
            "/a%00b",
            "/a%0ab",
            "/a%zz",
            "/a%4",
            "a/b",
            "",
            "/a\u{e9}",
            "/a/%252e%252e/b",
            "/a%252Fb",
            "/a%255Cb",
            "/a%253Bb",
            "/a%25252e",
            // Found by the `path` fuzz target: an escaped unreserved
            // character after an escaped `%` must not assemble a doubly
            // encoded separator in the output (`%25` `%32` `F` is `%252F`).
            "/a%25%32Fb",
            "/a%25%35Cb",
            "/public/..%25%32F..%25%32Fapi/todos",
            "/a%25%32%35%32%46b",
            "//?5%25%3252",
            // An origin that decodes once and splits again on `?` or `#`
            // reads `/public/..` (the parent folder) with a query.
            "/public/..%3Fq=1",
            "/public/..%3fq=1",
            "/public/..%23x",
            "/public/..%253Fq=1",
            "/public/..%2523x",
            "/a%257Fb",
            // Overlong and invalid UTF-8: a lax decoder reads `.` and `/`.
            "/demo/%C0%AE%C0%AE/api",
            "/demo/..%C0%AF..%C0%AFapi",
            "/demo/..%E0%80%AFapi",
            "/a%ED%A0%80",
            "/a%C3",
            "/a%C3/%A9",
            "/a%F4%90%80%80",
            // Segments Windows trims to `..` or nothing (trailing dots and
            // spaces go), and look-alikes an origin folds to a separator.
            "/public/..%20/api",
            "/public/.../api",
            "/public/..%20%20./api",
            "/public/%20/api",
            "/public/.%20/api",
            "/public/%EF%BC%8F..%EF%BC%8Fapi",
            "/public/..%EF%BC%BCapi",
            "/public/%EF%BC%8E%EF%BC%8E/api",
            "/public/%E2%80%A5/api",
            "/public/..%E2%88%95api",
            "/public/..%E2%81%84api",
            "/public/a%EF%BC%9Fb",
            "/public/%E2%92%88",
            // Found by a second review: a doubly encoded space, a space
            // look-alike an origin folds (NFKC, best-fit) before it trims,
            // and the best-fit backslashes of Japanese and Korean code pages.
            "/public/..%2520/api",
            "/public/..%25%32%30/api",
            "/public/..%E3%80%80/api",
            "/public/..%C2%A0/api",
            "/public/..%E2%80%83/api",
            "/public/..%C2%A5api",
            "/public/..%E2%82%A9api",
        ] {
            assert!(normalize(raw).is_err(), "{raw}");
        }
    }

    /// Dots and spaces inside a segment, and other non-ASCII text, stay
    /// fine: only what an origin could fold into a separator is refused.
    #[test]
    fn dots_spaces_and_other_text_pass() {
        for (raw, normal) in [
            ("/wiki/Washington,_D.C.", "/wiki/Washington,_D.C."),
            ("/a/b.", "/a/b."),
            ("/a/.b", "/a/.b"),
            ("/a/%20b", "/a/%20b"),
            ("/a/b%20", "/a/b%20"),
            ("/%E3%83%91%E3%82%B9", "/%E3%83%91%E3%82%B9"),
            ("/caf%C3%A9", "/caf%C3%A9"),
        ] {
            assert_eq!(normalize(raw).as_deref(), Ok(normal), "{raw}");
        }
    }

    /// Every character whose NFKC form holds a character refused or
    /// resolved here is in [`folds_to_separator`]'s list, checked over all
    /// of Unicode with the `unicode-normalization` crate.
    #[test]
    fn every_nfkc_look_alike_is_listed() {
        use unicode_normalization::UnicodeNormalization as _;
        let missing: Vec<String> = (0x80..=0x10_FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|c| core::iter::once(*c).nfkc().any(|n| "/\\.%?#;".contains(n)))
            .filter(|c| !folds_to_separator(*c))
            .map(|c| format!("U+{:04X}", u32::from(c)))
            .collect();
        assert!(missing.is_empty(), "not listed: {missing:?}");
        let spaces: Vec<String> = (0x80..=0x10_FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|c| core::iter::once(*c).nfkc().eq(core::iter::once(' ')))
            .filter(|c| !folds_to_space(*c))
            .map(|c| format!("U+{:04X}", u32::from(c)))
            .collect();
        assert!(
            spaces.is_empty(),
            "space look-alikes not listed: {spaces:?}"
        );
    }

    /// A normalized path normalizes to itself: what the edge forwards is
    /// what it judged, however often an origin normalizes it again.
    #[test]
    fn normalizing_twice_changes_nothing() {
        for raw in [
            "/a%25%34%31",
            "/a/%2541",
            "/%7E%25%37E",
            "/a%2520b",
            "/a%25%32%30b",
        ] {
            let once = normalize(raw).unwrap_or_else(|err| panic!("{raw}: {err}"));
            assert_eq!(normalize(&once).as_deref(), Ok(once.as_str()), "{raw}");
        }
    }

    /// The query ends at the fragment, and a fragment's `?` starts none.
    #[test]
    fn the_query_is_what_the_client_sent_before_any_fragment() {
        for (url, want) in [
            ("https://h/a", None),
            ("https://h/a?x=1", Some("x=1")),
            ("https://h/a?x=1#f?y=2", Some("x=1")),
            ("https://h/a#f?y=2", None),
            ("https://h/a?", Some("")),
        ] {
            assert_eq!(query(url), want, "{url}");
        }
    }

    /// Headers that rewrite the path at some origin are known in any
    /// spelling; others are not.
    #[test]
    fn path_rewriting_headers_are_recognised() {
        for name in [
            "X-Original-URL",
            "x_rewrite_url",
            "X-Forwarded-Prefix",
            "x-envoy-original-path",
        ] {
            assert!(rewrites_path(name), "{name}");
        }
        for name in [
            "x-forwarded-for",
            "x-original",
            "authorization",
            "x-tollgate-sub",
        ] {
            assert!(!rewrites_path(name), "{name}");
        }
    }

    /// Prefixes match whole segments; a trailing `/` means the folder.
    #[test]
    fn prefixes_match_on_segment_boundaries() {
        let rules = Prefixes::parse("/demo/, /healthz,/.well-known/").unwrap();
        for path in [
            "/healthz",
            "/healthz/",
            "/healthz/x",
            "/demo/",
            "/demo/a.js",
            "/.well-known/jwks.json",
        ] {
            assert!(rules.matches(path), "{path}");
        }
        for path in [
            "/healthzX",
            "/healthz.json",
            "/demo",
            "/demoX/a",
            "/",
            "/api/todos",
        ] {
            assert!(!rules.matches(path), "{path}");
        }
        assert!(Prefixes::parse("/").unwrap().matches("/anything"));
        assert!(Prefixes::parse("/a/../b").is_err());
        assert!(Prefixes::parse("healthz").is_err());
    }
}
