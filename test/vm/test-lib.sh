# shellcheck shell=bash
# Host-side helpers for the VM tests in test/vm/tests/ (source it first).
# A test may also run on its own: test/vm/tests/10-vfio.sh
set -euo pipefail

: "${SL_VM_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
: "${VMRUN:=$SL_VM_DIR/vmrun}"
: "${SL_REPO:=$(cd "$SL_VM_DIR/../.." && pwd)}"
if [ -z "${SL_TEST_WORKDIR:-}" ]; then
	mkdir -p /var/tmp/sluice-vm-work
	SL_TEST_WORKDIR=$(mktemp -d /var/tmp/sluice-vm-work/test-XXXXXX)
fi
mkdir -p "$SL_TEST_WORKDIR"
cd "$SL_REPO"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Exit status 77 tells run_tests.sh the test was skipped.
skip() {
	echo "SKIP: $*"
	exit 77
}

ok() {
	echo "ok: $*"
}

expect_eq() {
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
	ok "$1 ($3)"
}

# guest_script NAME: store stdin as a guest script in the work dir, print
# its path (for vmrun --script). The script starts with guest-lib loaded.
guest_script() {
	local path=$SL_TEST_WORKDIR/$1
	{
		echo '#!/bin/bash'
		echo 'set -euo pipefail'
		echo '. "$SL_VM_LIB"'
		cat
	} >"$path"
	chmod +x "$path"
	echo "$path"
}
