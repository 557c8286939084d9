//! The JSON ("exec") form of RUN/CMD/ENTRYPOINT/SHELL/COPY/ADD/VOLUME.
//!
//! BuildKit decodes it with Go's `encoding/json` into `[]any`. This small
//! validator-decoder is written by hand rather than using serde_json because
//! the two disagree on inputs a Dockerfile can contain: Go replaces invalid
//! UTF-8 and lone surrogate escapes with U+FFFD where serde_json rejects the
//! whole document, which would flip an instruction from exec to shell form.

/// Why a text is not a JSON array of strings.
#[derive(Debug, PartialEq, Eq)]
pub enum JsonArrayError {
    /// Not JSON, or not an array: the instruction is in shell form.
    NotJsonArray,
    /// A valid JSON array with an element that is not a string: an error.
    NotStringArray,
}

const MAX_DEPTH: usize = 10_000; // Go's encoding/json nesting limit

/// Parses `text` as a JSON array of strings with Go's semantics.
pub fn parse(text: &[u8]) -> Result<Vec<String>, JsonArrayError> {
    let mut p = Parser { b: text, pos: 0, overflow: false };
    p.skip_ws();
    if p.peek() != Some(b'[') {
        return Err(JsonArrayError::NotJsonArray);
    }
    let items = p.array_top().ok_or(JsonArrayError::NotJsonArray)?;
    p.skip_ws();
    if p.pos != p.b.len() || p.overflow {
        // Trailing data is a syntax error; a number that overflows float64
        // is an unmarshal error: both mean "not a JSON array" to BuildKit.
        return Err(JsonArrayError::NotJsonArray);
    }
    items.into_iter().map(|v| v.ok_or(JsonArrayError::NotStringArray)).collect()
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
    overflow: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// The top-level array: each element is `Some(string)` or `None` for a
    /// valid non-string value. `None` overall means a syntax error.
    fn array_top(&mut self) -> Option<Vec<Option<String>>> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.eat(b']') {
            return Some(items);
        }
        loop {
            self.skip_ws();
            if self.peek() == Some(b'"') {
                items.push(Some(self.string()?));
            } else {
                self.value(1)?;
                items.push(None);
            }
            self.skip_ws();
            if self.eat(b']') {
                return Some(items);
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// Validates any JSON value, discarding it. Iterative (an explicit
    /// stack of open containers) so deep nesting cannot exhaust the stack.
    fn value(&mut self, depth: usize) -> Option<()> {
        let mut open: Vec<u8> = Vec::new();
        loop {
            // A value is expected here.
            self.skip_ws();
            match self.peek()? {
                b'"' => drop(self.string()?),
                c @ (b'[' | b'{') => {
                    if depth + open.len() >= MAX_DEPTH {
                        return None;
                    }
                    self.pos += 1;
                    let close = if c == b'[' { b']' } else { b'}' };
                    self.skip_ws();
                    if !self.eat(close) {
                        open.push(close);
                        if close == b'}' {
                            self.object_key()?;
                        }
                        continue;
                    }
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            // After a value: close containers or move to the next element.
            loop {
                let Some(&close) = open.last() else {
                    return Some(());
                };
                self.skip_ws();
                if self.eat(close) {
                    open.pop();
                    continue;
                }
                if !self.eat(b',') {
                    return None;
                }
                if close == b'}' {
                    self.object_key()?;
                }
                break;
            }
        }
    }

    /// `"key" :` inside an object.
    fn object_key(&mut self) -> Option<()> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return None;
        }
        self.string()?;
        self.skip_ws();
        self.eat(b':').then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b[self.pos..].starts_with(word) {
            self.pos += word.len();
            Some(())
        } else {
            None
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        self.eat(b'-');
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat(b'.') && self.digits() == 0 {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return None;
            }
        }
        let text = std::str::from_utf8(&self.b[start..self.pos]).ok()?;
        if text.parse::<f64>().map_or(true, |f| f.is_infinite()) {
            self.overflow = true;
        }
        Some(())
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.b.get(self.pos..self.pos + 4)?;
        let s = std::str::from_utf8(h).ok()?;
        let v = u32::from_str_radix(s, 16).ok()?;
        if !h.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        self.pos += 4;
        Some(v)
    }

    fn string(&mut self) -> Option<String> {
        self.pos += 1; // '"'
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            match c {
                b'"' => {
                    self.pos += 1;
                    return Some(out);
                }
                0..=0x1f => return None,
                b'\\' => {
                    self.pos += 1;
                    let e = self.peek()?;
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let ch = self.unicode_escape()?;
                            out.push(ch);
                        }
                        _ => return None,
                    }
                }
                _ => {
                    let (ch, w) = crate::gostr::decode_rune(&self.b[self.pos..]);
                    out.push(ch);
                    self.pos += w;
                }
            }
        }
    }

    /// After `\u`: a code point, a surrogate pair, or U+FFFD for a lone
    /// surrogate (as Go does).
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) && self.b[self.pos..].starts_with(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            if let Some(second) = self.hex4() {
                if (0xDC00..0xE000).contains(&second) {
                    let cp = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                    return Some(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                }
            }
            self.pos = save;
        }
        Some(char::from_u32(first).unwrap_or('\u{FFFD}'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_of_strings() {
        assert_eq!(parse(br#"[ "a", "b\u00e9" ]"#), Ok(vec!["a".into(), "bé".into()]));
        assert_eq!(parse(b"[]"), Ok(vec![]));
        assert_eq!(parse(br#"["\ud800"]"#), Ok(vec!["\u{FFFD}".into()]));
        assert_eq!(parse(b"[\"\xff\"]"), Ok(vec!["\u{FFFD}".into()]));
    }

    #[test]
    fn shell_form_and_errors() {
        assert_eq!(parse(b"echo"), Err(JsonArrayError::NotJsonArray));
        assert_eq!(parse(br#"["a""#), Err(JsonArrayError::NotJsonArray));
        assert_eq!(parse(br#"['a']"#), Err(JsonArrayError::NotJsonArray));
        assert_eq!(parse(br#"["a"] x"#), Err(JsonArrayError::NotJsonArray));
        assert_eq!(parse(br#"["a", ["b"]]"#), Err(JsonArrayError::NotStringArray));
        assert_eq!(parse(br#"[1, "a"]"#), Err(JsonArrayError::NotStringArray));
        assert_eq!(parse(br#"[1e999, ["a"]]"#), Err(JsonArrayError::NotJsonArray));
        assert_eq!(parse(br#"[01]"#), Err(JsonArrayError::NotJsonArray));
        assert_eq!(parse(br#"[{"a": [1, {"b": null}]}, "x"]"#), Err(JsonArrayError::NotStringArray));
        assert_eq!(parse(br#"[{"a" 1}]"#), Err(JsonArrayError::NotJsonArray));
    }

    #[test]
    fn nesting_limit_is_gos() {
        let deep = |n: usize| format!("[{}{}]", "[".repeat(n - 1), "]".repeat(n - 1));
        assert_eq!(parse(deep(10_000).as_bytes()), Err(JsonArrayError::NotStringArray));
        assert_eq!(parse(deep(10_001).as_bytes()), Err(JsonArrayError::NotJsonArray));
        assert_eq!(parse(deep(1_000_000).as_bytes()), Err(JsonArrayError::NotJsonArray));
    }
}
