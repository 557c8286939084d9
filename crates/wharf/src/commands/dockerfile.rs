//! `wharf dockerfile parse` and `wharf dockerfile check`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use dockerfile::expand::{expand_command, platform_args, unconsumed, Scope};
use dockerfile::shell::{Lexer, ShellError};
use dockerfile::{Arg, Command, Instruction};
use serde::Serialize;

use crate::cli::{CheckArgs, DockerfileCommand, ParseArgs, ParseFormat};
use crate::exit::Failure;

pub fn run(cmd: DockerfileCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DockerfileCommand::Parse(args) => parse(args),
        DockerfileCommand::Check(args) => check(args),
    }
}

/// Reads and parses a Dockerfile (`-` = stdin); returns it and the name to
/// show in messages. Syntax errors exit 1 naming the file and line.
fn load(path: &Path) -> anyhow::Result<(dockerfile::Dockerfile, String)> {
    let name = path.display().to_string();
    let src = if name == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).context("reading standard input")?;
        buf
    } else {
        std::fs::read(path).with_context(|| format!("reading {name}"))?
    };
    let shown = if name == "-" { "<stdin>".to_owned() } else { name };
    let df = dockerfile::parse(&src)
        .map_err(|e| Failure::new(1, format!("{shown}:{}: dockerfile parse error: {}", e.line, e.message)))?;
    for w in &df.warnings {
        eprintln!("[WARNING]: {shown}:{}: {}", w.line, w.message);
    }
    if !df.warnings.is_empty() {
        eprintln!("[WARNING]: Empty continuation lines will become errors in a future release.");
    }
    Ok((df, shown))
}

fn parse(args: ParseArgs) -> anyhow::Result<ExitCode> {
    let (df, _) = load(&args.file)?;
    let mut out = std::io::stdout().lock();
    match args.format.unwrap_or(ParseFormat::Dump) {
        ParseFormat::Dump => out.write_all(df.dump().as_bytes())?,
        ParseFormat::Json => {
            let records: Vec<Record> = df.instructions.iter().map(Record::from).collect();
            serde_json::to_writer_pretty(&mut out, &records)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Everything `wharf build` checks before running anything: instructions,
/// flags, stage names, and variable expansion with the given build-args.
fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let (df, shown) = load(&args.file)?;
    let fail = |line: usize, msg: String| Failure::new(1, format!("{shown}:{line}: {msg}"));
    let st = dockerfile::stages(&df).map_err(|e| fail(e.location.start_line, e.message))?;
    let build_args = super::build::build_args(&args.build_args);
    let lex = Lexer::new(st.escape);
    let host = builder::host_platform();
    let first = st.stages.first().map_or(0, |s| s.location.start_line);
    let meta = Scope::meta(&lex, &st.meta_args, &build_args, platform_args(&host, &host))
        .map_err(|e| fail(first, e.to_string()))?;
    let mut scopes = Vec::new();
    for stage in &st.stages {
        let line = stage.location.start_line;
        lex.process_word(&stage.base, &meta).map_err(|e| fail(line, e.to_string()))?;
        let mut scope = meta.stage(Vec::new());
        for c in &stage.commands {
            check_command(&lex, &mut scope, &c.command).map_err(|e| fail(c.location.start_line, e.to_string()))?;
        }
        scopes.push(scope);
    }
    let all: Vec<&Scope> = std::iter::once(&meta).chain(scopes.iter()).collect();
    let unused = unconsumed(&build_args, &all);
    if !unused.is_empty() {
        eprintln!("[Warning] One or more build-args [{}] were not consumed", unused.join(" "));
    }
    println!("{shown}: {} stage(s), {} instruction(s): OK", st.stages.len(), df.instructions.len());
    Ok(ExitCode::SUCCESS)
}

/// Expands one command in `scope` and applies what it declares.
fn check_command(lex: &Lexer, scope: &mut Scope, cmd: &Command) -> Result<(), ShellError> {
    if let Command::Arg(decls) = cmd {
        return decls.iter().try_for_each(|d| scope.declare(lex, d));
    }
    if let Command::Env(kv) = expand_command(lex, scope, cmd)? {
        for p in kv {
            scope.set_env(p.key, p.value);
        }
    }
    Ok(())
}

/// One instruction in `--format json`: the fields of the `dockerfile`
/// Python package (which wraps BuildKit's parser), with `cmd` lower-cased.
#[derive(Serialize)]
struct Record {
    cmd: String,
    sub_cmd: Option<String>,
    json: bool,
    original: String,
    start_line: usize,
    end_line: usize,
    flags: Vec<String>,
    value: Vec<String>,
    heredocs: Vec<HeredocRecord>,
}

#[derive(Serialize)]
struct HeredocRecord {
    name: String,
    file_descriptor: u32,
    content: String,
}

impl From<&Instruction> for Record {
    fn from(ins: &Instruction) -> Self {
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        // ONBUILD reports the instruction it wraps in sub_cmd/json/value.
        let inner = ins.sub().unwrap_or(ins);
        let mut original = ins.original.clone();
        // As the Python package does: the body lines follow the instruction
        // line, each heredoc closed by its delimiter. For ONBUILD it reads
        // the wrapped node, to which BuildKit attaches no heredocs, so the
        // original stays one line; `heredocs` below still lists them all.
        if !inner.heredocs.is_empty() {
            original.push(b'\n');
            for h in &inner.heredocs {
                original.extend_from_slice(&h.content);
                original.extend_from_slice(h.name.as_bytes());
                original.push(b'\n');
            }
        }
        Record {
            cmd: ins.name(),
            sub_cmd: ins.sub().map(Instruction::name),
            json: inner.json,
            original: lossy(&original),
            start_line: ins.start_line,
            end_line: ins.end_line,
            flags: ins.flags.clone(),
            value: inner
                .args
                .iter()
                .filter_map(|a| match a {
                    Arg::Word(w) => Some(lossy(w)),
                    Arg::Sub(_) => None,
                })
                .collect(),
            heredocs: ins
                .heredocs
                .iter()
                .map(|h| HeredocRecord {
                    name: h.name.clone(),
                    file_descriptor: h.file_descriptor,
                    content: lossy(&h.content),
                })
                .collect(),
        }
    }
}
