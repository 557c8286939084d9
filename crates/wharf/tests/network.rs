//! Networking through the real binary as root: a published port answers
//! on 127.0.0.1 and on the host's address, containers on the bridge reach
//! each other, `--network none` reaches nothing, a taken port is refused
//! without leaving a container behind. Traffic stays on loopback and on
//! the bridge wharf makes.

mod common;
use common::{eventually, http_get, Env};

fn serve(env: &Env, name: &str, port: &str, text: &str) -> String {
    let www = env.path().join(format!("www-{name}"));
    std::fs::create_dir_all(&www).expect("mkdir");
    std::fs::write(www.join("index.html"), text).expect("write");
    let vol = format!("{}:/www:ro", www.display());
    env.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "-p",
        port,
        "-v",
        &vol,
        "localhost/bb",
        "httpd",
        "-f",
        "-p",
        "5000",
        "-h",
        "/www",
    ])
    .trim()
    .to_owned()
}

#[test]
fn published_port_answers_on_loopback_and_host_address() {
    let Some(env) = Env::new() else { return };
    serve(&env, "web", "15001:5000", "hello world!\n");
    let body = eventually(|| http_get("127.0.0.1:15001"));
    assert_eq!(body.as_deref(), Some("hello world!\n"));
    let ps = env.ok(&["ps", "--format", "{{.Ports}}"]);
    assert_eq!(ps.trim(), "0.0.0.0:15001->5000/tcp");
    // The host's own (non-loopback) address, when it has one.
    let out = std::process::Command::new("hostname").arg("-I").output().expect("hostname");
    if let Some(ip) =
        String::from_utf8_lossy(&out.stdout).split_whitespace().find(|a| a.contains('.') && !a.starts_with("10.89."))
    {
        assert_eq!(http_get(&format!("{ip}:15001")).as_deref(), Some("hello world!\n"));
    }
    // A second container cannot take the port; nothing is left of it.
    let before = env.ok(&["ps", "-aq"]).lines().count();
    let (code, _, err) = env.out(&["run", "-d", "-p", "15001:80", "localhost/bb", "sleep", "100"]);
    assert_eq!(code, 125);
    assert!(err.contains("port is already allocated"), "{err}");
    assert_eq!(env.ok(&["ps", "-aq"]).lines().count(), before);
    env.ok(&["rm", "-f", "web"]);
    assert!(http_get("127.0.0.1:15001").is_none());
}

#[test]
fn bridge_containers_reach_each_other_and_none_reaches_nothing() {
    let Some(env) = Env::new() else { return };
    serve(&env, "srv", "15002:5000", "from srv\n");
    let ip = env.ok(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", "srv"]).trim().to_owned();
    assert!(ip.starts_with("10.89."), "{ip}");
    let url = format!("http://{ip}:5000/");
    let got = eventually(|| {
        let (code, out, _) = env.out(&["run", "--rm", "localhost/bb", "wget", "-q", "-O", "-", &url]);
        (code == 0).then_some(out)
    });
    assert_eq!(got.as_deref(), Some("from srv\n"));
    let (code, out, _) = env.out(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/bb",
        "sh",
        "-c",
        "ls /sys/class/net; wget -T 2 -q -O - $0 && echo reached",
        &url,
    ]);
    assert_ne!(out.lines().last(), Some("reached"), "--network none reached {url}");
    assert_eq!(out.lines().next(), Some("lo"), "only lo with --network none: {out} ({code})");
    let hosts = env.ok(&["run", "--rm", "-h", "myhost", "localhost/bb", "sh", "-c", "hostname; tail -n1 /etc/hosts"]);
    let mut lines = hosts.lines();
    assert_eq!(lines.next(), Some("myhost"));
    assert!(lines.next().is_some_and(|l| l.ends_with("\tmyhost") && l.starts_with("10.89.")), "{hosts}");
}
