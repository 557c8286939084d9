//! The command line, in the shape of docker's.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::{
    archive, attach, build, commit, cp, events, image, info, lifecycle, logging, manifest, network, object, ps,
    registry, rootfs, run, stats, system, update, volume,
};
use crate::exit::{COMMAND_ERROR, ENGINE_ERROR};

const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), ", build ", env!("WHARF_GIT_COMMIT"));

/// A daemonless, Docker-compatible container engine
#[derive(Debug, Parser)]
#[command(name = "wharf", disable_help_subcommand = true, disable_version_flag = true)]
#[command(
    help_template = "\nUsage:  {usage}\n\n{about}\n\n{all-args}\n\nRun 'wharf COMMAND --help' for more information on a command.\n"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct GlobalOptions {
    /// Root of the wharf store (/var/lib/wharf; ~/.local/share/wharf for an
    /// ordinary user)
    #[arg(long, global = true, env = "WHARF_ROOT", default_value_os_t = paths::default_root(), value_name = "DIR")]
    pub root: PathBuf,
    /// Enable debug output
    #[arg(short = 'D', long, global = true)]
    pub debug: bool,
    /// Print version information and quit
    #[arg(short = 'v', long)]
    pub version: bool,
}

/// `wharf --version`, in docker's format.
pub fn version_line() -> String {
    format!("wharf version {VERSION}")
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with Dockerfiles
    #[command(subcommand)]
    Dockerfile(DockerfileCommand),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// List images
    Images(image::ImagesArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image::ImportArgs),
    /// Return low-level information on images
    Inspect(object::InspectArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image::TagArgs),
    /// Remove one or more images
    Rmi(image::RmiArgs),
    /// Show the history of an image
    History(image::HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(archive::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(archive::LoadArgs),
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// Log in to a registry
    Login(registry::LoginArgs),
    /// Log out from a registry
    Logout(registry::LogoutArgs),
    /// Manage wharf's store
    #[command(subcommand)]
    System(SystemCommand),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Manage the build cache
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Create a new container
    Create(run::CreateCmdArgs),
    /// Remove one or more containers
    Rm(lifecycle::RmArgs),
    /// List containers
    #[command(alias = "container-ls")]
    Ps(ps::PsArgs),
    /// Fetch the logs of a container
    Logs(logging::LogsArgs),
    /// Stop one or more running containers
    Stop(lifecycle::StopArgs),
    /// Kill one or more running containers
    Kill(lifecycle::KillArgs),
    /// Start one or more stopped containers
    Start(lifecycle::StartArgs),
    /// Restart one or more containers
    Restart(lifecycle::RestartArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(lifecycle::WaitArgs),
    /// Rename a container
    Rename(lifecycle::RenameArgs),
    /// Pause all processes within one or more containers
    Pause(lifecycle::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(lifecycle::PauseArgs),
    /// Display the running processes of a container
    Top(lifecycle::TopArgs),
    /// List port mappings or a specific mapping for the container
    Port(ps::PortArgs),
    /// Execute a command in a running container
    Exec(lifecycle::ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// Create a new image from a container's changes
    Commit(commit::CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(rootfs::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(rootfs::ExportArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Update configuration of one or more containers
    Update(update::UpdateArgs),
    /// Show the wharf version information
    Version(info::FormatArgs),
    /// Get real time events from the server
    Events(events::EventsArgs),
    /// Display system-wide information
    Info(info::FormatArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage Docker image manifests and manifest lists
    #[command(subcommand)]
    Manifest(manifest::ManifestCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// One of wharf's own processes (a container's monitor, its health
    /// checker, a build stage), its job given as JSON (internal)
    #[command(name = "internal", hide = true)]
    Internal { job: String },
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers
    #[command(alias = "list", alias = "ps")]
    Ls(ps::PsArgs),
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Create a new container
    Create(run::CreateCmdArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(lifecycle::RmArgs),
    /// Fetch the logs of a container
    Logs(logging::LogsArgs),
    /// Stop one or more running containers
    Stop(lifecycle::StopArgs),
    /// Kill one or more running containers
    Kill(lifecycle::KillArgs),
    /// Start one or more stopped containers
    Start(lifecycle::StartArgs),
    /// Restart one or more containers
    Restart(lifecycle::RestartArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(lifecycle::WaitArgs),
    /// Rename a container
    Rename(lifecycle::RenameArgs),
    /// Pause all processes within one or more containers
    Pause(lifecycle::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(lifecycle::PauseArgs),
    /// Display the running processes of a container
    Top(lifecycle::TopArgs),
    /// Display detailed information on one or more containers
    Inspect(ps::ContainerInspectArgs),
    /// Execute a command in a running container
    Exec(lifecycle::ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// List port mappings or a specific mapping for the container
    Port(ps::PortArgs),
    /// Create a new image from a container's changes
    Commit(commit::CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(rootfs::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(rootfs::ExportArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Update configuration of one or more containers
    Update(update::UpdateArgs),
    /// Remove all stopped containers
    Prune(ps::ContainerPruneArgs),
}

#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(build::PruneArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
    /// List images
    #[command(alias = "list")]
    Ls(image::ImagesArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image::ImportArgs),
    /// Display detailed information on one or more images
    Inspect(image::InspectArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(image::RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image::TagArgs),
    /// Show the history of an image
    History(image::HistoryArgs),
    /// Remove unused images
    Prune(image::PruneArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(archive::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(archive::LoadArgs),
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show wharf disk usage
    Df(system::DfArgs),
    /// Remove unused data
    Prune(system::SystemPruneArgs),
    /// Check the store for inconsistencies (and repair them)
    Check(system::CheckArgs),
    /// Display system-wide information
    Info(info::FormatArgs),
    /// Get real time events from the server
    Events(events::EventsArgs),
    /// Serve the Docker Engine API (on wharf.sock in the runtime directory unless told)
    Service(system::ServiceArgs),
}

#[derive(Debug, Subcommand)]
pub enum DockerfileCommand {
    /// Parse a Dockerfile as BuildKit does and print its syntax tree
    Parse(ParseArgs),
    /// Check every instruction, flag and variable reference of a Dockerfile
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The Dockerfile to check ('-' reads standard input)
    pub file: PathBuf,
    /// Set a build-time variable, as `wharf build --build-arg` would
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The Dockerfile to parse ('-' reads standard input)
    pub file: PathBuf,
    /// Print BuildKit's AST dump (the default)
    #[arg(long, conflicts_with = "format")]
    pub dump: bool,
    /// Output format
    #[arg(long, value_enum)]
    pub format: Option<ParseFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ParseFormat {
    /// BuildKit's AST dump
    Dump,
    /// One JSON object per instruction
    Json,
}

/// Parses the command line; on failure prints a docker-style message and
/// returns the exit code (0 for --help/--version, 125 otherwise).
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Cli, ExitCode> {
    let args = bool_flag_values(args.into_iter().collect());
    Cli::try_parse_from(&args).map_err(|e| {
        match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // docker's command groups (`docker network`) print their help
            // to stdout and exit 0.
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
                print!("{}", e.render());
                return ExitCode::SUCCESS;
            }
            _ => {}
        }
        let (path, cmd, _) = walk_subcommands(&args);
        let (text, code) = docker_style(&e, &path.join(" "), &cmd);
        eprintln!("{text}");
        ExitCode::from(code)
    })
}

fn context(e: &clap::Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => v.first().cloned(),
        _ => None,
    }
}

/// docker's boolean flags take `=true`/`=false` (`--rm=false`,
/// `-d=true`, as Go's flag package); clap's take no value. Rewrites them
/// the clap way: a true one as the bare flag, a false one dropped;
/// anything else is left for clap to refuse. Stops at the container's
/// command of `run`/`create`/`exec` and after `--`.
fn bool_flag_values(args: Vec<OsString>) -> Vec<OsString> {
    use clap::ArgAction;
    let Some((cmd, start)) = subcommand_at(&args) else { return args };
    let find = |name: &str| {
        cmd.get_arguments().find(|a| {
            if name.len() == 1 {
                a.get_short() == name.chars().next()
            } else {
                a.get_long() == Some(name)
            }
        })
    };
    let stops = matches!(cmd.get_name(), "run" | "create" | "exec");
    let mut out: Vec<OsString> = args[..start].to_vec();
    let mut rest = args[start..].iter();
    while let Some(a) = rest.next() {
        let Some(word) = a.to_str() else {
            out.push(a.clone());
            continue;
        };
        let flag = word.strip_prefix("--").or_else(|| word.strip_prefix('-'));
        let Some(flag) = flag.filter(|f| !f.is_empty()) else {
            out.push(a.clone());
            if word == "--" || (stops && !word.starts_with('-')) {
                out.extend(rest.cloned());
                break;
            }
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (flag, None),
        };
        let arg = find(name);
        let is_bool = arg.is_some_and(|a| matches!(a.get_action(), ArgAction::SetTrue));
        match (is_bool, value.map(go_bool)) {
            (true, Some(Some(true))) => {
                out.push(format!("{}{name}", if word.starts_with("--") { "--" } else { "-" }).into())
            }
            (true, Some(Some(false))) => {}
            _ => {
                out.push(a.clone());
                // A value in the next word.
                let takes_value = arg.is_some_and(|a| a.get_action().takes_values());
                if value.is_none() && takes_value && (word.starts_with("--") || name.len() == 1) {
                    out.extend(rest.next().cloned());
                }
            }
        }
    }
    out
}

/// Go's `strconv.ParseBool`.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The subcommands the arguments name, walked as clap will: their names
/// (`["wharf", "network", "rm"]`), the innermost one, and the index of
/// the first word after its name.
fn walk_subcommands(args: &[OsString]) -> (Vec<String>, clap::Command, usize) {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut path = vec!["wharf".to_owned()];
    let mut next = 1;
    let mut value_of_global = false;
    for (i, a) in args.iter().enumerate().skip(1) {
        let Some(a) = a.to_str() else { break };
        if std::mem::take(&mut value_of_global) {
            continue;
        }
        if a.starts_with('-') {
            // The global options that take a value (as a separate word).
            value_of_global = matches!(a, "--root" | "-H" | "--host");
            continue;
        }
        match cmd.find_subcommand(a) {
            Some(sub) => {
                path.push(sub.get_name().to_owned());
                cmd = sub.clone();
                next = i + 1;
            }
            None => break,
        }
    }
    (path, cmd, next)
}

/// The innermost subcommand the arguments name, and the index of the
/// first word after its name.
fn subcommand_at(args: &[OsString]) -> Option<(clap::Command, usize)> {
    let (path, cmd, next) = walk_subcommands(args);
    (path.len() > 1).then_some((cmd, next))
}

/// Docker's wording for command-line errors, and its exit code: 1 for
/// missing arguments and unknown commands, 125 for bad flags.
fn docker_style(e: &clap::Error, cmd_path: &str, cmd: &clap::Command) -> (String, u8) {
    let rendered = e.render().to_string();
    // `network rm` of `wharf network rm`.
    let sub = cmd_path.strip_prefix("wharf").unwrap_or(cmd_path).trim();
    let usage = crate::usage::usage(sub)
        .map(|u| format!("\n\nUsage:  wharf {}", u.replace("||", "\n\twharf ")))
        .unwrap_or_default();
    match e.kind() {
        ErrorKind::MissingRequiredArgument => match crate::usage::missing_arguments("wharf", sub) {
            Some(text) => (text, COMMAND_ERROR),
            None => {
                let missing = context(e, ContextKind::InvalidArg).unwrap_or_default();
                (format!("wharf: \"{cmd_path}\" requires {missing}\nSee '{cmd_path} --help'."), COMMAND_ERROR)
            }
        },
        ErrorKind::InvalidSubcommand => {
            let name = context(e, ContextKind::InvalidSubcommand).unwrap_or_default();
            let group = if sub.is_empty() { String::new() } else { format!("\n\nUsage:  {cmd_path}") };
            (
                format!(
                    "wharf: unknown command: {cmd_path} {name}{group}\n\nRun '{cmd_path} --help' for more information"
                ),
                COMMAND_ERROR,
            )
        }
        ErrorKind::UnknownArgument => {
            let arg = context(e, ContextKind::InvalidArg).unwrap_or_default();
            let arg = arg.split('=').next().unwrap_or_default();
            match usage.is_empty() {
                true => (format!("unknown flag: {arg}\nSee '{cmd_path} --help'."), ENGINE_ERROR),
                false => (
                    format!("unknown flag: {arg}{usage}\n\nRun '{cmd_path} --help' for more information"),
                    ENGINE_ERROR,
                ),
            }
        }
        ErrorKind::ValueValidation | ErrorKind::InvalidValue if !usage.is_empty() => {
            let flag = flag_names(e, cmd);
            let value = context(e, ContextKind::InvalidValue).unwrap_or_default();
            let why = std::error::Error::source(e).map(|s| go_reason(&value, &s.to_string())).unwrap_or_default();
            (
                format!(
                    "invalid argument \"{value}\" for \"{flag}\" flag{why}{usage}\n\nRun '{cmd_path} --help' for more information"
                ),
                ENGINE_ERROR,
            )
        }
        _ => {
            let first = rendered.lines().next().unwrap_or_default().trim_start_matches("error: ");
            (format!("wharf: {first}\nSee '{cmd_path} --help'."), ENGINE_ERROR)
        }
    }
}

/// A value error's reason, as Go's flag package words a number's.
fn go_reason(value: &str, why: &str) -> String {
    match why {
        "invalid digit found in string" | "cannot parse integer from empty string" => {
            format!(": strconv.ParseInt: parsing \"{value}\": invalid syntax")
        }
        "number too large to fit in target type" | "number too small to fit in target type" => {
            format!(": strconv.ParseInt: parsing \"{value}\": value out of range")
        }
        _ => format!(": {why}"),
    }
}

/// The flag a value error is about, as docker names it: `-a, --attach`.
fn flag_names(e: &clap::Error, cmd: &clap::Command) -> String {
    let shown = context(e, ContextKind::InvalidArg).unwrap_or_default();
    let long = shown.trim_start_matches('-').split([' ', '=']).next().unwrap_or_default().to_owned();
    match cmd.get_arguments().find(|a| a.get_long() == Some(long.as_str())).and_then(|a| a.get_short()) {
        Some(short) => format!("-{short}, --{long}"),
        None => format!("--{long}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_definition_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
