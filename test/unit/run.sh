#!/usr/bin/env bash
# Run every unit-test program under $BUILD/test/unit/ (BUILD defaults to build),
# plus the Python tests of scripts/rpc.py. One line per program, PASS or FAIL
# (a failing program's output follows its line), then "N passed, N failed".
# Exit status 1 when anything failed.
#
#   BUILD=build test/unit/run.sh
#   UT_TIMEOUT=300 test/unit/run.sh        per-program timeout in seconds
#   SL_UT_KNOWN_BUGS=1 test/unit/run.sh    also run tests of known, unfixed bugs
set -u

cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
UT_TIMEOUT=${UT_TIMEOUT:-120}
PYTHON=/usr/bin/python3

passed=0
failed=0
failed_names=()
out=$(mktemp "${TMPDIR:-/tmp}/sluice-unit.XXXXXX")
trap 'rm -f "$out"' EXIT

# run NAME CMD...: run one program with a timeout, report it, count it.
run() {
	local name=$1 rc start end
	shift
	start=$(date +%s.%N)
	timeout --kill-after=10 "$UT_TIMEOUT" "$@" >"$out" 2>&1
	rc=$?
	end=$(date +%s.%N)
	local secs
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
	if [ "$rc" -eq 0 ]; then
		echo "PASS $name (${secs}s)"
		passed=$((passed + 1))
	else
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "FAIL $name (timed out after ${UT_TIMEOUT}s)"
		else
			echo "FAIL $name (exit status $rc, ${secs}s)"
		fi
		sed 's/^/    /' "$out"
		failed=$((failed + 1))
		failed_names+=("$name")
	fi
}

progs=()
if [ -d "$BUILD/test/unit" ]; then
	while IFS= read -r -d '' p; do
		progs+=("$p")
	done < <(find "$BUILD/test/unit" -type f -perm -u+x -print0 | sort -z)
fi
if [ ${#progs[@]} -eq 0 ]; then
	echo "no unit-test programs under $BUILD/test/unit (run make tests first)"
fi

for p in "${progs[@]}"; do
	run "${p#"$BUILD"/test/unit/}" "$p"
done

if [ -f test/unit/rpcpy/test_rpcpy.py ]; then
	run rpcpy/test_rpcpy.py "$PYTHON" test/unit/rpcpy/test_rpcpy.py
fi

if [ "$failed" -ne 0 ]; then
	echo "failed: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
