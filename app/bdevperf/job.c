/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bdevperf job engine, on the job's own sl_thread: open the bdev, submit
 * queue_depth I/Os, resubmit each from its completion callback until the
 * time is up, drain, release everything and hand the job back to the app
 * thread. Nothing is allocated per I/O: each slot owns its buffers (one DMA
 * allocation per job) and its io_wait entry.
 */
#include "bdevperf.h"

#include "sluice/env.h"
#include "sluice/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STOP_CHECK_PERIOD_US 10000 /* how often a job looks at its deadline */
#define MAX_MISMATCH_REPORTS 10	   /* per job; the count is always exact */
#define MAX_FAILURE_REPORTS 10	   /* likewise */

atomic_bool g_bp_shutdown;

static void slot_submit(struct bp_job *job, struct bp_slot *slot, uint64_t now);

/* xorshift64*: a few cycles, plenty for picking offsets. */
static inline uint64_t rng_next(struct bp_job *job)
{
	uint64_t x = job->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	job->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n) without a division. */
static inline uint64_t rng_below(struct bp_job *job, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(job) * n) >> 64);
}

static inline void counter_inc(_Atomic uint64_t *c)
{
	/* Single writer: a plain load/add/store, readable by the -S reporter. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* ---- verify patterns ---- */

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 27;
	x *= 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/*
 * Every block starts with its LBA, the write's sequence number and the job
 * index; the rest is a sequence seeded by all three, so data from another
 * block, another job or an older write of the same block never matches.
 */
static void pattern_fill(const struct bp_job *job, struct bp_slot *slot)
{
	uint64_t words = job->block_size / sizeof(uint64_t);
	uint64_t *w = slot->buf;

	for (uint64_t b = 0; b < job->io_blocks; b++, w += words) {
		uint64_t lba = slot->offset_blocks + b;
		uint64_t v = mix64(lba ^ (slot->seq << 20) ^ ((uint64_t)job->index << 52));

		w[0] = lba;
		w[1] = slot->seq;
		w[2] = job->index;
		for (uint64_t i = 3; i < words; i++)
			w[i] = v + i * 0x9E3779B97F4A7C15ULL;
	}
}

static bool pattern_check(struct bp_job *job, struct bp_slot *slot)
{
	size_t len = job->io_blocks * job->block_size, off = 0;
	const uint8_t *want = slot->buf, *got = slot->rbuf;

	if (memcmp(want, got, len) == 0)
		return true;
	while (off < len && want[off] == got[off])
		off++;
	job->verify_mismatches++;
	if (job->verify_mismatches <= MAX_MISMATCH_REPORTS)
		fprintf(stderr,
			"bdevperf: verify mismatch on %s: LBA %" PRIu64 ", byte %zu of the block "
			"(byte %zu of the %zu-byte I/O at LBA %" PRIu64 "): wrote 0x%02x, read "
			"0x%02x\n",
			job->bdev_name, slot->offset_blocks + off / job->block_size,
			off % job->block_size, off, len, slot->offset_blocks, want[off], got[off]);
	if (job->verify_mismatches == MAX_MISMATCH_REPORTS + 1)
		fprintf(stderr, "bdevperf: %s: further verify mismatches are counted, not shown\n",
			job->bdev_name);
	return false;
}

/* ---- start / stop ---- */

static void job_release(struct bp_job *job)
{
	sl_poller_unregister(&job->timer);
	if (job->ch)
		sl_put_io_channel(job->ch);
	if (job->desc)
		sl_bdev_close(job->desc);
	sl_dma_free(job->buf_mem);
	free(job->slots);
	job->ch = NULL;
	job->desc = NULL;
	job->buf_mem = NULL;
	job->slots = NULL;
}

/* Last act on the job: after the message is sent, the app thread owns it. */
static void job_finish(struct bp_job *job)
{
	struct sl_thread *app = job->app_thread;

	job_release(job);
	if (sl_thread_send_msg(app, bp_job_done, job))
		SL_ERRLOG("bdevperf: job %s cannot report to the app thread", job->bdev_name);
	sl_thread_exit(sl_get_thread());
}

/* Hand the job back once it is stopping and no slot is busy (not while starting). */
static void job_maybe_finish(struct bp_job *job)
{
	if (job->stopping && job->outstanding == 0 && !job->starting)
		job_finish(job);
}

static void job_stop(struct bp_job *job, uint64_t now)
{
	if (job->stopping)
		return;
	job->stopping = true;
	job->stop_tsc = now;
	sl_poller_unregister(&job->timer);
	job_maybe_finish(job);
}

static int job_timer(void *arg)
{
	struct bp_job *job = arg;
	uint64_t now = sl_get_ticks();

	if (now >= job->end_tsc || atomic_load_explicit(&g_bp_shutdown, memory_order_relaxed)) {
		job_stop(job, now);
		return SL_POLLER_BUSY;
	}
	return SL_POLLER_IDLE;
}

static void job_event(enum sl_bdev_event_type type, struct sl_bdev *bdev, void *ctx)
{
	struct bp_job *job = ctx;

	if (type == SL_BDEV_EVENT_REMOVE) {
		fprintf(stderr, "bdevperf: bdev %s is being removed: stopping job on core %u\n",
			job->bdev_name, job->core);
		job->removed = true;
		job_stop(job, sl_get_ticks());
	} else if (type == SL_BDEV_EVENT_RESIZE &&
		   sl_bdev_get_num_blocks(bdev) <
			   job->base_blocks + job->size_ios * job->io_blocks) {
		fprintf(stderr, "bdevperf: bdev %s shrank below the job's range: stopping\n",
			job->bdev_name);
		job->rc = -ERANGE;
		job_stop(job, sl_get_ticks());
	}
}

/* An I/O failed or miscompared: count it; without -f the job ends here. */
static void job_failure(struct bp_job *job, uint64_t now)
{
	if (!job->p.continue_on_failure && !job->stopping) {
		job->failed_stop = true;
		job_stop(job, now);
	}
}

/* A slot leaves the rotation (stopping, or its submission cannot succeed). */
static void slot_retire(struct bp_job *job)
{
	job->outstanding--;
	if (!job->stopping && --job->live_slots == 0)
		job_stop(job, sl_get_ticks());
	job_maybe_finish(job);
}

static void report_failure(struct bp_job *job, const struct bp_slot *slot,
			   const struct sl_bdev_io *bdev_io)
{
	uint32_t cdw0;
	int sct, sc;

	if (job->io_failed >= MAX_FAILURE_REPORTS) {
		if (job->io_failed == MAX_FAILURE_REPORTS)
			fprintf(stderr,
				"bdevperf: %s: further I/O failures are counted, not shown\n",
				job->bdev_name);
		return;
	}
	sl_bdev_io_get_nvme_status(bdev_io, &cdw0, &sct, &sc);
	fprintf(stderr,
		"bdevperf: %s: %s of %" PRIu64 " blocks at LBA %" PRIu64
		" failed (NVMe status type 0x%x, code 0x%02x)\n",
		job->bdev_name, sl_bdev_io_type_name(sl_bdev_io_get_type(bdev_io)), job->io_blocks,
		slot->offset_blocks, sct, sc);
}

static void io_done(struct sl_bdev_io *bdev_io, bool success, void *arg)
{
	struct bp_slot *slot = arg;
	struct bp_job *job = slot->job;
	/* The bdev layer read the clock at submit and completion: no third read. */
	uint64_t now = sl_bdev_io_get_complete_tsc(bdev_io);

	if (__builtin_expect(!success, 0))
		report_failure(job, slot, bdev_io);
	sl_histogram_add(job->hist, now - sl_bdev_io_get_submit_tsc(bdev_io));
	sl_bdev_free_io(bdev_io);
	if (__builtin_expect(success, 1)) {
		if (__builtin_expect(!job->stopping, 1))
			counter_inc(&job->io_completed);
		if (slot->reading && !pattern_check(job, slot))
			job_failure(job, now);
		if (job->p.workload == BP_WL_VERIFY)
			slot->reading = !slot->reading;
	} else {
		job->io_failed++;
		slot->reading = false; /* verify: start over with a new write */
		job_failure(job, now);
	}
	if (__builtin_expect(job->stopping, 0)) {
		slot_retire(job);
		return;
	}
	slot_submit(job, slot, now);
}

static void slot_retry(void *arg)
{
	struct bp_slot *slot = arg;
	struct bp_job *job = slot->job;

	if (job->stopping)
		slot_retire(job);
	else
		slot_submit(job, slot, sl_get_ticks());
}

static void submit_error(struct bp_job *job, struct bp_slot *slot, int rc)
{
	if (rc == -ENOMEM) {
		/* No sl_bdev_io free on this thread: resubmit when one comes back. */
		slot->wait.cb_fn = slot_retry;
		slot->wait.cb_arg = slot;
		rc = sl_bdev_queue_io_wait(sl_bdev_desc_get_bdev(job->desc), job->ch, &slot->wait);
		if (rc == 0)
			return;
	}
	if (rc == -ENODEV) {
		/* The bdev is going away: the REMOVE event stops the job. */
		slot_retire(job);
		return;
	}
	if (job->rc == 0) {
		fprintf(stderr,
			"bdevperf: %s: cannot submit %s of %" PRIu64 " blocks at LBA %" PRIu64
			": %s\n",
			job->bdev_name, bp_workload_name(job->p.workload), job->io_blocks,
			slot->offset_blocks, strerror(-rc));
		job->rc = rc;
	}
	job->io_failed++;
	if (!job->stopping)
		job_stop(job, sl_get_ticks());
	slot_retire(job);
}

static void slot_submit(struct bp_job *job, struct bp_slot *slot, uint64_t now)
{
	uint64_t idx, blocks = job->io_blocks;
	bool read;
	int rc;

	if (job->p.workload == BP_WL_VERIFY) {
		if (slot->reading) {
			rc = sl_bdev_read_blocks(job->desc, job->ch, slot->rbuf,
						 slot->offset_blocks, blocks, io_done, slot);
			goto submitted;
		}
		/* Slots stripe the range (slot i owns units i, i+q, ...): no two race. */
		idx = slot->index + (uint64_t)job->p.queue_depth * rng_below(job, slot->verify_ios);
		slot->offset_blocks = job->base_blocks + idx * blocks;
		slot->seq += job->p.queue_depth;
		pattern_fill(job, slot);
		rc = sl_bdev_write_blocks(job->desc, job->ch, slot->buf, slot->offset_blocks,
					  blocks, io_done, slot);
		goto submitted;
	}

	if (job->random) {
		idx = rng_below(job, job->size_ios);
	} else {
		idx = job->next_io;
		job->next_io = idx + 1 == job->size_ios ? 0 : idx + 1;
	}
	slot->offset_blocks = job->base_blocks + idx * blocks;
	switch (job->p.workload) {
	case BP_WL_READ:
	case BP_WL_RANDREAD:
		read = true;
		break;
	case BP_WL_RW:
	case BP_WL_RANDRW:
		read = rng_below(job, 100) < (uint64_t)job->p.rw_percentage;
		break;
	case BP_WL_UNMAP:
		rc = sl_bdev_unmap_blocks(job->desc, job->ch, slot->offset_blocks, blocks, io_done,
					  slot);
		goto submitted;
	case BP_WL_WRITE_ZEROES:
		rc = sl_bdev_write_zeroes_blocks(job->desc, job->ch, slot->offset_blocks, blocks,
						 io_done, slot);
		goto submitted;
	case BP_WL_FLUSH:
		rc = sl_bdev_flush_blocks(job->desc, job->ch, slot->offset_blocks, blocks, io_done,
					  slot);
		goto submitted;
	default:
		read = false;
		break;
	}
	slot->is_read = read;
	if (read)
		rc = sl_bdev_read_blocks(job->desc, job->ch, slot->buf, slot->offset_blocks, blocks,
					 io_done, slot);
	else
		rc = sl_bdev_write_blocks(job->desc, job->ch, slot->buf, slot->offset_blocks,
					  blocks, io_done, slot);
submitted:
	slot->submit_tsc = now;
	if (__builtin_expect(rc != 0, 0))
		submit_error(job, slot, rc);
}

static bool workload_has_data(enum bp_workload wl)
{
	return wl != BP_WL_UNMAP && wl != BP_WL_WRITE_ZEROES && wl != BP_WL_FLUSH;
}

static int job_setup(struct bp_job *job)
{
	uint32_t q = job->p.queue_depth;
	size_t len = job->io_blocks * job->block_size, stride = 0;
	size_t align = SL_MAX(job->buf_align, (size_t)64);
	int bufs = job->p.workload == BP_WL_VERIFY ? 2 : 1;
	int rc;

	rc = sl_bdev_open_ext(job->bdev_name, job->write_open, job_event, job, &job->desc);
	if (rc) {
		fprintf(stderr, "bdevperf: cannot open bdev %s%s: %s\n", job->bdev_name,
			job->write_open ? " for writing" : "", strerror(-rc));
		return rc;
	}
	job->ch = sl_bdev_get_io_channel(job->desc);
	if (!job->ch) {
		fprintf(stderr, "bdevperf: cannot get an I/O channel for bdev %s\n",
			job->bdev_name);
		return -ENOMEM;
	}
	job->slots = calloc(q, sizeof(*job->slots));
	if (!job->slots)
		return -ENOMEM;
	if (workload_has_data(job->p.workload)) {
		stride = SL_ALIGN_UP(len, align);
		job->buf_mem = sl_dma_zmalloc(stride * q * bufs, align, NULL);
		if (!job->buf_mem) {
			fprintf(stderr,
				"bdevperf: cannot allocate %zu bytes of I/O buffers for %s "
				"(-q %u, -o %u): not enough DMA memory (-s / hugepages)\n",
				stride * q * bufs, job->bdev_name, q, job->p.io_size);
			return -ENOMEM;
		}
	}
	for (uint32_t i = 0; i < q; i++) {
		struct bp_slot *s = &job->slots[i];

		s->job = job;
		s->index = i;
		s->seq = i;
		if (stride) {
			s->buf = (char *)job->buf_mem + (size_t)i * bufs * stride;
			s->rbuf = bufs == 2 ? (char *)s->buf + stride : NULL;
		}
		if (job->p.workload == BP_WL_VERIFY)
			s->verify_ios = (job->size_ios - i + q - 1) / q;
	}
	job->timer = sl_poller_register_named(job_timer, job, STOP_CHECK_PERIOD_US, "bdevperf");
	if (!job->timer)
		return -ENOMEM;
	return 0;
}

void bp_job_start(void *arg)
{
	struct bp_job *job = arg;
	uint64_t now;
	int rc;

	job->rng = mix64(sl_get_ticks() ^ ((uint64_t)job->index << 32)) | 1;
	job->starting = true;
	rc = job_setup(job);
	now = sl_get_ticks();
	job->start_tsc = now;
	job->end_tsc = now + (uint64_t)job->p.time_sec * sl_get_ticks_hz();
	if (rc) {
		job->rc = rc;
		job->stopping = true;
		job->stop_tsc = now;
	} else {
		job->ran = true;
	}
	for (uint32_t i = 0; i < job->p.queue_depth && !job->stopping; i++) {
		job->outstanding++;
		job->live_slots++;
		slot_submit(job, &job->slots[i], now);
	}
	job->starting = false;
	job_maybe_finish(job);
}
