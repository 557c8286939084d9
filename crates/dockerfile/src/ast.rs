//! The Dockerfile syntax tree, parsed exactly as BuildKit's
//! `frontend/dockerfile/parser` does, and its s-expression dump.
//!
//! Values are kept as bytes because BuildKit works on Go strings (bytes that
//! are usually UTF-8): keeping them lets the dump match BuildKit's even for
//! input that is not valid UTF-8.

use crate::gostr::{self, is_space_byte, split_ws, trim_left_space, trim_space};
use crate::json_array::{self, JsonArrayError};
use crate::shell::{Lexer, NoEnv};

/// BuildKit reads lines with a `bufio.Scanner`, whose longest line is this.
pub const MAX_LINE: usize = 65_535;

/// ONBUILD may wrap ONBUILD in the syntax tree; BuildKit's instruction layer
/// rejects any chaining, and a bound keeps recursion off the stack's edge.
const MAX_ONBUILD_DEPTH: usize = 32;

/// One argument of an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A word or string, as BuildKit splits the arguments.
    Word(Vec<u8>),
    /// The instruction wrapped by ONBUILD.
    Sub(Box<Instruction>),
}

/// A heredoc attached to RUN, COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word with quotes removed.
    pub name: String,
    /// The file descriptor before `<<` (`3<<EOF`), 0 if none.
    pub file_descriptor: u32,
    /// False if any part of the delimiter was quoted: no expansion.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body and terminator.
    pub chomp: bool,
    /// The body, every line with its newline, as written.
    pub content: Vec<u8>,
}

/// One instruction (a child of the root node in BuildKit's terms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The instruction word as written (`RUN`, `copy`, ...).
    pub cmd: Vec<u8>,
    /// The `--flags` before the arguments, quotes removed.
    pub flags: Vec<String>,
    /// The arguments as BuildKit's line parser for `cmd` splits them.
    pub args: Vec<Arg>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// The instruction line, continuations joined.
    pub original: Vec<u8>,
    /// First line (1-based).
    pub start_line: usize,
    /// Last line consumed, including continuation and heredoc lines.
    pub end_line: usize,
    /// Heredoc bodies, in the order their delimiters appear.
    pub heredocs: Vec<Heredoc>,
}

impl Instruction {
    /// The instruction word in lower case.
    pub fn name(&self) -> String {
        gostr::to_string_lossy(&gostr::to_lower(&self.cmd))
    }

    /// The instruction ONBUILD wraps, if this is ONBUILD with an argument.
    pub fn sub(&self) -> Option<&Instruction> {
        match self.args.first() {
            Some(Arg::Sub(i)) => Some(i),
            _ => None,
        }
    }

    /// The word arguments (for ONBUILD: none; see [`Instruction::sub`]).
    pub fn words(&self) -> impl Iterator<Item = &[u8]> {
        self.args.iter().filter_map(|a| match a {
            Arg::Word(w) => Some(w.as_slice()),
            Arg::Sub(_) => None,
        })
    }

    /// BuildKit's `Node.Dump()` of this instruction.
    pub fn dump(&self) -> String {
        let mut s = gostr::to_string_lossy(&gostr::to_lower(&self.cmd));
        if !self.flags.is_empty() {
            s.push_str(" [");
            for (i, f) in self.flags.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                gostr::quote_into(&mut s, f.as_bytes());
            }
            s.push(']');
        }
        for a in &self.args {
            s.push(' ');
            match a {
                Arg::Word(w) => gostr::quote_into(&mut s, w),
                Arg::Sub(i) => {
                    s.push('(');
                    s.push_str(&i.dump());
                    s.push(')');
                }
            }
        }
        let t = trim_space(s.as_bytes());
        if t.len() == s.len() {
            s
        } else {
            gostr::to_string_lossy(t)
        }
    }
}

/// A parser directive from the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// `syntax`, `escape` or `check` (lower case).
    pub name: String,
    /// Its value.
    pub value: String,
    /// Its line (1-based).
    pub line: usize,
}

/// A non-fatal finding, such as an empty continuation line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// One-line description, BuildKit's wording.
    pub message: String,
    /// The line it concerns (1-based).
    pub line: usize,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The instructions in order.
    pub instructions: Vec<Instruction>,
    /// The parser directives found at the top.
    pub directives: Vec<Directive>,
    /// The escape character in force (`\` or `` ` ``).
    pub escape: u8,
    /// Warnings, in order.
    pub warnings: Vec<Warning>,
}

impl Dockerfile {
    /// BuildKit's `Node.Dump()` of the root node, plus the newline the
    /// conformance corpus's `result` files end with.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for i in &self.instructions {
            s.push('(');
            s.push_str(&i.dump());
            s.push_str(")\n");
        }
        s
    }

    /// The first and last line of the instructions.
    pub fn lines(&self) -> (usize, usize) {
        let start = self.instructions.first().map_or(0, |i| i.start_line);
        let end = self.instructions.last().map_or(0, |i| i.end_line);
        (start, end)
    }
}

/// Why a Dockerfile could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    /// What is wrong, in BuildKit's words.
    pub message: String,
    /// First line of the offending text (1-based; 0 if the file is empty).
    pub line: usize,
    /// Last line of the offending text.
    pub end_line: usize,
}

impl SyntaxError {
    fn new(message: impl Into<String>, line: usize, end_line: usize) -> Self {
        SyntaxError { message: message.into(), line, end_line: end_line.max(line) }
    }
}

/// Splits input into lines with their `\n`, stopping (like Go's
/// `bufio.Scanner`) at a line longer than [`MAX_LINE`].
struct Lines<'a> {
    src: &'a [u8],
    pos: usize,
    too_long: bool,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.src.len() || self.too_long {
            return None;
        }
        let rest = &self.src[self.pos..];
        let (len, content) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, i),
            None => (rest.len(), rest.len()),
        };
        if content > MAX_LINE {
            self.too_long = true;
            return None;
        }
        self.pos += len;
        Some(&rest[..len])
    }
}

/// Directive parsing and the escape character.
struct Directives {
    escape: u8,
    done: bool,
    found: Vec<Directive>,
}

impl Directives {
    /// Looks for `# name=value` while directives are still allowed.
    fn check(&mut self, token: &[u8], line: usize) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = token.strip_prefix(b"#").and_then(|r| match_directive(trim_left_space(r))) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.found.iter().any(|d| d.name == key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        if key == "escape" {
            match value.as_str() {
                "\\" | "`" => self.escape = value.as_bytes()[0],
                _ => return Err(format!("invalid escape token '{value}' does not match ` or \\")),
            }
        }
        self.found.push(Directive { name: key, value, line });
        Ok(())
    }
}

/// BuildKit's `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`, where `\s` is
/// `[\t\n\f\r ]`.
fn match_directive(s: &[u8]) -> Option<(String, String)> {
    let is_s = |b: u8| matches!(b, b'\t' | b'\n' | 0x0C | b'\r' | b' ');
    let key_len = s.iter().take_while(|b| b.is_ascii_alphanumeric()).count();
    if key_len == 0 || !s[0].is_ascii_alphabetic() {
        return None;
    }
    let mut i = key_len;
    while i < s.len() && is_s(s[i]) {
        i += 1;
    }
    if s.get(i) != Some(&b'=') {
        return None;
    }
    let after_eq = i + 1;
    i = after_eq;
    while i < s.len() && is_s(s[i]) {
        i += 1;
    }
    let value = if i == s.len() {
        // `.+?` takes one character back from the greedy `\s*`.
        if i == after_eq {
            return None;
        }
        &s[i - 1..i]
    } else {
        let mut end = s.len();
        while end > i && is_s(s[end - 1]) {
            end -= 1;
        }
        &s[i..end]
    };
    Some((String::from_utf8_lossy(&s[..key_len]).into_owned(), gostr::to_string_lossy(value)))
}

fn trim_newline(b: &[u8]) -> &[u8] {
    let mut end = b.len();
    while end > 0 && matches!(b[end - 1], b'\r' | b'\n') {
        end -= 1;
    }
    &b[..end]
}

fn is_comment(b: &[u8]) -> bool {
    trim_left_space(b).first() == Some(&b'#')
}

/// Removes a trailing line-continuation escape (and blanks after it).
/// Returns the line and whether the instruction ends here.
fn trim_continuation(line: &[u8], escape: u8) -> (&[u8], bool) {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    if end == 0 || line[end - 1] != escape {
        return (line, true);
    }
    let esc_at = end - 1;
    if esc_at > 0 && line[esc_at - 1] == escape {
        // An escaped escape character is not a continuation.
        return (line, true);
    }
    (&line[..esc_at], false)
}

/// Parses a Dockerfile.
pub fn parse(src: &[u8]) -> Result<Dockerfile, SyntaxError> {
    Parser::new(src).run()
}

struct Parser<'a> {
    lines: Lines<'a>,
    line_no: usize,
    d: Directives,
    warnings: Vec<Warning>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a [u8]) -> Self {
        let src = src.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(src);
        Parser {
            lines: Lines { src, pos: 0, too_long: false },
            line_no: 0,
            d: Directives { escape: b'\\', done: false, found: Vec::new() },
            warnings: Vec::new(),
        }
    }

    /// Trims a physical line and checks it for a directive.
    fn process_line<'b>(&mut self, raw: &'b [u8], strip_left: bool) -> Result<&'b [u8], SyntaxError> {
        let mut token = trim_newline(raw);
        if strip_left {
            token = trim_left_space(token);
        }
        let line = self.line_no + 1;
        self.d.check(token, line).map_err(|m| SyntaxError::new(m, line, line))?;
        Ok(if is_comment(token) { &[] } else { token })
    }

    fn run(mut self) -> Result<Dockerfile, SyntaxError> {
        let mut instructions = Vec::new();
        while let Some(raw) = self.lines.next() {
            let first = self.process_line(raw, true)?;
            self.line_no += 1;
            let start = self.line_no;
            let (first, mut ended) = trim_continuation(first, self.d.escape);
            if ended && first.is_empty() {
                continue;
            }
            let mut line = first.to_vec();
            let mut empty_continuation = false;
            while !ended {
                let Some(raw) = self.lines.next() else { break };
                let cont = self.process_line(raw, false)?;
                self.line_no += 1;
                if is_comment(raw) {
                    continue;
                }
                if trim_left_space(trim_newline(cont)).is_empty() {
                    empty_continuation = true;
                    continue;
                }
                let (cont, e) = trim_continuation(cont, self.d.escape);
                ended = e;
                line.extend_from_slice(cont);
            }
            if empty_continuation {
                self.warnings.push(Warning {
                    message: format!("Empty continuation line found in: {}", gostr::to_string_lossy(&line)),
                    line: self.line_no,
                });
            }
            let mut ins =
                node_from_line(&line, self.d.escape, 0).map_err(|m| SyntaxError::new(m, start, self.line_no))?;
            self.read_heredocs(&mut ins, &line, start)?;
            ins.start_line = start;
            ins.end_line = self.line_no;
            ins.original = line;
            instructions.push(ins);
        }
        if instructions.is_empty() {
            return Err(SyntaxError::new("file with no instructions", self.line_no, self.line_no));
        }
        if self.lines.too_long {
            let l = self.line_no + 1;
            return Err(SyntaxError::new(format!("dockerfile line greater than max allowed size of {MAX_LINE}"), l, l));
        }
        Ok(Dockerfile { instructions, directives: self.d.found, escape: self.d.escape, warnings: self.warnings })
    }

    /// Reads the bodies of the heredocs the instruction line names.
    fn read_heredocs(&mut self, ins: &mut Instruction, line: &[u8], start: usize) -> Result<(), SyntaxError> {
        if !can_contain_heredoc(ins) || !line.windows(2).any(|w| w == b"<<") {
            return Ok(());
        }
        let docs = heredocs_from_line(line).map_err(|m| SyntaxError::new(m, start, self.line_no))?;
        for mut doc in docs {
            let mut terminated = false;
            for raw in self.lines.by_ref() {
                self.line_no += 1;
                let mut candidate = trim_newline(raw);
                if doc.chomp {
                    let tabs = candidate.iter().take_while(|b| **b == b'\t').count();
                    candidate = &candidate[tabs..];
                }
                if candidate == doc.name.as_bytes() {
                    terminated = true;
                    break;
                }
                doc.content.extend_from_slice(raw);
            }
            if !terminated {
                return Err(SyntaxError::new("unterminated heredoc", start, self.line_no));
            }
            ins.heredocs.push(doc);
        }
        Ok(())
    }
}

fn can_contain_heredoc(ins: &Instruction) -> bool {
    let target = if ins.cmd.eq_ignore_ascii_case(b"onbuild") { ins.sub().unwrap_or(ins) } else { ins };
    let c = &target.cmd;
    (c.eq_ignore_ascii_case(b"run") || c.eq_ignore_ascii_case(b"copy") || c.eq_ignore_ascii_case(b"add"))
        && !target.json
}

/// The instruction word lower-cased into a small buffer (no allocation on
/// the hot path); words that are not short ASCII match no instruction.
fn lower_keyword(cmd: &[u8]) -> ([u8; 12], usize) {
    let mut buf = [0u8; 12];
    if cmd.len() > buf.len() || !cmd.is_ascii() {
        return (buf, 0);
    }
    for (d, s) in buf.iter_mut().zip(cmd) {
        *d = s.to_ascii_lowercase();
    }
    (buf, cmd.len())
}

/// Finds the heredoc delimiters (`<<EOF`, `<<-"EOT"`, `3<<X`) on a line.
fn heredocs_from_line(line: &[u8]) -> Result<Vec<Heredoc>, String> {
    let mut lex = Lexer::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    let text = gostr::to_string_lossy(line);
    let words = lex.process_words(&text, &NoEnv).unwrap_or_default();
    let mut docs = Vec::new();
    for w in words {
        if let Some(doc) = parse_heredoc(&w)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// BuildKit's `ParseHeredoc`: matches `^(\d*)<<(-?)([^<]*)$` and works out
/// the delimiter name and whether the body expands variables.
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let Some(after) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match after.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, after),
    };
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let file_descriptor = word[..digits].parse().unwrap_or(0);
    let mut lex = Lexer::new('\\');
    lex.skip_unset_env = true;
    let words = lex.process_words(rest, &NoEnv).map_err(|e| e.to_string())?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw = lex.process_words(rest, &NoEnv).map_err(|e| e.to_string())?;
    if raw.len() != words.len() {
        return Err(format!("internal lexing of heredoc produced inconsistent results: {rest}"));
    }
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    let expand = quotes(&words[0]) == quotes(&raw[0]);
    Ok(Some(Heredoc { name: words[0].clone(), file_descriptor, expand, chomp, content: Vec::new() }))
}

/// BuildKit's `newNodeFromLine`: splits off the instruction word and flags
/// and dispatches the rest to the instruction's argument parser.
fn node_from_line(line: &[u8], escape: u8, depth: usize) -> Result<Instruction, String> {
    let (cmd, flags, rest) = split_command(line);
    let (buf, len) = lower_keyword(cmd);
    let lower = &buf[..len];
    let mut json = false;
    let args: Vec<Arg> = match lower {
        b"add" | b"copy" | b"volume" => maybe_json_to_list(rest, &mut json)?,
        b"arg" => words(rest, escape).into_iter().map(Arg::Word).collect(),
        b"cmd" | b"entrypoint" | b"run" | b"shell" => maybe_json(rest, &mut json)?,
        b"env" | b"label" => name_val(rest, lower, escape)?,
        b"expose" | b"from" => whitespace_delimited(rest),
        b"healthcheck" => health_config(rest, &mut json)?,
        b"maintainer" | b"stopsignal" | b"user" | b"workdir" => string_arg(rest),
        b"onbuild" => {
            if rest.is_empty() {
                Vec::new()
            } else if depth >= MAX_ONBUILD_DEPTH {
                return Err("ONBUILD nested too deeply".into());
            } else {
                vec![Arg::Sub(Box::new(node_from_line(rest, escape, depth + 1)?))]
            }
        }
        // Unknown instructions keep one empty argument, as BuildKit's
        // parseIgnore does; the instruction layer reports them.
        _ => vec![Arg::Word(Vec::new())],
    };
    Ok(Instruction {
        cmd: cmd.to_vec(),
        flags,
        args,
        json,
        // The top-level caller moves the joined line in; only ONBUILD's
        // inner instruction keeps a copy of its own text.
        original: if depth > 0 { line.to_vec() } else { Vec::new() },
        start_line: 0,
        end_line: 0,
        heredocs: Vec::new(),
    })
}

/// Splits `line` into the instruction word, its `--flags`, and the rest.
fn split_command(line: &[u8]) -> (&[u8], Vec<String>, &[u8]) {
    let line = trim_space(line);
    let is_ws = |c: &u8| matches!(c, b'\t' | 0x0B | 0x0C | b'\r' | b' ');
    let split = line.iter().position(is_ws).map(|at| {
        let rest = line[at..].iter().position(|c| !is_ws(c)).map_or(line.len(), |p| at + p);
        (&line[..at], &line[rest..])
    });
    match split {
        None => (line, Vec::new(), &[]),
        Some((cmd, rest)) => {
            let (rest, flags) = extract_flags(rest);
            (cmd, flags, trim_space(rest))
        }
    }
}

/// BuildKit's `extractBuilderFlags`: reads `--flag` words (with quotes and
/// `\` escapes) byte by byte; each byte becomes a char, as Go's
/// `rune(line[pos])` does.
fn extract_flags(line: &[u8]) -> (&[u8], Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= line.len() {
        let at_end = pos == line.len();
        let mut ch = if at_end { 0 } else { line[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if is_space_byte(ch) {
                pos += 1;
                continue;
            }
            if ch != b'-' || line.get(pos + 1) != Some(&b'-') {
                return (&line[pos..], words);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if is_space_byte(ch) {
                phase = Phase::Spaces;
                if word == "--" {
                    return (&line[pos..], words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if ch == b'\\' {
                if pos + 1 == line.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                ch = line[pos];
            }
            word.push(ch as char);
            pos += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        if ch == b'\\' {
            if pos + 1 == line.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            ch = line[pos];
        }
        word.push(ch as char);
        pos += 1;
    }
    (&[], words)
}

/// BuildKit's `parseWords`: splits on white space, keeping quotes and
/// escapes in the words.
pub(crate) fn words(rest: &[u8], escape: u8) -> Vec<Vec<u8>> {
    let mut words = Vec::new();
    let mut word: Vec<u8> = Vec::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let mut pos = 0;
    let esc = escape as char;
    let push = |w: &mut Vec<u8>, c: char| {
        let mut buf = [0u8; 4];
        w.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    };
    while pos < rest.len() {
        let (mut ch, mut w) = gostr::decode_rune(&rest[pos..]);
        if !in_word && quote.is_none() {
            if gostr::is_space(ch) {
                pos += w;
                continue;
            }
            in_word = true;
        }
        match quote {
            None => {
                if gostr::is_space(ch) {
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    in_word = false;
                    blank_ok = false;
                    pos += w;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                    blank_ok = true;
                }
                if ch == esc {
                    if pos + w == rest.len() {
                        pos += w;
                        continue;
                    }
                    push(&mut word, ch);
                    pos += w;
                    (ch, w) = gostr::decode_rune(&rest[pos..]);
                }
                push(&mut word, ch);
            }
            Some(q) => {
                if ch == q {
                    quote = None;
                }
                if ch == esc && q != '\'' {
                    if pos + w == rest.len() {
                        quote = None;
                        pos += w;
                        continue;
                    }
                    pos += w;
                    push(&mut word, ch);
                    (ch, w) = gostr::decode_rune(&rest[pos..]);
                }
                push(&mut word, ch);
            }
        }
        pos += w;
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// ENV and LABEL: `key=value ...` or the old `key value` form, as
/// key, value, separator triples.
fn name_val(rest: &[u8], lower_cmd: &[u8], escape: u8) -> Result<Vec<Arg>, String> {
    let ws = words(rest, escape);
    if ws.is_empty() {
        return Ok(Vec::new());
    }
    let key_word = gostr::to_string_lossy(&lower_cmd.to_ascii_uppercase());
    if !ws[0].contains(&b'=') {
        let parts = split_ws(rest, Some(2));
        if parts.len() < 2 {
            return Err(format!("{key_word} must have two arguments"));
        }
        return Ok(vec![Arg::Word(parts[0].to_vec()), Arg::Word(parts[1].to_vec()), Arg::Word(Vec::new())]);
    }
    let mut out = Vec::with_capacity(ws.len() * 3);
    for w in ws {
        let Some(eq) = w.iter().position(|b| *b == b'=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                gostr::quote(&w)
            ));
        };
        out.push(Arg::Word(w[..eq].to_vec()));
        out.push(Arg::Word(w[eq + 1..].to_vec()));
        out.push(Arg::Word(b"=".to_vec()));
    }
    Ok(out)
}

fn whitespace_delimited(rest: &[u8]) -> Vec<Arg> {
    if rest.is_empty() {
        return Vec::new();
    }
    split_ws(rest, None).into_iter().map(|p| Arg::Word(p.to_vec())).collect()
}

fn string_arg(rest: &[u8]) -> Vec<Arg> {
    if rest.is_empty() {
        Vec::new()
    } else {
        vec![Arg::Word(rest.to_vec())]
    }
}

const NOT_STRING_ARRAY: &str = "when using JSON array syntax, arrays must be comprised of strings only";

fn json_args(rest: &[u8], json: &mut bool) -> Result<Option<Vec<Arg>>, String> {
    match json_array::parse(trim_left_space(rest)) {
        Ok(items) => {
            *json = true;
            Ok(Some(items.into_iter().map(|s| Arg::Word(s.into_bytes())).collect()))
        }
        Err(JsonArrayError::NotStringArray) => Err(NOT_STRING_ARRAY.into()),
        Err(JsonArrayError::NotJsonArray) => Ok(None),
    }
}

fn maybe_json(rest: &[u8], json: &mut bool) -> Result<Vec<Arg>, String> {
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    Ok(json_args(rest, json)?.unwrap_or_else(|| vec![Arg::Word(rest.to_vec())]))
}

fn maybe_json_to_list(rest: &[u8], json: &mut bool) -> Result<Vec<Arg>, String> {
    Ok(json_args(rest, json)?.unwrap_or_else(|| whitespace_delimited(rest)))
}

/// HEALTHCHECK: the first word (`CMD`, `NONE`, ...) then CMD-style args.
fn health_config(rest: &[u8], json: &mut bool) -> Result<Vec<Arg>, String> {
    let sep = rest.iter().position(|b| is_space_byte(*b)).unwrap_or(rest.len());
    if sep == 0 {
        return Ok(Vec::new());
    }
    let next = rest[sep..].iter().position(|b| !is_space_byte(*b)).map_or(rest.len(), |p| sep + p);
    let mut args = vec![Arg::Word(rest[..sep].to_vec())];
    args.extend(maybe_json(&rest[next..], json)?);
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(src: &str) -> String {
        parse(src.as_bytes()).unwrap().dump()
    }

    #[test]
    fn basic_forms() {
        assert_eq!(dump("FROM a AS b\n"), "(from \"a\" \"AS\" \"b\")\n");
        assert_eq!(dump("CMD [\"a\",\"b\"]\nCMD a b\nCMD []"), "(cmd \"a\" \"b\")\n(cmd \"a b\")\n(cmd)\n");
        assert_eq!(
            dump("ENV a=1 b=\"x y\"\nENV c 1 2"),
            "(env \"a\" \"1\" \"=\" \"b\" \"\\\"x y\\\"\" \"=\")\n(env \"c\" \"1 2\" \"\")\n"
        );
        assert_eq!(dump("ONBUILD RUN --x=1 echo"), "(onbuild (run [\"--x=1\"] \"echo\"))\n");
        assert_eq!(dump("FOO bar\nHEALTHCHECK\nONBUILD"), "(foo \"\")\n(healthcheck)\n(onbuild)\n");
    }

    #[test]
    fn flags_are_byte_wise() {
        assert_eq!(dump("COPY --from=\"a b\" x y"), "(copy [\"--from=a b\"] \"x\" \"y\")\n");
        assert_eq!(dump("COPY --x=é a b"), "(copy [\"--x=Ã©\"] \"a\" \"b\")\n");
    }

    #[test]
    fn heredocs_and_lines() {
        let df = parse(b"FROM a\nRUN <<EOF cat <<-'EOT'\nx\nEOF\n\ty\n\tEOT\nRUN b\n").unwrap();
        let run = &df.instructions[1];
        assert_eq!((run.start_line, run.end_line), (2, 6));
        assert_eq!(run.heredocs.len(), 2);
        assert_eq!(run.heredocs[0].content, b"x\n");
        assert!(run.heredocs[0].expand);
        assert_eq!(run.heredocs[1].name, "EOT");
        assert!(!run.heredocs[1].expand && run.heredocs[1].chomp);
        assert_eq!(df.instructions[2].start_line, 7);
        assert_eq!(parse(b"RUN <<EOF\nx\n").unwrap_err().message, "unterminated heredoc");
    }

    #[test]
    fn directives() {
        let df = parse(b"# syntax=x\n# escape=`\nRUN a `\n b\n").unwrap();
        assert_eq!(df.escape, b'`');
        assert_eq!(df.directives.len(), 2);
        assert_eq!(df.dump(), "(run \"a  b\")\n");
        assert!(parse(b"# escape=`\n# escape=\\\nRUN a").is_err());
        assert!(parse(b"# escape=x\nRUN a").is_err());
        // Directives end at the first non-directive line.
        let df = parse(b"\n# escape=`\nRUN a `\n").unwrap();
        assert_eq!(df.escape, b'\\');
    }

    #[test]
    fn errors() {
        assert_eq!(parse(b"").unwrap_err().message, "file with no instructions");
        assert_eq!(parse(b"ENV PATH").unwrap_err().message, "ENV must have two arguments");
        assert!(parse(b"CMD [\"a\", [\"b\"]]").is_err());
        let long = format!("RUN a\nRUN {}\n", "x".repeat(70_000));
        let e = parse(long.as_bytes()).unwrap_err();
        assert_eq!((e.line, e.message.contains("65535")), (2, true));
    }
}
