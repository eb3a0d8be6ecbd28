# Shared helpers for functional tests (sourced). Each test is a bash script
# that exits 0 on pass, 77 on skip, anything else on failure.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
BIN="$TOP/$BUILD/bin"
RPC_PY="$TOP/scripts/rpc.py"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

TEST_DIR=$(mktemp -d /tmp/sluice-func.XXXXXX)
TGT_PID=
TGT_LOG=
TGT_SOCK=

fail() {
	echo "FAIL: $*" >&2
	if [ -n "$TGT_LOG" ] && [ -f "$TGT_LOG" ]; then
		echo "---- target log (tail) ----" >&2
		tail -n 30 "$TGT_LOG" >&2
	fi
	exit 1
}

cleanup() {
	if [ -n "$TGT_PID" ] && kill -0 "$TGT_PID" 2>/dev/null; then
		kill -KILL "$TGT_PID" 2>/dev/null || true
	fi
	rm -rf "$TEST_DIR"
}
trap cleanup EXIT

rpc() {
	"$PY" "$RPC_PY" -s "$TGT_SOCK" -t 30 "$@"
}

# start_tgt [sluice_tgt args...]: start in the background on a private socket,
# wait until it answers framework_wait_init.
start_tgt() {
	local deadline=$((SECONDS + 60))
	TGT_SOCK="$TEST_DIR/tgt$RANDOM.sock"
	TGT_LOG="$TEST_DIR/tgt$RANDOM.log"
	"$BIN/sluice_tgt" -r "$TGT_SOCK" "$@" >"$TGT_LOG" 2>&1 &
	TGT_PID=$!
	while [ ! -S "$TGT_SOCK" ]; do
		kill -0 "$TGT_PID" 2>/dev/null || fail "sluice_tgt $* exited during start-up"
		[ $SECONDS -lt $deadline ] || fail "sluice_tgt did not create $TGT_SOCK"
		sleep 0.05
	done
	rpc framework_wait_init >/dev/null || fail "framework_wait_init failed"
}

# stop_tgt [SIGNAL]: signal the target and require exit status 0.
stop_tgt() {
	local sig=${1:-TERM} rc=0 deadline=$((SECONDS + 60))
	kill "-$sig" "$TGT_PID"
	while kill -0 "$TGT_PID" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || fail "sluice_tgt did not exit within 60 s of SIG$sig"
		sleep 0.05
	done
	wait "$TGT_PID" || rc=$?
	TGT_PID=
	[ "$rc" -eq 0 ] || fail "sluice_tgt exited with $rc after SIG$sig"
	if grep -q "ERROR: AddressSanitizer\|LeakSanitizer\|runtime error:" "$TGT_LOG"; then
		fail "sanitizer report in the target log"
	fi
}

# Raw JSON-RPC exchange: send bytes, print whatever comes back until close or timeout.
raw_rpc() {
	"$PY" "$TOP/test/func/raw_client.py" "$TGT_SOCK" "$@"
}

assert_contains() {
	local haystack=$1 needle=$2 what=${3:-output}
	grep -qF -- "$needle" <<<"$haystack" || fail "$what does not contain '$needle': $haystack"
}
