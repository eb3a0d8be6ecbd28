#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Message-passing benchmark: thread messages between two reactors and on one
# reactor, idle reactor-loop cost, each next to a bare-ring / bare-loop
# ceiling measured in the same run (test/bench/progs/msg_bench.c).
# Not a test: make check never runs it.
#
# Both cores are busy-polled, so any other busy process skews the numbers
# several-fold. The script first measures, for about a second, the CPU time
# other processes use (/proc/stat minus its own), and refuses to report
# (exit 2) above a threshold unless --force is given. The program reports the
# same figure for the run itself; that is checked too.
#
# Usage: test/bench/msg.sh [--force] [--wait SEC] [--max-busy PCT] [-t SEC] [-w N]
#   -t SEC          seconds per case (default 2)
#   -w N            messages in flight (default 1024)
#   --max-busy PCT  other processes' CPU allowed, % of one core (default 10)
#   --wait SEC      when busy, re-check every 30 s for up to SEC seconds
#   --force         report even on a busy machine (with a loud warning)
# Environment: BUILD (default build).
# Exit: 0 reported, 1 build or run failure, 2 machine too busy.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
TARGET=$BUILD/test/bench/progs/msg_bench # what make calls it (relative to ROOT)
case $TARGET in /*) PROG=$TARGET ;; *) PROG=$ROOT/$TARGET ;; esac

force=0
max_busy=10
wait_max=0
prog_args=()

usage() {
	sed -n 's/^# \{0,1\}//; /^Usage:/,/^Exit:/p' "${BASH_SOURCE[0]}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--force) force=1 ;;
	--max-busy)
		max_busy=${2:?--max-busy needs a percentage}
		shift
		;;
	--wait)
		wait_max=${2:?--wait needs seconds}
		shift
		;;
	-t | -w)
		prog_args+=("$1" "${2:?$1 needs a value}")
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "msg.sh: unknown argument '$1'" >&2
		usage >&2
		exit 1
		;;
	esac
	shift
done
if ! [[ $max_busy =~ ^[0-9]+([.][0-9]+)?$ && $wait_max =~ ^[0-9]+$ ]]; then
	echo "msg.sh: --max-busy wants a number, --wait whole seconds" >&2
	exit 1
fi

# Build only this program (make tests would build every unit test too). When
# the tree does not build at the moment (another library half-written), the
# previous binary still serves; the linker deletes it on failure, so keep a copy.
[ -x "$PROG" ] && cp -p "$PROG" "$PROG.prev"
if ! make -s -C "$ROOT" BUILD="$BUILD" "$TARGET" >&2; then
	if [ ! -x "$PROG.prev" ]; then
		echo "msg.sh: build failed" >&2
		exit 1
	fi
	mv -f "$PROG.prev" "$PROG"
	echo "msg.sh: build failed; using the previous $PROG ($(date -r "$PROG" '+%F %T'))" >&2
fi
rm -f "$PROG.prev"

# The quiet-machine check shared with the other benchmarks.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wait_quiet msg.sh "$max_busy" "$wait_max"
busy=$BUSY

warn=""
if over "$busy" "$max_busy"; then
	if [ "$force" != 1 ]; then
		echo "msg.sh: machine busy: other processes use ${busy}% of one core" \
			"(limit ${max_busy}%); not reporting. Wait for a quiet machine," \
			"use --wait SEC, or --force to report anyway." >&2
		exit 2
	fi
	warn="others used ${busy}% of one core before the run"
fi

out=$("$PROG" "${prog_args[@]}") || {
	echo "msg.sh: msg_bench failed" >&2
	exit 1
}
during=$(sed -n 's/^other-cpu-during-run: \([0-9.]*\)%.*/\1/p' <<<"$out")
if [ -z "$during" ]; then
	echo "msg.sh: msg_bench printed no other-cpu-during-run line" >&2
	exit 1
fi
if over "$during" "$max_busy"; then
	if [ "$force" != 1 ]; then
		echo "msg.sh: machine got busy during the run: other processes used ${during}%" \
			"of one core (limit ${max_busy}%); results discarded. Run again." >&2
		exit 2
	fi
	warn="${warn:+$warn; }others used ${during}% of one core during the run"
fi

model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
[ -n "$warn" ] && busy_warning "$warn" "the two polled cores"
echo "machine: ${model:-unknown CPU}, nproc $(nproc), $(uname -sr)"
echo "quiet check: others used ${busy}% of one core before the run (limit ${max_busy}%)"
echo "sluice: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)," \
	"$(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "$out"
if [ -n "$warn" ]; then
	echo
	busy_warning "$warn" "the two polled cores"
fi
exit 0
