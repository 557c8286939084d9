//! Image configs (the JSON whose digest is the image ID).
//!
//! Kept as JSON values rather than oci-spec's `ImageConfiguration`: that
//! type drops docker's extensions (`Healthcheck`, `OnBuild`, `Shell`,
//! `ArgsEscaped`) which docker and BuildKit images carry, and a config must
//! round-trip byte-for-byte meaningfully through load/save.

use serde_json::{json, Map, Value};

use dockerfile::instructions::{parse_command, Command, CommandLine};
use dockerfile::shell::Lexer;

/// The platform wharf runs: images are built and run for it only.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Parses a platform as docker does (`linux`, `linux/arm64`,
/// `linux/arm/v7`, `arm64`; `aarch64` and `x86_64` as their docker names):
/// linux only, an architecture docker knows, and the variant arm64 and
/// arm images default to.
pub fn parse_platform(p: &str) -> Result<dockerfile::expand::Platform, String> {
    let parts: Vec<&str> = p.split('/').map(str::trim).collect();
    let (os, arch, variant) = match parts.as_slice() {
        [os] if *os == "linux" => ("linux", host_arch(), ""),
        [arch] => ("linux", *arch, ""),
        [os, arch] => (*os, *arch, ""),
        [os, arch, variant] => (*os, *arch, *variant),
        _ => return Err(format!("invalid platform {p:?} (expected os/arch[/variant])")),
    };
    if os != "linux" {
        return Err(format!("platform {p} is not supported: wharf builds and runs linux images only"));
    }
    let arch = match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" | "i686" => "386",
        "armhf" | "armel" => "arm",
        a => a,
    };
    if !KNOWN_ARCHES.contains(&arch) {
        return Err(format!("platform {p} is not supported: unknown architecture {arch:?}"));
    }
    let variant = match (arch, variant) {
        ("arm64", "v8") => "",
        ("arm", "") => "v7",
        (_, v) => v,
    };
    Ok(dockerfile::expand::Platform { os: "linux".into(), arch: arch.into(), variant: variant.into() })
}

/// The architectures docker's platforms name (GOARCH values).
pub const KNOWN_ARCHES: &[&str] = &["amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le"];

/// Accepts a platform [`parse_platform`] does.
pub fn check_platform(p: &str) -> Result<(), String> {
    parse_platform(p).map(drop)
}

/// An image config being made or changed.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct ImageConfig(pub Value);

impl ImageConfig {
    /// Sets the image's platform (`architecture`, `variant`, `os`).
    pub fn set_platform(&mut self, p: &dockerfile::expand::Platform) {
        self.0["os"] = json!(p.os);
        self.0["architecture"] = json!(p.arch);
        match self.0.as_object_mut() {
            Some(o) if p.variant.is_empty() => {
                o.remove("variant");
            }
            _ => self.0["variant"] = json!(p.variant),
        }
    }

    /// The config `docker import` makes.
    pub fn new_imported(message: Option<&str>, source: &str) -> Self {
        let now = store::now_rfc3339();
        let comment = message.map_or_else(|| format!("Imported from {source}"), str::to_owned);
        ImageConfig(json!({
            "architecture": host_arch(),
            "config": {},
            "created": now,
            "history": [{"created": now, "comment": comment}],
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
    }

    fn config_mut(&mut self) -> &mut Map<String, Value> {
        let root = self.0.as_object_mut().expect("config is an object");
        let c = root.entry("config").or_insert_with(|| json!({}));
        if !c.is_object() {
            *c = json!({});
        }
        c.as_object_mut().expect("just made an object")
    }

    /// The `Env` list as pairs.
    pub fn env(&self) -> Vec<(String, String)> {
        self.0
            .pointer("/config/Env")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|kv| {
                        kv.split_once('=').map_or((kv.to_owned(), String::new()), |(k, v)| (k.to_owned(), v.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The shell for shell-form commands: the config's `Shell`, else
    /// `/bin/sh -c`.
    pub fn shell(&self) -> Vec<String> {
        self.0
            .pointer("/config/Shell")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .filter(|v: &Vec<String>| !v.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    fn command_line(&self, c: &CommandLine) -> Value {
        if c.prepend_shell {
            let mut v = self.shell();
            v.extend(c.args.iter().cloned());
            json!(v)
        } else {
            json!(c.args)
        }
    }

    /// Applies one `--change` instruction, as `docker import`/`commit` do.
    pub fn apply_change(&mut self, text: &str) -> Result<(), String> {
        let df = dockerfile::parse(text.as_bytes()).map_err(|e| e.message)?;
        let ins = df.instructions.first().ok_or("empty change")?;
        let cmd = parse_command(ins)?;
        let lex = Lexer::new('\\');
        let env = self.env();
        let cmd = dockerfile::expand::expand_command(&lex, &env, &cmd).map_err(|e| e.to_string())?;
        match self.apply(&cmd) {
            true => Ok(()),
            false => Err(format!("{} is not a valid change command", ins.name().to_uppercase())),
        }
    }

    /// Applies a config-changing instruction; returns whether `cmd` was
    /// one (false, and nothing changed, for any other kind).
    pub fn apply(&mut self, cmd: &Command) -> bool {
        match cmd {
            Command::Cmd(c) => {
                let v = self.command_line(c);
                self.config_mut().insert("Cmd".into(), v);
            }
            Command::Entrypoint(c) => {
                let v = if c.args.is_empty() && !c.prepend_shell { Value::Null } else { self.command_line(c) };
                self.config_mut().insert("Entrypoint".into(), v);
            }
            Command::Env(kv) => {
                let mut env = self.env();
                for p in kv {
                    env.retain(|(k, _)| *k != p.key);
                    env.push((p.key.clone(), p.value.clone()));
                }
                let list: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
                self.config_mut().insert("Env".into(), json!(list));
            }
            Command::Label(kv) => {
                let labels = self.config_mut().entry("Labels").or_insert_with(|| json!({}));
                if let Some(m) = labels.as_object_mut() {
                    for p in kv {
                        m.insert(p.key.clone(), json!(p.value));
                    }
                }
            }
            Command::Expose(ports) => {
                let e = self.config_mut().entry("ExposedPorts").or_insert_with(|| json!({}));
                if let Some(m) = e.as_object_mut() {
                    for p in port_specs(ports) {
                        m.insert(p, json!({}));
                    }
                }
            }
            Command::Volume(vols) => {
                let e = self.config_mut().entry("Volumes").or_insert_with(|| json!({}));
                if let Some(m) = e.as_object_mut() {
                    for v in vols {
                        m.insert(v.clone(), json!({}));
                    }
                }
            }
            Command::User(u) => {
                self.config_mut().insert("User".into(), json!(u));
            }
            Command::Workdir(w) => {
                let cur = self.0.pointer("/config/WorkingDir").and_then(Value::as_str).unwrap_or("/").to_owned();
                let joined = if w.starts_with('/') { w.clone() } else { format!("{}/{w}", cur.trim_end_matches('/')) };
                self.config_mut().insert("WorkingDir".into(), json!(joined));
            }
            Command::StopSignal(s) => {
                self.config_mut().insert("StopSignal".into(), json!(s));
            }
            Command::Onbuild(t) => {
                let e = self.config_mut().entry("OnBuild").or_insert_with(|| json!([]));
                if let Some(a) = e.as_array_mut() {
                    a.push(json!(t));
                }
            }
            _ => return false,
        }
        true
    }

    /// Sets `rootfs.diff_ids`.
    pub fn set_layers(&mut self, diff_ids: &[image::Digest]) {
        let ids: Vec<String> = diff_ids.iter().map(ToString::to_string).collect();
        self.0["rootfs"] = json!({"type": "layers", "diff_ids": ids});
    }

    /// The canonical bytes (sorted keys, compact), whose digest is the ID.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.0).expect("JSON values always serialize")
    }
}

/// The `Config` object as docker's `image inspect` shows it: every field
/// present, in docker's names.
pub fn docker_config(c: Option<&Value>) -> Value {
    let get = |k: &str| c.and_then(|c| c.get(k)).cloned().unwrap_or(Value::Null);
    let s = |k: &str| c.and_then(|c| c.get(k)).cloned().unwrap_or(json!(""));
    let mut out = json!({
        "Hostname": "",
        "Domainname": "",
        "User": s("User"),
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "Tty": false,
        "OpenStdin": false,
        "StdinOnce": false,
        "Env": get("Env"),
        "Cmd": get("Cmd"),
        "Image": "",
        "Volumes": get("Volumes"),
        "WorkingDir": s("WorkingDir"),
        "Entrypoint": get("Entrypoint"),
        "OnBuild": get("OnBuild"),
        "Labels": get("Labels"),
    });
    for k in ["ExposedPorts", "StopSignal", "Healthcheck", "Shell", "ArgsEscaped"] {
        if let Some(v) = c.and_then(|c| c.get(k)) {
            out[k] = v.clone();
        }
    }
    out
}

/// EXPOSE's ports as docker's `nat.ParsePortSpecs` reads them, sorted:
/// `PORT[/PROTO]` with tcp by default, a range `A-B` one key a port.
pub fn port_specs(ports: &[String]) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for p in ports {
        let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
        let proto = proto.to_lowercase();
        let range = port.split_once('-').and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
        match range {
            Some((a, b)) if a <= b => out.extend((a..=b).map(|n| format!("{n}/{proto}"))),
            _ => {
                out.insert(format!("{port}/{proto}"));
            }
        }
    }
    out
}
