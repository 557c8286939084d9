//! Cache keys. A step's key is the SHA-256 of an explicit encoding of
//! everything its result depends on: its parent's key, the instruction's
//! resolved arguments, and the content of what it reads. Each field is
//! written as its name, its length and its bytes, so that no two different
//! inputs encode alike, and nothing depends on how Rust prints a value
//! (`Debug` output changes between compiler and crate versions; a key must
//! not). Keys name content and never local IDs or paths of the context, so
//! they are the same on every machine that builds the same inputs.
//!
//! Pure: unit-tested without root.

use dockerfile::mounts::{Mount, MountType, Sharing};
use sha2::{Digest as _, Sha256};

/// Bumped when the encoding changes, so old cache entries never match.
const VERSION: &str = "wharf-cache-key/2";

/// Accumulates a key's fields.
pub struct KeyWriter {
    h: Sha256,
}

impl KeyWriter {
    /// A key of `kind` (`run`, `copy`, `scratch`, ...).
    pub fn new(kind: &str) -> KeyWriter {
        let mut w = KeyWriter { h: Sha256::new() };
        w.str("version", VERSION).str("kind", kind);
        w
    }

    fn bytes(&mut self, field: &str, v: &[u8]) -> &mut Self {
        for part in [field.as_bytes(), v] {
            self.h.update((part.len() as u64).to_le_bytes());
            self.h.update(part);
        }
        self
    }

    pub fn str(&mut self, field: &str, v: &str) -> &mut Self {
        self.bytes(field, v.as_bytes())
    }

    /// A list: its length, then each element.
    pub fn strs(&mut self, field: &str, v: &[String]) -> &mut Self {
        self.u64(field, v.len() as u64);
        for s in v {
            self.str(field, s);
        }
        self
    }

    /// An optional value: absent and empty differ.
    pub fn opt(&mut self, field: &str, v: Option<&str>) -> &mut Self {
        match v {
            None => self.bool(field, false),
            Some(s) => self.bool(field, true).str(field, s),
        }
    }

    pub fn u64(&mut self, field: &str, v: u64) -> &mut Self {
        self.bytes(field, &v.to_le_bytes())
    }

    pub fn bool(&mut self, field: &str, v: bool) -> &mut Self {
        self.bytes(field, &[v as u8])
    }

    /// A RUN `--mount`, field by field.
    pub fn mount(&mut self, m: &Mount) -> &mut Self {
        let kind = match m.kind {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            // v2: the file has the mount's mode and owner (v1 steps saw
            // the source file's; their layers are not reused).
            MountType::Secret => "secret-v2",
            MountType::Ssh => "ssh",
        };
        let sharing = match m.sharing {
            Sharing::Shared => "shared",
            Sharing::Private => "private",
            Sharing::Locked => "locked",
        };
        let num = |n: Option<u32>| n.map(|n| n.to_string());
        self.str("mount", kind)
            .opt("target", m.target.as_deref())
            .opt("source", m.source.as_deref())
            .opt("from", m.from.as_deref())
            .bool("readonly", m.read_only)
            .opt("id", m.id.as_deref())
            .str("sharing", sharing)
            .opt("size", m.size.map(|s| s.to_string()).as_deref())
            .bool("required", m.required)
            .opt("mode", num(m.mode).as_deref())
            .opt("uid", num(m.uid).as_deref())
            .opt("gid", num(m.gid).as_deref())
            .opt("env", m.env.as_deref())
    }

    /// The key, as hex.
    pub fn finish(&mut self) -> String {
        hex::encode(std::mem::take(&mut self.h).finalize())
    }
}

/// What a RUN step's result depends on.
pub struct RunInputs<'a> {
    pub parent: &'a str,
    pub argv: &'a [String],
    /// The environment it runs with (image ENV, then ARGs in scope).
    pub env: &'a [String],
    pub user: &'a str,
    pub cwd: &'a str,
    /// `host` or `none`.
    pub network: &'a str,
    pub mounts: &'a [Mount],
    /// Per bind mount: the content digest of its context source, or the
    /// key of the stage or image it reads.
    pub bind_sources: &'a [String],
}

pub fn run_key(i: &RunInputs) -> String {
    let mut w = KeyWriter::new("run");
    w.str("parent", i.parent).strs("argv", i.argv).strs("env", i.env);
    w.str("user", i.user).str("cwd", i.cwd).str("network", i.network);
    w.u64("mounts", i.mounts.len() as u64);
    for m in i.mounts {
        w.mount(m);
    }
    w.strs("bind_sources", i.bind_sources).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn run(argv: &[&str], env: &[&str], mounts: &[Mount]) -> String {
        let (argv, env) = (strings(argv), strings(env));
        run_key(&RunInputs {
            parent: "p",
            argv: &argv,
            env: &env,
            user: "",
            cwd: "/",
            network: "host",
            mounts,
            bind_sources: &[],
        })
    }

    #[test]
    fn keys_are_stable_across_versions_of_this_program() {
        // The encoding as documented (computed independently, in Python:
        // sha256 over each field's u64-LE length-prefixed name and value).
        // If this changes, every cache is invalidated: bump VERSION too.
        let key = run(&["/bin/sh", "-c", "true"], &["PATH=/bin"], &[]);
        assert_eq!(key, "cba66d15171917bf426c85b9b8107ced7d5c7851cb650a22be35074452986901");
    }

    #[test]
    fn field_boundaries_cannot_be_confused() {
        assert_ne!(run(&["a b"], &[], &[]), run(&["a", "b"], &[], &[]));
        assert_ne!(run(&["ab"], &[], &[]), run(&["a", "b"], &[], &[]));
        assert_ne!(run(&["a"], &["b"], &[]), run(&["a", "b"], &[], &[]));
        assert_ne!(KeyWriter::new("x").opt("f", None).finish(), KeyWriter::new("x").opt("f", Some("")).finish());
    }

    #[test]
    fn every_mount_field_counts() {
        let base = Mount {
            kind: MountType::Cache,
            target: Some("/root/.cache".into()),
            source: None,
            from: None,
            read_only: false,
            id: None,
            sharing: Sharing::Shared,
            size: None,
            required: false,
            mode: None,
            uid: None,
            gid: None,
            env: None,
        };
        let key = |m: Mount| run(&["true"], &[], &[m]);
        let k0 = key(base.clone());
        assert_eq!(k0, key(base.clone()));
        let variants = [
            Mount { kind: MountType::Tmpfs, ..base.clone() },
            Mount { target: Some("/other".into()), ..base.clone() },
            Mount { read_only: true, ..base.clone() },
            Mount { id: Some("x".into()), ..base.clone() },
            Mount { sharing: Sharing::Locked, ..base.clone() },
            Mount { uid: Some(1000), ..base.clone() },
            Mount { mode: Some(0o700), ..base.clone() },
            Mount { env: Some("TOKEN".into()), ..base.clone() },
        ];
        for v in variants {
            assert_ne!(key(v.clone()), k0, "{v:?}");
        }
    }
}
