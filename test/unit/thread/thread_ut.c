/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/thread without reactors: threads are polled by hand from the test
 * (sl_thread_lib_init(NULL, 0)), timed pollers are driven with explicit
 * `now` values. The internal header gives the exact deadline of each poller.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../ut_common.h"
#include "../../../lib/thread/thread_internal.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "sluice/thread.h"

/* ---- helpers ---- */

static void poll_until(struct sl_thread *t, bool (*cond)(void *), void *arg)
{
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	while (!cond(arg)) {
		if (ut_expired(deadline))
			fail_msg("condition not reached within %d s", UT_WAIT_SEC);
		sl_thread_poll(t, 0, 0);
	}
}

static bool thread_exited_cond(void *arg)
{
	return sl_thread_is_exited(arg);
}

/* Exit and free a thread whose pollers and channels are already gone. */
static void thread_finish(struct sl_thread *t)
{
	sl_thread_exit(t);
	poll_until(t, thread_exited_cond, t);
	sl_thread_destroy(t);
	sl_set_thread(NULL);
}

static uint64_t us_to_ticks(uint64_t us)
{
	uint64_t t = us * sl_get_ticks_hz() / 1000000ULL;

	return t ? t : 1;
}

/* ---- messages: many producers, one consumer ---- */

#define MSG_PRODUCERS 4
#define MSG_PER_PRODUCER 100000

struct msg_test {
	struct sl_thread *t;
	_Atomic uint64_t send_errors;
	_Atomic uint64_t enomem_retries;
	uint64_t next_seq[MSG_PRODUCERS];
	uint64_t received;
	uint64_t out_of_order;
	uint64_t wrong_thread;
};

static struct msg_test g_mt;

struct producer_arg {
	uint32_t id;
	pthread_t tid;
};

static void msg_fn(void *ctx)
{
	uint64_t v = (uint64_t)(uintptr_t)ctx;
	uint32_t pid = (uint32_t)(v >> 32);
	uint64_t seq = v & 0xffffffffULL;

	if (sl_get_thread() != g_mt.t)
		g_mt.wrong_thread++;
	if (pid >= MSG_PRODUCERS || seq != g_mt.next_seq[pid])
		g_mt.out_of_order++;
	else
		g_mt.next_seq[pid]++;
	g_mt.received++;
}

static void *producer_main(void *arg)
{
	struct producer_arg *p = arg;

	for (uint64_t seq = 0; seq < MSG_PER_PRODUCER; seq++) {
		void *ctx = (void *)(uintptr_t)(((uint64_t)p->id << 32) | seq);
		int rc;

		while ((rc = sl_thread_send_msg(g_mt.t, msg_fn, ctx)) == -ENOMEM) {
			atomic_fetch_add(&g_mt.enomem_retries, 1);
			sched_yield();
		}
		if (rc)
			atomic_fetch_add(&g_mt.send_errors, 1);
	}
	return NULL;
}

static void test_msg_many_producers(void **state)
{
	struct producer_arg prod[MSG_PRODUCERS];
	uint64_t deadline = ut_deadline(60);
	uint64_t total = (uint64_t)MSG_PRODUCERS * MSG_PER_PRODUCER;

	(void)state;
	memset(&g_mt, 0, sizeof(g_mt));
	g_mt.t = sl_thread_create("consumer", -1);
	assert_non_null(g_mt.t);

	for (uint32_t i = 0; i < MSG_PRODUCERS; i++) {
		prod[i].id = i;
		assert_int_equal(pthread_create(&prod[i].tid, NULL, producer_main, &prod[i]), 0);
	}
	while (g_mt.received < total && !ut_expired(deadline))
		sl_thread_poll(g_mt.t, 0, 0);
	for (uint32_t i = 0; i < MSG_PRODUCERS; i++)
		pthread_join(prod[i].tid, NULL);

	/* Nothing more may arrive: every message was delivered exactly once. */
	for (int i = 0; i < 10; i++)
		sl_thread_poll(g_mt.t, 0, 0);
	assert_false(sl_thread_has_messages(g_mt.t));

	assert_int_equal(atomic_load(&g_mt.send_errors), 0);
	assert_int_equal(g_mt.out_of_order, 0);
	assert_int_equal(g_mt.wrong_thread, 0);
	assert_int_equal(g_mt.received, total);
	for (uint32_t i = 0; i < MSG_PRODUCERS; i++)
		assert_int_equal(g_mt.next_seq[i], MSG_PER_PRODUCER);
	print_message("    %" PRIu64 " messages, %" PRIu64 " -ENOMEM retries\n", total,
		      atomic_load(&g_mt.enomem_retries));

	thread_finish(g_mt.t);
}

static int g_burst_count;

static void burst_fn(void *ctx)
{
	(void)ctx;
	g_burst_count++;
}

/* max_msgs bounds one poll; the ring reports -ENOMEM when full; -EIO once exited. */
static void test_msg_burst_full_exited(void **state)
{
	struct sl_thread *t = sl_thread_create("burst", -1);
	size_t sent = 0;
	int rc;

	(void)state;
	assert_non_null(t);
	g_burst_count = 0;
	for (int i = 0; i < 10; i++)
		assert_int_equal(sl_thread_send_msg(t, burst_fn, NULL), 0);
	assert_true(sl_thread_has_messages(t));
	assert_int_equal(sl_thread_poll(t, 4, 0), SL_POLLER_BUSY);
	assert_int_equal(g_burst_count, 4);
	sl_thread_poll(t, 0, 0);
	assert_int_equal(g_burst_count, 10);
	assert_false(sl_thread_has_messages(t));
	assert_int_equal(sl_thread_poll(t, 0, 0), SL_POLLER_IDLE);

	/* Fill the ring. */
	while ((rc = sl_thread_send_msg(t, burst_fn, NULL)) == 0)
		sent++;
	assert_int_equal(rc, -ENOMEM);
	assert_true(sent >= 1024);
	g_burst_count = 0;
	while (sl_thread_has_messages(t))
		sl_thread_poll(t, 0, 0);
	assert_int_equal(g_burst_count, sent);

	thread_finish(t);
}

static void test_msg_to_exited_thread(void **state)
{
	struct sl_thread *t = sl_thread_create("exiting", -1);

	(void)state;
	assert_non_null(t);
	assert_true(sl_thread_is_running(t));
	sl_thread_exit(t);
	assert_false(sl_thread_is_running(t));
	poll_until(t, thread_exited_cond, t);
	assert_int_equal(sl_thread_send_msg(t, burst_fn, NULL), -EIO);
	sl_thread_destroy(t);
}

/* ---- timed pollers ---- */

#define TP_MAX 8

struct tpoller {
	struct sl_poller *p;
	int id;
	uint64_t period_us;
	uint64_t deadline_seen; /* p->next_run while it runs: the deadline it was due at */
	int runs;
};

static uint64_t g_now;
static int g_order[64];
static size_t g_order_len;
static int g_early_runs;

static int timed_fn(void *ctx)
{
	struct tpoller *x = ctx;

	x->runs++;
	x->deadline_seen = x->p->next_run;
	if (x->p->next_run > g_now)
		g_early_runs++;
	if (g_order_len < UT_COUNTOF(g_order))
		g_order[g_order_len++] = x->id;
	return SL_POLLER_BUSY;
}

static int poll_at(struct sl_thread *t, uint64_t now)
{
	g_now = now;
	g_order_len = 0;
	return sl_thread_poll(t, 0, now);
}

static void test_timed_poller_deadline_order(void **state)
{
	static const uint64_t periods_us[] = { 1000, 1700, 2500, 4000, 333 };
	struct tpoller tp[UT_COUNTOF(periods_us)];
	const size_t n = UT_COUNTOF(periods_us);
	struct sl_thread *t = sl_thread_create("timed", -1);
	uint64_t base, now, step = us_to_ticks(37);
	size_t polls = 0, total_runs = 0;

	(void)state;
	assert_non_null(t);
	sl_set_thread(t);
	g_early_runs = 0;
	base = sl_get_ticks();
	for (size_t i = 0; i < n; i++) {
		tp[i] = (struct tpoller){ .id = (int)i, .period_us = periods_us[i] };
		tp[i].p = sl_poller_register(timed_fn, &tp[i], periods_us[i]);
		assert_non_null(tp[i].p);
		/* Due one period after registration. */
		assert_true(tp[i].p->next_run >= base + us_to_ticks(periods_us[i]));
		assert_true(tp[i].p->next_run <= sl_get_ticks() + us_to_ticks(periods_us[i]));
	}

	/* 0.2 s of virtual time in small irregular steps with occasional big jumps. */
	for (now = base; now < base + us_to_ticks(200000); polls++) {
		uint64_t pre[UT_COUNTOF(periods_us)], pre_seq[UT_COUNTOF(periods_us)];
		int expected[UT_COUNTOF(periods_us)];
		size_t n_expected = 0;

		now += (polls % 97 == 0) ? 50 * step : step + (polls % 5) * step / 3;
		for (size_t i = 0; i < n; i++) {
			pre[i] = tp[i].p->next_run;
			pre_seq[i] = tp[i].p->seq;
			if (pre[i] <= now)
				expected[n_expected++] = (int)i;
		}
		/* Expected order: by deadline, then by heap sequence. */
		for (size_t a = 1; a < n_expected; a++) {
			for (size_t b = a; b > 0; b--) {
				int x = expected[b - 1], y = expected[b];

				if (pre[x] < pre[y] ||
				    (pre[x] == pre[y] && pre_seq[x] < pre_seq[y]))
					break;
				expected[b - 1] = y;
				expected[b] = x;
			}
		}

		int busy = poll_at(t, now);

		assert_int_equal(busy, n_expected ? SL_POLLER_BUSY : SL_POLLER_IDLE);
		assert_int_equal(g_order_len, n_expected);
		for (size_t k = 0; k < n_expected; k++)
			assert_int_equal(g_order[k], expected[k]);
		for (size_t i = 0; i < n; i++) {
			if (pre[i] <= now)
				/* Ran once, rescheduled one period after this poll. */
				assert_int_equal(tp[i].p->next_run,
						 now + us_to_ticks(tp[i].period_us));
			else
				assert_int_equal(tp[i].p->next_run, pre[i]);
		}
		total_runs += n_expected;
	}
	assert_int_equal(g_early_runs, 0);
	/* The 333 us poller ran many times; the 4 ms one at least a few. */
	assert_true(tp[4].runs > 100);
	assert_true(tp[3].runs >= 10);
	assert_true(total_runs > 200);

	/* The earliest deadline is what the scheduler would sleep until. */
	uint64_t min = UINT64_MAX;

	for (size_t i = 0; i < n; i++)
		if (tp[i].p->next_run < min)
			min = tp[i].p->next_run;
	assert_int_equal(sl_thread_next_poller_expiration(t), min);

	for (size_t i = 0; i < n; i++) {
		sl_poller_unregister(&tp[i].p);
		assert_null(tp[i].p);
	}
	assert_int_equal(sl_thread_next_poller_expiration(t), 0);
	thread_finish(t);
}

/* Pollers of one period registered in order A, B, C keep running in that order. */
static void test_timed_poller_equal_deadlines_same_period(void **state)
{
	struct tpoller tp[4];
	struct sl_thread *t = sl_thread_create("equal", -1);
	uint64_t now, period = us_to_ticks(1000);

	(void)state;
	assert_non_null(t);
	sl_set_thread(t);
	for (int i = 0; i < 4; i++) {
		tp[i] = (struct tpoller){ .id = i, .period_us = 1000 };
		tp[i].p = sl_poller_register(timed_fn, &tp[i], 1000);
		assert_non_null(tp[i].p);
	}
	now = sl_get_ticks() + 10 * period;
	for (int round = 0; round < 20; round++, now += period) {
		poll_at(t, now);
		assert_int_equal(g_order_len, 4);
		for (int i = 0; i < 4; i++) {
			assert_int_equal(g_order[i], i);
			assert_int_equal(tp[i].p->next_run, now + period);
		}
	}
	for (int i = 0; i < 4; i++)
		sl_poller_unregister(&tp[i].p);
	thread_finish(t);
}

/*
 * Equal deadlines reached by pollers of different periods: the documented
 * tie-break (thread_internal.h: "equal deadlines run in registration order").
 */
static void test_timed_poller_equal_deadlines_mixed_periods(void **state)
{
	static const uint64_t periods_us[] = { 1000, 3000, 1000, 3000 };
	struct tpoller tp[4];
	struct sl_thread *t;
	uint64_t now, p1 = us_to_ticks(1000), p3 = us_to_ticks(3000);

	(void)state;
	t = sl_thread_create("equal_mixed", -1);
	assert_non_null(t);
	sl_set_thread(t);
	for (int i = 0; i < 4; i++) {
		tp[i] = (struct tpoller){ .id = i, .period_us = periods_us[i] };
		tp[i].p = sl_poller_register(timed_fn, &tp[i], periods_us[i]);
		assert_non_null(tp[i].p);
	}
	/* All due now: afterwards A, C are due at now+1ms, B, D at now+3ms. */
	now = sl_get_ticks() + 10 * p3;
	poll_at(t, now);
	assert_int_equal(g_order_len, 4);
	/* Run A and C so that they are next due exactly when B and D are. */
	poll_at(t, now + p3 - p1);
	assert_int_equal(g_order_len, 2);
	assert_int_equal(g_order[0], 0);
	assert_int_equal(g_order[1], 2);
	for (int i = 0; i < 4; i++)
		assert_int_equal(tp[i].p->next_run, now + p3);
	/* All four due at the same tick: registration order A, B, C, D. */
	poll_at(t, now + p3);
	{
		int order[4] = { -1, -1, -1, -1 };
		size_t len = g_order_len;

		memcpy(order, g_order, sizeof(order));
		/* Clean up first so that a failure here does not spill into other tests. */
		for (int i = 0; i < 4; i++)
			sl_poller_unregister(&tp[i].p);
		thread_finish(t);
		assert_int_equal(len, 4);
		for (int i = 0; i < 4; i++)
			if (order[i] != i)
				fail_msg("equal deadlines ran in order %d %d %d %d, registration "
					 "order "
					 "is 0 1 2 3",
					 order[0], order[1], order[2], order[3]);
	}
}

/* ---- unregistering pollers from callbacks ---- */

struct upoller {
	struct sl_poller *p;
	int runs;
	int unregister_at;	   /* unregister target on this run (1-based); 0: never */
	struct sl_poller **target; /* poller to unregister; may be its own */
};

static int unreg_fn(void *ctx)
{
	struct upoller *u = ctx;

	u->runs++;
	if (u->unregister_at && u->runs == u->unregister_at && u->target)
		sl_poller_unregister(u->target);
	return SL_POLLER_BUSY;
}

static void test_busy_poller_unregisters_itself(void **state)
{
	struct sl_thread *t = sl_thread_create("busy_self", -1);
	struct upoller a = { 0 }, b = { 0 };
	size_t busy, timed;

	(void)state;
	assert_non_null(t);
	sl_set_thread(t);
	a.p = sl_poller_register(unreg_fn, &a, 0);
	b.p = sl_poller_register(unreg_fn, &b, 0);
	assert_non_null(a.p);
	assert_non_null(b.p);
	a.unregister_at = 3;
	a.target = &a.p;
	assert_int_equal(sl_thread_get_poller_counts(t, &busy, &timed), 2);

	for (int i = 0; i < 10; i++)
		assert_int_equal(sl_thread_poll(t, 0, 0), SL_POLLER_BUSY);
	assert_int_equal(a.runs, 3);
	assert_null(a.p);
	assert_int_equal(b.runs, 10);
	assert_int_equal(sl_thread_get_poller_counts(t, &busy, &timed), 1);
	assert_int_equal(busy, 1);
	assert_int_equal(timed, 0);

	/* The last busy poller unregisters itself: the thread goes idle. */
	b.unregister_at = 11;
	b.target = &b.p;
	sl_thread_poll(t, 0, 0);
	assert_null(b.p);
	assert_int_equal(sl_thread_poll(t, 0, 0), SL_POLLER_IDLE);
	assert_int_equal(b.runs, 11);
	assert_int_equal(sl_thread_get_poller_counts(t, NULL, NULL), 0);
	thread_finish(t);
}

static void test_busy_poller_unregisters_others(void **state)
{
	struct sl_thread *t = sl_thread_create("busy_other", -1);
	struct upoller before = { 0 }, a = { 0 }, after = { 0 }, timed = { 0 }, a2 = { 0 };
	uint64_t now;

	(void)state;
	assert_non_null(t);
	sl_set_thread(t);
	/* List order: before, a, after; a unregisters both neighbours on its first run. */
	before.p = sl_poller_register(unreg_fn, &before, 0);
	a.p = sl_poller_register(unreg_fn, &a, 0);
	after.p = sl_poller_register(unreg_fn, &after, 0);
	timed.p = sl_poller_register(unreg_fn, &timed, 1000);
	a2.p = sl_poller_register(unreg_fn, &a2, 0);
	assert_non_null(before.p);
	assert_non_null(a.p);
	assert_non_null(after.p);
	assert_non_null(timed.p);
	assert_non_null(a2.p);
	a.unregister_at = 1;
	a.target = &after.p;
	a2.unregister_at = 1;
	a2.target = &timed.p; /* the timed poller is due in that same poll */

	now = sl_get_ticks() + us_to_ticks(100000);
	sl_thread_poll(t, 0, now);
	assert_null(after.p);
	assert_null(timed.p);
	assert_int_equal(after.runs, 0);
	assert_int_equal(timed.runs, 0);
	assert_int_equal(before.runs, 1);

	/* Unregister one that already ran in this poll (earlier in the list). */
	a.unregister_at = 2;
	a.target = &before.p;
	for (int i = 0; i < 5; i++) {
		now += us_to_ticks(100000);
		sl_thread_poll(t, 0, now);
	}
	assert_null(before.p);
	assert_int_equal(before.runs, 2);
	assert_int_equal(after.runs, 0);
	assert_int_equal(timed.runs, 0);
	assert_int_equal(a.runs, 6);
	assert_int_equal(sl_thread_get_poller_counts(t, NULL, NULL), 2);

	sl_poller_unregister(&a.p);
	sl_poller_unregister(&a2.p);
	assert_int_equal(sl_thread_get_poller_counts(t, NULL, NULL), 0);
	thread_finish(t);
}

static void test_timed_poller_unregisters_others(void **state)
{
	struct sl_thread *t = sl_thread_create("timed_other", -1);
	struct upoller t1 = { 0 }, t2 = { 0 }, busy = { 0 };
	uint64_t now;

	(void)state;
	assert_non_null(t);
	sl_set_thread(t);
	t1.p = sl_poller_register(unreg_fn, &t1, 1000);
	t2.p = sl_poller_register(unreg_fn, &t2, 1000); /* due right after t1 */
	busy.p = sl_poller_register(unreg_fn, &busy, 0);
	assert_non_null(t1.p);
	assert_non_null(t2.p);
	assert_non_null(busy.p);
	t1.unregister_at = 2;
	t1.target = &t2.p;

	now = sl_get_ticks() + us_to_ticks(5000);
	sl_thread_poll(t, 0, now);
	assert_int_equal(t1.runs, 1);
	assert_int_equal(t2.runs, 1);
	/* Both due again in the next poll; t1 runs first and removes t2. */
	now += us_to_ticks(5000);
	sl_thread_poll(t, 0, now);
	assert_int_equal(t1.runs, 2);
	assert_int_equal(t2.runs, 1);
	assert_null(t2.p);

	/* A timed poller unregisters a busy one: it never runs again. */
	t1.unregister_at = 3;
	t1.target = &busy.p;
	now += us_to_ticks(5000);
	sl_thread_poll(t, 0, now);
	assert_null(busy.p);
	int busy_runs = busy.runs;

	for (int i = 0; i < 5; i++) {
		now += us_to_ticks(5000);
		sl_thread_poll(t, 0, now);
	}
	assert_int_equal(busy.runs, busy_runs);
	assert_int_equal(t2.runs, 1);
	assert_int_equal(t1.runs, 8);
	assert_int_equal(sl_thread_get_poller_counts(t, NULL, NULL), 1);
	sl_poller_unregister(&t1.p);
	thread_finish(t);
}

static int teardown_fn(void *ctx)
{
	struct sl_poller ***targets = ctx;

	sl_poller_unregister(targets[0]);
	sl_poller_unregister(targets[1]);
	return SL_POLLER_BUSY;
}

/* A one-shot timer: a timed poller unregistering itself from its callback. */
static void test_timed_poller_unregisters_itself(void **state)
{
	struct sl_thread *t;
	struct upoller once = { 0 }, other = { 0 };
	uint64_t now;

	(void)state;
	t = sl_thread_create("timed_self", -1);
	assert_non_null(t);
	sl_set_thread(t);
	once.p = sl_poller_register(unreg_fn, &once, 1000);
	other.p = sl_poller_register(unreg_fn, &other, 1000);
	assert_non_null(once.p);
	assert_non_null(other.p);
	once.unregister_at = 1;
	once.target = &once.p;

	now = sl_get_ticks() + us_to_ticks(5000);
	for (int i = 0; i < 5; i++, now += us_to_ticks(5000))
		sl_thread_poll(t, 0, now);
	assert_null(once.p);
	assert_int_equal(once.runs, 1);
	assert_int_equal(other.runs, 5);
	assert_int_equal(sl_thread_get_poller_counts(t, NULL, NULL), 1);
	sl_poller_unregister(&other.p);
	thread_finish(t);
}

/*
 * On an exiting thread, a timed poller tears everything down: it unregisters
 * a busy poller and itself. The thread exits at the end of that poll and is
 * destroyed; nothing may be left allocated (ASan's leak check sees it).
 */
static void test_exit_after_timed_poller_unregisters_busy(void **state)
{
	struct sl_thread *t;
	struct upoller busy = { 0 }, timed = { 0 };
	struct sl_poller **targets[2];
	uint64_t now;

	(void)state;
	t = sl_thread_create("exit_teardown", -1);
	assert_non_null(t);
	sl_set_thread(t);
	busy.p = sl_poller_register(unreg_fn, &busy, 0);
	timed.p = sl_poller_register(teardown_fn, targets, 1000);
	assert_non_null(busy.p);
	assert_non_null(timed.p);
	targets[0] = &busy.p;
	targets[1] = &timed.p;
	sl_thread_exit(t);
	now = sl_get_ticks() + us_to_ticks(5000);
	sl_thread_poll(t, 0, now);
	assert_null(busy.p);
	assert_null(timed.p);
	assert_true(sl_thread_is_exited(t));
	/* Nothing still linked that sl_thread_destroy would not free. */
	assert_true(TAILQ_EMPTY(&t->busy_pollers));
	assert_null(t->free_pollers);
	sl_thread_destroy(t);
	sl_set_thread(NULL);
}

/* ---- sl_for_each_thread ---- */

#define FE_THREADS 3

static struct sl_thread *g_fe_threads[FE_THREADS];
static int g_fe_visits[FE_THREADS];
static int g_fe_visit_order[16];
static int g_fe_nvisits;
static int g_fe_bad;
static int g_fe_cpl;
static struct sl_thread *g_fe_cpl_thread;

static void fe_fn(void *ctx)
{
	struct sl_thread *cur = sl_get_thread();

	if (ctx != &g_fe_visits)
		g_fe_bad++;
	for (int i = 0; i < FE_THREADS; i++) {
		if (g_fe_threads[i] == cur) {
			g_fe_visits[i]++;
			if (g_fe_nvisits < 16)
				g_fe_visit_order[g_fe_nvisits++] = i;
			return;
		}
	}
	g_fe_bad++;
}

static void fe_cpl(void *ctx)
{
	if (ctx != &g_fe_visits)
		g_fe_bad++;
	g_fe_cpl++;
	g_fe_cpl_thread = sl_get_thread();
}

static bool fe_done(void *arg)
{
	(void)arg;
	/* Poll the other threads too: the iteration hops from thread to thread. */
	for (int i = 0; i < FE_THREADS; i++)
		sl_thread_poll(g_fe_threads[i], 0, 0);
	return g_fe_cpl > 0;
}

static void test_for_each_thread(void **state)
{
	(void)state;
	memset(g_fe_visits, 0, sizeof(g_fe_visits));
	g_fe_nvisits = g_fe_bad = g_fe_cpl = 0;
	g_fe_cpl_thread = NULL;
	for (int i = 0; i < FE_THREADS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "fe%d", i);
		g_fe_threads[i] = sl_thread_create(name, -1);
		assert_non_null(g_fe_threads[i]);
	}
	assert_int_equal(sl_thread_get_count(), FE_THREADS);

	/* Without a current thread there is nowhere to complete. */
	sl_set_thread(NULL);
	assert_int_equal(sl_for_each_thread(fe_fn, &g_fe_visits, fe_cpl), -EINVAL);

	sl_set_thread(g_fe_threads[1]);
	assert_int_equal(sl_for_each_thread(fe_fn, &g_fe_visits, fe_cpl), 0);
	sl_set_thread(NULL);
	poll_until(g_fe_threads[0], fe_done, NULL);
	/* A few more polls: nothing runs twice, cpl only once. */
	for (int k = 0; k < 10; k++)
		fe_done(NULL);

	assert_int_equal(g_fe_bad, 0);
	assert_int_equal(g_fe_cpl, 1);
	assert_ptr_equal(g_fe_cpl_thread, g_fe_threads[1]);
	assert_int_equal(g_fe_nvisits, FE_THREADS);
	for (int i = 0; i < FE_THREADS; i++) {
		assert_int_equal(g_fe_visits[i], 1);
		assert_int_equal(g_fe_visit_order[i], i); /* creation order */
	}

	/* Exiting threads are skipped. */
	memset(g_fe_visits, 0, sizeof(g_fe_visits));
	g_fe_nvisits = g_fe_cpl = 0;
	sl_thread_exit(g_fe_threads[2]);
	sl_set_thread(g_fe_threads[0]);
	assert_int_equal(sl_for_each_thread(fe_fn, &g_fe_visits, fe_cpl), 0);
	sl_set_thread(NULL);
	poll_until(g_fe_threads[0], fe_done, NULL);
	assert_int_equal(g_fe_visits[0], 1);
	assert_int_equal(g_fe_visits[1], 1);
	assert_int_equal(g_fe_visits[2], 0);
	assert_ptr_equal(g_fe_cpl_thread, g_fe_threads[0]);

	for (int i = 0; i < FE_THREADS; i++)
		thread_finish(g_fe_threads[i]);
	assert_int_equal(sl_thread_get_count(), 0);
}

/* ---- thread exit waits for pollers and channels ---- */

static int g_exit_dev;
static int g_exit_destroyed;

static int exit_ch_create(void *dev, void *ctx)
{
	(void)dev;
	(void)ctx;
	return 0;
}

static void exit_ch_destroy(void *dev, void *ctx)
{
	(void)dev;
	(void)ctx;
	g_exit_destroyed++;
}

static int g_exit_unregistered;

static void exit_dev_unregistered(void *dev)
{
	if (dev == &g_exit_dev)
		g_exit_unregistered++;
}

static int idle_fn(void *ctx)
{
	(void)ctx;
	return SL_POLLER_IDLE;
}

static void test_thread_exit_waits(void **state)
{
	struct sl_thread *t = sl_thread_create("exit", -1);
	struct sl_poller *p, *tp;
	struct sl_io_channel *ch;

	(void)state;
	assert_non_null(t);
	g_exit_destroyed = 0;
	g_exit_unregistered = 0;
	sl_set_thread(t);
	sl_io_device_register(&g_exit_dev, exit_ch_create, exit_ch_destroy, 8, "exit_dev");
	p = sl_poller_register(idle_fn, NULL, 0);
	tp = sl_poller_register(idle_fn, NULL, 1000000);
	ch = sl_get_io_channel(&g_exit_dev);
	assert_non_null(p);
	assert_non_null(tp);
	assert_non_null(ch);

	assert_int_equal(sl_thread_exit(t), 0);
	assert_false(sl_thread_is_running(t));
	assert_false(sl_thread_is_exited(t));
	/* No new pollers or channels on an exiting thread. */
	{
		struct sl_poller *np;

		ut_log_capture_start();
		np = sl_poller_register(idle_fn, NULL, 0);
		ut_log_capture_stop();
		assert_null(np);
	}
	for (int i = 0; i < 20; i++) {
		sl_thread_poll(t, 0, 0);
		assert_false(sl_thread_is_exited(t));
	}
	sl_poller_unregister(&p);
	for (int i = 0; i < 5; i++) {
		sl_thread_poll(t, 0, 0);
		assert_false(sl_thread_is_exited(t));
	}
	sl_poller_unregister(&tp);
	for (int i = 0; i < 5; i++) {
		sl_thread_poll(t, 0, 0);
		assert_false(sl_thread_is_exited(t)); /* the channel is still held */
	}
	/* Unregister the device while the exiting thread still holds a channel. */
	sl_set_thread(t);
	sl_io_device_unregister(&g_exit_dev, exit_dev_unregistered);
	sl_put_io_channel(ch);
	/* The release is deferred: a message the next poll runs. */
	assert_false(sl_thread_is_exited(t));
	assert_int_equal(g_exit_destroyed, 0);
	sl_thread_poll(t, 0, 0);
	assert_int_equal(g_exit_destroyed, 1);
	/* The device's unregister completion is a message still queued to this thread. */
	assert_int_equal(g_exit_unregistered, 0);
	assert_false(sl_thread_is_exited(t));
	sl_thread_poll(t, 0, 0);
	assert_int_equal(g_exit_unregistered, 1);
	assert_true(sl_thread_is_exited(t));
	assert_int_equal(sl_thread_send_msg(t, burst_fn, NULL), -EIO);

	sl_thread_destroy(t);
	sl_set_thread(NULL);
	assert_int_equal(sl_thread_get_count(), 0);
}

/* An idle thread with nothing registered exits at its next poll. */
static void test_thread_exit_idle(void **state)
{
	struct sl_thread *t = sl_thread_create(NULL, 3);

	(void)state;
	assert_non_null(t);
	assert_int_equal(sl_thread_get_core_hint(t), 3);
	assert_true(strncmp(sl_thread_get_name(t), "thread", 6) == 0);
	assert_ptr_equal(sl_thread_get_ctx(t), NULL); /* no scheduler context */
	sl_thread_exit(t);
	sl_thread_exit(t); /* idempotent */
	assert_false(sl_thread_is_exited(t));
	sl_thread_poll(t, 0, 0);
	assert_true(sl_thread_is_exited(t));
	sl_thread_destroy(t);
}

static void test_poller_outside_thread(void **state)
{
	struct sl_poller *p;

	(void)state;
	sl_set_thread(NULL);
	ut_log_capture_start();
	p = sl_poller_register(idle_fn, NULL, 0);
	UT_ASSERT_LOG("outside an sl_thread");
	ut_log_capture_stop();
	assert_null(p);
	sl_poller_unregister(&p); /* NULL is fine */
}

static int setup(void **state)
{
	(void)state;
	return sl_thread_lib_init(NULL, 0);
}

static int teardown(void **state)
{
	(void)state;
	sl_thread_lib_fini();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_many_producers),
		cmocka_unit_test(test_msg_burst_full_exited),
		cmocka_unit_test(test_msg_to_exited_thread),
		cmocka_unit_test(test_timed_poller_deadline_order),
		cmocka_unit_test(test_timed_poller_equal_deadlines_same_period),
		cmocka_unit_test(test_timed_poller_equal_deadlines_mixed_periods),
		cmocka_unit_test(test_busy_poller_unregisters_itself),
		cmocka_unit_test(test_busy_poller_unregisters_others),
		cmocka_unit_test(test_timed_poller_unregisters_others),
		cmocka_unit_test(test_timed_poller_unregisters_itself),
		cmocka_unit_test(test_exit_after_timed_poller_unregisters_busy),
		cmocka_unit_test(test_for_each_thread),
		cmocka_unit_test(test_thread_exit_waits),
		cmocka_unit_test(test_thread_exit_idle),
		cmocka_unit_test(test_poller_outside_thread),
	};

	ut_apply_filter();
	return cmocka_run_group_tests(tests, setup, teardown);
}
