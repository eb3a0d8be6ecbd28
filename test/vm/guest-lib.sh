# shellcheck shell=bash
# Helpers for scripts that run inside a vmrun guest. Source it:
#     . "$SL_VM_LIB"        (vmrun exports SL_VM_LIB=<this file>)
# Functions print results on stdout, diagnostics on stderr, and return
# non-zero on failure; nothing here calls exit. They work with and without
# `set -euo pipefail` in the calling script.

# How long helpers wait for asynchronous kernel work (device probe,
# namespace scan). Generous: TCG speed varies with host load.
: "${VM_WAIT_SECS:=60}"

vm_log() {
	echo "guest: $*" >&2
}

vm_fail() {
	echo "guest: FAIL: $*" >&2
	return 1
}

# vm_wait_for DESCRIPTION COMMAND...: poll COMMAND until it succeeds.
vm_wait_for() {
	local what=$1 end=$((SECONDS + VM_WAIT_SECS))
	shift
	until "$@" 2>/dev/null; do
		# A deadline on the clock, not a count of tries: under TCG one
		# try (a few forks) can take longer than the sleep between tries.
		[ $SECONDS -lt $end ] || vm_fail "timed out after ${VM_WAIT_SECS}s waiting for $what" || return 1
		sleep 0.1
	done
}

# vm_modprobe MODULE...: load modules; a no-op for built-in drivers and on
# the iommufd kernel, which has no module support at all.
vm_modprobe() {
	[ -e /proc/modules ] || return 0
	local m
	for m in "$@"; do
		modprobe "$m" || vm_fail "modprobe $m" || return 1
	done
}

# ---- PCI / VFIO

# vm_nvme_bdfs: BDFs of QEMU's emulated NVMe controllers (1b36:0010), sorted.
vm_nvme_bdfs() {
	local d
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = 0x1b36 ] && [ "$(cat "$d/device")" = 0x0010 ]; then
			basename "$d"
		fi
	done | sort
}

# vm_pci_driver BDF: name of the driver bound to BDF (empty if none).
vm_pci_driver() {
	local link=/sys/bus/pci/devices/$1/driver
	[ -e "$link" ] && basename "$(readlink "$link")"
	return 0
}

# vm_bind_vfio BDF: hand the device to vfio-pci (unbinding e.g. nvme first).
vm_bind_vfio() {
	local bdf=$1 dev=/sys/bus/pci/devices/$1
	[ -d "$dev" ] || vm_fail "no PCI device $bdf" || return 1
	vm_modprobe vfio-pci || return 1
	[ "$(vm_pci_driver "$bdf")" = vfio-pci ] && return 0
	if [ -e "$dev/driver" ]; then
		echo "$bdf" >"$dev/driver/unbind" || vm_fail "unbind $bdf" || return 1
	fi
	# driver_override beats ID tables: no other driver can grab it now.
	echo vfio-pci >"$dev/driver_override" || return 1
	echo "$bdf" >/sys/bus/pci/drivers_probe || vm_fail "vfio-pci probe of $bdf" || return 1
	[ "$(vm_pci_driver "$bdf")" = vfio-pci ] ||
		vm_fail "$bdf is bound to '$(vm_pci_driver "$bdf")', not vfio-pci"
}

# vm_bind_kernel BDF [DRIVER]: give the device back to a kernel driver
# (default: whatever matches its IDs, i.e. nvme for an NVMe controller).
vm_bind_kernel() {
	local bdf=$1 drv=${2:-} dev=/sys/bus/pci/devices/$1
	if [ -e "$dev/driver" ]; then
		echo "$bdf" >"$dev/driver/unbind"
	fi
	echo "$drv" >"$dev/driver_override"
	if [ -n "$drv" ]; then
		vm_modprobe "$drv" || return 1
	fi
	echo "$bdf" >/sys/bus/pci/drivers_probe
	[ -n "$(vm_pci_driver "$bdf")" ] || vm_fail "no driver took $bdf"
}

# vm_vfio_group BDF: the device's IOMMU group number (/dev/vfio/<group>).
vm_vfio_group() {
	local link=/sys/bus/pci/devices/$1/iommu_group
	[ -e "$link" ] || vm_fail "$1 has no IOMMU group (no IOMMU?)" || return 1
	basename "$(readlink "$link")"
}

# vm_vfio_cdev BDF: the device's VFIO cdev, /dev/vfio/devices/vfioN
# (only on kernels with CONFIG_VFIO_DEVICE_CDEV, i.e. --kernel iommufd).
vm_vfio_cdev() {
	local d
	for d in /sys/bus/pci/devices/"$1"/vfio-dev/vfio*; do
		[ -e "$d" ] && echo "/dev/vfio/devices/$(basename "$d")" && return 0
	done
	vm_fail "$1 has no VFIO cdev (kernel without VFIO_DEVICE_CDEV, or not bound to vfio-pci)"
}

# ---- NVMe

# vm_nvme_ctrl CTRL_OR_NQN_OR_BDF: the controller's name (nvmeX). Accepts
# nvmeX, /dev/nvmeX, a PCI BDF, or a subsystem NQN (first controller).
# Waits (up to VM_WAIT_SECS) until that controller exists and is live, so
# that its attributes (serial, model, subsysnqn) are valid.
vm_nvme_ctrl() {
	local ctrl end=$((SECONDS + VM_WAIT_SECS))
	while :; do
		ctrl=$(_vm_nvme_find_ctrl "${1#/dev/}")
		if [ -n "$ctrl" ] && [ "$(cat "/sys/class/nvme/$ctrl/state" 2>/dev/null)" = live ]; then
			echo "$ctrl"
			return 0
		fi
		[ $SECONDS -lt $end ] || break
		sleep 0.1
	done
	vm_fail "no live NVMe controller matches '$1'${ctrl:+ ($ctrl is $(cat "/sys/class/nvme/$ctrl/state" 2>/dev/null))}"
}

_vm_nvme_find_ctrl() {
	local arg=$1 c
	case $arg in
	nvme[0-9]*)
		[ -e "/sys/class/nvme/$arg" ] && echo "$arg"
		return 0
		;;
	[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f].[0-7] | \
		[0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f].[0-7])
		[ ${#arg} = 7 ] && arg=0000:$arg
		for c in /sys/bus/pci/devices/"$arg"/nvme/nvme*; do
			[ -e "$c" ] && basename "$c" && return 0
		done
		return 0
		;;
	esac
	for c in /sys/class/nvme/nvme*; do
		[ -e "$c" ] && [ "$(cat "$c/subsysnqn")" = "$arg" ] && basename "$c" && return 0
	done
	return 0
}

# vm_nvme_blockdev_by_nsid CTRL_OR_NQN NSID: /dev/nvmeXnY of that namespace.
# Device names depend on probe order and on native multipath (nvmeSnN is
# named after the subsystem there), so match the NQN and the nsid instead.
vm_nvme_blockdev_by_nsid() {
	local want=$1 nsid=$2 nqn ctrl b end=$((SECONDS + VM_WAIT_SECS))
	case $want in
	nqn.*) nqn=$want ;;  # every NQN starts with "nqn."
	*)
		ctrl=$(vm_nvme_ctrl "$want") || return 1
		nqn=$(cat "/sys/class/nvme/$ctrl/subsysnqn")
		;;
	esac
	while :; do
		for b in /sys/block/nvme*; do
			# Skip the hidden per-path disks (nvmeXcYnZ) of native multipath.
			[ -b "/dev/$(basename "$b")" ] && [ -e "$b/nsid" ] || continue
			[ "$(cat "$b/nsid")" = "$nsid" ] || continue
			# device/ is the subsystem (multipath head) or the controller.
			[ "$(cat "$b/device/subsysnqn" 2>/dev/null)" = "$nqn" ] || continue
			echo "/dev/$(basename "$b")"
			return 0
		done
		[ $SECONDS -lt $end ] || break
		sleep 0.1
	done
	vm_fail "no block device for nsid $nsid of $nqn"
}

# vm_nvmet_tcp_export NQN BLOCKDEV [PORT [NSID]]: export BLOCKDEV through the
# Linux kernel NVMe-oF target on 127.0.0.1:PORT (default 4420), any host.
vm_nvmet_tcp_export() {
	local nqn=$1 bdev=$2 port=${3:-4420} nsid=${4:-1}
	local cfs=/sys/kernel/config/nvmet sub ns pdir
	[ -b "$bdev" ] || vm_fail "$bdev is not a block device" || return 1
	vm_modprobe nvmet nvmet-tcp || return 1
	if ! grep -q " /sys/kernel/config configfs" /proc/mounts; then
		mount -t configfs configfs /sys/kernel/config || return 1
	fi
	[ -d "$cfs" ] || vm_fail "$cfs missing" || return 1
	sub=$cfs/subsystems/$nqn
	mkdir -p "$sub" || return 1
	echo 1 >"$sub/attr_allow_any_host"
	ns=$sub/namespaces/$nsid
	mkdir -p "$ns" || return 1
	echo -n "$bdev" >"$ns/device_path"
	echo 1 >"$ns/enable" || vm_fail "cannot enable namespace $nsid ($bdev)" || return 1
	# One configfs port per TCP port; its id is the port number itself.
	pdir=$cfs/ports/$port
	if [ ! -d "$pdir" ]; then
		mkdir "$pdir" || return 1
		echo tcp >"$pdir/addr_trtype"
		echo ipv4 >"$pdir/addr_adrfam"
		echo 127.0.0.1 >"$pdir/addr_traddr"
		echo "$port" >"$pdir/addr_trsvcid"
	fi
	[ -e "$pdir/subsystems/$nqn" ] || ln -s "$sub" "$pdir/subsystems/$nqn" ||
		vm_fail "cannot open port $port for $nqn"
}

# vm_nvmet_unexport NQN: take the subsystem down again (ports left empty go too).
vm_nvmet_unexport() {
	local nqn=$1 cfs=/sys/kernel/config/nvmet p ns
	for p in "$cfs"/ports/*; do
		[ -L "$p/subsystems/$nqn" ] || continue
		rm "$p/subsystems/$nqn"
		if [ -z "$(ls "$p/subsystems")" ]; then
			rmdir "$p"
		fi
	done
	for ns in "$cfs/subsystems/$nqn"/namespaces/*; do
		[ -d "$ns" ] || continue
		echo 0 >"$ns/enable"
		rmdir "$ns"
	done
	rmdir "$cfs/subsystems/$nqn"
}

# vm_nvme_connect_tcp NQN [ADDR [PORT [NVME-CONNECT-ARGS...]]]: connect the
# kernel NVMe/TCP host with nvme-cli; prints the controller name (nvmeX)
# once it is live. Without extra arguments the keep-alive timeout is 30 s
# rather than 5: a host busy with other work slows TCG guests unevenly.
vm_nvme_connect_tcp() {
	local nqn=$1 addr=${2:-127.0.0.1} port=${3:-4420}
	shift 3 2>/dev/null || shift $#
	[ $# -gt 0 ] || set -- --keep-alive-tmo=30
	vm_modprobe nvme-tcp || return 1
	nvme connect -t tcp -a "$addr" -s "$port" -n "$nqn" "$@" >&2 ||
		vm_fail "nvme connect -t tcp -a $addr -s $port -n $nqn $*" || return 1
	vm_nvme_ctrl "$nqn"
}

# vm_nvme_disconnect NQN: disconnect every controller of that subsystem.
vm_nvme_disconnect() {
	nvme disconnect -n "$1" >&2 || vm_fail "nvme disconnect -n $1"
}

# ---- data checks

# vm_fio_verify BLOCKDEV_OR_FILE [SIZE [extra fio args...]]: random writes
# then a read-back verify with crc32c checksums; returns fio's status.
vm_fio_verify() {
	local target=$1 size=${2:-16M}
	shift 2 2>/dev/null || shift $#
	local rc=0
	# fio would happily create a regular file in /dev for a missing device.
	case $target in
	/dev/*) [ -b "$target" ] || vm_fail "$target is not a block device" || return 1 ;;
	esac
	fio --name=sl-verify --filename="$target" --size="$size" \
		--ioengine=libaio --direct=1 --rw=randwrite --bs=4k --iodepth=16 \
		--verify=crc32c --do_verify=1 --verify_fatal=1 --randrepeat=0 \
		--output-format=terse --terse-version=3 "$@" >/tmp/sl-fio.out 2>&1 || rc=$?
	# terse v3: field 5 is the job's error code.
	if [ $rc -ne 0 ] || [ "$(grep '^3;' /tmp/sl-fio.out | cut -d';' -f5)" != 0 ]; then
		cat /tmp/sl-fio.out >&2
		vm_fail "fio verify on $target (exit $rc)"
		return 1
	fi
	vm_log "fio write+verify (crc32c) of $size on $target passed"
}

# vm_hugepages: number of reserved 2 MiB hugepages.
vm_hugepages() {
	cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
}
