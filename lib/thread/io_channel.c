/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * io_devices and per-thread io_channels. The registries are control-path
 * state under g_thread_lock; a channel's context is touched only by its
 * thread, so the I/O path through a channel takes no lock.
 */
#include "thread_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct io_device {
	void *io_device;
	sl_io_channel_create_cb create_cb;
	sl_io_channel_destroy_cb destroy_cb;
	sl_io_device_unregister_cb unregister_cb;
	struct sl_thread *unregister_thread;
	size_t ctx_size;
	uint32_t channel_count;
	bool unregistered;
	TAILQ_ENTRY(io_device) link;
	char name[64];
};

struct sl_io_channel {
	struct sl_thread *thread;
	struct io_device *dev;
	uint32_t ref;
	bool destroy_pending;
	TAILQ_ENTRY(sl_io_channel) link;
	char ctx[] __attribute__((aligned(16)));
};

struct sl_io_channel_iter {
	void *io_device;
	struct io_device *dev;
	sl_channel_msg fn;
	sl_channel_for_each_cpl cpl;
	void *ctx;
	struct sl_thread *orig;
	struct sl_thread *cur;
	struct sl_io_channel *ch;
	int status;
};

static TAILQ_HEAD(, io_device) g_devices = TAILQ_HEAD_INITIALIZER(g_devices);

/* Caller holds g_thread_lock. */
static struct io_device *find_device(void *io_device)
{
	struct io_device *d;

	TAILQ_FOREACH(d, &g_devices, link)
		if (d->io_device == io_device)
			return d;
	return NULL;
}

/* Caller holds g_thread_lock. */
static struct sl_io_channel *find_channel(struct sl_thread *t, struct io_device *dev)
{
	struct sl_io_channel *ch;

	TAILQ_FOREACH(ch, &t->channels, link)
		if (ch->dev == dev)
			return ch;
	return NULL;
}

size_t thread_channel_count(struct sl_thread *thread)
{
	struct sl_io_channel *ch;
	size_t n = 0;

	pthread_mutex_lock(&g_thread_lock);
	TAILQ_FOREACH(ch, &thread->channels, link)
		n++;
	pthread_mutex_unlock(&g_thread_lock);
	return n;
}

void sl_io_device_register(void *io_device, sl_io_channel_create_cb create_cb,
			   sl_io_channel_destroy_cb destroy_cb, size_t ctx_size, const char *name)
{
	struct io_device *d = calloc(1, sizeof(*d));

	if (!d) {
		SL_ERRLOG("io_device %s: out of memory", name ? name : "");
		return;
	}
	d->io_device = io_device;
	d->create_cb = create_cb;
	d->destroy_cb = destroy_cb;
	d->ctx_size = ctx_size;
	if (name)
		snprintf(d->name, sizeof(d->name), "%s", name);
	else
		snprintf(d->name, sizeof(d->name), "%p", io_device);

	pthread_mutex_lock(&g_thread_lock);
	if (find_device(io_device)) {
		pthread_mutex_unlock(&g_thread_lock);
		SL_ERRLOG("io_device %s (%p) is already registered", d->name, io_device);
		free(d);
		return;
	}
	TAILQ_INSERT_TAIL(&g_devices, d, link);
	pthread_mutex_unlock(&g_thread_lock);
}

bool sl_io_device_is_registered(void *io_device)
{
	bool found;

	pthread_mutex_lock(&g_thread_lock);
	found = find_device(io_device) != NULL;
	pthread_mutex_unlock(&g_thread_lock);
	return found;
}

static void device_unregistered_msg(void *arg)
{
	struct io_device *d = arg;

	if (d->unregister_cb)
		d->unregister_cb(d->io_device);
	free(d);
}

/* The device has no channel left and was unregistered: report on the unregistering thread. */
static void device_finish_unregister(struct io_device *d)
{
	if (!d->unregister_cb) {
		free(d); /* nobody to tell: no need for the unregistering thread to live */
		return;
	}
	if (sl_thread_send_msg(d->unregister_thread, device_unregistered_msg, d)) {
		SL_ERRLOG("io_device %s: unregistering thread is gone", d->name);
		free(d);
	}
}

void sl_io_device_unregister(void *io_device, sl_io_device_unregister_cb unregister_cb)
{
	struct io_device *d;
	bool done;

	pthread_mutex_lock(&g_thread_lock);
	d = find_device(io_device);
	if (!d) {
		pthread_mutex_unlock(&g_thread_lock);
		SL_ERRLOG("io_device %p is not registered", io_device);
		return;
	}
	TAILQ_REMOVE(&g_devices, d, link);
	d->unregistered = true;
	d->unregister_cb = unregister_cb;
	d->unregister_thread = sl_get_thread();
	done = d->channel_count == 0;
	pthread_mutex_unlock(&g_thread_lock);
	if (!d->unregister_thread) {
		SL_ERRLOG("io_device %s unregistered outside an sl_thread", d->name);
		return;
	}
	if (done)
		device_finish_unregister(d);
}

struct sl_io_channel *sl_get_io_channel(void *io_device)
{
	struct sl_thread *t = sl_get_thread();
	struct io_device *d;
	struct sl_io_channel *ch;
	int rc;

	if (!t) {
		SL_ERRLOG("io channel requested outside an sl_thread");
		return NULL;
	}
	pthread_mutex_lock(&g_thread_lock);
	d = find_device(io_device);
	if (!d) {
		pthread_mutex_unlock(&g_thread_lock);
		SL_ERRLOG("io channel requested for unregistered io_device %p", io_device);
		return NULL;
	}
	ch = find_channel(t, d);
	if (ch) {
		ch->ref++;
		pthread_mutex_unlock(&g_thread_lock);
		return ch;
	}
	if (!sl_thread_is_running(t)) {
		pthread_mutex_unlock(&g_thread_lock);
		SL_ERRLOG("io channel for %s requested on exiting thread %s", d->name, t->name);
		return NULL;
	}
	ch = calloc(1, sizeof(*ch) + d->ctx_size);
	if (!ch) {
		pthread_mutex_unlock(&g_thread_lock);
		return NULL;
	}
	ch->thread = t;
	ch->dev = d;
	ch->ref = 1;
	d->channel_count++;
	/* Insert before create_cb so that nested gets on this thread find it. */
	TAILQ_INSERT_TAIL(&t->channels, ch, link);
	pthread_mutex_unlock(&g_thread_lock);

	rc = d->create_cb ? d->create_cb(io_device, ch->ctx) : 0;
	if (rc == 0)
		return ch;

	SL_ERRLOG("io channel for %s on thread %s: create failed: %s", d->name, t->name,
		  strerror(-rc));
	pthread_mutex_lock(&g_thread_lock);
	TAILQ_REMOVE(&t->channels, ch, link);
	d->channel_count--;
	bool finish = d->unregistered && d->channel_count == 0;
	pthread_mutex_unlock(&g_thread_lock);
	free(ch);
	if (finish)
		device_finish_unregister(d);
	return NULL;
}

static void put_channel_msg(void *arg)
{
	struct sl_io_channel *ch = arg;
	struct io_device *d = ch->dev;
	bool finish;

	ch->destroy_pending = false;
	if (ch->ref > 0)
		return; /* taken again before the deferred destroy ran */
	if (d->destroy_cb)
		d->destroy_cb(d->io_device, ch->ctx);
	pthread_mutex_lock(&g_thread_lock);
	TAILQ_REMOVE(&ch->thread->channels, ch, link);
	d->channel_count--;
	finish = d->unregistered && d->channel_count == 0;
	pthread_mutex_unlock(&g_thread_lock);
	free(ch);
	if (finish)
		device_finish_unregister(d);
}

void sl_put_io_channel(struct sl_io_channel *ch)
{
	if (ch->thread != sl_get_thread()) {
		SL_ERRLOG("io channel of %s released from a thread that does not own it",
			  ch->dev->name);
		return;
	}
	if (ch->ref == 0) {
		SL_ERRLOG("io channel of %s released more often than taken", ch->dev->name);
		return;
	}
	pthread_mutex_lock(&g_thread_lock);
	ch->ref--;
	pthread_mutex_unlock(&g_thread_lock);
	if (ch->ref == 0 && !ch->destroy_pending) {
		/* Deferred so that a callback may put a channel it is still running on. */
		ch->destroy_pending = true;
		if (sl_thread_send_msg(ch->thread, put_channel_msg, ch)) {
			ch->destroy_pending = false;
			put_channel_msg(ch);
		}
	}
}

void *sl_io_channel_get_ctx(struct sl_io_channel *ch)
{
	return ch->ctx;
}

struct sl_io_channel *sl_io_channel_from_ctx(void *ctx)
{
	return (struct sl_io_channel *)((char *)ctx - offsetof(struct sl_io_channel, ctx));
}

struct sl_thread *sl_io_channel_get_thread(struct sl_io_channel *ch)
{
	return ch->thread;
}

void *sl_io_channel_get_io_device(struct sl_io_channel *ch)
{
	return ch->dev->io_device;
}

/* ---- for_each_channel ---- */

static void for_each_channel_step(void *arg);

static void for_each_channel_done(void *arg)
{
	struct sl_io_channel_iter *i = arg;

	i->ch = NULL;
	if (i->cpl)
		i->cpl(i, i->status);
	free(i);
}

/* Send the iteration to the next thread after cur that has a channel to the device. */
static void for_each_channel_next(struct sl_io_channel_iter *i, struct sl_thread *cur)
{
	struct sl_thread *t;

	pthread_mutex_lock(&g_thread_lock);
	t = cur ? TAILQ_NEXT(cur, link) : TAILQ_FIRST(&g_threads);
	for (; t; t = TAILQ_NEXT(t, link)) {
		if (!find_channel(t, i->dev))
			continue;
		i->cur = t;
		if (sl_thread_send_msg(t, for_each_channel_step, i) == 0)
			break;
	}
	pthread_mutex_unlock(&g_thread_lock);
	if (t)
		return;
	if (sl_thread_send_msg(i->orig, for_each_channel_done, i)) {
		SL_ERRLOG("for_each_channel: cannot complete on thread %s", i->orig->name);
		free(i);
	}
}

static void for_each_channel_step(void *arg)
{
	struct sl_io_channel_iter *i = arg;
	struct sl_io_channel *ch;

	pthread_mutex_lock(&g_thread_lock);
	ch = find_channel(i->cur, i->dev);
	pthread_mutex_unlock(&g_thread_lock);
	if (!ch) {
		/* Released since the iteration was sent here. */
		for_each_channel_next(i, i->cur);
		return;
	}
	i->ch = ch;
	i->fn(i);
}

void sl_for_each_channel_continue(struct sl_io_channel_iter *i, int status)
{
	i->status = status;
	i->ch = NULL;
	if (status) {
		if (sl_thread_send_msg(i->orig, for_each_channel_done, i)) {
			SL_ERRLOG("for_each_channel: cannot complete on thread %s", i->orig->name);
			free(i);
		}
		return;
	}
	for_each_channel_next(i, i->cur);
}

void sl_for_each_channel(void *io_device, sl_channel_msg fn, void *ctx, sl_channel_for_each_cpl cpl)
{
	struct sl_io_channel_iter *i = calloc(1, sizeof(*i));

	if (!i) {
		SL_ERRLOG("for_each_channel: out of memory");
		return;
	}
	i->io_device = io_device;
	i->fn = fn;
	i->cpl = cpl;
	i->ctx = ctx;
	i->orig = sl_get_thread();
	pthread_mutex_lock(&g_thread_lock);
	i->dev = find_device(io_device);
	pthread_mutex_unlock(&g_thread_lock);
	if (!i->dev || !i->orig) {
		SL_ERRLOG("for_each_channel on unregistered io_device %p", io_device);
		i->status = -ENODEV;
		if (i->orig && sl_thread_send_msg(i->orig, for_each_channel_done, i) == 0)
			return;
		free(i);
		return;
	}
	for_each_channel_next(i, NULL);
}

void *sl_io_channel_iter_get_ctx(struct sl_io_channel_iter *i)
{
	return i->ctx;
}

struct sl_io_channel *sl_io_channel_iter_get_channel(struct sl_io_channel_iter *i)
{
	return i->ch;
}

void *sl_io_channel_iter_get_io_device(struct sl_io_channel_iter *i)
{
	return i->io_device;
}
