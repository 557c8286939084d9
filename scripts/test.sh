#!/usr/bin/env bash
# Runs every wharf test on a fresh Debian 12 machine: installs what the
# tests need, then the workspace's unit, conformance and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Peers for the interoperability tests, and busybox-static for test rootfs
# tarballs (no container registry is reachable here).
need=()
command -v podman >/dev/null || need+=(podman)
command -v skopeo >/dev/null || need+=(skopeo)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v tar >/dev/null || need+=(tar)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
export WHARF_REQUIRE_PEERS=1

# The Python package `dockerfile` wraps BuildKit's own Go parser: the JSON
# output of `wharf dockerfile parse` is checked against it.
if ! python3 -c 'import dockerfile' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check dockerfile==3.4.0
fi
export WHARF_REQUIRE_ORACLE=1

cargo test --workspace --locked "$@"
