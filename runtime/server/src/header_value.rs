//! Attribute values in `ce-` headers (HTTP binding, section 3.1.3.2): read
//! liberally, written strictly.
//!
//! **Written** ([`encode`]): every character outside printable ASCII
//! (U+0021..U+007E), and space, `"` and `%`, becomes its UTF-8 bytes as
//! upper-case `%XX`. Control characters are encoded too, as the binding
//! recommends, so any string makes a valid header.
//!
//! **Read** ([`decode`]): the binding's steps, made lenient where the
//! senders people use break the letter and leave no doubt about what they
//! meant. The official SDKs' older APIs put values in headers raw
//! (`ce-subject: café 10%`), and the HTTP clients under them send raw text
//! as UTF-8 (Node's `http`, curl, Go) or as ISO-8859-1 (Python's
//! `http.client` and `requests`, `fetch`). So:
//! 1. raw bytes are text: UTF-8 when they are valid UTF-8, else ISO-8859-1
//!    (HTTP/1.1's historical charset for header text);
//! 2. a value in double quotes is unquoted (RFC 7230 quoted string, which
//!    older senders use);
//! 3. one round of percent-decoding: `%` and two hex digits is a byte, and the
//!    bytes must make UTF-8 (`%C0%A0` is refused, as the binding requires);
//!    a `%` not followed by two hex digits stays a literal `%`;
//! 4. control characters are refused, C1 ones (`\x80`..`\x9f` read as
//!    ISO-8859-1) among them.
//!
//! The rule is ambiguous in one way: a raw value that happens to contain `%`
//! and two hex digits (`50%2B`) is decoded (`50+`), because a spec-following
//! sender means exactly that. Senders of such values must percent-encode,
//! which every spec-following SDK does. (A raw value that starts and ends
//! with `"` is read as a quoted string for the same reason.)

use std::borrow::Cow;

/// Why a header value is refused; shown after the header's name.
pub type Refusal = &'static str;

/// The value `raw` stands for, or why it stands for none.
pub fn decode(raw: &[u8]) -> Result<String, Refusal> {
    let text = match std::str::from_utf8(raw) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(raw.iter().map(|byte| char::from(*byte)).collect()),
    };
    let unquoted = unquote(text.as_bytes())?;
    let text = String::from_utf8(percent_decode(&unquoted))
        .map_err(|_| "its percent-encoded bytes are not valid utf-8")?;
    if text.chars().any(char::is_control) {
        return Err("it has control characters, which attribute values must not contain");
    }
    Ok(text)
}

/// `value` as a header value the binding allows; borrowed when nothing needs
/// encoding.
pub fn encode(value: &str) -> Cow<'_, str> {
    let keeps = |byte: u8| (0x21..0x7f).contains(&byte) && byte != b'"' && byte != b'%';
    if value.bytes().all(keeps) {
        return Cow::Borrowed(value);
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut encoded = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if keeps(byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push('%');
            encoded.push(char::from(HEX[usize::from(byte >> 4)]));
            encoded.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    Cow::Owned(encoded)
}

/// Undoes an RFC 7230 quoted string; any other value is returned as it is.
fn unquote(raw: &[u8]) -> Result<Cow<'_, [u8]>, Refusal> {
    let [b'"', inner @ .., b'"'] = raw else {
        return Ok(Cow::Borrowed(raw));
    };
    let mut unquoted = Vec::with_capacity(inner.len());
    let mut bytes = inner.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'\\' => match bytes.next() {
                Some(&escaped) => unquoted.push(escaped),
                None => return Err("its quoted string ends with a lone backslash"),
            },
            b'"' => return Err("its quoted string has an unescaped double quote"),
            _ => unquoted.push(byte),
        }
    }
    Ok(Cow::Owned(unquoted))
}

/// One round of percent-decoding; a `%` without two hex digits after it stays.
fn percent_decode(encoded: &[u8]) -> Vec<u8> {
    let hex = |index: usize| {
        encoded
            .get(index)
            .and_then(|byte| char::from(*byte).to_digit(16))
    };
    let mut decoded = Vec::with_capacity(encoded.len());
    let mut index = 0;
    while let Some(&byte) = encoded.get(index) {
        match (byte, hex(index + 1), hex(index + 2)) {
            (b'%', Some(high), Some(low)) => {
                // Two hex digits make at most 255, so the cast keeps every bit.
                decoded.push((high * 16 + low) as u8);
                index += 3;
            }
            _ => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(raw: &str) -> Result<String, Refusal> {
        decode(raw.as_bytes())
    }

    #[test]
    fn percent_encoded_and_quoted_values_are_decoded() {
        assert_eq!(decoded("plain").as_deref(), Ok("plain"));
        assert_eq!(
            decoded("Euro%20%E2%82%AC%20%F0%9F%98%80").as_deref(),
            Ok("Euro \u{20ac} \u{1f600}")
        );
        assert_eq!(
            decoded("%e2%82%ac").as_deref(),
            Ok("\u{20ac}"),
            "lower case"
        );
        assert_eq!(decoded("%41%42").as_deref(), Ok("AB"), "needless encoding");
        assert_eq!(decoded(r#""say \"hi\"""#).as_deref(), Ok(r#"say "hi""#));
        assert_eq!(decoded(r#""100%25""#).as_deref(), Ok("100%"));
        assert_eq!(decoded("a b").as_deref(), Ok("a b"), "older senders");
        assert_eq!(decoded("").as_deref(), Ok(""));
    }

    #[test]
    fn raw_values_of_the_sdks_are_taken_as_they_are() {
        assert_eq!(decoded("caf\u{e9} 10%").as_deref(), Ok("caf\u{e9} 10%"));
        assert_eq!(decoded("100%").as_deref(), Ok("100%"));
        assert_eq!(decoded("%%").as_deref(), Ok("%%"));
        assert_eq!(decoded("%+f %4").as_deref(), Ok("%+f %4"));
        assert_eq!(decoded("say \"hi\"").as_deref(), Ok("say \"hi\""));
        assert_eq!(
            decoded("M\u{fc}nchen %C3%BC").as_deref(),
            Ok("M\u{fc}nchen \u{fc}"),
            "raw and encoded in one value"
        );
        assert_eq!(
            decode(b"caf\xe9 10%").as_deref(),
            Ok("caf\u{e9} 10%"),
            "iso-8859-1, as python's http.client sends it"
        );
        assert_eq!(
            decode(b"M\xfcnchen %E2%82%AC").as_deref(),
            Ok("M\u{fc}nchen \u{20ac}"),
            "iso-8859-1 and encoded utf-8 in one value"
        );
        // The documented ambiguity: a raw `%2B` reads as `+`.
        assert_eq!(decoded("50%2B").as_deref(), Ok("50+"));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(decode(b"%C0%A0").is_err(), "overlong utf-8");
        assert!(decode(b"%FF").is_err(), "not utf-8");
        assert!(decode(b"a\x85b").is_err(), "c1 control read as iso-8859-1");
        assert!(decode(b"%0A").is_err(), "encoded control character");
        assert!(decode(b"a\x01b").is_err(), "raw control character");
        assert!(decode(b"tab\there").is_err());
        assert!(decode("\u{85}".as_bytes()).is_err(), "c1 control");
        assert!(decode(br#""a"b""#).is_err());
        assert!(decode(br#""a\""#).is_err());
    }

    #[test]
    fn encoding_follows_the_binding() {
        assert!(matches!(encode("order-42/x?y=1"), Cow::Borrowed(_)));
        assert_eq!(encode(""), "");
        assert_eq!(
            encode("Euro \u{20ac} \u{1f600}"),
            "Euro%20%E2%82%AC%20%F0%9F%98%80"
        );
        assert_eq!(encode("10% \"off\""), "10%25%20%22off%22");
        assert_eq!(encode("a\nb\u{7f}"), "a%0Ab%7F");
    }

    #[test]
    fn every_string_survives_encoding_then_decoding() {
        let samples = [
            "",
            " ",
            "%",
            "%%41",
            "\"",
            "\"quoted\"",
            "caf\u{e9} 10%",
            "50%2B",
            "\u{10ffff}",
            "~!#$&'()*+,/:;=?@[]^`{|}",
        ];
        for sample in samples {
            let encoded = encode(sample);
            assert!(encoded.bytes().all(|b| (0x21..0x7f).contains(&b)));
            assert_eq!(decode(encoded.as_bytes()).as_deref(), Ok(sample));
        }
    }
}
