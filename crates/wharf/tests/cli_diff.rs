//! `alias docker=wharf`: the commands docker users type, run through
//! wharf's CLI and through docker's (the 28.x client first on PATH,
//! against the dockerd scripts/test.sh starts), scenario by scenario, and
//! compared: exit code, standard output and standard error, after
//! normalising only what must differ (IDs, the test's name prefix, times,
//! sizes, addresses, the program's own name, table padding).
//!
//! Scenarios are in `tests/data/clidiff/scenarios`:
//!
//! ```text
//! ## name                      a scenario; its lines run in order in sh,
//! ! $D run -d --name ${N}a ..  with $D the CLI and $N a unique prefix:
//! $ $D ps --format ...         `!` must succeed in both, not compared;
//! ~ $D inspect ...             `$` compared whole; `~` exit code and
//!                              stdout only (the daemon's words differ by
//!                              version: docker's 20.10 here)
//! ```
//!
//! `WHARF_CLI_DIFF_CASE=name` runs one scenario.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Env;

const IMAGE: &str = "localhost/clidiff-bb";

fn docker_ready() -> bool {
    let ok = Command::new("docker").arg("info").output().is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("WHARF_REQUIRE_DOCKER").is_none(),
        "dockerd is required (scripts/test.sh starts it)"
    );
    ok
}

struct Scenario {
    name: String,
    lines: Vec<(char, String)>,
}

fn scenarios() -> Vec<Scenario> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/clidiff/scenarios");
    let text = std::fs::read_to_string(&path).expect("scenarios");
    let mut all: Vec<Scenario> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("## ") {
            all.push(Scenario { name: name.trim().to_owned(), lines: Vec::new() });
        } else if let Some((kind @ ('!' | '$' | '~'), cmd)) = line.chars().next().map(|c| (c, &line[1..])) {
            all.last_mut().expect("a scenario first").lines.push((kind, cmd.trim().to_owned()));
        }
    }
    all
}

/// One command's result, normalised.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

struct Side {
    /// How the CLI is invoked, as $D.
    cli: String,
    prefix: String,
    work: PathBuf,
}

impl Side {
    fn run(&self, cmd: &str) -> (i32, String, String) {
        let o = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .env("D", &self.cli)
            .env("N", &self.prefix)
            .env("I", IMAGE)
            .env("W", &self.work)
            .current_dir(&self.work)
            .output()
            .expect("sh");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn cleanup(&self) {
        let p = &self.prefix;
        self.run(&format!(
            "$D rm -f $($D ps -aq --filter name={p}) >/dev/null 2>&1; \
             $D network rm $($D network ls -q --filter name={p}) >/dev/null 2>&1; \
             $D volume rm -f $($D volume ls -q --filter name={p}) >/dev/null 2>&1; \
             $D rmi -f $($D images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' | grep '^{p}') >/dev/null 2>&1; true"
        ));
    }
}

/// What must differ between two engines, made equal.
fn normalise(s: &str, prefix: &str) -> String {
    // The program's own name is the one difference kept on purpose.
    let mut s = s.replace(prefix, "<N>").replace("wharf", "docker");
    let rules: &[(&str, &str)] = &[
        (r"[0-9a-f]{64}", "<id>"),
        (r"\b[0-9a-f]{12}\b", "<id>"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", "<ts>"),
        (
            r"(Less than a second|About a minute|About an hour|an? (second|minute|hour|day)|\d+ (seconds?|minutes|hours|days|weeks|months))( ago)?",
            "<time>",
        ),
        (r"\b\d+(\.\d+)?\s?(B|kB|KB|MB|GB|KiB|MiB|GiB)\b", "<size>"),
        (r"\b(10|172)\.\d+\.\d+\.\d+\b", "<ip>"),
        (r"  +", "  "),
        (r"[ \t]+\n", "\n"),
    ];
    for (re, with) in rules {
        s = regex::Regex::new(re).expect("a regex").replace_all(&s, *with).into_owned();
    }
    s
}

fn outcome(r: (i32, String, String), prefix: &str, with_stderr: bool) -> Outcome {
    Outcome {
        code: r.0,
        stdout: normalise(&r.1, prefix),
        stderr: if with_stderr { normalise(&r.2, prefix) } else { String::new() },
    }
}

/// Runs one scenario on both sides; returns its differences.
fn differences(s: &Scenario, wharf: &Side, docker: &Side) -> Vec<String> {
    let mut found = Vec::new();
    for (kind, cmd) in &s.lines {
        let w = wharf.run(cmd);
        let d = docker.run(cmd);
        if *kind == '!' {
            for (who, r) in [("wharf", &w), ("docker", &d)] {
                if r.0 != 0 {
                    found.push(format!("{}: setup `{cmd}` failed in {who}: {}{}", s.name, r.1, r.2));
                }
            }
            continue;
        }
        let (wo, dout) = (outcome(w, &wharf.prefix, *kind == '$'), outcome(d, &docker.prefix, *kind == '$'));
        if wo != dout {
            found.push(format!("{}: `{cmd}`\n  wharf:  {wo:?}\n  docker: {dout:?}", s.name));
        }
    }
    found
}

#[test]
fn common_commands_answer_as_dockers_cli_does() {
    let Some(env) = Env::new() else { return };
    if !docker_ready() {
        return;
    }
    let tag = std::process::id();
    // A work directory each: a scenario's files are the CLI's own.
    let work = |who: &str| {
        let dir = env.path().join(format!("clidiff-{who}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    };
    let bb = env.path().join("bb.tar");
    let import = |cli: &str| {
        let cmd = format!("{cli} import -c 'CMD [\"sh\"]' -c 'ENV PATH=/bin' {} {IMAGE} >/dev/null", bb.display());
        let st = Command::new("sh").arg("-c").arg(&cmd).status().expect("sh");
        assert!(st.success(), "{cmd}");
    };
    let wharf_cli = format!("{} --root {}", env!("CARGO_BIN_EXE_wharf"), env.root().display());
    import(&wharf_cli);
    import("docker");
    let wharf = Side { cli: wharf_cli, prefix: format!("cdw{tag}"), work: work("wharf") };
    let docker = Side { cli: "docker".into(), prefix: format!("cdd{tag}"), work: work("docker") };
    let only = std::env::var("WHARF_CLI_DIFF_CASE").ok();
    let all = scenarios();
    assert!(all.len() >= 10, "scenarios read");
    let mut failed = Vec::new();
    for s in all.iter().filter(|s| only.as_ref().is_none_or(|o| *o == s.name)) {
        failed.extend(differences(s, &wharf, &docker));
        wharf.cleanup();
        docker.cleanup();
    }
    assert!(failed.is_empty(), "{} difference(s):\n{}", failed.len(), failed.join("\n"));
}
