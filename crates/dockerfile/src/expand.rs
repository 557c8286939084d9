//! Variable scoping and expansion with BuildKit's rules:
//!
//! - ARGs before the first FROM ("meta args") are visible only in FROM
//!   lines, unless a stage re-declares them with `ARG NAME`.
//! - `--build-arg` overrides an ARG's default; an ARG without a default and
//!   without a build-arg is declared but unset.
//! - ENV wins over ARG of the same name.
//! - The proxy ARGs are usable without being declared; the platform ARGs
//!   (`TARGETPLATFORM`, `BUILDOS`, ...) are set in the meta scope and need a
//!   bare `ARG NAME` to be used inside a stage.
//! - Only some instructions expand variables: ADD, COPY, ENV, EXPOSE, FROM,
//!   LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG defaults, and the
//!   flags of COPY/ADD/RUN --mount. RUN, CMD, ENTRYPOINT, SHELL and
//!   HEALTHCHECK leave `$` to the shell.

use std::collections::{BTreeMap, BTreeSet};

use crate::instructions::{ArgDecl, Command, KeyValue, SourcesAndDest};
use crate::shell::{Env, Lexer, ShellError};

/// ARGs that BuildKit accepts as build-args without an ARG instruction.
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The platform the build runs on and targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: String,
}

impl Platform {
    /// `os/arch[/variant]`.
    pub fn spec(&self) -> String {
        if self.variant.is_empty() {
            format!("{}/{}", self.os, self.arch)
        } else {
            format!("{}/{}/{}", self.os, self.arch, self.variant)
        }
    }
}

/// The automatic platform ARGs for a build from `build` to `target`.
pub fn platform_args(build: &Platform, target: &Platform) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (prefix, p) in [("BUILD", build), ("TARGET", target)] {
        v.push((format!("{prefix}PLATFORM"), p.spec()));
        v.push((format!("{prefix}OS"), p.os.clone()));
        v.push((format!("{prefix}ARCH"), p.arch.clone()));
        v.push((format!("{prefix}VARIANT"), p.variant.clone()));
    }
    v
}

/// Variables visible at one point of a build. Serializable so that a
/// stage built in another process hands back what its ARGs consumed.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Scope {
    /// `--build-arg` values.
    build_args: BTreeMap<String, String>,
    /// Values ARGs fall back to when re-declared without a default: the
    /// resolved meta args and the platform args.
    globals: Vec<(String, String)>,
    /// ARGs in scope, with their values (None: declared, unset).
    args: Vec<(String, Option<String>)>,
    /// ENV in scope (image config first, then ENV instructions).
    env: Vec<(String, String)>,
    /// Build-args some ARG consumed.
    consumed: BTreeSet<String>,
}

impl Env for Scope {
    fn lookup(&self, name: &str) -> Option<&str> {
        if let Some((_, v)) = self.env.iter().rev().find(|(k, _)| k == name) {
            return Some(v);
        }
        self.args.iter().rev().find(|(k, _)| k == name).and_then(|(_, v)| v.as_deref())
    }
}

impl Scope {
    /// The meta scope: platform args plus the ARGs before the first FROM.
    pub fn meta(
        lex: &Lexer,
        meta_args: &[ArgDecl],
        build_args: &BTreeMap<String, String>,
        platform: Vec<(String, String)>,
    ) -> Result<Scope, ShellError> {
        let mut s = Scope {
            build_args: build_args.clone(),
            args: platform.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect(),
            globals: platform,
            ..Scope::default()
        };
        for decl in meta_args {
            s.declare(lex, decl)?;
        }
        s.globals = s.args.iter().filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))).collect();
        Ok(s)
    }

    /// A scope for a stage's commands: starts with the base image's ENV and
    /// only the meta scope's values as fallbacks (nothing declared yet).
    pub fn stage(&self, image_env: Vec<(String, String)>) -> Scope {
        Scope {
            build_args: self.build_args.clone(),
            globals: self.globals.clone(),
            args: Vec::new(),
            env: image_env,
            consumed: BTreeSet::new(),
        }
    }

    /// Applies `ARG name[=default]`.
    pub fn declare(&mut self, lex: &Lexer, decl: &ArgDecl) -> Result<(), ShellError> {
        let value = if let Some(v) = self.build_args.get(&decl.name) {
            self.consumed.insert(decl.name.clone());
            Some(v.clone())
        } else if let Some(d) = &decl.default {
            Some(lex.process_word(d, self)?)
        } else {
            self.globals.iter().rev().find(|(k, _)| *k == decl.name).map(|(_, v)| v.clone())
        };
        self.args.push((decl.name.clone(), value));
        Ok(())
    }

    /// Applies `ENV key=value` (already expanded).
    pub fn set_env(&mut self, key: String, value: String) {
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value));
    }

    /// The ENV in scope, in order.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The variables a RUN sees besides ENV: declared ARGs with values, and
    /// proxy build-args (which need no ARG).
    pub fn run_args(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = Vec::new();
        for (k, val) in &self.args {
            if let Some(val) = val {
                if !self.env.iter().any(|(e, _)| e == k) {
                    v.retain(|(x, _)| x != k);
                    v.push((k.clone(), val.clone()));
                }
            }
        }
        for p in PROXY_ARGS {
            if let Some(val) = self.build_args.get(*p) {
                if !v.iter().any(|(k, _)| k == p) {
                    v.push((p.to_string(), val.clone()));
                }
            }
        }
        v
    }

    /// The stage's ARGs in declaration order with the value a RUN sees
    /// (an ENV of the same name wins; none: empty), as BuildKit lists
    /// them before a RUN's command in its history.
    pub fn history_args(&self) -> Vec<(String, String)> {
        let value = |k: &String, v: &Option<String>| {
            self.env
                .iter()
                .rev()
                .find(|(e, _)| e == k)
                .map(|(_, v)| v.clone())
                .or_else(|| v.clone())
                .unwrap_or_default()
        };
        self.args.iter().map(|(k, v)| (k.clone(), value(k, v))).collect()
    }

    /// Build-args consumed by some ARG in this scope.
    pub fn consumed(&self) -> &BTreeSet<String> {
        &self.consumed
    }
}

/// Build-args that no ARG consumed (docker warns about them).
pub fn unconsumed(build_args: &BTreeMap<String, String>, scopes: &[&Scope]) -> Vec<String> {
    build_args
        .keys()
        .filter(|k| !PROXY_ARGS.contains(&k.as_str()))
        .filter(|k| !scopes.iter().any(|s| s.consumed.contains(*k)))
        .cloned()
        .collect()
}

fn kvs(lex: &Lexer, env: &dyn Env, kv: &[KeyValue]) -> Result<Vec<KeyValue>, ShellError> {
    kv.iter()
        .map(|p| Ok(KeyValue { key: lex.process_word(&p.key, env)?, value: lex.process_word(&p.value, env)? }))
        .collect()
}

fn opt(lex: &Lexer, env: &dyn Env, v: &Option<String>) -> Result<Option<String>, ShellError> {
    v.as_ref().map(|s| lex.process_word(s, env)).transpose()
}

fn all(lex: &Lexer, env: &dyn Env, v: &[String]) -> Result<Vec<String>, ShellError> {
    v.iter().map(|s| lex.process_word(s, env)).collect()
}

type CopyFields = (SourcesAndDest, Option<String>, Option<String>, Vec<String>);

/// The words COPY and ADD share: sources, destination, --chown, --chmod,
/// --exclude.
fn copy_fields(
    lex: &Lexer,
    env: &dyn Env,
    paths: &SourcesAndDest,
    chown: &Option<String>,
    chmod: &Option<String>,
    excludes: &[String],
) -> Result<CopyFields, ShellError> {
    let mut p = paths.clone();
    p.sources = all(lex, env, &p.sources)?;
    p.dest = lex.process_word(&p.dest, env)?;
    // An unquoted heredoc's text is expanded as BuildKit's ExpandRaw does:
    // variables only, quotes kept as written.
    let raw = Lexer { skip_process_quotes: true, ..*lex };
    for f in p.contents.iter_mut().filter(|f| f.expand) {
        f.data = raw.process_word(&f.data, env)?;
    }
    Ok((p, opt(lex, env, chown)?, opt(lex, env, chmod)?, all(lex, env, excludes)?))
}

/// Expands the words of `cmd` that BuildKit expands, against `env`.
/// ARG is left alone: [`Scope::declare`] expands its default.
pub fn expand_command(lex: &Lexer, env: &dyn Env, cmd: &Command) -> Result<Command, ShellError> {
    Ok(match cmd {
        Command::Env(kv) => Command::Env(kvs(lex, env, kv)?),
        Command::Label(kv) => Command::Label(kvs(lex, env, kv)?),
        Command::Expose(p) => {
            let mut ports = Vec::new();
            for w in p {
                ports.extend(lex.process_words(w, env)?);
            }
            Command::Expose(ports)
        }
        Command::Volume(v) => Command::Volume(all(lex, env, v)?),
        Command::Workdir(w) => Command::Workdir(lex.process_word(w, env)?),
        Command::User(u) => Command::User(lex.process_word(u, env)?),
        Command::StopSignal(s) => Command::StopSignal(lex.process_word(s, env)?),
        Command::Copy(c) => {
            let mut c = c.clone();
            (c.paths, c.chown, c.chmod, c.excludes) = copy_fields(lex, env, &c.paths, &c.chown, &c.chmod, &c.excludes)?;
            c.from = opt(lex, env, &c.from)?;
            Command::Copy(c)
        }
        Command::Add(a) => {
            let mut a = a.clone();
            (a.paths, a.chown, a.chmod, a.excludes) = copy_fields(lex, env, &a.paths, &a.chown, &a.chmod, &a.excludes)?;
            a.checksum = opt(lex, env, &a.checksum)?;
            Command::Add(a)
        }
        Command::Run(r) => {
            let mut r = r.clone();
            for m in &mut r.mounts {
                m.target = opt(lex, env, &m.target)?;
                m.source = opt(lex, env, &m.source)?;
                m.from = opt(lex, env, &m.from)?;
                m.id = opt(lex, env, &m.id)?;
            }
            Command::Run(r)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::stages;

    fn linux() -> Platform {
        Platform { os: "linux".into(), arch: "amd64".into(), variant: String::new() }
    }

    fn build_args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn meta_args_scope_to_from_lines() {
        let df = crate::parse(b"ARG BASE=alpine\nARG TAG=${BASE}-3\nFROM ${BASE}:${TAG}\nRUN x\n").unwrap();
        let s = stages(&df).unwrap();
        let lex = Lexer::new('\\');
        let meta = Scope::meta(&lex, &s.meta_args, &BTreeMap::new(), platform_args(&linux(), &linux())).unwrap();
        assert_eq!(lex.process_word(&s.stages[0].base, &meta).unwrap(), "alpine:alpine-3");
        // Not visible in the stage until re-declared.
        let mut stage = meta.stage(vec![]);
        assert_eq!(stage.lookup("BASE"), None);
        stage.declare(&lex, &ArgDecl { name: "BASE".into(), default: None }).unwrap();
        assert_eq!(stage.lookup("BASE"), Some("alpine"));
        stage.declare(&lex, &ArgDecl { name: "TARGETARCH".into(), default: None }).unwrap();
        assert_eq!(stage.lookup("TARGETARCH"), Some("amd64"));
    }

    #[test]
    fn build_args_env_precedence() {
        let lex = Lexer::new('\\');
        let ba = build_args(&[("V", "cli"), ("UNUSED", "x"), ("HTTP_PROXY", "http://p")]);
        let meta = Scope::meta(&lex, &[], &ba, vec![]).unwrap();
        let mut st = meta.stage(vec![("PATH".into(), "/bin".into())]);
        st.declare(&lex, &ArgDecl { name: "V".into(), default: Some("dflt".into()) }).unwrap();
        assert_eq!(st.lookup("V"), Some("cli"));
        st.set_env("V".into(), "env".into());
        assert_eq!(st.lookup("V"), Some("env"));
        assert!(st.run_args().iter().any(|(k, _)| k == "HTTP_PROXY"));
        assert!(!st.run_args().iter().any(|(k, _)| k == "V"));
        assert_eq!(unconsumed(&ba, &[&meta, &st]), vec!["UNUSED"]);
    }

    #[test]
    fn which_instructions_expand() {
        let df =
            crate::parse(b"FROM a\nENV A=1 B=\"$A x\"\nRUN echo $A\nCOPY --chown=$A $A /d/$A\nWORKDIR /w/${A:-z}\n")
                .unwrap();
        let s = stages(&df).unwrap();
        let lex = Lexer::new('\\');
        let env: Vec<(String, String)> = vec![("A".into(), "1".into())];
        let out: Vec<Command> =
            s.stages[0].commands.iter().map(|c| expand_command(&lex, &env, &c.command).unwrap()).collect();
        assert_eq!(
            out[0],
            Command::Env(vec![
                KeyValue { key: "A".into(), value: "1".into() },
                KeyValue { key: "B".into(), value: "1 x".into() }
            ])
        );
        assert_eq!(out[1], s.stages[0].commands[1].command, "RUN is left to the shell");
        let Command::Copy(c) = &out[2] else { panic!() };
        assert_eq!((c.chown.as_deref(), c.paths.sources[0].as_str(), c.paths.dest.as_str()), (Some("1"), "1", "/d/1"));
        assert_eq!(out[3], Command::Workdir("/w/1".into()));
    }
}
