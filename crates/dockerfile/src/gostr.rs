//! Byte-string helpers that behave like the Go standard library functions
//! BuildKit's parser is written with.
//!
//! BuildKit treats a Dockerfile as a Go `string`: a sequence of bytes that is
//! usually, but not necessarily, UTF-8. Matching its output byte for byte
//! (including for invalid UTF-8) needs Go's exact decoding rules, which no
//! crate reproduces, so these few functions are written here.

use unicode_general_category::{get_general_category, GeneralCategory as Gc};

/// Decodes one rune the way Go's `utf8.DecodeRune` does: an invalid or
/// truncated sequence yields U+FFFD with a width of one byte.
pub fn decode_rune(b: &[u8]) -> (char, usize) {
    let Some(&first) = b.first() else {
        return ('\u{FFFD}', 0);
    };
    if first < 0x80 {
        return (first as char, 1);
    }
    let len = match first {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return ('\u{FFFD}', 1),
    };
    match b.get(..len).map(std::str::from_utf8) {
        Some(Ok(s)) => (s.chars().next().unwrap_or('\u{FFFD}'), len),
        _ => ('\u{FFFD}', 1),
    }
}

/// Iterates over `(byte offset, rune, width)` like Go's `for i, r := range s`.
pub fn runes(b: &[u8]) -> impl Iterator<Item = (usize, char, usize)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= b.len() {
            return None;
        }
        let (ch, w) = decode_rune(&b[pos..]);
        let at = pos;
        pos += w;
        Some((at, ch, w))
    })
}

/// Go's `unicode.IsSpace`. Rust's `char::is_whitespace` is the Unicode
/// White_Space property, which is exactly the set Go uses.
pub fn is_space(ch: char) -> bool {
    ch.is_whitespace()
}

/// `unicode.IsSpace(rune(b))` on a single byte, as BuildKit's byte-wise
/// flag and HEALTHCHECK scanners do: bytes 0x85 and 0xA0 count as spaces.
pub fn is_space_byte(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ' | 0x85 | 0xA0)
}

fn is_ascii_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ')
}

/// Go's `bytes.TrimLeftFunc(s, unicode.IsSpace)`.
pub fn trim_left_space(b: &[u8]) -> &[u8] {
    let mut pos = 0;
    while pos < b.len() {
        let c = b[pos];
        if c < 0x80 {
            if !is_ascii_space(c) {
                break;
            }
            pos += 1;
            continue;
        }
        let (ch, w) = decode_rune(&b[pos..]);
        if !is_space(ch) {
            break;
        }
        pos += w;
    }
    &b[pos..]
}

/// Go's `bytes.TrimRightFunc(s, unicode.IsSpace)`: decodes the last rune
/// backwards, as Go's `utf8.DecodeLastRune` does (an invalid sequence is
/// never a space).
pub fn trim_right_space(b: &[u8]) -> &[u8] {
    let mut end = b.len();
    while end > 0 {
        let c = b[end - 1];
        if c < 0x80 {
            if !is_ascii_space(c) {
                break;
            }
            end -= 1;
            continue;
        }
        let mut start = end - 1;
        while start > 0 && end - start < 4 && (b[start] & 0xC0) == 0x80 {
            start -= 1;
        }
        let (ch, w) = decode_rune(&b[start..end]);
        if start + w != end || !is_space(ch) {
            break;
        }
        end = start;
    }
    &b[..end]
}

/// Go's `strings.TrimSpace`.
pub fn trim_space(b: &[u8]) -> &[u8] {
    trim_right_space(trim_left_space(b))
}

/// Splits on runs of `[\t\v\f\r ]` (BuildKit's `reWhitespace`), at most
/// `limit` pieces (`None` = no limit), like Go's `Regexp.Split`.
pub fn split_ws(b: &[u8], limit: Option<usize>) -> Vec<&[u8]> {
    let is_ws = |c: u8| matches!(c, b'\t' | 0x0B | 0x0C | b'\r' | b' ');
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    while pos < b.len() {
        if limit.is_some_and(|n| out.len() + 1 >= n) {
            break;
        }
        if is_ws(b[pos]) {
            let mut end = pos;
            while end < b.len() && is_ws(b[end]) {
                end += 1;
            }
            out.push(&b[start..pos]);
            start = end;
            pos = end;
        } else {
            pos += 1;
        }
    }
    out.push(&b[start..]);
    out
}

/// Go's `strings.ToLower`.
pub fn to_lower(b: &[u8]) -> Vec<u8> {
    if b.is_ascii() {
        return b.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(b.len());
    for (_, ch, _) in runes(b) {
        // Go maps each rune to exactly one rune; Rust may expand (U+0130 →
        // "i\u{307}"), in which case Go's simple mapping is the first char.
        out.push(ch.to_lowercase().next().unwrap_or(ch));
    }
    out.into_bytes()
}

/// Go's `unicode.IsPrint` (as used by `strconv.Quote`): letters, marks,
/// numbers, punctuation, symbols and the ASCII space.
fn is_print(ch: char) -> bool {
    if ch == ' ' {
        return true;
    }
    !matches!(
        get_general_category(ch),
        Gc::Control
            | Gc::Format
            | Gc::Surrogate
            | Gc::PrivateUse
            | Gc::Unassigned
            | Gc::SpaceSeparator
            | Gc::LineSeparator
            | Gc::ParagraphSeparator
    )
}

/// Go's `strconv.Quote`, appended to `out`.
pub fn quote_into(out: &mut String, b: &[u8]) {
    use std::fmt::Write;
    out.push('"');
    let mut pos = 0;
    while pos < b.len() {
        let (ch, w) = decode_rune(&b[pos..]);
        if w == 1 && ch == '\u{FFFD}' {
            let _ = write!(out, "\\x{:02x}", b[pos]);
            pos += 1;
            continue;
        }
        pos += w;
        match ch {
            '"' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            c if is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
}

/// Go's `strconv.Quote`.
pub fn quote(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    quote_into(&mut s, b);
    s
}

/// Converts bytes to a `String` the way Go's `string([]rune(s))` would:
/// every invalid byte becomes U+FFFD.
pub fn to_string_lossy(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => runes(b).map(|(_, c, _)| c).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_matches_go() {
        assert_eq!(quote(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote(b"\x00\t\x7f"), r#""\x00\t\x7f""#);
        assert_eq!(quote("é\u{a0}".as_bytes()), "\"é\\u00a0\"");
        assert_eq!(quote(b"\xff"), r#""\xff""#);
        assert_eq!(quote("\u{e000}".as_bytes()), r#""\ue000""#);
        assert_eq!(quote("\u{f0000}".as_bytes()), r#""\U000f0000""#);
    }

    #[test]
    fn trims_like_go() {
        assert_eq!(trim_space(" \u{a0}ab \t".as_bytes()), b"ab");
        assert_eq!(trim_space(b"\xff "), b"\xff");
        assert_eq!(trim_space(b""), b"");
    }

    #[test]
    fn splits_like_regexp() {
        assert_eq!(split_ws(b"a  b\tc", None), vec![&b"a"[..], b"b", b"c"]);
        assert_eq!(split_ws(b"a  b\tc", Some(2)), vec![&b"a"[..], b"b\tc"]);
        assert_eq!(split_ws(b"a", Some(2)), vec![&b"a"[..]]);
    }

    #[test]
    fn decodes_like_go() {
        assert_eq!(decode_rune(b"\xe2\x82"), ('\u{FFFD}', 1));
        assert_eq!(decode_rune("€".as_bytes()), ('€', 3));
        assert_eq!(decode_rune(b"\xed\xa0\x80"), ('\u{FFFD}', 1));
    }
}
