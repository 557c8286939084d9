//! Credentials, kept where docker keeps them: `$DOCKER_CONFIG/config.json`
//! (default `~/.docker/config.json`), either inline (`auths.REG.auth`,
//! base64 of `user:password`) or in a credential helper
//! (`credHelpers.REG` / `credsStore`, the `docker-credential-NAME`
//! protocol), so that `docker login` and `wharf login` share them.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::RegistryError;

/// A user name and password (or identity token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ****)", self.username)
    }
}

/// The docker config file wharf reads and writes.
pub fn config_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".docker").join("config.json")
}

/// The key docker uses for a registry in `auths`: Docker Hub keeps its
/// historical URL.
pub fn server_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "https://index.docker.io/v1/".to_owned(),
        other => other.to_owned(),
    }
}

fn read_config() -> Result<Map<String, Value>, RegistryError> {
    let path = config_path();
    match std::fs::read(&path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(RegistryError::Auth(format!("{} is not a JSON object", path.display()))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(RegistryError::Io(path.display().to_string(), e)),
    }
}

fn write_config(cfg: &Map<String, Value>) -> Result<(), RegistryError> {
    let path = config_path();
    let io = |e| RegistryError::Io(path.display().to_string(), e);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(cfg).map_err(|e| RegistryError::Auth(e.to_string()))?;
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, &path).map_err(io)
}

/// The helper configured for a registry, if any.
fn helper_for(cfg: &Map<String, Value>, key: &str) -> Option<String> {
    cfg.get("credHelpers")
        .and_then(|h| h.get(key))
        .or_else(|| cfg.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn run_helper(helper: &str, verb: &str, input: &str) -> Result<String, RegistryError> {
    let program = format!("docker-credential-{helper}");
    let fail = |e: String| RegistryError::Auth(format!("credential helper {program} {verb}: {e}"));
    // The input goes in through an unnamed file, not a pipe: a helper that
    // exits without reading it (`get` often does) must not SIGPIPE wharf,
    // which keeps SIGPIPE's default so that `wharf images | head` ends.
    let mut input_file = tempfile::tempfile().map_err(|e| fail(e.to_string()))?;
    input_file.write_all(input.as_bytes()).map_err(|e| fail(e.to_string()))?;
    std::io::Seek::rewind(&mut input_file).map_err(|e| fail(e.to_string()))?;
    let child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::from(input_file))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() {
        return Err(fail(if stdout.is_empty() {
            String::from_utf8_lossy(&out.stderr).trim().to_owned()
        } else {
            stdout
        }));
    }
    Ok(stdout)
}

/// The stored credentials for a registry, if any.
pub fn credentials(registry: &str) -> Result<Option<Credentials>, RegistryError> {
    let cfg = read_config()?;
    let key = server_key(registry);
    if let Some(helper) = helper_for(&cfg, &key) {
        return match run_helper(&helper, "get", &key) {
            Ok(out) => {
                let v: Value = serde_json::from_str(&out).map_err(|e| RegistryError::Auth(e.to_string()))?;
                let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                Ok(Some(Credentials { username: field("Username"), secret: field("Secret") }))
            }
            Err(e) if e.to_string().contains("credentials not found") => Ok(None),
            Err(e) => Err(e),
        };
    }
    let Some(entry) = cfg.get("auths").and_then(|a| a.get(&key)) else { return Ok(None) };
    let Some(encoded) = entry.get("auth").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| RegistryError::Auth(format!("{}: auths.{key}.auth: {e}", config_path().display())))?;
    let text = String::from_utf8_lossy(&decoded);
    let (user, pass) = text.split_once(':').ok_or_else(|| {
        RegistryError::Auth(format!("{}: auths.{key}.auth is not user:password", config_path().display()))
    })?;
    Ok(Some(Credentials { username: user.to_owned(), secret: pass.to_owned() }))
}

/// Stores credentials for a registry (in its helper if one is configured).
/// Returns the file written when they were stored inline.
pub fn store(registry: &str, creds: &Credentials) -> Result<Option<PathBuf>, RegistryError> {
    let mut cfg = read_config()?;
    let key = server_key(registry);
    if let Some(helper) = helper_for(&cfg, &key) {
        let input = json!({"ServerURL": key, "Username": creds.username, "Secret": creds.secret}).to_string();
        run_helper(&helper, "store", &input)?;
        return Ok(None);
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", creds.username, creds.secret));
    let auths = cfg.entry("auths").or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    if let Some(a) = auths.as_object_mut() {
        a.insert(key, json!({ "auth": encoded }));
    }
    write_config(&cfg)?;
    Ok(Some(config_path()))
}

/// Removes stored credentials; false when there were none.
pub fn erase(registry: &str) -> Result<bool, RegistryError> {
    let mut cfg = read_config()?;
    let key = server_key(registry);
    if let Some(helper) = helper_for(&cfg, &key) {
        return match run_helper(&helper, "erase", &key) {
            Ok(_) => Ok(true),
            Err(e) if e.to_string().contains("not found") => Ok(false),
            Err(e) => Err(e),
        };
    }
    let removed = cfg.get_mut("auths").and_then(Value::as_object_mut).and_then(|a| a.remove(&key)).is_some();
    if removed {
        write_config(&cfg)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: DOCKER_CONFIG is process-wide.
    #[test]
    fn inline_credentials_round_trip() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        std::env::set_var("DOCKER_CONFIG", dir.path());
        assert_eq!(credentials("localhost:5000")?, None);
        let c = Credentials { username: "me".into(), secret: "p:w".into() };
        store("localhost:5000", &c)?;
        assert_eq!(credentials("localhost:5000")?, Some(c));
        let text = std::fs::read_to_string(dir.path().join("config.json"))?;
        assert!(text.contains("\"localhost:5000\""), "{text}");
        assert!(text.contains(&base64::engine::general_purpose::STANDARD.encode("me:p:w")));
        store("docker.io", &Credentials { username: "a".into(), secret: "b".into() })?;
        assert!(std::fs::read_to_string(dir.path().join("config.json"))?.contains("https://index.docker.io/v1/"));
        assert!(erase("localhost:5000")?);
        assert!(!erase("localhost:5000")?);
        assert_eq!(credentials("localhost:5000")?, None);
        Ok(())
    }
}
