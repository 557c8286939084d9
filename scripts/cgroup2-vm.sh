#!/bin/sh
# Runs WORKDIR/script.sh on a pure cgroup v2 host: a small virtual machine
# booting Debian's kernel, whose root is this host's root shared read-only
# over 9p (so /tmp, where a checkout may live, is the host's, read-only),
# with tmpfs on /run, /var/tmp and /root and TMPDIR=/run/tmp,
# and cgroup2 alone on /sys/fs/cgroup with every controller enabled.
# WORKDIR itself is shared read-write at /mnt. The script's output comes
# out on the serial console (this script's stdout), followed by a line
# `wharf-vm-exit=N` with its exit code.
#
# Why a VM: this host is cgroup v1 hybrid, and a controller bound to a v1
# hierarchy cannot be moved to v2 while anything uses it, so pure v2 can
# only be had under another kernel.
#
#   scripts/cgroup2-vm.sh fetch      # download and unpack the kernel (apt)
#   scripts/cgroup2-vm.sh WORKDIR    # boot, run WORKDIR/script.sh, power off
set -eu

CACHE=${WHARF_VM_CACHE:-/var/cache/wharf-vm}

fetch() {
	if ls "$CACHE"/k/boot/vmlinuz-* >/dev/null 2>&1; then return; fi
	mkdir -p "$CACHE"
	# Stale package lists name a kernel the mirror no longer has: update once.
	download || { apt-get update -qq && download; }
}

download() {
	ver=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: linux-image-\(.*-amd64\)$/\1/p' | head -n1)
	[ -n "$ver" ] || return 1
	(cd "$CACHE" && rm -rf k ./*.deb && apt-get download "linux-image-$ver" 2>/dev/null &&
		dpkg-deb -x ./linux-image-*.deb k && rm -f ./*.deb)
}

# Kernel modules the init loads, in dependency order.
MODULES="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev
drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci fs/netfs/netfs fs/fscache/fscache
net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p fs/overlayfs/overlay"

initramfs() {
	dir=$1
	mods=$(ls -d "$CACHE"/k/lib/modules/*/ | head -n1)
	mkdir -p "$dir/bin" "$dir/mods" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/host"
	cp /bin/busybox "$dir/bin/busybox"
	for m in $MODULES; do cp "$mods/kernel/$m.ko" "$dir/mods/"; done
	cat >"$dir/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc && mount -t sysfs sysfs /sys && mount -t devtmpfs devtmpfs /dev
for m in $(for m in $MODULES; do basename "$m"; done | tr '\n' ' '); do insmod /mods/\$m.ko || echo "wharf-vm: insmod \$m failed"; done
o=trans=virtio,version=9p2000.L,msize=524288
mount -t 9p -o \$o,ro hostroot /host
for d in run var/tmp root; do mount -t tmpfs tmpfs /host/\$d; done
mkdir -p /host/run/tmp
mount -t 9p -o \$o work /host/mnt
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t cgroup2 cgroup2 /host/sys/fs/cgroup
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /host/dev/pts
mount -t tmpfs tmpfs /host/dev/shm
echo "+cpu +cpuset +io +memory +pids" >/host/sys/fs/cgroup/cgroup.subtree_control
# switch_root, not chroot: a chrooted process may not make user namespaces
# (the rootless part of the script makes them).
exec switch_root /host /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/run/tmp \
	/bin/sh -c '/bin/sh /mnt/script.sh; echo "wharf-vm-exit=\$?"; /bin/busybox poweroff -f'
EOF
	chmod 755 "$dir/init"
	(cd "$dir" && find . | busybox cpio -o -H newc 2>/dev/null) >"$dir.cpio"
}

boot() {
	work=$(cd "$1" && pwd)
	[ -f "$work/script.sh" ] || { echo "cgroup2-vm: $work/script.sh missing" >&2; exit 2; }
	kernel=$(ls "$CACHE"/k/boot/vmlinuz-* 2>/dev/null | head -n1)
	[ -n "$kernel" ] || { echo "cgroup2-vm: no kernel; run '$0 fetch'" >&2; exit 2; }
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	initramfs "$tmp/initrd"
	# Software emulation by default: nested KVM on this machine's kind hangs
	# early in boot, while TCG boots in about 2 s.
	accel=${WHARF_VM_ACCEL:-tcg}
	qemu-system-x86_64 -machine "q35,accel=$accel" -cpu max -smp 2 -m 2048 \
		-nodefaults -no-reboot -display none -monitor none -serial stdio \
		-kernel "$kernel" -initrd "$tmp/initrd.cpio" \
		-append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-virtfs "local,path=$work,mount_tag=work,security_model=none,multidevs=remap" </dev/null
}

case ${1:-} in
fetch) fetch ;;
"") echo "usage: $0 fetch | WORKDIR" >&2; exit 2 ;;
*) boot "$1" ;;
esac
