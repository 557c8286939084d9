//! `wharf build` through the real binary as root, on a local busybox
//! base: instructions and the image config they make, the layer cache
//! (hits, touched files, changed files, --no-cache), failures, context
//! escapes, .dockerignore, multi-stage, secrets, reproducible builds.

mod common;
use std::path::Path;

use common::Env;
use serde_json::Value;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap_or(dir)).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
}

fn context(env: &Env, name: &str, files: &[(&str, &str)]) -> String {
    let dir = env.path().join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    write(&dir, files);
    dir.display().to_string()
}

/// Builds; returns (exit code, image ID printed by -q or "", stderr).
fn build(env: &Env, args: &[&str]) -> (i32, String, String) {
    let mut a = vec!["build", "--progress", "plain"];
    a.extend_from_slice(args);
    env.out(&a)
}

fn config(env: &Env, image: &str) -> Value {
    let v: Value = serde_json::from_str(&env.ok(&["image", "inspect", image])).expect("json");
    v[0].clone()
}

#[test]
fn instructions_make_docker_config() {
    let Some(env) = Env::new() else { return };
    let ctx = context(
        &env,
        "cfg",
        &[(
            "Dockerfile",
            "FROM localhost/bb\nARG V=1\nENV A=x B=\"y z\"\nLABEL org.example.v=$V\nWORKDIR /app\nWORKDIR sub\nUSER app\nEXPOSE 5000 53/udp\nVOLUME /data\nSTOPSIGNAL SIGINT\nHEALTHCHECK --interval=5s CMD true\nENTRYPOINT [\"/bin/echo\"]\nONBUILD RUN echo child\n",
        )],
    );
    let (code, _, err) = build(&env, &["-t", "cfg", "--build-arg", "V=2", &ctx]);
    assert_eq!(code, 0, "{err}");
    let c = config(&env, "cfg");
    let cfg = &c["Config"];
    assert_eq!(cfg["Env"], serde_json::json!(["PATH=/bin", "A=x", "B=y z"]));
    assert_eq!(cfg["Labels"]["org.example.v"], "2");
    assert_eq!(cfg["WorkingDir"], "/app/sub");
    assert_eq!(cfg["User"], "app");
    assert_eq!(cfg["ExposedPorts"], serde_json::json!({"5000/tcp": {}, "53/udp": {}}));
    assert_eq!(cfg["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(cfg["StopSignal"], "SIGINT");
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/echo"]));
    // ENTRYPOINT resets the CMD inherited from the base.
    assert_eq!(cfg["Cmd"], Value::Null);
    assert_eq!(cfg["OnBuild"], serde_json::json!(["RUN echo child"]));
    // The child build runs the trigger and does not inherit it.
    let child = context(&env, "child", &[("Dockerfile", "FROM cfg\nUSER root\n")]);
    let (code, _, err) = build(&env, &["-t", "child", &child]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("child"), "ONBUILD trigger output: {err}");
    assert_eq!(config(&env, "child")["Config"]["OnBuild"], Value::Null);
    assert!(!err.contains("One or more build-args"), "V was consumed");
}

#[test]
fn run_copy_and_the_layer_cache() {
    let Some(env) = Env::new() else { return };
    let ctx = context(
        &env,
        "app",
        &[
            ("Dockerfile", "FROM localhost/bb\nRUN echo one > /one\nCOPY a.txt /app/\nCOPY dir /app/dir\nRUN cat /app/a.txt /app/dir/b.txt > /both\nCMD [\"cat\", \"/both\"]\n"),
            ("a.txt", "A\n"),
            ("dir/b.txt", "B\n"),
        ],
    );
    let (code, _, err) = build(&env, &["-t", "app", &ctx]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.ok(&["run", "--rm", "app"]), "A\nB\n");
    let first = config(&env, "app")["Id"].clone();
    assert_eq!(config(&env, "app")["RootFS"]["Layers"].as_array().map(Vec::len), Some(5), "base + 4 layers");
    // Fully cached: every step CACHED, same image.
    let (code, _, err) = build(&env, &["-t", "app", &ctx]);
    assert_eq!(code, 0);
    assert_eq!(err.matches("CACHED").count(), 4, "{err}");
    assert_eq!(config(&env, "app")["Id"], first);
    // Touched but unchanged: still cached.
    let a = Path::new(&ctx).join("a.txt");
    std::fs::write(&a, "A\n").expect("rewrite");
    let (_, _, err) = build(&env, &["-t", "app", &ctx]);
    assert_eq!(err.matches("CACHED").count(), 4, "{err}");
    // A changed byte rebuilds from that COPY on.
    std::fs::write(&a, "a\n").expect("change");
    let (code, _, err) = build(&env, &["-t", "app", &ctx]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches("CACHED").count(), 1, "{err}");
    assert_eq!(env.ok(&["run", "--rm", "app"]), "a\nB\n");
    // --no-cache runs everything.
    let (_, _, err) = build(&env, &["--no-cache", "-t", "app", &ctx]);
    assert_eq!(err.matches("CACHED").count(), 0, "{err}");
    assert!(err.contains("naming to docker.io/library/app:latest done"), "{err}");
}

#[test]
fn a_failing_step_reports_and_tags_nothing() {
    let Some(env) = Env::new() else { return };
    let ctx = context(&env, "bad", &[("Dockerfile", "FROM localhost/bb\nRUN echo about to fail; exit 7\n")]);
    let (code, _, err) = build(&env, &["-t", "bad", &ctx]);
    assert_eq!(code, 1);
    assert!(err.contains("about to fail"), "{err}");
    assert!(err.contains("did not complete successfully: exit code: 7"), "{err}");
    assert!(env.out(&["image", "inspect", "bad"]).0 != 0, "nothing tagged");
    let check = env.ok(&["system", "check"]);
    assert!(!check.contains("orphan"), "{check}");
    assert!(common::mounts_under(&env.root()).is_empty());
    let (code, _, err) =
        build(&env, &["-t", "x", &context(&env, "syntax", &[("Dockerfile", "FROM localhost/bb\nENV\n")])]);
    assert_eq!(code, 1);
    assert!(err.contains("Dockerfile:2"), "{err}");
}

#[test]
fn copy_never_reads_outside_the_context() {
    let Some(env) = Env::new() else { return };
    std::fs::write(env.path().join("secret.txt"), "outside\n").expect("write");
    let ctx = context(&env, "esc", &[("inside.txt", "inside\n")]);
    std::os::unix::fs::symlink(env.path().join("secret.txt"), Path::new(&ctx).join("link")).expect("symlink");
    // ../secret.txt is the context's own /secret.txt (absent): an error.
    write(Path::new(&ctx), &[("Dockerfile", "FROM localhost/bb\nCOPY ../secret.txt /x\n")]);
    let (code, _, err) = build(&env, &["-t", "esc", &ctx]);
    assert_eq!(code, 1);
    assert!(err.contains("not found"), "{err}");
    // A symlink to an absolute host path resolves inside the context.
    write(Path::new(&ctx), &[("Dockerfile", "FROM localhost/bb\nCOPY link /x\n")]);
    let (code, _, err) = build(&env, &["-t", "esc", &ctx]);
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("outside"), "{err}");
}

#[test]
fn dockerignore_multistage_target_and_heredocs() {
    let Some(env) = Env::new() else { return };
    let ctx = context(
        &env,
        "ms",
        &[
            (".dockerignore", "*.log\n"),
            ("keep.txt", "keep\n"),
            ("drop.log", "drop\n"),
            (
                "Dockerfile",
                "FROM localhost/bb AS builder\nCOPY . /src\nRUN ls /src > /listing\nRUN <<EOF\necho made > /artifact\nEOF\n\nFROM localhost/bb AS unused\nRUN exit 1\n\nFROM localhost/bb\nCOPY --from=builder /listing /artifact /out/\nCOPY <<EOF /greeting\nhello\nEOF\n",
            ),
        ],
    );
    let (code, _, err) = build(&env, &["-t", "ms", &ctx]);
    assert_eq!(code, 0, "unused stage skipped: {err}");
    let out = env.ok(&["run", "--rm", "ms", "cat", "/out/listing", "/out/artifact", "/greeting"]);
    assert!(out.contains("keep.txt") && !out.contains("drop.log"), "{out}");
    assert!(out.contains("Dockerfile"), "{out}");
    assert!(out.contains("made\n") && out.ends_with("hello\n"), "{out}");
    let (code, _, err) = build(&env, &["--target", "builder", "-t", "b", &ctx]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.ok(&["run", "--rm", "b", "cat", "/artifact"]), "made\n");
}

#[test]
fn secrets_stay_out_of_layers_and_epoch_builds_reproduce() {
    let Some(env) = Env::new() else { return };
    let secret = env.path().join("token");
    std::fs::write(&secret, "s3cr3t").expect("write");
    let ctx = context(
        &env,
        "sec",
        &[(
            "Dockerfile",
            "FROM localhost/bb\nRUN --mount=type=secret,id=tok cat /run/secrets/tok > /seen; echo done > /done\n",
        )],
    );
    let sec = format!("id=tok,src={}", secret.display());
    let (code, _, err) = build(&env, &["--secret", &sec, "-t", "sec", &ctx]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.ok(&["run", "--rm", "sec", "cat", "/seen"]), "s3cr3t", "the RUN saw the secret");
    let (code, _, _) = env.out(&["run", "--rm", "sec", "ls", "/run/secrets/tok"]);
    assert_ne!(code, 0, "the secret file is not in the image");
    let tar = env.path().join("sec.tar");
    env.ok(&["save", "-o", tar.to_str().unwrap_or_default(), "sec"]);
    let ctx2 = context(&env, "repro", &[("Dockerfile", "FROM localhost/bb\nRUN echo hi > /f\nCOPY Dockerfile /\n")]);
    let id = |env: &Env| {
        let o = env
            .cmd(&["build", "-q", "--no-cache", &ctx2])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .expect("build");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    let a = id(&env);
    let b = id(&env);
    assert!(a.starts_with("sha256:"), "{a}");
    assert_eq!(a, b, "same input and SOURCE_DATE_EPOCH: same image");
}

#[test]
fn stdin_dockerfile_and_tar_context_and_add_archive() {
    let Some(env) = Env::new() else { return };
    use std::io::Write;
    let ctx = context(&env, "st", &[("f.txt", "from ctx\n")]);
    let mut child = env
        .cmd(&["build", "-q", "-t", "st", "-f", "-", &ctx])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(b"FROM localhost/bb\nCOPY f.txt /\n").expect("write");
    let o = child.wait_with_output().expect("wait");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(env.ok(&["run", "--rm", "st", "cat", "/f.txt"]), "from ctx\n");
    // ADD extracts a local tarball.
    let payload = env.path().join("payload");
    write(&payload, &[("x/y.txt", "unpacked\n")]);
    let tgz = Path::new(&ctx).join("p.tar.gz");
    assert!(std::process::Command::new("tar")
        .arg("-C")
        .arg(&payload)
        .arg("-czf")
        .arg(&tgz)
        .arg("x")
        .status()
        .expect("tar")
        .success());
    write(Path::new(&ctx), &[("Dockerfile", "FROM localhost/bb\nADD p.tar.gz /opt/\n")]);
    let (code, _, err) = build(&env, &["-t", "add", &ctx]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.ok(&["run", "--rm", "add", "cat", "/opt/x/y.txt"]), "unpacked\n");
    // A tar context on stdin.
    let tar = env.path().join("ctx.tar");
    assert!(std::process::Command::new("tar")
        .arg("-C")
        .arg(&ctx)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar")
        .success());
    let o = env.cmd(&["build", "-q", "-"]).stdin(std::fs::File::open(&tar).expect("open")).output().expect("build");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_killed_build_leaves_a_store_that_check_repairs() {
    let Some(env) = Env::new() else { return };
    let ctx = context(&env, "slow", &[("Dockerfile", "FROM localhost/bb\nRUN echo started; sleep 30\n")]);
    // `kill -9` of the build process alone: a step container's init that
    // libcontainer forked but not yet started is left behind, in its own
    // session, holding the store lock; `system check` must reap it rather
    // than wait for the lock forever.
    let mut child = env.cmd(&["build", "-t", "slow", &ctx]).stderr(std::process::Stdio::null()).spawn().expect("build");
    let state = env.root().join("libcontainer");
    let running = common::eventually(|| {
        std::fs::read_dir(&state)
            .ok()?
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("wharf-build-"))
            .then_some(())
    });
    assert!(running.is_some(), "the RUN step started");
    child.kill().expect("kill -9");
    let _ = child.wait();
    let (code, out, _) = env.out(&["system", "check"]);
    assert_eq!(code, 1, "check finds the leftovers: {out}");
    assert!(out.contains("build step container") && out.contains("mount"), "{out}");
    env.ok(&["system", "check", "--repair"]);
    let out = env.ok(&["system", "check"]);
    assert!(out.contains("is consistent"), "{out}");
    assert!(common::mounts_under(&env.root()).is_empty());
    let fast = context(&env, "fast", &[("Dockerfile", "FROM localhost/bb\nRUN echo ok > /ok\n")]);
    let (code, _, err) = build(&env, &["-t", "fast", &fast]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn named_build_contexts_and_copy_exclude() {
    let Some(env) = Env::new() else { return };
    let extra = context(&env, "extra", &[("lib/x.txt", "from extra\n")]);
    let ctx = context(
        &env,
        "main",
        &[
            ("src/keep.txt", "keep\n"),
            ("src/skip.log", "skip\n"),
            ("src/sub/deep.log", "deep\n"),
            ("Dockerfile", "FROM localhost/bb\nCOPY --exclude=*.log --exclude=**/*.log src /src\nCOPY --from=extra lib/x.txt /x.txt\n"),
        ],
    );
    let bc = format!("extra={extra}");
    let (code, _, err) = build(&env, &["--build-context", &bc, "-t", "ctxs", &ctx]);
    assert_eq!(code, 0, "{err}");
    let out = env.ok(&["run", "--rm", "ctxs", "sh", "-c", "find /src -type f | sort; cat /x.txt"]);
    assert_eq!(out, "/src/keep.txt\nfrom extra\n");
    // A change in the named context invalidates its COPY.
    std::fs::write(Path::new(&extra).join("lib/x.txt"), "changed\n").expect("write");
    let (_, _, err) = build(&env, &["--build-context", &bc, "-t", "ctxs", &ctx]);
    assert_eq!(err.matches("CACHED").count(), 1, "{err}");
    assert_eq!(env.ok(&["run", "--rm", "ctxs", "cat", "/x.txt"]), "changed\n");
}

#[test]
fn add_fetches_urls_and_checks_the_checksum() {
    let Some(env) = Env::new() else { return };
    // A server on loopback (busybox httpd on the host).
    let www = env.path().join("www");
    std::fs::create_dir_all(&www).expect("mkdir");
    std::fs::write(www.join("file.txt"), "downloaded\n").expect("write");
    let port = 15207;
    let mut server = std::process::Command::new("/bin/busybox")
        .args(["httpd", "-f", "-p", &format!("127.0.0.1:{port}"), "-h"])
        .arg(&www)
        .spawn()
        .expect("httpd");
    let url = format!("http://127.0.0.1:{port}/file.txt");
    let _ = common::eventually(|| std::net::TcpStream::connect(("127.0.0.1", port)).ok());
    let good = format!("sha256:{}", sha256_hex(b"downloaded\n"));
    let df = format!("FROM localhost/bb\nADD --checksum={good} {url} /opt/\n");
    let ctx = context(&env, "url", &[("Dockerfile", &df)]);
    let (code, _, err) = build(&env, &["--network", "host", "-t", "url", &ctx]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.ok(&["run", "--rm", "url", "cat", "/opt/file.txt"]), "downloaded\n");
    assert_eq!(env.ok(&["run", "--rm", "url", "stat", "-c", "%a", "/opt/file.txt"]).trim(), "600");
    let bad = format!("FROM localhost/bb\nADD --checksum=sha256:{} {url} /opt/\n", "0".repeat(64));
    write(Path::new(&ctx), &[("Dockerfile", &bad)]);
    let (code, _, err) = build(&env, &["-t", "url2", &ctx]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(code, 1);
    assert!(err.contains("digest mismatch"), "{err}");
}

fn sha256_hex(data: &[u8]) -> String {
    let o = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().map(|mut s| s.write_all(data));
            c.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&o.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

#[test]
fn system_check_reaps_an_orphaned_process_holding_the_store_lock() {
    let Some(env) = Env::new() else { return };
    // What a build killed while libcontainer was creating a step leaves:
    // a process in a child PID namespace, orphaned, holding the lock.
    let lock = env.root().join("lock");
    let script = format!("exec 9>>{}; flock -s 9; exec sleep 300", lock.display());
    let mut holder =
        std::process::Command::new("unshare").args(["--pid", "--fork", "sh", "-c", &script]).spawn().expect("unshare");
    let held = common::eventually(|| {
        let free = std::process::Command::new("flock").args(["-n", "-x"]).arg(&lock).arg("true").status().ok()?;
        (!free.success()).then_some(())
    });
    assert!(held.is_some(), "the stand-in holds the lock");
    holder.kill().expect("orphan it");
    let _ = holder.wait();
    let o = std::process::Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_wharf"))
        .arg("--root")
        .arg(env.root())
        .args(["system", "check"])
        .output()
        .expect("check");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_ne!(o.status.code(), Some(124), "check waited for the lock: {out}");
    assert!(out.contains("killed orphaned build step process"), "{out}");
    env.ok(&["system", "check"]);
}

/// A RUN that marks `me` in a shared cache mount, then waits (at most
/// 30 s) for `other`: it passes only if the other stage runs meanwhile.
fn rendezvous(me: &str, other: &str) -> String {
    format!(
        "RUN --mount=type=cache,id=meet,target=/meet sh -c 'touch /meet/{me}; i=0; \
         while [ ! -e /meet/{other} ]; do sleep 0.1; i=$((i+1)); [ $i -lt 300 ] || exit 9; done; echo {me} > /{me}'"
    )
}

#[test]
fn independent_stages_build_concurrently_and_a_failure_cancels_the_rest() {
    let Some(env) = Env::new() else { return };
    let df = format!(
        "FROM localhost/bb AS a\n{}\n\nFROM localhost/bb AS b\n{}\n\nFROM localhost/bb\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
        rendezvous("a", "b"),
        rendezvous("b", "a")
    );
    let ctx = context(&env, "par", &[("Dockerfile", &df)]);
    let (code, _, err) = build(&env, &["-t", "par", &ctx]);
    assert_eq!(code, 0, "each stage waits for the other, so both ran at once: {err}");
    assert_eq!(env.ok(&["run", "--rm", "par", "cat", "/a", "/b"]), "a\nb\n");
    // One numbering for both stages' steps: no step number twice.
    let begun: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with('#') && l.contains(" ["))
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    let mut unique = begun.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(begun.len(), unique.len(), "{err}");

    // A failing stage stops the one running beside it (which would
    // otherwise wait its full 30 s for a mark that never comes).
    let df = format!(
        "FROM localhost/bb AS a\nRUN exit 3\n\nFROM localhost/bb AS b\n{}\n\nFROM localhost/bb\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
        rendezvous("c", "never")
    );
    let ctx = context(&env, "parfail", &[("Dockerfile", &df)]);
    let (code, _, err) = build(&env, &["-t", "parfail", &ctx]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("exit code: 3"), "{err}");
    assert!(!err.contains("exit code: 9"), "the waiting stage was cancelled, not left to time out: {err}");
    let (code, _, _) = env.out(&["image", "inspect", "parfail"]);
    assert_ne!(code, 0, "nothing tagged");
    let (code, out, err) = env.out(&["system", "check"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn copy_parents_keeps_source_paths() {
    let Some(env) = Env::new() else { return };
    let ctx = context(
        &env,
        "parents",
        &[
            ("x/a.txt", "a\n"),
            ("y/sub/b.txt", "b\n"),
            ("d/e/f.txt", "f\n"),
            ("w/v/p.json", "p\n"),
            ("x/p.json", "q\n"),
            (
                "Dockerfile",
                "FROM localhost/bb\nCOPY --parents x/a.txt y/sub/b.txt /out/\nCOPY --parents d /dir\nCOPY --parents ./w/./v/p.json /pivot/\nCOPY --parents */p.json /glob/\n",
            ),
        ],
    );
    let (code, _, err) = build(&env, &["-t", "parents", &ctx]);
    assert_eq!(code, 0, "{err}");
    let out = env.ok(&["run", "--rm", "parents", "find", "/out", "/dir", "/pivot", "/glob", "-type", "f"]);
    let mut files: Vec<&str> = out.lines().collect();
    files.sort();
    assert_eq!(files, ["/dir/d/e/f.txt", "/glob/x/p.json", "/out/x/a.txt", "/out/y/sub/b.txt", "/pivot/v/p.json"]);
}

#[test]
fn run_bind_mounts_from_stages_images_and_the_context() {
    let Some(env) = Env::new() else { return };
    let df = "FROM localhost/bb AS tools\nRUN mkdir -p /opt/t && echo tool > /opt/t/x\n\n\
              FROM localhost/bb\n\
              RUN --mount=type=bind,from=tools,source=/opt/t,target=/t cat /t/x > /got-tool\n\
              RUN --mount=type=bind,from=tools,source=/opt/t,target=/t,rw sh -c 'echo scribble > /t/x'\n\
              RUN --mount=type=bind,from=localhost/bb,target=/bb test -x /bb/bin/busybox\n\
              RUN --mount=type=bind,source=src,target=/s cat /s/f > /got-ctx\n\
              RUN --mount=type=bind,source=src,target=/s,rw sh -c 'echo scribble > /s/f'\n";
    let ctx = context(&env, "bindfrom", &[("src/f", "v1\n"), ("Dockerfile", df)]);
    let (code, _, err) = build(&env, &["-t", "bindfrom", &ctx]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.ok(&["run", "--rm", "bindfrom", "cat", "/got-tool", "/got-ctx"]), "tool\nv1\n");
    let ctx_file = Path::new(&ctx).join("src/f");
    assert_eq!(std::fs::read_to_string(&ctx_file).expect("read"), "v1\n", "rw writes are discarded");
    // The mounted context's content is in the RUN's cache key.
    std::fs::write(&ctx_file, "v2\n").expect("write");
    let (code, _, err) = build(&env, &["-t", "bindfrom", &ctx]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.ok(&["run", "--rm", "bindfrom", "cat", "/got-ctx"]), "v2\n");
    // A missing stage source is a clear error.
    let ctx = context(
        &env,
        "bindmissing",
        &[("Dockerfile", "FROM localhost/bb\nRUN --mount=type=bind,from=localhost/bb,source=/nope,target=/n true\n")],
    );
    let (code, _, err) = build(&env, &[&ctx]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("\"/nope\" not found"), "{err}");
}

/// A child process killed (and reaped) when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs git in `dir`, panicking on failure.
fn git(dir: &Path, args: &[&str]) {
    let st = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .status()
        .expect("git");
    assert!(st.success(), "git {args:?}");
}

#[test]
fn add_checks_out_git_repositories() {
    let Some(env) = Env::new() else { return };
    // A repository served by `git daemon` on loopback.
    let served = env.path().join("served");
    let repo = served.join("repo.git");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    write(&repo, &[("README", "v1\n"), ("sub/inner.txt", "inner\n")]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    git(&repo, &["tag", "v1"]);
    let port = 15208;
    // git-daemon itself (`git daemon` would leave it behind as a child),
    // killed when the test ends, also when it fails.
    let exec_path = std::process::Command::new("git").arg("--exec-path").output().expect("git --exec-path");
    let exec_path = String::from_utf8_lossy(&exec_path.stdout).trim().to_owned();
    let daemon = std::process::Command::new(Path::new(&exec_path).join("git-daemon"))
        .args(["--reuseaddr", "--export-all", "--listen=127.0.0.1", &format!("--port={port}")])
        .arg(format!("--base-path={}", served.display()))
        .arg(&served)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("git daemon");
    let _daemon = KillOnDrop(daemon);
    let _ = common::eventually(|| std::net::TcpStream::connect(("127.0.0.1", port)).ok());
    let url = format!("git://127.0.0.1:{port}/repo.git");
    let df = format!(
        "FROM localhost/bb\nADD {url}#v1 /src\nADD {url}#main:sub /sub\nADD --keep-git-dir=true {url} /withgit\n"
    );
    let ctx = context(&env, "git", &[("Dockerfile", &df)]);
    let (code, _, err) = build(&env, &["-t", "git", &ctx]);
    assert_eq!(code, 0, "{err}");
    let out = env.ok(&[
        "run",
        "--rm",
        "git",
        "sh",
        "-c",
        "cat /src/README /sub/inner.txt; ls -a /src; test -d /withgit/.git && echo kept",
    ]);
    assert!(out.starts_with("v1\ninner\n"), "{out}");
    assert!(!out.contains(".git\n"), "no .git without --keep-git-dir: {out}");
    assert!(out.ends_with("kept\n"), "{out}");
    // A new commit on the branch is a cache miss; the tag still hits.
    write(&repo, &[("README", "v2\n")]);
    git(&repo, &["commit", "-q", "-am", "two"]);
    let (code, _, err) = build(&env, &["-t", "git", &ctx]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.ok(&["run", "--rm", "git", "cat", "/src/README", "/withgit/README"]), "v1\nv2\n");
    let cached: Vec<&str> = err.lines().filter(|l| l.ends_with(" CACHED")).collect();
    assert!(!cached.is_empty(), "the ADD of tag v1 is cached: {err}");
}

#[test]
fn copy_attributes_shell_maintainer_labels_iidfile_and_cache_prune() {
    let Some(env) = Env::new() else { return };
    let df = "FROM localhost/bb\nMAINTAINER someone@example.invalid\nSHELL [\"/bin/sh\", \"-e\", \"-c\"]\n\
              COPY --chown=nobody:nogroup --chmod=640 f.txt /owned/f.txt\n\
              COPY --link --chmod=755 run.sh /usr/local/bin/run.sh\n\
              RUN --network=none grep -c : /proc/net/dev > /ifaces\n";
    let ctx = context(&env, "attrs", &[("f.txt", "f\n"), ("run.sh", "#!/bin/sh\necho ran\n"), ("Dockerfile", df)]);
    let iid = env.path().join("iid");
    let (code, _, err) =
        build(&env, &["-t", "attrs", "--label", "team=wharf", "--iidfile", iid.to_str().unwrap_or_default(), &ctx]);
    assert_eq!(code, 0, "{err}");
    let c = config(&env, "attrs");
    assert_eq!(std::fs::read_to_string(&iid).expect("iidfile"), c["Id"].as_str().unwrap_or_default());
    assert_eq!(c["Author"], "someone@example.invalid");
    assert_eq!(c["Config"]["Shell"], serde_json::json!(["/bin/sh", "-e", "-c"]));
    assert_eq!(c["Config"]["Labels"]["team"], "wharf");
    let out = env.ok(&[
        "run",
        "--rm",
        "attrs",
        "sh",
        "-c",
        "stat -c '%U:%G %a' /owned/f.txt; /usr/local/bin/run.sh; cat /ifaces",
    ]);
    // --network=none: only lo (the header lines of /proc/net/dev hold no ':').
    assert_eq!(out, "nobody:nogroup 640\nran\n1\n");
    // builder prune -a forgets the cache: the next build runs its steps.
    let pruned = env.ok(&["builder", "prune", "-a", "-f"]);
    let n: u32 =
        pruned.lines().find_map(|l| l.strip_prefix("Deleted build cache objects: ")?.parse().ok()).unwrap_or(0);
    assert!(n >= 3, "{pruned}");
    let (code, _, err) = build(&env, &["-t", "attrs", &ctx]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains(" CACHED"), "nothing cached after prune: {err}");
}

#[test]
fn platform_and_progress_modes() {
    let Some(env) = Env::new() else { return };
    let ctx = context(&env, "modes", &[("Dockerfile", "FROM localhost/bb\nRUN echo step-output\n")]);
    // A platform docker does not know is a clear error; one it knows
    // needs a base of that platform (tests/platforms.rs builds some).
    let (code, _, err) = env.out(&["build", "--platform", "linux/sparc", &ctx]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("platform linux/sparc is not supported: unknown architecture"), "{err}");
    let (code, _, err) = env.out(&["build", "--platform", "linux/s390x", &ctx]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the stage is for linux/s390x"), "{err}");
    let host = format!("linux/{}", if cfg!(target_arch = "x86_64") { "amd64" } else { "arm64" });
    let (code, _, err) = env.out(&["build", "--platform", &host, "-t", "modes", &ctx]);
    assert_eq!(code, 0, "{err}");
    // tty: one line per finished step and the closing summary.
    let (code, _, err) = env.out(&["build", "--progress", "tty", "--no-cache", &ctx]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("=> [2/2] RUN echo step-output"), "{err}");
    assert!(err.contains("FINISHED"), "{err}");
    // plain streams the step's output; quiet and -q print only the ID.
    let (_, _, err) = env.out(&["build", "--progress", "plain", "--no-cache", &ctx]);
    assert!(err.lines().any(|l| l.starts_with('#') && l.ends_with(" step-output")), "{err}");
    for flag in ["--progress=quiet", "-q"] {
        let (code, out, err) = env.out(&["build", flag, &ctx]);
        assert_eq!(code, 0, "{err}");
        assert!(out.trim().starts_with("sha256:") && out.lines().count() == 1, "{out}");
        assert!(err.trim().is_empty(), "{err}");
    }
}

#[test]
fn from_scratch_copies_and_output_writes_the_result_out() {
    let Some(env) = Env::new() else { return };
    // The classic multi-stage build: a binary made in one stage, copied
    // into an image FROM scratch.
    let dockerfile =
        "FROM localhost/bb AS b\nRUN mkdir /out && echo built > /out/artifact && chown 123:456 /out/artifact\n\
                      FROM scratch\nCOPY --from=b /out/ /\nCOPY note /doc/note\n";
    let ctx = context(&env, "scratch", &[("Dockerfile", dockerfile), ("note", "hello\n")]);
    // A context file's owner is not the image's business: root's there.
    std::os::unix::fs::chown(Path::new(&ctx).join("note"), Some(1000), Some(1000)).expect("chown");
    let (code, _, err) = build(&env, &["-t", "localhost/scratchy", &ctx]);
    assert_eq!(code, 0, "{err}");
    let saved = env.cmd(&["save", "localhost/scratchy"]).output().expect("save");
    assert!(saved.status.success());
    // -o DIR: the files; -o type=tar: the same as a tar; -o -: on stdout.
    let out = env.path().join("out");
    let (code, _, err) = build(&env, &["-o", out.to_str().expect("utf8"), &ctx]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(out.join("artifact")).expect("artifact"), "built\n");
    assert_eq!(std::fs::read_to_string(out.join("doc/note")).expect("note"), "hello\n");
    let tar = env.path().join("out.tar");
    let (code, _, err) = build(&env, &["-o", &format!("type=tar,dest={}", tar.display()), &ctx]);
    assert_eq!(code, 0, "{err}");
    let listed = std::process::Command::new("tar").arg("-tf").arg(&tar).output().expect("tar");
    let mut names: Vec<String> = String::from_utf8_lossy(&listed.stdout).lines().map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, ["artifact", "doc/", "doc/note"]);
    // Owners: kept from the stage (as BuildKit), root's from the context.
    let listed = std::process::Command::new("tar").args(["--numeric-owner", "-tvf"]).arg(&tar).output().expect("tar");
    let owner_of = |name: &str| {
        let text = String::from_utf8_lossy(&listed.stdout).into_owned();
        let line = text.lines().find(|l| l.ends_with(&format!(" {name}"))).map(str::to_owned);
        line.and_then(|l| l.split_whitespace().nth(1).map(str::to_owned)).unwrap_or_default()
    };
    assert_eq!(owner_of("artifact"), "123/456");
    assert_eq!(owner_of("doc/note"), "0/0");
    let piped = env.cmd(&["build", "-q", "-o", "-", &ctx]).output().expect("build");
    assert!(piped.status.success());
    assert!(piped.stdout.len() >= 1024 && piped.stdout[257..262] == *b"ustar", "a tar on stdout, nothing else");
    let (code, _, err) = build(&env, &["-o", "type=registry", &ctx]);
    assert_eq!(code, 1);
    assert!(err.contains("output type \"registry\" is not supported"), "{err}");
    assert!(common::mounts_under(&env.root()).is_empty(), "the result's overlay is unmounted");
}

/// Builds and loads of the same layers at once on one store: all succeed,
/// and the store stays consistent.
#[test]
fn concurrent_builds_and_loads_of_the_same_layers_all_succeed() {
    let Some(env) = Env::new() else { return };
    let ctx = context(
        &env,
        "same",
        &[("Dockerfile", "FROM localhost/bb\nCOPY data /data\nRUN cat /data/a > /copied\n"), ("data/a", "shared\n")],
    );
    let spawn = |args: &[&str]| {
        env.cmd(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("spawn")
    };
    let builds: Vec<_> = (0..4).map(|i| spawn(&["build", "-q", "-t", &format!("same:{i}"), &ctx])).collect();
    for b in builds {
        let o = b.wait_with_output().expect("wait");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for i in 0..4 {
        assert_eq!(env.ok(&["run", "--rm", &format!("same:{i}"), "cat", "/copied"]), "shared\n");
    }
    let tar = env.path().join("same.tar");
    env.ok(&["save", "-o", tar.to_str().expect("utf-8"), "same:0"]);
    env.ok(&["rmi", "same:0", "same:1", "same:2", "same:3"]);
    env.ok(&["image", "prune", "-f"]);
    let loads: Vec<_> = (0..4).map(|_| spawn(&["load", "-q", "-i", tar.to_str().expect("utf-8")])).collect();
    for l in loads {
        let o = l.wait_with_output().expect("wait");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(env.ok(&["run", "--rm", "same:0", "cat", "/copied"]), "shared\n");
    let out = env.ok(&["system", "check"]);
    assert!(out.contains("is consistent"), "{out}");
}

/// The entries of an image's last layer, from `save`: path → (type,
/// mode, uid, gid, size, mtime (not for directories), content sha256,
/// link target).
fn last_layer_entries(env: &Env, image: &str) -> std::collections::BTreeMap<String, String> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let saved = env.cmd(&["save", image]).output().expect("save");
    assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
    let mut files = std::collections::HashMap::new();
    for e in tar::Archive::new(&saved.stdout[..]).entries().expect("tar").flatten() {
        let mut e = e;
        let name = e.path().expect("path").display().to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read");
        files.insert(name, data);
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).expect("manifest");
    let layers = manifest[0]["Layers"].as_array().expect("layers");
    let last = &files[layers.last().and_then(Value::as_str).expect("a layer")];
    let mut out = std::collections::BTreeMap::new();
    for e in tar::Archive::new(&last[..]).entries().expect("layer tar") {
        let mut e = e.expect("entry");
        let h = e.header().clone();
        let kind = h.entry_type();
        let mtime = if kind.is_dir() { 0 } else { h.mtime().unwrap_or(0) };
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read");
        let link = e.link_name().ok().flatten().map(|l| l.display().to_string()).unwrap_or_default();
        let what = format!(
            "{kind:?} {:o} {}:{} {} {mtime} {} {link}",
            h.mode().unwrap_or(0),
            h.uid().unwrap_or(0),
            h.gid().unwrap_or(0),
            data.len(),
            hex::encode(sha2::Sha256::digest(&data)),
        );
        out.insert(e.path().expect("path").display().to_string(), what);
    }
    out
}

/// A COPY of a context that changed in part starts from its previous
/// layer's files (seed.rs): the unchanged files are the same inodes as
/// before, and the layer is the one a full copy (--no-cache) makes, for
/// changed, removed, added, re-moded, touched and same-size-same-mtime
/// rewritten files; the previous image keeps its own files.
#[test]
fn a_copy_whose_context_changed_in_part_gives_the_layer_a_full_copy_gives() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Some(env) = Env::new() else { return };
    let ctx = context(
        &env,
        "seeded",
        &[
            ("Dockerfile", "FROM localhost/bb\nCOPY . /data/\n"),
            ("keep.txt", "keep"),
            ("change.txt", "before"),
            ("gone.txt", "gone"),
            ("sub/mode.sh", "echo"),
            ("sub/plain.sh", "echo"),
            ("sub/touch.txt", "touch"),
            ("sub/deep/x", "x"),
        ],
    );
    let dir = Path::new(&ctx);
    std::os::unix::fs::symlink("keep.txt", dir.join("link")).expect("symlink");
    std::fs::hard_link(dir.join("sub/mode.sh"), dir.join("hard.sh")).expect("link");
    let (code, _, err) = build(&env, &["-t", "seed:1", &ctx]);
    assert_eq!(code, 0, "{err}");
    let v1 = last_layer_entries(&env, "seed:1");

    // Same size and mtime, other bytes: only the stat cache's ctime tells.
    let m = std::fs::metadata(dir.join("change.txt")).expect("stat");
    std::fs::write(dir.join("change.txt"), "AFTER!").expect("write");
    let f = std::fs::File::options().write(true).open(dir.join("change.txt")).expect("open");
    f.set_modified(m.modified().expect("mtime")).expect("set mtime");
    std::fs::remove_file(dir.join("gone.txt")).expect("rm");
    std::fs::remove_dir_all(dir.join("sub/deep")).expect("rm -r");
    std::fs::write(dir.join("new.txt"), "new").expect("write");
    for f in ["sub/mode.sh", "sub/plain.sh"] {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let t = std::fs::File::options().write(true).open(dir.join("sub/touch.txt")).expect("open");
    t.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600)).expect("touch");
    let (code, _, err) = build(&env, &["-t", "seed:2", &ctx]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = build(&env, &["--no-cache", "-t", "seed:full", &ctx]);
    assert_eq!(code, 0, "{err}");

    let (seeded, full) = (last_layer_entries(&env, "seed:2"), last_layer_entries(&env, "seed:full"));
    assert_eq!(seeded, full, "the seeded layer is the full copy's");
    assert!(seeded["data/change.txt"].contains(&hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"AFTER!"))));
    assert!(!seeded.contains_key("data/gone.txt") && !seeded.contains_key("data/sub/deep/"));
    assert_eq!(last_layer_entries(&env, "seed:1"), v1, "the first image's layer is untouched");

    // The unchanged file was linked, not copied: one inode in two layers.
    let mut inodes = std::collections::HashMap::<u64, usize>::new();
    for snap in std::fs::read_dir(env.root().join("snapshots")).expect("snapshots").flatten() {
        if let Ok(m) = std::fs::metadata(snap.path().join("fs/data/keep.txt")) {
            *inodes.entry(m.ino()).or_default() += 1;
        }
    }
    assert!(inodes.values().any(|n| *n >= 2), "keep.txt shared by the first and the seeded layer: {inodes:?}");
    assert!(env.ok(&["system", "check"]).contains("consistent"));
}

/// One cache-key case: a context, a change to it, and whether the change
/// must rebuild a step.
struct KeyCase {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    change: fn(&Path),
    args: &'static [&'static str],
    rebuilds: bool,
}

/// A step's cache key changes exactly when its result may change (as
/// BuildKit's): content, mode, symlink target, a file added to a copied
/// directory, `.dockerignore`, build args a step sees, ENV, WORKDIR, USER,
/// a bind mount's source; and not for a touched file, a file no step
/// reads, an ignored file, an undeclared build arg, a later instruction
/// or a secret's content.
#[test]
fn a_step_is_rebuilt_exactly_when_its_result_may_change() {
    use std::os::unix::fs::PermissionsExt;
    let Some(env) = Env::new() else { return };
    let df = |p: &Path, text: &str| std::fs::write(p.join("Dockerfile"), text).expect("Dockerfile");
    let copy_d = "FROM localhost/bb\nCOPY d /d/\n";
    let cases = [
        KeyCase {
            name: "content",
            files: &[("d/f", "one")],
            change: |p| write(p, &[("d/f", "two")]),
            args: &[],
            rebuilds: true,
        },
        KeyCase {
            name: "mode",
            files: &[("d/f", "x")],
            change: |p| std::fs::set_permissions(p.join("d/f"), std::fs::Permissions::from_mode(0o755)).expect("chmod"),
            args: &[],
            rebuilds: true,
        },
        KeyCase {
            name: "symlink target",
            files: &[("d/f", "x")],
            change: |p| {
                let _ = std::fs::remove_file(p.join("d/l"));
                std::os::unix::fs::symlink("g", p.join("d/l")).expect("symlink");
            },
            args: &[],
            rebuilds: true,
        },
        KeyCase {
            name: "file added",
            files: &[("d/f", "x")],
            change: |p| write(p, &[("d/new", "n")]),
            args: &[],
            rebuilds: true,
        },
        KeyCase {
            name: "empty directory added",
            files: &[("d/f", "x")],
            change: |p| std::fs::create_dir(p.join("d/empty")).expect("mkdir"),
            args: &[],
            rebuilds: true,
        },
        KeyCase {
            name: "dockerignore",
            files: &[("d/f", "x"), ("d/g", "y")],
            change: |p| write(p, &[(".dockerignore", "d/g\n")]),
            args: &[],
            rebuilds: true,
        },
        KeyCase {
            name: "touched",
            files: &[("d/f", "x")],
            change: |p| {
                let f = std::fs::File::options().write(true).open(p.join("d/f")).expect("open");
                f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60)).expect("touch");
            },
            args: &[],
            rebuilds: false,
        },
        KeyCase {
            name: "file not copied",
            files: &[("d/f", "x"), ("other", "o")],
            change: |p| write(p, &[("other", "p")]),
            args: &[],
            rebuilds: false,
        },
        KeyCase {
            name: "ignored file",
            files: &[("d/f", "x"), ("d/g.log", "l"), (".dockerignore", "*/*.log\n")],
            change: |p| write(p, &[("d/g.log", "changed")]),
            args: &[],
            rebuilds: false,
        },
        KeyCase {
            name: "undeclared build arg",
            files: &[("d/f", "x")],
            change: |_| {},
            args: &["--build-arg", "NOPE=1"],
            rebuilds: false,
        },
        KeyCase {
            name: "later instruction",
            files: &[("d/f", "x")],
            change: |p| {
                std::fs::write(p.join("Dockerfile"), "FROM localhost/bb\nCOPY d /d/\nLABEL a=b\n").expect("write")
            },
            args: &[],
            rebuilds: false,
        },
    ];
    let run_cases = [
        ("build arg", "FROM localhost/bb\nARG A=1\nRUN echo $A > /a\n", None, &["--build-arg", "A=2"][..], true),
        (
            "declared arg unused",
            "FROM localhost/bb\nARG A=1\nRUN echo x > /a\n",
            None,
            &["--build-arg", "A=2"][..],
            true,
        ),
        (
            "env",
            "FROM localhost/bb\nENV E=1\nRUN echo $E > /e\n",
            Some("FROM localhost/bb\nENV E=2\nRUN echo $E > /e\n"),
            &[][..],
            true,
        ),
        (
            "workdir",
            "FROM localhost/bb\nWORKDIR /w\nRUN pwd > /p\n",
            Some("FROM localhost/bb\nWORKDIR /v\nRUN pwd > /p\n"),
            &[][..],
            true,
        ),
        (
            "user",
            "FROM localhost/bb\nUSER root\nRUN id\n",
            Some("FROM localhost/bb\nUSER app\nRUN id\n"),
            &[][..],
            true,
        ),
        (
            "comment",
            "FROM localhost/bb\nRUN echo x > /x\n",
            Some("# a comment\nFROM localhost/bb\n\nRUN echo x > /x\n"),
            &[][..],
            false,
        ),
    ];
    let mut failures = Vec::new();
    let mut check = |name: &str, ctx: &Path, change: &dyn Fn(&Path), args: &[&str], rebuilds: bool| {
        let c = ctx.to_str().expect("utf-8");
        let run = |extra: &[&str]| {
            let mut a = vec!["-t", "key"];
            a.extend_from_slice(extra);
            a.push(c);
            let (code, _, err) = build(&env, &a);
            assert_eq!(code, 0, "{name}: {err}");
            err.matches("CACHED").count()
        };
        run(&[]);
        let all = run(&[]);
        change(ctx);
        let after = run(args);
        if (after < all) != rebuilds {
            failures.push(format!("{name}: {all} steps cached before, {after} after; expected a rebuild: {rebuilds}"));
        }
    };
    for (i, k) in cases.iter().enumerate() {
        let ctx = env.path().join(format!("key{i}"));
        std::fs::create_dir_all(ctx.join("d")).expect("mkdir");
        write(&ctx, k.files);
        // Each case its own content: an identical step of another case
        // would be a (right) cache hit.
        write(&ctx, &[("d/case", k.name)]);
        df(&ctx, copy_d);
        check(k.name, &ctx, &k.change, k.args, k.rebuilds);
    }
    for (i, (name, before, after, args, rebuilds)) in run_cases.into_iter().enumerate() {
        let ctx = env.path().join(format!("run{i}"));
        std::fs::create_dir_all(&ctx).expect("mkdir");
        let unique = |d: &str| d.replace("FROM localhost/bb\n", &format!("FROM localhost/bb\nENV CASE=run{i}\n"));
        df(&ctx, &unique(before));
        let after = after.map(unique);
        check(
            name,
            &ctx,
            &move |p: &Path| {
                if let Some(a) = &after {
                    df(p, a)
                }
            },
            args,
            rebuilds,
        );
    }
    // A secret's content is not part of the key (BuildKit's either); a bind
    // mount's source is.
    let secret = env.path().join("token");
    std::fs::write(&secret, "one").expect("write");
    let sec = format!("id=tok,src={}", secret.display());
    let ctx = env.path().join("mounts");
    std::fs::create_dir_all(&ctx).expect("mkdir");
    write(&ctx, &[("bound", "b1")]);
    df(&ctx, "FROM localhost/bb\nRUN --mount=type=secret,id=tok cat /run/secrets/tok > /dev/null; echo s > /s\nRUN --mount=type=bind,source=bound,target=/b cat /b > /copied\n");
    let c = ctx.to_str().expect("utf-8");
    for _ in 0..2 {
        let (code, _, err) = build(&env, &["--secret", &sec, "-t", "m", c]);
        assert_eq!(code, 0, "{err}");
    }
    std::fs::write(&secret, "two").expect("write");
    let (_, _, err) = build(&env, &["--secret", &sec, "-t", "m", c]);
    assert_eq!(err.matches("CACHED").count(), 2, "a secret's content does not rebuild: {err}");
    write(&ctx, &[("bound", "b2")]);
    let (_, _, err) = build(&env, &["--secret", &sec, "-t", "m", c]);
    assert_eq!(err.matches("CACHED").count(), 1, "a bind source's content rebuilds: {err}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
