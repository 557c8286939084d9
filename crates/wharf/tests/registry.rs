//! pull, push and login against real registries: the Debian
//! `docker-registry` package (the CNCF distribution registry) started by
//! each test on 127.0.0.1, plain or with htpasswd auth, and skopeo as the
//! peer client. A proxy of the test's own stands in front of a registry to
//! corrupt, cut or refuse blob downloads.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use common::Env;

use common::registry::{have_registry, Registry};

/// A registry behind bearer tokens from `tokens`, which it trusts.
fn start_token(tokens: &TokenServer) -> Registry {
    let auth = format!(
        "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {TOKEN_SERVICE}\n    \
         issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
        tokens.port,
        tokens.cert.display()
    );
    Registry::start_with(tempfile::tempdir().expect("tempdir"), &auth, None)
}

/// A second store beside the env's: a machine that has never seen the image.
fn fresh_root(env: &Env, name: &str) -> PathBuf {
    env.path().join(name)
}

fn wharf_at(root: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run wharf");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A two-layer image: busybox plus a file.
fn two_layer_image(env: &Env, tag: &str) -> String {
    let ctx = env.path().join(format!("ctx-{}", tag.replace(['/', ':'], "_")));
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM localhost/bb\nRUN echo pulled-and-ran > /msg\nCMD [\"cat\", \"/msg\"]\n",
    )
    .expect("Dockerfile");
    env.ok(&["build", "-q", "-t", tag, ctx.to_str().expect("utf8")]);
    env.ok(&["image", "inspect", "--format", "{{.Id}}", tag]).trim().to_owned()
}

#[test]
fn push_then_pull_on_a_fresh_root_gives_the_same_image_and_it_runs() {
    let Some(env) = Env::new() else { return };
    if !have_registry() {
        return;
    }
    let reg = Registry::start(None);
    let name = format!("{}/wharf/app:v1", reg.addr());
    let id = two_layer_image(&env, &name);
    let out = env.ok(&["push", &name]);
    assert!(out.contains(&format!("The push refers to repository [{}/wharf/app]", reg.addr())), "{out}");
    // New layers upload while they are compressed, in one streamed request.
    assert!(!out.contains("Retrying"), "the streamed uploads went through: {out}");
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    // Everything is there now: a second push uploads nothing.
    let again = env.ok(&["push", &name]);
    assert!(again.contains("Layer already exists"), "{again}");
    assert!(!again.contains(": Pushed"), "{again}");

    let other = fresh_root(&env, "other");
    let (code, out, err) = wharf_at(&other, &["pull", &name]);
    assert_eq!(code, 0, "{err}{out}");
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains(&format!("Status: Downloaded newer image for {name}")), "{out}");
    let (_, pulled_id, _) = wharf_at(&other, &["image", "inspect", "--format", "{{.Id}}", &name]);
    assert_eq!(pulled_id.trim(), id, "the same image ID on both sides");
    let (code, out, err) = wharf_at(&other, &["run", "--rm", &name]);
    assert_eq!((code, out.trim()), (0, "pulled-and-ran"), "{err}");
    // The repo digest docker shows is the manifest the push printed.
    let digest = again.lines().find_map(|l| l.split("digest: ").nth(1)).and_then(|r| r.split(' ').next());
    let (_, digests, _) = wharf_at(&other, &["image", "inspect", "--format", "{{json .RepoDigests}}", &name]);
    assert!(digests.contains(digest.expect("push printed a digest")), "{digests}");
    // Pulling again fetches nothing.
    let (code, out, _) = wharf_at(&other, &["pull", &name]);
    assert_eq!(code, 0);
    assert!(out.contains("Status: Image is up to date"), "{out}");
    // By digest, too.
    let by_digest = format!("{}/wharf/app@{}", reg.addr(), digest.expect("digest"));
    let third = fresh_root(&env, "third");
    let (code, _, err) = wharf_at(&third, &["pull", "-q", &by_digest]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = wharf_at(&third, &["run", "--rm", &by_digest]);
    assert_eq!((code, out.trim()), (0, "pulled-and-ran"));
}

#[test]
fn run_and_from_pull_what_is_missing() {
    let Some(env) = Env::new() else { return };
    if !have_registry() {
        return;
    }
    let reg = Registry::start(None);
    let name = format!("{}/wharf/base:1", reg.addr());
    two_layer_image(&env, &name);
    env.ok(&["push", &name]);
    let other = fresh_root(&env, "other");
    let (code, _, err) = wharf_at(&other, &["run", "--rm", "--pull=never", &name]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("No such image"), "{err}");
    let (code, out, err) = wharf_at(&other, &["run", "--rm", &name]);
    assert_eq!((code, out.trim()), (0, "pulled-and-ran"), "{err}");
    assert!(err.contains(&format!("Unable to find image '{name}' locally")), "{err}");

    let built = fresh_root(&env, "built");
    let ctx = env.path().join("ctx-from");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("Dockerfile"), format!("FROM {name}\nRUN cat /msg > /copy\nCMD [\"cat\", \"/copy\"]\n"))
        .expect("Dockerfile");
    let (code, _, err) =
        wharf_at(&built, &["build", "--progress=plain", "-t", "localhost/child", ctx.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("load metadata for"), "{err}");
    let (code, out, _) = wharf_at(&built, &["run", "--rm", "localhost/child"]);
    assert_eq!((code, out.trim()), (0, "pulled-and-ran"));
}

#[test]
fn skopeo_reads_what_wharf_pushed_and_wharf_runs_what_skopeo_pushed() {
    let Some(env) = Env::new() else { return };
    if !have_registry() {
        return;
    }
    let reg = Registry::start(None);
    let name = format!("{}/wharf/app:v1", reg.addr());
    two_layer_image(&env, &name);
    env.ok(&["push", &name]);
    let dir = env.path().join("skopeo-dir");
    let o = Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false", &format!("docker://{name}")])
        .arg(format!("dir:{}", dir.display()))
        .output()
        .expect("skopeo");
    assert!(o.status.success(), "skopeo copy from the registry: {}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.join("manifest.json").exists());

    // skopeo pushes (docker schema2, its own gzip) from a docker archive.
    let archive = env.path().join("bb.tar");
    env.ok(&["save", "-o", archive.to_str().expect("utf8"), "localhost/bb"]);
    let theirs = format!("{}/skopeo/bb:latest", reg.addr());
    let o = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("docker://{theirs}"))
        .output()
        .expect("skopeo");
    assert!(o.status.success(), "skopeo copy to the registry: {}", String::from_utf8_lossy(&o.stderr));
    let other = fresh_root(&env, "other");
    let (code, out, err) = wharf_at(&other, &["pull", &theirs]);
    assert_eq!(code, 0, "{err}{out}");
    let (code, out, err) = wharf_at(&other, &["run", "--rm", &theirs, "echo", "from-skopeo"]);
    assert_eq!((code, out.trim()), (0, "from-skopeo"), "{err}");
}

/// PUTs a manifest list naming two pushed images under two platforms.
fn put_index(reg: &Registry, repo: &str, entries: &[(&str, &str, usize)]) {
    let manifests: Vec<String> = entries
        .iter()
        .map(|(digest, arch, size)| {
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{size},"platform":{{"os":"linux","architecture":"{arch}"}}}}"#
            )
        })
        .collect();
    let body = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        manifests.join(",")
    );
    let o = Command::new("curl")
        .args([
            "-sf",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.index.v1+json",
            "--data-binary",
            &body,
        ])
        .arg(format!("http://{}/v2/{repo}/manifests/multi", reg.addr()))
        .output()
        .expect("curl");
    assert!(o.status.success(), "PUT index: {}", String::from_utf8_lossy(&o.stderr));
}

fn pushed(out: &str) -> (String, usize) {
    let line = out.lines().find(|l| l.contains(": digest: ")).expect("a digest line");
    let digest = line.split("digest: ").nth(1).and_then(|r| r.split(' ').next()).expect("digest");
    let size = line.rsplit("size: ").next().and_then(|s| s.trim().parse().ok()).expect("size");
    (digest.to_owned(), size)
}

#[test]
fn a_multi_platform_index_gives_the_requested_platform() {
    let Some(env) = Env::new() else { return };
    if !have_registry() {
        return;
    }
    let reg = Registry::start(None);
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let other_arch = if host_arch == "amd64" { "arm64" } else { "amd64" };
    let native = format!("{}/multi/app:native", reg.addr());
    let native_id = two_layer_image(&env, &native);
    let foreign = format!("{}/multi/app:foreign", reg.addr());
    env.ok(&["tag", "localhost/bb", &foreign]);
    let foreign_id = env.ok(&["image", "inspect", "--format", "{{.Id}}", &foreign]).trim().to_owned();
    let (nd, ns) = pushed(&env.ok(&["push", &native]));
    let (fd, fs) = pushed(&env.ok(&["push", &foreign]));
    put_index(&reg, "multi/app", &[(&fd, other_arch, fs), (&nd, host_arch, ns)]);
    let multi = format!("{}/multi/app:multi", reg.addr());

    let a = fresh_root(&env, "a");
    let (code, _, err) = wharf_at(&a, &["pull", &multi]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(wharf_at(&a, &["image", "inspect", "--format", "{{.Id}}", &multi]).1.trim(), native_id);
    let b = fresh_root(&env, "b");
    let (code, _, err) = wharf_at(&b, &["pull", "--platform", &format!("linux/{other_arch}"), &multi]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(wharf_at(&b, &["image", "inspect", "--format", "{{.Id}}", &multi]).1.trim(), foreign_id);
    let (code, _, err) = wharf_at(&b, &["pull", "--platform", "linux/s390x", &multi]);
    assert_eq!(code, 1);
    assert!(err.contains("no matching manifest for linux/s390x"), "{err}");
}

#[test]
fn basic_auth_login_push_pull_logout() {
    let Some(env) = Env::new() else { return };
    if !have_registry() {
        return;
    }
    let reg = Registry::start(Some(("alice", "s3cret")));
    let config = env.path().join("docker-config");
    let name = format!("{}/private/app:v1", reg.addr());
    two_layer_image(&env, &name);
    let with_config = |root: &Path, args: &[&str], stdin: &str| wharf_with_config(&config, root, args, stdin);
    let root = env.root();
    let (code, _, err) = with_config(&root, &["push", &name], "");
    assert_eq!(code, 1, "push without credentials must fail");
    assert!(err.contains("unauthorized"), "{err}");
    let (code, _, err) = with_config(&root, &["login", "-u", "alice", "--password-stdin", &reg.addr()], "wrong\n");
    assert_eq!(code, 1);
    assert!(err.contains("incorrect username or password"), "{err}");
    assert!(
        !config.join("config.json").exists()
            || !std::fs::read_to_string(config.join("config.json")).unwrap_or_default().contains(&reg.addr())
    );
    let (code, out, err) = with_config(&root, &["login", "-u", "alice", "--password-stdin", &reg.addr()], "s3cret\n");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "Login Succeeded");
    let saved = std::fs::read_to_string(config.join("config.json")).expect("config.json written");
    assert!(saved.contains(&reg.addr()), "{saved}");
    let (code, out, err) = with_config(&root, &["push", &name], "");
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("Retrying"), "the streamed uploads carried the credentials: {out}");
    let other = fresh_root(&env, "other");
    let (code, out, err) = with_config(&other, &["run", "--rm", &name], "");
    assert_eq!((code, out.trim()), (0, "pulled-and-ran"), "{err}");
    let (code, out, _) = with_config(&root, &["logout", &reg.addr()], "");
    assert_eq!(code, 0);
    assert!(out.contains("Removing login credentials"), "{out}");
    let third = fresh_root(&env, "third");
    let (code, _, err) = with_config(&third, &["pull", &name], "");
    assert_eq!(code, 1);
    assert!(err.contains("unauthorized"), "{err}");
}

const TOKEN_SERVICE: &str = "wharf-test-registry";
const TOKEN_ISSUER: &str = "wharf-test-issuer";

/// A token server as docker's token-auth spec describes it, for the bearer
/// flow: `GET /token?service=S&scope=repository:NAME:ACTIONS` with the basic
/// credentials alice:s3cret gets a JWT that grants the scopes asked for;
/// wrong credentials get 401; none get a token that grants nothing. Tokens
/// are RS256, signed with openssl by a key whose self-signed certificate
/// rides in the `x5c` header and is the registry's `rootcertbundle`.
struct TokenServer {
    port: u16,
    cert: PathBuf,
    /// Tokens issued to the right credentials.
    granted: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl TokenServer {
    fn start() -> TokenServer {
        use base64::Engine;
        let dir = tempfile::tempdir().expect("tempdir");
        let sh = "set -e; openssl req -x509 -newkey rsa:2048 -nodes -keyout token.key -out token.pem -days 2 \
                  -subj /CN=wharf-test-tokens; openssl x509 -in token.pem -outform DER -out token.der";
        let o = Command::new("sh").arg("-c").arg(sh).current_dir(dir.path()).output().expect("openssl");
        assert!(o.status.success(), "openssl: {}", String::from_utf8_lossy(&o.stderr));
        let der = std::fs::read(dir.path().join("token.der")).expect("token.der");
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let granted = Arc::new(AtomicUsize::new(0));
        let (key, count) = (dir.path().join("token.key"), granted.clone());
        std::thread::spawn(move || {
            for (n, client) in listener.incoming().flatten().enumerate() {
                let (key, x5c, count) = (key.clone(), x5c.clone(), count.clone());
                std::thread::spawn(move || {
                    let _ = serve_token(client, &key, &x5c, n, &count);
                });
            }
        });
        TokenServer { port, cert: dir.path().join("token.pem"), granted, _dir: dir }
    }
}

fn serve_token(mut client: TcpStream, key: &Path, x5c: &str, n: usize, granted: &AtomicUsize) -> std::io::Result<()> {
    use base64::Engine;
    let Some(head) = read_head(&mut client)? else { return Ok(()) };
    let target = head.split_whitespace().nth(1).unwrap_or_default();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let basic = head.lines().find_map(|l| {
        l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("authorization")).map(|(_, v)| v.trim())
    });
    let right = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:s3cret"));
    if basic.is_some_and(|b| b != right) {
        return client.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
    let access: Vec<serde_json::Value> = if basic.is_some() {
        granted.fetch_add(1, Ordering::SeqCst);
        query
            .split('&')
            .filter_map(|kv| kv.strip_prefix("scope="))
            .filter_map(|s| scope_access(&percent_decode(s)))
            .collect()
    } else {
        Vec::new()
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER, "sub": if basic.is_some() { "alice" } else { "" }, "aud": TOKEN_SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("t{n}"), "access": access,
    });
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let input = key.with_file_name(format!("input-{n}"));
    std::fs::write(&input, &signing_input)?;
    let sig = Command::new("openssl").args(["dgst", "-sha256", "-binary", "-sign"]).arg(key).arg(&input).output()?;
    assert!(sig.status.success(), "openssl dgst: {}", String::from_utf8_lossy(&sig.stderr));
    let token = format!("{signing_input}.{}", b64(&sig.stdout));
    let body = serde_json::json!({"token": token, "access_token": token, "expires_in": 300}).to_string();
    write!(
        client,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// `repository:NAME:pull,push` as a token's access entry.
fn scope_access(scope: &str) -> Option<serde_json::Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
}

/// `%3A` → `:`, `+` → space: a query value as sent.
fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hex: String = bytes.by_ref().take(2).map(char::from).collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap_or(b'?'));
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn bearer_token_login_push_pull_logout() {
    let Some(env) = Env::new() else { return };
    if !have_registry() {
        return;
    }
    let tokens = TokenServer::start();
    let reg = start_token(&tokens);
    let config = env.path().join("docker-config");
    let name = format!("{}/private/app:v1", reg.addr());
    two_layer_image(&env, &name);
    let root = env.root();
    let (code, _, err) = wharf_with_config(&config, &root, &["push", &name], "");
    assert_eq!(code, 1, "an anonymous token grants no push");
    assert!(err.contains("unauthorized") || err.contains("denied"), "{err}");
    let (code, _, err) =
        wharf_with_config(&config, &root, &["login", "-u", "alice", "--password-stdin", &reg.addr()], "wrong\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("401"), "the token server's refusal: {err}");
    let (code, out, err) =
        wharf_with_config(&config, &root, &["login", "-u", "alice", "--password-stdin", &reg.addr()], "s3cret\n");
    assert_eq!((code, out.trim()), (0, "Login Succeeded"), "{err}");
    let before = tokens.granted.load(Ordering::SeqCst);
    let (code, out, err) = wharf_with_config(&config, &root, &["push", &name], "");
    assert_eq!(code, 0, "{err}");
    assert!(tokens.granted.load(Ordering::SeqCst) > before, "push went through the token server");
    assert!(!out.contains("Retrying"), "the streamed uploads carried the token: {out}");
    let (code, out, err) = wharf_with_config(&config, &fresh_root(&env, "other"), &["run", "--rm", &name], "");
    assert_eq!((code, out.trim()), (0, "pulled-and-ran"), "{err}");
    wharf_with_config(&config, &root, &["logout", &reg.addr()], "");
    let (code, _, err) = wharf_with_config(&config, &fresh_root(&env, "third"), &["pull", &name], "");
    assert_eq!(code, 1, "after logout, pulls are anonymous again");
    assert!(err.contains("unauthorized") || err.contains("denied"), "{err}");
}

/// wharf with `DOCKER_CONFIG` set and `stdin` written to it: exit code,
/// stdout, stderr.
fn wharf_with_config(config: &Path, root: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wharf"));
    c.arg("--root").arg(root).args(args).env("DOCKER_CONFIG", config);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("wharf");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let o = child.wait_with_output().expect("wait");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// What the proxy does to the download of one blob.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    /// Flip one byte of the body.
    Corrupt,
    /// Send half the body, then close.
    Cut,
    /// Answer 503 to the first N requests, then pass.
    Unavailable(usize),
    /// Pass half the body, tell the test, and hang until it says go.
    Stall,
    /// Answer 503 to every PATCH (a chunk of an upload), of any blob.
    RefusePatch,
    /// Answer 503 to every POST (the start of an upload).
    RefusePost,
}

/// An HTTP/1.1 proxy (one request per connection) in front of `upstream`
/// that applies `fault` to GETs of `blob`. Returns its port and a channel
/// that says when a stalled download is half sent.
fn start_proxy(upstream: u16, blob: String, fault: Fault) -> (u16, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (half_tx, half_rx) = mpsc::channel();
    let seen = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let (blob, seen, half_tx) = (blob.clone(), seen.clone(), half_tx.clone());
            std::thread::spawn(move || {
                let _ = proxy_one(client, upstream, &blob, fault, &seen, &half_tx);
            });
        }
    });
    (port, half_rx)
}

/// An HTTP request's head (request line and headers), read byte by byte so
/// that nothing of the body is consumed; None for a closed connection or
/// one that is not HTTP (a TLS probe).
fn read_head(client: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 || (head.is_empty() && !byte[0].is_ascii_uppercase()) {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}

fn proxy_one(
    mut client: TcpStream,
    upstream: u16,
    blob: &str,
    fault: Fault,
    seen: &AtomicUsize,
    half: &mpsc::Sender<()>,
) -> std::io::Result<()> {
    let Some(text) = read_head(&mut client)? else { return Ok(()) };
    let mut lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    let request_line = lines.remove(0).to_owned();
    let mut out = format!("{request_line}\r\n");
    let mut body_len = 0usize;
    for l in lines {
        let lower = l.to_ascii_lowercase();
        if lower.starts_with("connection:") {
            continue;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            body_len = v.trim().parse().unwrap_or(0);
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut body = vec![0u8; body_len];
    client.read_exact(&mut body)?;
    let refused = match fault {
        Fault::RefusePatch => request_line.starts_with("PATCH "),
        Fault::RefusePost => request_line.starts_with("POST "),
        _ => false,
    };
    if refused {
        return client.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
    let targeted = request_line.starts_with("GET ") && request_line.contains(&format!("/blobs/{blob}"));
    if targeted {
        if let Fault::Unavailable(n) = fault {
            if seen.fetch_add(1, Ordering::SeqCst) < n {
                client
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
                return Ok(());
            }
        }
    }
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.write_all(out.as_bytes())?;
    up.write_all(&body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |p| p + 4);
    if !targeted || split >= response.len() {
        return client.write_all(&response);
    }
    let (resp_head, resp_body) = response.split_at(split);
    let mut resp_body = resp_body.to_vec();
    client.write_all(resp_head)?;
    let mid = resp_body.len() / 2;
    match fault {
        Fault::Corrupt => {
            resp_body[mid] ^= 0xff;
            client.write_all(&resp_body)
        }
        Fault::Cut => client.write_all(&resp_body[..mid]),
        Fault::Stall => {
            client.write_all(&resp_body[..mid])?;
            client.flush()?;
            let _ = half.send(());
            // The test kills the client; the write then fails.
            std::thread::sleep(std::time::Duration::from_secs(30));
            client.write_all(&resp_body[mid..])
        }
        Fault::Unavailable(_) | Fault::RefusePatch | Fault::RefusePost => client.write_all(&resp_body),
    }
}

/// The blob digest of an image's top layer, from the manifest push made.
fn top_layer_blob(env: &Env, reg: &Registry, repo_tag: &str) -> String {
    let (repo, tag) = repo_tag.rsplit_once(':').expect("tag");
    let path = repo.split_once('/').map(|(_, p)| p).expect("path");
    let o = Command::new("curl")
        .args(["-sf", "-H", "Accept: application/vnd.oci.image.manifest.v1+json"])
        .arg(format!("http://{}/v2/{path}/manifests/{tag}", reg.addr()))
        .output()
        .expect("curl");
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).expect("manifest JSON");
    let _ = env;
    m["layers"].as_array().and_then(|l| l.last()).and_then(|l| l["digest"].as_str()).expect("a layer").to_owned()
}

fn store_is_clean(root: &Path) {
    let (code, out, err) = wharf_at(root, &["system", "check"]);
    assert_eq!(code, 0, "system check: {out}{err}");
    let tmp: Vec<_> = std::fs::read_dir(root.join("tmp")).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(tmp.is_empty(), "leftovers in tmp/: {:?}", tmp.iter().map(|e| e.path()).collect::<Vec<_>>());
}

#[test]
fn wrong_or_cut_blobs_fail_clearly_and_leave_nothing_and_transient_errors_are_retried() {
    let Some(env) = Env::new() else { return };
    if !have_registry() {
        return;
    }
    let reg = Registry::start(None);
    let name = format!("{}/faults/app:v1", reg.addr());
    two_layer_image(&env, &name);
    env.ok(&["push", &name]);
    let blob = top_layer_blob(&env, &reg, &name);
    for (i, fault) in [Fault::Corrupt, Fault::Cut].into_iter().enumerate() {
        let (port, _) = start_proxy(reg.port, blob.clone(), fault);
        let via = format!("127.0.0.1:{port}/faults/app:v1");
        let root = fresh_root(&env, &format!("fault{i}"));
        let (code, out, err) = wharf_at(&root, &["pull", &via]);
        assert_eq!(code, 1, "a bad blob must fail the pull: {out}{err}");
        assert!(err.contains(&blob), "the error names the blob: {err}");
        assert!(out.contains("Retrying"), "the blob was tried again: {out}");
        let (_, images, _) = wharf_at(&root, &["images", "-q"]);
        assert_eq!(images.trim(), "", "nothing half-pulled is an image");
        let (_, files, _) = wharf_at(&root, &["system", "check"]);
        assert!(!files.contains(&blob[7..]), "no blob stored under its digest: {files}");
        store_is_clean(&root);
    }
    // Two 503s, then the blob: the pull succeeds.
    let (port, _) = start_proxy(reg.port, blob.clone(), Fault::Unavailable(2));
    let via = format!("127.0.0.1:{port}/faults/app:v1");
    let root = fresh_root(&env, "flaky");
    let (code, out, err) = wharf_at(&root, &["run", "--rm", &via]);
    assert_eq!((code, out.trim()), (0, "pulled-and-ran"), "{err}");
}

#[test]
fn a_push_whose_streamed_upload_is_refused_uploads_the_kept_blob_instead() {
    let Some(env) = Env::new() else { return };
    if !have_registry() {
        return;
    }
    let reg = Registry::start(None);
    let (port, _) = start_proxy(reg.port, String::new(), Fault::RefusePatch);
    let name = format!("127.0.0.1:{port}/refused/app:v1");
    let id = two_layer_image(&env, &name);
    // New layers are compressed while they upload, as one PATCH; the proxy
    // refuses it, so each layer goes again whole, from the blob the store
    // kept.
    let out = env.ok(&["push", &name]);
    assert!(out.contains("Retrying"), "the refused uploads were tried again: {out}");
    assert!(out.contains(": Pushed"), "{out}");
    let root = fresh_root(&env, "after-refusal");
    let direct = format!("{}/refused/app:v1", reg.addr());
    let (code, out, err) = wharf_at(&root, &["run", "--rm", &direct]);
    assert_eq!((code, out.trim()), (0, "pulled-and-ran"), "{err}");
    let (_, pulled, _) = wharf_at(&root, &["image", "inspect", "--format", "{{.Id}}", &direct]);
    assert_eq!(pulled.trim(), id, "the same image came back");
}

#[test]
fn a_push_whose_uploads_cannot_start_fails_clearly_even_with_a_large_layer() {
    let Some(env) = Env::new() else { return };
    if !have_registry() {
        return;
    }
    let reg = Registry::start(None);
    let (port, _) = start_proxy(reg.port, String::new(), Fault::RefusePost);
    let name = format!("127.0.0.1:{port}/no-uploads/app:v1");
    // More compressed bytes than the compressor may get ahead of an upload
    // (four gzip members, of 4 MiB of input each): with no upload to take
    // them, it must not wait for one.
    let ctx = env.path().join("ctx-large");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(ctx.join("Dockerfile"), "FROM localhost/bb\nRUN head -c 24000000 /dev/urandom > /noise\n")
        .expect("Dockerfile");
    env.ok(&["build", "-q", "-t", &name, ctx.to_str().expect("utf8")]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("--root")
        .arg(env.root())
        .args(["push", &name])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wharf push");
    let ended = common::eventually_within(std::time::Duration::from_secs(120), || {
        child.try_wait().expect("wait for wharf push").map(|status| status.code())
    });
    if ended.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("push output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(ended, Some(Some(1)), "the push must end, refused: {err}");
    assert!(err.contains("503"), "the error says what the registry answered: {err}");
}

#[test]
fn a_pull_killed_mid_blob_leaves_a_store_that_check_repairs_and_the_next_pull_completes() {
    let Some(env) = Env::new() else { return };
    if !have_registry() {
        return;
    }
    let reg = Registry::start(None);
    let name = format!("{}/killed/app:v1", reg.addr());
    two_layer_image(&env, &name);
    env.ok(&["push", &name]);
    let blob = top_layer_blob(&env, &reg, &name);
    let (port, half) = start_proxy(reg.port, blob, Fault::Stall);
    let via = format!("127.0.0.1:{port}/killed/app:v1");
    let root = fresh_root(&env, "killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("--root")
        .arg(&root)
        .args(["pull", &via])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("wharf pull");
    half.recv_timeout(std::time::Duration::from_secs(60)).expect("the download reached its middle");
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let (code, out, err) = wharf_at(&root, &["system", "check", "--repair"]);
    assert_eq!(code, 0, "{out}{err}");
    store_is_clean(&root);
    let (_, images, _) = wharf_at(&root, &["images", "-q"]);
    assert_eq!(images.trim(), "");
    // Straight from the registry this time.
    let (code, out, err) = wharf_at(&root, &["run", "--rm", &name]);
    assert_eq!((code, out.trim()), (0, "pulled-and-ran"), "{err}");
}

#[test]
fn zstd_layers_push_and_pull() {
    let Some(env) = Env::new() else { return };
    if !have_registry() {
        return;
    }
    let reg = Registry::start(None);
    let name = format!("{}/zstd/app:v1", reg.addr());
    let id = two_layer_image(&env, &name);
    env.ok(&["push", "--compression", "zstd", &name]);
    let blob = top_layer_blob(&env, &reg, &name);
    let o = Command::new("curl")
        .args(["-sf", "-r", "0-3"])
        .arg(format!("http://{}/v2/zstd/app/blobs/{blob}", reg.addr()))
        .output()
        .expect("curl");
    assert_eq!(o.stdout, [0x28, 0xb5, 0x2f, 0xfd], "the layer blob is zstd");
    let other = fresh_root(&env, "other");
    let (code, _, err) = wharf_at(&other, &["pull", &name]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(wharf_at(&other, &["image", "inspect", "--format", "{{.Id}}", &name]).1.trim(), id);
    let (code, out, _) = wharf_at(&other, &["run", "--rm", &name]);
    assert_eq!((code, out.trim()), (0, "pulled-and-ran"));
}

#[test]
fn a_credential_helper_stores_and_serves_the_login() {
    let Some(env) = Env::new() else { return };
    if !have_registry() {
        return;
    }
    let reg = Registry::start(Some(("bob", "hunter2")));
    let name = format!("{}/helped/app:v1", reg.addr());
    two_layer_image(&env, &name);
    // A helper speaking docker's credential-helper protocol, keeping what
    // it is given in a file.
    let bin = env.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let store = env.path().join("helper-store.json");
    let helper = bin.join("docker-credential-testhelper");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  store) cat > {s} ;;\n  get) if [ -s {s} ]; then cat {s}; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n  erase) rm -f {s} ;;\nesac\n",
            s = store.display()
        ),
    )
    .expect("helper");
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let config = env.path().join("docker-config");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(config.join("config.json"), r#"{"credsStore": "testhelper"}"#).expect("config.json");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let run = |root: &Path, args: &[&str], stdin: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wharf"));
        c.arg("--root").arg(root).args(args).env("DOCKER_CONFIG", &config).env("PATH", &path);
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("wharf");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("stdin");
        let o = child.wait_with_output().expect("wait");
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (code, err) = run(&env.root(), &["login", "-u", "bob", "--password-stdin", &reg.addr()], "hunter2\n");
    assert_eq!(code, 0, "{err}");
    let kept = std::fs::read_to_string(&store).expect("the helper was asked to store");
    assert!(kept.contains("\"Username\":\"bob\"") && kept.contains("hunter2"), "{kept}");
    let cfg = std::fs::read_to_string(config.join("config.json")).expect("config.json");
    assert!(!cfg.contains("hunter2"), "no password inline when a helper is configured: {cfg}");
    let (code, err) = run(&env.root(), &["push", &name], "");
    assert_eq!(code, 0, "{err}");
    let (code, err) = run(&env.root(), &["logout", &reg.addr()], "");
    assert_eq!(code, 0, "{err}");
    assert!(!store.exists(), "logout erased through the helper");
    let (code, err) = run(&fresh_root(&env, "other"), &["pull", &name], "");
    assert_eq!(code, 1);
    assert!(err.contains("unauthorized"), "{err}");
}

/// A CA and a certificate it signed for 127.0.0.1, made with openssl.
fn make_certs(dir: &Path) {
    let sh = format!(
        "set -e; cd {d}; \
         openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=wharf test CA'; \
         openssl req -newkey rsa:2048 -nodes -keyout key.pem -out leaf.csr -subj /CN=127.0.0.1; \
         printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf; \
         openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 -extfile ext.cnf",
        d = dir.display()
    );
    let o = Command::new("sh").arg("-c").arg(sh).output().expect("openssl");
    assert!(o.status.success(), "openssl: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn https_registries_are_verified_against_the_system_ca_store() {
    let Some(env) = Env::new() else { return };
    if !have_registry() {
        return;
    }
    let certs = env.path().join("certs");
    std::fs::create_dir_all(&certs).expect("certs");
    make_certs(&certs);
    let reg = Registry::start_tls(None, Some(&certs));
    let name = format!("{}/tls/app:v1", reg.addr());
    two_layer_image(&env, &name);
    // 127.0.0.0/8 is insecure by default, as for docker: HTTPS, any certificate.
    let out = env.ok(&["push", &name]);
    assert!(!out.contains("Retrying"), "the streamed uploads spoke HTTPS: {out}");
    let with_ca = |root: &Path, args: &[&str], ca: Option<&Path>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wharf"));
        c.arg("--root").arg(root).args(args).stdin(Stdio::null());
        if let Some(ca) = ca {
            c.env("SSL_CERT_FILE", ca);
        }
        let o = c.output().expect("wharf");
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let other = fresh_root(&env, "other");
    let (code, err) = with_ca(&other, &["pull", "--tls-verify", &name], None);
    assert_eq!(code, 1, "an unknown CA must be refused: {err}");
    assert!(err.contains("certificate"), "{err}");
    let (code, err) = with_ca(&other, &["pull", "--tls-verify", &name], Some(&certs.join("ca.pem")));
    assert_eq!(code, 0, "trusted through SSL_CERT_FILE: {err}");
    let (code, out, err) = wharf_at(&other, &["run", "--rm", &name]);
    assert_eq!((code, out.trim()), (0, "pulled-and-ran"), "{err}");
}

/// Eight pulls of one image at once into an empty store: all succeed (the
/// layers are extracted once and shared), and the image runs.
#[test]
fn concurrent_pulls_of_one_image_all_succeed() {
    let Some(env) = Env::new() else { return };
    if !have_registry() {
        return;
    }
    let reg = Registry::start(None);
    let name = format!("{}/wharf/many:v1", reg.addr());
    let id = two_layer_image(&env, &name);
    env.ok(&["push", &name]);
    let other = fresh_root(&env, "many");
    std::fs::create_dir_all(&other).expect("mkdir");
    let pulls: Vec<_> = (0..8)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_wharf"))
                .arg("--root")
                .arg(&other)
                .args(["pull", "-q", &name])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("pull")
        })
        .collect();
    for p in pulls {
        let o = p.wait_with_output().expect("wait");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (_, pulled_id, _) = wharf_at(&other, &["image", "inspect", "--format", "{{.Id}}", &name]);
    assert_eq!(pulled_id.trim(), id);
    let (code, out, err) = wharf_at(&other, &["run", "--rm", &name]);
    assert_eq!((code, out.trim()), (0, "pulled-and-ran"), "{err}");
    let (code, out, _) = wharf_at(&other, &["system", "check"]);
    assert_eq!(code, 0, "{out}");
}
