//! The CLI's docker-compatible surface: help, version, errors, exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn wharf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(args)
        .output()
        .expect("run wharf")
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
fn unknown_command_and_flag_exit_125() {
    let o = wharf(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("'frobnicate' is not a wharf command"),
        "{}",
        stderr(&o)
    );
    let o = wharf(&["dockerfile", "parse", "--nope", "x"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("unknown flag: --nope"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("See 'wharf dockerfile parse --help'."),
        "{}",
        stderr(&o)
    );
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
    assert!(
        stderr(&o).contains("ENV must have two arguments"),
        "{}",
        stderr(&o)
    );
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
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"FROM a\nRUN echo hi\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "(from \"a\")\n(run \"echo hi\")\n"
    );
}
