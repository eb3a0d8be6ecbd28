/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * msg_bench: thread-message throughput between two reactors and on one
 * reactor, and the cost of an idle reactor iteration, each printed next to a
 * ceiling measured in the same run: a bare sl_ring (the rte_ring a thread's
 * message queue is made of) driven the same way, and a bare loop.
 *
 * Not a test and never run by make check: run it through test/bench/msg.sh,
 * which checks that the machine is quiet first. Needs two cores.
 *
 * Phases run one after another, driven by messages to the app thread:
 *   idle      a counting busy poller on each reactor (alone on the second one,
 *             beside the app thread on the main one); ns per iteration
 *   pair      enqueue+dequeue of one element on one thread, several ring kinds
 *   bare      a loop doing what an iteration cannot avoid (tick read + call)
 *   self      a thread keeping `window` messages to itself in flight
 *   xring     producer on core A, consumer on core B, bare ring, same window
 *   xmsg      sender thread on core A, receiver thread on core B, same window
 * Windowed traffic (credits returned through an atomic counter) measures
 * throughput, not how fast a ring fills up.
 */
#include "sluice/env.h"
#include "sluice/event.h"
#include "sluice/log.h"
#include "sluice/thread.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <rte_ring.h>

#define DEFAULT_SECS 2.0
#define DEFAULT_WINDOW 1024
#define WARM_US 200000
/* lib/thread/thread.c: MSG_RING_SIZE, MSG_BURST and struct msg {fn, ctx}. */
#define MSG_RING_COUNT 65536
#define MSG_BURST 32
#define BATCH 256 /* operations between two clock reads in tight loops */

struct elem {
	sl_msg_fn fn;
	void *ctx;
};
_Static_assert(sizeof(struct elem) == 16, "thread messages are 16-byte ring elements");

enum row_id {
	R_XMSG,
	R_SELF,
	R_IDLE1,
	R_IDLE0,
	R_XRING,
	R_PAIR_ELEM,
	R_PAIR_PTR,
	R_PAIR_SPSC,
	R_PAIR_MP,
	R_PAIR_FENCE,
	R_BARE,
	R_CLOCK,
	R_COUNT,
};

struct row {
	const char *what;
	const char *unit;
	int peer;    /* row this one is compared with, -1: none */
	double rate; /* operations per second */
};

static struct row g_rows[R_COUNT] = {
	[R_XMSG] = { "msg cross-reactor", "M/s", R_XRING, 0 },
	[R_SELF] = { "msg same reactor (to self)", "M/s", R_PAIR_ELEM, 0 },
	[R_IDLE1] = { "idle loop, reactor B (1 thr)", "M it/s", R_BARE, 0 },
	[R_IDLE0] = { "idle loop, main A (2 thr)", "M it/s", R_BARE, 0 },
	[R_XRING] = { "ring x-core elem16 MP-RTS/SC", "M/s", -1, 0 },
	[R_PAIR_ELEM] = { "ring pair elem16 MP-RTS/SC", "M/s", -1, 0 },
	[R_PAIR_PTR] = { "ring pair ptr MP-RTS/SC", "M/s", R_PAIR_ELEM, 0 },
	[R_PAIR_SPSC] = { "ring pair elem16 SP/SC", "M/s", R_PAIR_ELEM, 0 },
	[R_PAIR_MP] = { "ring pair elem16 MP/SC no RTS", "M/s", R_PAIR_ELEM, 0 },
	[R_PAIR_FENCE] = { "ring pair elem16 RTS + fence", "M/s", R_PAIR_ELEM, 0 },
	[R_BARE] = { "bare loop (ticks + call)", "M it/s", -1, 0 },
	[R_CLOCK] = { "clock read (sl_get_ticks)", "M/s", -1, 0 },
};

static const char *g_peer_name[R_COUNT] = {
	[R_XRING] = "ring x-core",
	[R_PAIR_ELEM] = "ring pair",
	[R_BARE] = "bare loop",
};

static double g_secs = DEFAULT_SECS;
static uint32_t g_window = DEFAULT_WINDOW;
static uint64_t g_hz, g_dur, g_warm;
static uint32_t g_core[2];
static struct sl_thread *g_app;
static int g_fail;
static uint64_t g_send_enomem;

/* CPU accounting over the measured part, to tell whether others were running. */
static uint64_t g_stat_busy0, g_stat_total0, g_stat_busy1, g_stat_total1;
static double g_self_cpu0, g_self_cpu1, g_wall0, g_wall1;

static double rate_of(uint64_t ops, uint64_t ticks)
{
	return ticks ? (double)ops * (double)g_hz / (double)ticks : 0;
}

static void fail(const char *what)
{
	fprintf(stderr, "msg_bench: %s\n", what);
	g_fail = 1;
}

/* ---- phase sequencing (app thread) ---- */

static void phase_next(void *arg);

static void go_next(void)
{
	if (sl_thread_send_msg(g_app, phase_next, NULL))
		fail("cannot reach the app thread");
}

static void thread_exit_msg(void *arg)
{
	sl_thread_exit(sl_get_thread());
}

/* ---- /proc/stat: CPU time of every process, in clock ticks ---- */

static int read_proc_stat(uint64_t *busy, uint64_t *total)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		return -errno;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return -EINVAL;
	/* user nice system idle iowait irq softirq steal: idle and iowait are not busy. */
	*busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	*total = *busy + v[3] + v[4];
	return 0;
}

static double self_cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double wall_seconds(void)
{
	return (double)sl_get_ticks() / (double)g_hz;
}

/* ---- tight loops on one thread (they hold their reactor while they run) ---- */

typedef void (*batch_fn)(void *arg);

/* Calls fn (BATCH operations each) for the warm-up, then for the duration: ops/s. */
static double time_batches(batch_fn fn, void *arg)
{
	uint64_t start = sl_get_ticks(), t0 = 0, n = 0, now;

	for (;;) {
		fn(arg);
		now = sl_get_ticks();
		if (!t0) {
			if (now - start >= g_warm)
				t0 = now;
			continue;
		}
		n += BATCH;
		if (now - t0 >= g_dur)
			return rate_of(n, now - t0);
	}
}

static void pair_elem_batch(void *arg)
{
	struct sl_ring *r = arg;
	struct elem in = { .fn = thread_exit_msg, .ctx = arg }, out;

	for (int i = 0; i < BATCH; i++) {
		if (sl_ring_enqueue_elem(r, &in, sizeof(in), 1, NULL) != 1 ||
		    sl_ring_dequeue_elem(r, &out, sizeof(out), 1) != 1) {
			fail("ring pair: enqueue or dequeue failed");
			return;
		}
	}
}

static _Atomic int g_fake_sleeping;

/* What sl_thread_send_msg adds to the enqueue: reactor_wake's fence and flag read. */
static void pair_fence_batch(void *arg)
{
	struct sl_ring *r = arg;
	struct elem in = { .fn = thread_exit_msg, .ctx = arg }, out;

	for (int i = 0; i < BATCH; i++) {
		if (sl_ring_enqueue_elem(r, &in, sizeof(in), 1, NULL) != 1) {
			fail("ring pair: enqueue failed");
			return;
		}
		atomic_thread_fence(memory_order_seq_cst);
		if (atomic_load_explicit(&g_fake_sleeping, memory_order_relaxed))
			fail("impossible");
		if (sl_ring_dequeue_elem(r, &out, sizeof(out), 1) != 1) {
			fail("ring pair: dequeue failed");
			return;
		}
	}
}

static void pair_ptr_batch(void *arg)
{
	struct sl_ring *r = arg;
	void *in = arg, *out;

	for (int i = 0; i < BATCH; i++) {
		if (sl_ring_enqueue(r, &in, 1, NULL) != 1 || sl_ring_dequeue(r, &out, 1) != 1) {
			fail("ring pair: enqueue or dequeue failed");
			return;
		}
	}
}

static uint64_t g_bare_calls;
static uint64_t g_bare_sink;

static int bare_poller(void *arg)
{
	g_bare_calls++;
	return SL_POLLER_IDLE;
}

static sl_poller_fn volatile g_bare_fn = bare_poller;

/* The least an iteration does: read the clock and call a poller through a pointer. */
static void bare_batch(void *arg)
{
	for (int i = 0; i < BATCH; i++) {
		g_bare_sink += sl_get_ticks();
		g_bare_fn(arg);
	}
}

/* lib/env makes MP rings RTS; this is DPDK's default MP sync, for comparison. */
static void pair_rte_batch(void *arg)
{
	struct rte_ring *r = arg;
	struct elem in = { .fn = thread_exit_msg, .ctx = arg }, out;

	for (int i = 0; i < BATCH; i++) {
		if (rte_ring_enqueue_burst_elem(r, &in, sizeof(in), 1, NULL) != 1 ||
		    rte_ring_dequeue_burst_elem(r, &out, sizeof(out), 1, NULL) != 1) {
			fail("rte_ring pair: enqueue or dequeue failed");
			return;
		}
	}
}

static void clock_batch(void *arg)
{
	for (int i = 0; i < BATCH; i++)
		g_bare_sink += sl_get_ticks();
}

static double ring_pair_rate(enum sl_ring_type type, bool ptr, batch_fn fn)
{
	struct sl_ring *r = ptr ? sl_ring_create(type, MSG_RING_COUNT, SL_ENV_SOCKET_ID_ANY)
				: sl_ring_create_elem(type, MSG_RING_COUNT, sizeof(struct elem));
	double rate;

	if (!r) {
		fail("cannot create a ring");
		return 0;
	}
	rate = time_batches(fn, r);
	sl_ring_free(r);
	return rate;
}

static void phase_pairs(void)
{
	g_rows[R_PAIR_ELEM].rate = ring_pair_rate(SL_RING_MP_SC, false, pair_elem_batch);
	g_rows[R_PAIR_PTR].rate = ring_pair_rate(SL_RING_MP_SC, true, pair_ptr_batch);
	g_rows[R_PAIR_SPSC].rate = ring_pair_rate(SL_RING_SP_SC, false, pair_elem_batch);
	g_rows[R_PAIR_FENCE].rate = ring_pair_rate(SL_RING_MP_SC, false, pair_fence_batch);
	{
		struct rte_ring *r =
			rte_ring_create_elem("bench_mp", sizeof(struct elem), MSG_RING_COUNT * 2,
					     SOCKET_ID_ANY, RING_F_SC_DEQ);

		if (r) {
			g_rows[R_PAIR_MP].rate = time_batches(pair_rte_batch, r);
			rte_ring_free(r);
		} else {
			fail("cannot create an rte_ring");
		}
	}
	go_next();
}

static void phase_bare(void)
{
	g_rows[R_BARE].rate = time_batches(bare_batch, NULL);
	g_rows[R_CLOCK].rate = time_batches(clock_batch, NULL);
	go_next();
}

/* ---- idle reactor iterations ---- */

struct idle_ctx {
	struct sl_thread *thread;
	struct sl_poller *poller;
	_Atomic uint64_t calls;
	uint64_t c0;
	uint64_t t0;
} __attribute__((aligned(64)));

static struct idle_ctx g_idle[2];
static struct sl_poller *g_timer;

static int idle_poll(void *arg)
{
	struct idle_ctx *ic = arg;

	/* One writer: a plain increment, made atomic only so the app thread may read it. */
	atomic_store_explicit(&ic->calls,
			      atomic_load_explicit(&ic->calls, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	return SL_POLLER_IDLE;
}

static void idle_start(void *arg)
{
	struct idle_ctx *ic = arg;

	ic->poller = sl_poller_register_named(idle_poll, ic, 0, "bench_idle");
	if (!ic->poller)
		fail("cannot register the idle poller");
}

static void idle_stop(void *arg)
{
	struct idle_ctx *ic = arg;

	sl_poller_unregister(&ic->poller);
	sl_thread_exit(sl_get_thread());
}

/* One-shot timer on the app thread. */
static void (*g_timer_fn)(void);

static int timer_poll(void *arg)
{
	sl_poller_unregister(&g_timer);
	g_timer_fn();
	return SL_POLLER_BUSY;
}

static void timer_start(uint64_t us, void (*fn)(void))
{
	g_timer_fn = fn;
	g_timer = sl_poller_register_named(timer_poll, NULL, us, "bench_timer");
	if (!g_timer) {
		fail("cannot register the bench timer");
		go_next();
	}
}

static void idle_end(void)
{
	uint64_t now = sl_get_ticks();

	for (int i = 0; i < 2; i++) {
		struct idle_ctx *ic = &g_idle[i];
		uint64_t c = atomic_load_explicit(&ic->calls, memory_order_relaxed);

		g_rows[i == 0 ? R_IDLE0 : R_IDLE1].rate = rate_of(c - ic->c0, now - ic->t0);
		if (sl_thread_send_msg(ic->thread, idle_stop, ic))
			fail("cannot stop an idle thread");
	}
	go_next();
}

static void idle_warm_done(void)
{
	for (int i = 0; i < 2; i++) {
		g_idle[i].t0 = sl_get_ticks();
		g_idle[i].c0 = atomic_load_explicit(&g_idle[i].calls, memory_order_relaxed);
	}
	timer_start((uint64_t)(g_secs * 1e6), idle_end);
}

static void phase_idle(void)
{
	for (int i = 0; i < 2; i++) {
		struct idle_ctx *ic = &g_idle[i];

		ic->thread =
			sl_thread_create(i ? "bench_idle1" : "bench_idle0", (int32_t)g_core[i]);
		if (!ic->thread || sl_thread_send_msg(ic->thread, idle_start, ic)) {
			fail("cannot start an idle thread");
			go_next();
			return;
		}
	}
	timer_start(WARM_US, idle_warm_done);
}

/* ---- messages: windowed sender, counting receiver ---- */

struct msg_ctx {
	struct sl_thread *rx;
	struct sl_poller *poller;
	enum row_id row;
	uint64_t sent;
	uint64_t start, t0, r0;
	bool warm_done;
	/* Written by the receiver only, read by the sender for credits. */
	_Atomic uint64_t received __attribute__((aligned(64)));
	char pad[56];
};

static struct msg_ctx g_xmsg, g_self;

static void msg_rx(void *arg)
{
	struct msg_ctx *mc = arg;

	atomic_store_explicit(&mc->received,
			      atomic_load_explicit(&mc->received, memory_order_relaxed) + 1,
			      memory_order_release);
}

static int msg_tx_poll(void *arg)
{
	struct msg_ctx *mc = arg;
	uint64_t now = sl_get_ticks();
	uint64_t rcv = atomic_load_explicit(&mc->received, memory_order_acquire);
	uint32_t n;

	if (!mc->warm_done) {
		if (now - mc->start >= g_warm) {
			mc->warm_done = true;
			mc->t0 = now;
			mc->r0 = rcv;
		}
	} else if (now - mc->t0 >= g_dur) {
		g_rows[mc->row].rate = rate_of(rcv - mc->r0, now - mc->t0);
		sl_poller_unregister(&mc->poller);
		/* From the same producer, this exit follows every message in flight. */
		if (mc->rx != sl_get_thread() && sl_thread_send_msg(mc->rx, thread_exit_msg, NULL))
			fail("cannot stop the receiver");
		sl_thread_exit(sl_get_thread());
		go_next();
		return SL_POLLER_BUSY;
	}
	n = g_window - (uint32_t)(mc->sent - rcv);
	for (uint32_t i = 0; i < n; i++) {
		if (sl_thread_send_msg(mc->rx, msg_rx, mc)) {
			g_send_enomem++;
			n = i;
			break;
		}
		mc->sent++;
	}
	return n ? SL_POLLER_BUSY : SL_POLLER_IDLE;
}

static void msg_tx_start(void *arg)
{
	struct msg_ctx *mc = arg;

	if (!mc->rx)
		mc->rx = sl_get_thread();
	mc->start = sl_get_ticks();
	mc->poller = sl_poller_register_named(msg_tx_poll, mc, 0, "bench_tx");
	if (!mc->poller) {
		fail("cannot register the sender poller");
		go_next();
	}
}

static void phase_msgs(struct msg_ctx *mc, enum row_id row, bool cross)
{
	struct sl_thread *tx;

	memset(mc, 0, sizeof(*mc));
	mc->row = row;
	tx = sl_thread_create(cross ? "bench_tx" : "bench_self", (int32_t)g_core[0]);
	if (cross)
		mc->rx = sl_thread_create("bench_rx", (int32_t)g_core[1]);
	if (!tx || (cross && !mc->rx) || sl_thread_send_msg(tx, msg_tx_start, mc)) {
		fail("cannot start the message threads");
		go_next();
	}
}

/* ---- bare ring across cores: producer on the app thread, consumer on core B ---- */

struct xring_ctx {
	struct sl_ring *ring;
	struct sl_thread *consumer;
	_Atomic bool ready;
	_Atomic bool stop;
	_Atomic uint64_t sent_total;
	_Atomic uint64_t received __attribute__((aligned(64)));
	char pad[56];
};

static struct xring_ctx g_xring;

static void xring_consume(void *arg)
{
	struct xring_ctx *x = arg;
	struct elem batch[MSG_BURST];
	uint64_t rcv = 0;

	atomic_store(&x->ready, true);
	for (;;) {
		size_t n = sl_ring_dequeue_elem(x->ring, batch, sizeof(batch[0]), MSG_BURST);

		if (n) {
			rcv += n;
			atomic_store_explicit(&x->received, rcv, memory_order_release);
			continue;
		}
		if (atomic_load_explicit(&x->stop, memory_order_acquire) &&
		    rcv == atomic_load(&x->sent_total))
			break;
	}
	sl_ring_free(x->ring);
	x->ring = NULL;
	sl_thread_exit(sl_get_thread());
	go_next();
}

static void phase_xring(void)
{
	struct xring_ctx *x = &g_xring;
	struct elem e = { .fn = thread_exit_msg, .ctx = x };
	uint64_t sent = 0, start, now, t0 = 0, r0 = 0, rcv;

	memset(x, 0, sizeof(*x));
	x->ring = sl_ring_create_elem(SL_RING_MP_SC, MSG_RING_COUNT, sizeof(struct elem));
	x->consumer = sl_thread_create("bench_cons", (int32_t)g_core[1]);
	if (!x->ring || !x->consumer || sl_thread_send_msg(x->consumer, xring_consume, x)) {
		fail("cannot start the ring consumer");
		go_next();
		return;
	}
	while (!atomic_load(&x->ready))
		;
	start = sl_get_ticks();
	for (;;) {
		uint32_t n;

		rcv = atomic_load_explicit(&x->received, memory_order_acquire);
		now = sl_get_ticks();
		if (!t0) {
			if (now - start >= g_warm) {
				t0 = now;
				r0 = rcv;
			}
		} else if (now - t0 >= g_dur) {
			break;
		}
		n = g_window - (uint32_t)(sent - rcv);
		for (uint32_t i = 0; i < n; i++) {
			if (sl_ring_enqueue_elem(x->ring, &e, sizeof(e), 1, NULL) != 1) {
				fail("ring x-core: enqueue failed");
				break;
			}
			sent++;
		}
	}
	g_rows[R_XRING].rate = rate_of(rcv - r0, now - t0);
	atomic_store(&x->sent_total, sent);
	atomic_store_explicit(&x->stop, true, memory_order_release);
	/* The consumer calls go_next once it has drained the ring. */
}

/* ---- sequence ---- */

enum phase {
	PH_IDLE,
	PH_PAIRS,
	PH_BARE,
	PH_SELF,
	PH_XRING,
	PH_XMSG,
	PH_END,
};

static enum phase g_phase = PH_IDLE;

static void phase_run(void)
{
	switch (g_phase) {
	case PH_IDLE:
		read_proc_stat(&g_stat_busy0, &g_stat_total0);
		g_self_cpu0 = self_cpu_seconds();
		g_wall0 = wall_seconds();
		phase_idle();
		break;
	case PH_PAIRS:
		phase_pairs();
		break;
	case PH_BARE:
		phase_bare();
		break;
	case PH_SELF:
		phase_msgs(&g_self, R_SELF, false);
		break;
	case PH_XRING:
		phase_xring();
		break;
	case PH_XMSG:
		phase_msgs(&g_xmsg, R_XMSG, true);
		break;
	case PH_END:
		read_proc_stat(&g_stat_busy1, &g_stat_total1);
		g_self_cpu1 = self_cpu_seconds();
		g_wall1 = wall_seconds();
		sl_app_stop(g_fail ? 1 : 0);
		break;
	}
}

static void phase_next(void *arg)
{
	if (g_fail && g_phase < PH_END)
		g_phase = PH_END;
	else
		g_phase++;
	phase_run();
}

static void bench_start(void *arg)
{
	g_app = sl_get_thread();
	g_hz = sl_get_ticks_hz();
	g_dur = (uint64_t)(g_secs * (double)g_hz);
	g_warm = WARM_US * g_hz / 1000000ULL;
	g_core[0] = sl_env_get_first_core();
	g_core[1] = sl_env_get_next_core(g_core[0]);
	if (g_core[1] == UINT32_MAX) {
		fail("needs two reactor cores (-m 0x3)");
		sl_app_stop(1);
		return;
	}
	phase_run();
}

/* ---- report ---- */

static void print_row(int i)
{
	const struct row *r = &g_rows[i];
	char rate[32], peer[48] = "-", ratio[16] = "-";

	snprintf(rate, sizeof(rate), "%.2f %s", r->rate / 1e6, r->unit);
	if (r->peer >= 0) {
		const struct row *p = &g_rows[r->peer];

		snprintf(peer, sizeof(peer), "%s %.2f %s",
			 g_peer_name[r->peer] ? g_peer_name[r->peer] : p->what, p->rate / 1e6,
			 p->unit);
		if (p->rate > 0)
			snprintf(ratio, sizeof(ratio), "%.2f", r->rate / p->rate);
	}
	printf("%-30s %-14s %7.1f   %-26s %s\n", r->what, rate, r->rate > 0 ? 1e9 / r->rate : 0,
	       peer, ratio);
}

static void report(void)
{
	long tck = sysconf(_SC_CLK_TCK);
	double wall = g_wall1 - g_wall0;
	double all = tck > 0 ? (double)(g_stat_busy1 - g_stat_busy0) / (double)tck : 0;
	double others = all - (g_self_cpu1 - g_self_cpu0);

	printf("msg_bench: %.1f s per case (+%.1f s warm-up), window %u messages, "
	       "reactor A = core %u (main, app thread), B = core %u\n\n",
	       g_secs, WARM_US / 1e6, g_window, g_core[0], g_core[1]);
	printf("%-30s %-14s %7s   %-26s %s\n", "what", "rate", "ns/op", "ceiling / peer", "ratio");
	for (int i = R_XMSG; i <= R_IDLE0; i++)
		print_row(i);
	printf("-- ceilings and diagnostics --\n");
	for (int i = R_XRING; i < R_COUNT; i++)
		print_row(i);
	printf("\n");
	if (g_send_enomem)
		printf("WARNING: %lu sends failed with -ENOMEM (ring full)\n",
		       (unsigned long)g_send_enomem);
	if (others < 0)
		others = 0;
	/* Parsed by msg.sh: CPU used by other processes while the cases ran. */
	printf("other-cpu-during-run: %.1f%% of one core (%.2f s over %.1f s)\n",
	       wall > 0 ? 100.0 * others / wall : 0, others, wall);
}

/* ---- main ---- */

static void bench_usage(void)
{
	printf("msg_bench options:\n"
	       " -t SEC                    seconds per case (default %.0f)\n"
	       " -w N                      messages in flight (default %d)\n",
	       DEFAULT_SECS, DEFAULT_WINDOW);
}

static int bench_parse(int ch, char *arg)
{
	char *end;

	switch (ch) {
	case 't':
		g_secs = strtod(arg, &end);
		if (*end || end == arg || !(g_secs >= 0.05 && g_secs <= 600)) {
			fprintf(stderr, "msg_bench: -t wants seconds, 0.05 to 600\n");
			return -EINVAL;
		}
		return 0;
	case 'w': {
		unsigned long w = strtoul(arg, &end, 10);

		if (*end || end == arg || w == 0 || w >= MSG_RING_COUNT) {
			fprintf(stderr, "msg_bench: -w wants 1 to %d\n", MSG_RING_COUNT - 1);
			return -EINVAL;
		}
		g_window = (uint32_t)w;
		return 0;
	}
	}
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct sl_app_opts opts;
	int rc;

	sl_app_opts_init(&opts);
	opts.name = "msg_bench";
	opts.reactor_mask = "0x3";
	opts.rpc_addr = NULL;
	opts.idle_sleep = false;
	opts.no_huge = true;
	opts.usage_extra = bench_usage;
	sl_log_set_print_level(SL_LOG_WARN);
	switch (sl_app_parse_args(argc, argv, &opts, "t:w:", NULL, bench_parse)) {
	case SL_APP_PARSE_SUCCESS:
		break;
	case SL_APP_PARSE_EXIT:
		return 0;
	default:
		return 1;
	}
	rc = sl_app_start(&opts, bench_start, NULL);
	sl_app_fini();
	if (rc || g_fail) {
		fprintf(stderr, "msg_bench: failed (%d)\n", rc);
		return 1;
	}
	report();
	return 0;
}
