/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * I/O commands: NVM opcodes mapped onto the poll group's bdev channel of the
 * namespace, without leaving the poll group's thread. Other opcodes pass
 * through unchanged when the bdev speaks NVMe.
 */
#include <errno.h>
#include <string.h>

#include "sluice/log.h"

#include "nvmf_internal.h"

static void io_status(struct nvmf_request *req, int sct, int sc)
{
	nvmf_request_set_status(req, sct, sc);
}

static void io_done(struct nvmf_request *req)
{
	struct nvmf_ns_pg *p = req->ns_pg;

	if (p && --p->outstanding == 0 && p->removing && p->drain_iter) {
		struct sl_io_channel_iter *i = p->drain_iter;

		/* A namespace removal waited for this poll group's last I/O. */
		sl_put_io_channel(p->ch);
		memset(p, 0, sizeof(*p));
		sl_for_each_channel_continue(i, 0);
	}
	req->qpair->group->completed_nvme_io++;
	nvmf_request_complete(req);
}

static void bdev_io_done(struct sl_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct nvmf_request *req = cb_arg;
	uint32_t cdw0;
	int sct, sc;

	if (!success) {
		sl_bdev_io_get_nvme_status(bdev_io, &cdw0, &sct, &sc);
		req->rsp.cdw0 = cdw0;
		io_status(req, sct, sc);
	} else if (sl_bdev_io_get_type(bdev_io) == SL_BDEV_IO_TYPE_NVME_IO) {
		sl_bdev_io_get_nvme_status(bdev_io, &cdw0, &sct, &sc);
		req->rsp.cdw0 = cdw0;
	}
	sl_bdev_free_io(bdev_io);
	io_done(req);
}

static int io_submit(struct nvmf_request *req);

static void dsm_done(struct sl_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct nvmf_request *req = cb_arg;

	if (!success) {
		bdev_io_done(bdev_io, success, cb_arg);
		return;
	}
	sl_bdev_free_io(bdev_io);
	req->dsm_next++;
	if (io_submit(req)) {
		io_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INTERNAL_DEVICE_ERROR);
		io_done(req);
	}
}

static void io_retry(void *arg)
{
	struct nvmf_request *req = arg;
	int rc = io_submit(req);

	if (rc) {
		io_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INTERNAL_DEVICE_ERROR);
		io_done(req);
	}
}

static bool lba_range_ok(struct nvmf_request *req, struct sl_bdev *bdev, uint64_t slba,
			 uint64_t nlb)
{
	uint64_t blocks = sl_bdev_get_num_blocks(bdev);

	if (slba >= blocks || nlb > blocks - slba) {
		io_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_LBA_OUT_OF_RANGE);
		return false;
	}
	return true;
}

/* 0: submitted or answered; -ENOMEM: wait for a bdev_io. */
static int io_submit(struct nvmf_request *req)
{
	struct nvmf_ns_pg *p = req->ns_pg;
	struct sl_bdev *bdev = sl_bdev_desc_get_bdev(p->desc);
	struct sl_nvme_cmd *cmd = &req->cmd;
	uint64_t slba = ((uint64_t)cmd->cdw11 << 32) | cmd->cdw10;
	uint64_t nlb = (cmd->cdw12 & 0xffff) + 1ull;
	uint32_t bs = sl_bdev_get_block_size(bdev);
	int rc;

	switch (cmd->opc) {
	case SL_NVME_OPC_READ:
	case SL_NVME_OPC_WRITE:
	case SL_NVME_OPC_COMPARE:
		if (!lba_range_ok(req, bdev, slba, nlb))
			goto answered;
		if (nlb * bs != req->length) {
			/* The SGL must describe exactly the blocks. */
			io_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_DATA_SGL_LENGTH_INVALID);
			goto answered;
		}
		if (cmd->opc == SL_NVME_OPC_READ)
			rc = sl_bdev_readv_blocks(p->desc, p->ch, req->iov, req->iovcnt, slba, nlb,
						  bdev_io_done, req);
		else if (cmd->opc == SL_NVME_OPC_WRITE)
			rc = sl_bdev_writev_blocks(p->desc, p->ch, req->iov, req->iovcnt, slba, nlb,
						   bdev_io_done, req);
		else
			rc = sl_bdev_comparev_blocks(p->desc, p->ch, req->iov, req->iovcnt, slba,
						     nlb, bdev_io_done, req);
		break;
	case SL_NVME_OPC_WRITE_ZEROES:
		if (!lba_range_ok(req, bdev, slba, nlb))
			goto answered;
		rc = sl_bdev_write_zeroes_blocks(p->desc, p->ch, slba, nlb, bdev_io_done, req);
		break;
	case SL_NVME_OPC_FLUSH:
		if (!sl_bdev_io_type_supported(bdev, SL_BDEV_IO_TYPE_FLUSH))
			goto answered; /* nothing volatile to flush */
		rc = sl_bdev_flush_blocks(p->desc, p->ch, 0, sl_bdev_get_num_blocks(bdev),
					  bdev_io_done, req);
		break;
	case SL_NVME_OPC_DATASET_MANAGEMENT: {
		uint32_t nr = (cmd->cdw10 & 0xff) + 1;
		struct sl_nvme_dsm_range r;

		if (!(cmd->cdw11 & SL_NVME_DSM_ATTR_DEALLOCATE) ||
		    !sl_bdev_io_type_supported(bdev, SL_BDEV_IO_TYPE_UNMAP))
			goto answered; /* attributes and deallocation are hints */
		if (req->length < nr * sizeof(r)) {
			io_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_DATA_SGL_LENGTH_INVALID);
			goto answered;
		}
		/* One range at a time: dsm_done submits the next (and a retry resumes here). */
		for (;; req->dsm_next++) {
			if (req->dsm_next >= nr)
				goto answered;
			nvmf_iov_copy_out_at(&r, sizeof(r), req->iov, req->iovcnt,
					     (uint64_t)req->dsm_next * sizeof(r));
			if (r.length != 0)
				break;
		}
		if (!lba_range_ok(req, bdev, r.starting_lba, r.length))
			goto answered;
		rc = sl_bdev_unmap_blocks(p->desc, p->ch, r.starting_lba, r.length, dsm_done, req);
		break;
	}
	default:
		if (!sl_bdev_io_type_supported(bdev, SL_BDEV_IO_TYPE_NVME_IO)) {
			io_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INVALID_OPCODE);
			goto answered;
		}
		if (req->iovcnt > 1) {
			/* Passthrough takes one contiguous buffer: io_unit_size < max_io_size
			 * splits it. */
			io_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_DATA_SGL_LENGTH_INVALID);
			goto answered;
		}
		rc = sl_bdev_nvme_io_passthru(p->desc, p->ch, cmd,
					      req->iovcnt ? req->iov[0].iov_base : NULL,
					      req->length, bdev_io_done, req);
		break;
	}
	if (rc == -ENOMEM) {
		req->bdev_wait.bdev = bdev;
		req->bdev_wait.cb_fn = io_retry;
		req->bdev_wait.cb_arg = req;
		req->qpair->group->pending_bdev_io++;
		return sl_bdev_queue_io_wait(bdev, p->ch, &req->bdev_wait);
	}
	if (rc) {
		io_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INTERNAL_DEVICE_ERROR);
		goto answered;
	}
	return 0;
answered:
	io_done(req);
	return 0;
}

void nvmf_io_exec(struct nvmf_request *req)
{
	struct nvmf_subsystem_pg *sg = req->qpair->sgroup;
	uint32_t nsid = req->cmd.nsid;
	struct nvmf_ns_pg *p;

	if (nsid == 0 || nsid > sg->num_ns || !sg->ns[nsid - 1].desc || sg->ns[nsid - 1].removing) {
		io_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		nvmf_request_complete(req);
		return;
	}
	p = &sg->ns[nsid - 1];
	p->outstanding++;
	req->ns_pg = p;
	req->dsm_next = 0;
	if (io_submit(req)) {
		io_status(req, SL_NVME_SCT_GENERIC, SL_NVME_SC_INTERNAL_DEVICE_ERROR);
		io_done(req);
	}
}
