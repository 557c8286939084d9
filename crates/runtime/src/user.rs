//! `--user name|uid[:group|gid]` resolved as docker does, from the
//! container's own /etc/passwd and /etc/group (never the host's).

use std::fs;
use std::path::Path;

/// The identity a container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, as docker sets them: the primary group, and
    /// (when no group was given) the groups /etc/group lists the user in.
    pub additional_gids: Vec<u32>,
    /// The home directory (for `HOME`), `/` if unknown.
    pub home: String,
}

/// A user or group that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
}

struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct Group {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn read_lines(path: &Path) -> Vec<Vec<String>> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').map(str::to_owned).collect())
        .collect()
}

fn passwd(rootfs: &Path) -> Vec<Passwd> {
    read_lines(&rootfs.join("etc/passwd"))
        .into_iter()
        .filter_map(|f| {
            Some(Passwd {
                name: f.first()?.clone(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).cloned().unwrap_or_default(),
            })
        })
        .collect()
}

fn groups(rootfs: &Path) -> Vec<Group> {
    read_lines(&rootfs.join("etc/group"))
        .into_iter()
        .filter_map(|f| {
            Some(Group {
                name: f.first()?.clone(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| m.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Resolves `spec` (empty = root) against the files under `rootfs`.
/// A numeric uid need not exist in /etc/passwd (docker allows it); a name
/// must.
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<ExecUser, UserError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let users = passwd(rootfs);
    let found = if user.is_empty() {
        users.iter().find(|p| p.uid == 0)
    } else {
        users.iter().find(|p| p.name == user || user.parse::<u32>().ok() == Some(p.uid))
    };
    let (uid, mut gid, home, name) = match (found, user.parse::<u32>()) {
        (Some(p), _) => (p.uid, p.gid, p.home.clone(), Some(p.name.clone())),
        (None, Ok(n)) => (n, 0, "/".to_owned(), None),
        (None, Err(_)) if user.is_empty() => (0, 0, "/root".to_owned(), None),
        (None, Err(_)) => return Err(UserError::NoUser(user.to_owned())),
    };
    let all_groups = groups(rootfs);
    if let Some(g) = group.filter(|g| !g.is_empty()) {
        gid = match all_groups.iter().find(|x| x.name == g) {
            Some(x) => x.gid,
            None => g.parse().map_err(|_| UserError::NoGroup(g.to_owned()))?,
        };
    }
    // Memberships apply only when no group was given, as docker.
    let mut additional_gids = vec![gid];
    if let (Some(n), None) = (&name, group) {
        additional_gids.extend(all_groups.iter().filter(|g| g.members.contains(n) && g.gid != gid).map(|g| g.gid));
    }
    let home = if home.is_empty() { "/".to_owned() } else { home };
    Ok(ExecUser { uid, gid, additional_gids, home })
}

impl ExecUser {
    /// Adds `--group-add` values (names from the container's /etc/group,
    /// or numbers) to the supplementary groups.
    pub fn add_groups(&mut self, rootfs: &Path, names: &[String]) -> Result<(), UserError> {
        if names.is_empty() {
            return Ok(());
        }
        let all_groups = groups(rootfs);
        for name in names {
            let gid = match all_groups.iter().find(|x| &x.name == name) {
                Some(x) => x.gid,
                None => name.parse().map_err(|_| UserError::NoGroup(name.clone()))?,
            };
            if !self.additional_gids.contains(&gid) {
                self.additional_gids.push(gid);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("etc")).unwrap();
        fs::write(d.path().join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
            .unwrap();
        fs::write(d.path().join("etc/group"), "root:x:0:\napp:x:1000:\nwheel:x:10:app\nstaff:x:50:\n").unwrap();
        d
    }

    #[test]
    fn names_ids_and_groups() {
        let r = rootfs();
        assert_eq!(
            resolve_user(r.path(), "").unwrap(),
            ExecUser { uid: 0, gid: 0, additional_gids: vec![0], home: "/root".into() }
        );
        let app = resolve_user(r.path(), "app").unwrap();
        assert_eq!(
            (app.uid, app.gid, app.additional_gids.clone(), app.home.as_str()),
            (1000, 1000, vec![1000, 10], "/home/app")
        );
        let staff = resolve_user(r.path(), "1000:staff").expect("resolves");
        assert_eq!((staff.gid, staff.additional_gids), (50, vec![50]), "a given group replaces memberships");
        assert_eq!(
            resolve_user(r.path(), "4242:4343").unwrap(),
            ExecUser { uid: 4242, gid: 4343, additional_gids: vec![4343], home: "/".into() }
        );
        let mut app = resolve_user(r.path(), "app").expect("resolves");
        app.add_groups(r.path(), &["wheel".into(), "77".into()]).expect("adds groups");
        assert_eq!(app.additional_gids, vec![1000, 10, 77]);
        assert_eq!(app.add_groups(r.path(), &["nogroup".into()]), Err(UserError::NoGroup("nogroup".into())));
        assert_eq!(resolve_user(r.path(), "nobody"), Err(UserError::NoUser("nobody".into())));
        assert_eq!(resolve_user(r.path(), "app:nogroup"), Err(UserError::NoGroup("nogroup".into())));
    }
}
