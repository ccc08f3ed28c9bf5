//! How a proof's `htu` is compared with the URL of the request it came with
//! (RFC 9449 §4.3: after syntax- and scheme-based normalisation, without
//! query or fragment).

/// Whether two URLs name the same resource as DPoP compares them: after
/// normalisation, ignoring any query and fragment.
pub fn same_url(a: &str, b: &str) -> bool {
    normalise_url(strip_query(a)) == normalise_url(strip_query(b))
}

/// `http://` or `https://` (any case) with a host after it.
pub(super) fn is_http_url(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, rest)| {
        (scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http"))
            && !rest.is_empty()
            && !rest.starts_with('/')
    })
}

fn strip_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Syntax- and scheme-based normalisation (RFC 3986 §6.2.2 and §6.2.3, as
/// RFC 9449 §4.3 asks): scheme and host in lower case, the default port
/// dropped, an empty path as `/`, percent-escapes in upper case.
pub(crate) fn normalise_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
    let authority = authority.to_ascii_lowercase();
    let authority = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("https", Some((host, "443"))) | ("http", Some((host, "80"))) => host.to_owned(),
        _ => authority,
    };
    let mut normal = String::with_capacity(url.len());
    normal.push_str(&scheme);
    normal.push_str("://");
    normal.push_str(&authority);
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        normal.push(c);
        if c == '%' {
            normal.extend(chars.by_ref().take(2).map(|c| c.to_ascii_uppercase()));
        }
    }
    normal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_normalise_scheme_host_port_and_escapes() {
        assert_eq!(
            normalise_url("HTTPS://Api.Example.com:443/a%2fb"),
            "https://api.example.com/a%2Fb"
        );
        assert_eq!(normalise_url("http://example.com"), "http://example.com/");
        assert_eq!(
            normalise_url("http://example.com:8080/x"),
            "http://example.com:8080/x"
        );
        assert_ne!(
            normalise_url("https://example.com/a"),
            normalise_url("https://example.com/A")
        );
    }
}
