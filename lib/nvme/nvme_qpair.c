/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Queue pairs: rings in DMA memory, command ids from a per-queue tracker pool,
 * PRPs and SGLs built straight from iovecs, completions found by the phase
 * bit with one CQ head doorbell write per batch.
 */
#include "nvme_internal.h"

#include "sluice/env.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

static void *env_zmalloc(size_t size, size_t align)
{
	return sl_dma_zmalloc(size, align, NULL);
}

const struct nvme_mem_ops nvme_env_mem_ops = {
	.zmalloc = env_zmalloc,
	.free = sl_dma_free,
	.vtoiova = sl_vtoiova,
};

/* ---- PRP and SGL builders ---- */

int nvme_build_prps(struct sl_nvme_cmd *cmd, const struct iovec *iov, int iovcnt, uint32_t len,
		    uint64_t *list, uint64_t list_iova, uint32_t list_pages,
		    uint64_t (*vtoiova)(const void *, uint64_t *))
{
	uint64_t first_off, n, k = 0;
	uint64_t *cur = list;
	uint32_t slot = 0, page = 0;
	uint32_t left = len;

	if (unlikely(!len || iovcnt < 1))
		return -EINVAL;
	first_off = (uintptr_t)iov[0].iov_base & (NVME_PAGE_SIZE - 1);
	if (unlikely(first_off & 3))
		return -EINVAL; /* PRP entries are dword aligned */
	/* With the alignment rules below, every page boundary is an entry. */
	n = (first_off + len + NVME_PAGE_SIZE - 1) >> NVME_PAGE_SHIFT;

	for (int i = 0; i < iovcnt && left; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base;
		uint64_t rem = iov[i].iov_len < left ? iov[i].iov_len : left;

		if (unlikely(i > 0 && (va & (NVME_PAGE_SIZE - 1))))
			return -EINVAL;
		if (unlikely(rem < left && ((va + rem) & (NVME_PAGE_SIZE - 1))))
			return -EINVAL;
		left -= (uint32_t)rem;
		while (rem) {
			uint64_t seg = rem;
			uint64_t iova = vtoiova((const void *)va, &seg);

			if (unlikely(iova == SL_VTOIOVA_ERROR || !seg))
				return -EINVAL;
			rem -= seg;
			va += seg;
			while (seg) {
				uint64_t chunk = NVME_PAGE_SIZE - (iova & (NVME_PAGE_SIZE - 1));

				if (chunk > seg)
					chunk = (uint32_t)seg;
				if (k == 0) {
					cmd->dptr.prp.prp1 = iova;
				} else {
					if (slot == NVME_PRPS_PER_PAGE - 1 && n - k > 1) {
						/* Last slot chains to the next list page. */
						if (++page >= list_pages)
							return -E2BIG;
						cur[slot] =
							list_iova + (uint64_t)page * NVME_PAGE_SIZE;
						cur = list + (size_t)page * NVME_PRPS_PER_PAGE;
						slot = 0;
					}
					cur[slot++] = iova;
				}
				k++;
				iova += chunk;
				seg -= chunk;
			}
		}
	}
	if (unlikely(left || k != n))
		return -EINVAL;
	cmd->psdt = SL_NVME_PSDT_PRP;
	if (n == 1)
		cmd->dptr.prp.prp2 = 0;
	else if (n == 2)
		cmd->dptr.prp.prp2 = list[0];
	else
		cmd->dptr.prp.prp2 = list_iova;
	return 0;
}

static void sgl_set(struct sl_nvme_sgl_descriptor *d, uint64_t addr, uint32_t len, uint8_t type)
{
	d->address = addr;
	d->length = len;
	d->rsvd[0] = d->rsvd[1] = d->rsvd[2] = 0;
	d->subtype = SL_NVME_SGL_SUBTYPE_ADDRESS;
	d->type = type;
}

int nvme_build_sgl(struct sl_nvme_cmd *cmd, const struct iovec *iov, int iovcnt, uint32_t len,
		   struct sl_nvme_sgl_descriptor *list, uint64_t list_iova, uint32_t list_pages,
		   uint64_t (*vtoiova)(const void *, uint64_t *))
{
	uint32_t max = list_pages * NVME_SGLS_PER_PAGE, n = 0, left = len;
	struct sl_nvme_sgl_descriptor *sgl1 = (struct sl_nvme_sgl_descriptor *)cmd->dptr.sgl1;

	if (!len || iovcnt < 1)
		return -EINVAL;
	for (int i = 0; i < iovcnt && left; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base;
		uint64_t rem = iov[i].iov_len < left ? iov[i].iov_len : left;

		left -= (uint32_t)rem;
		while (rem) {
			uint64_t seg = rem;
			uint64_t iova = vtoiova((const void *)va, &seg);

			if (iova == SL_VTOIOVA_ERROR || !seg)
				return -EINVAL;
			if (n == max)
				return -E2BIG;
			sgl_set(&list[n++], iova, (uint32_t)seg, SL_NVME_SGL_TYPE_DATA_BLOCK);
			rem -= seg;
			va += seg;
		}
	}
	if (left)
		return -EINVAL;
	cmd->psdt = SL_NVME_PSDT_SGL_MPTR_CONTIG;
	if (n == 1)
		*sgl1 = list[0];
	else
		sgl_set(sgl1, list_iova, n * 16, SL_NVME_SGL_TYPE_LAST_SEGMENT);
	return 0;
}

/* ---- queue pair ---- */

int nvme_qpair_init(struct sl_nvme_qpair *qpair, struct sl_nvme_ctrlr *ctrlr, uint16_t qid,
		    uint16_t num_entries, uint32_t max_xfer, const struct nvme_mem_ops *mem)
{
	uint32_t ntr = num_entries - 1u;
	uint64_t sz;

	qpair->ctrlr = ctrlr;
	qpair->qid = qid;
	qpair->num_entries = num_entries;
	qpair->mem = mem;
	qpair->vtoiova = mem->vtoiova;
	qpair->max_xfer = max_xfer;
	/* Entries: one per page plus one for an offset; 511 usable per page, last chains. */
	qpair->list_pages = ((max_xfer / NVME_PAGE_SIZE + 1) + NVME_PRPS_PER_PAGE - 2) /
			    (NVME_PRPS_PER_PAGE - 1);
	if (qpair->list_pages < 1)
		qpair->list_pages = 1;

	qpair->sq = mem->zmalloc((size_t)num_entries * sizeof(struct sl_nvme_cmd), NVME_PAGE_SIZE);
	qpair->cq = mem->zmalloc((size_t)num_entries * sizeof(struct sl_nvme_cpl), NVME_PAGE_SIZE);
	qpair->trackers = calloc(ntr, sizeof(*qpair->trackers));
	qpair->free_cids = calloc(ntr, sizeof(*qpair->free_cids));
	qpair->list_mem =
		mem->zmalloc((size_t)ntr * qpair->list_pages * NVME_PAGE_SIZE, NVME_PAGE_SIZE);
	if (!qpair->sq || !qpair->cq || !qpair->trackers || !qpair->free_cids || !qpair->list_mem)
		goto out_free;

	sz = (uint64_t)num_entries * sizeof(struct sl_nvme_cmd);
	qpair->sq_iova = mem->vtoiova(qpair->sq, &sz);
	if (qpair->sq_iova == SL_VTOIOVA_ERROR || sz < (uint64_t)num_entries * 64)
		goto out_free;
	sz = (uint64_t)num_entries * sizeof(struct sl_nvme_cpl);
	qpair->cq_iova = mem->vtoiova((const void *)qpair->cq, &sz);
	if (qpair->cq_iova == SL_VTOIOVA_ERROR || sz < (uint64_t)num_entries * 16)
		goto out_free;
	for (uint32_t i = 0; i < ntr; i++) {
		struct nvme_tracker *tr = &qpair->trackers[i];

		tr->cid = (uint16_t)i;
		tr->list = (char *)qpair->list_mem + (size_t)i * qpair->list_pages * NVME_PAGE_SIZE;
		sz = (uint64_t)qpair->list_pages * NVME_PAGE_SIZE;
		tr->list_iova = mem->vtoiova(tr->list, &sz);
		if (tr->list_iova == SL_VTOIOVA_ERROR || sz < (uint64_t)qpair->list_pages * 4096)
			goto out_free;
	}
	qpair->sq_tdbl = nvme_sq_doorbell(ctrlr, qid);
	qpair->cq_hdbl = nvme_cq_doorbell(ctrlr, qid);
	qpair->use_sgl = ctrlr->opts.use_sgl && ctrlr->sgl_supported;
	nvme_qpair_reset_rings(qpair);
	return 0;

out_free:
	nvme_qpair_fini(qpair);
	return -ENOMEM;
}

void nvme_qpair_fini(struct sl_nvme_qpair *qpair)
{
	const struct nvme_mem_ops *mem = qpair->mem;

	mem->free(qpair->sq);
	mem->free((void *)qpair->cq);
	mem->free(qpair->list_mem);
	free(qpair->trackers);
	free(qpair->free_cids);
	qpair->sq = NULL;
	qpair->cq = NULL;
	qpair->list_mem = NULL;
	qpair->trackers = NULL;
	qpair->free_cids = NULL;
}

void nvme_qpair_reset_rings(struct sl_nvme_qpair *qpair)
{
	uint32_t ntr = qpair->num_entries - 1u;

	memset(qpair->sq, 0, (size_t)qpair->num_entries * sizeof(struct sl_nvme_cmd));
	memset((void *)qpair->cq, 0, (size_t)qpair->num_entries * sizeof(struct sl_nvme_cpl));
	qpair->sq_tail = 0;
	qpair->sq_head = 0;
	qpair->cq_head = 0;
	qpair->phase = 1;
	/* Hand out low cids first (stack: last pushed is popped first). */
	qpair->num_free = 0;
	for (uint32_t i = ntr; i-- > 0;)
		if (!qpair->trackers[i].active)
			qpair->free_cids[qpair->num_free++] = (uint16_t)i;
}

static void tracker_complete(struct sl_nvme_qpair *qpair, struct nvme_tracker *tr,
			     const struct sl_nvme_cpl *cpl)
{
	sl_nvme_cmd_cb cb = tr->cb;
	void *ctx = tr->cb_ctx;

	/* Free first: the callback may submit again and reuse the cid. */
	tr->active = false;
	tr->abort_sent = false;
	qpair->free_cids[qpair->num_free++] = tr->cid;
	if (cb)
		cb(ctx, cpl);
}

void nvme_qpair_fail_all(struct sl_nvme_qpair *qpair, uint8_t sc, bool dnr)
{
	uint32_t ntr = qpair->num_entries - 1u;

	for (uint32_t i = 0; i < ntr; i++) {
		struct nvme_tracker *tr = &qpair->trackers[i];
		struct sl_nvme_cpl cpl = { 0 };

		if (!tr->active)
			continue;
		cpl.cid = tr->cid;
		cpl.sqid = qpair->qid;
		cpl.status_raw = sl_nvme_status_make(SL_NVME_SCT_GENERIC, sc, dnr);
		tracker_complete(qpair, tr, &cpl);
	}
}

/* Controller reset or failure noticed on the owning thread. */
static int qpair_recover(struct sl_nvme_qpair *qpair);

int nvme_qpair_submit(struct sl_nvme_qpair *qpair, const struct sl_nvme_cmd *cmd,
		      const struct iovec *iov, int iovcnt, uint32_t len, sl_nvme_cmd_cb cb,
		      void *ctx)
{
	struct nvme_tracker *tr;
	struct sl_nvme_cmd *sqe;
	uint16_t cid;
	int rc;

	if (unlikely(qpair->state != NVME_QPAIR_ENABLED ||
		     qpair->generation !=
			     __atomic_load_n(&qpair->ctrlr->generation, __ATOMIC_ACQUIRE))) {
		rc = qpair_recover(qpair);
		if (rc)
			return rc;
	}
	if (unlikely(!qpair->num_free))
		return -ENOMEM;
	cid = qpair->free_cids[qpair->num_free - 1];
	tr = &qpair->trackers[cid];
	sqe = &qpair->sq[qpair->sq_tail];
	*sqe = *cmd;
	sqe->cid = cid;
	if (len) {
		uintptr_t va = (uintptr_t)iov[0].iov_base;

		if (likely(iovcnt == 1 && !qpair->use_sgl && len <= iov[0].iov_len &&
			   (va & (NVME_PAGE_SIZE - 1)) + len <= NVME_PAGE_SIZE && !(va & 3))) {
			/* One page: PRP1 only. */
			uint64_t iova = qpair->vtoiova((const void *)va, NULL);

			if (unlikely(iova == SL_VTOIOVA_ERROR))
				return -EINVAL;
			sqe->psdt = SL_NVME_PSDT_PRP;
			sqe->dptr.prp.prp1 = iova;
			sqe->dptr.prp.prp2 = 0;
		} else {
			if (unlikely(len > qpair->max_xfer))
				return -EINVAL;
			rc = -EINVAL;
			if (!qpair->use_sgl)
				rc = nvme_build_prps(sqe, iov, iovcnt, len, tr->list, tr->list_iova,
						     qpair->list_pages, qpair->vtoiova);
			if (rc && qpair->ctrlr->sgl_supported)
				rc = nvme_build_sgl(sqe, iov, iovcnt, len, tr->list, tr->list_iova,
						    qpair->list_pages, qpair->vtoiova);
			if (unlikely(rc))
				return rc;
		}
	}
	qpair->num_free--;
	tr->cb = cb;
	tr->cb_ctx = ctx;
	tr->active = true;
	if (qpair->timeout_ticks)
		tr->submit_tick = sl_get_ticks();
	if (unlikely(++qpair->sq_tail == qpair->num_entries))
		qpair->sq_tail = 0;
	/* The SQE must be visible before the doorbell write that hands it over. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	*qpair->sq_tdbl = qpair->sq_tail;
	return 0;
}

static int32_t qpair_reap(struct sl_nvme_qpair *qpair, uint32_t max)
{
	uint32_t ntr = qpair->num_entries - 1u;
	int32_t n = 0;

	for (;;) {
		volatile struct sl_nvme_cpl *vcpl = &qpair->cq[qpair->cq_head];
		const struct sl_nvme_cpl *cpl = (const struct sl_nvme_cpl *)vcpl;
		struct nvme_tracker *tr;
		uint16_t cid;

		if ((vcpl->status_raw & 1) != qpair->phase)
			break;
		/* Read the rest of the entry only after seeing its phase bit. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (unlikely(++qpair->cq_head == qpair->num_entries)) {
			qpair->cq_head = 0;
			qpair->phase ^= 1;
		}
		qpair->sq_head = cpl->sqhd;
		cid = cpl->cid;
		if (unlikely(cid >= ntr || !qpair->trackers[cid].active)) {
			SL_ERRLOG("%s: qpair %u: completion for unknown cid %u ignored",
				  qpair->ctrlr->traddr, qpair->qid, cid);
			continue;
		}
		tr = &qpair->trackers[cid];
		tracker_complete(qpair, tr, cpl);
		if (++n == (int32_t)max)
			break;
	}
	if (n)
		*qpair->cq_hdbl = qpair->cq_head;
	return n;
}

int32_t nvme_qpair_process(struct sl_nvme_qpair *qpair, uint32_t max)
{
	int32_t n;

	if (unlikely(qpair->state != NVME_QPAIR_ENABLED ||
		     qpair->generation !=
			     __atomic_load_n(&qpair->ctrlr->generation, __ATOMIC_ACQUIRE))) {
		int rc = qpair_recover(qpair);

		if (rc && rc != -EAGAIN)
			return rc;
		if (rc)
			return 0;
	}
	n = qpair_reap(qpair, max);
	if (unlikely(qpair->timeout_ticks) && qpair->qid != NVME_ADMIN_QID)
		nvme_qpair_check_timeouts(qpair);
	return n;
}

static int qpair_recover(struct sl_nvme_qpair *qpair)
{
	struct sl_nvme_ctrlr *ctrlr = qpair->ctrlr;

	if (qpair->state == NVME_QPAIR_ENABLED) {
		/*
		 * The controller was disabled by a reset: it writes no more
		 * completions, so reap what it posted, then fail the rest.
		 */
		qpair_reap(qpair, 0);
		qpair->state = NVME_QPAIR_DISCONNECTED;
		nvme_qpair_fail_all(qpair, SL_NVME_SC_ABORTED_SQ_DELETION, false);
	}
	if (qpair->state == NVME_QPAIR_FAILED)
		return -ENXIO;
	if (__atomic_load_n(&ctrlr->failed, __ATOMIC_ACQUIRE)) {
		qpair->state = NVME_QPAIR_FAILED;
		return -ENXIO;
	}
	if (__atomic_load_n(&ctrlr->resetting, __ATOMIC_ACQUIRE) || qpair->qid == NVME_ADMIN_QID)
		return -EAGAIN; /* the admin queue comes back with the reset itself */
	return nvme_qpair_reconnect(qpair);
}

uint32_t sl_nvme_qpair_outstanding(const struct sl_nvme_qpair *qpair)
{
	return (qpair->num_entries - 1u) - qpair->num_free;
}

int32_t sl_nvme_qpair_process_completions(struct sl_nvme_qpair *qpair, uint32_t max)
{
	return nvme_qpair_process(qpair, max);
}
