//! Build progress as typed events. The builder never prints: it reports
//! each step's beginning, output and end to a sink, and a front end
//! renders them (the CLI as BuildKit's plain or tty progress; the Engine
//! API as its JSON stream). Steps are numbered from 1 in the order they
//! begin, as BuildKit's `#N`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One thing a build reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "lowercase")]
pub enum BuildEvent {
    /// Step `n` began.
    Begin {
        n: usize,
        name: String,
    },
    /// A line about step `n` (`writing image sha256:... done`).
    Note {
        n: usize,
        text: String,
    },
    /// Bytes step `n`'s command wrote (not split into lines).
    Output {
        n: usize,
        #[serde(with = "lossy")]
        text: Vec<u8>,
    },
    Done {
        n: usize,
    },
    /// Step `n` was found in the cache.
    Cached {
        n: usize,
    },
    Error {
        n: usize,
        msg: String,
    },
    /// A warning about the build as a whole.
    Warn {
        msg: String,
    },
}

/// Output bytes travel between processes as (lossy) UTF-8 text.
mod lossy {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(String::deserialize(d)?.into_bytes())
    }
}

/// Numbers steps and hands events to a sink.
pub struct Reporter<'s> {
    next: usize,
    sink: Box<dyn FnMut(BuildEvent) + 's>,
}

impl<'s> Reporter<'s> {
    pub fn new(sink: impl FnMut(BuildEvent) + 's) -> Reporter<'s> {
        Reporter { next: 1, sink: Box::new(sink) }
    }

    /// How many steps have begun.
    pub fn steps(&self) -> usize {
        self.next - 1
    }

    pub fn begin(&mut self, name: &str) -> usize {
        let n = self.next;
        self.next += 1;
        (self.sink)(BuildEvent::Begin { n, name: name.to_owned() });
        n
    }

    pub fn note(&mut self, n: usize, text: &str) {
        (self.sink)(BuildEvent::Note { n, text: text.to_owned() });
    }

    pub fn output(&mut self, n: usize, bytes: &[u8]) {
        (self.sink)(BuildEvent::Output { n, text: bytes.to_vec() });
    }

    pub fn done(&mut self, n: usize) {
        (self.sink)(BuildEvent::Done { n });
    }

    pub fn cached(&mut self, n: usize) {
        (self.sink)(BuildEvent::Cached { n });
    }

    pub fn error(&mut self, n: usize, msg: &str) {
        (self.sink)(BuildEvent::Error { n, msg: msg.to_owned() });
    }

    pub fn warn(&mut self, msg: &str) {
        (self.sink)(BuildEvent::Warn { msg: msg.to_owned() });
    }

    /// Passes on an event of a stage built in a child process, whose steps
    /// are numbered on their own: `ids` maps the child's numbers to ours.
    pub fn forward(&mut self, ids: &mut BTreeMap<usize, usize>, ev: BuildEvent) {
        use BuildEvent::*;
        let ours = |ids: &BTreeMap<usize, usize>, n: usize| ids.get(&n).copied();
        match ev {
            Begin { n, name } => {
                let mine = self.begin(&name);
                ids.insert(n, mine);
            }
            Warn { msg } => self.warn(&msg),
            Note { n, text } => ours(ids, n).into_iter().for_each(|n| self.note(n, &text)),
            Output { n, text } => ours(ids, n).into_iter().for_each(|n| self.output(n, &text)),
            Done { n } => ours(ids, n).into_iter().for_each(|n| self.done(n)),
            Cached { n } => ours(ids, n).into_iter().for_each(|n| self.cached(n)),
            Error { n, msg } => ours(ids, n).into_iter().for_each(|n| self.error(n, &msg)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_childs_steps_are_renumbered_after_ours() {
        let mut seen = Vec::new();
        {
            let mut r = Reporter::new(|e| seen.push(e));
            let first = r.begin("FROM scratch");
            r.done(first);
            let mut ids = BTreeMap::new();
            r.forward(&mut ids, BuildEvent::Begin { n: 1, name: "RUN true".into() });
            r.forward(&mut ids, BuildEvent::Output { n: 1, text: b"hi\n".to_vec() });
            r.forward(&mut ids, BuildEvent::Cached { n: 1 });
            r.forward(&mut ids, BuildEvent::Done { n: 7 });
        }
        assert_eq!(
            seen,
            vec![
                BuildEvent::Begin { n: 1, name: "FROM scratch".into() },
                BuildEvent::Done { n: 1 },
                BuildEvent::Begin { n: 2, name: "RUN true".into() },
                BuildEvent::Output { n: 2, text: b"hi\n".to_vec() },
                BuildEvent::Cached { n: 2 },
            ]
        );
    }

    #[test]
    fn events_cross_processes_as_json_lines() {
        let ev = BuildEvent::Output { n: 3, text: b"line\n".to_vec() };
        let line = serde_json::to_string(&ev).expect("serializes");
        assert_eq!(line, r#"{"ev":"output","n":3,"text":"line\n"}"#);
        assert_eq!(serde_json::from_str::<BuildEvent>(&line).expect("parses"), ev);
    }
}
