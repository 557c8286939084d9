#!/usr/bin/env bash
# bench/net.sh - published ports against podman and docker, same busybox
# image, same run: time from `run -d -p` to the first HTTP answer, then
# HTTP throughput (1 MiB file) and connection rate (tiny file) through the
# published port on 127.0.0.1 with wrk. Prints medians and ratios.
#
# Usage (as root, from the repository):  bench/net.sh
# Environment: BENCH_WORK (default /tmp/wharf-bench-net), RUNS (default 10)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-/tmp/wharf-bench-net}
RUNS=${RUNS:-10}
mkdir -p "$WORK/www"
# shellcheck source=bench/lib.sh
. "$HERE/bench/lib.sh"
podman_fixups "$WORK"
bench_need wrk:wrk conntrack:conntrack
cargo build --release --quiet --manifest-path "$HERE/Cargo.toml" -p wharf
W="$HERE/target/release/wharf --root $WORK/root"

R=$WORK/rootfs
busybox_tar "$WORK"
head -c $((1 << 20)) /dev/urandom >"$WORK/www/big"
echo hi >"$WORK/www/index.html"
start_docker "$WORK"
import_everywhere "$WORK/bb.tar" "$W" benchbb

PORT=15101
# first_answer TOOL IMAGE: one run -d -p + poll until curl answers + rm -f
first_answer() {
  echo "$1 run -d --name netbench -p $PORT:80 -v $WORK/www:/www:ro $2 httpd -f -p 80 -h /www >/dev/null; \
until curl -fs -o /dev/null http://127.0.0.1:$PORT/; do sleep 0.005; done"
}
cleanup_cmd() { echo "$1 rm -f netbench >/dev/null 2>&1 || true"; }

declare -A T
tools=(wharf podman)
((have_docker)) && tools+=(docker)
# cli_of TOOL: sets cli and img for it.
cli_of() {
  case $1 in
    wharf) cli=$W img=benchbb ;;
    podman) cli=podman img=localhost/benchbb ;;
    docker) cli=docker img=benchbb ;;
  esac
}
for t in "${tools[@]}"; do
  cli_of "$t"
  eval "$(cleanup_cmd "$cli")"
  T[first,$t]=$(median "$RUNS" --prepare "$(cleanup_cmd "$cli")" -- "$(first_answer "$cli" "$img")")
  eval "$(cleanup_cmd "$cli")"
done

# Throughput and connection rate: every tool's server runs at once (idle
# but for the one measured), and the tools take turns, ROUNDS times, in a
# rotating order: on this shared 2-core machine one 5 s sample per tool
# moved by 15% from run to run, which is more than the differences being
# measured. Medians per tool.
ROUNDS=${ROUNDS:-7}
declare -A MIB CONN PORT_OF PID_OF
p=$PORT
for t in "${tools[@]}"; do
  cli_of "$t"
  PORT_OF[$t]=$p
  $cli run -d --name netbench -p "$p:80" -v "$WORK/www:/www:ro" "$img" httpd -f -p 80 -h /www >/dev/null
  PID_OF[$t]=$($cli inspect -f '{{.State.Pid}}' netbench)
  until curl -fs -o /dev/null "http://127.0.0.1:$p/"; do sleep 0.01; done
  p=$((p + 1))
done
# fresh_start TOOL: each sample starts from the same state. A 3 s sample
# of closing connections leaves ~20,000 TIME_WAIT sockets (client side on
# the host, server side in the container) and as many conntrack entries
# for that port; the next sample against it, seconds later, collides with
# them (port reuse, SYN against TIME_WAIT) and ran up to 3x slower, so a
# tool's result depended on what ran before it. Only this port's entries go.
fresh_start() {
  local port=${PORT_OF[$1]}
  ss -K state time-wait "( dport = :$port )" >/dev/null 2>&1 || true
  nsenter --net="/proc/${PID_OF[$1]}/ns/net" ss -K state time-wait '( sport = :80 )' >/dev/null 2>&1 || true
  conntrack -D -p tcp --orig-port-dst "$port" >/dev/null 2>&1 || true
  sleep 0.3
}
n=${#tools[@]}
for r in $(seq "$ROUNDS"); do
  for k in $(seq 0 $((n - 1))); do
    t=${tools[$(((r + k) % n))]}
    url=http://127.0.0.1:${PORT_OF[$t]}
    fresh_start "$t"
    MIB[$t]+=" $(wrk -t2 -c16 -d3s "$url/big" | awk '/Transfer\/sec/ {v=$2; if (v ~ /GB/) v*=1024; sub(/[A-Za-z]+$/, "", v); print v+0}')"
    fresh_start "$t"
    CONN[$t]+=" $(wrk -t2 -c16 -d3s -H 'Connection: close' "$url/index.html" | awk '/Requests\/sec/ {print $2}')"
  done
done
for t in "${tools[@]}"; do
  cli_of "$t"
  eval "$(cleanup_cmd "$cli")"
  # shellcheck disable=SC2086
  T[mib,$t]=$(printf '%s\n' ${MIB[$t]} | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  # shellcheck disable=SC2086
  T[conn,$t]=$(printf '%s\n' ${CONN[$t]} | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$t: MiB/s${MIB[$t]}; connections/s${CONN[$t]}" >&2
done

printf '\n%-30s %12s %12s %12s\n' case wharf podman docker
printf '%-30s %12s %12s %12s\n' "run -d -p to first answer (s)" "${T[first,wharf]}" "${T[first,podman]:--}" "${T[first,docker]:--}"
printf '%-30s %12s %12s %12s\n' "1 MiB file throughput (MiB/s)" "${T[mib,wharf]}" "${T[mib,podman]:--}" "${T[mib,docker]:--}"
printf '%-30s %12s %12s %12s\n' "new connections (req/s)" "${T[conn,wharf]}" "${T[conn,podman]:--}" "${T[conn,docker]:--}"
best=$(best_of "${T[first,podman]:--}" "${T[first,docker]:--}")
higher() { printf '%s\n' "$@" | { grep -v '^-$' || true; } | sort -g | tail -1; }
echo "first answer: wharf/best = $(ratio "${T[first,wharf]}" "$best") (target <= 0.33)"
echo "throughput: wharf/better = $(ratio "${T[mib,wharf]}" "$(higher "${T[mib,podman]:--}" "${T[mib,docker]:--}")") (target >= 1)"
echo "connection rate: wharf/better = $(ratio "${T[conn,wharf]}" "$(higher "${T[conn,podman]:--}" "${T[conn,docker]:--}")") (target >= 1)"
