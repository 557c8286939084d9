#!/usr/bin/env bash
# Runs every wharf test on a fresh Debian 12 machine: installs what the
# tests need, then the workspace's unit, conformance and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Python package `dockerfile` wraps BuildKit's own Go parser: the JSON
# output of `wharf dockerfile parse` is checked against it.
if ! python3 -c 'import dockerfile' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check dockerfile==3.4.0
fi
export WHARF_REQUIRE_ORACLE=1

cargo test --workspace --locked "$@"
