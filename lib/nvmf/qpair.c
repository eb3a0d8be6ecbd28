/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Queue pairs as the core sees them, whatever the transport: the Connect
 * gate, the dispatch of Fabrics/admin/I/O commands, completion and the
 * disconnect sequence. Runs on the queue pair's poll group thread.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sluice/log.h"

#include "nvmf_internal.h"

void nvmf_qpair_init(struct nvmf_qpair *qpair, const struct nvmf_transport_ops *ops,
		     struct nvmf_poll_group *group)
{
	qpair->ops = ops;
	qpair->group = group;
	qpair->state = NVMF_QPAIR_UNINITIALIZED;
	qpair->id = __atomic_fetch_add(&g_nvmf_tgt.next_qpair_id, 1, __ATOMIC_RELAXED);
	TAILQ_INSERT_TAIL(&group->qpairs, qpair, link);
}

void nvmf_request_set_status(struct nvmf_request *req, int sct, int sc)
{
	bool success = sct == SL_NVME_SCT_GENERIC && sc == SL_NVME_SC_SUCCESS;

	/* Errors are final (DNR) except the ones a retry can cure. */
	bool retry = sct == SL_NVME_SCT_GENERIC && (sc == SL_NVME_SC_NAMESPACE_NOT_READY ||
						    sc == SL_NVME_SC_TRANSIENT_TRANSPORT_ERROR);

	req->rsp.status_raw = sl_nvme_status_make(sct, sc, !success && !retry);
}

static void qpair_maybe_free(struct nvmf_qpair *qpair)
{
	if (qpair->state != NVMF_QPAIR_DISCONNECTING || qpair->outstanding || qpair->completing)
		return;
	TAILQ_REMOVE(&qpair->group->qpairs, qpair, link);
	if (qpair->counted) {
		if (qpair->qid == 0)
			qpair->group->current_admin_qpairs--;
		else
			qpair->group->current_io_qpairs--;
	}
	/* The controller reference goes last: nothing of this queue pair is left to see it. */
	if (qpair->ctrlr)
		nvmf_ctrlr_qpair_left(qpair);
	qpair->ops->qpair_free(qpair);
}

void nvmf_request_complete(struct nvmf_request *req)
{
	struct nvmf_qpair *qpair = req->qpair;

	req->rsp.cid = req->cmd.cid;
	req->rsp.sqid = qpair->qid;
	if (!qpair->sq_flow_control_disabled) {
		qpair->sqhd = (uint16_t)((qpair->sqhd + 1) % ((uint32_t)qpair->sqsize + 1));
		req->rsp.sqhd = qpair->sqhd;
	} else {
		req->rsp.sqhd = 0;
	}
	qpair->outstanding--;
	/*
	 * The transport sends the data and the response, or drops both when
	 * disconnecting; it may disconnect the queue pair meanwhile, which must
	 * not free it under our feet.
	 */
	qpair->completing++;
	qpair->ops->req_complete(req);
	qpair->completing--;
	qpair_maybe_free(qpair);
}

void nvmf_qpair_request_done(struct nvmf_qpair *qpair)
{
	qpair_maybe_free(qpair);
}

void nvmf_qpair_disconnect(struct nvmf_qpair *qpair)
{
	if (qpair->state == NVMF_QPAIR_DISCONNECTING)
		return;
	SL_DEBUGLOG(nvmf, "qpair %lu (qid %u, %s) disconnecting", (unsigned long)qpair->id,
		    qpair->qid, qpair->trid_peer);
	/*
	 * An admin queue going away takes its controller down now (its AERs
	 * come back, its I/O queues disconnect); a Connect still in flight does
	 * that on its way back.
	 */
	if (qpair->state == NVMF_QPAIR_ACTIVE && qpair->ctrlr && qpair->qid == 0)
		nvmf_ctrlr_admin_leaving(qpair);
	qpair->state = NVMF_QPAIR_DISCONNECTING;
	qpair->ops->qpair_disconnect(qpair);
	qpair_maybe_free(qpair);
}

static void fabrics_exec(struct nvmf_request *req)
{
	struct sl_nvmf_capsule_cmd *fc = (struct sl_nvmf_capsule_cmd *)&req->cmd;
	struct nvmf_qpair *qpair = req->qpair;

	switch (fc->fctype) {
	case SL_NVMF_FCTYPE_CONNECT:
		if (qpair->state != NVMF_QPAIR_UNINITIALIZED) {
			nvmf_request_set_status(req, SL_NVME_SCT_GENERIC,
						SL_NVME_SC_COMMAND_SEQUENCE_ERROR);
			nvmf_request_complete(req);
			return;
		}
		nvmf_ctrlr_connect(req);
		return;
	case SL_NVMF_FCTYPE_PROPERTY_GET:
	case SL_NVMF_FCTYPE_PROPERTY_SET:
		if (qpair->qid != 0)
			break;
		if (qpair->state != NVMF_QPAIR_ACTIVE) {
			/* No controller before Connect. */
			nvmf_request_set_status(req, SL_NVME_SCT_GENERIC,
						SL_NVME_SC_COMMAND_SEQUENCE_ERROR);
			nvmf_request_complete(req);
			return;
		}
		nvmf_ctrlr_admin_exec(req);
		return;
	case SL_NVMF_FCTYPE_DISCONNECT:
		if (qpair->qid == 0 || qpair->state != NVMF_QPAIR_ACTIVE)
			break;
		/* Answer, then close once the answer left: the host waits for it. */
		req->close_qpair = true;
		nvmf_request_complete(req);
		return;
	default:
		break;
	}
	nvmf_request_set_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INVALID_OPCODE);
	nvmf_request_complete(req);
}

void nvmf_request_exec(struct nvmf_request *req)
{
	struct nvmf_qpair *qpair = req->qpair;

	qpair->outstanding++;
	memset(&req->rsp, 0, sizeof(req->rsp));
	req->ns_pg = NULL;
	req->close_qpair = false;
	if (qpair->state == NVMF_QPAIR_DISCONNECTING) {
		nvmf_request_complete(req);
		return;
	}
	if (req->cmd.fuse) {
		nvmf_request_set_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INVALID_FIELD);
		nvmf_request_complete(req);
		return;
	}
	if (req->cmd.opc == SL_NVME_OPC_FABRICS) {
		fabrics_exec(req);
		return;
	}
	if (qpair->state != NVMF_QPAIR_ACTIVE) {
		/* Nothing but Connect before Connect. */
		nvmf_request_set_status(req, SL_NVME_SCT_GENERIC,
					SL_NVME_SC_COMMAND_SEQUENCE_ERROR);
		nvmf_request_complete(req);
		return;
	}
	if (qpair->qid == 0)
		nvmf_ctrlr_admin_exec(req);
	else
		nvmf_io_exec(req);
}
