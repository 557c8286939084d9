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
podman_ulimits "$WORK"
command -v wrk >/dev/null || { apt-get update -qq; apt-get install -y -qq wrk; }
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
for t in "${tools[@]}"; do
  case $t in
    wharf) cli=$W img=benchbb ;;
    podman) cli=podman img=localhost/benchbb ;;
    docker) cli=docker img=benchbb ;;
  esac
  eval "$(cleanup_cmd "$cli")"
  T[first,$t]=$(median "$RUNS" --prepare "$(cleanup_cmd "$cli")" -- "$(first_answer "$cli" "$img")")
  eval "$(cleanup_cmd "$cli")"
  $cli run -d --name netbench -p $PORT:80 -v "$WORK/www:/www:ro" "$img" httpd -f -p 80 -h /www >/dev/null
  until curl -fs -o /dev/null "http://127.0.0.1:$PORT/"; do sleep 0.01; done
  T[mib,$t]=$(wrk -t2 -c16 -d5s "http://127.0.0.1:$PORT/big" | awk '/Transfer\/sec/ {print $2}')
  T[conn,$t]=$(wrk -t2 -c16 -d5s -H 'Connection: close' "http://127.0.0.1:$PORT/index.html" | awk '/Requests\/sec/ {print $2}')
  eval "$(cleanup_cmd "$cli")"
done

printf '\n%-30s %12s %12s %12s\n' case wharf podman docker
printf '%-30s %12s %12s %12s\n' "run -d -p to first answer (s)" "${T[first,wharf]}" "${T[first,podman]:--}" "${T[first,docker]:--}"
printf '%-30s %12s %12s %12s\n' "1 MiB file throughput" "${T[mib,wharf]}" "${T[mib,podman]:--}" "${T[mib,docker]:--}"
printf '%-30s %12s %12s %12s\n' "new connections (req/s)" "${T[conn,wharf]}" "${T[conn,podman]:--}" "${T[conn,docker]:--}"
best=$(best_of "${T[first,podman]:--}" "${T[first,docker]:--}")
echo "first answer: wharf/best = $(ratio "${T[first,wharf]}" "$best") (target <= 0.33);" \
  "throughput and connection rate: target >= the better peer"
