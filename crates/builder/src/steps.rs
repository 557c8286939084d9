//! The stage graph and the steps of each stage.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use dockerfile::expand::{expand_command, Scope};
use dockerfile::instructions::{Command, CommandLine, NetworkMode, Run};
use dockerfile::mounts::MountType;
use dockerfile::shell::Lexer;
use dockerfile::{Stage, Stages};
use runtime::supervise::SignalPipes;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use store::{CachedStep, LayerInfo, Store};

use super::cache::{self, CacheRecord};
use super::cache_key;
use super::context::{self, Context};
use super::copy::{self, Attrs};
use super::exec::{self, StepRootfs};
use super::seed::{self, Planted};
use super::{fail, invalid, BuildOptions, Reporter, Services};
use crate::config::ImageConfig;

/// A built stage: its image config, layers, history and cache key.
/// Serializable: a stage built in a child process comes back as JSON.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Built {
    config: ImageConfig,
    layers: Vec<LayerInfo>,
    history: Vec<Value>,
    key: String,
    /// The newest step time: the image's `created`.
    created: String,
    scope: Scope,
    /// Each step's cache record, for `--cache-to`.
    #[serde(default)]
    records: Vec<CacheRecord>,
}

pub struct Builder<'a, 'r> {
    store: &'a mut Store,
    stages: &'a Stages,
    lex: &'a Lexer,
    meta: Scope,
    ctx: Context,
    opts: &'a BuildOptions,
    services: Services<'a>,
    progress: &'a mut Reporter<'r>,
    built: BTreeMap<usize, Built>,
    signals: SignalPipes,
    rt: runtime::Runtime,
    secrets: BTreeMap<String, PathBuf>,
    epoch: Option<i64>,
    /// `--build-context NAME=DIR`.
    contexts: BTreeMap<String, PathBuf>,
    /// The flags of the COPY or ADD being run.
    copy_flags: CopyFlags,
}

fn hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

impl<'a, 'r> Builder<'a, 'r> {
    #[allow(clippy::too_many_arguments)] // the parts of one build, each borrowed
    pub fn new(
        store: &'a mut Store,
        stages: &'a Stages,
        lex: &'a Lexer,
        meta: Scope,
        ctx: Context,
        opts: &'a BuildOptions,
        services: Services<'a>,
        progress: &'a mut Reporter<'r>,
    ) -> anyhow::Result<Builder<'a, 'r>> {
        runtime::supervise::become_subreaper()?;
        let signals = SignalPipes::install(&[libc::SIGINT, libc::SIGTERM])?;
        let rt = match &opts.runtime {
            Some(bin) => runtime::Runtime::Binary(runtime::OciRuntime {
                bin: bin.clone(),
                state_root: store.root().join("runtime"),
            }),
            None => runtime::Runtime::Embedded(runtime::embedded::Embedded {
                state_root: store.root().join("libcontainer"),
            }),
        };
        let mut secrets = BTreeMap::new();
        for s in &opts.secrets {
            let fields: BTreeMap<&str, &str> = s.split(',').filter_map(|f| f.split_once('=')).collect();
            let id = fields.get("id").ok_or_else(|| invalid(format!("invalid secret {s:?}: no id")))?;
            let src =
                fields.get("src").or(fields.get("source")).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(id));
            secrets.insert((*id).to_owned(), src);
        }
        let epoch = opts.source_date_epoch;
        let mut contexts = BTreeMap::new();
        for c in &opts.build_contexts {
            let (name, value) = c
                .split_once('=')
                .ok_or_else(|| invalid(format!("invalid --build-context {c:?}: expected NAME=DIR")))?;
            if value.contains("://") {
                return Err(invalid(format!(
                    "--build-context {name}: only local directories are supported, not {value}"
                )));
            }
            let dir = PathBuf::from(value)
                .canonicalize()
                .map_err(|e| invalid(format!("--build-context {name}={value}: {e}")))?;
            contexts.insert(name.to_owned(), dir);
        }
        Ok(Builder {
            store,
            stages,
            lex,
            meta,
            ctx,
            opts,
            services,
            progress,
            built: BTreeMap::new(),
            signals,
            rt,
            secrets,
            epoch,
            contexts,
            copy_flags: CopyFlags::default(),
        })
    }

    fn stage_index(&self, name: &str, before: usize) -> Option<usize> {
        if let Ok(i) = name.parse::<usize>() {
            return (i < before).then_some(i);
        }
        self.stages.stages[..before]
            .iter()
            .position(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
    }

    fn base_name(&self, stage: &Stage) -> anyhow::Result<String> {
        self.lex.process_word(&stage.base, &self.meta).map_err(|e| fail(e.to_string()))
    }

    /// A stage's platform: its `FROM --platform` (expanded, so that
    /// `$BUILDPLATFORM` works), or the build's.
    fn stage_platform(&self, stage: &Stage) -> anyhow::Result<dockerfile::expand::Platform> {
        match &stage.platform {
            Some(p) => {
                let p = self.lex.process_word(p, &self.meta).map_err(|e| fail(e.to_string()))?;
                crate::config::parse_platform(&p).map_err(invalid)
            }
            None => crate::target_platform(self.opts),
        }
    }

    /// The stages `target` needs, in build order.
    pub fn needed(&self, target: usize) -> anyhow::Result<Vec<usize>> {
        let mut need = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if need.insert(i) {
                todo.extend(self.deps(i)?);
            }
        }
        Ok(need.into_iter().collect())
    }

    /// The earlier stages stage `i` reads: its base, `COPY --from` and
    /// `RUN --mount=from=`.
    pub fn deps(&self, i: usize) -> anyhow::Result<Vec<usize>> {
        let stage = &self.stages.stages[i];
        let mut deps = Vec::new();
        deps.extend(self.stage_index(&self.base_name(stage)?, i));
        for c in &stage.commands {
            let froms: Vec<String> = match &c.command {
                Command::Copy(cp) => cp.from.iter().cloned().collect(),
                Command::Run(r) => r.mounts.iter().filter_map(|m| m.from.clone()).collect(),
                _ => Vec::new(),
            };
            for f in froms {
                deps.extend(self.stage_index(&f, i));
            }
        }
        deps.sort_unstable();
        deps.dedup();
        Ok(deps)
    }

    /// A stage built elsewhere (by a child process).
    pub fn insert_built(&mut self, idx: usize, b: Built) {
        self.built.insert(idx, b);
    }

    pub fn built(&self, idx: usize) -> Option<&Built> {
        self.built.get(&idx)
    }

    pub fn progress(&mut self) -> &mut Reporter<'r> {
        self.progress
    }

    pub fn options(&self) -> &BuildOptions {
        self.opts
    }

    pub fn services(&self) -> Services<'a> {
        self.services
    }

    /// The SIGINT/SIGTERM the build has received, without waiting.
    pub fn pending_signals(&mut self) -> Vec<i32> {
        self.signals.pending()
    }

    pub fn store(&self) -> &Store {
        self.store
    }

    fn now(&self) -> String {
        match self.epoch {
            Some(e) => {
                humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(e as u64))
                    .to_string()
            }
            None => store::now_rfc3339(),
        }
    }

    /// The starting point of a stage: scratch, an earlier stage, or a
    /// stored image.
    fn base(&mut self, idx: usize) -> anyhow::Result<Built> {
        let stage = &self.stages.stages[idx];
        let name = self.base_name(stage)?;
        let platform = self.stage_platform(stage)?;
        if name == "scratch" {
            let mut config = ImageConfig::new_imported(None, "");
            config.set_platform(&platform);
            config.0["history"] = json!([]);
            config.0["created"] = json!("");
            // BuildKit's empty image: the default PATH, WorkingDir "/".
            config.0["config"]["Env"] = json!([format!("PATH={DEFAULT_PATH}")]);
            config.0["config"]["WorkingDir"] = json!("/");
            let scope = self.meta.stage(config.env());
            return Ok(Built {
                config,
                layers: vec![],
                history: vec![],
                key: cache_key::KeyWriter::new("scratch").str("platform", &platform.spec()).finish(),
                created: String::new(),
                scope,
                records: vec![],
            });
        }
        if let Some(j) = self.stage_index(&name, idx) {
            let mut b = self.built.get(&j).cloned().ok_or_else(|| fail(format!("stage {name} was not built")))?;
            b.scope = self.meta.stage(b.config.env());
            return Ok(b);
        }
        let id = match self.local_base(&name, &platform)? {
            Some(id) if !self.opts.pull => id,
            _ => self.pull_base(&name, &platform)?,
        };
        let mut bytes = self.store.config_bytes(&id)?;
        let mut v: Value = serde_json::from_slice(&bytes)?;
        // A local image of another platform: the registry may have this
        // one (BuildKit resolves the platform's image from the index).
        let id = if !is_of(&v, &platform) {
            let pulled = self.pull_base(&name, &platform).map_err(|e| {
                fail(format!(
                    "{e} (the local {name} is {}/{}, the stage is for {})",
                    v["os"].as_str().unwrap_or_default(),
                    v["architecture"].as_str().unwrap_or_default(),
                    platform.spec()
                ))
            })?;
            bytes = self.store.config_bytes(&pulled)?;
            v = serde_json::from_slice(&bytes)?;
            pulled
        } else {
            id
        };
        let mut config = ImageConfig(v.clone());
        // BuildKit makes sure PATH is always set.
        if !config.env().iter().any(|(k, _)| k == "PATH") {
            let env = config.0["config"]["Env"].as_array().cloned().unwrap_or_default();
            let mut env: Vec<Value> = env;
            env.push(json!(format!("PATH={DEFAULT_PATH}")));
            config.0["config"]["Env"] = Value::Array(env);
        }
        let history = v.get("history").and_then(Value::as_array).cloned().unwrap_or_default();
        let created = v.get("created").and_then(Value::as_str).unwrap_or_default().to_owned();
        let layers = self.store.image_layers(&id)?;
        let scope = self.meta.stage(config.env());
        let key = cache_key::KeyWriter::new("image").str("id", &id.to_string()).finish();
        Ok(Built { config, layers, history, key, created, scope, records: vec![] })
    }

    /// The local image a FROM names: a tag's, or a manifest list's entry
    /// for the stage's platform (as podman's build takes it).
    fn local_base(&self, name: &str, platform: &dockerfile::expand::Platform) -> anyhow::Result<Option<image::Digest>> {
        if let Ok(id) = self.store.resolve(name) {
            return Ok(Some(id));
        }
        let Ok(full) = image::Reference::parse(name) else { return Ok(None) };
        let Some(list) = self.store.manifest_list(&full.to_string())? else { return Ok(None) };
        Ok(list.image_for(&platform.os, &platform.arch, &platform.variant).and_then(|id| id.parse().ok()))
    }

    /// Pulls a base image that is missing (or every base with `--pull`).
    fn pull_base(&mut self, name: &str, platform: &dockerfile::expand::Platform) -> anyhow::Result<image::Digest> {
        let shown = image::Reference::parse(name).map_or_else(|_| name.to_owned(), |r| r.to_string());
        let n = self.progress.begin(&format!("[internal] load metadata for {shown}"));
        match (self.services.pull)(name, &platform.spec()) {
            Ok(id) => {
                self.progress.done(n);
                Ok(id)
            }
            Err(e) => {
                let msg = format!("failed to solve: {name}: failed to resolve source metadata for {shown}: {e}");
                self.progress.error(n, &msg);
                Err(fail(msg))
            }
        }
    }

    pub fn build_stage(&mut self, idx: usize) -> anyhow::Result<()> {
        let stage = &self.stages.stages[idx];
        // BuildKit counts FROM and the filesystem steps.
        let is_step =
            |c: &Command| matches!(c, Command::Run(_) | Command::Copy(_) | Command::Add(_) | Command::Workdir(_));
        let total = stage.commands.iter().filter(|c| is_step(&c.command)).count() + 1;
        let mut label = match (&stage.name, self.stages.stages.len()) {
            (Some(n), _) => format!("{n} "),
            (None, 1) => String::new(),
            (None, _) => format!("stage-{idx} "),
        };
        // One of several platforms: each step says which, as BuildKit's.
        if self.opts.label_platform {
            label = format!("{} {label}", self.stage_platform(stage)?.spec());
        }
        let n = self.progress.begin(&format!("[{label}1/{total}] FROM {}", self.base_name(stage)?));
        let mut b = self.base(idx)?;
        self.progress.done(n);
        // ONBUILD triggers of the base run first, and are not inherited.
        let triggers: Vec<String> = b
            .config
            .0
            .pointer("/config/OnBuild")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        if let Some(c) = b.config.0.get_mut("config").and_then(Value::as_object_mut) {
            c.remove("OnBuild");
        }
        for t in triggers {
            let df = dockerfile::parse(t.as_bytes()).map_err(|e| fail(format!("ONBUILD {t}: {}", e.message)))?;
            for ins in &df.instructions {
                let cmd =
                    dockerfile::instructions::parse_command(ins).map_err(|e| fail(format!("ONBUILD {t}: {e}")))?;
                self.step(&mut b, &cmd, &format!("[{}] ONBUILD {t}", label.trim_end()), idx)?;
            }
        }
        let mut cmd_set = false;
        let mut step_no = 1;
        for c in stage.commands.iter() {
            if is_step(&c.command) {
                step_no += 1;
            }
            let title = format!("[{label}{step_no}/{total}] {}", describe(&c.command));
            if matches!(c.command, Command::Cmd(_)) {
                cmd_set = true;
            }
            if matches!(c.command, Command::Entrypoint(_)) && !cmd_set {
                // ENTRYPOINT resets a CMD inherited from the base.
                if let Some(cfg) = b.config.0.get_mut("config").and_then(Value::as_object_mut) {
                    cfg.insert("Cmd".into(), Value::Null);
                }
            }
            self.step(&mut b, &c.command, &title, idx).map_err(|e| {
                fail(format!("{e:#}\n{}:{}: {}", "Dockerfile", c.location.start_line, describe(&c.command)))
            })?;
        }
        self.built.insert(idx, b);
        self.ctx.save(self.store)?;
        Ok(())
    }

    fn step(&mut self, b: &mut Built, cmd: &Command, title: &str, idx: usize) -> anyhow::Result<()> {
        if let Command::Arg(decls) = cmd {
            // The history shows each default as it expanded.
            let mut shown = Vec::new();
            for d in decls {
                let mut d2 = d.clone();
                d2.default = d.default.as_ref().map(|v| self.lex.process_word(v, &b.scope)).transpose()?;
                shown.push(d2);
                b.scope.declare(self.lex, d).map_err(|e| fail(e.to_string()))?;
            }
            self.history_only(b, crate::history::arg(&shown));
            return Ok(());
        }
        let cmd = expand_command(self.lex, &b.scope, cmd).map_err(|e| fail(e.to_string()))?;
        match &cmd {
            Command::Run(r) => self.run(b, r, title, idx),
            Command::Copy(c) => {
                let attrs = (c.chown.clone(), c.chmod.clone());
                self.copy_flags =
                    CopyFlags { excludes: c.excludes.clone(), parents: c.parents, ..CopyFlags::default() };
                self.copy(b, &c.paths, c.from.as_deref(), attrs, false, title, idx)
            }
            Command::Add(a) => {
                self.copy_flags = CopyFlags {
                    excludes: a.excludes.clone(),
                    checksum: a.checksum.clone(),
                    keep_git_dir: a.keep_git_dir,
                    ..CopyFlags::default()
                };
                self.copy(b, &a.paths, None, (a.chown.clone(), a.chmod.clone()), true, title, idx)
            }
            Command::Workdir(_) => self.workdir_step(b, &cmd, title),
            other => {
                self.config_step(b, other)?;
                if let Some(text) = crate::history::config_step(other, &b.config.0["config"], describe(other)) {
                    self.history_only(b, text);
                }
                Ok(())
            }
        }
    }

    /// WORKDIR: the directory made as BuildKit makes it (with its
    /// parents, 0755, owned by the USER), a layer of its own; `/` makes
    /// none.
    fn workdir_step(&mut self, b: &mut Built, cmd: &Command, title: &str) -> anyhow::Result<()> {
        self.config_step(b, cmd)?;
        let wd = Self::workdir(b);
        let created_by = format!("WORKDIR {wd}");
        if wd == "/" {
            self.history_only(b, created_by);
            return Ok(());
        }
        let n = self.progress.begin(title);
        let user = b.config.0.pointer("/config/User").and_then(Value::as_str).unwrap_or("").to_owned();
        let key =
            cache_key::KeyWriter::new("workdir").str("parent", &b.key).str("dir", &wd).str("user", &user).finish();
        if self.try_cache(b, &key, &created_by, n)? {
            return Ok(());
        }
        let rootfs = self.mount_step(b)?;
        let made = make_workdir(rootfs.merged(), &wd, &user);
        self.finish_step(b, &key, rootfs, &created_by, n, made)
    }

    /// Ends a step that ran in `rootfs`: its layer committed when it
    /// succeeded, the rootfs thrown away (and the step shown failed) when
    /// it did not.
    fn finish_step(
        &mut self,
        b: &mut Built,
        key: &str,
        rootfs: StepRootfs,
        created_by: &str,
        n: usize,
        result: anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        match result {
            Ok(()) => {
                self.progress.done(n);
                self.commit(b, key, rootfs, created_by)
            }
            Err(e) => {
                let dir = rootfs.dir.clone();
                let _ = rootfs.finish();
                let _ = image::layer::remove_tree(&dir);
                self.progress.error(n, &format!("{e:#}"));
                Err(e)
            }
        }
    }

    /// A history entry without a layer.
    fn history_only(&self, b: &mut Built, created_by: String) {
        let created = if b.created.is_empty() { self.now() } else { b.created.clone() };
        b.history.push(json!({"created": created, "created_by": created_by, "comment": "buildkit.dockerfile.v0", "empty_layer": true}));
    }

    fn config_step(&mut self, b: &mut Built, cmd: &Command) -> anyhow::Result<()> {
        match cmd {
            Command::Env(kv) => {
                for p in kv {
                    b.scope.set_env(p.key.clone(), p.value.clone());
                }
                b.config.apply(cmd);
            }
            Command::Shell(sh) => {
                b.config.0["config"]["Shell"] = json!(sh);
            }
            Command::Maintainer(m) => {
                b.config.0["author"] = json!(m);
            }
            Command::Healthcheck(h) => {
                let mut v = json!({"Test": h.test});
                for (k, val) in [
                    ("Interval", h.interval),
                    ("Timeout", h.timeout),
                    ("StartPeriod", h.start_period),
                    ("StartInterval", h.start_interval),
                ] {
                    if val > 0 {
                        v[k] = json!(val);
                    }
                }
                if h.retries > 0 {
                    v["Retries"] = json!(h.retries);
                }
                b.config.0["config"]["Healthcheck"] = v;
            }
            other => {
                if !b.config.apply(other) {
                    return Err(fail(format!("unsupported instruction {}", describe(other))));
                }
            }
        }
        Ok(())
    }

    /// Looks a step up in the cache; on a hit adds its layer.
    fn try_cache(&mut self, b: &mut Built, key: &str, created_by: &str, n: usize) -> anyhow::Result<bool> {
        if self.opts.no_cache {
            return Ok(false);
        }
        let hit = match self.store.cached_step(key)? {
            Some(hit) => hit,
            // Made elsewhere: a hit whose layers come when needed.
            None => match self.opts.cache_import.as_ref().and_then(|c| c.find(key)) {
                Some(r) => r.step(),
                None => return Ok(false),
            },
        };
        self.add_layer(b, key, hit, created_by);
        self.progress.cached(n);
        Ok(true)
    }

    /// Makes sure the snapshots of `layers` are in the store, fetching
    /// those an imported cache record named but nothing has needed yet.
    fn materialize(&self, layers: &[LayerInfo]) -> anyhow::Result<()> {
        let Some(import) = &self.opts.cache_import else { return Ok(()) };
        // A snapshot is only ever made over its parent's: the top one
        // being here means all are.
        match layers.last() {
            None => return Ok(()),
            Some(top) if self.store.has_snapshot(&top.chain_id)? => return Ok(()),
            Some(_) => {}
        }
        let diffs: Vec<image::Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
        (self.services.fetch)(import, &diffs).map_err(|e| fail(format!("fetching cached layers: {e}")))
    }

    fn add_layer(&mut self, b: &mut Built, key: &str, step: CachedStep, created_by: &str) {
        let empty = step.layer.is_none();
        if let Some((chain_id, diff_id, size)) = step.layer.clone() {
            b.layers.push(LayerInfo { diff_id, chain_id, size });
        }
        b.records.push(cache::record(key, &step, &b.layers));
        b.key = key.to_owned();
        b.created = step.created.clone();
        let mut h = json!({"created": step.created, "created_by": created_by, "comment": "buildkit.dockerfile.v0"});
        if empty {
            h["empty_layer"] = json!(true);
        }
        b.history.push(h);
    }

    /// Commits a step's upper directory (or records an empty layer).
    fn commit(&mut self, b: &mut Built, key: &str, rootfs: StepRootfs, created_by: &str) -> anyhow::Result<()> {
        let dir = rootfs.dir.clone();
        let empty = rootfs.finish()?;
        let layer = if empty {
            let _ = image::layer::remove_tree(&dir);
            None
        } else {
            if let Some(e) = self.epoch {
                clamp_mtimes(&dir.join("fs"), e)?;
            }
            let parent = b.layers.last().map(|l| l.chain_id.clone());
            let info = self.store.adopt_snapshot(&dir, parent.as_ref())?;
            Some((info.chain_id, info.diff_id, info.size))
        };
        let step = CachedStep { layer, created: self.now() };
        self.store.put_cached_step(key, &step)?;
        self.add_layer(b, key, step, created_by);
        Ok(())
    }

    /// The layers of `COPY --from` / `RUN --mount=from=`: an earlier stage
    /// or a stored image; with what identifies their content for the
    /// cache key.
    fn source_layers(&self, from: &str, idx: usize) -> anyhow::Result<(Vec<LayerInfo>, String)> {
        match self.stage_index(from, idx) {
            Some(j) => {
                let s = self.built.get(&j).ok_or_else(|| fail(format!("stage {from} not built")))?;
                Ok((s.layers.clone(), s.key.clone()))
            }
            None => {
                let id = self.store.resolve(from).map_err(|_| fail(format!("{from}: no such stage or image")))?;
                Ok((self.store.image_layers(&id)?, id.to_string()))
            }
        }
    }

    /// What a RUN's bind mounts see, for its cache key: the content of
    /// each context source, or the key of each stage or image.
    fn bind_sources_key(&mut self, r: &Run, idx: usize) -> anyhow::Result<Vec<String>> {
        let mut keys = Vec::new();
        for m in r.mounts.iter().filter(|m| m.kind == MountType::Bind) {
            let key = match &m.from {
                Some(f) => self.source_layers(f, idx)?.1,
                None => {
                    let rel = context::clean_rel(m.source.as_deref().unwrap_or("."));
                    let host = context::resolve_in(&self.ctx.root, &rel, true)?;
                    match std::fs::symlink_metadata(&host) {
                        Ok(_) => self.ctx.tree_digest(self.store, &host, &rel)?.to_string(),
                        Err(_) => String::new(),
                    }
                }
            };
            keys.push(key);
        }
        Ok(keys)
    }

    /// Mounts `layers` (with a throwaway upper directory) for reading.
    fn mount_layers(&self, layers: &[LayerInfo]) -> anyhow::Result<StepRootfs> {
        self.materialize(layers)?;
        let dir = self.store.staging_dir("from-")?;
        let lowers = layers.iter().map(|l| self.store.snapshot_dir(&l.chain_id)).collect();
        StepRootfs::mount(dir, lowers)
    }

    fn mount_step(&mut self, b: &Built) -> anyhow::Result<StepRootfs> {
        self.materialize(&b.layers)?;
        let dir = self.store.staging_dir("step-")?;
        let lowers = b.layers.iter().map(|l| self.store.snapshot_dir(&l.chain_id)).collect();
        StepRootfs::mount(dir, lowers)
    }

    /// A copy step's rootfs, its upper directory planted with the files
    /// of the lineage's last layer when there is one (see seed.rs).
    fn mount_copy_step(&mut self, b: &Built, lineage: Option<&str>) -> anyhow::Result<(StepRootfs, Option<Planted>)> {
        self.materialize(&b.layers)?;
        let dir = self.store.staging_dir("step-")?;
        let lowers: Vec<_> = b.layers.iter().map(|l| self.store.snapshot_dir(&l.chain_id)).collect();
        let prev = match lineage {
            Some(l) => self.store.copy_seed(l)?,
            None => None,
        };
        let planted = match prev {
            Some(chain) => {
                let upper = dir.join("fs");
                std::fs::create_dir(&upper)?;
                let snapshot = self.store.snapshot_dir(&chain);
                // A seed that cannot be planted (gone meanwhile) only
                // means a full copy.
                seed::plant(snapshot.parent().unwrap_or(&snapshot), &upper, &lowers).ok().flatten()
            }
            None => None,
        };
        Ok((StepRootfs::mount(dir, lowers)?, planted))
    }

    fn workdir(b: &Built) -> String {
        b.config
            .0
            .pointer("/config/WorkingDir")
            .and_then(Value::as_str)
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
            .to_owned()
    }

    fn run(&mut self, b: &mut Built, r: &Run, title: &str, idx: usize) -> anyhow::Result<()> {
        let n = self.progress.begin(title);
        let argv = self.argv(b, &r.command);
        let mut env: Vec<String> = b.config.env().iter().map(|(k, v)| format!("{k}={v}")).collect();
        for (k, v) in b.scope.run_args() {
            env.push(format!("{k}={v}"));
        }
        let user = b.config.0.pointer("/config/User").and_then(Value::as_str).unwrap_or("").to_owned();
        let cwd = Self::workdir(b);
        let network = match (r.network, self.opts.network_mode.as_str()) {
            (NetworkMode::None, _) | (_, "none") => "none",
            _ => "host",
        };
        let created_by = crate::history::run(&b.scope.history_args(), &argv);
        let bind_sources = self.bind_sources_key(r, idx)?;
        let key = cache_key::run_key(&cache_key::RunInputs {
            parent: &b.key,
            argv: &argv,
            env: &env,
            user: &user,
            cwd: &cwd,
            network,
            mounts: &r.mounts,
            bind_sources: &bind_sources,
        });
        if self.try_cache(b, &key, &created_by, n)? {
            return Ok(());
        }
        // Another platform's stage runs under emulation.
        let arch = b.config.0["architecture"].as_str().unwrap_or_default().to_owned();
        runtime::emulation::ensure(&arch, crate::config::host_arch()).map_err(|e| fail(e.to_string()))?;
        let mut rootfs = self.mount_step(b)?;
        let result = match self.run_in(idx, r, &mut rootfs, argv.clone(), env, &user, &cwd, network, n) {
            Ok(0) => Ok(()),
            Ok(code) => {
                Err(fail(format!("process \"{}\" did not complete successfully: exit code: {code}", argv.join(" "))))
            }
            Err(e) => Err(e),
        };
        self.finish_step(b, &key, rootfs, &created_by, n, result)
    }

    /// argv of a RUN: exec form as is; shell form through SHELL. A
    /// heredoc becomes a shell heredoc (or the script itself when the
    /// command is only the heredoc).
    fn argv(&self, b: &Built, c: &CommandLine) -> Vec<String> {
        if !c.prepend_shell {
            return c.args.clone();
        }
        let mut argv = b.config.shell();
        let mut text = c.args.join(" ");
        if let Some(f) = c.files.first() {
            if text.trim_start().starts_with("<<")
                && c.files.len() == 1
                && !text.contains('|')
                && text.split_whitespace().count() == 1
            {
                text = f.data.clone();
            } else {
                for f in &c.files {
                    text.push('\n');
                    text.push_str(&f.data);
                    if !f.data.ends_with('\n') {
                        text.push('\n');
                    }
                    text.push_str(&f.name);
                }
                // The shell sees the heredoc text verbatim; the delimiter
                // stays quoted or not as written, so expansion matches.
            }
        }
        argv.push(text);
        argv
    }

    #[allow(clippy::too_many_arguments)]
    fn run_in(
        &mut self,
        idx: usize,
        r: &Run,
        rootfs: &mut StepRootfs,
        argv: Vec<String>,
        env: Vec<String>,
        user: &str,
        cwd: &str,
        network: &str,
        n: usize,
    ) -> anyhow::Result<i32> {
        let merged = rootfs.merged().to_owned();
        super::context::make_dir_in(&merged, cwd).map_err(|e| fail(format!("Cannot mkdir: {e}")))?;
        let mut exec_user = runtime::resolve_user(&merged, user).map_err(|e| fail(e.to_string()))?;
        // BuildKit gives a step only the groups /etc/group lists the user
        // in, not its primary group again (`id` shows no `groups=` for a
        // user without memberships, unlike `docker run`).
        exec_user.additional_gids.retain(|g| *g != exec_user.gid);
        let id = format!("wharf-build-{}", &hash(&[&rootfs.dir.display().to_string()])[..16]);
        let mut opts = runtime::RunOptions::new(&id, merged.clone(), argv, exec_user);
        opts.env = env;
        opts.cwd = cwd.to_owned();
        opts.hostname = "buildkitsandbox".into();
        if network == "host" {
            // RUN shares the host's network (so package managers reach
            // their registries without the bridge); the host's resolver
            // config is mounted in, as BuildKit does.
            opts.host_network = true;
            for f in ["/etc/resolv.conf", "/etc/hosts"] {
                if Path::new(f).exists() {
                    opts.extra_mounts.push(runtime::bind_mount(Path::new(f), f, true)?);
                }
            }
        }
        let mut held = Held::default();
        // BuildKit leaves the targets of cache, tmpfs and bind mounts in
        // the image as (empty) directories; the others' mount points go.
        let mut kept = Vec::new();
        for m in &r.mounts {
            let mount = self.run_mount(m, cwd, idx, &mut held)?;
            if matches!(m.kind, MountType::Cache | MountType::Tmpfs | MountType::Bind) {
                let dest = mount.destination().display().to_string();
                if mount.source().as_ref().is_some_and(|s| s.is_file()) {
                    rootfs.will_mount_file(&dest);
                }
                kept.push(dest);
            }
            opts.extra_mounts.push(mount);
        }
        let dests = opts.extra_mounts.iter().map(|m| m.destination().display().to_string());
        rootfs.will_mount(dests.filter(|d| !kept.contains(d)));
        let mut spec = runtime::container_spec(&opts).map_err(|e| fail(e.to_string()))?;
        runtime::seccomp::attach_compiled(&mut spec);
        std::fs::write(rootfs.dir.join("config.json"), serde_json::to_vec(&spec)?)?;
        let progress = &mut *self.progress;
        let mut out = |_: runtime::logs::Stream, bytes: &[u8]| progress.output(n, bytes);
        exec::run_bundle(&self.rt, &id, &rootfs.dir, &mut self.signals, &mut out)
    }

    /// `RUN --mount`: cache (a persistent directory per id), tmpfs, secret
    /// (a file read-only at /run/secrets/ID), bind (read-only from the
    /// context or a stage).
    fn run_mount(
        &mut self,
        m: &dockerfile::mounts::Mount,
        cwd: &str,
        idx: usize,
        held: &mut Held,
    ) -> anyhow::Result<oci_spec::runtime::Mount> {
        let abs =
            |t: &str| if t.starts_with('/') { t.to_owned() } else { format!("{}/{t}", cwd.trim_end_matches('/')) };
        Ok(match m.kind {
            MountType::Cache => {
                let target = abs(m.target.as_deref().ok_or_else(|| fail("cache mount needs a target"))?);
                let id = m.id.clone().unwrap_or_else(|| target.clone());
                let dir = self.store.root().join("build-mounts").join(hash(&["cache", &id]));
                if !dir.is_dir() {
                    // Made with the mount's mode and owner the first time, as
                    // BuildKit's (a mkdir under the persistent cache).
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::create_dir_all(&dir)?;
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(m.mode.unwrap_or(0o755)))?;
                    std::os::unix::fs::chown(&dir, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))?;
                }
                runtime::bind_mount(&dir, &target, false)?
            }
            MountType::Tmpfs => {
                let target = abs(m.target.as_deref().ok_or_else(|| fail("tmpfs mount needs a target"))?);
                let size = m.size.map(|s| format!("size={s}")).unwrap_or_default();
                runtime::tmpfs_mount(&target, &size)?
            }
            MountType::Secret => {
                let id =
                    m.id.clone()
                        .or_else(|| m.target.as_deref().and_then(|t| t.rsplit('/').next()).map(str::to_owned))
                        .ok_or_else(|| fail("secret mount needs an id"))?;
                let target = m.target.clone().map(|t| abs(&t)).unwrap_or_else(|| format!("/run/secrets/{id}"));
                match self.secrets.get(&id) {
                    Some(src) => runtime::bind_mount(&secret_copy(src, &id, m, held)?, &target, true)?,
                    None if m.required => return Err(fail(format!("secret {id} not found"))),
                    None => runtime::tmpfs_mount(&target, "size=0")?,
                }
            }
            MountType::Bind => {
                let target = abs(m.target.as_deref().ok_or_else(|| fail("bind mount needs a target"))?);
                // A stage or image, or (for `rw`) the context, is mounted
                // over a throwaway upper directory: writes are discarded,
                // as BuildKit discards them.
                let lowers = match &m.from {
                    Some(f) => Some(self.source_layers(f, idx)?.0),
                    None => None,
                };
                let root = if lowers.is_some() || !m.read_only {
                    let rootfs = match lowers {
                        Some(layers) => self.mount_layers(&layers)?,
                        None => StepRootfs::mount(self.store.staging_dir("bind-")?, vec![self.ctx.root.clone()])?,
                    };
                    let root = rootfs.merged().to_owned();
                    held.views.push(rootfs);
                    root
                } else {
                    self.ctx.root.clone()
                };
                let rel = context::clean_rel(m.source.as_deref().unwrap_or("."));
                let src = context::resolve_in(&root, &rel, true)?;
                if std::fs::symlink_metadata(&src).is_err() {
                    return Err(fail(format!("bind mount source {:?} not found", m.source.as_deref().unwrap_or("."))));
                }
                runtime::bind_mount(&src, &target, m.read_only)?
            }
            MountType::Ssh => return Err(fail("RUN --mount=type=ssh is not supported yet")),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn copy(
        &mut self,
        b: &mut Built,
        paths: &dockerfile::instructions::SourcesAndDest,
        from: Option<&str>,
        (chown, chmod): (Option<String>, Option<String>),
        is_add: bool,
        title: &str,
        idx: usize,
    ) -> anyhow::Result<()> {
        let n = self.progress.begin(title);
        let word = if is_add { "ADD" } else { "COPY" };
        let created_by = format!("{word} {} {} # buildkit", paths.sources.join(" "), paths.dest);
        // The source tree: the context, an earlier stage, or an image.
        let mut source_root = self.ctx.root.clone();
        let mut source_mount = Held::default();
        let opt = |name: &str, v: &Option<String>| v.as_ref().map_or(format!("no {name}"), |v| format!("{name}={v}"));
        let mut key_parts =
            vec![b.key.clone(), paths.dest.clone(), Self::workdir(b), opt("chown", &chown), opt("chmod", &chmod)];
        key_parts.push(format!("excludes={}", self.copy_flags.excludes.len()));
        key_parts.extend(self.copy_flags.excludes.iter().cloned());
        key_parts.push(format!("parents={}", self.copy_flags.parents));
        if let Some(dir) = from.and_then(|f| self.contexts.get(f)).cloned() {
            // A named context: read like the main one, with its own
            // .dockerignore and stat cache entries.
            key_parts.push(format!("context:{}", dir.display()));
            let named = super::context::Context::open(dir.clone(), "Dockerfile")?;
            let main = std::mem::replace(&mut self.ctx, named);
            let result = self.copy_with(b, paths, &dir, false, chown, chmod, is_add, key_parts, &created_by, n);
            let mut named = std::mem::replace(&mut self.ctx, main);
            named.save(self.store)?;
            return result;
        }
        let mut definition_key = None;
        if let Some(f) = from {
            let (layers, key) = self.source_layers(f, idx).map_err(|e| fail(format!("COPY --from={e}")))?;
            key_parts.push(key);
            // First by its definition (the source stage's key, which its
            // own inputs make), as BuildKit: a hit needs no file of the
            // source, so a source built elsewhere is not even fetched.
            let def = cache_key::KeyWriter::new("copy-from-definition")
                .str("word", word)
                .strs("parts", &key_parts)
                .strs("sources", &paths.sources)
                .finish();
            if self.try_cache(b, &def, &created_by, n)? {
                return Ok(());
            }
            definition_key = Some(def);
            let m = self.mount_layers(&layers)?;
            source_root = m.merged().to_owned();
            source_mount.views.push(m);
        }
        let result =
            self.copy_with(b, paths, &source_root, from.is_some(), chown, chmod, is_add, key_parts, &created_by, n);
        drop(source_mount);
        result?;
        // Then by the content copied (computed above): the step is also
        // known by its definition from now on.
        // The next steps' keys build on the definition key, which a build
        // that hit by definition has as well.
        if let (Some(def), Some(last)) = (definition_key, b.records.last().cloned()) {
            self.store.put_cached_step(&def, &last.step())?;
            b.key = def.clone();
            b.records.push(CacheRecord { key: def, ..last });
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_with(
        &mut self,
        b: &mut Built,
        paths: &dockerfile::instructions::SourcesAndDest,
        source_root: &Path,
        from_stage: bool,
        chown: Option<String>,
        chmod: Option<String>,
        is_add: bool,
        mut key_parts: Vec<String>,
        created_by: &str,
        n: usize,
    ) -> anyhow::Result<()> {
        // The step apart from its sources' contents: its previous layer
        // seeds this one (see seed.rs). Not for ADD (archives are
        // extracted over what is there), heredocs (written in place),
        // clamped times (changed in place), or --no-cache (which reuses
        // nothing).
        let seedable = !from_stage
            && !self.opts.no_cache
            && !is_add
            && paths.contents.is_empty()
            && self.epoch.is_none()
            && paths.sources.iter().all(|s| !s.contains("://"));
        let lineage = seedable.then(|| {
            cache_key::KeyWriter::new("copy-lineage").strs("parts", &key_parts).strs("sources", &paths.sources).finish()
        });
        let mut sources = Vec::new();
        // Per source, the leading path `--parents` drops (up to a `/./`).
        let mut pivots = Vec::new();
        let mut downloads = None;
        for s in &paths.sources {
            if is_add && is_git_source(s) {
                let dir = match &downloads {
                    Some(d) => d,
                    None => downloads.insert(self.store.staging_dir("add-url-")?),
                };
                let (tree, commit) =
                    fetch_git(s, &dir.join(format!("git{}", sources.len())), self.copy_flags.keep_git_dir)?;
                key_parts.push(format!("git:{s}:{commit}:{}", self.copy_flags.keep_git_dir));
                // The checkout is a directory source: its contents go to DEST.
                sources.push((PathBuf::new(), tree));
                pivots.push(PathBuf::new());
                continue;
            }
            if is_add && (s.starts_with("http://") || s.starts_with("https://")) {
                let dir = match &downloads {
                    Some(d) => d,
                    None => downloads.insert(self.store.staging_dir("add-url-")?),
                };
                let (name, file, digest) = fetch_url(s, dir, self.copy_flags.checksum.as_deref())?;
                key_parts.push(format!("url:{s}:{digest}"));
                sources.push((PathBuf::from(name), file));
                pivots.push(PathBuf::new());
                continue;
            }
            let (pivot, s) = match s.split_once("/./") {
                Some((head, tail)) if self.copy_flags.parents => (context::clean_rel(head), format!("{head}/{tail}")),
                _ => (PathBuf::new(), s.clone()),
            };
            let found =
                if from_stage { context::sources_in(source_root, &s, &|_| false)? } else { self.ctx.sources(&s)? };
            for (rel, host) in found {
                pivots.push(pivot.clone());
                key_parts.push(rel.display().to_string());
                if !from_stage {
                    let d = self.ctx.tree_digest(self.store, &host, &rel)?;
                    key_parts.push(d.to_string());
                }
                sources.push((rel, host));
            }
        }
        // Removed when this step is done, whatever happens.
        let url_dir = downloads.clone();
        let _downloads = downloads.map(TempDir);
        for f in &paths.contents {
            key_parts.push(format!("{}\0{}", f.name, f.data));
        }
        // Layers cached before owners were kept for `--from` had root's.
        if from_stage && chown.is_none() {
            key_parts.push("owners kept".into());
        }
        let key = cache_key::KeyWriter::new(if is_add { "add" } else { "copy" }).strs("parts", &key_parts).finish();
        if self.try_cache(b, &key, created_by, n)? {
            return Ok(());
        }
        let (mut rootfs, planted) = self.mount_copy_step(b, lineage.as_deref())?;
        let merged_root = rootfs.merged().to_owned();
        let no_files = HashMap::new();
        let ctx = &self.ctx;
        let digest_of = |p: &Path| ctx.known_digest(p);
        let mut reuse = lineage.as_ref().map(|_| copy::Reuse {
            root: &merged_root,
            planted: planted.as_ref().map_or(&no_files, |p| &p.files),
            digest_of: &digest_of,
            written: HashMap::new(),
        });
        let r = (|| -> anyhow::Result<()> {
            let merged = merged_root.as_path();
            // BuildKit keeps the owners of what comes from a stage or an
            // image, and makes what comes from the context root's.
            let mut attrs = if from_stage { Attrs::keep_owners() } else { Attrs::root() };
            if let Some(c) = &chown {
                attrs.owner = Some(chown_owner(merged, c)?);
            }
            if let Some(m) = &chmod {
                attrs.mode = Some(copy::parse_chmod(m).map_err(fail)?);
            }
            let dest = copy::dest_path(merged, &Self::workdir(b), &paths.dest)?;
            let dir_hint = paths.dest.ends_with('/') || paths.dest.ends_with("/.");
            let mut plain = Vec::new();
            for (rel, s) in &sources {
                // Local archives are extracted; downloaded ones are not.
                let downloaded = url_dir.as_ref().is_some_and(|d| s.starts_with(d));
                if is_add && !downloaded && s.is_file() && is_archive(s) {
                    std::fs::create_dir_all(&dest)?;
                    let f = std::fs::File::open(s)?;
                    image::layer::apply(std::io::BufReader::new(f), &dest, image::layer::Whiteouts::Delete)
                        .map_err(|e| fail(format!("extracting {}: {e}", s.display())))?;
                } else {
                    plain.push((rel.clone(), s.clone()));
                }
            }
            let ctx = &self.ctx;
            let ex = dockerfile::dockerignore::Dockerignore::from_patterns(&self.copy_flags.excludes)
                .map_err(|e| fail(format!("--exclude: {e}")))?;
            let has_ex = !self.copy_flags.excludes.is_empty();
            // --exclude patterns match below each source directory, as in
            // BuildKit, and everywhere for the context's .dockerignore.
            let excluded = |p: &Path| {
                (!from_stage && ctx.excluded(p))
                    || (has_ex && p.components().count() > 0 && {
                        let s = p.to_string_lossy();
                        ex.excludes(&s) || s.split_once('/').is_some_and(|(_, below)| ex.excludes(below))
                    })
            };
            let filter = CopyFilter { excluded: &excluded, context: (!from_stage).then_some(ctx) };
            if self.copy_flags.parents {
                // Each source keeps its path below the pivot, as
                // BuildKit's `COPY --parents` does.
                for ((rel, host), pivot) in sources.iter().zip(&pivots) {
                    let kept = rel.strip_prefix(pivot).unwrap_or(rel);
                    let below = if host.is_dir() { kept } else { kept.parent().unwrap_or(Path::new("")) };
                    let to = format!("{}/{}", paths.dest.trim_end_matches('/'), below.display());
                    let target = copy::dest_path(merged, &Self::workdir(b), &to)?;
                    let one = [(rel.clone(), host.clone())];
                    copy::copy_sources_reusing(&one, &target, true, attrs, &filter, reuse.as_mut())?;
                }
            } else {
                let dir_dest = dir_hint || sources.len() > 1;
                copy::copy_sources_reusing(&plain, &dest, dir_dest, attrs, &filter, reuse.as_mut())?;
            }
            for f in &paths.contents {
                let target = if dir_hint || dest.is_dir() { dest.join(&f.name) } else { dest.clone() };
                if let Some(p) = target.parent() {
                    std::fs::create_dir_all(p)?;
                }
                std::fs::write(&target, &f.data)?;
                let (uid, gid) = attrs.owner.unwrap_or((0, 0));
                std::os::unix::fs::lchown(&target, Some(uid), Some(gid))?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(attrs.mode.unwrap_or(0o644)))?;
            }
            Ok(())
        })();
        let written = reuse.map(|r| r.written);
        if let (Ok(()), Some(written)) = (&r, &written) {
            if let Some(p) = &planted {
                rootfs.remove_after_unmount(p.leftovers(written));
            }
            seed::write_manifest(&rootfs.dir, written)?;
        }
        let layers_before = b.layers.len();
        self.finish_step(b, &key, rootfs, created_by, n, r)?;
        if let (Some(l), true) = (&lineage, b.layers.len() > layers_before) {
            let chain = b.layers.last().map(|l| l.chain_id.clone()).expect("a layer was added");
            self.store.put_copy_seed(l, &chain)?;
        }
        Ok(())
    }

    /// Build-args no ARG of a built stage consumed.
    pub fn unused_args(&self, build_args: &BTreeMap<String, String>) -> Vec<String> {
        let scopes: Vec<&Scope> = std::iter::once(&self.meta).chain(self.built.values().map(|b| &b.scope)).collect();
        dockerfile::expand::unconsumed(build_args, &scopes)
    }

    /// Writes the target stage's image; with the cache records to export.
    pub fn finish(mut self, target: usize, labels: &BTreeMap<String, String>) -> anyhow::Result<crate::Built> {
        let b = self.built.get(&target).cloned().ok_or_else(|| fail("target stage not built"))?;
        self.materialize(&b.layers)?;
        let export = cache::CacheExport {
            min: cache::dedup(b.records.clone()),
            max: cache::dedup(self.built.values().flat_map(|s| s.records.clone())),
        };
        self.remember_imported(&export.max)?;
        let mut config = b.config;
        for (k, v) in labels {
            config.0["config"]["Labels"][k] = json!(v);
        }
        let diffs: Vec<image::Digest> = b.layers.iter().map(|l| l.diff_id.clone()).collect();
        config.set_layers(&diffs);
        config.0["history"] = json!(b.history);
        if self.opts.inline_cache {
            config.0[cache::INLINE_KEY] = json!(export.min);
        }
        let created = if b.created.is_empty() { self.now() } else { b.created.clone() };
        config.0["created"] = json!(created);
        let id = self.store.add_image(&config.to_bytes(), &b.layers)?;
        Ok(crate::Built { id, cache: export })
    }

    /// Keeps in the local cache the imported records whose layers are now
    /// here, so the next build hits them without `--cache-from`.
    fn remember_imported(&mut self, records: &[CacheRecord]) -> anyhow::Result<()> {
        if self.opts.cache_import.is_none() {
            return Ok(());
        }
        for r in records {
            let step = r.step();
            let here = match &step.layer {
                Some((chain, _, _)) => self.store.has_snapshot(chain)?,
                None => true,
            };
            if here && self.store.cached_step(&r.key)?.is_none() {
                self.store.put_cached_step(&r.key, &step)?;
            }
        }
        Ok(())
    }
}

/// Whether an image config is of `platform` (os and architecture; a
/// variant only when both name one).
fn is_of(config: &Value, platform: &dockerfile::expand::Platform) -> bool {
    let field = |k: &str| config[k].as_str().unwrap_or_default();
    field("os") == platform.os
        && field("architecture") == platform.arch
        && (field("variant").is_empty() || platform.variant.is_empty() || field("variant") == platform.variant)
}

/// The flags of a COPY or ADD that its source handling reads; set whole
/// for each step, so none carries over from an earlier one.
#[derive(Default)]
struct CopyFlags {
    /// `--exclude` patterns.
    excludes: Vec<String>,
    /// `ADD --checksum`.
    checksum: Option<String>,
    /// `COPY --parents`.
    parents: bool,
    /// `ADD --keep-git-dir`.
    keep_git_dir: bool,
}

/// Source trees mounted for a step (`COPY --from`, `RUN --mount=from=`),
/// unmounted and removed on drop.
/// What a step holds while it runs: mounted rootfs views, and private
/// directories (secret copies) removed after them.
#[derive(Default)]
struct Held {
    views: Vec<StepRootfs>,
    dirs: Vec<TempDir>,
}

impl Drop for Held {
    fn drop(&mut self) {
        for m in std::mem::take(&mut self.views) {
            let dir = m.dir.clone();
            let _ = m.finish();
            let _ = image::layer::remove_tree(&dir);
        }
    }
}

/// A private copy of secret `id` with the mount's mode (default 0400)
/// and owner (default root), as BuildKit gives it: in memory (/dev/shm)
/// where there is one, in a 0700 directory removed when the step ends.
fn secret_copy(src: &Path, id: &str, m: &dockerfile::mounts::Mount, held: &mut Held) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let dir = base.join(format!("wharf-secret-{}-{n}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(|e| fail(format!("secret {id}: {e}")))?;
    held.dirs.push(TempDir(dir.clone()));
    let file = dir.join("secret");
    std::fs::copy(src, &file).map_err(|e| fail(format!("secret {id}: {}: {e}", src.display())))?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(m.mode.unwrap_or(0o400)))?;
    std::os::unix::fs::chown(&file, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))?;
    Ok(file)
}

/// A staging directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = image::layer::remove_tree(&self.0);
    }
}

/// Downloads `url` into `dir` for ADD: the file is named after the URL's
/// last path segment, mode 0600 as docker gives it, and must match
/// `--checksum sha256:HEX` when given. Returns (name, path, digest).
fn fetch_url(url: &str, dir: &Path, checksum: Option<&str>) -> anyhow::Result<(String, PathBuf, image::Digest)> {
    use std::os::unix::fs::PermissionsExt;
    let name = url.split(['?', '#']).next().unwrap_or(url).rsplit('/').find(|s| !s.is_empty()).unwrap_or("index.html");
    let name = if name.contains(':') { "index.html" } else { name };
    let mut resp =
        reqwest::blocking::get(url).and_then(|r| r.error_for_status()).map_err(|e| fail(format!("ADD {url}: {e}")))?;
    let path = dir.join(name);
    let file = std::fs::File::create(&path)?;
    let mut hw = image::digest::HashingWriter::new(file);
    std::io::copy(&mut resp, &mut hw).map_err(|e| fail(format!("ADD {url}: {e}")))?;
    let (digest, _, _) = hw.finish();
    if let Some(want) = checksum {
        if want != digest.to_string() {
            return Err(fail(format!("ADD {url}: digest mismatch {digest}: expected {want}")));
        }
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok((name.to_owned(), path, digest))
}

/// Whether an ADD source is a git repository, as BuildKit tells: a git
/// transport (`git://`, `git@host:`, `ssh://`) or an http(s) URL whose
/// path ends in `.git`.
fn is_git_source(s: &str) -> bool {
    let url = s.split('#').next().unwrap_or(s);
    url.starts_with("git://")
        || url.starts_with("git@")
        || url.starts_with("ssh://")
        || ((url.starts_with("https://") || url.starts_with("http://")) && url.trim_end_matches('/').ends_with(".git"))
}

/// Checks out `URL[#REF[:SUBDIR]]` into `dir` with git (as BuildKit
/// does, which runs git too): a shallow fetch of REF (a branch, a tag or
/// a commit; the remote's HEAD when absent). Returns the tree to copy (the
/// checkout or its SUBDIR) and the commit, which goes in the cache key.
fn fetch_git(src: &str, dir: &Path, keep_git_dir: bool) -> anyhow::Result<(PathBuf, String)> {
    let (url, fragment) = src.split_once('#').unwrap_or((src, ""));
    let (git_ref, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    let git_ref = if git_ref.is_empty() { "HEAD" } else { git_ref };
    std::fs::create_dir_all(dir)?;
    let git = |args: &[&str]| -> anyhow::Result<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| fail(format!("ADD {src}: running git: {e}")))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(fail(format!("ADD {src}: git {}: {}", args.join(" "), err.trim())));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    git(&["init", "-q"])?;
    git(&["remote", "add", "origin", url])?;
    if git(&["fetch", "-q", "--depth", "1", "origin", git_ref]).is_err() {
        // A commit the server will not serve by name: fetch everything.
        git(&["fetch", "-q", "origin"])?;
        git(&["fetch", "-q", "--tags", "origin"])?;
        let commit = git(&["rev-parse", "--verify", &format!("{git_ref}^{{commit}}")])?;
        git(&["checkout", "-q", &commit])?;
    } else {
        git(&["checkout", "-q", "FETCH_HEAD"])?;
    }
    let commit = git(&["rev-parse", "HEAD"])?;
    if !keep_git_dir {
        image::layer::remove_tree(&dir.join(".git")).map_err(|e| fail(format!("ADD {src}: {e}")))?;
    }
    let tree = context::resolve_in(dir, &context::clean_rel(subdir), true)?;
    if !tree.is_dir() {
        return Err(fail(format!("ADD {src}: {subdir:?} is not a directory of the repository")));
    }
    Ok((tree, commit))
}

/// A local file ADD extracts: tar, gzip, bzip2, xz or zstd by magic bytes.
fn is_archive(p: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 262];
    let n = std::fs::File::open(p).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
    let h = &head[..n];
    h.starts_with(&[0x1f, 0x8b]) || h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) || (n >= 262 && &h[257..262] == b"ustar")
}

/// Clamps every mtime under `dir` to SOURCE_DATE_EPOCH.
fn clamp_mtimes(dir: &Path, epoch: i64) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        if m.is_dir() {
            clamp_mtimes(&e.path(), epoch)?;
        }
        if m.mtime() > epoch {
            let t = rustix::fs::Timespec { tv_sec: epoch, tv_nsec: 0 };
            let ts = rustix::fs::Timestamps { last_access: t, last_modification: t };
            rustix::fs::utimensat(rustix::fs::CWD, e.path(), &ts, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)?;
        }
    }
    Ok(())
}

/// An instruction as the progress and history show it.
/// Makes `wd` (absolute) in `rootfs` with its missing parents, 0755 and
/// owned by `user` (resolved in the image), as BuildKit's mkdir for
/// WORKDIR; every component is resolved inside the rootfs.
fn make_workdir(rootfs: &Path, wd: &str, user: &str) -> anyhow::Result<()> {
    let (uid, gid) = if user.is_empty() {
        (0, 0)
    } else {
        let u = runtime::resolve_user(rootfs, user).map_err(|e| fail(e.to_string()))?;
        (u.uid, u.gid)
    };
    let mut rel = PathBuf::new();
    for part in crate::context::clean_rel(wd).components() {
        rel.push(part);
        let at = crate::context::resolve_in(rootfs, &rel, true)?;
        if std::fs::symlink_metadata(&at).is_err() {
            std::fs::create_dir(&at)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o755))?;
            std::os::unix::fs::lchown(&at, Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

/// A COPY's filter: the excluded paths, and for a copy from the context,
/// the directories `.dockerignore`'s exceptions take back into.
struct CopyFilter<'a> {
    excluded: &'a dyn Fn(&Path) -> bool,
    context: Option<&'a context::Context>,
}

impl copy::Filter for CopyFilter<'_> {
    fn excluded(&self, rel: &Path) -> bool {
        (self.excluded)(rel)
    }

    fn may_reinclude_below(&self, dir: &Path) -> bool {
        self.context.is_some_and(|c| c.may_reinclude_below(dir))
    }
}

/// The PATH BuildKit gives an image that has none (Linux's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `--chown`'s owner as BuildKit resolves it: a bare number is that uid
/// and the same gid (not the user's group, not root's); names come from
/// the image's /etc/passwd and /etc/group.
fn chown_owner(rootfs: &Path, spec: &str) -> anyhow::Result<(u32, u32)> {
    if let Ok(n) = spec.parse::<u32>() {
        return Ok((n, n));
    }
    let u = runtime::resolve_user(rootfs, spec).map_err(|e| fail(e.to_string()))?;
    Ok((u.uid, u.gid))
}

pub fn describe(cmd: &Command) -> String {
    let q = |v: &[String]| format!("[{}]", v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(" "));
    let line = |c: &CommandLine| if c.prepend_shell { c.args.join(" ") } else { q(&c.args) };
    let kv = |v: &[dockerfile::instructions::KeyValue]| {
        v.iter().map(|p| format!("{}={}", p.key, p.value)).collect::<Vec<_>>().join(" ")
    };
    match cmd {
        Command::Run(r) => format!("RUN {}", line(&r.command)),
        Command::Cmd(c) => format!("CMD {}", line(c)),
        Command::Entrypoint(c) => format!("ENTRYPOINT {}", line(c)),
        Command::Shell(s) => format!("SHELL {}", q(s)),
        Command::Env(v) => format!("ENV {}", kv(v)),
        Command::Label(v) => format!("LABEL {}", kv(v)),
        Command::Arg(a) => format!("ARG {}", a.iter().map(|d| d.name.clone()).collect::<Vec<_>>().join(" ")),
        Command::Expose(p) => format!("EXPOSE {}", p.join(" ")),
        Command::Copy(c) => {
            let from = c.from.as_ref().map(|f| format!("--from={f} ")).unwrap_or_default();
            format!("COPY {from}{} {}", c.paths.sources.join(" "), c.paths.dest)
        }
        Command::Add(a) => format!("ADD {} {}", a.paths.sources.join(" "), a.paths.dest),
        Command::Workdir(w) => format!("WORKDIR {w}"),
        Command::User(u) => format!("USER {u}"),
        Command::Volume(v) => format!("VOLUME {}", q(v)),
        Command::StopSignal(s) => format!("STOPSIGNAL {s}"),
        Command::Healthcheck(h) => format!("HEALTHCHECK {}", q(&h.test)),
        Command::Onbuild(t) => format!("ONBUILD {t}"),
        Command::Maintainer(m) => format!("MAINTAINER {m}"),
        #[allow(unreachable_patterns)]
        _ => "?".into(),
    }
}
