#!/usr/bin/env bash
# scripts/run.sh (what `make run` starts): the default config comes up with
# Disk0, a 1 GiB uring bdev under SLUICE_RUN_DIR, exported over NVMe/TCP as
# nqn.2016-06.io.sluice:disk0 with a discovery listener (ports moved off
# 4420/8009 here so a target already running on this machine does not clash),
# and stops cleanly on SIGINT.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/nvmf_common.sh"

export SLUICE_NVMF_PORT=4421
export SLUICE_NVMF_DISCOVERY_PORT=4422
export SLUICE_RUN_DIR="$TEST_DIR/run"
export SLUICE_RPC_SOCKET="$TEST_DIR/run.sock"
TGT_SOCK=$SLUICE_RPC_SOCKET
TGT_LOG="$TEST_DIR/run.log"
"$TOP/scripts/run.sh" >"$TGT_LOG" 2>&1 &
TGT_PID=$!
deadline=$((SECONDS + 60))
while [ ! -S "$TGT_SOCK" ]; do
	kill -0 "$TGT_PID" 2>/dev/null || fail "run.sh exited during start-up"
	[ $SECONDS -lt $deadline ] || fail "run.sh did not create $TGT_SOCK"
	sleep 0.1
done
rpc framework_wait_init >/dev/null
info=$(rpc bdev_get_bdevs -b Disk0)
assert_contains "$info" '"name": "Disk0"' "bdev_get_bdevs -b Disk0"
assert_contains "$info" '"num_blocks": 2097152' "Disk0 is 1 GiB of 512-byte blocks"
assert_contains "$info" '"product_name": "' "bdev_get_bdevs -b Disk0"
[ "$(stat -c %s "$SLUICE_RUN_DIR/disk0.img")" = 1073741824 ] || fail "disk0.img is not 1 GiB"
out=$(nvmf_host -s 4422 discover) || fail "discover on the default config: $out"
assert_contains "$out" '"subnqn": "nqn.2016-06.io.sluice:disk0"' "discovery log of the default config"
out=$(nvmf_host -s 4421 -n nqn.2016-06.io.sluice:disk0 id-ctrl) || fail "id-ctrl: $out"
assert_contains "$out" '"sn": "SLUICE00000000000001"' "serial of the default subsystem"
out=$(nvmf_host -s 4421 -n nqn.2016-06.io.sluice:disk0 verify --length 65536) || fail "verify: $out"
assert_contains "$out" '"match": true' "write/read through NVMe/TCP to Disk0"
stop_tgt INT
echo "ok"
