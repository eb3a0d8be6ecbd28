/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Generic socket layer: what every implementation shares, so that posix.c and
 * uring.c only decide how bytes move.
 *
 * - Address handling, socket options and accept are plain syscalls for both
 *   implementations: they are not on the I/O path.
 * - Async write requests form one FIFO per socket. An implementation gathers
 *   iovecs from it (sock_gather), tells how many bytes one send took
 *   (sock_advance), and this file completes requests in order. With
 *   MSG_ZEROCOPY a fully sent request is not done until the kernel says it
 *   released the pages: it waits on a second FIFO for the notification.
 * - Callbacks may close any socket, their own included. Freeing is therefore
 *   deferred while a lib/sock call that runs callbacks is on the stack (a
 *   per-thread depth and zombie list): pointers held by a poll in progress
 *   (epoll events, CQE user data) stay valid, and a closed socket is only
 *   recognised by its zombie flag.
 */
#include "sock_internal.h"

#include "sluice/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

SL_LOG_REGISTER_COMPONENT(sock)

#define SOCK_LISTEN_BACKLOG 512

static struct sock_impl *g_impls[SOCK_MAX_IMPLS];
static int g_nimpls;
static struct sock_impl *g_default_impl;

/* lib/sock calls that run callbacks, nested on this thread; frees wait for 0. */
static __thread uint32_t t_depth;
static __thread struct sl_sock *t_zombies;

void sock_impl_register(struct sock_impl *impl)
{
	if (g_nimpls == SOCK_MAX_IMPLS) {
		SL_ERRLOG("too many socket implementations, %s dropped\n", impl->name);
		return;
	}
	g_impls[g_nimpls++] = impl;
	/* posix is the default when present, as in SPDK. */
	if (!g_default_impl || !strcmp(impl->name, "posix"))
		g_default_impl = impl;
}

struct sock_impl *sock_impl_find(const char *name)
{
	if (!name)
		return g_default_impl;
	for (int i = 0; i < g_nimpls; i++)
		if (!strcmp(g_impls[i]->name, name))
			return g_impls[i];
	return NULL;
}

struct sock_impl *sock_impl_next(struct sock_impl *prev)
{
	if (!prev)
		return g_nimpls ? g_impls[0] : NULL;
	for (int i = 0; i + 1 < g_nimpls; i++)
		if (g_impls[i] == prev)
			return g_impls[i + 1];
	return NULL;
}

int sl_sock_set_default_impl(const char *impl_name)
{
	struct sock_impl *impl;

	if (!impl_name)
		return -EINVAL;
	impl = sock_impl_find(impl_name);
	if (!impl) {
		SL_ERRLOG("unknown socket implementation %s\n", impl_name);
		return -EINVAL;
	}
	g_default_impl = impl;
	return 0;
}

const char *sl_sock_get_default_impl(void)
{
	return g_default_impl ? g_default_impl->name : NULL;
}

int sl_sock_impl_get_opts(const char *impl_name, struct sl_sock_impl_opts *opts)
{
	struct sock_impl *impl;

	if (!impl_name || !opts)
		return -EINVAL;
	impl = sock_impl_find(impl_name);
	if (!impl)
		return -EINVAL;
	*opts = *impl->opts;
	return 0;
}

int sl_sock_impl_set_opts(const char *impl_name, const struct sl_sock_impl_opts *opts)
{
	struct sock_impl *impl;

	if (!impl_name || !opts)
		return -EINVAL;
	impl = sock_impl_find(impl_name);
	if (!impl) {
		SL_ERRLOG("unknown socket implementation %s\n", impl_name);
		return -EINVAL;
	}
	if (opts->enable_placement_id) {
		SL_ERRLOG("%s: enable_placement_id is not supported\n", impl_name);
		return -EINVAL;
	}
	if (opts->enable_recv_pipe && opts->recv_pipe_size < 1024) {
		SL_ERRLOG("%s: recv_pipe_size %u is too small (1024 at least)\n", impl_name,
			  opts->recv_pipe_size);
		return -EINVAL;
	}
	if (opts->recv_buf_size > INT32_MAX || opts->send_buf_size > INT32_MAX)
		return -EINVAL;
	*impl->opts = *opts;
	return 0;
}

void sl_sock_opts_init(struct sl_sock_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->zcopy = true;
	opts->nodelay = true;
}

/* ---- deferred frees ---- */

static void sock_free(struct sl_sock *sock)
{
	free(sock->pipe.buf);
	free(sock);
}

static void sock_enter(void)
{
	t_depth++;
}

static void sock_leave(void)
{
	struct sl_sock *z;

	if (--t_depth)
		return;
	while ((z = t_zombies)) {
		t_zombies = z->zombie_next;
		sock_free(z);
	}
}

/* ---- errors and request completion ---- */

void sock_set_error(struct sl_sock *sock, int err)
{
	if (sock->error)
		return;
	sock->error = err;
	if (err != -ECONNRESET && err != -EPIPE)
		SL_ERRLOG("socket %s: %s\n", sock->desc, strerror(-err));
	else
		SL_INFOLOG("socket %s: %s\n", sock->desc, strerror(-err));
	/* Queued writes will fail too: the group's next flush finds out and completes them. */
	sock_group_mark_flush(sock);
}

static void request_complete(struct sl_sock *sock, struct sl_sock_request *req, int status)
{
	req->internal.next = NULL;
	if (status)
		sock->stats.requests_failed++;
	else
		sock->stats.requests_done++;
	req->cb_fn(req->cb_arg, status);
}

static size_t request_len(const struct sl_sock_request *req)
{
	return sl_iov_length(req->iov, req->iovcnt);
}

/* Every zero-copy send up to now is notified. */
static bool zcopy_idle(const struct sl_sock *sock)
{
	return sock->zc_done == sock->zc_next;
}

/* Run the callbacks of a detached chain of finished requests. */
static int complete_chain(struct sl_sock *sock, struct sl_sock_request *req)
{
	struct sl_sock_request *next;
	int done = 0;

	for (; req; req = next) {
		next = req->internal.next;
		request_complete(sock, req, 0);
		done++;
	}
	return done;
}

int sock_advance(struct sl_sock *sock, size_t n)
{
	struct sl_sock_request *req, *done_head = NULL, *done_tail = NULL;

	/*
	 * Detach everything this send finished before running any callback: one
	 * may close the socket, and bytes that left are not cancelled.
	 */
	while ((req = sock->queued_head)) {
		size_t left = request_len(req) - req->internal.offset;

		if (left > n) {
			req->internal.offset += (uint32_t)n;
			break;
		}
		n -= left;
		sock->queued_head = req->internal.next;
		if (!sock->queued_head)
			sock->queued_tail = NULL;
		req->internal.next = NULL;
		if (zcopy_idle(sock)) {
			if (done_tail)
				done_tail->internal.next = req;
			else
				done_head = req;
			done_tail = req;
			continue;
		}
		/*
		 * A zero-copy send may still hold its pages (or an earlier request's,
		 * which must complete first): wait for the last one issued.
		 */
		req->internal.offset = sock->zc_next - 1;
		if (sock->pending_tail)
			sock->pending_tail->internal.next = req;
		else
			sock->pending_head = req;
		sock->pending_tail = req;
	}
	return complete_chain(sock, done_head);
}

int sock_zcopy_notified(struct sl_sock *sock, uint32_t lo, uint32_t hi, bool copied)
{
	struct sl_sock_request *req, *done_head, *last = NULL;
	uint32_t count = hi - lo + 1;

	sock->stats.zcopy_notified += count;
	if (copied)
		sock->stats.zcopy_copied += count;
	/*
	 * TCP frees its buffers in sequence order (cumulative ACKs), so ranges
	 * arrive in order: the highest one notified bounds what is done.
	 */
	if ((int32_t)(hi + 1 - sock->zc_done) > 0)
		sock->zc_done = hi + 1;
	done_head = sock->pending_head;
	for (req = sock->pending_head; req; req = req->internal.next) {
		if ((int32_t)(req->internal.offset - sock->zc_done) >= 0)
			break;
		last = req;
	}
	if (!last)
		return 0;
	sock->pending_head = last->internal.next;
	if (!sock->pending_head)
		sock->pending_tail = NULL;
	last->internal.next = NULL;
	return complete_chain(sock, done_head);
}

size_t sock_gather(struct sl_sock *sock, struct iovec *iov, int max, int *iovcnt)
{
	struct sl_sock_request *req;
	size_t total = 0;
	int cnt = 0;

	for (req = sock->queued_head; req && cnt < max; req = req->internal.next) {
		size_t skip = req->internal.offset;

		for (int i = 0; i < req->iovcnt && cnt < max; i++) {
			size_t len = req->iov[i].iov_len;

			if (skip >= len) {
				skip -= len;
				continue;
			}
			iov[cnt].iov_base = (uint8_t *)req->iov[i].iov_base + skip;
			iov[cnt].iov_len = len - skip;
			total += len - skip;
			skip = 0;
			cnt++;
		}
	}
	*iovcnt = cnt;
	return total;
}

int sock_abort_requests(struct sl_sock *sock, int status)
{
	struct sl_sock_request *req;
	int done = 0;

	for (;;) {
		if ((req = sock->queued_head)) {
			sock->queued_head = req->internal.next;
			if (!sock->queued_head)
				sock->queued_tail = NULL;
		} else if ((req = sock->pending_head)) {
			sock->pending_head = req->internal.next;
			if (!sock->pending_head)
				sock->pending_tail = NULL;
		} else {
			break;
		}
		request_complete(sock, req, status);
		done++;
	}
	return done;
}

size_t sock_pipe_read(struct sl_sock *sock, const struct iovec *iov, int iovcnt)
{
	struct sock_pipe *p = &sock->pipe;
	size_t n = sl_iov_from_buf(iov, iovcnt, p->buf + p->off, p->len);

	p->off += (uint32_t)n;
	p->len -= (uint32_t)n;
	if (!p->len)
		p->off = 0;
	return n;
}

ssize_t sock_readv_now(struct sl_sock *sock, struct iovec *iov, int iovcnt)
{
	struct sock_pipe *p = &sock->pipe;
	struct iovec v[SOCK_PIPE_MAX_IOV + 1];
	size_t want;
	ssize_t n;

	if (p->len)
		return (ssize_t)sock_pipe_read(sock, iov, iovcnt);
	sock->stats.recv_calls++;
	want = sl_iov_length(iov, iovcnt);
	if (p->buf && iovcnt <= SOCK_PIPE_MAX_IOV && want < p->size) {
		/* What the caller asked for lands in place; the rest waits in the pipe. */
		memcpy(v, iov, (size_t)iovcnt * sizeof(*iov));
		v[iovcnt].iov_base = p->buf;
		v[iovcnt].iov_len = p->size;
		n = readv(sock->fd, v, iovcnt + 1);
		if (n < 0)
			return -errno;
		if ((size_t)n > want) {
			p->off = 0;
			p->len = (uint32_t)((size_t)n - want);
			return (ssize_t)want;
		}
		return n;
	}
	n = readv(sock->fd, iov, iovcnt);
	return n < 0 ? -errno : n;
}

int sock_send_now(struct sl_sock *sock, bool *blocked)
{
	struct iovec iov[SOCK_IOV_BATCH];
	bool zc_ok = sock->zcopy;
	int done = 0;

	*blocked = false;
	while (sock->queued_head && !sock->zombie) {
		int cnt, flags = MSG_DONTWAIT | MSG_NOSIGNAL;
		size_t total = sock_gather(sock, iov, SOCK_IOV_BATCH, &cnt);
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
		bool zc = zc_ok && total >= sock->impl_opts.zerocopy_threshold;
		ssize_t n;

		if (!total) { /* only empty requests left */
			done += sock_advance(sock, 0);
			continue;
		}
		if (zc)
			flags |= MSG_ZEROCOPY;
		n = sendmsg(sock->fd, &msg, flags);
		sock->stats.sendmsg_calls++;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS && zc) {
				/* Notification memory (optmem) exhausted: copy this time. */
				zc_ok = false;
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				*blocked = true;
				break;
			}
			return -errno;
		}
		if (zc) {
			sock->zc_next++;
			sock->stats.zcopy_sends++;
		}
		done += sock_advance(sock, (size_t)n);
		if ((size_t)n < total) {
			*blocked = true;
			break;
		}
	}
	return done;
}

/* ---- addresses and options ---- */

static int sock_resolve(const char *ip, int port, bool passive, struct addrinfo **res)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
	};
	char portstr[16];
	int rc;

	if (!ip || port < 0 || port > 65535)
		return -EINVAL;
	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(ip, portstr, &hints, res);
	if (rc) {
		SL_ERRLOG("cannot use address %s port %d: %s\n", ip, port, gai_strerror(rc));
		return rc == EAI_SYSTEM ? -errno : -EINVAL;
	}
	return 0;
}

static int sockaddr_fmt(const struct sockaddr_storage *ss, char *buf, int len, uint16_t *port)
{
	const void *a;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		a = &in->sin_addr;
		if (port)
			*port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		a = &in6->sin6_addr;
		if (port)
			*port = ntohs(in6->sin6_port);
	} else {
		return -EAFNOSUPPORT;
	}
	if (buf && !inet_ntop(ss->ss_family, a, buf, (socklen_t)len))
		return -errno;
	return 0;
}

static void sock_describe(struct sl_sock *sock, bool local)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char addr[INET6_ADDRSTRLEN];
	uint16_t port = 0;
	int rc;

	rc = local ? getsockname(sock->fd, (struct sockaddr *)&ss, &sl)
		   : getpeername(sock->fd, (struct sockaddr *)&ss, &sl);
	if (rc || sockaddr_fmt(&ss, addr, sizeof(addr), &port)) {
		snprintf(sock->desc, sizeof(sock->desc), "fd %d", sock->fd);
		return;
	}
	snprintf(sock->desc, sizeof(sock->desc), ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
		 addr, port);
}

static int setsockopt_int(int fd, int level, int name, int val, const char *what)
{
	if (setsockopt(fd, level, name, &val, sizeof(val))) {
		int err = -errno;

		SL_ERRLOG("setsockopt %s=%d on fd %d: %s\n", what, val, fd, strerror(errno));
		return err;
	}
	return 0;
}

/* Options set before listen()/connect() (buffer sizes are inherited by accepted sockets). */
static int sock_apply_early_opts(int fd, const struct sl_sock_impl_opts *io, bool listening)
{
	int rc = 0;

	if (io->recv_buf_size)
		rc = rc
			     ?: setsockopt_int(fd, SOL_SOCKET, SO_RCVBUF, (int)io->recv_buf_size,
					       "SO_RCVBUF");
	if (io->send_buf_size)
		rc = rc
			     ?: setsockopt_int(fd, SOL_SOCKET, SO_SNDBUF, (int)io->send_buf_size,
					       "SO_SNDBUF");
	if (listening)
		rc = rc ?: setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
	return rc;
}

/* Options of a connected socket. */
static int sock_apply_conn_opts(struct sl_sock *sock)
{
	int fd = sock->fd, rc = 0;
	bool zc_allowed;

	if (sock->opts.nodelay)
		rc = rc ?: setsockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
	if (sock->opts.priority)
		rc = rc
			     ?: setsockopt_int(fd, SOL_SOCKET, SO_PRIORITY, sock->opts.priority,
					       "SO_PRIORITY");
	if (sock->impl_opts.enable_quickack)
		rc = rc ?: setsockopt_int(fd, IPPROTO_TCP, TCP_QUICKACK, 1, "TCP_QUICKACK");
	if (rc)
		return rc;
	zc_allowed = sock->accepted ? sock->impl_opts.enable_zerocopy_send_server
				    : sock->impl_opts.enable_zerocopy_send_client;
	if (sock->opts.zcopy && zc_allowed) {
		int one = 1;

		/* Older kernels or odd address families: fall back to copying sends. */
		if (!setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)))
			sock->zcopy = true;
		else
			SL_INFOLOG("socket %s: no SO_ZEROCOPY (%s), sends copy\n", sock->desc,
				   strerror(errno));
	}
	return 0;
}

static struct sl_sock *sock_create(const struct sock_impl *impl, int fd,
				   const struct sl_sock_opts *opts,
				   const struct sl_sock_impl_opts *impl_opts, bool listening,
				   bool accepted)
{
	struct sl_sock *sock;
	int rc;

	sock = calloc(1, impl->sock_size);
	if (!sock) {
		rc = -ENOMEM;
		goto out_err;
	}
	sock->impl = impl;
	sock->fd = fd;
	sock->opts = *opts;
	sock->impl_opts = *impl_opts;
	sock->listening = listening;
	sock->accepted = accepted;
	sock_describe(sock, listening);
	if (!listening) {
		rc = sock_apply_conn_opts(sock);
		if (rc)
			goto out_free_sock;
		if (impl_opts->enable_recv_pipe) {
			/* Page-aligned: io_uring may register (pin) it. */
			sock->pipe.buf =
				aligned_alloc(4096, SL_ALIGN_UP(impl_opts->recv_pipe_size, 4096));
			if (!sock->pipe.buf) {
				rc = -ENOMEM;
				goto out_free_sock;
			}
			sock->pipe.size = impl_opts->recv_pipe_size;
		}
	}
	rc = impl->sock_init(sock);
	if (rc)
		goto out_free_pipe;
	return sock;

out_free_pipe:
	free(sock->pipe.buf);
out_free_sock:
	free(sock);
out_err:
	errno = -rc;
	return NULL;
}

static const struct sl_sock_opts *opts_or_default(const struct sl_sock_opts *opts,
						  struct sl_sock_opts *def)
{
	if (opts)
		return opts;
	sl_sock_opts_init(def);
	return def;
}

/* Listen on (listening) or connect to (!listening) one resolved address: fd or -errno. */
static int sock_open_addr(struct sock_impl *impl, const struct addrinfo *ai, bool listening)
{
	int fd, rc;

	/* A connecting socket blocks until connected, then turns non-blocking. */
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | (listening ? SOCK_NONBLOCK : 0),
		    ai->ai_protocol);
	if (fd < 0)
		return -errno;
	rc = sock_apply_early_opts(fd, impl->opts, listening);
	if (listening) {
		/* "::" listens on IPv6 only, so that 0.0.0.0 on the same port can coexist. */
		if (!rc && ai->ai_family == AF_INET6)
			rc = setsockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
		if (!rc && bind(fd, ai->ai_addr, ai->ai_addrlen))
			rc = -errno;
		if (!rc && listen(fd, SOCK_LISTEN_BACKLOG))
			rc = -errno;
	} else {
		if (!rc) {
			do {
				rc = connect(fd, ai->ai_addr, ai->ai_addrlen) ? -errno : 0;
			} while (rc == -EINTR);
		}
		if (!rc) {
			int fl = fcntl(fd, F_GETFL);

			if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK))
				rc = -errno;
		}
	}
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

static struct sl_sock *sock_open(const char *ip, int port, const char *impl_name,
				 const struct sl_sock_opts *opts, bool listening)
{
	const char *what = listening ? "listen on" : "connect to";
	struct sock_impl *impl = sock_impl_find(impl_name);
	struct sl_sock_opts def;
	struct addrinfo *res, *ai;
	struct sl_sock *sock;
	int fd = -1, rc;

	if (!impl) {
		SL_ERRLOG("%s %s port %d: unknown socket implementation %s\n", what, ip ? ip : "?",
			  port, impl_name);
		errno = EINVAL;
		return NULL;
	}
	opts = opts_or_default(opts, &def);
	rc = sock_resolve(ip, port, listening, &res);
	if (rc) {
		errno = -rc;
		return NULL;
	}
	rc = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		rc = sock_open_addr(impl, ai, listening);
		if (rc >= 0) {
			fd = rc;
			break;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		SL_ERRLOG("%s %s port %d: %s\n", what, ip, port, strerror(-rc));
		errno = -rc;
		return NULL;
	}
	sock = sock_create(impl, fd, opts, impl->opts, listening, false);
	if (!sock) {
		rc = errno;
		SL_ERRLOG("%s %s port %d: %s\n", what, ip, port, strerror(rc));
		close(fd);
		errno = rc;
	}
	return sock;
}

struct sl_sock *sl_sock_listen(const char *ip, int port, const char *impl_name,
			       const struct sl_sock_opts *opts)
{
	return sock_open(ip, port, impl_name, opts, true);
}

struct sl_sock *sl_sock_accept(struct sl_sock *listen_sock)
{
	struct sl_sock *sock;
	int fd, err;

	if (!listen_sock || !listen_sock->listening) {
		errno = EINVAL;
		return NULL;
	}
	fd = accept4(listen_sock->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		err = errno;
		if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR && err != ECONNABORTED)
			SL_ERRLOG("accept on %s: %s\n", listen_sock->desc, strerror(err));
		errno = (err == EINTR || err == ECONNABORTED) ? EAGAIN : err;
		return NULL;
	}
	/* Accepted sockets follow the implementation's options as they are now. */
	sock = sock_create(listen_sock->impl, fd, &listen_sock->opts, listen_sock->impl->opts,
			   false, true);
	if (!sock) {
		err = errno;
		SL_ERRLOG("accept on %s: %s\n", listen_sock->desc, strerror(err));
		close(fd);
		errno = err;
	}
	return sock;
}

struct sl_sock *sl_sock_connect(const char *ip, int port, const char *impl_name,
				const struct sl_sock_opts *opts)
{
	return sock_open(ip, port, impl_name, opts, false);
}

int sl_sock_close(struct sl_sock **psock)
{
	struct sl_sock *sock;

	if (!psock || !*psock)
		return -EINVAL;
	sock = *psock;
	*psock = NULL;
	if (sock->zombie)
		return -EBADF;
	sock_enter();
	sock->zombie = true;
	if (sock->group)
		sl_sock_group_remove_sock(sock->group, sock);
	/* The implementation stops its in-flight operations before requests fail. */
	sock->impl->sock_fini(sock);
	sock_abort_requests(sock, -ECANCELED);
	close(sock->fd);
	sock->fd = -1;
	sock->zombie_next = t_zombies;
	t_zombies = sock;
	sock_leave();
	return 0;
}

/* ---- data ---- */

ssize_t sl_sock_readv(struct sl_sock *sock, struct iovec *iov, int iovcnt)
{
	ssize_t rc;

	if (!sock || sock->zombie || sock->listening) {
		errno = EBADF;
		return -1;
	}
	if (sl_iov_length(iov, iovcnt) == 0)
		return 0;
	rc = sock->impl->readv(sock, iov, iovcnt);
	if (rc > 0) {
		if (sock->pipe.len)
			sock_group_mark_ready(sock);
		return rc;
	}
	if (rc == 0) {
		sock->peer_closed = true;
		return 0;
	}
	if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR)
		sock_set_error(sock, (int)rc);
	errno = rc == -EINTR ? EAGAIN : (int)-rc;
	return -1;
}

ssize_t sl_sock_recv(struct sl_sock *sock, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };

	return sl_sock_readv(sock, &iov, 1);
}

/* Flush with callbacks possibly closing the socket; 0 or -errno. */
static int sock_flush_locked(struct sl_sock *sock)
{
	int rc;

	if (!sock->queued_head && !sock->pending_head)
		return sock->error;
	/* Even after an error: the implementation knows whether a send is still in flight. */
	rc = sock->impl->flush(sock);
	if (rc < 0 && !sock->zombie) {
		sock_set_error(sock, rc);
		sock_abort_requests(sock, rc);
	}
	return rc < 0 ? rc : sock->error;
}

int sl_sock_flush(struct sl_sock *sock)
{
	int rc;

	if (!sock || sock->zombie)
		return -EBADF;
	sock_enter();
	rc = sock_flush_locked(sock);
	sock_leave();
	return rc;
}

ssize_t sl_sock_writev(struct sl_sock *sock, struct iovec *iov, int iovcnt)
{
	ssize_t n;
	int rc;

	if (!sock || sock->zombie || sock->listening) {
		errno = EBADF;
		return -1;
	}
	sock_enter();
	rc = sock_flush_locked(sock);
	if (!rc && sock->zombie)
		rc = -EBADF;
	if (!rc && sock->queued_head)
		rc = -EAGAIN; /* keep the byte stream in order */
	sock_leave();
	if (rc) {
		errno = -rc;
		return -1;
	}
	do {
		n = writev(sock->fd, iov, iovcnt);
	} while (n < 0 && errno == EINTR);
	sock->stats.sendmsg_calls++;
	if (n < 0 && errno != EAGAIN)
		sock_set_error(sock, -errno);
	return n;
}

void sl_sock_writev_async(struct sl_sock *sock, struct sl_sock_request *req)
{
	req->internal.next = NULL;
	req->internal.offset = 0;
	if (sock->zombie || sock->error) {
		/* Nothing will ever send it: fail it now. */
		request_complete(sock, req, sock->error ? sock->error : -EBADF);
		return;
	}
	if (sock->queued_tail)
		sock->queued_tail->internal.next = req;
	else
		sock->queued_head = req;
	sock->queued_tail = req;
	sock_group_mark_flush(sock);
}

int sl_sock_getaddr(struct sl_sock *sock, char *saddr, int slen, uint16_t *sport, char *caddr,
		    int clen, uint16_t *cport)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int rc;

	if (!sock || sock->zombie)
		return -EBADF;
	if (getsockname(sock->fd, (struct sockaddr *)&ss, &sl))
		return -errno;
	rc = sockaddr_fmt(&ss, saddr, slen, sport);
	if (rc)
		return rc;
	if (sock->listening) {
		if (caddr && clen > 0)
			caddr[0] = '\0';
		if (cport)
			*cport = 0;
		return 0;
	}
	sl = sizeof(ss);
	if (getpeername(sock->fd, (struct sockaddr *)&ss, &sl))
		return -errno;
	return sockaddr_fmt(&ss, caddr, clen, cport);
}

bool sl_sock_is_connected(struct sl_sock *sock)
{
	return sock && !sock->zombie && !sock->listening && !sock->peer_closed && !sock->error;
}

const char *sl_sock_get_impl_name(struct sl_sock *sock)
{
	return sock ? sock->impl->name : NULL;
}

void sock_get_stats(struct sl_sock *sock, struct sock_stats *stats)
{
	*stats = sock->stats;
}

/* ---- groups ---- */

struct sl_sock_group *sl_sock_group_create(void *ctx)
{
	struct sl_sock_group *group;
	int rc;

	if (!g_default_impl) {
		errno = ENODEV;
		return NULL;
	}
	group = calloc(1, sizeof(*group));
	if (!group) {
		errno = ENOMEM;
		return NULL;
	}
	group->ctx = ctx;
	/* A group polls sockets of one implementation: the default when it is made. */
	group->impl = g_default_impl;
	TAILQ_INIT(&group->socks);
	TAILQ_INIT(&group->flush);
	TAILQ_INIT(&group->ready);
	rc = group->impl->group_init(group);
	if (rc) {
		SL_ERRLOG("cannot create a %s socket group: %s\n", group->impl->name,
			  strerror(-rc));
		free(group);
		errno = -rc;
		return NULL;
	}
	return group;
}

void *sl_sock_group_get_ctx(struct sl_sock_group *group)
{
	return group ? group->ctx : NULL;
}

int sl_sock_group_add_sock(struct sl_sock_group *group, struct sl_sock *sock, sl_sock_cb cb_fn,
			   void *cb_arg)
{
	int rc;

	/* A listener may join too: its callback runs when connections wait in accept. */
	if (!group || !sock || !cb_fn || sock->zombie)
		return -EINVAL;
	if (sock->group)
		return -EBUSY;
	if (sock->impl != group->impl) {
		SL_ERRLOG("socket %s uses %s, its group polls %s sockets\n", sock->desc,
			  sock->impl->name, group->impl->name);
		return -EINVAL;
	}
	sock->cb_fn = cb_fn;
	sock->cb_arg = cb_arg;
	sock->group = group;
	rc = group->impl->group_add(group, sock);
	if (rc) {
		sock->group = NULL;
		SL_ERRLOG("socket %s: cannot join its group: %s\n", sock->desc, strerror(-rc));
		return rc;
	}
	TAILQ_INSERT_TAIL(&group->socks, sock, group_link);
	group->nsocks++;
	if (sock->queued_head)
		sock_group_mark_flush(sock);
	if (sock->pipe.len || sock->rx_event)
		sock_group_mark_ready(sock);
	return 0;
}

int sl_sock_group_remove_sock(struct sl_sock_group *group, struct sl_sock *sock)
{
	int rc;

	if (!group || !sock || sock->group != group)
		return -EINVAL;
	rc = group->impl->group_remove(group, sock);
	if (sock->on_flush) {
		TAILQ_REMOVE(&group->flush, sock, flush_link);
		sock->on_flush = false;
		group->nflush--;
	}
	if (sock->on_ready) {
		TAILQ_REMOVE(&group->ready, sock, ready_link);
		sock->on_ready = false;
		group->nready--;
	}
	TAILQ_REMOVE(&group->socks, sock, group_link);
	group->nsocks--;
	sock->group = NULL;
	sock->cb_fn = NULL;
	sock->cb_arg = NULL;
	return rc;
}

void sock_group_mark_flush(struct sl_sock *sock)
{
	struct sl_sock_group *group = sock->group;

	if (!group || sock->on_flush || sock->zombie)
		return;
	TAILQ_INSERT_TAIL(&group->flush, sock, flush_link);
	sock->on_flush = true;
	group->nflush++;
}

void sock_group_mark_ready(struct sl_sock *sock)
{
	struct sl_sock_group *group = sock->group;

	if (!group || sock->on_ready || sock->zombie)
		return;
	TAILQ_INSERT_TAIL(&group->ready, sock, ready_link);
	sock->on_ready = true;
	group->nready++;
}

int sock_group_flush(struct sl_sock_group *group)
{
	uint32_t n = group->nflush;
	struct sl_sock *sock;
	int done = 0, rc;

	/* Sockets re-queued by callbacks meanwhile wait for the next poll. */
	while (n-- && (sock = TAILQ_FIRST(&group->flush))) {
		TAILQ_REMOVE(&group->flush, sock, flush_link);
		sock->on_flush = false;
		group->nflush--;
		rc = sock->impl->flush(sock);
		if (rc > 0) {
			done += rc;
		} else if (rc < 0 && !sock->zombie) {
			sock_set_error(sock, rc);
			done += sock_abort_requests(sock, rc);
		}
	}
	return done;
}

bool sock_group_run_cb(struct sl_sock_group *group, struct sl_sock *sock)
{
	if (sock->zombie || sock->group != group || sock->poll_gen == group->poll_gen)
		return false;
	sock->poll_gen = group->poll_gen;
	sock->cb_fn(sock->cb_arg, group, sock);
	if (!sock->zombie && sock->group == group && sock->impl->cb_done)
		sock->impl->cb_done(sock);
	/* Data left in user space never makes the fd readable again: come back. */
	if (!sock->zombie && sock->group == group && (sock->pipe.len || sock->rx_event))
		sock_group_mark_ready(sock);
	return true;
}

int sock_group_run_ready(struct sl_sock_group *group, int max)
{
	uint32_t n = group->nready;
	struct sl_sock *sock;
	int ran = 0;

	while (n-- && ran < max && (sock = TAILQ_FIRST(&group->ready))) {
		TAILQ_REMOVE(&group->ready, sock, ready_link);
		sock->on_ready = false;
		group->nready--;
		if ((sock->pipe.len || sock->rx_event) && sock_group_run_cb(group, sock))
			ran++;
	}
	return ran;
}

int sl_sock_group_poll_count(struct sl_sock_group *group, int max_events)
{
	int rc;

	if (!group || max_events <= 0)
		return -EINVAL;
	sock_enter();
	group->poll_gen++;
	rc = group->impl->group_poll(group, max_events);
	sock_leave();
	return rc;
}

int sl_sock_group_poll(struct sl_sock_group *group)
{
	return sl_sock_group_poll_count(group, 32);
}

int sl_sock_group_get_wake_fd(struct sl_sock_group *group)
{
	if (!group || !group->impl->group_wake_fd)
		return -1;
	return group->impl->group_wake_fd(group);
}

int sl_sock_group_close(struct sl_sock_group **pgroup)
{
	struct sl_sock_group *group;

	if (!pgroup || !*pgroup)
		return -EINVAL;
	group = *pgroup;
	if (group->nsocks)
		return -EBUSY;
	group->impl->group_fini(group);
	free(group);
	*pgroup = NULL;
	return 0;
}
