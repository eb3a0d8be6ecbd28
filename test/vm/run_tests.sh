#!/usr/bin/env bash
# Run the VM tier: every executable test/vm/tests/*.sh, one at a time (the
# machine has 2 cores and each guest uses both).
#
#   run_tests.sh [-v] [PATTERN...]     PATTERN: substring of test names
#
# A test exits 0 (pass), 77 (skip) or anything else (fail). It gets
#   VMRUN, SL_VM_DIR, SL_REPO, SL_TEST_WORKDIR (its own empty directory)
# and runs from the repository root. A "# vm-test-timeout: SEC" line in a
# test raises its time limit (default 900 s).
# SL_SKIP_VM=1 skips the tier, except in CI (CI=true).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
DEFAULT_TIMEOUT=900

verbose=0
patterns=()
for a in "$@"; do
	case $a in
	-v) verbose=1 ;;
	-h | --help) sed -n '2,11p' "$0"; exit 0 ;;
	*) patterns+=("$a") ;;
	esac
done

if [ "${SL_SKIP_VM:-0}" = 1 ]; then
	if [ "${CI:-}" = true ]; then
		echo "run_tests.sh: SL_SKIP_VM=1 ignored: the VM tier always runs in CI"
	else
		echo "run_tests.sh: VM tier skipped (SL_SKIP_VM=1)"
		exit 0
	fi
fi

base=/var/tmp/sluice-vm-work
# Old runs' logs go after a week.
find "$base" -maxdepth 1 -name 'run-*' -mtime +7 -exec rm -rf {} + 2>/dev/null
results=$base/run-$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$results"
echo "run_tests.sh: logs in $results"

passed=0
failed=0
skipped=0
failures=()
t_all=$(date +%s)

for test in "$HERE"/tests/*.sh; do
	[ -x "$test" ] || continue
	name=$(basename "$test" .sh)
	if [ ${#patterns[@]} -gt 0 ]; then
		match=0
		for p in "${patterns[@]}"; do [[ $name == *"$p"* ]] && match=1; done
		[ $match = 1 ] || continue
	fi
	limit=$(sed -n 's/^# vm-test-timeout: *\([0-9]\+\).*/\1/p' "$test" | head -1)
	limit=${limit:-$DEFAULT_TIMEOUT}
	log=$results/$name.log
	work=$results/$name
	mkdir -p "$work"
	t0=$(date +%s)
	# Own process group under timeout: a hung test takes its guests with it.
	if [ $verbose = 1 ]; then
		(cd "$REPO" && VMRUN=$HERE/vmrun SL_VM_DIR=$HERE SL_REPO=$REPO SL_TEST_WORKDIR=$work \
			timeout -k 30 "$limit" "$test") 2>&1 | tee "$log"
		rc=${PIPESTATUS[0]}
	else
		(cd "$REPO" && VMRUN=$HERE/vmrun SL_VM_DIR=$HERE SL_REPO=$REPO SL_TEST_WORKDIR=$work \
			timeout -k 30 "$limit" "$test") >"$log" 2>&1 </dev/null
		rc=$?
	fi
	secs=$(($(date +%s) - t0))
	case $rc in
	0)
		echo "PASS $name (${secs}s)"
		passed=$((passed + 1))
		# Keep the log, drop disk images and the like.
		rm -rf "$work"
		;;
	77)
		echo "SKIP $name: $(grep -m1 '^SKIP' "$log" | sed 's/^SKIP: *//')"
		skipped=$((skipped + 1))
		rm -rf "$work"
		;;
	*)
		[ "$rc" = 124 ] && why="timed out after ${limit}s" || why="exit $rc"
		echo "FAIL $name ($why, ${secs}s) log: $log"
		if [ $verbose = 0 ]; then
			echo "---- last lines of $log ----"
			tail -n 60 "$log"
			echo "----"
		fi
		failed=$((failed + 1))
		failures+=("$name")
		;;
	esac
done

total=$((passed + failed + skipped))
if [ $total = 0 ]; then
	rmdir "$results"
	echo "run_tests.sh: no test matched ${patterns[*]:-} in $HERE/tests"
	exit 1
fi
echo "VM tier: $(($(date +%s) - t_all))s; logs in $results"
[ $failed -gt 0 ] && echo "failed: ${failures[*]}"
summary="$passed passed, $failed failed"
[ $skipped -gt 0 ] && summary+=", $skipped skipped"
echo "$summary"
[ $failed = 0 ]
