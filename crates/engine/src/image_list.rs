//! Listing images, as docker's `GET /images/json` selects them and
//! answers: the API's `ImageSummary` for each, newest first.

use std::collections::HashMap;
use std::time::SystemTime;

use serde_json::Value;
use store::{ImageRecord, Store};

use crate::api::ImageSummary;
use crate::{Error, Result};

/// docker's image list options: a reference pattern (`images REPO[:TAG]`)
/// and filters as `KEY=VALUE` (dangling, reference, label, before, since,
/// until), each of which must hold.
#[derive(Debug, Clone, Default)]
pub struct ImageListOptions {
    pub reference: Option<String>,
    pub filters: Vec<String>,
}

/// What the filters ask for.
#[derive(Default)]
struct Filters {
    dangling: Option<bool>,
    patterns: Vec<String>,
    labels: Vec<(String, Option<String>)>,
    before: Option<SystemTime>,
    since: Option<SystemTime>,
}

/// The images the options select. With reference patterns, an image's
/// `RepoTags` keep only the names that match, as docker's daemon answers.
pub fn list(store: &Store, opts: &ImageListOptions) -> Result<Vec<ImageSummary>> {
    let f = filters(store, opts)?;
    let mut out = Vec::new();
    for img in store.images()? {
        let labels = labels_of(store, &img);
        let created = crate::time::parse(&img.created);
        let label_ok = f.labels.iter().all(|(k, v)| match (labels.get(k), v) {
            (Some(have), Some(want)) => have == want,
            (Some(_), None) => true,
            (None, _) => false,
        });
        let time_ok = f.before.is_none_or(|b| created.is_some_and(|t| t < b))
            && f.since.is_none_or(|s| created.is_some_and(|t| t > s));
        if !label_ok || !time_ok || f.dangling.is_some_and(|d| d != img.tags.is_empty()) {
            continue;
        }
        let mut summary = summary(&img, labels, created);
        if !f.patterns.is_empty() {
            summary.repo_tags.retain(|t| f.patterns.iter().any(|p| reference_matches(p, t)));
            let dangling_matches =
                img.tags.is_empty() && f.patterns.iter().any(|p| reference_matches(p, "<none>:<none>"));
            if summary.repo_tags.is_empty() && !dangling_matches {
                continue;
            }
        }
        out.push(summary);
    }
    Ok(out)
}

fn filters(store: &Store, opts: &ImageListOptions) -> Result<Filters> {
    let created_of = |name: &str| -> Result<SystemTime> {
        let id = store.resolve(name)?;
        crate::time::parse(&store.image(&id)?.created)
            .ok_or_else(|| Error::invalid(format!("image {name} has no creation time")))
    };
    let mut f = Filters { patterns: opts.reference.iter().cloned().collect(), ..Filters::default() };
    for filter in &opts.filters {
        match filter.split_once('=') {
            Some(("dangling", v)) => f.dangling = Some(matches!(v, "true" | "1")),
            Some(("reference", v)) => f.patterns.push(v.to_owned()),
            Some(("label", v)) => f.labels.push(match v.split_once('=') {
                Some((k, val)) => (k.to_owned(), Some(val.to_owned())),
                None => (v.to_owned(), None),
            }),
            Some(("before", v)) => f.before = Some(created_of(v)?),
            Some(("since", v)) => f.since = Some(created_of(v)?),
            Some(("until", v)) => f.before = Some(until(v)?),
            _ => {
                let key = filter.split_once('=').map_or(filter.as_str(), |(k, _)| k);
                return Err(Error::invalid(format!("Invalid filter '{key}'")));
            }
        }
    }
    Ok(f)
}

/// `until=`: a Go duration before now, or a time.
fn until(v: &str) -> Result<SystemTime> {
    match dockerfile::instructions::parse_duration(v) {
        Ok(ns) => Ok(SystemTime::now() - std::time::Duration::from_nanos(ns)),
        Err(_) => crate::time::parse(v)
            .ok_or_else(|| Error::invalid(format!("invalid filter 'until={v}': not a duration or timestamp"))),
    }
}

fn labels_of(store: &Store, img: &ImageRecord) -> HashMap<String, String> {
    let cfg: Value = store.config_bytes(&img.id).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    cfg.pointer("/config/Labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default()
}

fn summary(img: &ImageRecord, labels: HashMap<String, String>, created: Option<SystemTime>) -> ImageSummary {
    let secs = created.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs() as i64);
    ImageSummary {
        id: img.id.to_string(),
        parent_id: String::new(),
        repo_tags: img
            .tags
            .iter()
            .map(|t| format!("{}:{}", t.familiar_repository(), t.tag().unwrap_or("latest")))
            .collect(),
        repo_digests: img
            .digests
            .iter()
            .filter_map(|d| d.digest().map(|x| format!("{}@{x}", d.familiar_repository())))
            .collect(),
        created: secs,
        size: img.size as i64,
        // Not computed, as docker's list without `shared-size`.
        shared_size: -1,
        labels,
        containers: -1,
        manifests: None,
        descriptor: None,
    }
}

/// docker's reference filter: a glob on the familiar name, matched against
/// `repo` and `repo:tag` of `name` (`repo:tag`).
fn reference_matches(pattern: &str, name: &str) -> bool {
    let repo = name.rsplit_once(':').map_or(name, |(r, _)| r);
    glob(pattern, repo) || glob(pattern, name)
}

/// `*` (not crossing `/`) and `?` wildcards, as Go's path.Match.
fn glob(p: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (p.chars().collect(), s.chars().collect());
    fn m(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len()).take_while(|i| *i == 0 || s[i - 1] != '/').any(|i| m(&p[1..], &s[i..])),
            Some('?') => !s.is_empty() && s[0] != '/' && m(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && m(&p[1..], &s[1..]),
        }
    }
    m(&p, &s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Reference;
    use serde_json::json;

    fn image(store: &mut Store, n: u32, tags: &[&str], labels: Value) -> image::Digest {
        let config = json!({"created": format!("2024-01-0{n}T00:00:00Z"), "config": {"Labels": labels}, "rootfs": {"type": "layers", "diff_ids": []}});
        let id = store.add_image(config.to_string().as_bytes(), &[]).expect("adds");
        for t in tags {
            store.tag(&id, &Reference::parse(t).expect("a reference")).expect("tags");
        }
        id
    }

    fn names(list: &[ImageSummary]) -> Vec<String> {
        list.iter().map(|s| if s.repo_tags.is_empty() { "<none>".into() } else { s.repo_tags.join(" ") }).collect()
    }

    #[test]
    fn filters_select_as_dockers_daemon() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(dir.path()).expect("opens");
        image(&mut s, 1, &[], json!({}));
        image(&mut s, 2, &["web:1", "web:2", "db:1"], json!({"tier": "front"}));
        image(&mut s, 3, &["localhost:5000/app:v1"], json!({"tier": "back"}));
        let with = |filters: &[&str], reference: Option<&str>| {
            let opts = ImageListOptions {
                reference: reference.map(str::to_owned),
                filters: filters.iter().map(|f| f.to_string()).collect(),
            };
            names(&list(&s, &opts).expect("lists"))
        };
        assert_eq!(with(&["dangling=true"], None), ["<none>"]);
        assert_eq!(with(&["label=tier=front"], None), ["db:1 web:1 web:2"]);
        assert_eq!(with(&["label=tier"], None).len(), 2);
        assert_eq!(with(&[], Some("web")), ["web:1 web:2"], "only the matching names are kept");
        assert_eq!(with(&["reference=*:1"], None), ["db:1 web:1"]);
        assert_eq!(with(&[], Some("localhost:5000/app")), ["localhost:5000/app:v1"]);
        assert_eq!(with(&["before=localhost:5000/app:v1", "dangling=false"], None), ["db:1 web:1 web:2"]);
        assert_eq!(with(&["since=web:1"], None), ["localhost:5000/app:v1"]);
        assert!(list(&s, &ImageListOptions { filters: vec!["bogus=1".into()], ..Default::default() }).is_err());
    }
}
