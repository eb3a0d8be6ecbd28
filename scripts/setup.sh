#!/usr/bin/env bash
# Prepare the machine for Sluice: hand NVMe controllers to vfio-pci, reserve
# hugepages and mount hugetlbfs.
#
#   scripts/setup.sh [config]   bind NVMe controllers (PCI class 0x010802) to vfio-pci,
#                               reserve HUGEMEM MiB of 2 MiB hugepages (default 1024)
#                               and mount hugetlbfs on /dev/hugepages if none is mounted
#   scripts/setup.sh status     list the NVMe controllers (BDF, vendor:device, driver,
#                               IOMMU group, NUMA node, block devices) and the hugepages
#   scripts/setup.sh reset      give the controllers back to their kernel driver (nvme)
#                               and release the hugepages (CLEAR_HUGE=no keeps them)
#   scripts/setup.sh help
#
# Environment:
#   PCI_ALLOWED="BDF ..."   only these controllers (default: every NVMe controller)
#   PCI_BLOCKED="BDF ..."   never these. BDFs like 0000:00:04.0 (00:04.0 means domain 0)
#   HUGEMEM, HUGE_MNT, CLEAR_HUGE   as above
#
# config leaves alone, with a message naming the cause, any controller with a
# namespace (or a partition of one) that is mounted, used as swap or held by
# another block device (device-mapper, md, ...); the other controllers are
# still bound. Binding is done through driver_override and needs an active
# IOMMU: vfio-pci's unsafe no-IOMMU mode is never used. vfio-pci is loaded
# with modprobe when it is not loaded yet. config and reset need root.
#
# Exit status: 0 done (controllers found in use are skipped with a message);
# 1 error: bad usage, not root, no IOMMU, vfio-pci cannot be loaded, no
# hugepages on this kernel, hugetlbfs cannot be mounted; 2 partly done: a
# controller could not be bound or given back, or one named in PCI_ALLOWED
# does not exist, is not an NVMe controller or is in use.
set -euo pipefail

HUGEMEM=${HUGEMEM:-1024}
HUGE_MNT=${HUGE_MNT:-/dev/hugepages}
HP_DIR=/sys/kernel/mm/hugepages/hugepages-2048kB
PCI_DEVS=/sys/bus/pci/devices
NVME_CLASS=0x010802

die() {
	echo "setup.sh: $*" >&2
	exit 1
}

warn() {
	echo "setup.sh: $*" >&2
}

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

# Exit status of config/reset: 1 (a whole step failed) outranks 2 (partly done).
rc=0
allowed=()
selected=()
set_rc() {
	if [ "$rc" != 1 ]; then
		rc=$1
	fi
}

# ---- PCI devices

# norm_bdf ADDR: the full lower-case BDF (domain 0000 added), or fail.
norm_bdf() {
	local b=${1,,}
	if [[ $b =~ ^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]]; then
		b=0000:$b
	fi
	[[ $b =~ ^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]] || return 1
	echo "$b"
}

# parse_list NAME ARRAY: the BDFs of the environment variable NAME (separated
# by blanks or commas) into ARRAY, normalised; dies on anything else.
parse_list() {
	local -n out=$2
	local v=${!1:-} w b
	out=()
	for w in ${v//,/ }; do
		b=$(norm_bdf "$w") || die "$1: '$w' is not a PCI address (like 0000:00:04.0)"
		out+=("$b")
	done
}

in_list() {
	local x=$1 y
	shift
	for y in "$@"; do
		if [ "$x" = "$y" ]; then
			return 0
		fi
	done
	return 1
}

is_nvme() {
	[ -e "$PCI_DEVS/$1/class" ] && [ "$(<"$PCI_DEVS/$1/class")" = "$NVME_CLASS" ]
}

# nvme_bdfs: every NVMe controller of the machine, sorted.
nvme_bdfs() {
	local d
	for d in "$PCI_DEVS"/*; do
		if is_nvme "${d##*/}"; then
			echo "${d##*/}"
		fi
	done | sort
}

pci_driver() {
	local link=$PCI_DEVS/$1/driver
	if [ -e "$link" ]; then
		basename "$(readlink "$link")"
	fi
}

iommu_group() {
	local link=$PCI_DEVS/$1/iommu_group
	if [ -e "$link" ]; then
		basename "$(readlink "$link")"
	fi
}

pci_ids() {
	local d=$PCI_DEVS/$1 v dv
	v=$(<"$d/vendor")
	dv=$(<"$d/device")
	echo "${v#0x}:${dv#0x}"
}

# nvme_disks BDF: the block devices (nvmeXnY) of the controller's namespaces.
# With native multipath the controller only holds hidden per-path disks
# nvmeScCnN; the disk that is used is the subsystem's nvmeSnN.
nvme_disks() {
	local c n
	for c in "$PCI_DEVS/$1"/nvme/nvme*; do
		[ -d "$c" ] || continue
		for n in "$c"/nvme*n*; do
			[ -d "$n" ] || continue
			n=${n##*/}
			if [[ $n =~ ^(nvme[0-9]+)c[0-9]+(n[0-9]+)$ ]]; then
				n=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
			fi
			if [ -e "/sys/block/$n" ]; then
				echo "$n"
			fi
		done
	done | sort -uV
}

# holder_desc NAME: what a holder (dm-0, md127, ...) is, for messages.
holder_desc() {
	if [ -r "/sys/block/$1/dm/name" ]; then
		echo "$1 (device-mapper '$(<"/sys/block/$1/dm/name")')"
	else
		echo "$1"
	fi
}

# in_use BDF: one line per reason the controller's namespaces are busy;
# nothing when they are free (or the controller has no block devices).
in_use() {
	local disk part name dev h f t
	for disk in $(nvme_disks "$1"); do
		for part in "/sys/block/$disk" "/sys/block/$disk/$disk"*; do
			[ -e "$part/dev" ] || continue
			name=${part##*/}
			dev=$(<"$part/dev")
			for h in "$part"/holders/*; do
				if [ -e "$h" ]; then
					echo "/dev/$name is held by $(holder_desc "${h##*/}")"
				fi
			done
			# mountinfo: field 3 is the device number, 5 the mount point;
			# after "-": type and source (the source also catches
			# file systems that report an anonymous device number).
			awk -v dev="$dev" -v path="/dev/$name" '{
				for (i = 7; i < NF && $i != "-"; i++)
					;
				if ($3 == dev || $(i + 2) == path)
					print path " is mounted on " $5 " (" $(i + 1) ")"
			}' /proc/self/mountinfo | sort -u
			# /proc/swaps: a header line, then file name and type.
			while read -r f t _; do
				[ "$t" = partition ] || continue
				if [ "$f" = "/dev/$name" ] || [ "$(stat -L -c '%Hr:%Lr' "$f" 2>/dev/null)" = "$dev" ]; then
					echo "/dev/$name is in use as swap"
				fi
			done </proc/swaps
		done
	done
	return 0
}

# The devices config and reset work on: NVMe controllers, PCI_ALLOWED only
# if set, never PCI_BLOCKED. Fills the global arrays selected and allowed.
select_devices() {
	local bdf blocked
	parse_list PCI_ALLOWED allowed
	parse_list PCI_BLOCKED blocked
	selected=()
	for bdf in "${allowed[@]}"; do
		if [ ! -d "$PCI_DEVS/$bdf" ]; then
			warn "PCI_ALLOWED names $bdf: no such PCI device"
			set_rc 2
		elif ! is_nvme "$bdf"; then
			warn "PCI_ALLOWED names $bdf: not an NVMe controller (class $(<"$PCI_DEVS/$bdf/class"), want $NVME_CLASS), left alone"
			set_rc 2
		fi
	done
	for bdf in $(nvme_bdfs); do
		if [ ${#allowed[@]} -gt 0 ] && ! in_list "$bdf" "${allowed[@]}"; then
			continue
		fi
		if [ ${#blocked[@]} -gt 0 ] && in_list "$bdf" "${blocked[@]}"; then
			echo "$bdf ($(pci_ids "$bdf")): in PCI_BLOCKED, left alone"
			continue
		fi
		selected+=("$bdf")
	done
}

iommu_active() {
	[ -n "$(ls -A /sys/kernel/iommu_groups 2>/dev/null)" ]
}

# load_vfio: make sure the vfio-pci driver exists, loading it if needed.
load_vfio() {
	local out kdir
	[ -d /sys/bus/pci/drivers/vfio-pci ] && return 0
	if [ ! -e /proc/modules ]; then
		warn "this kernel has no vfio-pci driver and no module support to load one" \
			"(a kernel with CONFIG_VFIO_PCI is needed)"
		return 1
	fi
	if ! command -v modprobe >/dev/null; then
		warn "vfio-pci is not loaded and there is no modprobe to load it (install kmod)"
		return 1
	fi
	if ! out=$(modprobe vfio-pci 2>&1); then
		warn "cannot load vfio-pci: ${out:-modprobe vfio-pci failed}"
		kdir=/lib/modules/$(uname -r)
		if [ ! -d "$kdir" ] && [ -z "${MODPROBE_OPTIONS:-}" ]; then
			warn "no modules of the running kernel $(uname -r) on this host ($kdir is missing;" \
				"a container, or a kernel whose modules are not installed)"
		fi
		return 1
	fi
	if [ ! -d /sys/bus/pci/drivers/vfio-pci ]; then
		warn "modprobe vfio-pci succeeded, yet there is no vfio-pci driver in /sys/bus/pci/drivers"
		return 1
	fi
}

# group_note BDF GROUP: warn about other devices of the IOMMU group that keep
# it from being viable (VFIO wants every device of a group out of host drivers).
group_note() {
	local bdf=$1 d other drv
	for d in "/sys/kernel/iommu_groups/$2/devices"/*; do
		[ -e "$d" ] || continue
		other=${d##*/}
		[ "$other" != "$bdf" ] || continue
		drv=$(pci_driver "$other")
		case $drv in
		"" | vfio-pci | pci-stub | pcieport) ;;
		*) warn "$bdf: IOMMU group $2 also holds $other (driver $drv); VFIO cannot use the group until that one is unbound or bound to vfio-pci" ;;
		esac
	done
}

# bind_vfio BDF: unbind, driver_override = vfio-pci, probe, check.
bind_vfio() {
	local bdf=$1 d=$PCI_DEVS/$1 drv group
	drv=$(pci_driver "$bdf")
	if [ -n "$drv" ]; then
		if ! echo "$bdf" >"$d/driver/unbind"; then
			warn "$bdf: cannot unbind it from $drv"
			return 1
		fi
	fi
	if ! echo vfio-pci >"$d/driver_override"; then
		warn "$bdf: cannot write $d/driver_override"
		return 1
	fi
	# A failed probe shows in the driver link, checked below.
	echo "$bdf" 2>/dev/null >/sys/bus/pci/drivers_probe || true
	if [ "$(pci_driver "$bdf")" != vfio-pci ]; then
		# Do not leave it driverless: back to whatever takes it without the override.
		echo >"$d/driver_override" || true
		echo "$bdf" 2>/dev/null >/sys/bus/pci/drivers_probe || true
		warn "$bdf: vfio-pci did not take it (see dmesg); its driver is now '$(pci_driver "$bdf")'"
		return 1
	fi
	group=$(iommu_group "$bdf")
	echo "$bdf ($(pci_ids "$bdf")): ${drv:-no driver} -> vfio-pci, IOMMU group $group (/dev/vfio/$group)"
	if [ ! -c "/dev/vfio/$group" ]; then
		warn "$bdf: /dev/vfio/$group does not exist (is /dev a devtmpfs?)"
		return 1
	fi
	group_note "$bdf" "$group"
}

bind_devices() {
	local bdf why todo=()
	select_devices
	for bdf in "${selected[@]}"; do
		if [ "$(pci_driver "$bdf")" = vfio-pci ]; then
			echo "$bdf ($(pci_ids "$bdf")): already bound to vfio-pci"
			continue
		fi
		why=$(in_use "$bdf")
		if [ -n "$why" ]; then
			warn "$bdf ($(pci_ids "$bdf")): in use, not binding it to vfio-pci:"
			echo "    ${why//$'\n'/$'\n'    }" >&2
			if [ ${#allowed[@]} -gt 0 ]; then
				set_rc 2
			fi
			continue
		fi
		todo+=("$bdf")
	done
	[ ${#todo[@]} -gt 0 ] || return 0
	if ! iommu_active; then
		warn "no IOMMU is active (/sys/kernel/iommu_groups is empty): not binding ${todo[*]}." \
			"Without an IOMMU vfio-pci can only drive a device in its unsafe no-IOMMU mode," \
			"where the device may DMA to any memory; Sluice does not use that mode. Enable" \
			"VT-d / AMD-Vi in the firmware and boot with intel_iommu=on (Intel) or amd_iommu=on (AMD)."
		set_rc 1
		return 0
	fi
	if ! load_vfio; then
		set_rc 1
		return 0
	fi
	for bdf in "${todo[@]}"; do
		if [ -z "$(iommu_group "$bdf")" ]; then
			warn "$bdf ($(pci_ids "$bdf")): no IOMMU group (the IOMMU does not cover it), not binding it"
			set_rc 2
			continue
		fi
		bind_vfio "$bdf" || set_rc 2
	done
}

# give_back BDF: clear driver_override, unbind, let the kernel driver probe.
give_back() {
	local bdf=$1 d=$PCI_DEVS/$1 drv now
	drv=$(pci_driver "$bdf")
	if ! echo >"$d/driver_override"; then
		warn "$bdf: cannot clear $d/driver_override"
		return 1
	fi
	if [ -n "$drv" ]; then
		if ! echo "$bdf" >"$d/driver/unbind"; then
			warn "$bdf: cannot unbind it from $drv"
			return 1
		fi
	fi
	# Without udev nobody loads the driver (nvme) for us: load what matches.
	if [ -r "$d/modalias" ] && command -v modprobe >/dev/null; then
		modprobe -q "$(<"$d/modalias")" 2>/dev/null || true
	fi
	echo "$bdf" 2>/dev/null >/sys/bus/pci/drivers_probe || true
	now=$(pci_driver "$bdf")
	if [ -z "$now" ]; then
		warn "$bdf ($(pci_ids "$bdf")): no kernel driver took it (is the nvme module available?)"
		return 1
	fi
	echo "$bdf ($(pci_ids "$bdf")): ${drv:-no driver} -> $now"
}

reset_devices() {
	local bdf drv over
	select_devices
	for bdf in "${selected[@]}"; do
		drv=$(pci_driver "$bdf")
		over=$(cat "$PCI_DEVS/$bdf/driver_override" 2>/dev/null || true)
		if [ "$drv" = vfio-pci ] || [ -z "$drv" ] || [ "$over" = vfio-pci ]; then
			give_back "$bdf" || set_rc 2
		fi
	done
}

# ---- hugepages

hugetlbfs_mounts() {
	awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts
}

status_devices() {
	local bdf d drv group numa disks
	echo "NVMe controllers (PCI class $NVME_CLASS):"
	if [ -z "$(nvme_bdfs)" ]; then
		echo "  (none)"
		return 0
	fi
	printf "  %-12s  %-10s %-9s  %-11s  %-4s  %s\n" BDF vendor:dev driver "IOMMU group" NUMA "block devices"
	for bdf in $(nvme_bdfs); do
		d=$PCI_DEVS/$bdf
		drv=$(pci_driver "$bdf")
		group=$(iommu_group "$bdf")
		numa=$(cat "$d/numa_node" 2>/dev/null || echo -1)
		[ "$numa" != -1 ] || numa=-
		disks=-
		if [ "$drv" = nvme ]; then
			disks=$(nvme_disks "$bdf" | paste -sd ' ')
			disks=${disks:-"(none yet)"}
		fi
		printf "  %-12s  %-10s %-9s  %-11s  %-4s  %s\n" "$bdf" "$(pci_ids "$bdf")" "${drv:--}" \
			"${group:--}" "$numa" "$disks"
	done
}

status() {
	local total free
	status_devices
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
}

config() {
	local want have got
	[ "$(id -u)" -eq 0 ] || die "must run as root to bind devices and reserve hugepages"
	[[ "$HUGEMEM" =~ ^[0-9]+$ ]] || die "HUGEMEM must be a number of MiB, got '$HUGEMEM'"
	bind_devices
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
	status
	return "$rc"
}

reset() {
	[ "$(id -u)" -eq 0 ] || die "must run as root"
	reset_devices
	if [ "${CLEAR_HUGE:-yes}" = yes ] && [ -d "$HP_DIR" ]; then
		echo 0 >"$HP_DIR/nr_hugepages" || true
	fi
	status
	return "$rc"
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
