#!/usr/bin/env bash
# vmrun itself: exit status, stdout/stderr, the guest's view of the host,
# time limit, failure reports, and each option that the other tests do not
# cover. About ten short boots.
# shellcheck source=../test-lib.sh
. "$(dirname "$0")/../test-lib.sh"

W=$SL_TEST_WORKDIR

# The guest command's status is vmrun's, including values above 127.
rc=0
"$VMRUN" --workdir "$W/a" -- sh -c 'exit 200' 2>"$W/a.err" || rc=$?
expect_eq "exit status passes through" "$rc" 200
grep -q "last lines of the guest console" "$W/a.err" || fail "no console tail on failure"
grep -q "QEMU command line" "$W/a.err" || fail "no QEMU command line on failure"
ok "failure report has the console tail and the QEMU command line"

# stdout arrives byte for byte; stderr is kept apart.
"$VMRUN" --workdir "$W/b" -- sh -c 'seq 1 20000; echo to-stderr >&2' >"$W/b.out" 2>"$W/b.err"
seq 1 20000 | cmp -s - "$W/b.out" || fail "guest stdout differs from seq 1 20000"
ok "stdout is exact (seq 1 20000)"
grep -qx to-stderr "$W/b.err" || fail "guest stderr did not reach vmrun's stderr"
ok "stderr is separate"

# The guest's view: same cwd, host root read-only, tmpfs, writable work dir
# at the same path, loopback only, modules on demand, configfs mounted.
probe=$(guest_script probe.sh <<'EOF'
echo "cwd=$PWD"
[ -f test/vm/vmrun ] && echo repo=visible
touch test/vm/.probe 2>/dev/null && echo root=writable || echo root=readonly
for d in tmp run var/tmp; do echo "fs_${d//\//_}=$(stat -f -c %T "/$d")"; done
echo hello-host >"$SL_VM_WORKDIR/from-guest"
echo "netdevs=$(ls /sys/class/net | tr '\n' ' ')"
echo "lo=$(cat /sys/class/net/lo/operstate)"
echo "cpus=$(nproc)"
echo "memtotal_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)"
echo "hugepages=$(vm_hugepages)"
echo "brd=$([ -d /sys/module/brd ] && echo loaded)"
vm_modprobe null_blk && echo "null_blk=$([ -b /dev/nullb0 ] && echo present)"
echo "configfs=$(stat -f -c %T /sys/kernel/config)"
echo "rng=$(grep -l 0x1af4 /sys/bus/pci/devices/*/vendor | xargs -n1 dirname | xargs -I{} cat {}/device | grep -c -e 0x1005 -e 0x1044)"
EOF
)
"$VMRUN" --workdir "$W/c" --smp 1 --mem 1024 --hugepages 16 --modules brd \
	--qemu-arg -device --qemu-arg virtio-rng-pci --script "$probe" >"$W/c.out"
cat "$W/c.out"
get() { sed -n "s/^$1=//p" "$W/c.out"; }
expect_eq "guest cwd is the caller's" "$(get cwd)" "$SL_REPO"
expect_eq "repository visible" "$(get repo)" visible
expect_eq "host root" "$(get root)" readonly
for d in tmp run var_tmp; do expect_eq "tmpfs on /${d/_//}" "$(get "fs_$d")" tmpfs; done
expect_eq "work dir written by the guest" "$(cat "$W/c/from-guest")" hello-host
expect_eq "network devices" "$(get netdevs)" "lo "
expect_eq "loopback" "$(get lo)" unknown
expect_eq "--smp 1" "$(get cpus)" 1
mem=$(get memtotal_kb)
[ "$mem" -gt 700000 ] && [ "$mem" -le 1048576 ] || fail "--mem 1024: MemTotal $mem kB"
ok "--mem 1024 (MemTotal $mem kB)"
expect_eq "--hugepages 16" "$(get hugepages)" 16
expect_eq "--modules brd" "$(get brd)" loaded
expect_eq "modprobe in the guest" "$(get null_blk)" present
expect_eq "configfs" "$(get configfs)" configfs
expect_eq "--qemu-arg adds a device" "$(get rng)" 1

# Time limit: a hung guest is killed and reported as 124.
rc=0
start=$(date +%s)
"$VMRUN" --workdir "$W/d" --timeout 20 -- sleep 3600 2>"$W/d.err" || rc=$?
expect_eq "timeout status" "$rc" 124
grep -q TIMEOUT "$W/d.err" || fail "no TIMEOUT message"
[ $(($(date +%s) - start)) -lt 120 ] || fail "the hung guest was not killed in time"
ok "hung guest killed"

# QEMU failing to start is a harness failure (125), not a test result.
rc=0
"$VMRUN" --workdir "$W/e" --qemu-arg -no-such-option -- true 2>"$W/e.err" || rc=$?
expect_eq "QEMU failure status" "$rc" 125
grep -q "QEMU failed" "$W/e.err" || fail "no 'QEMU failed' message"
grep -q -- "-no-such-option" "$W/e.err" || fail "QEMU's complaint not shown"
ok "QEMU failure reported"

# A kernel panic and a failing guest init are harness failures too, and
# the console tail shows why.
rc=0
"$VMRUN" --workdir "$W/g" -- sh -c 'echo c >/proc/sysrq-trigger' 2>"$W/g.err" || rc=$?
expect_eq "kernel panic status" "$rc" 125
grep -q "the guest kernel panicked" "$W/g.err" || fail "panic not reported"
grep -q "Kernel panic" "$W/g.err" || fail "panic message not in the console tail"
ok "kernel panic reported"
rc=0
"$VMRUN" --workdir "$W/h" --modules no_such_module -- true 2>"$W/h.err" || rc=$?
expect_eq "guest init failure status" "$rc" 125
grep -q "sluice-vm-init: FATAL: modprobe no_such_module" "$W/h.err" || fail "init failure not shown"
ok "guest init failure reported"

# Bookworm's 6.1 kernel boots as well.
kver=$("$VMRUN" --workdir "$W/f" --kernel debian61 -- uname -r)
case $kver in 6.1.*) ok "--kernel debian61 boots $kver" ;; *) fail "--kernel debian61 runs '$kver'" ;; esac
