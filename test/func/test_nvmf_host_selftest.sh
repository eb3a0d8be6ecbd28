#!/usr/bin/env bash
# test/func/nvmf_host.py checks itself without a target: CRC32C vectors, the
# PDU reader fed 1 byte at a time, digest and header errors, and sessions with
# an in-process fake controller (several R2Ts per write, H2CData split at
# MAXH2CDATA, C2HData reassembly with and without SUCCESS, digests). Run with
# every python3 found (Debian's and, if present, another on PATH): the
# library is standard-library only.
source "$(dirname "$0")/common.sh"

pythons=("$PY")
other=$(command -v python3 || true)
if [ -n "$other" ] && [ "$("$other" -c 'import sys; print(sys.executable)')" != "$("$PY" -c 'import sys; print(sys.executable)')" ]; then
	pythons+=("$other")
fi
for py in "${pythons[@]}"; do
	out=$(timeout --kill-after=10 120 "$py" "$TOP/test/func/nvmf_host.py" selftest 2>&1) || fail "$py nvmf_host.py selftest: $out"
	assert_contains "$out" '"selftest": "passed"' "$py selftest"
	assert_contains "$out" '"fake_target_sessions": 3' "$py selftest"
	echo "ok: nvmf_host.py selftest with $py ($("$py" --version 2>&1))"
done
# The CLI reports a refused connection as a connection problem (exit 2).
rc=0
"$PY" "$TOP/test/func/nvmf_host.py" -s 1 -t 2 -n nqn.2024-01.io.sluice:none id-ctrl >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "nvmf_host.py against a closed port exited $rc, want 2"
echo "ok"
