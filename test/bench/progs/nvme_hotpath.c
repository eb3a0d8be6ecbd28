/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme_hotpath: the NVMe driver's 4 KiB read path (submit + completion) on a
 * fake controller whose registers and doorbells are plain memory; the
 * "controller" completes each command in software between the two calls.
 * Meant for callgrind, counting only the driver:
 *
 *   valgrind --tool=callgrind --toggle-collect=sl_nvme_ns_cmd_read \
 *     --toggle-collect=sl_nvme_qpair_process_completions build/test/bench/progs/nvme_hotpath 100000
 *
 * then divide the total Ir by the I/O count printed. The translation used is
 * a two-level table shaped like lib/vfio's (the real one is static there).
 */
#include "../../../lib/nvme/nvme_internal.h"

#include "sluice/env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t *g_l1[1 << 18];

static uint64_t table_vtoiova(const void *vaddr, uint64_t *size)
{
	uintptr_t va = (uintptr_t)vaddr;
	uint64_t *l2, e;

	if (va >> 48)
		return SL_VTOIOVA_ERROR;
	l2 = __atomic_load_n(&g_l1[va >> 30], __ATOMIC_ACQUIRE);
	if (!l2)
		return SL_VTOIOVA_ERROR;
	e = __atomic_load_n(&l2[(va >> 21) & 511], __ATOMIC_RELAXED);
	if (!(e & 1))
		return SL_VTOIOVA_ERROR;
	if (size && *size > (2u << 20) - (va & ((2u << 20) - 1)))
		*size = (2u << 20) - (va & ((2u << 20) - 1));
	return (e & ~1ULL) + (va & ((2u << 20) - 1));
}

static void table_add(void *p, size_t len)
{
	for (uintptr_t va = (uintptr_t)p & ~((2ULL << 20) - 1); va < (uintptr_t)p + len;
	     va += 2ULL << 20) {
		if (!g_l1[va >> 30])
			g_l1[va >> 30] = calloc(512, 8);
		g_l1[va >> 30][(va >> 21) & 511] = (va + 0x1000000000ULL) | 1;
	}
}

static void *bench_zmalloc(size_t size, size_t align)
{
	size_t sz = (size + align - 1) / align * align;
	void *p = aligned_alloc(align, sz);

	if (p) {
		memset(p, 0, size);
		table_add(p, sz);
	}
	return p;
}

static const struct nvme_mem_ops g_mem = {
	.zmalloc = bench_zmalloc,
	.free = free,
	.vtoiova = table_vtoiova,
};

static uint8_t g_regs[0x4000] __attribute__((aligned(4096)));
static uint64_t g_done;

static void read_done(void *ctx, const struct sl_nvme_cpl *cpl)
{
	(void)ctx;
	g_done += !sl_nvme_cpl_is_error(cpl);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	union sl_nvme_cap_register cap = { 0 };
	struct sl_nvme_ctrlr ctrlr = { 0 };
	struct sl_nvme_qpair qp = { 0 };
	struct sl_nvme_ns ns = { 0 };
	uint8_t *buf;

	cap.bits.mqes = 1023;
	cap.bits.to = 1;
	cap.bits.css = 1;
	memcpy(g_regs, &cap, 8);
	if (nvme_ctrlr_construct(&ctrlr, g_regs, NULL, &g_mem) ||
	    nvme_qpair_init(&qp, &ctrlr, 1, 256, 128 * 1024, &g_mem)) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	qp.state = NVME_QPAIR_ENABLED;
	ns.ctrlr = &ctrlr;
	ns.id = 1;
	ns.active = true;
	ns.sector_shift = 9;
	ns.sector_size = 512;
	ns.num_sectors = 1 << 30;
	buf = bench_zmalloc(4096, 4096);

	for (long i = 0; i < n; i++) {
		uint16_t slot = qp.sq_tail, cq = qp.cq_head;
		volatile struct sl_nvme_cpl *c;

		if (sl_nvme_ns_cmd_read(&ns, &qp, buf, (uint64_t)(i & 1023) * 8, 8, read_done,
					NULL)) {
			fprintf(stderr, "submit failed at %ld\n", i);
			return 1;
		}
		/* The controller: complete the SQE in software. */
		c = &qp.cq[cq];
		c->cdw0 = 0;
		c->sqhd = (uint16_t)((slot + 1) % qp.num_entries);
		c->sqid = 1;
		c->cid = qp.sq[slot].cid;
		c->status_raw = qp.phase;
		if (sl_nvme_qpair_process_completions(&qp, 0) != 1) {
			fprintf(stderr, "no completion at %ld\n", i);
			return 1;
		}
	}
	printf("ios=%ld completed=%llu\n", n, (unsigned long long)g_done);
	return g_done == (uint64_t)n ? 0 : 1;
}
