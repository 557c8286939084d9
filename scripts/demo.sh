#!/usr/bin/env bash
# The main job, as far as the story goes today: build wharf, make the local
# base images (no registry is reachable here), list them, run a container
# from the Python base, and read the example's Dockerfile exactly as
# BuildKit does, checked against the base it will be built on. (The builder
# issue turns this into build → run -p -d → curl.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet -p wharf
export WHARF=$PWD/target/release/wharf
"$WHARF" --version
echo "== local base images (cached rootfs tarballs; the first run debootstraps Python)"
scripts/base-images.sh busybox python
"$WHARF" images
echo "== examples/hello-flask/Dockerfile, as BuildKit's AST dump"
"$WHARF" dockerfile parse examples/hello-flask/Dockerfile
echo "== checked as 'wharf build --build-arg BASE=localhost/python' will read it"
"$WHARF" dockerfile check --build-arg BASE=localhost/python examples/hello-flask/Dockerfile
echo "== a container from it (foreground, removed on exit)"
"$WHARF" run --rm localhost/python python -c 'import platform; print("hello world! from Python", platform.python_version())'
echo "== the Python base image"
"$WHARF" image inspect --format '{{.Id}} {{.Os}}/{{.Architecture}} Cmd={{.Config.Cmd}}' localhost/python
"$WHARF" history localhost/python
