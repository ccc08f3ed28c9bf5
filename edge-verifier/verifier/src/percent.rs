//! Percent-encoding (RFC 3986 §2.1), for the few places the crate writes
//! text into a URL or a header: every byte `keep` refuses becomes `%XX`.

/// The digits of an escape, upper-case as RFC 3986 §6.2.2.1 prefers.
pub(crate) const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `text` with every byte for which `keep` is false percent-encoded.
pub(crate) fn encode(text: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if keep(byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 15)]));
        }
    }
    out
}
