#!/usr/bin/env bash
# The main job, as far as the story goes today: build wharf and show how it
# reads the example's Dockerfile exactly as BuildKit does.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
wharf=target/release/wharf
"$wharf" --version
echo "== examples/hello-flask/Dockerfile, as BuildKit's AST dump"
"$wharf" dockerfile parse examples/hello-flask/Dockerfile
echo "== the same, as JSON"
"$wharf" dockerfile parse --format json examples/hello-flask/Dockerfile
