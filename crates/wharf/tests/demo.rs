//! The user's whole story, as the README's demo runs it: make the local
//! Python base (scripts/base-images.sh, cached rootfs), build
//! examples/hello-flask on it, list it, run it detached with a published
//! port, get "hello world!" over HTTP, see it in ps and its logs, stop and
//! remove it. Needs debootstrap's mirror and PyPI (for `pip install
//! flask`) on the first run; set WHARF_SKIP_DEMO=1 to skip it elsewhere.

mod common;
use std::path::Path;
use std::process::Command;

use common::{eventually, have_runc, http_get};

#[test]
fn build_run_curl_ps_logs_stop_rm() {
    if std::env::var_os("WHARF_SKIP_DEMO").is_some() || !have_runc() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = env!("CARGO_BIN_EXE_wharf");
    let st = Command::new(repo.join("scripts/base-images.sh"))
        .arg("python")
        .env("WHARF", bin)
        .env("WHARF_ROOT", &root)
        .status()
        .expect("base-images.sh");
    assert!(st.success(), "making the Python base failed");
    let wharf = |args: &[&str]| {
        let o = Command::new(bin).arg("--root").arg(&root).args(args).output().expect("wharf");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let example = repo.join("examples/hello-flask");
    let (code, _, err) = wharf(&[
        "build",
        "-t",
        "python-hello-world",
        "--build-arg",
        "BASE=localhost/python",
        example.to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("RUN pip install flask") && err.contains("COPY app.py /app.py"), "{err}");
    let (_, ls, _) = wharf(&["image", "ls"]);
    assert!(ls.lines().any(|l| l.starts_with("python-hello-world ") && l.contains("latest")), "{ls}");
    let (code, id, err) = wharf(&["run", "-p", "15005:5000", "-d", "--name", "hello", "python-hello-world"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(id.trim().len(), 64);
    let body = eventually(|| http_get("127.0.0.1:15005"));
    assert_eq!(body.as_deref(), Some("hello world!"));
    let (_, ps, _) = wharf(&["ps"]);
    assert!(ps.contains("hello") && ps.contains("0.0.0.0:15005->5000/tcp") && ps.contains("\"python app.py\""), "{ps}");
    let (_, out, logs) = wharf(&["logs", "hello"]);
    assert!(format!("{out}{logs}").contains("\"GET / HTTP/1.0\" 200"), "{out}{logs}");
    let (code, _, err) = wharf(&["stop", "hello"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = wharf(&["rm", "hello"]);
    assert_eq!(code, 0, "{err}");
    assert!(http_get("127.0.0.1:15005").is_none());
    assert!(common::mounts_under(&root).is_empty());
}
