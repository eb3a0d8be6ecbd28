/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice_perf: drive PCIe NVMe controllers bound to vfio-pci with lib/nvme
 * directly, like spdk_nvme_perf: one I/O queue pair per core per controller,
 * each core busy-polling its own queues, a fixed queue depth per queue pair.
 * Reports IOPS, MiB/s and latency (average, min, max; percentiles with -L).
 *
 *   sluice_perf -q 32 -o 4096 -w randread -t 10 [-c 0x3] [-r 'trtype:PCIe traddr:BDF']...
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/env.h"
#include "sluice/log.h"
#include "sluice/nvme.h"
#include "sluice/util.h"
#include "sluice/vfio.h"

#define MAX_CTRLRS 16
#define MAX_CORES 64

enum workload { WL_READ, WL_WRITE, WL_RANDREAD, WL_RANDWRITE, WL_RW, WL_RANDRW };

struct perf_ctrlr {
	struct sl_nvme_ctrlr *ctrlr;
	struct sl_nvme_ns *ns;
	uint64_t num_blocks; /* I/O units in the namespace */
	uint32_t blocks_per_io;
};

struct perf_task {
	struct perf_worker_ns *wns;
	void *buf;
	uint64_t submit_tsc;
	bool is_read;
};

/* One controller as one core sees it: its qpair and its statistics. */
struct perf_worker_ns {
	struct perf_ctrlr *pc;
	struct sl_nvme_qpair *qpair;
	struct perf_task *tasks;
	uint64_t next_seq;
	uint64_t rand;
	uint64_t ios, errors, min_tsc, max_tsc, total_tsc;
	uint32_t outstanding;
	struct sl_histogram hist;
	bool draining;
};

struct perf_worker {
	uint32_t core;
	struct perf_worker_ns ns[MAX_CTRLRS];
	int rc;
};

static struct perf_ctrlr g_ctrlrs[MAX_CTRLRS];
static int g_num_ctrlrs;
static struct sl_nvme_transport_id g_trids[MAX_CTRLRS];
static int g_num_trids;
static uint32_t g_qd, g_io_size, g_time_s, g_mix = 100;
static enum workload g_workload;
static bool g_latency_table, g_mix_set;
static volatile bool g_stop;
static uint64_t g_end_tsc;

static void usage(const char *prog)
{
	printf("usage: %s -q DEPTH -o SIZE -w WORKLOAD -t SECONDS [options]\n"
	       "  -q DEPTH     I/Os in flight per queue pair (per core and controller)\n"
	       "  -o SIZE      I/O size in bytes (a multiple of the block size)\n"
	       "  -w WORKLOAD  read, write, randread, randwrite, rw, randrw\n"
	       "  -M PERCENT   reads in rw/randrw (0-100)\n"
	       "  -t SECONDS   run time\n"
	       "  -c MASK      core mask, e.g. 0x3 (default 0x1): one queue pair per core per\n"
	       "               controller\n"
	       "  -r TRID      'trtype:PCIe traddr:DOMAIN:BUS:DEV.FN' (repeatable; default:\n"
	       "               every NVMe controller bound to vfio-pci); namespace: the first\n"
	       "               active one\n"
	       "  -L           print a latency percentile table\n"
	       "  -V NAME      VFIO backend: auto (default), container or iommufd\n"
	       "  -s MB        hugepage memory to reserve (default: grow on demand)\n"
	       "  -h           this help\n",
	       prog);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static int submit(struct perf_task *t);

static void io_done(void *arg, const struct sl_nvme_cpl *cpl)
{
	struct perf_task *t = arg;
	struct perf_worker_ns *w = t->wns;
	uint64_t lat = sl_get_ticks() - t->submit_tsc;

	w->outstanding--;
	if (sl_nvme_cpl_is_error(cpl)) {
		w->errors++;
		if (w->errors <= 5)
			fprintf(stderr, "sluice_perf: %s on %s\n", sl_nvme_cpl_status_string(cpl),
				sl_nvme_ctrlr_get_traddr(w->pc->ctrlr));
	} else {
		w->ios++;
		w->total_tsc += lat;
		w->min_tsc = w->ios == 1 || lat < w->min_tsc ? lat : w->min_tsc;
		w->max_tsc = lat > w->max_tsc ? lat : w->max_tsc;
		sl_histogram_add(&w->hist, lat);
	}
	if (!w->draining && submit(t) == 0)
		return;
}

static int submit(struct perf_task *t)
{
	struct perf_worker_ns *w = t->wns;
	struct perf_ctrlr *pc = w->pc;
	bool random =
		g_workload == WL_RANDREAD || g_workload == WL_RANDWRITE || g_workload == WL_RANDRW;
	uint64_t unit;
	int rc;

	if (random)
		unit = xorshift(&w->rand) % pc->num_blocks;
	else
		unit = w->next_seq++ % pc->num_blocks;
	switch (g_workload) {
	case WL_READ:
	case WL_RANDREAD:
		t->is_read = true;
		break;
	case WL_WRITE:
	case WL_RANDWRITE:
		t->is_read = false;
		break;
	default:
		t->is_read = xorshift(&w->rand) % 100 < g_mix;
		break;
	}
	t->submit_tsc = sl_get_ticks();
	if (t->is_read)
		rc = sl_nvme_ns_cmd_read(pc->ns, w->qpair, t->buf, unit * pc->blocks_per_io,
					 pc->blocks_per_io, io_done, t);
	else
		rc = sl_nvme_ns_cmd_write(pc->ns, w->qpair, t->buf, unit * pc->blocks_per_io,
					  pc->blocks_per_io, io_done, t);
	if (rc == 0)
		w->outstanding++;
	return rc;
}

static int worker_run(void *arg)
{
	struct perf_worker *wk = arg;
	int rc = 0;

	for (int c = 0; c < g_num_ctrlrs; c++) {
		struct perf_worker_ns *w = &wk->ns[c];

		w->pc = &g_ctrlrs[c];
		w->rand = 0x9e3779b97f4a7c15ull ^ ((uint64_t)wk->core << 32 | (uint64_t)c);
		sl_histogram_init(&w->hist);
		w->qpair = sl_nvme_ctrlr_alloc_io_qpair(w->pc->ctrlr, NULL);
		w->tasks = calloc(g_qd, sizeof(*w->tasks));
		if (!w->qpair || !w->tasks) {
			fprintf(stderr, "sluice_perf: core %u: no queue pair or memory for %s\n",
				wk->core, sl_nvme_ctrlr_get_traddr(w->pc->ctrlr));
			wk->rc = -ENOMEM;
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < g_qd; i++) {
			w->tasks[i].wns = w;
			w->tasks[i].buf = sl_dma_zmalloc(g_io_size, 4096, NULL);
			if (!w->tasks[i].buf) {
				wk->rc = -ENOMEM;
				return -ENOMEM;
			}
			memset(w->tasks[i].buf, 0x5a, g_io_size);
		}
	}
	for (int c = 0; c < g_num_ctrlrs; c++)
		for (uint32_t i = 0; i < g_qd; i++)
			if (submit(&wk->ns[c].tasks[i]))
				break;
	while (sl_get_ticks() < g_end_tsc && !g_stop)
		for (int c = 0; c < g_num_ctrlrs; c++)
			sl_nvme_qpair_process_completions(wk->ns[c].qpair, 0);
	/* Drain: what is in flight completes (and counts), nothing new starts. */
	for (int c = 0; c < g_num_ctrlrs; c++) {
		struct perf_worker_ns *w = &wk->ns[c];
		uint64_t deadline = sl_get_ticks() + 10 * sl_get_ticks_hz();

		w->draining = true;
		while (w->outstanding && sl_get_ticks() < deadline)
			if (sl_nvme_qpair_process_completions(w->qpair, 0) < 0)
				break;
		if (w->outstanding) {
			fprintf(stderr, "sluice_perf: %u I/Os did not complete on %s\n",
				w->outstanding, sl_nvme_ctrlr_get_traddr(w->pc->ctrlr));
			rc = -ETIMEDOUT;
		}
	}
	wk->rc = rc;
	return rc;
}

static int parse_workload(const char *s)
{
	static const char *const names[] = { "read",	  "write", "randread",
					     "randwrite", "rw",	   "randrw" };

	for (size_t i = 0; i < SL_COUNTOF(names); i++)
		if (strcmp(s, names[i]) == 0) {
			g_workload = (enum workload)i;
			return 0;
		}
	return -EINVAL;
}

static int enum_cb(void *ctx, const char *bdf)
{
	(void)ctx;
	if (g_num_trids >= MAX_CTRLRS)
		return 0;
	char tr[128];

	snprintf(tr, sizeof(tr), "trtype:PCIe traddr:%s", bdf);
	if (sl_nvme_transport_id_parse(&g_trids[g_num_trids], tr) == 0)
		g_num_trids++;
	return 0;
}

static int attach_all(void)
{
	for (int i = 0; i < g_num_trids; i++) {
		struct perf_ctrlr *pc = &g_ctrlrs[g_num_ctrlrs];
		uint32_t nsid, bs;
		int rc = sl_nvme_ctrlr_connect(&g_trids[i], NULL, &pc->ctrlr);

		if (rc) {
			fprintf(stderr, "sluice_perf: cannot attach %s: %s\n", g_trids[i].traddr,
				strerror(-rc));
			return rc;
		}
		g_num_ctrlrs++;
		nsid = sl_nvme_ctrlr_first_active_ns(pc->ctrlr);
		if (!nsid) {
			fprintf(stderr, "sluice_perf: %s has no active namespace\n",
				g_trids[i].traddr);
			return -ENODEV;
		}
		pc->ns = sl_nvme_ctrlr_get_ns(pc->ctrlr, nsid);
		bs = sl_nvme_ns_get_sector_size(pc->ns);
		if (g_io_size % bs || g_io_size > sl_nvme_ctrlr_get_max_xfer_size(pc->ctrlr)) {
			fprintf(stderr,
				"sluice_perf: -o %u must be a multiple of %s's block size %u and "
				"at "
				"most its max transfer %u\n",
				g_io_size, g_trids[i].traddr, bs,
				sl_nvme_ctrlr_get_max_xfer_size(pc->ctrlr));
			return -EINVAL;
		}
		pc->blocks_per_io = g_io_size / bs;
		pc->num_blocks = sl_nvme_ns_get_num_sectors(pc->ns) / pc->blocks_per_io;
		if (!pc->num_blocks) {
			fprintf(stderr, "sluice_perf: %s namespace %u is smaller than one I/O\n",
				g_trids[i].traddr, nsid);
			return -EINVAL;
		}
		printf("Attached %s namespace %u (%" PRIu64 " blocks of %u bytes)\n",
		       g_trids[i].traddr, nsid, sl_nvme_ns_get_num_sectors(pc->ns), bs);
	}
	return 0;
}

static void report(struct perf_worker *workers, int nworkers, double secs)
{
	double hz = (double)sl_get_ticks_hz(), us_per_tick = 1e6 / hz;
	double tot_iops = 0, tot_mibs = 0, tot_lat = 0;
	uint64_t tot_ios = 0, tot_min = UINT64_MAX, tot_max = 0, errors = 0;
	struct sl_histogram all;

	sl_histogram_init(&all);
	printf("========================================================\n");
	printf("%-44s %12s %10s %10s %10s %10s\n", "Device Information", "IOPS", "MiB/s", "Average",
	       "min", "max");
	for (int k = 0; k < nworkers; k++)
		for (int c = 0; c < g_num_ctrlrs; c++) {
			struct perf_worker_ns *w = &workers[k].ns[c];
			double iops = (double)w->ios / secs;
			char name[64];

			snprintf(name, sizeof(name), "PCIE (%s) NSID %u from core %u",
				 sl_nvme_ctrlr_get_traddr(w->pc->ctrlr),
				 sl_nvme_ns_get_id(w->pc->ns), workers[k].core);
			printf("%-44s %12.2f %10.2f %10.2f %10.2f %10.2f\n", name, iops,
			       iops * g_io_size / 1048576.0,
			       w->ios ? (double)w->total_tsc / w->ios * us_per_tick : 0,
			       w->ios ? (double)w->min_tsc * us_per_tick : 0,
			       (double)w->max_tsc * us_per_tick);
			tot_iops += iops;
			tot_mibs += iops * g_io_size / 1048576.0;
			tot_ios += w->ios;
			tot_lat += (double)w->total_tsc;
			errors += w->errors;
			if (w->ios && w->min_tsc < tot_min)
				tot_min = w->min_tsc;
			if (w->max_tsc > tot_max)
				tot_max = w->max_tsc;
			sl_histogram_merge(&all, &w->hist);
		}
	printf("========================================================\n");
	printf("%-44s %12.2f %10.2f %10.2f %10.2f %10.2f\n", "Total", tot_iops, tot_mibs,
	       tot_ios ? tot_lat / tot_ios * us_per_tick : 0, tot_ios ? tot_min * us_per_tick : 0,
	       tot_max * us_per_tick);
	printf("I/O completed: %" PRIu64 ", failed: %" PRIu64 "\n", tot_ios, errors);
	if (g_latency_table && tot_ios) {
		static const double pcts[] = { 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99 };

		printf("\nLatency percentiles (us):\n");
		for (size_t i = 0; i < SL_COUNTOF(pcts); i++)
			printf("  %7.2f%% : %10.2f\n", pcts[i],
			       (double)sl_histogram_percentile(&all, pcts[i]) * us_per_tick);
	}
}

int main(int argc, char **argv)
{
	/* Heap: each worker holds a latency histogram per controller (tens of KiB each). */
	struct perf_worker *workers = calloc(MAX_CORES, sizeof(*workers));
	struct sl_env_opts opts;
	enum sl_vfio_backend backend;
	const char *mask = "0x1";
	int nworkers = 0, ch, rc, failed = 0;
	uint32_t core, main_core;
	uint64_t start;

	if (!workers) {
		fprintf(stderr, "sluice_perf: out of memory\n");
		return 1;
	}
	sl_env_opts_init(&opts);
	opts.name = "sluice_perf";
	opts.quiet = true;
	while ((ch = getopt(argc, argv, "q:o:w:M:t:c:r:LV:s:h")) != -1) {
		char *end = NULL;

		switch (ch) {
		case 'q':
			g_qd = (uint32_t)strtoul(optarg, &end, 10);
			break;
		case 'o':
			g_io_size = (uint32_t)strtoul(optarg, &end, 10);
			break;
		case 't':
			g_time_s = (uint32_t)strtoul(optarg, &end, 10);
			break;
		case 'M':
			g_mix = (uint32_t)strtoul(optarg, &end, 10);
			g_mix_set = true;
			if (g_mix > 100)
				end = optarg;
			break;
		case 's':
			opts.mem_size_mb = strtoul(optarg, &end, 10);
			break;
		case 'w':
			if (parse_workload(optarg)) {
				fprintf(stderr, "sluice_perf: unknown workload '%s'\n", optarg);
				return 1;
			}
			break;
		case 'c':
			mask = optarg;
			break;
		case 'r':
			if (g_num_trids >= MAX_CTRLRS ||
			    sl_nvme_transport_id_parse(&g_trids[g_num_trids], optarg)) {
				fprintf(stderr,
					"sluice_perf: bad transport ID '%s' (want "
					"'trtype:PCIe traddr:0000:00:04.0')\n",
					optarg);
				return 1;
			}
			g_num_trids++;
			break;
		case 'L':
			g_latency_table = true;
			break;
		case 'V':
			if (sl_vfio_backend_from_string(optarg, &backend) ||
			    sl_vfio_set_backend(backend)) {
				fprintf(stderr, "sluice_perf: bad VFIO backend '%s'\n", optarg);
				return 1;
			}
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 1;
		}
		if (end && *end) {
			fprintf(stderr, "sluice_perf: bad number '%s' for -%c\n", optarg, ch);
			return 1;
		}
	}
	if (optind < argc || !g_qd || !g_io_size || !g_time_s) {
		fprintf(stderr, "sluice_perf: -q, -o, -w and -t are required (-h for help)\n");
		return 1;
	}
	if ((g_workload == WL_RW || g_workload == WL_RANDRW) && !g_mix_set) {
		fprintf(stderr, "sluice_perf: -w rw and randrw need -M (percentage of reads)\n");
		return 1;
	}
	opts.core_mask = mask;
	rc = sl_env_init(&opts);
	if (rc) {
		fprintf(stderr, "sluice_perf: cannot start the environment: %s\n", strerror(-rc));
		return 1;
	}
	if (sl_env_no_huge()) {
		fprintf(stderr,
			"sluice_perf: no hugepages: devices cannot DMA (run scripts/setup.sh)\n");
		rc = -ENOMEM;
		goto out_env;
	}
	if (!g_num_trids)
		sl_nvme_pcie_enumerate(enum_cb, NULL);
	if (!g_num_trids) {
		fprintf(stderr,
			"sluice_perf: no NVMe controller bound to vfio-pci (scripts/setup.sh)\n");
		rc = -ENODEV;
		goto out_env;
	}
	rc = attach_all();
	if (rc)
		goto out_detach;
	main_core = sl_env_get_main_core();
	for (core = sl_env_get_first_core(); core != UINT32_MAX && nworkers < MAX_CORES;
	     core = sl_env_get_next_core(core))
		workers[nworkers++].core = core;
	start = sl_get_ticks();
	g_end_tsc = start + (uint64_t)g_time_s * sl_get_ticks_hz();
	for (int k = 0; k < nworkers; k++)
		if (workers[k].core != main_core &&
		    sl_env_thread_launch_pinned(workers[k].core, worker_run, &workers[k])) {
			fprintf(stderr, "sluice_perf: cannot start core %u\n", workers[k].core);
			g_stop = true;
		}
	for (int k = 0; k < nworkers; k++)
		if (workers[k].core == main_core)
			worker_run(&workers[k]);
	sl_env_thread_wait_all();
	for (int k = 0; k < nworkers; k++)
		failed |= workers[k].rc;
	report(workers, nworkers, (double)(sl_get_ticks() - start) / (double)sl_get_ticks_hz());
	rc = failed ? -EIO : 0;
	for (int k = 0; k < nworkers; k++)
		for (int c = 0; c < g_num_ctrlrs; c++) {
			struct perf_worker_ns *w = &workers[k].ns[c];

			if (w->qpair)
				sl_nvme_ctrlr_free_io_qpair(w->qpair);
			for (uint32_t i = 0; w->tasks && i < g_qd; i++)
				sl_dma_free(w->tasks[i].buf);
			free(w->tasks);
		}
out_detach:
	for (int c = 0; c < g_num_ctrlrs; c++)
		sl_nvme_ctrlr_detach(g_ctrlrs[c].ctrlr);
out_env:
	sl_env_fini();
	free(workers);
	return rc ? 1 : 0;
}
