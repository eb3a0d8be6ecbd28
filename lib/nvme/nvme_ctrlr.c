/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Controller: bring-up per the NVMe base specification (disable, admin
 * queues, CC, enable, identify, number of queues, AERs, namespaces), I/O
 * qpair creation, reset with qpair reconnect, timeouts, shutdown.
 */
#include "nvme_internal.h"

#include "sluice/env.h"
#include "sluice/vfio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NS_LIST_ENTRIES 1024
#define MAX_NS 1024
#define DEFAULT_MAX_XFER (1u << 20)

SL_LOG_REGISTER_COMPONENT(nvme)

uint64_t nvme_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

void sl_nvme_ctrlr_opts_init(struct sl_nvme_ctrlr_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->num_io_queues = 64;
	opts->io_queue_size = 256;
	opts->admin_queue_size = 32;
	opts->admin_timeout_us = 30ULL * 1000 * 1000;
}

int nvme_ctrlr_construct(struct sl_nvme_ctrlr *ctrlr, volatile void *regs,
			 const struct sl_nvme_ctrlr_opts *opts, const struct nvme_mem_ops *mem)
{
	pthread_mutexattr_t attr;

	if (opts)
		ctrlr->opts = *opts;
	else
		sl_nvme_ctrlr_opts_init(&ctrlr->opts);
	if (!ctrlr->opts.admin_queue_size)
		ctrlr->opts.admin_queue_size = 32;
	if (ctrlr->opts.admin_queue_size < 2 || ctrlr->opts.admin_queue_size > 4096)
		return -EINVAL;
	if (!ctrlr->opts.admin_timeout_us)
		ctrlr->opts.admin_timeout_us = 30ULL * 1000 * 1000;
	ctrlr->regs = regs;
	ctrlr->dbells = (volatile uint32_t *)((volatile uint8_t *)regs + SL_NVME_REG_DOORBELL_BASE);
	ctrlr->mem = mem;
	ctrlr->cap.raw = nvme_reg_read8(ctrlr, SL_NVME_REG_CAP);
	ctrlr->vs = nvme_reg_read4(ctrlr, SL_NVME_REG_VS);
	ctrlr->dstrd_words = 1u << ctrlr->cap.bits.dstrd;
	ctrlr->max_xfer_size = DEFAULT_MAX_XFER;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&ctrlr->lock, &attr);
	pthread_mutexattr_destroy(&attr);

	ctrlr->cdata = mem->zmalloc(sizeof(*ctrlr->cdata), NVME_PAGE_SIZE);
	ctrlr->active_ns_list = mem->zmalloc(NS_LIST_ENTRIES * 4, NVME_PAGE_SIZE);
	ctrlr->adminq = calloc(1, sizeof(*ctrlr->adminq));
	if (!ctrlr->cdata || !ctrlr->active_ns_list || !ctrlr->adminq)
		return -ENOMEM;
	/* Admin commands carry at most 4 KiB here (identify, log pages). */
	return nvme_qpair_init(ctrlr->adminq, ctrlr, NVME_ADMIN_QID,
			       (uint16_t)ctrlr->opts.admin_queue_size, 64 * 1024, mem);
}

void nvme_ctrlr_destruct(struct sl_nvme_ctrlr *ctrlr)
{
	const struct nvme_mem_ops *mem = ctrlr->mem;

	if (ctrlr->adminq && ctrlr->adminq->sq)
		nvme_qpair_fini(ctrlr->adminq);
	free(ctrlr->adminq);
	for (uint32_t i = 0; ctrlr->ns && i < ctrlr->num_ns; i++)
		mem->free(ctrlr->ns[i].data);
	free(ctrlr->ns);
	free(ctrlr->qid_used);
	mem->free(ctrlr->cdata);
	mem->free(ctrlr->active_ns_list);
	pthread_mutex_destroy(&ctrlr->lock);
}

static uint64_t ready_timeout_us(const struct sl_nvme_ctrlr *ctrlr)
{
	uint64_t to = ctrlr->cap.bits.to ? ctrlr->cap.bits.to : 1;

	return to * 500 * 1000;
}

/* Wait for CSTS.RDY == want within CAP.TO. */
static int wait_ready(struct sl_nvme_ctrlr *ctrlr, uint32_t want)
{
	uint64_t deadline = nvme_now_us() + ready_timeout_us(ctrlr);

	for (;;) {
		union sl_nvme_csts_register csts;

		csts.raw = nvme_reg_read4(ctrlr, SL_NVME_REG_CSTS);
		if (csts.raw == 0xffffffffu) {
			SL_ERRLOG("%s: CSTS reads all ones: device gone", ctrlr->traddr);
			return -ENODEV;
		}
		if (csts.bits.rdy == want)
			return 0;
		if (want && csts.bits.cfs) {
			SL_ERRLOG("%s: controller fatal status while enabling", ctrlr->traddr);
			return -EIO;
		}
		if (nvme_now_us() > deadline) {
			SL_ERRLOG("%s: CSTS.RDY did not become %u within CAP.TO (%llu ms)",
				  ctrlr->traddr, want,
				  (unsigned long long)ready_timeout_us(ctrlr) / 1000);
			return -ETIMEDOUT;
		}
		usleep(1000);
	}
}

int nvme_ctrlr_disable(struct sl_nvme_ctrlr *ctrlr)
{
	union sl_nvme_cc_register cc;
	union sl_nvme_csts_register csts;
	int rc;

	cc.raw = nvme_reg_read4(ctrlr, SL_NVME_REG_CC);
	csts.raw = nvme_reg_read4(ctrlr, SL_NVME_REG_CSTS);
	if (cc.bits.en && !csts.bits.rdy && !csts.bits.cfs) {
		/* Enabling in progress: let it finish before clearing EN. */
		rc = wait_ready(ctrlr, 1);
		if (rc == -ENODEV)
			return rc;
	}
	cc.bits.en = 0;
	cc.bits.shn = SL_NVME_SHN_NONE;
	nvme_reg_write4(ctrlr, SL_NVME_REG_CC, cc.raw);
	return wait_ready(ctrlr, 0);
}

int nvme_ctrlr_enable(struct sl_nvme_ctrlr *ctrlr)
{
	struct sl_nvme_qpair *aq = ctrlr->adminq;
	union sl_nvme_aqa_register aqa = { 0 };
	union sl_nvme_cc_register cc = { 0 };
	int rc;

	if (!(ctrlr->cap.bits.css & 1)) {
		SL_ERRLOG("%s: controller does not support the NVM command set (CAP.CSS 0x%x)",
			  ctrlr->traddr, (unsigned)ctrlr->cap.bits.css);
		return -ENOTSUP;
	}
	if (ctrlr->cap.bits.mpsmin > 0) {
		SL_ERRLOG("%s: minimum memory page size %u is above 4 KiB", ctrlr->traddr,
			  1u << (12 + ctrlr->cap.bits.mpsmin));
		return -ENOTSUP;
	}
	rc = nvme_ctrlr_disable(ctrlr);
	if (rc)
		return rc;
	nvme_qpair_reset_rings(aq);
	aqa.bits.asqs = aq->num_entries - 1u;
	aqa.bits.acqs = aq->num_entries - 1u;
	nvme_reg_write4(ctrlr, SL_NVME_REG_AQA, aqa.raw);
	nvme_reg_write8(ctrlr, SL_NVME_REG_ASQ, aq->sq_iova);
	nvme_reg_write8(ctrlr, SL_NVME_REG_ACQ, aq->cq_iova);
	cc.bits.en = 1;
	cc.bits.css = 0;
	cc.bits.mps = 0;
	cc.bits.ams = 0;
	cc.bits.shn = SL_NVME_SHN_NONE;
	cc.bits.iosqes = 6;
	cc.bits.iocqes = 4;
	nvme_reg_write4(ctrlr, SL_NVME_REG_CC, cc.raw);
	rc = wait_ready(ctrlr, 1);
	if (rc)
		return rc;
	aq->generation = ctrlr->generation;
	aq->state = NVME_QPAIR_ENABLED;
	return 0;
}

/* ---- admin commands ---- */

struct sync_ctx {
	bool done;
	struct sl_nvme_cpl cpl;
};

static void sync_cb(void *ctx, const struct sl_nvme_cpl *cpl)
{
	struct sync_ctx *s = ctx;

	s->cpl = *cpl;
	s->done = true;
}

static void admin_process_locked(struct sl_nvme_ctrlr *ctrlr);

int nvme_ctrlr_admin_sync(struct sl_nvme_ctrlr *ctrlr, struct sl_nvme_cmd *cmd, void *buf,
			  uint32_t len, struct sl_nvme_cpl *cpl)
{
	struct sync_ctx s = { 0 };
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	uint64_t deadline;
	uint16_t cid = 0;
	int rc;

	pthread_mutex_lock(&ctrlr->lock);
	if (ctrlr->adminq->num_free)
		cid = ctrlr->adminq->free_cids[ctrlr->adminq->num_free - 1];
	rc = nvme_qpair_submit(ctrlr->adminq, cmd, &iov, 1, buf ? len : 0, sync_cb, &s);
	if (rc) {
		pthread_mutex_unlock(&ctrlr->lock);
		return rc;
	}
	deadline = nvme_now_us() + ctrlr->opts.admin_timeout_us;
	while (!s.done) {
		int32_t n = nvme_qpair_process(ctrlr->adminq, 0);

		if (n < 0 || (!s.done && nvme_now_us() > deadline)) {
			/* Never let a late completion write into this stack frame. */
			if (!s.done)
				ctrlr->adminq->trackers[cid].cb = NULL;
			SL_ERRLOG("%s: admin command 0x%02x %s", ctrlr->traddr, cmd->opc,
				  n < 0 ? "failed: controller unusable" : "timed out");
			pthread_mutex_unlock(&ctrlr->lock);
			return n < 0 ? (int)n : -ETIMEDOUT;
		}
		if (!s.done && n == 0)
			usleep(10);
	}
	pthread_mutex_unlock(&ctrlr->lock);
	if (cpl)
		*cpl = s.cpl;
	if (sl_nvme_cpl_is_error(&s.cpl)) {
		SL_DEBUGLOG(nvme, "%s: admin command 0x%02x: %s", ctrlr->traddr, cmd->opc,
			    sl_nvme_cpl_status_string(&s.cpl));
		return -EIO;
	}
	return 0;
}

int sl_nvme_ctrlr_cmd_admin_raw(struct sl_nvme_ctrlr *ctrlr, const struct sl_nvme_cmd *cmd,
				void *buf, uint32_t len, sl_nvme_cmd_cb cb, void *ctx)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	int rc;

	if (len && !buf)
		return -EINVAL;
	pthread_mutex_lock(&ctrlr->lock);
	rc = nvme_qpair_submit(ctrlr->adminq, cmd, &iov, 1, buf ? len : 0, cb, ctx);
	pthread_mutex_unlock(&ctrlr->lock);
	return rc;
}

static int identify(struct sl_nvme_ctrlr *ctrlr, uint8_t cns, uint32_t nsid, void *buf)
{
	struct sl_nvme_cmd cmd = { .opc = SL_NVME_OPC_IDENTIFY, .nsid = nsid, .cdw10 = cns };

	return nvme_ctrlr_admin_sync(ctrlr, &cmd, buf, 4096, NULL);
}

static void aer_cb(void *ctx, const struct sl_nvme_cpl *cpl);

static int submit_aers(struct sl_nvme_ctrlr *ctrlr)
{
	uint32_t want = (uint32_t)ctrlr->cdata->aerl + 1;

	if (want > NVME_MAX_AERS)
		want = NVME_MAX_AERS;
	while (ctrlr->aers_outstanding < want) {
		struct sl_nvme_cmd cmd = { .opc = SL_NVME_OPC_ASYNC_EVENT_REQUEST };
		int rc = nvme_qpair_submit(ctrlr->adminq, &cmd, NULL, 0, 0, aer_cb, ctrlr);

		if (rc)
			return rc;
		ctrlr->aers_outstanding++;
	}
	return 0;
}

static void aer_cb(void *ctx, const struct sl_nvme_cpl *cpl)
{
	struct sl_nvme_ctrlr *ctrlr = ctx;
	uint32_t type = cpl->cdw0 & 7, info = (cpl->cdw0 >> 8) & 0xff;

	ctrlr->aers_outstanding--;
	if (sl_nvme_cpl_is_error(cpl))
		return; /* aborted by a reset or the limit was exceeded: not re-armed here */
	SL_INFOLOG("%s: asynchronous event type %u info 0x%x log page 0x%x", ctrlr->traddr, type,
		   info, (cpl->cdw0 >> 16) & 0xff);
	if (type == SL_NVME_ASYNC_EVENT_TYPE_NOTICE && info == SL_NVME_ASYNC_EVENT_NS_ATTR_CHANGED)
		ctrlr->ns_refresh_needed = true;
	if (ctrlr->aer_cb)
		ctrlr->aer_cb(ctrlr->aer_ctx, cpl->cdw0);
	/* Re-armed (and the changed-namespace log read) by admin_process_locked. */
}

static int ns_update(struct sl_nvme_ctrlr *ctrlr, struct sl_nvme_ns *ns)
{
	struct sl_nvme_ns_data *d = ns->data;
	uint32_t fmt, lbads;
	int rc;

	rc = identify(ctrlr, SL_NVME_CNS_NS, ns->id, d);
	if (rc) {
		ns->active = false;
		return rc;
	}
	if (!d->nsze) {
		ns->active = false;
		return 0;
	}
	fmt = (d->flbas & 0xf) | (((uint32_t)d->flbas >> 5 & 3) << 4);
	lbads = fmt <= d->nlbaf && fmt < 64 ? d->lbaf[fmt].lbads : 0;
	if (lbads < 9 || lbads > 16 || d->ncap > d->nsze) {
		SL_ERRLOG("%s: namespace %u reports garbage (format %u, LBA data size 2^%u, "
			  "nsze %llu): ignored",
			  ctrlr->traddr, ns->id, fmt, lbads, (unsigned long long)d->nsze);
		ns->active = false;
		return -EIO;
	}
	ns->sector_shift = lbads;
	ns->sector_size = 1u << lbads;
	ns->num_sectors = d->nsze;
	ns->max_lba_count = ctrlr->max_xfer_size >> lbads;
	ns->active = true;
	return 0;
}

/* Re-read the active namespace list and every active namespace. */
static int ns_refresh(struct sl_nvme_ctrlr *ctrlr)
{
	bool *active = calloc(ctrlr->num_ns + 1, sizeof(bool));
	int rc;

	if (!active)
		return -ENOMEM;
	if (ctrlr->vs >= SL_NVME_VERSION(1, 1, 0)) {
		uint32_t last = 0;

		/* 1024 NSIDs per page, each page starting after the last one seen. */
		for (;;) {
			rc = identify(ctrlr, SL_NVME_CNS_ACTIVE_NS_LIST, last,
				      ctrlr->active_ns_list);
			if (rc)
				goto out;
			for (uint32_t i = 0; i < NS_LIST_ENTRIES; i++) {
				uint32_t nsid = ctrlr->active_ns_list[i];

				if (!nsid)
					goto done;
				if (nsid <= last) {
					rc = -EIO; /* list must increase */
					goto out;
				}
				last = nsid;
				if (nsid <= ctrlr->num_ns)
					active[nsid] = true;
			}
		}
	} else {
		for (uint32_t i = 1; i <= ctrlr->num_ns; i++)
			active[i] = true;
	}
done:
	for (uint32_t i = 1; i <= ctrlr->num_ns; i++) {
		struct sl_nvme_ns *ns = &ctrlr->ns[i - 1];

		if (active[i])
			ns_update(ctrlr, ns);
		else
			ns->active = false;
	}
	rc = 0;
out:
	free(active);
	return rc;
}

int nvme_ctrlr_start(struct sl_nvme_ctrlr *ctrlr)
{
	const struct sl_nvme_ctrlr_data *cd = ctrlr->cdata;
	struct sl_nvme_cmd cmd;
	struct sl_nvme_cpl cpl;
	uint32_t nq, nn;
	int rc;

	rc = identify(ctrlr, SL_NVME_CNS_CTRLR, 0, ctrlr->cdata);
	if (rc) {
		SL_ERRLOG("%s: Identify Controller failed", ctrlr->traddr);
		return -EIO;
	}
	if ((cd->sqes & 0xf) > 6 || (cd->sqes >> 4) < 6 || (cd->cqes & 0xf) > 4 ||
	    (cd->cqes >> 4) < 4) {
		SL_ERRLOG("%s: Identify Controller reports unusable queue entry sizes "
			  "(SQES 0x%02x, CQES 0x%02x)",
			  ctrlr->traddr, cd->sqes, cd->cqes);
		return -EIO;
	}
	ctrlr->max_xfer_size = DEFAULT_MAX_XFER;
	if (cd->mdts && cd->mdts < 20 && (NVME_PAGE_SIZE << cd->mdts) < ctrlr->max_xfer_size)
		ctrlr->max_xfer_size = NVME_PAGE_SIZE << cd->mdts;
	ctrlr->sgl_supported = (cd->sgls & 3) != 0;

	/* Number of queues: 0's based in both halves of cdw11 and the result. */
	nq = ctrlr->opts.num_io_queues ? ctrlr->opts.num_io_queues : 1;
	if (nq > 65535)
		nq = 65535;
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = SL_NVME_OPC_SET_FEATURES;
	cmd.cdw10 = SL_NVME_FEAT_NUMBER_OF_QUEUES;
	cmd.cdw11 = (nq - 1) | ((nq - 1) << 16);
	rc = nvme_ctrlr_admin_sync(ctrlr, &cmd, NULL, 0, &cpl);
	if (rc) {
		SL_ERRLOG("%s: Set Features (Number of Queues) failed", ctrlr->traddr);
		return -EIO;
	}
	{
		uint32_t nsq = (cpl.cdw0 & 0xffff) + 1, ncq = (cpl.cdw0 >> 16) + 1;
		uint32_t granted = nsq < ncq ? nsq : ncq;

		if (granted < nq)
			nq = granted;
	}
	if (!ctrlr->qid_used) {
		ctrlr->num_io_queues = nq;
		ctrlr->qid_used = calloc(nq + 1, 1);
		if (!ctrlr->qid_used)
			return -ENOMEM;
	} else if (nq < ctrlr->num_io_queues) {
		SL_WARNLOG("%s: after reset only %u I/O queues are granted (had %u)", ctrlr->traddr,
			   nq, ctrlr->num_io_queues);
	}

	if (cd->oaes & SL_NVME_OAES_NS_ATTRIBUTE_NOTICES) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = SL_NVME_OPC_SET_FEATURES;
		cmd.cdw10 = SL_NVME_FEAT_ASYNC_EVENT_CONFIGURATION;
		cmd.cdw11 = SL_NVME_AEC_NS_ATTR_NOTICES | 0xff; /* and SMART warnings */
		if (nvme_ctrlr_admin_sync(ctrlr, &cmd, NULL, 0, NULL))
			SL_WARNLOG("%s: enabling namespace attribute notices failed",
				   ctrlr->traddr);
	}

	nn = cd->nn;
	if (nn > MAX_NS) {
		SL_WARNLOG("%s: %u namespaces reported; only NSIDs up to %u are used",
			   ctrlr->traddr, nn, MAX_NS);
		nn = MAX_NS;
	}
	if (!ctrlr->ns) {
		ctrlr->num_ns = nn;
		ctrlr->ns = calloc(nn ? nn : 1, sizeof(*ctrlr->ns));
		if (!ctrlr->ns)
			return -ENOMEM;
		for (uint32_t i = 0; i < nn; i++) {
			ctrlr->ns[i].ctrlr = ctrlr;
			ctrlr->ns[i].id = i + 1;
			ctrlr->ns[i].data = ctrlr->mem->zmalloc(4096, NVME_PAGE_SIZE);
			if (!ctrlr->ns[i].data)
				return -ENOMEM;
		}
	}
	rc = ns_refresh(ctrlr);
	if (rc) {
		SL_ERRLOG("%s: reading the namespace list failed", ctrlr->traddr);
		return rc;
	}
	pthread_mutex_lock(&ctrlr->lock);
	rc = submit_aers(ctrlr);
	pthread_mutex_unlock(&ctrlr->lock);
	return rc;
}

/* ---- admin queue polling, AERs, resets ---- */

static void admin_process_locked(struct sl_nvme_ctrlr *ctrlr)
{
	nvme_qpair_process(ctrlr->adminq, 0);
	if (ctrlr->ns_refresh_needed) {
		void *buf = ctrlr->mem->zmalloc(4096, NVME_PAGE_SIZE);

		ctrlr->ns_refresh_needed = false;
		if (buf) {
			/* Reading the changed namespace list clears the event. */
			struct sl_nvme_cmd cmd = {
				.opc = SL_NVME_OPC_GET_LOG_PAGE,
				.nsid = 0xffffffffu,
				.cdw10 = SL_NVME_LOG_CHANGED_NS_LIST | ((4096 / 4 - 1) << 16),
			};

			nvme_ctrlr_admin_sync(ctrlr, &cmd, buf, 4096, NULL);
			ctrlr->mem->free(buf);
		}
		ns_refresh(ctrlr);
	}
	if (!ctrlr->resetting && !ctrlr->failed)
		submit_aers(ctrlr);
}

int32_t sl_nvme_ctrlr_process_admin_completions(struct sl_nvme_ctrlr *ctrlr)
{
	int32_t n;

	if (__atomic_load_n(&ctrlr->reset_requested, __ATOMIC_ACQUIRE)) {
		ctrlr->reset_requested = false;
		SL_WARNLOG("%s: resetting after a command timed out", ctrlr->traddr);
		sl_nvme_ctrlr_reset(ctrlr);
	}
	if (pthread_mutex_trylock(&ctrlr->lock))
		return 0;
	n = nvme_qpair_process(ctrlr->adminq, 0);
	if (n >= 0)
		admin_process_locked(ctrlr);
	pthread_mutex_unlock(&ctrlr->lock);
	return n;
}

void sl_nvme_ctrlr_register_aer_callback(struct sl_nvme_ctrlr *ctrlr, sl_nvme_aer_cb cb, void *ctx)
{
	pthread_mutex_lock(&ctrlr->lock);
	ctrlr->aer_cb = cb;
	ctrlr->aer_ctx = ctx;
	pthread_mutex_unlock(&ctrlr->lock);
}

int sl_nvme_ctrlr_reset(struct sl_nvme_ctrlr *ctrlr)
{
	int rc;

	pthread_mutex_lock(&ctrlr->lock);
	if (ctrlr->failed) {
		pthread_mutex_unlock(&ctrlr->lock);
		return -ENXIO;
	}
	__atomic_store_n(&ctrlr->resetting, true, __ATOMIC_RELEASE);
	rc = nvme_ctrlr_disable(ctrlr);
	/* I/O qpairs see the new generation, reap, fail what is left, reconnect. */
	__atomic_add_fetch(&ctrlr->generation, 1, __ATOMIC_ACQ_REL);
	ctrlr->adminq->state = NVME_QPAIR_DISCONNECTED;
	nvme_qpair_fail_all(ctrlr->adminq, SL_NVME_SC_ABORTED_SQ_DELETION, false);
	ctrlr->aers_outstanding = 0;
	if (!rc)
		rc = nvme_ctrlr_enable(ctrlr);
	__atomic_store_n(&ctrlr->resetting, false, __ATOMIC_RELEASE);
	if (!rc)
		rc = nvme_ctrlr_start(ctrlr);
	if (rc) {
		SL_ERRLOG("%s: controller did not come back from reset: failed", ctrlr->traddr);
		__atomic_store_n(&ctrlr->failed, true, __ATOMIC_RELEASE);
		rc = -EIO;
	} else {
		SL_NOTICELOG("%s: controller reset done", ctrlr->traddr);
	}
	pthread_mutex_unlock(&ctrlr->lock);
	return rc;
}

bool sl_nvme_ctrlr_is_failed(const struct sl_nvme_ctrlr *ctrlr)
{
	return __atomic_load_n(&ctrlr->failed, __ATOMIC_ACQUIRE);
}

/* ---- I/O qpairs ---- */

static int create_io_queues(struct sl_nvme_qpair *qpair)
{
	struct sl_nvme_ctrlr *ctrlr = qpair->ctrlr;
	struct sl_nvme_cmd cmd = { 0 };
	int rc;

	cmd.opc = SL_NVME_OPC_CREATE_IO_CQ;
	cmd.dptr.prp.prp1 = qpair->cq_iova;
	cmd.cdw10 = ((uint32_t)(qpair->num_entries - 1) << 16) | qpair->qid;
	cmd.cdw11 = 1; /* physically contiguous, interrupts off */
	rc = nvme_ctrlr_admin_sync(ctrlr, &cmd, NULL, 0, NULL);
	if (rc) {
		SL_ERRLOG("%s: Create I/O CQ %u failed", ctrlr->traddr, qpair->qid);
		return rc;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = SL_NVME_OPC_CREATE_IO_SQ;
	cmd.dptr.prp.prp1 = qpair->sq_iova;
	cmd.cdw10 = ((uint32_t)(qpair->num_entries - 1) << 16) | qpair->qid;
	cmd.cdw11 = ((uint32_t)qpair->qid << 16) | 1;
	rc = nvme_ctrlr_admin_sync(ctrlr, &cmd, NULL, 0, NULL);
	if (rc) {
		SL_ERRLOG("%s: Create I/O SQ %u failed", ctrlr->traddr, qpair->qid);
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = SL_NVME_OPC_DELETE_IO_CQ;
		cmd.cdw10 = qpair->qid;
		nvme_ctrlr_admin_sync(ctrlr, &cmd, NULL, 0, NULL);
	}
	return rc;
}

int nvme_qpair_reconnect(struct sl_nvme_qpair *qpair)
{
	struct sl_nvme_ctrlr *ctrlr = qpair->ctrlr;
	int rc;

	pthread_mutex_lock(&ctrlr->lock);
	if (ctrlr->resetting) {
		pthread_mutex_unlock(&ctrlr->lock);
		return -EAGAIN;
	}
	nvme_qpair_reset_rings(qpair);
	qpair->generation = ctrlr->generation;
	rc = create_io_queues(qpair);
	if (rc == 0)
		qpair->state = NVME_QPAIR_ENABLED;
	pthread_mutex_unlock(&ctrlr->lock);
	if (rc)
		SL_ERRLOG("%s: qpair %u could not reconnect after reset", ctrlr->traddr,
			  qpair->qid);
	else
		SL_INFOLOG("%s: qpair %u reconnected", ctrlr->traddr, qpair->qid);
	return rc ? -EAGAIN : 0;
}

struct sl_nvme_qpair *sl_nvme_ctrlr_alloc_io_qpair(struct sl_nvme_ctrlr *ctrlr,
						   const struct sl_nvme_io_qpair_opts *opts)
{
	struct sl_nvme_qpair *qpair;
	uint32_t size =
		opts && opts->io_queue_size ? opts->io_queue_size : ctrlr->opts.io_queue_size;
	uint32_t qid = 0;

	if (!size)
		size = 256;
	if (size > (uint32_t)ctrlr->cap.bits.mqes + 1)
		size = (uint32_t)ctrlr->cap.bits.mqes + 1;
	if (size < 2)
		size = 2;
	pthread_mutex_lock(&ctrlr->lock);
	if (ctrlr->failed)
		goto out_unlock;
	for (uint32_t i = 1; i <= ctrlr->num_io_queues; i++) {
		if (!ctrlr->qid_used[i]) {
			qid = i;
			break;
		}
	}
	if (!qid) {
		SL_ERRLOG("%s: all %u I/O queues are in use", ctrlr->traddr, ctrlr->num_io_queues);
		goto out_unlock;
	}
	qpair = calloc(1, sizeof(*qpair));
	if (!qpair)
		goto out_unlock;
	if (nvme_qpair_init(qpair, ctrlr, (uint16_t)qid, (uint16_t)size, ctrlr->max_xfer_size,
			    ctrlr->mem)) {
		free(qpair);
		goto out_unlock;
	}
	if (ctrlr->opts.io_timeout_us)
		qpair->timeout_ticks = ctrlr->opts.io_timeout_us * sl_get_ticks_hz() / 1000000;
	qpair->generation = ctrlr->generation;
	if (create_io_queues(qpair)) {
		nvme_qpair_fini(qpair);
		free(qpair);
		goto out_unlock;
	}
	qpair->state = NVME_QPAIR_ENABLED;
	ctrlr->qid_used[qid] = 1;
	qpair->next = ctrlr->io_qpairs;
	ctrlr->io_qpairs = qpair;
	pthread_mutex_unlock(&ctrlr->lock);
	return qpair;
out_unlock:
	pthread_mutex_unlock(&ctrlr->lock);
	return NULL;
}

int sl_nvme_ctrlr_free_io_qpair(struct sl_nvme_qpair *qpair)
{
	struct sl_nvme_ctrlr *ctrlr;
	struct sl_nvme_cmd cmd = { 0 };

	if (!qpair)
		return 0;
	ctrlr = qpair->ctrlr;
	pthread_mutex_lock(&ctrlr->lock);
	if (qpair->state == NVME_QPAIR_ENABLED && qpair->generation == ctrlr->generation &&
	    !ctrlr->failed) {
		cmd.opc = SL_NVME_OPC_DELETE_IO_SQ;
		cmd.cdw10 = qpair->qid;
		nvme_ctrlr_admin_sync(ctrlr, &cmd, NULL, 0, NULL);
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = SL_NVME_OPC_DELETE_IO_CQ;
		cmd.cdw10 = qpair->qid;
		nvme_ctrlr_admin_sync(ctrlr, &cmd, NULL, 0, NULL);
	}
	nvme_qpair_fail_all(qpair, SL_NVME_SC_ABORTED_SQ_DELETION, true);
	ctrlr->qid_used[qpair->qid] = 0;
	for (struct sl_nvme_qpair **p = &ctrlr->io_qpairs; *p; p = &(*p)->next) {
		if (*p == qpair) {
			*p = qpair->next;
			break;
		}
	}
	pthread_mutex_unlock(&ctrlr->lock);
	nvme_qpair_fini(qpair);
	free(qpair);
	return 0;
}

/* ---- timeouts: abort first, reset if the abort did not help ---- */

void nvme_qpair_check_timeouts(struct sl_nvme_qpair *qpair)
{
	struct sl_nvme_ctrlr *ctrlr = qpair->ctrlr;
	uint64_t now = sl_get_ticks();
	uint32_t ntr = qpair->num_entries - 1u;

	if (now < qpair->next_timeout_check)
		return;
	qpair->next_timeout_check = now + qpair->timeout_ticks / 4;
	for (uint32_t i = 0; i < ntr; i++) {
		struct nvme_tracker *tr = &qpair->trackers[i];

		if (!tr->active || now - tr->submit_tick < qpair->timeout_ticks)
			continue;
		if (!tr->abort_sent) {
			struct sl_nvme_cmd cmd = {
				.opc = SL_NVME_OPC_ABORT,
				.cdw10 = qpair->qid | ((uint32_t)tr->cid << 16),
			};

			SL_WARNLOG("%s: qpair %u cid %u timed out: aborting", ctrlr->traddr,
				   qpair->qid, tr->cid);
			tr->abort_sent = true;
			tr->submit_tick = now;
			sl_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, NULL, 0, NULL, NULL);
		} else {
			SL_WARNLOG("%s: qpair %u cid %u still outstanding after abort: "
				   "requesting a controller reset",
				   ctrlr->traddr, qpair->qid, tr->cid);
			__atomic_store_n(&ctrlr->reset_requested, true, __ATOMIC_RELEASE);
			tr->submit_tick = now;
		}
	}
}

/* ---- shutdown ---- */

int nvme_ctrlr_shutdown(struct sl_nvme_ctrlr *ctrlr)
{
	union sl_nvme_cc_register cc;
	uint64_t deadline;
	uint32_t rtd3e = ctrlr->cdata ? ctrlr->cdata->rtd3e : 0;
	uint64_t wait_us = rtd3e ? rtd3e : 10ULL * 1000 * 1000;

	if (wait_us < 1000 * 1000)
		wait_us = 1000 * 1000;
	if (wait_us > 60ULL * 1000 * 1000)
		wait_us = 60ULL * 1000 * 1000;
	cc.raw = nvme_reg_read4(ctrlr, SL_NVME_REG_CC);
	if (!cc.bits.en)
		return 0;
	cc.bits.shn = SL_NVME_SHN_NORMAL;
	nvme_reg_write4(ctrlr, SL_NVME_REG_CC, cc.raw);
	deadline = nvme_now_us() + wait_us;
	for (;;) {
		union sl_nvme_csts_register csts;

		csts.raw = nvme_reg_read4(ctrlr, SL_NVME_REG_CSTS);
		if (csts.raw != 0xffffffffu && csts.bits.shst == SL_NVME_SHST_COMPLETE)
			return 0;
		if (csts.raw == 0xffffffffu || nvme_now_us() > deadline) {
			SL_ERRLOG("%s: shutdown did not complete", ctrlr->traddr);
			return -ETIMEDOUT;
		}
		usleep(1000);
	}
}

/* ---- accessors ---- */

const struct sl_nvme_ctrlr_data *sl_nvme_ctrlr_get_data(const struct sl_nvme_ctrlr *ctrlr)
{
	return ctrlr->cdata;
}

const char *sl_nvme_ctrlr_get_traddr(const struct sl_nvme_ctrlr *ctrlr)
{
	return ctrlr->traddr;
}

uint64_t sl_nvme_ctrlr_get_cap(const struct sl_nvme_ctrlr *ctrlr)
{
	return ctrlr->cap.raw;
}

uint32_t sl_nvme_ctrlr_get_vs(const struct sl_nvme_ctrlr *ctrlr)
{
	return ctrlr->vs;
}

uint32_t sl_nvme_ctrlr_get_num_io_queues(const struct sl_nvme_ctrlr *ctrlr)
{
	return ctrlr->num_io_queues;
}

uint32_t sl_nvme_ctrlr_get_max_xfer_size(const struct sl_nvme_ctrlr *ctrlr)
{
	return ctrlr->max_xfer_size;
}

bool sl_nvme_ctrlr_sgl_supported(const struct sl_nvme_ctrlr *ctrlr)
{
	return ctrlr->sgl_supported;
}

uint32_t sl_nvme_ctrlr_next_active_ns(const struct sl_nvme_ctrlr *ctrlr, uint32_t prev)
{
	for (uint32_t i = prev + 1; i <= ctrlr->num_ns; i++)
		if (ctrlr->ns[i - 1].active)
			return i;
	return 0;
}

uint32_t sl_nvme_ctrlr_first_active_ns(const struct sl_nvme_ctrlr *ctrlr)
{
	return sl_nvme_ctrlr_next_active_ns(ctrlr, 0);
}

struct sl_nvme_ns *sl_nvme_ctrlr_get_ns(struct sl_nvme_ctrlr *ctrlr, uint32_t nsid)
{
	if (!nsid || nsid > ctrlr->num_ns || !ctrlr->ns[nsid - 1].active)
		return NULL;
	return &ctrlr->ns[nsid - 1];
}
