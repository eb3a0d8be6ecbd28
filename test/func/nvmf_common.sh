# shellcheck shell=bash
# Helpers for the NVMe-oF/TCP functional tests (sourced after common.sh).
# The tests run against sluice_tgt with SPDK's nvmf_* RPCs and check the wire
# with test/func/nvmf_host.py (stdlib-only NVMe/TCP host) and nvmf_checks.py.

NVMF_CHECKS="$TOP/test/func/nvmf_checks.py"
NVMF_HOST="$TOP/test/func/nvmf_host.py"
DISCOVERY_NQN=nqn.2014-08.org.nvmexpress.discovery

# nvmf_require_target [sluice_tgt args...]: start the target; exit 77 (skip)
# when it has no NVMe-oF target yet (no nvmf_get_transports method).
nvmf_require_target() {
	start_tgt "$@"
	if ! rpc rpc_get_methods | grep -q '"nvmf_get_transports"'; then
		stop_tgt TERM
		echo "SKIP: sluice_tgt has no nvmf_get_transports RPC: the NVMe-oF/TCP target (issue #5) is not in this build"
		exit 77
	fi
	# rpc.py must speak SPDK's nvmf command lines too.
	"$PY" "$RPC_PY" nvmf_create_subsystem -h >/dev/null 2>&1 ||
		fail "the target has nvmf RPCs but scripts/rpc.py has no nvmf_create_subsystem command"
}

# nvmf_checks ARGS...: run nvmf_checks.py against 127.0.0.1.
nvmf_checks() {
	"$PY" "$NVMF_CHECKS" -a 127.0.0.1 "$@"
}

nvmf_host() {
	"$PY" "$NVMF_HOST" -a 127.0.0.1 "$@"
}

# json_get EXPR: evaluate a Python expression on the JSON from stdin (as d).
json_get() {
	"$PY" -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# tgt_alive WHAT: the target process must still be running.
tgt_alive() {
	kill -0 "$TGT_PID" 2>/dev/null || fail "sluice_tgt died ($1)"
}
