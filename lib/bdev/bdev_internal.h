/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SLUICE_BDEV_INTERNAL_H
#define SLUICE_BDEV_INTERNAL_H

#include "sluice/bdev.h"
#include "sluice/bdev_module.h"
#include "sluice/env.h"
#include "sluice/log.h"
#include "sluice/thread.h"
#include "sluice/util.h"

#include <pthread.h>
#include <sys/queue.h>

#define BDEV_MAX_ALIASES 8
#define BDEV_CHILD_IOV 16
#define BDEV_MAX_CHILDREN 8 /* split children in flight per parent */
#define BDEV_BOUNCE_BUF_SIZE (128u * 1024)
#define BDEV_IO_CACHE_SIZE 256

enum bdev_status {
	BDEV_ACTIVE,
	BDEV_REMOVING,
};

struct sl_bdev_desc {
	struct sl_bdev *bdev;
	struct sl_thread *thread;
	bool write;
	bool closed;
	uint32_t refs; /* open + remove notification in flight; under g_bdev_lock */
	sl_bdev_event_cb event_cb;
	void *event_ctx;
	TAILQ_ENTRY(sl_bdev_desc) link;
};

struct sl_bdev_internal {
	struct sl_bdev *bdev;
	TAILQ_ENTRY(sl_bdev_internal) link;
	char *aliases[BDEV_MAX_ALIASES];
	size_t alias_count;
	TAILQ_HEAD(, sl_bdev_desc) descs;
	enum bdev_status status;
	struct sl_bdev_module *claim;
	void (*unregister_cb)(void *arg, int rc);
	void *unregister_arg;
	struct sl_thread *unregister_thread;
	struct sl_bdev_io_stat stat_gone; /* channels already destroyed; under g_bdev_lock */
	size_t buf_align;
	uint32_t split_blocks; /* effective max per child; 0: no limit */
};

/* Per-thread state shared by every bdev channel of the thread. */
struct bdev_mgmt_channel {
	struct sl_bdev_io *cache[BDEV_IO_CACHE_SIZE];
	uint32_t cache_count;
	struct sl_bdev_io_wait_entry *wait_head;
	struct sl_bdev_io_wait_entry *wait_tail;
};

TAILQ_HEAD(bdev_io_tailq, sl_bdev_io_internal);

struct bdev_channel {
	struct sl_bdev *bdev;
	struct sl_io_channel *module_ch;
	struct sl_io_channel *mgmt_io_ch;
	struct bdev_mgmt_channel *mgmt;
	struct sl_bdev_io_stat stat;
	uint64_t io_outstanding; /* inside the module */
	struct bdev_io_tailq nomem_queue;
	struct sl_poller *retry_poller;
};

struct sl_bdev_io_internal {
	struct sl_bdev_io *io;
	struct bdev_channel *ch;
	sl_bdev_io_completion_cb cb;
	void *cb_arg;
	enum sl_bdev_io_status status;
	enum sl_bdev_io_type user_type; /* what the user asked; io->type is what the module sees */
	uint32_t cdw0;
	int sct;
	int sc;
	uint64_t submit_tsc;
	uint64_t complete_tsc; /* set just before the user's callback */
	bool in_submit;
	bool compare_emul;
	bool queued;	    /* on the channel's retry queue */
	uint8_t retry_kind; /* what to redo when retried */
	TAILQ_ENTRY(sl_bdev_io_internal) link;

	/* single-buffer submissions point iovs here */
	struct iovec iov;

	/* bounce buffer */
	void *bounce_elem;
	struct iovec bounce_iov;
	struct iovec *orig_iovs;
	int orig_iovcnt;

	/* splitting: a child points to its parent; a parent tracks progress */
	struct sl_bdev_io *parent;
	uint64_t split_offset;
	uint64_t split_remaining;
	uint32_t split_outstanding;
	int split_iov_idx;
	size_t split_iov_off;
	bool split_failed;
	bool is_split_parent;
	struct iovec child_iovs[BDEV_CHILD_IOV];
};

extern pthread_mutex_t g_bdev_lock;
extern struct sl_mempool *g_bdev_io_pool;
extern struct sl_mempool *g_bounce_pool;
extern size_t g_bdev_io_ctx_size;
extern int g_bdev_mgr; /* io_device of the per-thread management channels */
extern void *g_zero_buf;

int bdev_io_lib_init(void);
void bdev_io_lib_fini(void (*done)(void));
int bdev_channel_create(void *io_device, void *ctx);
void bdev_channel_destroy(void *io_device, void *ctx);
bool bdev_desc_is_writable(const struct sl_bdev_desc *desc);
void bdev_stat_add(struct sl_bdev_io_stat *dst, const struct sl_bdev_io_stat *src);

static inline struct sl_bdev *bdev_of_internal(void *io_device)
{
	return ((struct sl_bdev_internal *)io_device)->bdev;
}

#endif
