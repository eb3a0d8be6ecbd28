/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Namespace commands: each maps straight to one submission queue entry.
 */
#include "nvme_internal.h"

#include "sluice/env.h"

#include <errno.h>
#include <string.h>

static inline int check_range(const struct sl_nvme_ns *ns, uint64_t lba, uint32_t count)
{
	if (__builtin_expect(!count || count > 65536 || lba >= ns->num_sectors ||
				     count > ns->num_sectors - lba,
			     0))
		return -EINVAL;
	return 0;
}

static int rw(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair, uint8_t opc, uint64_t lba,
	      uint32_t count, const struct iovec *iov, int iovcnt, sl_nvme_cmd_cb cb, void *ctx)
{
	struct sl_nvme_cmd cmd;
	uint64_t len = (uint64_t)count << ns->sector_shift;

	if (check_range(ns, lba, count) || len > qpair->max_xfer)
		return -EINVAL;
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = opc;
	cmd.nsid = ns->id;
	cmd.cdw10 = (uint32_t)lba;
	cmd.cdw11 = (uint32_t)(lba >> 32);
	cmd.cdw12 = count - 1;
	return nvme_qpair_submit(qpair, &cmd, iov, iovcnt, (uint32_t)len, cb, ctx);
}

int sl_nvme_ns_cmd_readv(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair, uint64_t lba,
			 uint32_t lba_count, const struct iovec *iov, int iovcnt, sl_nvme_cmd_cb cb,
			 void *ctx)
{
	return rw(ns, qpair, SL_NVME_OPC_READ, lba, lba_count, iov, iovcnt, cb, ctx);
}

int sl_nvme_ns_cmd_writev(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair, uint64_t lba,
			  uint32_t lba_count, const struct iovec *iov, int iovcnt,
			  sl_nvme_cmd_cb cb, void *ctx)
{
	return rw(ns, qpair, SL_NVME_OPC_WRITE, lba, lba_count, iov, iovcnt, cb, ctx);
}

/*
 * Hot path: a buffer within one memory page on a connected qpair becomes an
 * SQE written in place with PRP1 only. Everything else takes rw().
 */
static inline int rw_contig(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair, uint8_t opc,
			    void *buf, uint64_t lba, uint32_t count, sl_nvme_cmd_cb cb, void *ctx)
{
	uint64_t len = (uint64_t)count << ns->sector_shift;
	uintptr_t va = (uintptr_t)buf;
	struct nvme_tracker *tr;
	uint64_t *sqe, iova;
	uint16_t cid;

	if (__builtin_expect(check_range(ns, lba, count) || (va & 3) ||
				     (va & (NVME_PAGE_SIZE - 1)) + len > NVME_PAGE_SIZE ||
				     qpair->state != NVME_QPAIR_ENABLED || !qpair->num_free ||
				     qpair->use_sgl ||
				     qpair->generation != __atomic_load_n(&qpair->ctrlr->generation,
									  __ATOMIC_ACQUIRE),
			     0)) {
		struct iovec iov = { .iov_base = buf, .iov_len = (size_t)len };

		return rw(ns, qpair, opc, lba, count, &iov, 1, cb, ctx);
	}
	iova = qpair->vtoiova(buf, NULL);
	if (__builtin_expect(iova == SL_VTOIOVA_ERROR, 0))
		return -EINVAL;
	cid = qpair->free_cids[--qpair->num_free];
	tr = &qpair->trackers[cid];
	tr->cb = cb;
	tr->cb_ctx = ctx;
	tr->active = true;
	if (qpair->timeout_ticks)
		tr->submit_tick = sl_get_ticks();
	/* The SQE as eight little-endian quadwords (common command format). */
	sqe = (uint64_t *)&qpair->sq[qpair->sq_tail];
	sqe[0] = opc | ((uint64_t)cid << 16) | ((uint64_t)ns->id << 32);
	sqe[1] = 0;
	sqe[2] = 0;
	sqe[3] = iova; /* PRP1 */
	sqe[4] = 0;    /* PRP2 */
	sqe[5] = lba;  /* CDW10-11 */
	sqe[6] = count - 1;
	sqe[7] = 0;
	if (__builtin_expect(++qpair->sq_tail == qpair->num_entries, 0))
		qpair->sq_tail = 0;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	*qpair->sq_tdbl = qpair->sq_tail;
	return 0;
}

int sl_nvme_ns_cmd_read(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair, void *buf, uint64_t lba,
			uint32_t lba_count, sl_nvme_cmd_cb cb, void *ctx)
{
	return rw_contig(ns, qpair, SL_NVME_OPC_READ, buf, lba, lba_count, cb, ctx);
}

int sl_nvme_ns_cmd_write(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair, void *buf,
			 uint64_t lba, uint32_t lba_count, sl_nvme_cmd_cb cb, void *ctx)
{
	return rw_contig(ns, qpair, SL_NVME_OPC_WRITE, buf, lba, lba_count, cb, ctx);
}

int sl_nvme_ns_cmd_flush(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair, sl_nvme_cmd_cb cb,
			 void *ctx)
{
	struct sl_nvme_cmd cmd = { .opc = SL_NVME_OPC_FLUSH, .nsid = ns->id };

	return nvme_qpair_submit(qpair, &cmd, NULL, 0, 0, cb, ctx);
}

int sl_nvme_ns_cmd_write_zeroes(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair, uint64_t lba,
				uint32_t lba_count, sl_nvme_cmd_cb cb, void *ctx)
{
	struct sl_nvme_cmd cmd = { .opc = SL_NVME_OPC_WRITE_ZEROES, .nsid = ns->id };

	if (check_range(ns, lba, lba_count))
		return -EINVAL;
	cmd.cdw10 = (uint32_t)lba;
	cmd.cdw11 = (uint32_t)(lba >> 32);
	cmd.cdw12 = lba_count - 1;
	return nvme_qpair_submit(qpair, &cmd, NULL, 0, 0, cb, ctx);
}

int sl_nvme_ns_cmd_dsm(struct sl_nvme_ns *ns, struct sl_nvme_qpair *qpair,
		       const struct sl_nvme_dsm_range *ranges, uint16_t count, uint32_t attributes,
		       sl_nvme_cmd_cb cb, void *ctx)
{
	struct sl_nvme_cmd cmd = { .opc = SL_NVME_OPC_DATASET_MANAGEMENT, .nsid = ns->id };
	struct iovec iov = { .iov_base = (void *)ranges, .iov_len = (size_t)count * 16 };

	if (!count || count > SL_NVME_DSM_MAX_RANGES)
		return -EINVAL;
	for (uint16_t i = 0; i < count; i++)
		if (ranges[i].length && check_range(ns, ranges[i].starting_lba, ranges[i].length))
			return -EINVAL;
	cmd.cdw10 = count - 1u;
	cmd.cdw11 = attributes;
	return nvme_qpair_submit(qpair, &cmd, &iov, 1, (uint32_t)iov.iov_len, cb, ctx);
}

int sl_nvme_ctrlr_cmd_io_raw(struct sl_nvme_qpair *qpair, const struct sl_nvme_cmd *cmd, void *buf,
			     uint32_t len, sl_nvme_cmd_cb cb, void *ctx)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };

	if (len && !buf)
		return -EINVAL;
	return nvme_qpair_submit(qpair, cmd, &iov, 1, buf ? len : 0, cb, ctx);
}

uint32_t sl_nvme_ns_get_id(const struct sl_nvme_ns *ns)
{
	return ns->id;
}

uint64_t sl_nvme_ns_get_num_sectors(const struct sl_nvme_ns *ns)
{
	return ns->num_sectors;
}

uint32_t sl_nvme_ns_get_sector_size(const struct sl_nvme_ns *ns)
{
	return ns->sector_size;
}

const struct sl_nvme_ns_data *sl_nvme_ns_get_data(const struct sl_nvme_ns *ns)
{
	return ns->data;
}

/* Status strings, table driven: (sct << 8) | sc. */
static const struct {
	uint16_t code;
	const char *str;
} g_status_strings[] = {
	{ 0x000, "SUCCESS" },
	{ 0x001, "INVALID OPCODE" },
	{ 0x002, "INVALID FIELD" },
	{ 0x003, "COMMAND ID CONFLICT" },
	{ 0x004, "DATA TRANSFER ERROR" },
	{ 0x005, "ABORTED - POWER LOSS" },
	{ 0x006, "INTERNAL DEVICE ERROR" },
	{ 0x007, "ABORTED - BY REQUEST" },
	{ 0x008, "ABORTED - SQ DELETION" },
	{ 0x00b, "INVALID NAMESPACE OR FORMAT" },
	{ 0x00c, "COMMAND SEQUENCE ERROR" },
	{ 0x00f, "DATA SGL LENGTH INVALID" },
	{ 0x011, "SGL DESCRIPTOR TYPE INVALID" },
	{ 0x013, "INVALID PRP OFFSET" },
	{ 0x080, "LBA OUT OF RANGE" },
	{ 0x081, "CAPACITY EXCEEDED" },
	{ 0x082, "NAMESPACE NOT READY" },
	{ 0x101, "INVALID QUEUE IDENTIFIER" },
	{ 0x102, "INVALID QUEUE SIZE" },
	{ 0x105, "ASYNC EVENT REQUEST LIMIT EXCEEDED" },
	{ 0x280, "WRITE FAULTS" },
	{ 0x281, "UNRECOVERED READ ERROR" },
	{ 0x285, "COMPARE FAILURE" },
};

const char *sl_nvme_cpl_status_string(const struct sl_nvme_cpl *cpl)
{
	uint16_t code = (uint16_t)((cpl->status.sct << 8) | cpl->status.sc);

	for (size_t i = 0; i < sizeof(g_status_strings) / sizeof(g_status_strings[0]); i++)
		if (g_status_strings[i].code == code)
			return g_status_strings[i].str;
	return "UNKNOWN STATUS";
}
