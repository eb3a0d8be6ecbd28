#!/usr/bin/env bash
# With hugepages reserved by scripts/setup.sh the target runs on them (no
# --no-huge fallback); -s larger than the free hugepages is refused.
source "$(dirname "$0")/common.sh"

[ "$(id -u)" -eq 0 ] || { echo "needs root to reserve hugepages"; exit 77; }
HUGEMEM=${HUGEMEM:-512} "$TOP/scripts/setup.sh" config >/dev/null
free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
[ "$free" -ge 32 ] || fail "setup.sh reserved too few free hugepages: $free"

start_tgt -m 0x3 -s 32
grep -q "no hugepages reserved" "$TGT_LOG" && fail "fell back to --no-huge with hugepages reserved"
assert_contains "$(rpc framework_get_reactors)" '"lcore": 1' framework_get_reactors
stop_tgt TERM

out=$("$BIN/sluice_tgt" -r "$TEST_DIR/x.sock" -s 100000G 2>&1) && fail "-s 100000G accepted"
assert_contains "$out" "larger than the" "-s 100000G"
echo "ok"
