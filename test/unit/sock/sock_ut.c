/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/sock over real loopback TCP, IPv4 and IPv6, for every implementation:
 * listen/accept/connect, EAGAIN, async writes that take several flushes
 * (callbacks in order, once each, bytes intact across partial sends), many
 * small requests in one sendmsg, peer close, close with queued requests,
 * group add/remove, the wake fd, the receive pipe, MSG_ZEROCOPY with its
 * error-queue notifications, options, RPCs and save_config.
 *
 * Waits are bounded loops over non-blocking calls, never sleeps.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <liburing.h>

#include "../ut_common.h"

#include "sluice/event.h"
#include "sluice/rpc.h"
#include "sluice/sock.h"

/* Counters are not public API: read them through the library's private header. */
#include "../../../lib/sock/sock_internal.h"

struct ut_param {
	const char *impl;
	const char *ip;
};

struct pair {
	struct sl_sock *listener;
	struct sl_sock *client;
	struct sl_sock *server;
	uint16_t port;
};

static struct sl_sock_impl_opts g_saved_opts;

static const struct ut_param *param(void **state)
{
	return *state;
}

/* Options changed by a test are put back by the next one. */
static int setup_test(void **state)
{
	const struct ut_param *p = *state;

	return sl_sock_impl_get_opts(p->impl, &g_saved_opts) || sl_sock_set_default_impl(p->impl);
}

static int teardown_test(void **state)
{
	const struct ut_param *p = *state;

	sl_sock_set_default_impl("posix");
	return sl_sock_impl_set_opts(p->impl, &g_saved_opts);
}

static void pair_open(const struct ut_param *p, struct pair *pr, const struct sl_sock_opts *opts)
{
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);
	char addr[64];

	memset(pr, 0, sizeof(*pr));
	pr->listener = sl_sock_listen(p->ip, 0, p->impl, opts);
	assert_non_null(pr->listener);
	assert_int_equal(
		sl_sock_getaddr(pr->listener, addr, sizeof(addr), &pr->port, NULL, 0, NULL), 0);
	assert_string_equal(addr, p->ip);
	assert_true(pr->port > 0);
	pr->client = sl_sock_connect(p->ip, pr->port, p->impl, opts);
	assert_non_null(pr->client);
	while (!(pr->server = sl_sock_accept(pr->listener))) {
		assert_int_equal(errno, EAGAIN);
		if (ut_expired(deadline))
			fail_msg("no connection to accept");
	}
}

static void pair_close(struct pair *pr)
{
	if (pr->client)
		assert_int_equal(sl_sock_close(&pr->client), 0);
	if (pr->server)
		assert_int_equal(sl_sock_close(&pr->server), 0);
	assert_int_equal(sl_sock_close(&pr->listener), 0);
	assert_null(pr->listener);
}

/* Read exactly len bytes (non-blocking calls until a deadline). */
static void recv_all(struct sl_sock *sock, void *buf, size_t len)
{
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);
	size_t got = 0;

	while (got < len) {
		ssize_t n = sl_sock_recv(sock, (uint8_t *)buf + got, len - got);

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		assert_int_equal(n, -1);
		assert_int_equal(errno, EAGAIN);
		if (ut_expired(deadline))
			fail_msg("got %zu of %zu bytes", got, len);
	}
}

static struct sock_stats stats(struct sl_sock *sock)
{
	struct sock_stats s;

	sock_get_stats(sock, &s);
	return s;
}

/* ---- request bookkeeping ---- */

#define MAX_REQS 512

struct req_log {
	int count[MAX_REQS];
	int status[MAX_REQS];
	int order[MAX_REQS];
	int norder;
};

struct req_ctx {
	struct req_log *log;
	int idx;
};

static void req_done(void *arg, int status)
{
	struct req_ctx *c = arg;

	c->log->count[c->idx]++;
	c->log->status[c->idx] = status;
	c->log->order[c->log->norder++] = c->idx;
}

static struct sl_sock_request *req_alloc(int iovcnt, struct req_ctx *ctx)
{
	struct sl_sock_request *req =
		calloc(1, sizeof(*req) + (size_t)iovcnt * sizeof(struct iovec));

	assert_non_null(req);
	req->iovcnt = iovcnt;
	req->cb_fn = req_done;
	req->cb_arg = ctx;
	return req;
}

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((i * 131u + seed * 7u + (i >> 8)) & 0xff);
}

static void noop_cb(void *arg, struct sl_sock_group *group, struct sl_sock *sock)
{
	(void)group;
	(void)sock;
	if (arg)
		(*(int *)arg)++;
}

/* ---- tests ---- */

static void test_connect_accept(void **state)
{
	const struct ut_param *p = param(state);
	char saddr[64], caddr[64];
	uint16_t sport, cport, sport2, cport2;
	struct pair pr;

	pair_open(p, &pr, NULL);
	assert_string_equal(sl_sock_get_impl_name(pr.server), p->impl);
	assert_string_equal(sl_sock_get_impl_name(pr.client), p->impl);
	assert_true(sl_sock_is_connected(pr.server));
	assert_true(sl_sock_is_connected(pr.client));
	assert_false(sl_sock_is_connected(pr.listener));
	/* Each end's local address is the other's peer address. */
	assert_int_equal(sl_sock_getaddr(pr.server, saddr, sizeof(saddr), &sport, caddr,
					 sizeof(caddr), &cport),
			 0);
	assert_string_equal(saddr, p->ip);
	assert_string_equal(caddr, p->ip);
	assert_int_equal(sport, pr.port);
	assert_int_equal(sl_sock_getaddr(pr.client, saddr, sizeof(saddr), &sport2, caddr,
					 sizeof(caddr), &cport2),
			 0);
	assert_int_equal(sport2, cport);
	assert_int_equal(cport2, pr.port);
	/* Nothing else pending. */
	errno = 0;
	assert_null(sl_sock_accept(pr.listener));
	assert_int_equal(errno, EAGAIN);
	/* A second connection works too. */
	{
		struct sl_sock *c2 = sl_sock_connect(p->ip, pr.port, p->impl, NULL), *s2;
		uint64_t deadline = ut_deadline(UT_WAIT_SEC);

		assert_non_null(c2);
		while (!(s2 = sl_sock_accept(pr.listener)))
			if (ut_expired(deadline))
				fail_msg("second connection not accepted");
		assert_int_equal(sl_sock_close(&c2), 0);
		assert_int_equal(sl_sock_close(&s2), 0);
		assert_null(c2);
	}
	pair_close(&pr);
}

static void test_connect_refused(void **state)
{
	const struct ut_param *p = param(state);
	struct pair pr;
	uint16_t port;

	/* A port that was just free and has no listener now. */
	pair_open(p, &pr, NULL);
	port = pr.port;
	pair_close(&pr);
	ut_log_capture_start();
	errno = 0;
	assert_null(sl_sock_connect(p->ip, port, p->impl, NULL));
	assert_int_equal(errno, ECONNREFUSED);
	errno = 0;
	assert_null(sl_sock_listen("not-an-ip", 0, p->impl, NULL));
	assert_int_not_equal(errno, 0);
	ut_log_capture_stop();
}

static void test_recv_eagain(void **state)
{
	const struct ut_param *p = param(state);
	struct iovec iov[2];
	char buf[16], a[3], b[8];
	struct pair pr;

	pair_open(p, &pr, NULL);
	errno = 0;
	assert_int_equal(sl_sock_recv(pr.server, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	iov[0].iov_base = (void *)"hello ";
	iov[0].iov_len = 6;
	iov[1].iov_base = (void *)"world";
	iov[1].iov_len = 5;
	assert_int_equal(sl_sock_writev(pr.client, iov, 2), 11);
	/* readv scatters across buffers. */
	iov[0].iov_base = a;
	iov[0].iov_len = sizeof(a);
	iov[1].iov_base = b;
	iov[1].iov_len = sizeof(b);
	{
		uint64_t deadline = ut_deadline(UT_WAIT_SEC);
		ssize_t n;

		while ((n = sl_sock_readv(pr.server, iov, 2)) < 0) {
			assert_int_equal(errno, EAGAIN);
			if (ut_expired(deadline))
				fail_msg("no data");
		}
		if (n < 11)
			recv_all(pr.server, (n < 3 ? a + n : b + (n - 3)), (size_t)(11 - n));
	}
	assert_memory_equal(a, "hel", 3);
	assert_memory_equal(b, "lo world", 8);
	errno = 0;
	assert_int_equal(sl_sock_recv(pr.server, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	pair_close(&pr);
}

/* Three 1 MiB requests of four iovecs each through a 64 KiB send buffer. */
static void test_async_large(void **state)
{
	const struct ut_param *p = param(state);
	enum { NREQ = 3, NIOV = 4, IOVSZ = 256 * 1024, REQSZ = NIOV * IOVSZ };
	struct sl_sock_impl_opts o;
	struct sl_sock_request *req[NREQ];
	struct req_ctx ctx[NREQ];
	struct req_log log = { 0 };
	struct sl_sock_group *group;
	uint8_t *src, *dst;
	bool saw_partial = false;
	size_t got = 0;
	struct pair pr;
	uint64_t deadline;

	assert_int_equal(sl_sock_impl_get_opts(p->impl, &o), 0);
	o.send_buf_size = 64 * 1024;
	o.recv_buf_size = 64 * 1024;
	assert_int_equal(sl_sock_impl_set_opts(p->impl, &o), 0);
	pair_open(p, &pr, NULL);
	group = sl_sock_group_create(NULL);
	assert_non_null(group);
	assert_int_equal(sl_sock_group_add_sock(group, pr.client, noop_cb, NULL), 0);

	src = malloc(NREQ * REQSZ);
	dst = malloc(NREQ * REQSZ);
	assert_non_null(src);
	assert_non_null(dst);
	fill_pattern(src, NREQ * REQSZ, 1);
	for (int i = 0; i < NREQ; i++) {
		ctx[i] = (struct req_ctx){ .log = &log, .idx = i };
		req[i] = req_alloc(NIOV, &ctx[i]);
		for (int j = 0; j < NIOV; j++) {
			req[i]->iov[j].iov_base = src + (size_t)i * REQSZ + (size_t)j * IOVSZ;
			req[i]->iov[j].iov_len = IOVSZ;
		}
		sl_sock_writev_async(pr.client, req[i]);
	}
	/* Nothing is sent before a poll or flush. */
	assert_int_equal(log.norder, 0);
	assert_int_equal(stats(pr.client).sendmsg_calls, 0);

	deadline = ut_deadline(UT_WAIT_SEC);
	while (got < NREQ * REQSZ || log.norder < NREQ) {
		ssize_t n;

		assert_true(sl_sock_group_poll(group) >= 0);
		if (log.count[0] == 0 && req[0]->internal.offset > 0 &&
		    req[0]->internal.offset < REQSZ)
			saw_partial = true;
		n = sl_sock_recv(pr.server, dst + got, NREQ * REQSZ - got);
		if (n > 0)
			got += (size_t)n;
		else
			assert_int_equal(errno, EAGAIN);
		if (ut_expired(deadline))
			fail_msg("sent %zu of %d bytes, %d callbacks", got, NREQ * REQSZ,
				 log.norder);
	}
	assert_true(saw_partial);
	assert_true(stats(pr.client).sendmsg_calls >= NREQ);
	for (int i = 0; i < NREQ; i++) {
		assert_int_equal(log.count[i], 1);
		assert_int_equal(log.status[i], 0);
		assert_int_equal(log.order[i], i);
	}
	assert_memory_equal(src, dst, NREQ * REQSZ);
	/* A few more polls run no callback twice. */
	for (int i = 0; i < 5; i++)
		sl_sock_group_poll(group);
	assert_int_equal(log.norder, NREQ);

	assert_int_equal(sl_sock_group_remove_sock(group, pr.client), 0);
	assert_int_equal(sl_sock_group_close(&group), 0);
	for (int i = 0; i < NREQ; i++)
		free(req[i]);
	free(src);
	free(dst);
	pair_close(&pr);
}

/* Many small requests leave with one sendmsg in one poll. */
static void test_batching(void **state)
{
	const struct ut_param *p = param(state);
	enum { NREQ = 100, SZ = 40 };
	struct sl_sock_request *req[NREQ];
	struct req_ctx ctx[NREQ];
	struct req_log log = { 0 };
	struct sl_sock_group *group;
	uint8_t src[NREQ][SZ], dst[NREQ * SZ];
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);
	uint64_t calls;
	struct pair pr;
	int rc, work = 0;

	pair_open(p, &pr, NULL);
	group = sl_sock_group_create(NULL);
	assert_non_null(group);
	assert_int_equal(sl_sock_group_add_sock(group, pr.client, noop_cb, NULL), 0);
	for (int i = 0; i < NREQ; i++) {
		fill_pattern(src[i], SZ, (uint32_t)i);
		ctx[i] = (struct req_ctx){ .log = &log, .idx = i };
		/* Two iovecs each: 200 iovecs still fit one sendmsg. */
		req[i] = req_alloc(2, &ctx[i]);
		req[i]->iov[0] = (struct iovec){ src[i], 10 };
		req[i]->iov[1] = (struct iovec){ src[i] + 10, SZ - 10 };
		sl_sock_writev_async(pr.client, req[i]);
	}
	calls = stats(pr.client).sendmsg_calls;
	while (log.norder < NREQ) {
		rc = sl_sock_group_poll(group);
		assert_true(rc >= 0);
		work += rc;
		if (ut_expired(deadline))
			fail_msg("%d of %d callbacks", log.norder, NREQ);
	}
	/* uring reaps its send in a later poll than the one that submitted it. */
	assert_int_equal(stats(pr.client).sendmsg_calls - calls, 1);
	assert_int_equal(work, NREQ);
	for (int i = 0; i < NREQ; i++) {
		assert_int_equal(log.order[i], i);
		assert_int_equal(log.count[i], 1);
	}
	recv_all(pr.server, dst, sizeof(dst));
	assert_memory_equal(src, dst, sizeof(dst));
	/* An idle group reports no work. */
	assert_int_equal(sl_sock_group_poll(group), 0);

	assert_int_equal(sl_sock_group_remove_sock(group, pr.client), 0);
	assert_int_equal(sl_sock_group_close(&group), 0);
	for (int i = 0; i < NREQ; i++)
		free(req[i]);
	pair_close(&pr);
}

struct eof_ctx {
	int calls;
	ssize_t last;
	int last_errno;
};

static void eof_cb(void *arg, struct sl_sock_group *group, struct sl_sock *sock)
{
	struct eof_ctx *c = arg;
	char buf[64];

	(void)group;
	c->calls++;
	do {
		c->last = sl_sock_recv(sock, buf, sizeof(buf));
	} while (c->last > 0);
	c->last_errno = c->last < 0 ? errno : 0;
}

static void test_peer_close(void **state)
{
	const struct ut_param *p = param(state);
	struct eof_ctx c = { 0 };
	struct sl_sock_group *group;
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);
	struct iovec iov = { (void *)"bye", 3 };
	struct pair pr;

	pair_open(p, &pr, NULL);
	group = sl_sock_group_create(&c);
	assert_non_null(group);
	assert_ptr_equal(sl_sock_group_get_ctx(group), &c);
	assert_int_equal(sl_sock_group_add_sock(group, pr.server, eof_cb, &c), 0);
	assert_int_equal(sl_sock_writev(pr.client, &iov, 1), 3);
	assert_int_equal(sl_sock_close(&pr.client), 0);
	while (!(c.calls && c.last == 0)) {
		assert_true(sl_sock_group_poll(group) >= 0);
		if (ut_expired(deadline))
			fail_msg("EOF not seen (%d callbacks, last %zd errno %d)", c.calls, c.last,
				 c.last_errno);
	}
	assert_false(sl_sock_is_connected(pr.server));
	/* Closing it while in the group takes it out of the group. */
	assert_int_equal(sl_sock_close(&pr.server), 0);
	assert_int_equal(sl_sock_group_close(&group), 0);
	assert_null(group);
	pair_close(&pr);
}

static void test_close_cancels(void **state)
{
	const struct ut_param *p = param(state);
	enum { NREQ = 4, SZ = 512 * 1024 };
	struct sl_sock_impl_opts o;
	struct sl_sock_request *req[NREQ];
	struct req_ctx ctx[NREQ];
	struct req_log log = { 0 };
	struct sl_sock_group *group;
	uint8_t *src;
	struct pair pr;

	assert_int_equal(sl_sock_impl_get_opts(p->impl, &o), 0);
	o.send_buf_size = 64 * 1024;
	o.recv_buf_size = 64 * 1024;
	assert_int_equal(sl_sock_impl_set_opts(p->impl, &o), 0);
	pair_open(p, &pr, NULL);
	group = sl_sock_group_create(NULL);
	assert_non_null(group);
	assert_int_equal(sl_sock_group_add_sock(group, pr.client, noop_cb, NULL), 0);
	src = calloc(1, SZ);
	assert_non_null(src);
	for (int i = 0; i < NREQ; i++) {
		ctx[i] = (struct req_ctx){ .log = &log, .idx = i };
		req[i] = req_alloc(1, &ctx[i]);
		req[i]->iov[0] = (struct iovec){ src, SZ };
		sl_sock_writev_async(pr.client, req[i]);
	}
	/* The peer reads nothing: the first request is sent in part at most. */
	for (int i = 0; i < 10; i++)
		assert_true(sl_sock_group_poll(group) >= 0);
	assert_int_equal(log.norder, 0);
	assert_int_equal(sl_sock_close(&pr.client), 0);
	for (int i = 0; i < NREQ; i++) {
		assert_int_equal(log.count[i], 1);
		assert_int_equal(log.status[i], -ECANCELED);
		assert_int_equal(log.order[i], i);
	}
	/* The group no longer holds the closed socket. */
	assert_int_equal(sl_sock_group_poll(group), 0);
	assert_int_equal(sl_sock_group_close(&group), 0);
	for (int i = 0; i < NREQ; i++)
		free(req[i]);
	free(src);
	pair_close(&pr);
}

/* The peer resets the connection while writes wait for room: all of them fail, once. */
static void test_peer_reset_fails_queued(void **state)
{
	const struct ut_param *p = param(state);
	enum { NREQ = 4, SZ = 512 * 1024 };
	struct sl_sock_impl_opts o;
	struct sl_sock_request *req[NREQ];
	struct req_ctx ctx[NREQ];
	struct req_log log = { 0 };
	struct sl_sock_group *group;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);
	uint8_t *src;
	struct pair pr;

	assert_int_equal(sl_sock_impl_get_opts(p->impl, &o), 0);
	o.send_buf_size = 64 * 1024;
	o.recv_buf_size = 64 * 1024;
	assert_int_equal(sl_sock_impl_set_opts(p->impl, &o), 0);
	pair_open(p, &pr, NULL);
	group = sl_sock_group_create(NULL);
	assert_non_null(group);
	assert_int_equal(sl_sock_group_add_sock(group, pr.client, noop_cb, NULL), 0);
	src = calloc(1, SZ);
	assert_non_null(src);
	for (int i = 0; i < NREQ; i++) {
		ctx[i] = (struct req_ctx){ .log = &log, .idx = i };
		req[i] = req_alloc(1, &ctx[i]);
		req[i]->iov[0] = (struct iovec){ src, SZ };
		sl_sock_writev_async(pr.client, req[i]);
	}
	for (int i = 0; i < 5; i++)
		assert_true(sl_sock_group_poll(group) >= 0);
	assert_int_equal(log.norder, 0);
	/* SO_LINGER 0: close sends a RST. */
	assert_int_equal(setsockopt(pr.server->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	assert_int_equal(sl_sock_close(&pr.server), 0);
	ut_log_capture_start();
	while (log.norder < NREQ) {
		assert_true(sl_sock_group_poll(group) >= 0);
		if (ut_expired(deadline))
			fail_msg("%d of %d requests completed after the reset", log.norder, NREQ);
	}
	ut_log_capture_stop();
	for (int i = 0; i < NREQ; i++) {
		assert_int_equal(log.count[i], 1);
		assert_true(log.status[i] < 0);
		assert_int_equal(log.order[i], i);
	}
	assert_false(sl_sock_is_connected(pr.client));
	assert_true(sl_sock_flush(pr.client) < 0);
	assert_int_equal(sl_sock_group_remove_sock(group, pr.client), 0);
	assert_int_equal(sl_sock_group_close(&group), 0);
	for (int i = 0; i < NREQ; i++)
		free(req[i]);
	free(src);
	pair_close(&pr);
}

struct close_ctx {
	struct sl_sock *sock;
	int calls;
};

static void close_in_cb(void *arg, int status)
{
	struct close_ctx *c = arg;

	c->calls++;
	if (c->sock)
		assert_int_equal(sl_sock_close(&c->sock), 0);
}

/* A request callback may close its own socket; later requests are cancelled. */
static void test_close_from_callback(void **state)
{
	const struct ut_param *p = param(state);
	struct sl_sock_request *r1, *r2;
	struct close_ctx c1 = { 0 };
	struct req_log log = { 0 };
	struct req_ctx ctx2 = { .log = &log, .idx = 0 };
	struct sl_sock_group *group;
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);
	struct pair pr;
	char buf[8];

	pair_open(p, &pr, NULL);
	group = sl_sock_group_create(NULL);
	assert_non_null(group);
	assert_int_equal(sl_sock_group_add_sock(group, pr.client, noop_cb, NULL), 0);
	r1 = req_alloc(1, NULL);
	r1->cb_fn = close_in_cb;
	r1->cb_arg = &c1;
	r1->iov[0] = (struct iovec){ (void *)"abcd", 4 };
	r2 = req_alloc(1, &ctx2);
	r2->iov[0] = (struct iovec){ (void *)"efgh", 4 };
	c1.sock = pr.client;
	pr.client = NULL;
	sl_sock_writev_async(c1.sock, r1);
	sl_sock_writev_async(c1.sock, r2);
	while (!c1.calls) {
		assert_true(sl_sock_group_poll(group) >= 0);
		if (ut_expired(deadline))
			fail_msg("request never completed");
	}
	assert_null(c1.sock);
	assert_int_equal(c1.calls, 1);
	/* Both requests were in the same sendmsg: r2 is done, not cancelled. */
	assert_int_equal(log.count[0], 1);
	assert_int_equal(log.status[0], 0);
	recv_all(pr.server, buf, 8);
	assert_memory_equal(buf, "abcdefgh", 8);
	assert_int_equal(sl_sock_group_poll(group), 0);
	assert_int_equal(sl_sock_group_close(&group), 0);
	free(r1);
	free(r2);
	pair_close(&pr);
}

static void test_group_add_remove(void **state)
{
	const struct ut_param *p = param(state);
	struct sl_sock_group *group;
	struct iovec iov = { (void *)"x", 1 };
	uint64_t deadline;
	struct pair pr;
	int calls = 0;
	char c;

	pair_open(p, &pr, NULL);
	group = sl_sock_group_create(NULL);
	assert_non_null(group);
	assert_int_equal(sl_sock_group_add_sock(group, pr.server, NULL, NULL), -EINVAL);
	assert_int_equal(sl_sock_group_add_sock(group, pr.server, noop_cb, &calls), 0);
	assert_int_equal(sl_sock_group_add_sock(group, pr.server, noop_cb, &calls), -EBUSY);
	assert_int_equal(sl_sock_group_close(&group), -EBUSY);
	assert_non_null(group);
	assert_int_equal(sl_sock_group_poll(group), 0);
	assert_int_equal(calls, 0);

	/* Data makes the callback run; it does not read, so it runs again. */
	assert_int_equal(sl_sock_writev(pr.client, &iov, 1), 1);
	deadline = ut_deadline(UT_WAIT_SEC);
	while (calls < 2) {
		assert_true(sl_sock_group_poll(group) >= 0);
		if (ut_expired(deadline))
			fail_msg("callback ran %d times", calls);
	}
	/* Removed: no more callbacks although data is still there. */
	assert_int_equal(sl_sock_group_remove_sock(group, pr.server), 0);
	assert_int_equal(sl_sock_group_remove_sock(group, pr.server), -EINVAL);
	calls = 0;
	for (int i = 0; i < 5; i++)
		assert_int_equal(sl_sock_group_poll(group), 0);
	assert_int_equal(calls, 0);
	recv_all(pr.server, &c, 1);
	assert_int_equal(c, 'x');
	/* And it can join again. */
	assert_int_equal(sl_sock_group_add_sock(group, pr.server, noop_cb, &calls), 0);
	assert_int_equal(sl_sock_group_remove_sock(group, pr.server), 0);
	assert_int_equal(sl_sock_group_close(&group), 0);
	pair_close(&pr);
}

struct drain_ctx {
	int calls;
	size_t bytes;
};

static void drain_cb(void *arg, struct sl_sock_group *group, struct sl_sock *sock)
{
	struct drain_ctx *d = arg;
	char buf[256];
	ssize_t n;

	(void)group;
	d->calls++;
	while ((n = sl_sock_recv(sock, buf, sizeof(buf))) > 0)
		d->bytes += (size_t)n;
}

static bool fd_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

struct accept_ctx {
	int calls;
	struct sl_sock *accepted[4];
	int naccepted;
};

static void accept_cb(void *arg, struct sl_sock_group *group, struct sl_sock *sock)
{
	struct accept_ctx *a = arg;
	struct sl_sock *conn;

	(void)group;
	a->calls++;
	while ((conn = sl_sock_accept(sock))) {
		assert_true(a->naccepted < 4);
		a->accepted[a->naccepted++] = conn;
	}
	assert_int_equal(errno, EAGAIN);
}

/* A listener in a group: its callback runs when connections wait (what nvmf/tcp does). */
static void test_listener_in_group(void **state)
{
	const struct ut_param *p = param(state);
	struct accept_ctx a = { 0 };
	struct sl_sock_group *group;
	struct sl_sock *listener, *c1, *c2;
	uint64_t deadline;
	uint16_t port;
	int fd;

	listener = sl_sock_listen(p->ip, 0, p->impl, NULL);
	assert_non_null(listener);
	assert_int_equal(sl_sock_getaddr(listener, NULL, 0, &port, NULL, 0, NULL), 0);
	group = sl_sock_group_create(NULL);
	assert_non_null(group);
	fd = sl_sock_group_get_wake_fd(group);
	assert_int_equal(sl_sock_group_add_sock(group, listener, accept_cb, &a), 0);
	deadline = ut_deadline(UT_WAIT_SEC);
	while (sl_sock_group_poll(group) != 0 || fd_readable(fd))
		if (ut_expired(deadline))
			fail_msg("idle listener group stays busy");
	assert_int_equal(a.naccepted, 0);

	c1 = sl_sock_connect(p->ip, port, p->impl, NULL);
	assert_non_null(c1);
	while (!fd_readable(fd))
		if (ut_expired(deadline))
			fail_msg("wake fd not readable with a connection waiting");
	while (a.naccepted < 1) {
		assert_true(sl_sock_group_poll(group) >= 0);
		if (ut_expired(deadline))
			fail_msg("connection not accepted");
	}
	/* And again: the listener keeps waiting after its callback. */
	c2 = sl_sock_connect(p->ip, port, p->impl, NULL);
	assert_non_null(c2);
	while (a.naccepted < 2) {
		assert_true(sl_sock_group_poll(group) >= 0);
		if (ut_expired(deadline))
			fail_msg("second connection not accepted");
	}
	assert_string_equal(sl_sock_get_impl_name(a.accepted[0]), p->impl);
	/* Closing the listener while in its group leaves the group empty. */
	assert_int_equal(sl_sock_close(&listener), 0);
	assert_int_equal(sl_sock_group_close(&group), 0);
	for (int i = 0; i < a.naccepted; i++)
		assert_int_equal(sl_sock_close(&a.accepted[i]), 0);
	assert_int_equal(sl_sock_close(&c1), 0);
	assert_int_equal(sl_sock_close(&c2), 0);
}

static void test_wake_fd(void **state)
{
	const struct ut_param *p = param(state);
	struct drain_ctx d = { 0 };
	struct sl_sock_group *group;
	struct iovec iov = { (void *)"ping", 4 };
	uint64_t deadline;
	struct pair pr;
	int fd;

	pair_open(p, &pr, NULL);
	group = sl_sock_group_create(NULL);
	assert_non_null(group);
	fd = sl_sock_group_get_wake_fd(group);
	assert_true(fd >= 0);
	assert_int_equal(sl_sock_group_add_sock(group, pr.server, drain_cb, &d), 0);
	/* Settle (uring arms its receives in the first polls), then idle. */
	deadline = ut_deadline(UT_WAIT_SEC);
	while (sl_sock_group_poll(group) != 0 || fd_readable(fd))
		if (ut_expired(deadline))
			fail_msg("idle group keeps its wake fd readable");

	/* Idle costs no receive call (uring: the one in flight stays). */
	{
		uint64_t recvs = stats(pr.server).recv_calls;

		for (int i = 0; i < 10; i++)
			assert_int_equal(sl_sock_group_poll(group), 0);
		assert_int_equal(stats(pr.server).recv_calls, recvs);
		assert_false(fd_readable(fd));
	}
	assert_int_equal(sl_sock_writev(pr.client, &iov, 1), 4);
	deadline = ut_deadline(UT_WAIT_SEC);
	while (!fd_readable(fd))
		if (ut_expired(deadline))
			fail_msg("wake fd not readable after data arrived");
	assert_int_equal(d.calls, 0);
	while (d.bytes < 4) {
		assert_true(sl_sock_group_poll(group) >= 0);
		if (ut_expired(deadline))
			fail_msg("data not delivered");
	}
	/* Drained: idle again, and the fd no longer wakes anybody. */
	while (sl_sock_group_poll(group) != 0 || fd_readable(fd))
		if (ut_expired(deadline))
			fail_msg("wake fd stays readable after the data was read");
	assert_int_equal(sl_sock_group_remove_sock(group, pr.server), 0);
	assert_int_equal(sl_sock_group_close(&group), 0);
	pair_close(&pr);
}

struct sip_ctx {
	int calls;
	uint8_t buf[4096];
	size_t got;
};

/* Reads 8 bytes per callback: the rest waits in the receive pipe. */
static void sip_cb(void *arg, struct sl_sock_group *group, struct sl_sock *sock)
{
	struct sip_ctx *s = arg;
	ssize_t n;

	(void)group;
	s->calls++;
	n = sl_sock_recv(sock, s->buf + s->got, 8);
	if (n > 0)
		s->got += (size_t)n;
}

static void test_recv_pipe(void **state)
{
	const struct ut_param *p = param(state);
	struct sl_sock_impl_opts o;
	struct sip_ctx s = { 0 };
	struct sl_sock_group *group;
	uint8_t src[1000];
	struct iovec iov = { src, sizeof(src) };
	uint64_t deadline = ut_deadline(UT_WAIT_SEC), recvs;
	struct pair pr;

	assert_int_equal(sl_sock_impl_get_opts(p->impl, &o), 0);
	o.enable_recv_pipe = true;
	o.recv_pipe_size = 8192;
	assert_int_equal(sl_sock_impl_set_opts(p->impl, &o), 0);
	pair_open(p, &pr, NULL);
	fill_pattern(src, sizeof(src), 9);
	group = sl_sock_group_create(NULL);
	assert_non_null(group);
	assert_int_equal(sl_sock_group_add_sock(group, pr.server, sip_cb, &s), 0);
	/* One write, so that it arrives as one segment on loopback. */
	assert_int_equal(sl_sock_writev(pr.client, &iov, 1), sizeof(src));
	while (s.got < sizeof(src)) {
		assert_true(sl_sock_group_poll(group) >= 0);
		if (ut_expired(deadline))
			fail_msg("got %zu bytes in %d callbacks", s.got, s.calls);
	}
	assert_memory_equal(s.buf, src, sizeof(src));
	assert_true(s.calls >= (int)sizeof(src) / 8);
	/* 125 reads of 8 bytes, served by a handful of recv calls. */
	recvs = stats(pr.server).recv_calls;
	assert_true(recvs < 10);
	/* uring reads into the registered pipe (RLIMIT_MEMLOCK allows a few). */
	if (!strcmp(p->impl, "uring"))
		assert_true(stats(pr.server).recv_fixed > 0);
	assert_int_equal(sl_sock_group_remove_sock(group, pr.server), 0);
	assert_int_equal(sl_sock_group_close(&group), 0);
	pair_close(&pr);
}

static void test_zcopy(void **state)
{
	const struct ut_param *p = param(state);
	enum { NREQ = 8, SZ = 256 * 1024 };
	struct sl_sock_impl_opts o;
	struct sl_sock_request *req[NREQ];
	struct req_ctx ctx[NREQ];
	struct req_log log = { 0 };
	struct sl_sock_group *group;
	struct sock_stats st;
	uint8_t *src, *dst;
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);
	size_t got = 0;
	struct pair pr;

	assert_int_equal(sl_sock_impl_get_opts(p->impl, &o), 0);
	o.enable_zerocopy_send_client = true;
	o.enable_zerocopy_send_server = true;
	o.zerocopy_threshold = 4096;
	assert_int_equal(sl_sock_impl_set_opts(p->impl, &o), 0);
	pair_open(p, &pr, NULL);
	if (!pr.client->zcopy) {
		pair_close(&pr);
		skip();
	}
	assert_true(pr.server->zcopy);
	group = sl_sock_group_create(NULL);
	assert_non_null(group);
	assert_int_equal(sl_sock_group_add_sock(group, pr.client, noop_cb, NULL), 0);
	src = malloc(NREQ * SZ);
	dst = malloc(NREQ * SZ);
	assert_non_null(src);
	assert_non_null(dst);
	fill_pattern(src, NREQ * SZ, 5);
	for (int i = 0; i < NREQ; i++) {
		ctx[i] = (struct req_ctx){ .log = &log, .idx = i };
		req[i] = req_alloc(1, &ctx[i]);
		req[i]->iov[0] = (struct iovec){ src + (size_t)i * SZ, SZ };
		sl_sock_writev_async(pr.client, req[i]);
	}
	while (got < NREQ * SZ || log.norder < NREQ) {
		ssize_t n;

		assert_true(sl_sock_group_poll(group) >= 0);
		st = stats(pr.client);
		/* A request is never done before its zero-copy sends are notified. */
		if (st.zcopy_notified == 0)
			assert_int_equal(log.norder, 0);
		n = sl_sock_recv(pr.server, dst + got, NREQ * SZ - got);
		if (n > 0)
			got += (size_t)n;
		if (ut_expired(deadline))
			fail_msg("got %zu bytes, %d callbacks", got, log.norder);
	}
	st = stats(pr.client);
	assert_true(st.zcopy_sends > 0);
	assert_int_equal(st.zcopy_notified, st.zcopy_sends);
	/* Loopback delivers to a local socket: the kernel had to copy. */
	assert_true(st.zcopy_copied > 0);
	for (int i = 0; i < NREQ; i++) {
		assert_int_equal(log.count[i], 1);
		assert_int_equal(log.status[i], 0);
		assert_int_equal(log.order[i], i);
	}
	assert_memory_equal(src, dst, NREQ * SZ);

	/* Below the threshold: a copying send, done at once. */
	{
		uint8_t small[100];
		struct req_ctx c = { .log = &log, .idx = NREQ };
		struct sl_sock_request *r = req_alloc(1, &c);
		uint64_t zs = st.zcopy_sends;

		r->iov[0] = (struct iovec){ small, sizeof(small) };
		sl_sock_writev_async(pr.client, r);
		while (!log.count[NREQ]) {
			assert_true(sl_sock_group_poll(group) >= 0);
			if (ut_expired(deadline))
				fail_msg("small request not done");
		}
		assert_int_equal(stats(pr.client).zcopy_sends, zs);
		recv_all(pr.server, dst, sizeof(small));
		free(r);
	}
	assert_int_equal(sl_sock_group_remove_sock(group, pr.client), 0);
	assert_int_equal(sl_sock_group_close(&group), 0);
	for (int i = 0; i < NREQ; i++)
		free(req[i]);
	free(src);
	free(dst);
	pair_close(&pr);
}

/* Zero-copy requests sent but not yet notified are cancelled by close. */
static void test_zcopy_flush_outside_group(void **state)
{
	const struct ut_param *p = param(state);
	struct sl_sock_impl_opts o;
	struct req_log log = { 0 };
	struct req_ctx c = { .log = &log, .idx = 0 };
	struct sl_sock_request *r;
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);
	static uint8_t buf[64 * 1024], dst[64 * 1024];
	struct pair pr;

	assert_int_equal(sl_sock_impl_get_opts(p->impl, &o), 0);
	o.enable_zerocopy_send_client = true;
	o.zerocopy_threshold = 0;
	assert_int_equal(sl_sock_impl_set_opts(p->impl, &o), 0);
	pair_open(p, &pr, NULL);
	if (!pr.client->zcopy) {
		pair_close(&pr);
		skip();
	}
	r = req_alloc(1, &c);
	r->iov[0] = (struct iovec){ buf, sizeof(buf) };
	sl_sock_writev_async(pr.client, r);
	/* sl_sock_flush alone sends and later reaps the notification. */
	while (!log.count[0]) {
		assert_int_equal(sl_sock_flush(pr.client), 0);
		if (ut_expired(deadline))
			fail_msg("zero-copy request never completed");
	}
	assert_int_equal(log.status[0], 0);
	assert_true(stats(pr.client).zcopy_sends >= 1);
	recv_all(pr.server, dst, sizeof(dst));
	free(r);
	pair_close(&pr);
}

static void test_opts(void **state)
{
	const struct ut_param *p = param(state);
	struct sl_sock_impl_opts o, o2;
	struct sl_sock_opts so;

	sl_sock_opts_init(&so);
	assert_true(so.nodelay);
	assert_true(so.zcopy);
	assert_int_equal(so.priority, 0);

	assert_int_equal(sl_sock_impl_get_opts(p->impl, &o), 0);
	o.recv_buf_size = 1 << 20;
	o.send_buf_size = 1 << 19;
	o.enable_quickack = true;
	o.enable_recv_pipe = !o.enable_recv_pipe;
	o.recv_pipe_size = 32768;
	o.zerocopy_threshold = 12345;
	assert_int_equal(sl_sock_impl_set_opts(p->impl, &o), 0);
	assert_int_equal(sl_sock_impl_get_opts(p->impl, &o2), 0);
	assert_memory_equal(&o, &o2, sizeof(o));
	o2.enable_placement_id = true;
	ut_log_capture_start();
	assert_int_equal(sl_sock_impl_set_opts(p->impl, &o2), -EINVAL);
	o2.enable_placement_id = false;
	o2.enable_recv_pipe = true;
	o2.recv_pipe_size = 10;
	assert_int_equal(sl_sock_impl_set_opts(p->impl, &o2), -EINVAL);

	assert_int_equal(sl_sock_impl_get_opts("nope", &o2), -EINVAL);
	assert_int_equal(sl_sock_impl_set_opts("nope", &o), -EINVAL);
	assert_int_equal(sl_sock_set_default_impl("nope"), -EINVAL);
	assert_int_equal(sl_sock_set_default_impl(NULL), -EINVAL);
	errno = 0;
	assert_null(sl_sock_listen(p->ip, 0, "nope", NULL));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(sl_sock_connect(p->ip, 1, "nope", NULL));
	assert_int_equal(errno, EINVAL);
	ut_log_capture_stop();

	assert_int_equal(sl_sock_set_default_impl(p->impl), 0);
	assert_string_equal(sl_sock_get_default_impl(), p->impl);
	/* NULL picks the default. */
	{
		struct sl_sock *l = sl_sock_listen(p->ip, 0, NULL, NULL);

		assert_non_null(l);
		assert_string_equal(sl_sock_get_impl_name(l), p->impl);
		assert_int_equal(sl_sock_close(&l), 0);
	}
	/* Options apply to sockets created afterwards (the kernel doubles SO_RCVBUF). */
	{
		struct pair pr;
		int v = 0;
		socklen_t vl = sizeof(v);

		pair_open(p, &pr, NULL);
		assert_int_equal(getsockopt(pr.client->fd, SOL_SOCKET, SO_SNDBUF, &v, &vl), 0);
		assert_true(v >= (int)o.send_buf_size);
		/* uring always receives through the pipe. */
		assert_int_equal(pr.client->pipe.size,
				 o.enable_recv_pipe || !strcmp(p->impl, "uring") ? 32768 : 0);
		pair_close(&pr);
	}
}

/* ---- RPCs and save_config (implementation independent) ---- */

struct rpc_res {
	bool done;
	bool is_error;
	json_t *resp;
};

static void rpc_cpl(void *ctx, const json_t *response, bool is_error)
{
	struct rpc_res *r = ctx;

	r->is_error = is_error;
	r->resp = response ? json_deep_copy(response) : NULL;
	r->done = true;
}

/* Synchronous methods answer inside the call. Steals params. */
static json_t *rpc(const char *method, json_t *params, bool *is_error)
{
	struct rpc_res r = { 0 };

	assert_int_equal(sl_rpc_call_local(method, params, rpc_cpl, &r), 0);
	json_decref(params);
	assert_true(r.done);
	*is_error = r.is_error;
	return r.resp;
}

static void test_rpc(void **state)
{
	struct sl_sock_impl_opts o;
	json_t *res, *config, *entry;
	bool err;
	size_t i;
	int found_default = 0, found_posix = 0;

	(void)state;
	ut_log_capture_start();
	sl_rpc_set_state(SL_RPC_STARTUP);
	res = rpc("sock_impl_get_options", json_pack("{s:s}", "impl_name", "posix"), &err);
	assert_false(err);
	{
		static const char *const keys[] = { "recv_buf_size",
						    "send_buf_size",
						    "enable_recv_pipe",
						    "enable_quickack",
						    "enable_placement_id",
						    "enable_zerocopy_send_server",
						    "enable_zerocopy_send_client",
						    "zerocopy_threshold" };

		for (i = 0; i < UT_COUNTOF(keys); i++)
			assert_non_null(json_object_get(res, keys[i]));
	}
	assert_int_equal(json_integer_value(json_object_get(res, "enable_placement_id")), 0);
	json_decref(res);

	res = rpc("sock_impl_set_options",
		  json_pack("{s:s, s:i, s:b, s:i}", "impl_name", "posix", "recv_buf_size", 262144,
			    "enable_zerocopy_send_server", true, "enable_placement_id", 0),
		  &err);
	assert_false(err);
	json_decref(res);
	assert_int_equal(sl_sock_impl_get_opts("posix", &o), 0);
	assert_int_equal(o.recv_buf_size, 262144);
	assert_true(o.enable_zerocopy_send_server);
	/* Absent fields kept their values. */
	assert_int_equal(o.send_buf_size, g_saved_opts.send_buf_size);
	assert_int_equal(o.recv_pipe_size, g_saved_opts.recv_pipe_size);

	res = rpc("sock_impl_set_options", json_pack("{s:s}", "impl_name", "nope"), &err);
	assert_true(err);
	json_decref(res);
	res = rpc("sock_impl_set_options",
		  json_pack("{s:s, s:i}", "impl_name", "posix", "enable_placement_id", 1), &err);
	assert_true(err);
	json_decref(res);
	res = rpc("sock_impl_set_options",
		  json_pack("{s:s, s:s}", "impl_name", "posix", "recv_buf_size", "big"), &err);
	assert_true(err);
	json_decref(res);
	res = rpc("sock_impl_get_options", json_pack("{s:s}", "impl_name", "nope"), &err);
	assert_true(err);
	json_decref(res);
	res = rpc("sock_set_default_impl", json_pack("{s:s}", "impl_name", "nope"), &err);
	assert_true(err);
	json_decref(res);
	res = rpc("sock_set_default_impl", json_pack("{s:s}", "impl_name", "posix"), &err);
	assert_false(err);
	json_decref(res);

	/* save_config: the default, then every implementation's options. */
	config = json_array();
	sl_subsystem_find("sock")->write_config_json(config);
	json_array_foreach(config, i, entry) {
		const char *m = json_string_value(json_object_get(entry, "method"));
		json_t *params = json_object_get(entry, "params");

		if (!strcmp(m, "sock_set_default_impl")) {
			assert_int_equal(i, 0);
			assert_string_equal(json_string_value(json_object_get(params, "impl_name")),
					    "posix");
			found_default++;
		} else {
			assert_string_equal(m, "sock_impl_set_options");
			if (!strcmp(json_string_value(json_object_get(params, "impl_name")),
				    "posix")) {
				assert_int_equal(json_integer_value(
							 json_object_get(params, "recv_buf_size")),
						 262144);
				found_posix++;
			}
			/* Replaying the entry is accepted. */
			res = rpc(m, json_incref(params), &err);
			assert_false(err);
			json_decref(res);
		}
	}
	assert_int_equal(found_default, 1);
	assert_int_equal(found_posix, 1);
	json_decref(config);
	assert_int_equal(sl_sock_impl_set_opts("posix", &g_saved_opts), 0);
	ut_log_capture_stop();
}

static int setup_rpc(void **state)
{
	(void)state;
	return sl_sock_impl_get_opts("posix", &g_saved_opts);
}

static const struct ut_param g_posix4 = { "posix", "127.0.0.1" };
static const struct ut_param g_posix6 = { "posix", "::1" };
static const struct ut_param g_uring4 = { "uring", "127.0.0.1" };
static const struct ut_param g_uring6 = { "uring", "::1" };

/* io_uring can be off (kernel.io_uring_disabled, seccomp): then uring is not tested. */
static bool uring_usable(void)
{
	struct io_uring ring;

	if (io_uring_queue_init(4, &ring, 0))
		return false;
	io_uring_queue_exit(&ring);
	return true;
}

#define SOCK_TESTS(p)                                                                              \
	cmocka_unit_test_prestate_setup_teardown(test_connect_accept, setup_test, teardown_test,   \
						 (void *)&(p)),                                    \
		cmocka_unit_test_prestate_setup_teardown(test_connect_refused, setup_test,         \
							 teardown_test, (void *)&(p)),             \
		cmocka_unit_test_prestate_setup_teardown(test_recv_eagain, setup_test,             \
							 teardown_test, (void *)&(p)),             \
		cmocka_unit_test_prestate_setup_teardown(test_async_large, setup_test,             \
							 teardown_test, (void *)&(p)),             \
		cmocka_unit_test_prestate_setup_teardown(test_batching, setup_test, teardown_test, \
							 (void *)&(p)),                            \
		cmocka_unit_test_prestate_setup_teardown(test_peer_close, setup_test,              \
							 teardown_test, (void *)&(p)),             \
		cmocka_unit_test_prestate_setup_teardown(test_close_cancels, setup_test,           \
							 teardown_test, (void *)&(p)),             \
		cmocka_unit_test_prestate_setup_teardown(test_peer_reset_fails_queued, setup_test, \
							 teardown_test, (void *)&(p)),             \
		cmocka_unit_test_prestate_setup_teardown(test_close_from_callback, setup_test,     \
							 teardown_test, (void *)&(p)),             \
		cmocka_unit_test_prestate_setup_teardown(test_group_add_remove, setup_test,        \
							 teardown_test, (void *)&(p)),             \
		cmocka_unit_test_prestate_setup_teardown(test_wake_fd, setup_test, teardown_test,  \
							 (void *)&(p)),                            \
		cmocka_unit_test_prestate_setup_teardown(test_listener_in_group, setup_test,       \
							 teardown_test, (void *)&(p)),             \
		cmocka_unit_test_prestate_setup_teardown(test_recv_pipe, setup_test,               \
							 teardown_test, (void *)&(p)),             \
		cmocka_unit_test_prestate_setup_teardown(test_zcopy, setup_test, teardown_test,    \
							 (void *)&(p)),                            \
		cmocka_unit_test_prestate_setup_teardown(test_zcopy_flush_outside_group,           \
							 setup_test, teardown_test, (void *)&(p)), \
		cmocka_unit_test_prestate_setup_teardown(test_opts, setup_test, teardown_test,     \
							 (void *)&(p))

int main(void)
{
	const struct CMUnitTest tests[] = {
		SOCK_TESTS(g_posix4),
		SOCK_TESTS(g_posix6),
		cmocka_unit_test_setup(test_rpc, setup_rpc),
	};
	const struct CMUnitTest uring_tests[] = {
		SOCK_TESTS(g_uring4),
		SOCK_TESTS(g_uring6),
	};
	int failed;

	ut_apply_filter();
	failed = cmocka_run_group_tests_name("posix", tests, NULL, NULL);
	if (!uring_usable()) {
		print_message("[  SKIPPED ] uring: io_uring is not available here\n");
		return failed;
	}
	return failed + cmocka_run_group_tests_name("uring", uring_tests, NULL, NULL);
}
