#!/usr/bin/env bash
# sluice_tgt on two reactors: framework RPCs through rpc.py, save_config fed
# back with --json, SIGTERM -> exit 0.
source "$(dirname "$0")/common.sh"

start_tgt -m 0x3

methods=$(rpc rpc_get_methods)
for m in rpc_get_methods spdk_get_version sluice_get_version framework_get_reactors \
	thread_get_stats log_set_flag log_get_flags log_set_level save_config framework_wait_init; do
	assert_contains "$methods" "\"$m\"" rpc_get_methods
done

ver=$(rpc spdk_get_version)
assert_contains "$ver" '"version": "Sluice v' spdk_get_version
[ "$(rpc sluice_get_version)" = "$ver" ] || fail "sluice_get_version differs from spdk_get_version"

reactors=$(rpc framework_get_reactors)
n=$("$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["reactors"]))' <<<"$reactors")
[ "$n" = 2 ] || fail "expected 2 reactors with -m 0x3, got $n: $reactors"
assert_contains "$reactors" '"app_thread"' framework_get_reactors

stats=$(rpc thread_get_stats)
assert_contains "$stats" '"tick_rate"' thread_get_stats
assert_contains "$stats" '"app_thread"' thread_get_stats

rpc log_set_flag rpc
flags=$(rpc log_get_flags)
assert_contains "$flags" '"rpc": true' log_get_flags
rpc log_clear_flag rpc
assert_contains "$(rpc log_get_flags)" '"rpc": false' log_get_flags
rpc log_set_level debug
[ "$(rpc log_get_level)" = DEBUG ] || fail "log_get_level after set debug: $(rpc log_get_level)"
rpc log_set_level notice

rpc save_config >"$TEST_DIR/saved.json"
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d["subsystems"], list)' \
	"$TEST_DIR/saved.json" || fail "save_config output is not a config: $(cat "$TEST_DIR/saved.json")"
stop_tgt TERM

# The saved config loads back.
start_tgt -m 0x1 --json "$TEST_DIR/saved.json"
stop_tgt INT
echo "ok"
