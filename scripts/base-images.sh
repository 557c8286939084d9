#!/usr/bin/env bash
# Makes the local base images that stand in for a registry here:
#   localhost/busybox  from Debian's busybox-static
#   localhost/python   from debootstrap --variant=minbase with python3, pip,
#                      python-is-python3 and ca-certificates (plus the host's
#                      CA bundle, so pip works through this machine's proxy;
#                      Debian's EXTERNALLY-MANAGED marker removed, so
#                      `pip install` works as in the official image)
# Each is imported with `wharf import`; the rootfs tarballs are cached in
# $WHARF_BASE_CACHE (default /var/cache/wharf-base) between runs.
#
# Usage: scripts/base-images.sh [busybox] [python]   (default: both)
# Environment: WHARF (the wharf binary, default target/release/wharf),
#              WHARF_ROOT (the store, as for wharf itself).
set -euo pipefail
cd "$(dirname "$0")/.."
WHARF=${WHARF:-target/release/wharf}
CACHE=${WHARF_BASE_CACHE:-/var/cache/wharf-base}
WANT=("$@")
[ ${#WANT[@]} -gt 0 ] || WANT=(busybox python)
mkdir -p "$CACHE"
PATHS='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

have_image() { "$WHARF" image inspect "$1" >/dev/null 2>&1; }

apt_install() {
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

busybox_image() {
    have_image localhost/busybox:latest && return 0
    local tarball=$CACHE/busybox-rootfs.tar
    if [ ! -f "$tarball" ]; then
        apt_install busybox-static
        local r
        r=$(mktemp -d)
        mkdir -p "$r"/{bin,etc,tmp,proc,sys,dev,root,var/www}
        cp /bin/busybox "$r/bin/busybox"
        for applet in $(/bin/busybox --list); do
            [ -e "$r/bin/$applet" ] || ln -s busybox "$r/bin/$applet"
        done
        echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
        echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >>"$r/etc/passwd"
        printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
        chmod 1777 "$r/tmp"
        tar -C "$r" --numeric-owner -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
        rm -rf "$r"
    fi
    "$WHARF" import -c 'CMD ["sh"]' -c "ENV $PATHS" "$tarball" localhost/busybox:latest
}

# The Debian mirror this machine's apt uses (no host is named here).
debian_mirror() {
    local uri
    uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
    [ -n "$uri" ] || uri=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
    [ -n "$uri" ] || { echo "no Debian mirror found in apt's sources" >&2; exit 1; }
    echo "$uri"
}

python_image() {
    have_image localhost/python:latest && return 0
    local tarball=$CACHE/python-rootfs.tar.gz
    if [ ! -f "$tarball" ]; then
        apt_install debootstrap
        local r
        r=$(mktemp -d /var/tmp/wharf-debootstrap.XXXXXX)
        debootstrap --variant=minbase --include=python3,python3-pip,python-is-python3,ca-certificates \
            bookworm "$r" "$(debian_mirror)"
        cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
        rm -f "$r"/usr/lib/python3*/EXTERNALLY-MANAGED
        rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*
        tar -C "$r" --numeric-owner -czf "$tarball.part" . && mv "$tarball.part" "$tarball"
        rm -rf "$r"
    fi
    "$WHARF" import -c 'CMD ["python3"]' -c "ENV $PATHS" -c 'ENV LANG=C.UTF-8' "$tarball" localhost/python:latest
}

for w in "${WANT[@]}"; do
    case $w in
    busybox) busybox_image ;;
    python) python_image ;;
    *) echo "unknown base image: $w" >&2; exit 2 ;;
    esac
done
