/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Lightweight threads, pollers, messages and per-thread I/O channels.
 *
 * An sl_thread is a unit of work that a reactor (lib/event) polls. All state
 * a thread touches belongs to it; other threads reach it only through
 * sl_thread_send_msg, which goes through the thread's lock-free MPSC ring.
 * Unless stated otherwise, functions act on the calling thread
 * (sl_get_thread()) and must be called from it. A thread is always polled by
 * the same OS thread (its reactor, or the program that created it), so
 * per-OS-thread kernel objects such as an io_uring created by a poller stay
 * with it.
 */
#ifndef SLUICE_THREAD_H
#define SLUICE_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sl_thread;
struct sl_poller;
struct sl_io_channel;
struct sl_io_channel_iter;

typedef void (*sl_msg_fn)(void *ctx);

/* Poller return values. */
#define SL_POLLER_IDLE 0
#define SL_POLLER_BUSY 1

/*
 * A poller returns SL_POLLER_BUSY when it did work, SL_POLLER_IDLE when it
 * found none. A busy poller (period 0) waiting for something that cannot wake
 * a sleeping reactor (a device completion found only by polling) must return
 * SL_POLLER_BUSY while such work is outstanding. A poller that waits on a file
 * descriptor sets it with sl_poller_set_wake_fd.
 */
typedef int (*sl_poller_fn)(void *ctx);

typedef int (*sl_io_channel_create_cb)(void *io_device, void *ctx_buf);
typedef void (*sl_io_channel_destroy_cb)(void *io_device, void *ctx_buf);
typedef void (*sl_io_device_unregister_cb)(void *io_device);
typedef void (*sl_channel_msg)(struct sl_io_channel_iter *i);
typedef void (*sl_channel_for_each_cpl)(struct sl_io_channel_iter *i, int status);

/*
 * Hooks of the scheduler (lib/event) that runs threads.
 * new_thread places a new thread on a reactor (returns 0 or -errno).
 * wakeup is called after a message is enqueued to the thread (from any OS
 * thread): it must wake the reactor if it sleeps, cheaply otherwise.
 * wake_fd is called on the thread when a poller adds (add=true) or removes a
 * file descriptor whose readability must wake the reactor and make the poller
 * due at once (the scheduler then calls sl_poller_kick).
 */
struct sl_thread_sched_ops {
	int (*new_thread)(struct sl_thread *thread);
	void (*wakeup)(struct sl_thread *thread);
	int (*wake_fd)(struct sl_thread *thread, struct sl_poller *poller, int fd, bool add);
};

/* ctx_sz: bytes of scheduler-private context per thread (sl_thread_get_ctx). */
int sl_thread_lib_init(const struct sl_thread_sched_ops *ops, size_t ctx_sz);
void sl_thread_lib_fini(void);

/*
 * Create a thread. core: preferred reactor core, or -1 for any. The first
 * thread created is the app thread. Returns NULL on failure.
 */
struct sl_thread *sl_thread_create(const char *name, int32_t core);
/* Ask the thread to exit: it finishes once its pollers and channels are gone. */
int sl_thread_exit(struct sl_thread *thread);
bool sl_thread_is_exited(const struct sl_thread *thread);
bool sl_thread_is_running(const struct sl_thread *thread);
/* Free an exited thread (called by the scheduler). */
void sl_thread_destroy(struct sl_thread *thread);

/*
 * Run one iteration: up to max_msgs messages (0: default burst), every busy
 * poller, every timed poller that is due. now: current ticks, or 0 to read
 * them. Returns SL_POLLER_BUSY if anything did work.
 */
int sl_thread_poll(struct sl_thread *thread, uint32_t max_msgs, uint64_t now);
/* Ticks when the thread's last sl_thread_poll ended (the scheduler reuses it as "now"). */
uint64_t sl_thread_get_last_tsc(const struct sl_thread *thread);
/* Tick at which the earliest timed poller is due; 0 when there is none. */
uint64_t sl_thread_next_poller_expiration(const struct sl_thread *thread);
/* True when the thread has queued messages (any OS thread may ask). */
bool sl_thread_has_messages(const struct sl_thread *thread);

void *sl_thread_get_ctx(struct sl_thread *thread);
struct sl_thread *sl_thread_get_from_ctx(void *ctx);
int32_t sl_thread_get_core_hint(const struct sl_thread *thread);
const char *sl_thread_get_name(const struct sl_thread *thread);
uint64_t sl_thread_get_id(const struct sl_thread *thread);
struct sl_thread *sl_thread_get_app_thread(void);
size_t sl_thread_get_count(void);

struct sl_thread *sl_get_thread(void);
/* Make thread the calling OS thread's current thread (the scheduler does this). */
void sl_set_thread(struct sl_thread *thread);

struct sl_thread_stats {
	uint64_t busy_tsc;
	uint64_t idle_tsc;
	uint64_t msgs;
};
/* Statistics of a thread; read racily from another thread (diagnostics only). */
void sl_thread_get_stats(const struct sl_thread *thread, struct sl_thread_stats *stats);

/*
 * Iterate threads for diagnostics (RPC on the app thread): calls fn for every
 * live thread while holding the registry lock. fn must not create or destroy
 * threads.
 */
void sl_thread_foreach_locked(void (*fn)(struct sl_thread *thread, void *ctx), void *ctx);
size_t sl_thread_get_poller_counts(const struct sl_thread *thread, size_t *busy, size_t *timed);

/*
 * Send fn(ctx) to run on thread. Safe from any OS thread, lock-free, no
 * allocation. Returns 0, -ENOMEM when the thread's ring is full, -EIO when
 * the thread has exited.
 */
int sl_thread_send_msg(const struct sl_thread *thread, sl_msg_fn fn, void *ctx);

/*
 * Run fn on every thread, one after another, then cpl on the calling thread.
 */
int sl_for_each_thread(sl_msg_fn fn, void *ctx, sl_msg_fn cpl);

/*
 * Pollers. period_us 0 registers a busy poller run on every iteration;
 * otherwise it runs every period_us microseconds, never before it is due.
 * A poller may unregister itself or any other poller of its thread from a
 * callback. Unregister sets *poller to NULL.
 */
struct sl_poller *sl_poller_register(sl_poller_fn fn, void *ctx, uint64_t period_us);
struct sl_poller *sl_poller_register_named(sl_poller_fn fn, void *ctx, uint64_t period_us,
					   const char *name);
void sl_poller_unregister(struct sl_poller **poller);

/*
 * Wake a sleeping reactor when fd becomes readable and run poller at once
 * (a timed poller is made due). The fd stays registered until the poller is
 * unregistered. Returns 0, -EINVAL without a scheduler, or -errno.
 */
int sl_poller_set_wake_fd(struct sl_poller *poller, int fd);
/* Scheduler side: fd of poller became readable; call on the poller's reactor. */
void sl_poller_kick(struct sl_poller *poller);

/*
 * I/O devices and channels. An io_device is any pointer with per-thread
 * state: sl_get_io_channel gives the calling thread its channel, created with
 * create_cb on first use and reference-counted; the last put destroys it
 * (destroy_cb, on the owning thread). Unregistering a device calls
 * unregister_cb on the unregistering thread once the last channel is gone.
 */
void sl_io_device_register(void *io_device, sl_io_channel_create_cb create_cb,
			   sl_io_channel_destroy_cb destroy_cb, size_t ctx_size, const char *name);
void sl_io_device_unregister(void *io_device, sl_io_device_unregister_cb unregister_cb);
bool sl_io_device_is_registered(void *io_device);

struct sl_io_channel *sl_get_io_channel(void *io_device);
void sl_put_io_channel(struct sl_io_channel *ch);
void *sl_io_channel_get_ctx(struct sl_io_channel *ch);
struct sl_io_channel *sl_io_channel_from_ctx(void *ctx);
struct sl_thread *sl_io_channel_get_thread(struct sl_io_channel *ch);
void *sl_io_channel_get_io_device(struct sl_io_channel *ch);

/*
 * Call fn on every thread that has a channel to io_device, one thread after
 * another; fn must end with sl_for_each_channel_continue. A non-zero status
 * stops the iteration. cpl runs on the calling thread with the last status.
 */
void sl_for_each_channel(void *io_device, sl_channel_msg fn, void *ctx,
			 sl_channel_for_each_cpl cpl);
void sl_for_each_channel_continue(struct sl_io_channel_iter *i, int status);
void *sl_io_channel_iter_get_ctx(struct sl_io_channel_iter *i);
struct sl_io_channel *sl_io_channel_iter_get_channel(struct sl_io_channel_iter *i);
void *sl_io_channel_iter_get_io_device(struct sl_io_channel_iter *i);

#ifdef __cplusplus
}
#endif
#endif
