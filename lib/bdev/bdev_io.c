/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bdev I/O path: per-thread sl_bdev_io caches over a shared mempool,
 * submission, splitting to module limits, bounce buffers, retry of I/O a
 * module could not take (NOMEM), completion on the submitting thread and
 * per-channel statistics. No lock and no allocation per I/O.
 */
#include "bdev_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BDEV_IO_POOL_SIZE 16383
#define BOUNCE_POOL_SIZE 63
#define BOUNCE_ELEM_SIZE (BDEV_BOUNCE_BUF_SIZE + 4096)
#define RETRY_PERIOD_US 100

struct sl_mempool *g_bdev_io_pool;
struct sl_mempool *g_bounce_pool;
size_t g_bdev_io_ctx_size;
int g_bdev_mgr;
void *g_zero_buf;
static size_t g_internal_off;
static void (*g_fini_done)(void);

enum retry_kind {
	RETRY_SUBMIT, /* start again from the top (no bounce buffer was free) */
	RETRY_MODULE, /* the module said NOMEM: give it again */
	RETRY_SPLIT,  /* a split parent found no free child */
};

static void io_submit(struct sl_bdev_io *io);
static void split_continue(struct sl_bdev_io *parent);

/* ---- pools and per-thread caches ---- */

static int mgmt_create(void *io_device, void *ctx)
{
	(void)io_device;
	memset(ctx, 0, sizeof(struct bdev_mgmt_channel));
	return 0;
}

static void mgmt_destroy(void *io_device, void *ctx)
{
	struct bdev_mgmt_channel *m = ctx;

	(void)io_device;
	if (m->cache_count)
		sl_mempool_put_bulk(g_bdev_io_pool, (void **)m->cache, m->cache_count);
	m->cache_count = 0;
}

int bdev_io_lib_init(void)
{
	size_t elem;

	g_internal_off = SL_ALIGN_UP(sizeof(struct sl_bdev_io) + g_bdev_io_ctx_size, (size_t)64);
	elem = g_internal_off + sizeof(struct sl_bdev_io_internal);
	g_bdev_io_pool = sl_mempool_create("bdev_io", BDEV_IO_POOL_SIZE, elem,
					   SL_MEMPOOL_DEFAULT_CACHE_SIZE, SL_ENV_SOCKET_ID_ANY);
	g_bounce_pool = sl_mempool_create("bdev_bounce", BOUNCE_POOL_SIZE, BOUNCE_ELEM_SIZE, 0,
					  SL_ENV_SOCKET_ID_ANY);
	g_zero_buf = sl_dma_zmalloc(BDEV_BOUNCE_BUF_SIZE, 4096, NULL);
	if (!g_bdev_io_pool || !g_bounce_pool || !g_zero_buf) {
		SL_ERRLOG("cannot allocate the bdev I/O pools (%zu bytes per I/O): not enough "
			  "memory (-s / hugepages)",
			  elem);
		bdev_io_lib_fini(NULL);
		return -ENOMEM;
	}
	sl_io_device_register(&g_bdev_mgr, mgmt_create, mgmt_destroy,
			      sizeof(struct bdev_mgmt_channel), "bdev_mgr");
	return 0;
}

static void free_pools(void)
{
	sl_mempool_free(g_bdev_io_pool);
	sl_mempool_free(g_bounce_pool);
	sl_dma_free(g_zero_buf);
	g_bdev_io_pool = NULL;
	g_bounce_pool = NULL;
	g_zero_buf = NULL;
}

static void mgr_unregistered(void *io_device)
{
	(void)io_device;
	free_pools();
	if (g_fini_done)
		g_fini_done();
}

void bdev_io_lib_fini(void (*done)(void))
{
	g_fini_done = done;
	if (!sl_io_device_is_registered(&g_bdev_mgr)) {
		free_pools();
		if (done)
			done();
		return;
	}
	/* Channels hold cached I/Os: free the pools only after the last one is gone. */
	sl_io_device_unregister(&g_bdev_mgr, mgr_unregistered);
}

static struct sl_bdev_io *io_get(struct bdev_mgmt_channel *m)
{
	struct sl_bdev_io_internal *in;
	struct sl_bdev_io *io;

	if (__builtin_expect(m->cache_count == 0, 0)) {
		size_t n = BDEV_IO_CACHE_SIZE / 4;

		while (n && sl_mempool_get_bulk(g_bdev_io_pool, (void **)m->cache, n))
			n /= 2;
		if (!n)
			return NULL;
		m->cache_count = (uint32_t)n;
	}
	io = m->cache[--m->cache_count];
	in = (struct sl_bdev_io_internal *)((char *)io + g_internal_off);
	io->internal = in;
	/* Only what every path reads before writing; split state is set when a split starts. */
	in->io = io;
	in->status = SL_BDEV_IO_STATUS_PENDING;
	in->cdw0 = 0;
	in->in_submit = false;
	in->compare_emul = false;
	in->queued = false;
	in->bounce_elem = NULL;
	in->parent = NULL;
	in->is_split_parent = false;
	return io;
}

static void io_put(struct bdev_mgmt_channel *m, struct sl_bdev_io *io)
{
	struct sl_bdev_io_wait_entry *w;

	if (__builtin_expect(m->cache_count == BDEV_IO_CACHE_SIZE, 0)) {
		sl_mempool_put_bulk(g_bdev_io_pool, (void **)&m->cache[BDEV_IO_CACHE_SIZE / 2],
				    BDEV_IO_CACHE_SIZE / 2);
		m->cache_count = BDEV_IO_CACHE_SIZE / 2;
	}
	m->cache[m->cache_count++] = io;
	if (__builtin_expect(m->wait_head != NULL, 0)) {
		w = m->wait_head;
		m->wait_head = w->next;
		if (!m->wait_head)
			m->wait_tail = NULL;
		w->cb_fn(w->cb_arg);
	}
}

void sl_bdev_free_io(struct sl_bdev_io *io)
{
	io_put(io->internal->ch->mgmt, io);
}

int sl_bdev_queue_io_wait(struct sl_bdev *bdev, struct sl_io_channel *ch,
			  struct sl_bdev_io_wait_entry *entry)
{
	struct bdev_channel *bch = sl_io_channel_get_ctx(ch);
	struct bdev_mgmt_channel *m = bch->mgmt;

	if (m->cache_count) {
		SL_ERRLOG("bdev %s: io_wait queued while I/Os are available", bdev->name);
		return -EINVAL;
	}
	entry->bdev = bdev;
	entry->next = NULL;
	if (m->wait_tail)
		m->wait_tail->next = entry;
	else
		m->wait_head = entry;
	m->wait_tail = entry;
	return 0;
}

/* ---- channels ---- */

int bdev_channel_create(void *io_device, void *ctx)
{
	struct sl_bdev *bdev = bdev_of_internal(io_device);
	struct bdev_channel *ch = ctx;

	memset(ch, 0, sizeof(*ch));
	ch->bdev = bdev;
	TAILQ_INIT(&ch->nomem_queue);
	ch->stat.ticks_rate = sl_get_ticks_hz();
	ch->module_ch = bdev->fn_table->get_io_channel(bdev->ctxt);
	if (!ch->module_ch)
		return -ENOMEM;
	ch->mgmt_io_ch = sl_get_io_channel(&g_bdev_mgr);
	if (!ch->mgmt_io_ch) {
		sl_put_io_channel(ch->module_ch);
		return -ENOMEM;
	}
	ch->mgmt = sl_io_channel_get_ctx(ch->mgmt_io_ch);
	return 0;
}

void bdev_channel_destroy(void *io_device, void *ctx)
{
	struct sl_bdev_internal *in = io_device;
	struct bdev_channel *ch = ctx;

	if (ch->io_outstanding || !TAILQ_EMPTY(&ch->nomem_queue))
		SL_ERRLOG("bdev %s: channel released with %lu I/O outstanding", ch->bdev->name,
			  (unsigned long)ch->io_outstanding);
	sl_poller_unregister(&ch->retry_poller);
	pthread_mutex_lock(&g_bdev_lock);
	bdev_stat_add(&in->stat_gone, &ch->stat);
	pthread_mutex_unlock(&g_bdev_lock);
	sl_put_io_channel(ch->module_ch);
	sl_put_io_channel(ch->mgmt_io_ch);
}

struct sl_io_channel *sl_bdev_get_io_channel(struct sl_bdev_desc *desc)
{
	return sl_get_io_channel(desc->bdev->internal);
}

struct sl_io_channel *sl_bdev_io_get_io_channel(struct sl_bdev_io *io)
{
	return io->internal->ch->module_ch;
}

struct sl_thread *sl_bdev_io_get_thread(struct sl_bdev_io *io)
{
	return sl_io_channel_get_thread(io->internal->ch->module_ch);
}

enum sl_bdev_io_type sl_bdev_io_get_type(const struct sl_bdev_io *io)
{
	return io->internal->user_type;
}

uint64_t sl_bdev_io_get_submit_tsc(const struct sl_bdev_io *io)
{
	return io->internal->submit_tsc;
}

uint64_t sl_bdev_io_get_complete_tsc(const struct sl_bdev_io *io)
{
	return io->internal->complete_tsc;
}

/* ---- statistics ---- */

void bdev_stat_add(struct sl_bdev_io_stat *d, const struct sl_bdev_io_stat *s)
{
	d->bytes_read += s->bytes_read;
	d->num_read_ops += s->num_read_ops;
	d->bytes_written += s->bytes_written;
	d->num_write_ops += s->num_write_ops;
	d->bytes_unmapped += s->bytes_unmapped;
	d->num_unmap_ops += s->num_unmap_ops;
	d->num_write_zeroes_ops += s->num_write_zeroes_ops;
	d->num_flush_ops += s->num_flush_ops;
	d->num_other_ops += s->num_other_ops;
	d->read_latency_ticks += s->read_latency_ticks;
	d->write_latency_ticks += s->write_latency_ticks;
	d->unmap_latency_ticks += s->unmap_latency_ticks;
	d->max_read_latency_ticks = SL_MAX(d->max_read_latency_ticks, s->max_read_latency_ticks);
	d->max_write_latency_ticks = SL_MAX(d->max_write_latency_ticks, s->max_write_latency_ticks);
	d->num_errors += s->num_errors;
	d->num_nomem_retries += s->num_nomem_retries;
	d->ticks_rate = s->ticks_rate ? s->ticks_rate : d->ticks_rate;
}

void sl_bdev_get_io_stat(struct sl_bdev *bdev, struct sl_io_channel *ch,
			 struct sl_bdev_io_stat *stat)
{
	struct bdev_channel *bch = sl_io_channel_get_ctx(ch);

	(void)bdev;
	*stat = bch->stat;
}

struct device_stat_ctx {
	struct sl_bdev *bdev;
	struct sl_bdev_io_stat *stat;
	sl_bdev_get_device_stat_cb cb;
	void *cb_arg;
};

static void device_stat_channel(struct sl_io_channel_iter *i)
{
	struct device_stat_ctx *c = sl_io_channel_iter_get_ctx(i);
	struct bdev_channel *ch = sl_io_channel_get_ctx(sl_io_channel_iter_get_channel(i));

	bdev_stat_add(c->stat, &ch->stat);
	sl_for_each_channel_continue(i, 0);
}

static void device_stat_done(struct sl_io_channel_iter *i, int status)
{
	struct device_stat_ctx *c = sl_io_channel_iter_get_ctx(i);

	pthread_mutex_lock(&g_bdev_lock);
	bdev_stat_add(c->stat, &c->bdev->internal->stat_gone);
	pthread_mutex_unlock(&g_bdev_lock);
	c->stat->ticks_rate = sl_get_ticks_hz();
	c->cb(c->bdev, c->stat, c->cb_arg, status);
	free(c);
}

void sl_bdev_get_device_stat(struct sl_bdev *bdev, struct sl_bdev_io_stat *stat,
			     sl_bdev_get_device_stat_cb cb, void *cb_arg)
{
	struct device_stat_ctx *c = calloc(1, sizeof(*c));

	if (!c) {
		cb(bdev, stat, cb_arg, -ENOMEM);
		return;
	}
	memset(stat, 0, sizeof(*stat));
	c->bdev = bdev;
	c->stat = stat;
	c->cb = cb;
	c->cb_arg = cb_arg;
	sl_for_each_channel(bdev->internal, device_stat_channel, c, device_stat_done);
}

static void account(struct sl_bdev_io *io)
{
	struct sl_bdev_io_internal *in = io->internal;
	struct sl_bdev_io_stat *st = &in->ch->stat;
	uint64_t ticks, bytes = io->u.bdev.num_blocks * io->bdev->blocklen;

	in->complete_tsc = sl_get_ticks();
	ticks = in->complete_tsc - in->submit_tsc;

	if (in->status != SL_BDEV_IO_STATUS_SUCCESS) {
		st->num_errors++;
		return;
	}
	switch (in->user_type) {
	case SL_BDEV_IO_TYPE_READ:
		st->bytes_read += bytes;
		st->num_read_ops++;
		st->read_latency_ticks += ticks;
		st->max_read_latency_ticks = SL_MAX(st->max_read_latency_ticks, ticks);
		break;
	case SL_BDEV_IO_TYPE_WRITE:
		st->bytes_written += bytes;
		st->num_write_ops++;
		st->write_latency_ticks += ticks;
		st->max_write_latency_ticks = SL_MAX(st->max_write_latency_ticks, ticks);
		break;
	case SL_BDEV_IO_TYPE_UNMAP:
		st->bytes_unmapped += bytes;
		st->num_unmap_ops++;
		st->unmap_latency_ticks += ticks;
		break;
	case SL_BDEV_IO_TYPE_WRITE_ZEROES:
		st->num_write_zeroes_ops++;
		break;
	case SL_BDEV_IO_TYPE_FLUSH:
		st->num_flush_ops++;
		break;
	default:
		st->num_other_ops++;
		break;
	}
}

/* ---- NOMEM retry ---- */

static void queue_retry(struct sl_bdev_io *io, enum retry_kind kind);

static void retry_queued(struct bdev_channel *ch)
{
	size_t n = 0;
	struct sl_bdev_io_internal *in;

	TAILQ_FOREACH(in, &ch->nomem_queue, link)
		n++;
	/* At most what is queued now; stop as soon as one goes back on the queue. */
	while (n-- && (in = TAILQ_FIRST(&ch->nomem_queue))) {
		TAILQ_REMOVE(&ch->nomem_queue, in, link);
		in->queued = false;
		if (in->retry_kind == RETRY_SPLIT) {
			split_continue(in->io);
		} else if (in->retry_kind == RETRY_SUBMIT) {
			io_submit(in->io);
		} else {
			ch->io_outstanding++;
			in->in_submit = true;
			in->io->bdev->fn_table->submit_request(ch->module_ch, in->io);
			in->in_submit = false;
		}
		if (in->queued)
			break;
	}
	if (TAILQ_EMPTY(&ch->nomem_queue))
		sl_poller_unregister(&ch->retry_poller);
}

static int retry_poll(void *arg)
{
	struct bdev_channel *ch = arg;

	retry_queued(ch);
	return SL_POLLER_BUSY;
}

static void queue_retry(struct sl_bdev_io *io, enum retry_kind kind)
{
	struct sl_bdev_io_internal *in = io->internal;
	struct bdev_channel *ch = in->ch;

	in->retry_kind = (uint8_t)kind;
	in->queued = true;
	TAILQ_INSERT_TAIL(&ch->nomem_queue, in, link);
	ch->stat.num_nomem_retries++;
	if (!ch->retry_poller)
		ch->retry_poller =
			sl_poller_register_named(retry_poll, ch, RETRY_PERIOD_US, "bdev_retry");
}

/* ---- completion ---- */

static void bounce_finish(struct sl_bdev_io *io)
{
	struct sl_bdev_io_internal *in = io->internal;
	void *buf = in->bounce_iov.iov_base;
	size_t len = in->bounce_iov.iov_len;

	io->u.bdev.iovs = in->orig_iovs;
	io->u.bdev.iovcnt = in->orig_iovcnt;
	if (in->status == SL_BDEV_IO_STATUS_SUCCESS) {
		if (in->compare_emul) {
			size_t off = 0;

			for (int i = 0; i < in->orig_iovcnt && off < len; i++) {
				size_t n = SL_MIN(in->orig_iovs[i].iov_len, len - off);

				if (memcmp(in->orig_iovs[i].iov_base, (char *)buf + off, n)) {
					in->status = SL_BDEV_IO_STATUS_NVME_ERROR;
					in->sct = SL_NVME_SCT_MEDIA_ERROR;
					in->sc = SL_NVME_SC_COMPARE_FAILURE;
					break;
				}
				off += n;
			}
			io->type = SL_BDEV_IO_TYPE_COMPARE;
		} else if (io->type == SL_BDEV_IO_TYPE_READ) {
			sl_iov_from_buf(in->orig_iovs, in->orig_iovcnt, buf, len);
		}
	}
	sl_mempool_put(g_bounce_pool, in->bounce_elem);
	in->bounce_elem = NULL;
}

static void user_complete(struct sl_bdev_io *io)
{
	struct sl_bdev_io_internal *in = io->internal;
	struct bdev_channel *ch = in->ch;

	account(io);
	in->cb(io, in->status == SL_BDEV_IO_STATUS_SUCCESS, in->cb_arg);
	if (__builtin_expect(!TAILQ_EMPTY(&ch->nomem_queue), 0))
		retry_queued(ch);
}

static void child_done(struct sl_bdev_io *child)
{
	struct sl_bdev_io_internal *cin = child->internal;
	struct sl_bdev_io *parent = cin->parent;
	struct sl_bdev_io_internal *pin = parent->internal;

	pin->split_outstanding--;
	if (cin->status != SL_BDEV_IO_STATUS_SUCCESS && !pin->split_failed) {
		pin->split_failed = true;
		pin->status = cin->status;
		pin->cdw0 = cin->cdw0;
		pin->sct = cin->sct;
		pin->sc = cin->sc;
	}
	io_put(cin->ch->mgmt, child);
	split_continue(parent);
}

static void complete_finish(struct sl_bdev_io *io)
{
	struct sl_bdev_io_internal *in = io->internal;

	if (in->bounce_elem)
		bounce_finish(io);
	if (in->parent)
		child_done(io);
	else
		user_complete(io);
}

static void complete_deferred(void *arg)
{
	complete_finish(arg);
}

/* Complete without the module (emulation, early failure): never inside the submit call. */
static void complete_async(struct sl_bdev_io *io, enum sl_bdev_io_status status)
{
	io->internal->status = status;
	if (sl_thread_send_msg(sl_get_thread(), complete_deferred, io)) {
		SL_ERRLOG("bdev %s: cannot defer a completion", io->bdev->name);
		complete_finish(io);
	}
}

void sl_bdev_io_complete(struct sl_bdev_io *io, enum sl_bdev_io_status status)
{
	struct sl_bdev_io_internal *in = io->internal;

	in->ch->io_outstanding--;
	if (__builtin_expect(status == SL_BDEV_IO_STATUS_NOMEM, 0)) {
		queue_retry(io, RETRY_MODULE);
		return;
	}
	in->status = status;
	if (__builtin_expect(in->in_submit, 0)) {
		/* Completed inside submit_request: the user's callback must run later. */
		if (sl_thread_send_msg(sl_get_thread(), complete_deferred, io) == 0)
			return;
		SL_ERRLOG("bdev %s: cannot defer a completion", io->bdev->name);
	}
	complete_finish(io);
}

void sl_bdev_io_complete_nvme_status(struct sl_bdev_io *io, uint32_t cdw0, int sct, int sc)
{
	struct sl_bdev_io_internal *in = io->internal;

	in->cdw0 = cdw0;
	in->sct = sct;
	in->sc = sc;
	sl_bdev_io_complete(io, sct == 0 && sc == 0 ? SL_BDEV_IO_STATUS_SUCCESS
						    : SL_BDEV_IO_STATUS_NVME_ERROR);
}

void sl_bdev_io_get_nvme_status(const struct sl_bdev_io *io, uint32_t *cdw0, int *sct, int *sc)
{
	const struct sl_bdev_io_internal *in = io->internal;

	*cdw0 = in->cdw0;
	switch (in->status) {
	case SL_BDEV_IO_STATUS_SUCCESS:
		*sct = SL_NVME_SCT_GENERIC;
		*sc = SL_NVME_SC_SUCCESS;
		break;
	case SL_BDEV_IO_STATUS_NVME_ERROR:
		*sct = in->sct;
		*sc = in->sc;
		break;
	default:
		*sct = SL_NVME_SCT_GENERIC;
		*sc = SL_NVME_SC_INTERNAL_DEVICE_ERROR;
		break;
	}
}

/* ---- submission ---- */

static bool native(struct sl_bdev *bdev, enum sl_bdev_io_type type)
{
	return bdev->fn_table->io_type_supported(bdev->ctxt, type);
}

static bool iovs_misaligned(const struct sl_bdev_io *io, size_t align)
{
	uintptr_t bits = 0;

	for (int i = 0; i < io->u.bdev.iovcnt; i++)
		bits |= (uintptr_t)io->u.bdev.iovs[i].iov_base | io->u.bdev.iovs[i].iov_len;
	return bits & (align - 1);
}

/* Blocks a child may carry; 0 = no limit. */
static uint64_t child_limit(const struct sl_bdev_io *io, bool bounce)
{
	const struct sl_bdev *bdev = io->bdev;
	uint64_t limit = bdev->max_rw_blocks;

	if (bounce) {
		uint64_t cap = BDEV_BOUNCE_BUF_SIZE / bdev->blocklen;

		limit = limit ? SL_MIN(limit, cap) : cap;
	}
	return limit;
}

static bool needs_bounce(const struct sl_bdev_io *io)
{
	const struct sl_bdev_io_internal *in = io->internal;

	if (in->user_type == SL_BDEV_IO_TYPE_COMPARE && !native(io->bdev, SL_BDEV_IO_TYPE_COMPARE))
		return true;
	return io->bdev->internal->buf_align > 1 &&
	       iovs_misaligned(io, io->bdev->internal->buf_align);
}

static bool needs_split(const struct sl_bdev_io *io)
{
	const struct sl_bdev *bdev = io->bdev;
	uint64_t limit, num = io->u.bdev.num_blocks;

	if (io->internal->parent)
		return false; /* children are cut to fit */
	if (io->internal->user_type == SL_BDEV_IO_TYPE_WRITE_ZEROES)
		return true; /* emulated with writes of the zero buffer */
	limit = child_limit(io, needs_bounce(io));
	if (limit && num > limit)
		return true;
	if (bdev->split_on_optimal_io_boundary && bdev->optimal_io_boundary) {
		uint64_t b = bdev->optimal_io_boundary;

		return io->u.bdev.offset_blocks / b != (io->u.bdev.offset_blocks + num - 1) / b;
	}
	return false;
}

static void module_submit(struct sl_bdev_io *io)
{
	struct sl_bdev_io_internal *in = io->internal;

	in->ch->io_outstanding++;
	in->in_submit = true;
	io->bdev->fn_table->submit_request(in->ch->module_ch, io);
	in->in_submit = false;
}

static void io_submit(struct sl_bdev_io *io)
{
	struct sl_bdev_io_internal *in = io->internal;
	enum sl_bdev_io_type t = in->user_type;

	if (t == SL_BDEV_IO_TYPE_READ || t == SL_BDEV_IO_TYPE_WRITE ||
	    t == SL_BDEV_IO_TYPE_COMPARE ||
	    (t == SL_BDEV_IO_TYPE_WRITE_ZEROES && !native(io->bdev, t))) {
		if (needs_split(io)) {
			in->is_split_parent = true;
			in->split_offset = io->u.bdev.offset_blocks;
			in->split_remaining = io->u.bdev.num_blocks;
			in->split_outstanding = 0;
			in->split_iov_idx = 0;
			in->split_iov_off = 0;
			in->split_failed = false;
			in->in_submit = true;
			split_continue(io);
			in->in_submit = false;
			return;
		}
		if (t != SL_BDEV_IO_TYPE_WRITE_ZEROES && needs_bounce(io)) {
			void *elem = sl_mempool_get(g_bounce_pool);

			if (!elem) {
				queue_retry(io, RETRY_SUBMIT);
				return;
			}
			in->bounce_elem = elem;
			in->orig_iovs = io->u.bdev.iovs;
			in->orig_iovcnt = io->u.bdev.iovcnt;
			in->bounce_iov.iov_base = (void *)SL_ALIGN_UP((uintptr_t)elem, 4096);
			in->bounce_iov.iov_len = io->u.bdev.num_blocks * io->bdev->blocklen;
			io->u.bdev.iovs = &in->bounce_iov;
			io->u.bdev.iovcnt = 1;
			if (io->type == SL_BDEV_IO_TYPE_WRITE)
				sl_iov_to_buf(in->orig_iovs, in->orig_iovcnt,
					      in->bounce_iov.iov_base, in->bounce_iov.iov_len);
			if (t == SL_BDEV_IO_TYPE_COMPARE && !native(io->bdev, t)) {
				in->compare_emul = true;
				io->type = SL_BDEV_IO_TYPE_READ;
			}
		}
	}
	module_submit(io);
}

/* Fill child iovs from the parent's cursor with at most want bytes; returns bytes taken. */
static size_t child_fill(struct sl_bdev_io *parent, struct iovec *iovs, int *iovcnt, size_t want)
{
	struct sl_bdev_io_internal *pin = parent->internal;
	int idx = pin->split_iov_idx, n = 0;
	size_t off = pin->split_iov_off, got = 0;

	while (got < want && n < BDEV_CHILD_IOV && idx < parent->u.bdev.iovcnt) {
		const struct iovec *src = &parent->u.bdev.iovs[idx];
		size_t take = SL_MIN(src->iov_len - off, want - got);

		if (take) {
			iovs[n].iov_base = (char *)src->iov_base + off;
			iovs[n].iov_len = take;
			n++;
			got += take;
			off += take;
		}
		if (off == src->iov_len) {
			idx++;
			off = 0;
		}
	}
	*iovcnt = n;
	return got;
}

static void cursor_advance(struct sl_bdev_io *parent, size_t bytes)
{
	struct sl_bdev_io_internal *pin = parent->internal;

	while (bytes) {
		const struct iovec *src = &parent->u.bdev.iovs[pin->split_iov_idx];
		size_t take = SL_MIN(src->iov_len - pin->split_iov_off, bytes);

		bytes -= take;
		pin->split_iov_off += take;
		if (pin->split_iov_off == src->iov_len) {
			pin->split_iov_idx++;
			pin->split_iov_off = 0;
		}
	}
}

static void split_continue(struct sl_bdev_io *parent)
{
	struct sl_bdev_io_internal *pin = parent->internal;
	struct sl_bdev *bdev = parent->bdev;
	bool zeroes = pin->user_type == SL_BDEV_IO_TYPE_WRITE_ZEROES;

	while (pin->split_remaining && !pin->split_failed &&
	       pin->split_outstanding < BDEV_MAX_CHILDREN) {
		struct sl_bdev_io *child = io_get(pin->ch->mgmt);
		struct sl_bdev_io_internal *cin;
		uint64_t blocks = pin->split_remaining, limit;

		if (!child) {
			if (pin->split_outstanding == 0)
				queue_retry(parent, RETRY_SPLIT);
			return; /* otherwise continues when a child completes */
		}
		cin = child->internal;
		/*
		 * A child may start misaligned inside an aligned parent buffer when
		 * the alignment exceeds the block size: size it for a bounce buffer.
		 */
		limit = child_limit(parent, zeroes || needs_bounce(parent) ||
						    bdev->internal->buf_align > bdev->blocklen);
		if (limit && blocks > limit)
			blocks = limit;
		if (bdev->split_on_optimal_io_boundary && bdev->optimal_io_boundary) {
			uint64_t b = bdev->optimal_io_boundary;
			uint64_t to_boundary = b - pin->split_offset % b;

			blocks = SL_MIN(blocks, to_boundary);
		}
		child->bdev = bdev;
		cin->ch = pin->ch;
		cin->parent = parent;
		cin->submit_tsc = pin->submit_tsc;
		if (zeroes) {
			child->type = SL_BDEV_IO_TYPE_WRITE;
			cin->child_iovs[0].iov_base = g_zero_buf;
			cin->child_iovs[0].iov_len = blocks * bdev->blocklen;
			child->u.bdev.iovcnt = 1;
		} else {
			size_t want = blocks * bdev->blocklen, got;
			int n;

			got = child_fill(parent, cin->child_iovs, &n, want);
			if (got < want) {
				/* Too many small iovs for one child: cut at a block boundary. */
				want = SL_ALIGN_DOWN(got, (size_t)bdev->blocklen);
				if (want == 0) {
					SL_ERRLOG("bdev %s: I/O vector too fragmented to split",
						  bdev->name);
					io_put(pin->ch->mgmt, child);
					pin->split_failed = true;
					pin->status = SL_BDEV_IO_STATUS_FAILED;
					break;
				}
				got = child_fill(parent, cin->child_iovs, &n, want);
				blocks = want / bdev->blocklen;
			}
			cursor_advance(parent, got);
			child->type = parent->type;
			child->u.bdev.iovcnt = n;
		}
		child->u.bdev.iovs = cin->child_iovs;
		child->u.bdev.offset_blocks = pin->split_offset;
		child->u.bdev.num_blocks = blocks;
		cin->user_type = child->type;
		pin->split_offset += blocks;
		pin->split_remaining -= blocks;
		pin->split_outstanding++;
		io_submit(child);
	}
	if (pin->split_outstanding == 0 && (pin->split_remaining == 0 || pin->split_failed)) {
		if (!pin->split_failed)
			pin->status = SL_BDEV_IO_STATUS_SUCCESS;
		if (pin->in_submit)
			complete_async(parent, pin->status); /* never inside the submit call */
		else
			user_complete(parent);
	}
}

/* ---- public submission functions ---- */

static int check_range(struct sl_bdev *bdev, uint64_t offset, uint64_t num)
{
	if (num == 0 || offset + num < offset || offset + num > bdev->blockcnt)
		return -EINVAL;
	return 0;
}

static struct sl_bdev_io *prepare(struct sl_bdev_desc *desc, struct sl_io_channel *ch,
				  enum sl_bdev_io_type type, sl_bdev_io_completion_cb cb,
				  void *cb_arg, int *rc)
{
	struct sl_bdev *bdev = desc->bdev;
	struct bdev_channel *bch = sl_io_channel_get_ctx(ch);
	struct sl_bdev_io *io;

	if (__builtin_expect(bdev->internal->status != BDEV_ACTIVE, 0)) {
		*rc = -ENODEV;
		return NULL;
	}
	io = io_get(bch->mgmt);
	if (__builtin_expect(!io, 0)) {
		*rc = -ENOMEM;
		return NULL;
	}
	io->bdev = bdev;
	io->type = type;
	io->internal->user_type = type;
	io->internal->ch = bch;
	io->internal->cb = cb;
	io->internal->cb_arg = cb_arg;
	io->internal->submit_tsc = sl_get_ticks();
	return io;
}

static int rw_common(struct sl_bdev_desc *desc, struct sl_io_channel *ch, struct iovec *iov,
		     int iovcnt, void *buf, uint64_t offset, uint64_t num,
		     enum sl_bdev_io_type type, sl_bdev_io_completion_cb cb, void *cb_arg)
{
	struct sl_bdev *bdev = desc->bdev;
	struct sl_bdev_io *io;
	int rc;

	if (type != SL_BDEV_IO_TYPE_READ && type != SL_BDEV_IO_TYPE_COMPARE && !desc->write)
		return -EBADF;
	if (check_range(bdev, offset, num))
		return -EINVAL;
	if (!buf && (iovcnt <= 0 || !iov || sl_iov_length(iov, iovcnt) < num * bdev->blocklen))
		return -EINVAL;
	io = prepare(desc, ch, type, cb, cb_arg, &rc);
	if (!io)
		return rc;
	if (buf) {
		io->internal->iov.iov_base = buf;
		io->internal->iov.iov_len = num * bdev->blocklen;
		iov = &io->internal->iov;
		iovcnt = 1;
	}
	io->u.bdev.iovs = iov;
	io->u.bdev.iovcnt = iovcnt;
	io->u.bdev.offset_blocks = offset;
	io->u.bdev.num_blocks = num;
	io_submit(io);
	return 0;
}

int sl_bdev_read_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch, void *buf,
			uint64_t offset_blocks, uint64_t num_blocks, sl_bdev_io_completion_cb cb,
			void *cb_arg)
{
	if (!buf)
		return -EINVAL;
	return rw_common(desc, ch, NULL, 0, buf, offset_blocks, num_blocks, SL_BDEV_IO_TYPE_READ,
			 cb, cb_arg);
}

int sl_bdev_readv_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch, struct iovec *iov,
			 int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
			 sl_bdev_io_completion_cb cb, void *cb_arg)
{
	return rw_common(desc, ch, iov, iovcnt, NULL, offset_blocks, num_blocks,
			 SL_BDEV_IO_TYPE_READ, cb, cb_arg);
}

int sl_bdev_write_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch, void *buf,
			 uint64_t offset_blocks, uint64_t num_blocks, sl_bdev_io_completion_cb cb,
			 void *cb_arg)
{
	if (!buf)
		return -EINVAL;
	return rw_common(desc, ch, NULL, 0, buf, offset_blocks, num_blocks, SL_BDEV_IO_TYPE_WRITE,
			 cb, cb_arg);
}

int sl_bdev_writev_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch, struct iovec *iov,
			  int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
			  sl_bdev_io_completion_cb cb, void *cb_arg)
{
	return rw_common(desc, ch, iov, iovcnt, NULL, offset_blocks, num_blocks,
			 SL_BDEV_IO_TYPE_WRITE, cb, cb_arg);
}

int sl_bdev_comparev_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch, struct iovec *iov,
			    int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
			    sl_bdev_io_completion_cb cb, void *cb_arg)
{
	if (!sl_bdev_io_type_supported(desc->bdev, SL_BDEV_IO_TYPE_COMPARE))
		return -ENOTSUP;
	return rw_common(desc, ch, iov, iovcnt, NULL, offset_blocks, num_blocks,
			 SL_BDEV_IO_TYPE_COMPARE, cb, cb_arg);
}

static int range_common(struct sl_bdev_desc *desc, struct sl_io_channel *ch,
			enum sl_bdev_io_type type, uint64_t offset, uint64_t num,
			sl_bdev_io_completion_cb cb, void *cb_arg)
{
	struct sl_bdev *bdev = desc->bdev;
	struct sl_bdev_io *io;
	bool emulate = false;
	int rc;

	if (!desc->write && type != SL_BDEV_IO_TYPE_RESET)
		return -EBADF;
	if (type != SL_BDEV_IO_TYPE_RESET && type != SL_BDEV_IO_TYPE_FLUSH &&
	    check_range(bdev, offset, num))
		return -EINVAL;
	if (type == SL_BDEV_IO_TYPE_FLUSH &&
	    (offset > bdev->blockcnt || num > bdev->blockcnt - offset))
		return -EINVAL;
	if (!native(bdev, type)) {
		if (type == SL_BDEV_IO_TYPE_WRITE_ZEROES && native(bdev, SL_BDEV_IO_TYPE_WRITE))
			emulate = false; /* io_submit splits it into writes of zeroes */
		else if (type == SL_BDEV_IO_TYPE_FLUSH && !bdev->write_cache)
			emulate = true; /* nothing volatile to flush */
		else
			return -ENOTSUP;
	}
	io = prepare(desc, ch, type, cb, cb_arg, &rc);
	if (!io)
		return rc;
	io->u.bdev.iovs = NULL;
	io->u.bdev.iovcnt = 0;
	io->u.bdev.offset_blocks = offset;
	io->u.bdev.num_blocks = num;
	if (emulate)
		complete_async(io, SL_BDEV_IO_STATUS_SUCCESS);
	else
		io_submit(io);
	return 0;
}

int sl_bdev_write_zeroes_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch,
				uint64_t offset_blocks, uint64_t num_blocks,
				sl_bdev_io_completion_cb cb, void *cb_arg)
{
	return range_common(desc, ch, SL_BDEV_IO_TYPE_WRITE_ZEROES, offset_blocks, num_blocks, cb,
			    cb_arg);
}

int sl_bdev_unmap_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch,
			 uint64_t offset_blocks, uint64_t num_blocks, sl_bdev_io_completion_cb cb,
			 void *cb_arg)
{
	return range_common(desc, ch, SL_BDEV_IO_TYPE_UNMAP, offset_blocks, num_blocks, cb, cb_arg);
}

int sl_bdev_flush_blocks(struct sl_bdev_desc *desc, struct sl_io_channel *ch,
			 uint64_t offset_blocks, uint64_t num_blocks, sl_bdev_io_completion_cb cb,
			 void *cb_arg)
{
	return range_common(desc, ch, SL_BDEV_IO_TYPE_FLUSH, offset_blocks, num_blocks, cb, cb_arg);
}

int sl_bdev_reset(struct sl_bdev_desc *desc, struct sl_io_channel *ch, sl_bdev_io_completion_cb cb,
		  void *cb_arg)
{
	return range_common(desc, ch, SL_BDEV_IO_TYPE_RESET, 0, 0, cb, cb_arg);
}

static int passthru(struct sl_bdev_desc *desc, struct sl_io_channel *ch, enum sl_bdev_io_type type,
		    const struct sl_nvme_cmd *cmd, void *buf, size_t nbytes,
		    sl_bdev_io_completion_cb cb, void *cb_arg)
{
	struct sl_bdev_io *io;
	int rc;

	if (!desc->write)
		return -EBADF;
	if (!native(desc->bdev, type))
		return -ENOTSUP;
	io = prepare(desc, ch, type, cb, cb_arg, &rc);
	if (!io)
		return rc;
	io->u.nvme_passthru.cmd = *cmd;
	io->u.nvme_passthru.buf = buf;
	io->u.nvme_passthru.nbytes = nbytes;
	module_submit(io);
	return 0;
}

int sl_bdev_nvme_admin_passthru(struct sl_bdev_desc *desc, struct sl_io_channel *ch,
				const struct sl_nvme_cmd *cmd, void *buf, size_t nbytes,
				sl_bdev_io_completion_cb cb, void *cb_arg)
{
	return passthru(desc, ch, SL_BDEV_IO_TYPE_NVME_ADMIN, cmd, buf, nbytes, cb, cb_arg);
}

int sl_bdev_nvme_io_passthru(struct sl_bdev_desc *desc, struct sl_io_channel *ch,
			     const struct sl_nvme_cmd *cmd, void *buf, size_t nbytes,
			     sl_bdev_io_completion_cb cb, void *cb_arg)
{
	return passthru(desc, ch, SL_BDEV_IO_TYPE_NVME_IO, cmd, buf, nbytes, cb, cb_arg);
}
