//! Independent stages build concurrently, each in a child process.
//!
//! Why processes and not threads: a RUN step is supervised by a loop that
//! reaps every exited child (the builder is the containers' subreaper),
//! and the embedded runtime must be driven from a single-threaded process
//! (youki#3011). So a stage that can run alongside another is built by a
//! child process that the caller's `StageSpawner` starts (wharf's hidden
//! `build-stage JOBDIR` entry point) with a job directory: the child reads
//! the serialized job (options, input, the stages it depends on), writes
//! its progress as JSON events on stdout (shown by the parent with one
//! numbering), and hands back its stage as JSON. When only one
//! stage can run, it runs in this process: no re-exec for the common case.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::steps::{Builder, Built};
use super::{BuildError, BuildEvent, BuildInput, BuildOptions};

/// What a child needs to build one stage.
#[derive(Serialize, Deserialize)]
pub struct Job {
    pub stage: usize,
    pub options: BuildOptions,
    pub input: BuildInput,
    /// The stages built so far (the ones this stage reads among them).
    pub built: BTreeMap<usize, Built>,
}

/// What a child hands back.
#[derive(Serialize, Deserialize)]
pub enum Outcome {
    Built(Box<Built>),
    Failed(BuildError),
}

pub fn read_job(dir: &Path) -> anyhow::Result<Job> {
    Ok(serde_json::from_slice(&std::fs::read(dir.join("job.json"))?)?)
}

/// Child side: one progress event, a JSON line on stdout (the pipe to the
/// parent, which renumbers and shows it).
pub fn send_event(ev: &BuildEvent) {
    use std::io::Write;
    if let Ok(line) = serde_json::to_string(ev) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Child side: records how building the stage went.
pub fn write_outcome(dir: &Path, result: Result<Built, BuildError>) -> anyhow::Result<()> {
    let outcome = match result {
        Ok(b) => Outcome::Built(Box::new(b)),
        Err(e) => Outcome::Failed(e),
    };
    std::fs::write(dir.join("outcome.json"), serde_json::to_vec(&outcome)?)?;
    Ok(())
}

/// A line of a child's stdout, or its end (None).
type Event = (usize, Option<String>);

/// A stage being built by a child.
struct Running {
    stage: usize,
    child: Child,
    dir: PathBuf,
}

/// Builds `needed` (in dependency order): every stage whose inputs are
/// built starts at once; a lone ready stage with nothing else running is
/// built in this process.
pub fn build_all(b: &mut Builder, needed: &[usize], input: &BuildInput) -> anyhow::Result<()> {
    let mut deps = BTreeMap::new();
    for &i in needed {
        deps.insert(i, b.deps(i)?);
    }
    let mut done = BTreeSet::new();
    let mut running: Vec<Running> = Vec::new();
    let (tx, rx) = mpsc::channel::<Event>();
    let mut ids: BTreeMap<usize, BTreeMap<usize, usize>> = BTreeMap::new();
    let result = (|| -> anyhow::Result<()> {
        loop {
            let busy: BTreeSet<usize> = running.iter().map(|r| r.stage).collect();
            let ready: Vec<usize> = needed
                .iter()
                .copied()
                .filter(|i| !done.contains(i) && !busy.contains(i))
                .filter(|i| deps[i].iter().all(|d| done.contains(d)))
                .collect();
            if running.is_empty() && ready.is_empty() {
                return Ok(());
            }
            if running.is_empty() && ready.len() == 1 {
                b.build_stage(ready[0])?;
                done.insert(ready[0]);
                continue;
            }
            for i in ready {
                let job = Job {
                    stage: i,
                    options: b.options().clone(),
                    input: input.clone(),
                    built: done.iter().filter_map(|d| b.built(*d).map(|s| (*d, s.clone()))).collect(),
                };
                running.push(spawn(b, &job, tx.clone())?);
            }
            let finished = wait_one(b, &mut running, &rx, &mut ids)?;
            let outcome = collect(finished)?;
            match outcome {
                (stage, Outcome::Built(s)) => {
                    b.insert_built(stage, *s);
                    done.insert(stage);
                }
                (_, Outcome::Failed(e)) => return Err(e.into()),
            }
        }
    })();
    if result.is_err() {
        for r in &running {
            let _ = runtime::supervise::send_signal(r.child.id() as i32, libc::SIGTERM);
        }
    }
    for r in running {
        let _ = collect(r);
    }
    drop(tx);
    show_events(b, &rx, &mut ids);
    result
}

/// Starts a child building `job.stage`; its stdout lines go to `tx`.
fn spawn(b: &Builder, job: &Job, tx: mpsc::Sender<Event>) -> anyhow::Result<Running> {
    let dir = b.store().staging_dir("stage-")?;
    std::fs::write(dir.join("job.json"), serde_json::to_vec(job)?)?;
    let mut cmd = (b.services().spawn_stage)(&dir);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and only
    // makes the prctl system call, which is async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            // A build killed with -9 takes its stage builders along: they
            // get SIGTERM, pass it to their RUN step and clean up.
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))?;
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stage = job.stage;
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((stage, Some(line))).is_err() {
                return;
            }
        }
        let _ = tx.send((stage, None));
    });
    Ok(Running { stage, child, dir })
}

/// Shows progress until one child is finished (its stdout closed),
/// passing on SIGINT/SIGTERM meanwhile; returns it.
fn wait_one(
    b: &mut Builder,
    running: &mut Vec<Running>,
    rx: &mpsc::Receiver<Event>,
    ids: &mut BTreeMap<usize, BTreeMap<usize, usize>>,
) -> anyhow::Result<Running> {
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok((stage, Some(line))) => show(b, ids, stage, &line),
            Ok((stage, None)) => {
                if let Some(k) = running.iter().position(|r| r.stage == stage) {
                    return Ok(running.remove(k));
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => anyhow::bail!("lost the stage builders' output"),
        }
        for sig in b.pending_signals() {
            for r in running.iter() {
                let _ = runtime::supervise::send_signal(r.child.id() as i32, sig);
            }
        }
    }
}

fn show_events(b: &mut Builder, rx: &mpsc::Receiver<Event>, ids: &mut BTreeMap<usize, BTreeMap<usize, usize>>) {
    while let Ok((stage, line)) = rx.try_recv() {
        if let Some(line) = line {
            show(b, ids, stage, &line);
        }
    }
}

fn show(b: &mut Builder, ids: &mut BTreeMap<usize, BTreeMap<usize, usize>>, stage: usize, line: &str) {
    match serde_json::from_str::<BuildEvent>(line) {
        Ok(ev) => b.progress().forward(ids.entry(stage).or_default(), ev),
        // Not an event: something else in the child wrote to stdout.
        Err(_) => b.progress().warn(&format!("stage {stage}: {line}")),
    }
}

/// Waits for a child and reads what it handed back; removes its job.
fn collect(mut r: Running) -> anyhow::Result<(usize, Outcome)> {
    let status = r.child.wait()?;
    let outcome =
        std::fs::read(r.dir.join("outcome.json")).ok().and_then(|bytes| serde_json::from_slice::<Outcome>(&bytes).ok());
    let _ = image::layer::remove_tree(&r.dir);
    match outcome {
        Some(o) => Ok((r.stage, o)),
        None => Err(super::fail(format!("building stage {} failed: its builder exited with {status}", r.stage))),
    }
}
