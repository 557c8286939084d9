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
command -v runc >/dev/null || need+=(runc)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v tar >/dev/null || need+=(tar)
command -v dockerd >/dev/null || need+=(docker.io containerd)
# docker-compose 1.29 (on Debian's own docker-py) drives the API server.
command -v docker-compose >/dev/null || need+=(docker-compose)
# Container networking (iptables; ip for the tests' own namespaces) and the demo test's Python base
# (debootstrap; curl for the README demo).
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v curl >/dev/null || need+=(curl)
command -v ps >/dev/null || need+=(procps)
[ -x /usr/bin/tini-static ] || need+=(tini)
# The registry tests start their own CNCF distribution registries (Debian's
# docker-registry) on 127.0.0.1, some behind htpasswd auth.
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v openssl >/dev/null || need+=(openssl)
# ADD of a git repository runs git (as BuildKit does); its test serves a
# repository with `git daemon` on 127.0.0.1.
command -v git >/dev/null || need+=(git)
# The embedded runtime (libcontainer) links libseccomp, and builds libbpf
# (cgroup v2 device rules), which needs libelf and zlib.
dpkg -s libseccomp-dev >/dev/null 2>&1 || need+=(libseccomp-dev)
dpkg -s libelf-dev >/dev/null 2>&1 || need+=(libelf-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need+=(zlib1g-dev)
# Layers are gzipped with ISA-L (Debian's libisal).
dpkg -s libisal-dev >/dev/null 2>&1 || need+=(libisal-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
# The cgroup v2 test boots Debian's kernel in qemu (this host is v1 hybrid).
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
# Foreign platforms run under qemu's user-mode emulators; the arm64 tests'
# base is Debian's busybox-static for arm64 (downloaded, not installed).
[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
# Rootless: subordinate IDs (newuidmap/newgidmap), user-mode networking.
command -v newuidmap >/dev/null || need+=(uidmap)
command -v slirp4netns >/dev/null || need+=(slirp4netns)
command -v setpriv >/dev/null || need+=(util-linux)
command -v fuse-overlayfs >/dev/null || need+=(fuse-overlayfs)
command -v crun >/dev/null || need+=(crun)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
arm64_busybox=/var/cache/wharf-tests/busybox-arm64
if [ ! -x "$arm64_busybox" ]; then
    dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64 && apt-get update -qq; }
    dl=$(mktemp -d)
    (cd "$dl" && apt-get download -qq busybox-static:arm64)
    dpkg-deb -x "$dl"/busybox-static_*_arm64.deb "$dl/x"
    mkdir -p "$(dirname "$arm64_busybox")" && cp "$dl/x/bin/busybox" "$arm64_busybox"
    rm -rf "$dl"
fi
export WHARF_ARM64_BUSYBOX=$arm64_busybox
# The rootless tests' users, each with its own subordinate ranges (as
# `useradd` gives a new user on Debian; made explicit here).
start=400000
for u in wharf-rl1 wharf-rl2; do
    id "$u" >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin "$u"
    if ! grep -q "^$u:" /etc/subuid || ! grep -q "^$u:" /etc/subgid; then
        usermod --add-subuids "$start-$((start + 65535))" --add-subgids "$start-$((start + 65535))" "$u"
    fi
    start=$((start + 100000))
done
# slirp4netns opens /dev/net/tun as the user: Debian's udev rules make it
# 0666; a machine without udev (this one) leaves it 0600.
[ -c /dev/net/tun ] && chmod 0666 /dev/net/tun
[ -c /dev/fuse ] && chmod 0666 /dev/fuse
export WHARF_REQUIRE_PEERS=1
scripts/cgroup2-vm.sh fetch

# A docker daemon for the docker interop tests (save/load both ways),
# started by hand with its own data root and stopped on exit.
started=()
cleanup() { for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
if ! docker info >/dev/null 2>&1; then
    work=$(mktemp -d /tmp/wharf-test-docker.XXXXXX)
    if [ ! -S /run/containerd/containerd.sock ]; then
        containerd >"$work/containerd.log" 2>&1 & started+=($!)
        for _ in $(seq 50); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.2; done
    fi
    dockerd --containerd=/run/containerd/containerd.sock --data-root "$work/data" >"$work/dockerd.log" 2>&1 & started+=($!)
    for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.3; done
fi
if docker info >/dev/null 2>&1; then
    export WHARF_REQUIRE_DOCKER=1
else
    echo "warning: dockerd did not start; the docker interop test will be skipped" >&2
fi

# The Python package `dockerfile` wraps BuildKit's own Go parser: the JSON
# output of `wharf dockerfile parse` is checked against it.
if ! python3 -c 'import dockerfile' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check dockerfile==3.4.0
fi
# docker-py, a client of wharf's Engine API in the tests.
if ! python3 -c 'import docker' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check docker==7.1.0
fi
# testcontainers-python, another client of the API in the tests.
if ! python3 -c 'import testcontainers' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check testcontainers==4.15.0
fi
export WHARF_REQUIRE_ORACLE=1

cargo test --workspace --locked "$@"

# The engine's rules are unit-tested on a fake host (engine::host), with
# no root: its unit tests run again as an unprivileged user to keep it so.
engine_tests=$(cargo test -p engine --lib --locked --no-run --message-format=json 2>/dev/null |
    python3 -c 'import sys, json; [print(m["executable"]) for m in map(json.loads, sys.stdin) if m.get("executable")]' | tail -1)
unprivileged=$(mktemp -d /tmp/wharf-unprivileged.XXXXXX)
install -m 755 "$engine_tests" "$unprivileged/engine-tests"
chmod 755 "$unprivileged"
(cd "$unprivileged" && setpriv --reuid=65534 --regid=65534 --clear-groups ./engine-tests -q)
rm -rf "$unprivileged"
