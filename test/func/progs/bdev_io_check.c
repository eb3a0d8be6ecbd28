/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bdev_io_check: data checks of bdevs through the public bdev API, one
 * sl_thread per bdev. Used by test/func/test_bdev_aio_uring.sh.
 *
 *   bdev_io_check --json CONFIG --bdev NAME [--bdev NAME...]
 *     writes a pattern over the first 16 MiB (I/O of 1..32 blocks, queue
 *     depth 16, aligned, misaligned and multi-iovec buffers), flushes, reads
 *     it back and compares; then write_zeroes/unmap (when supported) read
 *     back as zeroes, reset succeeds, and I/O beyond the end is refused with
 *     -EINVAL. Prints "PASS <bdev>" per bdev; exit 0 when all pass.
 *
 *   bdev_io_check --json CONFIG -r SOCK --bdev NAME... --hotremove
 *     random reads and writes at queue depth 32 on each bdev, all on one
 *     thread, until the bdev is removed (delete it over RPC, or SIGTERM);
 *     prints "RUNNING <bdev>" once I/O flows and
 *     "REMOVED <bdev> ios=N errors=E" when the descriptor is closed, and
 *     serves RPC until SIGTERM.
 */
#include "sluice/bdev.h"
#include "sluice/env.h"
#include "sluice/event.h"
#include "sluice/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BDEVS 8
#define QD 16
#define HOT_QD 32
#define MAX_IO_BLOCKS 32
#define REGION_BYTES (16u << 20)
#define HOT_IO_BYTES 4096u

enum phase { PH_WRITE, PH_FLUSH, PH_READ, PH_ZERO, PH_ZERO_READ, PH_RESET, PH_DONE, PH_HOT };

struct job;

struct slot {
	struct job *job;
	uint8_t *buf; /* DMA buffer of MAX_IO_BLOCKS blocks + 4 KiB slack */
	struct iovec iov[3];
	uint64_t offset;
	uint64_t blocks;
	bool is_write;
	bool busy;
};

struct job {
	const char *name;
	struct sl_thread *thread;
	struct sl_bdev_desc *desc;
	struct sl_io_channel *ch;
	uint32_t bs;
	uint64_t num_blocks;
	uint64_t region; /* blocks checked */
	enum phase phase;
	uint64_t next_block; /* next block to issue in the current pass */
	uint32_t chunk_idx;
	uint32_t outstanding;
	bool removed;
	bool running_printed;
	bool zeroes_checked, unmap_checked; /* the module does them itself */
	uint64_t ios, errors, mismatches;
	uint64_t rng;
	struct slot slots[HOT_QD];
	int rc;
};

static const char *g_names[MAX_BDEVS];
static size_t g_count;
static bool g_hotremove;
static struct job g_jobs[MAX_BDEVS];
static size_t g_jobs_done;
static int g_rc;

static void job_pump(struct job *job);
static void job_finish(struct job *job, int rc);

static uint64_t pattern(uint64_t block, uint32_t word)
{
	return (block << 24) ^ ((uint64_t)word * 0x9e3779b97f4a7c15ull) ^ 0x5a5a0000u;
}

static void fill(struct job *job, uint8_t *buf, uint64_t block, uint64_t blocks)
{
	for (uint64_t b = 0; b < blocks; b++) {
		uint64_t *w = (uint64_t *)(buf + b * job->bs);

		for (uint32_t i = 0; i < job->bs / 8; i++)
			w[i] = pattern(block + b, i);
	}
}

static bool check(struct job *job, const uint8_t *buf, uint64_t block, uint64_t blocks, bool zero)
{
	for (uint64_t b = 0; b < blocks; b++) {
		const uint64_t *w = (const uint64_t *)(buf + b * job->bs);

		for (uint32_t i = 0; i < job->bs / 8; i++) {
			uint64_t want = zero ? 0 : pattern(block + b, i);

			if (w[i] != want) {
				fprintf(stderr,
					"%s: mismatch at block %" PRIu64 " word %u: %016" PRIx64
					" != %016" PRIx64 "\n",
					job->name, block + b, i, w[i], want);
				return false;
			}
		}
	}
	return true;
}

static uint64_t rnd(struct job *job)
{
	job->rng ^= job->rng << 13;
	job->rng ^= job->rng >> 7;
	job->rng ^= job->rng << 17;
	return job->rng;
}

/* Buffer shapes cycle: aligned, misaligned by 8 bytes (the core bounces), 3 iovecs, 2 iovecs. */
static int slot_iovs(struct slot *s, uint32_t shape, uint32_t bs)
{
	size_t len = s->blocks * bs;

	switch (s->blocks >= 3 ? shape % 4 : shape % 2) {
	case 0:
		s->iov[0] = (struct iovec){ s->buf, len };
		return 1;
	case 1:
		s->iov[0] = (struct iovec){ s->buf + 8, len };
		return 1;
	case 2:
		s->iov[0] = (struct iovec){ s->buf, bs };
		s->iov[1] = (struct iovec){ s->buf + bs, (s->blocks - 2) * bs };
		s->iov[2] = (struct iovec){ s->buf + (s->blocks - 1) * bs, bs };
		return 3;
	default:
		s->iov[0] = (struct iovec){ s->buf, 2 * (size_t)bs };
		s->iov[1] = (struct iovec){ s->buf + 2 * bs, len - 2 * bs };
		return 2;
	}
}

/* The iovecs above are contiguous from iov[0]: the data as one buffer. */
static uint8_t *slot_data(struct slot *s)
{
	return s->iov[0].iov_base;
}

static void io_done(struct sl_bdev_io *bdev_io, bool success, void *arg)
{
	struct slot *s = arg;
	struct job *job = s->job;

	sl_bdev_free_io(bdev_io);
	s->busy = false;
	job->outstanding--;
	job->ios++;
	if (!success) {
		job->errors++;
		if (!job->removed && job->phase != PH_HOT)
			fprintf(stderr, "%s: %s of %" PRIu64 " blocks at %" PRIu64 " failed\n",
				job->name, s->is_write ? "write" : "read", s->blocks, s->offset);
	} else if (!s->is_write && (job->phase == PH_READ || job->phase == PH_ZERO_READ)) {
		if (!check(job, slot_data(s), s->offset, s->blocks, job->phase == PH_ZERO_READ))
			job->mismatches++;
	}
	job_pump(job);
}

static void simple_done(struct sl_bdev_io *bdev_io, bool success, void *arg)
{
	struct slot *s = arg;
	struct job *job = s->job;

	sl_bdev_free_io(bdev_io);
	s->busy = false;
	job->outstanding--;
	if (!success) {
		fprintf(stderr, "%s: %s failed\n", job->name,
			sl_bdev_io_type_name(sl_bdev_io_get_type(bdev_io)));
		job->errors++;
	}
	job_pump(job);
}

static struct slot *free_slot(struct job *job, uint32_t qd)
{
	for (uint32_t i = 0; i < qd; i++)
		if (!job->slots[i].busy)
			return &job->slots[i];
	return NULL;
}

static int submit_rw(struct job *job, struct slot *s, bool is_write)
{
	int iovcnt = slot_iovs(s, job->chunk_idx + (is_write ? 0 : 1), job->bs);
	int rc;

	s->is_write = is_write;
	if (is_write)
		fill(job, slot_data(s), s->offset, s->blocks);
	else
		memset(slot_data(s), 0xee, s->blocks * job->bs);
	if (is_write)
		rc = sl_bdev_writev_blocks(job->desc, job->ch, s->iov, iovcnt, s->offset, s->blocks,
					   io_done, s);
	else
		rc = sl_bdev_readv_blocks(job->desc, job->ch, s->iov, iovcnt, s->offset, s->blocks,
					  io_done, s);
	if (rc == 0) {
		s->busy = true;
		job->outstanding++;
	}
	return rc;
}

/* Sequential pass over the region with varying I/O sizes. */
static void pump_pass(struct job *job, bool is_write)
{
	struct slot *s;

	while (job->next_block < job->region && (s = free_slot(job, QD))) {
		uint64_t n = 1 + (job->chunk_idx * 7) % MAX_IO_BLOCKS;
		int rc;

		n = SL_MIN(n, job->region - job->next_block);
		s->offset = job->next_block;
		s->blocks = n;
		rc = submit_rw(job, s, is_write);
		if (rc) {
			fprintf(stderr, "%s: submit failed: %s\n", job->name, strerror(-rc));
			job->errors++;
			job->next_block = job->region;
			break;
		}
		job->next_block += n;
		job->chunk_idx++;
	}
}

/* The core must refuse I/O past the last block with -EINVAL before it reaches the module. */
static void check_beyond_end(struct job *job)
{
	struct slot *r = &job->slots[2], *w = &job->slots[3];
	int rc1 = sl_bdev_read_blocks(job->desc, job->ch, r->buf, job->num_blocks - 1, 2,
				      simple_done, r);
	int rc2 = sl_bdev_write_blocks(job->desc, job->ch, w->buf, job->num_blocks, 1, simple_done,
				       w);

	if (rc1 != -EINVAL || rc2 != -EINVAL) {
		fprintf(stderr, "%s: I/O beyond the end returned %d/%d, expected -EINVAL\n",
			job->name, rc1, rc2);
		job->errors++;
	}
	/* Accepted anyway: wait for it before the buffers go. */
	if (rc1 == 0) {
		r->busy = true;
		job->outstanding++;
	}
	if (rc2 == 0) {
		w->busy = true;
		job->outstanding++;
	}
}

static void job_pump(struct job *job)
{
	struct slot *s;
	int rc = 0;

	for (;;) {
		switch (job->phase) {
		case PH_WRITE:
		case PH_READ:
			pump_pass(job, job->phase == PH_WRITE);
			if (job->next_block < job->region || job->outstanding)
				return;
			if (job->phase == PH_READ && (job->mismatches || job->errors)) {
				job_finish(job, -EIO);
				return;
			}
			job->phase = job->phase == PH_WRITE ? PH_FLUSH : PH_ZERO;
			job->next_block = 0;
			if (job->phase == PH_FLUSH) {
				s = &job->slots[0];
				s->is_write = false;
				rc = sl_bdev_flush_blocks(job->desc, job->ch, 0, job->num_blocks,
							  simple_done, s);
				if (rc)
					break;
				s->busy = true;
				job->outstanding++;
				return;
			}
			continue;
		case PH_FLUSH:
			if (job->outstanding)
				return;
			job->phase = PH_READ;
			continue;
		case PH_ZERO: {
			struct sl_bdev *bdev = sl_bdev_desc_get_bdev(job->desc);

			if (job->outstanding)
				return;
			if (job->next_block == 0) {
				job->next_block = 1;
				if (sl_bdev_io_type_supported(bdev, SL_BDEV_IO_TYPE_WRITE_ZEROES)) {
					s = &job->slots[0];
					rc = sl_bdev_write_zeroes_blocks(job->desc, job->ch, 0, 8,
									 simple_done, s);
					if (rc)
						break;
					s->busy = true;
					job->outstanding++;
				}
				if (sl_bdev_io_type_supported(bdev, SL_BDEV_IO_TYPE_UNMAP)) {
					s = &job->slots[1];
					rc = sl_bdev_unmap_blocks(job->desc, job->ch, 8, 8,
								  simple_done, s);
					if (rc)
						break;
					s->busy = true;
					job->outstanding++;
				}
				if (job->outstanding)
					return;
			}
			if (job->errors) {
				job_finish(job, -EIO);
				return;
			}
			job->phase = PH_ZERO_READ;
			s = &job->slots[0];
			s->offset = 0;
			s->blocks = 8;
			if (sl_bdev_io_type_supported(bdev, SL_BDEV_IO_TYPE_WRITE_ZEROES)) {
				job->zeroes_checked = true;
				rc = submit_rw(job, s, false);
				if (rc)
					break;
			}
			s = &job->slots[1];
			s->offset = 8;
			s->blocks = 8;
			if (sl_bdev_io_type_supported(bdev, SL_BDEV_IO_TYPE_UNMAP)) {
				job->unmap_checked = true;
				rc = submit_rw(job, s, false);
				if (rc)
					break;
			}
			continue;
		}
		case PH_ZERO_READ:
			if (job->outstanding)
				return;
			if (job->mismatches || job->errors) {
				job_finish(job, -EIO);
				return;
			}
			job->phase = PH_RESET;
			check_beyond_end(job);
			s = &job->slots[0];
			rc = sl_bdev_reset(job->desc, job->ch, simple_done, s);
			if (rc)
				break;
			s->busy = true;
			job->outstanding++;
			return;
		case PH_RESET:
			if (job->outstanding)
				return;
			if (job->errors) {
				job_finish(job, -EIO);
				return;
			}
			job_finish(job, 0);
			return;
		case PH_HOT:
			while (!job->removed && (s = free_slot(job, HOT_QD))) {
				uint32_t blocks = HOT_IO_BYTES / job->bs;

				s->blocks = blocks;
				s->offset = rnd(job) % (job->region / blocks) * blocks;
				rc = submit_rw(job, s, rnd(job) & 1);
				if (rc) {
					/* The bdev may be going away: stop here, the remove event
					 * follows. */
					job->errors++;
					break;
				}
			}
			if (!job->running_printed && job->ios >= 1000) {
				job->running_printed = true;
				printf("RUNNING %s\n", job->name);
				fflush(stdout);
			}
			if (job->removed && job->outstanding == 0)
				job_finish(job, 0);
			return;
		default:
			return;
		}
		/* A submission failed synchronously. */
		fprintf(stderr, "%s: submission in phase %d failed: %s\n", job->name, job->phase,
			strerror(-rc));
		if (job->outstanding) {
			job->errors++;
			return;
		}
		job_finish(job, rc);
		return;
	}
}

static struct sl_poller *g_exit_poller;

/* Stop once the job threads are gone, with their channels (only the app thread is left). */
static int exit_poll(void *arg)
{
	if (sl_thread_get_count() > 1)
		return SL_POLLER_IDLE;
	sl_poller_unregister(&g_exit_poller);
	sl_app_stop(g_rc ? 1 : 0);
	return SL_POLLER_BUSY;
}

static void job_done_msg(void *arg)
{
	struct job *job = arg;

	if (job->rc && !g_rc)
		g_rc = job->rc;
	if (g_hotremove)
		printf("REMOVED %s ios=%" PRIu64 " errors=%" PRIu64 "\n", job->name, job->ios,
		       job->errors);
	else if (job->rc)
		printf("FAIL %s: %s (ios=%" PRIu64 " errors=%" PRIu64 " mismatches=%" PRIu64 ")\n",
		       job->name, strerror(-job->rc), job->ios, job->errors, job->mismatches);
	else
		printf("PASS %s (%" PRIu64 " blocks of %u, %" PRIu64 " I/Os%s%s)\n", job->name,
		       job->num_blocks, job->bs, job->ios,
		       job->zeroes_checked ? ", write_zeroes" : "",
		       job->unmap_checked ? ", unmap" : "");
	fflush(stdout);
	/* Hot-remove mode serves RPC until SIGTERM so that the delete gets its answer. */
	if (++g_jobs_done == g_count && !g_hotremove)
		g_exit_poller = sl_poller_register_named(exit_poll, NULL, 1000, "exit_wait");
}

static void job_finish(struct job *job, int rc)
{
	job->rc = rc;
	job->phase = PH_DONE;
	if (job->ch)
		sl_put_io_channel(job->ch);
	job->ch = NULL;
	if (job->desc)
		sl_bdev_close(job->desc);
	job->desc = NULL;
	for (uint32_t i = 0; i < HOT_QD; i++)
		sl_dma_free(job->slots[i].buf);
	sl_thread_send_msg(sl_thread_get_app_thread(), job_done_msg, job);
	/* Hot-remove jobs share one thread, which the app stops at exit. */
	if (!g_hotremove)
		sl_thread_exit(sl_get_thread());
}

static void bdev_event(enum sl_bdev_event_type type, struct sl_bdev *bdev, void *ctx)
{
	struct job *job = ctx;

	if (type != SL_BDEV_EVENT_REMOVE || job->removed)
		return;
	job->removed = true;
	if (job->phase != PH_HOT)
		fprintf(stderr, "%s: removed during the check\n", job->name);
	if (job->outstanding == 0)
		job_finish(job, job->phase == PH_HOT ? 0 : -ENODEV);
}

static void job_start(void *arg)
{
	struct job *job = arg;
	struct sl_bdev *bdev;
	int rc;

	rc = sl_bdev_open_ext(job->name, true, bdev_event, job, &job->desc);
	if (rc) {
		fprintf(stderr, "%s: cannot open: %s\n", job->name, strerror(-rc));
		job_finish(job, rc);
		return;
	}
	bdev = sl_bdev_desc_get_bdev(job->desc);
	job->bs = sl_bdev_get_block_size(bdev);
	job->num_blocks = sl_bdev_get_num_blocks(bdev);
	job->region = SL_MIN(job->num_blocks, REGION_BYTES / job->bs);
	job->ch = sl_bdev_get_io_channel(job->desc);
	if (!job->ch) {
		fprintf(stderr, "%s: no I/O channel\n", job->name);
		job_finish(job, -ENOMEM);
		return;
	}
	for (uint32_t i = 0; i < HOT_QD; i++) {
		job->slots[i].job = job;
		job->slots[i].buf =
			sl_dma_malloc(MAX_IO_BLOCKS * (size_t)job->bs + 4096, 4096, NULL);
		if (!job->slots[i].buf) {
			job_finish(job, -ENOMEM);
			return;
		}
	}
	job->rng = 0x2545f4914f6cdd1dull ^ (uintptr_t)job;
	if (g_hotremove) {
		if (job->region < HOT_IO_BYTES / job->bs) {
			job_finish(job, -EINVAL);
			return;
		}
		job->phase = PH_HOT;
	} else {
		job->phase = PH_WRITE;
	}
	job_pump(job);
}

static void app_start(void *ctx)
{
	struct sl_thread *shared = NULL;

	if (g_hotremove) {
		/* One thread, so that the bdevs share the module's per-thread context. */
		shared = sl_thread_create("check_hot", -1);
		if (!shared) {
			sl_app_stop(1);
			return;
		}
	}
	for (size_t i = 0; i < g_count; i++) {
		struct job *job = &g_jobs[i];
		char tname[64];

		job->name = g_names[i];
		snprintf(tname, sizeof(tname), "check_%s", job->name);
		job->thread = shared ? shared : sl_thread_create(tname, -1);
		if (!job->thread || sl_thread_send_msg(job->thread, job_start, job)) {
			fprintf(stderr, "cannot start a thread for %s\n", job->name);
			sl_app_stop(1);
			return;
		}
	}
}

enum { OPT_BDEV = 0x200, OPT_HOTREMOVE };

static const struct option g_opts[] = {
	{ "bdev", required_argument, NULL, OPT_BDEV },
	{ "hotremove", no_argument, NULL, OPT_HOTREMOVE },
	{ NULL, 0, NULL, 0 },
};

static int parse(int ch, char *arg)
{
	switch (ch) {
	case OPT_BDEV:
		if (g_count == MAX_BDEVS)
			return -EINVAL;
		g_names[g_count++] = arg;
		return 0;
	case OPT_HOTREMOVE:
		g_hotremove = true;
		return 0;
	default:
		return -EINVAL;
	}
}

static void usage(void)
{
	printf("  --bdev NAME    bdev to check (repeatable)\n"
	       "  --hotremove    run I/O until the bdev is deleted\n");
}

int main(int argc, char **argv)
{
	struct sl_app_opts opts;
	int rc;

	sl_app_opts_init(&opts);
	opts.name = "bdev_io_check";
	opts.usage_extra = usage;
	switch (sl_app_parse_args(argc, argv, &opts, "", g_opts, parse)) {
	case SL_APP_PARSE_SUCCESS:
		break;
	case SL_APP_PARSE_EXIT:
		return 0;
	default:
		return 1;
	}
	if (!g_count) {
		fprintf(stderr, "bdev_io_check: give at least one --bdev\n");
		return 1;
	}
	rc = sl_app_start(&opts, app_start, NULL);
	sl_app_fini();
	return rc ? 1 : 0;
}
