//! A container's state, as docker names it, and the rules for moving
//! between states. The store is its one owner: every change goes through
//! a transition that names the states it may leave (an `UPDATE ... WHERE
//! state IN (...)`), so two processes racing for the same change (two
//! `start`s, a `start` and an `rm`, a `pause` and a stop) cannot both win.

use std::fmt;

/// docker's `State.Status` words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl ContainerState {
    pub const ALL: [ContainerState; 7] = [
        ContainerState::Created,
        ContainerState::Running,
        ContainerState::Paused,
        ContainerState::Restarting,
        ContainerState::Removing,
        ContainerState::Exited,
        ContainerState::Dead,
    ];

    /// The word stored and shown (`docker inspect`'s `State.Status`).
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Paused => "paused",
            ContainerState::Restarting => "restarting",
            ContainerState::Removing => "removing",
            ContainerState::Exited => "exited",
            ContainerState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<ContainerState> {
        ContainerState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether its init is alive (running, or frozen by `pause`).
    pub fn is_live(self) -> bool {
        matches!(self, ContainerState::Running | ContainerState::Paused)
    }

    /// Whether it runs or is about to run again (a log is still written).
    pub fn is_live_or_restarting(self) -> bool {
        matches!(self, ContainerState::Running | ContainerState::Paused | ContainerState::Restarting)
    }

    /// The states `to` may be entered from. A state missing here is a
    /// change the engine must refuse (docker's "is not paused", "is
    /// already running" ...).
    pub fn entered_from(to: ContainerState) -> &'static [ContainerState] {
        use ContainerState::*;
        match to {
            Created => &[Created],
            Running => &[Created, Exited, Restarting, Running, Paused],
            Paused => &[Running],
            Restarting => &[Running, Exited],
            Removing => &[Created, Exited, Dead, Removing],
            Exited => &[Created, Running, Paused, Restarting, Exited],
            Dead => &[Created, Running, Paused, Restarting, Removing, Exited, Dead],
        }
    }
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl rusqlite::types::FromSql for ContainerState {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let s = v.as_str()?;
        // A word this wharf does not know (a newer one wrote it) reads as
        // dead: the container is shown, and can be removed.
        Ok(ContainerState::parse(s).unwrap_or(ContainerState::Dead))
    }
}

impl rusqlite::types::ToSql for ContainerState {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

#[cfg(test)]
mod tests {
    use super::ContainerState::*;
    use super::*;

    #[test]
    fn words_round_trip() {
        for s in ContainerState::ALL {
            assert_eq!(ContainerState::parse(s.as_str()), Some(s));
        }
        assert_eq!(ContainerState::parse("up"), None);
    }

    #[test]
    fn only_a_running_container_pauses_and_only_a_paused_one_unpauses() {
        assert_eq!(ContainerState::entered_from(Paused), &[Running]);
        for s in ContainerState::ALL {
            assert_eq!(ContainerState::entered_from(Paused).contains(&s), s == Running);
        }
    }

    #[test]
    fn a_live_container_is_never_removed_without_a_stop() {
        for s in [Running, Paused, Restarting] {
            assert!(!ContainerState::entered_from(Removing).contains(&s), "{s}");
        }
        assert!(Running.is_live() && Paused.is_live() && !Exited.is_live() && !Created.is_live());
    }
}

#[cfg(test)]
mod store_tests {
    use super::ContainerState::*;
    use crate::Store;

    #[test]
    fn of_two_racing_transitions_one_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut a = Store::open(dir.path()).expect("opens");
        let mut b = Store::open(dir.path()).expect("opens again, as a second process would");
        let config = br#"{"created":"2024-01-01T00:00:00Z","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let img = a.add_image(config, &[]).expect("an image");
        a.add_container("c1", "web", &img).expect("a container");
        assert!(!a.transition("c1", Paused).expect("runs"), "a created container does not pause");
        a.set_container_running("c1", 10, 11).expect("runs");
        assert!(a.transition("c1", Paused).expect("runs"));
        assert!(!b.transition("c1", Paused).expect("runs"), "the second pause loses");
        assert_eq!(b.container("c1").expect("there").state, Paused);
        assert!(b.transition("c1", Running).expect("runs"), "unpause");
        assert!(!a.transition("gone", Running).expect("runs"), "no such container: nothing changes");
    }

    #[test]
    fn a_container_being_removed_is_not_recorded_running() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(dir.path()).expect("opens");
        let config = br#"{"created":"2024-01-01T00:00:00Z","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let img = s.add_image(config, &[]).expect("an image");
        s.add_container("c1", "web", &img).expect("a container");
        assert!(s.transition("c1", Removing).expect("runs"));
        let e = s.set_container_running("c1", 10, 11).expect_err("refused");
        assert!(e.to_string().contains("being removed"), "{e}");
        assert_eq!(s.container("c1").expect("there").state, Removing);
    }
}
