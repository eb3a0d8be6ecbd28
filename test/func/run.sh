#!/usr/bin/env bash
# Run every functional test (test/func/test_*.sh); prints one line per test
# and a final "N passed, N failed[, N skipped]" line.
set -uo pipefail
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-build}

pass=0 failn=0 skip=0
failed=()
for t in test/func/test_*.sh; do
	name=$(basename "$t" .sh)
	log=$(mktemp)
	start=$SECONDS
	timeout --kill-after=10 600 bash "$t" >"$log" 2>&1
	rc=$?
	dur=$((SECONDS - start))
	case $rc in
	0) echo "PASS $name (${dur}s)"; pass=$((pass + 1)) ;;
	77) echo "SKIP $name: $(tail -n 1 "$log")"; skip=$((skip + 1)) ;;
	*)
		echo "FAIL $name (rc $rc, ${dur}s)"
		sed 's/^/    /' "$log" | tail -n 60
		failn=$((failn + 1))
		failed+=("$name")
		;;
	esac
	rm -f "$log"
done
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $failn failed, $skip skipped"
else
	echo "$pass passed, $failn failed"
fi
[ "$failn" -eq 0 ]
