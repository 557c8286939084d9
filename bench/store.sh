#!/usr/bin/env bash
# bench/store.sh - import and save a 1 GiB rootfs tarball with wharf, podman
# and docker in one run, and print the ratios (wharf time / fastest peer).
#
# Usage (as root, from the repository):  bench/store.sh
# Environment:
#   BENCH_WORK  scratch directory (default /tmp/wharf-bench-store; ~5 GB)
#   RUNS        timed runs per case (default 3; the median is reported)
#   PEERS       peers to measure (default "podman docker"; docker needs
#               dockerd, which this script starts by hand as ../shared/bench does)
#
# The tarball (cached between runs) mixes many small files with a few large
# ones: 40,000 files of 1-16 KiB in 400 directories, plus three files of
# 256 MiB, about 1 GiB in all.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-/tmp/wharf-bench-store}
RUNS=${RUNS:-3}
PEERS=${PEERS:-podman docker}
WHARF=$HERE/target/release/wharf
mkdir -p "$WORK"
[[ $(id -u) -eq 0 ]] || { echo "run as root" >&2; exit 1; }

cargo build --release --quiet --manifest-path "$HERE/Cargo.toml" -p wharf
cargo build --release --quiet --manifest-path "$HERE/Cargo.toml" -p store --example commit_dir
COMMIT=$HERE/target/release/examples/commit_dir

# A busybox rootfs for docker's commit case.
BB=$WORK/../wharf-bench-busybox.tar
if [[ ! -f $BB ]]; then
  d=$(mktemp -d); mkdir -p "$d/bin"; cp /bin/busybox "$d/bin/"; ln -s busybox "$d/bin/sh"
  tar -C "$d" -cf "$BB" .; rm -rf "$d"
fi

TAR=$WORK/rootfs-1g.tar
if [[ ! -f $TAR ]]; then
  echo "making $TAR ..." >&2
  python3 - "$WORK/rootfs" <<'EOF'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(42)
for d in range(400):
    p = os.path.join(root, "usr/share/data", f"d{d:03}")
    os.makedirs(p, exist_ok=True)
    for f in range(100):
        with open(os.path.join(p, f"f{f:03}"), "wb") as fh:
            fh.write(rnd.randbytes(rnd.randint(1024, 16384)))
os.makedirs(os.path.join(root, "opt/big"), exist_ok=True)
for i in range(3):
    with open(os.path.join(root, "opt/big", f"blob{i}"), "wb") as fh:
        for _ in range(256):
            fh.write(rnd.randbytes(1 << 20))
EOF
  tar -C "$WORK/rootfs" --numeric-owner -cf "$TAR" .
  rm -rf "$WORK/rootfs"
fi
echo "tarball: $(du -h "$TAR" | cut -f1)" >&2

STARTED=()
cleanup() { for p in "${STARTED[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

have_docker=0
if [[ " $PEERS " == *" docker "* ]] && command -v dockerd >/dev/null; then
  if ! docker info >/dev/null 2>&1; then
    if [[ ! -S /run/containerd/containerd.sock ]]; then
      containerd >"$WORK/containerd.log" 2>&1 & STARTED+=($!)
      for _ in $(seq 50); do [[ -S /run/containerd/containerd.sock ]] && break; sleep 0.2; done
    fi
    dockerd --containerd=/run/containerd/containerd.sock >"$WORK/dockerd.log" 2>&1 & STARTED+=($!)
    for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  fi
  docker info >/dev/null 2>&1 && have_docker=1
fi
have_podman=0
[[ " $PEERS " == *" podman "* ]] && command -v podman >/dev/null && have_podman=1

# Imports and loads go into a store of their own per run, and nothing is
# deleted until the end. Why: on ext4 without a journal (as this
# machine's disk is), allocating an inode skips inodes deleted in the last
# minutes (recently_deleted(): 60 s, 360 s while their inode-table block
# is dirty), after reading each candidate's block. Right after a
# 40,000-file delete, the same import took 11-26 s instead of 4; waiting
# 65 s after `sync` was not enough. docker's data root cannot change per
# run, so docker's runs still follow its own `rmi` (its cost is inflated).
#
# time_median PREPARE COMMAND: median wall seconds over $RUNS runs; __N__
# in either is the run's number.
time_median() {
  local prep=$1 cmd=$2 t s e
  local times=()
  for n in $(seq "$RUNS"); do
    bash -c "${prep//__N__/$n}" >/dev/null 2>&1 || true
    sync
    s=$(date +%s.%N)
    bash -c "${cmd//__N__/$n}" >/dev/null
    e=$(date +%s.%N)
    times+=("$(echo "$e - $s" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}'
}
# This invocation's stores, removed at the end (removing them first would
# slow the imports down).
S=$WORK/stores-$$
mkdir -p "$S"
PODMAN1="podman --root $S/p-root1 --runroot $S/p-run1"

declare -A T
R=$S/wharf-root1
T[import_wharf]=$(time_median : "$WHARF --root $S/wharf-root__N__ import $TAR bench:1")
if ((have_podman)); then
  T[import_podman]=$(time_median : "podman --root $S/p-root__N__ --runroot $S/p-run__N__ import $TAR localhost/bench:1")
fi
if ((have_docker)); then
  T[import_docker]=$(time_median "docker rmi -f bench:1" "docker import $TAR bench:1")
fi

T[save_wharf]=$(time_median "rm -f $WORK/s-wharf.tar" "$WHARF --root $R save -o $WORK/s-wharf.tar bench:1")
if ((have_podman)); then
  T[save_podman]=$(time_median "rm -f $WORK/s-podman.tar" "$PODMAN1 save -o $WORK/s-podman.tar localhost/bench:1")
fi
if ((have_docker)); then
  T[save_docker]=$(time_median "rm -f $WORK/s-docker.tar" "docker save -o $WORK/s-docker.tar bench:1")
fi
T[load_wharf]=$(time_median : "$WHARF --root $S/load-root__N__ load -i $WORK/s-wharf.tar")
rm -f "$WORK"/s-*.tar

# Committing 1 GiB of new files as a layer: wharf's commit path (what a
# build step's upperdir goes through) against `docker commit`.
mkdir -p "$WORK/commit-src"
[[ -f $WORK/commit-src/big ]] || head -c $((1024 * 1024 * 1024)) /dev/urandom >"$WORK/commit-src/big"
T[commit_wharf]=$(time_median "rm -rf $WORK/commit-root $WORK/commit-dir; cp -a $WORK/commit-src $WORK/commit-dir" \
  "$COMMIT $WORK/commit-root $WORK/commit-dir")
if ((have_docker)); then
  docker import "$WORK/../wharf-bench-busybox.tar" bench-bb:1 >/dev/null 2>&1 || true
  if docker image inspect bench-bb:1 >/dev/null 2>&1; then
    docker rm -f bench-commit >/dev/null 2>&1 || true
    docker create --name bench-commit bench-bb:1 /bin/sh >/dev/null
    docker cp "$WORK/commit-src/big" bench-commit:/big
    T[commit_docker]=$(time_median "docker rmi -f bench-commit-img" "docker commit bench-commit bench-commit-img")
    docker rm -f bench-commit >/dev/null 2>&1 || true
  fi
fi

echo
printf '%-8s %10s %10s %10s %12s\n' case wharf podman docker "wharf/best"
for c in import save commit; do
  best=""
  for p in podman docker; do
    v=${T[${c}_$p]:-}
    [[ -n $v ]] || continue
    if [[ -z $best ]] || (($(echo "$v < $best" | bc -l))); then best=$v; fi
  done
  ratio="n/a"
  [[ -n $best ]] && ratio=$(echo "scale=3; ${T[${c}_wharf]} / $best" | bc -l)
  printf '%-8s %10s %10s %10s %12s\n' "$c" "${T[${c}_wharf]}" "${T[${c}_podman]:--}" "${T[${c}_docker]:--}" "$ratio"
done
printf '%-8s %10s\n' load "${T[load_wharf]}"
echo "(seconds, median of $RUNS; targets: wharf/best <= 0.5 for import and save, <= 0.33 for commit)"
for n in $(seq "$RUNS"); do
  podman --root "$S/p-root$n" --runroot "$S/p-run$n" rmi -af >/dev/null 2>&1 || true
done
rm -rf "$S"
