#!/usr/bin/env bash
# The NVMe/TCP target on the io_uring socket implementation: the same wire
# checks as test_nvmf_tcp.sh (verify, digests, R2T, 1-byte segments, several
# queues, SQ flow control off, a pipeline of commands in one write) with
# `sock_set_default_impl -i uring` in the start-up config (the method is
# start-up only, as in SPDK), and save_config keeping it; an IPv6 listener
# on ::1 serves the subsystem too.
# Skips (77) while sluice_tgt has no NVMe-oF target.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/nvmf_common.sh"

PORT=4413
NQN=nqn.2024-01.io.sluice:tcp-uring

cat >"$TEST_DIR/uring.json" <<'JSON'
{"subsystems": [{"subsystem": "sock", "config": [
  {"method": "sock_set_default_impl", "params": {"impl_name": "uring"}}]}]}
JSON
nvmf_require_target -m 0x3 --json "$TEST_DIR/uring.json"
rpc nvmf_create_transport -t TCP
rpc bdev_malloc_create 64 512 -b Malloc0 >/dev/null
rpc nvmf_create_subsystem "$NQN" -a -s SLUICE00000000URING1 -m 4
rpc nvmf_subsystem_add_ns "$NQN" Malloc0
rpc nvmf_subsystem_add_listener "$NQN" -t tcp -a 127.0.0.1 -s "$PORT"
assert_contains "$(rpc save_config)" '"impl_name": "uring"' "save_config keeps the default socket implementation"

nvmf_checks -s "$PORT" -n "$NQN" --ns-bytes $((64 << 20)) --queues 4 \
	verify digests r2t segmented queues sqflow pipeline >"$TEST_DIR/checks.out" 2>&1 ||
	{ cat "$TEST_DIR/checks.out"; fail "nvmf_checks.py failed on the uring socket implementation"; }
out=$(nvmf_host -s "$PORT" -n "$NQN" -g -G verify --length 131072) || fail "verify: $out"
assert_contains "$out" '"match": true' "128 KiB verify with digests over uring sockets"
# IPv6: a listener on ::1 serves the same subsystem.
rpc nvmf_subsystem_add_listener "$NQN" -t tcp -a ::1 -s 4414 -f ipv6
assert_contains "$(rpc nvmf_get_subsystems "$NQN")" '"adrfam": "IPv6"' "IPv6 listener listed"
out=$("$PY" "$NVMF_HOST" -a ::1 -s 4414 -n "$NQN" verify --length 65536) || fail "verify over IPv6: $out"
assert_contains "$out" '"match": true' "write/read over IPv6"
tgt_alive "uring checks"
stop_tgt TERM
echo "ok"
