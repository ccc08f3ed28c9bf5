//! Tokens of the wrong shape: size, parts, encoding, JSON.

use serde_json::json;

use crate::support::*;

/// Tokens up to 8 KiB verify; longer ones are refused by length alone.
#[test]
fn size_limit_is_8_kib() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let padded = |pad: usize| {
        ed_token(
            &keys,
            &claims_with(|c| {
                c.insert("pad".into(), json!("x".repeat(pad)));
            }),
        )
    };
    // Unpadded base64 cannot have every length, so take the longest token that fits.
    let fits = (5000..8192)
        .map(padded)
        .take_while(|t| t.len() <= 8192)
        .last()
        .unwrap();
    assert!(fits.len() >= 8190, "{}", fits.len());
    assert!(verify(&verifier, &fits).is_ok());
    let over = padded(7000);
    assert!(over.len() > 8192);
    assert_eq!(code_of(&verifier, &over), "token_too_large");
    assert_eq!(code_of(&verifier, &"a".repeat(8193)), "token_too_large");
    assert_eq!(code_of(&verifier, &".".repeat(100_000)), "token_too_large");
}

/// Anything but exactly three dot-separated parts is malformed.
#[test]
fn wrong_number_of_parts_is_malformed() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = ed_token(&keys, &claims());
    let parts: Vec<&str> = token.split('.').collect();
    for bad in [
        String::new(),
        ".".into(),
        "..".into(),
        parts[0].to_string(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{token}."),
        format!(".{token}"),
        format!("{token}.{}", parts[2]),
        format!(
            "{}.{}.{}.{}.{}",
            parts[0], parts[1], parts[2], parts[1], parts[2]
        ),
    ] {
        assert_eq!(code_of(&verifier, &bad), "malformed", "{bad}");
    }
}

/// Padding, standard-alphabet characters and whitespace are not base64url.
#[test]
fn non_base64url_encodings_are_malformed() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = ed_token(&keys, &claims());
    let (h, rest) = token.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let bad = [
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}==.{s}"),
        format!("{h}.{p}.{s}="),
        format!("+{}.{p}.{s}", &h[1..]),
        format!("{h}.{p}/.{s}"),
        format!("{h}.{p}.{}+", &s[..s.len() - 1]),
        format!(" {token}"),
        format!("{token}\n"),
        format!("{h}.{p}.{s}é"),
    ];
    for bad in bad {
        assert_eq!(code_of(&verifier, &bad), "malformed", "{bad}");
    }
}

/// A header or payload that is not a JSON object of the right shape is malformed.
#[test]
fn non_object_json_is_malformed() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let good_header = header("EdDSA", "ed").to_string();
    let good_payload = claims().to_string();
    let cases: [(&[u8], &[u8]); 8] = [
        (b"[]", good_payload.as_bytes()),
        (b"\"EdDSA\"", good_payload.as_bytes()),
        (b"{\"alg\":", good_payload.as_bytes()),
        (
            b"{\"kid\":\"ed\",\"typ\":\"at+jwt\"}",
            good_payload.as_bytes(),
        ),
        (&[0xff, 0xfe, b'{', b'}'], good_payload.as_bytes()),
        (good_header.as_bytes(), b"[1,2]"),
        (good_header.as_bytes(), b"\"claims\""),
        (good_header.as_bytes(), &[b'{', 0xc3, 0x28, b'}']),
    ];
    for (header, payload) in cases {
        let token = forge_raw(header, payload, Sign::Ed(&keys.ed));
        assert_eq!(
            code_of(&verifier, &token),
            "malformed",
            "{}",
            String::from_utf8_lossy(header)
        );
    }
    // Invalid UTF-8 inside a JSON string of the payload.
    let payload = good_payload.replacen("ada@", "ad\u{1}@", 1).into_bytes();
    let mut payload = payload;
    let at = payload.iter().position(|&b| b == 1).unwrap();
    payload[at] = 0xff;
    let token = forge_raw(good_header.as_bytes(), &payload, Sign::Ed(&keys.ed));
    assert_eq!(code_of(&verifier, &token), "malformed");
}

/// Error messages never echo the token or claim values.
#[test]
fn errors_do_not_echo_the_token() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let secretish = claims_with(|c| {
        c.insert("sid".into(), json!("SECRET-VALUE"));
    });
    let err = verify(&verifier, &ed_token(&keys, &secretish)).unwrap_err();
    assert!(!err.to_string().contains("SECRET-VALUE"));
    assert!(!format!("{err:?}").contains("SECRET-VALUE"));
}
