#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Bdev benchmark: 4 KiB random reads, queue depth 128, one job on one CPU.
# Each fio case runs the fio plugin (build/fio/sluice_bdev) and fio's own
# engine one after the other, alternately (A B A B ...), and reports the
# median of each and their ratio, all measured in this run:
#   null         plugin on a null bdev        vs fio's null engine
#   uring shm    plugin on a uring bdev       vs fio io_uring, 1 GiB file on /dev/shm
#   aio shm      plugin on an aio bdev        vs fio libaio,   the same file
#   uring disk   plugin on a uring bdev       vs fio io_uring, 1 GiB file on disk, O_DIRECT
#   aio disk     plugin on an aio bdev        vs fio libaio,   the same file, O_DIRECT
# and bdevperf (-q 128 -o 4096 -w randread -m 0x1) on a null and a 256 MiB
# malloc bdev, next to SPDK's numbers quoted in the issue (not measured here).
# Not a test: make check never runs it.
#
# A busy process on this 2-core machine skews the numbers, so like msg.sh the
# script measures, for about a second before the cases and after them, the CPU
# time other processes use (/proc/stat minus its own), and the same over each
# run, and refuses to report (exit 2) above a threshold unless --force is given.
#
# Usage: test/bench/bdev.sh [--force] [--wait SEC] [--max-busy PCT] [-t SEC] [-r N] [--cpu N] [--disk-dir DIR]
#   -t SEC          seconds per run, after 1 s of ramp-up (default 10)
#   -r N            rounds: runs of each side of a pair, alternating (default 2)
#   --cpu N         the CPU the fio job runs on, both sides (default 1)
#   --disk-dir DIR  where the on-disk 1 GiB file lives, created once and kept;
#                   must not be tmpfs (default /var/tmp/sluice-bench)
#   --max-busy PCT  other processes' CPU allowed, % of one core (default 10)
#   --wait SEC      when busy, re-check every 30 s for up to SEC seconds
#   --force         report even on a busy machine (with a loud warning)
# Environment: BUILD (default build).
# Exit: 0 reported, 1 build or run failure, 2 machine too busy.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=test/bench/lib.sh
source "$ROOT/test/bench/lib.sh"
BUILD=${BUILD:-build}
case $BUILD in /*) BDIR=$BUILD ;; *) BDIR=$ROOT/$BUILD ;; esac
PLUGIN=$BDIR/fio/sluice_bdev
BDEVPERF=$BDIR/bin/bdevperf

force=0
max_busy=10
wait_max=0
secs=10
rounds=2
cpu=1
disk_dir=/var/tmp/sluice-bench
RAMP=1
BDEVPERF_MASK=0x1
GIB=$((1024 * 1024 * 1024))

usage() {
	sed -n 's/^# \{0,1\}//; /^Usage:/,/^Exit:/p' "${BASH_SOURCE[0]}"
}

die() {
	echo "bdev.sh: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case $1 in
	--force) force=1 ;;
	--max-busy | --wait | -t | -r | --cpu | --disk-dir)
		[ $# -ge 2 ] || die "$1 needs a value"
		case $1 in
		--max-busy) max_busy=$2 ;;
		--wait) wait_max=$2 ;;
		-t) secs=$2 ;;
		-r) rounds=$2 ;;
		--cpu) cpu=$2 ;;
		--disk-dir) disk_dir=$2 ;;
		esac
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "bdev.sh: unknown argument '$1'" >&2
		usage >&2
		exit 1
		;;
	esac
	shift
done
[[ $max_busy =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--max-busy wants a number"
[[ $wait_max =~ ^[0-9]+$ ]] || die "--wait wants whole seconds"
[[ $secs =~ ^[1-9][0-9]*$ ]] || die "-t wants whole seconds, at least 1"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "-r wants a number of rounds, at least 1"
if ! [[ $cpu =~ ^[0-9]+$ ]] || [ "$cpu" -ge "$(nproc)" ]; then
	die "--cpu wants a CPU number below $(nproc)"
fi
command -v fio >/dev/null || die "fio is not installed (scripts/pkgdep.sh)"

# ---- build ----
# make deletes a binary whose link fails: keep copies so that a tree that does
# not build at the moment (another library half-written) still has them.
build_note=""
for bin in "$PLUGIN" "$BDEVPERF"; do
	rm -f "$bin.prev"
	[ -f "$bin" ] && cp -p "$bin" "$bin.prev"
done
echo "bdev.sh: building (make -s all)..." >&2
if ! make -s -C "$ROOT" BUILD="$BUILD" all >&2; then
	for bin in "$PLUGIN" "$BDEVPERF"; do
		[ -f "$bin" ] || { [ -f "$bin.prev" ] && mv -f "$bin.prev" "$bin"; } || true
	done
	build_note="make -s all FAILED; using the binaries already there:"
	for bin in "$PLUGIN" "$BDEVPERF"; do
		[ -f "$bin" ] && build_note="$build_note ${bin#"$ROOT"/} ($(date -r "$bin" '+%F %T'))"
	done
	echo "bdev.sh: $build_note" >&2
fi
rm -f "$PLUGIN.prev" "$BDEVPERF.prev"
[ -f "$PLUGIN" ] || die "$PLUGIN is not built: it needs the installed fio's source (scripts/pkgdep.sh as root, or ./configure --with-fio=DIR)"
[ -x "$BDEVPERF" ] || die "$BDEVPERF is not built"

# ---- files ----
WORK=$(mktemp -d /tmp/sluice-bench-bdev.XXXXXX)
SHM_FILE=/dev/shm/sluice-bench-bdev.$$.img
CUR_PID=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ -n "$CUR_PID" ]; then
		kill "$CUR_PID" 2>/dev/null || true
		wait "$CUR_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
	rm -f "$SHM_FILE"
}
trap cleanup EXIT
trap 'echo "bdev.sh: interrupted" >&2; exit 130' INT TERM

fstype() { stat -f -c %T "$1"; }

# The on-disk file: created once, fully written (not sparse), then kept.
mkdir -p "$disk_dir" || die "cannot create $disk_dir"
case $(fstype "$disk_dir") in
tmpfs | ramfs) die "$disk_dir is on $(fstype "$disk_dir"), not a disk: choose another --disk-dir" ;;
esac
DISK_FILE=$disk_dir/bdev-bench-1g.img
if [ ! -f "$DISK_FILE" ] || [ "$(stat -c %s "$DISK_FILE")" != "$GIB" ] ||
	[ $(($(stat -c '%b * %B' "$DISK_FILE"))) -lt "$GIB" ]; then
	echo "bdev.sh: writing the 1 GiB file $DISK_FILE (once; it is kept for later runs)" >&2
	rm -f "$DISK_FILE"
	dd if=/dev/zero of="$DISK_FILE.tmp" bs=1M count=1024 conv=fsync status=none ||
		die "cannot write $DISK_FILE"
	mv "$DISK_FILE.tmp" "$DISK_FILE"
fi
dd if="$DISK_FILE" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null ||
	die "$disk_dir ($(fstype "$disk_dir")) does not support O_DIRECT: choose another --disk-dir"

[ "$(fstype /dev/shm)" = tmpfs ] || die "/dev/shm is not tmpfs ($(fstype /dev/shm))"
echo "bdev.sh: writing the 1 GiB file $SHM_FILE (removed at the end)" >&2
dd if=/dev/zero of="$SHM_FILE" bs=1M count=1024 status=none || die "cannot write $SHM_FILE"
# tmpfs takes O_DIRECT since Linux 6.6 (reads still come from the page cache);
# the bdevs open with O_DIRECT when the file system takes it, so fio does the same.
if dd if="$SHM_FILE" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null; then
	shm_direct=1
else
	shm_direct=0
fi

# bdev_config FILE METHOD PARAMS: a bdev-subsystem JSON config with one bdev.
bdev_config() {
	printf '{"subsystems":[{"subsystem":"bdev","config":[{"method":"%s","params":%s}]}]}\n' \
		"$2" "$3" >"$1"
}
bdev_config "$WORK/null.json" bdev_null_create \
	'{"name":"Null0","num_blocks":262144,"block_size":4096}'
bdev_config "$WORK/malloc.json" bdev_malloc_create \
	'{"name":"Malloc0","num_blocks":65536,"block_size":4096}'
for f in shm disk; do
	[ $f = shm ] && file=$SHM_FILE || file=$DISK_FILE
	bdev_config "$WORK/uring-$f.json" bdev_uring_create \
		"{\"name\":\"uring0\",\"filename\":\"$file\",\"block_size\":4096}"
	bdev_config "$WORK/aio-$f.json" bdev_aio_create \
		"{\"name\":\"aio0\",\"filename\":\"$file\",\"block_size\":4096}"
done

# ---- running ----
# run_bg OUT CMD...: CMD in the background (so that a trapped ^C can stop it),
# output in OUT; returns its exit status. CUR_PID is set while it runs.
run_bg() {
	local out=$1 rc=0
	shift
	"$@" >"$out" 2>&1 &
	CUR_PID=$!
	[ -z "${PROBE_FILE:-}" ] || probe_mode "$CUR_PID" "$PROBE_FILE"
	wait "$CUR_PID" || rc=$?
	CUR_PID=
	return "$rc"
}

# probe_mode PID FILE: MODE=O_DIRECT/buffered, how the process under PID (a
# timeout wrapper) has FILE open, from /proc/PID/fdinfo; "?" if not seen.
probe_mode() {
	local pid=$1 file=$2 child fd flags i
	MODE="?"
	for ((i = 0; i < 40; i++)); do
		sleep 0.1
		child=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null) || return 0
		child=${child%% *}
		[ -n "$child" ] || continue
		for fd in "/proc/$child/fd/"*; do
			[ "$(readlink "$fd" 2>/dev/null)" = "$file" ] || continue
			flags=$(awk '$1 == "flags:" { print $2 }' "/proc/$child/fdinfo/${fd##*/}" 2>/dev/null)
			[ -n "$flags" ] || continue
			if (((8#$flags) & 8#40000)); then MODE=O_DIRECT; else MODE=buffered; fi
			return 0
		done
	done
}

FIO_COMMON=(--name=bench --thread=1 --numjobs=1 --rw=randread --bs=4k --iodepth=128 --size=1g
	--norandommap=1 --time_based=1 --ramp_time="$RAMP" --runtime="$secs" --cpus_allowed="$cpu"
	--output-format=terse)

# fio_run WHAT ARGS...: IOPS=read IOPS of one fio run.
fio_run() {
	local what=$1 out=$WORK/run.out line
	shift
	if ! run_bg "$out" timeout $((secs + RAMP + 60)) fio "${FIO_COMMON[@]}" "$@"; then
		die "$what: fio failed: $(tail -n 20 "$out")"
	fi
	line=$(grep '^3;' "$out" | tail -n 1) || die "$what: no result line from fio: $(tail -n 20 "$out")"
	IFS=';' read -r -a f <<<"$line"
	[ "${f[4]}" = 0 ] || die "$what: fio reports error ${f[4]}: $(tail -n 20 "$out")"
	IOPS=${f[7]}
	[ "$IOPS" -gt 0 ] 2>/dev/null || die "$what: no I/O done: $(tail -n 20 "$out")"
}

# bdevperf_run WHAT CONFIG: IOPS from bdevperf's Total line.
bdevperf_run() {
	local what=$1 out=$WORK/run.out
	if ! run_bg "$out" timeout $((secs + 60)) "$BDEVPERF" --json "$2" -q 128 -o 4096 \
		-w randread -t "$secs" -m "$BDEVPERF_MASK"; then
		die "$what: bdevperf failed: $(tail -n 20 "$out")"
	fi
	grep -q 'failed: 0,' "$out" || die "$what: I/O failed: $(tail -n 20 "$out")"
	IOPS=$(awk '$1 == "Total" && $2 == ":" { v = $3 } END { print v }' "$out")
	awk -v v="${IOPS:-0}" 'BEGIN { exit !(v > 0) }' || die "$what: no IOPS in: $(tail -n 20 "$out")"
}

median() { tr ' ' '\n' <<<"$*" | sort -g | awk '{ v[NR] = $1 } END {
	printf "%.0f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# Case table. fio pairs: id|label|plugin config|bdev|file|direct|peer args.
PAIRS=(
	"null|fio null bdev / fio null|null.json|Null0|||--ioengine=null"
	"uring_shm|fio uring /dev/shm / fio io_uring|uring-shm.json|uring0|$SHM_FILE|$shm_direct|--ioengine=io_uring"
	"aio_shm|fio aio /dev/shm / fio libaio|aio-shm.json|aio0|$SHM_FILE|$shm_direct|--ioengine=libaio"
	"uring_disk|fio uring disk O_DIRECT / fio io_uring|uring-disk.json|uring0|$DISK_FILE|1|--ioengine=io_uring"
	"aio_disk|fio aio disk O_DIRECT / fio libaio|aio-disk.json|aio0|$DISK_FILE|1|--ioengine=libaio"
)
# bdevperf cases: id|label|config|SPDK's IOPS on this machine kind (from the issue).
BP_CASES=(
	"bp_null|bdevperf null, 1 core|null.json|14900000"
	"bp_malloc|bdevperf malloc 256 MiB, 1 core|malloc.json|1250000"
)

declare -A S_VALS P_VALS S_MODE P_MODE DURING
total_runs=$(((${#PAIRS[@]} * 2 + ${#BP_CASES[@]}) * rounds))
n=0
progress() {
	n=$((n + 1))
	echo "bdev.sh: [$n/$total_runs] $*" >&2
}

# Others' CPU use during each run, the highest of a case's runs in DURING[id]:
# the same figure as before and after. It also counts the kernel threads that
# work for this script's I/O: on this VM the block layer's kworker (kblockd)
# takes 4-10% of a core during the disk cases, so those get DISK_EXTRA points
# more. Over the limit the results are discarded at once (exit 2), unless --force.
DISK_EXTRA=10
DISK_LIMIT=$(awk -v a="$max_busy" -v b="$DISK_EXTRA" 'BEGIN { print a + b }')
during_warn=""
check_during() { # id what snapshot limit
	local id=$1 what=$2 limit=$4 pct
	pct=$(busy_since "$3")
	if [ -z "${DURING[$id]:-}" ] || over "$pct" "${DURING[$id]}"; then DURING[$id]=$pct; fi
	over "$pct" "$limit" || return 0
	if [ "$force" != 1 ]; then
		echo "bdev.sh: machine got busy: other processes used ${pct}% of one core during" \
			"$what (limit ${limit}%); results discarded. Run again." >&2
		exit 2
	fi
	echo "bdev.sh: WARNING: others used ${pct}% of one core during $what" >&2
	if [ -z "$during_warn" ] || over "$pct" "$during_warn"; then during_warn=$pct; fi
}

wait_quiet bdev.sh "$max_busy" "$wait_max"
busy_before=$BUSY
warn=""
if over "$busy_before" "$max_busy"; then
	if [ "$force" != 1 ]; then
		echo "bdev.sh: machine busy: other processes use ${busy_before}% of one core" \
			"(limit ${max_busy}%); not reporting. Wait for a quiet machine," \
			"use --wait SEC, or --force to report anyway." >&2
		exit 2
	fi
	warn="others used ${busy_before}% of one core before the run"
	echo "bdev.sh: WARNING: machine busy (${busy_before}% of one core); going on because of --force" >&2
fi

for pair in "${PAIRS[@]}"; do
	IFS='|' read -r id label conf bdev file direct peer <<<"$pair"
	peer_args=("$peer")
	[ -z "$file" ] || peer_args+=(--filename="$file" --direct="$direct")
	limit=$max_busy
	[ "$file" != "$DISK_FILE" ] || limit=$DISK_LIMIT
	for ((r = 1; r <= rounds; r++)); do
		progress "$label: sluice plugin, round $r/$rounds"
		snap=$(busy_snapshot)
		PROBE_FILE=$file fio_run "$id (sluice)" --ioengine="external:$PLUGIN" \
			--sluice_json_conf="$WORK/$conf" --filename="$bdev"
		check_during "$id" "$label (sluice)" "$snap" "$limit"
		S_VALS[$id]="${S_VALS[$id]:-} $IOPS"
		[ -z "$file" ] || S_MODE[$id]=$MODE

		progress "$label: fio ${peer#--ioengine=}, round $r/$rounds"
		snap=$(busy_snapshot)
		PROBE_FILE=$file fio_run "$id (fio ${peer#--ioengine=})" "${peer_args[@]}"
		check_during "$id" "$label (fio)" "$snap" "$limit"
		P_VALS[$id]="${P_VALS[$id]:-} $IOPS"
		[ -z "$file" ] || P_MODE[$id]=$MODE
	done
done
for bp in "${BP_CASES[@]}"; do
	IFS='|' read -r id label conf ref <<<"$bp"
	for ((r = 1; r <= rounds; r++)); do
		progress "$label, round $r/$rounds"
		snap=$(busy_snapshot)
		bdevperf_run "$id" "$WORK/$conf"
		check_during "$id" "$label" "$snap" "$max_busy"
		S_VALS[$id]="${S_VALS[$id]:-} $IOPS"
	done
	P_VALS[$id]=$ref
done
rm -f "$SHM_FILE"

[ -z "$during_warn" ] || warn="${warn:+$warn; }others used up to ${during_warn}% of one core during runs"
busy_after=$(other_busy_pct)
if over "$busy_after" "$max_busy"; then
	if [ "$force" != 1 ]; then
		echo "bdev.sh: machine got busy: other processes used ${busy_after}% of one core" \
			"after the run (limit ${max_busy}%); results discarded. Run again." >&2
		exit 2
	fi
	warn="${warn:+$warn; }others used ${busy_after}% of one core after the run"
fi

# ---- report ----
fmt_iops() { awk -v v="$1" 'BEGIN { if (v >= 1e6) printf "%.2f M", v / 1e6; else printf "%.0f k", v / 1e3 }'; }
ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
list_iops() {
	local v out=""
	for v in $1; do out="$out${out:+, }$(fmt_iops "$v")"; done
	echo "$out"
}

model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
[ -n "$warn" ] && busy_warning "$warn" "the CPUs the benchmark uses"
echo "machine: ${model:-unknown CPU}, nproc $(nproc), $(uname -sr), $(fio --version)"
echo "quiet check: others used ${busy_before}% of one core before the run," \
	"${busy_after}% after, at most $(printf '%s\n' "${DURING[@]}" | sort -g | tail -n 1)% during a run" \
	"(limit ${max_busy}%, during the disk cases ${DISK_LIMIT}%)"
echo "sluice: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)," \
	"$(date -u +%Y-%m-%dT%H:%MZ)${build_note:+; $build_note}"
echo "4 KiB randread, QD 128, 1 job: fio thread=1 cpus_allowed=$cpu, ${RAMP} s ramp + ${secs} s," \
	"$rounds round(s) alternating; bdevperf -m $BDEVPERF_MASK -t $secs"
echo "files: $SHM_FILE (tmpfs, direct=$shm_direct, removed), $DISK_FILE ($(fstype "$disk_dir"), direct=1)"
echo
echo "runs (IOPS; others: the most other processes used during one of the case's runs, % of one core):"
for pair in "${PAIRS[@]}"; do
	IFS='|' read -r id label _ _ file _ peer <<<"$pair"
	modes=""
	[ -z "$file" ] || modes=" [sluice ${S_MODE[$id]}, fio ${P_MODE[$id]}]"
	[ "${S_MODE[$id]:-}" = "${P_MODE[$id]:-}" ] || modes="$modes NOT THE SAME MODE: compare with care"
	echo "  $label: sluice $(list_iops "${S_VALS[$id]}"); fio ${peer#--ioengine=}" \
		"$(list_iops "${P_VALS[$id]}"); others <= ${DURING[$id]}%$modes"
done
for bp in "${BP_CASES[@]}"; do
	IFS='|' read -r id label _ _ <<<"$bp"
	echo "  $label: $(list_iops "${S_VALS[$id]}"); others <= ${DURING[$id]}%"
done
echo
printf '| %-40s | %-10s | %-34s | %-5s | %-22s | %-15s |\n' case sluice peer ratio goal verdict
printf '| %-40s | %-10s | %-34s | %-5s | %-22s | %-15s |\n' "$(printf '%040d' 0 | tr 0 -)" \
	---------- "$(printf '%034d' 0 | tr 0 -)" ----- ---------------------- ---------------
row() { # id label peer_label goal_min goal_text [stretch]
	local s p ratio verdict
	# shellcheck disable=SC2086 # a list of numbers
	s=$(median ${S_VALS[$1]})
	# shellcheck disable=SC2086
	p=$(median ${P_VALS[$1]})
	ratio=$(ratio_of "$s" "$p")
	if at_least "$ratio" "$4"; then verdict=meets; else verdict=below; fi
	if [ -n "${6:-}" ] && at_least "$ratio" "$6"; then verdict="meets (stretch)"; fi
	printf '| %-40s | %-10s | %-34s | %-5s | %-22s | %-15s |\n' "$2" "$(fmt_iops "$s")" \
		"$(fmt_iops "$p") $3" "$ratio" "$5" "$verdict"
}
for pair in "${PAIRS[@]}"; do
	IFS='|' read -r id label _ _ _ _ peer <<<"$pair"
	if [ "$id" = null ]; then
		row "$id" "$label" "fio ${peer#--ioengine=}" 1.15 ">= 1.15 (stretch 1.20)" 1.20
	else
		row "$id" "$label" "fio ${peer#--ioengine=}" 0.95 ">= 0.95"
	fi
done
for bp in "${BP_CASES[@]}"; do
	IFS='|' read -r id label _ _ <<<"$bp"
	# "goal: more" than SPDK's figure; 1.005 so that a tie does not count.
	row "$id" "$label" "SPDK reference (issue)" 1.005 "> SPDK reference"
done
echo
echo "sluice and fio: medians of the runs above; ratio = sluice / peer. SPDK reference (issue):"
echo "SPDK's bdevperf on this machine kind as quoted in the issue, not measured in this run."
if [ -n "$warn" ]; then
	echo
	busy_warning "$warn" "the CPUs the benchmark uses"
fi
exit 0
