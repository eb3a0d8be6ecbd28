#!/usr/bin/env bash
# NVMe-oF/TCP target under bad input: malformed PDU headers (type, hlen, pdo,
# plen), digest errors, unsupported SGL descriptors, data past MDTS or past
# the in-capsule size, bad H2CData, bad Connects (unknown subsystem, host not
# allowed, queue size 0 or too large, unknown cntlid), commands before Connect,
# peers closing mid-PDU and 1,000 connections opened and dropped. Statuses
# are the NVMe/TCP and NVMe-oF specifications' (C2HTermReq FES/FEI, Connect
# Invalid Parameters with IPO/IATTR...); after every probe a new connection
# writes and reads, and the target stays up and exits cleanly.
# Skips (77) while sluice_tgt has no NVMe-oF target.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/nvmf_common.sh"

PORT=4421
NQN=nqn.2024-01.io.sluice:bad-input
HOST=nqn.2014-08.org.nvmexpress:uuid:0badc0de-0000-4000-8000-000000000001
HOSTID=0badc0de-0000-4000-8000-000000000001
DENIED=nqn.2014-08.org.nvmexpress:uuid:0badc0de-0000-4000-8000-0000000000ff

nvmf_require_target -m 0x3

rpc nvmf_create_transport -t TCP
rpc bdev_malloc_create 64 512 -b Malloc0 >/dev/null
rpc nvmf_create_subsystem "$NQN" -s SLUICE00000000000BAD -m 4
rpc nvmf_subsystem_add_ns "$NQN" Malloc0
rpc nvmf_subsystem_add_listener "$NQN" -t tcp -a 127.0.0.1 -s "$PORT"
rpc nvmf_subsystem_add_host "$NQN" "$HOST"

for check in bad-pdu bad-digest bad-sgl bad-length bad-cmd bad-connect bad-close bad-flood bad-many; do
	nvmf_checks -s "$PORT" -n "$NQN" --hostnqn "$HOST" --hostid "$HOSTID" --denied-hostnqn "$DENIED" \
		--connections 1000 --mode strict "$check" >"$TEST_DIR/$check.out" 2>&1 || {
		cat "$TEST_DIR/$check.out"
		fail "$check"
	}
	grep -E '^(fact|ok: after)' "$TEST_DIR/$check.out" || true
	tgt_alive "$check"
	echo "ok: $check"
done

# The RPCs still answer and no controller is left behind by the probes.
deadline=$((SECONDS + 30))
until [ "$(rpc nvmf_subsystem_get_controllers "$NQN" | json_get 'len(d)')" = 0 ]; do
	[ $SECONDS -lt $deadline ] || fail "controllers left 30 s after the probes: $(rpc nvmf_subsystem_get_controllers "$NQN")"
	sleep 0.2
done
stop_tgt TERM
echo "ok"
