//! `wharf system service`: the Docker Engine API on a unix socket, driven
//! by docker's own CLI (DOCKER_HOST), against the same store the wharf CLI
//! uses. Runs as root.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The shared store with `localhost/bb`, and the service over it.
struct Env {
    base: common::Env,
    service: Option<Child>,
}

impl std::ops::Deref for Env {
    type Target = common::Env;
    fn deref(&self) -> &common::Env {
        &self.base
    }
}

impl Env {
    fn new() -> Option<Env> {
        let have_docker = Command::new("docker").arg("--version").output().is_ok_and(|o| o.status.success());
        if !have_docker {
            assert!(std::env::var_os("WHARF_REQUIRE_PEERS").is_none(), "docker's CLI is required");
            return None;
        }
        Some(Env { base: common::Env::new()?, service: None })
    }

    fn socket(&self) -> PathBuf {
        self.path().join("api.sock")
    }

    /// Starts the service and waits until it answers.
    fn serve(&mut self) {
        self.serve_idle("0");
    }

    /// Starts the service with `--time IDLE` and waits until it answers.
    fn serve_idle(&mut self, idle: &str) {
        let uri = format!("unix://{}", self.socket().display());
        let log = std::fs::File::create(self.path().join("service.log")).expect("service.log");
        let child =
            self.cmd(&["system", "service", "--time", idle, &uri]).stderr(log).spawn().expect("wharf system service");
        self.service = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(self.socket()).is_err() {
            assert!(Instant::now() < deadline, "the service did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the service with SIGTERM, as systemd does.
    fn stop_service(&mut self) {
        if let Some(mut c) = self.service.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let status = c.wait().expect("wait");
            assert!(status.success(), "the service exits cleanly on SIGTERM: {status}");
        }
    }

    /// docker's CLI against the service: (exit code, stdout, stderr).
    fn docker(&self, args: &[&str]) -> (i32, String, String) {
        self.docker_with_env(&[], args)
    }

    /// The same, with more environment (`DOCKER_BUILDKIT=0`).
    fn docker_with_env(&self, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
        let o = Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .env("DOCKER_CONFIG", self.path().join("docker-config"))
            .envs(env.iter().copied())
            .args(args)
            .output()
            .expect("docker");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (o.status.code().unwrap_or(-1), text(&o.stdout), text(&o.stderr))
    }

    /// docker's CLI with `input` on its stdin, closed after it.
    fn docker_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .env("DOCKER_CONFIG", self.path().join("docker-config"))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("docker");
        {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(input).expect("write");
        }
        child.wait_with_output().expect("wait")
    }

    /// Whether Python has `module` (a required peer when the tests say so).
    fn have_python(module: &str) -> bool {
        let have =
            Command::new("python3").args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
        assert!(
            have || std::env::var_os("WHARF_REQUIRE_PEERS").is_none(),
            "python3's {module} is required (pip install)"
        );
        have
    }

    /// A served store for a Python client that needs `module`.
    fn serving_for_python(module: &str) -> Option<Env> {
        let mut env = Env::new()?;
        if !Env::have_python(module) {
            return None;
        }
        env.serve();
        Some(env)
    }

    /// Runs a Python client against the service (its socket in argv[1]
    /// and DOCKER_HOST, `vars` too): it must print `ok`.
    fn python_ok(&self, script: &str, vars: &[(&str, &str)]) {
        let o = Command::new("python3")
            .args(["-c", script, self.socket().to_str().expect("utf-8")])
            .env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .envs(vars.iter().copied())
            .output()
            .expect("python3");
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok", "{}", String::from_utf8_lossy(&o.stderr));
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.docker(args);
        assert_eq!(code, 0, "docker {args:?}: {err}{out}{}", self.service_state());
        out
    }

    /// Whether the service still runs, and what it wrote on stderr: for a
    /// failure's message.
    fn service_state(&self) -> String {
        let alive = self.service.as_ref().is_some_and(|c| Path::new(&format!("/proc/{}", c.id())).exists());
        let log = std::fs::read_to_string(self.path().join("service.log")).unwrap_or_default();
        format!("\n[service running: {alive}; its stderr:\n{log}]")
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(mut c) = self.service.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn dockers_cli_drives_containers_and_images_through_the_service() {
    let Some(mut env) = Env::new() else { return };
    env.serve();
    let version = env.docker_ok(&["version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}"]);
    assert_eq!(version.trim(), "1.44 linux");
    // run -d: create + start through the API; the wharf CLI sees it.
    let id = env.docker_ok(&["run", "-d", "--name", "web", "-e", "A=1", "localhost/bb", "sleep", "1000"]);
    assert_eq!(id.trim().len(), 64, "{id}");
    assert!(env.docker_ok(&["ps", "--format", "{{.Names}} {{.Status}}"]).contains("web Up"));
    assert_eq!(env.ok(&["ps", "--format", "{{.Names}}"]).trim(), "web");
    assert_eq!(
        env.docker_ok(&["inspect", "-f", "{{.State.Running}} {{.Config.Env}}", "web"]).trim(),
        "true [PATH=/bin A=1]"
    );
    // Logs, split into their streams, and wait's exit code.
    env.docker_ok(&["run", "-d", "--name", "say", "localhost/bb", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(env.docker_ok(&["wait", "say"]).trim(), "3");
    let (code, out, err) = env.docker(&["logs", "say"]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "out\n", "err\n"));
    // exec: output in its streams, the exit code, stdin, a TTY, the
    // container's working directory.
    let (code, out, err) = env.docker(&["exec", "web", "sh", "-c", "echo $A; echo e >&2; exit 4"]);
    assert_eq!((code, out.as_str(), err.as_str()), (4, "1\n", "e\n"));
    let o = env.docker_with_input(&["exec", "-i", "web", "cat"], b"through stdin\n");
    assert_eq!((o.status.code(), String::from_utf8_lossy(&o.stdout).as_ref()), (Some(0), "through stdin\n"));
    let cmd = format!("DOCKER_HOST=unix://{} docker exec -it web sh -c 'tty; exit 6'", env.socket().display());
    let o = Command::new("script").args(["-qec", &cmd, "/dev/null"]).output().expect("script");
    assert!(String::from_utf8_lossy(&o.stdout).contains("/dev/pts/"), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(o.status.code(), Some(6));
    // run without -d: attach before the start, the output in its streams,
    // the exit code from the wait; --rm; stdin to its end; a TTY.
    let (code, out, err) = env.docker(&["run", "--rm", "localhost/bb", "sh", "-c", "echo o; echo e >&2; exit 3"]);
    assert_eq!((code, out.as_str(), err.as_str()), (3, "o\n", "e\n"));
    let o = env.docker_with_input(&["run", "--rm", "-i", "localhost/bb", "cat"], b"to the end\n");
    assert_eq!((o.status.code(), String::from_utf8_lossy(&o.stdout).as_ref()), (Some(0), "to the end\n"));
    let cmd =
        format!("DOCKER_HOST=unix://{} docker run --rm -it localhost/bb sh -c 'tty; exit 4'", env.socket().display());
    let o = Command::new("script").args(["-qec", &cmd, "/dev/null"]).output().expect("script");
    assert!(String::from_utf8_lossy(&o.stdout).contains("/dev/pts/"), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(env.docker_ok(&["run", "--name", "again", "localhost/bb", "echo", "once"]), "once\n");
    assert_eq!(env.docker_ok(&["start", "-a", "again"]), "once\n");
    env.docker_ok(&["rm", "again"]);
    // The service can stop while containers run: they keep their monitors.
    env.stop_service();
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}}", "web"]).trim(), "running");
    env.serve();
    assert_eq!(env.docker_ok(&["stop", "-t", "1", "web"]).trim(), "web");
    assert!(env.docker_ok(&["ps", "-a", "--filter", "status=exited", "--format", "{{.Names}}"]).contains("web"));
    assert_eq!(env.docker_ok(&["rm", "web", "say"]).split_whitespace().collect::<Vec<_>>(), ["web", "say"]);
    // Errors are docker's: status, message, exit code.
    let (code, _, err) = env.docker(&["rm", "nosuch"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such container: nosuch"), "{err}");
    // Images: list, tag, remove.
    assert!(env.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).contains("localhost/bb:latest"));
    env.docker_ok(&["tag", "localhost/bb", "localhost/bb:two"]);
    assert_eq!(env.docker_ok(&["rmi", "localhost/bb:two"]).trim(), "Untagged: localhost/bb:two");
    let history = env.docker_ok(&["history", "-q", "localhost/bb"]);
    assert!(!history.trim().is_empty());
}

#[test]
fn versions_outside_the_range_are_refused_and_every_answer_names_the_api() {
    let Some(mut env) = Env::new() else { return };
    env.serve();
    let sock = env.socket();
    let get = |path: &str| {
        let o = Command::new("curl")
            .args(["-s", "-i", "--unix-socket", sock.to_str().expect("utf-8"), &format!("http://localhost{path}")])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let ping = get("/_ping");
    assert!(ping.starts_with("HTTP/1.1 200") && ping.ends_with("OK"), "{ping}");
    assert!(ping.contains("api-version: 1.44") && ping.contains("ostype: linux"), "{ping}");
    assert!(get("/v1.24/containers/json").starts_with("HTTP/1.1 200"));
    let old = get("/v1.12/containers/json");
    assert!(old.starts_with("HTTP/1.1 400") && old.contains("is too old"), "{old}");
    let new = get("/v1.99/version");
    assert!(new.starts_with("HTTP/1.1 400") && new.contains("is too new"), "{new}");
    let missing = get("/v1.44/containers/nosuch/json");
    assert!(
        missing.starts_with("HTTP/1.1 404") && missing.contains(r#"{"message":"No such container: nosuch"}"#),
        "{missing}"
    );
}

/// docker-py (PyPI's `docker`, 7.x), through its high-level API.
#[test]
fn docker_py_runs_waits_logs_and_lists() {
    let Some(env) = Env::serving_for_python("docker") else { return };
    let script = r#"
import sys, time, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1], version="auto", timeout=60)
assert c.version()["ApiVersion"] == "1.44", c.version()
box = c.containers.run("localhost/bb", ["sh", "-c", "echo hello; echo oops >&2; exit 2"], detach=True, name="py")
assert box.wait()["StatusCode"] == 2
assert box.logs(stdout=True, stderr=False) == b"hello\n", box.logs()
assert box.logs(stdout=False, stderr=True) == b"oops\n"
box.reload()
assert box.status == "exited" and box.attrs["State"]["ExitCode"] == 2, box.attrs["State"]
assert [x.name for x in c.containers.list(all=True)] == ["py"]
assert c.containers.list() == []
box.remove()
live = c.containers.run("localhost/bb", ["sleep", "100"], detach=True, name="live")
r = live.exec_run(["sh", "-c", "echo in; exit 5"])
assert (r.exit_code, r.output) == (5, b"in\n"), r
e = c.api.exec_create(live.id, ["sh", "-c", "sleep 2; stty size"], tty=True)
out = c.api.exec_start(e["Id"], tty=True, stream=True)
time.sleep(0.3)
c.api.exec_resize(e["Id"], height=33, width=111)
assert b"".join(out) == b"33 111\r\n"
live.remove(force=True)
assert "localhost/bb:latest" in [t for i in c.images.list() for t in i.tags]
early = c.containers.run("localhost/bb", ["sh", "-c", "echo before; exec sleep 1000"], detach=True, name="early")
while b"before" not in early.logs():
    time.sleep(0.1)
assert next(early.attach(stdout=True, stderr=True, stream=True, logs=True)) == b"before\n"
early.remove(force=True)
cat = c.containers.run("localhost/bb", ["cat"], detach=True, stdin_open=True, tty=True, name="cat")
sock = c.api.attach_socket(cat.id, params={"stdin": 1, "stdout": 1, "stream": 1, "detachKeys": "ctrl-x"})._sock
sock.sendall(b"hi\n")
time.sleep(0.3)
sock.sendall(b"\x18")
sock.settimeout(10)
got = b""
while (chunk := sock.recv(4096)):
    got += chunk
cat.reload()
assert b"hi" in got and cat.status == "running", (got, cat.status)
cat.remove(force=True)
print("ok")
"#;
    env.python_ok(script, &[]);
}

/// Networks and volumes through docker's CLI: two containers on a user
/// network know each other by name; a named volume keeps what one wrote.
#[test]
fn dockers_cli_makes_networks_and_volumes() {
    let Some(mut env) = Env::new() else { return };
    env.serve();
    let net = format!("apinet{}", std::process::id() % 10000);
    env.docker_ok(&["network", "create", &net]);
    assert!(env.docker_ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]).contains(&format!("{net} bridge")));
    assert_eq!(env.docker_ok(&["network", "inspect", "-f", "{{.Name}}", &net]).trim(), net);
    env.docker_ok(&["volume", "create", "apivol"]);
    assert!(env.docker_ok(&["volume", "ls", "-q"]).lines().any(|l| l == "apivol"));
    env.docker_ok(&[
        "run",
        "-d",
        "--name",
        "alpha",
        "--network",
        &net,
        "-v",
        "apivol:/data",
        "localhost/bb",
        "sh",
        "-c",
        "echo kept > /data/f; sleep 1000",
    ]);
    env.docker_ok(&["run", "-d", "--name", "beta", "--network", &net, "localhost/bb", "cat", "/etc/hosts"]);
    assert_eq!(env.docker_ok(&["wait", "beta"]).trim(), "0");
    let hosts = env.docker_ok(&["logs", "beta"]);
    assert!(
        hosts.lines().any(|l| l.split_whitespace().skip(1).any(|n| n == "alpha")),
        "beta knows alpha by name: {hosts}"
    );
    env.docker_ok(&["rm", "-f", "alpha", "beta"]);
    env.docker_ok(&["run", "-d", "--name", "gamma", "-v", "apivol:/data", "localhost/bb", "cat", "/data/f"]);
    assert_eq!(env.docker_ok(&["wait", "gamma"]).trim(), "0");
    assert_eq!(env.docker_ok(&["logs", "gamma"]), "kept\n");
    env.docker_ok(&["rm", "gamma"]);
    env.docker_ok(&["volume", "rm", "apivol"]);
    env.docker_ok(&["network", "rm", &net]);
    let (code, _, err) = env.docker(&["network", "inspect", &net]);
    assert!(code != 0 && err.contains("not found"), "{err}");
}

/// Images through docker's CLI: `build` with the classic builder
/// (`DOCKER_BUILDKIT=0`), the image run; `save` piped into `load`;
/// `login`, `push` and `pull` against a registry behind htpasswd; and
/// the `events` those left.
#[test]
fn dockers_cli_builds_saves_loads_pushes_and_pulls_through_the_service() {
    let Some(mut env) = Env::new() else { return };
    if !common::registry::have_registry() {
        return;
    }
    env.serve();
    let ctx = env.path().join("ctx");
    std::fs::create_dir_all(&ctx).expect("mkdir");
    std::fs::write(ctx.join("greeting"), "hello from the context\n").expect("write");
    let dockerfile = "FROM localhost/bb\nARG WHO=nobody\nRUN echo \"built for $WHO\" > /who\nCOPY greeting /greeting\n\
                      CMD [\"cat\", \"/who\", \"/greeting\"]\n";
    std::fs::write(ctx.join("Dockerfile"), dockerfile).expect("write");
    let classic = [("DOCKER_BUILDKIT", "0")];
    let ctx_arg = ctx.to_str().expect("utf-8");
    let (code, out, err) =
        env.docker_with_env(&classic, &["build", "-t", "apibuilt:1", "--build-arg", "WHO=api", ctx_arg]);
    assert_eq!(code, 0, "{err}{out}");
    assert!(out.contains("Successfully built ") && out.contains("Successfully tagged apibuilt:1"), "{out}");
    assert_eq!(env.docker_ok(&["run", "--rm", "apibuilt:1"]), "built for api\nhello from the context\n");
    let (code, _, err) = env.docker_with_env(&classic, &["build", "-q", "-t", "apibuilt:2", ctx_arg]);
    assert_eq!(code, 0, "{err}");
    std::fs::write(ctx.join("Dockerfile"), "FROM localhost/bb\nRUN exit 3\n").expect("write");
    let (code, out, err) = env.docker_with_env(&classic, &["build", ctx_arg]);
    assert_ne!(code, 0, "a failing RUN fails the build: {out}");
    assert!(err.contains("exit") || err.contains("returned a non-zero code"), "{err}");

    let saved = env.path().join("saved.tar");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("docker save apibuilt:1 > {}", saved.display()))
        .env("DOCKER_HOST", format!("unix://{}", env.socket().display()))
        .output()
        .expect("sh");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stderr), env.service_state());
    env.docker_ok(&["rmi", "apibuilt:1", "apibuilt:2"]);
    let loaded = env.docker_with_input(&["load"], &std::fs::read(&saved).expect("the archive"));
    assert_eq!(String::from_utf8_lossy(&loaded.stdout), "Loaded image: apibuilt:1\n");
    assert_eq!(env.docker_ok(&["run", "--rm", "apibuilt:1", "cat", "/who"]), "built for api\n");

    let reg = common::registry::Registry::start(Some(("alice", "s3cret")));
    let remote = format!("{}/team/built:1", reg.addr());
    env.docker_ok(&["tag", "apibuilt:1", &remote]);
    let (code, _, err) = env.docker(&["push", &remote]);
    assert_ne!(code, 0, "a push without login is refused");
    assert!(err.contains("unauthorized") || err.contains("authentication required"), "{err}");
    let (code, _, err) = env.docker(&["login", "-u", "alice", "-p", "wrong", &reg.addr()]);
    assert_ne!(code, 0, "a wrong password is refused: {err}");
    env.docker_ok(&["login", "-u", "alice", "-p", "s3cret", &reg.addr()]);
    let pushed = env.docker_ok(&["push", &remote]);
    assert!(pushed.contains("1: digest: sha256:"), "{pushed}");
    env.docker_ok(&["rmi", &remote, "apibuilt:1"]);
    let pulled = env.docker_ok(&["pull", &remote]);
    assert!(pulled.contains("Status: Downloaded newer image for") || pulled.contains("up to date"), "{pulled}");
    assert_eq!(env.docker_ok(&["run", "--rm", &remote, "cat", "/greeting"]), "hello from the context\n");
    let (code, _, err) = env.docker(&["pull", &format!("{}/team/missing:1", reg.addr())]);
    assert!(code != 0 && err.contains("not found"), "{err}");
    // A build pulls its base from the registry with the credentials the
    // CLI sends (X-Registry-Config): the service has none stored.
    env.docker_ok(&["rmi", &remote]);
    std::fs::write(ctx.join("Dockerfile"), format!("FROM {remote}\nRUN cat /greeting > /again\n")).expect("write");
    let (code, out, err) = env.docker_with_env(&classic, &["build", "-t", "onbase", ctx_arg]);
    assert_eq!(code, 0, "{err}{out}");
    assert_eq!(env.docker_ok(&["run", "--rm", "onbase", "cat", "/again"]), "hello from the context\n");

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs() + 1;
    let events = env.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &now.to_string(),
        "--filter",
        "type=image",
        "--format",
        "{{.Action}}",
    ]);
    for action in ["tag", "load", "push", "pull"] {
        assert!(events.lines().any(|l| l == action), "an image {action} event: {events}");
    }
}

/// docker-py's high-level API for images and events: `images.build`
/// (which looks for the classic builder's lines), `images.get`, `tag`,
/// `save` into `images.load`, `remove`, and `events` decoded.
#[test]
fn docker_py_builds_tags_saves_loads_and_reads_events() {
    let Some(env) = Env::serving_for_python("docker") else { return };
    let script = r#"
import io, sys, time, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1], version="auto", timeout=60)
start = int(time.time())
df = io.BytesIO(b"FROM localhost/bb\nRUN echo made > /made\nLABEL who=py\nCMD [\"cat\", \"/made\"]\n")
img, logs = c.images.build(fileobj=df, tag="pybuilt:1", rm=True)
assert "pybuilt:1" in img.tags, img.tags
assert img.labels.get("who") == "py", img.labels
assert any("Successfully built" in l.get("stream", "") for l in logs), list(logs)
assert c.containers.run("pybuilt:1", remove=True) == b"made\n"
try:
    c.images.build(fileobj=io.BytesIO(b"FROM localhost/bb\nRUN exit 7\n"))
    raise SystemExit("a failing RUN must raise BuildError")
except docker.errors.BuildError as e:
    assert "7" in str(e), str(e)
img.tag("pybuilt", "2")
assert "pybuilt:2" in c.images.get("pybuilt:1").tags
data = b"".join(img.save(named=True))
c.images.remove("pybuilt:1")
c.images.remove("pybuilt:2")
try:
    c.images.get("pybuilt:1")
    raise SystemExit("the image is gone")
except docker.errors.ImageNotFound:
    pass
back = c.images.load(data)
assert [t for i in back for t in i.tags] == ["pybuilt:1"], [i.tags for i in back]
net = c.networks.create("pynet")
vol = c.volumes.create("pyvol", labels={"k": "v"})
assert c.volumes.get("pyvol").attrs["Labels"] == {"k": "v"}
web = c.containers.run("localhost/bb", ["sh", "-c", "echo hi > /data/f; exec sleep 100"], detach=True, name="pyweb",
                       network="pynet", volumes={"pyvol": {"bind": "/data", "mode": "rw"}})
probe = c.containers.run("localhost/bb", ["sh", "-c", "ping -c1 -W2 pyweb >/dev/null && echo up"], network="pynet",
                         remove=True)
assert probe == b"up\n", probe
net.reload()
assert [x.name for x in net.containers] == ["pyweb"], net.containers
web.stop(timeout=1)
net.disconnect(web)
net.reload()
assert net.containers == [], net.containers
web.remove(force=True)
net.remove()
vol.remove()
assert "pynet" not in [n.name for n in c.networks.list()] and "pyvol" not in [v.name for v in c.volumes.list()]
seen = [e["Action"] for e in c.events(since=start, until=int(time.time()) + 1, decode=True, filters={"type": "image"})]
for action in ("tag", "delete", "load"):
    assert action in seen or (action == "delete" and "untag" in seen), (action, seen)
print("ok")
"#;
    env.python_ok(script, &[]);
}

const COMPOSE_FILE: &str = r#"version: "2.4"
services:
  web:
    build: ./web
    ports:
      - "127.0.0.1:PORT:80"
    environment:
      GREETING: hello from web
    depends_on:
      api:
        condition: service_healthy
    stop_grace_period: 1s
  api:
    image: localhost/bb
    command: ["httpd", "-f", "-p", "8080", "-h", "/data"]
    volumes:
      - data:/data
    depends_on:
      - seed
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/index.html"]
      interval: 1s
      timeout: 2s
      retries: 30
  seed:
    image: localhost/bb
    command: ["sh", "-c", "echo from the api > /data/index.html; echo seeded; exec sleep 1000"]
    stop_grace_period: 1s
    volumes:
      - data:/data
volumes:
  data:
"#;

/// The web service's page: its environment, then what it fetches from
/// the api service by name.
const COMPOSE_CGI: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"$GREETING\"\n\
                           wget -q -O - http://api:8080/index.html\n";

/// docker-compose 1.29 (Debian's, on its own docker-py) brings up three
/// services through the service: one built from a Dockerfile with a
/// published port, one it reaches by name on the project's network with
/// a health check it waits for, one filling a named volume; then `ps`,
/// `logs`, `exec`, and `down -v` leaves nothing behind.
#[test]
fn compose_brings_up_a_three_service_app_and_takes_it_down() {
    let Some(mut env) = Env::new() else { return };
    let have_compose = Command::new("docker-compose").arg("version").output().is_ok_and(|o| o.status.success());
    if !have_compose {
        assert!(std::env::var_os("WHARF_REQUIRE_PEERS").is_none(), "docker-compose is required (apt docker-compose)");
        return;
    }
    env.serve();
    let port = common::registry::free_port();
    let dir = env.path().join("app");
    std::fs::create_dir_all(dir.join("web")).expect("mkdir");
    std::fs::write(dir.join("docker-compose.yml"), COMPOSE_FILE.replace("PORT", &port.to_string())).expect("write");
    let dockerfile = "FROM localhost/bb\nCOPY index.cgi /www/cgi-bin/index.cgi\nRUN chmod 755 /www/cgi-bin/index.cgi\n\
                      CMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n";
    std::fs::write(dir.join("web/Dockerfile"), dockerfile).expect("write");
    std::fs::write(dir.join("web/index.cgi"), COMPOSE_CGI).expect("write");
    let project = format!("cmp{}", std::process::id());
    let compose = |args: &[&str]| {
        let o = Command::new("docker-compose")
            .current_dir(&dir)
            .env("DOCKER_HOST", format!("unix://{}", env.socket().display()))
            .env("DOCKER_BUILDKIT", "0")
            .env("COMPOSE_DOCKER_CLI_BUILD", "0")
            .args(["-p", &project])
            .args(args)
            .output()
            .expect("docker-compose");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert!(o.status.success(), "docker-compose {args:?}: {}{}", text(&o.stderr), text(&o.stdout));
        text(&o.stdout)
    };
    compose(&["up", "-d"]);
    let addr = format!("127.0.0.1:{port}");
    let get = || common::http_get_path(&addr, "/cgi-bin/index.cgi");
    let page = common::eventually(|| get().filter(|p| p.contains("from the api")));
    let page = page.unwrap_or_else(|| panic!("the web service answers on {port}: {:?}", get()));
    assert!(page.ends_with("hello from web\nfrom the api\n"), "{page}");
    let api = format!("{project}_api_1");
    assert_eq!(env.docker_ok(&["inspect", "-f", "{{.State.Health.Status}}", &api]).trim(), "healthy");
    let ps = compose(&["ps"]);
    for service in ["web", "api", "seed"] {
        let name = format!("{project}_{service}_1");
        assert!(ps.lines().any(|l| l.starts_with(&name) && l.contains(" Up")), "{name} is up: {ps}");
    }
    assert!(compose(&["logs", "seed"]).contains("seeded"), "the seed service's log");
    assert_eq!(compose(&["exec", "-T", "api", "cat", "/data/index.html"]), "from the api\n");
    compose(&["down", "-v"]);
    let left = |args: &[&str]| env.ok(args).lines().filter(|l| l.contains(&project)).count();
    assert_eq!(left(&["ps", "-a", "--format", "{{.Names}}"]), 0, "no container left");
    assert_eq!(left(&["network", "ls", "--format", "{{.Name}}"]), 0, "no network left");
    assert_eq!(left(&["volume", "ls", "--format", "{{.Name}}"]), 0, "no volume left");
}

/// testcontainers-python (Ryuk off) starts generic containers through the
/// service and waits on them by a log line and by an exposed port, then
/// reaches the published port. This machine looks like a container to it
/// (/.dockerenv), so it is told to use the docker host, on loopback.
#[test]
fn testcontainers_waits_on_a_log_line_and_an_exposed_port() {
    let Some(env) = Env::serving_for_python("testcontainers") else { return };
    let script = r#"
import sys, urllib.request
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import LogMessageWaitStrategy, PortWaitStrategy
cmd = ["sh", "-c", "mkdir -p /w && echo served > /w/index.html && echo ready && exec httpd -f -p 8080 -h /w"]
by_log = DockerContainer("localhost/bb").with_command(cmd).with_exposed_ports(8080)
with by_log.waiting_for(LogMessageWaitStrategy("ready")) as c:
    assert b"ready" in c.get_logs()[0], c.get_logs()
by_port = DockerContainer("localhost/bb").with_command(cmd).with_exposed_ports(8080)
with by_port.waiting_for(PortWaitStrategy(8080)) as c:
    host, port = c.get_container_host_ip(), c.get_exposed_port(8080)
    assert host == "127.0.0.1", host
    assert urllib.request.urlopen(f"http://{host}:{port}/index.html", timeout=5).read() == b"served\n"
print("ok")
"#;
    let vars = [
        ("TESTCONTAINERS_RYUK_DISABLED", "true"),
        ("TESTCONTAINERS_CONNECTION_MODE", "docker_host"),
        ("TC_HOST", "127.0.0.1"),
    ];
    env.python_ok(script, &vars);
    assert_eq!(env.ok(&["ps", "-aq"]), "", "testcontainers removed what it started");
}

/// A container's files and resources through docker's CLI: `cp` both
/// ways (a directory, a file, and a tar on stdout), `diff`, `export`,
/// `stats --no-stream`, `update`, `system df`, and the prunes.
#[test]
fn dockers_cli_copies_inspects_files_and_resources() {
    let Some(mut env) = Env::new() else { return };
    env.serve();
    env.docker_ok(&["run", "-d", "--name", "files", "localhost/bb", "sh", "-c", "mkdir -p /srv; sleep 1000"]);
    let src = env.path().join("src");
    std::fs::create_dir_all(src.join("sub")).expect("mkdir");
    std::fs::write(src.join("a"), "one\n").expect("write");
    std::fs::write(src.join("sub/b"), "two\n").expect("write");
    common::eventually(|| env.docker(&["exec", "files", "test", "-d", "/srv"]).0.eq(&0).then_some(()));
    env.docker_ok(&["cp", src.to_str().expect("utf-8"), "files:/srv/"]);
    assert_eq!(env.docker_ok(&["exec", "files", "cat", "/srv/src/a", "/srv/src/sub/b"]), "one\ntwo\n");
    env.docker_ok(&["cp", src.join("a").to_str().expect("utf-8"), "files:/srv/renamed"]);
    assert_eq!(env.docker_ok(&["exec", "files", "cat", "/srv/renamed"]), "one\n");
    let out = env.path().join("out");
    env.docker_ok(&["cp", "files:/srv/src", out.to_str().expect("utf-8")]);
    assert_eq!(std::fs::read_to_string(out.join("sub/b")).expect("copied out"), "two\n");
    let o = Command::new("sh")
        .arg("-c")
        .arg("docker cp files:/srv/renamed - | tar -tf -")
        .env("DOCKER_HOST", format!("unix://{}", env.socket().display()))
        .output()
        .expect("sh");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "renamed\n", "{}", String::from_utf8_lossy(&o.stderr));
    let (code, _, err) = env.docker(&["cp", "files:/nope", out.to_str().expect("utf-8")]);
    assert!(code != 0 && err.contains("Could not find the file /nope"), "{err}");
    let diff = env.docker_ok(&["diff", "files"]);
    assert!(diff.lines().any(|l| l == "A /srv/renamed"), "{diff}");
    let o = Command::new("sh")
        .arg("-c")
        .arg("docker export files | tar -tf - | grep -c '^srv/src/sub/b$'")
        .env("DOCKER_HOST", format!("unix://{}", env.socket().display()))
        .output()
        .expect("sh");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "1", "{}", String::from_utf8_lossy(&o.stderr));

    let stats = env.docker_ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "files"]);
    assert!(stats.starts_with("files ") && stats.trim() != "files 0", "{stats}");
    env.docker_ok(&["update", "--memory", "64m", "--restart", "on-failure:3", "files"]);
    let shown = env.docker_ok(&["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}", "files"]);
    assert_eq!(shown.trim(), "67108864 on-failure");
    let limit = env.docker_ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", "files"]);
    assert!(limit.trim().ends_with("/ 64MiB"), "{limit}");

    let ctx = env.path().join("dfctx");
    std::fs::create_dir_all(&ctx).expect("mkdir");
    std::fs::write(ctx.join("Dockerfile"), "FROM localhost/bb\nRUN echo df > /df\n").expect("write");
    env.ok(&["build", "-q", "-t", "dfimg", ctx.to_str().expect("utf-8")]);
    let df = env.docker_ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"]);
    assert!(df.lines().any(|l| l == "Containers 1 1"), "{df}");
    // The build cache's records add up to what wharf's own df counts, and
    // the step an image holds is active.
    let own = env.ok(&["system", "df"]);
    let row: Vec<&str> =
        own.lines().find(|l| l.starts_with("Build Cache")).expect("a row").split_whitespace().collect();
    let cache = format!("Build Cache {} {}", row[2], row[3]);
    assert!(df.lines().any(|l| l == cache), "{df} / {own}");
    assert!(row[3].parse::<u32>().expect("a count") >= 1, "{own}");
    env.docker_ok(&["run", "--name", "done", "localhost/bb", "true"]);
    let pruned = env.docker_ok(&["container", "prune", "-f"]);
    assert!(!pruned.is_empty() && env.docker(&["inspect", "done"]).0 != 0, "the stopped container is pruned: {pruned}");
    assert_eq!(env.docker_ok(&["inspect", "-f", "{{.State.Running}}", "files"]).trim(), "true");
    env.docker_ok(&["image", "prune", "-f"]);
    assert!(env.docker_ok(&["images", "-q", "localhost/bb"]).trim().len() == 12, "a used image stays");
    env.docker_ok(&["rm", "-f", "files"]);
}

/// A `wait` whose client hangs up ends in the service: it no longer
/// counts as a request in flight, so the idle timer runs out (before,
/// it polled on for nobody and kept the service up for good).
#[test]
fn an_abandoned_wait_lets_the_service_go_idle() {
    let Some(mut env) = Env::new() else { return };
    env.serve_idle("2");
    env.docker_ok(&["run", "-d", "--name", "waited", "localhost/bb", "sleep", "1000"]);
    let mut waiter = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{}", env.socket().display()))
        .args(["wait", "waited"])
        .spawn()
        .expect("docker wait");
    std::thread::sleep(Duration::from_millis(500));
    waiter.kill().expect("kill the client");
    let _ = waiter.wait();
    let service = env.service.as_mut().expect("the service");
    let exited = common::eventually_within(Duration::from_secs(30), || service.try_wait().ok().flatten());
    assert!(exited.is_some_and(|s| s.success()), "the service went idle and exited: {exited:?}");
    env.service = None;
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Running}}", "waited"]).trim(), "true", "the container runs on");
    env.ok(&["rm", "-f", "waited"]);
}

/// A client that hangs up while the service streams to it (`logs -f`,
/// `stats`) leaves the service serving: a write to the closed connection
/// is an error to handle, not a SIGPIPE that kills it.
#[test]
fn clients_that_hang_up_mid_stream_leave_the_service_up() {
    let Some(mut env) = Env::new() else { return };
    env.serve();
    let loop_ = "while true; do echo tick; sleep 0.02; done";
    env.docker_ok(&["run", "-d", "--name", "chatty", "localhost/bb", "sh", "-c", loop_]);
    for args in [&["logs", "-f", "chatty"][..], &["stats", "chatty"][..], &["events"][..]] {
        let mut client = Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", env.socket().display()))
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("docker");
        std::thread::sleep(Duration::from_millis(700));
        client.kill().expect("kill the client");
        let _ = client.wait();
        env.docker_ok(&["restart", "-t", "0", "chatty"]);
        std::thread::sleep(Duration::from_millis(1500));
        assert!(env.docker_ok(&["ps", "--format", "{{.Names}}"]).contains("chatty"), "after {args:?}");
    }
    env.docker_ok(&["rm", "-f", "chatty"]);
}
