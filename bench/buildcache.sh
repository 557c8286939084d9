#!/usr/bin/env bash
# bench/buildcache.sh - the CI case of a shared build cache: a machine
# with an empty build cache builds tenstep and bigctx (../shared/bench/
# dockerfiles) with the cache another build pushed to a local registry
# (docker-registry on 127.0.0.1), in one run:
#   wharf:    --cache-to type=registry,ref=... once, then each measured run
#             on a fresh store (the base image loaded, nothing else) with
#             --cache-from type=registry,ref=...
#   BuildKit: the image built with BUILDKIT_INLINE_CACHE=1 and pushed once,
#             then each measured run after `builder prune -af` and removing
#             the image, with --cache-from of the pushed image (docker 20.10's
#             BuildKit, no buildx: inline is the registry cache it has).
# Prints medians and wharf/BuildKit ratios (target: <= 1/3).
#
# Usage (as root, from the repository):  bench/buildcache.sh
# Environment: BENCH_WORK (default /tmp/wharf-bench-buildcache), RUNS
#              (default 5), REG_PORT (default 5098), SHARED (default ../shared)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$HERE/../shared}
WORK=${BENCH_WORK:-/tmp/wharf-bench-buildcache}
RUNS=${RUNS:-5}
REG=127.0.0.1:${REG_PORT:-5098}
mkdir -p "$WORK"
# shellcheck source=bench/lib.sh
. "$HERE/bench/lib.sh"
bench_need docker-registry:docker-registry
cargo build --release --quiet --manifest-path "$HERE/Cargo.toml" -p wharf
WH="$HERE/target/release/wharf"
DOCKER=docker
[[ -x /usr/bin/docker ]] && DOCKER=/usr/bin/docker

busybox_tar "$WORK"
start_docker "$WORK"
((have_docker)) || { echo "dockerd is needed for the BuildKit side" >&2; exit 1; }

rm -rf "$WORK/registry" && mkdir -p "$WORK/registry"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
  "$WORK/registry" "$REG" >"$WORK/registry.yml"
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 & STARTED+=($!)
for _ in $(seq 50); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.2; done

# Machine A: the base image, saved so that every fresh store loads the
# very same image (its ID is the first cache key's input).
A="$WH --root $WORK/machine-a"
$A image inspect localhost/busybox >/dev/null 2>&1 || $A import "$WORK/bb.tar" localhost/busybox >/dev/null
$A save -o "$WORK/base.tar" localhost/busybox
$DOCKER image inspect localhost/busybox >/dev/null 2>&1 || $DOCKER import "$WORK/bb.tar" localhost/busybox >/dev/null

for c in tenstep bigctx; do
  bench_context "$SHARED" "$c" "$WORK/ctx/$c"
done

declare -A T
for c in tenstep bigctx; do
  ctx=$WORK/ctx/$c
  # Once: the cache made and shared.
  $A build -q -t "bench-$c" --cache-to "type=registry,ref=$REG/wharf-cache/$c:cache" "$ctx" >/dev/null
  DOCKER_BUILDKIT=1 $DOCKER build -q --build-arg BUILDKIT_INLINE_CACHE=1 -t "$REG/bk/$c:cache" "$ctx" >/dev/null
  $DOCKER push -q "$REG/bk/$c:cache" >/dev/null
  B="$WH --root $WORK/machine-b"
  T[$c,wharf]=$(median "$RUNS" \
    --prepare "rm -rf $WORK/machine-b && $B load -q -i $WORK/base.tar" -- \
    "$B build -q -t bench-$c --cache-from type=registry,ref=$REG/wharf-cache/$c:cache $ctx")
  T[$c,buildkit]=$(median "$RUNS" \
    --prepare "$DOCKER rmi -f $REG/bk/$c:cache bench-bk-$c >/dev/null 2>&1; $DOCKER builder prune -af >/dev/null" -- \
    "DOCKER_BUILDKIT=1 $DOCKER build -q --cache-from $REG/bk/$c:cache -t bench-bk-$c $ctx")
done
rm -rf "$WORK/machine-b"

printf '\n%-22s %9s %9s %15s\n' case wharf buildkit wharf/buildkit
for c in tenstep bigctx; do
  printf '%-22s %9s %9s %15s\n' "$c from registry" "${T[$c,wharf]}" "${T[$c,buildkit]}" \
    "$(ratio "${T[$c,wharf]}" "${T[$c,buildkit]}")"
done
echo "(seconds, medians of $RUNS; an empty build cache each run; target: <= 1/3 of BuildKit)"
