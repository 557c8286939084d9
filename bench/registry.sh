#!/usr/bin/env bash
# Push and pull of a ~200 MB three-layer image (the debootstrap Python base
# plus two layers) against a local CNCF distribution registry
# (docker-registry on 127.0.0.1), with wharf, skopeo, podman and docker in
# one run, and the ratios of wharf's medians to the fastest peer's.
#
# Cold, every run: each push goes to a registry started with empty
# storage (nothing to skip or mount) from a store that has never
# compressed the layers (wharf: a fresh root loaded from the archive;
# podman/skopeo: their blob-info cache deleted; docker keeps no compressed
# blobs). Each pull goes into an empty store (wharf: a fresh root; podman
# and skopeo: a fresh containers-storage root; docker: the image and its
# layers removed first) and counts until the image is unpacked, ready to run.
#
# Usage (as root): bench/registry.sh      Environment: RUNS (default 3),
#   REG_PORT (default 5099), WORK (default /tmp/wharf-bench-registry)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS=${RUNS:-3}
REG_PORT=${REG_PORT:-5099}
WORK=${WORK:-/tmp/wharf-bench-registry}
REG=127.0.0.1:$REG_PORT
W="$PWD/target/release/wharf"
mkdir -p "$WORK"

for t in skopeo podman docker-registry python3; do
  command -v "$t" >/dev/null || { echo "missing $t (apt-get install -y skopeo podman docker-registry)" >&2; exit 1; }
done
cargo build --release -q -p wharf
start_docker "$WORK"
podman_fixups "$WORK"
bench_need

# ---------------------------------------------------------------- the image
IMG=$WORK/img.tar
if [[ ! -f $IMG ]]; then
  base=$WORK/base-root
  WHARF=$W WHARF_ROOT=$base scripts/base-images.sh python >/dev/null
  ctx=$WORK/ctx
  mkdir -p "$ctx"
  head -c 16M /dev/urandom >"$ctx/data.bin"
  printf 'from flask import Flask\n' >"$ctx/app.py"
  printf 'FROM localhost/python\nCOPY data.bin /srv/data.bin\nCOPY app.py /app.py\n' >"$ctx/Dockerfile"
  "$W" --root "$base" build -q -t bench/img "$ctx" >/dev/null
  "$W" --root "$base" save -o "$IMG" bench/img
fi
echo "image: $(du -m "$IMG" | cut -f1) MB uncompressed, 3 layers" >&2

# ---------------------------------------------------------------- registry
REG_PID=
reg_start() {
  reg_stop
  rm -rf "$WORK/registry"
  mkdir -p "$WORK/registry"
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
    "$WORK/registry" "$REG" >"$WORK/registry.yml"
  docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
  REG_PID=$!
  STARTED+=("$REG_PID")
  for _ in $(seq 100); do curl -fsS "http://$REG/v2/" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "registry did not start" >&2; exit 1
}
reg_stop() {
  if [[ -n $REG_PID ]]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  REG_PID=
}
clear_blob_cache() { rm -f /var/lib/containers/cache/blob-info-cache-v1*; }

# time_cmd PREPARE COMMAND: seconds COMMAND took ("-" if it failed).
time_cmd() {
  eval "$1" >/dev/null 2>&1
  local t0 t1
  t0=$(date +%s.%N)
  if eval "$2" >"$WORK/last.log" 2>&1; then
    t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l
  else
    echo "FAILED: $2" >&2; sed 's/^/    /' "$WORK/last.log" | tail -5 >&2; echo -
  fi
}
median_of() { printf '%s\n' "$@" | { grep -v '^-$' || true; } | sort -g | awk '{a[NR]=$1} END {if (NR) printf "%.3f\n", a[int((NR+1)/2)]; else print "-"}'; }

# ---------------------------------------------------------------- loads
podman image exists bench/img 2>/dev/null || podman load -q -i "$IMG" >/dev/null
if ((have_docker)); then docker load -q -i "$IMG" >/dev/null; fi

declare -A PUSH PULL
for tool in wharf skopeo podman docker; do PUSH[$tool]=; PULL[$tool]=; done
for i in $(seq "$RUNS"); do
  repo=bench/r$i-$RANDOM
  reg_start
  PUSH[wharf]+=" $(time_cmd "$W --root $WORK/wroot$i load -q -i $IMG; $W --root $WORK/wroot$i tag bench/img $REG/$repo-wharf" \
    "$W --root $WORK/wroot$i push -q $REG/$repo-wharf")"
  reg_start
  PUSH[skopeo]+=" $(time_cmd clear_blob_cache "skopeo copy -q --dest-tls-verify=false docker-archive:$IMG docker://$REG/$repo-skopeo")"
  reg_start
  PUSH[podman]+=" $(time_cmd clear_blob_cache "podman push -q --tls-verify=false bench/img $REG/$repo-podman")"
  if ((have_docker)); then
    reg_start
    PUSH[docker]+=" $(time_cmd "docker tag bench/img $REG/$repo-docker" "docker push -q $REG/$repo-docker")"
    docker rmi -f "$REG/$repo-docker" >/dev/null 2>&1 || true
  fi
done

# Pulls: the image as skopeo pushed it (docker schema2, gzip), the same
# bytes for every tool.
reg_start
skopeo copy -q --dest-tls-verify=false "docker-archive:$IMG" "docker://$REG/bench/pull:latest"
if ((have_docker)); then docker rmi -f bench/img >/dev/null 2>&1 || true; fi
# Every run unpacks into a directory of its own, and nothing is deleted
# until the end: ext4 without a journal makes file creation slow for
# minutes after many deletions (it skips recently freed inodes: 60 s, 360 s
# while their inode-table block is dirty), which would tax whichever tool
# ran after a cleanup.
for i in $(seq "$RUNS"); do
  PULL[wharf]+=" $(time_cmd : "$W --root $WORK/wpull$i pull -q $REG/bench/pull:latest")"
  PULL[podman]+=" $(time_cmd : "podman --root $WORK/p-root$i --runroot $WORK/p-run$i --storage-driver overlay pull -q --tls-verify=false $REG/bench/pull:latest")"
  PULL[skopeo]+=" $(time_cmd : "skopeo copy -q --src-tls-verify=false docker://$REG/bench/pull:latest containers-storage:[overlay@$WORK/cs-root$i+$WORK/cs-run$i]bench/pull:latest")"
  if ((have_docker)); then
    PULL[docker]+=" $(time_cmd "docker rmi -f $REG/bench/pull:latest; docker image prune -f" "docker pull -q $REG/bench/pull:latest")"
  fi
done
if ((have_docker)); then docker rmi -f "$REG/bench/pull:latest" >/dev/null 2>&1 || true; fi
for i in $(seq "$RUNS"); do
  for s in p cs; do
    podman --root "$WORK/$s-root$i" --runroot "$WORK/$s-run$i" rmi -af >/dev/null 2>&1 || true
    rm -rf "$WORK/$s-root$i" "$WORK/$s-run$i"
  done
  rm -rf "$WORK/wpull$i" "$WORK/wroot$i"
done
reg_stop

printf '\n%-8s %10s %10s\n' tool "push s" "pull s"
declare -A MP ML
for tool in wharf skopeo podman docker; do
  # shellcheck disable=SC2086
  MP[$tool]=$(median_of ${PUSH[$tool]:-"-"}); ML[$tool]=$(median_of ${PULL[$tool]:-"-"})
  printf '%-8s %10s %10s    (runs: push%s / pull%s)\n' "$tool" "${MP[$tool]}" "${ML[$tool]}" "${PUSH[$tool]}" "${PULL[$tool]}"
done
best_push=$(best_of "${MP[skopeo]}" "${MP[podman]}" "${MP[docker]}")
best_pull=$(best_of "${ML[skopeo]}" "${ML[podman]}" "${ML[docker]}")
echo
echo "push: wharf / fastest peer = $(ratio "${MP[wharf]}" "$best_push")   (target <= 0.5)"
echo "pull: wharf / fastest peer = $(ratio "${ML[wharf]}" "$best_pull")   (target <= 0.333)"
