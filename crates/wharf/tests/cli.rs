//! The CLI's docker-compatible surface: help, version, errors, exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn wharf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wharf")).args(args).output().expect("run wharf")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version_and_help() {
    let v = wharf(&["--version"]);
    assert!(v.status.success());
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("wharf version "));
    let h = wharf(&["--help"]);
    assert!(h.status.success());
    assert!(String::from_utf8_lossy(&h.stdout).contains("Usage:"));
    let sub = wharf(&["dockerfile", "parse", "--help"]);
    assert!(sub.status.success());
    assert!(String::from_utf8_lossy(&sub.stdout).contains("--format"));
}

#[test]
fn version_and_info_with_dockers_fields() {
    let v = wharf(&["version", "--format", "{{.Server.Version}}"]);
    assert!(v.status.success(), "{}", stderr(&v));
    assert_eq!(String::from_utf8_lossy(&v.stdout).trim(), env!("CARGO_PKG_VERSION"));
    let text = String::from_utf8_lossy(&wharf(&["version"]).stdout).into_owned();
    assert!(text.starts_with("Client:\n Version:") && text.contains("\nServer:\n"), "{text}");
    let root = tempfile::tempdir().expect("tempdir");
    let root = root.path().to_str().expect("utf8");
    let i = wharf(&["--root", root, "info", "--format", "{{.Containers}} {{.Images}} {{.DockerRootDir}} {{.OSType}}"]);
    assert!(i.status.success(), "{}", stderr(&i));
    assert_eq!(String::from_utf8_lossy(&i.stdout).trim(), format!("0 0 {root} linux"));
    let cgroup = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { "2" } else { "1" };
    let i = wharf(&["--root", root, "system", "info"]);
    let text = String::from_utf8_lossy(&i.stdout).into_owned();
    assert!(text.contains(&format!("\n Cgroup Version: {cgroup}\n")), "{text}");
    assert!(text.contains("\n Containers: 0\n  Running: 0\n"), "{text}");
}

/// As docker 28's CLI: an unknown command exits 1, an unknown flag 125,
/// too few arguments 1 with the command's usage.
#[test]
fn unknown_commands_flags_and_missing_arguments_as_docker() {
    let o = wharf(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "wharf: unknown command: wharf frobnicate\n\nRun 'wharf --help' for more information\n");
    let o = wharf(&["--root", "/tmp/x", "rm"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with(
            "wharf: 'wharf rm' requires at least 1 argument\n\nUsage:  wharf rm [OPTIONS] CONTAINER [CONTAINER...]\n"
        ),
        "{}",
        stderr(&o)
    );
    let o = wharf(&["dockerfile", "parse", "--nope", "x"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("unknown flag: --nope"), "{}", stderr(&o));
    assert!(stderr(&o).contains("See 'wharf dockerfile parse --help'."), "{}", stderr(&o));
}

#[test]
fn parse_error_names_file_and_line() {
    let dir = std::env::temp_dir().join(format!("wharf-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let f = dir.join("Dockerfile");
    std::fs::write(&f, "FROM busybox\n\nENV PATH\n").expect("write");
    let o = wharf(&["dockerfile", "parse", f.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(1));
    let want = format!("{}:3:", f.display());
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));
    assert!(stderr(&o).contains("ENV must have two arguments"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn parse_reads_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["dockerfile", "parse", "--dump", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(b"FROM a\nRUN echo hi\n").expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "(from \"a\")\n(run \"echo hi\")\n");
}

fn check_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["dockerfile", "check"])
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
    child.wait_with_output().expect("wait")
}

#[test]
fn check_reports_instruction_errors_with_line() {
    let o = check_stdin(&[], "FROM a\n\nCOPY --form=x a b\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("<stdin>:3: unknown flag: form (did you mean from?)"), "{}", stderr(&o));
    let o = check_stdin(&[], "FROM a\nRUN --mount=type=nfs,target=/x true\n");
    assert!(stderr(&o).contains("<stdin>:2: unsupported mount type \"nfs\""), "{}", stderr(&o));
    let o = check_stdin(&[], "FROM a\nWORKDIR ${X:?X must be set}\n");
    assert!(stderr(&o).contains("<stdin>:2:") && stderr(&o).contains("X must be set"), "{}", stderr(&o));
}

#[test]
fn check_accepts_valid_files_and_warns_about_unused_build_args() {
    let o = check_stdin(&["--build-arg", "V=1", "--build-arg", "UNUSED=2"], "ARG V\nFROM a:$V\nARG V\nRUN echo $V\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 stage(s), 4 instruction(s): OK"));
    assert!(stderr(&o).contains("build-args [UNUSED] were not consumed"), "{}", stderr(&o));
}
