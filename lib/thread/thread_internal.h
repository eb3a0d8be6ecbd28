/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SLUICE_THREAD_INTERNAL_H
#define SLUICE_THREAD_INTERNAL_H

#include "sluice/env.h"
#include "sluice/log.h"
#include "sluice/thread.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/queue.h>

enum thread_state {
	THREAD_RUNNING,
	THREAD_EXITING,
	THREAD_EXITED,
};

enum poller_state {
	POLLER_WAITING,
	POLLER_RUNNING,
	POLLER_UNREGISTERED,
};

struct sl_poller {
	sl_poller_fn fn;
	void *ctx;
	struct sl_thread *thread;
	uint64_t period_ticks; /* 0: busy poller */
	uint64_t next_run;
	uint64_t seq; /* tie-break: equal deadlines run in registration order */
	size_t heap_idx;
	enum poller_state state;
	TAILQ_ENTRY(sl_poller) link;
	struct sl_poller *free_next;
	int wake_fd; /* -1: none */
	char name[48];
};

TAILQ_HEAD(poller_list, sl_poller);
TAILQ_HEAD(channel_list, sl_io_channel);

struct sl_thread {
	uint64_t id;
	char name[64];
	int32_t core_hint;
	_Atomic int state;
	struct sl_ring *msgs;

	struct poller_list busy_pollers;
	size_t busy_count;
	struct sl_poller **heap; /* timed pollers, min-heap on (next_run, seq) */
	size_t heap_len;
	size_t heap_cap;
	uint64_t poller_seq;
	struct sl_poller *free_pollers; /* unregistered inside a poll, freed at its end */
	bool in_poll;
	bool busy_dirty; /* a busy poller was unregistered during the busy loop */

	struct channel_list channels; /* guarded by g_thread_lock */

	uint64_t exit_start_tsc;
	uint64_t last_tsc; /* when the last sl_thread_poll ended */
	struct sl_thread_stats stats;
	TAILQ_ENTRY(sl_thread) link;
	char ctx[] __attribute__((aligned(64)));
};

/* One lock for the control-path registries: threads, io_devices, channels. */
extern pthread_mutex_t g_thread_lock;
TAILQ_HEAD(thread_list, sl_thread);
extern struct thread_list g_threads;

size_t thread_channel_count(struct sl_thread *thread);

#endif
