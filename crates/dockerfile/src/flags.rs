//! Instruction flags (`--from=build`), checked like BuildKit's `BFlags`.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    String,
    Strings,
}

/// The flags one instruction accepts, and the values given.
pub(crate) struct Flags {
    known: Vec<(&'static str, Kind)>,
    values: BTreeMap<&'static str, Vec<String>>,
}

impl Flags {
    pub(crate) fn new(known: &[(&'static str, Kind)]) -> Self {
        Flags { known: known.to_vec(), values: BTreeMap::new() }
    }

    /// Reads `--name=value` words, with BuildKit's error messages.
    pub(crate) fn parse(mut self, words: &[String]) -> Result<Self, String> {
        for word in words {
            let Some(arg) = word.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {word}"));
            };
            if arg.is_empty() {
                continue;
            }
            let (name, value) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (arg, None),
            };
            let Some(&(key, kind)) = self.known.iter().find(|(k, _)| *k == name) else {
                return Err(unknown_flag(name, &self.known));
            };
            let entry = self.values.entry(key).or_default();
            if !entry.is_empty() && kind != Kind::Strings {
                return Err(format!("duplicate flag specified: {name}"));
            }
            let v = match (kind, value) {
                (Kind::Bool, Some("")) => return Err(format!("missing a value on flag: {name}")),
                (Kind::Bool, None) => "true".to_owned(),
                (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    b @ ("true" | "false") => b.to_owned(),
                    _ => return Err(format!("expecting boolean value for flag {name}, not: {v}")),
                },
                (_, None) => return Err(format!("missing a value on flag: {name}")),
                (_, Some(v)) => v.to_owned(),
            };
            entry.push(v);
        }
        Ok(self)
    }

    /// A string flag's value, if given.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.values.get(name).and_then(|v| v.last().cloned())
    }

    /// A boolean flag: true if given as `--name` or `--name=true`.
    pub(crate) fn bool(&self, name: &str) -> bool {
        self.string(name).is_some_and(|v| v == "true")
    }

    /// Every value of a repeatable flag.
    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }
}

fn unknown_flag(name: &str, known: &[(&'static str, Kind)]) -> String {
    let close = known.iter().map(|(k, _)| *k).min_by_key(|k| edit_distance(k, name)).filter(|k| {
        let d = edit_distance(k, name);
        d > 0 && d <= 2.max(name.len() / 3)
    });
    match close {
        Some(k) => format!("unknown flag: {name} (did you mean {k}?)"),
        None => format!("unknown flag: {name}"),
    }
}

/// Levenshtein distance, for "did you mean" suggestions as BuildKit makes.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Flags {
        Flags::new(&[("from", Kind::String), ("link", Kind::Bool), ("exclude", Kind::Strings)])
    }

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values() {
        let f = flags().parse(&words(&["--from=a", "--link", "--exclude=x", "--exclude=y"])).unwrap();
        assert_eq!(f.string("from").as_deref(), Some("a"));
        assert!(f.bool("link"));
        assert_eq!(f.strings("exclude"), vec!["x", "y"]);
        assert!(!flags().parse(&words(&["--link=FALSE"])).unwrap().bool("link"));
    }

    #[test]
    fn errors() {
        let e = |w: &[&str]| flags().parse(&words(w)).err().unwrap();
        assert_eq!(e(&["--frm=a"]), "unknown flag: frm (did you mean from?)");
        assert_eq!(e(&["--from"]), "missing a value on flag: from");
        assert_eq!(e(&["--from=a", "--from=b"]), "duplicate flag specified: from");
        assert_eq!(e(&["--link=yes"]), "expecting boolean value for flag link, not: yes");
        assert_eq!(e(&["--link="]), "missing a value on flag: link");
    }
}
