#!/usr/bin/env bash
# bench/run.sh - `run --rm IMAGE true` with wharf, podman and docker (the
# same busybox rootfs imported into each), with the default network and
# with --network none, crun on a prepared bundle, and 20 concurrent
# `run -d` + `rm -f`, in one run; prints medians and ratios.
#
# Usage (as root, from the repository):  bench/run.sh
# Environment: BENCH_WORK (default /tmp/wharf-bench-run), RUNS (default 10)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-/tmp/wharf-bench-run}
RUNS=${RUNS:-10}
mkdir -p "$WORK"
# shellcheck source=bench/lib.sh
. "$HERE/bench/lib.sh"
podman_fixups "$WORK"
bench_need crun:crun
cargo build --release --quiet --manifest-path "$HERE/Cargo.toml" -p wharf
W="$HERE/target/release/wharf --root $WORK/root"

# One busybox rootfs for everyone.
R=$WORK/rootfs
busybox_tar "$WORK"
start_docker "$WORK"
import_everywhere "$WORK/bb.tar" "$W" benchbb

# crun on a bundle (the floor: no image, no network, no store).
B=$WORK/bundle
if [[ ! -f $B/config.json ]]; then
  mkdir -p "$B" && ln -sfn "$R" "$B/rootfs"
  (cd "$B" && crun spec && python3 - config.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["/bin/true"]; c["process"]["terminal"] = False
c["root"]["readonly"] = True
json.dump(c, open(sys.argv[1], "w"))
PY
  )
fi
# crun refuses hybrid cgroups with controllers left on the v2 mount.
u=/sys/fs/cgroup/unified
if [[ -f $u/cgroup.controllers ]]; then
  for c in $(cat "$u/cgroup.controllers"); do mkdir -p "/sys/fs/cgroup/$c"; mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" 2>/dev/null || true; done
fi

declare -A T
T[crun]=$(median "$RUNS" --warmup 2 -- "crun run -b $B bench-crun")
# The same two, each run starting from an idle machine (100 ms apart).
# Why: on cgroup v1 the first cgroup migration after a quiet spell waits
# for an RCU grace period (10-20 ms here); a runtime run again within one
# grace period of its last migration skips that wait. Back to back, crun
# (7 ms a run) nearly always does; wharf (20 ms) rarely. Spaced out, both
# pay it, as a user starting one container does.
T[crun_idle]=$(median "$RUNS" --warmup 2 --prepare "sleep 0.1" -- "crun run -b $B bench-crun")
T[wharf_none_idle]=$(median "$RUNS" --warmup 2 --prepare "sleep 0.1" -- "$W run --rm --network none benchbb true")
T[wharf_bridge]=$(median "$RUNS" --warmup 2 -- "$W run --rm benchbb true")
T[wharf_none]=$(median "$RUNS" --warmup 2 -- "$W run --rm --network none benchbb true")
T[podman_bridge]=$(median "$RUNS" --warmup 2 -- "podman run --rm localhost/benchbb true")
T[podman_none]=$(median "$RUNS" --warmup 2 -- "podman run --rm --network none localhost/benchbb true")
T[docker_bridge]=-; T[docker_none]=-
if ((have_docker)); then
  T[docker_bridge]=$(median "$RUNS" --warmup 2 -- "docker run --rm benchbb true")
  T[docker_none]=$(median "$RUNS" --warmup 2 -- "docker run --rm --network none benchbb true")
fi
# 20 concurrent detached containers started, then removed.
par() { # TOOL-CMD
  echo "for i in \$(seq 20); do $1 run -d --network none $2 sleep 100 >/dev/null & done; wait; $1 rm -f \$($1 ps -aq) >/dev/null"
}
T[wharf_20]=$(median 3 -- "$(par "$W" benchbb)")
T[podman_20]=$(median 3 -- "$(par podman localhost/benchbb)")

printf '\n%-34s %9s %9s %9s %9s\n' case wharf podman docker wharf/best
for m in bridge none; do
  best=$(best_of "${T[podman_$m]}" "${T[docker_$m]}")
  printf '%-34s %9s %9s %9s %9s\n' "run --rm true ($m)" "${T[wharf_$m]}" "${T[podman_$m]}" "${T[docker_$m]}" "$(ratio "${T[wharf_$m]}" "$best")"
done
printf '%-34s %9s %9s %9s %9s\n' "20 x run -d + rm -f (none)" "${T[wharf_20]}" "${T[podman_20]}" - "$(ratio "${T[wharf_20]}" "${T[podman_20]}")"
printf '%-34s %9s   wharf --network none / crun: %s\n' "crun run on a bundle" "${T[crun]}" "$(ratio "${T[wharf_none]}" "${T[crun]}")"
printf '%-34s %9s   wharf --network none (%s) / crun: %s\n' "  the same, 100 ms apart" "${T[crun_idle]}" "${T[wharf_none_idle]}" "$(ratio "${T[wharf_none_idle]}" "${T[crun_idle]}")"
echo "(seconds, medians; targets: wharf/best <= 0.2 in both modes, wharf none / crun <= 3)"

# Rootless rows: wharf and podman as the same ordinary user (ROOTLESS=0
# leaves them out).
if [[ ${ROOTLESS:-1} == 1 ]]; then
  BENCH_WORK=$WORK/rootless "$HERE/bench/rootless.sh" run
fi
