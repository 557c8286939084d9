#!/usr/bin/env bash
# bench/rootless.sh - wharf and podman as the same ordinary user (rootless
# both: wharf in its user namespace with slirp4netns, podman 4 with its
# own), in one run: `run --rm true` with the default network and with
# --network none; the tenstep build cold and cached; the time from
# `run -d -p` to the first HTTP answer on 127.0.0.1. Prints medians and
# ratios. bench/run.sh and bench/build.sh run their sections at the end.
#
# Usage (as root, from the repository):  bench/rootless.sh [run|build|all]
# Environment: BENCH_WORK (default /tmp/wharf-bench-rootless), RUNS
#              (default 10), BENCH_USER (default wharf-rl1: made, with
#              subordinate ranges, when missing), SHARED (default ../shared)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$HERE/../shared}
WORK=${BENCH_WORK:-/tmp/wharf-bench-rootless}
RUNS=${RUNS:-10}
U=${BENCH_USER:-wharf-rl1}
SECTION=${1:-all}
# shellcheck source=bench/lib.sh
. "$HERE/bench/lib.sh"
bench_need curl:curl slirp4netns:slirp4netns newuidmap:uidmap
cargo build --release --quiet --manifest-path "$HERE/Cargo.toml" -p wharf

id "$U" >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin "$U"
grep -q "^$U:" /etc/subuid || usermod --add-subuids 600000-665535 --add-subgids 600000-665535 "$U"
chmod 0666 /dev/net/tun # as Debian's udev rules make it
mkdir -p "$WORK"/{home,run,out} && chmod 755 "$WORK"
chown "$U:" "$WORK"/{home,run,out} && chmod 700 "$WORK/run"
install -m 755 "$HERE/target/release/wharf" "$WORK/wharf.new" && mv "$WORK/wharf.new" "$WORK/wharf"
busybox_tar "$WORK" && chmod 644 "$WORK/bb.tar"

# as_user SCRIPT: runs bash SCRIPT as the user, in a login-like
# environment of its own (HOME, XDG_RUNTIME_DIR, an ordinary PATH).
as_user() {
  runuser -u "$U" -- env -i HOME="$WORK/home" XDG_RUNTIME_DIR="$WORK/run" \
    PATH=/usr/local/bin:/usr/bin:/bin W="$WORK/wharf" CMD="${CMD:-}" IMG="${IMG:-}" bash -c "$1"
}
# umedian RUNS [hyperfine options...] -- COMMAND: median, hyperfine run
# as the user.
umedian() {
  local runs=$1; shift
  local opts=()
  while [[ $1 != -- ]]; do opts+=("$1"); shift; done
  shift
  local json=$WORK/out/h.json
  rm -f "$json"
  if CMD="$*" as_user "hyperfine --style none --runs $runs ${opts[*]} --export-json $json -- \"\$CMD\"" >/dev/null 2>&1; then
    python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["results"][0]["median"])' "$json"
  else
    echo "-"
  fi
}
# first_answer TOOL IMAGE: median seconds from `run -d -p` to the first
# HTTP answer on 127.0.0.1 (the container removed after each).
first_answer() {
  CMD="$1" IMG="$2" as_user '
    port=18780; times=()
    for i in $(seq '"$RUNS"'); do
      t0=$EPOCHREALTIME
      id=$($CMD run -d -p $port:80 $IMG httpd -f -p 80 -h /etc 2>/dev/null) || exit 1
      until curl -sf -m 1 http://127.0.0.1:$port/passwd >/dev/null; do :; done
      t1=$EPOCHREALTIME
      $CMD rm -f "$id" >/dev/null
      times+=("$(echo "$t1 - $t0" | bc)")
    done
    printf "%s\n" "${times[@]}" | sort -n | awk "{a[NR]=\$1} END {printf \"%.4f\n\", a[int((NR+1)/2)]}"' 2>/dev/null || echo "-"
}

as_user '$W image inspect benchbb >/dev/null 2>&1 || $W import -c "ENV PATH=/bin" '"$WORK/bb.tar"' benchbb >/dev/null'
as_user 'podman image exists localhost/benchbb || podman import -q -c "ENV PATH=/bin" '"$WORK/bb.tar"' localhost/benchbb >/dev/null' 2>/dev/null

declare -A T
printf '\n%-40s %9s %9s %9s\n' "rootless (as $U)" wharf podman wharf/podman
if [[ $SECTION == run || $SECTION == all ]]; then
  T[w_bridge]=$(umedian "$RUNS" --warmup 2 -- '$W run --rm benchbb true')
  T[p_bridge]=$(umedian "$RUNS" --warmup 2 -- 'podman run --rm localhost/benchbb true')
  T[w_none]=$(umedian "$RUNS" --warmup 2 -- '$W run --rm --network none benchbb true')
  T[p_none]=$(umedian "$RUNS" --warmup 2 -- 'podman run --rm --network none localhost/benchbb true')
  T[w_port]=$(first_answer "$WORK/wharf" benchbb)
  T[p_port]=$(first_answer podman localhost/benchbb)
  printf '%-40s %9s %9s %9s\n' "run --rm true (default network)" "${T[w_bridge]}" "${T[p_bridge]}" "$(ratio "${T[w_bridge]}" "${T[p_bridge]}")"
  printf '%-40s %9s %9s %9s\n' "run --rm true (--network none)" "${T[w_none]}" "${T[p_none]}" "$(ratio "${T[w_none]}" "${T[p_none]}")"
  printf '%-40s %9s %9s %9s\n' "run -d -p: first answer on 127.0.0.1" "${T[w_port]}" "${T[p_port]}" "$(ratio "${T[w_port]}" "${T[p_port]}")"
fi
if [[ $SECTION == build || $SECTION == all ]]; then
  as_user '$W tag benchbb localhost/busybox'
  as_user 'podman tag localhost/benchbb localhost/busybox' 2>/dev/null
  for t in wharf podman; do
    rm -rf "$WORK/ctx-$t" && bench_context "$SHARED" tenstep "$WORK/ctx-$t/tenstep"
    chown -R "$U:" "$WORK/ctx-$t"
  done
  T[w_cold]=$(umedian 3 -- "\$W build -q --no-cache -t rl-tenstep $WORK/ctx-wharf/tenstep")
  T[p_cold]=$(umedian 3 -- "podman build -q --no-cache -t rl-tenstep $WORK/ctx-podman/tenstep")
  T[w_cached]=$(umedian "$RUNS" --warmup 1 -- "\$W build -q -t rl-tenstep $WORK/ctx-wharf/tenstep")
  T[p_cached]=$(umedian "$RUNS" --warmup 1 -- "podman build -q -t rl-tenstep $WORK/ctx-podman/tenstep")
  printf '%-40s %9s %9s %9s\n' "build tenstep cold (--no-cache)" "${T[w_cold]}" "${T[p_cold]}" "$(ratio "${T[w_cold]}" "${T[p_cold]}")"
  printf '%-40s %9s %9s %9s\n' "build tenstep cached" "${T[w_cached]}" "${T[p_cached]}" "$(ratio "${T[w_cached]}" "${T[p_cached]}")"
fi
echo "(seconds, medians; targets: run --rm <= 0.25, builds <= 0.5, -p first answer <= 0.33 of rootless podman)"
# What a user's wharf and podman leave running (pause processes, slirp4netns).
pkill -u "$U" -f "__wharf-userns-pause|slirp4netns|podman pause|catatonit" 2>/dev/null || true
