/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bdevperf: shared definitions of the option parser / job set-up (bdevperf.c),
 * the per-job I/O engine (job.c) and the result tables (report.c).
 *
 * A job is one bdev (or one slice of it, with -C) driven by one sl_thread on
 * one reactor core. The app thread creates it, the job thread owns it while
 * it runs, and hands it back with a message when its I/O has drained.
 */
#ifndef BDEVPERF_H
#define BDEVPERF_H

#include "sluice/bdev.h"
#include "sluice/thread.h"
#include "sluice/util.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum bp_workload {
	BP_WL_READ,
	BP_WL_WRITE,
	BP_WL_RANDREAD,
	BP_WL_RANDWRITE,
	BP_WL_RW,
	BP_WL_RANDRW,
	BP_WL_VERIFY,
	BP_WL_UNMAP,
	BP_WL_WRITE_ZEROES,
	BP_WL_FLUSH,
};

const char *bp_workload_name(enum bp_workload wl);

/* The per-job view of the command line. */
struct bp_params {
	enum bp_workload workload;
	uint32_t queue_depth;
	uint32_t io_size;  /* bytes */
	int rw_percentage; /* reads in rw/randrw; -1 when not given */
	uint32_t time_sec;
	bool continue_on_failure; /* -f */
};

/* One in-flight I/O slot: its buffers, its position, its retry entry. */
struct bp_slot {
	struct bp_job *job;
	void *buf;  /* data written, or read (read workloads) */
	void *rbuf; /* verify: data read back */
	uint64_t offset_blocks;
	uint64_t submit_tsc;
	uint64_t seq;	     /* verify: sequence number of the pattern in buf */
	uint64_t verify_ios; /* verify: I/O units of this slot's stripe */
	uint32_t index;
	bool reading; /* verify: the write is done, the read-back is in flight */
	bool is_read; /* what was submitted (for rw mixes) */
	struct sl_bdev_io_wait_entry wait;
};

struct bp_job {
	/* Set by the app thread before the job starts; read-only afterwards. */
	char bdev_name[64];
	uint32_t index;
	uint32_t core;
	struct bp_params p;
	bool random;
	bool write_open;
	uint32_t block_size;
	size_t buf_align;
	uint64_t io_blocks;	  /* blocks per I/O */
	uint64_t base_blocks;	  /* first block of the job's range */
	uint64_t size_ios;	  /* I/O units in the job's range */
	struct sl_thread *thread; /* runs the job */
	struct sl_thread *app_thread;

	/* Job thread only while the job runs. */
	struct sl_bdev_desc *desc;
	struct sl_io_channel *ch;
	struct bp_slot *slots;
	void *buf_mem;
	struct sl_poller *timer;
	uint64_t rng;
	uint64_t next_io; /* sequential workloads */
	uint64_t end_tsc;
	uint32_t outstanding; /* slots busy: submitted, or waiting for an sl_bdev_io */
	uint32_t live_slots;  /* slots still cycling (a failed submit retires one) */
	bool stopping;
	bool starting; /* bp_job_start is submitting the first I/Os */

	/* Results: written by the job thread; final once it reported. */
	_Atomic uint64_t io_completed; /* also read by the -S reporter */
	uint64_t io_failed;
	uint64_t verify_mismatches;
	uint64_t start_tsc;
	uint64_t stop_tsc;
	int rc;		  /* set-up error or I/O error that ended the job (negative errno) */
	bool ran;	  /* set-up succeeded and I/O was submitted */
	bool removed;	  /* the bdev was hot-removed */
	bool failed_stop; /* stopped by an I/O failure (no -f) */
	struct sl_histogram *hist;

	/* App thread only. */
	uint64_t prev_completed; /* -S */
	bool done;
};

/* job.c: runs on job->thread (sent as a message by the app thread). */
void bp_job_start(void *job);
/* Set by the app thread on SIGINT/SIGTERM: every job stops and drains. */
extern atomic_bool g_bp_shutdown;
/* app thread: a job finished (sent by the job thread as its last act). */
void bp_job_done(void *job);

/* report.c: app thread. */
void bp_report_header(void);
void bp_report_job(const struct bp_job *job, int latency_level);
void bp_report_total(struct bp_job **jobs, uint32_t njobs, int latency_level);
void bp_report_periodic(struct bp_job **jobs, uint32_t njobs, double period_sec);

static inline double bp_ticks_to_us(uint64_t ticks, uint64_t hz)
{
	return (double)ticks * 1e6 / (double)hz;
}

#endif
