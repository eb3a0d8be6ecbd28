#!/usr/bin/env bash
# Prepare the machine for Sluice: reserve hugepages and mount hugetlbfs.
#
#   scripts/setup.sh [config]   reserve HUGEMEM MiB of 2 MiB hugepages (default 1024)
#                               and mount hugetlbfs on /dev/hugepages if none is mounted
#   scripts/setup.sh status     show hugepages and hugetlbfs mounts
#   scripts/setup.sh reset      release the hugepages (CLEAR_HUGE=no keeps them)
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
	sed -n '2,9s/^# \{0,1\}//p' "$0"
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
	status
}

reset() {
	[ "$(id -u)" -eq 0 ] || die "must run as root"
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
