/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/env: core masks, rings (no EAL needed), then with the EAL started once
 * for the whole program (--no-huge, core 0): mempools, DMA memory, IOVA
 * translation and memory-map notifications.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../ut_common.h"

#include <errno.h>
#include <sched.h>
#include <unistd.h>

#include "sluice/env.h"

/* ---- core masks ---- */

static void expect_mask(const char *mask, uint64_t lo, uint64_t hi)
{
	uint64_t cores[2] = { ~0ULL, ~0ULL };
	int rc = sl_env_parse_core_mask(mask, cores);

	if (rc)
		fail_msg("mask '%s': rc %d", mask, rc);
	if (cores[0] != lo || cores[1] != hi)
		fail_msg("mask '%s': got %#" PRIx64 ":%#" PRIx64 ", want %#" PRIx64 ":%#" PRIx64,
			 mask, cores[1], cores[0], hi, lo);
}

static void expect_bad_mask(const char *mask)
{
	uint64_t cores[2];
	int rc = sl_env_parse_core_mask(mask, cores);

	if (rc != -EINVAL)
		fail_msg("mask '%s': expected -EINVAL, got %d", mask ? mask : "(null)", rc);
}

static void test_core_mask_hex(void **state)
{
	(void)state;
	expect_mask("0x1", 1, 0);
	expect_mask("0x3", 3, 0);
	expect_mask("3", 3, 0);
	expect_mask("0XfF", 0xff, 0);
	expect_mask("0xAbC", 0xabc, 0);
	expect_mask("0x8000000000000000", 0x8000000000000000ULL, 0);
	expect_mask("0x10000000000000000", 0, 1);
	expect_mask("0xffffffffffffffffffffffffffffffff", ~0ULL, ~0ULL); /* 128 cores */
	expect_mask("0x00000001", 1, 0);
}

static void test_core_mask_list(void **state)
{
	(void)state;
	expect_mask("[0]", 1, 0);
	expect_mask("[0,1]", 3, 0);
	expect_mask("[0,2-3]", 0xd, 0);
	expect_mask("[1-1]", 2, 0);
	expect_mask("[3,1,2]", 0xe, 0);
	expect_mask("[0-127]", ~0ULL, ~0ULL);
	expect_mask("[64]", 0, 1);
	expect_mask("[63-64]", 1ULL << 63, 1);
}

static void test_core_mask_invalid(void **state)
{
	static const char *const bad[] = {
		"",	   "0x",    "0x0",
		"0",	   "00",    "0xg",
		"xyz",	   "-1",    " 0x1",
		"0x1 ",	   "0x1,2", "[]",
		"[",	   "[0",    "0]",
		"[0,,1]",  "[a]",   "[-1]",
		"[0-]",	   "[3-1]", "[128]",
		"[0-128]", "[0]x",  "[0;1]",
		"[ 0]",	   "[0 ]",  "0x1ffffffffffffffffffffffffffffffff", /* 129 bits */
	};

	(void)state;
	for (size_t i = 0; i < UT_COUNTOF(bad); i++)
		expect_bad_mask(bad[i]);
	expect_bad_mask(NULL);
}

/* ---- rings ---- */

static void test_ring_fifo_and_full(void **state)
{
	struct sl_ring *r = sl_ring_create(SL_RING_MP_SC, 1000, SL_ENV_SOCKET_ID_ANY);
	size_t n = 0, free_space = 12345;
	void *obj;

	(void)state;
	assert_non_null(r);
	assert_int_equal(sl_ring_count(r), 0);
	/* Fill one by one: at least the requested capacity fits. */
	for (;;) {
		obj = (void *)(uintptr_t)(n + 1);
		if (sl_ring_enqueue(r, &obj, 1, &free_space) == 0)
			break;
		n++;
		assert_true(n < 1000000);
	}
	assert_true(n >= 1000);
	assert_int_equal(sl_ring_count(r), n);
	assert_int_equal(free_space, 0);
	/* Full: a burst enqueues nothing. */
	{
		void *objs[4] = { 0 };

		assert_int_equal(sl_ring_enqueue(r, objs, 4, &free_space), 0);
		assert_int_equal(free_space, 0);
	}
	/* FIFO. */
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(sl_ring_dequeue(r, &obj, 1), 1);
		assert_int_equal((uintptr_t)obj, i + 1);
	}
	assert_int_equal(sl_ring_dequeue(r, &obj, 1), 0);
	assert_int_equal(sl_ring_count(r), 0);

	/* Bursts: partial enqueue when nearly full, dequeue returns what is there. */
	{
		void *in[64], *out[64];

		for (size_t i = 0; i < 64; i++)
			in[i] = (void *)(uintptr_t)(i + 100);
		assert_int_equal(sl_ring_enqueue(r, in, 64, &free_space), 64);
		assert_int_equal(free_space, n - 64);
		assert_int_equal(sl_ring_dequeue(r, out, 10), 10);
		assert_int_equal(sl_ring_dequeue(r, out + 10, 64), 54);
		for (size_t i = 0; i < 64; i++)
			assert_ptr_equal(out[i], in[i]);
	}
	sl_ring_free(r);
}

static void test_ring_types_and_bad_args(void **state)
{
	static const enum sl_ring_type types[] = { SL_RING_MP_SC, SL_RING_SP_SC, SL_RING_MP_MC };

	(void)state;
	for (size_t t = 0; t < UT_COUNTOF(types); t++) {
		struct sl_ring *r = sl_ring_create(types[t], 4, SL_ENV_SOCKET_ID_ANY);
		void *objs[8] = { (void *)1, (void *)2, (void *)3, (void *)4,
				  (void *)5, (void *)6, (void *)7, (void *)8 };
		void *out[8];
		size_t in;

		assert_non_null(r);
		in = sl_ring_enqueue(r, objs, 8, NULL);
		assert_true(in >= 4);
		assert_int_equal(sl_ring_dequeue(r, out, 8), in);
		for (size_t i = 0; i < in; i++)
			assert_ptr_equal(out[i], objs[i]);
		sl_ring_free(r);
	}
	assert_null(sl_ring_create(SL_RING_MP_SC, 0, SL_ENV_SOCKET_ID_ANY));
	assert_null(sl_ring_create_elem(SL_RING_MP_SC, 16, 0));
	assert_null(sl_ring_create_elem(SL_RING_MP_SC, 16, 6)); /* not a multiple of 4 */
	assert_null(sl_ring_create((enum sl_ring_type)42, 16, SL_ENV_SOCKET_ID_ANY));
	sl_ring_free(NULL);
}

struct elem {
	uint64_t a;
	uint32_t b;
	uint32_t c;
};

static void test_ring_elem(void **state)
{
	struct sl_ring *r = sl_ring_create_elem(SL_RING_MP_SC, 100, sizeof(struct elem));
	struct elem in[150], out[150];
	size_t free_space, n;

	(void)state;
	assert_non_null(r);
	for (size_t i = 0; i < UT_COUNTOF(in); i++)
		in[i] = (struct elem){ .a = 0x1122334455667788ULL + i, .b = (uint32_t)i, .c = ~0u };
	n = sl_ring_enqueue_elem(r, in, sizeof(struct elem), UT_COUNTOF(in), &free_space);
	assert_true(n >= 100);
	assert_true(n < UT_COUNTOF(in)); /* capacity is bounded */
	assert_int_equal(free_space, 0);
	assert_int_equal(sl_ring_count(r), n);
	assert_int_equal(sl_ring_enqueue_elem(r, in, sizeof(struct elem), 1, NULL), 0);
	/* Copied out in order, contents intact. */
	assert_int_equal(sl_ring_dequeue_elem(r, out, sizeof(struct elem), 7), 7);
	assert_int_equal(sl_ring_dequeue_elem(r, out + 7, sizeof(struct elem), UT_COUNTOF(out)),
			 n - 7);
	assert_memory_equal(in, out, n * sizeof(struct elem));
	assert_int_equal(sl_ring_dequeue_elem(r, out, sizeof(struct elem), 1), 0);
	sl_ring_free(r);
}

/* Several producers into an MP_SC ring, one consumer: nothing lost or duplicated. */
#define MP_PRODUCERS 3
#define MP_PER_PRODUCER 50000

struct mp_arg {
	struct sl_ring *r;
	uint32_t id;
	pthread_t tid;
};

static void *mp_producer(void *arg)
{
	struct mp_arg *a = arg;

	for (uint32_t seq = 0; seq < MP_PER_PRODUCER; seq++) {
		void *obj = (void *)(uintptr_t)(((uint64_t)a->id << 32) | seq);

		while (sl_ring_enqueue(a->r, &obj, 1, NULL) == 0)
			sched_yield();
	}
	return NULL;
}

static void test_ring_mp_sc_threads(void **state)
{
	struct mp_arg args[MP_PRODUCERS];
	uint32_t next[MP_PRODUCERS] = { 0 };
	struct sl_ring *r = sl_ring_create(SL_RING_MP_SC, 256, SL_ENV_SOCKET_ID_ANY);
	uint64_t got = 0, bad = 0, deadline = ut_deadline(60);

	(void)state;
	assert_non_null(r);
	for (uint32_t i = 0; i < MP_PRODUCERS; i++) {
		args[i] = (struct mp_arg){ .r = r, .id = i };
		assert_int_equal(pthread_create(&args[i].tid, NULL, mp_producer, &args[i]), 0);
	}
	while (got < (uint64_t)MP_PRODUCERS * MP_PER_PRODUCER && !ut_expired(deadline)) {
		void *objs[32];
		size_t n = sl_ring_dequeue(r, objs, 32);

		for (size_t i = 0; i < n; i++) {
			uint64_t v = (uint64_t)(uintptr_t)objs[i];
			uint32_t id = (uint32_t)(v >> 32);

			if (id >= MP_PRODUCERS || (uint32_t)v != next[id])
				bad++;
			else
				next[id]++;
		}
		got += n;
	}
	for (uint32_t i = 0; i < MP_PRODUCERS; i++)
		pthread_join(args[i].tid, NULL);
	assert_int_equal(bad, 0);
	assert_int_equal(got, (uint64_t)MP_PRODUCERS * MP_PER_PRODUCER);
	assert_int_equal(sl_ring_count(r), 0);
	sl_ring_free(r);
}

/* ---- with the EAL ---- */

static void test_env_init_bad_args(void **state)
{
	struct sl_env_opts opts;

	(void)state;
	ut_log_capture_start();
	sl_env_opts_init(&opts);
	opts.no_huge = true;
	opts.quiet = true;
	opts.core_mask = "0xzz";
	assert_int_equal(sl_env_init(&opts), -EINVAL);
	UT_ASSERT_LOG("invalid core mask", "0xzz");
	/* A core this machine does not have. */
	opts.core_mask = "[127]";
	assert_int_equal(sl_env_init(&opts), -EINVAL);
	UT_ASSERT_LOG("127");
	ut_log_capture_stop();
	assert_false(sl_env_is_initialized());
}

static void test_env_cores(void **state)
{
	struct sl_env_opts opts;

	(void)state;
	assert_true(sl_env_is_initialized());
	assert_true(sl_env_no_huge());
	assert_int_equal(sl_env_get_core_count(), 1);
	assert_int_equal(sl_env_get_first_core(), 0);
	assert_int_equal(sl_env_get_last_core(), 0);
	assert_int_equal(sl_env_get_next_core(0), UINT32_MAX);
	assert_int_equal(sl_env_get_main_core(), 0);
	assert_int_equal(sl_env_get_current_core(), 0);
	assert_true(sl_get_ticks_hz() > 1000000);
	{
		uint64_t a = sl_get_ticks(), b;

		sl_delay_us(100);
		b = sl_get_ticks();
		assert_true(b - a >= 100 * sl_get_ticks_hz() / 1000000);
	}
	/* Only the main core exists: nowhere to launch. */
	assert_int_equal(sl_env_thread_launch_pinned(0, NULL, NULL), -EINVAL);
	assert_int_equal(sl_env_thread_launch_pinned(1, NULL, NULL), -EINVAL);
	sl_env_opts_init(&opts);
	opts.no_huge = true;
	assert_int_equal(sl_env_init(&opts), -EALREADY);
}

static void test_mempool(void **state)
{
	struct sl_mempool *mp = sl_mempool_create("ut_mp", 1023, 64, SL_MEMPOOL_DEFAULT_CACHE_SIZE,
						  SL_ENV_SOCKET_ID_ANY);
	void *e, *bulk[100];

	(void)state;
	assert_non_null(mp);
	assert_int_equal(sl_mempool_count(mp), 1023);
	e = sl_mempool_get(mp);
	assert_non_null(e);
	memset(e, 0xab, 64); /* the whole element is usable */
	assert_int_equal(sl_mempool_count(mp), 1022);
	assert_int_equal(sl_mempool_get_bulk(mp, bulk, 100), 0);
	assert_int_equal(sl_mempool_count(mp), 922);
	for (size_t i = 0; i < 100; i++) {
		assert_non_null(bulk[i]);
		assert_ptr_not_equal(bulk[i], e);
		for (size_t j = 0; j < i; j++)
			assert_ptr_not_equal(bulk[i], bulk[j]);
	}
	/* More than is left: nothing taken. */
	{
		void **many = calloc(2000, sizeof(void *));

		assert_non_null(many);
		assert_int_equal(sl_mempool_get_bulk(mp, many, 2000), -ENOMEM);
		assert_int_equal(sl_mempool_count(mp), 922);
		free(many);
	}
	sl_mempool_put(mp, e);
	assert_int_equal(sl_mempool_count(mp), 923);
	sl_mempool_put_bulk(mp, bulk, 100);
	assert_int_equal(sl_mempool_count(mp), 1023);

	/* Drain it completely, then it is empty. */
	{
		void **all = calloc(1023, sizeof(void *));
		size_t n = 0;

		assert_non_null(all);
		while (n < 1023 && (all[n] = sl_mempool_get(mp)) != NULL)
			n++;
		assert_int_equal(n, 1023);
		assert_null(sl_mempool_get(mp));
		assert_int_equal(sl_mempool_count(mp), 0);
		sl_mempool_put_bulk(mp, all, n);
		assert_int_equal(sl_mempool_count(mp), 1023);
		free(all);
	}
	/* Names are unique. */
	ut_log_capture_start();
	assert_null(sl_mempool_create("ut_mp", 10, 64, 0, SL_ENV_SOCKET_ID_ANY));
	ut_log_capture_stop();
	sl_mempool_free(mp);
	/* Freed: the name is available again. */
	mp = sl_mempool_create("ut_mp", 10, 64, 0, SL_ENV_SOCKET_ID_ANY);
	assert_non_null(mp);
	assert_int_equal(sl_mempool_count(mp), 10);
	sl_mempool_free(mp);
}

static void test_dma_memory(void **state)
{
	uint64_t iova = 0, iova2, size;
	unsigned char *buf;
	int stack_var = 0;

	(void)state;
	/* Dirty some memory first so that zeroing is not an accident. */
	buf = sl_dma_malloc(64 * 1024, 4096, NULL);
	assert_non_null(buf);
	memset(buf, 0xcd, 64 * 1024);
	sl_dma_free(buf);

	buf = sl_dma_zmalloc(64 * 1024, 4096, &iova);
	assert_non_null(buf);
	assert_int_equal((uintptr_t)buf % 4096, 0);
	assert_true(iova != SL_VTOIOVA_ERROR);
	for (size_t i = 0; i < 64 * 1024; i++)
		if (buf[i])
			fail_msg("byte %zu of sl_dma_zmalloc memory is %#x", i, buf[i]);

	/* sl_vtoiova agrees, inside the buffer too. */
	assert_true(sl_vtoiova(buf, NULL) == iova);
	assert_true(sl_vtoiova(buf + 5000, NULL) == iova + 5000);
	size = 4096;
	iova2 = sl_vtoiova(buf + 100, &size);
	assert_true(iova2 == iova + 100);
	assert_true(size > 0 && size <= 4096);

	/* Memory the environment does not know. */
	assert_true(sl_vtoiova(&stack_var, NULL) == SL_VTOIOVA_ERROR);
	size = 4096;
	assert_true(sl_vtoiova(&stack_var, &size) == SL_VTOIOVA_ERROR);
	{
		void *heap = malloc(4096);

		assert_true(sl_vtoiova(heap, NULL) == SL_VTOIOVA_ERROR);
		free(heap);
	}

	/* realloc keeps the contents. */
	buf[0] = 0x5a;
	buf[64 * 1024 - 1] = 0xa5;
	buf = sl_dma_realloc(buf, 256 * 1024, 4096, &iova2);
	assert_non_null(buf);
	assert_int_equal(buf[0], 0x5a);
	assert_int_equal(buf[64 * 1024 - 1], 0xa5);
	assert_true(iova2 != SL_VTOIOVA_ERROR);
	assert_true(sl_vtoiova(buf, NULL) == iova2);
	sl_dma_free(buf);
	sl_dma_free(NULL);
}

/* ---- memory-map notifications ---- */

#define MAX_EVENTS 4096

struct map_event {
	enum sl_mem_map_action action;
	void *vaddr;
	size_t len;
};

struct map_log {
	struct map_event ev[MAX_EVENTS];
	size_t n;
	int fail_register_at; /* 1-based REGISTER to fail; 0: none */
	size_t registers;
};

static int map_notify(void *ctx, enum sl_mem_map_action action, void *vaddr, size_t len)
{
	struct map_log *l = ctx;

	if (l->n < MAX_EVENTS)
		l->ev[l->n++] = (struct map_event){ action, vaddr, len };
	if (action == SL_MEM_MAP_REGISTER) {
		l->registers++;
		if (l->fail_register_at && l->registers == (size_t)l->fail_register_at)
			return -ENOSPC;
	}
	return 0;
}

static void test_mem_map_replay(void **state)
{
	static struct map_log log;
	struct sl_mem_map_notifier *n;
	size_t nreg, total = 0;
	int rc = 1;

	(void)state;
	memset(&log, 0, sizeof(log));
	n = sl_mem_map_notifier_register(map_notify, &log, &rc);
	assert_non_null(n);
	assert_int_equal(rc, 0);
	assert_true(log.n >= 1);
	nreg = log.n;
	for (size_t i = 0; i < nreg; i++) {
		assert_int_equal(log.ev[i].action, SL_MEM_MAP_REGISTER);
		assert_non_null(log.ev[i].vaddr);
		assert_true(log.ev[i].len > 0);
		total += log.ev[i].len;
	}
	assert_true(total > 0);
	/* DMA memory lies inside a replayed region. */
	{
		char *buf = sl_dma_malloc(4096, 64, NULL);
		bool inside = false;

		assert_non_null(buf);
		for (size_t i = 0; i < nreg; i++)
			inside |= buf >= (char *)log.ev[i].vaddr &&
				  buf + 4096 <= (char *)log.ev[i].vaddr + log.ev[i].len;
		sl_dma_free(buf);
		assert_true(inside);
	}

	/* Unregister replays UNREGISTER for the same regions. */
	sl_mem_map_notifier_unregister(n);
	assert_int_equal(log.n, 2 * nreg);
	for (size_t i = 0; i < nreg; i++) {
		struct map_event *u = &log.ev[nreg + i];
		bool match = false;

		assert_int_equal(u->action, SL_MEM_MAP_UNREGISTER);
		for (size_t j = 0; j < nreg; j++)
			match |= log.ev[j].vaddr == u->vaddr && log.ev[j].len == u->len;
		assert_true(match);
	}
	sl_mem_map_notifier_unregister(NULL);
}

static void test_mem_map_register_failure(void **state)
{
	static struct map_log log;
	struct sl_mem_map_notifier *n;
	int rc = 0;

	(void)state;
	/* A region the replay will include after the env's own. */
	size_t len = 3 * 4096 + 123;
	char *ext = malloc(len);

	assert_non_null(ext);
	assert_int_equal(sl_mem_register(ext, len), 0);

	/* The last REGISTER of the replay fails: all or nothing. */
	memset(&log, 0, sizeof(log));
	n = sl_mem_map_notifier_register(map_notify, &log, &rc);
	assert_non_null(n);
	size_t count = log.registers;

	sl_mem_map_notifier_unregister(n);
	memset(&log, 0, sizeof(log));
	log.fail_register_at = (int)count;
	n = sl_mem_map_notifier_register(map_notify, &log, &rc);
	assert_null(n);
	assert_int_equal(rc, -ENOSPC);
	/* The ones that succeeded were unregistered again. */
	{
		size_t regs = 0, unregs = 0;

		for (size_t i = 0; i < log.n; i++) {
			if (log.ev[i].action == SL_MEM_MAP_REGISTER)
				regs++;
			else
				unregs++;
		}
		assert_int_equal(regs, count);
		assert_true(unregs >= count - 1);
	}
	/* Not left registered: a new region is not notified to it. */
	{
		size_t before = log.n;
		char *other = malloc(4096);

		assert_non_null(other);
		assert_int_equal(sl_mem_register(other, 4096), 0);
		assert_int_equal(sl_mem_unregister(other, 4096), 0);
		free(other);
		assert_int_equal(log.n, before);
	}
	assert_int_equal(sl_mem_unregister(ext, len), 0);
	free(ext);
}

/*
 * When a replayed REGISTER fails, the undo must only UNREGISTER the regions
 * that were registered: never the one that failed, never those after it.
 */
static void test_mem_map_register_failure_undo_exact(void **state)
{
	static struct map_log log;
	struct sl_mem_map_notifier *n;
	size_t len = 8192;
	char *ext1, *ext2;
	int rc = 0;

	(void)state;
	ext1 = malloc(len);
	ext2 = malloc(len);
	assert_non_null(ext1);
	assert_non_null(ext2);
	assert_int_equal(sl_mem_register(ext1, len), 0);
	assert_int_equal(sl_mem_register(ext2, len), 0);
	/* Fail the first REGISTER: nothing was registered, nothing may be unregistered. */
	memset(&log, 0, sizeof(log));
	log.fail_register_at = 1;
	n = sl_mem_map_notifier_register(map_notify, &log, &rc);
	assert_null(n);
	assert_int_equal(rc, -ENOSPC);
	for (size_t i = 0; i < log.n; i++)
		if (log.ev[i].action == SL_MEM_MAP_UNREGISTER)
			fail_msg("UNREGISTER of %p+%zu that was never registered", log.ev[i].vaddr,
				 log.ev[i].len);
	assert_int_equal(sl_mem_unregister(ext1, len), 0);
	assert_int_equal(sl_mem_unregister(ext2, len), 0);
	free(ext1);
	free(ext2);
}

static void test_mem_register(void **state)
{
	static struct map_log log;
	struct sl_mem_map_notifier *n;
	size_t len = 1024 * 1024 + 13, base;
	char *region = malloc(len + 64);
	char *va;
	uint64_t size;

	(void)state;
	assert_non_null(region);
	va = region + 3; /* odd alignment: accepted without hugepages */
	memset(&log, 0, sizeof(log));
	n = sl_mem_map_notifier_register(map_notify, &log, NULL);
	assert_non_null(n);
	base = log.n;

	assert_true(sl_vtoiova(va, NULL) == SL_VTOIOVA_ERROR);
	assert_int_equal(sl_mem_register(va, len), 0);
	assert_int_equal(log.n, base + 1);
	assert_int_equal(log.ev[base].action, SL_MEM_MAP_REGISTER);
	assert_ptr_equal(log.ev[base].vaddr, va);
	assert_int_equal(log.ev[base].len, len);

	/* IOVA = VA inside; the contiguous length is clipped at the region's end. */
	assert_true(sl_vtoiova(va, NULL) == (uint64_t)(uintptr_t)va);
	assert_true(sl_vtoiova(va + 1000, NULL) == (uint64_t)(uintptr_t)(va + 1000));
	size = 2 * len;
	assert_true(sl_vtoiova(va + 100, &size) == (uint64_t)(uintptr_t)(va + 100));
	assert_int_equal(size, len - 100);
	size = 10;
	assert_true(sl_vtoiova(va + len - 1, &size) == (uint64_t)(uintptr_t)(va + len - 1));
	assert_int_equal(size, 1);
	assert_true(sl_vtoiova(va + len, NULL) == SL_VTOIOVA_ERROR);
	assert_true(sl_vtoiova(va - 1, NULL) == SL_VTOIOVA_ERROR);

	/* Overlaps and bad arguments. */
	assert_int_equal(sl_mem_register(va + 10, 100), -EEXIST);
	assert_int_equal(sl_mem_register(va - 1, 2), -EEXIST);
	assert_int_equal(sl_mem_register(va, 0), -EINVAL);
	assert_int_equal(sl_mem_unregister(va, len - 1), -ENOENT);
	assert_int_equal(sl_mem_unregister(va + 1, len - 1), -ENOENT);
	assert_int_equal(log.n, base + 1);

	/* A notifier registered now sees the region in its replay. */
	{
		static struct map_log log2;
		struct sl_mem_map_notifier *n2;
		bool seen = false;

		memset(&log2, 0, sizeof(log2));
		n2 = sl_mem_map_notifier_register(map_notify, &log2, NULL);
		assert_non_null(n2);
		for (size_t i = 0; i < log2.n; i++)
			seen |= log2.ev[i].vaddr == va && log2.ev[i].len == len;
		assert_true(seen);
		sl_mem_map_notifier_unregister(n2);
	}

	assert_int_equal(sl_mem_unregister(va, len), 0);
	assert_int_equal(log.n, base + 2);
	assert_int_equal(log.ev[base + 1].action, SL_MEM_MAP_UNREGISTER);
	assert_ptr_equal(log.ev[base + 1].vaddr, va);
	assert_int_equal(log.ev[base + 1].len, len);
	assert_true(sl_vtoiova(va, NULL) == SL_VTOIOVA_ERROR);
	assert_int_equal(sl_mem_unregister(va, len), -ENOENT);

	sl_mem_map_notifier_unregister(n);
	free(region);
}

static int eal_setup(void **state)
{
	struct sl_env_opts opts;

	(void)state;
	sl_env_opts_init(&opts);
	opts.name = "env_ut";
	opts.core_mask = "0x1";
	opts.no_huge = true;
	opts.quiet = true;
	opts.mem_size_mb = 64;
	return sl_env_init(&opts);
}

static int eal_teardown(void **state)
{
	(void)state;
	sl_env_fini();
	return 0;
}

int main(void)
{
	const struct CMUnitTest no_eal[] = {
		cmocka_unit_test(test_core_mask_hex),
		cmocka_unit_test(test_core_mask_list),
		cmocka_unit_test(test_core_mask_invalid),
		cmocka_unit_test(test_ring_fifo_and_full),
		cmocka_unit_test(test_ring_types_and_bad_args),
		cmocka_unit_test(test_ring_elem),
		cmocka_unit_test(test_ring_mp_sc_threads),
		cmocka_unit_test(test_env_init_bad_args),
	};
	const struct CMUnitTest eal[] = {
		cmocka_unit_test(test_env_cores),
		cmocka_unit_test(test_mempool),
		cmocka_unit_test(test_dma_memory),
		cmocka_unit_test(test_mem_map_replay),
		cmocka_unit_test(test_mem_map_register_failure),
		cmocka_unit_test(test_mem_map_register_failure_undo_exact),
		cmocka_unit_test(test_mem_register),
	};
	int failed;

	ut_apply_filter();
	failed = cmocka_run_group_tests_name("env without EAL", no_eal, NULL, NULL);

	failed += cmocka_run_group_tests_name("env with EAL", eal, eal_setup, eal_teardown);
	return failed ? 1 : 0;
}
