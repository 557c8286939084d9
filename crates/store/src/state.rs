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
