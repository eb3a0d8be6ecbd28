/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * io_devices and io_channels without reactors: threads are created with no
 * scheduler and polled by hand; sl_set_thread selects the calling thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../ut_common.h"

#include <errno.h>

#include "sluice/thread.h"

#define NTHREADS 4

static struct sl_thread *g_threads[NTHREADS];

struct dev {
	int create_calls[NTHREADS];
	int destroy_calls[NTHREADS];
	int bad_thread; /* callbacks that ran where they should not */
	int unregister_calls;
	struct sl_thread *unregister_thread;
	int create_rc;
};

struct ch_ctx {
	uint64_t magic;
	struct sl_thread *owner;
};

#define CH_MAGIC 0x5a5a1234ULL

static int thread_index(struct sl_thread *t)
{
	for (int i = 0; i < NTHREADS; i++)
		if (g_threads[i] == t)
			return i;
	return -1;
}

static int dev_create(void *io_device, void *ctx_buf)
{
	struct dev *d = io_device;
	struct ch_ctx *c = ctx_buf;
	int i = thread_index(sl_get_thread());

	if (i < 0) {
		d->bad_thread++;
		return -EINVAL;
	}
	if (c->magic != 0)
		d->bad_thread++; /* the context must start zeroed */
	d->create_calls[i]++;
	if (d->create_rc)
		return d->create_rc;
	c->magic = CH_MAGIC;
	c->owner = sl_get_thread();
	return 0;
}

static void dev_destroy(void *io_device, void *ctx_buf)
{
	struct dev *d = io_device;
	struct ch_ctx *c = ctx_buf;
	int i = thread_index(sl_get_thread());

	if (i < 0 || c->magic != CH_MAGIC || c->owner != sl_get_thread()) {
		d->bad_thread++;
		return;
	}
	d->destroy_calls[i]++;
	c->magic = 0;
}

static void dev_unregistered(void *io_device)
{
	struct dev *d = io_device;

	d->unregister_calls++;
	d->unregister_thread = sl_get_thread();
}

static void poll_all(int rounds)
{
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < NTHREADS; i++)
			sl_thread_poll(g_threads[i], 0, 0);
}

/* Poll every thread until *flag becomes non-zero (or fail after the deadline). */
static void poll_all_until(const int *flag)
{
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	while (!*flag) {
		if (ut_expired(deadline))
			fail_msg("condition not reached within %d s", UT_WAIT_SEC);
		poll_all(1);
	}
}

static struct sl_io_channel *get_on(int i, void *dev)
{
	sl_set_thread(g_threads[i]);
	return sl_get_io_channel(dev);
}

static void put_on(int i, struct sl_io_channel *ch)
{
	sl_set_thread(g_threads[i]);
	sl_put_io_channel(ch);
	sl_set_thread(NULL);
}

static void test_refcount_and_deferred_destroy(void **state)
{
	struct dev d = { 0 };
	struct sl_io_channel *ch1, *ch2;
	struct ch_ctx *c;

	(void)state;
	sl_io_device_register(&d, dev_create, dev_destroy, sizeof(struct ch_ctx), "refdev");
	assert_true(sl_io_device_is_registered(&d));

	ch1 = get_on(0, &d);
	ch2 = get_on(0, &d);
	assert_non_null(ch1);
	assert_ptr_equal(ch1, ch2);
	assert_int_equal(d.create_calls[0], 1);
	assert_ptr_equal(sl_io_channel_get_thread(ch1), g_threads[0]);
	assert_ptr_equal(sl_io_channel_get_io_device(ch1), &d);
	c = sl_io_channel_get_ctx(ch1);
	assert_int_equal(c->magic, CH_MAGIC);
	assert_ptr_equal(c->owner, g_threads[0]);
	assert_ptr_equal(sl_io_channel_from_ctx(c), ch1);

	put_on(0, ch1);
	poll_all(3);
	assert_int_equal(d.destroy_calls[0], 0); /* one reference left */

	put_on(0, ch2);
	/* Deferred: nothing destroyed until the thread polls. */
	assert_int_equal(d.destroy_calls[0], 0);
	poll_all(3);
	assert_int_equal(d.destroy_calls[0], 1);

	/* A new get after the destroy creates a new channel. */
	ch1 = get_on(0, &d);
	assert_non_null(ch1);
	assert_int_equal(d.create_calls[0], 2);
	put_on(0, ch1);
	/* Taken again before the deferred destroy ran: the channel survives. */
	ch2 = get_on(0, &d);
	assert_ptr_equal(ch1, ch2);
	poll_all(3);
	assert_int_equal(d.destroy_calls[0], 1);
	assert_int_equal(d.create_calls[0], 2);
	put_on(0, ch2);
	poll_all(3);
	assert_int_equal(d.destroy_calls[0], 2);

	assert_int_equal(d.bad_thread, 0);
	sl_set_thread(g_threads[0]);
	sl_io_device_unregister(&d, dev_unregistered);
	sl_set_thread(NULL);
	poll_all_until(&d.unregister_calls);
	assert_int_equal(d.unregister_calls, 1);
	assert_false(sl_io_device_is_registered(&d));
}

static void test_channels_on_two_threads(void **state)
{
	struct dev d = { 0 };
	struct sl_io_channel *a, *b;

	(void)state;
	sl_io_device_register(&d, dev_create, dev_destroy, sizeof(struct ch_ctx), "twodev");
	a = get_on(1, &d);
	b = get_on(2, &d);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_int_equal(d.create_calls[0], 0);
	assert_int_equal(d.create_calls[1], 1);
	assert_int_equal(d.create_calls[2], 1);
	assert_ptr_equal(sl_io_channel_get_thread(a), g_threads[1]);
	assert_ptr_equal(sl_io_channel_get_thread(b), g_threads[2]);
	assert_ptr_equal(((struct ch_ctx *)sl_io_channel_get_ctx(a))->owner, g_threads[1]);
	assert_ptr_equal(((struct ch_ctx *)sl_io_channel_get_ctx(b))->owner, g_threads[2]);

	/* Releasing from a thread that does not own it is refused. */
	ut_log_capture_start();
	put_on(2, a);
	UT_ASSERT_LOG("does not own it");
	ut_log_capture_stop();
	poll_all(3);
	assert_int_equal(d.destroy_calls[1], 0);

	put_on(1, a);
	poll_all(3);
	assert_int_equal(d.destroy_calls[1], 1);
	assert_int_equal(d.destroy_calls[2], 0);
	put_on(2, b);
	poll_all(3);
	assert_int_equal(d.destroy_calls[2], 1);
	assert_int_equal(d.bad_thread, 0);

	sl_set_thread(g_threads[3]);
	sl_io_device_unregister(&d, dev_unregistered);
	sl_set_thread(NULL);
	poll_all_until(&d.unregister_calls);
	assert_ptr_equal(d.unregister_thread, g_threads[3]);
}

static void test_unregister_waits_for_channels(void **state)
{
	struct dev d = { 0 };
	struct sl_io_channel *a, *b;

	(void)state;
	sl_io_device_register(&d, dev_create, dev_destroy, sizeof(struct ch_ctx), "unregdev");
	a = get_on(1, &d);
	b = get_on(2, &d);
	assert_non_null(a);
	assert_non_null(b);

	/* Thread 0 unregisters while threads 1 and 2 still hold channels. */
	sl_set_thread(g_threads[0]);
	sl_io_device_unregister(&d, dev_unregistered);
	sl_set_thread(NULL);
	assert_false(sl_io_device_is_registered(&d));
	poll_all(5);
	assert_int_equal(d.unregister_calls, 0);

	/* A new channel cannot be had once unregistration started. */
	ut_log_capture_start();
	assert_null(get_on(3, &d));
	ut_log_capture_stop();
	sl_set_thread(NULL);

	put_on(1, a);
	poll_all(5);
	assert_int_equal(d.destroy_calls[1], 1);
	assert_int_equal(d.unregister_calls, 0);

	put_on(2, b);
	poll_all_until(&d.unregister_calls);
	poll_all(3);
	assert_int_equal(d.destroy_calls[2], 1);
	assert_int_equal(d.unregister_calls, 1);
	assert_ptr_equal(d.unregister_thread, g_threads[0]);
	assert_int_equal(d.bad_thread, 0);
}

static void test_unregister_without_channels(void **state)
{
	struct dev d = { 0 };

	(void)state;
	sl_io_device_register(&d, dev_create, dev_destroy, sizeof(struct ch_ctx), "nochdev");
	sl_set_thread(g_threads[2]);
	sl_io_device_unregister(&d, dev_unregistered);
	sl_set_thread(NULL);
	/* Still reported through a message on the unregistering thread. */
	assert_int_equal(d.unregister_calls, 0);
	poll_all_until(&d.unregister_calls);
	assert_ptr_equal(d.unregister_thread, g_threads[2]);

	/* Unknown device: an error, nothing else. */
	ut_log_capture_start();
	sl_set_thread(g_threads[2]);
	sl_io_device_unregister(&d, dev_unregistered);
	assert_null(sl_get_io_channel(&d));
	sl_set_thread(NULL);
	UT_ASSERT_LOG("not registered");
	ut_log_capture_stop();
	poll_all(3);
	assert_int_equal(d.unregister_calls, 1);
}

static void test_create_failure(void **state)
{
	struct dev d = { .create_rc = -ENOMEM };
	struct sl_io_channel *ch;

	(void)state;
	sl_io_device_register(&d, dev_create, dev_destroy, sizeof(struct ch_ctx), "faildev");
	ut_log_capture_start();
	ch = get_on(1, &d);
	UT_ASSERT_LOG("faildev", "create failed");
	ut_log_capture_stop();
	assert_null(ch);
	assert_int_equal(d.create_calls[1], 1);
	/* Nothing was left behind: the next get tries again. */
	d.create_rc = 0;
	ch = get_on(1, &d);
	assert_non_null(ch);
	assert_int_equal(d.create_calls[1], 2);
	put_on(1, ch);
	poll_all(3);
	assert_int_equal(d.destroy_calls[1], 1);

	/* Registering the same device twice is refused. */
	ut_log_capture_start();
	sl_io_device_register(&d, dev_create, dev_destroy, 8, "faildev2");
	UT_ASSERT_LOG("already registered");
	ut_log_capture_stop();

	sl_set_thread(g_threads[1]);
	sl_io_device_unregister(&d, dev_unregistered);
	sl_set_thread(NULL);
	poll_all_until(&d.unregister_calls);
	assert_int_equal(d.bad_thread, 0);
}

/* ---- sl_for_each_channel ---- */

struct fe {
	struct dev *d;
	int visits[NTHREADS];
	struct sl_io_channel *seen_ch[NTHREADS];
	int nvisits;
	int fail_on_visit; /* 1-based visit that continues with fail_status; 0: none */
	int fail_status;
	int bad;
	int cpl_calls;
	int cpl_status;
	struct sl_thread *cpl_thread;
	struct sl_io_channel_iter *held; /* continue later, from another poll */
	bool defer;
};

static void fe_fn(struct sl_io_channel_iter *i)
{
	struct fe *f = sl_io_channel_iter_get_ctx(i);
	struct sl_io_channel *ch = sl_io_channel_iter_get_channel(i);
	int idx = thread_index(sl_get_thread());

	if (idx < 0 || !ch || sl_io_channel_get_thread(ch) != sl_get_thread() ||
	    sl_io_channel_iter_get_io_device(i) != f->d) {
		f->bad++;
		sl_for_each_channel_continue(i, 0);
		return;
	}
	f->visits[idx]++;
	f->seen_ch[idx] = ch;
	f->nvisits++;
	if (f->defer) {
		f->held = i;
		return;
	}
	sl_for_each_channel_continue(i, f->nvisits == f->fail_on_visit ? f->fail_status : 0);
}

static void fe_cpl(struct sl_io_channel_iter *i, int status)
{
	struct fe *f = sl_io_channel_iter_get_ctx(i);

	f->cpl_calls++;
	f->cpl_status = status;
	f->cpl_thread = sl_get_thread();
}

static void test_for_each_channel(void **state)
{
	struct dev d = { 0 };
	struct sl_io_channel *ch[NTHREADS] = { 0 };
	struct fe f = { .d = &d };

	(void)state;
	sl_io_device_register(&d, dev_create, dev_destroy, sizeof(struct ch_ctx), "fedev");
	/* Channels on threads 1, 2, 3; thread 0 iterates and has none. */
	for (int i = 1; i < NTHREADS; i++) {
		ch[i] = get_on(i, &d);
		assert_non_null(ch[i]);
	}

	sl_set_thread(g_threads[0]);
	sl_for_each_channel(&d, fe_fn, &f, fe_cpl);
	sl_set_thread(NULL);
	poll_all_until(&f.cpl_calls);
	poll_all(3);
	assert_int_equal(f.bad, 0);
	assert_int_equal(f.cpl_calls, 1);
	assert_int_equal(f.cpl_status, 0);
	assert_ptr_equal(f.cpl_thread, g_threads[0]);
	assert_int_equal(f.nvisits, NTHREADS - 1);
	assert_int_equal(f.visits[0], 0);
	for (int i = 1; i < NTHREADS; i++) {
		assert_int_equal(f.visits[i], 1);
		assert_ptr_equal(f.seen_ch[i], ch[i]);
	}

	/* A non-zero status stops the iteration: the third thread is not visited. */
	memset(&f, 0, sizeof(f));
	f.d = &d;
	f.fail_on_visit = 2;
	f.fail_status = -EIO;
	sl_set_thread(g_threads[1]); /* the iterating thread may also have a channel */
	sl_for_each_channel(&d, fe_fn, &f, fe_cpl);
	sl_set_thread(NULL);
	poll_all_until(&f.cpl_calls);
	poll_all(3);
	assert_int_equal(f.bad, 0);
	assert_int_equal(f.cpl_calls, 1);
	assert_int_equal(f.cpl_status, -EIO);
	assert_ptr_equal(f.cpl_thread, g_threads[1]);
	assert_int_equal(f.nvisits, 2);
	assert_int_equal(f.visits[1], 1);
	assert_int_equal(f.visits[2], 1);
	assert_int_equal(f.visits[3], 0);

	/* fn may continue later, from another poll of its thread. */
	memset(&f, 0, sizeof(f));
	f.d = &d;
	f.defer = true;
	sl_set_thread(g_threads[0]);
	sl_for_each_channel(&d, fe_fn, &f, fe_cpl);
	sl_set_thread(NULL);
	for (int visit = 1; visit < NTHREADS; visit++) {
		uint64_t deadline = ut_deadline(UT_WAIT_SEC);

		while (!f.held) {
			assert_false(ut_expired(deadline));
			poll_all(1);
		}
		assert_int_equal(f.nvisits, visit);
		poll_all(3);
		assert_int_equal(f.nvisits, visit); /* waits for the continue */
		assert_int_equal(f.cpl_calls, 0);
		struct sl_io_channel_iter *it = f.held;

		f.held = NULL;
		sl_set_thread(g_threads[visit]);
		sl_for_each_channel_continue(it, 0);
		sl_set_thread(NULL);
	}
	poll_all_until(&f.cpl_calls);
	assert_int_equal(f.cpl_status, 0);
	assert_int_equal(f.nvisits, NTHREADS - 1);

	/* Unregistered device: cpl gets -ENODEV, fn never runs. */
	memset(&f, 0, sizeof(f));
	f.d = &d;
	ut_log_capture_start();
	sl_set_thread(g_threads[0]);
	sl_for_each_channel(&f, fe_fn, &f, fe_cpl);
	sl_set_thread(NULL);
	ut_log_capture_stop();
	poll_all_until(&f.cpl_calls);
	assert_int_equal(f.cpl_status, -ENODEV);
	assert_int_equal(f.nvisits, 0);

	for (int i = 1; i < NTHREADS; i++)
		put_on(i, ch[i]);
	sl_set_thread(g_threads[0]);
	sl_io_device_unregister(&d, dev_unregistered);
	sl_set_thread(NULL);
	poll_all_until(&d.unregister_calls);
	for (int i = 1; i < NTHREADS; i++)
		assert_int_equal(d.destroy_calls[i], 1);
	assert_int_equal(d.bad_thread, 0);
}

/* A channel released while the iteration is on its way to its thread is skipped. */
static void test_for_each_channel_released_meanwhile(void **state)
{
	struct dev d = { 0 };
	struct sl_io_channel *ch1, *ch2;
	struct sl_io_channel_iter *it;
	struct fe f = { .d = &d, .defer = true };
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	(void)state;
	sl_io_device_register(&d, dev_create, dev_destroy, sizeof(struct ch_ctx), "relmdev");
	ch1 = get_on(1, &d);
	ch2 = get_on(2, &d);
	sl_set_thread(g_threads[0]);
	sl_for_each_channel(&d, fe_fn, &f, fe_cpl);
	sl_set_thread(NULL);
	while (!f.held) {
		assert_false(ut_expired(deadline));
		poll_all(1);
	}
	assert_int_equal(f.visits[1], 1);
	/*
	 * Thread 2 releases its channel (the destroy is a queued message), then the
	 * iteration moves on to thread 2, where the destroy runs first.
	 */
	put_on(2, ch2);
	it = f.held;
	f.held = NULL;
	f.defer = false;
	sl_set_thread(g_threads[1]);
	sl_for_each_channel_continue(it, 0);
	sl_set_thread(NULL);
	poll_all_until(&f.cpl_calls);
	assert_int_equal(f.bad, 0);
	assert_int_equal(f.cpl_status, 0);
	assert_int_equal(f.visits[2], 0);
	assert_int_equal(d.destroy_calls[2], 1);

	put_on(1, ch1);
	sl_set_thread(g_threads[0]);
	sl_io_device_unregister(&d, dev_unregistered);
	sl_set_thread(NULL);
	poll_all_until(&d.unregister_calls);
	assert_int_equal(d.destroy_calls[1], 1);
	assert_int_equal(d.bad_thread, 0);
}

static int setup(void **state)
{
	(void)state;
	if (sl_thread_lib_init(NULL, 0))
		return -1;
	for (int i = 0; i < NTHREADS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "ch%d", i);
		g_threads[i] = sl_thread_create(name, -1);
		if (!g_threads[i])
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < NTHREADS; i++) {
		uint64_t deadline = ut_deadline(UT_WAIT_SEC);

		sl_thread_exit(g_threads[i]);
		while (!sl_thread_is_exited(g_threads[i]) && !ut_expired(deadline))
			sl_thread_poll(g_threads[i], 0, 0);
		if (!sl_thread_is_exited(g_threads[i]))
			return -1;
		sl_thread_destroy(g_threads[i]);
	}
	sl_set_thread(NULL);
	sl_thread_lib_fini();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refcount_and_deferred_destroy),
		cmocka_unit_test(test_channels_on_two_threads),
		cmocka_unit_test(test_unregister_waits_for_channels),
		cmocka_unit_test(test_unregister_without_channels),
		cmocka_unit_test(test_create_failure),
		cmocka_unit_test(test_for_each_channel),
		cmocka_unit_test(test_for_each_channel_released_meanwhile),
	};

	ut_apply_filter();
	return cmocka_run_group_tests(tests, setup, teardown);
}
