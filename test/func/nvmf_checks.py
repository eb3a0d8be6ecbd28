#!/usr/bin/env python3
"""NVMe/TCP target checks built on nvmf_host.py, shared by the host tests
(test/func/test_nvmf_*.sh, against sluice_tgt) and the VM tests (against the
Linux kernel target).

    nvmf_checks.py -a ADDR -s PORT -n NQN [--disc-port P] [options] CHECK...

Checks (see CHECKS below): discovery, identify, verify, digests, r2t,
segmented, queues, pipeline, many-ctrls, sqflow, hpda, keepalive, aen
(needs --hotadd-cmd), ns-remove (needs --remove-cmd), and
the bad-input probes bad-*. Each prints
"ok: ..." lines and "fact: ..." lines (observations worth recording); a
failed assertion prints "FAIL: ..." and the run exits 1 after the
remaining checks.

--mode strict (default) asserts the NVMe/TCP and NVMe-oF specifications'
statuses for bad input. --mode observe only requires that the target
survives (it answers with an error, a TermReq or a close, and a new
connection still works) and prints what it did as facts: that is how the
Linux kernel target is recorded, since the brief is to trust it where it
reads the spec differently.
"""

import argparse
import json
import os
import socket
import struct
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nvmf_host as nh  # noqa: E402

FAILS = []


def ok(msg):
    print('ok: %s' % msg, flush=True)


def fact(msg):
    print('fact: %s' % msg, flush=True)


class CheckFailed(Exception):
    pass


# A failed assertion is reported and counted, and the check goes on with its
# next probe, so one run shows every deviation; an exception (protocol
# error, timeout, closed connection) ends the check.
CURRENT = {'name': None, 'failed': 0}


def soft_fail(msg):
    print('FAIL: %s: %s' % (CURRENT['name'], msg), flush=True)
    CURRENT['failed'] += 1


def check(cond, msg):
    if not cond:
        soft_fail(msg)
        return False
    ok(msg)
    return True


def expect_eq(what, got, want):
    if got != want:
        soft_fail('%s: got %r, want %r' % (what, got, want))
        return False
    ok('%s = %r' % (what, want))
    return True


class Ctx:
    def __init__(self, args):
        self.a = args
        self.hostid = nh.uuid.UUID(args.hostid).bytes if args.hostid else nh.default_hostid()
        self.hostnqn = args.hostnqn or nh.hostnqn_for(self.hostid)
        self.seed = int(time.time()) & 0xFFFF

    def ctrl(self, **kw):
        opts = dict(hostnqn=self.hostnqn, hostid=self.hostid, timeout=self.a.timeout)
        opts.update(kw)
        nqn = opts.pop('nqn', self.a.nqn)
        port = opts.pop('port', self.a.port)
        c = nh.Controller.connect(self.a.addr, port, nqn, **opts)
        c.enable()
        return c

    def queue(self, **kw):
        kw.setdefault('timeout', self.a.timeout)
        return nh.Queue(self.a.addr, self.a.port, **kw)

    def still_works(self, what):
        """A fresh controller: connect, identify, write+read one block."""
        c = self.ctrl()
        try:
            q = c.connect_io_queue(1)
            bs = c.block_size(self.a.nsid)
            data = nh.pattern(bs, 0xABC0000 + self.seed)
            q.write(self.a.nsid, 8, data)
            if q.read(self.a.nsid, 8, 1) != data:
                raise CheckFailed('after %s: read-back differs' % what)
            ok('after %s a new connection still works' % what)
        finally:
            c.close()


# ---------------------------------------------------------------------------
# Positive checks
# ---------------------------------------------------------------------------

def c_discovery(x):
    port = x.a.disc_port or x.a.port
    c = x.ctrl(nqn=nh.DISCOVERY_NQN, port=port)
    idc = c.idctrl
    expect_eq('discovery controller subnqn', idc['subnqn'], nh.DISCOVERY_NQN)
    fact('discovery controller: cntrltype %d, kas %d, mdts %d, maxcmd %d' % (
        idc['cntrltype'], idc['kas'], idc['mdts'], idc['maxcmd']))
    log = c.discovery_log()
    c.close()
    print(json.dumps(log, indent=1))
    check(log['recfmt'] == 0, 'discovery log recfmt 0')
    check(log['numrec'] == len(log['entries']), 'numrec %d matches the entries read' % log['numrec'])
    mine = [e for e in log['entries'] if e['subnqn'] == x.a.nqn]
    check(mine, 'discovery log (port %d) lists %s' % (port, x.a.nqn))
    e = mine[0]
    expect_eq('entry trtype', e['trtype'], 'tcp')
    expect_eq('entry adrfam', e['adrfam'], 'ipv4')
    expect_eq('entry traddr', e['traddr'], x.a.addr)
    expect_eq('entry subtype', e['subtype'], 'nvme subsystem')
    ports = sorted({ent['trsvcid'] for ent in mine})
    want = x.a.expect_trsvcid or x.a.port
    check(str(want) in ports, 'entry trsvcid includes %d (%s)' % (want, ports))
    fact('discovery log on port %d: %s' % (port, [(en['subtype'], en['subnqn'], en['trsvcid'])
                                                   for en in log['entries']]))
    # A discovery controller does not accept I/O queues nor NVM commands; not
    # asserted here.


def c_identify(x):
    c = x.ctrl()
    cap = c.prop_get(nh.PROP_CAP)
    vs = c.prop_get(nh.PROP_VS)
    csts = c.prop_get(nh.PROP_CSTS)
    cc = c.prop_get(nh.PROP_CC)
    fact('CAP 0x%016x (MQES %d, TO %d) VS 0x%08x CC 0x%08x CSTS 0x%x' % (
        cap, (cap & 0xFFFF) + 1, (cap >> 24) & 0xFF, vs, cc, csts))
    check(csts & 1 == 1, 'CSTS.RDY after CC.EN')
    check(cc & 1 == 1, 'CC.EN reads back 1')
    check(vs >= 0x10200, 'VS %x.%x >= 1.2' % (vs >> 16, (vs >> 8) & 0xFF))
    check((cap & 0xFFFF) >= 1, 'CAP.MQES >= 1')
    idc = c.idctrl
    print(json.dumps(idc, indent=1))
    expect_eq('identify subnqn', idc['subnqn'], x.a.nqn)
    expect_eq('identify cntlid = Connect cntlid', idc['cntlid'], c.cntlid)
    if x.a.serial:
        expect_eq('identify serial', idc['sn'], x.a.serial)
    if x.a.model:
        expect_eq('identify model', idc['mn'], x.a.model)
    check(idc['ioccsz'] >= 4, 'IOCCSZ %d >= 4 (64-byte SQE)' % idc['ioccsz'])
    expect_eq('IORCSZ', idc['iorcsz'], 1)
    check(idc['sgls'] & 0x3 != 0, 'SGLS advertises SGL support (0x%x)' % idc['sgls'])
    check(idc['nn'] >= 1, 'NN %d >= 1' % idc['nn'])
    expect_eq('SQES', idc['sqes'] & 0xF, 6)
    expect_eq('CQES', idc['cqes'] & 0xF, 4)
    fact('identify: sn %r mn %r fr %r mdts %d ioccsz %d (in-capsule %d B) icdoff %d kas %d '
         'maxcmd %d sgls 0x%x cntrltype %d ver 0x%x oncs 0x%x vwc %d' % (
             idc['sn'], idc['mn'], idc['fr'], idc['mdts'], idc['ioccsz'], idc['ioccsz'] * 16 - 64,
             idc['icdoff'], idc['kas'], idc['maxcmd'], idc['sgls'], idc['cntrltype'], idc['ver'],
             idc['oncs'], idc['vwc']))
    active = c.active_ns_list()
    check(x.a.nsid in active, 'active NS list %s contains %d' % (active, x.a.nsid))
    ns = c.identify_ns(x.a.nsid)
    fact('identify ns %d: nsze %d ncap %d nuse %d block %d nlbaf %d flbas %d nguid %s eui64 %s' % (
        x.a.nsid, ns['nsze'], ns['ncap'], ns['nuse'], ns['block_size'], ns['nlbaf'], ns['flbas'],
        ns['nguid'], ns['eui64']))
    check(ns['nsze'] > 0, 'namespace size > 0')
    if x.a.ns_bytes:
        expect_eq('namespace bytes', ns['nsze'] * ns['block_size'], x.a.ns_bytes)
    descs = c.ns_desc_list(x.a.nsid)
    fact('NS ID descriptors: %s' % descs)
    check(len(descs) >= 1, 'namespace has at least one ID descriptor')
    for d in descs:
        want = {1: 8, 2: 16, 3: 16, 4: 1}.get(d['nidt'])
        if want:
            expect_eq('descriptor type %d length' % d['nidt'], d['nidl'], want)
    # An inactive namespace ID: Identify Namespace returns zeroes or an
    # error; both are in the spec (depends on the NSID range).
    nq = c.get_features(nh.FID_NUM_QUEUES)
    fact('Get Features Number of Queues: NSQA %d NCQA %d' % ((nq & 0xFFFF) + 1, (nq >> 16) + 1))
    kato = c.get_features(nh.FID_KATO)
    fact('Get Features KATO: %d ms (Connect asked 0)' % kato)
    nsqa, ncqa = c.set_num_queues(4)
    check(nsqa >= 1 and ncqa >= 1, 'Set Features Number of Queues(4): %d/%d allocated' % (nsqa, ncqa))
    r = c.admin.execute(nh.Sqe(nh.ADM_KEEP_ALIVE), check=False)
    fact('Keep Alive on a controller connected with KATO 0 -> %s' % r.cqe.as_dict())
    check((r.cqe.sct, r.cqe.sc) in ((0, 0), (0, 0x1A)), 'Keep Alive with KATO 0: success or KATO Invalid')
    k = x.ctrl(kato=30000)
    expect_eq('Get Features KATO after Connect with KATO 30000', k.get_features(nh.FID_KATO), 30000)
    k.keep_alive()
    ok('Keep Alive completes on a controller with KATO 30 s')
    k.close()
    smart = c.get_log_page(nh.LID_SMART, 512)
    check(len(smart) == 512, 'SMART log page read (512 bytes)')
    err = c.get_log_page(nh.LID_ERROR, 64)
    check(len(err) == 64, 'error log page read')
    # Unknown admin opcode: Invalid Command Opcode.
    r = c.admin.execute(nh.Sqe(0xC7), check=False)
    expect_eq('unknown admin opcode status', (r.cqe.sct, r.cqe.sc), (0, 0x01))
    csts = c.shutdown()
    check((csts >> 2) & 3 == 2, 'CC.SHN normal -> CSTS.SHST complete (0x%x)' % csts)
    c.close()


def _verify(x, c, q, length, slba, what):
    bs = c.block_size(x.a.nsid)
    data = nh.pattern(length, (x.seed << 16) + slba)
    w = q.write(x.a.nsid, slba, data)
    rd = q.read(x.a.nsid, slba, length // bs)
    if rd != data:
        first = next(i for i in range(len(data)) if rd[i] != data[i])
        raise CheckFailed('%s: read-back differs from byte %d' % (what, first))
    ok('%s: %d bytes written (%d R2T, %d H2CData) and read back equal' % (what, length, w.r2ts, w.h2c_pdus))
    return w


def c_verify(x, **kw):
    label = kw.pop('label', 'plain')
    c = x.ctrl(**kw)
    q = c.connect_io_queue(1)
    expect_eq('%s: negotiated header digest' % label, q.q.hdgst, bool(kw.get('hdgst')))
    expect_eq('%s: negotiated data digest' % label, q.q.ddgst, bool(kw.get('ddgst')))
    bs = c.block_size(x.a.nsid)
    fact('%s: ICResp %s; in-capsule limit %d B' % (label, q.q.icresp, q.q.incapsule))
    small = min(q.q.incapsule // bs * bs, 4 * bs) if q.q.incapsule >= bs else 0
    if small:
        w = _verify(x, c, q, small, 100, '%s in-capsule write' % label)
        expect_eq('%s: in-capsule write used no R2T' % label, w.r2ts, 0)
    big = (q.q.incapsule // bs + 1) * bs
    big = max(big, 32768)
    w = _verify(x, c, q, big, 200, '%s write larger than in-capsule' % label)
    check(w.r2ts >= 1, '%s: the large write went through R2T (%d)' % (label, w.r2ts))
    c.shutdown()
    c.close()


def c_digests(x):
    for hd, dd in ((True, False), (False, True), (True, True)):
        c_verify(x, hdgst=hd, ddgst=dd, label='hdgst=%d ddgst=%d' % (hd, dd))


def c_r2t(x):
    """Writes that need several R2Ts or several H2CData PDUs per R2T, and
    reads that come back in several C2HData PDUs."""
    c = x.ctrl()
    q = c.connect_io_queue(1)
    mdts = c.idctrl['mdts']
    maxlen = (4096 << mdts) if mdts else 1 << 20
    length = min(maxlen, 256 * 1024)
    fact('MDTS %d -> max transfer %d B; MAXH2CDATA %d' % (mdts, maxlen, q.q.maxh2cdata))
    w = _verify(x, c, q, length, 1000, 'r2t %d KiB' % (length // 1024))
    check(w.h2c_pdus >= 1 and w.r2ts >= 1, 'R2T/H2CData used')
    if q.q.maxh2cdata and length > q.q.maxh2cdata:
        check(w.h2c_pdus >= length // q.q.maxh2cdata, 'H2CData PDUs split at MAXH2CDATA')
    # The same write in H2CData PDUs of 4 KiB (below MAXH2CDATA, allowed).
    q.q.h2c_chunk = 4096
    w = _verify(x, c, q, 65536, 1200, 'r2t 64 KiB in 4 KiB H2CData PDUs')
    check(w.h2c_pdus >= 16, 'H2CData split in %d PDUs' % w.h2c_pdus)
    q.q.h2c_chunk = 0
    before = q.q.stats['c2h_data']
    q.read(x.a.nsid, 1000, length // c.block_size(x.a.nsid))
    fact('a %d-byte read came in %d C2HData PDU(s)' % (length, q.q.stats['c2h_data'] - before))
    # Several writes outstanding at once on one queue, some through R2T.
    bs = c.block_size(x.a.nsid)
    reqs = []
    datas = []
    for i in range(8):
        n = (i + 1) * 8192
        d = nh.pattern(n, 0x5000 + i + x.seed)
        s = nh.Sqe(nh.NVM_WRITE, x.a.nsid, 4000 + i * 256, 0, n // bs - 1)
        reqs.append(q.q.submit(s, d))
        datas.append(d)
    for r in reqs:
        q.q.wait(r)
        check(r.cqe.ok, 'queued write cid %d completed ok' % r.sqe.cid)
    for i, d in enumerate(datas):
        expect_eq('queued write %d read back' % i, q.read(x.a.nsid, 4000 + i * 256, len(d) // bs) == d, True)
    c.close()


def c_segmented(x):
    """Every PDU of the host written 1 byte at a time (connect included)."""
    for hd in (False, True):
        c = x.ctrl(segment=1, hdgst=hd, ddgst=hd)
        q = c.connect_io_queue(1)
        bs = c.block_size(x.a.nsid)
        _verify(x, c, q, 2 * bs, 300, '1-byte segments, digests %s, in-capsule' % ('on' if hd else 'off'))
        _verify(x, c, q, 16384 + bs if q.q.incapsule < 16384 + bs else q.q.incapsule + bs, 400,
                '1-byte segments, digests %s, R2T' % ('on' if hd else 'off'))
        c.close()


def c_queues(x):
    n = x.a.queues
    c = x.ctrl()
    nsqa, _ = c.set_num_queues(n)
    n = min(n, nsqa)
    qs = [c.connect_io_queue(i + 1) for i in range(n)]
    expect_eq('I/O queue ids', [q.qid for q in qs], list(range(1, n + 1)))
    bs = c.block_size(x.a.nsid)
    datas = {}
    for i, q in enumerate(qs):
        d = nh.pattern(8 * bs, 0x7000 + i + x.seed)
        q.write(x.a.nsid, 2000 + 64 * i, d)
        datas[i] = d
    for i in range(n):
        q = qs[(i + 1) % n]  # read through another queue
        expect_eq('data written on queue %d read on queue %d' % (i + 1, (i + 1) % n + 1),
                  q.read(x.a.nsid, 2000 + 64 * i, 8) == datas[i], True)
    # A second Connect with an I/O qid already in use must fail.
    q2 = c.new_queue()
    q2.incapsule = 0
    r = q2.connect(1, x.a.nqn, x.hostnqn, x.hostid, c.cntlid, check=False)
    fact('Connect with qid 1 already connected: %s' % r.cqe.as_dict())
    check(not r.cqe.ok, 'a duplicate I/O qid is refused')
    q2.close()
    c.close()


def c_pipeline(x):
    """Many commands in one TCP write (the target's parser finds several
    PDUs per read): in-capsule writes, R2T writes and reads, up to SQSIZE
    outstanding, completed in any order, then verified."""
    c = x.ctrl()
    q = c.connect_io_queue(1, sqsize=31)
    bs = c.block_size(x.a.nsid)
    n = 24
    datas = {}
    q.q.batch()
    reqs = []
    for i in range(n):
        blocks = 4 if i % 3 else max(1, (q.q.incapsule // bs) + 4)  # every third one needs R2T
        d = nh.pattern(blocks * bs, 0xC000 + i + x.seed)
        lba = 8000 + i * 128
        reqs.append(q.q.submit(nh.Sqe(nh.NVM_WRITE, x.a.nsid, lba, 0, blocks - 1), d))
        datas[lba] = d
    q.q.flush()
    for r in reqs:
        q.q.wait(r)
    check(all(r.cqe.ok for r in reqs), '%d pipelined writes sent in one write() completed' % n)
    q.q.batch()
    reads = [(lba, q.q.submit(nh.Sqe(nh.NVM_READ, x.a.nsid, lba, 0, len(d) // bs - 1), rlen=len(d)))
             for lba, d in datas.items()]
    q.q.flush()
    for lba, r in reads:
        q.q.wait(r)
    bad = [lba for lba, r in reads if not r.cqe.ok or bytes(r.rbuf) != datas[lba]]
    check(not bad, '%d pipelined reads returned the data (bad LBAs: %s)' % (len(reads), bad))
    c.close()


def c_sqflow(x):
    """Connect with SQ flow control disabled: a read may end with C2HData
    SUCCESS and no CapsuleResp; either way the data must arrive."""
    c = x.ctrl(disable_sqflow=True)
    q = c.connect_io_queue(1)
    bs = c.block_size(x.a.nsid)
    d = nh.pattern(8 * bs, 0x9000 + x.seed)
    q.write(x.a.nsid, 500, d)
    before = dict(q.q.stats)
    expect_eq('read with SQ flow control disabled returns the data', q.read(x.a.nsid, 500, 8) == d, True)
    used = q.q.stats['c2h_success'] - before['c2h_success']
    fact('SQ flow control disabled: read completed by %s' % (
        'C2HData SUCCESS (no CapsuleResp)' if used else 'a CapsuleResp'))
    c.close()
    c = x.ctrl()
    q = c.connect_io_queue(1)
    q.read(x.a.nsid, 500, 8)
    expect_eq('C2HData SUCCESS with SQ flow control on', q.q.stats['c2h_success'], 0)
    c.close()


def c_aen(x):
    """Asynchronous Event Request + a namespace added while connected
    (--hotadd-cmd runs the addition): the AER completes with Notice /
    Namespace Attribute Changed / log page 04h, the Changed Namespace List
    names the new NSID, and it is active and readable."""
    if not x.a.hotadd_cmd:
        raise CheckFailed('aen needs --hotadd-cmd')
    import subprocess
    c = x.ctrl()
    c.set_features(nh.FID_ASYNC_EVENT_CFG, 1 << 8)  # Namespace Attribute Notices
    before = c.active_ns_list()
    check(x.a.hotadd_nsid not in before, 'nsid %d not active before (%s)' % (x.a.hotadd_nsid, before))
    aer = c.admin.submit(nh.Sqe(nh.ADM_ASYNC_EVENT))
    subprocess.run(x.a.hotadd_cmd, shell=True, check=True)
    c.admin.wait(aer, timeout=30)
    dw0 = aer.cqe.dw0
    fact('AER after the namespace was added: %s' % aer.cqe.as_dict())
    check(aer.cqe.ok, 'AER completed successfully')
    expect_eq('AER event type (Notice)', dw0 & 0x7, 2)
    expect_eq('AER event info (Namespace Attribute Changed)', (dw0 >> 8) & 0xFF, 0)
    expect_eq('AER log page', (dw0 >> 16) & 0xFF, nh.LID_CHANGED_NS)
    log = c.get_log_page(nh.LID_CHANGED_NS, 4096, rae=False)
    changed = [n for n in struct.unpack('<1024I', log) if n]
    check(x.a.hotadd_nsid in changed, 'Changed Namespace List %s names nsid %d' % (changed, x.a.hotadd_nsid))
    after = c.active_ns_list()
    check(x.a.hotadd_nsid in after, 'active NS list %s has nsid %d' % (after, x.a.hotadd_nsid))
    ns = c.identify_ns(x.a.hotadd_nsid)
    check(ns['nsze'] > 0, 'identify of the new namespace: %d blocks of %d' % (ns['nsze'], ns['block_size']))
    q = c.connect_io_queue(1)
    d = nh.pattern(ns['block_size'] * 2, 0xB000 + x.seed)
    q.write(x.a.hotadd_nsid, 10, d)
    expect_eq('write/read on the new namespace', q.read(x.a.hotadd_nsid, 10, 2) == d, True)
    c.close()


def c_ns_remove(x):
    """A namespace removed while a host has I/O queues (--remove-cmd does
    it): AER Namespace Attribute Changed, the NSID leaves the active list,
    I/O to it gets Invalid Namespace or Format, other namespaces still work."""
    if not x.a.remove_cmd:
        raise CheckFailed('ns-remove needs --remove-cmd')
    import subprocess
    gone = x.a.remove_nsid
    c = x.ctrl()
    c.set_features(nh.FID_ASYNC_EVENT_CFG, 1 << 8)
    check(gone in c.active_ns_list(), 'nsid %d active before the removal' % gone)
    q = c.connect_io_queue(1)
    bs = c.block_size(gone)
    q.read(gone, 0, 1)
    aer = c.admin.submit(nh.Sqe(nh.ADM_ASYNC_EVENT))
    subprocess.run(x.a.remove_cmd, shell=True, check=True)
    c.admin.wait(aer, timeout=30)
    fact('AER after the namespace was removed: %s' % aer.cqe.as_dict())
    expect_eq('AER (type, info, log page)', (aer.cqe.dw0 & 7, (aer.cqe.dw0 >> 8) & 0xFF,
                                             (aer.cqe.dw0 >> 16) & 0xFF), (2, 0, nh.LID_CHANGED_NS))
    log = c.get_log_page(nh.LID_CHANGED_NS, 4096)
    changed = [n for n in struct.unpack('<1024I', log) if n]
    check(gone in changed, 'Changed Namespace List %s names nsid %d' % (changed, gone))
    after = c.active_ns_list()
    check(gone not in after, 'nsid %d left the active list (%s)' % (gone, after))
    r = q.q.execute(nh.Sqe(nh.NVM_READ, gone, 0, 0, 0), rlen=bs, check=False)
    expect_status(x, 'Read of the removed namespace', ('resp', r.cqe), {(0, 0x0B)})
    d = nh.pattern(c.block_size(x.a.nsid), 0xD000 + x.seed)
    q.write(x.a.nsid, 70, d)
    expect_eq('nsid %d still serves I/O on the same queue' % x.a.nsid, q.read(x.a.nsid, 70, 1) == d, True)
    c.close()


def c_keepalive(x):
    """KATO 2 s: Keep Alive every 0.5 s keeps the controller for 5 s; then
    silence, and the target ends the association (closes the connection)."""
    c = x.ctrl(kato=2000)
    t = time.monotonic()
    while time.monotonic() - t < 5:
        c.keep_alive()
        time.sleep(0.5)
    c.identify_ctrl()
    ok('Keep Alive every 0.5 s kept a 2 s KATO controller for 5 s')
    t = time.monotonic()
    closed = c.admin.wait_closed(30)
    check(closed, 'silent host: the target closed the connection after %.1f s (KATO 2 s)' % (
        time.monotonic() - t))
    fact('KATO 2000 ms: connection closed %.1f s after the last command' % (time.monotonic() - t))
    c.close()


def c_hpda(x):
    """ICReq with HPDA 3: C2HData must start its data on a 16-byte boundary."""
    try:
        c = x.ctrl(hpda=3)
    except (nh.ConnectionClosed, nh.TermReqError, nh.Timeout) as e:
        fact('ICReq with HPDA 3 -> %s: %s' % (type(e).__name__, e))
        if x.a.mode != 'observe':
            check(False, 'ICReq with HPDA 3 accepted')
        return
    q = c.connect_io_queue(1, hpda=3)
    bs = c.block_size(x.a.nsid)
    d = nh.pattern(8 * bs, 0xA000 + x.seed)
    q.write(x.a.nsid, 700, d)
    expect_eq('read with HPDA 3 (C2HData pdo checked on receipt)', q.read(x.a.nsid, 700, 8) == d, True)
    fact('HPDA 3: ICResp %s' % q.q.icresp)
    c.close()


# ---------------------------------------------------------------------------
# Bad input. Every probe ends with still_works().
# ---------------------------------------------------------------------------

def outcome(q, timeout=None):
    """What the target does next: ('term', fes, fei) / ('closed',) /
    ('resp', cqe) / ('pdu', pdu) / ('silent',)."""
    try:
        pdu = q.recv_pdu(timeout, raise_term=False)
    except nh.ConnectionClosed:
        return ('closed',)
    except nh.Timeout:
        return ('silent',)
    except nh.ProtocolError as e:
        return ('garbage', str(e))
    if pdu.type == nh.PDU_C2H_TERM:
        fes, fei = struct.unpack_from('<HI', pdu.hdr, 8)
        # A TermReq is followed by the close.
        closed = q.wait_closed(5)
        return ('term', fes, fei, closed)
    if pdu.type == nh.PDU_RSP:
        return ('resp', nh.Cqe(pdu.hdr[8:24]))
    return ('pdu', pdu)


def describe(o):
    if o[0] == 'term':
        return 'C2HTermReq fes 0x%x (%s) fei %d%s' % (o[1], nh.FES_NAMES.get(o[1], '?'), o[2],
                                                     ', then closed' if o[3] else ', connection left open')
    if o[0] == 'resp':
        return 'CapsuleResp %s' % o[1].as_dict()
    return ' '.join(str(v) for v in o)


def expect_term(x, what, o, fes, fei=None):
    """Strict: TermReq with fes (a value or a set) [and fei]; the target
    closes. Observe: any end of the connection (TermReq or close)."""
    fact('%s -> %s' % (what, describe(o)))
    if x.a.mode == 'observe' or fes is None:
        return
    fes_set = fes if isinstance(fes, (set, tuple)) else {fes}
    if not check(o[0] == 'term', '%s: a C2HTermReq arrived' % what):
        return
    check(o[1] in fes_set, '%s: FES 0x%x in %s' % (what, o[1], sorted(fes_set)))
    if fei is not None:
        expect_eq('%s: FEI' % what, o[2], fei)
    check(o[3], '%s: the target closed the connection after the TermReq' % what)


def expect_status(x, what, o, allowed, ipo=None, iattr=None):
    """Strict: a CapsuleResp with (sct, sc) in allowed [and IPO/IATTR for
    Connect]. Observe: any error status, TermReq or close."""
    fact('%s -> %s' % (what, describe(o)))
    if x.a.mode == 'observe':
        return
    if o[0] == 'resp':
        cqe = o[1]
        check(not cqe.ok, '%s: not a successful completion' % what)
        check((cqe.sct, cqe.sc) in allowed, '%s: status (0x%x, 0x%02x) in %s' % (
            what, cqe.sct, cqe.sc, ['(0x%x, 0x%02x)' % a for a in allowed]))
        if ipo is not None:
            expect_eq('%s: IPO' % what, cqe.dw0 & 0xFFFF, ipo)
        if iattr is not None:
            expect_eq('%s: IATTR' % what, (cqe.dw0 >> 16) & 0xFF, iattr)
        return
    check(False, '%s: an error completion (got %s)' % (what, o[0]))


def connected_queue(x, qid=0, **kw):
    """ICReq + Connect of an admin queue (qid 0) or an I/O queue of a new
    controller; returns (controller or None, queue)."""
    if qid == 0:
        c = nh.Controller.connect(x.a.addr, x.a.port, x.a.nqn, hostnqn=x.hostnqn, hostid=x.hostid,
                                  timeout=x.a.timeout, **kw)
        return c, c.admin
    c = x.ctrl(**kw)
    return c, c.connect_io_queue(qid).q


def cmd_pdu_fields(q, sqe, data=b'', **kw):
    return q.pdu(nh.PDU_CMD, sqe.bytes(), data, **kw)


def c_bad_pdu_header(x):
    # Unknown PDU type 0x0A on a fresh connection after ICReq.
    q = x.queue()
    q.send_raw(nh.build_pdu(0x0A, bytes(16)))
    expect_term(x, 'unknown PDU type 0x0a', outcome(q), nh.FES_INVALID_PDU_HDR, 0)
    q.close()
    # A controller-to-host PDU type (CapsuleResp) sent by the host.
    q = x.queue()
    q.send_raw(nh.build_pdu(nh.PDU_RSP, bytes(16)))
    expect_term(x, 'host sends a CapsuleResp', outcome(q), nh.FES_INVALID_PDU_HDR, 0)
    q.close()
    # A second ICReq after the first.
    q = x.queue()
    q.send_raw(nh.icreq_pdu())
    expect_term(x, 'second ICReq', outcome(q), {nh.FES_INVALID_PDU_HDR, nh.FES_PDU_SEQ_ERR})
    q.close()
    # CapsuleCmd before ICReq.
    q = x.queue(icreq=False)
    q.send_raw(nh.build_pdu(nh.PDU_CMD, nh.Sqe(nh.ADM_IDENTIFY, 0, 1).bytes()))
    expect_term(x, 'CapsuleCmd before ICReq', outcome(q), {nh.FES_INVALID_PDU_HDR, nh.FES_PDU_SEQ_ERR})
    q.close()
    # ICReq with a bad hlen, a bad PFV, HPDA out of range.
    q = x.queue(icreq=False)
    q.send_raw(nh.build_pdu(nh.PDU_ICREQ, struct.pack('<HBBI', 0, 0, 0, 0) + bytes(112), hlen=127))
    expect_term(x, 'ICReq hlen 127', outcome(q), nh.FES_INVALID_PDU_HDR, 2)
    q.close()
    q = x.queue(icreq=False)
    q.send_raw(nh.icreq_pdu(pfv=1))
    expect_term(x, 'ICReq PFV 1', outcome(q), {nh.FES_INVALID_PDU_HDR, nh.FES_UNSUPPORTED_PARAM}, 8)
    q.close()
    q = x.queue(icreq=False)
    q.send_raw(nh.icreq_pdu(hpda=32))
    expect_term(x, 'ICReq HPDA 32', outcome(q), {nh.FES_INVALID_PDU_HDR, nh.FES_UNSUPPORTED_PARAM}, 10)
    q.close()
    x.still_works('bad PDU types and ICReqs')
    # CapsuleCmd with a wrong hlen / pdo / plen on a connected admin queue.
    sqe = nh.Sqe(nh.ADM_IDENTIFY, 0, nh.CNS_CTRL)
    sqe.set_cid(77)
    sqe.set_sgl(0, 4096, nh.SGL_TRANSPORT_DATA_BLOCK)
    for what, kw, fei in (('CapsuleCmd hlen 70', dict(hlen=70), 2),
                          ('CapsuleCmd plen 40 (< hlen)', dict(plen=40), 4),
                          # PDO is reserved when there is no data: recorded only.
                          ('CapsuleCmd pdo 8 without data', dict(pdo=8), None)):
        c, q = connected_queue(x)
        # The whole 72-byte header goes out even when plen says less.
        q.send_raw(cmd_pdu_fields(q, sqe, **kw))
        expect_term(x, what, outcome(q), nh.FES_INVALID_PDU_HDR if fei is not None else None, fei)
        c.close()
    # In-capsule data with pdo pointing inside the header.
    c, q = connected_queue(x)
    w = nh.Sqe(nh.ADM_SET_FEATURES, 0, nh.FID_NUM_QUEUES)
    w.set_cid(78)
    w.set_sgl(0, 64, nh.SGL_DATA_BLOCK_OFFSET)
    q.send_raw(q.pdu(nh.PDU_CMD, w.bytes(), bytes(64), pdo=16))
    expect_term(x, 'CapsuleCmd pdo 16 (inside the header)', outcome(q), nh.FES_INVALID_PDU_HDR, 3)
    c.close()
    # plen far larger than anything the target accepts.
    c, q = connected_queue(x)
    raw = bytearray(cmd_pdu_fields(q, sqe))
    struct.pack_into('<I', raw, 4, 0xFFFFFFF0)
    q.send_raw(bytes(raw))
    expect_term(x, 'CapsuleCmd plen 0xfffffff0', outcome(q),
                {nh.FES_INVALID_PDU_HDR, nh.FES_DATA_LIMIT_EXCEEDED})
    c.close()
    x.still_works('malformed CapsuleCmd headers')


def c_bad_digest(x):
    # Header digest mismatch on a CapsuleCmd: fatal, FES Header Digest Error.
    c, q = connected_queue(x, hdgst=True, ddgst=True)
    sqe = nh.Sqe(nh.ADM_IDENTIFY, 0, nh.CNS_CTRL)
    sqe.set_cid(90)
    sqe.set_sgl(0, 4096, nh.SGL_TRANSPORT_DATA_BLOCK)
    q.send_raw(q.pdu(nh.PDU_CMD, sqe.bytes(), bad_hdgst=True))
    expect_term(x, 'CapsuleCmd with a wrong header digest', outcome(q), nh.FES_HDR_DIGEST_ERR)
    c.close()
    # HDGSTF missing although header digests were negotiated.
    c, q = connected_queue(x, hdgst=True)
    q.send_raw(nh.build_pdu(nh.PDU_CMD, sqe.bytes()))
    expect_term(x, 'CapsuleCmd without the negotiated header digest', outcome(q), nh.FES_INVALID_PDU_HDR, 1)
    c.close()
    # Data digest mismatch on in-capsule write data: the write must not
    # succeed and the data must not land.
    c, q = connected_queue(x, 1, hdgst=True, ddgst=True)
    bs = c.block_size(x.a.nsid)
    old = nh.pattern(bs, 0xDEAD + x.seed)
    ioq = c.io[0]
    ioq.write(x.a.nsid, 60, old)
    new = nh.pattern(bs, 0xBEEF + x.seed)
    s = nh.Sqe(nh.NVM_WRITE, x.a.nsid, 60, 0, 0)
    s.set_cid(91)
    s.set_sgl(0, bs, nh.SGL_DATA_BLOCK_OFFSET if q.incapsule >= bs else nh.SGL_TRANSPORT_DATA_BLOCK)
    if q.incapsule >= bs:
        q.send_raw(q.pdu(nh.PDU_CMD, s.bytes(), new, bad_ddgst=True))
    else:
        q.send_raw(q.pdu(nh.PDU_CMD, s.bytes()))
        r2t = q.recv_pdu()
        cccid, ttag, r2to, r2tl = struct.unpack_from('<HHII', r2t.hdr, 8)
        q.send_raw(q.pdu(nh.PDU_H2C_DATA, struct.pack('<HHII4x', 91, ttag, 0, bs), new,
                         nh.F_DATA_LAST, bad_ddgst=True))
    o = outcome(q)
    fact('write with a wrong data digest -> %s' % describe(o))
    if x.a.mode == 'observe':
        pass
    elif o[0] == 'resp':
        check(not o[1].ok, 'a write with a bad data digest does not complete successfully')
        if x.a.mode == 'strict':
            check((o[1].sct, o[1].sc) in ((0, 0x22), (0, 0x04)),
                  'status Transient Transport Error or Data Transfer Error')
    else:
        check(o[0] in ('term', 'closed'), 'write with a bad data digest: error, TermReq or close')
    c.close()
    c = x.ctrl()
    ioq = c.connect_io_queue(1)
    expect_eq('data after the rejected write is the old data', ioq.read(x.a.nsid, 60, 1) == old, True)
    c.close()
    x.still_works('digest errors')


def c_bad_sgl(x):
    c, q = connected_queue(x, 1)
    bs = c.block_size(x.a.nsid)
    cases = [
        ('Keyed SGL Data Block (RDMA) descriptor', (0x1000, bs, nh.SGL_KEYED_DATA_BLOCK), {(0, 0x11)}),
        # Its 16-byte length also disagrees with the transfer: Data SGL
        # Length Invalid (what Linux nvmet answers) is as good a refusal.
        ('SGL Segment descriptor', (0x1000, 16, nh.SGL_SEGMENT), {(0, 0x11), (0, 0x0D), (0, 0x0E), (0, 0x0F)}),
        ('Bit Bucket descriptor', (0, bs, nh.SGL_BIT_BUCKET), {(0, 0x11)}),
        ('Transport Data Block, subtype 0', (0, bs, 0x50), {(0, 0x11), (0, 0x02)}),
    ]
    for what, sgl, allowed in cases:
        s = nh.Sqe(nh.NVM_READ, x.a.nsid, 0, 0, 0)
        req = q.submit(s, rlen=bs, sgl=sgl)
        o = outcome(q)
        if o[0] == 'resp':
            q.reqs.pop(req.sqe.cid, None)
        expect_status(x, 'Read with a %s' % what, o, allowed)
        if o[0] != 'resp':
            c.close()
            c, q = connected_queue(x, 1)
    # SGL length that disagrees with NLB (more data than the command moves).
    s = nh.Sqe(nh.NVM_READ, x.a.nsid, 0, 0, 0)
    req = q.submit(s, rlen=bs, sgl=(0, bs // 2, nh.SGL_TRANSPORT_DATA_BLOCK))
    o = outcome(q)
    expect_status(x, 'Read of one block with an SGL of half a block', o, {(0, 0x0F), (0, 0x02)})
    c.close()
    x.still_works('unsupported SGL descriptors')


def c_bad_length(x):
    c, q = connected_queue(x, 1)
    bs = c.block_size(x.a.nsid)
    mdts = c.idctrl['mdts']
    if mdts:
        maxlen = 4096 << mdts
        nlb = maxlen // bs * 2
        if nlb <= 0x10000:
            s = nh.Sqe(nh.NVM_READ, x.a.nsid, 0, 0, nlb - 1)
            req = q.submit(s, rlen=nlb * bs)
            o = outcome(q)
            expect_status(x, 'Read of %d bytes, twice MDTS' % (nlb * bs), o, {(0, 0x02), (0, 0x0F)})
            if o[0] != 'resp':
                c.close()
                c, q = connected_queue(x, 1)
        else:
            fact('twice MDTS is more than 65536 blocks: the past-MDTS probe is not applicable')
    else:
        fact('MDTS 0 (no limit): the past-MDTS probe is not applicable')
    # In-capsule data larger than the in-capsule size (IOCCSZ).
    n = (q.incapsule // bs + 1) * bs
    s = nh.Sqe(nh.NVM_WRITE, x.a.nsid, 0, 0, n // bs - 1)
    q.submit(s, nh.pattern(n, 1), incapsule=True)
    o = outcome(q)
    fact('in-capsule write of %d bytes (limit %d) -> %s' % (n, q.incapsule, describe(o)))
    if x.a.mode == 'strict':
        if o[0] == 'resp':
            check((o[1].sct, o[1].sc) in ((0, 0x0F), (0, 0x02), (0, 0x0D), (0, 0x16)),
                  'in-capsule data past the limit: Data SGL Length Invalid, SGL Offset Invalid or Invalid Field')
        else:
            expect_term(x, 'in-capsule data past the limit', o,
                        {nh.FES_DATA_LIMIT_EXCEEDED, nh.FES_INVALID_PDU_HDR})

    c.close()
    # H2CData beyond the R2T's range and with a wrong ttag.
    for what, mangle, fes in (('H2CData past the R2T range', 'range', nh.FES_DATA_OUT_OF_RANGE),
                              ('H2CData with an unknown ttag', 'ttag', nh.FES_INVALID_PDU_HDR),
                              ('H2CData with datao not where the R2T asked', 'datao',
                               {nh.FES_DATA_OUT_OF_RANGE, nh.FES_PDU_SEQ_ERR}),
                              ('H2CData with no command outstanding', 'nocmd', {nh.FES_PDU_SEQ_ERR,
                                                                                nh.FES_INVALID_PDU_HDR})):
        c, q = connected_queue(x, 1)
        n = (q.incapsule // bs + 2) * bs
        if mangle == 'nocmd':
            q.send_raw(q.pdu(nh.PDU_H2C_DATA, struct.pack('<HHII4x', 999, 1, 0, bs), bytes(bs),
                             nh.F_DATA_LAST))
        else:
            s = nh.Sqe(nh.NVM_WRITE, x.a.nsid, 0, 0, n // bs - 1)
            q.submit(s, nh.pattern(n, 2), incapsule=False)
            r2t = q.recv_pdu()
            if not check(r2t.type == nh.PDU_R2T, 'R2T for a %d-byte write' % n):
                raise CheckFailed('no R2T, cannot go on')
            cccid, ttag, r2to, r2tl = struct.unpack_from('<HHII', r2t.hdr, 8)
            off, ln = r2to, r2tl
            if mangle == 'range':
                ln = r2tl + bs
            elif mangle == 'ttag':
                ttag ^= 0x5555
            elif mangle == 'datao':
                off = r2to + bs
                ln = bs
            q.send_raw(q.pdu(nh.PDU_H2C_DATA, struct.pack('<HHII4x', cccid, ttag, off, ln),
                             nh.pattern(ln, 3), nh.F_DATA_LAST))
        expect_term(x, what, outcome(q), fes)
        c.close()
    x.still_works('data length errors')


def c_bad_connect(x):
    def try_connect(what, qid=0, subnqn=None, hostnqn=None, sqsize=31, cntlid=0xFFFF, kato=0,
                    allowed=None, ipo=None, iattr=None):
        q = x.queue()
        r = q.connect(qid, subnqn or x.a.nqn, hostnqn or x.hostnqn, x.hostid, cntlid=cntlid,
                      sqsize=sqsize, kato=kato, check=False)
        expect_status(x, what, ('resp', r.cqe), allowed, ipo, iattr)
        q.close()
        return r.cqe

    try_connect('Connect to an unknown subsystem', subnqn='nqn.2024-01.io.sluice:nosuch',
                allowed={(1, 0x82)}, ipo=nh.CONNECT_DATA_SUBNQN, iattr=1)
    if x.a.denied_hostnqn:
        try_connect('Connect from a host not on the allow-list', hostnqn=x.a.denied_hostnqn,
                    allowed={(1, 0x84)})
    try_connect('Connect with SQSIZE 0', sqsize=0, allowed={(1, 0x82)}, ipo=nh.CONNECT_SQE_SQSIZE, iattr=0)
    try_connect('Connect with SQSIZE 0xffff', sqsize=0xFFFF, allowed={(1, 0x82)},
                ipo=nh.CONNECT_SQE_SQSIZE, iattr=0)
    try_connect('Connect of an I/O queue to cntlid 0xfff0 (no such controller)', qid=1, cntlid=0xFFF0,
                allowed={(1, 0x82)}, ipo=nh.CONNECT_DATA_CNTLID, iattr=1)
    # An I/O qid beyond what the controller offers.
    c = x.ctrl()
    q = c.new_queue()
    r = q.connect(0xFFFF, x.a.nqn, x.hostnqn, x.hostid, c.cntlid, check=False)
    expect_status(x, 'Connect of I/O qid 0xffff', ('resp', r.cqe), {(1, 0x82)}, nh.CONNECT_SQE_QID, 0)
    q.close()
    c.close()
    # Connect data with an unterminated subsystem NQN (256 non-NUL bytes).
    q = x.queue()
    data = bytearray(nh.connect_data(x.a.nqn, x.hostnqn, x.hostid))
    data[256:512] = b'n' * 256
    r = q.connect(0, x.a.nqn, x.hostnqn, x.hostid, data=bytes(data), check=False)
    expect_status(x, 'Connect with an unterminated SUBNQN', ('resp', r.cqe), {(1, 0x82)},
                  nh.CONNECT_DATA_SUBNQN, 1)
    q.close()
    # Connect data too short (SGL says 512 bytes).
    q = x.queue()
    s = nh.Sqe.fabrics(nh.FCTYPE_CONNECT)
    struct.pack_into('<HHHBxI', s.b, 40, 0, 0, 31, 0, 0)
    req = q.submit(s, nh.connect_data(x.a.nqn, x.hostnqn, x.hostid)[:512], incapsule=True)
    o = outcome(q)
    expect_status(x, 'Connect with 512 bytes of data', o, {(0, 0x0F), (0, 0x02), (1, 0x82)})
    q.close()
    # Commands before Connect: Command Sequence Error by our reading; Linux
    # nvmet answers Invalid Command Opcode (only Connect is valid there).
    before = {(0, 0x0C), (0, 0x01)}
    q = x.queue()
    s = nh.Sqe(nh.ADM_IDENTIFY, 0, nh.CNS_CTRL)
    q.submit(s, rlen=4096)
    expect_status(x, 'Identify before Connect', outcome(q), before)
    q.close()
    q = x.queue()
    q.submit(nh.Sqe(nh.NVM_READ, x.a.nsid, 0, 0, 0), rlen=512)
    expect_status(x, 'Read before Connect', outcome(q), before)
    q.close()
    # Property Get before CC.EN works, Identify before CC.EN is refused.
    c = nh.Controller.connect(x.a.addr, x.a.port, x.a.nqn, hostnqn=x.hostnqn, hostid=x.hostid,
                              timeout=x.a.timeout)
    r = c.admin.execute(nh.Sqe(nh.ADM_IDENTIFY, 0, nh.CNS_CTRL), rlen=4096, check=False)
    fact('Identify before CC.EN=1 -> %s' % r.cqe.as_dict())
    if x.a.mode == 'strict':
        expect_eq('Identify before CC.EN status', (r.cqe.sct, r.cqe.sc), (0, 0x0C))
    # I/O queue Connect before the controller is enabled.
    q = c.new_queue()
    r = q.connect(1, x.a.nqn, x.hostnqn, x.hostid, c.cntlid, check=False)
    fact('I/O queue Connect before CC.EN=1 -> %s' % r.cqe.as_dict())
    q.close()
    c.close()
    x.still_works('bad Connects')


def c_bad_cmd(x):
    """Well-formed commands the controller must refuse with a status."""
    c = x.ctrl()
    q = c.connect_io_queue(1)
    bs = c.block_size(x.a.nsid)
    nsze = c.identify_ns(x.a.nsid)['nsze']

    def probe(what, queue, sqe, allowed, rlen=0, wdata=b''):
        r = queue.execute(sqe, wdata, rlen, check=False)
        expect_status(x, what, ('resp', r.cqe), allowed)

    probe('unknown I/O opcode 0x7e', q.q, nh.Sqe(0x7E, x.a.nsid), {(0, 0x01)})
    probe('Read of nsid 0x99 (inactive)', q.q, nh.Sqe(nh.NVM_READ, 0x99, 0, 0, 0), {(0, 0x0B)}, rlen=bs)
    probe('Read of nsid 0xffffffff on an I/O queue', q.q, nh.Sqe(nh.NVM_READ, 0xFFFFFFFF, 0, 0, 0),
          {(0, 0x0B)}, rlen=bs)
    probe('Read of 2 blocks at the last LBA', q.q,
          nh.Sqe(nh.NVM_READ, x.a.nsid, (nsze - 1) & 0xFFFFFFFF, (nsze - 1) >> 32, 1), {(0, 0x80)}, rlen=2 * bs)
    probe('Write at LBA nsze', q.q, nh.Sqe(nh.NVM_WRITE, x.a.nsid, nsze & 0xFFFFFFFF, nsze >> 32, 0),
          {(0, 0x80)}, wdata=bytes(bs))
    probe('Identify CNS 0x55', c.admin, nh.Sqe(nh.ADM_IDENTIFY, 0, 0x55), {(0, 0x02)}, rlen=4096)
    probe('Get Log Page LID 0xbf', c.admin, nh.Sqe(nh.ADM_GET_LOG_PAGE, 0xFFFFFFFF, 0xBF | (127 << 16)),
          {(1, 0x09), (0, 0x02)}, rlen=512)
    probe('Get Features FID 0x7d', c.admin, nh.Sqe(nh.ADM_GET_FEATURES, 0, 0x7D), {(0, 0x02)})
    probe('Property Get offset 0x1000', c.admin,
          _prop_get_sqe(0x1000), {(0, 0x02), (1, 0x82)})
    # Queue creation is done by Connect on fabrics: admin opcode 0x01 is invalid.
    probe('Create I/O Submission Queue on a fabrics controller', c.admin, nh.Sqe(0x01, 0, (31 << 16) | 2, 1),
          {(0, 0x01)})
    probe('Set Features Number of Queues with I/O queues connected', c.admin,
          nh.Sqe(nh.ADM_SET_FEATURES, 0, nh.FID_NUM_QUEUES, (3 << 16) | 3), {(0, 0x0C)})
    # The queue pair still works after all that.
    d = nh.pattern(bs, 0xE000 + x.seed)
    q.write(x.a.nsid, 50, d)
    expect_eq('I/O after the refused commands', q.read(x.a.nsid, 50, 1) == d, True)
    c.close()
    x.still_works('refused commands')


def _prop_get_sqe(offset):
    s = nh.Sqe.fabrics(nh.FCTYPE_PROP_GET)
    struct.pack_into('<B3xI', s.b, 40, 0, offset)
    return s


def c_bad_flood(x):
    """More commands than SQSIZE allows (the host breaks SQ flow control):
    the target may refuse or end the connection, but it stays up."""
    c = x.ctrl()
    q = c.connect_io_queue(1, sqsize=3)
    bs = c.block_size(x.a.nsid)
    q.q.batch()
    reqs = [q.q.submit(nh.Sqe(nh.NVM_READ, x.a.nsid, i, 0, 0), rlen=bs) for i in range(64)]
    q.q.flush()
    done = 0
    try:
        for r in reqs:
            q.q.wait(r, timeout=10)
            done += 1
        fact('64 commands on a 4-entry SQ: all completed (%d ok)' % sum(r.cqe.ok for r in reqs))
    except (nh.ConnectionClosed, nh.TermReqError, nh.Timeout, nh.ProtocolError) as e:
        fact('64 commands on a 4-entry SQ: %d completed, then %s: %s' % (done, type(e).__name__, e))
    c.close()
    x.still_works('an SQ overflow')


def c_many_ctrls(x):
    """32 controllers of one host at once: distinct cntlids, each serves I/O."""
    ctrls = []
    try:
        for i in range(32):
            ctrls.append(x.ctrl())
        ids = [c.cntlid for c in ctrls]
        expect_eq('distinct controller IDs', len(set(ids)), len(ids))
        check(all(i < 0xFFF0 for i in ids), 'controller IDs below 0xfff0')
        for i, c in enumerate(ctrls[::8]):
            q = c.connect_io_queue(1)
            d = nh.pattern(c.block_size(x.a.nsid), 0xF000 + i + x.seed)
            q.write(x.a.nsid, 60 + i, d)
            expect_eq('I/O through controller %d' % c.cntlid, q.read(x.a.nsid, 60 + i, 1) == d, True)
    finally:
        for c in ctrls:
            c.close()


def c_bad_close(x):
    # Peer closes mid-PDU, at every interesting point.
    sqe = nh.Sqe(nh.ADM_IDENTIFY, 0, nh.CNS_CTRL)
    sqe.set_cid(5)
    sqe.set_sgl(0, 4096, nh.SGL_TRANSPORT_DATA_BLOCK)
    for cut in (1, 7, 8, 40, 71):
        c, q = connected_queue(x)
        q.send_raw(q.pdu(nh.PDU_CMD, sqe.bytes())[:cut])
        c.close()
    q = x.queue(icreq=False)
    q.send_raw(nh.icreq_pdu()[:60])
    q.close()
    # Close in the middle of H2CData, with a write waiting for it.
    c, q = connected_queue(x, 1)
    bs = c.block_size(x.a.nsid)
    n = (q.incapsule // bs + 2) * bs
    q.submit(nh.Sqe(nh.NVM_WRITE, x.a.nsid, 0, 0, n // bs - 1), nh.pattern(n, 4), incapsule=False)
    r2t = q.recv_pdu()
    cccid, ttag, r2to, r2tl = struct.unpack_from('<HHII', r2t.hdr, 8)
    q.send_raw(q.pdu(nh.PDU_H2C_DATA, struct.pack('<HHII4x', cccid, ttag, r2to, r2tl),
                     nh.pattern(r2tl, 4), nh.F_DATA_LAST)[:100])
    c.close()
    # Close with a read in flight.
    c, q = connected_queue(x, 1)
    q.submit(nh.Sqe(nh.NVM_READ, x.a.nsid, 0, 0, 63), rlen=64 * bs)
    c.close()
    x.still_works('peers closing mid-PDU')


def c_bad_many(x):
    n = x.a.connections
    t = time.monotonic()
    for i in range(n):
        s = socket.create_connection((x.a.addr, x.a.port), timeout=x.a.timeout)
        if i % 3 == 1:
            s.sendall(nh.icreq_pdu())
        elif i % 3 == 2:
            s.sendall(nh.icreq_pdu()[:64])
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))  # RST
        s.close()
    ok('%d connections opened and dropped in %.1fs' % (n, time.monotonic() - t))
    x.still_works('%d dropped connections' % n)


CHECKS = {
    'discovery': c_discovery, 'identify': c_identify, 'verify': c_verify, 'digests': c_digests,
    'r2t': c_r2t, 'segmented': c_segmented, 'queues': c_queues, 'sqflow': c_sqflow, 'hpda': c_hpda, 'pipeline': c_pipeline,
    'aen': c_aen, 'ns-remove': c_ns_remove, 'keepalive': c_keepalive,
    'bad-pdu': c_bad_pdu_header, 'bad-digest': c_bad_digest, 'bad-sgl': c_bad_sgl,
    'bad-length': c_bad_length, 'bad-connect': c_bad_connect, 'bad-close': c_bad_close,
    'bad-cmd': c_bad_cmd, 'bad-flood': c_bad_flood, 'many-ctrls': c_many_ctrls,
    'bad-many': c_bad_many,
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('-a', '--addr', default='127.0.0.1')
    p.add_argument('-s', '--port', type=int, default=4420)
    p.add_argument('-n', '--nqn', required=True)
    p.add_argument('--disc-port', type=int, default=0)
    p.add_argument('--expect-trsvcid', type=int, default=0,
                   help='port the discovery log entry names (default: --port)')
    p.add_argument('--nsid', type=int, default=1)
    p.add_argument('--hostnqn')
    p.add_argument('--hostid')
    p.add_argument('--denied-hostnqn', help='a host NQN the subsystem does not allow')
    p.add_argument('--serial')
    p.add_argument('--model')
    p.add_argument('--ns-bytes', type=int, default=0)
    p.add_argument('--queues', type=int, default=4)
    p.add_argument('--hotadd-cmd', help='shell command that adds a namespace (aen check)')
    p.add_argument('--hotadd-nsid', type=int, default=2)
    p.add_argument('--remove-cmd', help='shell command that removes a namespace (ns-remove check)')
    p.add_argument('--remove-nsid', type=int, default=2)
    p.add_argument('--connections', type=int, default=1000)
    p.add_argument('--mode', choices=('strict', 'observe'), default='strict')
    p.add_argument('-t', '--timeout', type=float, default=10.0)
    p.add_argument('checks', nargs='+', choices=sorted(CHECKS) + ['all', 'bad'])
    a = p.parse_args()
    names = []
    for c in a.checks:
        if c == 'all':
            names += [n for n in CHECKS if not n.startswith('bad') and n not in ('aen', 'ns-remove')]
        elif c == 'bad':
            names += [n for n in CHECKS if n.startswith('bad')]
        else:
            names.append(c)
    x = Ctx(a)
    for name in names:
        t = time.monotonic()
        print('== %s' % name, flush=True)
        CURRENT.update(name=name, failed=0)
        try:
            CHECKS[name](x)
            if CURRENT['failed']:
                print('== %s: %d assertion(s) failed (%.1fs)' % (name, CURRENT['failed'],
                                                                 time.monotonic() - t), flush=True)
                FAILS.append(name)
            else:
                print('== %s passed (%.1fs)' % (name, time.monotonic() - t), flush=True)
        except CheckFailed as e:
            print('FAIL: %s: %s' % (name, e), flush=True)
            FAILS.append(name)
        except Exception as e:  # noqa: BLE001 - report and go on with the next check
            traceback.print_exc()
            print('FAIL: %s: %s: %s' % (name, type(e).__name__, e), flush=True)
            FAILS.append(name)
    if FAILS:
        print('failed checks: %s' % ' '.join(FAILS))
        return 1
    print('all checks passed: %s' % ' '.join(names))
    return 0


if __name__ == '__main__':
    sys.exit(main())
