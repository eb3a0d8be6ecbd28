/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sock_bench: TCP echo throughput over loopback through lib/sock, posix and
 * uring in the same run, so that their ratio means something on any machine.
 *
 * Two OS threads, one per core, each busy-polling one socket group (what a
 * reactor does): the server echoes whatever it reads with async writes from
 * a pool of buffers, the client keeps `window` messages of `size` bytes in
 * flight on each of `conns` connections and counts complete echoes. Nothing
 * else runs: no reactors, no hugepages. Not a test; run it through
 * test/bench/sock.sh, which checks that the machine is quiet.
 *
 *   sock_bench [-t SECS] [-s SIZE] [-w WINDOW] [-c CONNS] [-i IMPL]...
 */
#include "sluice/sock.h"

#include <errno.h>
#include <stdalign.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define SRV_BUFS 16 /* echo buffers per server connection */
#define SRV_BUF_SIZE (64 * 1024)

struct breq {
	struct breq *next_free;
	struct breq **free_list;
	uint8_t *buf;
	struct sl_sock_request *req; /* in req_space, with room for one iovec */
	alignas(struct sl_sock_request)
		uint8_t req_space[sizeof(struct sl_sock_request) + sizeof(struct iovec)];
};

struct conn {
	struct sl_sock *sock;
	struct breq *free;
	struct breq *reqs;
	size_t rx;	   /* client: echoed bytes not yet a whole message */
	uint32_t inflight; /* client: messages sent, not echoed back */
};

struct side {
	struct sl_sock_group *group;
	struct conn conns[MAX_CONNS];
	int nconns;
	int core;
	uint64_t msgs; /* client: echoes completed */
};

static size_t g_size = 4096;
static uint32_t g_window = 32;
static int g_nconns = 4;
static double g_secs = 2.0;
static atomic_bool g_stop;
static atomic_bool g_measure;
static uint8_t *g_txbuf;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void req_done(void *arg, int status)
{
	struct breq *b = arg;

	(void)status;
	b->next_free = *b->free_list;
	*b->free_list = b;
}

static int conn_init(struct conn *c, int nreqs, size_t bufsize)
{
	c->reqs = calloc((size_t)nreqs, sizeof(*c->reqs));
	if (!c->reqs)
		return -ENOMEM;
	for (int i = 0; i < nreqs; i++) {
		struct breq *b = &c->reqs[i];

		if (bufsize && !(b->buf = malloc(bufsize)))
			return -ENOMEM;
		b->req = (struct sl_sock_request *)b->req_space;
		b->free_list = &c->free;
		b->req->cb_fn = req_done;
		b->req->cb_arg = b;
		b->req->iovcnt = 1;
		req_done(b, 0);
	}
	return 0;
}

static void conn_fini(struct conn *c, int nreqs)
{
	if (c->sock)
		sl_sock_close(&c->sock);
	if (c->reqs)
		for (int i = 0; i < nreqs; i++)
			free(c->reqs[i].buf);
	free(c->reqs);
}

/* Server: read into free echo buffers and queue them back. */
static void server_cb(void *arg, struct sl_sock_group *group, struct sl_sock *sock)
{
	struct conn *c = arg;
	struct breq *b;
	ssize_t n;

	(void)group;
	while ((b = c->free)) {
		n = sl_sock_recv(sock, b->buf, SRV_BUF_SIZE);
		if (n <= 0)
			return;
		c->free = b->next_free;
		b->req->iov[0].iov_base = b->buf;
		b->req->iov[0].iov_len = (size_t)n;
		sl_sock_writev_async(sock, b->req);
	}
}

static void client_send(struct conn *c)
{
	struct breq *b;

	while (c->inflight < g_window && (b = c->free)) {
		c->free = b->next_free;
		b->req->iov[0].iov_base = g_txbuf;
		b->req->iov[0].iov_len = g_size;
		sl_sock_writev_async(c->sock, b->req);
		c->inflight++;
	}
}

static uint8_t g_scratch[256 * 1024];

static void client_cb(void *arg, struct sl_sock_group *group, struct sl_sock *sock)
{
	struct side *s = sl_sock_group_get_ctx(group);
	struct conn *c = arg;
	ssize_t n;

	while ((n = sl_sock_recv(sock, g_scratch, sizeof(g_scratch))) > 0) {
		c->rx += (size_t)n;
		while (c->rx >= g_size) {
			c->rx -= g_size;
			c->inflight--;
			if (atomic_load_explicit(&g_measure, memory_order_relaxed))
				s->msgs++;
		}
	}
	client_send(c);
}

static void *poll_thread(void *arg)
{
	struct side *s = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(s->core, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	while (!atomic_load_explicit(&g_stop, memory_order_relaxed))
		sl_sock_group_poll(s->group);
	return NULL;
}

/* One case: returns echoes per second, or < 0 on failure. */
static double run_case(const char *impl)
{
	static struct side srv, cli;
	struct sl_sock *listener;
	pthread_t ts, tc;
	uint16_t port;
	double t0, t1, rate = -1;
	int ncores = (int)sysconf(_SC_NPROCESSORS_ONLN);

	memset(&srv, 0, sizeof(srv));
	memset(&cli, 0, sizeof(cli));
	if (sl_sock_set_default_impl(impl)) {
		fprintf(stderr, "sock_bench: no implementation %s\n", impl);
		return -1;
	}
	listener = sl_sock_listen("127.0.0.1", 0, impl, NULL);
	if (!listener || sl_sock_getaddr(listener, NULL, 0, &port, NULL, 0, NULL))
		return -1;
	srv.group = sl_sock_group_create(&srv);
	cli.group = sl_sock_group_create(&cli);
	if (!srv.group || !cli.group)
		goto out;
	for (int i = 0; i < g_nconns; i++) {
		struct conn *cc = &cli.conns[i], *sc = &srv.conns[i];

		cc->sock = sl_sock_connect("127.0.0.1", port, impl, NULL);
		if (!cc->sock)
			goto out;
		while (!(sc->sock = sl_sock_accept(listener)))
			if (errno != EAGAIN)
				goto out;
		if (conn_init(cc, (int)g_window, 0) || conn_init(sc, SRV_BUFS, SRV_BUF_SIZE))
			goto out;
		if (sl_sock_group_add_sock(cli.group, cc->sock, client_cb, cc) ||
		    sl_sock_group_add_sock(srv.group, sc->sock, server_cb, sc))
			goto out;
		cli.nconns = srv.nconns = i + 1;
		client_send(cc);
	}
	srv.core = 0;
	cli.core = ncores > 1 ? 1 : 0;
	atomic_store(&g_stop, false);
	atomic_store(&g_measure, false);
	pthread_create(&ts, NULL, poll_thread, &srv);
	pthread_create(&tc, NULL, poll_thread, &cli);
	usleep(200000); /* warm-up */
	t0 = now_s();
	atomic_store(&g_measure, true);
	usleep((useconds_t)(g_secs * 1e6));
	atomic_store(&g_measure, false);
	t1 = now_s();
	atomic_store(&g_stop, true);
	pthread_join(ts, NULL);
	pthread_join(tc, NULL);
	rate = (double)cli.msgs / (t1 - t0);
out:
	for (int i = 0; i < g_nconns; i++) {
		if (cli.conns[i].sock && i < cli.nconns)
			sl_sock_group_remove_sock(cli.group, cli.conns[i].sock);
		if (srv.conns[i].sock && i < srv.nconns)
			sl_sock_group_remove_sock(srv.group, srv.conns[i].sock);
		conn_fini(&cli.conns[i], (int)g_window);
		conn_fini(&srv.conns[i], SRV_BUFS);
	}
	sl_sock_group_close(&srv.group);
	sl_sock_group_close(&cli.group);
	sl_sock_close(&listener);
	return rate;
}

int main(int argc, char **argv)
{
	const char *impls[4] = { 0 };
	double rates[4];
	int nimpl = 0, ch;

	while ((ch = getopt(argc, argv, "t:s:w:c:i:")) != -1) {
		switch (ch) {
		case 't':
			g_secs = atof(optarg);
			break;
		case 's':
			g_size = strtoul(optarg, NULL, 0);
			break;
		case 'w':
			g_window = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'c':
			g_nconns = atoi(optarg);
			break;
		case 'i':
			if (nimpl < 4)
				impls[nimpl++] = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-t SECS] [-s SIZE] [-w WINDOW] [-c CONNS] "
				"[-i IMPL]...\n",
				argv[0]);
			return 1;
		}
	}
	if (g_secs <= 0 || g_size == 0 || g_window == 0 || g_nconns < 1 || g_nconns > MAX_CONNS) {
		fprintf(stderr, "sock_bench: bad arguments\n");
		return 1;
	}
	if (!nimpl) {
		impls[nimpl++] = "posix";
		impls[nimpl++] = "uring";
	}
	g_txbuf = calloc(1, g_size);
	if (!g_txbuf)
		return 1;
	printf("echo %zu-byte messages, window %u x %d connections, %.1f s per case\n", g_size,
	       g_window, g_nconns, g_secs);
	printf("%-8s %14s %12s %8s\n", "impl", "echoes/s", "MiB/s", "ratio");
	for (int i = 0; i < nimpl; i++) {
		rates[i] = run_case(impls[i]);
		if (rates[i] < 0) {
			fprintf(stderr, "sock_bench: %s case failed\n", impls[i]);
			return 1;
		}
		printf("%-8s %14.0f %12.1f %8.2f\n", impls[i], rates[i],
		       rates[i] * (double)g_size / (1024.0 * 1024.0), rates[i] / rates[0]);
	}
	free(g_txbuf);
	return 0;
}
