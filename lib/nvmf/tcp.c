/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe/TCP transport.
 *
 * Receive side: a resumable state machine per connection (common header ->
 * rest of the header and its digest -> padding -> data -> data digest) that
 * reads exactly what the current step needs, so any segmentation of the byte
 * stream, one byte at a time included, parses the same. Data lands directly
 * in the request's buffers (in-capsule buffers or shared DMA buffers).
 *
 * Send side: every PDU is queued with sl_sock_writev_async from iovecs that
 * point at the request's own header space and data buffers, and the socket
 * group flushes them once per poll: no copy, no allocation, no syscall per
 * PDU.
 *
 * Fatal protocol errors send a C2HTermReq naming the offending field and
 * close the connection; a command with bad parameters only fails that
 * command.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/env.h"
#include "sluice/log.h"
#include "sluice/sock.h"

#include "nvmf_internal.h"

#define TCP_DEFAULT_MAX_QUEUE_DEPTH 128
#define TCP_DEFAULT_MAX_QPAIRS_PER_CTRLR 128
#define TCP_DEFAULT_IN_CAPSULE_DATA_SIZE 4096
#define TCP_DEFAULT_MAX_IO_SIZE 131072
#define TCP_DEFAULT_IO_UNIT_SIZE 131072
#define TCP_DEFAULT_MAX_AQ_DEPTH 128
#define TCP_DEFAULT_NUM_SHARED_BUFFERS 511
#define TCP_DEFAULT_BUF_CACHE_SIZE 32
#define TCP_MAXH2CDATA 131072
#define TCP_MAX_PAD 128 /* most padding accepted before PDU data */
#define TCP_SEND_IOVS (NVMF_MAX_IOV + 5)

enum tcp_recv_state {
	RECV_CH,
	RECV_PSH,
	RECV_PAD,
	RECV_DATA,
	RECV_DDGST,
	RECV_QUIESCED, /* fatal error sent or connection closing: read nothing more */
};

enum tcp_req_state {
	REQ_FREE,
	REQ_NEW,	  /* header parsed */
	REQ_NEED_BUFFER,  /* waiting for shared data buffers */
	REQ_AWAIT_H2C,	  /* R2T sent, receiving H2CData */
	REQ_EXECUTING,	  /* in the core */
	REQ_TRANSFERRING, /* response queued on the socket */
};

struct tcp_qpair;

struct tcp_req {
	struct nvmf_request req;
	struct tcp_qpair *tq;
	enum tcp_req_state state;
	uint16_t ttag;
	uint32_t h2c_offset; /* next expected H2CData offset */
	bool has_icd;	     /* data arrived in the capsule */
	int err_sct, err_sc; /* parse found the command invalid: answer with this */
	void *icd;	     /* in-capsule data buffer, icd_size bytes */
	int nbufs;
	void *bufs[NVMF_MAX_IOV];
	TAILQ_ENTRY(tcp_req) link;
	/* PDU headers sent for this request, digests included. */
	alignas(8) uint8_t c2h_hdr[sizeof(struct sl_nvme_tcp_data_hdr) + SL_NVME_TCP_DIGEST_LEN];
	alignas(8) uint8_t rsp_hdr[sizeof(struct sl_nvme_tcp_rsp) + SL_NVME_TCP_DIGEST_LEN];
	alignas(8) uint8_t r2t_hdr[sizeof(struct sl_nvme_tcp_r2t_hdr) + SL_NVME_TCP_DIGEST_LEN];
	uint32_t ddgst;
	alignas(struct sl_sock_request)
		uint8_t r2t_sreq[sizeof(struct sl_sock_request) + sizeof(struct iovec)];
	/* Must stay last: the response request and its iovecs. */
	alignas(struct sl_sock_request)
		uint8_t sreq[sizeof(struct sl_sock_request) + TCP_SEND_IOVS * sizeof(struct iovec)];
};

struct tcp_transport {
	struct nvmf_transport base;
	struct sl_mempool *buf_pool;
	TAILQ_HEAD(, tcp_listener) listeners;
	struct sl_poller *accept_poller;
};

struct tcp_listener {
	struct sl_nvmf_listen_addr addr;
	struct sl_sock *sock;
	uint32_t refs;
	TAILQ_ENTRY(tcp_listener) link;
};

struct tcp_pg {
	struct nvmf_poll_group *group;
	struct tcp_transport *tt;
	struct sl_sock_group *sgroup;
	struct sl_poller *poller;
	TAILQ_HEAD(, tcp_req) need_buffer;
	TAILQ_HEAD(, tcp_qpair) tqpairs;
	uint64_t pending_data_buffer;
	uint64_t accepted;
};

struct tcp_qpair {
	struct nvmf_qpair qpair;
	struct tcp_pg *tpg;
	struct sl_sock *sock;
	struct sl_nvmf_listen_addr local;
	bool ic_done;
	bool hdgst, ddgst;
	uint32_t hpda; /* host's alignment for C2H data, bytes */
	uint32_t maxr2t;
	uint32_t icd_size;
	/* requests: one for Connect until the queue size is known, then the array */
	struct tcp_req *connect_req;
	struct tcp_req **reqs;
	uint32_t num_reqs;
	uint8_t *icd_mem;
	TAILQ_HEAD(, tcp_req) free_reqs;
	/* receive state */
	enum tcp_recv_state state;
	alignas(8) uint8_t hdr[SL_NVME_TCP_MAX_HDR_LEN];
	uint32_t hdr_have, hdr_need;
	uint32_t pad_left;
	struct tcp_req *rreq; /* request whose data is arriving */
	uint64_t data_offset; /* where in its buffers */
	uint32_t data_len, data_have;
	uint8_t ddgst_buf[SL_NVME_TCP_DIGEST_LEN];
	uint32_t ddgst_have;
	/* control PDUs: ICResp and C2HTermReq */
	alignas(8) uint8_t ctrl_pdu[sizeof(struct sl_nvme_tcp_ic_resp) + SL_NVME_TCP_MAX_HDR_LEN];
	alignas(struct sl_sock_request)
		uint8_t ctrl_sreq[sizeof(struct sl_sock_request) + sizeof(struct iovec)];
	bool ctrl_busy;
	TAILQ_ENTRY(tcp_qpair) link;
};

static const uint8_t g_zero_pad[TCP_MAX_PAD];

static struct tcp_qpair *tq_of(struct nvmf_qpair *qpair)
{
	return SL_CONTAINEROF(qpair, struct tcp_qpair, qpair);
}

static struct tcp_req *treq_of(struct nvmf_request *req)
{
	return SL_CONTAINEROF(req, struct tcp_req, req);
}

static struct sl_sock_request *sreq_of(uint8_t *buf)
{
	return (struct sl_sock_request *)buf;
}

static uint32_t pdu_crc(const void *buf, size_t len)
{
	return sl_crc32c(buf, len);
}

/* ---- Options ---- */

static void tcp_opts_init(struct nvmf_transport_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_queue_depth = TCP_DEFAULT_MAX_QUEUE_DEPTH;
	o->max_qpairs_per_ctrlr = TCP_DEFAULT_MAX_QPAIRS_PER_CTRLR;
	o->in_capsule_data_size = TCP_DEFAULT_IN_CAPSULE_DATA_SIZE;
	o->max_io_size = TCP_DEFAULT_MAX_IO_SIZE;
	o->io_unit_size = TCP_DEFAULT_IO_UNIT_SIZE;
	o->max_aq_depth = TCP_DEFAULT_MAX_AQ_DEPTH;
	o->num_shared_buffers = TCP_DEFAULT_NUM_SHARED_BUFFERS;
	o->buf_cache_size = TCP_DEFAULT_BUF_CACHE_SIZE;
	o->c2h_success = true;
	o->hdgst_allowed = true;
	o->ddgst_allowed = true;
	o->abort_timeout_sec = 1;
	o->acceptor_poll_rate_us = 10000;
}

/* ---- Transport ---- */

static int tcp_accept_poll(void *arg);

static struct nvmf_transport *tcp_create(const struct nvmf_transport_opts *opts)
{
	struct tcp_transport *tt = calloc(1, sizeof(*tt));
	char name[32];

	if (!tt)
		return NULL;
	tt->base.ops = &g_nvmf_tcp_ops;
	tt->base.opts = *opts;
	TAILQ_INIT(&tt->listeners);
	snprintf(name, sizeof(name), "nvmf_tcp_buf_%p", (void *)tt);
	tt->buf_pool = sl_mempool_create(name, opts->num_shared_buffers, opts->io_unit_size,
					 opts->buf_cache_size, -1);
	if (!tt->buf_pool) {
		SL_ERRLOG("nvmf: TCP: cannot allocate %u shared buffers of %u bytes",
			  opts->num_shared_buffers, opts->io_unit_size);
		goto out_free;
	}
	/* Listening sockets are polled for new connections, like SPDK's acceptor. */
	tt->accept_poller = sl_poller_register_named(
		tcp_accept_poll, tt, opts->acceptor_poll_rate_us, "nvmf_tcp_accept");
	if (!tt->accept_poller)
		goto out_pool;
	return &tt->base;

out_pool:
	sl_mempool_free(tt->buf_pool);
out_free:
	free(tt);
	return NULL;
}

static void listener_close(struct tcp_transport *tt, struct tcp_listener *l)
{
	TAILQ_REMOVE(&tt->listeners, l, link);
	sl_sock_close(&l->sock);
	free(l);
}

static void tcp_destroy(struct nvmf_transport *t)
{
	struct tcp_transport *tt = SL_CONTAINEROF(t, struct tcp_transport, base);
	struct tcp_listener *l;

	while ((l = TAILQ_FIRST(&tt->listeners)))
		listener_close(tt, l);
	sl_poller_unregister(&tt->accept_poller);
	sl_mempool_free(tt->buf_pool);
	free(tt);
}

static void tcp_conn_ready(void *arg, struct sl_sock_group *group, struct sl_sock *sock);

static int tcp_accept_poll(void *arg)
{
	struct tcp_transport *tt = arg;
	struct tcp_listener *l;
	int n = 0;

	TAILQ_FOREACH(l, &tt->listeners, link) {
		/* Bounded: a flood on one listener must not starve the target thread. */
		for (int i = 0; i < 32; i++) {
			struct sl_sock *conn = sl_sock_accept(l->sock);

			if (!conn)
				break;
			nvmf_tgt_new_connection(&tt->base, conn);
			n++;
		}
	}
	return n ? SL_POLLER_BUSY : SL_POLLER_IDLE;
}

static int tcp_listen(struct nvmf_transport *t, const struct sl_nvmf_listen_addr *addr)
{
	struct tcp_transport *tt = SL_CONTAINEROF(t, struct tcp_transport, base);
	struct tcp_listener *l;
	struct sl_sock_opts so;
	char *end;
	long port;

	TAILQ_FOREACH(l, &tt->listeners, link) {
		if (strcmp(l->addr.traddr, addr->traddr) == 0 &&
		    strcmp(l->addr.trsvcid, addr->trsvcid) == 0) {
			l->refs++;
			return 0;
		}
	}
	port = strtol(addr->trsvcid, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	sl_sock_opts_init(&so);
	so.priority = (int)t->opts.sock_priority;
	l->sock = sl_sock_listen(addr->traddr, (int)port, NULL, &so);
	if (!l->sock) {
		int rc = errno ? -errno : -EIO;

		free(l);
		return rc;
	}
	l->addr = *addr;
	l->refs = 1;
	TAILQ_INSERT_TAIL(&tt->listeners, l, link);
	SL_NOTICELOG("nvmf: TCP target listening on %s port %s", addr->traddr, addr->trsvcid);
	return 0;
}

static void tcp_stop_listen(struct nvmf_transport *t, const struct sl_nvmf_listen_addr *addr)
{
	struct tcp_transport *tt = SL_CONTAINEROF(t, struct tcp_transport, base);
	struct tcp_listener *l, *tmp;

	TAILQ_FOREACH_SAFE(l, &tt->listeners, link, tmp) {
		if (!addr) {
			listener_close(tt, l);
			continue;
		}
		if (strcmp(l->addr.traddr, addr->traddr) == 0 &&
		    strcmp(l->addr.trsvcid, addr->trsvcid) == 0 && --l->refs == 0)
			listener_close(tt, l);
	}
}

/* ---- Poll groups ---- */

static void tcp_req_retry_buffers(struct tcp_pg *tpg);

static int tcp_pg_poll(void *arg)
{
	struct tcp_pg *tpg = arg;
	int n;

	if (!TAILQ_EMPTY(&tpg->need_buffer))
		tcp_req_retry_buffers(tpg);
	n = sl_sock_group_poll(tpg->sgroup);
	return n > 0 ? SL_POLLER_BUSY : SL_POLLER_IDLE;
}

static void *tcp_pg_create(struct nvmf_transport *t, struct nvmf_poll_group *group)
{
	struct tcp_pg *tpg = calloc(1, sizeof(*tpg));

	if (!tpg)
		return NULL;
	tpg->group = group;
	tpg->tt = SL_CONTAINEROF(t, struct tcp_transport, base);
	TAILQ_INIT(&tpg->need_buffer);
	TAILQ_INIT(&tpg->tqpairs);
	tpg->sgroup = sl_sock_group_create(tpg);
	if (!tpg->sgroup)
		goto out_free;
	tpg->poller = sl_poller_register_named(tcp_pg_poll, tpg, 0, "nvmf_tcp_poll_group");
	if (!tpg->poller)
		goto out_group;
	if (sl_sock_group_get_wake_fd(tpg->sgroup) >= 0)
		sl_poller_set_wake_fd(tpg->poller, sl_sock_group_get_wake_fd(tpg->sgroup));
	return tpg;

out_group:
	sl_sock_group_close(&tpg->sgroup);
out_free:
	free(tpg);
	return NULL;
}

static void tcp_pg_destroy(void *arg)
{
	struct tcp_pg *tpg = arg;

	sl_poller_unregister(&tpg->poller);
	if (sl_sock_group_close(&tpg->sgroup))
		SL_ERRLOG("nvmf: TCP poll group closed with sockets still in it");
	free(tpg);
}

/* ---- Requests ---- */

static struct tcp_req *req_alloc_one(struct tcp_qpair *tq, uint16_t ttag, void *icd)
{
	struct tcp_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->tq = tq;
	r->req.qpair = &tq->qpair;
	r->ttag = ttag;
	r->icd = icd;
	return r;
}

static void req_release_buffers(struct tcp_req *r)
{
	for (int i = 0; i < r->nbufs; i++)
		sl_mempool_put(r->tq->tpg->tt->buf_pool, r->bufs[i]);
	r->nbufs = 0;
}

static void req_put(struct tcp_req *r)
{
	req_release_buffers(r);
	if (r->state == REQ_NEED_BUFFER)
		TAILQ_REMOVE(&r->tq->tpg->need_buffer, r, link);
	r->state = REQ_FREE;
	/* Once the queue has its own requests, the Connect request retires. */
	if (r != r->tq->connect_req || !r->tq->reqs)
		TAILQ_INSERT_TAIL(&r->tq->free_reqs, r, link);
}

static struct tcp_req *req_get(struct tcp_qpair *tq)
{
	struct tcp_req *r = TAILQ_FIRST(&tq->free_reqs);

	if (!r)
		return NULL;
	TAILQ_REMOVE(&tq->free_reqs, r, link);
	r->state = REQ_NEW;
	r->has_icd = false;
	r->err_sct = r->err_sc = 0;
	r->h2c_offset = 0;
	r->req.iovcnt = 0;
	r->req.length = 0;
	r->req.xfer = NVMF_XFER_NONE;
	return r;
}

/* After a successful Connect: the queue's real request array, sized by SQSIZE. */
static int tq_alloc_reqs(struct tcp_qpair *tq)
{
	struct nvmf_transport_opts *o = &tq->tpg->tt->base.opts;
	uint32_t n = (uint32_t)tq->qpair.sqsize + 1;
	uint32_t icd = tq->qpair.qid == 0 ? NVMF_ADMIN_ICD_SIZE : o->in_capsule_data_size;

	tq->reqs = calloc(n, sizeof(*tq->reqs));
	if (!tq->reqs)
		return -ENOMEM;
	if (icd) {
		tq->icd_mem = sl_dma_zmalloc((size_t)n * icd, 4096, NULL);
		if (!tq->icd_mem)
			return -ENOMEM;
	}
	tq->icd_size = icd;
	for (uint32_t i = 0; i < n; i++) {
		tq->reqs[i] = req_alloc_one(tq, (uint16_t)(i + 1),
					    icd ? tq->icd_mem + (size_t)i * icd : NULL);
		if (!tq->reqs[i])
			return -ENOMEM;
		tq->num_reqs++;
		TAILQ_INSERT_TAIL(&tq->free_reqs, tq->reqs[i], link);
	}
	return 0;
}

static struct tcp_req *req_by_ttag(struct tcp_qpair *tq, uint16_t ttag)
{
	if (ttag == 0)
		return tq->connect_req;
	if (ttag > tq->num_reqs)
		return NULL;
	return tq->reqs[ttag - 1];
}

/* ---- Sending ---- */

static void tq_fatal(struct tcp_qpair *tq, enum sl_nvme_tcp_fes fes, uint32_t fei);

static void ctrl_sent(void *arg, int status)
{
	struct tcp_qpair *tq = arg;

	tq->ctrl_busy = false;
	/* After a TermReq left, the connection is over. */
	if (tq->state == RECV_QUIESCED && status == 0)
		nvmf_qpair_disconnect(&tq->qpair);
}

static void ctrl_send(struct tcp_qpair *tq, uint32_t len)
{
	struct sl_sock_request *sr = sreq_of(tq->ctrl_sreq);

	sr->cb_fn = ctrl_sent;
	sr->cb_arg = tq;
	sr->iovcnt = 1;
	sr->iov[0].iov_base = tq->ctrl_pdu;
	sr->iov[0].iov_len = len;
	tq->ctrl_busy = true;
	sl_sock_writev_async(tq->sock, sr);
}

static void tq_fatal(struct tcp_qpair *tq, enum sl_nvme_tcp_fes fes, uint32_t fei)
{
	struct sl_nvme_tcp_term_req_hdr *t = (struct sl_nvme_tcp_term_req_hdr *)tq->ctrl_pdu;
	uint32_t echo = SL_MIN(tq->hdr_have, (uint32_t)SL_NVME_TCP_TERM_REQ_MAX_DATA);

	if (tq->state == RECV_QUIESCED)
		return;
	SL_NOTICELOG("nvmf: TCP %s: fatal error 0x%x at byte %u of a PDU header, terminating",
		     tq->qpair.trid_peer, fes, fei);
	tq->state = RECV_QUIESCED;
	if (tq->ctrl_busy) {
		nvmf_qpair_disconnect(&tq->qpair);
		return;
	}
	/* The offending header follows the TermReq header. */
	memmove(tq->ctrl_pdu + sizeof(*t), tq->hdr, echo);
	memset(t, 0, sizeof(*t));
	t->common.pdu_type = SL_NVME_TCP_PDU_C2H_TERM_REQ;
	t->common.hlen = sizeof(*t);
	t->common.plen = (uint32_t)sizeof(*t) + echo;
	t->fes = (uint16_t)fes;
	t->fei = fei;
	ctrl_send(tq, t->common.plen);
}

static void rsp_sent(void *arg, int status)
{
	struct tcp_req *r = arg;

	(void)status;
	req_put(r);
}

static void r2t_sent(void *arg, int status)
{
	(void)arg;
	(void)status;
}

/* Append the header digest if negotiated; returns the header's length on the wire. */
static uint32_t hdr_finish(struct tcp_qpair *tq, uint8_t *hdr, uint32_t hlen)
{
	struct sl_nvme_tcp_common_hdr *ch = (struct sl_nvme_tcp_common_hdr *)hdr;

	if (!tq->hdgst)
		return hlen;
	ch->flags |= SL_NVME_TCP_FLAG_HDGST;
	uint32_t crc = pdu_crc(hdr, hlen);
	memcpy(hdr + hlen, &crc, sizeof(crc));
	return hlen + SL_NVME_TCP_DIGEST_LEN;
}

static void tcp_req_complete(struct nvmf_request *req)
{
	struct tcp_req *r = treq_of(req);
	struct tcp_qpair *tq = r->tq;
	struct sl_sock_request *sr = sreq_of(r->sreq);
	bool success = req->rsp.status_raw == 0;
	bool send_rsp = true;
	int n = 0;

	if (tq->qpair.state == NVMF_QPAIR_DISCONNECTING || !tq->sock) {
		req_put(r);
		return;
	}
	if (r == tq->connect_req && success && !tq->reqs) {
		if (tq_alloc_reqs(tq)) {
			SL_ERRLOG("nvmf: TCP %s: no memory for %u requests", tq->qpair.trid_peer,
				  tq->qpair.sqsize + 1u);
			req_put(r);
			nvmf_qpair_disconnect(&tq->qpair);
			return;
		}
	}
	if (success && req->xfer == NVMF_XFER_CTRLR_TO_HOST && req->length) {
		struct sl_nvme_tcp_data_hdr *h = (struct sl_nvme_tcp_data_hdr *)r->c2h_hdr;
		uint32_t hl, pdo, pad;

		memset(h, 0, sizeof(*h));
		h->common.pdu_type = SL_NVME_TCP_PDU_C2H_DATA;
		h->common.hlen = sizeof(*h);
		h->common.flags = SL_NVME_TCP_FLAG_LAST_PDU;
		if (tq->qpair.sq_flow_control_disabled && tq->tpg->tt->base.opts.c2h_success) {
			h->common.flags |= SL_NVME_TCP_FLAG_SUCCESS;
			send_rsp = false;
		}
		if (tq->ddgst)
			h->common.flags |= SL_NVME_TCP_FLAG_DDGST;
		hl = sizeof(*h) + (tq->hdgst ? SL_NVME_TCP_DIGEST_LEN : 0);
		pdo = SL_ALIGN_UP(hl, tq->hpda);
		pad = pdo - hl;
		h->common.pdo = (uint8_t)pdo;
		h->common.plen = pdo + req->length + (tq->ddgst ? SL_NVME_TCP_DIGEST_LEN : 0);
		h->cccid = req->cmd.cid;
		h->datao = 0;
		h->datal = req->length;
		sr->iov[n].iov_base = r->c2h_hdr;
		sr->iov[n++].iov_len = hdr_finish(tq, r->c2h_hdr, sizeof(*h));
		if (pad) {
			sr->iov[n].iov_base = (void *)g_zero_pad;
			sr->iov[n++].iov_len = pad;
		}
		for (int i = 0; i < req->iovcnt; i++)
			sr->iov[n++] = req->iov[i];
		if (tq->ddgst) {
			r->ddgst = sl_crc32c_finish(
				sl_crc32c_iov_update(req->iov, req->iovcnt, SL_CRC32C_INITIAL));
			sr->iov[n].iov_base = &r->ddgst;
			sr->iov[n++].iov_len = sizeof(r->ddgst);
		}
	}
	if (send_rsp) {
		struct sl_nvme_tcp_rsp *p = (struct sl_nvme_tcp_rsp *)r->rsp_hdr;

		memset(p, 0, sizeof(*p));
		p->common.pdu_type = SL_NVME_TCP_PDU_CAPSULE_RESP;
		p->common.hlen = sizeof(*p);
		p->rccqe = req->rsp;
		p->common.plen = sizeof(*p) + (tq->hdgst ? SL_NVME_TCP_DIGEST_LEN : 0);
		sr->iov[n].iov_base = r->rsp_hdr;
		sr->iov[n++].iov_len = hdr_finish(tq, r->rsp_hdr, sizeof(*p));
	}
	r->state = REQ_TRANSFERRING;
	sr->cb_fn = rsp_sent;
	sr->cb_arg = r;
	sr->iovcnt = n;
	sl_sock_writev_async(tq->sock, sr);
}

static void req_send_r2t(struct tcp_req *r)
{
	struct tcp_qpair *tq = r->tq;
	struct sl_nvme_tcp_r2t_hdr *h = (struct sl_nvme_tcp_r2t_hdr *)r->r2t_hdr;
	struct sl_sock_request *sr = sreq_of(r->r2t_sreq);

	memset(h, 0, sizeof(*h));
	h->common.pdu_type = SL_NVME_TCP_PDU_R2T;
	h->common.hlen = sizeof(*h);
	h->common.plen = sizeof(*h) + (tq->hdgst ? SL_NVME_TCP_DIGEST_LEN : 0);
	h->cccid = r->req.cmd.cid;
	h->ttag = r->ttag;
	h->r2to = 0;
	h->r2tl = r->req.length; /* the host cuts it into H2CData PDUs of MAXH2CDATA */
	sr->cb_fn = r2t_sent;
	sr->cb_arg = r;
	sr->iovcnt = 1;
	sr->iov[0].iov_base = r->r2t_hdr;
	sr->iov[0].iov_len = hdr_finish(tq, r->r2t_hdr, sizeof(*h));
	r->state = REQ_AWAIT_H2C;
	sl_sock_writev_async(tq->sock, sr);
}

/* ---- Executing ---- */

static void req_exec(struct tcp_req *r)
{
	r->state = REQ_EXECUTING;
	if (r->err_sc || r->err_sct) {
		/* Parsing decided the answer already; the core still counts it. */
		r->req.qpair->outstanding++;
		nvmf_request_set_status(&r->req, r->err_sct, r->err_sc);
		nvmf_request_complete(&r->req);
		return;
	}
	nvmf_request_exec(&r->req);
}

static int req_get_buffers(struct tcp_req *r)
{
	struct tcp_transport *tt = r->tq->tpg->tt;
	uint32_t unit = tt->base.opts.io_unit_size, left = r->req.length;
	int n = (int)((left + unit - 1) / unit);

	if (n > NVMF_MAX_IOV)
		return -EINVAL;
	if (sl_mempool_get_bulk(tt->buf_pool, r->bufs, (size_t)n))
		return -ENOMEM;
	r->nbufs = n;
	for (int i = 0; i < n; i++) {
		r->req.iov[i].iov_base = r->bufs[i];
		r->req.iov[i].iov_len = SL_MIN(unit, left);
		left -= (uint32_t)r->req.iov[i].iov_len;
	}
	r->req.iovcnt = n;
	return 0;
}

/* The command's data is ready to move: R2T for writes, execute otherwise. */
static void req_start(struct tcp_req *r)
{
	if (r->req.length && !r->has_icd && !r->err_sc && !r->err_sct) {
		int rc = req_get_buffers(r);

		if (rc == -ENOMEM) {
			r->state = REQ_NEED_BUFFER;
			TAILQ_INSERT_TAIL(&r->tq->tpg->need_buffer, r, link);
			r->tq->tpg->pending_data_buffer++;
			return;
		}
		if (rc) {
			r->err_sct = SL_NVME_SCT_GENERIC;
			r->err_sc = SL_NVME_SC_DATA_SGL_LENGTH_INVALID;
		} else if (r->req.xfer == NVMF_XFER_HOST_TO_CTRLR) {
			req_send_r2t(r);
			return;
		}
	}
	req_exec(r);
}

static void tcp_req_retry_buffers(struct tcp_pg *tpg)
{
	struct tcp_req *r;

	while ((r = TAILQ_FIRST(&tpg->need_buffer))) {
		if (req_get_buffers(r))
			return;
		TAILQ_REMOVE(&tpg->need_buffer, r, link);
		if (r->req.xfer == NVMF_XFER_HOST_TO_CTRLR)
			req_send_r2t(r);
		else
			req_exec(r);
	}
}

/* ---- Receiving ---- */

static void recv_reset(struct tcp_qpair *tq)
{
	tq->state = RECV_CH;
	tq->hdr_have = 0;
	tq->hdr_need = sizeof(struct sl_nvme_tcp_common_hdr);
	tq->rreq = NULL;
	tq->ddgst_have = 0;
}

static void send_ic_resp(struct tcp_qpair *tq)
{
	struct sl_nvme_tcp_ic_resp *p = (struct sl_nvme_tcp_ic_resp *)tq->ctrl_pdu;

	memset(p, 0, sizeof(*p));
	p->common.pdu_type = SL_NVME_TCP_PDU_IC_RESP;
	p->common.hlen = sizeof(*p);
	p->common.plen = sizeof(*p);
	p->pfv = 0;
	p->cpda = 0;
	p->dgst = (uint8_t)((tq->hdgst ? SL_NVME_TCP_DGST_HEADER : 0) |
			    (tq->ddgst ? SL_NVME_TCP_DGST_DATA : 0));
	p->maxh2cdata = TCP_MAXH2CDATA;
	ctrl_send(tq, sizeof(*p));
}

static void handle_ic_req(struct tcp_qpair *tq)
{
	struct sl_nvme_tcp_ic_req *ic = (struct sl_nvme_tcp_ic_req *)tq->hdr;
	struct nvmf_transport_opts *o = &tq->tpg->tt->base.opts;

	if (ic->pfv != 0) {
		tq_fatal(tq, SL_NVME_TCP_FES_UNSUPPORTED_PARAMETER,
			 offsetof(struct sl_nvme_tcp_ic_req, pfv));
		return;
	}
	if (ic->hpda > SL_NVME_TCP_HPDA_MAX) {
		tq_fatal(tq, SL_NVME_TCP_FES_INVALID_HEADER_FIELD,
			 offsetof(struct sl_nvme_tcp_ic_req, hpda));
		return;
	}
	tq->hpda = ((uint32_t)ic->hpda + 1) * 4;
	tq->hdgst = (ic->dgst & SL_NVME_TCP_DGST_HEADER) && o->hdgst_allowed;
	tq->ddgst = (ic->dgst & SL_NVME_TCP_DGST_DATA) && o->ddgst_allowed;
	tq->maxr2t = ic->maxr2t + 1;
	tq->ic_done = true;
	send_ic_resp(tq);
	recv_reset(tq);
}

/* Set up the request from its SQE; the data (if any) follows in the PDU or by R2T. */
static int capsule_parse(struct tcp_qpair *tq, struct tcp_req *r, uint32_t icd_len)
{
	struct nvmf_request *req = &r->req;
	struct sl_nvme_sgl_descriptor *sgl = (struct sl_nvme_sgl_descriptor *)req->cmd.dptr.sgl1;
	struct nvmf_transport_opts *o = &tq->tpg->tt->base.opts;
	enum sl_nvme_data_transfer dir;
	uint32_t icd_cap = tq->reqs ? tq->icd_size : NVMF_ADMIN_ICD_SIZE;

	if (req->cmd.opc == SL_NVME_OPC_FABRICS)
		dir = sl_nvme_opc_data_transfer(((struct sl_nvmf_capsule_cmd *)&req->cmd)->fctype);
	else
		dir = sl_nvme_opc_data_transfer(req->cmd.opc);
	req->xfer = dir == SL_NVME_DATA_HOST_TO_CONTROLLER   ? NVMF_XFER_HOST_TO_CTRLR
		    : dir == SL_NVME_DATA_CONTROLLER_TO_HOST ? NVMF_XFER_CTRLR_TO_HOST
							     : NVMF_XFER_NONE;
	if (icd_len > icd_cap)
		return -E2BIG; /* fatal: more in-capsule data than this queue takes */
	if (icd_len) {
		/* The data lands in the request's in-capsule buffer whatever the SGL says. */
		req->iov[0].iov_base = r->icd;
		req->iov[0].iov_len = icd_len;
		req->iovcnt = 1;
		req->length = icd_len;
		r->has_icd = true;
	}
	/* Fabrics use SGLs; PSDT 11b is reserved. */
	if (req->cmd.psdt == 3) {
		r->err_sct = SL_NVME_SCT_GENERIC;
		r->err_sc = SL_NVME_SC_INVALID_FIELD;
		return 0;
	}
	if (req->xfer == NVMF_XFER_NONE) {
		if (icd_len) {
			r->err_sct = SL_NVME_SCT_GENERIC;
			r->err_sc = SL_NVME_SC_INVALID_FIELD;
		}
		return 0;
	}
	if (sgl->type == SL_NVME_SGL_TYPE_DATA_BLOCK &&
	    sgl->subtype == SL_NVME_SGL_SUBTYPE_OFFSET) {
		/* In-capsule data: a write whose bytes sit right after the SQE. */
		if (req->xfer != NVMF_XFER_HOST_TO_CTRLR) {
			r->err_sct = SL_NVME_SCT_GENERIC;
			r->err_sc = SL_NVME_SC_INVALID_FIELD;
		} else if (sgl->address != 0 || sgl->length > icd_cap) {
			r->err_sct = SL_NVME_SCT_GENERIC;
			r->err_sc = SL_NVME_SC_INVALID_SGL_OFFSET;
		} else if (sgl->length != icd_len) {
			r->err_sct = SL_NVME_SCT_GENERIC;
			r->err_sc = SL_NVME_SC_DATA_SGL_LENGTH_INVALID;
		}
		return 0;
	}
	if (sgl->type == SL_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK &&
	    sgl->subtype == SL_NVME_SGL_SUBTYPE_TRANSPORT) {
		if (icd_len) {
			r->err_sct = SL_NVME_SCT_GENERIC;
			r->err_sc = SL_NVME_SC_INVALID_FIELD;
		} else if (sgl->length > o->max_io_size) {
			r->err_sct = SL_NVME_SCT_GENERIC;
			r->err_sc = SL_NVME_SC_DATA_SGL_LENGTH_INVALID;
		} else {
			req->length = sgl->length;
		}
		return 0;
	}
	r->err_sct = SL_NVME_SCT_GENERIC;
	r->err_sc = SL_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID;
	return 0;
}

/* Point the data phase at bytes [offset, offset + len) of the request's buffers. */
static void recv_data_begin(struct tcp_qpair *tq, struct tcp_req *r, uint64_t offset, uint32_t len,
			    uint32_t pad)
{
	tq->rreq = r;
	tq->data_offset = offset;
	tq->data_len = len;
	tq->data_have = 0;
	tq->ddgst_have = 0;
	tq->pad_left = pad;
	tq->state = pad ? RECV_PAD : RECV_DATA;
}

static void handle_capsule(struct tcp_qpair *tq)
{
	struct sl_nvme_tcp_cmd *c = (struct sl_nvme_tcp_cmd *)tq->hdr;
	uint32_t hl = c->common.hlen + (tq->hdgst ? SL_NVME_TCP_DIGEST_LEN : 0);
	uint32_t dg = (c->common.flags & SL_NVME_TCP_FLAG_DDGST) ? SL_NVME_TCP_DIGEST_LEN : 0;
	uint32_t icd_len = 0, pad = 0;
	struct tcp_req *r;

	if (c->common.plen > hl) {
		pad = c->common.pdo - hl;
		icd_len = c->common.plen - c->common.pdo - dg;
	}
	r = tq->reqs ? TAILQ_FIRST(&tq->free_reqs) : tq->connect_req;
	if (!r || (!tq->reqs && r->state != REQ_FREE)) {
		/* More commands than the queue holds: the host broke flow control. */
		tq_fatal(tq, SL_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
		return;
	}
	if (tq->reqs) {
		r = req_get(tq);
	} else {
		TAILQ_REMOVE(&tq->free_reqs, r, link);
		r->state = REQ_NEW;
		r->has_icd = false;
		r->err_sct = r->err_sc = 0;
		r->req.iovcnt = 0;
		r->req.length = 0;
	}
	r->req.cmd = c->ccsqe;
	if (capsule_parse(tq, r, icd_len) == -E2BIG) {
		req_put(r);
		tq_fatal(tq, SL_NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED,
			 offsetof(struct sl_nvme_tcp_common_hdr, plen));
		return;
	}
	if (icd_len) {
		recv_data_begin(tq, r, 0, icd_len, pad);
		return;
	}
	recv_reset(tq);
	req_start(r);
}

static void handle_h2c_data(struct tcp_qpair *tq)
{
	struct sl_nvme_tcp_data_hdr *h = (struct sl_nvme_tcp_data_hdr *)tq->hdr;
	uint32_t hl = h->common.hlen + (tq->hdgst ? SL_NVME_TCP_DIGEST_LEN : 0);
	uint32_t dg = (h->common.flags & SL_NVME_TCP_FLAG_DDGST) ? SL_NVME_TCP_DIGEST_LEN : 0;
	struct tcp_req *r = req_by_ttag(tq, h->ttag);
	uint32_t pdu_data;

	if (!r || r->state != REQ_AWAIT_H2C) {
		tq_fatal(tq, SL_NVME_TCP_FES_INVALID_HEADER_FIELD,
			 offsetof(struct sl_nvme_tcp_data_hdr, ttag));
		return;
	}
	if (r->req.cmd.cid != h->cccid) {
		tq_fatal(tq, SL_NVME_TCP_FES_INVALID_HEADER_FIELD,
			 offsetof(struct sl_nvme_tcp_data_hdr, cccid));
		return;
	}
	pdu_data = h->common.plen > hl ? h->common.plen - h->common.pdo - dg : 0;
	if (h->datao != r->h2c_offset) {
		tq_fatal(tq, SL_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE,
			 offsetof(struct sl_nvme_tcp_data_hdr, datao));
		return;
	}
	if (h->datal == 0 || h->datal > TCP_MAXH2CDATA ||
	    (uint64_t)h->datao + h->datal > r->req.length) {
		tq_fatal(tq, SL_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE,
			 offsetof(struct sl_nvme_tcp_data_hdr, datal));
		return;
	}
	if (pdu_data != h->datal) {
		tq_fatal(tq, SL_NVME_TCP_FES_INVALID_HEADER_FIELD,
			 offsetof(struct sl_nvme_tcp_common_hdr, plen));
		return;
	}
	recv_data_begin(tq, r, h->datao, h->datal, h->common.pdo - hl);
}

/* Checks of the common header that do not need the rest of the PDU. */
static bool common_hdr_check(struct tcp_qpair *tq)
{
	struct sl_nvme_tcp_common_hdr *ch = (struct sl_nvme_tcp_common_hdr *)tq->hdr;
	uint32_t expect_hlen, max_data = 0;
	bool hd_allowed = tq->hdgst, dd_possible = false;
	uint32_t hl;

	switch (ch->pdu_type) {
	case SL_NVME_TCP_PDU_IC_REQ:
		if (tq->ic_done) {
			tq_fatal(tq, SL_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
			return false;
		}
		expect_hlen = sizeof(struct sl_nvme_tcp_ic_req);
		hd_allowed = false;
		break;
	case SL_NVME_TCP_PDU_H2C_TERM_REQ:
		expect_hlen = sizeof(struct sl_nvme_tcp_term_req_hdr);
		hd_allowed = false;
		max_data = SL_NVME_TCP_TERM_REQ_MAX_DATA;
		break;
	case SL_NVME_TCP_PDU_CAPSULE_CMD:
		expect_hlen = sizeof(struct sl_nvme_tcp_cmd);
		max_data = tq->reqs ? tq->icd_size : NVMF_ADMIN_ICD_SIZE;
		dd_possible = true;
		break;
	case SL_NVME_TCP_PDU_H2C_DATA:
		expect_hlen = sizeof(struct sl_nvme_tcp_data_hdr);
		max_data = TCP_MAXH2CDATA;
		dd_possible = true;
		break;
	default:
		tq_fatal(tq, SL_NVME_TCP_FES_INVALID_HEADER_FIELD,
			 offsetof(struct sl_nvme_tcp_common_hdr, pdu_type));
		return false;
	}
	if (!tq->ic_done && ch->pdu_type != SL_NVME_TCP_PDU_IC_REQ &&
	    ch->pdu_type != SL_NVME_TCP_PDU_H2C_TERM_REQ) {
		tq_fatal(tq, SL_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
		return false;
	}
	if (ch->hlen != expect_hlen) {
		tq_fatal(tq, SL_NVME_TCP_FES_INVALID_HEADER_FIELD,
			 offsetof(struct sl_nvme_tcp_common_hdr, hlen));
		return false;
	}
	/* Digest flags must match what ICReq/ICResp negotiated. */
	if (!!(ch->flags & SL_NVME_TCP_FLAG_HDGST) != hd_allowed) {
		tq_fatal(tq, SL_NVME_TCP_FES_INVALID_HEADER_FIELD,
			 offsetof(struct sl_nvme_tcp_common_hdr, flags));
		return false;
	}
	hl = ch->hlen + (hd_allowed ? SL_NVME_TCP_DIGEST_LEN : 0);
	if (ch->plen < hl) {
		tq_fatal(tq, SL_NVME_TCP_FES_INVALID_HEADER_FIELD,
			 offsetof(struct sl_nvme_tcp_common_hdr, plen));
		return false;
	}
	if (ch->pdu_type == SL_NVME_TCP_PDU_IC_REQ) {
		if (ch->plen != hl || ch->pdo != 0) {
			tq_fatal(tq, SL_NVME_TCP_FES_INVALID_HEADER_FIELD,
				 ch->plen != hl ? offsetof(struct sl_nvme_tcp_common_hdr, plen)
						: offsetof(struct sl_nvme_tcp_common_hdr, pdo));
			return false;
		}
		return true;
	}
	if (ch->pdu_type == SL_NVME_TCP_PDU_H2C_TERM_REQ) {
		if (ch->plen > hl + max_data) {
			tq_fatal(tq, SL_NVME_TCP_FES_INVALID_HEADER_FIELD,
				 offsetof(struct sl_nvme_tcp_common_hdr, plen));
			return false;
		}
		return true;
	}
	if ((ch->flags & SL_NVME_TCP_FLAG_DDGST) &&
	    (!dd_possible || !tq->ddgst || ch->plen == hl)) {
		tq_fatal(tq, SL_NVME_TCP_FES_INVALID_HEADER_FIELD,
			 offsetof(struct sl_nvme_tcp_common_hdr, flags));
		return false;
	}
	if (ch->plen > hl) {
		uint32_t dg = (ch->flags & SL_NVME_TCP_FLAG_DDGST) ? SL_NVME_TCP_DIGEST_LEN : 0;

		if (tq->ddgst && !dg) {
			tq_fatal(tq, SL_NVME_TCP_FES_INVALID_HEADER_FIELD,
				 offsetof(struct sl_nvme_tcp_common_hdr, flags));
			return false;
		}
		/* PDO: after the header, within the PDU, 4-byte aligned (CPDA 0), little padding.
		 */
		if (ch->pdo < hl || ch->pdo - hl > TCP_MAX_PAD || (ch->pdo & 3) ||
		    (uint64_t)ch->pdo + dg >= ch->plen) {
			tq_fatal(tq, SL_NVME_TCP_FES_INVALID_HEADER_FIELD,
				 offsetof(struct sl_nvme_tcp_common_hdr, pdo));
			return false;
		}
		if ((uint64_t)ch->plen - ch->pdo - dg > max_data) {
			tq_fatal(tq, SL_NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED,
				 offsetof(struct sl_nvme_tcp_common_hdr, plen));
			return false;
		}
	} else if (ch->pdo != 0 && ch->pdo != hl) {
		tq_fatal(tq, SL_NVME_TCP_FES_INVALID_HEADER_FIELD,
			 offsetof(struct sl_nvme_tcp_common_hdr, pdo));
		return false;
	}
	return true;
}

static void handle_header(struct tcp_qpair *tq)
{
	struct sl_nvme_tcp_common_hdr *ch = (struct sl_nvme_tcp_common_hdr *)tq->hdr;

	if (ch->flags & SL_NVME_TCP_FLAG_HDGST) {
		uint32_t crc = pdu_crc(tq->hdr, ch->hlen), got;

		memcpy(&got, tq->hdr + ch->hlen, sizeof(got));
		if (crc != got) {
			tq_fatal(tq, SL_NVME_TCP_FES_HDGST_ERROR, 0);
			return;
		}
	}
	switch (ch->pdu_type) {
	case SL_NVME_TCP_PDU_IC_REQ:
		handle_ic_req(tq);
		return;
	case SL_NVME_TCP_PDU_H2C_TERM_REQ: {
		struct sl_nvme_tcp_term_req_hdr *t = (struct sl_nvme_tcp_term_req_hdr *)tq->hdr;

		SL_NOTICELOG("nvmf: TCP %s: host terminated the connection (fes 0x%x, fei %u)",
			     tq->qpair.trid_peer, t->fes, t->fei);
		tq->state = RECV_QUIESCED;
		nvmf_qpair_disconnect(&tq->qpair);
		return;
	}
	case SL_NVME_TCP_PDU_CAPSULE_CMD:
		handle_capsule(tq);
		return;
	case SL_NVME_TCP_PDU_H2C_DATA:
		handle_h2c_data(tq);
		return;
	default:
		tq_fatal(tq, SL_NVME_TCP_FES_INVALID_HEADER_FIELD, 0);
		return;
	}
}

/* The data phase of a PDU finished (digest checked when present). */
static void data_done(struct tcp_qpair *tq, bool digest_ok)
{
	struct tcp_req *r = tq->rreq;
	struct sl_nvme_tcp_common_hdr *ch = (struct sl_nvme_tcp_common_hdr *)tq->hdr;

	recv_reset(tq);
	if (!digest_ok && !r->err_sc && !r->err_sct) {
		/* Not fatal: the command fails with a transient error and may be retried. */
		SL_NOTICELOG("nvmf: TCP %s: data digest error on command %u", tq->qpair.trid_peer,
			     r->req.cmd.cid);
		r->err_sct = SL_NVME_SCT_GENERIC;
		r->err_sc = SL_NVME_SC_TRANSIENT_TRANSPORT_ERROR;
	}
	if (ch->pdu_type == SL_NVME_TCP_PDU_CAPSULE_CMD) {
		req_start(r);
		return;
	}
	/* H2CData */
	r->h2c_offset += ((struct sl_nvme_tcp_data_hdr *)tq->hdr)->datal;
	if (r->h2c_offset == r->req.length)
		req_exec(r);
}

/* Build the iovecs for bytes [off, off + len) of the request's buffers. */
static int sub_iov(struct nvmf_request *req, uint64_t off, uint32_t len, struct iovec *out)
{
	int n = 0;

	for (int i = 0; i < req->iovcnt && len; i++) {
		size_t l = req->iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		out[n].iov_base = (uint8_t *)req->iov[i].iov_base + off;
		out[n].iov_len = SL_MIN((size_t)len, l - off);
		len -= (uint32_t)out[n].iov_len;
		off = 0;
		n++;
	}
	return n;
}

/* Returns false when the socket has nothing more now (or the connection ended). */
static bool recv_step(struct tcp_qpair *tq)
{
	ssize_t n = -1;

	switch (tq->state) {
	case RECV_CH:
	case RECV_PSH:
		n = sl_sock_recv(tq->sock, tq->hdr + tq->hdr_have, tq->hdr_need - tq->hdr_have);
		if (n <= 0)
			break;
		tq->hdr_have += (uint32_t)n;
		if (tq->hdr_have < tq->hdr_need)
			return true;
		if (tq->state == RECV_CH) {
			struct sl_nvme_tcp_common_hdr *ch =
				(struct sl_nvme_tcp_common_hdr *)tq->hdr;

			if (!common_hdr_check(tq))
				return false;
			tq->hdr_need =
				ch->hlen +
				((ch->flags & SL_NVME_TCP_FLAG_HDGST) ? SL_NVME_TCP_DIGEST_LEN : 0);
			tq->state = RECV_PSH;
			if (tq->hdr_have < tq->hdr_need)
				return true;
		}
		handle_header(tq);
		return tq->state != RECV_QUIESCED;
	case RECV_PAD: {
		uint8_t scratch[TCP_MAX_PAD];

		n = sl_sock_recv(tq->sock, scratch, tq->pad_left);
		if (n <= 0)
			break;
		tq->pad_left -= (uint32_t)n;
		if (!tq->pad_left)
			tq->state = RECV_DATA;
		return true;
	}
	case RECV_DATA: {
		struct iovec iov[NVMF_MAX_IOV];
		int cnt = sub_iov(&tq->rreq->req, tq->data_offset + tq->data_have,
				  tq->data_len - tq->data_have, iov);

		n = sl_sock_readv(tq->sock, iov, cnt);
		if (n <= 0)
			break;
		tq->data_have += (uint32_t)n;
		if (tq->data_have < tq->data_len)
			return true;
		if (((struct sl_nvme_tcp_common_hdr *)tq->hdr)->flags & SL_NVME_TCP_FLAG_DDGST) {
			tq->state = RECV_DDGST;
			return true;
		}
		data_done(tq, true);
		return true;
	}
	case RECV_DDGST: {
		struct iovec iov[NVMF_MAX_IOV];
		uint32_t crc;
		int cnt;

		n = sl_sock_recv(tq->sock, tq->ddgst_buf + tq->ddgst_have,
				 SL_NVME_TCP_DIGEST_LEN - tq->ddgst_have);
		if (n <= 0)
			break;
		tq->ddgst_have += (uint32_t)n;
		if (tq->ddgst_have < SL_NVME_TCP_DIGEST_LEN)
			return true;
		cnt = sub_iov(&tq->rreq->req, tq->data_offset, tq->data_len, iov);
		crc = sl_crc32c_finish(sl_crc32c_iov_update(iov, cnt, SL_CRC32C_INITIAL));
		data_done(tq, memcmp(&crc, tq->ddgst_buf, sizeof(crc)) == 0);
		return true;
	}
	case RECV_QUIESCED:
		return false;
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
		/* The host closed the connection or it failed: mid-PDU or not, it is over. */
		tq->state = RECV_QUIESCED;
		nvmf_qpair_disconnect(&tq->qpair);
	}
	return false;
}

static void tcp_conn_ready(void *arg, struct sl_sock_group *group, struct sl_sock *sock)
{
	struct tcp_qpair *tq = arg;

	(void)group;
	(void)sock;
	/* Bounded work per poll so one busy connection cannot starve the others. */
	for (int i = 0; i < 64 && tq->state != RECV_QUIESCED; i++) {
		if (tq->state == RECV_CH && tq->hdr_have == 0 && tq->reqs &&
		    TAILQ_EMPTY(&tq->free_reqs))
			return; /* every request busy: let the socket buffer hold the rest */
		if (!recv_step(tq))
			return;
	}
}

/* ---- Connections ---- */

static void tcp_pg_add_conn(void *tgroup, void *conn)
{
	struct tcp_pg *tpg = tgroup;
	struct sl_sock *sock = conn;
	struct tcp_qpair *tq;
	char saddr[64], caddr[64];
	uint16_t sport, cport;

	if (!tpg)
		goto out_close;
	tq = calloc(1, sizeof(*tq));
	if (!tq)
		goto out_close;
	tq->tpg = tpg;
	tq->sock = sock;
	TAILQ_INIT(&tq->free_reqs);
	tq->connect_req = req_alloc_one(tq, 0, NULL);
	if (!tq->connect_req)
		goto out_free;
	tq->connect_req->icd = sl_dma_zmalloc(NVMF_ADMIN_ICD_SIZE, 4096, NULL);
	if (!tq->connect_req->icd)
		goto out_free_req;
	TAILQ_INSERT_TAIL(&tq->free_reqs, tq->connect_req, link);
	if (sl_sock_getaddr(sock, saddr, sizeof(saddr), &sport, caddr, sizeof(caddr), &cport) ==
	    0) {
		tq->local.trtype = SL_NVMF_TRTYPE_TCP;
		tq->local.adrfam = strchr(saddr, ':') ? SL_NVMF_ADRFAM_IPV6 : SL_NVMF_ADRFAM_IPV4;
		snprintf(tq->local.traddr, sizeof(tq->local.traddr), "%s", saddr);
		snprintf(tq->local.trsvcid, sizeof(tq->local.trsvcid), "%u", sport);
		snprintf(tq->qpair.trid_peer, sizeof(tq->qpair.trid_peer), "%s:%u", caddr, cport);
	}
	tq->hpda = 4;
	recv_reset(tq);
	nvmf_qpair_init(&tq->qpair, &g_nvmf_tcp_ops, tpg->group);
	if (sl_sock_group_add_sock(tpg->sgroup, sock, tcp_conn_ready, tq)) {
		TAILQ_REMOVE(&tpg->group->qpairs, &tq->qpair, link);
		goto out_free_icd;
	}
	TAILQ_INSERT_TAIL(&tpg->tqpairs, tq, link);
	tpg->accepted++;
	SL_DEBUGLOG(nvmf, "TCP connection from %s on %s:%s", tq->qpair.trid_peer, tq->local.traddr,
		    tq->local.trsvcid);
	return;

out_free_icd:
	sl_dma_free(tq->connect_req->icd);
out_free_req:
	free(tq->connect_req);
out_free:
	free(tq);
out_close:
	sl_sock_close(&sock);
}

static void tcp_qpair_disconnect(struct nvmf_qpair *qpair)
{
	struct tcp_qpair *tq = tq_of(qpair);

	tq->state = RECV_QUIESCED;
	if (!tq->sock)
		return;
	sl_sock_group_remove_sock(tq->tpg->sgroup, tq->sock);
	/* Queued sends complete with -ECANCELED here and give their requests back. */
	sl_sock_close(&tq->sock);
	/* Requests that never reached the core (waiting for data or buffers) go back too. */
	for (uint32_t i = 0; i <= tq->num_reqs; i++) {
		struct tcp_req *r = i == tq->num_reqs ? tq->connect_req : tq->reqs[i];

		if (r && (r->state == REQ_NEW || r->state == REQ_NEED_BUFFER ||
			  r->state == REQ_AWAIT_H2C))
			req_put(r);
	}
}

static void tcp_qpair_free(struct nvmf_qpair *qpair)
{
	struct tcp_qpair *tq = tq_of(qpair);

	TAILQ_REMOVE(&tq->tpg->tqpairs, tq, link);
	for (uint32_t i = 0; i < tq->num_reqs; i++) {
		req_release_buffers(tq->reqs[i]);
		free(tq->reqs[i]);
	}
	free(tq->reqs);
	sl_dma_free(tq->icd_mem);
	req_release_buffers(tq->connect_req);
	sl_dma_free(tq->connect_req->icd);
	free(tq->connect_req);
	free(tq);
}

static void tcp_qpair_local_addr(struct nvmf_qpair *qpair, struct sl_nvmf_listen_addr *addr)
{
	*addr = tq_of(qpair)->local;
}

static void tcp_dump_opts(struct nvmf_transport *t, json_t *o)
{
	const struct nvmf_transport_opts *p = &t->opts;

	json_object_set_new(o, "max_queue_depth", json_integer(p->max_queue_depth));
	json_object_set_new(o, "max_io_qpairs_per_ctrlr",
			    json_integer(p->max_qpairs_per_ctrlr - 1));
	json_object_set_new(o, "in_capsule_data_size", json_integer(p->in_capsule_data_size));
	json_object_set_new(o, "max_io_size", json_integer(p->max_io_size));
	json_object_set_new(o, "io_unit_size", json_integer(p->io_unit_size));
	json_object_set_new(o, "max_aq_depth", json_integer(p->max_aq_depth));
	json_object_set_new(o, "num_shared_buffers", json_integer(p->num_shared_buffers));
	json_object_set_new(o, "buf_cache_size", json_integer(p->buf_cache_size));
	json_object_set_new(o, "dif_insert_or_strip", json_boolean(p->dif_insert_or_strip));
	json_object_set_new(o, "c2h_success", json_boolean(p->c2h_success));
	json_object_set_new(o, "sock_priority", json_integer(p->sock_priority));
	json_object_set_new(o, "abort_timeout_sec", json_integer(p->abort_timeout_sec));
	json_object_set_new(o, "acceptor_poll_rate", json_integer(p->acceptor_poll_rate_us));
}

static void tcp_pg_dump_stats(void *tgroup, json_t *o)
{
	struct tcp_pg *tpg = tgroup;

	json_object_set_new(o, "trtype", json_string("TCP"));
	json_object_set_new(o, "pending_data_buffer",
			    json_integer((json_int_t)tpg->pending_data_buffer));
	json_object_set_new(o, "accepted_connections", json_integer((json_int_t)tpg->accepted));
}

const struct nvmf_transport_ops g_nvmf_tcp_ops = {
	.name = "TCP",
	.trtype = SL_NVMF_TRTYPE_TCP,
	.opts_init = tcp_opts_init,
	.create = tcp_create,
	.destroy = tcp_destroy,
	.listen = tcp_listen,
	.stop_listen = tcp_stop_listen,
	.pg_create = tcp_pg_create,
	.pg_destroy = tcp_pg_destroy,
	.pg_poll = NULL,
	.pg_add_conn = tcp_pg_add_conn,
	.req_complete = tcp_req_complete,
	.qpair_disconnect = tcp_qpair_disconnect,
	.qpair_free = tcp_qpair_free,
	.qpair_local_addr = tcp_qpair_local_addr,
	.dump_opts = tcp_dump_opts,
	.pg_dump_stats = tcp_pg_dump_stats,
};
