//! Shell-word processing and variable expansion with the semantics of
//! BuildKit's `shell.Lex`: quotes, the escape character, `$V`, `${V}` and
//! the `${V:-w}`-family of modifiers, pattern trimming and replacement.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use unicode_general_category::{get_general_category, GeneralCategory as Gc};

/// A source of variable values.
pub trait Env {
    /// The value of `name`, if it is set.
    fn lookup(&self, name: &str) -> Option<&str>;
}

impl Env for HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Env for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// `KEY=value` pairs in order; a later pair overrides an earlier one.
impl Env for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl Env for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.as_slice().lookup(name)
    }
}

/// An environment with no variables.
pub struct NoEnv;

impl Env for NoEnv {
    fn lookup(&self, _: &str) -> Option<&str> {
        None
    }
}

/// An error from processing a word, with BuildKit's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {}: {message}", crate::gostr::quote(.word.as_bytes()))]
pub struct ShellError {
    /// The word that was being processed.
    pub word: String,
    /// What is wrong with it.
    pub message: String,
}

/// The outcome of processing one word.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// The word with quotes removed and variables expanded.
    pub result: String,
    /// The same, split into words on unquoted white space.
    pub words: Vec<String>,
    /// Variables that were referenced and set.
    pub matched: BTreeSet<String>,
    /// Variables that were referenced and not set.
    pub unmatched: BTreeSet<String>,
}

/// Processes shell words like BuildKit's `shell.Lex`.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    /// The escape character (`\` or the `# escape=` directive's).
    pub escape: char,
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset_env: bool,
}

impl Lexer {
    /// A lexer with the given escape character and default options.
    pub fn new(escape: char) -> Self {
        Lexer { escape, raw_quotes: false, raw_escapes: false, skip_process_quotes: false, skip_unset_env: false }
    }

    /// Processes `word` against `env`.
    pub fn process(&self, word: &str, env: &dyn Env) -> Result<Expansion, ShellError> {
        let chars: Vec<char> = word.chars().collect();
        let mut st = State {
            lex: self,
            chars: &chars,
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            depth: 0,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        };
        match st.process_stop_on(None, self.raw_escapes) {
            Ok((result, words)) => Ok(Expansion { result, words, matched: st.matched, unmatched: st.unmatched }),
            Err(message) => Err(ShellError { word: word.to_owned(), message }),
        }
    }

    /// The expanded word, quotes removed, spaces kept.
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, ShellError> {
        self.process(word, env).map(|e| e.result)
    }

    /// The expanded word split into words.
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, ShellError> {
        self.process(word, env).map(|e| e.words)
    }
}

/// Accumulates words, splitting on unquoted white space.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

type Res<T> = Result<T, String>;

struct State<'a> {
    lex: &'a Lexer,
    chars: &'a [char],
    pos: usize,
    env: &'a dyn Env,
    raw_escapes: bool,
    /// `${` nesting depth: bounded so hostile input cannot exhaust the
    /// stack (BuildKit's Go stacks grow; ours do not).
    depth: usize,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

/// How deeply `${...}` may nest.
const MAX_NESTING: usize = 128;

/// The largest pattern-by-value table a `${v/p/r}` may need (see
/// [`Pattern`]): beyond it the substitution is refused, not slowed.
const MAX_MATCH_CELLS: usize = 1 << 26;

/// Matching recurses once per `*`; more than this many are refused.
const MAX_STARS: usize = 512;

impl State<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn get_env(&mut self, name: &str) -> Option<String> {
        match self.env.lookup(name) {
            Some(v) => {
                self.matched.insert(name.to_owned());
                Some(v.to_owned())
            }
            None => {
                self.unmatched.insert(name.to_owned());
                None
            }
        }
    }

    /// Processes until `stop` (consumed) or the end of input.
    fn process_stop_on(&mut self, stop: Option<char>, raw_escapes: bool) -> Res<(String, Vec<String>)> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let r = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Res<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            let quotes = !self.lex.skip_process_quotes;
            if ch == '$' {
                let tmp = self.process_dollar()?;
                result.push_str(&tmp);
                words.add_string(&tmp);
            } else if quotes && (ch == '\'' || ch == '"') {
                let tmp = if ch == '\'' { self.single_quote()? } else { self.double_quote()? };
                result.push_str(&tmp);
                words.add_raw_string(&tmp);
            } else {
                self.pos += 1;
                let mut ch = ch;
                if ch == self.lex.escape {
                    if self.raw_escapes {
                        words.add_raw_char(ch);
                        result.push(ch);
                    }
                    match self.next() {
                        None => break,
                        Some(c) => ch = c,
                    }
                    words.add_raw_char(ch);
                } else {
                    words.add_char(ch);
                }
                result.push(ch);
            }
        }
        if let Some(s) = stop {
            return Err(format!("unexpected end of statement while looking for matching {s}"));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> Res<String> {
        let mut out = String::new();
        let q = self.next();
        if self.lex.raw_quotes {
            out.extend(q);
        }
        loop {
            match self.next() {
                None => return Err("unexpected end of statement while looking for matching single-quote".into()),
                Some('\'') => {
                    if self.lex.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Res<String> {
        let mut out = String::new();
        let q = self.next();
        if self.lex.raw_quotes {
            out.extend(q);
        }
        loop {
            match self.peek() {
                None => return Err("unexpected end of statement while looking for matching double-quote".into()),
                Some('"') => {
                    self.pos += 1;
                    if self.lex.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    out.push_str(&v);
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            out.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                self.pos += 1;
                                ch = c;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_digit(ch) {
                while let Some(d) = self.peek().filter(|c| is_digit(*c)) {
                    self.pos += 1;
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !is_letter(ch) && !is_digit(ch) && ch != '_' {
                break;
            }
            self.pos += 1;
            name.push(ch);
        }
        name
    }

    fn process_dollar(&mut self) -> Res<String> {
        self.pos += 1; // '$'
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1; // '{'
        if self.depth >= MAX_NESTING {
            return Err("syntax error: substitutions nested too deeply".into());
        }
        self.depth += 1;
        let r = self.braced();
        self.depth -= 1;
        r
    }

    /// `${...}` after the `{`.
    fn braced(&mut self) -> Res<String> {
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.process_name();
        let ch = self.next();
        match ch {
            Some('}') => Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':') => {
                let modifier = self.next();
                self.modifier(&name, modifier, true)
            }
            Some(c @ ('+' | '-' | '?' | '#' | '%')) => self.modifier(&name, Some(c), false),
            Some('/') => self.replace(&name),
            other => Err(format!("unsupported modifier ({}) in substitution", rune_str(other))),
        }
    }

    /// `${name[:]OPword}` for OP in `+ - ? # %`.
    fn modifier(&mut self, name: &str, op: Option<char>, colon: bool) -> Res<String> {
        let chs = if colon { format!(":{}", rune_str(op)) } else { rune_str(op) };
        let raw = matches!(op, Some('#' | '%'));
        let word = match self.process_stop_on(Some('}'), raw) {
            Ok((w, _)) => w,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".into()),
            Err(e) => return Err(e),
        };
        let Some(value) = self.get_env(name) else {
            if self.lex.skip_unset_env {
                return Ok(format!("${{{name}{chs}{word}}}"));
            }
            return self.apply_unset(name, op, &chs, word);
        };
        let empty_is_unset = colon && value.is_empty();
        match op {
            Some('-') => Ok(if empty_is_unset { word } else { value }),
            Some('+') => Ok(if empty_is_unset { String::new() } else { word }),
            Some('?') if empty_is_unset => {
                let msg = if word.is_empty() { "is not allowed to be empty".to_owned() } else { word };
                Err(format!("{name}: {msg}"))
            }
            Some('?') => Ok(value),
            Some(c @ ('#' | '%')) => trim_pattern(c, &word, &value),
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    /// The modifiers applied to an unset variable.
    fn apply_unset(&self, name: &str, op: Option<char>, chs: &str, word: String) -> Res<String> {
        match op {
            Some('-') => Ok(word),
            Some('+') => Ok(String::new()),
            Some('?') => {
                let msg = if word.is_empty() { "is not allowed to be unset".to_owned() } else { word };
                Err(format!("{name}: {msg}"))
            }
            Some(c @ ('#' | '%')) => trim_pattern(c, &word, ""),
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn replace(&mut self, name: &str) -> Res<String> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = match self.process_stop_on(Some('/'), true) {
            Ok((p, _)) => p,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '/' in ${}".into()),
            Err(e) => return Err(e),
        };
        let replacement = match self.process_stop_on(Some('}'), true) {
            Ok((r, _)) => r,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".into()),
            Err(e) => return Err(e),
        };
        let value = match self.get_env(name) {
            Some(v) => v,
            None if self.lex.skip_unset_env => return Ok(format!("${{{name}/{pattern}/{replacement}}}")),
            None => String::new(),
        };
        let pat = Pattern::compile(&pattern, true)
            .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
        let v: Vec<char> = value.chars().collect();
        if all {
            pat.replace_all(&v, &replacement)
        } else {
            let mut failed = pat.memo(v.len())?;
            Ok(match pat.find(&v, 0, &mut failed) {
                Some((s, e)) => {
                    let mut out: String = v[..s].iter().collect();
                    out.push_str(&replacement);
                    out.extend(&v[e..]);
                    out
                }
                None => value,
            })
        }
    }
}

fn rune_str(c: Option<char>) -> String {
    c.unwrap_or('\u{FFFD}').to_string()
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && get_general_category(c) == Gc::DecimalNumber)
}

fn is_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || (!c.is_ascii()
            && matches!(
                get_general_category(c),
                Gc::UppercaseLetter | Gc::LowercaseLetter | Gc::TitlecaseLetter | Gc::ModifierLetter | Gc::OtherLetter
            ))
}

/// `${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}`.
fn trim_pattern(op: char, word: &str, value: &str) -> Res<String> {
    let (greedy, word) = match word.strip_prefix(op) {
        Some(rest) => (true, rest),
        None => (false, word),
    };
    let err = |e: String| format!("invalid pattern ({word}) in substitution: {e}");
    let v: Vec<char> = value.chars().collect();
    if op == '#' {
        let pat = Pattern::compile(word, greedy).map_err(err)?;
        let mut failed = pat.memo(v.len())?;
        return Ok(match pat.match_at(&v, 0, &mut failed) {
            Some(end) => v[end..].iter().collect(),
            None => value.to_owned(),
        });
    }
    // Suffix: reverse both pattern and value and trim a prefix, as BuildKit
    // does (a regular expression cannot find the shortest rightmost match).
    let mut pat = Pattern::compile(word, greedy).map_err(err)?;
    pat.tokens.reverse();
    let rv: Vec<char> = v.iter().rev().copied().collect();
    let mut failed = pat.memo(rv.len())?;
    Ok(match pat.match_at(&rv, 0, &mut failed) {
        Some(end) => rv[end..].iter().rev().collect(),
        None => value.to_owned(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Star,
    Any,
    Lit(char),
}

/// A shell wildcard pattern (`*`, `?`, `\` escapes; no bracket expressions),
/// matched with the preferences of the Go regular expression BuildKit builds
/// from it: `.` never matches a newline, stars are greedy or lazy, and the
/// first match in preference order wins. A memoized backtracking matcher is
/// used instead of a regex crate because lazy-star leftmost-first semantics
/// over these few tokens are simple to get exactly right by hand.
struct Pattern {
    tokens: Vec<Tok>,
    greedy: bool,
}

impl Pattern {
    fn compile(pattern: &str, greedy: bool) -> Result<Self, String> {
        let mut tokens = Vec::new();
        let mut it = pattern.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                '*' => tokens.push(Tok::Star),
                '?' => tokens.push(Tok::Any),
                '\\' => {
                    if matches!(it.peek(), Some('}' | '/')) {
                        continue;
                    }
                    match it.next() {
                        Some(e @ ('*' | '?' | '\\')) => tokens.push(Tok::Lit(e)),
                        other => return Err(format!("invalid escape '\\{}'", rune_str(other))),
                    }
                }
                c => tokens.push(Tok::Lit(c)),
            }
        }
        Ok(Pattern { tokens, greedy })
    }

    /// The table of failed (token, position) pairs for a value of `len`
    /// characters; shared by every start position, since whether the
    /// pattern's tail matches from a position does not depend on where the
    /// match began.
    fn memo(&self, len: usize) -> Res<Vec<bool>> {
        let cells = (self.tokens.len() + 1).saturating_mul(len + 1);
        let stars = self.tokens.iter().filter(|t| **t == Tok::Star).count();
        if cells > MAX_MATCH_CELLS || stars > MAX_STARS {
            return Err("pattern and value too large to match".into());
        }
        Ok(vec![false; cells])
    }

    /// The end of the preferred match starting at `start`, if any.
    fn match_at(&self, v: &[char], start: usize, failed: &mut [bool]) -> Option<usize> {
        self.walk(v, 0, start, failed)
    }

    fn walk(&self, v: &[char], t: usize, i: usize, failed: &mut [bool]) -> Option<usize> {
        // Iterate over the literal and `?` tokens instead of recursing, so
        // recursion depth is bounded by the number of stars.
        let (mut t, mut i) = (t, i);
        loop {
            let key = t * (v.len() + 1) + i;
            if failed[key] {
                return None;
            }
            let ok = match self.tokens.get(t) {
                None => return Some(i),
                Some(Tok::Lit(c)) => v.get(i) == Some(c),
                Some(Tok::Any) => v.get(i).is_some_and(|c| *c != '\n'),
                Some(Tok::Star) => break,
            };
            if !ok {
                failed[key] = true;
                return None;
            }
            t += 1;
            i += 1;
        }
        let key = t * (v.len() + 1) + i;
        let max = v[i..].iter().position(|c| *c == '\n').map_or(v.len(), |p| i + p);
        let r = if self.greedy {
            (i..=max).rev().find_map(|j| self.walk(v, t + 1, j, failed))
        } else {
            (i..=max).find_map(|j| self.walk(v, t + 1, j, failed))
        };
        if r.is_none() {
            failed[key] = true;
        }
        r
    }

    /// The leftmost preferred match at or after `from`.
    fn find(&self, v: &[char], from: usize, failed: &mut [bool]) -> Option<(usize, usize)> {
        (from..=v.len()).find_map(|s| self.match_at(v, s, failed).map(|e| (s, e)))
    }

    /// Go's `Regexp.ReplaceAllString`, including its `$` template expansion
    /// (the pattern has no groups, so only `$0`/`${0}` and `$$` give text).
    fn replace_all(&self, v: &[char], template: &str) -> Res<String> {
        let mut failed = self.memo(v.len())?;
        let mut out = String::new();
        let mut pos = 0;
        let mut search = 0;
        let mut last_match_end: Option<usize> = None;
        while search <= v.len() {
            let Some((s, e)) = self.find(v, search, &mut failed) else {
                break;
            };
            // Go skips an empty match right after the previous match.
            if e == s && last_match_end == Some(s) {
                search = s + 1;
                continue;
            }
            out.extend(&v[pos..s]);
            expand_template(&mut out, template, &v[s..e]);
            pos = e;
            last_match_end = Some(e);
            search = if e > s { e } else { e + 1 };
        }
        out.extend(&v[pos.min(v.len())..]);
        Ok(out)
    }
}

fn expand_template(out: &mut String, template: &str, whole: &[char]) {
    let t: Vec<char> = template.chars().collect();
    let mut i = 0;
    while i < t.len() {
        if t[i] != '$' {
            out.push(t[i]);
            i += 1;
            continue;
        }
        if t.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
            continue;
        }
        let (name, next) = if t.get(i + 1) == Some(&'{') {
            match t[i + 2..].iter().position(|c| *c == '}') {
                Some(p) => (t[i + 2..i + 2 + p].iter().collect::<String>(), i + 3 + p),
                None => (String::new(), i + 1),
            }
        } else {
            let n = t[i + 1..].iter().take_while(|c| c.is_alphanumeric() || **c == '_').count();
            (t[i + 1..i + 1 + n].iter().collect(), i + 1 + n)
        };
        let valid = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !valid {
            out.push('$');
            i += 1;
            continue;
        }
        if name.chars().all(|c| c.is_ascii_digit()) && name.parse::<usize>() == Ok(0) {
            out.extend(whole);
        }
        i = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        [("A", "hello"), ("E", ""), ("P", "/usr/local/bin/app.tar.gz"), ("S", "a b  c")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn word(s: &str) -> String {
        Lexer::new('\\').process_word(s, &env()).unwrap()
    }

    fn err(s: &str) -> String {
        Lexer::new('\\').process_word(s, &env()).unwrap_err().to_string()
    }

    #[test]
    fn plain_expansion() {
        assert_eq!(word("$A ${A} x$Ay ${A}y"), "hello hello x helloy");
        assert_eq!(word("'$A' \"$A\" \\$A"), "$A hello $A");
        assert_eq!(word("$ $1 $"), "$  $");
    }

    #[test]
    fn modifiers() {
        assert_eq!(word("${E:-w} ${E-w} ${U-w} ${U:-w}"), "w  w w");
        assert_eq!(word("${E:+w} ${E+w} ${A:+w} ${U+w}"), " w w ");
        assert_eq!(word("${A:?m}"), "hello");
        assert_eq!(err("${U?}"), "failed to process \"${U?}\": U: is not allowed to be unset");
        assert_eq!(err("${E:?oops}"), "failed to process \"${E:?oops}\": E: oops");
        assert_eq!(err("${A:-x"), "failed to process \"${A:-x\": syntax error: missing '}'");
        assert_eq!(err("${}"), "failed to process \"${}\": syntax error: bad substitution");
        assert_eq!(err("${A:=x}"), "failed to process \"${A:=x}\": unsupported modifier (:=) in substitution");
    }

    #[test]
    fn trimming() {
        assert_eq!(word("${P#*/}"), "usr/local/bin/app.tar.gz");
        assert_eq!(word("${P##*/}"), "app.tar.gz");
        assert_eq!(word("${P%.*}"), "/usr/local/bin/app.tar");
        assert_eq!(word("${P%%.*}"), "/usr/local/bin/app");
        assert_eq!(word("${P#nomatch}"), "/usr/local/bin/app.tar.gz");
    }

    #[test]
    fn replacing() {
        assert_eq!(word("${P/local/opt}"), "/usr/opt/bin/app.tar.gz");
        assert_eq!(word("${P//\\//_}"), "_usr_local_bin_app.tar.gz");
        assert_eq!(word("${A/l*/L}"), "heL");
        assert_eq!(word("${A//l/L}"), "heLLo");
        assert_eq!(word("${A//l/$$}"), "heo"); // `$$` is the unset special parameter
    }

    #[test]
    fn word_splitting() {
        let l = Lexer::new('\\');
        assert_eq!(l.process_words("a $S 'x y' \"\"", &env()).unwrap(), vec!["a", "a", "b", "c", "x y"]);
        assert_eq!(l.process_words("a\\ b", &env()).unwrap(), vec!["a b"]);
    }

    #[test]
    fn hostile_input_is_bounded() {
        let deep = "${a:-".repeat(10_000);
        assert!(Lexer::new('\\').process_word(&deep, &env()).is_err());
        let big: Vec<(String, String)> = vec![("V".into(), "x".repeat(20_000))];
        let pat = format!("${{V//{}/y}}", "*x".repeat(5_000));
        assert!(Lexer::new('\\').process_word(&pat, &big).is_err(), "refused, not quadratic");
        let ok = Lexer::new('\\').process_word("${V//x/yy}", &big).unwrap();
        assert_eq!(ok.len(), 40_000);
        let stars = format!("${{A//{}/y}}", "*".repeat(50_000));
        assert!(Lexer::new('\\').process_word(&stars, &env()).is_err());
    }

    #[test]
    fn escape_token_and_raw_modes() {
        let mut l = Lexer::new('`');
        assert_eq!(l.process_word("a`$A \\x", &env()).unwrap(), "a$A \\x");
        l.raw_quotes = true;
        l.raw_escapes = true;
        assert_eq!(l.process_word("'a' \"b\" `c", &env()).unwrap(), "'a' \"b\" `c");
        let mut s = Lexer::new('\\');
        s.skip_unset_env = true;
        assert_eq!(s.process_word("$U ${U} ${U:-x} $A", &env()).unwrap(), "$U ${U} ${U:-x} hello");
    }
}
