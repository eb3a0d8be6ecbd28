/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bdevperf: I/O benchmark over the bdevs a JSON config creates, with SPDK
 * bdevperf's command line (-q -o -w -M -t -T -C -S -f -l, plus the framework's
 * --json and -m).
 *
 * Jobs, as SPDK places them:
 *   default  one job per bdev; jobs go to the reactor cores round-robin;
 *   -C       one job per bdev per core, each on its own slice of the bdev.
 * Bdevs claimed by another module (the base of an error bdev) are skipped
 * unless named with -T.
 *
 * This file parses the options, builds the jobs on the app thread, starts
 * one sl_thread per job and prints the tables when the last job reports.
 */
#include "bdevperf.h"

#include "sluice/bdev_module.h"
#include "sluice/env.h"
#include "sluice/event.h"
#include "sluice/log.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BP_MAX_TARGETS 64
#define BP_MAX_QUEUE_DEPTH 65536
#define BP_MAX_IO_SIZE (1u << 30)
#define BP_MAX_TIME_SEC (100u * 365 * 24 * 3600)

static const char *const g_workload_names[] = {
	[BP_WL_READ] = "read",
	[BP_WL_WRITE] = "write",
	[BP_WL_RANDREAD] = "randread",
	[BP_WL_RANDWRITE] = "randwrite",
	[BP_WL_RW] = "rw",
	[BP_WL_RANDRW] = "randrw",
	[BP_WL_VERIFY] = "verify",
	[BP_WL_UNMAP] = "unmap",
	[BP_WL_WRITE_ZEROES] = "write_zeroes",
	[BP_WL_FLUSH] = "flush",
};
#define WORKLOAD_LIST                                                                              \
	"read, write, randread, randwrite, rw, randrw, verify, unmap, write_zeroes, flush"

/* Command line. */
static struct bp_params g_params = { .rw_percentage = -1 };
static const char *g_workload_arg;
static bool g_have_q, g_have_o, g_have_t;
static const char *g_targets[BP_MAX_TARGETS];
static uint32_t g_ntargets;
static bool g_multithread;	    /* -C */
static uint32_t g_stats_period_sec; /* -S */
static int g_latency_level;	    /* -l, -ll */

/* App thread. */
static struct bp_job **g_jobs;
static uint32_t g_njobs;
static uint32_t g_jobs_running;
static struct sl_poller *g_stats_poller;
static bool g_started;
static bool g_setup_failed;

const char *bp_workload_name(enum bp_workload wl)
{
	return g_workload_names[wl];
}

/* ---- options ---- */

static void bdevperf_usage(void)
{
	printf("bdevperf options (SPDK bdevperf's):\n");
	printf(" -q DEPTH                  I/Os in flight per job (required)\n");
	printf(" -o SIZE                   I/O size in bytes: 4096, 4k, 128K, 1M (required)\n");
	printf(" -w TYPE                   workload (required): read, write, randread,\n"
	       "                           randwrite, rw, randrw (mixes, see -M), verify\n"
	       "                           (write a pattern, read it back, compare), unmap,\n"
	       "                           write_zeroes, flush; the non-rand ones are "
	       "sequential\n");
	printf(" -M PERCENT                reads in rw/randrw, 0-100 (required for them)\n");
	printf(" -t SECONDS                run time (required)\n");
	printf(" -T BDEV                   bdev to test (repeatable); default: every bdev not\n"
	       "                           claimed by another module\n");
	printf(" -C                        one job per bdev per core, each on its own slice;\n"
	       "                           default: one job per bdev, cores round-robin\n");
	printf(" -S SECONDS                print IOPS of every job each SECONDS\n");
	printf(" -f                        continue after I/O failures (they are counted)\n");
	printf(" -l                        latency percentiles p50/p90/p99/p99.9; -ll more\n");
	printf("\nResults: IOPS, MiB/s, failures/s, timeouts/s (always 0) and average/min/max\n"
	       "latency in microseconds per job and in total. Exit status 0 when every job ran\n"
	       "without an I/O failure (failures are allowed with -f) and verify found no\n"
	       "mismatch.\n");
}

/* "4096", "4k", "128K", "1M", "1MiB", "2G" */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = 1ULL << 10;
		break;
	case 'm':
	case 'M':
		mult = 1ULL << 20;
		break;
	case 'g':
	case 'G':
		mult = 1ULL << 30;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1] && strcasecmp(end + 1, "b") && strcasecmp(end + 1, "ib"))
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

static int parse_uint(int ch, const char *arg, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*arg < '0' || *arg > '9')
		goto bad;
	v = strtoull(arg, &end, 10);
	if (errno || *end)
		goto bad;
	if (v > max) {
		fprintf(stderr, "bdevperf: -%c %s is too large (at most %" PRIu64 ")\n", ch, arg,
			max);
		return -EINVAL;
	}
	*out = v;
	return 0;
bad:
	fprintf(stderr, "bdevperf: invalid -%c '%s': expected a non-negative integer\n", ch, arg);
	return -EINVAL;
}

static int bdevperf_parse_arg(int ch, char *arg)
{
	uint64_t v;

	switch (ch) {
	case 'q':
		if (parse_uint(ch, arg, BP_MAX_QUEUE_DEPTH, &v))
			return -EINVAL;
		g_params.queue_depth = (uint32_t)v;
		g_have_q = true;
		break;
	case 'o':
		if (parse_size(arg, &v) || v > BP_MAX_IO_SIZE) {
			fprintf(stderr,
				"bdevperf: invalid I/O size -o '%s' (e.g. 4096, 4k, 128K; at most "
				"1G)\n",
				arg);
			return -EINVAL;
		}
		g_params.io_size = (uint32_t)v;
		g_have_o = true;
		break;
	case 'w':
		g_workload_arg = arg;
		break;
	case 'M':
		if (parse_uint(ch, arg, 100, &v))
			return -EINVAL;
		g_params.rw_percentage = (int)v;
		break;
	case 't':
		if (parse_uint(ch, arg, BP_MAX_TIME_SEC, &v))
			return -EINVAL;
		g_params.time_sec = (uint32_t)v;
		g_have_t = true;
		break;
	case 'T':
		if (g_ntargets == BP_MAX_TARGETS) {
			fprintf(stderr, "bdevperf: at most %d -T options\n", BP_MAX_TARGETS);
			return -EINVAL;
		}
		g_targets[g_ntargets++] = arg;
		break;
	case 'C':
		g_multithread = true;
		break;
	case 'S':
		if (parse_uint(ch, arg, 86400, &v))
			return -EINVAL;
		if (v == 0) {
			fprintf(stderr, "bdevperf: -S must be at least 1 second\n");
			return -EINVAL;
		}
		g_stats_period_sec = (uint32_t)v;
		break;
	case 'f':
		g_params.continue_on_failure = true;
		break;
	case 'l':
		g_latency_level++;
		break;
	case 'z':
		fprintf(stderr, "bdevperf: -z (wait for the perform_tests RPC) is not supported; "
				"give the test on the command line\n");
		return -EINVAL;
	default:
		return -EINVAL;
	}
	return 0;
}

/* Checks that need no bdev: done before any reactor starts. */
static int check_params(void)
{
	size_t i;

	if (!g_workload_arg) {
		fprintf(stderr, "bdevperf: missing -w (workload: " WORKLOAD_LIST ")\n");
		return -EINVAL;
	}
	for (i = 0; i < SL_COUNTOF(g_workload_names); i++)
		if (!strcmp(g_workload_arg, g_workload_names[i]))
			break;
	if (i == SL_COUNTOF(g_workload_names)) {
		if (!strcmp(g_workload_arg, "reset"))
			fprintf(stderr, "bdevperf: workload 'reset' is not supported\n");
		else
			fprintf(stderr,
				"bdevperf: invalid workload -w '%s': must be one of " WORKLOAD_LIST
				"\n",
				g_workload_arg);
		return -EINVAL;
	}
	g_params.workload = (enum bp_workload)i;
	if (!g_have_q || g_params.queue_depth == 0) {
		fprintf(stderr, "bdevperf: %s: -q (queue depth) must be at least 1\n",
			g_have_q ? "invalid -q 0" : "missing -q");
		return -EINVAL;
	}
	if (!g_have_o || g_params.io_size == 0) {
		fprintf(stderr, "bdevperf: %s: -o (I/O size in bytes) must be at least 1\n",
			g_have_o ? "invalid -o 0" : "missing -o");
		return -EINVAL;
	}
	if (!g_have_t || g_params.time_sec == 0) {
		fprintf(stderr, "bdevperf: %s: -t (run time in seconds) must be at least 1\n",
			g_have_t ? "invalid -t 0" : "missing -t");
		return -EINVAL;
	}
	if (g_params.workload == BP_WL_RW || g_params.workload == BP_WL_RANDRW) {
		if (g_params.rw_percentage < 0) {
			fprintf(stderr, "bdevperf: -w %s needs -M (percentage of reads, 0-100)\n",
				g_workload_arg);
			return -EINVAL;
		}
	} else if (g_params.rw_percentage >= 0) {
		fprintf(stderr, "bdevperf: ignoring -M: it applies to rw and randrw only\n");
	}
	return 0;
}

/* ---- jobs (app thread) ---- */

static bool workload_writes(enum bp_workload wl)
{
	return wl != BP_WL_READ && wl != BP_WL_RANDREAD;
}

static bool workload_random(enum bp_workload wl)
{
	return wl == BP_WL_RANDREAD || wl == BP_WL_RANDWRITE || wl == BP_WL_RANDRW;
}

/* Can this bdev run the workload at this I/O size? Prints why not. */
static int check_bdev(struct sl_bdev *bdev, uint64_t range_blocks)
{
	const char *name = sl_bdev_get_name(bdev);
	uint32_t bs = sl_bdev_get_block_size(bdev);
	uint64_t ios;

	if (g_params.io_size % bs) {
		fprintf(stderr,
			"bdevperf: I/O size %u is not a multiple of the block size of bdev %s "
			"(%u)\n",
			g_params.io_size, name, bs);
		return -EINVAL;
	}
	ios = range_blocks / (g_params.io_size / bs);
	if (ios == 0) {
		fprintf(stderr,
			"bdevperf: I/O size %u is larger than %s of bdev %s (%" PRIu64 " bytes)\n",
			g_params.io_size, g_multithread ? "the per-core slice" : "the whole", name,
			range_blocks * bs);
		return -EINVAL;
	}
	switch (g_params.workload) {
	case BP_WL_UNMAP:
		if (!sl_bdev_io_type_supported(bdev, SL_BDEV_IO_TYPE_UNMAP))
			goto unsupported;
		break;
	case BP_WL_WRITE_ZEROES:
		if (!sl_bdev_io_type_supported(bdev, SL_BDEV_IO_TYPE_WRITE_ZEROES))
			goto unsupported;
		break;
	case BP_WL_FLUSH:
		/* Without a volatile write cache the core completes flushes itself. */
		if (!sl_bdev_io_type_supported(bdev, SL_BDEV_IO_TYPE_FLUSH) &&
		    sl_bdev_has_write_cache(bdev))
			goto unsupported;
		break;
	default:
		break;
	}
	return 0;
unsupported:
	fprintf(stderr, "bdevperf: bdev %s (module %s) does not support %s\n", name,
		sl_bdev_get_module_name(bdev), g_workload_names[g_params.workload]);
	return -ENOTSUP;
}

static struct bp_job *job_new(struct sl_bdev *bdev, uint32_t core, uint64_t base_blocks,
			      uint64_t range_blocks)
{
	struct bp_job *job;

	job = aligned_alloc(64, SL_ALIGN_UP(sizeof(*job), (size_t)64));
	if (!job)
		return NULL;
	memset(job, 0, sizeof(*job));
	job->hist = malloc(sizeof(*job->hist));
	if (!job->hist) {
		free(job);
		return NULL;
	}
	sl_histogram_init(job->hist);
	snprintf(job->bdev_name, sizeof(job->bdev_name), "%s", sl_bdev_get_name(bdev));
	job->index = g_njobs;
	job->core = core;
	job->p = g_params;
	job->random = workload_random(g_params.workload);
	job->write_open = workload_writes(g_params.workload);
	job->block_size = sl_bdev_get_block_size(bdev);
	job->buf_align = sl_bdev_get_buf_align(bdev);
	job->io_blocks = g_params.io_size / job->block_size;
	job->base_blocks = base_blocks;
	job->size_ios = range_blocks / job->io_blocks;
	job->app_thread = sl_get_thread();
	if (g_params.workload == BP_WL_VERIFY && job->p.queue_depth > job->size_ios) {
		/* Every in-flight verify I/O needs a range of its own. */
		fprintf(stderr,
			"bdevperf: %s: verify needs a separate %u-byte range per I/O in flight: "
			"queue depth lowered from %u to %" PRIu64 "\n",
			job->bdev_name, g_params.io_size, job->p.queue_depth, job->size_ios);
		job->p.queue_depth = (uint32_t)job->size_ios;
	}
	return job;
}

static void job_free(struct bp_job *job)
{
	free(job->hist);
	free(job);
}

static int add_job(struct sl_bdev *bdev, uint32_t core, uint64_t base, uint64_t range)
{
	struct bp_job **jobs, *job;

	jobs = realloc(g_jobs, (g_njobs + 1) * sizeof(*g_jobs));
	if (!jobs)
		return -ENOMEM;
	g_jobs = jobs;
	job = job_new(bdev, core, base, range);
	if (!job)
		return -ENOMEM;
	g_jobs[g_njobs++] = job;
	return 0;
}

static uint32_t next_core(uint32_t *cur)
{
	uint32_t c = *cur == UINT32_MAX ? sl_env_get_first_core() : sl_env_get_next_core(*cur);

	if (c == UINT32_MAX)
		c = sl_env_get_first_core();
	*cur = c;
	return c;
}

static int add_bdev_jobs(struct sl_bdev *bdev, uint32_t *rr_core)
{
	uint64_t blocks = sl_bdev_get_num_blocks(bdev);
	int rc;

	if (!g_multithread) {
		rc = check_bdev(bdev, blocks);
		return rc ? rc : add_job(bdev, next_core(rr_core), 0, blocks);
	}
	/* -C: core i gets the i-th of ncores equal slices. */
	uint64_t slice = blocks / sl_env_get_core_count(), base = 0;

	rc = check_bdev(bdev, slice);
	if (rc)
		return rc;
	for (uint32_t c = sl_env_get_first_core(); c != UINT32_MAX; c = sl_env_get_next_core(c)) {
		rc = add_job(bdev, c, base, slice);
		if (rc)
			return rc;
		base += slice;
	}
	return 0;
}

static int build_jobs(void)
{
	uint32_t rr_core = UINT32_MAX;
	struct sl_bdev *bdev;
	int rc;

	if (g_ntargets) {
		for (uint32_t i = 0; i < g_ntargets; i++) {
			bdev = sl_bdev_get_by_name(g_targets[i]);
			if (!bdev) {
				fprintf(stderr, "bdevperf: no bdev named '%s' (-T)\n",
					g_targets[i]);
				return -ENODEV;
			}
			for (uint32_t j = 0; j < i; j++) {
				if (sl_bdev_get_by_name(g_targets[j]) == bdev) {
					/* Two jobs on one range would break each other's verify. */
					fprintf(stderr, "bdevperf: bdev '%s' given twice (-T)\n",
						g_targets[i]);
					return -EINVAL;
				}
			}
			rc = add_bdev_jobs(bdev, &rr_core);
			if (rc)
				return rc;
		}
	} else {
		for (bdev = sl_bdev_first(); bdev; bdev = sl_bdev_next(bdev)) {
			if (sl_bdev_get_claim(bdev))
				continue; /* used by another bdev: test that one */
			rc = add_bdev_jobs(bdev, &rr_core);
			if (rc)
				return rc;
		}
	}
	if (g_njobs == 0) {
		fprintf(stderr, "bdevperf: no bdev to test: create some with --json CONFIG "
				"(bdev_malloc_create, bdev_null_create, ...)\n");
		return -ENODEV;
	}
	return 0;
}

static void finish_run(void)
{
	int rc = g_setup_failed ? 1 : 0;

	sl_poller_unregister(&g_stats_poller);
	bp_report_header();
	for (uint32_t i = 0; i < g_njobs; i++) {
		struct bp_job *job = g_jobs[i];

		if (!job->done)
			continue; /* never started */
		bp_report_job(job, g_latency_level);
		if (job->rc || job->verify_mismatches ||
		    (job->io_failed && !job->p.continue_on_failure))
			rc = 1;
	}
	bp_report_total(g_jobs, g_njobs, g_latency_level);
	fflush(stdout);
	sl_app_stop(rc);
}

void bp_job_done(void *arg)
{
	struct bp_job *job = arg;

	job->done = true;
	if (--g_jobs_running == 0)
		finish_run();
}

static int stats_poll(void *arg)
{
	(void)arg;
	bp_report_periodic(g_jobs, g_njobs, (double)g_stats_period_sec);
	return SL_POLLER_BUSY;
}

static void bdevperf_run(void *ctx)
{
	int rc;

	(void)ctx;
	g_started = true;
	rc = build_jobs();
	if (rc) {
		sl_app_stop(1);
		return;
	}
	printf("Running I/O for %u seconds...\n", g_params.time_sec);
	fflush(stdout);
	if (g_stats_period_sec)
		g_stats_poller = sl_poller_register_named(
			stats_poll, NULL, (uint64_t)g_stats_period_sec * 1000000, "bdevperf_stats");
	for (uint32_t i = 0; i < g_njobs; i++) {
		struct bp_job *job = g_jobs[i];
		char name[32];

		snprintf(name, sizeof(name), "bdevperf_%u", i);
		job->thread = sl_thread_create(name, (int32_t)job->core);
		if (!job->thread || sl_thread_send_msg(job->thread, bp_job_start, job)) {
			fprintf(stderr, "bdevperf: cannot start job %u (%s on core %u)\n", i,
				job->bdev_name, job->core);
			if (job->thread)
				sl_thread_exit(job->thread);
			job->thread = NULL;
			/* Stop the jobs already running; the tables print when they report. */
			g_setup_failed = true;
			atomic_store(&g_bp_shutdown, true);
			if (g_jobs_running == 0)
				sl_app_stop(1);
			return;
		}
		g_jobs_running++;
	}
}

static void bdevperf_shutdown(void)
{
	atomic_store(&g_bp_shutdown, true);
	/* Jobs notice within STOP_CHECK_PERIOD_US and report; then the tables print. */
	if (!g_started || g_jobs_running == 0)
		sl_app_stop(0);
}

int main(int argc, char **argv)
{
	struct sl_app_opts opts;
	int rc;

	sl_app_opts_init(&opts);
	opts.name = "bdevperf";
	opts.rpc_addr = NULL; /* -r sets one */
	opts.usage_extra = bdevperf_usage;
	opts.shutdown_cb = bdevperf_shutdown;
	switch (sl_app_parse_args(argc, argv, &opts, "q:o:w:M:t:T:S:Cflz", NULL,
				  bdevperf_parse_arg)) {
	case SL_APP_PARSE_SUCCESS:
		break;
	case SL_APP_PARSE_EXIT:
		return 0;
	default:
		return 1;
	}
	if (check_params())
		return 1;

	rc = sl_app_start(&opts, bdevperf_run, NULL);
	sl_app_fini();
	for (uint32_t i = 0; i < g_njobs; i++)
		job_free(g_jobs[i]);
	free(g_jobs);
	if (rc < 0)
		fprintf(stderr, "bdevperf: start-up failed: %s\n", strerror(-rc));
	return rc ? 1 : 0;
}
