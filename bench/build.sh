#!/usr/bin/env bash
# bench/build.sh - the three build cases of ../shared/bench/dockerfiles
# (seed, tenstep, bigctx) with wharf, docker's BuildKit (dockerd started by
# hand; the Debian 20.10 client at /usr/bin/docker uses BuildKit without
# buildx) and podman build, on the same local busybox base, in one run:
# cold (--no-cache), fully cached, after touching one file (content
# unchanged) and after changing one small file. Prints medians and ratios.
#
# Usage (as root, from the repository):  bench/build.sh
# Environment: BENCH_WORK (default /tmp/wharf-bench-build), RUNS (default 5),
#              SLOW_RUNS (default 3), SHARED (default ../shared)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$HERE/../shared}
WORK=${BENCH_WORK:-/tmp/wharf-bench-build}
RUNS=${RUNS:-5}
SLOW_RUNS=${SLOW_RUNS:-3}
mkdir -p "$WORK"
# shellcheck source=bench/lib.sh
. "$HERE/bench/lib.sh"
podman_fixups "$WORK"
bench_need
cargo build --release --quiet --manifest-path "$HERE/Cargo.toml" -p wharf
W="$HERE/target/release/wharf --root $WORK/root"
DOCKER=docker
[[ -x /usr/bin/docker ]] && DOCKER=/usr/bin/docker

busybox_tar "$WORK"
start_docker "$WORK"
# The bench Dockerfiles build FROM localhost/busybox in every tool.
$W image inspect localhost/busybox >/dev/null 2>&1 || $W import "$WORK/bb.tar" localhost/busybox >/dev/null
podman image exists localhost/busybox || podman import -q "$WORK/bb.tar" localhost/busybox >/dev/null
if ((have_docker)); then
  $DOCKER image inspect localhost/busybox >/dev/null 2>&1 || $DOCKER import "$WORK/bb.tar" localhost/busybox >/dev/null
fi

# Contexts, one copy per tool so that edits and stat caches do not mix.
for t in wharf buildkit podman; do
  for c in seed tenstep bigctx; do
    bench_context "$SHARED" "$c" "$WORK/ctx-$t/$c"
  done
done
declare -A EDIT=([seed]=app.py [tenstep]=b.txt [bigctx]=files/d07/f0007.txt)

cmd() { # TOOL CASE EXTRA
  local ctx=$WORK/ctx-$1/$2
  case $1 in
    wharf) echo "$W build -q $3 -t bench-$2 $ctx" ;;
    buildkit) echo "DOCKER_BUILDKIT=1 $DOCKER build -q $3 -t bench-$2 $ctx" ;;
    podman) echo "podman build -q $3 -t bench-$2 $ctx" ;;
  esac
}

declare -A T
for c in seed tenstep bigctx; do
  for t in wharf buildkit podman; do
    if [[ $t == buildkit ]] && ((!have_docker)); then continue; fi
    f=$WORK/ctx-$t/$c/${EDIT[$c]}
    T[$c,cold,$t]=$(median "$SLOW_RUNS" -- "$(cmd $t $c --no-cache)")
    T[$c,cached,$t]=$(median "$RUNS" --warmup 1 -- "$(cmd $t $c "")")
    T[$c,touched,$t]=$(median "$RUNS" --warmup 1 --prepare "touch $f" -- "$(cmd $t $c "")")
    T[$c,edited,$t]=$(median "$RUNS" --warmup 1 --prepare "date +%s%N >>$f" -- "$(cmd $t $c "")")
  done
done

printf '\n%-18s %9s %9s %9s %12s\n' case wharf buildkit podman wharf/buildkit
for c in seed tenstep bigctx; do
  for m in cold cached touched edited; do
    w=${T[$c,$m,wharf]:--}; b=${T[$c,$m,buildkit]:--}; p=${T[$c,$m,podman]:--}
    printf '%-18s %9s %9s %9s %12s\n' "$c $m" "$w" "$b" "$p" "$(ratio "$w" "$b")"
  done
done
echo "(seconds, medians; targets: every case <= 0.5 of BuildKit; cached and touched <= 0.25)"

# Rootless rows: wharf and podman as the same ordinary user (ROOTLESS=0
# leaves them out).
if [[ ${ROOTLESS:-1} == 1 ]]; then
  BENCH_WORK=$WORK/rootless "$HERE/bench/rootless.sh" build
fi
