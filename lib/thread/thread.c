/* SPDX-License-Identifier: BSD-3-Clause */
/* Threads, messages and pollers. */
#include "thread_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_RING_SIZE 65536
#define MSG_BURST 32
#define EXIT_TIMEOUT_SEC 5

SL_LOG_REGISTER_COMPONENT(thread)

struct msg {
	sl_msg_fn fn;
	void *ctx;
};

pthread_mutex_t g_thread_lock = PTHREAD_MUTEX_INITIALIZER;
struct thread_list g_threads = TAILQ_HEAD_INITIALIZER(g_threads);

static const struct sl_thread_sched_ops *g_ops;
static size_t g_ctx_sz;
static struct sl_thread *g_app_thread;
static uint64_t g_next_thread_id = 1;
static size_t g_thread_count;
static __thread struct sl_thread *tls_thread;

int sl_thread_lib_init(const struct sl_thread_sched_ops *ops, size_t ctx_sz)
{
	g_ops = ops;
	g_ctx_sz = ctx_sz;
	return 0;
}

void sl_thread_lib_fini(void)
{
	g_ops = NULL;
	g_ctx_sz = 0;
}

struct sl_thread *sl_thread_create(const char *name, int32_t core)
{
	struct sl_thread *t;
	int rc;

	if (posix_memalign((void **)&t, 64, sizeof(*t) + g_ctx_sz))
		return NULL;
	memset(t, 0, sizeof(*t) + g_ctx_sz);
	t->msgs = sl_ring_create_elem(SL_RING_MP_SC, MSG_RING_SIZE, sizeof(struct msg));
	if (!t->msgs) {
		SL_ERRLOG("cannot create the message ring of thread %s", name ? name : "");
		free(t);
		return NULL;
	}
	TAILQ_INIT(&t->busy_pollers);
	TAILQ_INIT(&t->channels);
	t->core_hint = core;
	atomic_init(&t->state, THREAD_RUNNING);

	pthread_mutex_lock(&g_thread_lock);
	t->id = g_next_thread_id++;
	if (name)
		snprintf(t->name, sizeof(t->name), "%s", name);
	else
		snprintf(t->name, sizeof(t->name), "thread%" PRIu64, t->id);
	TAILQ_INSERT_TAIL(&g_threads, t, link);
	g_thread_count++;
	if (!g_app_thread)
		g_app_thread = t;
	pthread_mutex_unlock(&g_thread_lock);

	if (g_ops && g_ops->new_thread) {
		rc = g_ops->new_thread(t);
		if (rc) {
			SL_ERRLOG("cannot schedule thread %s: %s", t->name, strerror(-rc));
			atomic_store(&t->state, THREAD_EXITED);
			sl_thread_destroy(t);
			return NULL;
		}
	}
	SL_DEBUGLOG(thread, "created thread %s (id %" PRIu64 ")", t->name, t->id);
	return t;
}

/* The scheduler must forget a poller's fd before the poller's memory goes. */
static void poller_drop_wake_fd(struct sl_poller *p)
{
	if (p->wake_fd >= 0 && g_ops && g_ops->wake_fd)
		g_ops->wake_fd(p->thread, p, p->wake_fd, false);
	p->wake_fd = -1;
}

void sl_thread_destroy(struct sl_thread *thread)
{
	if (!thread)
		return;
	pthread_mutex_lock(&g_thread_lock);
	TAILQ_REMOVE(&g_threads, thread, link);
	g_thread_count--;
	if (g_app_thread == thread)
		g_app_thread = NULL;
	pthread_mutex_unlock(&g_thread_lock);
	if (tls_thread == thread)
		tls_thread = NULL;
	/* Pollers still linked (unregistered late, or forced exit) go with the thread. */
	while (!TAILQ_EMPTY(&thread->busy_pollers)) {
		struct sl_poller *p = TAILQ_FIRST(&thread->busy_pollers);

		TAILQ_REMOVE(&thread->busy_pollers, p, link);
		poller_drop_wake_fd(p);
		free(p);
	}
	for (size_t i = 0; i < thread->heap_len; i++) {
		poller_drop_wake_fd(thread->heap[i]);
		free(thread->heap[i]);
	}
	while (thread->free_pollers) {
		struct sl_poller *p = thread->free_pollers;

		thread->free_pollers = p->free_next;
		free(p);
	}
	sl_ring_free(thread->msgs);
	free(thread->heap);
	free(thread);
}

int sl_thread_exit(struct sl_thread *thread)
{
	int expected = THREAD_RUNNING;

	if (atomic_compare_exchange_strong(&thread->state, &expected, THREAD_EXITING))
		thread->exit_start_tsc = sl_get_ticks();
	return 0;
}

bool sl_thread_is_exited(const struct sl_thread *thread)
{
	return atomic_load(&((struct sl_thread *)thread)->state) == THREAD_EXITED;
}

bool sl_thread_is_running(const struct sl_thread *thread)
{
	return atomic_load(&((struct sl_thread *)thread)->state) == THREAD_RUNNING;
}

void *sl_thread_get_ctx(struct sl_thread *thread)
{
	return g_ctx_sz ? thread->ctx : NULL;
}

struct sl_thread *sl_thread_get_from_ctx(void *ctx)
{
	return (struct sl_thread *)((char *)ctx - offsetof(struct sl_thread, ctx));
}

int32_t sl_thread_get_core_hint(const struct sl_thread *thread)
{
	return thread->core_hint;
}

const char *sl_thread_get_name(const struct sl_thread *thread)
{
	return thread->name;
}

uint64_t sl_thread_get_id(const struct sl_thread *thread)
{
	return thread->id;
}

struct sl_thread *sl_thread_get_app_thread(void)
{
	return g_app_thread;
}

size_t sl_thread_get_count(void)
{
	size_t n;

	pthread_mutex_lock(&g_thread_lock);
	n = g_thread_count;
	pthread_mutex_unlock(&g_thread_lock);
	return n;
}

struct sl_thread *sl_get_thread(void)
{
	return tls_thread;
}

void sl_set_thread(struct sl_thread *thread)
{
	tls_thread = thread;
}

void sl_thread_get_stats(const struct sl_thread *thread, struct sl_thread_stats *stats)
{
	*stats = thread->stats;
}

void sl_thread_foreach_locked(void (*fn)(struct sl_thread *thread, void *ctx), void *ctx)
{
	struct sl_thread *t;

	pthread_mutex_lock(&g_thread_lock);
	TAILQ_FOREACH(t, &g_threads, link)
		fn(t, ctx);
	pthread_mutex_unlock(&g_thread_lock);
}

size_t sl_thread_get_poller_counts(const struct sl_thread *thread, size_t *busy, size_t *timed)
{
	if (busy)
		*busy = thread->busy_count;
	if (timed)
		*timed = thread->heap_len;
	return thread->busy_count + thread->heap_len;
}

/* ---- messages ---- */

int sl_thread_send_msg(const struct sl_thread *thread, sl_msg_fn fn, void *ctx)
{
	struct sl_thread *t = (struct sl_thread *)thread;
	struct msg m = { .fn = fn, .ctx = ctx };

	if (atomic_load_explicit(&t->state, memory_order_relaxed) == THREAD_EXITED)
		return -EIO;
	if (sl_ring_enqueue_elem(t->msgs, &m, sizeof(m), 1, NULL) != 1)
		return -ENOMEM;
	if (g_ops && g_ops->wakeup)
		g_ops->wakeup(t);
	return 0;
}

bool sl_thread_has_messages(const struct sl_thread *thread)
{
	return sl_ring_count(thread->msgs) != 0;
}

static uint32_t process_msgs(struct sl_thread *t, uint32_t max)
{
	struct msg batch[MSG_BURST];
	uint32_t total = 0;

	if (max == 0 || max > MSG_BURST)
		max = MSG_BURST;
	size_t n = sl_ring_dequeue_elem(t->msgs, batch, sizeof(batch[0]), max);

	for (size_t i = 0; i < n; i++)
		batch[i].fn(batch[i].ctx);
	total += (uint32_t)n;
	t->stats.msgs += n;
	return total;
}

/* ---- timed poller heap ---- */

static bool poller_before(const struct sl_poller *a, const struct sl_poller *b)
{
	return a->next_run < b->next_run || (a->next_run == b->next_run && a->seq < b->seq);
}

static void heap_set(struct sl_thread *t, size_t i, struct sl_poller *p)
{
	t->heap[i] = p;
	p->heap_idx = i;
}

static void heap_sift_up(struct sl_thread *t, size_t i)
{
	struct sl_poller *p = t->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!poller_before(p, t->heap[parent]))
			break;
		heap_set(t, i, t->heap[parent]);
		i = parent;
	}
	heap_set(t, i, p);
}

static void heap_sift_down(struct sl_thread *t, size_t i)
{
	struct sl_poller *p = t->heap[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct sl_poller *best = p;

		if (l < t->heap_len && poller_before(t->heap[l], best)) {
			m = l;
			best = t->heap[l];
		}
		if (r < t->heap_len && poller_before(t->heap[r], best)) {
			m = r;
			best = t->heap[r];
		}
		if (m == i)
			break;
		heap_set(t, i, best);
		i = m;
	}
	heap_set(t, i, p);
}

static int heap_push(struct sl_thread *t, struct sl_poller *p)
{
	if (t->heap_len == t->heap_cap) {
		size_t cap = t->heap_cap ? t->heap_cap * 2 : 16;
		struct sl_poller **h = realloc(t->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		t->heap = h;
		t->heap_cap = cap;
	}
	heap_set(t, t->heap_len++, p);
	heap_sift_up(t, t->heap_len - 1);
	return 0;
}

static void heap_remove(struct sl_thread *t, struct sl_poller *p)
{
	size_t i = p->heap_idx;
	struct sl_poller *last = t->heap[--t->heap_len];

	p->heap_idx = SIZE_MAX;
	if (i == t->heap_len)
		return;
	heap_set(t, i, last);
	if (i > 0 && poller_before(last, t->heap[(i - 1) / 2]))
		heap_sift_up(t, i);
	else
		heap_sift_down(t, i);
}

uint64_t sl_thread_get_last_tsc(const struct sl_thread *thread)
{
	return thread->last_tsc;
}

uint64_t sl_thread_next_poller_expiration(const struct sl_thread *thread)
{
	return thread->heap_len ? thread->heap[0]->next_run : 0;
}

/* ---- pollers ---- */

struct sl_poller *sl_poller_register_named(sl_poller_fn fn, void *ctx, uint64_t period_us,
					   const char *name)
{
	struct sl_thread *t = sl_get_thread();
	struct sl_poller *p;

	if (!t) {
		SL_ERRLOG("poller %s registered outside an sl_thread", name ? name : "");
		return NULL;
	}
	if (!sl_thread_is_running(t)) {
		SL_ERRLOG("poller %s registered on exiting thread %s", name ? name : "", t->name);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->fn = fn;
	p->ctx = ctx;
	p->thread = t;
	p->heap_idx = SIZE_MAX;
	p->state = POLLER_WAITING;
	p->wake_fd = -1;
	snprintf(p->name, sizeof(p->name), "%s", name ? name : "poller");
	if (period_us == 0) {
		TAILQ_INSERT_TAIL(&t->busy_pollers, p, link);
		t->busy_count++;
		return p;
	}
	p->period_ticks = period_us * sl_get_ticks_hz() / 1000000ULL;
	if (p->period_ticks == 0)
		p->period_ticks = 1;
	p->next_run = sl_get_ticks() + p->period_ticks;
	p->seq = t->poller_seq++;
	if (heap_push(t, p)) {
		free(p);
		return NULL;
	}
	return p;
}

struct sl_poller *sl_poller_register(sl_poller_fn fn, void *ctx, uint64_t period_us)
{
	return sl_poller_register_named(fn, ctx, period_us, NULL);
}

void sl_poller_unregister(struct sl_poller **pp)
{
	struct sl_poller *p = *pp;
	struct sl_thread *t;

	if (!p)
		return;
	*pp = NULL;
	t = p->thread;
	if (t != sl_get_thread())
		SL_ERRLOG("poller %s unregistered from a thread that does not own it", p->name);
	if (p->state == POLLER_UNREGISTERED)
		return;
	if (p->wake_fd >= 0 && g_ops && g_ops->wake_fd) {
		g_ops->wake_fd(t, p, p->wake_fd, false);
		p->wake_fd = -1;
	}
	if (p->period_ticks == 0) {
		t->busy_count--;
		if (t->in_poll) {
			/* The busy loop may be iterating over it: unlink after the loop. */
			p->state = POLLER_UNREGISTERED;
			t->busy_dirty = true;
			return;
		}
		TAILQ_REMOVE(&t->busy_pollers, p, link);
	} else if (p->heap_idx != SIZE_MAX) {
		heap_remove(t, p);
	}
	p->state = POLLER_UNREGISTERED;
	if (t->in_poll) {
		p->free_next = t->free_pollers;
		t->free_pollers = p;
	} else {
		free(p);
	}
}

static int run_busy_pollers(struct sl_thread *t)
{
	struct sl_poller *p;
	int busy = 0;

	TAILQ_FOREACH(p, &t->busy_pollers, link) {
		if (p->state == POLLER_UNREGISTERED)
			continue;
		p->state = POLLER_RUNNING;
		busy |= p->fn(p->ctx) > 0;
		if (p->state == POLLER_RUNNING)
			p->state = POLLER_WAITING;
	}
	return busy;
}

/* Unlink busy pollers unregistered while the thread was polling. */
static void sweep_busy_pollers(struct sl_thread *t)
{
	struct sl_poller *p, *tmp;

	t->busy_dirty = false;
	for (p = TAILQ_FIRST(&t->busy_pollers); p; p = tmp) {
		tmp = TAILQ_NEXT(p, link);
		if (p->state != POLLER_UNREGISTERED)
			continue;
		TAILQ_REMOVE(&t->busy_pollers, p, link);
		p->free_next = t->free_pollers;
		t->free_pollers = p;
	}
}

static int run_timed_pollers(struct sl_thread *t, uint64_t now)
{
	int busy = 0;

	while (t->heap_len && t->heap[0]->next_run <= now) {
		struct sl_poller *p = t->heap[0];

		heap_remove(t, p);
		p->state = POLLER_RUNNING;
		busy |= p->fn(p->ctx) > 0;
		if (p->state == POLLER_UNREGISTERED)
			continue; /* sl_poller_unregister queued it for freeing */
		p->state = POLLER_WAITING;
		p->next_run = now + p->period_ticks;
		/* seq stays the registration order: equal deadlines keep that order. */
		if (heap_push(t, p)) {
			SL_ERRLOG("poller %s dropped: out of memory", p->name);
			free(p);
		}
	}
	return busy;
}

static void check_exit(struct sl_thread *t, uint64_t now)
{
	size_t channels = thread_channel_count(t);

	if (t->busy_count == 0 && t->heap_len == 0 && channels == 0 && !sl_thread_has_messages(t)) {
		atomic_store(&t->state, THREAD_EXITED);
		return;
	}
	if (now - t->exit_start_tsc > EXIT_TIMEOUT_SEC * sl_get_ticks_hz()) {
		struct sl_poller *p;

		TAILQ_FOREACH(p, &t->busy_pollers, link)
			if (p->state != POLLER_UNREGISTERED)
				SL_ERRLOG("thread %s exits with busy poller %s still registered",
					  t->name, p->name);
		for (size_t i = 0; i < t->heap_len; i++)
			SL_ERRLOG("thread %s exits with timed poller %s still registered", t->name,
				  t->heap[i]->name);
		if (channels)
			SL_ERRLOG("thread %s exits with %zu io channels still held", t->name,
				  channels);
		atomic_store(&t->state, THREAD_EXITED);
	}
}

int sl_thread_poll(struct sl_thread *thread, uint32_t max_msgs, uint64_t now)
{
	struct sl_thread *orig = tls_thread;
	uint64_t end;
	int busy;

	if (now == 0)
		now = sl_get_ticks();
	tls_thread = thread;
	thread->in_poll = true;

	busy = process_msgs(thread, max_msgs) > 0;
	busy |= run_busy_pollers(thread);
	if (thread->heap_len && thread->heap[0]->next_run <= now)
		busy |= run_timed_pollers(thread, now);

	if (thread->busy_dirty)
		sweep_busy_pollers(thread);
	thread->in_poll = false;
	while (thread->free_pollers) {
		struct sl_poller *p = thread->free_pollers;

		thread->free_pollers = p->free_next;
		free(p);
	}

	end = sl_get_ticks();
	thread->last_tsc = end;
	if (busy)
		thread->stats.busy_tsc += end - now;
	else
		thread->stats.idle_tsc += end - now;

	if (atomic_load_explicit(&thread->state, memory_order_relaxed) == THREAD_EXITING)
		check_exit(thread, end);
	tls_thread = orig;
	return busy ? SL_POLLER_BUSY : SL_POLLER_IDLE;
}

/* ---- wake fds ---- */

int sl_poller_set_wake_fd(struct sl_poller *p, int fd)
{
	int rc;

	if (!g_ops || !g_ops->wake_fd || p->wake_fd >= 0)
		return -EINVAL;
	rc = g_ops->wake_fd(p->thread, p, fd, true);
	if (rc == 0)
		p->wake_fd = fd;
	return rc;
}

void sl_poller_kick(struct sl_poller *p)
{
	struct sl_thread *t = p->thread;

	if (p->state != POLLER_WAITING || p->heap_idx == SIZE_MAX || p->next_run == 0)
		return;
	heap_remove(t, p);
	p->next_run = 0; /* due now; keeps heap order by seq among kicked pollers */
	heap_push(t, p);
}

/* ---- for_each_thread ---- */

struct for_each_thread_ctx {
	struct sl_thread *orig;
	sl_msg_fn fn;
	void *ctx;
	sl_msg_fn cpl;
};

static void for_each_thread_step(void *arg);

/* Send the iteration to the first running thread after cur (or the first one). */
static void for_each_thread_next(struct for_each_thread_ctx *c, struct sl_thread *cur)
{
	struct sl_thread *t;

	pthread_mutex_lock(&g_thread_lock);
	t = cur ? TAILQ_NEXT(cur, link) : TAILQ_FIRST(&g_threads);
	for (; t; t = TAILQ_NEXT(t, link))
		if (sl_thread_is_running(t) && sl_thread_send_msg(t, for_each_thread_step, c) == 0)
			break;
	pthread_mutex_unlock(&g_thread_lock);
	if (t)
		return;
	if (sl_thread_send_msg(c->orig, c->cpl, c->ctx))
		SL_ERRLOG("for_each_thread: cannot complete on thread %s", c->orig->name);
	free(c);
}

static void for_each_thread_step(void *arg)
{
	struct for_each_thread_ctx *c = arg;

	c->fn(c->ctx);
	for_each_thread_next(c, sl_get_thread());
}

int sl_for_each_thread(sl_msg_fn fn, void *ctx, sl_msg_fn cpl)
{
	struct for_each_thread_ctx *c;

	if (!sl_get_thread())
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->orig = sl_get_thread();
	c->fn = fn;
	c->ctx = ctx;
	c->cpl = cpl;
	for_each_thread_next(c, NULL);
	return 0;
}
