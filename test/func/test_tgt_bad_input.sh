#!/usr/bin/env bash
# Bad command lines, bad configs and bad RPC traffic: clear errors, and the
# running target keeps serving.
source "$(dirname "$0")/common.sh"

# expect_start_error "message part" args...: sluice_tgt must exit non-zero with it.
expect_start_error() {
	local want=$1 out rc=0
	shift
	out=$(timeout 60 "$BIN/sluice_tgt" -r "$TEST_DIR/never.sock" "$@" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "sluice_tgt $* succeeded, expected an error"
	[ "$rc" -ne 124 ] || fail "sluice_tgt $* hung"
	assert_contains "$out" "$want" "sluice_tgt $*"
}

expect_start_error "unknown option: --bogus" --bogus
expect_start_error "unexpected argument 'extra'" extra
expect_start_error "invalid core mask '0x0'" -m 0x0
expect_start_error "invalid core mask 'zz'" -m zz
expect_start_error "names core 100" -m '[100]'
expect_start_error "invalid memory size 'lots'" -s lots
expect_start_error "is larger than the" -s 100000G --no-huge
expect_start_error "unknown log flag 'nope'" -L nope
expect_start_error "No such file" --json "$TEST_DIR/missing.json"

printf '{\n  "subsystems": [\n    { "subsystem": }\n  ]\n}\n' >"$TEST_DIR/syntax.json"
expect_start_error "syntax.json:3:" --json "$TEST_DIR/syntax.json"
echo '{"subsystems":[{"subsystem":"nosuch","config":[]}]}' >"$TEST_DIR/unk_sub.json"
expect_start_error "unknown subsystem 'nosuch'" --json "$TEST_DIR/unk_sub.json"
echo '[]' >"$TEST_DIR/notobj.json"
expect_start_error "expected an object with a \"subsystems\" array" --json "$TEST_DIR/notobj.json"

start_tgt
# Unknown method, wrong parameter type, unknown parameter.
out=$(raw_rpc '{"jsonrpc":"2.0","id":0,"method":"nosuch_method"}')
assert_contains "$out" '"code": -32601' "unknown method"
assert_contains "$out" "Method not found: nosuch_method" "unknown method"
# rpc.py reports the server's error and exits non-zero.
rc=0
out=$(rpc log_set_flag nope 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "rpc.py log_set_flag nope exited 0"
assert_contains "$out" "unknown log flag 'nope'" "rpc.py log_set_flag nope"
out=$(raw_rpc '{"jsonrpc":"2.0","id":1,"method":"log_set_flag","params":{"flag":5}}')
assert_contains "$out" '"code": -32602' "wrong type"
assert_contains "$out" "'flag' must be a string" "wrong type"
out=$(raw_rpc '{"jsonrpc":"2.0","id":2,"method":"log_set_flag","params":{"flag":"rpc","x":1}}')
assert_contains "$out" "unknown parameter 'x'" "unknown parameter"
out=$(raw_rpc '{"jsonrpc":"2.0","id":3,"method":"log_set_flag"}')
assert_contains "$out" "missing required parameter 'flag'" "missing parameter"
out=$(raw_rpc '{"jsonrpc":"2.0","id":4,"method":"log_set_flag","params":[1]}')
assert_contains "$out" '"code": -32602' "array params"
# Not JSON-RPC 2.0, not an object, garbage (connection closed after a parse error).
out=$(raw_rpc '{"id":5,"method":"spdk_get_version"}')
assert_contains "$out" '"code": -32600' "missing jsonrpc"
out=$(raw_rpc '42')
assert_contains "$out" '"code": -32600' "non-object request"
out=$(raw_rpc 'this is not json')
assert_contains "$out" '"code": -32700' "garbage"
assert_contains "$out" "CLOSED" "garbage"
# Oversized request: 2 MiB of an unterminated string.
"$PY" -c 'import sys; sys.stdout.write("{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"x\",\"params\":{\"a\":\"" + "A" * (2 << 20))' >"$TEST_DIR/big"
out=$(raw_rpc "@$TEST_DIR/big")
assert_contains "$out" "larger than the 1 MiB limit" "oversized request"
assert_contains "$out" "CLOSED" "oversized request"
# Byte-at-a-time request, two requests in one write.
out=$(raw_rpc --chunk 1 '{"jsonrpc":"2.0","id":7,"method":"spdk_get_version"}')
assert_contains "$out" '"id": 7' "1-byte chunks"
out=$(raw_rpc '{"jsonrpc":"2.0","id":8,"method":"spdk_get_version"}{"jsonrpc":"2.0","id":9,"method":"spdk_get_version"}')
[ "$(grep -c '"id": [89]' <<<"$out")" = 2 ] || fail "two requests in one write: $out"
# A client that disconnects mid-request, then many more.
for i in $(seq 1 50); do
	raw_rpc --close-after-send '{"jsonrpc":"2.0","id":1,"method":"spdk_get' >/dev/null
done
raw_rpc --close-after-send '{"jsonrpc":"2.0","id":1,"method":"framework_get_reactors"}' >/dev/null
# The target still serves.
assert_contains "$(rpc spdk_get_version)" "Sluice" "spdk_get_version after bad clients"
stop_tgt TERM
echo "ok"
