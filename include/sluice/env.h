/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Execution environment over DPDK's EAL: hugepage DMA memory, virtual to IOVA
 * translation, memory-map notifications, lock-free rings, mempools, cores.
 */
#ifndef SLUICE_ENV_H
#define SLUICE_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SL_ENV_SOCKET_ID_ANY (-1)
#define SL_VTOIOVA_ERROR ((uint64_t)-1)
#define SL_ENV_MAX_CORES 128

struct sl_env_opts {
	const char *name;      /* process name shown in EAL messages */
	const char *core_mask; /* hex mask, "0x3"; NULL means core 0 */
	size_t mem_size_mb;    /* 0: grow on demand (hugepages) or 256 MiB (--no-huge) */
	const char *huge_dir;  /* hugetlbfs mount; NULL lets EAL find one */
	bool no_huge;	       /* force anonymous memory instead of hugepages */
	bool quiet;	       /* keep EAL's own logging at errors only */
};

void sl_env_opts_init(struct sl_env_opts *opts);

/*
 * Start the EAL. Falls back to --no-huge with one warning when no hugepages
 * are reserved. Returns 0, -EINVAL for bad options, -ENOMEM when the memory
 * asked for is not available, -EALREADY when already initialised.
 */
int sl_env_init(const struct sl_env_opts *opts);
void sl_env_fini(void);
bool sl_env_is_initialized(void);
/* True when running on anonymous memory (no hugepages): DMA to devices is impossible. */
bool sl_env_no_huge(void);

/* DMA-able memory: pinned, physically backed, IOVA known. iova may be NULL. */
void *sl_dma_malloc(size_t size, size_t align, uint64_t *iova);
void *sl_dma_zmalloc(size_t size, size_t align, uint64_t *iova);
void *sl_dma_realloc(void *buf, size_t size, size_t align, uint64_t *iova);
void sl_dma_free(void *buf);

/*
 * IOVA of a virtual address in DMA-able memory (env memory or a region
 * registered with sl_mem_register). If size is not NULL, on input the length
 * wanted and on output the length that stays contiguous in IOVA space.
 * Returns SL_VTOIOVA_ERROR for memory the environment does not know.
 */
uint64_t sl_vtoiova(const void *vaddr, uint64_t *size);

/*
 * Replace the translation behind sl_vtoiova and the iova outputs of
 * sl_dma_*alloc (same contract as sl_vtoiova). lib/vfio installs one when it
 * maps env memory into an IOMMU domain, whose IOVAs are then what devices
 * see; NULL restores the default (EAL's IOVA, or VA for registered memory).
 */
typedef uint64_t (*sl_vtoiova_fn)(const void *vaddr, uint64_t *size);
void sl_env_set_vtoiova(sl_vtoiova_fn fn);

/*
 * Memory-map notifications. A notifier is called with REGISTER for every
 * region present when it registers and for every region added later, and
 * with UNREGISTER before a region goes away (and for every region still
 * present when the notifier unregisters). Regions are hugepage-aligned
 * (2 MiB) except with --no-huge. Callbacks run on the thread that changed
 * the memory map; they must not allocate env memory themselves.
 */
enum sl_mem_map_action {
	SL_MEM_MAP_REGISTER,
	SL_MEM_MAP_UNREGISTER,
};

typedef int (*sl_mem_map_notify_fn)(void *ctx, enum sl_mem_map_action action, void *vaddr,
				    size_t len);
struct sl_mem_map_notifier;

/* Returns NULL and sets *rc (if given) when a replayed REGISTER fails. */
struct sl_mem_map_notifier *sl_mem_map_notifier_register(sl_mem_map_notify_fn fn, void *ctx,
							 int *rc);
void sl_mem_map_notifier_unregister(struct sl_mem_map_notifier *notifier);

/*
 * Make memory the environment did not allocate (a VM's guest memory) visible
 * to notifiers and sl_vtoiova (IOVA = VA). Both must be 2 MiB aligned unless
 * running without hugepages. -EEXIST on overlap, -EINVAL on bad alignment.
 */
int sl_mem_register(void *vaddr, size_t len);
int sl_mem_unregister(void *vaddr, size_t len);

/* Rings: fixed-size FIFOs of pointers, lock-free. count is rounded up to a power of two. */
enum sl_ring_type {
	SL_RING_MP_SC, /* many producers (RTS mode), one consumer */
	SL_RING_SP_SC,
	SL_RING_MP_MC,
};

struct sl_ring;
struct sl_ring *sl_ring_create(enum sl_ring_type type, size_t count, int socket_id);
void sl_ring_free(struct sl_ring *ring);
size_t sl_ring_count(struct sl_ring *ring);
/* Enqueue up to count objects; returns how many went in. */
size_t sl_ring_enqueue(struct sl_ring *ring, void **objs, size_t count, size_t *free_space);
size_t sl_ring_dequeue(struct sl_ring *ring, void **objs, size_t count);

/*
 * Rings of fixed-size elements (esize a multiple of 4 bytes) copied in and
 * out, for producers that must not allocate (thread messages).
 */
struct sl_ring *sl_ring_create_elem(enum sl_ring_type type, size_t count, size_t esize);
size_t sl_ring_enqueue_elem(struct sl_ring *ring, const void *objs, size_t esize, size_t count,
			    size_t *free_space);
size_t sl_ring_dequeue_elem(struct sl_ring *ring, void *objs, size_t esize, size_t count);

/* Mempools of fixed-size elements with per-core caches; need sl_env_init. */
#define SL_MEMPOOL_DEFAULT_CACHE_SIZE ((size_t)-1)
struct sl_mempool;
struct sl_mempool *sl_mempool_create(const char *name, size_t count, size_t ele_size,
				     size_t cache_size, int socket_id);
void sl_mempool_free(struct sl_mempool *mp);
void *sl_mempool_get(struct sl_mempool *mp);
int sl_mempool_get_bulk(struct sl_mempool *mp, void **ele_arr, size_t count);
void sl_mempool_put(struct sl_mempool *mp, void *ele);
void sl_mempool_put_bulk(struct sl_mempool *mp, void **ele_arr, size_t count);
size_t sl_mempool_count(const struct sl_mempool *mp);

/* Cores from the core mask. Iterate with first/next; UINT32_MAX ends. */
uint32_t sl_env_get_core_count(void);
uint32_t sl_env_get_first_core(void);
uint32_t sl_env_get_next_core(uint32_t prev);
uint32_t sl_env_get_last_core(void);
/* Core of the calling thread, UINT32_MAX for a thread that is not a reactor core. */
uint32_t sl_env_get_current_core(void);
uint32_t sl_env_get_main_core(void);
/* Run fn(arg) on a worker core (not the main core). -EINVAL, -EBUSY. */
int sl_env_thread_launch_pinned(uint32_t core, int (*fn)(void *), void *arg);
/* Wait for every launched worker to return. */
void sl_env_thread_wait_all(void);

/* Parse a hex core mask ("0x3", "3") or list ("[0,2-3]"). Returns -EINVAL. */
int sl_env_parse_core_mask(const char *mask, uint64_t cores[2]);

/* Monotonic ticks (TSC) and their rate. */
uint64_t sl_get_ticks(void);
uint64_t sl_get_ticks_hz(void);
void sl_delay_us(unsigned int us);

#ifdef __cplusplus
}
#endif
#endif
