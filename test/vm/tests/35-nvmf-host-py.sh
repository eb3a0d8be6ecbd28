#!/usr/bin/env bash
# test/func/nvmf_host.py (the project's own NVMe/TCP host for tests) against
# a real peer: the Linux kernel NVMe/TCP target (nvmet, configfs) exporting a
# RAM disk on 127.0.0.1, subsystem on 4420 and 8009 (discovery). Positive
# checks assert (discovery log, identify values, write/read verify with
# digests off and on, R2T writes, 1-byte segmented PDUs, several I/O queues,
# SQ flow control off, keep-alive, AEN for a namespace added and removed
# while connected, allow-list); the bad-input probes run in "observe" mode and their
# outcomes are printed as "fact:" lines, the kernel's reading of the specs.
# shellcheck source=../test-lib.sh
. "$(dirname "$0")/../test-lib.sh"

W=$SL_TEST_WORKDIR

guest=$(guest_script guest.sh <<'EOF2'
nqn=nqn.2024-01.io.sluice:kernel-target
checks=$SL_REPO/test/func/nvmf_checks.py
host=$SL_REPO/test/func/nvmf_host.py

modprobe brd rd_nr=2 rd_size=65536
vm_nvmet_tcp_export "$nqn" /dev/ram0 4420
# A second port for discovery (nvme-cli's default 8009), same subsystem.
p=/sys/kernel/config/nvmet/ports/8009
mkdir "$p"
echo tcp >"$p/addr_trtype"
echo ipv4 >"$p/addr_adrfam"
echo 127.0.0.1 >"$p/addr_traddr"
echo 8009 >"$p/addr_trsvcid"
ln -s "/sys/kernel/config/nvmet/subsystems/$nqn" "$p/subsystems/$nqn"

rc=0
python3 "$host" selftest >/dev/null && echo "selftest=passed"
# Discovery through 8009, and through 4420 (the kernel serves it on every port).
python3 "$checks" -n "$nqn" --disc-port 8009 --expect-trsvcid 8009 discovery || rc=1
python3 "$checks" -n "$nqn" --disc-port 4420 --expect-trsvcid 4420 discovery || rc=1
python3 "$checks" -n "$nqn" --ns-bytes 67108864 --model Linux \
	identify verify digests r2t segmented queues pipeline many-ctrls sqflow || rc=1
# HPDA other than 0: recorded (observe mode), see the facts.
python3 "$checks" -n "$nqn" --mode observe hpda || rc=1
python3 "$checks" -n "$nqn" keepalive || rc=1
# A namespace added while connected (configfs nsid 2 on the second RAM disk).
ns2=/sys/kernel/config/nvmet/subsystems/$nqn/namespaces/2
python3 "$checks" -n "$nqn" --hotadd-cmd "mkdir $ns2 && echo -n /dev/ram1 >$ns2/device_path && echo 1 >$ns2/enable" \
	aen || rc=1
python3 "$checks" -n "$nqn" --remove-cmd "echo 0 >$ns2/enable && rmdir $ns2" ns-remove || rc=1
echo "positive_rc=$rc"
# The CLI: discover and a write/read verify with both digests.
python3 "$host" -s 8009 discover >/tmp/disc.json && grep -q "\"subnqn\": \"$nqn\"" /tmp/disc.json &&
	echo "cli_discover=ok"
python3 "$host" -n "$nqn" -g -G verify --length 65536 >/tmp/verify.json &&
	grep -q '"match": true' /tmp/verify.json && echo "cli_verify=ok"
cat /tmp/verify.json
# A marker written by nvmf_host.py is on the RAM disk behind the target.
python3 - "$nqn" <<'PY'
import os, sys
sys.path.insert(0, os.environ['SL_REPO'] + '/test/func')
import nvmf_host as nh
c = nh.Controller.connect('127.0.0.1', 4420, sys.argv[1])
c.enable()
q = c.connect_io_queue(1)
q.write(1, 12000 * 8, b'sluice-nvmf-host-marker'.ljust(4096, b'.'))
c.shutdown()
print('marker=written')
PY
dd if=/dev/ram0 bs=4096 skip=12000 count=1 status=none | grep -qa sluice-nvmf-host-marker && echo "backing=has-marker"
# Allow-list: a subsystem open to one host only is refused to others
# (Connect Invalid Host) and left out of their discovery log.
nqn2=$nqn-allow
hok=nqn.2014-08.org.nvmexpress:uuid:35353535-0000-4000-8000-000000000001
hno=nqn.2014-08.org.nvmexpress:uuid:35353535-0000-4000-8000-0000000000ff
cfs=/sys/kernel/config/nvmet
mkdir "$cfs/subsystems/$nqn2" "$cfs/hosts/$hok"
ln -s "$cfs/hosts/$hok" "$cfs/subsystems/$nqn2/allowed_hosts/"
ln -s "$cfs/subsystems/$nqn2" "$cfs/ports/8009/subsystems/$nqn2"
python3 "$host" -s 8009 -q "$hno" discover >/tmp/d-no.json
python3 "$host" -s 8009 -q "$hok" discover >/tmp/d-ok.json
grep -q "\"subnqn\": \"$nqn2\"" /tmp/d-no.json || echo "disc_hidden=yes"
grep -q "\"subnqn\": \"$nqn2\"" /tmp/d-ok.json && echo "disc_shown=yes"
rc=0
python3 "$host" -s 8009 -n "$nqn2" -q "$hno" id-ctrl >/dev/null 2>/tmp/refused.txt || rc=$?
cat /tmp/refused.txt
[ $rc = 1 ] && grep -q "sct 0x1 sc 0x84 (Connect Invalid Host)" /tmp/refused.txt && echo "refused=invalid-host"
python3 "$host" -s 8009 -n "$nqn2" -q "$hok" id-ctrl >/dev/null && echo "allowed=yes"
rm "$cfs/ports/8009/subsystems/$nqn2"
# Bad input: the kernel's reactions, then the target must still serve.
python3 "$checks" -n "$nqn" --mode observe --connections 200 bad && echo "observe=passed"
dmesg | grep -i nvmet | tail -n 20 >&2
EOF2
)

"$VMRUN" --workdir "$W" --env "SL_REPO=$SL_REPO" --script "$guest" >"$W/out" 2>"$W/err" || {
	cat "$W/out" "$W/err"
	fail "guest script failed"
}
cat "$W/out"
get() { sed -n "s/^$1=//p" "$W/out"; }
grep -q '^FAIL' "$W/out" && fail "a check failed: $(grep '^FAIL' "$W/out" | head -3)"
expect_eq "nvmf_host.py selftest (CRC32C, PDU parser)" "$(get selftest)" passed
expect_eq "positive checks against the kernel target" "$(get positive_rc)" 0
expect_eq "nvmf_host.py discover lists the subsystem" "$(get cli_discover)" ok
expect_eq "nvmf_host.py verify with header+data digests" "$(get cli_verify)" ok
expect_eq "data written by nvmf_host.py on the RAM disk" "$(get backing)" has-marker
expect_eq "bad-input probes: the kernel target kept serving" "$(get observe)" passed
expect_eq "discovery log hides a subsystem from a host it does not allow" "$(get disc_hidden)" yes
expect_eq "discovery log shows it to the allowed host" "$(get disc_shown)" yes
expect_eq "Connect from a host not allowed" "$(get refused)" invalid-host
expect_eq "Connect from the allowed host" "$(get allowed)" yes
# Facts that must hold (the kernel follows the NVMe-oF spec here).
grep -q "^fact: Connect to an unknown subsystem -> CapsuleResp {'dw0': 65792, .*'sct': 1, 'sc': 130" "$W/out" ||
	fail "Connect to an unknown subsystem: expected sct 1 sc 0x82 with IPO 256 IATTR 1"
ok "unknown subsystem: Connect Invalid Parameters, IPO 256 (SUBNQN), IATTR 1"
grep -q "^fact: SQ flow control disabled: read completed by C2HData SUCCESS" "$W/out" ||
	fail "the kernel target no longer ends reads with C2HData SUCCESS when SQ flow control is off"
ok "SQ flow control off: reads end with C2HData SUCCESS"
echo "---- kernel target facts ----"
grep '^fact:' "$W/out"
