/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMA mappings of env memory in the shared IOMMU domain, and the VA -> IOVA
 * translation installed into lib/env (sl_vtoiova).
 *
 * IOVA = VA when the domain's valid ranges reach the top of user space (an
 * IOMMU with 48-bit IOVAs); otherwise every region gets an IOVA allocated
 * first-fit from the valid ranges (QEMU's intel-iommu defaults to 39 bits
 * while user addresses reach 47). Regions are 2 MiB aligned, so translation
 * is a two-level table of 2 MiB pages: VA bits 47..30 pick a table of 512
 * entries, each the IOVA of one 2 MiB page with bit 0 marking it valid.
 * Lookups are lock-free (entries are written before a region is handed out
 * and cleared after it is given back); updates run under g_dma_lock from the
 * env memory-map notifier.
 */
#include "vfio_internal.h"

#include "sluice/env.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_2M (2ULL << 20)
#define L1_SHIFT 30
#define L1_ENTRIES (1ULL << (48 - L1_SHIFT))
#define L2_ENTRIES 512
#define USER_VA_LAST ((1ULL << 47) - 1)
#define MAX_MAPPINGS 1024

struct mapping {
	uintptr_t va;
	uint64_t len;
	uint64_t iova;
};

static pthread_mutex_t g_dma_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t **g_l1;
static struct mapping g_maps[MAX_MAPPINGS];
static size_t g_nr_maps;
static struct vfio_domain *g_dom;
static struct sl_mem_map_notifier *g_notifier;
static bool g_force_alloc;

void sl_vfio_force_iova_alloc(bool force)
{
	g_force_alloc = force;
}

static uint64_t vfio_vtoiova(const void *vaddr, uint64_t *size)
{
	uintptr_t va = (uintptr_t)vaddr;
	uint64_t *l2, e, iova, contig;
	size_t i;

	if (va >> 48)
		return SL_VTOIOVA_ERROR;
	l2 = __atomic_load_n(&g_l1[va >> L1_SHIFT], __ATOMIC_ACQUIRE);
	if (!l2)
		return SL_VTOIOVA_ERROR;
	i = (va >> 21) & (L2_ENTRIES - 1);
	e = __atomic_load_n(&l2[i], __ATOMIC_RELAXED);
	if (!(e & 1))
		return SL_VTOIOVA_ERROR;
	iova = (e & ~1ULL) + (va & (PAGE_2M - 1));
	if (!size)
		return iova;
	contig = PAGE_2M - (va & (PAGE_2M - 1));
	for (uint64_t k = 1; contig < *size; k++) {
		uintptr_t nva = (va & ~(PAGE_2M - 1)) + k * PAGE_2M;
		uint64_t *nl2 = nva >> 48
					? NULL
					: __atomic_load_n(&g_l1[nva >> L1_SHIFT], __ATOMIC_ACQUIRE);
		uint64_t ne = nl2 ? __atomic_load_n(&nl2[(nva >> 21) & (L2_ENTRIES - 1)],
						    __ATOMIC_RELAXED)
				  : 0;

		if (ne != e + k * PAGE_2M)
			break;
		contig += PAGE_2M;
	}
	if (*size > contig)
		*size = contig;
	return iova;
}

static int table_set(uintptr_t va, uint64_t len, uint64_t iova, bool valid)
{
	for (uint64_t off = 0; off < len; off += PAGE_2M) {
		uintptr_t v = va + off;
		uint64_t **slot = &g_l1[v >> L1_SHIFT];

		if (!*slot) {
			uint64_t *l2;

			if (!valid)
				continue;
			l2 = calloc(L2_ENTRIES, sizeof(*l2));
			if (!l2)
				return -ENOMEM;
			__atomic_store_n(slot, l2, __ATOMIC_RELEASE);
		}
		__atomic_store_n(&(*slot)[(v >> 21) & (L2_ENTRIES - 1)],
				 valid ? ((iova + off) | 1) : 0, __ATOMIC_RELEASE);
	}
	return 0;
}

static bool in_ranges(const struct vfio_domain *dom, uint64_t start, uint64_t len)
{
	for (size_t i = 0; i < dom->nr_ranges; i++)
		if (start >= dom->ranges[i].start && start + len - 1 <= dom->ranges[i].last)
			return true;
	return false;
}

static bool iova_used(uint64_t start, uint64_t len, uint64_t *next)
{
	for (size_t i = 0; i < g_nr_maps; i++) {
		if (start < g_maps[i].iova + g_maps[i].len && g_maps[i].iova < start + len) {
			*next = g_maps[i].iova + g_maps[i].len;
			return true;
		}
	}
	return false;
}

/* First fit in the valid ranges, 2 MiB aligned, never IOVA 0. */
static int iova_alloc(const struct vfio_domain *dom, uint64_t len, uint64_t *iova)
{
	for (size_t r = 0; r < dom->nr_ranges; r++) {
		uint64_t cand = dom->ranges[r].start < PAGE_2M ? PAGE_2M : dom->ranges[r].start;

		cand = (cand + PAGE_2M - 1) & ~(PAGE_2M - 1);
		while (cand + len - 1 <= dom->ranges[r].last && cand + len > cand) {
			uint64_t next;

			if (!iova_used(cand, len, &next)) {
				*iova = cand;
				return 0;
			}
			cand = (next + PAGE_2M - 1) & ~(PAGE_2M - 1);
		}
	}
	return -ENOSPC;
}

static int map_region(void *vaddr, size_t len)
{
	uintptr_t va = (uintptr_t)vaddr;
	uint64_t iova;
	int rc;

	if ((va | len) & (PAGE_2M - 1)) {
		SL_ERRLOG("vfio: memory region %p+0x%zx is not 2 MiB aligned: DMA needs hugepages",
			  vaddr, len);
		return -EINVAL;
	}
	if (g_nr_maps == MAX_MAPPINGS)
		return -ENOSPC;
	if (g_dom->identity) {
		if (!in_ranges(g_dom, va, len)) {
			SL_ERRLOG(
				"vfio: region %p+0x%zx lies outside the IOMMU's valid IOVA ranges",
				vaddr, len);
			return -ERANGE;
		}
		iova = va;
	} else {
		rc = iova_alloc(g_dom, len, &iova);
		if (rc) {
			SL_ERRLOG("vfio: no free IOVA space for %zu bytes in the IOMMU's ranges",
				  len);
			return rc;
		}
	}
	rc = vfio_domain_map(g_dom, vaddr, len, iova);
	if (rc) {
		SL_ERRLOG("vfio: mapping %p+0x%zx at IOVA 0x%llx failed: %s%s", vaddr, len,
			  (unsigned long long)iova, strerror(-rc),
			  rc == -ENOMEM ? " (locked memory limit? run as root or raise ulimit -l)"
					: "");
		return rc;
	}
	rc = table_set(va, len, iova, true);
	if (rc) {
		table_set(va, len, 0, false);
		vfio_domain_unmap(g_dom, len, iova);
		return rc;
	}
	g_maps[g_nr_maps].va = va;
	g_maps[g_nr_maps].len = len;
	g_maps[g_nr_maps].iova = iova;
	g_nr_maps++;
	SL_DEBUGLOG(vfio, "mapped %p+0x%zx at IOVA 0x%llx", vaddr, len, (unsigned long long)iova);
	return 0;
}

static int unmap_region(void *vaddr, size_t len)
{
	uintptr_t va = (uintptr_t)vaddr;

	for (size_t i = 0; i < g_nr_maps; i++) {
		if (g_maps[i].va == va && g_maps[i].len == len) {
			int rc;

			table_set(va, len, 0, false);
			rc = vfio_domain_unmap(g_dom, len, g_maps[i].iova);
			if (rc)
				SL_ERRLOG("vfio: unmapping IOVA 0x%llx failed: %s",
					  (unsigned long long)g_maps[i].iova, strerror(-rc));
			g_maps[i] = g_maps[--g_nr_maps];
			return rc;
		}
	}
	return -ENOENT;
}

static int mem_map_cb(void *ctx, enum sl_mem_map_action action, void *vaddr, size_t len)
{
	int rc;

	(void)ctx;
	pthread_mutex_lock(&g_dma_lock);
	rc = action == SL_MEM_MAP_REGISTER ? map_region(vaddr, len) : unmap_region(vaddr, len);
	pthread_mutex_unlock(&g_dma_lock);
	return rc;
}

int vfio_dma_start(struct vfio_domain *dom)
{
	const char *env = getenv("SLUICE_VFIO_IOVA");
	int rc = 0;

	if (!g_l1) {
		/* 2 MiB of pointers, touched sparsely: the kernel backs it lazily. */
		g_l1 = calloc(L1_ENTRIES, sizeof(*g_l1));
		if (!g_l1)
			return -ENOMEM;
	}
	g_dom = dom;
	/*
	 * IOVA = VA when the IOMMU's ranges reach the top of user space; the
	 * holes in them (the MSI window near 4 GiB) are checked per region.
	 */
	dom->identity = false;
	for (size_t i = 0; i < dom->nr_ranges; i++)
		if (dom->ranges[i].last >= USER_VA_LAST)
			dom->identity = true;
	if (g_force_alloc || (env && !strcmp(env, "alloc")))
		dom->identity = false;
	g_notifier = sl_mem_map_notifier_register(mem_map_cb, NULL, &rc);
	if (!g_notifier) {
		SL_ERRLOG("vfio: mapping env memory into the IOMMU failed: %s", strerror(-rc));
		return rc ? rc : -ENOMEM;
	}
	sl_env_set_vtoiova(vfio_vtoiova);
	return 0;
}

void vfio_dma_stop(struct vfio_domain *dom)
{
	(void)dom;
	sl_env_set_vtoiova(NULL);
	sl_mem_map_notifier_unregister(g_notifier);
	g_notifier = NULL;
	g_dom = NULL;
}
