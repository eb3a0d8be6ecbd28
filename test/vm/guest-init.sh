#!/bin/busybox sh
# /init of the Sluice test guest (packed into the initramfs by vmrun).
#
# It mounts the host root read-only over 9p, puts tmpfs where the guest
# must write, mounts the writable work share at its host path, loads
# modules, reserves hugepages, then runs the command that vmrun wrote to
# WORKDIR/.vmrun/cmd chrooted into the host root. The exact exit status
# goes to WORKDIR/.vmrun/status; isa-debug-exit then stops QEMU:
#   byte 1 -> "status file written", byte 2 -> "init failed".
# Output: console (ttyS0) for the kernel and this script, ttyS1 for the
# command's stdout, ttyS2 for its stderr.

/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /mnt/host /mnt/work /keep
/bin/busybox --install -s /bin
export PATH=/bin:/sbin

ROOT=/mnt/host
CTL=/mnt/work/.vmrun

log() {
	echo "sluice-vm-init: $*"
}

# Tell QEMU to exit with (byte << 1) | 1.
debug_exit() {
	printf "\\$(printf %03o "$1")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
}

die() {
	echo "sluice-vm-init: FATAL: $*"
	debug_exit 2
	poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# The 9p modules (and their dependencies), in load order. The iommufd
# kernel has everything built in and ships none.
for m in /modules/*.ko; do
	[ -e "$m" ] || continue
	insmod "$m" || die "insmod $m failed"
done

P9OPTS=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$P9OPTS,ro,cache=loose" hostroot "$ROOT" || die "cannot mount the host root (9p tag hostroot)"
# The work share stays uncached: the host must see every write at once.
mount -t 9p -o "$P9OPTS" work /mnt/work || die "cannot mount the work directory (9p tag work)"
[ -r "$CTL/config" ] || die "$CTL/config missing"
. "$CTL/config"

# Paths under /tmp, /run or /var/tmp that must stay visible (the caller's
# cwd, the repository) would vanish under the tmpfs mounts: grab them first.
i=0
for p in $VM_KEEP_PATHS; do
	mkdir -p "/keep/$i"
	mount --bind "$ROOT$p" "/keep/$i" || die "cannot keep $p visible"
	i=$((i + 1))
done

for d in /tmp /run /var/tmp; do
	mount -t tmpfs -o mode=1777 tmpfs "$ROOT$d" || die "cannot mount tmpfs on $d"
done

i=0
for p in $VM_KEEP_PATHS; do
	mkdir -p "$ROOT$p" && mount --bind "/keep/$i" "$ROOT$p" || die "cannot re-attach $p"
	i=$((i + 1))
done

mount -t proc proc "$ROOT/proc"
mount -t sysfs sysfs "$ROOT/sys"
mount -t devtmpfs devtmpfs "$ROOT/dev"
mkdir -p "$ROOT/dev/pts" "$ROOT/dev/shm" "$ROOT/dev/hugepages"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$ROOT/dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$ROOT/dev/shm"
mount -t hugetlbfs hugetlbfs "$ROOT/dev/hugepages" || die "cannot mount hugetlbfs"
mount -t debugfs debugfs "$ROOT/sys/kernel/debug" 2>/dev/null

# The work directory appears at the same absolute path as on the host.
mkdir -p "$ROOT$VM_WORKDIR" || die "cannot create the mount point $VM_WORKDIR"
mount --bind /mnt/work "$ROOT$VM_WORKDIR" || die "cannot mount the work directory at $VM_WORKDIR"

# Modules: the kernel's whole module tree is a read-only 9p share; host's
# kmod (inside the chroot) loads from it through MODPROBE_OPTIONS=-d.
if [ -n "$VM_MODROOT" ]; then
	moddir="$ROOT$VM_MODROOT/lib/modules/$(uname -r)"
	mkdir -p "$moddir"
	mount -t 9p -o "$P9OPTS,ro,cache=loose" modules "$moddir" || die "cannot mount the module tree (9p tag modules)"
	# Modules the kernel asks for itself (crypto, nvme transports).
	printf '#!/bin/sh\nexec /bin/chroot %s /usr/sbin/modprobe -d %s "$@"\n' "$ROOT" "$VM_MODROOT" >/sbin/sl-modprobe
	chmod 755 /sbin/sl-modprobe
	echo /sbin/sl-modprobe >/proc/sys/kernel/modprobe
	# configfs first: the NVMe-oF target and null_blk are set up through it.
	for m in configfs $VM_MODULES; do
		chroot "$ROOT" /usr/sbin/modprobe -d "$VM_MODROOT" "$m" || die "modprobe $m failed"
	done
elif [ -n "$VM_MODULES" ]; then
	# A kernel without modules has them built in, or not at all.
	for m in $VM_MODULES; do
		[ -d "/sys/module/$(echo "$m" | tr - _)" ] || log "note: module $m not built in"
	done
fi
if grep -qw configfs /proc/filesystems; then
	mount -t configfs configfs "$ROOT/sys/kernel/config"
fi

# NVMe/TCP and everything else talk over the guest's own loopback.
ip link set lo up || die "cannot bring up lo"
hostname sluice-vm

if [ "${VM_HUGEPAGES:-0}" -gt 0 ]; then
	echo "$VM_HUGEPAGES" >/proc/sys/vm/nr_hugepages
	got=$(cat /proc/sys/vm/nr_hugepages)
	[ "$got" = "$VM_HUGEPAGES" ] || die "asked for $VM_HUGEPAGES hugepages, got $got (raise --mem)"
fi

log "running the command"
if [ "$VM_SHELL" = 1 ]; then
	stty -F /dev/ttyS0 sane rows "${VM_ROWS:-24}" cols "${VM_COLS:-80}"
	dmesg -n 1
	setsid -c chroot "$ROOT" /usr/bin/env -i /bin/sh "$VM_WORKDIR/.vmrun/cmd" \
		</dev/ttyS0 >/dev/ttyS0 2>&1
	rc=$?
else
	# Raw: bytes reach the host unchanged (no \n -> \r\n, no echo).
	stty -F /dev/ttyS1 raw -echo
	stty -F /dev/ttyS2 raw -echo
	chroot "$ROOT" /usr/bin/env -i /bin/sh "$VM_WORKDIR/.vmrun/cmd" \
		</dev/null >/dev/ttyS1 2>/dev/ttyS2
	rc=$?
fi
log "command exited with status $rc"

# Background leftovers would keep files and ports busy.
kill -9 -1 2>/dev/null
# tcsetattr(TCSADRAIN) returns once the UART has sent everything queued.
stty -F /dev/ttyS1 raw 2>/dev/null
stty -F /dev/ttyS2 raw 2>/dev/null

echo "$rc" >"$CTL/status"
sync
debug_exit 1
# Only reached without isa-debug-exit: vmrun still reads the status file.
poweroff -f
