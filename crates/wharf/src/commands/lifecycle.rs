//! Container commands after `run`: ps, logs, stop, kill, start, restart,
//! wait, rm, rename, pause/unpause, top, inspect, container prune.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use store::ContainerState;

use clap::Args;
use store::{ContainerRecord, Store};

use super::container::{self, load_config, Attach};

/// Signal names as docker accepts them (`TERM`, `SIGTERM`, `15`).
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let table = [
        ("HUP", libc::SIGHUP),
        ("INT", libc::SIGINT),
        ("QUIT", libc::SIGQUIT),
        ("ILL", libc::SIGILL),
        ("TRAP", libc::SIGTRAP),
        ("ABRT", libc::SIGABRT),
        ("BUS", libc::SIGBUS),
        ("FPE", libc::SIGFPE),
        ("KILL", libc::SIGKILL),
        ("USR1", libc::SIGUSR1),
        ("SEGV", libc::SIGSEGV),
        ("USR2", libc::SIGUSR2),
        ("PIPE", libc::SIGPIPE),
        ("ALRM", libc::SIGALRM),
        ("TERM", libc::SIGTERM),
        ("CHLD", libc::SIGCHLD),
        ("CONT", libc::SIGCONT),
        ("STOP", libc::SIGSTOP),
        ("TSTP", libc::SIGTSTP),
        ("TTIN", libc::SIGTTIN),
        ("TTOU", libc::SIGTTOU),
        ("URG", libc::SIGURG),
        ("WINCH", libc::SIGWINCH),
        ("PWR", libc::SIGPWR),
        ("SYS", libc::SIGSYS),
    ];
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn send(pid: i32, sig: i32) -> std::io::Result<()> {
    runtime::supervise::send_signal(pid, sig)
}

/// Makes a record true: a container recorded running whose monitor is
/// gone and whose process has exited is marked exited (255: the exit code
/// died with the monitor, as docker reports a lost shim) and cleaned up.
pub fn refresh(store: &mut Store, rec: ContainerRecord) -> anyhow::Result<ContainerRecord> {
    let live = |r: &ContainerRecord| r.state.is_live();
    let monitor_gone = !rustix_alive(rec.monitor_pid);
    let orphaned = rec.state == ContainerState::Created && rec.monitor_pid > 0 && monitor_gone;
    let lost = live(&rec) && monitor_gone && !rustix_alive(rec.pid);
    if !orphaned && !lost {
        return Ok(rec);
    }
    // The monitor may have recorded the exit, and gone, after `rec` was
    // read: what it left is read again before calling it lost (under load
    // a `wait` turned a container's exit code 3 into 255 this way).
    let rec = store.container(&rec.id)?;
    // A monitor that died while starting the container (state still
    // `created`) may have left a mount, a namespace or rules: remove them.
    if rec.state == ContainerState::Created && rec.monitor_pid > 0 && !rustix_alive(rec.monitor_pid) {
        release_leftovers(store, &rec);
        store.set_container_monitor(&rec.id, 0, rec.restarts)?;
        return Ok(store.container(&rec.id)?);
    }
    if !live(&rec) || rustix_alive(rec.monitor_pid) || rustix_alive(rec.pid) {
        return Ok(rec);
    }
    release_leftovers(store, &rec);
    store.set_container_exited(&rec.id, 255, false)?;
    Ok(store.container(&rec.id)?)
}

/// What a dead monitor would have released: the runtime's state, the
/// rootfs mount, the network.
fn release_leftovers(store: &mut Store, rec: &ContainerRecord) {
    if let Ok(rt) = container::oci_runtime(store.root(), &load_config(rec)) {
        let _ = rt.delete(&rec.id);
    }
    let _ = container::unmount_rootfs(store.root(), &rec.id);
    container::network_down(store, &rec.id);
}

fn rustix_alive(pid: i32) -> bool {
    runtime::supervise::alive(pid)
}

/// Finds a container by name or ID prefix, with its state made true.
pub fn lookup(store: &mut Store, key: &str) -> anyhow::Result<ContainerRecord> {
    let (id, _, _) = store.find_container(key)?;
    let rec = store.container(&id)?;
    refresh(store, rec)
}

/// How waiting for a container to stop ended.
enum Waited {
    Exited(Box<ContainerRecord>),
    /// Exited, and removed (`--rm`) before this saw it.
    Removed,
    TimedOut,
}

/// Waits until the container is no longer running (as recorded by its
/// monitor), or `limit` passes. An auto-removed (`--rm`) container counts
/// as stopped only once its monitor has removed it, so that its name is
/// free when `stop` or `wait` returns (a `run --name` right after them
/// used to meet "already in use" now and then).
fn wait_exit(store: &mut Store, id: &str, limit: Option<Duration>) -> anyhow::Result<Waited> {
    let start = Instant::now();
    loop {
        let Ok(rec) = store.container(id) else { return Ok(Waited::Removed) };
        let rec = refresh(store, rec)?;
        if !rec.state.is_live() {
            if load_config(&rec).auto_remove && rustix_alive(rec.monitor_pid) {
                await_monitor(store, &rec);
                if store.container(id).is_err() {
                    return Ok(Waited::Removed);
                }
            }
            return Ok(Waited::Exited(Box::new(rec)));
        }
        if limit.is_some_and(|l| start.elapsed() >= l) {
            return Ok(Waited::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Gives a monitor whose container has exited up to 10 s to finish its
/// work (unmounting, removing an auto-removed container).
fn await_monitor(store: &Store, rec: &ContainerRecord) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while rustix_alive(rec.monitor_pid) && store.container(&rec.id).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Stops a running container: its stop signal, then SIGKILL after
/// `timeout` seconds (docker's default 10, or the container's
/// --stop-timeout; negative waits forever).
fn stop_one(store: &mut Store, rec: &ContainerRecord, timeout: Option<i64>) -> anyhow::Result<()> {
    if !rec.state.is_live() {
        return Ok(());
    }
    let cfg = load_config(rec);
    container::mark_stopped(store.root(), &rec.id);
    let sig = parse_signal(&cfg.stop_signal).unwrap_or(libc::SIGTERM);
    if rec.state == ContainerState::Paused {
        if let Ok(rt) = container::oci_runtime(store.root(), &cfg) {
            let _ = rt.resume(&rec.id);
        }
    }
    let root = store.root().to_owned();
    super::events::container(&root, "kill", rec, &[("signal", &sig.to_string())]);
    let _ = send(rec.pid, sig);
    let secs = timeout.or(cfg.stop_timeout).unwrap_or(10);
    let limit = (secs >= 0).then(|| Duration::from_secs(secs as u64));
    if let Waited::TimedOut = wait_exit(store, &rec.id, limit)? {
        super::events::container(&root, "kill", rec, &[("signal", &libc::SIGKILL.to_string())]);
        let _ = send(rec.pid, libc::SIGKILL);
        wait_exit(store, &rec.id, None)?;
    }
    super::events::container(&root, "stop", rec, &[]);
    Ok(())
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", alias = "timeout", allow_negative_numbers = true)]
    pub time: Option<i64>,
    /// Signal to send to the container
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

fn each(
    keys: &[String],
    f: impl FnMut(&mut Store, &str) -> anyhow::Result<()>,
    root: &Path,
) -> anyhow::Result<ExitCode> {
    let failed = each_failed(keys, f, root)?;
    Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// As [`each`]; returns the keys that failed.
fn each_failed(
    keys: &[String],
    mut f: impl FnMut(&mut Store, &str) -> anyhow::Result<()>,
    root: &Path,
) -> anyhow::Result<Vec<String>> {
    let mut store = Store::open(root)?;
    let mut failed = Vec::new();
    for key in keys {
        if let Err(e) = f(&mut store, key) {
            eprintln!("Error response from daemon: {e:#}");
            failed.push(key.clone());
        }
    }
    Ok(failed)
}

pub fn stop(root: &Path, args: StopArgs) -> anyhow::Result<ExitCode> {
    each(
        &args.containers,
        |store, key| {
            let mut rec = lookup(store, key)?;
            if let Some(s) = &args.signal {
                let mut cfg = load_config(&rec);
                parse_signal(s).ok_or_else(|| anyhow::anyhow!("invalid signal: {s}"))?;
                cfg.stop_signal = s.clone();
                rec.config = serde_json::to_string(&cfg)?;
            }
            stop_one(store, &rec, args.time)?;
            println!("{key}");
            Ok(())
        },
        root,
    )
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn kill(root: &Path, args: KillArgs) -> anyhow::Result<ExitCode> {
    let sig = parse_signal(&args.signal).ok_or_else(|| anyhow::anyhow!("invalid signal: {}", args.signal))?;
    each(
        &args.containers,
        |store, key| {
            let rec = lookup(store, key)?;
            if rec.state != ContainerState::Running {
                anyhow::bail!("cannot kill container: {key}: container {} is not running", rec.id);
            }
            if sig == libc::SIGKILL || sig == libc::SIGTERM || sig == libc::SIGINT {
                container::mark_stopped(store.root(), &rec.id);
            }
            send(rec.pid, sig)?;
            super::events::container(store.root(), "kill", &rec, &[("signal", &sig.to_string())]);
            println!("{key}");
            Ok(())
        },
        root,
    )
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, value_name = "string")]
    pub detach_keys: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn start(root: &Path, args: StartArgs) -> anyhow::Result<ExitCode> {
    if args.attach {
        let [key] = args.containers.as_slice() else {
            anyhow::bail!("you cannot start and attach multiple containers at once");
        };
        let mut store = Store::open(root)?;
        let rec = lookup(&mut store, key)?;
        drop(store);
        if rec.state == ContainerState::Running {
            // As docker: attaches to it.
            let attach = super::attach::AttachArgs {
                detach_keys: args.detach_keys.clone(),
                no_stdin: !args.interactive,
                sig_proxy: true,
                container: rec.id.clone(),
            };
            return super::attach::attach(root, attach);
        }
        let keys = super::attach::parse_detach_keys(
            args.detach_keys.as_deref().unwrap_or(super::attach::DEFAULT_DETACH_KEYS),
        )?;
        if args.interactive && load_config(&rec).tty {
            super::attach::check_tty(true, true)?;
            let sock = container::spawn_monitor_attached(root, &rec.id)?;
            return super::attach::run_attached(root, &rec.id, sock, keys);
        }
        let code = container::monitor(root, &rec.id, Attach::Terminal { stdin: args.interactive })?;
        return Ok(ExitCode::from(code.clamp(0, 255) as u8));
    }
    let failed = each_failed(
        &args.containers,
        |store, key| {
            let rec = lookup(store, key)?;
            if rec.state != ContainerState::Running {
                container::spawn_monitor(store.root(), &rec.id)?;
            }
            println!("{key}");
            Ok(())
        },
        root,
    )?;
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    Err(crate::exit::fail(format!("failed to start containers: {}", failed.join(", "))))
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", alias = "timeout", allow_negative_numbers = true)]
    pub time: Option<i64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn restart(root: &Path, args: RestartArgs) -> anyhow::Result<ExitCode> {
    each(
        &args.containers,
        |store, key| {
            let rec = lookup(store, key)?;
            stop_one(store, &rec, args.time)?;
            container::spawn_monitor(store.root(), &rec.id)?;
            super::events::container(store.root(), "restart", &rec, &[]);
            println!("{key}");
            Ok(())
        },
        root,
    )
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn wait(root: &Path, args: WaitArgs) -> anyhow::Result<ExitCode> {
    each(
        &args.containers,
        |store, key| {
            let rec = lookup(store, key)?;
            let code = wait_code(store, &rec.id)?.ok_or_else(|| anyhow::anyhow!("No such container: {key}"))?;
            println!("{code}");
            Ok(())
        },
        root,
    )
}

/// Waits until container `id` stops; its exit code (None: it was removed
/// and its code is not known).
pub fn wait_code(store: &mut Store, id: &str) -> anyhow::Result<Option<i32>> {
    Ok(match wait_exit(store, id, None)? {
        Waited::Exited(r) => Some(r.exit_code),
        // (TimedOut cannot happen without a limit.)
        Waited::Removed | Waited::TimedOut => {
            let file = container::exit_file(store.root(), id);
            std::fs::read_to_string(file).ok().and_then(|c| c.trim().parse().ok())
        }
    })
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Removes a container; a running one only with `force` (killed first,
/// its monitor then cleans up its mount and runtime state).
pub fn remove(store: &mut Store, rec: &ContainerRecord, force: bool) -> anyhow::Result<()> {
    if rec.state.is_live() {
        if !force {
            anyhow::bail!(
                "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
                rec.name
            );
        }
        container::mark_stopped(store.root(), &rec.id);
        let cfg = load_config(rec);
        if rec.state == ContainerState::Paused {
            if let Ok(rt) = container::oci_runtime(store.root(), &cfg) {
                let _ = rt.resume(&rec.id);
            }
        }
        let _ = send(rec.pid, libc::SIGKILL);
        if let Waited::Removed = wait_exit(store, &rec.id, None)? {
            return Ok(());
        }
        // The monitor may still be finishing (auto-remove included).
        await_monitor(store, rec);
        if store.container(&rec.id).is_err() {
            return Ok(());
        }
    }
    let cfg = load_config(rec);
    if let Ok(rt) = container::oci_runtime(store.root(), &cfg) {
        let _ = rt.delete(&rec.id);
    }
    Ok(container::remove_files(store, &rec.id)?)
}

pub fn rm(root: &Path, args: RmArgs) -> anyhow::Result<ExitCode> {
    each(
        &args.containers,
        |store, key| {
            let rec = lookup(store, key)?;
            remove(store, &rec, args.force)?;
            if args.volumes {
                for v in load_config(&rec).anon_volumes {
                    let _ = image::layer::remove_tree(&store.root().join("volumes").join(v));
                }
            }
            println!("{key}");
            Ok(())
        },
        root,
    )
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

pub fn rename(root: &Path, args: RenameArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let rec = lookup(&mut store, &args.container)?;
    store.rename_container(&rec.id, &args.new_name)?;
    let renamed = store.container(&rec.id)?;
    super::events::container(root, "rename", &renamed, &[("oldName", &format!("/{}", rec.name))]);
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn pause(root: &Path, args: PauseArgs, resume: bool) -> anyhow::Result<ExitCode> {
    each(
        &args.containers,
        |store, key| {
            let rec = lookup(store, key)?;
            let rt = container::oci_runtime(store.root(), &load_config(&rec))?;
            // The store's transition decides first, so that of two racing
            // pauses one wins; the runtime's failure puts the state back.
            let (to, back, action) = match resume {
                false => (ContainerState::Paused, ContainerState::Running, "pause"),
                true => (ContainerState::Running, ContainerState::Paused, "unpause"),
            };
            if rec.state != back || !store.transition(&rec.id, to)? {
                anyhow::bail!("container {} is not {}", rec.id, if resume { "paused" } else { "running" });
            }
            let done = if resume { rt.resume(&rec.id) } else { rt.pause(&rec.id) };
            if let Err(e) = done {
                store.transition(&rec.id, back)?;
                return Err(e.into());
            }
            super::events::container(store.root(), action, &rec, &[]);
            println!("{key}");
            Ok(())
        },
        root,
    )
}

#[derive(Debug, Args)]
pub struct TopArgs {
    pub container: String,
    /// ps options
    pub ps_args: Vec<String>,
}

/// The container's processes: the pids in its cgroup, shown by ps(1).
pub fn top(root: &Path, args: TopArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let rec = lookup(&mut store, &args.container)?;
    if rec.state != ContainerState::Running {
        anyhow::bail!("container {} is not running", rec.id);
    }
    let pids = cgroup_pids(&container::cgroup_path(&load_config(&rec), &rec.id));
    let list: Vec<String> = if pids.is_empty() { vec![rec.pid.to_string()] } else { pids };
    let out = std::process::Command::new("ps")
        .args(["-o", "uid,pid,ppid,c,stime,tty,time,cmd", "-p"])
        .arg(list.join(","))
        .output()?;
    std::io::stdout().write_all(&out.stdout)?;
    Ok(ExitCode::SUCCESS)
}

fn cgroup_pids(cg: &str) -> Vec<String> {
    for dir in
        [format!("/sys/fs/cgroup/pids/{cg}"), format!("/sys/fs/cgroup/memory/{cg}"), format!("/sys/fs/cgroup/{cg}")]
    {
        if let Ok(t) = std::fs::read_to_string(format!("{dir}/cgroup.procs")) {
            return t.lines().map(str::to_owned).collect();
        }
    }
    Vec::new()
}

#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<std::path::PathBuf>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    pub container: String,
    #[arg(required = true)]
    pub command: Vec<String>,
}

/// `wharf exec`: a process in a running container's namespaces and cgroup.
pub fn exec(root: &Path, args: ExecArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(root)?;
    let rec = lookup(&mut store, &args.container)?;
    if rec.state != ContainerState::Running {
        return Err(crate::exit::Failure::new(1, format!("container {} is not running", rec.id)).into());
    }
    super::attach::check_tty(args.interactive && !args.detach, args.tty)?;
    let cfg = load_config(&rec);
    let merged = container::container_dir(root, &rec.id).join("merged");
    // Without -u, the container's own user, as docker: resolved again
    // here so that the process gets that user's groups, and the
    // container's --group-add, too.
    let user_spec = args.user.as_ref().unwrap_or(&cfg.user);
    let mut eu = runtime::resolve_user(&merged, user_spec).map_err(|e| container::engine(e.to_string()))?;
    eu.add_groups(&merged, &cfg.group_add).map_err(|e| container::engine(e.to_string()))?;
    let given = super::run::given_env(&args.env_file, &args.env)?;
    let mut env = cfg.env.clone();
    env.extend(given.iter().cloned());
    let cwd = args.workdir.clone().unwrap_or_else(|| cfg.working_dir.clone());
    container::check_executable(&merged, &args.command[0], &env, &cwd)?;
    let opts = runtime::ExecOptions {
        detach: args.detach,
        tty: args.tty,
        stdin: args.interactive,
        env: given,
        user: Some(format!("{}:{}", eu.uid, eu.gid)),
        additional_gids: eu.additional_gids,
        cwd: args.workdir.clone(),
    };
    let rt = container::oci_runtime(root, &cfg)?;
    if let (true, runtime::Runtime::Embedded(e)) = (args.tty && !args.detach, &rt) {
        // The container's own env is in its process settings already.
        return exec_terminal(root, &rec.id, e, &opts, &[], &args.command);
    }
    let code = rt.exec(&rec.id, &opts, &args.command).map_err(|e| container::engine(e.to_string()))?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// `exec -t` with the embedded runtime: the container's process settings
/// (capabilities, user, ...) with this command, a pty received over a
/// console socket, the user's terminal in raw mode.
fn exec_terminal(
    root: &Path,
    id: &str,
    rt: &runtime::embedded::Embedded,
    opts: &runtime::ExecOptions,
    env: &[String],
    argv: &[String],
) -> anyhow::Result<ExitCode> {
    let dir = container::container_dir(root, id);
    let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("config.json"))?)?;
    let mut process = spec.get("process").cloned().unwrap_or_default();
    process["args"] = serde_json::json!(argv);
    process["terminal"] = serde_json::json!(true);
    let mut full_env: Vec<String> = process["env"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    for e in env.iter().chain(opts.env.iter()) {
        let key = e.split('=').next().unwrap_or_default();
        full_env.retain(|x| x.split('=').next() != Some(key));
        full_env.push(e.clone());
    }
    if !full_env.iter().any(|e| e.starts_with("TERM=")) {
        full_env.push("TERM=xterm".into());
    }
    process["env"] = serde_json::json!(full_env);
    if let Some(cwd) = &opts.cwd {
        process["cwd"] = serde_json::json!(cwd);
    }
    if let Some((u, g)) = opts.user.as_deref().and_then(|u| u.split_once(':')) {
        process["user"]["uid"] = serde_json::json!(u.parse::<u32>().unwrap_or(0));
        process["user"]["gid"] = serde_json::json!(g.parse::<u32>().unwrap_or(0));
        process["user"]["additionalGids"] = serde_json::json!(opts.additional_gids);
    }
    let tag: String = format!("{}-{}", &id[..12], std::process::id());
    let pjson = dir.join(format!("exec-{tag}.json"));
    std::fs::write(&pjson, serde_json::to_vec(&process)?)?;
    let sock = PathBuf::from(format!("/run/wharf/exec-{tag}.sock"));
    std::fs::create_dir_all("/run/wharf")?;
    runtime::supervise::become_subreaper()?;
    let mut signals =
        runtime::supervise::SignalPipes::install(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGWINCH])?;
    let listener = runtime::console::listen(&sock)?;
    let started = rt.exec_with_terminal(id, &pjson, &sock);
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_file(&pjson);
    let pid = started.map_err(|e| container::engine(e.to_string()))?;
    let master = runtime::console::receive_master(&listener)?;
    let _raw = runtime::console::RawMode::enter();
    runtime::console::copy_window_size(&master);
    let io = runtime::supervise::Io {
        outputs: vec![(runtime::logs::Stream::Stdout, master.try_clone()?)],
        user_input: opts.stdin.then(|| runtime::oci::dup_stdio(0)).transpose()?,
        stdin: opts.stdin.then(|| master.try_clone()).transpose()?,
        terminal: None,
    };
    let mut sink = |_: runtime::logs::Stream, b: &[u8]| {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(b).and_then(|_| out.flush());
    };
    let mut fwd = |sig: i32| {
        if sig == libc::SIGWINCH {
            runtime::console::copy_window_size(&master);
        } else {
            let _ = send(pid, sig);
        }
    };
    let code = runtime::supervise::supervise_io(pid, io, None, &mut signals, &mut sink, &mut fwd)?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
