/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/sock private header: the socket and group objects shared by the
 * generic layer (sock.c) and the implementations (posix.c, uring.c), and the
 * ops table an implementation registers.
 */
#ifndef SLUICE_SOCK_INTERNAL_H
#define SLUICE_SOCK_INTERNAL_H

#include "sluice/sock.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

/* iovecs gathered into one sendmsg (on the stack of the flush). */
#define SOCK_IOV_BATCH 256
/* Caller iovecs a pipe read takes (more: read without the pipe). */
#define SOCK_PIPE_MAX_IOV 32
/* Registered implementations at most. */
#define SOCK_MAX_IMPLS 4

struct sock_impl;

/* Counters the unit tests read (not part of the public API). */
struct sock_stats {
	uint64_t sendmsg_calls;	  /* send syscalls or send SQEs */
	uint64_t zcopy_sends;	  /* of which with MSG_ZEROCOPY */
	uint64_t zcopy_notified;  /* zero-copy sends the kernel reported done */
	uint64_t zcopy_copied;	  /* of which it had to copy anyway (loopback) */
	uint64_t recv_calls;	  /* recv syscalls or recv SQEs */
	uint64_t recv_fixed;	  /* of which into a registered buffer (uring) */
	uint64_t requests_done;	  /* async requests completed with 0 */
	uint64_t requests_failed; /* async requests completed with an error */
};

/* Read-ahead buffer (enable_recv_pipe). */
struct sock_pipe {
	uint8_t *buf;
	uint32_t size;
	uint32_t off; /* first unread byte */
	uint32_t len; /* unread bytes */
};

struct sl_sock {
	const struct sock_impl *impl;
	int fd;
	struct sl_sock_opts opts;
	struct sl_sock_impl_opts impl_opts; /* snapshot at creation */
	bool listening;
	bool accepted; /* server side of a connection */
	bool zcopy;    /* SO_ZEROCOPY is on: MSG_ZEROCOPY may be used */
	bool peer_closed;
	bool rx_event; /* the implementation holds an EOF or error for the reader */
	int error;     /* first fatal error (negative errno), 0 when none */
	bool zombie;   /* closed inside a lib/sock call: freed when that call returns */
	struct sl_sock *zombie_next;

	/* Async writes not yet fully handed to the kernel, oldest first. */
	struct sl_sock_request *queued_head, *queued_tail;
	/*
	 * Fully sent but waiting for MSG_ZEROCOPY notifications; internal.offset
	 * then holds the index of the last zero-copy send that may carry them.
	 */
	struct sl_sock_request *pending_head, *pending_tail;
	uint32_t zc_next; /* index of the next zero-copy send */
	uint32_t zc_done; /* every zero-copy send below this index is notified */

	struct sock_pipe pipe;

	struct sl_sock_group *group;
	sl_sock_cb cb_fn;
	void *cb_arg;
	TAILQ_ENTRY(sl_sock) group_link; /* group->socks */
	TAILQ_ENTRY(sl_sock) flush_link; /* group->flush while on it */
	TAILQ_ENTRY(sl_sock) ready_link; /* group->ready while on it */
	bool on_flush;
	bool on_ready;
	uint32_t poll_gen; /* group poll in which the callback last ran */

	struct sock_stats stats;
	char desc[64]; /* "addr:port" of the peer (or local for listeners), for logs */
};

TAILQ_HEAD(sock_list, sl_sock);

struct sl_sock_group {
	void *ctx;
	const struct sock_impl *impl; /* every socket in the group uses this one */
	struct sock_list socks;
	struct sock_list flush; /* sockets with queued writes */
	struct sock_list ready; /* sockets whose recv pipe holds data */
	uint32_t nsocks;
	uint32_t nflush;
	uint32_t nready;
	uint32_t poll_gen;
	void *impl_ctx; /* the implementation's per-group state */
};

struct sock_impl {
	const char *name;
	struct sl_sock_impl_opts *opts;		      /* current options */
	const struct sl_sock_impl_opts *default_opts; /* sock_impl_set_options starts there */
	size_t sock_size;			      /* bytes of its socket object (>= sl_sock) */

	/* Set up a connected or listening socket (fd is set); 0 or -errno. */
	int (*sock_init)(struct sl_sock *sock);
	/* Release what sock_init set up; in-flight operations must be gone after. */
	void (*sock_fini)(struct sl_sock *sock);
	/* Receive: bytes, 0 at EOF, or -errno (-EAGAIN: nothing now). */
	ssize_t (*readv)(struct sl_sock *sock, struct iovec *iov, int iovcnt);
	/* Push queued requests; returns requests completed (>= 0) or -errno. */
	int (*flush)(struct sl_sock *sock);

	int (*group_init)(struct sl_sock_group *group);
	void (*group_fini)(struct sl_sock_group *group);
	int (*group_add)(struct sl_sock_group *group, struct sl_sock *sock);
	int (*group_remove)(struct sl_sock_group *group, struct sl_sock *sock);
	/*
	 * Flush and find readable sockets: call sock_group_run_cb for up to
	 * max_events of them; returns work done (callbacks + completions) or -errno.
	 */
	int (*group_poll)(struct sl_sock_group *group, int max_events);
	int (*group_wake_fd)(struct sl_sock_group *group);
	/* Optional: the socket's callback returned (still open, still in the group). */
	void (*cb_done)(struct sl_sock *sock);
};

void sock_impl_register(struct sock_impl *impl);
#define SOCK_IMPL_REGISTER(var)                                                                    \
	__attribute__((constructor)) static void sock_impl_register_##var(void)                    \
	{                                                                                          \
		sock_impl_register(&var);                                                          \
	}
struct sock_impl *sock_impl_find(const char *name);
/* Iterate in registration order; NULL starts. */
struct sock_impl *sock_impl_next(struct sock_impl *prev);

/* ---- helpers for the implementations (sock.c) ---- */

/* Record a fatal error (first one wins) and log it once. */
void sock_set_error(struct sl_sock *sock, int err);
/*
 * Account n bytes handed to the kernel by one send (a zero-copy send bumps
 * sock->zc_next before). Completes what is done (callbacks run here, even
 * when one closes the socket); returns requests completed.
 */
int sock_advance(struct sl_sock *sock, size_t n);
/* Zero-copy sends [lo, hi] are notified; completes what that allows. */
int sock_zcopy_notified(struct sl_sock *sock, uint32_t lo, uint32_t hi, bool copied);
/* Gather queued data into iov (up to max entries); returns bytes and sets *iovcnt. */
size_t sock_gather(struct sl_sock *sock, struct iovec *iov, int max, int *iovcnt);
/* Complete every queued and pending request with status (close / failure). */
int sock_abort_requests(struct sl_sock *sock, int status);
/* Synchronous non-blocking read through the pipe: bytes, 0 at EOF or -errno. */
ssize_t sock_readv_now(struct sl_sock *sock, struct iovec *iov, int iovcnt);
/*
 * Synchronous non-blocking sends of the queue (MSG_ZEROCOPY when sock->zcopy
 * and the threshold allow); *blocked when the send buffer filled up.
 * Returns requests completed or -errno.
 */
int sock_send_now(struct sl_sock *sock, bool *blocked);
/* Copy up to the pipe's unread bytes into iov; returns bytes copied. */
size_t sock_pipe_read(struct sl_sock *sock, const struct iovec *iov, int iovcnt);
/* Run the socket's read callback from a group poll (skips closed / removed ones). */
bool sock_group_run_cb(struct sl_sock_group *group, struct sl_sock *sock);
/* Put the socket on the group's ready list (data buffered in user space). */
void sock_group_mark_ready(struct sl_sock *sock);
/* Put the socket back on its group's flush list (its writes can go on). */
void sock_group_mark_flush(struct sl_sock *sock);
/* Generic part of a group poll: flush the flush list; returns requests completed. */
int sock_group_flush(struct sl_sock_group *group);
/* Run callbacks of sockets on the ready list (up to max); returns callbacks run. */
int sock_group_run_ready(struct sl_sock_group *group, int max);

/* Test hook: counters of a socket. */
void sock_get_stats(struct sl_sock *sock, struct sock_stats *stats);

#endif
