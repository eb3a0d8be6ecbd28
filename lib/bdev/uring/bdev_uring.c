/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uring bdev module. Each thread has one io_uring (a "group", shared by every
 * uring bdev the thread uses) with a busy poller. submit_request only fills
 * an SQE; the poller submits everything queued since its last run with one
 * io_uring_enter, then reaps the CQ ring in user space. Each bdev's file is
 * registered in the ring (IOSQE_FIXED_FILE saves a file lookup per I/O).
 * The ring signals an eventfd on completion, so a reactor that has nothing
 * else to do can sleep and wake on a completion. No SQPOLL thread.
 */
#include "bdev_uring.h"
#include "sluice/bdev_file.h"

#include "sluice/bdev_module.h"
#include "sluice/env.h"
#include "sluice/log.h"
#include "sluice/thread.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

SL_LOG_REGISTER_COMPONENT(bdev_uring)

/* CQEs taken per pass. */
#define URING_REAP_BATCH 64
/* Registered-file slots per ring: one per uring bdev the thread uses. */
#define URING_MAX_FILES 256

struct uring_disk {
	struct sl_bdev bdev;
	struct sl_bdev_file file;
	TAILQ_ENTRY(uring_disk) link;
};

/* Per-I/O context (sl_bdev_io::driver_ctx). */
struct uring_task {
	struct uring_task *next;
	int status;   /* deferred completion */
	uint64_t len; /* bytes a read/write must transfer */
};

/* Per-thread state. */
struct uring_group {
	struct io_uring ring;
	int efd;
	struct sl_poller *poller;
	bool can_sleep;	     /* the eventfd wakes the reactor */
	bool armed;	     /* eventfd drained, poller reports idle */
	bool efd_dirty;	     /* completions signalled the eventfd since it was drained */
	bool fixed_files;    /* a sparse file table is registered */
	bool defer_taskrun;  /* IORING_SETUP_DEFER_TASKRUN (6.1) */
	uint32_t inflight;   /* SQEs prepared and not completed */
	uint32_t queued;     /* SQEs prepared since the last submit */
	uint64_t idle_since; /* ticks; 0: not idle */
	uint32_t idle_polls;
	uint64_t arm_delay_ticks;
	struct uring_task *done_head, *done_tail;
	uint64_t file_map[URING_MAX_FILES / 64]; /* used registered-file slots */
};

/* Per-thread, per-bdev channel. */
struct uring_bdev_ch {
	struct uring_group *group;
	struct sl_io_channel *group_ch;
	int fd;		   /* registered slot, or the plain fd */
	uint8_t sqe_flags; /* IOSQE_FIXED_FILE with a slot */
	int slot;	   /* -1: none */
};

static int bdev_uring_init(void);
static void bdev_uring_fini(void);
static void bdev_uring_config_json(json_t *config);
static size_t bdev_uring_get_ctx_size(void);

static struct sl_bdev_module g_uring_module = {
	.name = "uring",
	.module_init = bdev_uring_init,
	.module_fini = bdev_uring_fini,
	.config_json = bdev_uring_config_json,
	.get_ctx_size = bdev_uring_get_ctx_size,
};
SL_BDEV_MODULE_REGISTER(g_uring_module)

static TAILQ_HEAD(, uring_disk) g_uring_disks = TAILQ_HEAD_INITIALIZER(g_uring_disks);
/* io_device of the per-thread groups. */
static int g_uring_group_dev;

static size_t bdev_uring_get_ctx_size(void)
{
	return sizeof(struct uring_task);
}

/* ---- completion ---- */

/* Complete later, from the poller: never inside submit_request. */
static void uring_defer(struct uring_group *g, struct uring_task *t, int status)
{
	t->status = status;
	t->next = NULL;
	if (g->done_tail)
		g->done_tail->next = t;
	else
		g->done_head = t;
	g->done_tail = t;
}

static void uring_deliver_deferred(struct uring_group *g)
{
	struct uring_task *t = g->done_head, *next;

	/* Callbacks may defer more; those wait for the next poll. */
	g->done_head = g->done_tail = NULL;
	for (; t; t = next) {
		next = t->next;
		sl_bdev_io_complete(sl_bdev_io_from_ctx(t), t->status);
	}
}

static void uring_complete(struct uring_task *t, int res)
{
	struct sl_bdev_io *bdev_io = sl_bdev_io_from_ctx(t);
	enum sl_bdev_io_status status = SL_BDEV_IO_STATUS_SUCCESS;

	if (res == -EOPNOTSUPP && bdev_io->type == SL_BDEV_IO_TYPE_WRITE_ZEROES) {
		/* No FALLOC_FL_ZERO_RANGE here (tmpfs): the synchronous path punches a hole. */
		struct uring_disk *disk = bdev_io->bdev->ctxt;

		res = sl_bdev_file_zero(&disk->file,
					bdev_io->u.bdev.offset_blocks * disk->bdev.blocklen,
					bdev_io->u.bdev.num_blocks * disk->bdev.blocklen);
	}
	if (res < 0 || (uint64_t)res != t->len) {
		SL_DEBUGLOG(bdev_uring, "%s: %s at block %" PRIu64 " failed: %d (%s)",
			    bdev_io->bdev->name, sl_bdev_io_type_name(bdev_io->type),
			    bdev_io->u.bdev.offset_blocks, res,
			    res < 0 ? strerror(-res) : "short transfer");
		status = SL_BDEV_IO_STATUS_FAILED;
	}
	sl_bdev_io_complete(bdev_io, status);
}

/*
 * Take up to URING_REAP_BATCH CQEs. The kernel publishes a CQE with a
 * release store of the tail; we read the tail with acquire, copy what we need
 * and return the slots with a release store of the head (io_uring_cq_advance).
 * Returns the number of I/Os completed.
 */
static int uring_reap(struct uring_group *g)
{
	struct io_uring *ring = &g->ring;
	struct {
		struct uring_task *t;
		int res;
	} done[URING_REAP_BATCH];
	unsigned head = *ring->cq.khead;
	unsigned tail = io_uring_smp_load_acquire(ring->cq.ktail);
	int n = 0;

	while (head != tail && n < URING_REAP_BATCH) {
		const struct io_uring_cqe *cqe = &ring->cq.cqes[head & ring->cq.ring_mask];

		done[n].t = io_uring_cqe_get_data(cqe);
		done[n].res = cqe->res;
		n++;
		head++;
	}
	if (n == 0)
		return 0;
	io_uring_cq_advance(ring, (unsigned)n);
	/* Bookkeeping first: a callback may release the last channel of this group. */
	g->inflight -= (uint32_t)n;
	g->efd_dirty = true;
	for (int i = 0; i < n; i++)
		uring_complete(done[i].t, done[i].res);
	return n;
}

/* ---- submission ---- */

/* DEFER_TASKRUN: completions wait as task work until we enter the kernel for them. */
static bool uring_taskrun_pending(const struct uring_group *g)
{
	return g->defer_taskrun && (IO_URING_READ_ONCE(*g->ring.sq.kflags) & IORING_SQ_TASKRUN);
}

/* Submit what is queued; with DEFER_TASKRUN the same syscall also posts completions. */
static void uring_submit_queued(struct uring_group *g)
{
	int rc = g->defer_taskrun ? io_uring_submit_and_get_events(&g->ring)
				  : io_uring_submit(&g->ring);

	/* Whatever the kernel did not take stays in the SQ ring for the next poll. */
	g->queued = io_uring_sq_ready(&g->ring);
	if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR)
		SL_ERRLOG("uring: io_uring_enter: %s%s", strerror(-rc),
			  rc == -EEXIST ? " (ring used from another OS thread than its own)" : "");
}

static struct io_uring_sqe *uring_get_sqe(struct uring_group *g)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&g->ring);

	if (!sqe && g->queued) {
		uring_submit_queued(g);
		sqe = io_uring_get_sqe(&g->ring);
	}
	return sqe;
}

static void bdev_uring_submit_request(struct sl_io_channel *_ch, struct sl_bdev_io *bdev_io)
{
	struct uring_bdev_ch *ch = sl_io_channel_get_ctx(_ch);
	struct uring_group *g = ch->group;
	struct uring_disk *disk = bdev_io->bdev->ctxt;
	struct uring_task *t = (struct uring_task *)bdev_io->driver_ctx;
	uint64_t offset = bdev_io->u.bdev.offset_blocks * disk->bdev.blocklen;
	uint64_t len = bdev_io->u.bdev.num_blocks * disk->bdev.blocklen;
	struct iovec *iov = bdev_io->u.bdev.iovs;
	int iovcnt = bdev_io->u.bdev.iovcnt;
	struct io_uring_sqe *sqe;
	int rc;

	if (bdev_io->type == SL_BDEV_IO_TYPE_RESET) {
		uring_defer(g, t, SL_BDEV_IO_STATUS_SUCCESS);
		return;
	}
	if (bdev_io->type == SL_BDEV_IO_TYPE_UNMAP && disk->file.is_blockdev &&
	    !disk->file.readonly) {
		/* BLKDISCARD has no io_uring opcode on every kernel: synchronous. */
		rc = sl_bdev_file_discard(&disk->file, offset, len);
		if (rc)
			SL_ERRLOG("%s: unmap of %" PRIu64 " bytes at %" PRIu64 " failed: %s",
				  disk->bdev.name, len, offset, strerror(-rc));
		uring_defer(g, t, rc ? SL_BDEV_IO_STATUS_FAILED : SL_BDEV_IO_STATUS_SUCCESS);
		return;
	}
	switch (bdev_io->type) {
	case SL_BDEV_IO_TYPE_READ:
	case SL_BDEV_IO_TYPE_FLUSH:
		break;
	case SL_BDEV_IO_TYPE_WRITE:
	case SL_BDEV_IO_TYPE_UNMAP:
	case SL_BDEV_IO_TYPE_WRITE_ZEROES:
		if (!disk->file.readonly)
			break;
		/* fall through */
	default:
		uring_defer(g, t, SL_BDEV_IO_STATUS_FAILED);
		return;
	}
	if (g->inflight >= SL_BDEV_FILE_QUEUE_DEPTH || !(sqe = uring_get_sqe(g))) {
		uring_defer(g, t, SL_BDEV_IO_STATUS_NOMEM);
		return;
	}

	switch (bdev_io->type) {
	case SL_BDEV_IO_TYPE_READ:
		if (iovcnt == 1 && iov[0].iov_len <= UINT32_MAX) /* non-vectored: no iovec import */
			io_uring_prep_read(sqe, ch->fd, iov[0].iov_base, (unsigned)iov[0].iov_len,
					   offset);
		else
			io_uring_prep_readv(sqe, ch->fd, iov, (unsigned)iovcnt, offset);
		t->len = len;
		break;
	case SL_BDEV_IO_TYPE_WRITE:
		if (iovcnt == 1 && iov[0].iov_len <= UINT32_MAX)
			io_uring_prep_write(sqe, ch->fd, iov[0].iov_base, (unsigned)iov[0].iov_len,
					    offset);
		else
			io_uring_prep_writev(sqe, ch->fd, iov, (unsigned)iovcnt, offset);
		t->len = len;
		break;
	case SL_BDEV_IO_TYPE_FLUSH:
		io_uring_prep_fsync(sqe, ch->fd, IORING_FSYNC_DATASYNC);
		t->len = 0;
		break;
	default: /* UNMAP (regular file), WRITE_ZEROES */
		io_uring_prep_fallocate(sqe, ch->fd,
					FALLOC_FL_KEEP_SIZE |
						(bdev_io->type == SL_BDEV_IO_TYPE_UNMAP
							 ? FALLOC_FL_PUNCH_HOLE
							 : FALLOC_FL_ZERO_RANGE),
					(off_t)offset, (off_t)len);
		t->len = 0;
		break;
	}
	sqe->flags |= ch->sqe_flags;
	io_uring_sqe_set_data(sqe, t);
	g->inflight++;
	g->queued++;
}

/* ---- poller ---- */

static void drain_eventfd(int efd)
{
	uint64_t v;

	if (read(efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		SL_ERRLOG("eventfd read: %s", strerror(errno));
}

/*
 * Nothing happened this poll. With I/O in flight keep reporting busy for a
 * short while (the next completion is usually near); then drain the eventfd
 * and report idle so the reactor may sleep until a completion signals it.
 */
static int uring_group_idle(struct uring_group *g)
{
	if (g->armed)
		return SL_POLLER_IDLE;
	if (g->inflight) {
		if (!g->can_sleep)
			return SL_POLLER_BUSY;
		/* Read the clock at the start of the idle stretch, then every 32 polls. */
		if (!g->idle_since) {
			g->idle_since = sl_get_ticks();
			g->idle_polls = 0;
			return SL_POLLER_BUSY;
		}
		if ((++g->idle_polls & 31) || sl_get_ticks() - g->idle_since < g->arm_delay_ticks)
			return SL_POLLER_BUSY;
	}
	if (g->efd_dirty) {
		g->efd_dirty = false;
		drain_eventfd(g->efd);
		/* A completion that came before the drain has lost its wake-up: look again. */
		if (g->inflight && (uring_reap(g) > 0 || uring_taskrun_pending(g))) {
			g->idle_since = 0;
			return SL_POLLER_BUSY;
		}
	}
	g->armed = true;
	return SL_POLLER_IDLE;
}

static int uring_group_poll(void *arg)
{
	struct uring_group *g = arg;
	bool work = false;

	if (g->done_head) {
		uring_deliver_deferred(g);
		work = true;
	}
	if (g->inflight > g->queued && uring_reap(g) > 0)
		work = true;
	/* After reaping: I/O resubmitted from completion callbacks goes in the same batch. */
	if (g->queued || uring_taskrun_pending(g)) {
		uring_submit_queued(g);
		work = true;
		if (g->defer_taskrun)
			uring_reap(g); /* what that io_uring_enter just posted */
	}
	if (!work)
		return uring_group_idle(g);
	g->armed = false;
	g->idle_since = 0;
	return SL_POLLER_BUSY;
}

/* ---- channels ---- */

static int uring_group_create(void *io_device, void *ctx_buf)
{
	struct uring_group *g = ctx_buf;
	struct io_uring_params p;
	int rc;

	g->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g->efd < 0) {
		rc = -errno;
		SL_ERRLOG("uring: eventfd: %s", strerror(-rc));
		return rc;
	}
	/*
	 * Newest first, fall back on EINVAL. DEFER_TASKRUN (6.1): completions
	 * become task work that runs only when this thread enters the kernel,
	 * which the poller does anyway to submit; no IPI per completion. The
	 * kernel signals the eventfd when such work arrives, so a sleeping
	 * reactor still wakes. It requires SINGLE_ISSUER: an sl_thread stays
	 * on its OS thread. SUBMIT_ALL (5.18): one bad SQE does not hold back
	 * the rest of the batch.
	 */
	static const unsigned setup_flags[] = {
		IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SUBMIT_ALL,
		0,
	};
	rc = -EINVAL;
	for (size_t i = 0; i < SL_COUNTOF(setup_flags) && rc == -EINVAL; i++) {
		memset(&p, 0, sizeof(p));
		p.flags = setup_flags[i];
		rc = io_uring_queue_init_params(SL_BDEV_FILE_QUEUE_DEPTH, &g->ring, &p);
		g->defer_taskrun = rc == 0 && (p.flags & IORING_SETUP_DEFER_TASKRUN);
	}
	if (rc) {
		SL_ERRLOG("uring: io_uring_queue_init(%u): %s", SL_BDEV_FILE_QUEUE_DEPTH,
			  strerror(-rc));
		goto out_close_efd;
	}
	rc = io_uring_register_eventfd(&g->ring, g->efd);
	if (rc) {
		SL_ERRLOG("uring: io_uring_register_eventfd: %s", strerror(-rc));
		goto out_exit;
	}
	/* Sparse file table (5.19); without it every I/O names the plain fd. */
	g->fixed_files = io_uring_register_files_sparse(&g->ring, URING_MAX_FILES) == 0;
	if (!g->fixed_files)
		SL_NOTICELOG("uring: no registered files on this kernel");
	g->poller = sl_poller_register_named(uring_group_poll, g, 0, "bdev_uring");
	if (!g->poller) {
		rc = -ENOMEM;
		goto out_exit;
	}
	g->can_sleep = sl_poller_set_wake_fd(g->poller, g->efd) == 0;
	g->arm_delay_ticks = sl_get_ticks_hz() * SL_BDEV_FILE_ARM_DELAY_US / 1000000u;
	return 0;

out_exit:
	io_uring_queue_exit(&g->ring);
out_close_efd:
	close(g->efd);
	return rc;
}

static void uring_group_destroy(void *io_device, void *ctx_buf)
{
	struct uring_group *g = ctx_buf;

	if (g->inflight || g->done_head)
		SL_ERRLOG("uring: thread channel destroyed with I/O outstanding");
	sl_poller_unregister(&g->poller);
	io_uring_queue_exit(&g->ring);
	close(g->efd);
}

static int uring_slot_alloc(struct uring_group *g)
{
	for (int w = 0; w < URING_MAX_FILES / 64; w++) {
		if (g->file_map[w] != UINT64_MAX) {
			int b = __builtin_ctzll(~g->file_map[w]);

			g->file_map[w] |= 1ull << b;
			return w * 64 + b;
		}
	}
	return -1;
}

static void uring_slot_free(struct uring_group *g, int slot)
{
	g->file_map[slot / 64] &= ~(1ull << (slot % 64));
}

static int uring_bdev_ch_create(void *io_device, void *ctx_buf)
{
	struct uring_disk *disk = io_device;
	struct uring_bdev_ch *ch = ctx_buf;
	int rc;

	ch->group_ch = sl_get_io_channel(&g_uring_group_dev);
	if (!ch->group_ch)
		return -ENOMEM;
	ch->group = sl_io_channel_get_ctx(ch->group_ch);
	ch->fd = disk->file.fd;
	ch->sqe_flags = 0;
	ch->slot = ch->group->fixed_files ? uring_slot_alloc(ch->group) : -1;
	if (ch->slot >= 0) {
		rc = io_uring_register_files_update(&ch->group->ring, (unsigned)ch->slot,
						    &disk->file.fd, 1);
		if (rc == 1) {
			ch->fd = ch->slot;
			ch->sqe_flags = IOSQE_FIXED_FILE;
		} else {
			SL_NOTICELOG("%s: cannot register the file with io_uring: %s",
				     disk->bdev.name, strerror(rc < 0 ? -rc : EIO));
			uring_slot_free(ch->group, ch->slot);
			ch->slot = -1;
		}
	}
	return 0;
}

static void uring_bdev_ch_destroy(void *io_device, void *ctx_buf)
{
	struct uring_bdev_ch *ch = ctx_buf;
	int none = -1;

	if (ch->slot >= 0) {
		/* Drop the ring's reference to the file so that close really closes it. */
		io_uring_register_files_update(&ch->group->ring, (unsigned)ch->slot, &none, 1);
		uring_slot_free(ch->group, ch->slot);
	}
	sl_put_io_channel(ch->group_ch);
}

/* ---- bdev ops ---- */

static void uring_disk_free(struct uring_disk *disk)
{
	sl_bdev_file_close(&disk->file);
	free(disk->bdev.name);
	free(disk);
}

static void uring_disk_unregistered_early(void *io_device)
{
	uring_disk_free(io_device);
}

static void uring_disk_unregistered(void *io_device)
{
	struct uring_disk *disk = io_device;

	sl_bdev_destruct_done(&disk->bdev, 0);
	uring_disk_free(disk);
}

static int bdev_uring_destruct(void *ctx)
{
	struct uring_disk *disk = ctx;

	TAILQ_REMOVE(&g_uring_disks, disk, link);
	/* The fd stays open until every thread has dropped its channel. */
	sl_io_device_unregister(disk, uring_disk_unregistered);
	return 1;
}

static bool bdev_uring_io_type_supported(void *ctx, enum sl_bdev_io_type type)
{
	struct uring_disk *disk = ctx;

	switch (type) {
	case SL_BDEV_IO_TYPE_READ:
	case SL_BDEV_IO_TYPE_FLUSH:
	case SL_BDEV_IO_TYPE_RESET:
		return true;
	case SL_BDEV_IO_TYPE_WRITE:
		return !disk->file.readonly;
	case SL_BDEV_IO_TYPE_UNMAP:
		return disk->file.can_unmap;
	case SL_BDEV_IO_TYPE_WRITE_ZEROES:
		return disk->file.can_write_zeroes;
	default:
		return false;
	}
}

static struct sl_io_channel *bdev_uring_get_io_channel(void *ctx)
{
	return sl_get_io_channel(ctx);
}

static void bdev_uring_dump_info_json(void *ctx, json_t *driver_specific)
{
	struct uring_disk *disk = ctx;

	json_object_set_new(driver_specific, "uring",
			    json_pack("{s:s, s:b, s:b, s:b}", "filename", disk->file.filename,
				      "block_size_override", disk->file.block_size_given,
				      "o_direct", disk->file.o_direct, "block_device",
				      disk->file.is_blockdev));
}

static const struct sl_bdev_fn_table g_uring_fn_table = {
	.destruct = bdev_uring_destruct,
	.submit_request = bdev_uring_submit_request,
	.io_type_supported = bdev_uring_io_type_supported,
	.get_io_channel = bdev_uring_get_io_channel,
	.dump_info_json = bdev_uring_dump_info_json,
};

/* ---- create / delete ---- */

int bdev_uring_create(const struct bdev_uring_opts *opts, char *err, size_t errlen)
{
	struct uring_disk *disk;
	int rc;

	if (!opts->name || !*opts->name) {
		snprintf(err, errlen, "bdev name must not be empty");
		return -EINVAL;
	}
	if (sl_bdev_get_by_name(opts->name)) {
		snprintf(err, errlen, "bdev name '%s' already exists", opts->name);
		SL_ERRLOG("%s", err);
		return -EEXIST;
	}
	disk = calloc(1, sizeof(*disk));
	if (!disk)
		return -ENOMEM;
	rc = sl_bdev_file_open(&disk->file, opts->filename, opts->block_size, false, err, errlen);
	if (rc) {
		free(disk);
		return rc;
	}
	if (sl_bdev_file_fill_bdev(&disk->file, &disk->bdev, opts->name, "URING bdev",
				   opts->uuid)) {
		uring_disk_free(disk);
		return -ENOMEM;
	}
	disk->bdev.ctxt = disk;
	disk->bdev.fn_table = &g_uring_fn_table;
	disk->bdev.module = &g_uring_module;

	sl_io_device_register(disk, uring_bdev_ch_create, uring_bdev_ch_destroy,
			      sizeof(struct uring_bdev_ch), disk->bdev.name);
	rc = sl_bdev_register(&disk->bdev);
	if (rc) {
		snprintf(err, errlen, "cannot register bdev '%s': %s", opts->name,
			 rc == -EEXIST ? "the name is already in use" : strerror(-rc));
		SL_ERRLOG("%s", err);
		/* Nobody can have a channel: free once the unregistration is done. */
		sl_io_device_unregister(disk, uring_disk_unregistered_early);
		return rc;
	}
	TAILQ_INSERT_TAIL(&g_uring_disks, disk, link);
	SL_NOTICELOG("uring bdev %s on %s: %" PRIu64 " blocks of %u bytes, %s", disk->bdev.name,
		     disk->file.filename, disk->bdev.blockcnt, disk->bdev.blocklen,
		     disk->file.o_direct ? "O_DIRECT" : "buffered");
	return 0;
}

int bdev_uring_delete(const char *name, void (*cb)(void *cb_arg, int rc), void *cb_arg)
{
	return sl_bdev_unregister_by_name(name, &g_uring_module, cb, cb_arg);
}

/* ---- module ---- */

static int bdev_uring_init(void)
{
	sl_io_device_register(&g_uring_group_dev, uring_group_create, uring_group_destroy,
			      sizeof(struct uring_group), "bdev_uring_group");
	return 0;
}

static void bdev_uring_fini(void)
{
	sl_io_device_unregister(&g_uring_group_dev, NULL);
}

static void bdev_uring_config_json(json_t *config)
{
	struct uring_disk *disk;

	TAILQ_FOREACH(disk, &g_uring_disks, link) {
		json_t *params = json_object();

		sl_bdev_config_common(&disk->bdev, params);
		json_object_set_new(params, "filename", json_string(disk->file.filename));
		json_object_set_new(params, "block_size", json_integer(disk->bdev.blocklen));
		json_array_append_new(config, json_pack("{s:s, s:o}", "method", "bdev_uring_create",
							"params", params));
	}
}
