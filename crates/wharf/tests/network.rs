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
    // The MAC follows from the address, as docker's does: a container that
    // reuses a removed one's address is not hidden behind a stale
    // neighbour entry on the host.
    let mac = env.ok(&["inspect", "--format", "{{.NetworkSettings.MacAddress}}", "srv"]).trim().to_owned();
    let octets: Vec<String> = ip.split('.').map(|o| format!("{:02x}", o.parse::<u8>().expect("octet"))).collect();
    assert_eq!(mac, format!("02:42:{}", octets.join(":")));
    assert_eq!(env.ok(&["exec", "srv", "cat", "/sys/class/net/eth0/address"]).trim(), mac);
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

#[test]
fn user_networks_resolve_names_and_aliases() {
    let Some(env) = Env::new() else { return };
    let id = env.ok(&["network", "create", "appnet"]).trim().to_owned();
    assert_eq!(id.len(), 64);
    assert!(env.ok(&["network", "ls"]).lines().any(|l| l.contains("appnet") && l.contains("bridge")));
    let (code, _, err) = env.out(&["network", "create", "appnet"]);
    assert_ne!(code, 0, "{err}");
    serve(&env, "db", "15003:5000", "from db\n");
    // `serve` runs on the default bridge; a second server on appnet:
    let www = env.path().join("www-db");
    let vol = format!("{}:/www:ro", www.display());
    env.ok(&[
        "run",
        "-d",
        "--name",
        "api",
        "--network",
        "appnet",
        "--network-alias",
        "backend",
        "-v",
        &vol,
        "localhost/bb",
        "httpd",
        "-f",
        "-p",
        "5000",
        "-h",
        "/www",
    ]);
    for name in ["api", "backend"] {
        let url = format!("http://{name}:5000/");
        let got = eventually(|| {
            let (code, out, _) =
                env.out(&["run", "--rm", "--network", "appnet", "localhost/bb", "wget", "-q", "-O", "-", &url]);
            (code == 0).then_some(out)
        });
        assert_eq!(got.as_deref(), Some("from db\n"), "{name}");
    }
    let (_, out, _) = env.out(&[
        "run",
        "--rm",
        "--network",
        "appnet",
        "--add-host",
        "svc:10.1.2.3",
        "localhost/bb",
        "grep",
        "svc",
        "/etc/hosts",
    ]);
    assert_eq!(out.trim(), "10.1.2.3\tsvc");
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["network", "inspect", "appnet"])).expect("json");
    assert_eq!(v[0]["Containers"].as_object().map(|m| m.len()), Some(1));
    let (code, _, err) = env.out(&["network", "rm", "appnet"]);
    assert_eq!(code, 1, "in use: {err}");
    env.ok(&["rm", "-f", "api"]);
    env.ok(&["network", "rm", "appnet"]);
    assert!(!env.ok(&["network", "ls"]).contains("appnet"));
}

/// `--ip` on a user network: the container has that address (and keeps it
/// across a restart), a second container cannot take it, and docker's
/// refusals hold (the default bridge, an address outside the subnet).
#[test]
fn static_ip_on_a_user_network() {
    let Some(env) = Env::new() else { return };
    env.ok(&["network", "create", "--subnet", "10.93.7.0/24", "fixednet"]);
    let ip_of = "ip -4 -o addr show eth0 | awk '{print $4}'";
    env.ok(&[
        "run",
        "-d",
        "--name",
        "fixed",
        "--network",
        "fixednet",
        "--ip",
        "10.93.7.77",
        "localhost/bb",
        "sleep",
        "1000",
    ]);
    assert_eq!(env.ok(&["exec", "fixed", "sh", "-c", ip_of]).trim(), "10.93.7.77/24");
    let asked =
        "{{json .NetworkSettings.Networks.fixednet.IPAMConfig}} {{.NetworkSettings.Networks.fixednet.IPAddress}}";
    assert_eq!(env.ok(&["inspect", "-f", asked, "fixed"]).trim(), r#"{"IPv4Address":"10.93.7.77"} 10.93.7.77"#);
    let (code, _, err) =
        env.out(&["run", "--rm", "--network", "fixednet", "--ip", "10.93.7.77", "localhost/bb", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("Address already in use"), "{err}");
    // A container without --ip is given another address.
    let other = env.ok(&["run", "--rm", "--network", "fixednet", "localhost/bb", "sh", "-c", ip_of]);
    assert!(other.starts_with("10.93.7.") && !other.starts_with("10.93.7.77/"), "{other}");
    env.ok(&["restart", "-t", "0", "fixed"]);
    assert_eq!(env.ok(&["exec", "fixed", "sh", "-c", ip_of]).trim(), "10.93.7.77/24");
    for (net, ip, msg) in [
        ("bridge", "10.93.7.78", "user specified IP address is supported on user defined networks only"),
        ("fixednet", "10.93.8.1", "no configured subnet or ip-range contain the IP address 10.93.8.1"),
    ] {
        env.refused_run(&["--network", net, "--ip", ip], msg);
    }
    // --mac-address: eth0 has it (docker accepts '-' too), inspect shows it.
    let mac = env.ok(&[
        "run",
        "--rm",
        "--mac-address",
        "02-11-22-33-44-5A",
        "localhost/bb",
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(mac, "02:11:22:33:44:5a\n");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "mac",
        "--network",
        "fixednet",
        "--mac-address",
        "02:11:22:33:44:55",
        "localhost/bb",
        "sleep",
        "1000",
    ]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.NetworkSettings.Networks.fixednet.MacAddress}}", "mac"]).trim(),
        "02:11:22:33:44:55"
    );
    for (args, msg) in [
        (&["--mac-address", "zz"][..], "zz is not a valid mac address"),
        (
            &["--network", "none", "--mac-address", "02:11:22:33:44:55"],
            "conflicting options: mac-address and the network mode",
        ),
    ] {
        env.refused_run(args, msg);
    }
    env.ok(&["rm", "-f", "fixed", "mac"]);
    assert!(env.ok(&["ps", "-aq"]).is_empty(), "refused runs left nothing");
    env.ok(&["network", "rm", "fixednet"]);
}

#[test]
fn publish_all_and_port() {
    let Some(env) = Env::new() else { return };
    let dir = env.path().join("ctx");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("Dockerfile"), "FROM localhost/bb\nEXPOSE 5000\nRUN mkdir /www && echo exposed > /www/index.html\nCMD [\"httpd\", \"-f\", \"-p\", \"5000\", \"-h\", \"/www\"]\n").expect("write");
    env.ok(&["build", "-q", "-t", "exposer", dir.to_str().unwrap_or_default()]);
    env.ok(&["run", "-d", "-P", "--name", "pa", "exposer"]);
    let mapping = env.ok(&["port", "pa", "5000"]);
    let port = mapping.trim().rsplit(':').next().unwrap_or_default().to_owned();
    assert!(port.parse::<u16>().is_ok(), "{mapping}");
    let body = eventually(|| http_get(&format!("127.0.0.1:{port}")));
    assert_eq!(body.as_deref(), Some("exposed\n"));
    assert!(env.ok(&["port", "pa"]).starts_with("5000/tcp -> 0.0.0.0:"));
}

/// Outbound NAT: a server in a namespace this test makes (a stand-in for
/// "the outside"), reached from a container through wharf0 and the host.
#[test]
fn outbound_nat_reaches_a_server_beyond_the_host() {
    let Some(env) = Env::new() else { return };
    let sh = |c: &str| std::process::Command::new("sh").args(["-c", c]).status().map(|s| s.success()).unwrap_or(false);
    let ns = "wharf-test-outside";
    sh(&format!("ip netns del {ns} 2>/dev/null; ip link del wtx0 2>/dev/null; true"));
    let www = env.path().join("outside");
    std::fs::create_dir_all(&www).expect("mkdir");
    std::fs::write(www.join("index.html"), "outside\n").expect("write");
    assert!(sh(&format!(
        "ip netns add {ns} && ip link add wtx0 type veth peer name wtx1 netns {ns} && ip addr add 192.168.251.1/24 dev wtx0 && ip link set wtx0 up && ip -n {ns} addr add 192.168.251.2/24 dev wtx1 && ip -n {ns} link set wtx1 up && ip -n {ns} link set lo up"
    )));
    let mut server = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "/bin/busybox", "httpd", "-f", "-p", "8080", "-h"])
        .arg(&www)
        .spawn()
        .expect("httpd");
    let got = eventually(|| {
        // (busybox-static's wget crashes on some failures; nc does not)
        let (code, out, _) = env.out(&[
            "run",
            "--rm",
            "localhost/bb",
            "sh",
            "-c",
            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 192.168.251.2 8080",
        ]);
        (code == 0 && out.contains("200 OK")).then(|| out.rsplit("\r\n\r\n").next().unwrap_or_default().to_owned())
    });
    let _ = server.kill();
    let _ = server.wait();
    sh(&format!("ip netns del {ns}; ip link del wtx0 2>/dev/null; true"));
    assert_eq!(got.as_deref(), Some("outside\n"));
}

#[test]
fn fifty_containers_leave_no_links_or_rules() {
    let Some(env) = Env::new() else { return };
    let count = |cmd: &str| {
        let o = std::process::Command::new("sh").args(["-c", cmd]).output().expect("sh");
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    // Only this test's containers are checked (other tests run beside it).
    let mut ids = Vec::new();
    for i in 0..50 {
        let port = format!("{}:80", 16000 + i);
        ids.push(env.ok(&["run", "-d", "-p", &port, "localhost/bb", "sleep", "1000"]).trim().to_owned());
    }
    let rules = count("iptables -t nat -S");
    assert!(ids.iter().all(|id| rules.contains(id.as_str())), "every container has its DNAT rules");
    let veth = |id: &str| std::path::Path::new("/sys/class/net").join(format!("vw{}", &id[..10])).exists();
    assert!(ids.iter().all(|id| veth(id)), "every container has its veth");
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    env.ok(&args);
    let rules = count("iptables -t nat -S");
    assert!(ids.iter().all(|id| !rules.contains(id.as_str())), "DNAT rules left behind");
    assert!(ids.iter().all(|id| !std::path::Path::new(&format!("/run/netns/wharf-{}", &id[..12])).exists()));
    assert!(ids.iter().all(|id| !veth(id)), "veths left behind");
}

#[test]
fn network_connect_and_disconnect_a_running_container() {
    let Some(env) = Env::new() else { return };
    env.ok(&["network", "create", "conn-a"]);
    env.ok(&["network", "create", "conn-b"]);
    let www = env.path().join("www-conn");
    std::fs::create_dir_all(&www).expect("mkdir");
    std::fs::write(www.join("index.html"), "from srv\n").expect("write");
    let vol = format!("{}:/www:ro", www.display());
    env.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "conn-b",
        "-v",
        &vol,
        "localhost/bb",
        "httpd",
        "-f",
        "-p",
        "5000",
        "-h",
        "/www",
    ]);
    env.ok(&["run", "-d", "--name", "cli", "--network", "conn-a", "-p", "80", "localhost/bb", "sleep", "300"]);
    let (code, _, _) = env.out(&["exec", "cli", "grep", "-w", "srv", "/etc/hosts"]);
    assert_ne!(code, 0, "srv is on another network");

    env.ok(&["network", "connect", "--alias", "front", "conn-b", "cli"]);
    env.ok(&["exec", "cli", "ip", "addr", "show", "eth1"]);
    let got = eventually(|| {
        let (code, out, _) = env.out(&["exec", "cli", "wget", "-q", "-O", "-", "http://srv:5000/"]);
        (code == 0).then_some(out)
    });
    assert_eq!(got.as_deref(), Some("from srv\n"));
    let hosts = env.ok(&["exec", "srv", "cat", "/etc/hosts"]);
    assert!(hosts.lines().any(|l| l.contains("\tcli front")), "srv finds cli by name and alias: {hosts}");
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "cli"])).expect("json");
    let nets = &v[0]["NetworkSettings"]["Networks"];
    for n in ["conn-a", "conn-b"] {
        assert!(nets[n]["IPAddress"].as_str().is_some_and(|ip| !ip.is_empty()), "{n}: {nets}");
    }
    let (code, _, err) = env.out(&["network", "connect", "conn-b", "cli"]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists in network conn-b"), "{err}");
    let (code, _, err) = env.out(&["network", "rm", "conn-b"]);
    assert_eq!(code, 1, "still in use: {err}");

    env.ok(&["network", "disconnect", "conn-b", "cli"]);
    let (code, _, _) = env.out(&["exec", "cli", "ip", "link", "show", "eth1"]);
    assert_ne!(code, 0, "eth1 is gone");
    let (code, _, _) = env.out(&["exec", "cli", "grep", "-w", "srv", "/etc/hosts"]);
    assert_ne!(code, 0, "srv no longer resolves");
    let hosts = env.ok(&["exec", "srv", "cat", "/etc/hosts"]);
    assert!(!hosts.contains("\tcli"), "{hosts}");
    let (code, _, err) = env.out(&["network", "disconnect", "conn-b", "cli"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not connected to network conn-b"), "{err}");

    // Off the network it was created on, while it runs (docker allows it):
    // its ports' rules and eth0 go, the network it stays on carries it.
    env.ok(&["network", "connect", "conn-b", "cli"]);
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "cli"]).trim().to_owned();
    env.ok(&["network", "disconnect", "conn-a", "cli"]);
    let (code, _, _) = env.out(&["exec", "cli", "ip", "link", "show", "eth0"]);
    assert_ne!(code, 0, "eth0 is gone");
    let nat = std::process::Command::new("iptables").args(["-t", "nat", "-S"]).output().expect("iptables");
    assert!(!String::from_utf8_lossy(&nat.stdout).contains(&format!("wharf:{id}")), "its port rules are gone");
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "cli"])).expect("json");
    let nets: Vec<&String> = v[0]["NetworkSettings"]["Networks"].as_object().expect("networks").keys().collect();
    assert_eq!(nets, ["conn-b"]);
    let got = env.ok(&["exec", "cli", "wget", "-q", "-O", "-", "http://srv:5000/"]);
    assert_eq!(got, "from srv\n");
    let route = env.ok(&["exec", "cli", "ip", "route"]);
    assert!(route.starts_with("default via "), "conn-b's gateway is the way out now: {route}");
    env.ok(&["restart", "-t", "0", "cli"]);
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "cli"])).expect("json");
    let ip = v[0]["NetworkSettings"]["Networks"]["conn-b"]["IPAddress"].as_str().expect("an address").to_owned();
    let eth0 = env.ok(&["exec", "cli", "ip", "addr", "show", "eth0"]);
    assert!(eth0.contains(&format!("inet {ip}/")), "restarted, conn-b is its eth0: {eth0}");
    let got = env.ok(&["exec", "cli", "wget", "-q", "-O", "-", "http://srv:5000/"]);
    assert_eq!(got, "from srv\n");
    env.ok(&["rm", "-f", "srv", "cli"]);
    env.ok(&["network", "rm", "conn-a", "conn-b"]);
}

/// `ip -n NETNS ARGS...` in a container's network namespace.
fn ip_in(id: &str, args: &[&str]) -> String {
    let ns = format!("wharf-{}", &id[..12]);
    let o = std::process::Command::new("ip").args(["-n", &ns]).args(args).output().expect("ip");
    assert!(o.status.success(), "ip -n {ns} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A bridge's links are loopback-sized, so traffic between the host and
/// its containers moves in 64 KiB segments, while the default route (the
/// way out through the gateway) stays Ethernet-sized. A network's
/// `com.docker.network.driver.mtu` sets its links and routes, as docker's.
#[test]
fn bridge_links_are_large_and_the_way_out_is_ethernet_sized() {
    let Some(env) = Env::new() else { return };
    let big = "0123456789abcdef".repeat(1 << 16);
    let id = serve(&env, "bigweb", "15011:5000", &big);
    let got = eventually(|| http_get("127.0.0.1:15011"));
    assert_eq!(got.map(|b| b.len()), Some(big.len()), "1 MiB through the published port");
    assert_eq!(env.ok(&["exec", "bigweb", "cat", "/sys/class/net/eth0/mtu"]).trim(), "65520");
    let route = ip_in(&id, &["route", "show", "default"]);
    assert!(route.contains("mtu 1500"), "{route}");

    env.ok(&["network", "create", "-o", "com.docker.network.driver.mtu=1400", "mtu-small"]);
    let shown =
        env.ok(&["network", "inspect", "-f", "{{index .Options \"com.docker.network.driver.mtu\"}}", "mtu-small"]);
    assert_eq!(shown.trim(), "1400");
    let small = env.ok(&["run", "-d", "--network", "mtu-small", "localhost/bb", "sleep", "100"]).trim().to_owned();
    assert_eq!(env.ok(&["exec", &small, "cat", "/sys/class/net/eth0/mtu"]).trim(), "1400");
    let route = ip_in(&small, &["route", "show", "default"]);
    assert!(route.contains("default via") && !route.contains("mtu"), "{route}");
    env.ok(&["rm", "-f", &small]);
    env.ok(&["network", "rm", "mtu-small"]);

    for (opt, msg) in [("mtu=abc", "failed to parse mtu value: abc"), ("mtu=40", "invalid MTU number: 40")] {
        let (code, _, err) = env.out(&["network", "create", "-o", opt, "mtu-bad"]);
        assert_eq!(code, 1, "{opt}: {err}");
        assert!(err.contains(msg), "{opt}: {err}");
    }
    assert!(env.ok(&["network", "ls", "-q"]).lines().count() == 3, "nothing made by a refused create");
}

/// A bridge's forwarding rules, flushed by another tool (a firewall
/// reload), are put back when a container on it starts.
#[test]
fn a_flushed_forwarding_rule_comes_back_with_the_next_container() {
    let Some(env) = Env::new() else { return };
    env.ok(&["network", "create", "fw-net"]);
    env.ok(&["run", "-d", "--name", "fw1", "--network", "fw-net", "localhost/bb", "sleep", "100"]);
    // A user network's bridge is named after its ID (docker's `br-ID12`).
    let id = env.ok(&["network", "inspect", "-f", "{{.Id}}", "fw-net"]);
    let bridge = format!("wh-{}", &id.trim()[..12]);
    let rule = ["FORWARD", "-i", bridge.as_str(), "-j", "ACCEPT", "-m", "comment", "--comment", "wharf"];
    let iptables = |op: &str| {
        std::process::Command::new("iptables").args(["-t", "filter", op]).args(rule).status().is_ok_and(|s| s.success())
    };
    assert!(iptables("-C"), "the bridge has its rule");
    assert!(iptables("-D"));
    assert!(!iptables("-C"));
    env.ok(&["run", "-d", "--name", "fw2", "--network", "fw-net", "localhost/bb", "sleep", "100"]);
    assert!(eventually(|| iptables("-C").then_some(())).is_some(), "put back");
    env.ok(&["rm", "-f", "fw1", "fw2"]);
    env.ok(&["network", "rm", "fw-net"]);
}

/// `network create --internal --label`: inspect and `ls --filter label`
/// show them; containers on the network reach each other by name but
/// nothing beyond its bridge, nor does anything beyond reach them, even
/// after a bridge made later inserts its own forwarding rules.
#[test]
fn an_internal_network_keeps_its_containers_in() {
    let Some(env) = Env::new() else { return };
    env.ok(&["network", "create", "--internal", "--label", "team=a", "inside"]);
    let shown = env.ok(&["network", "inspect", "-f", "{{.Internal}} {{json .Labels}}", "inside"]);
    assert_eq!(shown.trim(), r#"true {"team":"a"}"#);
    assert!(env.ok(&["network", "ls", "-q", "--filter", "label=team=a"]).trim().len() == 12);
    assert!(env.ok(&["network", "ls", "-q", "--filter", "label=team=b"]).trim().is_empty());
    let peer = env.ok(&["run", "-d", "--name", "peer", "--network", "inside", "localhost/bb", "sleep", "60"]);
    // A bridge set up after the internal one: its ACCEPT rules go on top.
    env.ok(&["network", "create", "later"]);
    let out = env.ok(&["run", "-d", "--name", "out", "--network", "later", "localhost/bb", "sleep", "60"]);
    let ip =
        |id: &str| env.ok(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id.trim()]);
    let (peer_ip, out_ip) = (ip(&peer), ip(&out));
    // Up to three tries where an answer is due (a fresh link may lose the
    // first one); one where none may come.
    let ping = |net: &str, to: &str, tries: &str| {
        env.out(&["run", "--rm", "--network", net, "localhost/bb", "ping", "-c", tries, "-W1", to.trim()]).0
    };
    assert_eq!(ping("inside", "peer", "3"), 0, "by name within the network");
    assert_ne!(ping("inside", &out_ip, "1"), 0, "nothing beyond the bridge");
    assert_ne!(ping("later", &peer_ip, "1"), 0, "nor in from beyond");
    assert_eq!(ping("later", "out", "3"), 0, "the other network is as it was");
}
