/* SPDX-License-Identifier: BSD-3-Clause */
/* Mempools: rte_mempool with per-core caches, elements in DMA memory. */
#include "env_internal.h"

#include <errno.h>
#include <stdio.h>

#include <rte_errno.h>
#include <rte_mempool.h>

struct sl_mempool *sl_mempool_create(const char *name, size_t count, size_t ele_size,
				     size_t cache_size, int socket_id)
{
	struct rte_mempool *mp;
	char mpname[RTE_MEMPOOL_NAMESIZE];

	if (cache_size == SL_MEMPOOL_DEFAULT_CACHE_SIZE) {
		/* Leave most elements in the shared pool even when every core caches. */
		size_t cores = sl_env_get_core_count() ? sl_env_get_core_count() : 1;

		cache_size = count / (2 * cores);
		if (cache_size > RTE_MEMPOOL_CACHE_MAX_SIZE)
			cache_size = RTE_MEMPOOL_CACHE_MAX_SIZE;
	}
	if ((double)cache_size * 1.5 > (double)count)
		cache_size = (size_t)((double)count / 1.5);
	snprintf(mpname, sizeof(mpname), "%s", name);
	mp = rte_mempool_create(mpname, (unsigned int)count, (unsigned int)ele_size,
				(unsigned int)cache_size, 0, NULL, NULL, NULL, NULL,
				socket_id == SL_ENV_SOCKET_ID_ANY ? SOCKET_ID_ANY : socket_id, 0);
	if (!mp)
		SL_ERRLOG("cannot create mempool %s (%zu x %zu bytes): %s", name, count, ele_size,
			  rte_strerror(rte_errno));
	return (struct sl_mempool *)mp;
}

void sl_mempool_free(struct sl_mempool *mp)
{
	rte_mempool_free((struct rte_mempool *)mp);
}

void *sl_mempool_get(struct sl_mempool *mp)
{
	void *ele;

	return rte_mempool_get((struct rte_mempool *)mp, &ele) ? NULL : ele;
}

int sl_mempool_get_bulk(struct sl_mempool *mp, void **ele_arr, size_t count)
{
	return rte_mempool_get_bulk((struct rte_mempool *)mp, ele_arr, (unsigned int)count)
		       ? -ENOMEM
		       : 0;
}

void sl_mempool_put(struct sl_mempool *mp, void *ele)
{
	rte_mempool_put((struct rte_mempool *)mp, ele);
}

void sl_mempool_put_bulk(struct sl_mempool *mp, void **ele_arr, size_t count)
{
	rte_mempool_put_bulk((struct rte_mempool *)mp, ele_arr, (unsigned int)count);
}

size_t sl_mempool_count(const struct sl_mempool *mp)
{
	return rte_mempool_avail_count((const struct rte_mempool *)mp);
}
