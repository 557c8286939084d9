//! `wharf dockerfile parse --format json` against the `dockerfile` Python
//! package, which wraps BuildKit's own Go parser (v0.12.5 in its 3.4.0
//! wheel). That version predates the ENV/LABEL separator nodes, so those
//! are dropped from wharf's `value` before comparing. Two artifacts of the
//! package's Go-to-Python bridge are also normalised: it cuts strings at a
//! NUL byte, and for ONBUILD it reads heredocs from the wrapped instruction,
//! to which BuildKit attaches none (wharf lists them; the test drops them).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn oracle_available() -> bool {
    let ok = Command::new("python3").args(["-c", "import dockerfile"]).status().is_ok_and(|s| s.success());
    if !ok && std::env::var_os("WHARF_REQUIRE_ORACLE").is_some() {
        panic!("python3 package `dockerfile` is required (scripts/test.sh installs it)");
    }
    ok
}

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn inputs() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(data().join("dockerfiles")).expect("test data").map(|e| e.expect("entry").path()).collect();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/buildkit-parser/testfiles");
    if let Ok(rd) = std::fs::read_dir(corpus) {
        files.extend(rd.map(|e| e.expect("entry").path().join("Dockerfile")));
    }
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello-flask/Dockerfile"));
    files.sort();
    files
}

fn wharf_json(file: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["dockerfile", "parse", "--format", "json"])
        .arg(file)
        .output()
        .expect("run wharf");
    if !out.status.success() {
        return serde_json::json!({ "error": String::from_utf8_lossy(&out.stderr) });
    }
    let mut v: Value = serde_json::from_slice(&out.stdout).expect("wharf prints JSON");
    for rec in v.as_array_mut().expect("array") {
        let cmd = rec["sub_cmd"].as_str().or(rec["cmd"].as_str()).unwrap_or_default().to_owned();
        if rec["cmd"] == "onbuild" {
            rec["heredocs"] = Value::Array(Vec::new());
        }
        if let Some(vals) = rec["value"].as_array_mut() {
            for v in vals.iter_mut() {
                if let Some(s) = v.as_str().and_then(|s| s.split_once('\0')) {
                    *v = Value::String(s.0.to_owned());
                }
            }
        }
        if cmd == "env" || cmd == "label" {
            let vals = rec["value"].as_array().expect("value").clone();
            let kept: Vec<Value> = vals.chunks(3).flat_map(|c| c.iter().take(2).cloned()).collect();
            rec["value"] = Value::Array(kept);
        }
    }
    v
}

fn oracle_json(file: &Path) -> Value {
    let out = Command::new("python3").arg(data().join("oracle.py")).arg(file).output().expect("run python3");
    assert!(out.status.success(), "oracle failed on {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("oracle prints JSON")
}

#[test]
fn json_output_agrees_with_buildkit_via_python_package() {
    if !oracle_available() {
        eprintln!("skipping: python3 package `dockerfile` not installed");
        return;
    }
    let mut differ = Vec::new();
    let files = inputs();
    for f in &files {
        let (ours, theirs) = (wharf_json(f), oracle_json(f));
        let both_failed = ours.get("error").is_some() && theirs.get("error").is_some();
        if !both_failed && ours != theirs {
            differ.push(format!("{}\n  wharf:  {ours}\n  oracle: {theirs}", f.display()));
        }
    }
    assert!(differ.is_empty(), "{} of {} files differ:\n{}", differ.len(), files.len(), differ.join("\n"));
}
