/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme_io: data-path checks of lib/nvme against a real (emulated) controller,
 * run in a VM guest. For every active namespace of the controller:
 * write + read back + compare through the PRP fast path, PRP lists, iovecs
 * with an offset, SGLs for iovecs PRPs cannot describe, the largest transfer;
 * write zeroes, deallocate, flush; bad input (LBA beyond the end, memory the
 * IOMMU does not map, misaligned buffers); a controller reset with commands
 * in flight (every command completes, none is lost, data verifies after);
 * a read aimed at an unmapped IOVA must not reach the buffer.
 * Prints "ok: ..." lines and "PASS" at the end; exit status 1 on failure.
 *
 *   nvme_io -r 'trtype:PCIe traddr:0000:00:04.0' [-V container|iommufd]
 */
#include "sluice/env.h"
#include "sluice/log.h"
#include "sluice/nvme.h"
#include "sluice/vfio.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);                                \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

struct io {
	bool done;
	struct sl_nvme_cpl cpl;
};

static void io_cb(void *ctx, const struct sl_nvme_cpl *cpl)
{
	struct io *io = ctx;

	io->cpl = *cpl;
	io->done = true;
}

static struct sl_nvme_ctrlr *g_ctrlr;
static struct sl_nvme_qpair *g_qp;

static void wait_io(struct io *io)
{
	uint64_t end = sl_get_ticks() + 30 * sl_get_ticks_hz();

	while (!io->done) {
		int32_t n = sl_nvme_qpair_process_completions(g_qp, 0);

		CHECK(n >= 0, "process_completions: %d", n);
		sl_nvme_ctrlr_process_admin_completions(g_ctrlr);
		CHECK(sl_get_ticks() < end, "command did not complete in 30 s");
	}
}

static int do_rw(struct sl_nvme_ns *ns, bool write, uint64_t lba, uint32_t n,
		 const struct iovec *iov, int iovcnt, struct sl_nvme_cpl *cpl)
{
	struct io io = { 0 };
	int rc = write ? sl_nvme_ns_cmd_writev(ns, g_qp, lba, n, iov, iovcnt, io_cb, &io)
		       : sl_nvme_ns_cmd_readv(ns, g_qp, lba, n, iov, iovcnt, io_cb, &io);

	if (rc)
		return rc;
	wait_io(&io);
	if (cpl)
		*cpl = io.cpl;
	return sl_nvme_cpl_is_error(&io.cpl) ? -EIO : 0;
}

static void fill(struct iovec *iov, int iovcnt, uint32_t seed)
{
	for (int i = 0; i < iovcnt; i++)
		for (size_t j = 0; j < iov[i].iov_len; j++)
			((uint8_t *)iov[i].iov_base)[j] =
				(uint8_t)(seed + i * 131 + j * 7 + (j >> 9));
}

/* Write iov at lba, read into a fresh flat buffer, compare byte for byte. */
static void roundtrip(struct sl_nvme_ns *ns, const char *what, uint64_t lba, struct iovec *iov,
		      int iovcnt, uint32_t seed)
{
	uint32_t ss = sl_nvme_ns_get_sector_size(ns);
	size_t len = 0, off = 0;
	uint8_t *rd;
	int rc;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	fill(iov, iovcnt, seed);
	rc = do_rw(ns, true, lba, (uint32_t)(len / ss), iov, iovcnt, NULL);
	CHECK(rc == 0, "%s: write: %d", what, rc);
	rd = sl_dma_zmalloc(len, 4096, NULL);
	CHECK(rd, "dma alloc");
	rc = do_rw(ns, false, lba, (uint32_t)(len / ss),
		   &(struct iovec){ .iov_base = rd, .iov_len = len }, 1, NULL);
	CHECK(rc == 0, "%s: read: %d", what, rc);
	for (int i = 0; i < iovcnt; i++) {
		CHECK(memcmp(rd + off, iov[i].iov_base, iov[i].iov_len) == 0,
		      "%s: data mismatch in iovec %d", what, i);
		off += iov[i].iov_len;
	}
	/* And the other way: read back through the same iovec layout. */
	for (int i = 0; i < iovcnt; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
	rc = do_rw(ns, false, lba, (uint32_t)(len / ss), iov, iovcnt, NULL);
	CHECK(rc == 0, "%s: scattered read: %d", what, rc);
	off = 0;
	for (int i = 0; i < iovcnt; i++) {
		CHECK(memcmp(rd + off, iov[i].iov_base, iov[i].iov_len) == 0,
		      "%s: scattered read mismatch in iovec %d", what, i);
		off += iov[i].iov_len;
	}
	sl_dma_free(rd);
	printf("ok: nsid %u %s (%zu bytes)\n", sl_nvme_ns_get_id(ns), what, len);
}

static void test_ns(struct sl_nvme_ns *ns)
{
	uint32_t ss = sl_nvme_ns_get_sector_size(ns);
	uint32_t max = sl_nvme_ctrlr_get_max_xfer_size(g_ctrlr);
	uint8_t *a = sl_dma_zmalloc(4 << 20, 2 << 20, NULL);
	struct iovec iov[4];
	struct io io = { 0 };
	int rc;

	CHECK(a, "dma alloc");
	CHECK(ss == 512 || ss == 4096, "sector size %u", ss);

	iov[0] = (struct iovec){ a, 4096 };
	roundtrip(ns, "one page (PRP1 only)", 8, iov, 1, 1);
	iov[0] = (struct iovec){ a + 4096, 8192 };
	roundtrip(ns, "two pages (PRP1 + PRP2)", 16, iov, 1, 2);
	iov[0] = (struct iovec){ a, 128 * 1024 };
	roundtrip(ns, "128 KiB (PRP list)", 64, iov, 1, 3);
	iov[0] = (struct iovec){ a + (1 << 20) - 8192, max };
	roundtrip(ns, "max transfer across a 2 MiB boundary", 2048, iov, 1, 4);
	if (ss == 512) {
		iov[0] = (struct iovec){ a + 512, 4096 - 512 };
		iov[1] = (struct iovec){ a + 3 * 4096, 8192 };
		iov[2] = (struct iovec){ a + 8 * 4096, 1024 };
		roundtrip(ns, "3 iovecs, first at an offset (PRP list)", 4096, iov, 3, 5);
		iov[0] = (struct iovec){ a + 100 * 4096, 1024 };
		iov[1] = (struct iovec){ a + 110 * 4096 + 512, 1536 };
		iov[2] = (struct iovec){ a + 120 * 4096 + 1024, 512 };
		iov[3] = (struct iovec){ a + 130 * 4096 + 8, 1024 };
		if (sl_nvme_ctrlr_sgl_supported(g_ctrlr)) {
			roundtrip(ns, "4 unaligned iovecs (SGL)", 4200, iov, 4, 6);
		} else {
			rc = do_rw(ns, true, 4200, 8, iov, 4, NULL);
			CHECK(rc == -EINVAL, "unaligned iovecs without SGL: %d", rc);
			printf("ok: unaligned iovecs refused without SGL support\n");
		}
	}

	/* Write zeroes, then read zeroes back. */
	memset(a, 0xee, 8192);
	rc = sl_nvme_ns_cmd_write_zeroes(ns, g_qp, 8, 8192 / ss, io_cb, &io);
	CHECK(rc == 0, "write zeroes submit %d", rc);
	wait_io(&io);
	CHECK(!sl_nvme_cpl_is_error(&io.cpl), "write zeroes: %s",
	      sl_nvme_cpl_status_string(&io.cpl));
	rc = do_rw(ns, false, 8, 8192 / ss, &(struct iovec){ a, 8192 }, 1, NULL);
	CHECK(rc == 0, "read after write zeroes %d", rc);
	for (int i = 0; i < 8192; i++)
		CHECK(a[i] == 0, "byte %d after write zeroes is 0x%x", i, a[i]);
	printf("ok: nsid %u write zeroes\n", sl_nvme_ns_get_id(ns));

	{
		struct sl_nvme_dsm_range *r = sl_dma_zmalloc(4096, 4096, NULL);

		r[0].starting_lba = 4096;
		r[0].length = 64;
		r[0].attributes = 0;
		memset(&io, 0, sizeof(io));
		rc = sl_nvme_ns_cmd_dsm(ns, g_qp, r, 1, SL_NVME_DSM_ATTR_DEALLOCATE, io_cb, &io);
		CHECK(rc == 0, "dsm submit %d", rc);
		wait_io(&io);
		CHECK(!sl_nvme_cpl_is_error(&io.cpl), "dsm: %s",
		      sl_nvme_cpl_status_string(&io.cpl));
		sl_dma_free(r);
		memset(&io, 0, sizeof(io));
		rc = sl_nvme_ns_cmd_flush(ns, g_qp, io_cb, &io);
		CHECK(rc == 0, "flush submit %d", rc);
		wait_io(&io);
		CHECK(!sl_nvme_cpl_is_error(&io.cpl), "flush: %s",
		      sl_nvme_cpl_status_string(&io.cpl));
		printf("ok: nsid %u deallocate and flush\n", sl_nvme_ns_get_id(ns));
	}

	/* Bad input: refused before anything reaches the controller. */
	rc = do_rw(ns, false, sl_nvme_ns_get_num_sectors(ns), 1, &(struct iovec){ a, ss }, 1, NULL);
	CHECK(rc == -EINVAL, "read past the end: %d", rc);
	rc = do_rw(ns, false, sl_nvme_ns_get_num_sectors(ns) - 1, 2, &(struct iovec){ a, 2 * ss },
		   1, NULL);
	CHECK(rc == -EINVAL, "read across the end: %d", rc);
	{
		char *heap = aligned_alloc(4096, 8192);

		rc = do_rw(ns, false, 0, 4096 / ss, &(struct iovec){ heap, 4096 }, 1, NULL);
		CHECK(rc == -EINVAL, "read into non-DMA memory: %d", rc);
		free(heap);
	}
	rc = do_rw(ns, false, 0, 1, &(struct iovec){ a + 1, ss }, 1, NULL);
	CHECK(rc == (sl_nvme_ctrlr_sgl_supported(g_ctrlr) ? 0 : -EINVAL),
	      "byte-misaligned buffer: %d", rc);
	rc = do_rw(ns, false, 0, max / ss + 1, &(struct iovec){ a, (size_t)(max / ss + 1) * ss }, 1,
		   NULL);
	CHECK(rc == -EINVAL, "transfer above the maximum: %d", rc);
	printf("ok: nsid %u bad input refused (past the end, non-DMA memory, too large)\n",
	       sl_nvme_ns_get_id(ns));
	sl_dma_free(a);
}

/* A read whose PRP1 is an IOVA the IOMMU does not map must not reach the buffer. */
static void test_unmapped_iova(struct sl_nvme_ns *ns)
{
	uint8_t *heap = aligned_alloc(4096, 4096);
	struct sl_nvme_cmd cmd = { 0 };
	struct io io = { 0 };
	int rc;

	memset(heap, 0xa5, 4096);
	cmd.opc = SL_NVME_OPC_READ;
	cmd.nsid = sl_nvme_ns_get_id(ns);
	cmd.cdw12 = 4096 / sl_nvme_ns_get_sector_size(ns) - 1;
	cmd.dptr.prp.prp1 = (uintptr_t)heap; /* as if IOVA = VA for memory nobody mapped */
	rc = sl_nvme_ctrlr_cmd_io_raw(g_qp, &cmd, NULL, 0, io_cb, &io);
	CHECK(rc == 0, "raw submit %d", rc);
	wait_io(&io);
	for (int i = 0; i < 4096; i++)
		CHECK(heap[i] == 0xa5, "unmapped buffer changed at byte %d", i);
	printf("ok: read to an unmapped IOVA did not reach the buffer (status %s)\n",
	       sl_nvme_cpl_status_string(&io.cpl));
	free(heap);
}

#define RESET_IOS 48

/* Commands in flight during a reset all complete; rewrite the aborted ones; verify. */
static void test_reset(struct sl_nvme_ns *ns)
{
	uint32_t ss = sl_nvme_ns_get_sector_size(ns);
	uint8_t *buf = sl_dma_zmalloc(RESET_IOS * 4096, 4096, NULL);
	uint8_t *rd = sl_dma_zmalloc(4096, 4096, NULL);
	struct io ios[RESET_IOS];
	int ok = 0, aborted = 0, rc;

	CHECK(buf && rd, "dma alloc");
	memset(ios, 0, sizeof(ios));
	for (int i = 0; i < RESET_IOS; i++) {
		memset(buf + i * 4096, 0x40 + i, 4096);
		rc = sl_nvme_ns_cmd_write(ns, g_qp, buf + i * 4096, 20000 + i * (4096 / ss),
					  4096 / ss, io_cb, &ios[i]);
		CHECK(rc == 0, "submit %d: %d", i, rc);
	}
	rc = sl_nvme_ctrlr_reset(g_ctrlr);
	CHECK(rc == 0, "reset: %d", rc);
	for (int i = 0; i < RESET_IOS; i++) {
		wait_io(&ios[i]);
		if (!sl_nvme_cpl_is_error(&ios[i].cpl)) {
			ok++;
			continue;
		}
		CHECK(ios[i].cpl.status.sct == SL_NVME_SCT_GENERIC &&
			      ios[i].cpl.status.sc == SL_NVME_SC_ABORTED_SQ_DELETION,
		      "write %d failed with %s", i, sl_nvme_cpl_status_string(&ios[i].cpl));
		aborted++;
		rc = do_rw(ns, true, 20000 + i * (4096 / ss), 4096 / ss,
			   &(struct iovec){ buf + i * 4096, 4096 }, 1, NULL);
		CHECK(rc == 0, "rewrite %d after reset: %d", i, rc);
	}
	for (int i = 0; i < RESET_IOS; i++) {
		rc = do_rw(ns, false, 20000 + i * (4096 / ss), 4096 / ss,
			   &(struct iovec){ rd, 4096 }, 1, NULL);
		CHECK(rc == 0, "read %d after reset: %d", i, rc);
		CHECK(memcmp(rd, buf + i * 4096, 4096) == 0, "block %d differs after reset", i);
	}
	printf("ok: reset with %d writes in flight: %d completed, %d aborted and retried, "
	       "all verified\n",
	       RESET_IOS, ok, aborted);
	sl_dma_free(buf);
	sl_dma_free(rd);
}

int main(int argc, char **argv)
{
	struct sl_nvme_transport_id trid;
	struct sl_env_opts opts;
	enum sl_vfio_backend backend;
	bool have_trid = false;
	uint32_t nsid;
	int ch, rc, nns = 0;

	sl_env_opts_init(&opts);
	opts.name = "nvme_io";
	opts.quiet = true;
	while ((ch = getopt(argc, argv, "r:V:")) != -1) {
		switch (ch) {
		case 'r':
			CHECK(sl_nvme_transport_id_parse(&trid, optarg) == 0, "bad -r");
			have_trid = true;
			break;
		case 'V':
			CHECK(sl_vfio_backend_from_string(optarg, &backend) == 0 &&
				      sl_vfio_set_backend(backend) == 0,
			      "bad -V");
			break;
		default:
			return 2;
		}
	}
	CHECK(have_trid, "-r is required");
	CHECK(sl_env_init(&opts) == 0, "env init");
	rc = sl_nvme_ctrlr_connect(&trid, NULL, &g_ctrlr);
	CHECK(rc == 0, "connect %s: %d", trid.traddr, rc);
	printf("backend=%s iova=%s\n", sl_vfio_backend_name(sl_vfio_domain_backend()),
	       sl_vfio_iova_is_va() ? "va" : "allocated");
	g_qp = sl_nvme_ctrlr_alloc_io_qpair(g_ctrlr, NULL);
	CHECK(g_qp, "alloc io qpair");
	for (nsid = sl_nvme_ctrlr_first_active_ns(g_ctrlr); nsid;
	     nsid = sl_nvme_ctrlr_next_active_ns(g_ctrlr, nsid)) {
		test_ns(sl_nvme_ctrlr_get_ns(g_ctrlr, nsid));
		nns++;
	}
	CHECK(nns > 0, "no active namespace");
	/* The reset under load crashes QEMU 7.2 now and then: nvme-test-lib.sh runs it once. */
	if (!getenv("NVME_IO_SKIP_RESET"))
		test_reset(sl_nvme_ctrlr_get_ns(g_ctrlr, sl_nvme_ctrlr_first_active_ns(g_ctrlr)));
	if (!getenv("NVME_IO_SKIP_UNMAPPED"))
		test_unmapped_iova(
			sl_nvme_ctrlr_get_ns(g_ctrlr, sl_nvme_ctrlr_first_active_ns(g_ctrlr)));
	CHECK(sl_nvme_ctrlr_free_io_qpair(g_qp) == 0, "free qpair");
	rc = sl_nvme_ctrlr_detach(g_ctrlr);
	CHECK(rc == 0, "detach (shutdown): %d", rc);
	printf("ok: detach with normal shutdown\n");
	sl_env_fini();
	printf("PASS\n");
	return 0;
}
