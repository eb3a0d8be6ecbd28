#!/usr/bin/env bash
# bdevperf: verify on malloc and on aio/uring files (O_DIRECT and buffered),
# every workload, one job per core per bdev (-C), exactly the injected
# failures, a verify that really compares (null bdev stores nothing), hot
# remove and SIGINT, bad command lines.
source "$(dirname "$0")/common.sh"

BDEVPERF="$BIN/bdevperf"
[ -x "$BDEVPERF" ] || fail "$BDEVPERF not built"

# json_config FILE 'method params' ...: a bdev subsystem config (SPDK shape).
json_config() {
	local file=$1 sep=""
	shift
	{
		echo '{"subsystems":[{"subsystem":"bdev","config":['
		for entry in "$@"; do
			printf '%s {"method":"%s","params":%s}\n' "$sep" "${entry%% *}" "${entry#* }"
			sep=","
		done
		echo ']}]}'
	} >"$file"
}

OUT=
RC=0
# bp args...: run bdevperf; output in OUT, exit status in RC.
bp() {
	RC=0
	OUT=$(timeout --kill-after=10 120 "$BDEVPERF" "$@" 2>&1) || RC=$?
	[ "$RC" -ne 124 ] || fail "bdevperf $* hung: $OUT"
	if grep -q "ERROR: AddressSanitizer\|LeakSanitizer\|runtime error:" <<<"$OUT"; then
		fail "sanitizer report from bdevperf $*: $OUT"
	fi
}

# bp_ok args...: must exit 0 with IOPS > 0, no failure and no mismatch.
bp_ok() {
	local iops
	bp "$@"
	[ "$RC" -eq 0 ] || fail "bdevperf $* exited with $RC: $OUT"
	assert_contains "$OUT" "failed: 0, verify mismatches: 0" "bdevperf $*"
	iops=$(awk '/^ Total / {print $3}' <<<"$OUT")
	awk -v v="$iops" 'BEGIN { exit !(v > 0) }' || fail "bdevperf $*: IOPS '$iops' not > 0: $OUT"
}

# expect_error "message part" args...: must exit 1 with the message.
expect_error() {
	local want=$1
	shift
	bp "$@"
	[ "$RC" -eq 1 ] || fail "bdevperf $* exited with $RC, expected 1: $OUT"
	assert_contains "$OUT" "$want" "bdevperf $*"
}

# job_lines NAME: how many jobs the output shows for bdev NAME.
job_lines() {
	grep -c "^Job: $1 (Core Mask" <<<"$OUT" || true
}

MALLOC="$TEST_DIR/malloc.json"
json_config "$MALLOC" \
	'bdev_malloc_create {"name":"Malloc0","num_blocks":32768,"block_size":512}' \
	'bdev_malloc_create {"name":"Malloc1","num_blocks":4096,"block_size":4096}'

# ---- verify on malloc, the issue's command line ----
bp_ok --json "$MALLOC" -q 32 -o 4096 -w verify -t 3 -T Malloc0
assert_contains "$OUT" "Job: Malloc0 (Core Mask 0x1, workload: verify, depth: 32, IO size: 4096)" \
	"verify job line"
assert_contains "$OUT" "Verification LBA range: start 0x0 length 0x8000" "verify range"
echo "verify on Malloc0: $(awk '/^ Total / {print $3}' <<<"$OUT") IOPS"

# ---- every workload; both bdevs by default; sizes with units ----
for w in read write randread randwrite unmap write_zeroes flush; do
	bp_ok --json "$MALLOC" -q 16 -o 4k -w "$w" -t 1
	[ "$(job_lines Malloc0)" = 1 ] && [ "$(job_lines Malloc1)" = 1 ] ||
		fail "-w $w: expected one job per bdev: $OUT"
done
bp_ok --json "$MALLOC" -q 32 -o 4096 -w rw -M 70 -t 1
assert_contains "$OUT" "workload: rw, percentage: 70" "rw -M 70"
bp_ok --json "$MALLOC" -q 8 -o 128K -w randrw -M 30 -t 1 -l -T Malloc1
assert_contains "$OUT" "IO size: 131072" "-o 128K"
assert_contains "$OUT" "Latency percentiles (us): p50 " "-l"
assert_contains "$OUT" ", p99.9 " "-l"
bp_ok --json "$MALLOC" -q 4 -o 4096 -w randread -t 1 -ll -T Malloc1
assert_contains "$OUT" ", p99.999 " "-ll"
# More I/Os in flight than one verify range per I/O allows: depth is lowered.
bp_ok --json "$MALLOC" -q 64 -o 1M -w verify -t 1 -T Malloc1
assert_contains "$OUT" "queue depth lowered from 64 to 16" "verify depth clamp"
# Deeper than the bdev_io pool (16383): submissions wait for free I/Os (-ENOMEM path).
json_config "$TEST_DIR/null.json" \
	'bdev_null_create {"name":"Null0","num_blocks":1048576,"block_size":512}'
bp_ok --json "$TEST_DIR/null.json" -q 20000 -o 512 -w randread -t 1
echo "all workloads: ok"

# ---- two cores ----
bp_ok --json "$MALLOC" -m 0x3 -q 32 -o 4096 -w verify -t 1
assert_contains "$OUT" "Job: Malloc0 (Core Mask 0x1," "default placement, first bdev"
assert_contains "$OUT" "Job: Malloc1 (Core Mask 0x2," "default placement, second bdev"
bp_ok --json "$MALLOC" -m 0x3 -C -q 32 -o 4096 -w verify -t 2 -S 1
for b in Malloc0 Malloc1; do
	[ "$(job_lines $b)" = 2 ] || fail "-C: expected 2 jobs for $b: $OUT"
	assert_contains "$OUT" "Job: $b (Core Mask 0x2," "-C job of $b on core 1"
done
assert_contains "$OUT" "Verification LBA range: start 0x4000 length 0x4000" "-C slice of Malloc0"
assert_contains "$OUT" "Verification LBA range: start 0x800 length 0x800" "-C slice of Malloc1"
echo "-m 0x3 -C: one job per core per bdev: ok"

# ---- verify really compares: a null bdev keeps no data ----
bp --json "$TEST_DIR/null.json" -q 8 -o 4096 -w verify -t 1
[ "$RC" -eq 1 ] || fail "verify on a null bdev exited with $RC: $OUT"
assert_contains "$OUT" "bdevperf: verify mismatch on Null0: LBA " "null verify"
assert_contains "$OUT" "ended in about" "null verify"
echo "verify detects lost writes: ok"

# ---- error injection: exactly the failures asked for ----
ERR="$TEST_DIR/error.json"
json_config "$ERR" \
	'bdev_malloc_create {"name":"Malloc0","num_blocks":32768,"block_size":512}' \
	'bdev_error_create {"base_name":"Malloc0"}' \
	'bdev_error_inject_error {"name":"EE_Malloc0","io_type":"read","error_type":"failure","num":7}' \
	'bdev_error_inject_error {"name":"EE_Malloc0","io_type":"write","error_type":"failure","num":5}'
# The claimed base (Malloc0) is skipped: only EE_Malloc0 runs.
bp --json "$ERR" -q 16 -o 4096 -w randrw -M 50 -t 1 -f
[ "$RC" -eq 0 ] || fail "-f with injected failures exited with $RC: $OUT"
[ "$(job_lines Malloc0)" = 0 ] && [ "$(job_lines EE_Malloc0)" = 1 ] || fail "claimed base tested: $OUT"
assert_contains "$OUT" "I/O completed: " "injection"
assert_contains "$OUT" ", failed: 12, verify mismatches: 0" "7 read + 5 write failures"
# The first 10 failures of a job are shown with their LBA, the rest only counted.
[ "$(grep -c "EE_Malloc0: \(read\|write\) of 8 blocks at LBA [0-9]* failed" <<<"$OUT")" = 10 ] ||
	fail "expected the first 10 failures reported with their LBA: $OUT"
assert_contains "$OUT" "further I/O failures are counted, not shown" "failure report cap"
bp --json "$ERR" -q 16 -o 4096 -w verify -t 1 -f
[ "$RC" -eq 0 ] || fail "verify -f with injected failures exited with $RC: $OUT"
assert_contains "$OUT" ", failed: 12, verify mismatches: 0" "verify with injected failures"
# Without -f the first failure ends the job and the run fails.
bp --json "$ERR" -q 1 -o 4096 -w randread -t 1
[ "$RC" -eq 1 ] || fail "failure without -f exited with $RC: $OUT"
assert_contains "$OUT" "Job: EE_Malloc0 ended in about" "failure without -f"
assert_contains "$OUT" ", failed: 1, verify mismatches: 0" "failure without -f"
echo "error injection: exactly 12 failures: ok"

# ---- aio and uring over files: O_DIRECT, and buffered on a file system without it ----
FILE="$TEST_DIR/disk.img"
truncate -s 64M "$FILE"
for m in aio uring; do
	json_config "$TEST_DIR/$m.json" \
		"bdev_${m}_create {\"name\":\"F_$m\",\"filename\":\"$FILE\",\"block_size\":512}"
	bp_ok --json "$TEST_DIR/$m.json" -q 32 -o 4096 -w verify -t 2
	assert_contains "$OUT" "$m bdev F_$m on $FILE: 131072 blocks of 512 bytes, O_DIRECT" \
		"$m O_DIRECT"
	bp_ok --json "$TEST_DIR/$m.json" -m 0x3 -C -q 16 -o 64K -w verify -t 1
	echo "$m verify, O_DIRECT: ok"
done
# ramfs refuses O_DIRECT: mount one in a private mount namespace (needs root).
RAMFS="$TEST_DIR/ramfs"
mkdir -p "$RAMFS"
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	for m in aio uring; do
		json_config "$TEST_DIR/${m}_buf.json" \
			"bdev_${m}_create {\"name\":\"B_$m\",\"filename\":\"$RAMFS/f.img\"}"
		RC=0
		OUT=$(timeout --kill-after=10 120 unshare -m bash -c 'mount -t ramfs none "$1" && truncate -s 32M "$1/f.img" &&
			exec "$2" --json "$3" -q 32 -o 4096 -w verify -t 2' _ \
			"$RAMFS" "$BDEVPERF" "$TEST_DIR/${m}_buf.json" 2>&1) || RC=$?
		[ "$RC" -eq 0 ] || fail "$m verify on ramfs exited with $RC: $OUT"
		assert_contains "$OUT" "$m bdev B_$m on $RAMFS/f.img: 65536 blocks of 512 bytes, buffered" \
			"$m buffered"
		assert_contains "$OUT" "failed: 0, verify mismatches: 0" "$m buffered verify"
		echo "$m verify, buffered: ok"
	done
else
	echo "NOTE: not root or no unshare: buffered aio/uring verify not checked"
fi

# ---- hot remove under I/O: the job stops cleanly ----
SOCK="$TEST_DIR/bp.sock"
LOG="$TEST_DIR/bp.log"
"$BDEVPERF" -r "$SOCK" --json "$MALLOC" -q 32 -o 4096 -w verify -t 30 -T Malloc0 >"$LOG" 2>&1 &
TGT_PID=$!
TGT_SOCK=$SOCK
TGT_LOG=$LOG
deadline=$((SECONDS + 60))
while ! grep -q "Running I/O" "$LOG"; do
	kill -0 "$TGT_PID" 2>/dev/null || fail "bdevperf exited during start-up"
	[ $SECONDS -lt $deadline ] || fail "bdevperf did not start"
	sleep 0.05
done
sleep 0.5
# The reply may not come: bdevperf stops once its last job has gone.
rpc bdev_malloc_delete Malloc0 >/dev/null 2>&1 || true
rc=0
wait "$TGT_PID" || rc=$?
TGT_PID=
[ "$rc" -eq 0 ] || fail "bdevperf exited with $rc after hot remove: $(cat "$LOG")"
assert_contains "$(cat "$LOG")" "Job: Malloc0 stopped after" "hot remove"
assert_contains "$(cat "$LOG")" "the bdev was removed" "hot remove"
echo "hot remove: ok"

# ---- SIGINT: the jobs stop, the tables print, exit 0 ----
"$BDEVPERF" --json "$MALLOC" -m 0x3 -q 32 -o 4096 -w randwrite -t 30 >"$LOG" 2>&1 &
TGT_PID=$!
deadline=$((SECONDS + 60))
while ! grep -q "Running I/O" "$LOG"; do
	kill -0 "$TGT_PID" 2>/dev/null || fail "bdevperf exited during start-up"
	[ $SECONDS -lt $deadline ] || fail "bdevperf did not start"
	sleep 0.05
done
sleep 0.5
kill -INT "$TGT_PID"
rc=0
wait "$TGT_PID" || rc=$?
TGT_PID=
[ "$rc" -eq 0 ] || fail "bdevperf exited with $rc after SIGINT: $(cat "$LOG")"
assert_contains "$(cat "$LOG")" "failed: 0, verify mismatches: 0" "SIGINT"
echo "SIGINT: ok"
TGT_LOG=

# ---- bad command lines: exit 1 with a clear message ----
expect_error "invalid -q 0" --json "$MALLOC" -q 0 -o 4096 -w read -t 1
expect_error "invalid -t 0" --json "$MALLOC" -q 8 -o 4096 -w read -t 0
expect_error "invalid workload -w 'bogus'" --json "$MALLOC" -q 8 -o 4096 -w bogus -t 1
expect_error "missing -w" --json "$MALLOC" -q 8 -o 4096 -t 1
expect_error "invalid I/O size -o '4x'" --json "$MALLOC" -q 8 -o 4x -w read -t 1
expect_error "invalid -q 'deep'" --json "$MALLOC" -q deep -o 4096 -w read -t 1
expect_error "-M 101 is too large" --json "$MALLOC" -q 8 -o 4096 -w rw -M 101 -t 1
expect_error "-w rw needs -M" --json "$MALLOC" -q 8 -o 4096 -w rw -t 1
expect_error "is not a multiple of the block size of bdev Malloc1 (4096)" \
	--json "$MALLOC" -q 8 -o 512 -w read -t 1
expect_error "I/O size 33554432 is larger than the whole of bdev Malloc0" \
	--json "$MALLOC" -q 8 -o 32M -w read -t 1 -T Malloc0
expect_error "no bdev named 'nosuch' (-T)" --json "$MALLOC" -q 8 -o 4096 -w read -t 1 -T nosuch
expect_error "bdev 'Malloc0' given twice (-T)" --json "$MALLOC" -q 8 -o 4096 -w read -t 1 \
	-T Malloc0 -T Malloc0
expect_error "no bdev to test" -q 8 -o 4096 -w read -t 1
expect_error "unknown option" --json "$MALLOC" -q 8 -o 4096 -w read -t 1 --bogus
echo "bad command lines: ok"
echo "ok"
