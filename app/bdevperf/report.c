/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bdevperf result tables, laid out like SPDK bdevperf's so its users find
 * their columns: runtime, IOPS, MiB/s, Fail/s, TO/s, average/min/max latency
 * in microseconds, per job and in total; latency percentiles on request.
 */
#include "bdevperf.h"

#include "sluice/env.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const double g_summary_pcts[] = { 50, 90, 99, 99.9 };
static const double g_detail_pcts[] = {
	1, 10, 25, 50, 75, 90, 95, 98, 99, 99.5, 99.9, 99.99, 99.999
};

struct job_figures {
	double runtime;
	double iops;
	double mibps;
	double fail_ps;
	double avg_us;
	double min_us;
	double max_us;
};

static void figures_of(const struct bp_job *job, struct job_figures *f)
{
	uint64_t hz = sl_get_ticks_hz();
	uint64_t ticks = job->stop_tsc > job->start_tsc ? job->stop_tsc - job->start_tsc : 0;
	const struct sl_histogram *h = job->hist;

	memset(f, 0, sizeof(*f));
	f->runtime = (double)ticks / (double)hz;
	if (ticks) {
		f->iops = (double)atomic_load(&job->io_completed) / f->runtime;
		f->fail_ps = (double)job->io_failed / f->runtime;
	}
	f->mibps = f->iops * job->p.io_size / (1024.0 * 1024.0);
	if (h->count) {
		f->avg_us = bp_ticks_to_us(h->sum, hz) / (double)h->count;
		f->min_us = bp_ticks_to_us(h->min, hz);
		f->max_us = bp_ticks_to_us(h->max, hz);
	}
}

static void core_mask_str(uint32_t core, char *buf, size_t len)
{
	if (core < 64)
		snprintf(buf, len, "0x%" PRIx64, (uint64_t)1 << core);
	else
		snprintf(buf, len, "0x%" PRIx64 "%016" PRIx64, (uint64_t)1 << (core - 64),
			 (uint64_t)0);
}

static void print_percentiles(const struct sl_histogram *h, int level, const char *indent)
{
	uint64_t hz = sl_get_ticks_hz();
	const double *pcts = level > 1 ? g_detail_pcts : g_summary_pcts;
	size_t n = level > 1 ? SL_COUNTOF(g_detail_pcts) : SL_COUNTOF(g_summary_pcts);

	if (!h->count)
		return;
	printf("%sLatency percentiles (us):", indent);
	for (size_t i = 0; i < n; i++)
		printf("%s p%g %.2f", i ? "," : "", pcts[i],
		       bp_ticks_to_us(sl_histogram_percentile(h, pcts[i]), hz));
	printf("\n");
}

void bp_report_header(void)
{
	printf("\n%*s\n", 107, "Latency(us)");
	printf(" %-27s: %10s %10s %10s %10s %8s %10s %10s %10s\n", "Device Information",
	       "runtime(s)", "IOPS", "MiB/s", "Fail/s", "TO/s", "Average", "min", "max");
}

void bp_report_job(const struct bp_job *job, int latency_level)
{
	struct job_figures f;
	char mask[48];

	figures_of(job, &f);
	core_mask_str(job->core, mask, sizeof(mask));
	if (job->p.workload == BP_WL_RW || job->p.workload == BP_WL_RANDRW)
		printf("Job: %s (Core Mask %s, workload: %s, percentage: %d, depth: %u, IO size: "
		       "%u)\n",
		       job->bdev_name, mask, bp_workload_name(job->p.workload),
		       job->p.rw_percentage, job->p.queue_depth, job->p.io_size);
	else
		printf("Job: %s (Core Mask %s, workload: %s, depth: %u, IO size: %u)\n",
		       job->bdev_name, mask, bp_workload_name(job->p.workload), job->p.queue_depth,
		       job->p.io_size);
	if (!job->ran)
		printf("Job: %s did not run\n", job->bdev_name);
	else if (job->rc || job->failed_stop)
		printf("Job: %s ended in about %.2f seconds with error\n", job->bdev_name,
		       f.runtime);
	else if (job->removed)
		printf("Job: %s stopped after %.2f seconds: the bdev was removed\n", job->bdev_name,
		       f.runtime);
	if (job->p.workload == BP_WL_VERIFY)
		printf("\t Verification LBA range: start 0x%" PRIx64 " length 0x%" PRIx64 "\n",
		       job->base_blocks, job->size_ios * job->io_blocks);
	printf("\t %-20s: %10.2f %10.2f %10.2f %10.2f %8.2f %10.2f %10.2f %10.2f\n", job->bdev_name,
	       f.runtime, f.iops, f.mibps, f.fail_ps, 0.0, f.avg_us, f.min_us, f.max_us);
	if (job->io_failed || job->verify_mismatches)
		printf("\t %s: %" PRIu64 " I/O failed, %" PRIu64 " verify mismatches\n",
		       job->bdev_name, job->io_failed, job->verify_mismatches);
	if (latency_level)
		print_percentiles(job->hist, latency_level, "\t ");
}

void bp_report_total(struct bp_job **jobs, uint32_t njobs, int latency_level)
{
	struct sl_histogram total;
	double iops = 0, mibps = 0, fail_ps = 0, min_us = 0, max_us = 0, avg_us = 0;
	uint64_t completed = 0, failed = 0, mismatches = 0, hz = sl_get_ticks_hz();

	sl_histogram_init(&total);
	for (uint32_t i = 0; i < njobs; i++) {
		struct job_figures f;

		if (!jobs[i]->done)
			continue;
		figures_of(jobs[i], &f);
		iops += f.iops;
		mibps += f.mibps;
		fail_ps += f.fail_ps;
		completed += atomic_load(&jobs[i]->io_completed);
		failed += jobs[i]->io_failed;
		mismatches += jobs[i]->verify_mismatches;
		sl_histogram_merge(&total, jobs[i]->hist);
	}
	if (total.count) {
		avg_us = bp_ticks_to_us(total.sum, hz) / (double)total.count;
		min_us = bp_ticks_to_us(total.min, hz);
		max_us = bp_ticks_to_us(total.max, hz);
	}
	printf("=============================================================================="
	       "=====================================\n");
	printf(" %-27s: %10s %10.2f %10.2f %10.2f %8.2f %10.2f %10.2f %10.2f\n", "Total", "", iops,
	       mibps, fail_ps, 0.0, avg_us, min_us, max_us);
	if (latency_level)
		print_percentiles(&total, latency_level, " ");
	printf(" I/O completed: %" PRIu64 ", failed: %" PRIu64 ", verify mismatches: %" PRIu64 "\n",
	       completed, failed, mismatches);
}

void bp_report_periodic(struct bp_job **jobs, uint32_t njobs, double period_sec)
{
	double total = 0;
	uint32_t io_size = 0;

	for (uint32_t i = 0; i < njobs; i++) {
		struct bp_job *job = jobs[i];
		uint64_t now = atomic_load_explicit(&job->io_completed, memory_order_relaxed);
		double iops = (double)(now - job->prev_completed) / period_sec;

		if (!job->thread)
			continue;
		job->prev_completed = now;
		total += iops;
		io_size = job->p.io_size;
		printf(" %-20s core %3u: %12.2f IOPS %10.2f MiB/s\n", job->bdev_name, job->core,
		       iops, iops * job->p.io_size / (1024.0 * 1024.0));
	}
	printf(" %-29s: %12.2f IOPS %10.2f MiB/s\n", "Total", total,
	       total * io_size / (1024.0 * 1024.0));
	fflush(stdout);
}
