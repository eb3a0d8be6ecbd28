#!/usr/bin/env bash
# NVMe-oF/TCP target, host side: sluice_tgt configured with SPDK's nvmf RPCs
# (TCP transport, a subsystem with a malloc namespace, a listener, the
# discovery listener), checked on the wire with nvmf_host.py: discovery log,
# identify values, write/read verify with digests off and on, R2T writes,
# 1-byte segmented PDUs, several I/O queues, SQ flow control off, HPDA,
# keep-alive timeout, AEN for a namespace added and removed while connected,
# a subsystem deleted under a connected host; the
# allow-list refuses other hosts; what the nvmf_* RPCs report while hosts are
# connected; save_config -> restart with --json -> the same subsystems.
# Skips (77) while sluice_tgt has no NVMe-oF target.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/nvmf_common.sh"

PORT=4411
DPORT=4412
NQN=nqn.2024-01.io.sluice:tcp-func
NQN2=nqn.2024-01.io.sluice:tcp-func-allow
SERIAL=SLUICE0000000000TCP1
MODEL="Sluice TCP func"
HOST_OK=nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555
HOST_NO=nqn.2014-08.org.nvmexpress:uuid:99999999-2222-3333-4444-555555555555

nvmf_require_target -m 0x3

rpc nvmf_create_transport -t TCP
assert_contains "$(rpc nvmf_get_transports)" '"trtype": "TCP"' nvmf_get_transports
rpc bdev_malloc_create 64 512 -b Malloc0 >/dev/null
rpc bdev_malloc_create 32 4096 -b Malloc1 >/dev/null
rpc nvmf_create_subsystem "$NQN" -a -s "$SERIAL" -d "$MODEL" -m 8
rpc nvmf_subsystem_add_ns "$NQN" Malloc0
rpc nvmf_subsystem_add_listener "$NQN" -t tcp -a 127.0.0.1 -s "$PORT"
rpc nvmf_subsystem_add_listener "$DISCOVERY_NQN" -t tcp -a 127.0.0.1 -s "$DPORT"

# ---- the wire
nvmf_checks -s "$PORT" -n "$NQN" --disc-port "$DPORT" --serial "$SERIAL" --model "$MODEL" \
	--ns-bytes $((64 << 20)) --queues 4 \
	discovery identify verify digests r2t segmented queues pipeline many-ctrls sqflow hpda keepalive >"$TEST_DIR/checks.out" 2>&1 ||
	{ cat "$TEST_DIR/checks.out"; fail "nvmf_checks.py failed"; }
grep '^fact:' "$TEST_DIR/checks.out"
tgt_alive "positive checks"
# A namespace added while a host is connected: AEN, Changed Namespace List.
rpc bdev_malloc_create 16 4096 -b Malloc2 >/dev/null
nvmf_checks -s "$PORT" -n "$NQN" --hotadd-nsid 2 \
	--hotadd-cmd "$PY $RPC_PY -s $TGT_SOCK nvmf_subsystem_add_ns $NQN Malloc2" aen >"$TEST_DIR/aen.out" 2>&1 ||
	{ cat "$TEST_DIR/aen.out"; fail "namespace hot-add AEN"; }
# ... and removed again while connected.
nvmf_checks -s "$PORT" -n "$NQN" --remove-nsid 2 \
	--remove-cmd "$PY $RPC_PY -s $TGT_SOCK nvmf_subsystem_remove_ns $NQN 2" ns-remove >"$TEST_DIR/rm.out" 2>&1 ||
	{ cat "$TEST_DIR/rm.out"; fail "namespace removal while connected"; }

# The CLI, with both digests and a write larger than in-capsule.
out=$(nvmf_host -s "$PORT" -n "$NQN" -g -G verify --length 131072) || fail "nvmf_host.py verify: $out"
assert_contains "$out" '"match": true' "nvmf_host.py verify"
[ "$(json_get 'd["r2t"] >= 1' <<<"$out")" = True ] || fail "128 KiB write without R2T: $out"

# ---- allow-list: only HOST_OK may connect to NQN2 (a 4 KiB-block namespace).
rpc nvmf_create_subsystem "$NQN2" -s SLUICE0000000000TCP2 -m 4
rpc nvmf_subsystem_add_ns "$NQN2" Malloc1
rpc nvmf_subsystem_add_listener "$NQN2" -t tcp -a 127.0.0.1 -s "$PORT"
rpc nvmf_subsystem_add_host "$NQN2" "$HOST_OK"
rc=0
out=$(nvmf_host -s "$PORT" -n "$NQN2" -q "$HOST_NO" id-ctrl 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "a host not on the allow-list connected (rc $rc): $out"
assert_contains "$out" "sct 0x1 sc 0x84 (Connect Invalid Host)" "refused host"
out=$(nvmf_host -s "$PORT" -n "$NQN2" -q "$HOST_OK" id-ns --nsid 1) || fail "allowed host: $out"
[ "$(json_get 'd["block_size"]' <<<"$out")" = 4096 ] || fail "NQN2 ns 1 block size: $out"
[ "$(json_get 'd["nsze"]' <<<"$out")" = 8192 ] || fail "NQN2 ns 1 size (blocks): $out"
out=$(nvmf_host -s "$PORT" -n "$NQN2" -q "$HOST_OK" verify --length 65536) || fail "allowed host verify: $out"
# The discovery log names a subsystem only to the hosts it allows.
out=$(nvmf_host -s "$DPORT" -q "$HOST_NO" discover) || fail "discover: $out"
assert_contains "$out" "\"subnqn\": \"$NQN\"" "discovery log for HOST_NO"
if grep -q "\"subnqn\": \"$NQN2\"" <<<"$out"; then
	fail "the discovery log shows $NQN2 to a host it does not allow"
fi
out=$(nvmf_host -s "$DPORT" -q "$HOST_OK" discover) || fail "discover: $out"
assert_contains "$out" "\"subnqn\": \"$NQN2\"" "discovery log for HOST_OK"

# ---- RPC outputs
rpc nvmf_get_subsystems >"$TEST_DIR/subs.json"
"$PY" - "$TEST_DIR/subs.json" "$NQN" "$SERIAL" "$MODEL" "$PORT" "$NQN2" "$HOST_OK" <<'PY' ||
import json, sys
path, nqn, serial, model, port, nqn2, host_ok = sys.argv[1:]
subs = {s['nqn']: s for s in json.load(open(path))}
assert 'nqn.2014-08.org.nvmexpress.discovery' in subs, 'no discovery subsystem'
s = subs[nqn]
assert s['subtype'] == 'NVMe', s
assert s['serial_number'] == serial, s
assert s['model_number'] == model, s
assert s['allow_any_host'] is True, s
assert s['max_namespaces'] == 8, s
la = s['listen_addresses']
assert any(l['trtype'].upper() == 'TCP' and l['traddr'] == '127.0.0.1' and l['trsvcid'] == port
           and l['adrfam'].upper() == 'IPV4' for l in la), la
ns = s['namespaces']
assert [(n['nsid'], n['bdev_name']) for n in ns] == [(1, 'Malloc0')], ns
s2 = subs[nqn2]
assert s2['allow_any_host'] is False, s2
assert [h['nqn'] for h in s2['hosts']] == [host_ok], s2
PY
	fail "nvmf_get_subsystems: $(cat "$TEST_DIR/subs.json")"

# Controllers, qpairs and stats while a host holds an admin and 2 I/O queues.
"$PY" - "$PORT" "$NQN" "$RPC_PY" "$TGT_SOCK" <<'PY' || fail "RPCs with a connected host"
import json, os, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(sys.argv[3]), '..', 'test', 'func'))
import nvmf_host as nh
port, nqn, rpc_py, sock = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

def rpc(*args):
    return json.loads(subprocess.run([sys.executable, rpc_py, '-s', sock] + list(args),
                                     check=True, capture_output=True, text=True).stdout)

c = nh.Controller.connect('127.0.0.1', port, nqn, kato=30000)
c.enable()
q1 = c.connect_io_queue(1)
q2 = c.connect_io_queue(2)
all_ctrls = rpc('nvmf_subsystem_get_controllers', nqn)
# Controllers of the earlier checks may still be going away: look at ours.
ctrls = [x for x in all_ctrls if x['hostnqn'] == c.hostnqn]
assert len(ctrls) == 1, all_ctrls
assert ctrls[0]['cntlid'] == c.cntlid, (ctrls, c.cntlid)
assert ctrls[0]['hostid'].replace('-', '') == nh.uuid.UUID(bytes=c.hostid).hex, ctrls
qps = rpc('nvmf_subsystem_get_qpairs', nqn)
assert sorted(q['qid'] for q in qps if q['cntlid'] == c.cntlid) == [0, 1, 2], qps
assert all(q['listen_address']['trtype'].upper() == 'TCP' for q in qps), qps
assert all(q['listen_address']['trsvcid'] == str(port) for q in qps), qps
stats = rpc('nvmf_get_stats')
assert stats['poll_groups'], stats
tr = [t for pg in stats['poll_groups'] for t in pg.get('transports', [])]
assert any(t['trtype'].upper() == 'TCP' for t in tr), stats
cur = sum(pg.get('current_admin_qpairs', 0) for pg in stats['poll_groups'])
cio = sum(pg.get('current_io_qpairs', 0) for pg in stats['poll_groups'])
assert cur >= 1 and cio >= 2, stats
c.shutdown()
c.close()
print('ok: controllers, qpairs and stats report the connected host')
PY
# Once the host is gone its controller goes too.
deadline=$((SECONDS + 30))
until [ "$(rpc nvmf_subsystem_get_controllers "$NQN" | json_get 'len(d)')" = 0 ]; do
	[ $SECONDS -lt $deadline ] || fail "controller still listed 30 s after the host disconnected"
	sleep 0.2
done

# ---- a subsystem deleted while its host is connected: the host's
# connection ends, the target keeps serving the others.
nvmf_host -s "$PORT" -n "$NQN2" -q "$HOST_OK" idle --seconds 30 >"$TEST_DIR/idle.json" &
idle_pid=$!
deadline=$((SECONDS + 30))
until [ "$(rpc nvmf_subsystem_get_controllers "$NQN2" | json_get 'len(d)')" = 1 ]; do
	[ $SECONDS -lt $deadline ] || fail "the idle host's controller never showed up"
	sleep 0.1
done
rpc nvmf_delete_subsystem "$NQN2"
wait $idle_pid || fail "nvmf_host.py idle: $(cat "$TEST_DIR/idle.json")"
[ "$(json_get 'd["closed_by_target"]' <"$TEST_DIR/idle.json")" = True ] ||
	fail "deleting $NQN2 did not end its host's connection: $(cat "$TEST_DIR/idle.json")"
if rpc nvmf_get_subsystems | grep -q "\"nqn\": \"$NQN2\""; then
	fail "$NQN2 still listed after nvmf_delete_subsystem"
fi
nvmf_host -s "$PORT" -n "$NQN" verify --length 8192 >/dev/null || fail "$NQN after deleting $NQN2"

# ---- save_config -> restart -> same subsystems, and they serve.
summary() {
	rpc nvmf_get_subsystems | "$PY" -c '
import json, sys
for s in sorted(json.load(sys.stdin), key=lambda s: s["nqn"]):
    print(s["nqn"], s.get("serial_number"), s.get("model_number"), s["allow_any_host"],
          sorted((l["trsvcid"], l["traddr"]) for l in s["listen_addresses"]),
          [(n["nsid"], n["bdev_name"]) for n in s.get("namespaces", [])],
          sorted(h["nqn"] for h in s.get("hosts", [])))'
}
before=$(summary)
rpc save_config >"$TEST_DIR/saved.json"
assert_contains "$(cat "$TEST_DIR/saved.json")" '"subsystem": "nvmf"' save_config
assert_contains "$(cat "$TEST_DIR/saved.json")" '"method": "nvmf_create_transport"' save_config
stop_tgt TERM
start_tgt -m 0x3 --json "$TEST_DIR/saved.json"
after=$(summary)
[ "$before" = "$after" ] || fail "subsystems differ after save_config/--json:
before: $before
after:  $after"
out=$(nvmf_host -s "$PORT" -n "$NQN" id-ctrl) || fail "id-ctrl after restart: $out"
[ "$(json_get 'd["sn"]' <<<"$out")" = "$SERIAL" ] || fail "serial after restart: $out"
nvmf_host -s "$PORT" -n "$NQN" verify --length 65536 >/dev/null || fail "verify after restart"
out=$(nvmf_host -s "$DPORT" discover) || fail "discover after restart: $out"
assert_contains "$out" "\"subnqn\": \"$NQN\"" "discovery after restart"
stop_tgt TERM
echo "ok"
