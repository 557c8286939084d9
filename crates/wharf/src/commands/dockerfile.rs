//! `wharf dockerfile parse`.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use dockerfile::{Arg, Instruction};
use serde::Serialize;

use crate::cli::{DockerfileCommand, ParseArgs, ParseFormat};
use crate::exit::Failure;

pub fn run(cmd: DockerfileCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DockerfileCommand::Parse(args) => parse(args),
    }
}

fn parse(args: ParseArgs) -> anyhow::Result<ExitCode> {
    let name = args.file.display().to_string();
    let src = if name == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        buf
    } else {
        std::fs::read(&args.file).with_context(|| format!("reading {name}"))?
    };
    let shown = if name == "-" { "<stdin>" } else { &name };
    let df = dockerfile::parse(&src).map_err(|e| {
        Failure::new(
            1,
            format!("{shown}:{}: dockerfile parse error: {}", e.line, e.message),
        )
    })?;
    for w in &df.warnings {
        eprintln!("[WARNING]: {shown}:{}: {}", w.line, w.message);
    }
    if !df.warnings.is_empty() {
        eprintln!("[WARNING]: Empty continuation lines will become errors in a future release.");
    }
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
