//! `RUN --mount=...` options, parsed and checked as BuildKit does.

use crate::gostr;

/// What a mount provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sharing {
    #[default]
    Shared,
    Private,
    Locked,
}

/// One `--mount` of RUN (values unexpanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountType,
    pub target: Option<String>,
    pub source: Option<String>,
    /// A stage or image to take the source from.
    pub from: Option<String>,
    pub read_only: bool,
    /// Cache and secret/ssh id.
    pub id: Option<String>,
    pub sharing: Sharing,
    /// tmpfs size in bytes.
    pub size: Option<u64>,
    pub required: bool,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Secret exposed as an environment variable.
    pub env: Option<String>,
}

/// Splits a `--mount` value into its comma-separated fields, honouring
/// double quotes as Go's `encoding/csv` (which BuildKit uses) does.
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut in_quotes = false;
    let mut field_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' if in_quotes => in_quotes = false,
            '"' if field_start => in_quotes = true,
            ',' if !in_quotes => {
                out.push(std::mem::take(&mut cur));
                field_start = true;
                continue;
            }
            c => cur.push(c),
        }
        field_start = false;
    }
    if in_quotes {
        return Err(format!("failed to parse csv mounts: extraneous or missing \" in quoted-field: {s}"));
    }
    out.push(cur);
    Ok(out)
}

fn parse_bool(key: &str, v: Option<&str>) -> Result<bool, String> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true" | "1" | "t") => Ok(true),
        Some("false" | "0" | "f") => Ok(false),
        Some(other) => Err(format!("invalid value for {key}: {other}")),
    }
}

fn parse_u32(key: &str, v: &str, radix: u32) -> Result<u32, String> {
    u32::from_str_radix(v, radix).map_err(|_| format!("invalid value for {key}: {v}"))
}

/// Parses one `--mount` value, e.g. `type=cache,target=/root/.cache,id=pip`.
pub fn parse_mount(value: &str) -> Result<Mount, String> {
    let fields = csv_fields(value)?;
    let mut kind = MountType::Bind;
    for f in &fields {
        if let Some(t) = f.strip_prefix("type=") {
            kind = match t.to_ascii_lowercase().as_str() {
                "bind" => MountType::Bind,
                "cache" => MountType::Cache,
                "tmpfs" => MountType::Tmpfs,
                "secret" => MountType::Secret,
                "ssh" => MountType::Ssh,
                _ => return Err(format!("unsupported mount type {}", gostr::quote(t.as_bytes()))),
            };
        }
    }
    let mut m = Mount {
        kind,
        target: None,
        source: None,
        from: None,
        read_only: matches!(kind, MountType::Bind),
        id: None,
        sharing: Sharing::Shared,
        size: None,
        required: false,
        mode: None,
        uid: None,
        gid: None,
        env: None,
    };
    for f in fields.iter().filter(|f| !f.is_empty()) {
        let (key, val) = match f.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (f.trim().to_ascii_lowercase(), None),
        };
        let need = || val.map(str::to_owned).ok_or_else(|| format!("invalid field '{f}' must be a key=value pair"));
        match key.as_str() {
            "type" => {}
            "target" | "dst" | "destination" => m.target = Some(need()?),
            "source" | "src" => m.source = Some(need()?),
            "from" => m.from = Some(need()?),
            "readonly" | "ro" => m.read_only = parse_bool(&key, val)?,
            "readwrite" | "rw" => m.read_only = !parse_bool(&key, val)?,
            "id" => m.id = Some(need()?),
            "sharing" => {
                m.sharing = match need()?.as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    other => return Err(format!("unsupported sharing value {}", gostr::quote(other.as_bytes()))),
                }
            }
            "size" if kind == MountType::Tmpfs => m.size = Some(parse_size(&need()?)?),
            "required" => m.required = parse_bool(&key, val)?,
            "mode" => m.mode = Some(parse_u32(&key, &need()?, 8)?),
            "uid" => m.uid = Some(parse_u32(&key, &need()?, 10)?),
            "gid" => m.gid = Some(parse_u32(&key, &need()?, 10)?),
            "env" if kind == MountType::Secret => m.env = Some(need()?),
            _ => return Err(format!("unexpected key '{key}' in '{f}'")),
        }
    }
    check_mount(&m)?;
    Ok(m)
}

fn check_mount(m: &Mount) -> Result<(), String> {
    let needs_target = !matches!(m.kind, MountType::Secret | MountType::Ssh);
    if needs_target && m.target.is_none() {
        return Err("mount destination not set".into());
    }
    if m.kind == MountType::Secret && m.id.is_none() && m.target.is_none() && m.env.is_none() {
        return Err("one of source, target required".into());
    }
    if m.kind == MountType::Tmpfs && m.from.is_some() {
        return Err("tmpfs mounts can't have a from".into());
    }
    Ok(())
}

/// A size like `64m`, `1g`, `512k` or plain bytes (docker's RAMInBytes).
fn parse_size(s: &str) -> Result<u64, String> {
    let lower = s.to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('b').trim_end_matches('i');
    let (num, mult) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 1u64 << 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 1 << 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 1 << 30),
        Some('t') => (&trimmed[..trimmed.len() - 1], 1 << 40),
        _ => (trimmed, 1),
    };
    let n: f64 = num.trim().parse().map_err(|_| format!("invalid size: '{s}'"))?;
    if n < 0.0 {
        return Err(format!("invalid size: '{s}'"));
    }
    Ok((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_options() {
        let m = parse_mount("type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1000").unwrap();
        assert_eq!(
            (m.kind, m.target.as_deref(), m.id.as_deref()),
            (MountType::Cache, Some("/root/.cache"), Some("pip"))
        );
        assert_eq!((m.sharing, m.mode, m.uid), (Sharing::Locked, Some(0o755), Some(1000)));
        let b = parse_mount("target=/src,source=.,rw").unwrap();
        assert_eq!((b.kind, b.read_only), (MountType::Bind, false));
        let t = parse_mount("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!(t.size, Some(64 << 20));
        let s = parse_mount("type=secret,id=netrc,required=true").unwrap();
        assert!(s.required);
        assert!(parse_mount("type=ssh").is_ok());
    }

    #[test]
    fn errors() {
        assert_eq!(parse_mount("type=nfs,target=/x").unwrap_err(), "unsupported mount type \"nfs\"");
        assert_eq!(parse_mount("type=cache").unwrap_err(), "mount destination not set");
        assert_eq!(parse_mount("target=/x,colour=red").unwrap_err(), "unexpected key 'colour' in 'colour=red'");
        assert!(parse_mount("type=cache,target=/x,sharing=maybe").is_err());
    }
}
