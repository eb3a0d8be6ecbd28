#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Socket benchmark: TCP echo throughput over loopback through lib/sock, the
# posix and uring implementations side by side in the same run
# (test/bench/progs/sock_bench.c: a server and a client thread, one per core,
# each busy-polling a socket group). Cases: 4 KiB messages, 32 in flight on
# each of 4 connections; 128 KiB messages, 4 in flight on each of 4.
# ratio = uring / posix. Not a test: make check never runs it.
#
# Both cores are busy-polled, so the quiet-machine check of lib.sh runs
# before and its figure is checked again over the run.
#
# Usage: test/bench/sock.sh [--force] [--wait SEC] [--max-busy PCT] [-t SEC]
#   -t SEC          seconds per case and implementation (default 2)
#   --max-busy PCT  other processes' CPU allowed, % of one core (default 10)
#   --wait SEC      when busy, re-check every 30 s for up to SEC seconds
#   --force         report even on a busy machine (with a loud warning)
# Environment: BUILD (default build).
# Exit: 0 reported, 1 build or run failure, 2 machine too busy.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
TARGET=$BUILD/test/bench/progs/sock_bench
case $TARGET in /*) PROG=$TARGET ;; *) PROG=$ROOT/$TARGET ;; esac

force=0
max_busy=10
wait_max=0
secs=2

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
	-t)
		secs=${2:?-t needs seconds}
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "sock.sh: unknown argument '$1'" >&2
		usage >&2
		exit 1
		;;
	esac
	shift
done

make -s -C "$ROOT" BUILD="$BUILD" "$TARGET" >&2 || {
	echo "sock.sh: build failed" >&2
	exit 1
}

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wait_quiet sock.sh "$max_busy" "$wait_max"
busy=$BUSY
warn=""
if over "$busy" "$max_busy"; then
	if [ "$force" != 1 ]; then
		echo "sock.sh: machine busy: other processes use ${busy}% of one core" \
			"(limit ${max_busy}%); not reporting. Wait for a quiet machine," \
			"use --wait SEC, or --force to report anyway." >&2
		exit 2
	fi
	warn="others used ${busy}% of one core before the run"
fi

snap=$(busy_snapshot)
out=$("$PROG" -t "$secs" -s 4096 -w 32 -c 4 && echo &&
	"$PROG" -t "$secs" -s 131072 -w 4 -c 4) || {
	echo "sock.sh: sock_bench failed" >&2
	exit 1
}
during=$(busy_since "$snap")
if over "$during" "$max_busy"; then
	if [ "$force" != 1 ]; then
		echo "sock.sh: machine got busy during the run: other processes used ${during}%" \
			"of one core (limit ${max_busy}%); results discarded. Run again." >&2
		exit 2
	fi
	warn="${warn:+$warn; }others used ${during}% of one core during the run"
fi

model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
[ -n "$warn" ] && busy_warning "$warn" "the two polled cores"
echo "machine: ${model:-unknown CPU}, nproc $(nproc), $(uname -sr)"
echo "quiet check: others used ${busy}% of one core before, ${during}% during (limit ${max_busy}%)"
echo "sluice: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)," \
	"$(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "$out"
if [ -n "$warn" ]; then
	echo
	busy_warning "$warn" "the two polled cores"
fi
exit 0
