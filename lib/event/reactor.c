/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reactors: one busy loop per core running its sl_threads.
 *
 * Idle sleep: a reactor that found no work for idle_threshold sleeps in
 * epoll_pwait2 until its next timed poller is due, a message arrives (the
 * sender writes the reactor's eventfd) or a registered wake fd becomes
 * readable. A loaded reactor never enters the kernel.
 */
#include "event_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

SL_LOG_REGISTER_COMPONENT(reactor)

#define NEW_THREAD_RING 1024

struct reactor;

/* Scheduler context of each sl_thread. */
struct lw_thread {
	struct reactor *reactor;
	TAILQ_ENTRY(lw_thread) link;
};

struct reactor {
	uint32_t core;
	TAILQ_HEAD(, lw_thread) threads;
	size_t thread_count;
	struct sl_ring *new_threads;
	int epfd;
	int efd;
	/* Read by every sender: own cache line, away from the busy loop's counters. */
	_Atomic int sleeping __attribute__((aligned(64)));
	_Atomic bool stop;
	char pad[64 - sizeof(_Atomic int) - sizeof(_Atomic bool)];
	uint64_t busy_tsc;
	uint64_t idle_tsc;
	uint64_t sleeps;
} __attribute__((aligned(64)));

static struct reactor *g_reactors[SL_ENV_MAX_CORES];
static _Atomic uint32_t g_rr_next = UINT32_MAX; /* threads may be created anywhere */
static bool g_idle_sleep;
static uint64_t g_idle_threshold_ticks;
static void (*g_main_hook)(void);

static struct lw_thread *lw(struct sl_thread *t)
{
	return sl_thread_get_ctx(t);
}

static void reactor_wake(struct reactor *r)
{
	uint64_t one = 1;

	if (!g_idle_sleep)
		return; /* reactors never sleep: no fence, no flag to read */
	/*
	 * Pairs with the fence in reactor_sleep: either the sleeper sees the
	 * message we enqueued, or we see its sleeping flag and write the fd.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->sleeping, memory_order_relaxed)) {
		if (write(r->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			SL_ERRLOG("reactor %u: wake-up write failed: %s", r->core, strerror(errno));
	}
}

static int sched_new_thread(struct sl_thread *t)
{
	int32_t hint = sl_thread_get_core_hint(t);
	struct reactor *r = NULL;
	void *obj = t;

	if (hint >= 0 && hint < SL_ENV_MAX_CORES)
		r = g_reactors[hint];
	if (!r) {
		/* Round-robin over the reactors. */
		uint32_t prev = atomic_load(&g_rr_next), c;

		do {
			c = sl_env_get_next_core(prev);
			if (c == UINT32_MAX)
				c = sl_env_get_first_core();
		} while (!atomic_compare_exchange_weak(&g_rr_next, &prev, c));
		r = g_reactors[c];
	}
	if (!r)
		return -ENODEV;
	lw(t)->reactor = r;
	if (sl_ring_enqueue(r->new_threads, &obj, 1, NULL) != 1)
		return -ENOMEM;
	reactor_wake(r);
	return 0;
}

static void sched_wakeup(struct sl_thread *t)
{
	struct reactor *r = lw(t)->reactor;

	if (r)
		reactor_wake(r);
}

static int sched_wake_fd(struct sl_thread *t, struct sl_poller *p, int fd, bool add)
{
	struct reactor *r = lw(t)->reactor;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = p };

	if (!r)
		return -EINVAL;
	if (epoll_ctl(r->epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev))
		return -errno;
	return 0;
}

static const struct sl_thread_sched_ops g_sched_ops = {
	.new_thread = sched_new_thread,
	.wakeup = sched_wakeup,
	.wake_fd = sched_wake_fd,
};

static void reactor_free(struct reactor *r)
{
	if (!r)
		return;
	if (r->epfd >= 0)
		close(r->epfd);
	if (r->efd >= 0)
		close(r->efd);
	sl_ring_free(r->new_threads);
	free(r);
}

static struct reactor *reactor_alloc(uint32_t core)
{
	struct reactor *r;
	struct epoll_event ev = { .events = EPOLLIN };

	if (posix_memalign((void **)&r, 64, sizeof(*r)))
		return NULL;
	memset(r, 0, sizeof(*r));
	r->core = core;
	r->epfd = -1;
	r->efd = -1;
	TAILQ_INIT(&r->threads);
	r->new_threads = sl_ring_create(SL_RING_MP_SC, NEW_THREAD_RING, SL_ENV_SOCKET_ID_ANY);
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!r->new_threads || r->epfd < 0 || r->efd < 0)
		goto out_free;
	ev.data.ptr = NULL; /* the eventfd; pollers' wake fds carry their poller */
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->efd, &ev))
		goto out_free;
	return r;
out_free:
	SL_ERRLOG("cannot create reactor %u: %s", core, strerror(errno));
	reactor_free(r);
	return NULL;
}

int reactors_init(bool idle_sleep, uint64_t idle_threshold_us)
{
	g_idle_sleep = idle_sleep;
	g_idle_threshold_ticks = idle_threshold_us * sl_get_ticks_hz() / 1000000ULL;
	for (uint32_t c = sl_env_get_first_core(); c != UINT32_MAX; c = sl_env_get_next_core(c)) {
		g_reactors[c] = reactor_alloc(c);
		if (!g_reactors[c]) {
			reactors_fini();
			return -ENOMEM;
		}
	}
	return sl_thread_lib_init(&g_sched_ops, sizeof(struct lw_thread));
}

void reactors_fini(void)
{
	sl_thread_lib_fini();
	for (uint32_t c = 0; c < SL_ENV_MAX_CORES; c++) {
		reactor_free(g_reactors[c]);
		g_reactors[c] = NULL;
	}
}

void reactors_set_main_hook(void (*hook)(void))
{
	g_main_hook = hook;
}

void reactors_signal_wake(void)
{
	struct reactor *r = g_reactors[sl_env_get_main_core()];
	uint64_t one = 1;

	if (r && write(r->efd, &one, sizeof(one)) < 0) {
		/* Nothing safe to do in a signal handler; the loop polls the flag anyway. */
	}
}

static void adopt_new_threads(struct reactor *r)
{
	void *objs[16];
	size_t n;

	while ((n = sl_ring_dequeue(r->new_threads, objs, 16)) > 0) {
		for (size_t i = 0; i < n; i++) {
			struct sl_thread *t = objs[i];

			TAILQ_INSERT_TAIL(&r->threads, lw(t), link);
			r->thread_count++;
		}
	}
}

static bool reactor_has_pending(struct reactor *r)
{
	struct lw_thread *l;

	if (sl_ring_count(r->new_threads))
		return true;
	TAILQ_FOREACH(l, &r->threads, link)
		if (sl_thread_has_messages(sl_thread_get_from_ctx(l)))
			return true;
	return false;
}

static void reactor_sleep(struct reactor *r, uint64_t now)
{
	struct epoll_event evs[8];
	struct lw_thread *l;
	uint64_t next = 0, hz = sl_get_ticks_hz();
	struct timespec ts, *tsp = NULL;
	int n;

	TAILQ_FOREACH(l, &r->threads, link) {
		uint64_t e = sl_thread_next_poller_expiration(sl_thread_get_from_ctx(l));

		if (e && (!next || e < next))
			next = e;
	}
	if (next) {
		uint64_t ticks = next > now ? next - now : 0;

		ts.tv_sec = (time_t)(ticks / hz);
		ts.tv_nsec = (long)((ticks % hz) * 1000000000ULL / hz);
		tsp = &ts;
	}

	atomic_store_explicit(&r->sleeping, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (reactor_has_pending(r) || atomic_load(&r->stop)) {
		atomic_store(&r->sleeping, 0);
		return;
	}
	r->sleeps++;
	n = epoll_pwait2(r->epfd, evs, 8, tsp, NULL);
	atomic_store(&r->sleeping, 0);
	for (int i = 0; i < n; i++) {
		if (evs[i].data.ptr == NULL) {
			uint64_t v;

			if (read(r->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				SL_ERRLOG("reactor %u: eventfd read: %s", r->core, strerror(errno));
		} else {
			sl_poller_kick(evs[i].data.ptr);
		}
	}
}

static void reactor_exit_threads(struct reactor *r)
{
	struct lw_thread *l;

	TAILQ_FOREACH(l, &r->threads, link)
		sl_thread_exit(sl_thread_get_from_ctx(l));
}

static int reactor_run(void *arg)
{
	struct reactor *r = arg;
	uint64_t now = sl_get_ticks(), last_busy = now, last = now;
	bool stopping = false;
	bool is_main = r->core == sl_env_get_main_core();

	SL_DEBUGLOG(reactor, "reactor %u running", r->core);
	for (;;) {
		struct lw_thread *l, *tmp;
		int busy = 0;

		if (is_main && g_main_hook)
			g_main_hook();
		adopt_new_threads(r);
		if (!stopping && atomic_load_explicit(&r->stop, memory_order_relaxed)) {
			stopping = true;
			reactor_exit_threads(r);
		}
		for (l = TAILQ_FIRST(&r->threads); l; l = tmp) {
			struct sl_thread *t = sl_thread_get_from_ctx(l);

			tmp = TAILQ_NEXT(l, link);
			busy |= sl_thread_poll(t, 0, now);
			/* Its end time is the next thread's start: one clock read per thread. */
			now = sl_thread_get_last_tsc(t);
			if (sl_thread_is_exited(t)) {
				TAILQ_REMOVE(&r->threads, l, link);
				r->thread_count--;
				sl_thread_destroy(t);
			}
		}
		if (stopping) {
			/* Threads created while stopping must exit too. */
			reactor_exit_threads(r);
			if (TAILQ_EMPTY(&r->threads) && !sl_ring_count(r->new_threads))
				break;
		}

		if (TAILQ_EMPTY(&r->threads))
			now = sl_get_ticks();
		if (busy) {
			r->busy_tsc += now - last;
			last_busy = now;
		} else {
			r->idle_tsc += now - last;
			if (g_idle_sleep && !stopping &&
			    now - last_busy >= g_idle_threshold_ticks) {
				reactor_sleep(r, now);
				now = sl_get_ticks();
			}
		}
		last = now;
	}
	SL_DEBUGLOG(reactor, "reactor %u stopped", r->core);
	return 0;
}

void reactors_run(void)
{
	uint32_t main_core = sl_env_get_main_core();

	for (uint32_t c = sl_env_get_first_core(); c != UINT32_MAX; c = sl_env_get_next_core(c)) {
		if (c == main_core)
			continue;
		if (sl_env_thread_launch_pinned(c, reactor_run, g_reactors[c]))
			SL_ERRLOG("cannot launch reactor on core %u", c);
	}
	reactor_run(g_reactors[main_core]);
	sl_env_thread_wait_all();
}

void reactors_stop(void)
{
	for (uint32_t c = 0; c < SL_ENV_MAX_CORES; c++) {
		struct reactor *r = g_reactors[c];

		if (!r)
			continue;
		atomic_store(&r->stop, true);
		reactor_wake(r);
	}
}

size_t sl_reactor_get_info(struct sl_reactor_info *info, size_t max)
{
	size_t n = 0;

	for (uint32_t c = 0; c < SL_ENV_MAX_CORES && n < max; c++) {
		struct reactor *r = g_reactors[c];

		if (!r)
			continue;
		info[n].core = c;
		info[n].busy_tsc = r->busy_tsc;
		info[n].idle_tsc = r->idle_tsc;
		info[n].sleeps = r->sleeps;
		info[n].sleeping = atomic_load(&r->sleeping);
		n++;
	}
	return n;
}

uint32_t sl_reactor_core_of_thread(struct sl_thread *thread)
{
	struct lw_thread *l = sl_thread_get_ctx(thread);

	return l && l->reactor ? l->reactor->core : UINT32_MAX;
}
