/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * "uring" socket implementation: one io_uring per group; the group's poll
 * makes at most one syscall of its own (io_uring_enter to submit), and none
 * when it has nothing to submit, because completions are reaped from the
 * shared CQ ring in user space. (A reader that goes on reading after the
 * receive buffer ran dry makes its own read calls, see below.)
 *
 * Why it is shaped this way:
 * - Readiness costs no syscall: a socket in a group that waits for data has
 *   one receive in flight into its receive buffer (the pipe; uring needs
 *   one even if enable_recv_pipe is off). Its completion fills the pipe and
 *   puts the socket on the ready list, and reads are served from the pipe.
 *   Once the reader has emptied it, further reads go straight to the socket
 *   (into the caller's buffers, like posix) until EAGAIN, so bulk data is not
 *   copied twice; the next receive is armed when the poll ends, and all new
 *   receives and sends of a poll go to the kernel in one io_uring_enter.
 * - Registered buffers: each socket's pipe is registered in a sparse buffer
 *   table of the ring (io_uring_register_buffers_update_tag) and read with
 *   IORING_OP_READ_FIXED, which saves pinning and unpinning the pages on
 *   every receive. When registration fails (RLIMIT_MEMLOCK, old kernel) the
 *   socket uses plain IORING_OP_RECV. Sends cannot use registered buffers
 *   with liburing 2.3: a request's iovecs are arbitrary caller memory (not
 *   registered), and the only fixed-buffer send (send_zc_fixed) takes one
 *   contiguous buffer, not a gather list, and is zero-copy only.
 * - Sends: each poll prepares one IORING_OP_SENDMSG per socket for everything
 *   queued (up to SOCK_IOV_BATCH iovecs); at most one send per socket is in
 *   flight so the byte stream stays in order; its completion advances the
 *   request FIFO like a posix sendmsg would. MSG_ZEROCOPY is not used here.
 * - Wake fd: an eventfd registered with the ring, signalled on every CQE.
 *   It is drained only when a poll finds nothing to do, and only once per
 *   idle period, so a busy group pays no read() for it.
 * - A socket leaving its group (or closing) cancels its in-flight operations
 *   and waits for their CQEs: the kernel must be done with its buffers before
 *   they go away. Cancelling a receive or send that waits for the socket is
 *   immediate, so the wait is short.
 * - Sockets outside any group (a client before it joins a group) use the
 *   same synchronous calls as posix. A listener in a group waits with a
 *   one-shot IORING_OP_POLL_ADD, re-armed after its callback has accepted.
 */
#include "sock_internal.h"

#include "sluice/log.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

/* SQ entries per group ring (the CQ has twice as many). */
#define URING_ENTRIES 512
/* Registered-buffer slots per group ring: one per socket in the group. */
#define URING_MAX_BUFS 1024
/* CQEs taken per pass. */
#define URING_REAP_BATCH 64

/* Operation in the low bits of user_data (sockets are 8-byte aligned at least). */
enum uring_op {
	URING_OP_NONE = 0, /* cancels: their CQE carries nothing */
	URING_OP_RECV = 1,
	URING_OP_SEND = 2,
	URING_OP_POLL = 3, /* a listener's readiness */
};
#define URING_OP_MASK 3ULL

struct uring_sock {
	struct sl_sock base;
	bool recv_inflight;
	bool send_inflight;
	bool poll_inflight; /* listeners: POLL_ADD for a pending connection */
	bool send_done;	    /* a send CQE was reaped, its result not applied yet */
	int send_res;
	int rx_res;    /* EOF (0) or error held for the reader when base.rx_event */
	int buf_index; /* registered pipe slot, -1: none */
	struct msghdr msg;
	struct iovec iov[SOCK_IOV_BATCH];
	TAILQ_ENTRY(uring_sock) sent_link; /* group's sent list while send_done */
	bool on_sent;
	TAILQ_ENTRY(uring_sock) arm_link; /* group's arm list */
	bool on_arm;
	bool maybe_more; /* the last read filled what it was given: more may wait */
};

struct uring_group {
	struct io_uring ring;
	int efd;
	bool fixed_bufs;    /* a sparse buffer table is registered */
	bool armed;	    /* eventfd drained since the last CQE */
	bool polling;	    /* inside group_poll: submit at its end */
	uint32_t to_submit; /* SQEs prepared since the last submit */
	TAILQ_HEAD(, uring_sock) sent;
	TAILQ_HEAD(, uring_sock) arm; /* sockets to give a receive before submitting */
	uint64_t buf_map[URING_MAX_BUFS / 64];
};

static struct sl_sock_impl_opts g_uring_default_opts = {
	.recv_buf_size = 0,
	.send_buf_size = 0,
	.enable_recv_pipe = true,
	.recv_pipe_size = 64 * 1024,
	.enable_zerocopy_send_server = false,
	.enable_zerocopy_send_client = false,
	.zerocopy_threshold = 0,
	.enable_quickack = false,
	.enable_placement_id = false,
};
static struct sl_sock_impl_opts g_uring_opts;

static struct uring_sock *to_uring(struct sl_sock *sock)
{
	return SL_CONTAINEROF(sock, struct uring_sock, base);
}

static struct uring_group *group_of(struct uring_sock *us)
{
	return us->base.group ? us->base.group->impl_ctx : NULL;
}

static uint64_t ud(struct uring_sock *us, enum uring_op op)
{
	return (uint64_t)(uintptr_t)us | op;
}

/* One io_uring_enter for everything prepared; a failed submit is retried next time. */
static void uring_submit(struct uring_group *ug)
{
	int rc = io_uring_submit(&ug->ring);

	if (rc >= 0)
		ug->to_submit = 0;
}

static struct io_uring_sqe *uring_get_sqe(struct uring_group *ug)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ug->ring);

	if (!sqe) {
		/* SQ full: hand what is there to the kernel and take a fresh entry. */
		uring_submit(ug);
		sqe = io_uring_get_sqe(&ug->ring);
	}
	if (sqe)
		ug->to_submit++;
	return sqe;
}

static int uring_sock_init(struct sl_sock *sock)
{
	struct uring_sock *us = to_uring(sock);

	us->buf_index = -1;
	if (sock->listening)
		return 0;
	if (sock->zcopy)
		SL_INFOLOG("socket %s: uring sends copy (no MSG_ZEROCOPY)\n", sock->desc);
	sock->zcopy = false;
	if (!sock->pipe.buf) {
		/* Receives land in the pipe: uring needs one even when it is "off". */
		uint32_t size = sock->impl_opts.recv_pipe_size ?: 64 * 1024;

		sock->pipe.buf = aligned_alloc(4096, SL_ALIGN_UP(size, 4096));
		if (!sock->pipe.buf)
			return -ENOMEM;
		sock->pipe.size = size;
	}
	return 0;
}

static void uring_sock_fini(struct sl_sock *sock)
{
}

/* Keep one receive in flight while the pipe is empty and nothing is held. */
static void uring_arm_recv(struct uring_sock *us)
{
	struct uring_group *ug = group_of(us);
	struct sl_sock *sock = &us->base;
	struct io_uring_sqe *sqe;

	if (!ug || us->recv_inflight || sock->rx_event || sock->pipe.len || sock->zombie)
		return;
	sqe = uring_get_sqe(ug);
	if (!sqe) {
		sock->rx_event = true;
		us->rx_res = -EBUSY;
		sock_group_mark_ready(sock);
		return;
	}
	if (us->buf_index >= 0) {
		io_uring_prep_read_fixed(sqe, sock->fd, sock->pipe.buf, sock->pipe.size, 0,
					 us->buf_index);
		sock->stats.recv_fixed++;
	} else {
		io_uring_prep_recv(sqe, sock->fd, sock->pipe.buf, sock->pipe.size, 0);
	}
	io_uring_sqe_set_data64(sqe, ud(us, URING_OP_RECV));
	us->recv_inflight = true;
	sock->stats.recv_calls++;
}

/* A listener in a group waits for a connection with a one-shot POLL_ADD. */
static void uring_arm_poll(struct uring_sock *us)
{
	struct uring_group *ug = group_of(us);
	struct io_uring_sqe *sqe;

	if (!ug || us->poll_inflight || us->base.rx_event || us->base.zombie)
		return;
	sqe = uring_get_sqe(ug);
	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, us->base.fd, POLLIN);
	io_uring_sqe_set_data64(sqe, ud(us, URING_OP_POLL));
	us->poll_inflight = true;
}

static void uring_poll_done(struct uring_sock *us, int res)
{
	us->poll_inflight = false;
	if (res == -ECANCELED)
		return;
	/* Errors too: the callback's accept reports them. */
	us->base.rx_event = true;
	sock_group_mark_ready(&us->base);
}

/* A listener's callback accepted what it wanted: wait for the next connection. */
static void uring_cb_done(struct sl_sock *sock)
{
	struct uring_sock *us = to_uring(sock);

	if (!sock->listening)
		return;
	sock->rx_event = false;
	uring_arm_poll(us);
}

/* Arm a receive at the end of this poll, once the reader is done with the socket. */
static void uring_want_recv(struct uring_sock *us)
{
	struct uring_group *ug = group_of(us);

	if (!ug || us->on_arm)
		return;
	TAILQ_INSERT_TAIL(&ug->arm, us, arm_link);
	us->on_arm = true;
}

static ssize_t uring_readv(struct sl_sock *sock, struct iovec *iov, int iovcnt)
{
	struct uring_sock *us = to_uring(sock);
	struct sock_pipe *p = &sock->pipe;
	ssize_t n;

	if (p->len) {
		n = (ssize_t)sock_pipe_read(sock, iov, iovcnt);
		if (!p->len)
			uring_want_recv(us);
		return n;
	}
	if (sock->rx_event)
		return us->rx_res; /* EOF and errors stay */
	if (us->recv_inflight)
		return -EAGAIN; /* the stream continues in that receive */
	uring_want_recv(us);
	if (!sock->group || !us->maybe_more) {
		/* The last receive did not fill the pipe: a read now would find nothing. */
		if (sock->group)
			return -EAGAIN;
		return sock_readv_now(sock, iov, iovcnt);
	}
	/*
	 * The reader emptied a full pipe: read on directly, into the caller's
	 * buffers, as posix does. Bulk data then costs no copy; the receive that
	 * waits for the next data is armed when the poll ends.
	 */
	n = sock_readv_now(sock, iov, iovcnt);
	us->maybe_more = n > 0;
	return n;
}

/* A receive CQE: fill the pipe or hold EOF / the error for the reader. */
static void uring_recv_done(struct uring_sock *us, int res)
{
	struct sl_sock *sock = &us->base;

	us->recv_inflight = false;
	if (res > 0) {
		sock->pipe.off = 0;
		sock->pipe.len = (uint32_t)res;
		us->maybe_more = (uint32_t)res == sock->pipe.size;
	} else if (res == -EAGAIN || res == -EINTR || res == -ECANCELED) {
		/* Cancelled: the socket is leaving its group and re-arms if it joins another. */
		if (res != -ECANCELED)
			uring_want_recv(us);
		return;
	} else {
		sock->rx_event = true;
		us->rx_res = res;
	}
	sock_group_mark_ready(sock);
}

static void uring_send_done(struct uring_sock *us, int res)
{
	struct uring_group *ug = group_of(us);

	us->send_inflight = false;
	us->send_done = true;
	us->send_res = res;
	if (ug && !us->on_sent) {
		TAILQ_INSERT_TAIL(&ug->sent, us, sent_link);
		us->on_sent = true;
	}
}

/* Take the CQEs there are (state only: no callbacks run here). Returns CQEs seen. */
static unsigned uring_reap(struct uring_group *ug)
{
	struct io_uring_cqe *cqes[URING_REAP_BATCH];
	unsigned total = 0, n;

	do {
		n = io_uring_peek_batch_cqe(&ug->ring, cqes, URING_REAP_BATCH);
		for (unsigned i = 0; i < n; i++) {
			uint64_t data = io_uring_cqe_get_data64(cqes[i]);
			struct uring_sock *us =
				(struct uring_sock *)(uintptr_t)(data & ~URING_OP_MASK);
			int res = cqes[i]->res;

			switch (data & URING_OP_MASK) {
			case URING_OP_RECV:
				uring_recv_done(us, res);
				break;
			case URING_OP_SEND:
				uring_send_done(us, res);
				break;
			case URING_OP_POLL:
				uring_poll_done(us, res);
				break;
			default:
				break;
			}
		}
		io_uring_cq_advance(&ug->ring, n);
		total += n;
	} while (n == URING_REAP_BATCH);
	return total;
}

/* Apply a reaped send result; requests completed, or -errno (the socket failed). */
static int uring_apply_send(struct uring_sock *us)
{
	struct sl_sock *sock = &us->base;
	int res = us->send_res, done;

	us->send_done = false;
	if (res == -EAGAIN || res == -EINTR || res == -ECANCELED) {
		sock_group_mark_flush(sock);
		return 0;
	}
	if (res < 0)
		return res;
	done = sock_advance(sock, (size_t)res);
	if (sock->queued_head)
		sock_group_mark_flush(sock);
	return done;
}

static void uring_arm_pending(struct uring_group *ug)
{
	struct uring_sock *us;

	while ((us = TAILQ_FIRST(&ug->arm))) {
		TAILQ_REMOVE(&ug->arm, us, arm_link);
		us->on_arm = false;
		uring_arm_recv(us);
	}
}

static int uring_process_sent(struct uring_group *ug)
{
	struct uring_sock *us;
	int done = 0, rc;

	while ((us = TAILQ_FIRST(&ug->sent))) {
		TAILQ_REMOVE(&ug->sent, us, sent_link);
		us->on_sent = false;
		if (us->base.zombie || !us->send_done)
			continue;
		rc = uring_apply_send(us);
		if (rc >= 0) {
			done += rc;
		} else if (!us->base.zombie) {
			sock_set_error(&us->base, rc);
			done += sock_abort_requests(&us->base, rc);
		}
	}
	return done;
}

static int uring_flush(struct sl_sock *sock)
{
	struct uring_sock *us = to_uring(sock);
	struct uring_group *ug = group_of(us);
	struct io_uring_sqe *sqe;
	size_t total;
	int done = 0, cnt, rc;
	bool blocked;

	if (us->send_done) {
		/* Reaped while the socket left a group: apply before sending more. */
		if (us->on_sent && ug) {
			TAILQ_REMOVE(&ug->sent, us, sent_link);
			us->on_sent = false;
		}
		rc = uring_apply_send(us);
		if (rc < 0)
			return rc;
		done += rc;
	}
	if (!ug) {
		rc = sock_send_now(sock, &blocked);
		return rc < 0 ? rc : done + rc;
	}
	if (us->send_inflight || sock->zombie)
		return done;
	while ((total = sock_gather(sock, us->iov, SOCK_IOV_BATCH, &cnt)) == 0) {
		if (!sock->queued_head)
			return done;
		done += sock_advance(sock, 0); /* empty requests */
		if (sock->zombie)
			return done;
	}
	sqe = uring_get_sqe(ug);
	if (!sqe) {
		sock_group_mark_flush(sock);
		return done;
	}
	memset(&us->msg, 0, sizeof(us->msg));
	us->msg.msg_iov = us->iov;
	us->msg.msg_iovlen = (size_t)cnt;
	io_uring_prep_sendmsg(sqe, sock->fd, &us->msg, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud(us, URING_OP_SEND));
	us->send_inflight = true;
	sock->stats.sendmsg_calls++;
	/* sl_sock_flush outside a poll means "now". */
	if (!ug->polling)
		uring_submit(ug);
	return done;
}

/* ---- groups ---- */

static int uring_group_init(struct sl_sock_group *group)
{
	struct uring_group *ug = calloc(1, sizeof(*ug));
	int rc;

	if (!ug)
		return -ENOMEM;
	TAILQ_INIT(&ug->sent);
	TAILQ_INIT(&ug->arm);
	rc = io_uring_queue_init(URING_ENTRIES, &ug->ring, 0);
	if (rc)
		goto out_free_group;
	ug->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ug->efd < 0) {
		rc = -errno;
		goto out_exit_ring;
	}
	rc = io_uring_register_eventfd(&ug->ring, ug->efd);
	if (rc)
		goto out_close_efd;
	/* Without a buffer table receives use plain IORING_OP_RECV. */
	ug->fixed_bufs = io_uring_register_buffers_sparse(&ug->ring, URING_MAX_BUFS) == 0;
	group->impl_ctx = ug;
	return 0;

out_close_efd:
	close(ug->efd);
out_exit_ring:
	io_uring_queue_exit(&ug->ring);
out_free_group:
	free(ug);
	return rc;
}

static void uring_group_fini(struct sl_sock_group *group)
{
	struct uring_group *ug = group->impl_ctx;

	io_uring_queue_exit(&ug->ring);
	close(ug->efd);
	free(ug);
	group->impl_ctx = NULL;
}

static void uring_register_pipe(struct uring_group *ug, struct uring_sock *us)
{
	struct iovec iov = { us->base.pipe.buf, us->base.pipe.size };
	int rc;

	if (!ug->fixed_bufs)
		return;
	for (int w = 0; w < URING_MAX_BUFS / 64; w++) {
		int bit;

		if (ug->buf_map[w] == UINT64_MAX)
			continue;
		bit = __builtin_ctzll(~ug->buf_map[w]);
		rc = io_uring_register_buffers_update_tag(&ug->ring, (unsigned)(w * 64 + bit), &iov,
							  NULL, 1);
		if (rc != 1) {
			SL_INFOLOG("socket %s: receive buffer not registered (%s), plain recv\n",
				   us->base.desc, strerror(rc < 0 ? -rc : EIO));
			return;
		}
		ug->buf_map[w] |= 1ULL << bit;
		us->buf_index = w * 64 + bit;
		return;
	}
}

static void uring_unregister_pipe(struct uring_group *ug, struct uring_sock *us)
{
	struct iovec none = { NULL, 0 };

	if (us->buf_index < 0)
		return;
	io_uring_register_buffers_update_tag(&ug->ring, (unsigned)us->buf_index, &none, NULL, 1);
	ug->buf_map[us->buf_index / 64] &= ~(1ULL << (us->buf_index % 64));
	us->buf_index = -1;
}

static int uring_group_add(struct sl_sock_group *group, struct sl_sock *sock)
{
	struct uring_group *ug = group->impl_ctx;
	struct uring_sock *us = to_uring(sock);

	if (sock->listening) {
		/* Connections may already wait: let the first poll's callback look. */
		sock->rx_event = true;
		return 0;
	}
	uring_register_pipe(ug, us);
	uring_arm_recv(us);
	if (us->send_done && !us->on_sent) {
		TAILQ_INSERT_TAIL(&ug->sent, us, sent_link);
		us->on_sent = true;
	}
	return 0;
}

/*
 * Cancel the socket's operations and wait until the kernel is done with
 * them. Other sockets' CQEs reaped meanwhile are kept for the next poll.
 */
static void uring_quiesce(struct uring_group *ug, struct uring_sock *us)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;

	if (us->recv_inflight && (sqe = uring_get_sqe(ug))) {
		io_uring_prep_cancel64(sqe, ud(us, URING_OP_RECV), 0);
		io_uring_sqe_set_data64(sqe, URING_OP_NONE);
	}
	if (us->send_inflight && (sqe = uring_get_sqe(ug))) {
		io_uring_prep_cancel64(sqe, ud(us, URING_OP_SEND), 0);
		io_uring_sqe_set_data64(sqe, URING_OP_NONE);
	}
	if (us->poll_inflight && (sqe = uring_get_sqe(ug))) {
		io_uring_prep_cancel64(sqe, ud(us, URING_OP_POLL), 0);
		io_uring_sqe_set_data64(sqe, URING_OP_NONE);
	}
	if (ug->to_submit)
		uring_submit(ug);
	while (us->recv_inflight || us->send_inflight || us->poll_inflight) {
		if (io_uring_wait_cqe(&ug->ring, &cqe))
			continue;
		uring_reap(ug);
		ug->armed = false;
	}
}

static int uring_group_remove(struct sl_sock_group *group, struct sl_sock *sock)
{
	struct uring_group *ug = group->impl_ctx;
	struct uring_sock *us = to_uring(sock);

	uring_quiesce(ug, us);
	uring_unregister_pipe(ug, us);
	if (sock->listening)
		sock->rx_event = false;
	if (us->on_sent) {
		TAILQ_REMOVE(&ug->sent, us, sent_link);
		us->on_sent = false;
	}
	if (us->on_arm) {
		TAILQ_REMOVE(&ug->arm, us, arm_link);
		us->on_arm = false;
	}
	return 0;
}

static int uring_group_poll(struct sl_sock_group *group, int max_events)
{
	struct uring_group *ug = group->impl_ctx;
	unsigned cqes;
	int done, ran;

again:
	ug->polling = true;
	cqes = uring_reap(ug);
	done = uring_process_sent(ug);
	ran = sock_group_run_ready(group, max_events);
	/* After the callbacks: what they queued leaves in this poll's submit. */
	done += sock_group_flush(group);
	uring_arm_pending(ug);
	if (ug->to_submit)
		uring_submit(ug);
	ug->polling = false;
	if (cqes || ran || done) {
		ug->armed = false;
		return ran + done;
	}
	if (!ug->armed) {
		eventfd_t v;

		/* Idle: reset the wake fd once; a CQE posted meanwhile is taken now. */
		eventfd_read(ug->efd, &v);
		ug->armed = true;
		if (io_uring_cq_ready(&ug->ring))
			goto again;
	}
	return 0;
}

static int uring_group_wake_fd(struct sl_sock_group *group)
{
	struct uring_group *ug = group->impl_ctx;

	return ug->efd;
}

static struct sock_impl g_uring_impl = {
	.name = "uring",
	.opts = &g_uring_opts,
	.default_opts = &g_uring_default_opts,
	.sock_size = sizeof(struct uring_sock),
	.sock_init = uring_sock_init,
	.sock_fini = uring_sock_fini,
	.readv = uring_readv,
	.flush = uring_flush,
	.group_init = uring_group_init,
	.group_fini = uring_group_fini,
	.group_add = uring_group_add,
	.group_remove = uring_group_remove,
	.group_poll = uring_group_poll,
	.group_wake_fd = uring_group_wake_fd,
	.cb_done = uring_cb_done,
};

__attribute__((constructor)) static void uring_register(void)
{
	g_uring_opts = g_uring_default_opts;
	sock_impl_register(&g_uring_impl);
}
