#!/usr/bin/env python3
"""A small NVMe/TCP host for tests (Python standard library only).

Written from the NVMe Base, NVMe over Fabrics and NVMe/TCP transport
specifications. It is a test tool: it speaks the protocol correctly by
default and lets a test break any rule on purpose (raw PDUs, 1-byte
segmentation, wrong digests, odd SGL descriptors).

Library use:

    import nvmf_host as nh
    ctrl = nh.Controller.connect('127.0.0.1', 4420, 'nqn.2024-01.io.sluice:cnode1')
    ctrl.enable()
    idc = ctrl.identify_ctrl()
    io = ctrl.connect_io_queue(1)
    io.write(1, 0, b'x' * 4096)
    data = io.read(1, 0, 1)
    ctrl.shutdown()

Command line: `nvmf_host.py --help`. Every command prints JSON on stdout;
exit status 0 on success, 1 on an NVMe error status, 2 on a protocol or
connection problem, 3 when a TermReq arrived.
"""

import argparse
import json
import os
import select
import socket
import struct
import sys
import time
import uuid

# ---------------------------------------------------------------------------
# Constants (NVMe/TCP transport spec, NVMe-oF spec, NVMe Base spec)
# ---------------------------------------------------------------------------

PDU_ICREQ = 0x00
PDU_ICRESP = 0x01
PDU_H2C_TERM = 0x02
PDU_C2H_TERM = 0x03
PDU_CMD = 0x04
PDU_RSP = 0x05
PDU_H2C_DATA = 0x06
PDU_C2H_DATA = 0x07
PDU_R2T = 0x09

PDU_NAMES = {PDU_ICREQ: 'ICReq', PDU_ICRESP: 'ICResp', PDU_H2C_TERM: 'H2CTermReq',
             PDU_C2H_TERM: 'C2HTermReq', PDU_CMD: 'CapsuleCmd', PDU_RSP: 'CapsuleResp',
             PDU_H2C_DATA: 'H2CData', PDU_C2H_DATA: 'C2HData', PDU_R2T: 'R2T'}

# Header length of each PDU type (the "hlen" field must match).
PDU_HLEN = {PDU_ICREQ: 128, PDU_ICRESP: 128, PDU_H2C_TERM: 24, PDU_C2H_TERM: 24,
            PDU_CMD: 72, PDU_RSP: 24, PDU_H2C_DATA: 24, PDU_C2H_DATA: 24, PDU_R2T: 24}

F_HDGST = 0x01
F_DDGST = 0x02
F_DATA_LAST = 0x04
F_DATA_SUCCESS = 0x08

DGST_HDR = 0x01
DGST_DATA = 0x02

FES_INVALID_PDU_HDR = 0x01
FES_PDU_SEQ_ERR = 0x02
FES_HDR_DIGEST_ERR = 0x03
FES_DATA_OUT_OF_RANGE = 0x04
FES_DATA_LIMIT_EXCEEDED = 0x05  # also "R2T limit exceeded"
FES_UNSUPPORTED_PARAM = 0x06
FES_NAMES = {1: 'Invalid PDU Header Field', 2: 'PDU Sequence Error', 3: 'Header Digest Error',
             4: 'Data Transfer Out of Range', 5: 'Data Transfer Limit Exceeded',
             6: 'Unsupported Parameter'}

DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery'

# Admin opcodes
ADM_GET_LOG_PAGE = 0x02
ADM_IDENTIFY = 0x06
ADM_ABORT = 0x08
ADM_SET_FEATURES = 0x09
ADM_GET_FEATURES = 0x0A
ADM_ASYNC_EVENT = 0x0C
ADM_KEEP_ALIVE = 0x18
FABRICS = 0x7F
# NVM opcodes
NVM_FLUSH = 0x00
NVM_WRITE = 0x01
NVM_READ = 0x02
NVM_WRITE_ZEROES = 0x08
NVM_DSM = 0x09

FCTYPE_PROP_SET = 0x00
FCTYPE_CONNECT = 0x01
FCTYPE_PROP_GET = 0x04
FCTYPE_DISCONNECT = 0x08

PROP_CAP = 0x00
PROP_VS = 0x08
PROP_CC = 0x14
PROP_CSTS = 0x1C

CNS_NS = 0x00
CNS_CTRL = 0x01
CNS_ACTIVE_NS_LIST = 0x02
CNS_NS_DESC_LIST = 0x03

LID_ERROR = 0x01
LID_SMART = 0x02
LID_FW_SLOT = 0x03
LID_CHANGED_NS = 0x04
LID_DISCOVERY = 0x70

FID_ARBITRATION = 0x01
FID_POWER_MGMT = 0x02
FID_TEMP_THRESH = 0x04
FID_NUM_QUEUES = 0x07
FID_INT_COALESCING = 0x08
FID_WRITE_ATOMICITY = 0x0A
FID_ASYNC_EVENT_CFG = 0x0B
FID_KATO = 0x0F

# SGL descriptor identifiers (byte 15): type << 4 | subtype
SGL_DATA_BLOCK_OFFSET = 0x01  # Data Block, subtype Offset: in-capsule data
SGL_TRANSPORT_DATA_BLOCK = 0x5A  # Transport SGL Data Block, transport specific
SGL_KEYED_DATA_BLOCK = 0x40  # Keyed SGL Data Block (RDMA); not for TCP
SGL_SEGMENT = 0x20
SGL_LAST_SEGMENT = 0x30
SGL_BIT_BUCKET = 0x10

PSDT_SGL = 0x40  # CDW0 bits 15:14 = 01b: SGLs for data transfer

# Connect CATTR bit 2: disable SQ flow control.
CATTR_DISABLE_SQFLOW = 0x04

# Status code types and a few status names.
SCT_GENERIC = 0
SCT_CMD_SPECIFIC = 1
SCT_MEDIA = 2
SCT_PATH = 3

GENERIC_SC = {
    0x00: 'Successful Completion', 0x01: 'Invalid Command Opcode', 0x02: 'Invalid Field in Command',
    0x03: 'Command ID Conflict', 0x04: 'Data Transfer Error', 0x05: 'Commands Aborted due to Power Loss',
    0x06: 'Internal Error', 0x07: 'Command Abort Requested', 0x08: 'Command Aborted due to SQ Deletion',
    0x09: 'Command Aborted due to Failed Fused Command', 0x0A: 'Command Aborted due to Missing Fused Command',
    0x0B: 'Invalid Namespace or Format', 0x0C: 'Command Sequence Error', 0x0D: 'Invalid SGL Segment Descriptor',
    0x0E: 'Invalid Number of SGL Descriptors', 0x0F: 'Data SGL Length Invalid',
    0x10: 'Metadata SGL Length Invalid', 0x11: 'SGL Descriptor Type Invalid',
    0x12: 'Invalid Use of Controller Memory Buffer', 0x13: 'PRP Offset Invalid',
    0x14: 'Atomic Write Unit Exceeded', 0x15: 'Operation Denied', 0x16: 'SGL Offset Invalid',
    0x18: 'Host Identifier Inconsistent Format', 0x19: 'Keep Alive Timer Expired',
    0x1A: 'Keep Alive Timeout Invalid', 0x1D: 'Sanitize In Progress', 0x1E: 'SGL Data Block Granularity Invalid',
    0x20: 'Namespace is Write Protected', 0x21: 'Command Interrupted', 0x22: 'Transient Transport Error',
    0x80: 'LBA Out of Range', 0x81: 'Capacity Exceeded', 0x82: 'Namespace Not Ready',
}
CMD_SPECIFIC_SC = {
    0x00: 'Completion Queue Invalid', 0x01: 'Invalid Queue Identifier', 0x02: 'Invalid Queue Size',
    0x05: 'Asynchronous Event Request Limit Exceeded', 0x09: 'Invalid Log Page', 0x0D: 'Feature Identifier Not Saveable',
    0x0E: 'Feature Not Changeable', 0x0F: 'Feature Not Namespace Specific',
    0x80: 'Connect Incompatible Format', 0x81: 'Connect Controller Busy', 0x82: 'Connect Invalid Parameters',
    0x83: 'Connect Restart Discovery', 0x84: 'Connect Invalid Host',
}

# Connect command and data field offsets (for IPO checks).
CONNECT_SQE_QID = 42
CONNECT_SQE_SQSIZE = 44
CONNECT_SQE_CATTR = 46
CONNECT_SQE_KATO = 48
CONNECT_DATA_HOSTID = 0
CONNECT_DATA_CNTLID = 16
CONNECT_DATA_SUBNQN = 256
CONNECT_DATA_HOSTNQN = 512


def status_name(sct, sc):
    table = {SCT_GENERIC: GENERIC_SC, SCT_CMD_SPECIFIC: CMD_SPECIFIC_SC}.get(sct, {})
    return table.get(sc, 'sct 0x%x sc 0x%02x' % (sct, sc))


# ---------------------------------------------------------------------------
# CRC32C (Castagnoli), reflected polynomial 0x82F63B78, table-driven
# ---------------------------------------------------------------------------

def _crc32c_tables():
    t0 = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t0.append(c)
    # Slicing-by-4 tables: four bytes per step, about 3x faster in CPython.
    t1 = [(t0[c & 0xFF] ^ (c >> 8)) for c in t0]
    t2 = [(t0[c & 0xFF] ^ (c >> 8)) for c in t1]
    t3 = [(t0[c & 0xFF] ^ (c >> 8)) for c in t2]
    return t0, t1, t2, t3


_T0, _T1, _T2, _T3 = _crc32c_tables()


def crc32c(data, crc=0):
    """CRC32C of data (the NVMe/TCP digest value is this, little-endian)."""
    t0, t1, t2, t3 = _T0, _T1, _T2, _T3
    c = crc ^ 0xFFFFFFFF
    mv = memoryview(bytes(data)) if not isinstance(data, (bytes, bytearray)) else memoryview(data)
    n = len(mv)
    head = n & ~3
    if head:
        for (w,) in struct.iter_unpack('<I', mv[:head]):
            c ^= w
            c = t3[c & 0xFF] ^ t2[(c >> 8) & 0xFF] ^ t1[(c >> 16) & 0xFF] ^ t0[c >> 24]
    for b in mv[head:]:
        c = t0[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def digest(data):
    return struct.pack('<I', crc32c(data))


# ---------------------------------------------------------------------------
# Exceptions
# ---------------------------------------------------------------------------

class NvmfError(Exception):
    """Base class."""


class ProtocolError(NvmfError):
    """The target broke the protocol as this host understands it."""


class ConnectionClosed(NvmfError):
    """The peer closed the connection."""


class Timeout(NvmfError):
    """Nothing (or not enough) arrived in time."""


class TermReqError(NvmfError):
    """The target sent a C2HTermReq (fatal transport error)."""

    def __init__(self, pdu):
        self.pdu = pdu
        self.fes, self.fei = struct.unpack_from('<HI', pdu.hdr, 8)
        self.offending = bytes(pdu.data)
        super().__init__('C2HTermReq: fes 0x%x (%s) fei 0x%x, %d bytes of the offending PDU' % (
            self.fes, FES_NAMES.get(self.fes, '?'), self.fei, len(self.offending)))


class NvmeStatusError(NvmfError):
    """A command completed with a non-zero status."""

    def __init__(self, cqe, what='command'):
        self.cqe = cqe
        self.sct = cqe.sct
        self.sc = cqe.sc
        self.dnr = cqe.dnr
        super().__init__('%s failed: sct 0x%x sc 0x%02x (%s)%s dw0 0x%08x' % (
            what, cqe.sct, cqe.sc, status_name(cqe.sct, cqe.sc), ' DNR' if cqe.dnr else '', cqe.dw0))


# ---------------------------------------------------------------------------
# PDUs
# ---------------------------------------------------------------------------

class Pdu:
    """One received PDU: common header fields, the header (hlen bytes, incl.
    the common header), the data (without padding and digests)."""

    def __init__(self, raw, hdr, data, hdgst=None, ddgst=None):
        self.raw = raw
        self.type, self.flags, self.hlen, self.pdo, self.plen = struct.unpack_from('<BBBBI', raw, 0)
        self.hdr = hdr
        self.data = data
        self.hdgst = hdgst
        self.ddgst = ddgst

    def __repr__(self):
        return '<%s flags 0x%x hlen %d pdo %d plen %d>' % (
            PDU_NAMES.get(self.type, 'type 0x%x' % self.type), self.flags, self.hlen, self.pdo, self.plen)


class PduReader:
    """Resumable PDU parser: feed() any segmentation of the byte stream,
    pop() complete PDUs. Digests are checked when the PDU says it carries
    them and the reader was told to expect them."""

    def __init__(self):
        self.buf = bytearray()
        self.hdgst = False
        self.ddgst = False
        self.max_plen = 16 << 20

    def feed(self, data):
        self.buf += data

    def pop(self):
        if len(self.buf) < 8:
            return None
        ptype, flags, hlen, pdo, plen = struct.unpack_from('<BBBBI', self.buf, 0)
        if plen < 8 or hlen < 8 or plen < hlen:
            raise ProtocolError('bad PDU common header: type 0x%x hlen %d pdo %d plen %d' %
                                (ptype, hlen, pdo, plen))
        if plen > self.max_plen:
            raise ProtocolError('PDU plen %d too large' % plen)
        if len(self.buf) < plen:
            return None
        raw = bytes(self.buf[:plen])
        del self.buf[:plen]
        hdr = raw[:hlen]
        pos = hlen
        hd = dd = None
        if flags & F_HDGST:
            if plen < hlen + 4:
                raise ProtocolError('%s: HDGSTF set but plen %d leaves no room' % (PDU_NAMES.get(ptype), plen))
            hd = raw[hlen:hlen + 4]
            if hd != digest(hdr):
                raise ProtocolError('%s: header digest mismatch' % PDU_NAMES.get(ptype, ptype))
            pos += 4
        elif self.hdgst and ptype not in (PDU_ICRESP, PDU_C2H_TERM):
            raise ProtocolError('%s without header digest although negotiated' % PDU_NAMES.get(ptype))
        data = b''
        if ptype == PDU_C2H_TERM:
            data = raw[hlen:]
        elif pdo:
            if pdo < pos or pdo > plen:
                raise ProtocolError('%s: pdo %d outside [%d, %d]' % (PDU_NAMES.get(ptype), pdo, pos, plen))
            end = plen
            if flags & F_DDGST:
                end -= 4
                dd = raw[end:plen]
                if end < pdo:
                    raise ProtocolError('%s: DDGSTF set but no room' % PDU_NAMES.get(ptype))
            data = raw[pdo:end]
            if dd is not None and dd != digest(data):
                raise ProtocolError('%s: data digest mismatch' % PDU_NAMES.get(ptype))
            if self.ddgst and dd is None and data:
                raise ProtocolError('%s without data digest although negotiated' % PDU_NAMES.get(ptype))
        elif plen != pos:
            raise ProtocolError('%s: plen %d but no pdo' % (PDU_NAMES.get(ptype), plen))
        return Pdu(raw, hdr, data, hd, dd)


def build_pdu(ptype, specific=b'', data=b'', flags=0, hdgst=False, ddgst=False, cpda=0,
              hlen=None, pdo=None, plen=None, bad_hdgst=False, bad_ddgst=False):
    """Bytes of one PDU. hlen/pdo/plen override the computed values (for
    malformed PDUs); bad_* corrupts the digest."""
    real_hlen = 8 + len(specific)
    hlen = real_hlen if hlen is None else hlen
    if hdgst:
        flags |= F_HDGST
    if ddgst and data:
        flags |= F_DDGST
    pos = real_hlen + (4 if hdgst else 0)
    if data:
        align = (cpda + 1) * 4
        cpdo = (pos + align - 1) // align * align
    else:
        cpdo = 0
    pdo = cpdo if pdo is None else pdo
    total = (cpdo if data else pos) + len(data) + (4 if (ddgst and data) else 0)
    plen = total if plen is None else plen
    ch = struct.pack('<BBBBI', ptype, flags, hlen & 0xFF, pdo & 0xFF, plen & 0xFFFFFFFF)
    hdr = ch + specific
    out = bytearray(hdr)
    if hdgst:
        d = bytearray(digest(hdr))
        if bad_hdgst:
            d[0] ^= 0xFF
        out += d
    if data:
        out += bytes(cpdo - len(out))
        out += data
        if ddgst:
            d = bytearray(digest(data))
            if bad_ddgst:
                d[0] ^= 0xFF
            out += d
    return bytes(out)


def icreq_pdu(hpda=0, dgst=0, maxr2t=0, pfv=0):
    specific = struct.pack('<HBBI', pfv, hpda, dgst, maxr2t) + bytes(112)
    return build_pdu(PDU_ICREQ, specific)


# ---------------------------------------------------------------------------
# Commands and completions
# ---------------------------------------------------------------------------

class Cqe:
    def __init__(self, raw):
        self.raw = bytes(raw)
        self.dw0, self.dw1, self.sqhd, self.sqid, self.cid, self.status = struct.unpack('<IIHHHH', raw)
        self.sc = (self.status >> 1) & 0xFF
        self.sct = (self.status >> 9) & 0x7
        self.crd = (self.status >> 12) & 0x3
        self.more = (self.status >> 14) & 1
        self.dnr = (self.status >> 15) & 1

    @property
    def ok(self):
        return self.sc == 0 and self.sct == 0

    def as_dict(self):
        return {'dw0': self.dw0, 'dw1': self.dw1, 'sqhd': self.sqhd, 'sqid': self.sqid,
                'cid': self.cid, 'sct': self.sct, 'sc': self.sc, 'dnr': self.dnr,
                'status': status_name(self.sct, self.sc)}


class Sqe:
    """A 64-byte submission queue entry, built field by field."""

    def __init__(self, opcode, nsid=0, cdw10=0, cdw11=0, cdw12=0, cdw13=0, cdw14=0, cdw15=0,
                 flags=PSDT_SGL):
        self.b = bytearray(64)
        self.b[0] = opcode
        self.b[1] = flags
        struct.pack_into('<I', self.b, 4, nsid)
        struct.pack_into('<6I', self.b, 40, cdw10, cdw11, cdw12, cdw13, cdw14, cdw15)

    @classmethod
    def fabrics(cls, fctype):
        s = cls(FABRICS)
        s.b[4] = fctype
        return s

    def set_cid(self, cid):
        struct.pack_into('<H', self.b, 2, cid)

    @property
    def cid(self):
        return struct.unpack_from('<H', self.b, 2)[0]

    def set_sgl(self, addr, length, sgl_id):
        struct.pack_into('<QI3xB', self.b, 24, addr, length, sgl_id)

    def bytes(self):
        return bytes(self.b)


class Request:
    def __init__(self, sqe, wdata, rlen):
        self.sqe = sqe
        self.wdata = wdata
        self.rlen = rlen
        self.rbuf = bytearray(rlen)
        self.rgot = 0
        self.cqe = None
        self.c2h_success = False
        self.c2h_last = False
        self.r2ts = 0
        self.h2c_pdus = 0
        self.c2h_pdus = 0
        self.done = False


class Queue:
    """One NVMe/TCP connection = one queue pair."""

    def __init__(self, addr, port, timeout=10.0, segment=0, hdgst=False, ddgst=False, hpda=0,
                 maxr2t=0, icreq=True):
        self.addr = addr
        self.port = port
        self.timeout = timeout
        self.segment = segment  # >0: send in writes of this many bytes
        self.want_hdgst = hdgst
        self.want_ddgst = ddgst
        self.hdgst = False
        self.ddgst = False
        self.hpda = hpda
        self.maxr2t = maxr2t
        self.h2c_chunk = 0  # >0: H2CData PDUs of at most this many bytes (below MAXH2CDATA)
        self.cork = None  # a bytearray while PDUs are being batched into one send
        self.reader = PduReader()
        self.cpda = 0
        self.maxh2cdata = 0
        self.icresp = None
        self.qid = None
        self.cntlid = None
        self.sqsize = None
        self.sqflow_disabled = False
        self.incapsule = 0  # in-capsule data bytes this queue accepts
        self.next_cid = 1
        self.reqs = {}
        self.stats = {'c2h_success': 0, 'capsule_resp': 0, 'r2t': 0, 'h2c_data': 0, 'c2h_data': 0}
        self.sock = socket.create_connection((addr, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if icreq:
            self.do_icreq()

    # -- raw I/O

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_raw(self, data, segment=None):
        if self.cork is not None:
            self.cork += data
            return
        seg = self.segment if segment is None else segment
        if seg and seg > 0:
            for i in range(0, len(data), seg):
                self.sock.sendall(data[i:i + seg])
        else:
            self.sock.sendall(data)

    def batch(self):
        """Start collecting sent PDUs; flush() sends them in one write, so the
        target finds many PDUs in one read."""
        self.cork = bytearray()

    def flush(self):
        data, self.cork = bytes(self.cork or b''), None
        self.send_raw(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout('no PDU from %s:%d within %.1fs' % (self.addr, self.port, self.timeout))
        r, _, _ = select.select([self.sock], [], [], remaining)
        if not r:
            raise Timeout('no PDU from %s:%d within %.1fs' % (self.addr, self.port, self.timeout))
        try:
            chunk = self.sock.recv(1 << 20)
        except ConnectionResetError:
            chunk = b''
        if not chunk:
            raise ConnectionClosed('%s:%d closed the connection' % (self.addr, self.port))
        self.reader.feed(chunk)

    def recv_pdu(self, timeout=None, raise_term=True):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            pdu = self.reader.pop()
            if pdu is not None:
                if pdu.type == PDU_C2H_TERM and raise_term:
                    raise TermReqError(pdu)
                return pdu
            self._fill(deadline)

    def expect_termreq(self, timeout=None):
        """Wait for a C2HTermReq; returns (fes, fei, pdu). Raises
        ProtocolError when something else arrives, ConnectionClosed when the
        target closed without one."""
        while True:
            pdu = self.recv_pdu(timeout, raise_term=False)
            if pdu.type == PDU_C2H_TERM:
                fes, fei = struct.unpack_from('<HI', pdu.hdr, 8)
                return fes, fei, pdu
            if pdu.type == PDU_RSP:
                raise ProtocolError('expected a C2HTermReq, got a CapsuleResp: %s' %
                                    Cqe(pdu.hdr[8:24]).as_dict())
            raise ProtocolError('expected a C2HTermReq, got %r' % pdu)

    def wait_closed(self, timeout=None):
        """True once the peer closed (any PDUs before that are dropped)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            while True:
                self._fill(deadline)
                self.reader.buf.clear()
        except ConnectionClosed:
            return True
        except Timeout:
            return False

    # -- connection set-up

    def do_icreq(self, **kw):
        dgst = (DGST_HDR if self.want_hdgst else 0) | (DGST_DATA if self.want_ddgst else 0)
        self.send_raw(icreq_pdu(kw.get('hpda', self.hpda), kw.get('dgst', dgst),
                                kw.get('maxr2t', self.maxr2t), kw.get('pfv', 0)))
        pdu = self.recv_pdu()
        if pdu.type != PDU_ICRESP:
            raise ProtocolError('expected ICResp, got %r' % pdu)
        if pdu.hlen != 128 or pdu.plen != 128:
            raise ProtocolError('ICResp hlen %d plen %d, want 128' % (pdu.hlen, pdu.plen))
        pfv, cpda, rdgst, maxdata = struct.unpack_from('<HBBI', pdu.hdr, 8)
        self.icresp = {'pfv': pfv, 'cpda': cpda, 'dgst': rdgst, 'maxh2cdata': maxdata}
        self.cpda = cpda
        self.maxh2cdata = maxdata
        self.hdgst = bool(rdgst & DGST_HDR)
        self.ddgst = bool(rdgst & DGST_DATA)
        self.reader.hdgst = self.hdgst
        self.reader.ddgst = self.ddgst
        return self.icresp

    def pdu(self, ptype, specific=b'', data=b'', flags=0, **kw):
        """Build a PDU with this connection's negotiated digests/alignment."""
        kw.setdefault('hdgst', self.hdgst)
        kw.setdefault('ddgst', self.ddgst)
        kw.setdefault('cpda', self.cpda)
        return build_pdu(ptype, specific, data, flags, **kw)

    def alloc_cid(self):
        cid = self.next_cid
        self.next_cid = (self.next_cid + 1) & 0xFFFF or 1
        return cid

    # -- commands

    def submit(self, sqe, wdata=b'', rlen=0, incapsule=None, sgl=None, cid=None, pdu_kw=None):
        """Send one command. Write data goes in-capsule when it fits (or
        when incapsule=True), otherwise the target asks for it with R2T.
        sgl=(addr, length, id) overrides the data descriptor. Returns the
        Request; wait() for it."""
        sqe.set_cid(self.alloc_cid() if cid is None else cid)
        wdata = bytes(wdata)
        if incapsule is None:
            incapsule = 0 < len(wdata) <= self.incapsule
        if sgl is not None:
            sqe.set_sgl(*sgl)
        elif wdata and incapsule:
            sqe.set_sgl(0, len(wdata), SGL_DATA_BLOCK_OFFSET)
        else:
            sqe.set_sgl(0, len(wdata) or rlen, SGL_TRANSPORT_DATA_BLOCK)
        req = Request(sqe, wdata, rlen)
        self.reqs[sqe.cid] = req
        self.send_raw(self.pdu(PDU_CMD, sqe.bytes(), wdata if incapsule else b'', **(pdu_kw or {})))
        return req

    def _handle(self, pdu):
        if pdu.type == PDU_RSP:
            if pdu.hlen != 24:
                raise ProtocolError('CapsuleResp hlen %d' % pdu.hlen)
            cqe = Cqe(pdu.hdr[8:24])
            req = self.reqs.pop(cqe.cid, None)
            if req is None:
                raise ProtocolError('CapsuleResp for unknown cid %d: %s' % (cqe.cid, cqe.as_dict()))
            req.cqe = cqe
            req.done = True
            self.stats['capsule_resp'] += 1
        elif pdu.type == PDU_C2H_DATA:
            cccid, _ttag, datao, datal = struct.unpack_from('<HHII', pdu.hdr, 8)
            req = self.reqs.get(cccid)
            if req is None:
                raise ProtocolError('C2HData for unknown cid %d' % cccid)
            if datal != len(pdu.data):
                raise ProtocolError('C2HData datal %d but %d data bytes' % (datal, len(pdu.data)))
            if pdu.pdo % ((self.hpda + 1) * 4):
                raise ProtocolError('C2HData pdo %d not aligned to HPDA %d (%d bytes)' % (
                    pdu.pdo, self.hpda, (self.hpda + 1) * 4))
            if datao != req.rgot:
                raise ProtocolError('C2HData datao %d, expected %d (in order)' % (datao, req.rgot))
            if datao + datal > req.rlen:
                raise ProtocolError('C2HData past the buffer: %d+%d > %d' % (datao, datal, req.rlen))
            if req.c2h_last:
                raise ProtocolError('C2HData for cid %d after its LAST_PDU' % cccid)
            req.rbuf[datao:datao + datal] = pdu.data
            req.rgot += datal
            if pdu.flags & F_DATA_LAST:
                if req.rgot != req.rlen:
                    raise ProtocolError('C2HData LAST_PDU after %d of %d bytes' % (req.rgot, req.rlen))
                req.c2h_last = True
            req.c2h_pdus += 1
            self.stats['c2h_data'] += 1
            if pdu.flags & F_DATA_SUCCESS:
                if not pdu.flags & F_DATA_LAST:
                    raise ProtocolError('C2HData with SUCCESS but not LAST_PDU')
                if not self.sqflow_disabled:
                    raise ProtocolError('C2HData SUCCESS although SQ flow control is on')
                req.c2h_success = True
                req.done = True
                self.stats['c2h_success'] += 1
                # A synthetic successful completion.
                req.cqe = Cqe(struct.pack('<IIHHHH', 0, 0, 0, self.qid or 0, cccid, 0))
                del self.reqs[cccid]
        elif pdu.type == PDU_R2T:
            cccid, ttag, r2to, r2tl = struct.unpack_from('<HHII', pdu.hdr, 8)
            req = self.reqs.get(cccid)
            if req is None:
                raise ProtocolError('R2T for unknown cid %d' % cccid)
            if r2to + r2tl > len(req.wdata) or r2tl == 0:
                raise ProtocolError('R2T range %d+%d outside the %d-byte write' % (r2to, r2tl, len(req.wdata)))
            req.r2ts += 1
            self.stats['r2t'] += 1
            self.send_h2c(req, ttag, r2to, r2tl)
        else:
            raise ProtocolError('unexpected %r' % pdu)

    def send_h2c(self, req, ttag, off, length):
        chunk = self.maxh2cdata or length
        if self.h2c_chunk:
            chunk = min(chunk, self.h2c_chunk)
        end = off + length
        while off < end:
            n = min(chunk, end - off)
            last = F_DATA_LAST if off + n == end else 0
            spec = struct.pack('<HHII4x', req.sqe.cid, ttag, off, n)
            self.send_raw(self.pdu(PDU_H2C_DATA, spec, req.wdata[off:off + n], last))
            req.h2c_pdus += 1
            self.stats['h2c_data'] += 1
            off += n

    def wait(self, req, timeout=None):
        while not req.done:
            self._handle(self.recv_pdu(timeout))
        return req

    def execute(self, sqe, wdata=b'', rlen=0, what=None, check=True, **kw):
        req = self.wait(self.submit(sqe, wdata, rlen, **kw))
        if check and not req.cqe.ok:
            raise NvmeStatusError(req.cqe, what or 'opcode 0x%02x' % sqe.b[0])
        if check and rlen and req.cqe.ok and (req.rgot != rlen or not req.c2h_last):
            raise ProtocolError('%s: %d of %d data bytes arrived%s' % (
                what or 'command', req.rgot, rlen, '' if req.c2h_last else ', no C2HData with LAST_PDU'))
        return req

    # -- Fabrics

    def connect(self, qid, subnqn, hostnqn, hostid, cntlid=0xFFFF, sqsize=31, kato=0,
                disable_sqflow=False, check=True, data=None, **kw):
        s = Sqe.fabrics(FCTYPE_CONNECT)
        struct.pack_into('<HHHBxI', s.b, 40, 0, qid, sqsize, CATTR_DISABLE_SQFLOW if disable_sqflow else 0, kato)
        if data is None:
            data = connect_data(subnqn, hostnqn, hostid, cntlid)
        self.qid = qid
        self.sqsize = sqsize
        self.sqflow_disabled = disable_sqflow
        req = self.execute(s, data, what='Connect (qid %d)' % qid, incapsule=True, check=check, **kw)
        if req.cqe.ok:
            self.cntlid = req.cqe.dw0 & 0xFFFF
        return req


def connect_data(subnqn, hostnqn, hostid, cntlid=0xFFFF):
    d = bytearray(1024)
    d[0:16] = hostid
    struct.pack_into('<H', d, 16, cntlid)
    sn = subnqn.encode() if isinstance(subnqn, str) else subnqn
    hn = hostnqn.encode() if isinstance(hostnqn, str) else hostnqn
    d[256:256 + len(sn)] = sn[:256]
    d[512:512 + len(hn)] = hn[:256]
    return bytes(d)


def default_hostid():
    return uuid.uuid4().bytes


def hostnqn_for(hostid):
    return 'nqn.2014-08.org.nvmexpress:uuid:%s' % uuid.UUID(bytes=hostid)


def _str(b):
    return bytes(b).split(b'\0', 1)[0].decode('ascii', 'replace').rstrip()


def parse_identify_ctrl(d):
    d = bytes(d)
    vid, ssvid = struct.unpack_from('<HH', d, 0)
    out = {
        'vid': vid, 'ssvid': ssvid, 'sn': _str(d[4:24]), 'mn': _str(d[24:64]), 'fr': _str(d[64:72]),
        'rab': d[72], 'ieee': d[73:76].hex(), 'cmic': d[76], 'mdts': d[77],
        'cntlid': struct.unpack_from('<H', d, 78)[0], 'ver': struct.unpack_from('<I', d, 80)[0],
        'oaes': struct.unpack_from('<I', d, 92)[0], 'ctratt': struct.unpack_from('<I', d, 96)[0],
        'cntrltype': d[111], 'oacs': struct.unpack_from('<H', d, 256)[0], 'acl': d[258], 'aerl': d[259],
        'frmw': d[260], 'lpa': d[261], 'elpe': d[262], 'kas': struct.unpack_from('<H', d, 320)[0],
        'sqes': d[512], 'cqes': d[513], 'maxcmd': struct.unpack_from('<H', d, 514)[0],
        'nn': struct.unpack_from('<I', d, 516)[0], 'oncs': struct.unpack_from('<H', d, 520)[0],
        'fuses': struct.unpack_from('<H', d, 522)[0], 'vwc': d[525],
        'sgls': struct.unpack_from('<I', d, 536)[0], 'subnqn': _str(d[768:1024]),
        'ioccsz': struct.unpack_from('<I', d, 1792)[0], 'iorcsz': struct.unpack_from('<I', d, 1796)[0],
        'icdoff': struct.unpack_from('<H', d, 1800)[0], 'fcatt': d[1802], 'msdbd': d[1803],
        'ofcs': struct.unpack_from('<H', d, 1804)[0],
    }
    return out


def parse_identify_ns(d):
    d = bytes(d)
    nsze, ncap, nuse = struct.unpack_from('<QQQ', d, 0)
    nlbaf = d[25]
    flbas = d[26]
    lbafs = []
    for i in range(nlbaf + 1):
        ms, lbads, rp = struct.unpack_from('<HBB', d, 128 + 4 * i)
        lbafs.append({'ms': ms, 'lbads': lbads, 'rp': rp & 3})
    cur = lbafs[flbas & 0xF] if (flbas & 0xF) < len(lbafs) else {'lbads': 0}
    return {'nsze': nsze, 'ncap': ncap, 'nuse': nuse, 'nsfeat': d[24], 'nlbaf': nlbaf, 'flbas': flbas,
            'nmic': d[30], 'nguid': d[104:120].hex(), 'eui64': d[120:128].hex(), 'lbafs': lbafs,
            'block_size': (1 << cur['lbads']) if cur['lbads'] else 0}


def parse_ns_desc_list(d):
    d = bytes(d)
    out = []
    pos = 0
    while pos + 4 <= len(d):
        nidt, nidl = d[pos], d[pos + 1]
        if nidt == 0:
            break
        out.append({'nidt': nidt, 'nidl': nidl, 'nid': d[pos + 4:pos + 4 + nidl].hex()})
        pos += 4 + nidl
    return out


TRTYPES = {1: 'rdma', 2: 'fc', 3: 'tcp', 254: 'loop'}
ADRFAMS = {1: 'ipv4', 2: 'ipv6', 3: 'ib', 4: 'fc', 254: 'loop'}
SUBTYPES = {1: 'referral', 2: 'nvme subsystem', 3: 'current discovery subsystem'}


def parse_discovery_log(d):
    d = bytes(d)
    genctr, numrec, recfmt = struct.unpack_from('<QQH', d, 0)
    entries = []
    for i in range(numrec):
        off = 1024 + 1024 * i
        if off + 1024 > len(d):
            break
        e = d[off:off + 1024]
        trtype, adrfam, subtype, treq, portid, cntlid, asqsz = struct.unpack_from('<BBBBHHH', e, 0)
        entries.append({
            'trtype': TRTYPES.get(trtype, trtype), 'adrfam': ADRFAMS.get(adrfam, adrfam),
            'subtype': SUBTYPES.get(subtype, subtype), 'treq': treq, 'portid': portid,
            'cntlid': cntlid, 'asqsz': asqsz, 'trsvcid': _str(e[32:64]), 'subnqn': _str(e[256:512]),
            'traddr': _str(e[512:768]), 'tsas': e[768:771].hex()})
    return {'genctr': genctr, 'numrec': numrec, 'recfmt': recfmt, 'entries': entries}


class IoQueue:
    """An I/O queue of a controller: NVM Read/Write helpers."""

    def __init__(self, ctrl, q):
        self.ctrl = ctrl
        self.q = q

    @property
    def qid(self):
        return self.q.qid

    def read(self, nsid, slba, nlb, block_size=None, **kw):
        bs = block_size or self.ctrl.block_size(nsid)
        s = Sqe(NVM_READ, nsid, slba & 0xFFFFFFFF, slba >> 32, (nlb - 1) & 0xFFFF)
        return bytes(self.q.execute(s, rlen=nlb * bs, what='Read', **kw).rbuf)

    def write(self, nsid, slba, data, block_size=None, **kw):
        bs = block_size or self.ctrl.block_size(nsid)
        if len(data) % bs:
            raise ValueError('write of %d bytes is not a multiple of the %d-byte block' % (len(data), bs))
        nlb = len(data) // bs
        s = Sqe(NVM_WRITE, nsid, slba & 0xFFFFFFFF, slba >> 32, (nlb - 1) & 0xFFFF)
        return self.q.execute(s, data, what='Write', **kw)

    def flush(self, nsid):
        return self.q.execute(Sqe(NVM_FLUSH, nsid), what='Flush')

    def close(self):
        self.q.close()


class Controller:
    """An admin queue plus any number of I/O queues of one controller."""

    def __init__(self, addr, port, subnqn, hostnqn=None, hostid=None, kato=0, sqsize=31,
                 hdgst=False, ddgst=False, segment=0, timeout=10.0, disable_sqflow=False, hpda=0):
        self.addr = addr
        self.port = port
        self.subnqn = subnqn
        self.hostid = hostid or default_hostid()
        self.hostnqn = hostnqn or hostnqn_for(self.hostid)
        self.kato = kato
        self.hdgst = hdgst
        self.ddgst = ddgst
        self.segment = segment
        self.timeout = timeout
        self.disable_sqflow = disable_sqflow
        self.hpda = hpda
        self.admin = None
        self.cntlid = None
        self.idctrl = None
        self.io = []
        self._bs = {}
        self.connect_req = None

    def new_queue(self, **kw):
        args = dict(timeout=self.timeout, segment=self.segment, hdgst=self.hdgst, ddgst=self.ddgst,
                    hpda=self.hpda)
        args.update(kw)
        return Queue(self.addr, self.port, **args)

    @classmethod
    def connect(cls, addr, port, subnqn, **kw):
        """Open the admin queue (ICReq + Fabrics Connect, cntlid 0xFFFF)."""
        c = cls(addr, port, subnqn, **kw)
        c.admin = c.new_queue()
        c.admin.incapsule = 8192
        c.connect_req = c.admin.connect(0, subnqn, c.hostnqn, c.hostid, 0xFFFF, sqsize=31, kato=c.kato,
                                        disable_sqflow=c.disable_sqflow)
        c.cntlid = c.admin.cntlid
        return c

    def close(self):
        for q in self.io:
            q.close()
        if self.admin:
            self.admin.close()

    # -- properties

    def prop_get(self, offset, size=None):
        size = size or (8 if offset == PROP_CAP else 4)
        s = Sqe.fabrics(FCTYPE_PROP_GET)
        struct.pack_into('<B3xI', s.b, 40, 1 if size == 8 else 0, offset)
        cqe = self.admin.execute(s, what='Property Get 0x%x' % offset).cqe
        return cqe.dw0 | (cqe.dw1 << 32) if size == 8 else cqe.dw0

    def prop_set(self, offset, value, size=4):
        s = Sqe.fabrics(FCTYPE_PROP_SET)
        struct.pack_into('<B3xIQ', s.b, 40, 1 if size == 8 else 0, offset, value)
        self.admin.execute(s, what='Property Set 0x%x' % offset)

    def wait_csts(self, mask, want, timeout=None):
        deadline = time.monotonic() + (timeout or 10.0)
        while True:
            csts = self.prop_get(PROP_CSTS)
            if csts & mask == want:
                return csts
            if csts & 0x2:
                raise ProtocolError('CSTS.CFS set (0x%x)' % csts)
            if time.monotonic() > deadline:
                raise Timeout('CSTS 0x%x never matched mask 0x%x want 0x%x' % (csts, mask, want))
            time.sleep(0.01)

    def enable(self):
        """CC.EN=1 with IOSQES 6 and IOCQES 4, wait for CSTS.RDY; Identify."""
        cap = self.prop_get(PROP_CAP)
        to = ((cap >> 24) & 0xFF) * 0.5
        cc = (6 << 16) | (4 << 20) | 1
        self.prop_set(PROP_CC, cc)
        self.wait_csts(1, 1, max(to, 5.0))
        self.idctrl = self.identify_ctrl()
        return cap

    def shutdown(self):
        cc = self.prop_get(PROP_CC)
        self.prop_set(PROP_CC, (cc & ~(3 << 14)) | (1 << 14))
        return self.wait_csts(0xC, 0x8)

    # -- admin commands

    def identify(self, cns, nsid=0, cntid=0):
        s = Sqe(ADM_IDENTIFY, nsid, cns | (cntid << 16))
        return bytes(self.admin.execute(s, rlen=4096, what='Identify CNS %d' % cns).rbuf)

    def identify_ctrl(self):
        return parse_identify_ctrl(self.identify(CNS_CTRL))

    def identify_ns(self, nsid):
        return parse_identify_ns(self.identify(CNS_NS, nsid))

    def active_ns_list(self, start=0):
        d = self.identify(CNS_ACTIVE_NS_LIST, start)
        ids = struct.unpack('<1024I', d)
        return [n for n in ids if n]

    def ns_desc_list(self, nsid):
        return parse_ns_desc_list(self.identify(CNS_NS_DESC_LIST, nsid))

    def block_size(self, nsid):
        if nsid not in self._bs:
            self._bs[nsid] = self.identify_ns(nsid)['block_size']
        return self._bs[nsid]

    def get_log_page(self, lid, length, offset=0, lsp=0, rae=False, nsid=0xFFFFFFFF):
        numd = length // 4 - 1
        cdw10 = lid | (lsp << 8) | (int(rae) << 15) | ((numd & 0xFFFF) << 16)
        s = Sqe(ADM_GET_LOG_PAGE, nsid, cdw10, numd >> 16, offset & 0xFFFFFFFF, offset >> 32)
        return bytes(self.admin.execute(s, rlen=length, what='Get Log Page 0x%x' % lid).rbuf)

    def discovery_log(self):
        """Read the discovery log page: header first, then all records,
        again while the generation counter moves."""
        for _ in range(10):
            hdr = self.get_log_page(LID_DISCOVERY, 1024, nsid=0)
            genctr, numrec = struct.unpack_from('<QQ', hdr, 0)
            full = self.get_log_page(LID_DISCOVERY, 1024 * (numrec + 1), nsid=0)
            again = self.get_log_page(LID_DISCOVERY, 1024, nsid=0)
            if struct.unpack_from('<Q', again, 0)[0] == genctr:
                return parse_discovery_log(full)
        raise ProtocolError('discovery log generation counter never settled')

    def get_features(self, fid, sel=0, nsid=0, cdw11=0):
        s = Sqe(ADM_GET_FEATURES, nsid, fid | (sel << 8), cdw11)
        return self.admin.execute(s, what='Get Features 0x%x' % fid).cqe.dw0

    def set_features(self, fid, cdw11, nsid=0, save=False, check=True):
        s = Sqe(ADM_SET_FEATURES, nsid, fid | (int(save) << 31), cdw11)
        req = self.admin.execute(s, what='Set Features 0x%x' % fid, check=check)
        return req.cqe

    def set_num_queues(self, n):
        """Returns (nsqa, ncqa) allocated, 1-based."""
        dw0 = self.set_features(FID_NUM_QUEUES, ((n - 1) << 16) | (n - 1)).dw0
        return (dw0 & 0xFFFF) + 1, (dw0 >> 16) + 1

    def keep_alive(self):
        return self.admin.execute(Sqe(ADM_KEEP_ALIVE), what='Keep Alive').cqe

    # -- I/O queues

    def connect_io_queue(self, qid, sqsize=31, **kw):
        if self.idctrl is None:
            self.idctrl = self.identify_ctrl()
        q = self.new_queue(**{k: v for k, v in kw.items() if k in ('segment', 'hdgst', 'ddgst', 'timeout', 'hpda')})
        q.incapsule = max(0, self.idctrl['ioccsz'] * 16 - 64)
        q.connect(qid, self.subnqn, self.hostnqn, self.hostid, self.cntlid, sqsize=sqsize,
                  disable_sqflow=kw.get('disable_sqflow', self.disable_sqflow))
        ioq = IoQueue(self, q)
        self.io.append(ioq)
        return ioq


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def pattern(n, seed):
    """n bytes of a deterministic pattern that differs per seed and per block."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += struct.pack('<QQ', seed, i) * 32
        i += 1
    return bytes(out[:n])


def _controller(args, subnqn=None, **kw):
    hostid = uuid.UUID(args.hostid).bytes if args.hostid else None
    opts = dict(hostnqn=args.hostnqn, hostid=hostid, kato=args.kato, hdgst=args.hdgst,
                ddgst=args.ddgst, segment=args.segment, timeout=args.timeout,
                disable_sqflow=args.disable_sqflow)
    opts.update(kw)
    return Controller.connect(args.addr, args.port, subnqn or args.nqn, **opts)


def cmd_discover(args):
    c = _controller(args, args.nqn or DISCOVERY_NQN)
    c.enable()
    log = c.discovery_log()
    c.close()
    return log


def cmd_id_ctrl(args):
    c = _controller(args)
    c.enable()
    out = c.idctrl
    c.close()
    return out


def cmd_id_ns(args):
    c = _controller(args)
    c.enable()
    out = c.identify_ns(args.nsid)
    out['descriptors'] = c.ns_desc_list(args.nsid)
    out['active'] = c.active_ns_list()
    c.close()
    return out


def cmd_get_log(args):
    c = _controller(args)
    c.enable()
    d = c.get_log_page(args.lid, args.length)
    c.close()
    return {'lid': args.lid, 'data': d.hex()}


def cmd_get_feature(args):
    c = _controller(args)
    c.enable()
    v = c.get_features(args.fid)
    c.close()
    return {'fid': args.fid, 'value': v}


def cmd_verify(args):
    """Write a pattern (in-capsule and R2T sizes), read it back, compare."""
    c = _controller(args)
    c.enable()
    q = c.connect_io_queue(1)
    bs = c.block_size(args.nsid)
    seed = int(time.time() * 1000) & 0xFFFFFFFF
    data = pattern(args.length, seed)
    t = time.monotonic()
    wreq = q.write(args.nsid, args.slba, data)
    rd = q.read(args.nsid, args.slba, args.length // bs)
    out = {'length': args.length, 'block_size': bs, 'match': rd == data,
           'incapsule_limit': q.q.incapsule, 'r2t': wreq.r2ts, 'h2c_pdus': wreq.h2c_pdus,
           'seconds': round(time.monotonic() - t, 3), 'stats': q.q.stats,
           'digests': {'hdgst': q.q.hdgst, 'ddgst': q.q.ddgst}}
    c.shutdown()
    c.close()
    if not out['match']:
        raise ProtocolError('read-back differs from the data written: %s' % json.dumps(out))
    return out


def cmd_idle(args):
    """Connect an admin queue with --kato and then go silent for --seconds;
    report whether the target closed the connection."""
    c = _controller(args)
    c.enable()
    t = time.monotonic()
    closed = c.admin.wait_closed(args.seconds)
    return {'cntlid': c.cntlid, 'closed_by_target': closed,
            'after_seconds': round(time.monotonic() - t, 1)}


def cmd_raw(args):
    """ICReq (unless --no-icreq), then send hex bytes, report what comes back."""
    q = Queue(args.addr, args.port, timeout=args.timeout, segment=args.segment, icreq=not args.no_icreq)
    q.send_raw(bytes.fromhex(args.hex))
    try:
        fes, fei, pdu = q.expect_termreq()
        return {'termreq': True, 'fes': fes, 'fei': fei, 'fes_name': FES_NAMES.get(fes, '?')}
    except ConnectionClosed:
        return {'termreq': False, 'closed': True}


class _FakeTarget:
    """A minimal NVMe/TCP controller for the selftest: one connection,
    Connect, Write (in-capsule, or R2T in 8 KiB windows with MAXH2CDATA
    4 KiB) and Read (C2HData in 3,000-byte pieces, SUCCESS when the host
    disabled SQ flow control). It exercises the host paths the Linux
    target never takes (several R2Ts and C2HData PDUs per command)."""

    BS = 512

    def __init__(self):
        import threading
        self.lsock = socket.socket()
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(1)
        self.port = self.lsock.getsockname()[1]
        self.blocks = {}
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self._serve()
        except Exception as e:  # noqa: BLE001 - reported by the selftest
            self.error = e

    def _recv(self):
        while True:
            p = self.reader.pop()
            if p is not None:
                return p
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.reader.feed(chunk)

    def _send(self, ptype, spec, data=b'', flags=0):
        self.sock.sendall(build_pdu(ptype, spec, data, flags, hdgst=self.hd, ddgst=self.dd))

    def _resp(self, cid, dw0=0, status=0):
        self._send(PDU_RSP, struct.pack('<IIHHHH', dw0, 0, 0, 0, cid, status))

    def _serve(self):
        self.sock, _ = self.lsock.accept()
        self.reader = PduReader()
        self.hd = self.dd = False
        ic = self._recv()
        dgst = ic.hdr[11]
        self.sock.sendall(build_pdu(PDU_ICRESP, struct.pack('<HBBI', 0, 0, dgst, 4096) + bytes(112)))
        self.hd, self.dd = bool(dgst & DGST_HDR), bool(dgst & DGST_DATA)
        self.reader.hdgst, self.reader.ddgst = self.hd, self.dd
        sqflow_off = False
        while True:
            p = self._recv()
            if p is None:
                return
            if p.type != PDU_CMD:
                raise ProtocolError('fake target: unexpected %r' % p)
            sqe = p.hdr[8:72]
            opc, cid = sqe[0], struct.unpack_from('<H', sqe, 2)[0]
            length, sgl_id = struct.unpack_from('<I3xB', sqe, 32)
            cdw10, cdw11, cdw12 = struct.unpack_from('<III', sqe, 40)
            if opc == FABRICS:
                sqflow_off = bool(sqe[46] & CATTR_DISABLE_SQFLOW)
                self._resp(cid, dw0=1)
            elif opc == NVM_WRITE:
                data = bytearray()
                if sgl_id == SGL_DATA_BLOCK_OFFSET:
                    data += p.data
                else:
                    ttag = 7
                    for off in range(0, length, 8192):
                        n = min(8192, length - off)
                        self._send(PDU_R2T, struct.pack('<HHII4x', cid, ttag, off, n))
                        got = 0
                        while got < n:
                            h = self._recv()
                            hcid, httag, datao, datal = struct.unpack_from('<HHII', h.hdr, 8)
                            if (h.type, hcid, httag, datao) != (PDU_H2C_DATA, cid, ttag, off + got):
                                raise ProtocolError('fake target: bad H2CData %r %d %d %d' % (
                                    h, hcid, httag, datao))
                            if datal > 4096:
                                raise ProtocolError('fake target: H2CData of %d > MAXH2CDATA' % datal)
                            if bool(h.flags & F_DATA_LAST) != (got + datal == n):
                                raise ProtocolError('fake target: LAST_PDU flag wrong')
                            data += h.data
                            got += datal
                        ttag += 1
                for i in range(len(data) // self.BS):
                    self.blocks[cdw10 + i] = bytes(data[i * self.BS:(i + 1) * self.BS])
                self._resp(cid)
            elif opc == NVM_READ:
                nlb = (cdw12 & 0xFFFF) + 1
                data = b''.join(self.blocks.get(cdw10 + i, bytes(self.BS)) for i in range(nlb))
                for off in range(0, len(data), 3000):
                    n = min(3000, len(data) - off)
                    last = off + n == len(data)
                    flags = (F_DATA_LAST | (F_DATA_SUCCESS if sqflow_off else 0)) if last else 0
                    self._send(PDU_C2H_DATA, struct.pack('<HHII4x', cid, 0, off, n), data[off:off + n], flags)
                if not sqflow_off:
                    self._resp(cid)
            else:
                self._resp(cid, status=0x01 << 1)


def _selftest_fake_target():
    n = 0
    for hd, dd, sqoff in ((False, False, False), (True, True, False), (False, True, True)):
        t = _FakeTarget()
        q = Queue('127.0.0.1', t.port, timeout=10, hdgst=hd, ddgst=dd)
        q.incapsule = 4096
        q.connect(1, 'nqn.x:fake', 'nqn.x:host', bytes(16), 1, disable_sqflow=sqoff)
        small = pattern(1024, 1)
        r = q.execute(Sqe(NVM_WRITE, 1, 0, 0, 1), small)
        if r.r2ts:
            raise ProtocolError('1 KiB write used R2T')
        big = pattern(20480, 2)
        r = q.execute(Sqe(NVM_WRITE, 1, 100, 0, 39), big)
        if (r.r2ts, r.h2c_pdus) != (3, 5):
            raise ProtocolError('20 KiB write: %d R2T %d H2CData, want 3 and 5' % (r.r2ts, r.h2c_pdus))
        r = q.execute(Sqe(NVM_READ, 1, 100, 0, 39), rlen=20480)
        if bytes(r.rbuf) != big or r.c2h_pdus != 7 or r.c2h_success != sqoff:
            raise ProtocolError('20 KiB read: %d C2HData, success %s, equal %s' % (
                r.c2h_pdus, r.c2h_success, bytes(r.rbuf) == big))
        r = q.execute(Sqe(NVM_READ, 1, 0, 0, 1), rlen=1024)
        if bytes(r.rbuf) != small:
            raise ProtocolError('1 KiB read differs')
        r = q.execute(Sqe(0x7E, 1), check=False)
        if (r.cqe.sct, r.cqe.sc) != (0, 1):
            raise ProtocolError('status decoding: %s' % r.cqe.as_dict())
        q.close()
        t.thread.join(5)
        if t.error:
            raise t.error
        n += 1
    return n


def cmd_selftest(args):
    """Offline checks of this module: CRC32C vectors, PDU round trips
    through the reader fed 1 byte at a time, digest and header errors, and
    sessions with _FakeTarget (several R2Ts, H2CData split at MAXH2CDATA,
    C2HData reassembly with and without SUCCESS, digests)."""
    vec = {b'': 0, b'123456789': 0xE3069283, bytes(32): 0x8A9136AA, b'\xff' * 32: 0x62A8AB43,
           bytes(range(32)): 0x46DD794E}
    for k, v in vec.items():
        if crc32c(k) != v:
            raise ProtocolError('crc32c(%r) = 0x%08x, want 0x%08x' % (k[:12], crc32c(k), v))
    # Incremental CRC equals the one-shot CRC at every split.
    blob = pattern(1000, 7)
    for cut in (0, 1, 3, 4, 5, 999):
        if crc32c(blob[cut:], crc32c(blob[:cut])) != crc32c(blob):
            raise ProtocolError('incremental crc32c differs at %d' % cut)
    n = 0
    for hd in (False, True):
        for dd in (False, True):
            for cpda in (0, 3):
                data = pattern(777, n)
                spec = struct.pack('<HHII4x', 5, 0, 0, len(data))
                raw = build_pdu(PDU_C2H_DATA, spec, data, F_DATA_LAST, hdgst=hd, ddgst=dd, cpda=cpda)
                r = PduReader()
                r.hdgst, r.ddgst = hd, dd
                got = []
                stream = raw + raw
                for i in range(len(stream)):
                    r.feed(stream[i:i + 1])
                    p = r.pop()
                    if p:
                        got.append(p)
                if len(got) != 2 or any(g.data != data for g in got):
                    raise ProtocolError('round trip hd %d dd %d cpda %d' % (hd, dd, cpda))
                if cpda and got[0].pdo % ((cpda + 1) * 4):
                    raise ProtocolError('pdo %d not aligned for cpda %d' % (got[0].pdo, cpda))
                n += 1
    for bad in ('bad_hdgst', 'bad_ddgst'):
        r = PduReader()
        r.feed(build_pdu(PDU_C2H_DATA, struct.pack('<HHII4x', 1, 0, 0, 4), b'abcd', hdgst=True,
                         ddgst=True, **{bad: True}))
        try:
            r.pop()
            raise AssertionError('%s not detected' % bad)
        except ProtocolError:
            pass
    r = PduReader()
    r.feed(struct.pack('<BBBBI', PDU_RSP, 0, 24, 0, 12))
    try:
        r.pop()
        raise AssertionError('plen < hlen not detected')
    except ProtocolError:
        pass
    fake = _selftest_fake_target()
    return {'selftest': 'passed', 'round_trips': n, 'fake_target_sessions': fake,
            'python': sys.version.split()[0]}


def main(argv=None):
    p = argparse.ArgumentParser(description='NVMe/TCP test host')
    p.add_argument('-a', '--addr', default='127.0.0.1')
    p.add_argument('-s', '--port', type=int, default=4420)
    p.add_argument('-n', '--nqn', help='subsystem NQN')
    p.add_argument('-q', '--hostnqn')
    p.add_argument('-I', '--hostid', help='host ID (UUID)')
    p.add_argument('-k', '--kato', type=int, default=0, help='keep-alive timeout in ms (0: none)')
    p.add_argument('-g', '--hdgst', action='store_true', help='request header digests')
    p.add_argument('-G', '--ddgst', action='store_true', help='request data digests')
    p.add_argument('--segment', type=int, default=0, help='send PDUs in writes of N bytes')
    p.add_argument('--disable-sqflow', action='store_true')
    p.add_argument('-t', '--timeout', type=float, default=10.0)
    sub = p.add_subparsers(dest='cmd', required=True)
    sub.add_parser('discover', help='read the discovery log page (default NQN: the discovery NQN)')
    sub.add_parser('id-ctrl')
    s = sub.add_parser('id-ns')
    s.add_argument('--nsid', type=int, default=1)
    s = sub.add_parser('get-log')
    s.add_argument('--lid', type=lambda x: int(x, 0), default=LID_SMART)
    s.add_argument('--length', type=int, default=512)
    s = sub.add_parser('get-feature')
    s.add_argument('--fid', type=lambda x: int(x, 0), default=FID_NUM_QUEUES)
    s = sub.add_parser('verify', help='write a pattern, read it back, compare')
    s.add_argument('--nsid', type=int, default=1)
    s.add_argument('--slba', type=int, default=0)
    s.add_argument('--length', type=int, default=65536)
    s = sub.add_parser('idle', help='connect, enable, then stay silent')
    s.add_argument('--seconds', type=float, default=10.0)
    s = sub.add_parser('raw', help='send raw bytes (hex) after ICReq, print the TermReq')
    s.add_argument('--no-icreq', action='store_true')
    s.add_argument('hex')
    sub.add_parser('selftest', help='offline checks of the library (CRC32C, PDU parsing)')
    args = p.parse_args(argv)
    fn = {'discover': cmd_discover, 'id-ctrl': cmd_id_ctrl, 'id-ns': cmd_id_ns, 'get-log': cmd_get_log,
          'get-feature': cmd_get_feature, 'verify': cmd_verify, 'idle': cmd_idle, 'raw': cmd_raw,
          'selftest': cmd_selftest}[args.cmd]
    if args.cmd not in ('discover', 'raw', 'selftest') and not args.nqn:
        p.error('--nqn is required for %s' % args.cmd)
    try:
        print(json.dumps(fn(args), indent=2))
    except NvmeStatusError as e:
        print('nvmf_host: %s' % e, file=sys.stderr)
        return 1
    except TermReqError as e:
        print('nvmf_host: %s' % e, file=sys.stderr)
        return 3
    except (NvmfError, OSError) as e:
        print('nvmf_host: %s: %s' % (type(e).__name__, e), file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
