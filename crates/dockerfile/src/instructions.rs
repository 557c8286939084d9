//! The typed model of every Dockerfile instruction and its flags, built from
//! the syntax tree with BuildKit's checks and error messages.
//!
//! Values are kept as written (before variable expansion): which words
//! expand, and with which variables, is decided when the builder reaches
//! the instruction (see [`crate::expand`]).

use crate::ast::{self, Dockerfile, Instruction};
use crate::flags::{Flags, Kind};
use crate::gostr;
use crate::mounts::{parse_mount, Mount};

/// Where an instruction is in the Dockerfile (1-based lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    pub start_line: usize,
    pub end_line: usize,
}

/// An instruction that is not valid, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error on line {}: {message}", .location.start_line)]
pub struct InstructionError {
    pub message: String,
    pub location: Location,
}

/// A `key=value` pair of ENV or LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// One name of an ARG instruction, with its default if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

/// A command line of RUN, CMD or ENTRYPOINT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The words: one string in shell form, the JSON elements in exec form.
    pub args: Vec<String>,
    /// Shell form: run through the stage's SHELL.
    pub prepend_shell: bool,
    /// Heredoc files attached to the line.
    pub files: Vec<InlineFile>,
}

/// A heredoc body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineFile {
    pub name: String,
    pub data: String,
    pub chomp: bool,
    pub expand: bool,
}

/// `--network` of RUN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    #[default]
    Default,
    None,
    Host,
}

/// `--security` of RUN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Security {
    #[default]
    Sandbox,
    Insecure,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandLine,
    pub mounts: Vec<Mount>,
    pub network: NetworkMode,
    pub security: Security,
}

/// Sources and destination of COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcesAndDest {
    pub sources: Vec<String>,
    /// Heredoc sources (`COPY <<EOF /dst`).
    pub contents: Vec<InlineFile>,
    pub dest: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub paths: SourcesAndDest,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub excludes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    pub paths: SourcesAndDest,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    pub excludes: Vec<String>,
}

/// HEALTHCHECK, in the image config's terms (durations in nanoseconds).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    pub interval: u64,
    pub timeout: u64,
    pub start_period: u64,
    pub start_interval: u64,
    pub retries: u32,
}

/// Every instruction that can appear inside a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(Run),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Shell(Vec<String>),
    Env(Vec<KeyValue>),
    Label(Vec<KeyValue>),
    Arg(Vec<ArgDecl>),
    Expose(Vec<String>),
    Copy(Copy),
    Add(Add),
    Workdir(String),
    User(String),
    Volume(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    /// The trigger's source text (`RUN echo hi`), run in a child build.
    Onbuild(String),
    Maintainer(String),
}

/// A command with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub command: Command,
    pub location: Location,
}

/// A build stage: FROM and the commands up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The image, stage name or `scratch` (unexpanded).
    pub base: String,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// `--platform` (unexpanded).
    pub platform: Option<String>,
    pub commands: Vec<Located>,
    pub location: Location,
}

/// A Dockerfile as stages, with the ARGs that precede the first FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stages {
    pub meta_args: Vec<ArgDecl>,
    pub stages: Vec<Stage>,
    /// The escape character in force.
    pub escape: char,
}

/// Every instruction BuildKit knows, for suggestions.
const INSTRUCTIONS: &[&str] = &[
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Builds the typed model from a parsed Dockerfile.
pub fn stages(df: &Dockerfile) -> Result<Stages, InstructionError> {
    let mut out = Stages { meta_args: Vec::new(), stages: Vec::new(), escape: df.escape as char };
    for ins in &df.instructions {
        let location = Location { start_line: ins.start_line, end_line: ins.end_line };
        let err = |message: String| InstructionError { message, location };
        if ins.name() == "from" {
            out.stages.push(parse_from(ins).map_err(err)?);
            continue;
        }
        let command = parse_command(ins).map_err(err)?;
        match out.stages.last_mut() {
            Some(stage) => stage.commands.push(Located { command, location }),
            None => match command {
                Command::Arg(decls) => out.meta_args.extend(decls),
                _ => return Err(err("no build stage in current context".into())),
            },
        }
    }
    Ok(out)
}

fn words(ins: &Instruction) -> Vec<String> {
    ins.words().map(gostr::to_string_lossy).collect()
}

fn parse_from(ins: &Instruction) -> Result<Stage, String> {
    let args = words(ins);
    let name = match args.as_slice() {
        [_] => None,
        [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
            let lower = name.to_lowercase();
            let valid = lower.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && lower.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
            if !valid {
                return Err(format!(
                    "invalid name for build stage: {}, name can't start with a number or contain symbols",
                    gostr::quote(name.as_bytes())
                ));
            }
            Some(lower)
        }
        _ => return Err("FROM requires either one or three arguments".into()),
    };
    let flags = Flags::new(&[("platform", Kind::String)]).parse(&ins.flags)?;
    Ok(Stage {
        base: args[0].clone(),
        name,
        platform: flags.string("platform"),
        commands: Vec::new(),
        location: Location { start_line: ins.start_line, end_line: ins.end_line },
    })
}

/// Parses one instruction other than FROM.
pub fn parse_command(ins: &Instruction) -> Result<Command, String> {
    let name = ins.name();
    let args = words(ins);
    let upper = name.to_uppercase();
    let no_flags = |ins: &Instruction| Flags::new(&[]).parse(&ins.flags).map(drop);
    Ok(match name.as_str() {
        "env" => {
            no_flags(ins)?;
            Command::Env(key_values(&args, "ENV")?)
        }
        "label" => {
            no_flags(ins)?;
            Command::Label(key_values(&args, "LABEL")?)
        }
        "maintainer" => {
            one_arg(&args, "MAINTAINER")?;
            no_flags(ins)?;
            Command::Maintainer(args[0].clone())
        }
        "workdir" => {
            one_arg(&args, "WORKDIR")?;
            no_flags(ins)?;
            Command::Workdir(args[0].clone())
        }
        "user" => {
            one_arg(&args, "USER")?;
            no_flags(ins)?;
            Command::User(args[0].clone())
        }
        "stopsignal" => {
            one_arg(&args, "STOPSIGNAL")?;
            no_flags(ins)?;
            Command::StopSignal(args[0].clone())
        }
        "expose" => {
            at_least_one(&args, "EXPOSE")?;
            no_flags(ins)?;
            let mut ports = args;
            ports.sort();
            Command::Expose(ports)
        }
        "volume" => {
            at_least_one(&args, "VOLUME")?;
            no_flags(ins)?;
            if args.iter().any(|v| v.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            Command::Volume(args)
        }
        "arg" => {
            at_least_one(&args, "ARG")?;
            no_flags(ins)?;
            Command::Arg(args.iter().map(|a| arg_decl(a)).collect())
        }
        "shell" => {
            no_flags(ins)?;
            if !ins.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            at_least_one(&args, "SHELL")?;
            Command::Shell(args)
        }
        "cmd" => {
            no_flags(ins)?;
            Command::Cmd(command_line(ins, args))
        }
        "entrypoint" => {
            no_flags(ins)?;
            Command::Entrypoint(command_line(ins, args))
        }
        "run" => Command::Run(parse_run(ins, args)?),
        "copy" => Command::Copy(parse_copy(ins, &args)?),
        "add" => Command::Add(parse_add(ins, &args)?),
        "healthcheck" => Command::Healthcheck(parse_healthcheck(ins, &args)?),
        "onbuild" => Command::Onbuild(parse_onbuild(ins)?),
        "from" => return Err("FROM is not a command in a stage".into()),
        _ => return Err(unknown_instruction(&upper)),
    })
}

fn unknown_instruction(upper: &str) -> String {
    let lower = upper.to_lowercase();
    let close = INSTRUCTIONS.iter().min_by_key(|k| crate::flags::edit_distance(k, &lower));
    match close {
        Some(k) if crate::flags::edit_distance(k, &lower) <= 2.max(lower.len() / 3) => {
            format!("unknown instruction: {upper} (did you mean {}?)", k.to_uppercase())
        }
        _ => format!("unknown instruction: {upper}"),
    }
}

fn at_least_one(args: &[String], cmd: &str) -> Result<(), String> {
    if args.is_empty() {
        return Err(format!("{cmd} requires at least one argument"));
    }
    Ok(())
}

fn one_arg(args: &[String], cmd: &str) -> Result<(), String> {
    if args.len() != 1 {
        return Err(format!("{cmd} requires exactly one argument"));
    }
    Ok(())
}

/// ENV/LABEL arguments come as key, value, separator triples. Values keep
/// their quotes here; they are removed by expansion, as BuildKit does.
fn key_values(args: &[String], cmd: &str) -> Result<Vec<KeyValue>, String> {
    at_least_one(args, cmd)?;
    if !args.len().is_multiple_of(3) {
        return Err(format!("Bad input to {cmd}, too many arguments"));
    }
    args.chunks(3)
        .map(|c| {
            if c[0].is_empty() {
                return Err(format!("{cmd} names can not be blank"));
            }
            Ok(KeyValue { key: c[0].clone(), value: c[1].clone() })
        })
        .collect()
}

fn arg_decl(word: &str) -> ArgDecl {
    match word.split_once('=') {
        Some((k, v)) => ArgDecl { name: k.to_owned(), default: Some(v.to_owned()) },
        None => ArgDecl { name: word.to_owned(), default: None },
    }
}

/// A heredoc body with `<<-` leading tabs already removed.
fn body(content: &[u8], chomp: bool) -> String {
    let data = gostr::to_string_lossy(content);
    if chomp {
        data.split_inclusive('\n').map(|l| l.trim_start_matches('\t')).collect()
    } else {
        data
    }
}

fn inline_files(ins: &Instruction) -> Vec<InlineFile> {
    ins.heredocs
        .iter()
        .map(|h| InlineFile { name: h.name.clone(), data: body(&h.content, h.chomp), chomp: h.chomp, expand: h.expand })
        .collect()
}

fn command_line(ins: &Instruction, args: Vec<String>) -> CommandLine {
    CommandLine { args, prepend_shell: !ins.json, files: inline_files(ins) }
}

fn parse_run(ins: &Instruction, args: Vec<String>) -> Result<Run, String> {
    let flags = Flags::new(&[("mount", Kind::Strings), ("network", Kind::String), ("security", Kind::String)])
        .parse(&ins.flags)?;
    let mounts = flags.strings("mount").iter().map(|m| parse_mount(m)).collect::<Result<Vec<_>, _>>()?;
    let network = match flags.string("network").as_deref() {
        None | Some("default") => NetworkMode::Default,
        Some("none") => NetworkMode::None,
        Some("host") => NetworkMode::Host,
        Some(other) => return Err(format!("unsupported network mode {}", gostr::quote(other.as_bytes()))),
    };
    let security = match flags.string("security").as_deref() {
        None | Some("sandbox") => Security::Sandbox,
        Some("insecure") => Security::Insecure,
        Some(other) => return Err(format!("unsupported security mode {}", gostr::quote(other.as_bytes()))),
    };
    Ok(Run { command: command_line(ins, args), mounts, network, security })
}

fn sources_and_dest(ins: &Instruction, args: &[String], cmd: &str) -> Result<SourcesAndDest, String> {
    if args.len() < 2 {
        return Err(format!(
            "{cmd} requires at least two arguments, but only one was provided. Destination could not be determined"
        ));
    }
    let (srcs, dest) = args.split_at(args.len() - 1);
    if ast::parse_heredoc(&dest[0])?.is_some() {
        return Err(format!("{cmd} cannot accept a heredoc as a destination"));
    }
    let mut sources = Vec::new();
    let mut contents = Vec::new();
    for src in srcs {
        match ast::parse_heredoc(src)? {
            Some(h) => {
                let content = ins.heredocs.iter().find(|d| d.name == h.name).map(|d| d.content.as_slice());
                let data = body(content.unwrap_or(&[]), h.chomp);
                contents.push(InlineFile { name: h.name, data, chomp: h.chomp, expand: h.expand });
            }
            None => sources.push(src.clone()),
        }
    }
    Ok(SourcesAndDest { sources, contents, dest: dest[0].clone() })
}

fn parse_copy(ins: &Instruction, args: &[String]) -> Result<Copy, String> {
    let flags = Flags::new(&[
        ("from", Kind::String),
        ("chown", Kind::String),
        ("chmod", Kind::String),
        ("link", Kind::Bool),
        ("parents", Kind::Bool),
        ("exclude", Kind::Strings),
    ])
    .parse(&ins.flags)?;
    Ok(Copy {
        paths: sources_and_dest(ins, args, "COPY")?,
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link"),
        parents: flags.bool("parents"),
        excludes: flags.strings("exclude"),
    })
}

fn parse_add(ins: &Instruction, args: &[String]) -> Result<Add, String> {
    let flags = Flags::new(&[
        ("chown", Kind::String),
        ("chmod", Kind::String),
        ("link", Kind::Bool),
        ("checksum", Kind::String),
        ("keep-git-dir", Kind::Bool),
        ("exclude", Kind::Strings),
    ])
    .parse(&ins.flags)?;
    Ok(Add {
        paths: sources_and_dest(ins, args, "ADD")?,
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link"),
        checksum: flags.string("checksum"),
        keep_git_dir: flags.bool("keep-git-dir"),
        excludes: flags.strings("exclude"),
    })
}

/// Docker's shortest healthcheck interval: 1ms.
const MIN_DURATION_NS: u64 = 1_000_000;

fn parse_healthcheck(ins: &Instruction, args: &[String]) -> Result<Healthcheck, String> {
    at_least_one(args, "HEALTHCHECK")?;
    let typ = args[0].to_uppercase();
    let rest = &args[1..];
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck { test: vec![typ], ..Default::default() });
    }
    let flags = Flags::new(&[
        ("interval", Kind::String),
        ("timeout", Kind::String),
        ("start-period", Kind::String),
        ("start-interval", Kind::String),
        ("retries", Kind::String),
    ])
    .parse(&ins.flags)?;
    if typ != "CMD" {
        return Err(format!("Unknown type {} in HEALTHCHECK (try CMD)", gostr::quote(typ.as_bytes())));
    }
    if rest.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let head = if ins.json { "CMD" } else { "CMD-SHELL" };
    let mut test = vec![head.to_owned()];
    test.extend(rest.iter().cloned());
    let interval = |name: &str| -> Result<u64, String> {
        let Some(v) = flags.string(name) else {
            return Ok(0);
        };
        let d = parse_duration(&v)?;
        if d < MIN_DURATION_NS {
            return Err(format!("Interval {} cannot be less than 1ms", gostr::quote(name.as_bytes())));
        }
        Ok(d)
    };
    let retries = match flags.string("retries") {
        None => 0,
        Some(r) => {
            let n: i64 = r
                .parse()
                .map_err(|_| format!("strconv.ParseInt: parsing {}: invalid syntax", gostr::quote(r.as_bytes())))?;
            if n < 1 {
                return Err(format!("--retries must be at least 1 (not {n})"));
            }
            u32::try_from(n).map_err(|_| format!("--retries out of range: {n}"))?
        }
    };
    Ok(Healthcheck {
        test,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries,
    })
}

/// Go's `time.ParseDuration`, in nanoseconds (negative values rejected).
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let bad = || format!("time: invalid duration {}", gostr::quote(s.as_bytes()));
    if s == "0" {
        return Ok(0);
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() || rest.starts_with('-') {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        if num.is_empty() || num == "." {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {}", gostr::quote(s.as_bytes()))),
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    gostr::quote(unit.as_bytes()),
                    gostr::quote(s.as_bytes())
                ))
            }
        };
        total += value * scale;
        rest = tail;
    }
    if total > u64::MAX as f64 / 2.0 {
        return Err(bad());
    }
    Ok(total.round() as u64)
}

fn parse_onbuild(ins: &Instruction) -> Result<String, String> {
    let Some(sub) = ins.sub() else {
        return Err("ONBUILD requires at least one argument".into());
    };
    let trigger = sub.name().to_uppercase();
    match trigger.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        "MAINTAINER" | "FROM" => return Err(format!("{trigger} isn't allowed as an ONBUILD trigger")),
        _ => {}
    }
    // The trigger's text: the original line without the ONBUILD word, with
    // heredoc bodies appended so the child build can parse it again.
    let original = gostr::to_string_lossy(&ins.original);
    let trimmed = original.trim_start();
    let mut expr = trimmed.get(7..).unwrap_or_default().trim_start().to_owned();
    for h in &ins.heredocs {
        expr.push('\n');
        expr.push_str(&gostr::to_string_lossy(&h.content));
        expr.push_str(&h.name);
    }
    Ok(expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(src: &str) -> Result<Stages, InstructionError> {
        stages(&crate::parse(src.as_bytes()).unwrap())
    }

    fn cmds(src: &str) -> Vec<Command> {
        model(src).unwrap().stages.remove(0).commands.into_iter().map(|c| c.command).collect()
    }

    fn err(src: &str) -> String {
        model(src).unwrap_err().to_string()
    }

    #[test]
    fn stages_and_meta_args() {
        let s = model("ARG A=1 B\nFROM x AS Build\nRUN a\nFROM build\n").unwrap();
        assert_eq!(s.meta_args.len(), 2);
        assert_eq!(s.stages[0].name.as_deref(), Some("build"));
        assert_eq!(s.stages[1].base, "build");
        assert_eq!(err("RUN x"), "dockerfile parse error on line 1: no build stage in current context");
        assert!(err("FROM a AS 1x").contains("invalid name for build stage"));
        assert!(err("FROM a b").contains("FROM requires either one or three arguments"));
    }

    #[test]
    fn flags_are_checked() {
        let c = cmds("FROM a\nCOPY --from=b --chmod=755 --link --parents --exclude=*.md x y /d/\n");
        let Command::Copy(c) = &c[0] else { panic!() };
        assert_eq!((c.from.as_deref(), c.link, c.parents), (Some("b"), true, true));
        assert_eq!(c.paths.sources, vec!["x", "y"]);
        assert_eq!(c.excludes, vec!["*.md"]);
        assert_eq!(
            err("FROM a\nCOPY --form=b x y"),
            "dockerfile parse error on line 2: unknown flag: form (did you mean from?)"
        );
        assert!(err("FROM a\nADD --from=b x y").contains("unknown flag: from"));
        assert!(err("FROM a\nCOPY x").contains("COPY requires at least two arguments"));
        assert!(err("FROM a\nRUN --network=bridge x").contains("unsupported network mode \"bridge\""));
        assert!(err("FROM a\nFORM b").contains("unknown instruction: FORM (did you mean FROM?)"));
    }

    #[test]
    fn run_cmd_shell_forms() {
        let c = cmds(
            "FROM a\nRUN --mount=type=cache,target=/c --network=none echo hi\nCMD [\"a\"]\nSHELL [\"sh\",\"-c\"]\n",
        );
        let Command::Run(r) = &c[0] else { panic!() };
        assert_eq!(r.command.args, vec!["echo hi"]);
        assert!(r.command.prepend_shell);
        assert_eq!(r.network, NetworkMode::None);
        assert_eq!(r.mounts.len(), 1);
        assert_eq!(c[1], Command::Cmd(CommandLine { args: vec!["a".into()], prepend_shell: false, files: vec![] }));
        assert!(err("FROM a\nSHELL sh -c").contains("SHELL requires the arguments to be in JSON form"));
    }

    #[test]
    fn healthcheck() {
        let c = cmds("FROM a\nHEALTHCHECK --interval=5s --retries=3 CMD curl -f x\nHEALTHCHECK NONE\n");
        let Command::Healthcheck(h) = &c[0] else { panic!() };
        assert_eq!(h.test, vec!["CMD-SHELL", "curl -f x"]);
        assert_eq!((h.interval, h.retries), (5_000_000_000, 3));
        assert!(matches!(&c[1], Command::Healthcheck(h) if h.test == vec!["NONE"]));
        assert!(err("FROM a\nHEALTHCHECK --interval=0s CMD x").contains("cannot be less than 1ms"));
        assert!(err("FROM a\nHEALTHCHECK --retries=0 CMD x").contains("--retries must be at least 1"));
        assert!(err("FROM a\nHEALTHCHECK FOO x").contains("Unknown type \"FOO\""));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h2m3.5s"), Ok(3_723_500_000_000));
        assert_eq!(parse_duration("300ms"), Ok(300_000_000));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn env_label_arg_onbuild() {
        let c = cmds("FROM a\nENV A=1 B=\"x y\"\nENV C d e\nLABEL k=v\nARG X Y=2\nONBUILD RUN echo hi\n");
        assert_eq!(
            c[0],
            Command::Env(vec![
                KeyValue { key: "A".into(), value: "1".into() },
                KeyValue { key: "B".into(), value: "\"x y\"".into() }
            ])
        );
        assert_eq!(c[1], Command::Env(vec![KeyValue { key: "C".into(), value: "d e".into() }]));
        assert_eq!(
            c[3],
            Command::Arg(vec![
                ArgDecl { name: "X".into(), default: None },
                ArgDecl { name: "Y".into(), default: Some("2".into()) }
            ])
        );
        assert_eq!(c[4], Command::Onbuild("RUN echo hi".into()));
        assert!(err("FROM a\nONBUILD ONBUILD RUN x").contains("Chaining ONBUILD"));
        assert!(err("FROM a\nONBUILD FROM x").contains("FROM isn't allowed as an ONBUILD trigger"));
    }

    #[test]
    fn heredoc_copy_sources() {
        let c = cmds("FROM a\nCOPY <<-EOT /x\n\thello\n\tEOT\n");
        let Command::Copy(c) = &c[0] else { panic!() };
        assert_eq!(c.paths.contents[0].data, "hello\n");
        assert!(c.paths.sources.is_empty());
        assert!(err("FROM a\nCOPY x <<EOF\nEOF\n").contains("cannot accept a heredoc as a destination"));
    }
}
