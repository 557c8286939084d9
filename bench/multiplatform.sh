#!/usr/bin/env bash
# bench/multiplatform.sh - a two-platform build (linux/amd64 and
# linux/arm64, the arm64 RUN steps under qemu-user-static) of tenstep
# (../shared/bench/dockerfiles) with wharf and with podman build
# --platform, cold (--no-cache), in one run. Both build FROM a local
# manifest list of the same busybox rootfs for each architecture
# (Debian's busybox-static and busybox-static:arm64).
# Prints medians and the wharf/podman ratio (target: <= 1/2).
#
# Usage (as root, from the repository):  bench/multiplatform.sh
# Environment: BENCH_WORK (default /tmp/wharf-bench-multiplatform), RUNS
#              (default 3), SHARED (default ../shared)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$HERE/../shared}
WORK=${BENCH_WORK:-/tmp/wharf-bench-multiplatform}
RUNS=${RUNS:-3}
mkdir -p "$WORK"
# shellcheck source=bench/lib.sh
. "$HERE/bench/lib.sh"
podman_fixups "$WORK"
bench_need qemu-aarch64-static:qemu-user-static podman:podman
cargo build --release --quiet --manifest-path "$HERE/Cargo.toml" -p wharf
W="$HERE/target/release/wharf --root $WORK/root"

# The two rootfs tarballs: the host's busybox, and Debian's arm64 one.
busybox_tar "$WORK"
arm=$WORK/busybox-arm64
if [[ ! -x $arm ]]; then
  dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64 && apt-get update -qq; }
  dl=$(mktemp -d)
  (cd "$dl" && apt-get download -qq busybox-static:arm64)
  dpkg-deb -x "$dl"/busybox-static_*_arm64.deb "$dl/x" && cp "$dl/x/bin/busybox" "$arm" && rm -rf "$dl"
fi
r=$WORK/rootfs-arm64
if [[ ! -x $r/bin/busybox ]]; then
  mkdir -p "$r"/{bin,etc,proc,sys,dev,tmp}
  cp "$arm" "$r/bin/busybox"
  for a in $(/bin/busybox --list); do [[ $a == busybox ]] || ln -sf busybox "$r/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"; echo 'root:x:0:' >"$r/etc/group"
fi
tar -C "$r" --numeric-owner -cf "$WORK/bb-arm64.tar" .

# The same base in both tools: a manifest list of the two images.
if ! $W manifest inspect localhost/busybox-multi >/dev/null 2>&1; then
  $W import "$WORK/bb.tar" localhost/busybox-amd64 >/dev/null
  $W import --platform linux/arm64 "$WORK/bb-arm64.tar" localhost/busybox-arm64 >/dev/null
  $W manifest create localhost/busybox-multi localhost/busybox-amd64 localhost/busybox-arm64 >/dev/null
fi
if ! podman manifest exists localhost/busybox-multi 2>/dev/null; then
  podman import -q "$WORK/bb.tar" localhost/busybox-amd64 >/dev/null
  podman import -q --arch arm64 "$WORK/bb-arm64.tar" localhost/busybox-arm64 >/dev/null
  podman manifest create localhost/busybox-multi >/dev/null
  podman manifest add localhost/busybox-multi containers-storage:localhost/busybox-amd64 >/dev/null
  podman manifest add localhost/busybox-multi containers-storage:localhost/busybox-arm64 >/dev/null
fi

ctx=$WORK/ctx/tenstep
if [[ ! -d $ctx ]]; then
  mkdir -p "$(dirname "$ctx")" && cp -a "$SHARED/bench/dockerfiles/tenstep" "$ctx"
  sed -i 's|^FROM localhost/busybox$|FROM localhost/busybox-multi|' "$ctx/Dockerfile"
fi
P=linux/amd64,linux/arm64
tw=$(median "$RUNS" -- "$W build -q --no-cache --platform $P -t bench-multi $ctx")
tp=$(median "$RUNS" --prepare "podman manifest rm bench-multi >/dev/null 2>&1 || true" -- \
  "podman build -q --no-cache --platform $P --manifest bench-multi $ctx")

printf '\n%-26s %9s %9s %13s\n' case wharf podman wharf/podman
printf '%-26s %9s %9s %13s\n' "tenstep amd64+arm64 cold" "$tw" "$tp" "$(ratio "$tw" "$tp")"
echo "(seconds, medians of $RUNS; target: <= 1/2 of podman build --platform)"
