/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * "posix" socket implementation: plain non-blocking syscalls, one epoll set
 * per group.
 *
 * Why it is shaped this way:
 * - A reactor must never block, so the group's epoll_wait has a zero
 *   timeout; the epoll fd itself is the group's wake fd (an epoll fd is
 *   readable while its ready list is not empty), so a sleeping reactor waits
 *   on all of a group's sockets with one fd.
 * - Responses are queued, not sent, and each poll sends everything a socket
 *   has queued with one sendmsg (up to SOCK_IOV_BATCH iovecs): one syscall
 *   per socket per poll however many PDUs went out.
 * - When the send buffer is full the socket leaves the flush list and waits
 *   for EPOLLOUT instead of retrying every poll; EPOLLOUT is armed only then,
 *   because a writable socket would otherwise keep the epoll fd readable and
 *   the reactor awake.
 * - The receive pipe (enable_recv_pipe) turns a PDU parser's many small reads
 *   into one readv: the caller's buffers first, then the pipe. The bytes in it
 *   are invisible to epoll, so the generic layer keeps such sockets on the
 *   group's ready list.
 * - MSG_ZEROCOPY (enable_zerocopy_send_*) pins the pages instead of copying;
 *   the kernel reports on the error queue when it released them, and only then
 *   may the caller reuse its buffers, so requests complete from there. The
 *   error queue shows up as EPOLLERR in the group, and a flush outside a group
 *   reads it too.
 */
#include "sock_internal.h"

#include "sluice/log.h"

#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* epoll events taken per poll at most. */
#define POSIX_MAX_EVENTS 64

struct posix_sock {
	struct sl_sock base;
	bool blocked;	/* send buffer full: wait for EPOLLOUT */
	bool out_armed; /* EPOLLOUT is in the epoll set */
};

struct posix_group {
	int epfd;
};

static struct sl_sock_impl_opts g_posix_default_opts = {
	.recv_buf_size = 0,
	.send_buf_size = 0,
	.enable_recv_pipe = true,
	.recv_pipe_size = 64 * 1024,
	/* Off by default: on loopback (and tests, VMs) the kernel copies anyway. */
	.enable_zerocopy_send_server = false,
	.enable_zerocopy_send_client = false,
	.zerocopy_threshold = 0,
	.enable_quickack = false,
	.enable_placement_id = false,
};
static struct sl_sock_impl_opts g_posix_opts;

static struct posix_sock *to_posix(struct sl_sock *sock)
{
	return SL_CONTAINEROF(sock, struct posix_sock, base);
}

static int posix_sock_init(struct sl_sock *sock)
{
	return 0;
}

static void posix_sock_fini(struct sl_sock *sock)
{
}

static ssize_t posix_readv(struct sl_sock *sock, struct iovec *iov, int iovcnt)
{
	return sock_readv_now(sock, iov, iovcnt);
}

/* Read zero-copy notifications; returns requests completed or -errno. */
static int posix_reap_errqueue(struct sl_sock *sock)
{
	char control[CMSG_SPACE(sizeof(struct sock_extended_err)) +
		     CMSG_SPACE(sizeof(struct sockaddr_in6))];
	int done = 0;

	while (!sock->zombie) {
		struct msghdr msg = { .msg_control = control, .msg_controllen = sizeof(control) };
		struct cmsghdr *cm;
		ssize_t n = recvmsg(sock->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			struct sock_extended_err ee;

			if (!(cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) &&
			    !(cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR))
				continue;
			memcpy(&ee, CMSG_DATA(cm), sizeof(ee));
			if (ee.ee_origin != SO_EE_ORIGIN_ZEROCOPY || ee.ee_errno)
				continue;
			done += sock_zcopy_notified(sock, ee.ee_info, ee.ee_data,
						    ee.ee_code & SO_EE_CODE_ZEROCOPY_COPIED);
		}
	}
	return done;
}

static int posix_set_out(struct posix_sock *ps, bool on)
{
	struct posix_group *pg = ps->base.group->impl_ctx;
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = &ps->base };

	if (ps->out_armed == on)
		return 0;
	if (epoll_ctl(pg->epfd, EPOLL_CTL_MOD, ps->base.fd, &ev))
		return -errno;
	ps->out_armed = on;
	return 0;
}

static int posix_flush(struct sl_sock *sock)
{
	struct posix_sock *ps = to_posix(sock);
	bool blocked = false;
	int done = 0, rc;

	/* In a group EPOLLERR says when to look; outside, every flush looks. */
	if (!sock->group && sock->zc_done != sock->zc_next) {
		rc = posix_reap_errqueue(sock);
		if (rc < 0)
			return rc;
		done += rc;
	}
	if (ps->blocked)
		return done;
	rc = sock_send_now(sock, &blocked);
	if (rc < 0)
		return rc;
	done += rc;
	if (blocked && sock->group && !sock->zombie) {
		ps->blocked = true;
		rc = posix_set_out(ps, true);
		if (rc)
			return rc;
	}
	return done;
}

static int posix_group_init(struct sl_sock_group *group)
{
	struct posix_group *pg = calloc(1, sizeof(*pg));

	if (!pg)
		return -ENOMEM;
	pg->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (pg->epfd < 0) {
		int err = -errno;

		free(pg);
		return err;
	}
	group->impl_ctx = pg;
	return 0;
}

static void posix_group_fini(struct sl_sock_group *group)
{
	struct posix_group *pg = group->impl_ctx;

	close(pg->epfd);
	free(pg);
	group->impl_ctx = NULL;
}

static int posix_group_add(struct sl_sock_group *group, struct sl_sock *sock)
{
	struct posix_group *pg = group->impl_ctx;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = sock };

	if (epoll_ctl(pg->epfd, EPOLL_CTL_ADD, sock->fd, &ev))
		return -errno;
	return 0;
}

static int posix_group_remove(struct sl_sock_group *group, struct sl_sock *sock)
{
	struct posix_group *pg = group->impl_ctx;
	struct posix_sock *ps = to_posix(sock);

	ps->blocked = false;
	ps->out_armed = false;
	if (epoll_ctl(pg->epfd, EPOLL_CTL_DEL, sock->fd, NULL))
		return -errno;
	return 0;
}

static int posix_group_poll(struct sl_sock_group *group, int max_events)
{
	struct posix_group *pg = group->impl_ctx;
	struct epoll_event ev[POSIX_MAX_EVENTS];
	struct sl_sock *readable[POSIX_MAX_EVENTS];
	int n, nr = 0, done = 0, ran, rc;

	n = epoll_wait(pg->epfd, ev, max_events < POSIX_MAX_EVENTS ? max_events : POSIX_MAX_EVENTS,
		       0);
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		struct sl_sock *sock = ev[i].data.ptr;
		struct posix_sock *ps = to_posix(sock);
		uint32_t e = ev[i].events;

		/* A callback run earlier in this loop may have closed or moved it. */
		if (sock->zombie || sock->group != group)
			continue;
		/* A hang-up or error also ends a wait for room: the next send reports it. */
		if ((e & EPOLLOUT) || (ps->blocked && (e & (EPOLLHUP | EPOLLERR)))) {
			ps->blocked = false;
			rc = posix_set_out(ps, false);
			if (rc)
				sock_set_error(sock, rc);
			sock_group_mark_flush(sock);
		}
		if ((e & EPOLLERR) && sock->zcopy) {
			rc = posix_reap_errqueue(sock);
			if (rc > 0)
				done += rc;
			/* Only notifications: nothing for the reader. */
			if (rc > 0 && !(e & (EPOLLIN | EPOLLHUP)))
				continue;
		}
		if (e & (EPOLLIN | EPOLLHUP | EPOLLERR))
			readable[nr++] = sock;
	}
	done += sock_group_flush(group);
	ran = sock_group_run_ready(group, max_events);
	for (int i = 0; i < nr && ran < max_events; i++)
		if (sock_group_run_cb(group, readable[i]))
			ran++;
	return ran + done;
}

static int posix_group_wake_fd(struct sl_sock_group *group)
{
	struct posix_group *pg = group->impl_ctx;

	return pg->epfd;
}

static struct sock_impl g_posix_impl = {
	.name = "posix",
	.opts = &g_posix_opts,
	.default_opts = &g_posix_default_opts,
	.sock_size = sizeof(struct posix_sock),
	.sock_init = posix_sock_init,
	.sock_fini = posix_sock_fini,
	.readv = posix_readv,
	.flush = posix_flush,
	.group_init = posix_group_init,
	.group_fini = posix_group_fini,
	.group_add = posix_group_add,
	.group_remove = posix_group_remove,
	.group_poll = posix_group_poll,
	.group_wake_fd = posix_group_wake_fd,
};

__attribute__((constructor)) static void posix_register(void)
{
	g_posix_opts = g_posix_default_opts;
	sock_impl_register(&g_posix_impl);
}
