#!/usr/bin/env bash
# malloc, null and error bdevs through rpc.py: create/delete, what
# bdev_get_bdevs reports, save_config -> restart with --json -> the same bdevs,
# bad input answered clearly while the target keeps serving, and (with
# bdevperf) exactly N injected failures and hot-remove under I/O.
source "$(dirname "$0")/common.sh"

# expect_rpc_error "message part" rpc.py args...: the call must fail with it.
expect_rpc_error() {
	local want=$1 out rc=0
	shift
	out=$(rpc "$@" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "rpc.py $* succeeded, expected an error: $out"
	assert_contains "$out" "$want" "rpc.py $*"
}

# bdev_field NAME FIELD [SOCK]: one field of bdev_get_bdevs -b NAME (JSON-encoded).
bdev_field() {
	rpc bdev_get_bdevs -b "$1" | "$PY" -c 'import json,sys; print(json.dumps(json.load(sys.stdin)[0][sys.argv[1]]))' "$2"
}

# The summary save_config must reproduce: name block_size num_blocks uuid, sorted.
bdev_summary() {
	rpc bdev_get_bdevs | "$PY" -c '
import json, sys
for b in sorted(json.load(sys.stdin), key=lambda b: b["name"]):
    print(b["name"], b["block_size"], b["num_blocks"], b["uuid"], b["optimal_io_boundary"],
          b["claimed"])'
}

UUID_M=6f1e1c4e-3a52-4f0e-9c1b-0123456789ab
UUID_N=0d6b3c1a-8e2f-4b7d-a5c9-fedcba987654

start_tgt

# ---- create ----
[ "$(rpc bdev_malloc_create 64 512 -b Malloc0)" = Malloc0 ] || fail "bdev_malloc_create -b Malloc0"
[ "$(rpc bdev_malloc_create 8 4096)" = Malloc1 ] || fail "default malloc name is not Malloc1"
[ "$(rpc bdev_malloc_create 4 512 -b MallocU -u $UUID_M -o 8)" = MallocU ] ||
	fail "bdev_malloc_create with uuid and optimal_io_boundary"
[ "$(rpc bdev_null_create Null0 128 4096 -u $UUID_N)" = Null0 ] || fail "bdev_null_create"
rpc bdev_error_create Malloc0 >/dev/null || fail "bdev_error_create Malloc0"

[ "$(bdev_field Malloc0 block_size)" = 512 ] || fail "Malloc0 block_size"
[ "$(bdev_field Malloc0 num_blocks)" = 131072 ] || fail "Malloc0 num_blocks (64 MiB / 512)"
[ "$(bdev_field Malloc0 claimed)" = true ] || fail "Malloc0 is not claimed by EE_Malloc0"
[ "$(bdev_field Malloc0 product_name)" = '"Malloc disk"' ] || fail "Malloc0 product_name"
[ "$(bdev_field Malloc1 block_size)" = 4096 ] || fail "Malloc1 block_size"
[ "$(bdev_field Malloc1 num_blocks)" = 2048 ] || fail "Malloc1 num_blocks (8 MiB / 4096)"
[ "$(bdev_field MallocU uuid)" = "\"$UUID_M\"" ] || fail "MallocU uuid"
[ "$(bdev_field MallocU optimal_io_boundary)" = 8 ] || fail "MallocU optimal_io_boundary"
[ "$(bdev_field Null0 uuid)" = "\"$UUID_N\"" ] || fail "Null0 uuid"
[ "$(bdev_field Null0 num_blocks)" = 32768 ] || fail "Null0 num_blocks (128 MiB / 4096)"
[ "$(bdev_field Null0 product_name)" = '"Null disk"' ] || fail "Null0 product_name"
[ "$(bdev_field EE_Malloc0 block_size)" = 512 ] || fail "EE_Malloc0 block_size"
[ "$(bdev_field EE_Malloc0 num_blocks)" = 131072 ] || fail "EE_Malloc0 num_blocks"
assert_contains "$(bdev_field EE_Malloc0 driver_specific)" '"base_bdev": "Malloc0"' \
	"EE_Malloc0 driver_specific"
rpc bdev_error_inject_error EE_Malloc0 write failure -n 3
assert_contains "$(bdev_field EE_Malloc0 driver_specific)" \
	'"write": {"error_type": "failure", "remaining": 3}' "EE_Malloc0 injections"
rpc bdev_error_inject_error EE_Malloc0 clear failure
assert_contains "$(bdev_field EE_Malloc0 driver_specific)" '"injections": {}' "after clear"

# ---- bad input: clear errors, nothing created, the target keeps serving ----
before=$(bdev_summary)
expect_rpc_error "block_size 1000 is not a power of two >= 512" bdev_malloc_create 1 1000
expect_rpc_error "block_size 256 is not a power of two >= 512" bdev_malloc_create 1 256
expect_rpc_error "block_size 1000 is not a power of two >= 512" bdev_null_create NullX 1 1000
expect_rpc_error "block_size 256 is not a power of two >= 512" bdev_null_create NullX 1 256
# rpc.py refuses 0 itself; the server must too.
out=$(raw_rpc '{"jsonrpc":"2.0","id":1,"method":"bdev_malloc_create","params":{"num_blocks":8,"block_size":0}}')
assert_contains "$out" "block_size 0 is not a power of two >= 512" "malloc block_size 0"
out=$(raw_rpc '{"jsonrpc":"2.0","id":2,"method":"bdev_null_create","params":{"name":"NullX","num_blocks":8,"block_size":0}}')
assert_contains "$out" "block_size 0 is not a power of two >= 512" "null block_size 0"
out=$(raw_rpc '{"jsonrpc":"2.0","id":3,"method":"bdev_malloc_create","params":{"num_blocks":0,"block_size":512}}')
assert_contains "$out" "num_blocks must be greater than 0" "malloc num_blocks 0"
out=$(raw_rpc '{"jsonrpc":"2.0","id":4,"method":"bdev_null_create","params":{"name":"NullX","num_blocks":0,"block_size":512}}')
assert_contains "$out" "num_blocks must be greater than 0" "null num_blocks 0"
out=$(raw_rpc '{"jsonrpc":"2.0","id":5,"method":"bdev_malloc_create","params":{"num_blocks":-5,"block_size":512}}')
assert_contains "$out" '"code": -32602' "malloc num_blocks -5"
out=$(raw_rpc '{"jsonrpc":"2.0","id":6,"method":"bdev_malloc_create","params":{"num_blocks":8,"block_size":512,"md_size":8}}')
assert_contains "$out" "metadata and DIF are not supported" "malloc md_size 8"
expect_rpc_error "bdev 'Malloc0' already exists" bdev_malloc_create 1 512 -b Malloc0
expect_rpc_error "bdev 'Null0' already exists" bdev_malloc_create 1 512 -b Null0
expect_rpc_error "bdev 'Malloc0' already exists" bdev_null_create Malloc0 1 512
expect_rpc_error "invalid uuid 'not-a-uuid'" bdev_malloc_create 1 512 -u not-a-uuid
expect_rpc_error "of DMA memory for malloc bdev" bdev_malloc_create 1000000 4096
expect_rpc_error "no malloc bdev named 'nosuch'" bdev_malloc_delete nosuch
expect_rpc_error "no malloc bdev named 'Null0'" bdev_malloc_delete Null0
expect_rpc_error "no null bdev named 'Malloc1'" bdev_null_delete Malloc1
expect_rpc_error "base bdev 'nosuch' does not exist" bdev_error_create nosuch
expect_rpc_error "bdev 'EE_Malloc0' already exists" bdev_error_create Malloc0
expect_rpc_error "no error bdev named 'nosuch'" bdev_error_delete nosuch
expect_rpc_error "no error bdev named 'Malloc0'" bdev_error_delete Malloc0
expect_rpc_error "no error bdev named 'nosuch'" bdev_error_inject_error nosuch read failure
expect_rpc_error "unexpected io_type 'bogus'" bdev_error_inject_error EE_Malloc0 bogus failure
expect_rpc_error "unexpected error_type 'bogus'" bdev_error_inject_error EE_Malloc0 read bogus
[ "$(bdev_summary)" = "$before" ] || fail "bad input changed the bdevs: $(bdev_summary)"
assert_contains "$(rpc spdk_get_version)" "Sluice" "spdk_get_version after bad input"

# ---- save_config -> restart with --json -> the same bdevs ----
rpc save_config >"$TEST_DIR/saved.json"
for m in bdev_malloc_create bdev_null_create bdev_error_create; do
	assert_contains "$(cat "$TEST_DIR/saved.json")" "\"$m\"" "save_config"
done
stop_tgt TERM
start_tgt --json "$TEST_DIR/saved.json"
after=$(bdev_summary)
[ "$after" = "$before" ] || fail "bdevs differ after --json reload:
before:
$before
after:
$after"
# Saving again gives the same config.
rpc save_config >"$TEST_DIR/saved2.json"
"$PY" - "$TEST_DIR/saved.json" "$TEST_DIR/saved2.json" <<'EOF' || fail "save_config differs after reload"
import json, sys
def entries(path):
    cfg = json.load(open(path))
    out = []
    for sub in cfg["subsystems"]:
        for e in sub.get("config") or []:
            out.append(json.dumps(e, sort_keys=True))
    return sorted(out)
sys.exit(0 if entries(sys.argv[1]) == entries(sys.argv[2]) else 1)
EOF

# ---- delete ----
rpc bdev_error_delete EE_Malloc0
[ "$(bdev_field Malloc0 claimed)" = false ] || fail "Malloc0 still claimed after bdev_error_delete"
rpc bdev_error_create Malloc0 >/dev/null
# Deleting the base removes the error bdev stacked on it.
rpc bdev_malloc_delete Malloc0
out=$(rpc bdev_get_bdevs)
[[ "$out" != *'"EE_Malloc0"'* ]] || fail "EE_Malloc0 survived the removal of its base"
[[ "$out" != *'"Malloc0"'* ]] || fail "Malloc0 still listed after bdev_malloc_delete"
rpc bdev_malloc_delete Malloc1
rpc bdev_malloc_delete MallocU
rpc bdev_null_delete Null0
[ "$(rpc bdev_get_bdevs)" = "[]" ] || fail "bdevs left after deleting all: $(rpc bdev_get_bdevs)"
expect_rpc_error "no null bdev named 'Null0'" bdev_null_delete Null0
# A deleted default name can be created again.
[ "$(rpc bdev_malloc_create 1 512 -b Malloc0)" = Malloc0 ] || fail "re-create Malloc0"
rpc bdev_malloc_delete Malloc0
stop_tgt TERM

# ---- a config as SPDK's save_config writes it loads ----
cat >"$TEST_DIR/spdk.json" <<EOF
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_error_create","params":{"base_name":"Malloc0","uuid":"$UUID_N"}},
 {"method":"bdev_malloc_create","params":{"name":"Malloc0","num_blocks":2048,"block_size":4096,
  "physical_block_size":4096,"uuid":"$UUID_M","optimal_io_boundary":0,"md_size":0,"dif_type":0,
  "dif_is_head_of_md":false,"dif_pi_format":0,"numa_id":-1}},
 {"method":"bdev_null_create","params":{"name":"Null0","num_blocks":1024,"block_size":512,
  "physical_block_size":512,"md_size":0,"dif_type":0,"dif_is_head_of_md":false,"dif_pi_format":0,
  "uuid":"11111111-2222-4333-8444-555555555555"}},
 {"method":"bdev_wait_for_examine"}]}]}
EOF
start_tgt --json "$TEST_DIR/spdk.json"
got=$(bdev_summary)
want="EE_Malloc0 4096 2048 $UUID_N 0 False
Malloc0 4096 2048 $UUID_M 0 True
Null0 512 1024 11111111-2222-4333-8444-555555555555 0 False"
[ "$got" = "$want" ] || fail "SPDK-style config: got
$got
want
$want"
stop_tgt TERM

# ---- error injection and hot-remove under real I/O (bdev_io_check) ----
CHECK="$TOP/$BUILD/test/func/progs/bdev_io_check"
if [ -x "$CHECK" ]; then
	cat >"$TEST_DIR/io.json" <<EOF
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_malloc_create","params":{"name":"Malloc0","num_blocks":65536,"block_size":512}},
 {"method":"bdev_error_create","params":{"base_name":"Malloc0"}},
 {"method":"bdev_wait_for_examine"}]}]}
EOF
	TGT_SOCK="$TEST_DIR/io.sock"
	TGT_LOG="$TEST_DIR/io.log"
	"$CHECK" --json "$TEST_DIR/io.json" -r "$TGT_SOCK" --bdev EE_Malloc0 --hotremove \
		>"$TGT_LOG" 2>&1 &
	TGT_PID=$!
	deadline=$((SECONDS + 60))
	until grep -q "RUNNING EE_Malloc0" "$TGT_LOG"; do
		kill -0 "$TGT_PID" 2>/dev/null || fail "bdev_io_check exited early"
		[ $SECONDS -lt $deadline ] || fail "bdev_io_check did not start I/O"
		sleep 0.05
	done
	# Random reads and writes at queue depth 32: exactly 5 reads and 3 writes fail.
	rpc bdev_error_inject_error EE_Malloc0 read failure -n 5
	rpc bdev_error_inject_error EE_Malloc0 write failure -n 3
	deadline=$((SECONDS + 30))
	until [ "$(bdev_field EE_Malloc0 driver_specific)" = '{"error": {"base_bdev": "Malloc0", "injections": {}}}' ]; do
		[ $SECONDS -lt $deadline ] || fail "injections not consumed: $(bdev_field EE_Malloc0 driver_specific)"
		sleep 0.1
	done
	stats=$(rpc bdev_get_iostat)
	"$PY" -c '
import json, sys
st = {b["name"]: b for b in json.loads(sys.argv[1])["bdevs"]}
assert st["EE_Malloc0"]["io_error"] == 8, st["EE_Malloc0"]
assert st["Malloc0"]["io_error"] == 0, st["Malloc0"]
assert st["EE_Malloc0"]["num_read_ops"] > 100 and st["EE_Malloc0"]["num_write_ops"] > 100
' "$stats" || fail "expected exactly 8 failed I/Os on EE_Malloc0: $stats"
	# Two writes held, then the base is deleted under I/O: EE_Malloc0 goes away, the
	# held writes fail, the user sees the remove, nothing crashes.
	rpc bdev_error_inject_error EE_Malloc0 write pending -n 2
	sleep 0.2
	rpc bdev_malloc_delete Malloc0 || fail "bdev_malloc_delete under I/O"
	deadline=$((SECONDS + 30))
	until grep -q "REMOVED EE_Malloc0" "$TGT_LOG"; do
		[ $SECONDS -lt $deadline ] || fail "the user of EE_Malloc0 never saw the remove"
		sleep 0.05
	done
	line=$(grep "REMOVED EE_Malloc0" "$TGT_LOG")
	errors=${line##*errors=}
	[ "$errors" -ge 10 ] || fail "expected >= 10 failed I/Os (8 injected + 2 held): $line"
	[ "$(rpc bdev_get_bdevs)" = "[]" ] || fail "bdevs left after hot-remove: $(rpc bdev_get_bdevs)"
	stop_tgt TERM
	echo "injection and hot-remove under I/O: $line"
else
	echo "NOTE: $CHECK not built: injection under I/O not checked with it"
fi

# ---- bdevperf: verify through the error bdev, exactly N failures over two cores ----
BDEVPERF="$BIN/bdevperf"
if [ ! -x "$BDEVPERF" ]; then
	echo "NOTE: $BDEVPERF not built: bdevperf checks skipped"
	echo "ok"
	exit 0
fi
cat >"$TEST_DIR/perf.json" <<EOF
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_malloc_create","params":{"name":"Malloc0","num_blocks":16384,"block_size":512}},
 {"method":"bdev_error_create","params":{"base_name":"Malloc0"}},
 {"method":"bdev_null_create","params":{"name":"Null0","num_blocks":262144,"block_size":4096}},
 {"method":"bdev_wait_for_examine"}]}]}
EOF
out=$(timeout --kill-after=10 120 "$BDEVPERF" -r "$TEST_DIR/perf.sock" --json "$TEST_DIR/perf.json" -m 0x3 -C \
	-q 16 -o 4096 -w verify -t 1 -T EE_Malloc0 2>&1) || fail "bdevperf verify on EE_Malloc0: $out"
assert_contains "$out" "failed: 0, verify mismatches: 0" "bdevperf verify on EE_Malloc0"
echo "bdevperf verify through EE_Malloc0: ok"
out=$(timeout --kill-after=10 120 "$BDEVPERF" -r "$TEST_DIR/perf.sock" --json "$TEST_DIR/perf.json" -m 0x3 -C \
	-q 32 -o 4096 -w randread -t 1 -T Null0 2>&1) || fail "bdevperf on Null0: $out"
echo "bdevperf randread on Null0, 2 cores: $(grep '^ Total' <<<"$out" | awk '{print $3}') IOPS"

# Inject while both cores' jobs read through EE_Malloc0: they race for the budget.
N=50
PERF_LOG="$TEST_DIR/perf.log"
TGT_SOCK="$TEST_DIR/perf.sock" TGT_LOG="$PERF_LOG"
"$BDEVPERF" -r "$TGT_SOCK" --json "$TEST_DIR/perf.json" -m 0x3 -C -q 16 -o 4096 -w randread \
	-t 3 -f -T EE_Malloc0 >"$PERF_LOG" 2>&1 &
TGT_PID=$!
deadline=$((SECONDS + 60))
while [ ! -S "$TGT_SOCK" ]; do
	kill -0 "$TGT_PID" 2>/dev/null || fail "bdevperf exited during start-up"
	[ $SECONDS -lt $deadline ] || fail "bdevperf did not create $TGT_SOCK"
	sleep 0.05
done
rpc framework_wait_init >/dev/null
sleep 0.5
rpc bdev_error_inject_error EE_Malloc0 read failure -n $N
rc=0
wait "$TGT_PID" || rc=$?
TGT_PID=
[ "$rc" -eq 0 ] || fail "bdevperf -f exited with $rc"
assert_contains "$(cat "$PERF_LOG")" ", failed: $N, verify mismatches: 0" "bdevperf with $N injected failures"
echo "bdevperf: exactly $N injected read failures over two cores: ok"
echo "ok"
