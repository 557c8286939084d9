//! `.dockerignore` with Docker's semantics (moby/patternmatcher and
//! ignorefile): comments, `!` exceptions applied in order, `**`, a leading
//! `/` ignored, a trailing `/` cleaned away, and a path excluded when it or
//! any parent directory matches.
//!
//! Patterns are matched by a small backtracking matcher rather than a regex
//! crate: the pattern language (`*`, `?`, `**`, `[...]`, `\` escapes) is tiny
//! and needs Go `filepath.Match`-style classes that a regex crate would need
//! translating into anyway.

/// An error in a pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    #[error("illegal exclusion pattern: \"!\"")]
    BareExclusion,
    #[error("syntax error in pattern: {0}")]
    BadPattern(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**` followed by more pattern: any run of whole path elements
    /// (`(.*/)?`).
    AnyDirs,
    /// `**` at the end: anything at all.
    AnyTail,
    /// `[...]`: a class of characters (never `/`).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    exclusion: bool,
    toks: Vec<Tok>,
    /// `**` then only literal text: patternmatcher matches it as a plain
    /// string suffix (so `**foo` matches `barfoo`).
    suffix: Option<String>,
}

fn suffix_form(pattern: &str) -> Option<String> {
    let rest = pattern.strip_prefix("**")?;
    let literal = !rest.is_empty() && !rest.contains(['*', '?', '[', ']', '\\']);
    literal.then(|| rest.to_owned())
}

/// A parsed list of ignore patterns.
#[derive(Debug, Clone, Default)]
pub struct Dockerignore {
    patterns: Vec<Pattern>,
}

/// The ignore files docker looks for, in order of preference, for a
/// Dockerfile at `dockerfile` (relative to the context): the
/// Dockerfile-specific one wins over the context's `.dockerignore`.
pub fn ignore_file_names(dockerfile: &str) -> Vec<String> {
    vec![format!("{dockerfile}.dockerignore"), ".dockerignore".to_owned()]
}

impl Dockerignore {
    /// Reads the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut p = line.trim();
            if p.is_empty() {
                continue;
            }
            let invert = p.starts_with('!');
            if invert {
                p = p[1..].trim();
            }
            let mut cleaned = if p.is_empty() { String::new() } else { clean(p) };
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            lines.push(if invert { format!("!{cleaned}") } else { cleaned });
        }
        Self::from_patterns(&lines)
    }

    /// Builds a matcher from patterns as docker's patternmatcher.New does.
    pub fn from_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<Self, IgnoreError> {
        let mut out = Vec::new();
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let p = clean(p);
            let (exclusion, body) = match p.strip_prefix('!') {
                Some("") => return Err(IgnoreError::BareExclusion),
                Some(b) => (true, b.to_owned()),
                None => (false, p),
            };
            let toks = compile(&body)?;
            let suffix = suffix_form(&body);
            out.push(Pattern { text: body, exclusion, toks, suffix });
        }
        Ok(Dockerignore { patterns: out })
    }

    /// Keeps the Dockerfile and the ignore file itself in the context even
    /// when a pattern excludes them, as the docker CLI does.
    pub fn keep_build_files(&mut self, dockerfile: &str) {
        for f in [".dockerignore", dockerfile] {
            if self.excludes(f) {
                let body = clean(f);
                if let Ok(toks) = compile(&body) {
                    self.patterns.push(Pattern { text: body, exclusion: true, toks, suffix: None });
                }
            }
        }
    }

    /// True if any pattern is an `!` exception (then an excluded directory
    /// must still be walked: something inside may be re-included).
    /// Whether an exception (`!pattern`) may match something below the
    /// directory `dir`: then an excluded `dir` is still walked (and made),
    /// as BuildKit's context transfer does.
    pub fn may_reinclude_below(&self, dir: &str) -> bool {
        let dir = clean(dir);
        let depth = dir.split('/').count();
        self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            let parts: Vec<&str> = p.text.split('/').collect();
            if parts.iter().take(depth).any(|c| c.contains("**")) {
                return true;
            }
            parts.len() > depth
                && compile(&parts[..depth].join("/")).is_ok_and(|toks| {
                    Pattern { text: String::new(), exclusion: false, toks, suffix: None }.matches(&dir)
                })
        })
    }

    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// The patterns as cleaned, `!` kept.
    pub fn patterns(&self) -> Vec<String> {
        self.patterns.iter().map(|p| if p.exclusion { format!("!{}", p.text) } else { p.text.clone() }).collect()
    }

    /// Whether `path` (slash-separated, relative to the context) is
    /// excluded: it or a parent matches, and no later exception matches.
    pub fn excludes(&self, path: &str) -> bool {
        let file = clean(path);
        if file == "." {
            return false;
        }
        let parents: Vec<&str> = match file.rfind('/') {
            Some(i) => file[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = p.matches(&file);
            let mut prefix_len = 0;
            for (i, dir) in parents.iter().enumerate() {
                if m {
                    break;
                }
                prefix_len += dir.len() + usize::from(i > 0);
                m = p.matches(&file[..prefix_len]);
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        if let Some(sfx) = &self.suffix {
            return path.ends_with(sfx.as_str()) || sfx.strip_prefix('/') == Some(path);
        }
        let chars: Vec<char> = path.chars().collect();
        if chars.len() > MAX_PATH_CHARS {
            return false;
        }
        let mut failed = vec![false; (self.toks.len() + 1) * (chars.len() + 1)];
        walk(&self.toks, &chars, 0, 0, &mut failed)
    }
}

/// Anchored match of `toks[t..]` against `s[i..]`, memoizing failures.
/// Single-character tokens are looped over; only `*` and `**` recurse, and
/// [`compile`] bounds how many a pattern may have.
fn walk(toks: &[Tok], s: &[char], t: usize, i: usize, failed: &mut [bool]) -> bool {
    let (mut t, mut i) = (t, i);
    loop {
        let key = t * (s.len() + 1) + i;
        if failed[key] {
            return false;
        }
        let c = s.get(i);
        let ok = match toks.get(t) {
            None => return i == s.len(),
            Some(Tok::AnyTail) => return true,
            Some(Tok::Star | Tok::AnyDirs) => break,
            Some(Tok::Lit(l)) => c == Some(l),
            Some(Tok::One) => c.is_some_and(|c| *c != '/'),
            Some(Tok::Class { negated, ranges }) => {
                c.is_some_and(|c| *c != '/' && ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated)
            }
        };
        if !ok {
            failed[key] = true;
            return false;
        }
        t += 1;
        i += 1;
    }
    let key = t * (s.len() + 1) + i;
    let ok = if toks[t] == Tok::Star {
        let end = s[i..].iter().position(|c| *c == '/').map_or(s.len(), |p| i + p);
        (i..=end).any(|j| walk(toks, s, t + 1, j, failed))
    } else {
        walk(toks, s, t + 1, i, failed)
            || (i..s.len()).filter(|j| s[*j] == '/').any(|j| walk(toks, s, t + 1, j + 1, failed))
    };
    if !ok {
        failed[key] = true;
    }
    ok
}

/// Patterns with more wildcards than this are refused: matching recurses
/// once per wildcard.
const MAX_WILDCARDS: usize = 256;

/// Longest pattern (in tokens) and path (in characters) matched: they bound
/// the failure table at 2^24 cells. Real paths stop at PATH_MAX (4096).
const MAX_TOKENS: usize = 4096;
const MAX_PATH_CHARS: usize = 4096;

/// Translates a cleaned pattern into tokens (patternmatcher's `compile`).
fn compile(pattern: &str) -> Result<Vec<Tok>, IgnoreError> {
    let bad = || IgnoreError::BadPattern(pattern.to_owned());
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                toks.push(if i == chars.len() { Tok::AnyTail } else { Tok::AnyDirs });
            }
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::One),
            '\\' => match chars.get(i) {
                Some(n) => {
                    toks.push(Tok::Lit(*n));
                    i += 1;
                }
                None => return Err(bad()),
            },
            '[' => {
                let (tok, next) = class(&chars, i).ok_or_else(bad)?;
                toks.push(tok);
                i = next;
            }
            ']' => return Err(bad()),
            c => toks.push(Tok::Lit(c)),
        }
    }
    if toks.len() > MAX_TOKENS || toks.iter().filter(|t| matches!(t, Tok::Star | Tok::AnyDirs)).count() > MAX_WILDCARDS
    {
        return Err(bad());
    }
    Ok(toks)
}

/// Parses a `[...]` class starting after the `[`; returns the token and the
/// index after the `]`.
fn class(chars: &[char], mut i: usize) -> Option<(Tok, usize)> {
    let negated = matches!(chars.get(i), Some('^' | '!'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let read = |i: &mut usize| -> Option<char> {
        let c = *chars.get(*i)?;
        *i += 1;
        if c == '\\' {
            let e = *chars.get(*i)?;
            *i += 1;
            return Some(e);
        }
        Some(c)
    };
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Some((Tok::Class { negated, ranges }, i + 1));
        }
        if chars.get(i) == Some(&']') {
            return None; // empty class
        }
        let lo = read(&mut i)?;
        let hi = if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
            i += 1;
            read(&mut i)?
        } else {
            lo
        };
        if hi < lo {
            return None;
        }
        ranges.push((lo, hi));
    }
}

/// Go's `path.Clean`.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> Dockerignore {
        Dockerignore::parse(text).unwrap()
    }

    #[test]
    fn basics() {
        let d = ig("# comment\nnode_modules\n*.log\n/build/\ntemp?\n");
        assert!(d.excludes("node_modules"));
        assert!(d.excludes("node_modules/x/y.js"), "a parent directory matches");
        assert!(d.excludes("a.log"));
        assert!(!d.excludes("dir/a.log"), "* does not cross /");
        assert!(d.excludes("build/out"), "leading and trailing / are cleaned away");
        assert!(d.excludes("temp1"));
        assert!(!d.excludes("temp12"));
        assert!(!d.excludes("src/main.rs"));
    }

    #[test]
    fn double_star() {
        let d = ig("**/*.pyc\ndocs/**\n**/cache\n");
        assert!(d.excludes("a.pyc"));
        assert!(d.excludes("x/y/z.pyc"));
        assert!(d.excludes("docs/a/b"));
        assert!(d.excludes("cache"));
        assert!(d.excludes("deep/down/cache/file"));
        assert!(!d.excludes("docsx"));
        assert!(ig("**foo\n").excludes("barfoo"), "literal ** suffix is a string suffix");
    }

    #[test]
    fn exceptions_apply_in_order() {
        let d = ig("*.md\n!README.md\nREADME*.md\n");
        assert!(d.excludes("CHANGES.md"));
        assert!(d.excludes("README.md"), "a later pattern excludes it again");
        let d = ig("*\n!src\n");
        assert!(!d.excludes("src/lib.rs"));
        assert!(d.excludes("target/x"));
        assert!(d.has_exceptions());
        assert_eq!(Dockerignore::parse("!\n").unwrap_err(), IgnoreError::BareExclusion);
    }

    #[test]
    fn classes_and_escapes() {
        let d = ig("file[0-9].txt\n[!a]*.c\n\\*star\n");
        assert!(d.excludes("file7.txt"));
        assert!(!d.excludes("filex.txt"));
        assert!(d.excludes("b.c"));
        assert!(!d.excludes("a.c"));
        assert!(d.excludes("*star"));
        assert!(!d.excludes("xstar"));
        assert!(Dockerignore::parse("[unclosed\n").is_err());
    }

    #[test]
    fn build_files_are_kept() {
        let mut d = ig("*\n");
        d.keep_build_files("Dockerfile");
        assert!(!d.excludes("Dockerfile"));
        assert!(!d.excludes(".dockerignore"));
        assert!(d.excludes("other"));
        assert_eq!(ignore_file_names("sub/app.Dockerfile")[0], "sub/app.Dockerfile.dockerignore");
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("a//b/./c/../d/"), "a/b/d");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean(""), ".");
    }
}
