/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Controllers (dynamic model): Fabrics Connect, properties, keep alive,
 * asynchronous events, and the admin commands. A controller lives on the
 * target thread; its admin queue pair's poll group forwards every admin and
 * property command here by message and gets the request back the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/env.h"
#include "sluice/log.h"
#include "sluice/version.h"

#include "nvmf_internal.h"

#define NVMF_CAP_TO_500MS 15 /* CAP.TO: 7.5 s to become ready, as generous hosts expect */

/* ---- Moving requests between the poll group and the target thread ---- */

static void complete_on_group(void *arg)
{
	nvmf_request_complete(arg);
}

/* Target thread: hand a finished admin request back to its poll group. */
static void admin_complete(struct nvmf_request *req)
{
	if (sl_thread_send_msg(req->qpair->group->thread, complete_on_group, req))
		SL_ERRLOG("nvmf: cannot return an admin request to its poll group");
}

static void admin_status(struct nvmf_request *req, int sct, int sc)
{
	nvmf_request_set_status(req, sct, sc);
}

static struct nvmf_ctrlr *req_ctrlr(struct nvmf_request *req)
{
	return req->qpair->ctrlr;
}

static void ctrlr_log_error(struct nvmf_ctrlr *c, struct nvmf_request *req)
{
	struct sl_nvme_error_information_entry *e;

	if (!c)
		return;
	memmove(&c->errors[1], &c->errors[0], sizeof(c->errors[0]) * (NVMF_ERROR_LOG_ENTRIES - 1));
	e = &c->errors[0];
	memset(e, 0, sizeof(*e));
	e->error_count = ++c->error_count;
	e->sqid = req->qpair->qid;
	e->cid = req->cmd.cid;
	e->status = req->rsp.status_raw;
	e->error_location = 0xffff;
	e->nsid = req->cmd.nsid;
	e->trtype = SL_NVMF_TRTYPE_TCP;
	if (c->num_errors < NVMF_ERROR_LOG_ENTRIES)
		c->num_errors++;
}

/* ---- Connect ---- */

struct connect_ctx {
	struct nvmf_request *req;
	struct sl_nvmf_connect_data data;
	struct sl_nvmf_listen_addr local;
	struct nvmf_ctrlr *ctrlr; /* result */
	uint32_t num_io_queues_max;
	uint32_t io_qsize_max;
	uint32_t admin_qsize_max;
};

static void connect_reply(void *arg)
{
	struct connect_ctx *cc = arg;
	struct nvmf_request *req = cc->req;
	struct nvmf_qpair *qpair = req->qpair;
	struct nvmf_ctrlr *c = cc->ctrlr;

	if (c) {
		qpair->ctrlr = c;
		qpair->sgroup = &qpair->group->sgroups[c->subsys->id];
		if (qpair->state == NVMF_QPAIR_CONNECTING) {
			qpair->state = NVMF_QPAIR_ACTIVE;
			if (qpair->qid == 0) {
				qpair->group->admin_qpairs++;
				qpair->group->current_admin_qpairs++;
			} else {
				qpair->group->io_qpairs++;
				qpair->group->current_io_qpairs++;
			}
		} else {
			/* The connection died meanwhile: give the controller its reference back. */
			nvmf_ctrlr_qpair_left(qpair);
		}
	} else if (qpair->state == NVMF_QPAIR_CONNECTING) {
		qpair->state = NVMF_QPAIR_UNINITIALIZED;
	}
	free(cc);
	nvmf_request_complete(req);
}

static void connect_fail(struct connect_ctx *cc, int sct, int sc, bool in_data, uint16_t offset,
			 bool with_ipo)
{
	nvmf_request_set_status(cc->req, sct, sc);
	if (with_ipo)
		cc->req->rsp.cdw0 = sl_nvmf_connect_invalid_param(in_data, offset);
}

static uint16_t ctrlr_alloc_cntlid(struct nvmf_subsystem *s)
{
	for (uint32_t tries = 0; tries <= (uint32_t)(s->max_cntlid - s->min_cntlid); tries++) {
		uint16_t id = s->next_cntlid;
		struct nvmf_ctrlr *c;
		bool used = false;

		s->next_cntlid = id >= s->max_cntlid ? s->min_cntlid : id + 1;
		TAILQ_FOREACH(c, &s->ctrlrs, link)
			if (c->cntlid == id)
				used = true;
		if (!used)
			return id;
	}
	return 0;
}

static struct nvmf_ctrlr *ctrlr_create(struct connect_ctx *cc, struct nvmf_subsystem *s)
{
	struct sl_nvmf_connect_cmd *cmd = (struct sl_nvmf_connect_cmd *)&cc->req->cmd;
	struct nvmf_ctrlr *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->io_qid_used = calloc(cc->num_io_queues_max + 1, 1);
	if (!c->io_qid_used) {
		free(c);
		return NULL;
	}
	c->cntlid = ctrlr_alloc_cntlid(s);
	if (!c->cntlid) {
		free(c->io_qid_used);
		free(c);
		return NULL;
	}
	c->subsys = s;
	c->admin_qpair = cc->req->qpair;
	c->admin_thread = cc->req->qpair->group->thread;
	memcpy(c->hostnqn, cc->data.hostnqn, sizeof(c->hostnqn) - 1);
	memcpy(c->hostid, cc->data.hostid, sizeof(c->hostid));
	c->num_io_queues_max = cc->num_io_queues_max;
	c->num_io_queues = cc->num_io_queues_max;
	c->io_qsize_max = cc->io_qsize_max;
	c->cap.raw = 0;
	c->cap.bits.mqes = (uint16_t)(cc->io_qsize_max - 1);
	c->cap.bits.cqr = 1;
	c->cap.bits.to = NVMF_CAP_TO_500MS;
	c->cap.bits.css = 1; /* NVM command set */
	c->vs.raw = SL_NVME_VERSION(1, 3, 0);
	c->kato_ms = cmd->kato ? ((cmd->kato + NVMF_KAS_MS - 1) / NVMF_KAS_MS * NVMF_KAS_MS) : 0;
	c->last_keep_alive_tsc = sl_get_ticks();
	c->refs = 1; /* the admin queue pair */
	c->discovery_genctr_seen = g_nvmf_tgt.discovery_genctr;
	TAILQ_INSERT_TAIL(&s->ctrlrs, c, link);
	s->num_ctrlrs++;
	SL_INFOLOG("nvmf: %s: controller %u created for host %s (kato %u ms)", s->nqn, c->cntlid,
		   c->hostnqn, c->kato_ms);
	return c;
}

static void connect_on_tgt(void *arg)
{
	struct connect_ctx *cc = arg;
	struct nvmf_request *req = cc->req;
	struct sl_nvmf_connect_cmd *cmd = (struct sl_nvmf_connect_cmd *)&req->cmd;
	struct nvmf_subsystem *s;
	struct nvmf_ctrlr *c;

	s = nvmf_tgt_find_subsystem(cc->data.subnqn);
	if (!s) {
		SL_NOTICELOG("nvmf: connect from %s to unknown subsystem %s", cc->data.hostnqn,
			     cc->data.subnqn);
		connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_INVALID_PARAM, true,
			     offsetof(struct sl_nvmf_connect_data, subnqn), true);
		goto reply;
	}
	if (!nvmf_subsystem_host_allowed(s, cc->data.hostnqn)) {
		SL_NOTICELOG("nvmf: %s: host %s is not allowed", s->nqn, cc->data.hostnqn);
		connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_INVALID_HOST, true,
			     offsetof(struct sl_nvmf_connect_data, hostnqn), true);
		goto reply;
	}
	if (!nvmf_subsystem_listener_allowed(s, &cc->local)) {
		SL_NOTICELOG("nvmf: %s: no listener on %s:%s", s->nqn, cc->local.traddr,
			     cc->local.trsvcid);
		connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_INVALID_PARAM, true,
			     offsetof(struct sl_nvmf_connect_data, subnqn), true);
		goto reply;
	}
	if (cmd->qid == 0) {
		if (cc->data.cntlid != SL_NVMF_CNTLID_DYNAMIC) {
			connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_INVALID_PARAM,
				     true, offsetof(struct sl_nvmf_connect_data, cntlid), true);
			goto reply;
		}
		if (s->state == NVMF_SUBSYS_DELETING) {
			connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_CONTROLLER_BUSY,
				     false, 0, false);
			goto reply;
		}
		c = ctrlr_create(cc, s);
		if (!c) {
			connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_CONTROLLER_BUSY,
				     false, 0, false);
			goto reply;
		}
		cc->ctrlr = c;
		req->rsp.cdw0 = c->cntlid;
		goto reply;
	}
	TAILQ_FOREACH(c, &s->ctrlrs, link)
		if (c->cntlid == cc->data.cntlid)
			break;
	if (!c || c->destroying) {
		connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_INVALID_PARAM, true,
			     offsetof(struct sl_nvmf_connect_data, cntlid), true);
		goto reply;
	}
	if (strncmp(c->hostnqn, cc->data.hostnqn, sizeof(c->hostnqn)) != 0) {
		connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_INVALID_PARAM, true,
			     offsetof(struct sl_nvmf_connect_data, hostnqn), true);
		goto reply;
	}
	if (memcmp(c->hostid, cc->data.hostid, sizeof(c->hostid)) != 0) {
		connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_INVALID_PARAM, true,
			     offsetof(struct sl_nvmf_connect_data, hostid), true);
		goto reply;
	}
	if (s->subtype != SL_NVMF_SUBTYPE_NVME) {
		/* The discovery controller has no I/O queues. */
		connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_INVALID_PARAM, false,
			     offsetof(struct sl_nvmf_connect_cmd, qid), true);
		goto reply;
	}
	if (!c->cc.bits.en || !c->csts.bits.rdy) {
		connect_fail(cc, SL_NVME_SCT_GENERIC, SL_NVME_SC_COMMAND_SEQUENCE_ERROR, false, 0,
			     false);
		goto reply;
	}
	if (cmd->qid > c->num_io_queues || c->io_qid_used[cmd->qid]) {
		connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_INVALID_PARAM, false,
			     offsetof(struct sl_nvmf_connect_cmd, qid), true);
		goto reply;
	}
	if (cmd->sqsize > c->cap.bits.mqes) {
		connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_INVALID_PARAM, false,
			     offsetof(struct sl_nvmf_connect_cmd, sqsize), true);
		goto reply;
	}
	c->io_qid_used[cmd->qid] = 1;
	c->refs++;
	cc->ctrlr = c;
	req->rsp.cdw0 = c->cntlid;
reply:
	if (sl_thread_send_msg(req->qpair->group->thread, connect_reply, cc))
		SL_ERRLOG("nvmf: cannot answer a connect");
}

void nvmf_ctrlr_connect(struct nvmf_request *req)
{
	struct nvmf_qpair *qpair = req->qpair;
	struct sl_nvmf_connect_cmd *cmd = (struct sl_nvmf_connect_cmd *)&req->cmd;
	struct nvmf_transport_opts *opts = NULL;
	struct nvmf_transport *t;
	struct connect_ctx *cc;

	cc = calloc(1, sizeof(*cc));
	if (!cc) {
		nvmf_request_set_status(req, SL_NVME_SCT_COMMAND_SPECIFIC,
					SL_NVMF_SC_CONTROLLER_BUSY);
		nvmf_request_complete(req);
		return;
	}
	cc->req = req;
	TAILQ_FOREACH(t, &g_nvmf_tgt.transports, link)
		if (t->ops == qpair->ops)
			opts = &t->opts;
	if (cmd->recfmt != 0) {
		connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_INCOMPATIBLE_FORMAT,
			     false, 0, false);
		goto out_fail;
	}
	if (req->length < sizeof(cc->data) ||
	    nvmf_iov_copy_out(&cc->data, sizeof(cc->data), req->iov, req->iovcnt) !=
		    sizeof(cc->data)) {
		/* Connect needs its 1024 bytes of data. */
		connect_fail(cc, SL_NVME_SCT_GENERIC, SL_NVME_SC_DATA_SGL_LENGTH_INVALID, false, 0,
			     false);
		goto out_fail;
	}
	if (memchr(cc->data.subnqn, 0, sizeof(cc->data.subnqn)) == NULL ||
	    strlen(cc->data.subnqn) > SL_NVMF_NQN_MAX_LEN) {
		connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_INVALID_PARAM, true,
			     offsetof(struct sl_nvmf_connect_data, subnqn), true);
		goto out_fail;
	}
	if (memchr(cc->data.hostnqn, 0, sizeof(cc->data.hostnqn)) == NULL ||
	    strlen(cc->data.hostnqn) > SL_NVMF_NQN_MAX_LEN || cc->data.hostnqn[0] == 0) {
		connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_INVALID_PARAM, true,
			     offsetof(struct sl_nvmf_connect_data, hostnqn), true);
		goto out_fail;
	}
	cc->io_qsize_max = opts ? opts->max_queue_depth : 128;
	cc->admin_qsize_max = opts ? opts->max_aq_depth : 32;
	cc->num_io_queues_max = opts ? opts->max_qpairs_per_ctrlr - 1u : 127;
	/* SQSIZE is 0's based; a queue of one entry cannot work, and the limits are ours. */
	if (cmd->sqsize == 0 ||
	    (uint32_t)cmd->sqsize + 1 > (cmd->qid == 0 ? cc->admin_qsize_max : cc->io_qsize_max)) {
		connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_INVALID_PARAM, false,
			     offsetof(struct sl_nvmf_connect_cmd, sqsize), true);
		goto out_fail;
	}
	if (cmd->qid > cc->num_io_queues_max) {
		connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_INVALID_PARAM, false,
			     offsetof(struct sl_nvmf_connect_cmd, qid), true);
		goto out_fail;
	}
	qpair->qid = cmd->qid;
	qpair->sqsize = cmd->sqsize;
	qpair->sq_flow_control_disabled =
		cmd->cattr & SL_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW_CONTROL;
	qpair->ops->qpair_local_addr(qpair, &cc->local);
	qpair->state = NVMF_QPAIR_CONNECTING;
	if (sl_thread_send_msg(g_nvmf_tgt.thread, connect_on_tgt, cc)) {
		qpair->state = NVMF_QPAIR_UNINITIALIZED;
		connect_fail(cc, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVMF_SC_CONTROLLER_BUSY, false, 0,
			     false);
		goto out_fail;
	}
	return;

out_fail:
	free(cc);
	nvmf_request_complete(req);
}

/* ---- Queue pairs leaving, controller teardown ---- */

struct left_msg {
	struct nvmf_ctrlr *ctrlr;
	uint16_t qid;
};

static void ctrlr_put(struct nvmf_ctrlr *c)
{
	if (--c->refs)
		return;
	SL_INFOLOG("nvmf: %s: controller %u freed", c->subsys->nqn, c->cntlid);
	if (!c->destroying)
		TAILQ_REMOVE(&c->subsys->ctrlrs, c, link);
	c->subsys->num_ctrlrs--;
	free(c->io_qid_used);
	free(c);
}

static void ctrlr_abort_aers(struct nvmf_ctrlr *c)
{
	for (uint32_t i = 0; i < c->num_aer; i++) {
		admin_status(c->aer[i], SL_NVME_SCT_GENERIC, SL_NVME_SC_ABORTED_SQ_DELETION);
		admin_complete(c->aer[i]);
	}
	c->num_aer = 0;
}

static void qpair_left_on_tgt(void *arg)
{
	struct left_msg *m = arg;
	struct nvmf_ctrlr *c = m->ctrlr;

	if (m->qid == 0) {
		c->admin_qpair = NULL;
		ctrlr_abort_aers(c);
		nvmf_ctrlr_destroy(c);
	} else if (m->qid <= c->num_io_queues_max) {
		c->io_qid_used[m->qid] = 0;
	}
	free(m);
	ctrlr_put(c);
}

void nvmf_ctrlr_qpair_left(struct nvmf_qpair *qpair)
{
	struct left_msg *m = malloc(sizeof(*m));

	if (!m) {
		SL_ERRLOG("nvmf: out of memory: controller %u keeps a reference",
			  qpair->ctrlr->cntlid);
		return;
	}
	m->ctrlr = qpair->ctrlr;
	m->qid = qpair->qid;
	if (sl_thread_send_msg(g_nvmf_tgt.thread, qpair_left_on_tgt, m)) {
		SL_ERRLOG("nvmf: cannot tell the target a queue pair left");
		free(m);
	}
}

void nvmf_ctrlr_destroy(struct nvmf_ctrlr *c)
{
	if (c->destroying)
		return;
	c->destroying = true;
	TAILQ_REMOVE(&c->subsys->ctrlrs, c, link);
	ctrlr_abort_aers(c);
	/* Every queue pair of the controller leaves; the last one frees it (ctrlr_put). */
	nvmf_tgt_disconnect_ctrlr_qpairs(c, false);
}

int nvmf_ctrlr_keep_alive_poll(void *arg)
{
	uint64_t now = sl_get_ticks(), hz = sl_get_ticks_hz();
	int busy = SL_POLLER_IDLE;

	(void)arg;
	for (uint32_t i = 0; i < g_nvmf_tgt.max_subsystems; i++) {
		struct nvmf_subsystem *s = g_nvmf_tgt.subsystems[i];
		struct nvmf_ctrlr *c, *tmp;

		if (!s)
			continue;
		TAILQ_FOREACH_SAFE(c, &s->ctrlrs, link, tmp) {
			if (!c->kato_ms ||
			    now - c->last_keep_alive_tsc < (uint64_t)c->kato_ms * hz / 1000)
				continue;
			SL_NOTICELOG("nvmf: %s: controller %u (host %s): keep alive timeout "
				     "(%u ms) expired, tearing it down",
				     s->nqn, c->cntlid, c->hostnqn, c->kato_ms);
			c->csts.bits.cfs = 1;
			nvmf_ctrlr_destroy(c);
			busy = SL_POLLER_BUSY;
		}
	}
	return busy;
}

/* ---- Asynchronous events ---- */

static void ctrlr_post_event(struct nvmf_ctrlr *c, uint32_t cdw0)
{
	if (c->num_aer) {
		struct nvmf_request *req = c->aer[--c->num_aer];

		req->rsp.cdw0 = cdw0;
		admin_complete(req);
		return;
	}
	if (c->num_pending_events < SL_COUNTOF(c->pending_events))
		c->pending_events[c->num_pending_events++] = cdw0;
}

void nvmf_ctrlr_ns_changed(struct nvmf_ctrlr *c, uint32_t nsid)
{
	if (c->num_changed_ns < SL_NVME_CHANGED_NS_LIST_MAX) {
		bool found = false;

		for (uint32_t i = 0; i < c->num_changed_ns; i++)
			found |= c->changed_ns[i] == nsid;
		if (!found)
			c->changed_ns[c->num_changed_ns++] = nsid;
	} else {
		c->num_changed_ns = SL_NVME_CHANGED_NS_LIST_MAX + 1;
	}
	if (!(c->async_event_config & SL_NVME_AEC_NS_ATTR_NOTICES) || c->ns_changed_masked)
		return;
	c->ns_changed_masked = true;
	ctrlr_post_event(c, sl_nvme_async_event_cdw0(SL_NVME_ASYNC_EVENT_TYPE_NOTICE,
						     SL_NVME_ASYNC_EVENT_NS_ATTR_CHANGED,
						     SL_NVME_LOG_CHANGED_NS_LIST));
}

void nvmf_ctrlr_discovery_changed(struct nvmf_ctrlr *c)
{
	if (c->subsys->subtype != SL_NVMF_SUBTYPE_DISCOVERY_CURRENT ||
	    !(c->async_event_config & SL_NVME_AEC_DISCOVERY_LOG_CHANGE))
		return;
	ctrlr_post_event(c, sl_nvme_async_event_cdw0(SL_NVME_ASYNC_EVENT_TYPE_NOTICE,
						     SL_NVME_ASYNC_EVENT_DISCOVERY_LOG_CHANGE,
						     SL_NVME_LOG_DISCOVERY));
}

void nvmf_tgt_discovery_changed(void)
{
	struct nvmf_subsystem *d;
	struct nvmf_ctrlr *c;

	g_nvmf_tgt.discovery_genctr++;
	d = nvmf_tgt_find_subsystem(SL_NVMF_DISCOVERY_NQN);
	if (!d)
		return;
	TAILQ_FOREACH(c, &d->ctrlrs, link)
		nvmf_ctrlr_discovery_changed(c);
}

/* ---- Properties ---- */

static void ctrlr_cc_write(struct nvmf_ctrlr *c, struct nvmf_request *req, uint32_t value)
{
	union sl_nvme_cc_register cc = { .raw = value };
	union sl_nvme_cc_register old = c->cc;

	if (cc.bits.en && !old.bits.en) {
		/* NVM command set, 4 KiB pages, 64/16-byte entries (the I/O queue sizes). */
		if (cc.bits.css != 0 || cc.bits.mps != 0 || cc.bits.ams != 0 ||
		    (c->subsys->subtype == SL_NVMF_SUBTYPE_NVME &&
		     (cc.bits.iosqes != 6 || cc.bits.iocqes != 4))) {
			SL_NOTICELOG("nvmf: controller %u: CC 0x%x rejected", c->cntlid, value);
			c->csts.bits.cfs = 1;
			admin_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INVALID_FIELD);
			return;
		}
		c->cc = cc;
		c->csts.bits.rdy = 1;
		c->csts.bits.shst = SL_NVME_SHST_NORMAL;
		return;
	}
	if (!cc.bits.en && old.bits.en) {
		/* Controller reset: the I/O queues go away, the admin queue stays. */
		c->cc.raw = 0;
		c->csts.bits.rdy = 0;
		c->csts.bits.cfs = 0;
		nvmf_tgt_disconnect_ctrlr_qpairs(c, true);
		return;
	}
	if (cc.bits.shn && !old.bits.shn) {
		c->cc = cc;
		/* Nothing cached to write back: the bdevs persist every completed write. */
		c->csts.bits.shst = SL_NVME_SHST_COMPLETE;
		nvmf_tgt_disconnect_ctrlr_qpairs(c, true);
		return;
	}
	if (cc.bits.iosqes != old.bits.iosqes || cc.bits.iocqes != old.bits.iocqes ||
	    cc.bits.shn != old.bits.shn) {
		c->cc.bits.iosqes = cc.bits.iosqes;
		c->cc.bits.iocqes = cc.bits.iocqes;
		c->cc.bits.shn = cc.bits.shn;
		if (!cc.bits.shn)
			c->csts.bits.shst = SL_NVME_SHST_NORMAL;
		return;
	}
}

static void property_exec(struct nvmf_request *req)
{
	struct nvmf_ctrlr *c = req_ctrlr(req);
	struct sl_nvmf_property_cmd *cmd = (struct sl_nvmf_property_cmd *)&req->cmd;
	bool get = cmd->fctype == SL_NVMF_FCTYPE_PROPERTY_GET;
	unsigned size = (cmd->attrib & 0x7) == 1 ? 8 : (cmd->attrib & 0x7) == 0 ? 4 : 0;
	uint64_t value = 0;

	if (size == 0) {
		admin_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INVALID_FIELD);
		return;
	}
	switch (cmd->ofst) {
	case SL_NVME_REG_CAP:
		if (!get || size != 8)
			goto invalid;
		value = c->cap.raw;
		break;
	case SL_NVME_REG_VS:
		if (!get || size != 4)
			goto invalid;
		value = c->vs.raw;
		break;
	case SL_NVME_REG_CC:
		if (size != 4)
			goto invalid;
		if (!get) {
			ctrlr_cc_write(c, req, (uint32_t)cmd->value);
			return;
		}
		value = c->cc.raw;
		break;
	case SL_NVME_REG_CSTS:
		if (!get || size != 4)
			goto invalid;
		value = c->csts.raw;
		break;
	default:
		goto invalid;
	}
	req->rsp.cdw0 = (uint32_t)value;
	req->rsp.cdw1 = (uint32_t)(value >> 32);
	return;
invalid:
	admin_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INVALID_FIELD);
}

/* ---- Identify ---- */

static void pad_copy(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	memset(dst, ' ', n);
	memcpy(dst, src, SL_MIN(len, n));
}

static uint32_t ilog2(uint32_t v)
{
	uint32_t r = 0;

	while (v >>= 1)
		r++;
	return r;
}

static struct nvmf_transport_opts *ctrlr_transport_opts(void)
{
	struct nvmf_transport *t = TAILQ_FIRST(&g_nvmf_tgt.transports);

	return t ? &t->opts : NULL;
}

static void identify_ctrlr(struct nvmf_ctrlr *c, struct sl_nvme_ctrlr_data *d)
{
	struct nvmf_subsystem *s = c->subsys;
	struct nvmf_transport_opts *o = ctrlr_transport_opts();
	uint32_t max_io = o ? o->max_io_size : 131072;
	bool vwc = false;

	pad_copy(d->sn, sizeof(d->sn), s->sn);
	pad_copy(d->mn, sizeof(d->mn),
		 s->subtype == SL_NVMF_SUBTYPE_NVME ? s->mn : "Sluice discovery");
	pad_copy(d->fr, sizeof(d->fr), SL_VERSION_STRING);
	d->rab = 6;
	d->cmic = 0x2; /* may have several controllers */
	d->mdts = (uint8_t)ilog2(max_io / 4096);
	d->cntlid = c->cntlid;
	d->ver = c->vs.raw;
	d->ctratt = 0x1; /* 128-bit host identifier */
	d->cntrltype = s->subtype == SL_NVMF_SUBTYPE_NVME ? 1 : 2;
	d->acl = 3;
	d->aerl = NVMF_MAX_AER - 1;
	d->frmw = 0x3; /* one slot, read-only */
	d->lpa = 0x4;  /* extended data for Get Log Page */
	d->elpe = NVMF_ERROR_LOG_ENTRIES - 1;
	d->kas = NVMF_KAS_MS / 100;
	d->sqes = 0x66;
	d->cqes = 0x44;
	d->maxcmd = (uint16_t)c->io_qsize_max;
	d->sgls = SL_NVME_SGLS_SUPPORTED | SL_NVME_SGLS_OFFSET;
	memcpy(d->subnqn, s->nqn, strlen(s->nqn));
	d->iorcsz = 1;
	d->msdbd = 1;
	d->psd[0].mp = 2500;
	if (s->subtype != SL_NVMF_SUBTYPE_NVME) {
		d->oaes = SL_NVME_OAES_DISCOVERY_LOG_CHANGE;
		d->ioccsz = 4;
		return;
	}
	d->oaes = SL_NVME_OAES_NS_ATTRIBUTE_NOTICES;
	d->nn = s->max_nsid;
	d->oncs = SL_NVME_ONCS_COMPARE | SL_NVME_ONCS_DSM | SL_NVME_ONCS_WRITE_ZEROES;
	for (uint32_t i = 0; i < s->max_nsid; i++)
		if (s->ns[i] && sl_bdev_has_write_cache(s->ns[i]->bdev))
			vwc = true;
	/* Bits 2:1 = 10b: Flush to the broadcast NSID is not supported. */
	d->vwc = (uint8_t)((vwc ? 1 : 0) | 0x4);
	d->fuses = 0;
	d->ioccsz =
		(uint32_t)(sizeof(struct sl_nvme_cmd) + (o ? o->in_capsule_data_size : 4096)) / 16;
}

static struct nvmf_ns *ctrlr_ns(struct nvmf_ctrlr *c, uint32_t nsid)
{
	struct nvmf_subsystem *s = c->subsys;

	if (nsid == 0 || nsid > s->max_nsid || !s->ns[nsid - 1] || s->ns[nsid - 1]->removing)
		return NULL;
	return s->ns[nsid - 1];
}

static void identify_ns(struct nvmf_ns *ns, struct sl_nvme_ns_data *d)
{
	uint64_t blocks = sl_bdev_get_num_blocks(ns->bdev);
	uint32_t bs = sl_bdev_get_block_size(ns->bdev);
	uint32_t boundary = sl_bdev_get_optimal_io_boundary(ns->bdev);

	d->nsze = d->ncap = d->nuse = blocks;
	d->nlbaf = 0;
	d->flbas = 0;
	d->lbaf[0].lbads = (uint8_t)ilog2(bs);
	d->nmic = 1; /* may be shared by several controllers */
	if (sl_bdev_io_type_supported(ns->bdev, SL_BDEV_IO_TYPE_UNMAP))
		d->nsfeat |= 0x1; /* thin provisioning: deallocate frees space */
	if (boundary && boundary <= UINT16_MAX)
		d->noiob = (uint16_t)boundary;
	memcpy(d->nguid, ns->nguid, sizeof(d->nguid));
	memcpy(d->eui64, ns->eui64, sizeof(d->eui64));
}

static void identify_exec(struct nvmf_request *req)
{
	struct nvmf_ctrlr *c = req_ctrlr(req);
	uint8_t cns = req->cmd.cdw10 & 0xff;
	uint8_t *buf = calloc(1, 4096);
	struct nvmf_ns *ns;

	if (!buf) {
		admin_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INTERNAL_DEVICE_ERROR);
		return;
	}
	if (req->length < 4096 && req->length != 0) {
		/* Identify always moves 4 KiB. */
		admin_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_DATA_SGL_LENGTH_INVALID);
		goto out;
	}
	switch (cns) {
	case SL_NVME_CNS_CTRLR:
		identify_ctrlr(c, (struct sl_nvme_ctrlr_data *)buf);
		break;
	case SL_NVME_CNS_NS:
		if (c->subsys->subtype != SL_NVMF_SUBTYPE_NVME || req->cmd.nsid == 0 ||
		    req->cmd.nsid > c->subsys->max_nsid) {
			admin_status(req, SL_NVME_SCT_GENERIC,
				     SL_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
			goto out;
		}
		ns = ctrlr_ns(c, req->cmd.nsid);
		if (ns) /* an inactive NSID gets zeroes */
			identify_ns(ns, (struct sl_nvme_ns_data *)buf);
		break;
	case SL_NVME_CNS_ACTIVE_NS_LIST: {
		uint32_t *list = (uint32_t *)buf, n = 0;

		if (req->cmd.nsid >= 0xfffffffe) {
			admin_status(req, SL_NVME_SCT_GENERIC,
				     SL_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
			goto out;
		}
		for (uint32_t id = req->cmd.nsid + 1; id <= c->subsys->max_nsid && n < 1024; id++)
			if (ctrlr_ns(c, id))
				list[n++] = id;
		break;
	}
	case SL_NVME_CNS_NS_ID_DESCRIPTOR_LIST: {
		uint8_t *p = buf;
		static const uint8_t zero[16];

		ns = ctrlr_ns(c, req->cmd.nsid);
		if (!ns) {
			admin_status(req, SL_NVME_SCT_GENERIC,
				     SL_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
			goto out;
		}
		if (memcmp(ns->eui64, zero, 8) != 0) {
			p[0] = SL_NVME_NIDT_EUI64;
			p[1] = 8;
			memcpy(p + 4, ns->eui64, 8);
			p += 12;
		}
		p[0] = SL_NVME_NIDT_NGUID;
		p[1] = 16;
		memcpy(p + 4, ns->nguid, 16);
		p += 20;
		if (!sl_uuid_is_null(&ns->uuid)) {
			p[0] = SL_NVME_NIDT_UUID;
			p[1] = 16;
			memcpy(p + 4, &ns->uuid, 16);
		}
		break;
	}
	default:
		admin_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INVALID_FIELD);
		goto out;
	}
	nvmf_iov_zero(req->iov, req->iovcnt);
	nvmf_iov_copy_in(req->iov, req->iovcnt, 0, buf, SL_MIN(req->length, 4096u));
out:
	free(buf);
}

/* ---- Log pages ---- */

int nvmf_get_log_discovery(const char *hostnqn, struct iovec *iov, int iovcnt, uint64_t offset,
			   uint32_t length)
{
	size_t max = sizeof(struct sl_nvmf_discovery_log_header);
	struct sl_nvmf_discovery_log_header *hdr;
	uint64_t numrec = 0;
	uint8_t *log;

	for (uint32_t i = 0; i < g_nvmf_tgt.max_subsystems; i++) {
		struct nvmf_subsystem *s = g_nvmf_tgt.subsystems[i];
		struct nvmf_listener *l;

		if (!s || s->state == NVMF_SUBSYS_DELETING)
			continue;
		TAILQ_FOREACH(l, &s->listeners, link)
			max += sizeof(struct sl_nvmf_discovery_log_entry);
	}
	log = calloc(1, max);
	if (!log)
		return -ENOMEM;
	hdr = (struct sl_nvmf_discovery_log_header *)log;
	for (uint32_t i = 0; i < g_nvmf_tgt.max_subsystems; i++) {
		struct nvmf_subsystem *s = g_nvmf_tgt.subsystems[i];
		struct nvmf_listener *l;

		if (!s || s->state == NVMF_SUBSYS_DELETING)
			continue;
		if (s->subtype == SL_NVMF_SUBTYPE_NVME && !nvmf_subsystem_host_allowed(s, hostnqn))
			continue;
		TAILQ_FOREACH(l, &s->listeners, link) {
			struct sl_nvmf_discovery_log_entry *e =
				(struct sl_nvmf_discovery_log_entry *)(log + sizeof(*hdr)) +
				numrec++;

			e->trtype = (uint8_t)l->addr.trtype;
			e->adrfam = (uint8_t)l->addr.adrfam;
			e->subtype = (uint8_t)s->subtype;
			e->treq = SL_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED |
				  SL_NVMF_TREQ_DISABLE_SQ_FLOW_CONTROL;
			e->portid = l->portid;
			e->cntlid = SL_NVMF_CNTLID_DYNAMIC;
			e->asqsz = 32;
			pad_copy(e->trsvcid, sizeof(e->trsvcid), l->addr.trsvcid);
			pad_copy(e->traddr, sizeof(e->traddr), l->addr.traddr);
			memcpy(e->subnqn, s->nqn, strlen(s->nqn));
			e->tsas[0] = 0; /* no security */
		}
	}
	hdr->genctr = g_nvmf_tgt.discovery_genctr;
	hdr->numrec = numrec;
	hdr->recfmt = 0;
	max = sizeof(*hdr) + numrec * sizeof(struct sl_nvmf_discovery_log_entry);
	nvmf_iov_zero(iov, iovcnt);
	if (offset < max)
		nvmf_iov_copy_in(iov, iovcnt, 0, log + offset, SL_MIN(length, max - offset));
	free(log);
	return 0;
}

/*
 * SMART / Health: the counters come from the namespaces' bdevs (their
 * statistics cover every user of the bdev, as a drive's would), gathered one
 * bdev after another because each gathering visits the bdev's channels.
 */
struct smart_ctx {
	struct nvmf_request *req;
	struct sl_nvme_health_information_page page;
	struct sl_bdev_io_stat stat;
	uint32_t next; /* NSID index to gather next */
	uint64_t offset, len;
};

static void admin_complete(struct nvmf_request *req);
static void smart_next(struct smart_ctx *sc);

static void smart_stat_done(struct sl_bdev *bdev, struct sl_bdev_io_stat *stat, void *arg, int rc)
{
	struct smart_ctx *sc = arg;
	struct sl_nvme_health_information_page *h = &sc->page;

	(void)bdev;
	if (rc == 0) {
		/* Data units: thousands of 512-byte units, rounded up. */
		h->data_units_read[0] += (stat->bytes_read / 512 + 999) / 1000;
		h->data_units_written[0] += (stat->bytes_written / 512 + 999) / 1000;
		h->host_read_commands[0] += stat->num_read_ops;
		h->host_write_commands[0] += stat->num_write_ops;
		h->media_errors[0] += stat->num_errors;
	}
	smart_next(sc);
}

static void smart_next(struct smart_ctx *sc)
{
	struct nvmf_request *req = sc->req;
	struct nvmf_ctrlr *c = req_ctrlr(req);
	struct nvmf_subsystem *s = c->subsys;

	while (sc->next < s->max_nsid) {
		struct nvmf_ns *ns = s->ns[sc->next++];

		if (ns && !ns->removing) {
			sl_bdev_get_device_stat(ns->bdev, &sc->stat, smart_stat_done, sc);
			return;
		}
	}
	nvmf_iov_zero(req->iov, req->iovcnt);
	if (sc->offset < sizeof(sc->page))
		nvmf_iov_copy_in(req->iov, req->iovcnt, 0, (uint8_t *)&sc->page + sc->offset,
				 SL_MIN(sc->len, sizeof(sc->page) - sc->offset));
	free(sc);
	admin_complete(req);
	ctrlr_put(c);
}

/* Returns false when the answer comes later (admin_complete). */
static bool get_log_smart(struct nvmf_request *req, uint64_t offset, uint64_t len)
{
	struct nvmf_ctrlr *c = req_ctrlr(req);
	struct smart_ctx *sc = calloc(1, sizeof(*sc));

	if (!sc) {
		admin_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INTERNAL_DEVICE_ERROR);
		return true;
	}
	/* The controller (and so its subsystem) stays while the statistics come in. */
	c->refs++;
	sc->req = req;
	sc->offset = offset;
	sc->len = len;
	sc->page.temperature = 273 + 25; /* no sensor: report room temperature */
	sc->page.available_spare = 100;
	sc->page.available_spare_threshold = 10;
	sc->page.num_error_info_log_entries[0] = c->error_count;
	smart_next(sc);
	return false;
}

/* Returns false when the answer comes later. */
static bool get_log_exec(struct nvmf_request *req)
{
	struct nvmf_ctrlr *c = req_ctrlr(req);
	uint8_t lid = req->cmd.cdw10 & 0xff;
	bool rae = req->cmd.cdw10 & (1u << 15);
	uint64_t numd = ((req->cmd.cdw10 >> 16) | ((uint64_t)(req->cmd.cdw11 & 0xffff) << 16)) + 1;
	uint64_t offset = req->cmd.cdw12 | ((uint64_t)req->cmd.cdw13 << 32);
	uint64_t len = numd * 4;
	uint8_t page[4096];
	size_t page_len = 0;

	if (len > req->length || (offset & 3)) {
		admin_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INVALID_FIELD);
		return true;
	}
	if (c->subsys->subtype != SL_NVMF_SUBTYPE_NVME) {
		if (lid != SL_NVME_LOG_DISCOVERY) {
			admin_status(req, SL_NVME_SCT_COMMAND_SPECIFIC,
				     SL_NVME_SC_INVALID_LOG_PAGE);
			return true;
		}
		if (nvmf_get_log_discovery(c->hostnqn, req->iov, req->iovcnt, offset,
					   (uint32_t)len))
			admin_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INTERNAL_DEVICE_ERROR);
		return true;
	}
	memset(page, 0, sizeof(page));
	switch (lid) {
	case SL_NVME_LOG_HEALTH_INFORMATION:
		return get_log_smart(req, offset, len);
	case SL_NVME_LOG_ERROR: {
		struct sl_nvme_error_information_entry *e = (void *)page;

		page_len = sizeof(*e) * NVMF_ERROR_LOG_ENTRIES;
		static_assert(sizeof(*e) * NVMF_ERROR_LOG_ENTRIES <= sizeof(page),
			      "error log fits");
		memcpy(e, c->errors, sizeof(*e) * c->num_errors);
		break;
	}
	case SL_NVME_LOG_FIRMWARE_SLOT: {
		struct sl_nvme_firmware_page *f = (void *)page;

		page_len = sizeof(*f);
		f->afi = 1;
		pad_copy(f->revision[0], sizeof(f->revision[0]), SL_VERSION_STRING);
		break;
	}
	case SL_NVME_LOG_CHANGED_NS_LIST: {
		uint32_t *list = (uint32_t *)page;

		page_len = 4096;
		if (c->num_changed_ns > SL_NVME_CHANGED_NS_LIST_MAX)
			list[0] = 0xffffffff;
		else
			memcpy(list, c->changed_ns, c->num_changed_ns * 4);
		if (!rae) {
			c->num_changed_ns = 0;
			c->ns_changed_masked = false;
		}
		break;
	}
	default:
		admin_status(req, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVME_SC_INVALID_LOG_PAGE);
		return true;
	}
	nvmf_iov_zero(req->iov, req->iovcnt);
	if (offset < page_len)
		nvmf_iov_copy_in(req->iov, req->iovcnt, 0, page + offset,
				 SL_MIN(len, page_len - offset));
	return true;
}

/* ---- Features ---- */

static bool ctrlr_has_write_cache(struct nvmf_ctrlr *c)
{
	for (uint32_t i = 0; i < c->subsys->max_nsid; i++)
		if (c->subsys->ns[i] && sl_bdev_has_write_cache(c->subsys->ns[i]->bdev))
			return true;
	return false;
}

static void features_exec(struct nvmf_request *req, bool set)
{
	struct nvmf_ctrlr *c = req_ctrlr(req);
	uint8_t fid = req->cmd.cdw10 & 0xff;
	uint32_t sel = (req->cmd.cdw10 >> 8) & 0x7;
	uint32_t v = req->cmd.cdw11;
	bool discovery = c->subsys->subtype != SL_NVMF_SUBTYPE_NVME;

	if (set && (req->cmd.cdw10 & (1u << 31))) {
		admin_status(req, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVME_SC_FEATURE_ID_NOT_SAVEABLE);
		return;
	}
	if (discovery && fid != SL_NVME_FEAT_KEEP_ALIVE_TIMER &&
	    fid != SL_NVME_FEAT_ASYNC_EVENT_CONFIGURATION)
		goto invalid;
	if (!set && sel == 3) {
		/* Supported capabilities: changeable for what Set Features accepts. */
		switch (fid) {
		case SL_NVME_FEAT_NUMBER_OF_QUEUES:
		case SL_NVME_FEAT_ASYNC_EVENT_CONFIGURATION:
		case SL_NVME_FEAT_KEEP_ALIVE_TIMER:
		case SL_NVME_FEAT_VOLATILE_WRITE_CACHE:
			req->rsp.cdw0 = 0x4;
			return;
		case SL_NVME_FEAT_ARBITRATION:
		case SL_NVME_FEAT_POWER_MANAGEMENT:
		case SL_NVME_FEAT_TEMPERATURE_THRESHOLD:
		case SL_NVME_FEAT_ERROR_RECOVERY:
		case SL_NVME_FEAT_HOST_IDENTIFIER:
			req->rsp.cdw0 = 0;
			return;
		default:
			goto invalid;
		}
	}
	switch (fid) {
	case SL_NVME_FEAT_ARBITRATION:
	case SL_NVME_FEAT_POWER_MANAGEMENT:
	case SL_NVME_FEAT_ERROR_RECOVERY:
		if (set)
			goto not_changeable;
		req->rsp.cdw0 = 0;
		return;
	case SL_NVME_FEAT_TEMPERATURE_THRESHOLD:
		if (set)
			goto not_changeable;
		req->rsp.cdw0 = 273 + 70; /* over-temperature threshold, kelvin */
		return;
	case SL_NVME_FEAT_VOLATILE_WRITE_CACHE:
		if (!ctrlr_has_write_cache(c)) {
			if (set)
				goto invalid;
			req->rsp.cdw0 = 0;
			return;
		}
		if (set)
			c->vwc_enabled = v & 1;
		req->rsp.cdw0 = c->vwc_enabled;
		return;
	case SL_NVME_FEAT_NUMBER_OF_QUEUES:
		if (set) {
			uint32_t nsq = (v & 0xffff) + 1, ncq = (v >> 16) + 1;

			if ((v & 0xffff) == 0xffff || (v >> 16) == 0xffff)
				goto invalid;
			for (uint32_t q = 1; q <= c->num_io_queues_max; q++)
				if (c->io_qid_used[q]) {
					admin_status(req, SL_NVME_SCT_GENERIC,
						     SL_NVME_SC_COMMAND_SEQUENCE_ERROR);
					return;
				}
			c->num_io_queues = SL_MIN(SL_MIN(nsq, ncq), c->num_io_queues_max);
		}
		req->rsp.cdw0 = (c->num_io_queues - 1) | ((c->num_io_queues - 1) << 16);
		return;
	case SL_NVME_FEAT_ASYNC_EVENT_CONFIGURATION:
		if (set)
			c->async_event_config = v;
		req->rsp.cdw0 = c->async_event_config;
		return;
	case SL_NVME_FEAT_KEEP_ALIVE_TIMER:
		if (set) {
			c->kato_ms = v ? ((v + NVMF_KAS_MS - 1) / NVMF_KAS_MS * NVMF_KAS_MS) : 0;
			c->last_keep_alive_tsc = sl_get_ticks();
		}
		req->rsp.cdw0 = c->kato_ms;
		return;
	case SL_NVME_FEAT_HOST_IDENTIFIER:
		if (set) {
			/* Fabrics hosts give their identifier in Connect. */
			admin_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_COMMAND_SEQUENCE_ERROR);
			return;
		}
		if (!(v & 1)) {
			/* Only the 128-bit identifier exists here. */
			goto invalid;
		}
		if (req->length < 16)
			goto invalid;
		nvmf_iov_zero(req->iov, req->iovcnt);
		nvmf_iov_copy_in(req->iov, req->iovcnt, 0, c->hostid, 16);
		return;
	default:
		goto invalid;
	}
not_changeable:
	admin_status(req, SL_NVME_SCT_COMMAND_SPECIFIC, SL_NVME_SC_FEATURE_NOT_CHANGEABLE);
	return;
invalid:
	admin_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INVALID_FIELD);
}

/* ---- Admin dispatch (target thread) ---- */

/* Returns false when the request stays with the controller (an AER). */
static bool admin_dispatch(struct nvmf_request *req)
{
	struct nvmf_ctrlr *c = req_ctrlr(req);
	bool discovery = c->subsys->subtype != SL_NVMF_SUBTYPE_NVME;

	if (c->destroying) {
		admin_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_ABORTED_SQ_DELETION);
		return true;
	}
	if (req->cmd.opc == SL_NVME_OPC_FABRICS) {
		property_exec(req);
		return true;
	}
	if (!c->cc.bits.en || !c->csts.bits.rdy) {
		admin_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_COMMAND_SEQUENCE_ERROR);
		return true;
	}
	switch (req->cmd.opc) {
	case SL_NVME_OPC_IDENTIFY:
		identify_exec(req);
		return true;
	case SL_NVME_OPC_GET_LOG_PAGE:
		return get_log_exec(req);
	case SL_NVME_OPC_SET_FEATURES:
		features_exec(req, true);
		return true;
	case SL_NVME_OPC_GET_FEATURES:
		features_exec(req, false);
		return true;
	case SL_NVME_OPC_KEEP_ALIVE:
		c->last_keep_alive_tsc = sl_get_ticks();
		return true;
	case SL_NVME_OPC_ASYNC_EVENT_REQUEST:
		if (c->num_pending_events) {
			req->rsp.cdw0 = c->pending_events[0];
			memmove(&c->pending_events[0], &c->pending_events[1],
				--c->num_pending_events * sizeof(c->pending_events[0]));
			return true;
		}
		if (c->num_aer >= NVMF_MAX_AER) {
			admin_status(req, SL_NVME_SCT_COMMAND_SPECIFIC,
				     SL_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED);
			return true;
		}
		c->aer[c->num_aer++] = req;
		return false;
	case SL_NVME_OPC_ABORT: {
		uint16_t sqid = req->cmd.cdw10 & 0xffff, cid = req->cmd.cdw10 >> 16;

		/* Best effort: only a waiting AER can be pulled back; I/O finishes quickly. */
		req->rsp.cdw0 = 1;
		if (discovery || sqid != 0)
			return true;
		for (uint32_t i = 0; i < c->num_aer; i++) {
			if (c->aer[i]->cmd.cid != cid)
				continue;
			admin_status(c->aer[i], SL_NVME_SCT_GENERIC, SL_NVME_SC_ABORTED_BY_REQUEST);
			admin_complete(c->aer[i]);
			memmove(&c->aer[i], &c->aer[i + 1], (--c->num_aer - i) * sizeof(c->aer[0]));
			req->rsp.cdw0 = 0;
			break;
		}
		return true;
	}
	default:
		admin_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INVALID_OPCODE);
		return true;
	}
}

static void admin_on_tgt(void *arg)
{
	struct nvmf_request *req = arg;
	struct nvmf_ctrlr *c = req_ctrlr(req);

	/* Any admin command shows the host is alive, not only Keep Alive. */
	c->last_keep_alive_tsc = sl_get_ticks();
	if (!admin_dispatch(req))
		return;
	if (req->rsp.status_raw && req->cmd.opc != SL_NVME_OPC_FABRICS)
		ctrlr_log_error(c, req);
	admin_complete(req);
}

void nvmf_ctrlr_admin_exec(struct nvmf_request *req)
{
	if (sl_thread_send_msg(g_nvmf_tgt.thread, admin_on_tgt, req)) {
		nvmf_request_set_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INTERNAL_DEVICE_ERROR);
		nvmf_request_complete(req);
	}
}
