# Shared by the bench scripts: dockerd started by hand (as ../shared/bench
# does) when it is not running, and medians with hyperfine.
# shellcheck shell=bash

STARTED=()

# bench_need CMD:PACKAGE...: installs from apt the packages whose command
# is missing (hyperfine and bc for every bench's medians and ratios).
bench_need() {
  local want=() pair
  for pair in hyperfine:hyperfine bc:bc "$@"; do
    command -v "${pair%%:*}" >/dev/null || want+=("${pair#*:}")
  done
  ((${#want[@]} == 0)) && return 0
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}"
}
bench_cleanup() { for p in "${STARTED[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap bench_cleanup EXIT

# start_docker WORKDIR: sets have_docker=1 when a daemon answers.
start_docker() {
  have_docker=0
  command -v dockerd >/dev/null || return 0
  if ! docker info >/dev/null 2>&1; then
    if [[ ! -S /run/containerd/containerd.sock ]]; then
      containerd >"$1/containerd.log" 2>&1 & STARTED+=($!)
      for _ in $(seq 50); do [[ -S /run/containerd/containerd.sock ]] && break; sleep 0.2; done
    fi
    dockerd --containerd=/run/containerd/containerd.sock >"$1/dockerd.log" 2>&1 & STARTED+=($!)
    for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  fi
  docker info >/dev/null 2>&1 && have_docker=1
  return 0
}

# median RUNS [hyperfine options...] -- COMMAND: prints the median seconds
# (or "-" when the command fails).
median() {
  local runs=$1; shift
  local opts=()
  while [[ $1 != -- ]]; do opts+=("$1"); shift; done
  shift
  local json
  json=$(mktemp)
  if hyperfine --style none --runs "$runs" "${opts[@]}" --export-json "$json" -- "$*" >/dev/null 2>&1; then
    python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["results"][0]["median"])' "$json"
  else
    echo "-"
  fi
  rm -f "$json"
}

# ratio A B: A/B to 3 decimals, or n/a.
ratio() {
  if [[ $1 == - || $2 == - || -z $2 ]]; then echo n/a; else echo "scale=3; $1 / $2" | bc -l; fi
}

# min of the given numbers ("-" ignored).
best_of() {
  printf '%s\n' "$@" | grep -v '^-$' | sort -g | head -1
}

# podman_fixups WORKDIR: the host fix-ups ../shared/bench/peers.sh applies
# for the peers. (1) cgroup v1 hybrid with a controller left on the v2
# 'unified' mount (hugetlb here): crun, podman's runtime when installed,
# refuses to run ("cgroups in hybrid mode not supported"); each such
# controller is mounted as a v1 hierarchy. (2) This host withholds
# CAP_SYS_RESOURCE: podman's default rlimits fail with EPERM; podman gets a
# containers.conf with the limits the host allows.
podman_fixups() {
  local u=/sys/fs/cgroup/unified c
  if [[ -f $u/cgroup.controllers ]]; then
    for c in $(cat "$u/cgroup.controllers"); do
      echo "fix-up: mounting cgroup v1 '$c' so crun accepts this hybrid host" >&2
      mkdir -p "/sys/fs/cgroup/$c" && mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"
    done
  fi
  podman_ulimits "$1"
}

podman_ulimits() {
  local nofile nproc
  nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
  if prlimit --pid $$ --nofile="$nofile:$((nofile + 1))" 2>/dev/null; then
    prlimit --pid $$ --nofile="$nofile:$nofile"
    return 0
  fi
  ((nproc > 32768)) && nproc=32768
  export CONTAINERS_CONF=$1/containers.conf
  printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' "$nofile" "$nofile" "$nproc" "$nproc" >"$CONTAINERS_CONF"
}

# busybox_tar WORKDIR: a busybox rootfs (every applet linked) in
# WORKDIR/rootfs and its tarball WORKDIR/bb.tar, the same for every tool.
busybox_tar() {
  local r=$1/rootfs
  if [[ ! -x $r/bin/busybox ]]; then
    mkdir -p "$r"/{bin,etc,proc,sys,dev,tmp}
    cp /bin/busybox "$r/bin/"
    chroot "$r" /bin/busybox --install -s /bin
    echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"; echo 'root:x:0:' >"$r/etc/group"
  fi
  tar -C "$r" --numeric-owner -cf "$1/bb.tar" .
}

# import_everywhere TAR WHARF_CMD NAME: the tarball as NAME in wharf,
# podman (localhost/NAME) and, when a daemon runs, docker.
import_everywhere() {
  local tar=$1 w=$2 name=$3
  $w image inspect "$name" >/dev/null 2>&1 || $w import "$tar" "$name" >/dev/null
  podman image exists "localhost/$name" || podman import -q "$tar" "localhost/$name" >/dev/null
  if ((have_docker)); then
    docker image inspect "$name" >/dev/null 2>&1 || docker import "$tar" "$name" >/dev/null
  fi
}

# bench_context SHARED CASE DIR: a copy of ../shared/bench/dockerfiles/CASE
# in DIR (kept once made); bigctx gets its generated files (5,000 small
# files from a fixed seed and a 200 MB random file), as peers.sh makes them.
bench_context() {
  local shared=$1 c=$2 d=$3
  [[ -d $d ]] && return 0
  mkdir -p "$(dirname "$d")" && cp -a "$shared/bench/dockerfiles/$c" "$d"
  [[ $c == bigctx ]] || return 0
  python3 - "$d" <<'PY'
import os, random, sys
d = sys.argv[1]
rnd = random.Random(42)
for i in range(5000):
    sub = os.path.join(d, "files", "d%02d" % (i % 50))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%04d.txt" % i), "wb") as f:
        f.write(rnd.randbytes(rnd.randint(100, 4000)))
PY
  head -c $((200 * 1024 * 1024)) /dev/urandom >"$d/big.bin"
}
