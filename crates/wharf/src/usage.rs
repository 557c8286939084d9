//! docker's usage lines, for the errors docker's CLI prints with them: a
//! command given too few arguments, an unknown flag, an unknown
//! subcommand. clap's own usage lines name arguments its way
//! (`<CONTAINERS>...`); these are docker's (`CONTAINER [CONTAINER...]`),
//! taken from docker's `--help`, with the program's name left out.

/// `PATH\tUSAGE` lines: the command path as typed, its usage after the
/// program's name (`||` between the forms of a command that has two).
const USAGE: &str = "\
image	image COMMAND
image build	image build [OPTIONS] PATH | URL | -
image ls	image ls [OPTIONS] [REPOSITORY[:TAG]]
image import	image import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]
image inspect	image inspect [OPTIONS] IMAGE [IMAGE...]
image rm	image rm [OPTIONS] IMAGE [IMAGE...]
image tag	image tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]
image history	image history [OPTIONS] IMAGE
image prune	image prune [OPTIONS]
image save	image save [OPTIONS] IMAGE [IMAGE...]
image load	image load [OPTIONS]
image pull	image pull [OPTIONS] NAME[:TAG|@DIGEST]
image push	image push [OPTIONS] NAME[:TAG]
images	images [OPTIONS] [REPOSITORY[:TAG]]
import	import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]
inspect	inspect [OPTIONS] NAME|ID [NAME|ID...]
tag	tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]
rmi	rmi [OPTIONS] IMAGE [IMAGE...]
history	history [OPTIONS] IMAGE
save	save [OPTIONS] IMAGE [IMAGE...]
load	load [OPTIONS]
pull	pull [OPTIONS] NAME[:TAG|@DIGEST]
push	push [OPTIONS] NAME[:TAG]
login	login [OPTIONS] [SERVER]
logout	logout [SERVER]
system	system COMMAND
system df	system df [OPTIONS]
system prune	system prune [OPTIONS]
system info	system info [OPTIONS]
system events	system events [OPTIONS]
build	build [OPTIONS] PATH | URL | -
builder	builder COMMAND
builder prune	builder prune
run	run [OPTIONS] IMAGE [COMMAND] [ARG...]
create	create [OPTIONS] IMAGE [COMMAND] [ARG...]
rm	rm [OPTIONS] CONTAINER [CONTAINER...]
ps	ps [OPTIONS]
logs	logs [OPTIONS] CONTAINER
stop	stop [OPTIONS] CONTAINER [CONTAINER...]
kill	kill [OPTIONS] CONTAINER [CONTAINER...]
start	start [OPTIONS] CONTAINER [CONTAINER...]
restart	restart [OPTIONS] CONTAINER [CONTAINER...]
wait	wait CONTAINER [CONTAINER...]
rename	rename CONTAINER NEW_NAME
pause	pause CONTAINER [CONTAINER...]
unpause	unpause CONTAINER [CONTAINER...]
top	top CONTAINER [ps OPTIONS]
port	port CONTAINER [PRIVATE_PORT[/PROTO]]
exec	exec [OPTIONS] CONTAINER COMMAND [ARG...]
attach	attach [OPTIONS] CONTAINER
cp	cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-||cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH
commit	commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]
diff	diff CONTAINER
export	export [OPTIONS] CONTAINER
stats	stats [OPTIONS] [CONTAINER...]
update	update [OPTIONS] CONTAINER [CONTAINER...]
version	version [OPTIONS]
events	events [OPTIONS]
info	info [OPTIONS]
container	container COMMAND
container ls	container ls [OPTIONS]
container run	container run [OPTIONS] IMAGE [COMMAND] [ARG...]
container create	container create [OPTIONS] IMAGE [COMMAND] [ARG...]
container rm	container rm [OPTIONS] CONTAINER [CONTAINER...]
container logs	container logs [OPTIONS] CONTAINER
container stop	container stop [OPTIONS] CONTAINER [CONTAINER...]
container kill	container kill [OPTIONS] CONTAINER [CONTAINER...]
container start	container start [OPTIONS] CONTAINER [CONTAINER...]
container restart	container restart [OPTIONS] CONTAINER [CONTAINER...]
container wait	container wait CONTAINER [CONTAINER...]
container rename	container rename CONTAINER NEW_NAME
container pause	container pause CONTAINER [CONTAINER...]
container unpause	container unpause CONTAINER [CONTAINER...]
container top	container top CONTAINER [ps OPTIONS]
container inspect	container inspect [OPTIONS] CONTAINER [CONTAINER...]
container exec	container exec [OPTIONS] CONTAINER COMMAND [ARG...]
container attach	container attach [OPTIONS] CONTAINER
container cp	container cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
container port	container port CONTAINER [PRIVATE_PORT[/PROTO]]
container commit	container commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]
container diff	container diff CONTAINER
container export	container export [OPTIONS] CONTAINER
container stats	container stats [OPTIONS] [CONTAINER...]
container update	container update [OPTIONS] CONTAINER [CONTAINER...]
container prune	container prune [OPTIONS]
network	network COMMAND
network create	network create [OPTIONS] NETWORK
network ls	network ls [OPTIONS]
network inspect	network inspect [OPTIONS] NETWORK [NETWORK...]
network rm	network rm NETWORK [NETWORK...]
network prune	network prune [OPTIONS]
network connect	network connect [OPTIONS] NETWORK CONTAINER
network disconnect	network disconnect [OPTIONS] NETWORK CONTAINER
volume	volume COMMAND
volume create	volume create [OPTIONS] [VOLUME]
volume ls	volume ls [OPTIONS]
volume inspect	volume inspect [OPTIONS] VOLUME [VOLUME...]
volume rm	volume rm [OPTIONS] VOLUME [VOLUME...]
volume prune	volume prune [OPTIONS]
";

/// docker's usage of the command at `path` (`network rm`), without the
/// program's name.
pub fn usage(path: &str) -> Option<&'static str> {
    USAGE.lines().find_map(|l| l.split_once('\t').filter(|(p, _)| *p == path).map(|(_, u)| u))
}

/// How many arguments the usage asks for: (required, optional, more
/// allowed), read from its words (`[OPTIONS]` is not one).
fn arity(usage: &str, path: &str) -> (usize, usize, bool) {
    let first = usage.split("||").next().unwrap_or(usage);
    let rest = first.strip_prefix(path).unwrap_or(first);
    let (mut required, mut optional, mut variadic) = (0, 0, false);
    let (mut depth, mut group) = (0i32, String::new());
    let mut alternative = false;
    for word in rest.split_whitespace() {
        // `PATH | URL | -`: one argument.
        if word == "|" {
            alternative = true;
            continue;
        }
        if std::mem::take(&mut alternative) {
            continue;
        }
        group.push_str(word);
        depth += word.matches('[').count() as i32 - word.matches(']').count() as i32;
        if depth > 0 {
            group.push(' ');
            continue;
        }
        let g = std::mem::take(&mut group);
        match (g.starts_with('['), g.as_str()) {
            (true, "[OPTIONS]") => {}
            (true, _) if g.ends_with("...]") || g.ends_with("OPTIONS]") => variadic = true,
            (true, _) => optional += 1,
            (false, _) => required += 1,
        }
    }
    (required, optional, variadic)
}

fn arguments(n: usize) -> String {
    format!("{n} argument{}", if n == 1 { "" } else { "s" })
}

/// docker's error for a command given too few arguments (cobra's
/// `RequiresMinArgs`, `RequiresRangeArgs`, `ExactArgs` wordings).
pub fn missing_arguments(program: &str, path: &str) -> Option<String> {
    let usage = usage(path)?;
    let (required, optional, variadic) = arity(usage, path);
    let (needs, verb) = match (variadic, optional) {
        (true, _) => (format!("at least {}", arguments(required)), "See"),
        (false, 0) => (arguments(required), "Run"),
        (false, o) => (format!("at least {required} and at most {}", arguments(required + o)), "Run"),
    };
    let usage = usage.replace("||", &format!("\n\t{program} "));
    Some(format!(
        "{program}: '{program} {path}' requires {needs}\n\nUsage:  {program} {usage}\n\n{verb} '{program} {path} --help' for more information"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_counted_as_dockers_cli_counts_them() {
        let said = |p: &str| missing_arguments("docker", p).expect("a usage");
        assert!(said("rm").starts_with("docker: 'docker rm' requires at least 1 argument\n\nUsage:  docker rm [OPTIONS] CONTAINER [CONTAINER...]\n\nSee "));
        assert!(said("logs").starts_with("docker: 'docker logs' requires 1 argument\n"));
        assert!(said("tag").starts_with("docker: 'docker tag' requires 2 arguments\n"));
        assert!(said("exec").starts_with("docker: 'docker exec' requires at least 2 arguments\n"));
        assert!(said("commit").starts_with("docker: 'docker commit' requires at least 1 and at most 2 arguments\n"));
        assert!(said("run").contains("requires at least 1 argument"), "{}", said("run"));
        assert!(said("top").contains("requires at least 1 argument"), "{}", said("top"));
        assert!(said("cp").contains("requires 2 arguments"), "{}", said("cp"));
        assert!(said("build").contains("requires 1 argument"), "{}", said("build"));
        assert!(said("network rm").ends_with("See 'docker network rm --help' for more information"));
    }
}
