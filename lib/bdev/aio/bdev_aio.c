/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * aio bdev module. Each thread has one Linux AIO context (a "group", shared
 * by every aio bdev the thread uses) with a busy poller. Reads and writes are
 * queued in submit_request and handed to the kernel with one io_submit per
 * poll; completions are read straight from the context's ring in user space
 * (no syscall) and signal an eventfd, so a reactor that has nothing else to
 * do can sleep and wake on a completion.
 */
#include "bdev_aio.h"
#include "sluice/bdev_file.h"

#include "sluice/bdev_module.h"
#include "sluice/env.h"
#include "sluice/log.h"
#include "sluice/thread.h"

#include <errno.h>
#include <inttypes.h>
#include <libaio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

SL_LOG_REGISTER_COMPONENT(bdev_aio)

/* Completions taken from the ring per pass. */
#define AIO_REAP_BATCH 64

struct aio_disk {
	struct sl_bdev bdev;
	struct sl_bdev_file file;
	bool fallocate;
	bool fdsync_refused; /* the kernel rejected IOCB_CMD_FDSYNC: fdatasync inline */
	TAILQ_ENTRY(aio_disk) link;
};

/* Per-I/O context (sl_bdev_io::driver_ctx). */
struct aio_task {
	struct iocb iocb; /* io_event.obj points here */
	struct aio_task *next;
	int status; /* deferred completion */
	uint64_t len;
};

/*
 * The AIO completion ring the kernel maps at the address io_setup returns
 * (struct aio_ring in fs/aio.c). Stable ABI: the magic and feature fields
 * exist so user space can read it; libaio itself peeks at it.
 */
struct aio_user_ring {
	uint32_t id;
	uint32_t nr; /* events in the ring */
	uint32_t head;
	uint32_t tail;
	uint32_t magic;
	uint32_t compat_features;
	uint32_t incompat_features;
	uint32_t header_length;
};
#define AIO_RING_MAGIC 0xa10a10a1u
#define AIO_RING_COMPAT_FEATURES 1u
#define AIO_RING_INCOMPAT_FEATURES 0u

/* Per-thread state. */
struct aio_group {
	io_context_t ctx;
	struct aio_user_ring *ring; /* NULL: reap with io_getevents */
	int efd;
	struct sl_poller *poller;
	bool can_sleep;	     /* the eventfd wakes the reactor */
	bool armed;	     /* eventfd drained, poller reports idle */
	bool efd_dirty;	     /* completions signalled the eventfd since it was drained */
	uint32_t inflight;   /* in the kernel */
	uint32_t npending;   /* queued for the next io_submit */
	uint64_t idle_since; /* ticks; 0: not idle */
	uint32_t idle_polls;
	uint64_t arm_delay_ticks;
	struct aio_task *done_head, *done_tail;
	struct iocb *pending[SL_BDEV_FILE_QUEUE_DEPTH];
};

/* Per-thread, per-bdev channel. */
struct aio_bdev_ch {
	struct aio_group *group;
	struct sl_io_channel *group_ch;
};

static int bdev_aio_init(void);
static void bdev_aio_fini(void);
static void bdev_aio_config_json(json_t *config);
static size_t bdev_aio_get_ctx_size(void);

static struct sl_bdev_module g_aio_module = {
	.name = "aio",
	.module_init = bdev_aio_init,
	.module_fini = bdev_aio_fini,
	.config_json = bdev_aio_config_json,
	.get_ctx_size = bdev_aio_get_ctx_size,
};
SL_BDEV_MODULE_REGISTER(g_aio_module)

static TAILQ_HEAD(, aio_disk) g_aio_disks = TAILQ_HEAD_INITIALIZER(g_aio_disks);
/* io_device of the per-thread groups. */
static int g_aio_group_dev;

static size_t bdev_aio_get_ctx_size(void)
{
	return sizeof(struct aio_task);
}

/* ---- completion ---- */

/* Complete later, from the poller: never inside submit_request. */
static void aio_defer(struct aio_group *g, struct aio_task *t, int status)
{
	t->status = status;
	t->next = NULL;
	if (g->done_tail)
		g->done_tail->next = t;
	else
		g->done_head = t;
	g->done_tail = t;
}

static void aio_deliver_deferred(struct aio_group *g)
{
	struct aio_task *t = g->done_head, *next;

	/* Callbacks may defer more; those wait for the next poll. */
	g->done_head = g->done_tail = NULL;
	for (; t; t = next) {
		next = t->next;
		sl_bdev_io_complete(sl_bdev_io_from_ctx(t), t->status);
	}
}

static void aio_complete_event(const struct io_event *ev)
{
	struct aio_task *t = SL_CONTAINEROF(ev->obj, struct aio_task, iocb);
	long res = (long)ev->res;
	enum sl_bdev_io_status status = SL_BDEV_IO_STATUS_SUCCESS;

	if (res < 0 || (uint64_t)res != t->len) {
		struct sl_bdev_io *bdev_io = sl_bdev_io_from_ctx(t);

		SL_DEBUGLOG(bdev_aio, "%s: %s at block %" PRIu64 " failed: %ld (%s)",
			    bdev_io->bdev->name, sl_bdev_io_type_name(bdev_io->type),
			    bdev_io->u.bdev.offset_blocks, res,
			    res < 0 ? strerror((int)-res) : "short transfer");
		status = SL_BDEV_IO_STATUS_FAILED;
	}
	sl_bdev_io_complete(sl_bdev_io_from_ctx(t), status);
}

/*
 * Take up to AIO_REAP_BATCH events off the ring. The kernel fills an event,
 * then publishes it with a release store of tail (smp_wmb in aio_complete);
 * we read tail with acquire, copy the events, and hand the slots back with a
 * release store of head, after which the kernel may reuse them.
 */
static int aio_reap_ring(struct aio_group *g, struct io_event *out)
{
	struct aio_user_ring *r = g->ring;
	const struct io_event *events = (const struct io_event *)((char *)r + r->header_length);
	uint32_t head = r->head, tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	uint32_t nr = r->nr;
	int n = 0;

	while (head != tail && n < AIO_REAP_BATCH) {
		out[n++] = events[head];
		if (++head == nr)
			head = 0;
	}
	if (n)
		__atomic_store_n(&r->head, head, __ATOMIC_RELEASE);
	return n;
}

/* Returns the number of I/Os completed. */
static int aio_reap(struct aio_group *g)
{
	struct io_event events[AIO_REAP_BATCH];
	struct timespec zero = { 0, 0 };
	int n;

	if (g->ring) {
		n = aio_reap_ring(g, events);
	} else {
		n = io_getevents(g->ctx, 0, AIO_REAP_BATCH, events, &zero);
		if (n < 0) {
			if (n != -EINTR)
				SL_ERRLOG("io_getevents: %s", strerror(-n));
			return 0;
		}
	}
	if (n == 0)
		return 0;
	/* Bookkeeping first: a callback may release the last channel of this group. */
	g->inflight -= (uint32_t)n;
	g->efd_dirty = true;
	for (int i = 0; i < n; i++)
		aio_complete_event(&events[i]);
	return n;
}

/* ---- submission ---- */

static void aio_submit_failed(struct aio_group *g, struct iocb *iocb, int rc)
{
	struct aio_task *t = SL_CONTAINEROF(iocb, struct aio_task, iocb);
	struct sl_bdev_io *bdev_io = sl_bdev_io_from_ctx(t);
	struct aio_disk *disk = bdev_io->bdev->ctxt;

	if (iocb->aio_lio_opcode == IO_CMD_FDSYNC && rc == -EINVAL) {
		/* Kernels before 4.18 have no asynchronous fdsync. */
		if (!disk->fdsync_refused)
			SL_NOTICELOG("%s: the kernel refuses aio fdsync; flushing with fdatasync",
				     disk->bdev.name);
		disk->fdsync_refused = true;
		rc = fdatasync(disk->file.fd) ? -errno : 0;
		aio_defer(g, t, rc ? SL_BDEV_IO_STATUS_FAILED : SL_BDEV_IO_STATUS_SUCCESS);
		return;
	}
	SL_ERRLOG("%s: io_submit of %s failed: %s", disk->bdev.name,
		  sl_bdev_io_type_name(bdev_io->type), strerror(-rc));
	aio_defer(g, t, SL_BDEV_IO_STATUS_FAILED);
}

static void aio_submit_pending(struct aio_group *g)
{
	uint32_t done = 0, count = g->npending;
	int rc;

	while (done < count) {
		rc = io_submit(g->ctx, (long)(count - done), &g->pending[done]);
		if (rc > 0) {
			done += (uint32_t)rc;
			g->inflight += (uint32_t)rc;
			continue;
		}
		if (rc == -EINTR)
			continue;
		if (rc == -EAGAIN || rc == 0) {
			/* Out of kernel resources: the core retries them. */
			for (; done < count; done++)
				aio_defer(g,
					  SL_CONTAINEROF(g->pending[done], struct aio_task, iocb),
					  SL_BDEV_IO_STATUS_NOMEM);
			break;
		}
		/* The first remaining iocb is bad; the rest may be fine. */
		aio_submit_failed(g, g->pending[done++], rc);
	}
	g->npending = 0;
}

static void aio_queue(struct aio_group *g, struct aio_task *t)
{
	t->iocb.data = t;
	io_set_eventfd(&t->iocb, g->efd);
	g->pending[g->npending++] = &t->iocb;
}

static void bdev_aio_submit_request(struct sl_io_channel *ch, struct sl_bdev_io *bdev_io)
{
	struct aio_group *g = ((struct aio_bdev_ch *)sl_io_channel_get_ctx(ch))->group;
	struct aio_disk *disk = bdev_io->bdev->ctxt;
	struct aio_task *t = (struct aio_task *)bdev_io->driver_ctx;
	uint64_t offset = bdev_io->u.bdev.offset_blocks * disk->bdev.blocklen;
	uint64_t len = bdev_io->u.bdev.num_blocks * disk->bdev.blocklen;
	int rc;

	switch (bdev_io->type) {
	case SL_BDEV_IO_TYPE_READ:
	case SL_BDEV_IO_TYPE_WRITE:
		if (g->inflight + g->npending >= SL_BDEV_FILE_QUEUE_DEPTH) {
			aio_defer(g, t, SL_BDEV_IO_STATUS_NOMEM);
			return;
		}
		if (bdev_io->type == SL_BDEV_IO_TYPE_READ) {
			io_prep_preadv(&t->iocb, disk->file.fd, bdev_io->u.bdev.iovs,
				       bdev_io->u.bdev.iovcnt, (long long)offset);
		} else {
			if (disk->file.readonly)
				break;
			io_prep_pwritev(&t->iocb, disk->file.fd, bdev_io->u.bdev.iovs,
					bdev_io->u.bdev.iovcnt, (long long)offset);
		}
		t->len = len;
		aio_queue(g, t);
		return;
	case SL_BDEV_IO_TYPE_FLUSH:
		if (disk->fdsync_refused) {
			rc = fdatasync(disk->file.fd) ? -errno : 0;
			aio_defer(g, t, rc ? SL_BDEV_IO_STATUS_FAILED : SL_BDEV_IO_STATUS_SUCCESS);
			return;
		}
		if (g->inflight + g->npending >= SL_BDEV_FILE_QUEUE_DEPTH) {
			aio_defer(g, t, SL_BDEV_IO_STATUS_NOMEM);
			return;
		}
		io_prep_fdsync(&t->iocb, disk->file.fd);
		t->len = 0;
		aio_queue(g, t);
		return;
	case SL_BDEV_IO_TYPE_UNMAP:
	case SL_BDEV_IO_TYPE_WRITE_ZEROES:
		if (!disk->fallocate || disk->file.readonly)
			break;
		/* fallocate(2) is synchronous; these are rare and short. */
		if (bdev_io->type == SL_BDEV_IO_TYPE_UNMAP)
			rc = sl_bdev_file_discard(&disk->file, offset, len);
		else
			rc = sl_bdev_file_zero(&disk->file, offset, len);
		if (rc)
			SL_ERRLOG("%s: %s of %" PRIu64 " bytes at %" PRIu64 " failed: %s",
				  disk->bdev.name, sl_bdev_io_type_name(bdev_io->type), len, offset,
				  strerror(-rc));
		aio_defer(g, t, rc ? SL_BDEV_IO_STATUS_FAILED : SL_BDEV_IO_STATUS_SUCCESS);
		return;
	case SL_BDEV_IO_TYPE_RESET:
		aio_defer(g, t, SL_BDEV_IO_STATUS_SUCCESS);
		return;
	default:
		break;
	}
	aio_defer(g, t, SL_BDEV_IO_STATUS_FAILED);
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
static int aio_group_idle(struct aio_group *g)
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
		if (g->inflight && aio_reap(g) > 0) {
			g->idle_since = 0;
			return SL_POLLER_BUSY;
		}
	}
	g->armed = true;
	return SL_POLLER_IDLE;
}

static int aio_group_poll(void *arg)
{
	struct aio_group *g = arg;
	bool work = false;

	if (g->done_head) {
		aio_deliver_deferred(g);
		work = true;
	}
	if (g->inflight && aio_reap(g) > 0)
		work = true;
	/* After reaping: I/O resubmitted from completion callbacks goes in the same batch. */
	if (g->npending) {
		aio_submit_pending(g);
		work = true;
	}
	if (!work)
		return aio_group_idle(g);
	g->armed = false;
	g->idle_since = 0;
	return SL_POLLER_BUSY;
}

/* ---- channels ---- */

static int aio_group_create(void *io_device, void *ctx_buf)
{
	struct aio_group *g = ctx_buf;
	int rc;

	g->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g->efd < 0) {
		rc = -errno;
		SL_ERRLOG("aio: eventfd: %s", strerror(-rc));
		return rc;
	}
	rc = io_setup((int)SL_BDEV_FILE_QUEUE_DEPTH, &g->ctx);
	if (rc < 0) {
		SL_ERRLOG("aio: io_setup(%u): %s%s", SL_BDEV_FILE_QUEUE_DEPTH, strerror(-rc),
			  rc == -EAGAIN ? " (raise /proc/sys/fs/aio-max-nr)" : "");
		goto out_close_efd;
	}
	g->ring = (struct aio_user_ring *)g->ctx;
	if (g->ring->magic != AIO_RING_MAGIC ||
	    g->ring->compat_features != AIO_RING_COMPAT_FEATURES ||
	    g->ring->incompat_features != AIO_RING_INCOMPAT_FEATURES ||
	    g->ring->header_length < sizeof(struct aio_user_ring)) {
		SL_NOTICELOG("aio: unknown completion ring layout; reaping with io_getevents");
		g->ring = NULL;
	}
	g->poller = sl_poller_register_named(aio_group_poll, g, 0, "bdev_aio");
	if (!g->poller) {
		rc = -ENOMEM;
		goto out_destroy;
	}
	g->can_sleep = sl_poller_set_wake_fd(g->poller, g->efd) == 0;
	g->arm_delay_ticks = sl_get_ticks_hz() * SL_BDEV_FILE_ARM_DELAY_US / 1000000u;
	return 0;

out_destroy:
	io_destroy(g->ctx);
out_close_efd:
	close(g->efd);
	return rc;
}

static void aio_group_destroy(void *io_device, void *ctx_buf)
{
	struct aio_group *g = ctx_buf;

	if (g->inflight || g->npending || g->done_head)
		SL_ERRLOG("aio: thread channel destroyed with I/O outstanding");
	sl_poller_unregister(&g->poller);
	io_destroy(g->ctx); /* waits for anything still in the kernel */
	close(g->efd);
}

static int aio_bdev_ch_create(void *io_device, void *ctx_buf)
{
	struct aio_bdev_ch *ch = ctx_buf;

	ch->group_ch = sl_get_io_channel(&g_aio_group_dev);
	if (!ch->group_ch)
		return -ENOMEM;
	ch->group = sl_io_channel_get_ctx(ch->group_ch);
	return 0;
}

static void aio_bdev_ch_destroy(void *io_device, void *ctx_buf)
{
	struct aio_bdev_ch *ch = ctx_buf;

	sl_put_io_channel(ch->group_ch);
}

/* ---- bdev ops ---- */

static void aio_disk_free(struct aio_disk *disk)
{
	sl_bdev_file_close(&disk->file);
	free(disk->bdev.name);
	free(disk);
}

static void aio_disk_unregistered_early(void *io_device)
{
	aio_disk_free(io_device);
}

static void aio_disk_unregistered(void *io_device)
{
	struct aio_disk *disk = io_device;

	sl_bdev_destruct_done(&disk->bdev, 0);
	aio_disk_free(disk);
}

static int bdev_aio_destruct(void *ctx)
{
	struct aio_disk *disk = ctx;

	TAILQ_REMOVE(&g_aio_disks, disk, link);
	/* The fd stays open until every thread has dropped its channel. */
	sl_io_device_unregister(disk, aio_disk_unregistered);
	return 1;
}

static bool bdev_aio_io_type_supported(void *ctx, enum sl_bdev_io_type type)
{
	struct aio_disk *disk = ctx;

	switch (type) {
	case SL_BDEV_IO_TYPE_READ:
	case SL_BDEV_IO_TYPE_FLUSH:
	case SL_BDEV_IO_TYPE_RESET:
		return true;
	case SL_BDEV_IO_TYPE_WRITE:
		return !disk->file.readonly;
	case SL_BDEV_IO_TYPE_UNMAP:
		return disk->fallocate && disk->file.can_unmap;
	case SL_BDEV_IO_TYPE_WRITE_ZEROES:
		return disk->fallocate && disk->file.can_write_zeroes;
	default:
		return false;
	}
}

static struct sl_io_channel *bdev_aio_get_io_channel(void *ctx)
{
	return sl_get_io_channel(ctx);
}

static void bdev_aio_dump_info_json(void *ctx, json_t *driver_specific)
{
	struct aio_disk *disk = ctx;

	json_object_set_new(driver_specific, "aio",
			    json_pack("{s:s, s:b, s:b, s:b, s:b, s:b}", "filename",
				      disk->file.filename, "block_size_override",
				      disk->file.block_size_given, "readonly", disk->file.readonly,
				      "fallocate", disk->fallocate, "o_direct", disk->file.o_direct,
				      "block_device", disk->file.is_blockdev));
}

static const struct sl_bdev_fn_table g_aio_fn_table = {
	.destruct = bdev_aio_destruct,
	.submit_request = bdev_aio_submit_request,
	.io_type_supported = bdev_aio_io_type_supported,
	.get_io_channel = bdev_aio_get_io_channel,
	.dump_info_json = bdev_aio_dump_info_json,
};

/* ---- create / delete ---- */

int bdev_aio_create(const struct bdev_aio_opts *opts, char *err, size_t errlen)
{
	struct aio_disk *disk;
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
	rc = sl_bdev_file_open(&disk->file, opts->filename, opts->block_size, opts->readonly, err,
			       errlen);
	if (rc) {
		free(disk);
		return rc;
	}
	disk->fallocate = opts->fallocate;
	if (sl_bdev_file_fill_bdev(&disk->file, &disk->bdev, opts->name, "AIO disk", opts->uuid)) {
		aio_disk_free(disk);
		return -ENOMEM;
	}
	disk->bdev.ctxt = disk;
	disk->bdev.fn_table = &g_aio_fn_table;
	disk->bdev.module = &g_aio_module;

	sl_io_device_register(disk, aio_bdev_ch_create, aio_bdev_ch_destroy,
			      sizeof(struct aio_bdev_ch), disk->bdev.name);
	rc = sl_bdev_register(&disk->bdev);
	if (rc) {
		snprintf(err, errlen, "cannot register bdev '%s': %s", opts->name,
			 rc == -EEXIST ? "the name is already in use" : strerror(-rc));
		SL_ERRLOG("%s", err);
		/* Nobody can have a channel: free once the unregistration is done. */
		sl_io_device_unregister(disk, aio_disk_unregistered_early);
		return rc;
	}
	TAILQ_INSERT_TAIL(&g_aio_disks, disk, link);
	SL_NOTICELOG("aio bdev %s on %s: %" PRIu64 " blocks of %u bytes, %s", disk->bdev.name,
		     disk->file.filename, disk->bdev.blockcnt, disk->bdev.blocklen,
		     disk->file.o_direct ? "O_DIRECT" : "buffered");
	return 0;
}

int bdev_aio_delete(const char *name, void (*cb)(void *cb_arg, int rc), void *cb_arg)
{
	return sl_bdev_unregister_by_name(name, &g_aio_module, cb, cb_arg);
}

/* ---- module ---- */

static int bdev_aio_init(void)
{
	sl_io_device_register(&g_aio_group_dev, aio_group_create, aio_group_destroy,
			      sizeof(struct aio_group), "bdev_aio_group");
	return 0;
}

static void bdev_aio_fini(void)
{
	sl_io_device_unregister(&g_aio_group_dev, NULL);
}

static void bdev_aio_config_json(json_t *config)
{
	struct aio_disk *disk;

	TAILQ_FOREACH(disk, &g_aio_disks, link) {
		json_t *params = json_object();

		sl_bdev_config_common(&disk->bdev, params);
		json_object_set_new(params, "filename", json_string(disk->file.filename));
		json_object_set_new(params, "block_size", json_integer(disk->bdev.blocklen));
		json_object_set_new(params, "readonly", json_boolean(disk->file.readonly));
		json_object_set_new(params, "fallocate", json_boolean(disk->fallocate));
		json_array_append_new(config, json_pack("{s:s, s:o}", "method", "bdev_aio_create",
							"params", params));
	}
}
