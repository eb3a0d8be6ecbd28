#!/usr/bin/env bash
# aio and uring bdevs over files: create/delete RPCs and their bad input,
# bdev_get_bdevs geometry, save_config round trip, data checks (O_DIRECT on
# /tmp, tmpfs, buffered fallback on ramfs, a 4 KiB-sector loop device when
# root), bdevperf verify when it is built, and delete while I/O runs.
source "$(dirname "$0")/common.sh"

CHECK="$TOP/$BUILD/test/func/progs/bdev_io_check"
[ -x "$CHECK" ] || fail "$CHECK is not built (make tests)"

SHM_IMG=/dev/shm/sluice-bdev-$$.img
RAMFS=
LOOP=
extra_cleanup() {
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	[ -n "$RAMFS" ] && umount "$RAMFS" 2>/dev/null
	rm -f "$SHM_IMG" "$SHM_IMG".[au]
	cleanup
}
trap extra_cleanup EXIT

# bdev_field NAME PY_EXPR: evaluate PY_EXPR on bdev_get_bdevs -b NAME's first entry (b).
bdev_field() {
	rpc bdev_get_bdevs -b "$1" | "$PY" -c "import json,sys; b=json.load(sys.stdin)[0]; print($2)"
}

# expect_rpc_error "message part" rpc args...: the call must fail with that message.
expect_rpc_error() {
	local want=$1 out rc=0
	shift
	out=$(rpc "$@" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "rpc $* succeeded, expected '$want'"
	assert_contains "$out" "$want" "rpc $*"
}

# ring_files PID: the registered-file lists of PID's io_urings. The kernel
# prints them only when it gets the ring's lock, so a busy ring may show none.
ring_files() {
	local f
	for f in /proc/"$1"/fdinfo/*; do
		grep -A300 '^UserFiles:' "$f" 2>/dev/null | sed '/^UserBufs:/,$d' || true
	done
}

# bdev_config FILE "method name filename [block_size|-] [extra JSON members]"...:
# a JSON config with those bdevs.
bdev_config() {
	local out=$1 sep= m n f bs extra
	shift
	{
		printf '{"subsystems":[{"subsystem":"bdev","config":['
		for spec in "$@"; do
			read -r m n f bs extra <<<"$spec"
			[ "$bs" != - ] || bs=
			printf '%s{"method":"%s","params":{"name":"%s","filename":"%s"%s%s}}' "$sep" \
				"$m" "$n" "$f" "${bs:+,\"block_size\":$bs}" "${extra:+,$extra}"
			sep=,
		done
		printf ']}]}\n'
	} >"$out"
}

# Backing files. Written through once: ext4 serialises sub-block O_DIRECT writes
# into unwritten extents, which makes a sparse file slow for 512-byte aio.
DISK="$TEST_DIR/disk.img"
dd if=/dev/zero of="$DISK" bs=1M count=32 status=none
truncate -s 16M "$SHM_IMG"
truncate -s $((1024 * 1024 + 100)) "$TEST_DIR/odd.img"
head -c 100 /dev/zero >"$TEST_DIR/tiny.img"
mkdir "$TEST_DIR/dir"

# ---- RPCs on a running target ----
start_tgt -m 0x3

[ "$(rpc bdev_aio_create "$DISK" aio0)" = aio0 ] || fail "bdev_aio_create did not return the name"
[ "$(rpc bdev_uring_create "$DISK" ur0 4096)" = ur0 ] || fail "bdev_uring_create did not return the name"
rpc bdev_aio_create "$TEST_DIR/odd.img" odd >/dev/null
rpc bdev_uring_create "$SHM_IMG" shm0 >/dev/null

[ "$(bdev_field aio0 'b["num_blocks"], b["block_size"]')" = "65536 512" ] ||
	fail "aio0 geometry: $(rpc bdev_get_bdevs -b aio0)"
[ "$(bdev_field ur0 'b["num_blocks"], b["block_size"]')" = "8192 4096" ] ||
	fail "ur0 geometry: $(rpc bdev_get_bdevs -b ur0)"
[ "$(bdev_field odd 'b["num_blocks"]')" = 2048 ] || fail "odd.img: the partial block must not count"
[ "$(bdev_field aio0 'b["driver_specific"]["aio"]["filename"]')" = "$DISK" ] || fail "aio0 filename"
[ "$(bdev_field aio0 'b["driver_specific"]["aio"]["o_direct"]')" = True ] ||
	fail "aio0 on $DISK (ext4) should use O_DIRECT: $(rpc bdev_get_bdevs -b aio0)"
[ "$(bdev_field ur0 'b["driver_specific"]["uring"]["o_direct"], b["required_alignment"] >= 512')" = \
	"True True" ] || fail "ur0 O_DIRECT/alignment: $(rpc bdev_get_bdevs -b ur0)"
echo "tmpfs O_DIRECT: $(bdev_field shm0 'b["driver_specific"]["uring"]["o_direct"]')"
[ "$(bdev_field aio0 'b["product_name"]')" = "AIO disk" ] || fail "aio0 product name"

# Bad input.
expect_rpc_error "cannot open $TEST_DIR/missing.img: No such file or directory" \
	bdev_aio_create "$TEST_DIR/missing.img" m1
expect_rpc_error "cannot open $TEST_DIR/missing.img: No such file or directory" \
	bdev_uring_create "$TEST_DIR/missing.img" m1
for bs in 1000 256 4097 131072; do
	expect_rpc_error "invalid block size $bs" bdev_aio_create "$DISK" bad "$bs"
	expect_rpc_error "invalid block size $bs" bdev_uring_create "$DISK" bad "$bs"
done
expect_rpc_error "bdev name 'aio0' already exists" bdev_aio_create "$DISK" aio0
expect_rpc_error "bdev name 'aio0' already exists" bdev_uring_create "$DISK" aio0
expect_rpc_error "smaller than one block" bdev_aio_create "$TEST_DIR/tiny.img" tiny
expect_rpc_error "smaller than one block" bdev_uring_create "$TEST_DIR/tiny.img" tiny 4096
rpc bdev_uring_create "$DISK" big 65536 >/dev/null || fail "64 KiB blocks must be accepted"
[ "$(bdev_field big 'b["num_blocks"]')" = 512 ] || fail "big: $(rpc bdev_get_bdevs -b big)"
rpc bdev_uring_delete big >/dev/null
expect_rpc_error "$TEST_DIR/dir" bdev_aio_create "$TEST_DIR/dir" d
expect_rpc_error "is not a regular file or block device" bdev_uring_create /dev/null n
expect_rpc_error "aio bdev 'nosuch' does not exist" bdev_aio_delete nosuch
expect_rpc_error "uring bdev 'nosuch' does not exist" bdev_uring_delete nosuch
expect_rpc_error "uring bdev 'aio0' does not exist" bdev_uring_delete aio0
out=$(raw_rpc '{"jsonrpc":"2.0","id":1,"method":"bdev_aio_create","params":{"name":"x","filename":"'"$DISK"'","block_size":"big"}}')
assert_contains "$out" '"code": -32602' "block_size of the wrong type"
out=$(raw_rpc '{"jsonrpc":"2.0","id":2,"method":"bdev_uring_create","params":{"name":"x"}}')
assert_contains "$out" "missing required parameter 'filename'" "missing filename"
out=$(raw_rpc '{"jsonrpc":"2.0","id":3,"method":"bdev_aio_create","params":{"name":"","filename":"'"$DISK"'"}}')
assert_contains "$out" '"error"' "empty name"
names=$(rpc bdev_get_bdevs | "$PY" -c 'import json,sys; print(" ".join(sorted(b["name"] for b in json.load(sys.stdin))))')
[ "$names" = "aio0 odd shm0 ur0" ] || fail "bdevs after bad input: $names"

# save_config round trip: same bdevs, geometry and uuids after a restart.
rpc save_config >"$TEST_DIR/saved.json"
for m in bdev_aio_create bdev_uring_create; do
	assert_contains "$(cat "$TEST_DIR/saved.json")" "\"$m\"" save_config
done
summary='" ".join("%s:%d:%d:%s" % (b["name"], b["num_blocks"], b["block_size"], b["uuid"]) for b in sorted(json.load(sys.stdin), key=lambda b: b["name"]))'
before=$(rpc bdev_get_bdevs | "$PY" -c "import json,sys; print($summary)")
stop_tgt TERM
start_tgt --json "$TEST_DIR/saved.json"
after=$(rpc bdev_get_bdevs | "$PY" -c "import json,sys; print($summary)")
[ "$before" = "$after" ] || fail "bdevs differ after the save_config round trip: '$before' vs '$after'"

# Delete: the bdev is gone and its file closed.
rpc bdev_aio_delete aio0 || fail "bdev_aio_delete aio0"
rpc bdev_uring_delete ur0 || fail "bdev_uring_delete ur0"
expect_rpc_error "aio0" bdev_get_bdevs -b aio0
if ls -l "/proc/$TGT_PID/fd" | grep -qF "$DISK"; then
	fail "$DISK still open after its bdevs were deleted"
fi
stop_tgt TERM

# ---- Data checks: pattern write/read, zeroes, reset, I/O beyond the end ----
# Two runs (aio, then uring) so that the bdevs checked together never share a file.
for f in a u; do
	dd if=/dev/zero of="$TEST_DIR/data_$f.img" bs=1M count=32 status=none
	truncate -s 16M "$SHM_IMG.$f"
done
aio_specs=("bdev_aio_create a512 $TEST_DIR/data_a.img - \"fallocate\":true"
	"bdev_aio_create a4k_shm $SHM_IMG.a 4096 \"fallocate\":true")
uring_specs=("bdev_uring_create u4k $TEST_DIR/data_u.img 4096" "bdev_uring_create u512_shm $SHM_IMG.u")
if [ "$(id -u)" = 0 ]; then
	# ramfs refuses O_DIRECT: the modules fall back to buffered I/O.
	RAMFS="$TEST_DIR/ramfs"
	mkdir "$RAMFS"
	if mount -t ramfs ramfs "$RAMFS" 2>/dev/null; then
		truncate -s 8M "$RAMFS/a.img" "$RAMFS/u.img"
		aio_specs+=("bdev_aio_create ram_a $RAMFS/a.img - \"fallocate\":true")
		uring_specs+=("bdev_uring_create ram_u $RAMFS/u.img")
	else
		echo "ramfs mount not permitted: skipping the buffered fallback case"
		RAMFS=
	fi
	# A block device with 4 KiB logical blocks: detection, and 512-byte blocks fall back.
	truncate -s 16M "$TEST_DIR/loop.img"
	if LOOP=$(losetup -f --show -b 4096 "$TEST_DIR/loop.img" 2>/dev/null); then
		aio_specs+=("bdev_aio_create loop_a $LOOP 512")
		uring_specs+=("bdev_uring_create loop_u $LOOP")
	else
		echo "no loop device: skipping the block device case"
		LOOP=
	fi
fi

for set in aio uring; do
	declare -n specs="${set}_specs"
	bdev_config "$TEST_DIR/check.json" "${specs[@]}"
	args=()
	for spec in "${specs[@]}"; do
		read -r _ name _ <<<"$spec"
		args+=(--bdev "$name")
	done
	# Geometry and O_DIRECT choice of the special files, on a target.
	start_tgt --json "$TEST_DIR/check.json"
	if [ -n "$RAMFS" ]; then
		[ "$(bdev_field "ram_${set:0:1}" "b[\"driver_specific\"][\"$set\"][\"o_direct\"]")" = False ] ||
			fail "ramfs: expected buffered I/O"
		grep -q "does not support O_DIRECT; using buffered I/O" "$TGT_LOG" ||
			fail "no notice about the O_DIRECT fallback"
	fi
	if [ -n "$LOOP" ] && [ $set = uring ]; then
		[ "$(bdev_field loop_u 'b["block_size"], b["num_blocks"], b["driver_specific"]["uring"]["o_direct"], b["driver_specific"]["uring"]["block_device"]')" = \
			"4096 4096 True True" ] || fail "loop device: $(rpc bdev_get_bdevs -b loop_u)"
	elif [ -n "$LOOP" ]; then
		[ "$(bdev_field loop_a 'b["block_size"], b["driver_specific"]["aio"]["o_direct"]')" = \
			"512 False" ] || fail "512-byte blocks on a 4 KiB device must be buffered"
	fi
	stop_tgt TERM

	out=$(timeout --kill-after=10 300 "$CHECK" -m 0x3 -r "$TEST_DIR/check.sock" --json "$TEST_DIR/check.json" \
		"${args[@]}" 2>&1) || fail "bdev_io_check ($set) failed: $out"
	for ((i = 1; i < ${#args[@]}; i += 2)); do
		assert_contains "$out" "PASS ${args[i]} " bdev_io_check
	done
	if grep -q "ERROR" <<<"$out"; then
		fail "errors logged by bdev_io_check ($set): $out"
	fi
	echo "$out" | grep '^PASS'
	# fallocate-capable files: the module's own unmap and write_zeroes were read back.
	assert_contains "$out" "write_zeroes, unmap)" "unmap/write_zeroes on $set bdevs"
	unset -n specs
done

# bdevperf verify, when the tool is built.
if [ -x "$BIN/bdevperf" ]; then
	bp_specs=("bdev_aio_create bp_a $DISK" "bdev_uring_create bp_u $DISK 4096"
		"bdev_aio_create bp_shm_a $SHM_IMG" "bdev_uring_create bp_shm_u $SHM_IMG")
	# Buffered (ramfs refuses O_DIRECT).
	[ -z "$RAMFS" ] || bp_specs+=("bdev_aio_create bp_ram_a $RAMFS/a.img"
		"bdev_uring_create bp_ram_u $RAMFS/u.img")
	for spec in "${bp_specs[@]}"; do
		bdev_config "$TEST_DIR/bp.json" "$spec"
		out=$(timeout --kill-after=10 120 "$BIN/bdevperf" -r "$TEST_DIR/bp.sock" --json "$TEST_DIR/bp.json" \
			-q 32 -o 4096 -w verify -t 2 2>&1) || fail "bdevperf verify on '$spec': $out"
		assert_contains "$out" "failed: 0, verify mismatches: 0" "bdevperf verify on '$spec'"
		echo "bdevperf verify ($spec): $(grep -o 'I/O completed: [0-9]*' <<<"$out")"
	done
else
	echo "bdevperf not built: verify covered by bdev_io_check only"
fi

# ---- Delete while I/O runs: I/O drains, the descriptor closes, nothing crashes ----
# Two bdevs on one thread: deleting one must release its file (fd table and
# io_uring registered files) while the other keeps the thread's context busy.
# The second goes away at SIGTERM, with I/O still running.
dd if=/dev/zero of="$TEST_DIR/keep.img" bs=1M count=8 status=none
for m in aio uring; do
	bdev_config "$TEST_DIR/hot.json" "bdev_${m}_create hot $DISK" "bdev_${m}_create keep $TEST_DIR/keep.img"
	TGT_SOCK="$TEST_DIR/hot_$m.sock"
	TGT_LOG="$TEST_DIR/hot_$m.log"
	: >"$TGT_LOG"
	"$CHECK" -m 0x3 -r "$TGT_SOCK" --json "$TEST_DIR/hot.json" --bdev hot --bdev keep --hotremove \
		>"$TGT_LOG" 2>&1 &
	TGT_PID=$!
	deadline=$((SECONDS + 60))
	until grep -q "RUNNING hot" "$TGT_LOG" && grep -q "RUNNING keep" "$TGT_LOG"; do
		kill -0 "$TGT_PID" 2>/dev/null || fail "bdev_io_check --hotremove exited early"
		[ $SECONDS -lt $deadline ] || fail "no I/O running on the $m bdevs"
		sleep 0.05
	done
	rpc "bdev_${m}_delete" hot || fail "bdev_${m}_delete while I/O runs"
	deadline=$((SECONDS + 30))
	until grep -q "REMOVED hot" "$TGT_LOG"; do
		[ $SECONDS -lt $deadline ] || fail "the $m bdev was not released after delete"
		sleep 0.05
	done
	names=$(rpc bdev_get_bdevs | "$PY" -c 'import json,sys; print(" ".join(b["name"] for b in json.load(sys.stdin)))')
	[ "$names" = keep ] || fail "bdevs after deleting hot: $names"
	# Channels are released by messages: give them a moment.
	for _ in $(seq 50); do
		ls -l "/proc/$TGT_PID/fd" | grep -qF "$DISK" || break
		sleep 0.1
	done
	if ls -l "/proc/$TGT_PID/fd" | grep -qF "$DISK"; then
		fail "$DISK still open after the $m bdev was deleted"
	fi
	if [ $m = uring ]; then
		# The ring's registered files: keep.img still there, disk.img gone.
		for _ in $(seq 100); do
			files=$(ring_files "$TGT_PID")
			grep -qF "$TEST_DIR/keep.img" <<<"$files" && ! grep -qF "$DISK" <<<"$files" && break
			sleep 0.05
		done
		assert_contains "$files" "$TEST_DIR/keep.img" "registered files of the ring"
		if grep -qF "$DISK" <<<"$files"; then
			fail "$DISK still registered with io_uring after the bdev was deleted: $files"
		fi
	fi
	sleep 0.3
	stop_tgt TERM
	grep "REMOVED" "$TGT_LOG"
	assert_contains "$(cat "$TGT_LOG")" "REMOVED keep" "SIGTERM with I/O running"
done
echo "ok"
