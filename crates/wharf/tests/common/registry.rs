//! A CNCF distribution registry (Debian's `docker-registry`) on a free
//! loopback port, plain, behind htpasswd or over TLS, for the tests that
//! push and pull.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A registry process on a free loopback port, killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

pub fn have_registry() -> bool {
    let ok = Path::new("/usr/bin/docker-registry").exists() && Path::new("/usr/bin/skopeo").exists();
    if !ok {
        assert!(
            std::env::var_os("WHARF_REQUIRE_PEERS").is_none(),
            "docker-registry and skopeo are required (scripts/test.sh installs them)"
        );
    }
    ok
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl Registry {
    /// Starts a registry; with `user` set, behind htpasswd basic auth.
    pub fn start(user: Option<(&str, &str)>) -> Registry {
        Registry::start_tls(user, None)
    }

    /// With `tls`, a directory holding `cert.pem` and `key.pem`, over HTTPS.
    pub fn start_tls(user: Option<(&str, &str)>, tls: Option<&Path>) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let auth = user.map(|(u, p)| {
            let out = Command::new("htpasswd").args(["-Bbn", u, p]).output().expect("htpasswd (apache2-utils)");
            assert!(out.status.success());
            std::fs::write(dir.path().join("htpasswd"), &out.stdout).expect("write htpasswd");
            format!("auth:\n  htpasswd:\n    realm: wharf-test\n    path: {}\n", dir.path().join("htpasswd").display())
        });
        Registry::start_with(dir, auth.as_deref().unwrap_or(""), tls)
    }

    /// Starts `docker-registry serve` in `dir` with the `auth` section given.
    pub fn start_with(dir: tempfile::TempDir, auth: &str, tls: Option<&Path>) -> Registry {
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n",
            dir.path().join("data").display()
        );
        config.push_str(&format!("http:\n  addr: 127.0.0.1:{port}\n"));
        if let Some(t) = tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                t.join("cert.pem").display(),
                t.join("key.pem").display()
            ));
        }
        config.push_str(auth);
        std::fs::write(dir.path().join("config.yml"), config).expect("config");
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry");
        let up = super::eventually(|| TcpStream::connect(("127.0.0.1", port)).ok());
        assert!(up.is_some(), "the registry did not listen on {port}");
        Registry { child, port, _dir: dir }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
