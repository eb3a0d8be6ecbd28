/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/nvme without a device: PRP and SGL building, the queue pair against
 * registers and doorbells in plain memory with completions written in
 * software (phase wrap, doorbell stride), and a controller that never
 * becomes ready.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "sluice/env.h"

#include "../../../lib/nvme/nvme_internal.h"
#include "../ut_common.h"

/* Test memory: plain heap, IOVA = VA + a fixed offset so translation is visible. */
#define IOVA_OFF 0x100000000000ULL
static uintptr_t g_bad_lo, g_bad_hi; /* VAs that "are not DMA memory" */

static void *ut_zmalloc(size_t size, size_t align)
{
	void *p = aligned_alloc(align, (size + align - 1) / align * align);

	if (p)
		memset(p, 0, size);
	return p;
}

static uint64_t ut_vtoiova(const void *va, uint64_t *size)
{
	uintptr_t v = (uintptr_t)va;

	if (v >= g_bad_lo && v < g_bad_hi)
		return SL_VTOIOVA_ERROR;
	return v + IOVA_OFF;
}

static const struct nvme_mem_ops g_ut_mem = {
	.zmalloc = ut_zmalloc,
	.free = free,
	.vtoiova = ut_vtoiova,
};

static uint8_t *g_buf; /* 4 MiB, page aligned */
static uint64_t g_list[3 * NVME_PRPS_PER_PAGE] __attribute__((aligned(4096)));
#define LIST_IOVA ((uint64_t)(uintptr_t)g_list + IOVA_OFF)
#define B(off) ((uint64_t)(uintptr_t)(g_buf + (off)) + IOVA_OFF)

static int setup(void **state)
{
	(void)state;
	g_buf = aligned_alloc(4096, 4 << 20);
	return g_buf ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(g_buf);
	return 0;
}

static int prps(struct sl_nvme_cmd *cmd, const struct iovec *iov, int n, uint32_t len,
		uint32_t pages)
{
	memset(cmd, 0, sizeof(*cmd));
	memset(g_list, 0, sizeof(g_list));
	return nvme_build_prps(cmd, iov, n, len, g_list, LIST_IOVA, pages, ut_vtoiova);
}

static void test_prp_simple(void **state)
{
	struct sl_nvme_cmd cmd;
	struct iovec iov[3];

	(void)state;
	/* Within one page, at an offset: PRP1 only. */
	iov[0] = (struct iovec){ g_buf + 512, 1024 };
	assert_int_equal(prps(&cmd, iov, 1, 1024, 1), 0);
	assert_int_equal(cmd.dptr.prp.prp1, B(512));
	assert_int_equal(cmd.dptr.prp.prp2, 0);
	assert_int_equal(cmd.psdt, 0);
	/* Offset start crossing one page boundary: PRP2 is the second page itself. */
	iov[0] = (struct iovec){ g_buf + 3072, 2048 };
	assert_int_equal(prps(&cmd, iov, 1, 2048, 1), 0);
	assert_int_equal(cmd.dptr.prp.prp1, B(3072));
	assert_int_equal(cmd.dptr.prp.prp2, B(4096));
	/* Exactly two aligned pages. */
	iov[0] = (struct iovec){ g_buf, 8192 };
	assert_int_equal(prps(&cmd, iov, 1, 8192, 1), 0);
	assert_int_equal(cmd.dptr.prp.prp2, B(4096));
	/* Five pages with an offset: 6 entries, PRP2 points at the list. */
	iov[0] = (struct iovec){ g_buf + 100, 5 * 4096 };
	assert_int_equal(prps(&cmd, iov, 1, 5 * 4096, 1), 0);
	assert_int_equal(cmd.dptr.prp.prp1, B(100));
	assert_int_equal(cmd.dptr.prp.prp2, LIST_IOVA);
	for (int i = 0; i < 5; i++)
		assert_int_equal(g_list[i], B((uint64_t)(i + 1) * 4096));
	assert_int_equal(g_list[5], 0);
	/* iovecs: first at an offset ending on a page, middle whole pages, last short. */
	iov[0] = (struct iovec){ g_buf + 4096 + 3584, 512 };
	iov[1] = (struct iovec){ g_buf + 40960, 8192 };
	iov[2] = (struct iovec){ g_buf + 81920, 100 };
	assert_int_equal(prps(&cmd, iov, 3, 512 + 8192 + 100, 1), 0);
	assert_int_equal(cmd.dptr.prp.prp1, B(4096 + 3584));
	assert_int_equal(cmd.dptr.prp.prp2, LIST_IOVA);
	assert_int_equal(g_list[0], B(40960));
	assert_int_equal(g_list[1], B(45056));
	assert_int_equal(g_list[2], B(81920));
	/* len shorter than the iovecs: only len bytes are described. */
	iov[0] = (struct iovec){ g_buf, 3 * 4096 };
	assert_int_equal(prps(&cmd, iov, 1, 4096, 1), 0);
	assert_int_equal(cmd.dptr.prp.prp2, 0);
}

static void test_prp_invalid(void **state)
{
	struct sl_nvme_cmd cmd;
	struct iovec iov[2];

	(void)state;
	/* Second iovec not starting on a page. */
	iov[0] = (struct iovec){ g_buf, 4096 };
	iov[1] = (struct iovec){ g_buf + 8192 + 512, 512 };
	assert_int_equal(prps(&cmd, iov, 2, 4608, 1), -EINVAL);
	/* First iovec not ending on a page while more follow. */
	iov[0] = (struct iovec){ g_buf, 1024 };
	iov[1] = (struct iovec){ g_buf + 8192, 512 };
	assert_int_equal(prps(&cmd, iov, 2, 1536, 1), -EINVAL);
	/* Not dword aligned. */
	iov[0] = (struct iovec){ g_buf + 2, 512 };
	assert_int_equal(prps(&cmd, iov, 1, 512, 1), -EINVAL);
	/* iovecs shorter than len. */
	iov[0] = (struct iovec){ g_buf, 512 };
	assert_int_equal(prps(&cmd, iov, 1, 1024, 1), -EINVAL);
	/* Memory without an IOVA. */
	g_bad_lo = (uintptr_t)g_buf + 8192;
	g_bad_hi = g_bad_lo + 4096;
	iov[0] = (struct iovec){ g_buf + 8192, 4096 };
	assert_int_equal(prps(&cmd, iov, 1, 4096, 1), -EINVAL);
	g_bad_lo = g_bad_hi = 0;
}

static void test_prp_chained(void **state)
{
	struct sl_nvme_cmd cmd;
	struct iovec iov;
	uint32_t pages;

	(void)state;
	/* 513 aligned pages: 512 list entries fill one list page exactly, no chain. */
	iov = (struct iovec){ g_buf, 513 * 4096 };
	assert_int_equal(prps(&cmd, &iov, 1, 513 * 4096, 1), 0);
	assert_int_equal(cmd.dptr.prp.prp2, LIST_IOVA);
	assert_int_equal(g_list[511], B(512 * 4096));
	/* 514 pages: 513 list entries need a second list page, chained from slot 511. */
	iov = (struct iovec){ g_buf, 514 * 4096 };
	assert_int_equal(prps(&cmd, &iov, 1, 514 * 4096, 1), -E2BIG);
	assert_int_equal(prps(&cmd, &iov, 1, 514 * 4096, 2), 0);
	assert_int_equal(g_list[510], B(511 * 4096));
	assert_int_equal(g_list[511], LIST_IOVA + 4096);
	assert_int_equal(g_list[512], B(512 * 4096));
	assert_int_equal(g_list[513], B(513 * 4096));
	assert_int_equal(g_list[514], 0);
	/* 1000 pages with an offset: entries 1..1000 over two list pages. */
	pages = 1000;
	iov = (struct iovec){ g_buf + 8, pages * 4096 - 8 };
	assert_int_equal(prps(&cmd, &iov, 1, pages * 4096 - 8, 2), 0);
	assert_int_equal(cmd.dptr.prp.prp1, B(8));
	assert_int_equal(g_list[0], B(4096));
	assert_int_equal(g_list[511], LIST_IOVA + 4096);
	assert_int_equal(g_list[512], B(512 * 4096));
	assert_int_equal(g_list[512 + (pages - 1 - 511) - 1], B((uint64_t)(pages - 1) * 4096));
}

static void test_sgl(void **state)
{
	struct sl_nvme_cmd cmd = { 0 };
	struct sl_nvme_sgl_descriptor list[8], *sgl1 = (void *)cmd.dptr.sgl1;
	uint64_t list_iova = (uint64_t)(uintptr_t)list + IOVA_OFF;
	struct iovec iov[3];

	(void)state;
	iov[0] = (struct iovec){ g_buf + 3, 1000 };
	assert_int_equal(nvme_build_sgl(&cmd, iov, 1, 1000, list, list_iova, 1, ut_vtoiova), 0);
	assert_int_equal(cmd.psdt, SL_NVME_PSDT_SGL_MPTR_CONTIG);
	assert_int_equal(sgl1->type, SL_NVME_SGL_TYPE_DATA_BLOCK);
	assert_int_equal(sgl1->address, B(3));
	assert_int_equal(sgl1->length, 1000);

	iov[0] = (struct iovec){ g_buf + 3, 1000 };
	iov[1] = (struct iovec){ g_buf + 9000, 24 };
	iov[2] = (struct iovec){ g_buf + 20001, 4000 };
	memset(&cmd, 0, sizeof(cmd));
	assert_int_equal(nvme_build_sgl(&cmd, iov, 3, 3000, list, list_iova, 1, ut_vtoiova), 0);
	assert_int_equal(sgl1->type, SL_NVME_SGL_TYPE_LAST_SEGMENT);
	assert_int_equal(sgl1->address, list_iova);
	assert_int_equal(sgl1->length, 3 * 16);
	assert_int_equal(list[0].address, B(3));
	assert_int_equal(list[1].address, B(9000));
	assert_int_equal(list[1].length, 24);
	assert_int_equal(list[2].address, B(20001));
	assert_int_equal(list[2].length, 3000 - 1024); /* cut at len */
	assert_int_equal(list[2].type, SL_NVME_SGL_TYPE_DATA_BLOCK);
	/* iovecs shorter than len */
	assert_int_equal(nvme_build_sgl(&cmd, iov, 1, 3000, list, list_iova, 1, ut_vtoiova),
			 -EINVAL);
}

/* ---- fake controller in memory ---- */

#define REGS_SIZE 0x4000
static uint8_t g_regs[REGS_SIZE] __attribute__((aligned(4096)));

static void set_cap(uint32_t mqes, uint32_t to, uint32_t dstrd, uint32_t css)
{
	union sl_nvme_cap_register cap = { 0 };

	memset(g_regs, 0, sizeof(g_regs));
	cap.bits.mqes = mqes;
	cap.bits.to = to;
	cap.bits.dstrd = dstrd;
	cap.bits.css = css;
	memcpy(g_regs, &cap, 8);
}

static uint32_t reg32(uint32_t off)
{
	uint32_t v;

	memcpy(&v, g_regs + off, 4);
	return v;
}

static int g_done[64];
static uint32_t g_last_cdw0;

static void ut_cb(void *ctx, const struct sl_nvme_cpl *cpl)
{
	g_done[(uintptr_t)ctx]++;
	g_last_cdw0 = cpl->cdw0;
}

/* Post a completion for the SQE at sq index i, as a controller would. */
static void post_cpl(struct sl_nvme_qpair *qp, uint16_t cq_idx, uint16_t sq_idx, uint8_t phase)
{
	volatile struct sl_nvme_cpl *c = &qp->cq[cq_idx];

	c->cdw0 = 0x1000u + sq_idx;
	c->cid = qp->sq[sq_idx].cid;
	c->sqid = qp->qid;
	c->sqhd = (uint16_t)((sq_idx + 1) % qp->num_entries);
	c->status_raw = phase;
}

static void test_qpair_phase_and_doorbells(void **state)
{
	struct sl_nvme_ctrlr ctrlr = { 0 };
	struct sl_nvme_qpair qp = { 0 };
	struct sl_nvme_cmd cmd = { .opc = SL_NVME_OPC_FLUSH, .nsid = 1 };
	/* DSTRD 2: doorbells 16 bytes apart. SQ1 tail at 0x1000 + 2*16, CQ1 head at + 3*16. */
	const uint32_t sq1 = 0x1000 + 2 * 16, cq1 = 0x1000 + 3 * 16;

	(void)state;
	memset(g_done, 0, sizeof(g_done));
	set_cap(3, 1, 2, 1);
	assert_int_equal(nvme_ctrlr_construct(&ctrlr, g_regs, NULL, &g_ut_mem), 0);
	assert_int_equal(ctrlr.dstrd_words, 4);
	assert_ptr_equal((void *)nvme_sq_doorbell(&ctrlr, 1), g_regs + sq1);
	assert_ptr_equal((void *)nvme_cq_doorbell(&ctrlr, 1), g_regs + cq1);
	assert_int_equal(nvme_qpair_init(&qp, &ctrlr, 1, 4, 1 << 20, &g_ut_mem), 0);
	qp.state = NVME_QPAIR_ENABLED;

	/* 4 entries: 3 commands fit, the 4th finds no tracker. */
	for (uintptr_t i = 0; i < 3; i++)
		assert_int_equal(nvme_qpair_submit(&qp, &cmd, NULL, 0, 0, ut_cb, (void *)i), 0);
	assert_int_equal(nvme_qpair_submit(&qp, &cmd, NULL, 0, 0, ut_cb, (void *)9), -ENOMEM);
	assert_int_equal(reg32(sq1), 3);
	assert_int_equal(sl_nvme_qpair_outstanding(&qp), 3);
	/* Nothing posted: nothing reaped, no doorbell write. */
	assert_int_equal(nvme_qpair_process(&qp, 0), 0);
	assert_int_equal(reg32(cq1), 0);

	/* Two completions, phase 1. */
	post_cpl(&qp, 0, 0, 1);
	post_cpl(&qp, 1, 1, 1);
	assert_int_equal(nvme_qpair_process(&qp, 0), 2);
	assert_int_equal(g_done[0], 1);
	assert_int_equal(g_done[1], 1);
	assert_int_equal(g_done[2], 0);
	assert_int_equal(reg32(cq1), 2);

	/* Two more submissions wrap the SQ tail: 3 -> 0 -> 1. */
	assert_int_equal(nvme_qpair_submit(&qp, &cmd, NULL, 0, 0, ut_cb, (void *)3), 0);
	assert_int_equal(reg32(sq1), 0);
	assert_int_equal(nvme_qpair_submit(&qp, &cmd, NULL, 0, 0, ut_cb, (void *)4), 0);
	assert_int_equal(reg32(sq1), 1);

	/* CQ slots 2 and 3 in phase 1, then slot 0 in phase 0 after the wrap. */
	post_cpl(&qp, 2, 2, 1);
	post_cpl(&qp, 3, 3, 1);
	assert_int_equal(nvme_qpair_process(&qp, 0), 2);
	assert_int_equal(qp.cq_head, 0);
	assert_int_equal(qp.phase, 0);
	assert_int_equal(reg32(cq1), 0);
	/* Slot 0 still holds the old phase-1 entry: it must not be taken again. */
	assert_int_equal(nvme_qpair_process(&qp, 0), 0);
	post_cpl(&qp, 0, 0, 0);
	assert_int_equal(nvme_qpair_process(&qp, 1), 1);
	assert_int_equal(g_last_cdw0, 0x1000);
	assert_int_equal(reg32(cq1), 1);
	assert_int_equal(g_done[2] + g_done[3] + g_done[4], 3);
	assert_int_equal(sl_nvme_qpair_outstanding(&qp), 0);

	/* Outstanding commands fail (never vanish) when the queue is torn down. */
	assert_int_equal(nvme_qpair_submit(&qp, &cmd, NULL, 0, 0, ut_cb, (void *)5), 0);
	nvme_qpair_fail_all(&qp, SL_NVME_SC_ABORTED_SQ_DELETION, false);
	assert_int_equal(g_done[5], 1);
	assert_int_equal(sl_nvme_qpair_outstanding(&qp), 0);

	/* A completion with a cid nobody submitted is ignored. */
	post_cpl(&qp, 1, 0, 0);
	qp.cq[1].cid = 2;
	assert_int_equal(nvme_qpair_process(&qp, 0), 0);
	assert_int_equal(qp.cq_head, 2);

	nvme_qpair_fini(&qp);
	nvme_ctrlr_destruct(&ctrlr);
}

static void test_never_ready(void **state)
{
	struct sl_nvme_ctrlr ctrlr = { 0 };
	uint64_t t0;

	(void)state;
	set_cap(63, 1, 0, 1); /* CAP.TO = 500 ms; CSTS.RDY stays 0 forever */
	assert_int_equal(nvme_ctrlr_construct(&ctrlr, g_regs, NULL, &g_ut_mem), 0);
	t0 = ut_mono_ns();
	assert_int_equal(nvme_ctrlr_enable(&ctrlr), -ETIMEDOUT);
	assert_true(ut_mono_ns() - t0 >= 400ULL * 1000 * 1000);
	assert_true(ut_mono_ns() - t0 < 10ULL * 1000 * 1000 * 1000);
	/* The driver did program the admin queue and set CC.EN before giving up. */
	assert_int_equal(reg32(SL_NVME_REG_AQA), (31u << 16) | 31u);
	assert_int_equal(reg32(SL_NVME_REG_CC) & 1, 1);
	assert_int_equal((reg32(SL_NVME_REG_CC) >> 16) & 0xf, 6);
	assert_int_equal((reg32(SL_NVME_REG_CC) >> 20) & 0xf, 4);
	nvme_ctrlr_destruct(&ctrlr);
	memset(&ctrlr, 0, sizeof(ctrlr));

	/* No NVM command set: refused before touching CC. */
	set_cap(63, 1, 0, 0x80);
	assert_int_equal(nvme_ctrlr_construct(&ctrlr, g_regs, NULL, &g_ut_mem), 0);
	assert_int_equal(nvme_ctrlr_enable(&ctrlr), -ENOTSUP);
	assert_int_equal(reg32(SL_NVME_REG_CC), 0);
	nvme_ctrlr_destruct(&ctrlr);
}

static void test_trid(void **state)
{
	struct sl_nvme_transport_id t;

	(void)state;
	assert_int_equal(sl_nvme_transport_id_parse(&t, "trtype:PCIe traddr:0000:00:05.0"), 0);
	assert_string_equal(t.traddr, "0000:00:05.0");
	assert_int_equal(sl_nvme_transport_id_parse(&t, "traddr=0000:00:04.0"), 0);
	assert_string_equal(t.trtype, "PCIe");
	assert_int_equal(sl_nvme_transport_id_parse(&t, "trtype:TCP traddr:1.2.3.4"), -EINVAL);
	assert_int_equal(sl_nvme_transport_id_parse(&t, "trtype:PCIe"), -EINVAL);
	assert_int_equal(sl_nvme_transport_id_parse(&t, "foo:bar traddr:0:5.0"), -EINVAL);
	assert_int_equal(sl_nvme_transport_id_parse(&t, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prp_simple),
		cmocka_unit_test(test_prp_invalid),
		cmocka_unit_test(test_prp_chained),
		cmocka_unit_test(test_sgl),
		cmocka_unit_test(test_qpair_phase_and_doorbells),
		cmocka_unit_test(test_never_ready),
		cmocka_unit_test(test_trid),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
