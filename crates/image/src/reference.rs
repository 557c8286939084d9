//! Image references with docker's normalisation: `busybox` is
//! `docker.io/library/busybox:latest`, `localhost/x` stays on `localhost`,
//! `reg:5000/a/b:tag@sha256:...` keeps every part.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

const DEFAULT_DOMAIN: &str = "docker.io";
const DEFAULT_TAG: &str = "latest";

/// A fully qualified reference: domain, path, and a tag and/or digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not an image reference (docker's wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadReference {
    #[error("invalid reference format")]
    Format,
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    #[error("invalid reference format: repository name must not be more than 255 characters")]
    TooLong,
}

impl Reference {
    /// Parses and normalises `s`; a reference without tag or digest gets
    /// `:latest`.
    pub fn parse(s: &str) -> Result<Self, BadReference> {
        let mut r = Self::parse_named(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_owned());
        }
        Ok(r)
    }

    /// Parses and normalises `s` without adding a default tag.
    pub fn parse_named(s: &str) -> Result<Self, BadReference> {
        let (rest, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d.parse::<Digest>().map_err(|_| BadReference::Format)?)),
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/'.
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(BadReference::Format);
            }
        }
        let (domain, path) = split_domain(name);
        if !valid_domain(&domain) {
            return Err(BadReference::Format);
        }
        if path.len() > 255 {
            return Err(BadReference::TooLong);
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(BadReference::Uppercase(path));
        }
        if path.is_empty() || !path.split('/').all(valid_component) {
            return Err(BadReference::Format);
        }
        Ok(Reference { domain, path, tag: tag.map(str::to_owned), digest })
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `domain/path`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository as docker shows it (`busybox`, `localhost/x`).
    pub fn familiar_repository(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path.strip_prefix("library/").unwrap_or(&self.path).to_owned()
        } else {
            self.repository()
        }
    }

    /// The reference as docker shows it (`busybox:latest`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_repository();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }

    /// The same repository with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference { domain: self.domain.clone(), path: self.path.clone(), tag: Some(tag.to_owned()), digest: None }
    }

    /// The same repository with a digest (and no tag).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference { domain: self.domain.clone(), path: self.path.clone(), tag: None, digest: Some(digest) }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = BadReference;
    fn from_str(s: &str) -> Result<Self, BadReference> {
        Reference::parse(s)
    }
}

/// docker's `splitDockerDomain`.
fn split_domain(name: &str) -> (String, String) {
    let (domain, rest) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
    };
    let domain = if domain == "index.docker.io" { DEFAULT_DOMAIN.to_owned() } else { domain };
    let rest = if domain == DEFAULT_DOMAIN && !rest.contains('/') { format!("library/{rest}") } else { rest };
    (domain, rest)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    !t.is_empty() && t.len() <= 128 && t.starts_with(word) && t.chars().all(|c| word(c) || c == '.' || c == '-')
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) if !h.starts_with('[') || h.ends_with(']') => (h, Some(p)),
        _ => (d, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    if host.starts_with('[') {
        return host.ends_with(']');
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("user/app:1.0"), "docker.io/user/app:1.0");
        assert_eq!(norm("localhost/x"), "localhost/x:latest");
        assert_eq!(norm("localhost:5000/a/b:t"), "localhost:5000/a/b:t");
        assert_eq!(norm("index.docker.io/library/alpine:3"), "docker.io/library/alpine:3");
        let d = Digest::of(b"x");
        assert_eq!(norm(&format!("alpine@{d}")), format!("docker.io/library/alpine@{d}"));
        assert_eq!(Reference::parse("busybox").unwrap().familiar(), "busybox:latest");
        assert_eq!(Reference::parse("localhost/x").unwrap().familiar_repository(), "localhost/x");
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(Reference::parse("Busybox"), Err(BadReference::Uppercase("library/Busybox".into())));
        assert!(Reference::parse("a b").is_err());
        assert!(Reference::parse("a:").is_err());
        assert!(Reference::parse("a//b").is_err());
        assert!(Reference::parse("-a").is_err());
        assert!(Reference::parse("a@sha256:12").is_err());
        assert!(Reference::parse("").is_err());
    }
}
