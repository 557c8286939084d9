#!/usr/bin/env bash
# The main job, the user's whole story: build wharf, make the local base
# images (no registry is reachable here), build examples/hello-flask on the
# Python base, list it, run it detached with a published port, wait for
# `curl http://localhost:5001/` to answer "hello world!", show ps and logs,
# then stop and remove it.
set -euo pipefail
cd "$(dirname "$0")/.."
# Build dependencies (libseccomp, and libelf/zlib for libbpf, for the
# embedded runtime; libisal, which gzips layers) and what the demo uses (iptables for NAT and published
# ports, curl).
need=()
for p in libseccomp-dev libelf-dev zlib1g-dev libisal-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
for c in pkg-config:pkg-config iptables:iptables curl:curl; do
    command -v "${c%%:*}" >/dev/null || need+=("${c##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
cargo build --release --locked --quiet -p wharf
export WHARF=$PWD/target/release/wharf
"$WHARF" --version
echo "== local base images (cached rootfs tarballs; the first run debootstraps Python)"
scripts/base-images.sh busybox python
echo "== wharf build -t python-hello-world --build-arg BASE=localhost/python examples/hello-flask"
"$WHARF" build --progress plain -t python-hello-world --build-arg BASE=localhost/python examples/hello-flask
echo "== wharf image ls"
"$WHARF" image ls
"$WHARF" rm -f hello-demo >/dev/null 2>&1 || true
echo "== wharf run -p 5001:5000 -d python-hello-world"
"$WHARF" run --name hello-demo -p 5001:5000 -d python-hello-world
cleanup() { "$WHARF" rm -f hello-demo >/dev/null 2>&1 || true; }
trap cleanup EXIT
answer=""
for _ in $(seq 1 100); do
    if answer=$(curl -fsS --max-time 2 http://localhost:5001/ 2>/dev/null); then
        break
    fi
    sleep 0.1
done
echo "== curl http://localhost:5001/"
echo "$answer"
echo "== wharf ps"
"$WHARF" ps
echo "== wharf logs hello-demo"
"$WHARF" logs hello-demo
echo "== wharf stop hello-demo && wharf rm hello-demo"
"$WHARF" stop hello-demo
"$WHARF" rm hello-demo
trap - EXIT
if [ "$answer" != "hello world!" ]; then
    echo "demo FAILED: expected 'hello world!', got '$answer'" >&2
    exit 1
fi
echo "demo OK"
