//! Build cache shared between machines: two (or more) fresh stores stand
//! for machines, a local docker-registry (or a directory) for what they
//! share. A build on a store with `--cache-from` runs none of the steps
//! another store exported (their RUNs write a random ID: a step that ran
//! again would change it), fetches only the layers something needs, and
//! re-runs exactly the steps after a change.

mod common;
use std::path::Path;

use common::registry::{have_registry, Registry};
use common::Env;

/// A machine whose base image is machine `a`'s (loaded from its archive,
/// so that its ID, the first cache key's input, is the same).
fn machine_like(a: &Env) -> Env {
    let b = Env::new().expect("runc");
    let tar = a.path().join("base.tar");
    if !tar.exists() {
        a.ok(&["save", "-o", tar.to_str().expect("utf8"), "localhost/bb"]);
    }
    b.ok(&["load", "-i", tar.to_str().expect("utf8")]);
    b
}

fn context(env: &Env, files: &[(&str, &str)]) -> String {
    let dir = env.path().join("ctx");
    for (name, text) in files {
        std::fs::create_dir_all(dir.join(name).parent().unwrap_or(&dir)).expect("mkdir");
        std::fs::write(dir.join(name), text).expect("write");
    }
    dir.display().to_string()
}

const DOCKERFILE: &str = "FROM localhost/bb AS tools\n\
RUN cat /proc/sys/kernel/random/uuid > /tool-id && head -c 300000 /dev/urandom > /tool-blob\n\
FROM localhost/bb\n\
RUN cat /proc/sys/kernel/random/uuid > /first-id\n\
COPY --from=tools /tool-id /tool-id\n\
COPY f /f\n\
RUN cat /proc/sys/kernel/random/uuid > /after-id\n";

fn files(f: &str) -> Vec<(&'static str, String)> {
    vec![("Dockerfile", DOCKERFILE.to_owned()), ("f", f.to_owned())]
}

/// Builds `tag` in `env`; the progress (stderr), which must succeed.
fn build(env: &Env, tag: &str, ctx: &str, cache: &[&str]) -> String {
    let mut args = vec!["build", "--progress", "plain", "-t", tag];
    args.extend_from_slice(cache);
    args.push(ctx);
    let (code, out, err) = env.out(&args);
    assert_eq!(code, 0, "build failed: {err}{out}");
    err
}

/// How many steps the progress reports as run and as cached.
fn steps(progress: &str) -> (usize, usize) {
    let cached = progress.lines().filter(|l| l.ends_with(" CACHED")).count();
    let titled = progress.lines().filter(|l| l.contains("] RUN ") || l.contains("] COPY ")).count();
    (titled - cached, cached)
}

fn cat(env: &Env, image: &str, path: &str) -> String {
    env.ok(&["run", "--rm", image, "cat", path])
}

fn image_id(env: &Env, image: &str) -> String {
    env.ok(&["image", "inspect", "-f", "{{.Id}}", image]).trim().to_owned()
}

fn snapshots(env: &Env) -> usize {
    std::fs::read_dir(env.root().join("snapshots")).map_or(0, |d| d.count())
}

/// The whole story for one kind of cache: `to`/`from` are the flags.
fn a_second_machine_runs_nothing_the_first_exported(to: &str, from: &str) {
    let a = Env::new().expect("runc");
    let files = files("one\n");
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let ctx_a = context(&a, &files);
    build(&a, "app", &ctx_a, &["--cache-to", to]);

    // Machine B: everything cached, the same image, nothing run.
    let b = machine_like(&a);
    let ctx_b = context(&b, &files);
    let before = snapshots(&b);
    let progress = build(&b, "app", &ctx_b, &["--cache-from", from]);
    assert_eq!(steps(&progress), (0, 5), "{progress}");
    assert_eq!(image_id(&a, "app"), image_id(&b, "app"), "the cache keys differ between machines");
    for path in ["/first-id", "/tool-id", "/after-id"] {
        assert_eq!(cat(&a, "app", path), cat(&b, "app", path), "{path}: the step ran again");
    }
    // The tools stage's own layer was not needed (its file came with the
    // cached COPY --from): not fetched.
    let layers = |image: &str| -> usize {
        b.ok(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", image]).trim().parse().expect("a count")
    };
    assert_eq!(snapshots(&b) - before, layers("app") - layers("localhost/bb"), "layers fetched beyond the image's");

    // A change re-runs the steps from it on, and only those.
    let c = machine_like(&a);
    let ctx_c = context(&c, &[("Dockerfile", DOCKERFILE), ("f", "two\n")]);
    let progress = build(&c, "app", &ctx_c, &["--cache-from", from]);
    assert_eq!(steps(&progress), (2, 3), "{progress}");
    assert_eq!(cat(&a, "app", "/first-id"), cat(&c, "app", "/first-id"));
    assert_ne!(cat(&a, "app", "/after-id"), cat(&c, "app", "/after-id"));
    assert_eq!(cat(&c, "app", "/f"), "two\n");
}

#[test]
fn a_registry_cache_spares_a_fresh_machine_every_step() {
    if Env::new().is_none() || !have_registry() {
        return;
    }
    let reg = Registry::start(None);
    let r = format!("{}/cache/app:buildcache", reg.addr());
    let to = format!("type=registry,ref={r},mode=max");
    a_second_machine_runs_nothing_the_first_exported(&to, &format!("type=registry,ref={r}"));
}

#[test]
fn a_local_cache_spares_a_fresh_machine_every_step() {
    let Some(dir_env) = Env::new() else { return };
    let dir = dir_env.path().join("cache");
    let d = dir.display();
    a_second_machine_runs_nothing_the_first_exported(
        &format!("type=local,dest={d},mode=max"),
        &format!("type=local,src={d}"),
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(&dir).join("index.json")).expect("index.json")).expect("json");
    assert_eq!(index["manifests"][0]["artifactType"], "application/vnd.wharf.buildcache.v1");
}

#[test]
fn mode_max_also_exports_the_intermediate_stages() {
    let Some(a) = Env::new() else { return };
    let dir = a.path().join("cache-max");
    let files = files("one\n");
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let ctx = context(&a, &files);
    build(&a, "app", &ctx, &["--cache-to", &format!("type=local,dest={},mode=max", dir.display())]);
    // Only the tools stage, as a target of its own: cached from mode=max.
    let b = machine_like(&a);
    let ctx_b = context(&b, &files);
    let from = format!("type=local,src={}", dir.display());
    let progress = build(&b, "tools", &ctx_b, &["--target", "tools", "--cache-from", &from]);
    assert_eq!(steps(&progress), (0, 1), "{progress}");
    assert_eq!(cat(&a, "app", "/tool-id"), cat(&b, "tools", "/tool-id"));
    // mode=min (the default) leaves the tools stage's steps out: they run
    // again; the target's steps stay cached.
    let dir_min = a.path().join("cache-min");
    build(&a, "app2", &ctx, &["--cache-to", &format!("type=local,dest={}", dir_min.display())]);
    let c = machine_like(&a);
    let ctx_c = context(&c, &files);
    let from = format!("type=local,src={}", dir_min.display());
    let progress = build(&c, "tools", &ctx_c, &["--target", "tools", "--cache-from", &from]);
    assert_eq!(steps(&progress), (1, 0), "{progress}");
    let progress = build(&c, "app", &ctx_c, &["--cache-from", &from]);
    assert_eq!(steps(&progress), (0, 5), "{progress}");
}

#[test]
fn bad_cache_options_are_refused_in_words_and_a_missing_source_is_a_warning() {
    let Some(a) = Env::new() else { return };
    let files = files("one\n");
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let ctx = context(&a, &files);
    for (flag, bad, why) in [
        ("--cache-to", "type=s3,bucket=x", "unsupported cache type"),
        ("--cache-to", "type=local", "type=local needs dest=DIR"),
        ("--cache-to", "type=registry,ref=x,mode=most", "unknown mode"),
        ("--cache-from", "type=registry", "type=registry needs ref=REF"),
    ] {
        let (code, _, err) = a.out(&["build", "-q", flag, bad, &ctx]);
        assert_eq!(code, 1, "{bad}: {err}");
        assert!(err.contains(why), "{bad}: {err}");
    }
    let missing = a.path().join("no-such-cache");
    let progress = build(&a, "app", &ctx, &["--cache-from", &format!("type=local,src={}", missing.display())]);
    assert!(progress.contains("no-such-cache"), "{progress}");
}

#[test]
fn an_inline_cache_travels_in_the_pushed_image() {
    if Env::new().is_none() || !have_registry() {
        return;
    }
    let reg = Registry::start(None);
    let a = Env::new().expect("runc");
    let files = files("one\n");
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let image = format!("{}/app:inline", reg.addr());
    build(&a, &image, &context(&a, &files), &["--cache-to", "type=inline"]);
    a.ok(&["push", &image]);
    // docker's way to ask for it works too, and is no unused build arg.
    let progress = build(&a, "app2", &context(&a, &files), &["--build-arg", "BUILDKIT_INLINE_CACHE=1"]);
    assert!(!progress.contains("not consumed"), "{progress}");

    let b = machine_like(&a);
    let progress = build(&b, "app", &context(&b, &files), &["--cache-from", &image]);
    // Inline caches are mode=min: the tools stage runs again, the target's
    // steps do not (COPY --from hits by its definition).
    assert_eq!(steps(&progress), (1, 4), "{progress}");
    assert_eq!(cat(&a, &image, "/after-id"), cat(&b, "app", "/after-id"));
}
