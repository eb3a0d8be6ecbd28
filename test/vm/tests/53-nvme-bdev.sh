#!/usr/bin/env bash
# The nvme bdev module and sluice_perf over QEMU's emulated NVMe behind the
# intel IOMMU (container backend, Debian kernel): sluice_perf randread on 2
# controllers from 2 cores with -L, randrw -M 70 on one, a bad -o refused;
# bdevperf verify on Nvme0n1 attached from
# a JSON config; sluice_tgt attaches both controllers with
# bdev_nvme_attach_controller (one bdev per namespace, "<name>n<nsid>"),
# lists them (bdev_get_bdevs, bdev_nvme_get_controllers), resets one, and
# exports Nvme0n1 over NVMe/TCP to the kernel host, where fio verifies through
# the whole stack (kernel host -> sluice_tgt -> lib/nvme -> emulated NVMe);
# bad attach parameters get clear errors; detach removes the bdevs.
# vm-test-timeout: 600
. "$(dirname "$0")/../test-lib.sh"

W=$SL_TEST_WORKDIR
[ -x "$SL_REPO/build/bin/bdevperf" ] || fail "build first (make)"

guest=$(guest_script guest.sh <<'EOF2'
B=$SL_REPO/build
sock=/tmp/sluice.sock
nqn=nqn.2024-01.io.sluice:vm-nvme-bdev
rpc() { python3 "$SL_REPO/scripts/rpc.py" -s "$sock" -t 120 "$@"; }
jget() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
bdfs=($(vm_nvme_bdfs))
[ ${#bdfs[@]} = 2 ] || vm_fail "want 2 NVMe controllers, found: ${bdfs[*]}"
for bdf in "${bdfs[@]}"; do vm_bind_vfio "$bdf"; done

# bdevperf verify on the first namespace of the first controller.
cat >/tmp/bp.json <<JSON
{"subsystems":[{"subsystem":"bdev","config":[
 {"method":"bdev_nvme_attach_controller","params":{"name":"Nvme0","trtype":"PCIe","traddr":"${bdfs[0]}"}}]}]}
JSON
timeout --kill-after=10 180 "$B/bin/bdevperf" -r /tmp/bp.sock --json /tmp/bp.json -q 32 -o 4096 \
	-w verify -t 4 >/tmp/bp.out 2>&1 || { cat /tmp/bp.out >&2; vm_fail "bdevperf failed"; }
cat /tmp/bp.out >&2
sed -n 's/.*I\/O completed: \([0-9]*\), failed: \([0-9]*\), verify mismatches: \([0-9]*\).*/bp_completed=\1\nbp_failed=\2\nbp_mismatch=\3/p' /tmp/bp.out

# sluice_perf: both controllers from both cores, then a mixed workload.
timeout --kill-after=10 120 "$B/bin/sluice_perf" -q 16 -o 4096 -w randread -t 2 -c 0x3 -L \
	>/tmp/perf.out 2>&1 || { cat /tmp/perf.out >&2; vm_fail "sluice_perf randread failed"; }
cat /tmp/perf.out >&2
echo "perf_lines=$(grep -c '^PCIE (' /tmp/perf.out)"
echo "perf_iops=$(awk '/^Total/ {print int($2)}' /tmp/perf.out)"
sed -n 's/^I\/O completed: \([0-9]*\), failed: \([0-9]*\)$/perf_failed=\2/p' /tmp/perf.out
echo "perf_pct=$(grep -c '%' /tmp/perf.out)"
timeout --kill-after=10 120 "$B/bin/sluice_perf" -q 8 -o 8192 -w randrw -M 70 -t 1 \
	-r "trtype:PCIe traddr:${bdfs[1]}" >/tmp/perf2.out 2>&1 || { cat /tmp/perf2.out >&2; vm_fail "sluice_perf randrw failed"; }
echo "perf2_iops=$(awk '/^Total/ {print int($2)}' /tmp/perf2.out)"
if ! "$B/bin/sluice_perf" -q 8 -o 1000 -w read -t 1 -r "trtype:PCIe traddr:${bdfs[1]}" \
	>/tmp/perf3.out 2>&1 && grep -q "multiple of" /tmp/perf3.out; then
	echo "perf_bad_size=refused"
fi

"$B/bin/sluice_tgt" -r "$sock" -m 0x1 >/tmp/tgt.log 2>&1 &
tgt_pid=$!
trap 'kill -KILL $tgt_pid 2>/dev/null; cat /tmp/tgt.log >&2' ERR
vm_wait_for "sluice_tgt RPC socket" test -S "$sock"
rpc framework_wait_init >/dev/null
echo "attach0=$(rpc bdev_nvme_attach_controller -b Nvme0 -t PCIe -a "${bdfs[0]}" | tr -d ' \n')"
echo "attach1=$(rpc bdev_nvme_attach_controller -b Nvme1 -t PCIe -a "${bdfs[1]}" | tr -d ' \n')"
# refused NAME ARGS...: the attach fails and says why (the message must match).
refused() {
	local what=$1 msg=$2
	shift 2
	if ! rpc bdev_nvme_attach_controller "$@" >/tmp/refused.out 2>&1 &&
		grep -q "$msg" /tmp/refused.out; then
		echo "$what=yes"
	fi
}
refused dup_refused "attached already" -b Nvme2 -t PCIe -a "${bdfs[0]}"
refused nodev_refused "cannot attach" -b Nvme3 -t PCIe -a 0000:7f:1f.7
refused tcp_refused "not supported" -b Nvme4 -t TCP -a 127.0.0.1
echo "n1_blocks=$(rpc bdev_get_bdevs -b Nvme0n1 | jget 'd[0]["num_blocks"]')"
echo "n2_blocks=$(rpc bdev_get_bdevs -b Nvme0n2 | jget 'd[0]["num_blocks"]')"
echo "ctrlr_serial=$(rpc bdev_nvme_get_controllers -n Nvme1 | jget 'd[0]["ctrlrs"][0]["serial_number"].strip()')"
rpc bdev_nvme_reset_controller Nvme0 && echo "reset=ok"

rpc nvmf_create_transport -t TCP
rpc nvmf_create_subsystem "$nqn" -a -s SLUICENVME0000000001 -m 4
rpc nvmf_subsystem_add_ns "$nqn" Nvme0n1 >/dev/null
rpc nvmf_subsystem_add_listener "$nqn" -t tcp -a 127.0.0.1 -s 4420
vm_modprobe nvme-tcp
vm_nvme_connect_tcp "$nqn" 127.0.0.1 4420 --nr-io-queues=2 >/dev/null
dev=$(vm_nvme_blockdev_by_nsid "$nqn" 1)
echo "exported_size=$(blockdev --getsize64 "$dev")"
vm_fio_verify "$dev" 8M && echo "fio_over_tcp=passed"
vm_nvme_disconnect "$nqn"
rpc nvmf_delete_subsystem "$nqn"
rpc bdev_nvme_detach_controller Nvme0
if ! rpc bdev_get_bdevs -b Nvme0n1 >/dev/null 2>&1; then echo "detached=yes"; fi
echo "left=$(rpc bdev_nvme_get_controllers | jget '[c["name"] for c in d]')"
kill -TERM $tgt_pid
wait $tgt_pid && echo "tgt_exit=0"
trap - ERR
EOF2
)

rc=0
"$VMRUN" --workdir "$W" --hugepages 256 --nvme "SLBD0:64M,32M" --nvme "SLBD1:16M" \
	--env "SL_REPO=$SL_REPO" --script "$guest" >"$W/out" 2>"$W/err" || rc=$?
cat "$W/out"
get() { sed -n "s/^$1=//p" "$W/out"; }
if [ $rc != 0 ]; then
	tail -n 80 "$W/err"
	fail "guest script failed (exit $rc)"
fi
completed=$(get bp_completed)
[ -n "$completed" ] && [ "$completed" -gt 0 ] || fail "bdevperf completed no I/O: '$completed'"
ok "bdevperf verify on Nvme0n1 ($completed I/Os)"
expect_eq "bdevperf failed I/Os" "$(get bp_failed)" 0
expect_eq "bdevperf verify mismatches" "$(get bp_mismatch)" 0
expect_eq "sluice_perf: a line per core per controller" "$(get perf_lines)" 4
iops=$(get perf_iops)
[ -n "$iops" ] && [ "$iops" -gt 0 ] || fail "sluice_perf randread IOPS: '$iops'"
ok "sluice_perf randread, 2 cores x 2 controllers ($iops IOPS under TCG)"
expect_eq "sluice_perf failed I/Os" "$(get perf_failed)" 0
expect_eq "sluice_perf -L percentile rows" "$(get perf_pct)" 9
iops=$(get perf2_iops)
[ -n "$iops" ] && [ "$iops" -gt 0 ] || fail "sluice_perf randrw IOPS: '$iops'"
ok "sluice_perf randrw -M 70 on one controller ($iops IOPS)"
expect_eq "sluice_perf refuses an I/O size that is not a block multiple" "$(get perf_bad_size)" refused
expect_eq "attach Nvme0: a bdev per namespace" "$(get attach0)" '["Nvme0n1","Nvme0n2"]'
expect_eq "attach Nvme1" "$(get attach1)" '["Nvme1n1"]'
expect_eq "the same controller twice is refused" "$(get dup_refused)" yes
expect_eq "a missing BDF is refused" "$(get nodev_refused)" yes
expect_eq "trtype TCP is refused (initiator not built)" "$(get tcp_refused)" yes
expect_eq "Nvme0n1 size (512-byte blocks)" "$(get n1_blocks)" $((64 << 11))
expect_eq "Nvme0n2 size" "$(get n2_blocks)" $((32 << 11))
expect_eq "bdev_nvme_get_controllers serial" "$(get ctrlr_serial)" SLBD1
expect_eq "bdev_nvme_reset_controller" "$(get reset)" ok
expect_eq "Nvme0n1 exported over NVMe/TCP" "$(get exported_size)" $((64 << 20))
expect_eq "fio verify: kernel host -> sluice_tgt -> lib/nvme -> NVMe" "$(get fio_over_tcp)" passed
expect_eq "detach removes the bdevs" "$(get detached)" yes
expect_eq "controllers left" "$(get left)" "['Nvme1']"
expect_eq "sluice_tgt exits 0 on SIGTERM" "$(get tgt_exit)" 0
