/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Non-blocking TCP sockets polled by reactors.
 *
 * Two implementations sit behind this API: "posix" (epoll with a zero
 * timeout, queued writes flushed with one writev per socket per poll) and
 * "uring" (io_uring: batched send/recv). A socket group belongs to one
 * thread (an NVMe-oF poll group); every socket in it is used only from that
 * thread. Nothing here blocks and nothing allocates per I/O.
 *
 * Functions return 0 or a negative errno unless documented otherwise.
 */
#ifndef SLUICE_SOCK_H
#define SLUICE_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "sluice/util.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_sock;
struct sl_sock_group;

/* Implementation-wide options (sock_impl_set_options / sock_impl_get_options). */
struct sl_sock_impl_opts {
	uint32_t recv_buf_size;	 /* SO_RCVBUF, 0 = kernel default */
	uint32_t send_buf_size;	 /* SO_SNDBUF, 0 = kernel default */
	bool enable_recv_pipe;	 /* read ahead into a per-socket buffer (fewer recv calls) */
	uint32_t recv_pipe_size; /* bytes of that buffer */
	bool enable_zerocopy_send_server; /* MSG_ZEROCOPY on accepted sockets */
	bool enable_zerocopy_send_client; /* MSG_ZEROCOPY on connected sockets */
	uint32_t zerocopy_threshold;	  /* smallest flush sent with MSG_ZEROCOPY */
	bool enable_quickack;		  /* TCP_QUICKACK */
	bool enable_placement_id;	  /* reserved; always false here */
};

/* Per-socket options given at listen/connect time. */
struct sl_sock_opts {
	int priority; /* SO_PRIORITY, 0 = leave */
	bool zcopy;   /* allow MSG_ZEROCOPY if the implementation enables it */
	bool nodelay; /* TCP_NODELAY (default true) */
};

/* Fill opts with the defaults. */
void sl_sock_opts_init(struct sl_sock_opts *opts);

/*
 * An asynchronous write: iovcnt iovecs that stay valid until cb_fn runs.
 * The socket queues it; the group's poll (or sl_sock_flush) sends queued
 * requests with as few writev/sendmsg calls as possible. cb_fn runs on the
 * socket's thread with 0 once every byte left, or a negative errno when the
 * socket failed or closed first (every queued request gets its callback).
 */
struct sl_sock_request {
	void (*cb_fn)(void *cb_arg, int status);
	void *cb_arg;
	struct {
		struct sl_sock_request *next; /* queue link, owned by lib/sock */
		uint32_t offset;	      /* bytes of this request already sent */
	} internal;
	int iovcnt;
	struct iovec iov[]; /* caller allocates the request with room for iovcnt */
};

/*
 * Listen on ip:port ("0.0.0.0", "::", "127.0.0.1"; IPv4 or IPv6 literal).
 * impl_name NULL selects the default implementation. Returns NULL with
 * errno set on failure (the error is logged with the address).
 */
struct sl_sock *sl_sock_listen(const char *ip, int port, const char *impl_name,
			       const struct sl_sock_opts *opts);
/* Accept one pending connection; NULL with errno EAGAIN when there is none. */
struct sl_sock *sl_sock_accept(struct sl_sock *listen_sock);
/* Connect (blocking until connected, then non-blocking); NULL + errno on failure. */
struct sl_sock *sl_sock_connect(const char *ip, int port, const char *impl_name,
				const struct sl_sock_opts *opts);
/*
 * Close and free. Queued write requests complete with -ECANCELED first.
 * *sock is set to NULL. Removes the socket from its group if still in one.
 */
int sl_sock_close(struct sl_sock **sock);

/*
 * Receive up to len bytes / into iovecs. Returns bytes read (> 0), 0 when
 * the peer closed the connection, or -1 with errno (EAGAIN when nothing is
 * ready, others on failure).
 */
ssize_t sl_sock_recv(struct sl_sock *sock, void *buf, size_t len);
ssize_t sl_sock_readv(struct sl_sock *sock, struct iovec *iov, int iovcnt);

/* Synchronous non-blocking writev: bytes sent or -1 with errno. Flushes queued requests first. */
ssize_t sl_sock_writev(struct sl_sock *sock, struct iovec *iov, int iovcnt);
/* Queue an asynchronous write (see struct sl_sock_request). */
void sl_sock_writev_async(struct sl_sock *sock, struct sl_sock_request *req);
/* Try to send queued requests now; 0 or a negative errno (the socket then failed). */
int sl_sock_flush(struct sl_sock *sock);

/* Local and peer address and port. */
int sl_sock_getaddr(struct sl_sock *sock, char *saddr, int slen, uint16_t *sport, char *caddr,
		    int clen, uint16_t *cport);
/* True while the connection is usable (not closed by the peer, no error seen). */
bool sl_sock_is_connected(struct sl_sock *sock);
/* Name of the implementation the socket uses ("posix", "uring"). */
const char *sl_sock_get_impl_name(struct sl_sock *sock);

typedef void (*sl_sock_cb)(void *cb_arg, struct sl_sock_group *group, struct sl_sock *sock);

/* A group of sockets polled together from one thread. ctx is returned by sl_sock_group_get_ctx. */
struct sl_sock_group *sl_sock_group_create(void *ctx);
void *sl_sock_group_get_ctx(struct sl_sock_group *group);
/*
 * cb_fn runs from sl_sock_group_poll when the socket has data to read or the
 * peer closed it (the callback then sees recv return 0 or -1).
 */
int sl_sock_group_add_sock(struct sl_sock_group *group, struct sl_sock *sock, sl_sock_cb cb_fn,
			   void *cb_arg);
int sl_sock_group_remove_sock(struct sl_sock_group *group, struct sl_sock *sock);
/*
 * Flush every socket's queued writes, then run the callbacks of up to
 * max_events readable sockets. Returns the number of callbacks run plus
 * the number of write requests completed (0 = idle), or a negative errno.
 */
int sl_sock_group_poll_count(struct sl_sock_group *group, int max_events);
int sl_sock_group_poll(struct sl_sock_group *group);
/* A file descriptor that becomes readable when the group has work (for sl_poller_set_wake_fd), or
 * -1. */
int sl_sock_group_get_wake_fd(struct sl_sock_group *group);
/* Free an empty group; -EBUSY while sockets remain. *group is set to NULL. */
int sl_sock_group_close(struct sl_sock_group **group);

/* Implementation selection and options (RPCs sock_set_default_impl, sock_impl_*_options). */
int sl_sock_set_default_impl(const char *impl_name);
const char *sl_sock_get_default_impl(void);
int sl_sock_impl_get_opts(const char *impl_name, struct sl_sock_impl_opts *opts);
int sl_sock_impl_set_opts(const char *impl_name, const struct sl_sock_impl_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
