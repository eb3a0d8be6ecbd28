/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Rings are rte_rings in ordinary memory (rte_ring_init), so they need no
 * memzone names and work before the EAL is up, which unit tests rely on.
 */
#include "env_internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <rte_ring.h>

struct sl_ring *sl_ring_create(enum sl_ring_type type, size_t count, int socket_id)
{
	(void)socket_id;
	return sl_ring_create_elem(type, count, sizeof(void *));
}

struct sl_ring *sl_ring_create_elem(enum sl_ring_type type, size_t count, size_t esize)
{
	static atomic_uint g_ring_seq;
	struct rte_ring *r;
	unsigned int flags, size;
	char name[RTE_RING_NAMESIZE];
	ssize_t memsize;

	if (count == 0 || esize == 0 || esize % 4 || count >= RTE_RING_SZ_MASK)
		return NULL;
	/* An rte_ring of size 2^n holds 2^n - 1 entries. */
	size = rte_align32pow2((uint32_t)count + 1);
	switch (type) {
	case SL_RING_MP_SC:
		flags = RING_F_MP_RTS_ENQ | RING_F_SC_DEQ;
		break;
	case SL_RING_SP_SC:
		flags = RING_F_SP_ENQ | RING_F_SC_DEQ;
		break;
	case SL_RING_MP_MC:
		flags = RING_F_MP_RTS_ENQ | RING_F_MC_RTS_DEQ;
		break;
	default:
		return NULL;
	}
	memsize = rte_ring_get_memsize_elem((unsigned int)esize, size);
	if (memsize < 0)
		return NULL;
	if (posix_memalign((void **)&r, RTE_CACHE_LINE_SIZE, (size_t)memsize))
		return NULL;
	snprintf(name, sizeof(name), "sl_ring_%u", atomic_fetch_add(&g_ring_seq, 1));
	if (rte_ring_init(r, name, size, flags)) {
		free(r);
		return NULL;
	}
	return (struct sl_ring *)r;
}

void sl_ring_free(struct sl_ring *ring)
{
	free(ring);
}

size_t sl_ring_count(struct sl_ring *ring)
{
	return rte_ring_count((struct rte_ring *)ring);
}

size_t sl_ring_enqueue(struct sl_ring *ring, void **objs, size_t count, size_t *free_space)
{
	unsigned int fs = 0;
	size_t n = rte_ring_enqueue_burst((struct rte_ring *)ring, objs, (unsigned int)count, &fs);

	if (free_space)
		*free_space = fs;
	return n;
}

size_t sl_ring_dequeue(struct sl_ring *ring, void **objs, size_t count)
{
	return rte_ring_dequeue_burst((struct rte_ring *)ring, objs, (unsigned int)count, NULL);
}

size_t sl_ring_enqueue_elem(struct sl_ring *ring, const void *objs, size_t esize, size_t count,
			    size_t *free_space)
{
	unsigned int fs = 0;
	size_t n = rte_ring_enqueue_burst_elem((struct rte_ring *)ring, objs, (unsigned int)esize,
					       (unsigned int)count, &fs);

	if (free_space)
		*free_space = fs;
	return n;
}

size_t sl_ring_dequeue_elem(struct sl_ring *ring, void *objs, size_t esize, size_t count)
{
	return rte_ring_dequeue_burst_elem((struct rte_ring *)ring, objs, (unsigned int)esize,
					   (unsigned int)count, NULL);
}
