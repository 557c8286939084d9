//! The builder against docker's BuildKit, case by case: each directory of
//! `tests/data/builddiff` (a Dockerfile and its context; `setup.sh` makes
//! what git cannot keep, `args` holds extra build flags one a line) is
//! built by wharf and by the dockerd that scripts/test.sh starts
//! (`DOCKER_BUILDKIT=1` with Debian's 20.10 client: BuildKit v0.8), on the
//! same base image, and the two images must agree: the config, the
//! history, and every path of the final filesystem (type, mode, owner,
//! size, content, link target, hardlinks), whiteouts applied. A case
//! named `refused-*` must be refused by both. Where current BuildKit
//! behaves otherwise than v0.8, the case holds `newer-buildkit` (why):
//! docker then builds `Dockerfile.old`, a hand-written equivalent for the
//! old BuildKit, or for a refusal only wharf is asked to refuse; when
//! that equivalent cannot have the same history texts, the case also
//! holds `ignore-history` (why) and its history is not compared. In
//! `args`, `{ctx}` is the case's context directory and `{http}` the base
//! URL of a loopback HTTP server the test runs (for `ADD <url>`).

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Debian's 20.10 client: the docker 28 client first on PATH has no
/// buildx, which BuildKit builds need there.
const DOCKER: &str = "/usr/bin/docker";

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/builddiff")
}

fn docker_ready() -> bool {
    let ok = Command::new(DOCKER).arg("info").output().is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("WHARF_REQUIRE_DOCKER").is_none(),
        "dockerd is required (scripts/test.sh starts it)"
    );
    ok
}

/// One path of an image's filesystem, as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    sha256: String,
    link: String,
}

/// What is compared of an image.
#[derive(Debug, Default)]
struct Model {
    config: Value,
    history: Vec<(String, bool)>,
    files: BTreeMap<String, Entry>,
}

/// Reads a docker archive (`docker save`, `wharf save`) of one image.
fn model(archive: &[u8]) -> Model {
    let mut members: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut tar = tar::Archive::new(archive);
    for e in tar.entries().expect("an archive") {
        let mut e = e.expect("an entry");
        let name = e.path().expect("a path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read");
        members.insert(name, data);
    }
    let manifest: Value = serde_json::from_slice(&members["manifest.json"]).expect("manifest.json");
    let config: Value =
        serde_json::from_slice(&members[manifest[0]["Config"].as_str().expect("Config")]).expect("config");
    let mut history: Vec<(String, bool)> = config["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .map(|e| {
                    (
                        e["created_by"].as_str().unwrap_or_default().to_owned(),
                        e["empty_layer"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut files = BTreeMap::new();
    let mut unchanged = Vec::new();
    for layer in manifest[0]["Layers"].as_array().expect("Layers") {
        unchanged.push(apply_layer(&members[layer.as_str().expect("a layer")], &mut files));
    }
    // dockerd 20.10 exports a step that changed nothing as a layer; current
    // BuildKit drops it and marks its history entry empty
    // (`normalizeLayersAndHistory`), as wharf does: so is the oracle's.
    let mut layers = unchanged.into_iter();
    for (_, empty) in history.iter_mut().filter(|(_, e)| !*e) {
        *empty = layers.next().unwrap_or(false);
    }
    Model { config: config["config"].clone(), history, files }
}

/// A layer over `files`: opaque directories and whiteouts first, then
/// what it adds. Whether the layer changed nothing (dockerd 20.10's
/// WORKDIR of an existing directory carries that directory unchanged; a
/// snapshotter's diff has nothing there).
fn apply_layer(bytes: &[u8], files: &mut BTreeMap<String, Entry>) -> bool {
    let (_, plain) = image::layer::decompress(bytes).expect("a layer");
    let mut tar = tar::Archive::new(plain);
    let mut added = Vec::new();
    let before = files.clone();
    for e in tar.entries().expect("a layer tar") {
        let mut e = e.expect("an entry");
        let path =
            format!("/{}", e.path().expect("a path").to_string_lossy().trim_start_matches("./").trim_end_matches('/'));
        let name = path.rsplit('/').next().unwrap_or_default().to_owned();
        let parent = path[..path.len() - name.len()].trim_end_matches('/').to_owned();
        if name == ".wh..wh..opq" {
            files.retain(|p, _| !p.starts_with(&format!("{parent}/")));
            continue;
        }
        if let Some(gone) = name.strip_prefix(".wh.") {
            let gone = format!("{parent}/{gone}");
            files.retain(|p, _| *p != gone && !p.starts_with(&format!("{gone}/")));
            continue;
        }
        let h = e.header().clone();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            tar::EntryType::Fifo => 'p',
            tar::EntryType::Char => 'c',
            tar::EntryType::Block => 'b',
            _ => 'f',
        };
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read");
        let link = e.link_name().ok().flatten().map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
        let entry = Entry {
            kind,
            mode: h.mode().unwrap_or(0) & 0o7777,
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            size: data.len() as u64,
            sha256: hex::encode(Sha256::digest(&data)),
            link: if kind == 'h' { format!("/{}", link.trim_start_matches("./")) } else { link },
        };
        added.push((if path == "/." { "/".to_owned() } else { path }, entry));
    }
    files.extend(added);
    *files == before
}

/// Builds `ctx` with docker's BuildKit; the saved image, or the error.
fn docker_build(ctx: &Path, tag: &str, args: &[String]) -> Result<Vec<u8>, String> {
    let old = ctx.join("Dockerfile.old");
    let file = if old.exists() { old } else { ctx.join("Dockerfile") };
    let o = Command::new(DOCKER)
        .env("DOCKER_BUILDKIT", "1")
        .args(["build", "-q", "-t", tag, "-f"])
        .arg(file)
        .args(args)
        .arg(ctx)
        .output()
        .expect("docker build");
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    let o = Command::new(DOCKER).args(["save", tag]).output().expect("docker save");
    assert!(o.status.success(), "docker save: {}", String::from_utf8_lossy(&o.stderr));
    Ok(o.stdout)
}

fn wharf_build(env: &common::Env, ctx: &Path, tag: &str, args: &[String]) -> Result<Vec<u8>, String> {
    let mut argv: Vec<&str> = vec!["build", "-q", "-t", tag];
    argv.extend(args.iter().map(String::as_str));
    argv.push(ctx.to_str().expect("utf-8"));
    let (code, _, err) = env.out(&argv);
    if code != 0 {
        return Err(err);
    }
    let o = env.wharf(&["save", tag]);
    assert!(o.status.success(), "wharf save: {}", String::from_utf8_lossy(&o.stderr));
    Ok(o.stdout)
}

/// The config fields compared (docker's names).
const CONFIG_KEYS: &[&str] = &[
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "Healthcheck",
    "Shell",
    "OnBuild",
];

/// An empty list or map reads as absent: BuildKit and docker write
/// either for "none".
fn config_field(cfg: &Value, key: &str) -> Value {
    match &cfg[key] {
        Value::Array(a) if a.is_empty() => Value::Null,
        Value::Object(o) if o.is_empty() => Value::Null,
        Value::String(s) if s.is_empty() => Value::Null,
        v => v.clone(),
    }
}

/// Every difference between the two images, in words.
fn differences(ours: &Model, theirs: &Model, history: bool) -> Vec<String> {
    let mut out = Vec::new();
    for k in CONFIG_KEYS {
        let (a, b) = (config_field(&ours.config, k), config_field(&theirs.config, k));
        if a != b {
            out.push(format!("config {k}: wharf {a} / BuildKit {b}"));
        }
    }
    if history && ours.history != theirs.history {
        out.push(format!("history:\n  wharf    {:?}\n  BuildKit {:?}", ours.history, theirs.history));
    }
    for (path, b) in &theirs.files {
        match ours.files.get(path) {
            None => out.push(format!("{path}: missing in wharf's image ({b:?})")),
            Some(a) if a != b => out.push(format!("{path}: wharf {a:?} / BuildKit {b:?}")),
            Some(_) => {}
        }
    }
    for path in ours.files.keys().filter(|p| !theirs.files.contains_key(*p)) {
        out.push(format!("{path}: only in wharf's image ({:?})", ours.files[path]));
    }
    out
}

/// The case's context, made ready in `dir`; its extra build flags
/// (`{ctx}` and `{http}` replaced).
fn prepare(case: &Path, dir: &Path, http: &str) -> Vec<String> {
    let status = Command::new("cp").arg("-a").arg(case).arg(dir).status().expect("cp");
    assert!(status.success());
    if dir.join("setup.sh").exists() {
        let ok = Command::new("sh").arg("setup.sh").current_dir(dir).status().expect("sh").success();
        assert!(ok, "{}: setup.sh failed", case.display());
        let _ = std::fs::remove_file(dir.join("setup.sh"));
    }
    let args = std::fs::read_to_string(dir.join("args")).unwrap_or_default();
    let _ = std::fs::remove_file(dir.join("args"));
    let ctx = dir.to_str().expect("utf-8");
    args.lines().filter(|l| !l.is_empty()).map(|l| l.replace("{ctx}", ctx).replace("{http}", http)).collect()
}

/// A loopback HTTP server for `ADD <url>`: every path answers the same
/// file, with a fixed Last-Modified (BuildKit takes the file's time from
/// it). Returns its base URL.
fn serve_http() -> String {
    use std::io::Write as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut conn = conn;
            let mut req = [0u8; 4096];
            let _ = conn.read(&mut req);
            let body = "served over http\n";
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

#[test]
fn every_case_builds_the_image_buildkit_builds() {
    let Some(env) = common::Env::new() else { return };
    if !docker_ready() {
        return;
    }
    // The same base image in both stores.
    let saved = env.wharf(&["save", "localhost/bb"]);
    let mut load = Command::new(DOCKER)
        .args(["load", "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("docker load");
    std::io::Write::write_all(&mut load.stdin.take().expect("stdin"), &saved.stdout).expect("write");
    assert!(load.wait().expect("docker load").success());
    let mut names: Vec<PathBuf> =
        std::fs::read_dir(cases_dir()).expect("the cases").map(|e| e.expect("entry").path()).collect();
    names.sort();
    let only = std::env::var("WHARF_BUILD_DIFF_CASE").ok();
    let http = serve_http();
    let mut failures = Vec::new();
    for case in names.iter().filter(|c| only.as_deref().is_none_or(|o| c.ends_with(o))) {
        let name = case.file_name().expect("a name").to_string_lossy().into_owned();
        let ctx = env.path().join("ctx").join(&name);
        std::fs::create_dir_all(ctx.parent().expect("parent")).expect("mkdir");
        let args = prepare(case, &ctx, &http);
        let tag = format!("wharf-builddiff-{name}");
        let theirs = docker_build(&ctx, &tag, &args);
        let ours = wharf_build(&env, &ctx, &tag, &args);
        let _ = Command::new(DOCKER).args(["rmi", "-f", &tag]).output();
        let refused = name.starts_with("refused-");
        let newer = ctx.join("newer-buildkit").exists();
        let same_history = !ctx.join("ignore-history").exists();
        match (ours, theirs) {
            (Err(_), _) if refused && newer => {}
            (Err(_), Err(_)) if refused => {}
            (Ok(_), Ok(_)) if refused => failures.push(format!("{name}: both built it; both must refuse it")),
            (Ok(a), Ok(b)) => {
                let diffs = differences(&model(&a), &model(&b), same_history);
                if !diffs.is_empty() {
                    failures.push(format!("{name}:\n    {}", diffs.join("\n    ")));
                }
            }
            (Err(e), Ok(_)) => failures.push(format!("{name}: wharf refused what BuildKit built: {e}")),
            (Ok(_), Err(e)) => failures.push(format!("{name}: wharf built what BuildKit refused: {e}")),
            (Err(a), Err(b)) => failures.push(format!("{name}: both refused\n  wharf: {a}\n  BuildKit: {b}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), names.len(), failures.join("\n"));
}
