#!/usr/bin/env bash
# Prepare the machine for Sluice: reserve hugepages, mount hugetlbfs, bind
# NVMe controllers to vfio-pci.
#
#   scripts/setup.sh [config]   reserve HUGEMEM MiB of 2 MiB hugepages (default 1024),
#                               mount hugetlbfs on /dev/hugepages if none is mounted, and
#                               bind every NVMe controller (or those in PCI_ALLOWED) to
#                               vfio-pci; controllers with mounted filesystems, swap or
#                               holders are refused (exit status 1); PCI_BLOCKED skips some
#   scripts/setup.sh status     show hugepages, hugetlbfs mounts and NVMe controllers
#   scripts/setup.sh reset      give NVMe controllers back to the kernel driver and release
#                               the hugepages (CLEAR_HUGE=no keeps them)
#   scripts/setup.sh help
set -euo pipefail

HUGEMEM=${HUGEMEM:-1024}
HUGE_MNT=${HUGE_MNT:-/dev/hugepages}
HP_DIR=/sys/kernel/mm/hugepages/hugepages-2048kB

die() {
	echo "setup.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '2,14s/^# \{0,1\}//p' "$0"
}

hugetlbfs_mounts() {
	awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts
}

status() {
	local total free
	echo "Hugepages:"
	for d in /sys/kernel/mm/hugepages/hugepages-*; do
		[ -d "$d" ] || continue
		total=$(cat "$d/nr_hugepages")
		free=$(cat "$d/free_hugepages")
		printf "  %-10s total %6s  free %6s\n" "${d##*hugepages-}" "$total" "$free"
	done
	echo "hugetlbfs mounts:"
	hugetlbfs_mounts | sed 's/^/  /'
	[ -n "$(hugetlbfs_mounts)" ] || echo "  (none)"
	nvme_status
}

config() {
	local want have got
	[ "$(id -u)" -eq 0 ] || die "must run as root to reserve hugepages"
	[[ "$HUGEMEM" =~ ^[0-9]+$ ]] || die "HUGEMEM must be a number of MiB, got '$HUGEMEM'"
	[ -d "$HP_DIR" ] || die "this kernel offers no 2 MiB hugepages ($HP_DIR missing)"
	want=$(((HUGEMEM + 1) / 2))
	have=$(cat "$HP_DIR/nr_hugepages")
	if [ "$have" -lt "$want" ]; then
		echo "$want" >"$HP_DIR/nr_hugepages"
		got=$(cat "$HP_DIR/nr_hugepages")
		if [ "$got" -lt "$want" ]; then
			echo "setup.sh: asked for $want hugepages, the kernel gave $got" \
				"(memory fragmented? free some memory or reboot)" >&2
		fi
	fi
	if [ -z "$(hugetlbfs_mounts)" ]; then
		mkdir -p "$HUGE_MNT"
		mount -t hugetlbfs nodev "$HUGE_MNT" || die "cannot mount hugetlbfs on $HUGE_MNT"
	fi
	local rc=0
	bind_nvme || rc=1
	status
	return $rc
}

# ---- NVMe controllers and vfio-pci ----
PCI_DEVS=/sys/bus/pci/devices
NVME_CLASS=0x010802

pci_driver() {
	local l
	l=$(readlink "$PCI_DEVS/$1/driver" 2>/dev/null) || true
	echo "${l##*/}"
}

# NVMe controllers to act on, honouring PCI_ALLOWED and PCI_BLOCKED (BDFs, space separated).
nvme_bdfs() {
	local d bdf
	for d in "$PCI_DEVS"/*; do
		[ "$(cat "$d/class" 2>/dev/null)" = "$NVME_CLASS" ] || continue
		bdf=${d##*/}
		if [ -n "${PCI_ALLOWED:-}" ] && [[ " $PCI_ALLOWED " != *" $bdf "* ]]; then
			continue
		fi
		[[ " ${PCI_BLOCKED:-} " == *" $bdf "* ]] && continue
		echo "$bdf"
	done
}

# Why a controller must not be taken from the kernel (empty: it is free).
nvme_in_use() {
	local bdf=$1 blk name part
	for blk in "$PCI_DEVS/$bdf"/nvme/nvme*/nvme*n* "$PCI_DEVS/$bdf"/nvme/nvme*/ng*; do
		[ -e "$blk" ] || continue
		name=${blk##*/}
		[ -e "/sys/block/$name" ] || continue
		for part in "$name" $(ls "/sys/block/$name" | grep "^${name}p" || true); do
			if awk -v d="/dev/$part" '$1 == d { found = 1 } END { exit !found }' /proc/mounts; then
				echo "/dev/$part is mounted"
				return
			fi
			if awk -v d="/dev/$part" '$1 == d { found = 1 } END { exit !found }' /proc/swaps; then
				echo "/dev/$part is used as swap"
				return
			fi
			if [ -n "$(ls -A "/sys/class/block/$part/holders" 2>/dev/null)" ]; then
				echo "/dev/$part has holders: $(ls "/sys/class/block/$part/holders" | tr '\n' ' ')"
				return
			fi
		done
	done
}

bind_nvme() {
	local bdf drv why refused=0
	modprobe vfio-pci 2>/dev/null || true
	for bdf in $(nvme_bdfs); do
		drv=$(pci_driver "$bdf")
		[ "$drv" = vfio-pci ] && continue
		why=$(nvme_in_use "$bdf")
		if [ -n "$why" ]; then
			echo "setup.sh: refusing $bdf: $why" >&2
			refused=1
			continue
		fi
		echo vfio-pci >"$PCI_DEVS/$bdf/driver_override"
		if [ -n "$drv" ]; then
			echo "$bdf" >"$PCI_DEVS/$bdf/driver/unbind"
		fi
		echo "$bdf" >/sys/bus/pci/drivers_probe 2>/dev/null || true
		if [ "$(pci_driver "$bdf")" != vfio-pci ]; then
			echo "setup.sh: $bdf did not bind to vfio-pci (vfio-pci module missing? IOMMU" \
				"off?)" >&2
			refused=1
		else
			echo "$bdf (${drv:-no driver} -> vfio-pci)"
		fi
	done
	return $refused
}

unbind_nvme() {
	local bdf
	for bdf in $(nvme_bdfs); do
		[ "$(pci_driver "$bdf")" = vfio-pci ] || continue
		echo >"$PCI_DEVS/$bdf/driver_override"
		echo "$bdf" >"$PCI_DEVS/$bdf/driver/unbind"
		modprobe nvme 2>/dev/null || true
		echo "$bdf" >/sys/bus/pci/drivers_probe 2>/dev/null || true
		echo "$bdf (vfio-pci -> $(pci_driver "$bdf"))"
	done
}

nvme_status() {
	local bdf d group
	echo "NVMe controllers:"
	for d in "$PCI_DEVS"/*; do
		[ "$(cat "$d/class" 2>/dev/null)" = "$NVME_CLASS" ] || continue
		bdf=${d##*/}
		group=$(readlink "$d/iommu_group" 2>/dev/null) || group=none
		printf "  %-13s %s:%s  driver %-9s iommu group %-5s numa %s\n" "$bdf" \
			"$(cut -c3- "$d/vendor")" "$(cut -c3- "$d/device")" \
			"$(pci_driver "$bdf" | sed 's/^$/none/')" "${group##*/}" \
			"$(cat "$d/numa_node" 2>/dev/null || echo -1)"
	done
}

reset() {
	[ "$(id -u)" -eq 0 ] || die "must run as root"
	unbind_nvme
	if [ "${CLEAR_HUGE:-yes}" = yes ] && [ -d "$HP_DIR" ]; then
		echo 0 >"$HP_DIR/nr_hugepages" || true
	fi
	status
}

case "${1:-config}" in
config) config ;;
status) status ;;
reset) reset ;;
help | -h | --help) usage ;;
*)
	usage >&2
	exit 1
	;;
esac
