#!/usr/bin/env bash
# bench/api.sh - the same docker CLI against wharf's Engine API socket
# (`wharf system service`) and against dockerd, in one run: `docker run
# --rm IMAGE true`, `docker ps -a` and `docker inspect`; and the idle
# service's resident memory. Prints medians and ratios.
#
# Usage (as root, from the repository):  bench/api.sh
# Environment: BENCH_WORK (default /tmp/wharf-bench-api), RUNS (default 10)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-/tmp/wharf-bench-api}
RUNS=${RUNS:-10}
mkdir -p "$WORK"
# shellcheck source=bench/lib.sh
. "$HERE/bench/lib.sh"
bench_need
cargo build --release --quiet --manifest-path "$HERE/Cargo.toml" -p wharf
W="$HERE/target/release/wharf --root $WORK/root"
busybox_tar "$WORK"
start_docker "$WORK"
((have_docker)) || { echo "dockerd is needed as the peer" >&2; exit 1; }
$W image inspect benchbb >/dev/null 2>&1 || $W import "$WORK/bb.tar" benchbb >/dev/null
docker image inspect benchbb >/dev/null 2>&1 || docker import "$WORK/bb.tar" benchbb >/dev/null

SOCK=$WORK/api.sock
$W system service --time 0 "unix://$SOCK" >"$WORK/service.log" 2>&1 & STARTED+=($!)
SERVICE=$!
for _ in $(seq 100); do [[ -S $SOCK ]] && break; sleep 0.05; done
WD="env DOCKER_HOST=unix://$SOCK docker"
$WD run -d --name bench-keep benchbb sleep 1000 >/dev/null 2>&1 || true
docker run -d --name bench-keep benchbb sleep 1000 >/dev/null 2>&1 || true

declare -A T
T[wharf_run]=$(median "$RUNS" --warmup 2 -- "$WD run --rm benchbb true")
T[docker_run]=$(median "$RUNS" --warmup 2 -- "docker run --rm benchbb true")
T[wharf_ps]=$(median "$RUNS" --warmup 2 -- "$WD ps -a")
T[docker_ps]=$(median "$RUNS" --warmup 2 -- "docker ps -a")
T[wharf_inspect]=$(median "$RUNS" --warmup 2 -- "$WD inspect bench-keep")
T[docker_inspect]=$(median "$RUNS" --warmup 2 -- "docker inspect bench-keep")
sleep 1
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$SERVICE/status")
$WD rm -f bench-keep >/dev/null 2>&1 || true
docker rm -f bench-keep >/dev/null 2>&1 || true

printf '\n%-30s %9s %9s %9s\n' case wharf dockerd wharf/dockerd
for c in run ps inspect; do
  printf '%-30s %9s %9s %9s\n' "docker $c (same CLI)" "${T[wharf_$c]}" "${T[docker_$c]}" "$(ratio "${T[wharf_$c]}" "${T[docker_$c]}")"
done
printf 'idle service RSS: %s kB\n' "$rss_kb"
echo "(seconds, medians; targets: docker run --rm through wharf <= 0.33 of dockerd; idle RSS < 20 MB)"
