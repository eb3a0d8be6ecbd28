/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMA memory, IOVA translation and memory-map notifications.
 *
 * Lock order: DPDK's memory hotplug lock, then g_map_lock. DPDK calls our
 * event callback with its hotplug lock held, so every path that takes both
 * takes DPDK's first.
 */
#include "env_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal_memconfig.h>
#include <rte_malloc.h>
#include <rte_memory.h>

#define EXT_REGION_MAX 256
#define HUGE_2M (2ULL * 1024 * 1024)

struct sl_mem_map_notifier {
	sl_mem_map_notify_fn fn;
	void *ctx;
	struct sl_mem_map_notifier *next;
};

struct ext_region {
	uintptr_t start;
	size_t len;
};

static pthread_mutex_t g_map_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sl_mem_map_notifier *g_notifiers;
static struct ext_region g_ext[EXT_REGION_MAX];
static size_t g_ext_count;
static bool g_event_cb_registered;
static sl_vtoiova_fn g_vtoiova_fn;

void sl_env_set_vtoiova(sl_vtoiova_fn fn)
{
	__atomic_store_n(&g_vtoiova_fn, fn, __ATOMIC_RELEASE);
}

static uint64_t buf_iova(void *buf)
{
	sl_vtoiova_fn fn = __atomic_load_n(&g_vtoiova_fn, __ATOMIC_ACQUIRE);

	return fn ? fn(buf, NULL) : rte_malloc_virt2iova(buf);
}

void *sl_dma_malloc(size_t size, size_t align, uint64_t *iova)
{
	void *buf = rte_malloc(NULL, size, (unsigned int)align);

	if (buf && iova)
		*iova = buf_iova(buf);
	return buf;
}

void *sl_dma_zmalloc(size_t size, size_t align, uint64_t *iova)
{
	void *buf = rte_zmalloc(NULL, size, (unsigned int)align);

	if (buf && iova)
		*iova = buf_iova(buf);
	return buf;
}

void *sl_dma_realloc(void *buf, size_t size, size_t align, uint64_t *iova)
{
	void *nbuf = rte_realloc(buf, size, (unsigned int)align);

	if (nbuf && iova)
		*iova = buf_iova(nbuf);
	return nbuf;
}

void sl_dma_free(void *buf)
{
	rte_free(buf);
}

static const struct ext_region *ext_find(uintptr_t va)
{
	for (size_t i = 0; i < g_ext_count; i++)
		if (va >= g_ext[i].start && va - g_ext[i].start < g_ext[i].len)
			return &g_ext[i];
	return NULL;
}

uint64_t sl_vtoiova(const void *vaddr, uint64_t *size)
{
	const struct rte_memseg *ms;
	uintptr_t va = (uintptr_t)vaddr;
	uint64_t iova, contig;
	sl_vtoiova_fn fn = __atomic_load_n(&g_vtoiova_fn, __ATOMIC_ACQUIRE);

	if (fn)
		return fn(vaddr, size);
	ms = rte_mem_virt2memseg(vaddr, NULL);
	if (ms) {
		if (ms->iova == RTE_BAD_IOVA)
			return SL_VTOIOVA_ERROR;
		iova = ms->iova + (va - (uintptr_t)ms->addr);
		contig = ms->len - (va - (uintptr_t)ms->addr);
		/* Extend over following segments while IOVA stays contiguous. */
		while (size && contig < *size) {
			const struct rte_memseg *next =
				rte_mem_virt2memseg((const char *)ms->addr + ms->len, NULL);

			if (!next || next->iova != ms->iova + ms->len)
				break;
			contig += next->len;
			ms = next;
		}
	} else {
		const struct ext_region *r;

		pthread_mutex_lock(&g_map_lock);
		r = ext_find(va);
		contig = r ? r->len - (va - r->start) : 0;
		pthread_mutex_unlock(&g_map_lock);
		if (!r)
			return SL_VTOIOVA_ERROR;
		iova = va;
	}
	if (size && *size > contig)
		*size = contig;
	return iova;
}

static void notify_all(enum sl_mem_map_action action, void *va, size_t len)
{
	for (struct sl_mem_map_notifier *n = g_notifiers; n; n = n->next) {
		int rc = n->fn(n->ctx, action, va, len);

		if (rc)
			SL_ERRLOG("memory-map notifier failed for %s %p+0x%zx: %d",
				  action == SL_MEM_MAP_REGISTER ? "register" : "unregister", va,
				  len, rc);
	}
}

static void mem_event_cb(enum rte_mem_event event, const void *addr, size_t len, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g_map_lock);
	notify_all(event == RTE_MEM_EVENT_ALLOC ? SL_MEM_MAP_REGISTER : SL_MEM_MAP_UNREGISTER,
		   (void *)(uintptr_t)addr, len);
	pthread_mutex_unlock(&g_map_lock);
}

struct replay_ctx {
	struct sl_mem_map_notifier *n;
	enum sl_mem_map_action action;
	size_t limit; /* regions to visit; SIZE_MAX: all */
	size_t done;  /* regions the callback accepted */
	int rc;
};

static int replay_one(struct replay_ctx *c, void *va, size_t len)
{
	if (c->done == c->limit)
		return 1;
	c->rc = c->n->fn(c->n->ctx, c->action, va, len);
	if (c->rc)
		return 1;
	c->done++;
	return 0;
}

static int replay_contig(const struct rte_memseg_list *msl, const struct rte_memseg *ms, size_t len,
			 void *arg)
{
	(void)msl;
	return replay_one(arg, ms->addr, len);
}

/*
 * Walk every region (env memory, then registered ones) in a fixed order,
 * calling the notifier for at most limit of them; returns how many it
 * accepted before the first failure. Caller holds the hotplug lock and
 * g_map_lock.
 */
static size_t replay(struct sl_mem_map_notifier *n, enum sl_mem_map_action action, size_t limit,
		     int *rc)
{
	struct replay_ctx c = { .n = n, .action = action, .limit = limit };

	rte_memseg_contig_walk_thread_unsafe(replay_contig, &c);
	for (size_t i = 0; i < g_ext_count && !c.rc && c.done < c.limit; i++)
		replay_one(&c, (void *)g_ext[i].start, g_ext[i].len);
	if (rc)
		*rc = c.rc;
	return c.done;
}

struct sl_mem_map_notifier *sl_mem_map_notifier_register(sl_mem_map_notify_fn fn, void *ctx,
							 int *rcp)
{
	struct sl_mem_map_notifier *n = calloc(1, sizeof(*n));
	size_t done;
	int rc;

	if (!n) {
		if (rcp)
			*rcp = -ENOMEM;
		return NULL;
	}
	n->fn = fn;
	n->ctx = ctx;

	rte_mcfg_mem_read_lock();
	pthread_mutex_lock(&g_map_lock);
	done = replay(n, SL_MEM_MAP_REGISTER, SIZE_MAX, &rc);
	if (rc) {
		/* Undo exactly what was registered so the caller sees all or nothing. */
		replay(n, SL_MEM_MAP_UNREGISTER, done, NULL);
		free(n);
		n = NULL;
	} else {
		n->next = g_notifiers;
		g_notifiers = n;
	}
	pthread_mutex_unlock(&g_map_lock);
	rte_mcfg_mem_read_unlock();
	if (rcp)
		*rcp = rc;
	return n;
}

void sl_mem_map_notifier_unregister(struct sl_mem_map_notifier *notifier)
{
	if (!notifier)
		return;
	rte_mcfg_mem_read_lock();
	pthread_mutex_lock(&g_map_lock);
	for (struct sl_mem_map_notifier **p = &g_notifiers; *p; p = &(*p)->next) {
		if (*p == notifier) {
			*p = notifier->next;
			break;
		}
	}
	replay(notifier, SL_MEM_MAP_UNREGISTER, SIZE_MAX, NULL);
	pthread_mutex_unlock(&g_map_lock);
	rte_mcfg_mem_read_unlock();
	free(notifier);
}

int sl_mem_register(void *vaddr, size_t len)
{
	uintptr_t va = (uintptr_t)vaddr;
	int rc = 0;

	if (!len || (!sl_env_no_huge() && ((va | len) & (HUGE_2M - 1))))
		return -EINVAL;
	pthread_mutex_lock(&g_map_lock);
	for (size_t i = 0; i < g_ext_count; i++) {
		if (va < g_ext[i].start + g_ext[i].len && g_ext[i].start < va + len) {
			rc = -EEXIST;
			goto out_unlock;
		}
	}
	if (g_ext_count == EXT_REGION_MAX) {
		rc = -ENOSPC;
		goto out_unlock;
	}
	g_ext[g_ext_count].start = va;
	g_ext[g_ext_count].len = len;
	g_ext_count++;
	notify_all(SL_MEM_MAP_REGISTER, vaddr, len);
out_unlock:
	pthread_mutex_unlock(&g_map_lock);
	return rc;
}

int sl_mem_unregister(void *vaddr, size_t len)
{
	uintptr_t va = (uintptr_t)vaddr;
	int rc = -ENOENT;

	pthread_mutex_lock(&g_map_lock);
	for (size_t i = 0; i < g_ext_count; i++) {
		if (g_ext[i].start == va && g_ext[i].len == len) {
			notify_all(SL_MEM_MAP_UNREGISTER, vaddr, len);
			g_ext[i] = g_ext[--g_ext_count];
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&g_map_lock);
	return rc;
}

int env_memory_init(void)
{
	int rc = rte_mem_event_callback_register("sluice", mem_event_cb, NULL);

	/* Not supported with --no-huge (memory cannot grow there): that is fine. */
	g_event_cb_registered = rc == 0;
	return 0;
}

void env_memory_fini(void)
{
	if (g_event_cb_registered)
		rte_mem_event_callback_unregister("sluice", NULL);
	g_event_cb_registered = false;
}
