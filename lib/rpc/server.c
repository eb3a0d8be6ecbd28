/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC server: a non-blocking UNIX socket polled by a timed poller.
 * Listening and connected sockets sit in one epoll set whose fd is a wake fd
 * of the polling thread, so a request wakes a sleeping reactor.
 */
#include "rpc_internal.h"

#include "sluice/thread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

SL_LOG_REGISTER_COMPONENT(rpc)

#define RPC_POLL_PERIOD_US 10000 /* a request also wakes the poller through its fd */
#define RPC_MAX_CONNS 128
#define RPC_MAX_OUTBUF (64u * 1024 * 1024)
#define RPC_RECV_CHUNK 65536

struct rpc_conn {
	int fd;
	char *in;
	size_t in_len;
	size_t in_cap;
	char *out;
	size_t out_len;
	size_t out_cap;
	uint32_t outstanding; /* requests being handled */
	bool closing;	      /* no more input; close once output is flushed */
	bool dead;	      /* socket gone; free when outstanding reaches 0 */
	struct rpc_conn *next;
};

static int g_listen_fd = -1;
static int g_epfd = -1;
static char g_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct sl_poller *g_poller;
static struct rpc_conn *g_conns;
static size_t g_conn_count;

const char *sl_rpc_get_listen_path(void)
{
	return g_listen_fd >= 0 ? g_path : NULL;
}

static void conn_close_socket(struct rpc_conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(g_epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	c->dead = true;
}

static void conn_free(struct rpc_conn *c)
{
	for (struct rpc_conn **p = &g_conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	g_conn_count--;
	free(c->in);
	free(c->out);
	free(c);
}

static int buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
	if (*len + n > *cap) {
		size_t ncap = *cap ? *cap : 4096;
		char *nb;

		while (ncap < *len + n)
			ncap *= 2;
		nb = realloc(*buf, ncap);
		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	return 0;
}

void rpc_conn_respond(struct rpc_conn *c, const char *text, size_t len)
{
	if (c->dead)
		return;
	if (c->out_len + len + 1 > RPC_MAX_OUTBUF ||
	    buf_append(&c->out, &c->out_len, &c->out_cap, text, len) ||
	    buf_append(&c->out, &c->out_len, &c->out_cap, "\n", 1)) {
		SL_ERRLOG("RPC client does not read its responses: closing it");
		conn_close_socket(c);
	}
}

void rpc_conn_request_done(struct rpc_conn *c)
{
	c->outstanding--;
	/* After sl_rpc_close nothing polls dead connections: the last answer frees it. */
	if (g_listen_fd < 0 && c->dead && c->outstanding == 0)
		conn_free(c);
}

/* Errors found before a request exists: answer with the given id (or null). */
static void send_early_error(struct rpc_conn *c, json_t *id, int code, const char *msg)
{
	json_t *resp = json_pack("{s:s, s:O?, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id, "error",
				 "code", code, "message", msg);
	char *text;

	if (!json_object_get(resp, "id"))
		json_object_set_new(resp, "id", json_null());
	text = json_dumps(resp, JSON_COMPACT);
	json_decref(resp);
	if (text) {
		rpc_conn_respond(c, text, strlen(text));
		free(text);
	}
}

static void handle_request(struct rpc_conn *c, json_t *msg)
{
	struct sl_jsonrpc_request *req;
	json_t *id = json_object_get(msg, "id");
	json_t *method = json_object_get(msg, "method");
	json_t *version = json_object_get(msg, "jsonrpc");
	json_t *params = json_object_get(msg, "params");

	if (!json_is_object(msg)) {
		send_early_error(c, NULL, SL_JSONRPC_ERROR_INVALID_REQUEST,
				 "Invalid request: not a JSON object");
		return;
	}
	if (id && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id)) {
		send_early_error(c, NULL, SL_JSONRPC_ERROR_INVALID_REQUEST,
				 "Invalid request: id must be a string, integer or null");
		return;
	}
	if (!json_is_string(version) || strcmp(json_string_value(version), "2.0")) {
		send_early_error(c, id, SL_JSONRPC_ERROR_INVALID_REQUEST,
				 "Invalid request: \"jsonrpc\" must be \"2.0\"");
		return;
	}
	if (!json_is_string(method) || json_string_length(method) == 0 ||
	    json_string_length(method) >= sizeof(req->method)) {
		send_early_error(c, id, SL_JSONRPC_ERROR_INVALID_REQUEST,
				 "Invalid request: \"method\" must be a non-empty string");
		return;
	}
	req = calloc(1, sizeof(*req));
	if (!req) {
		send_early_error(c, id, SL_JSONRPC_ERROR_INTERNAL_ERROR, "Out of memory");
		return;
	}
	req->conn = c;
	req->id = id ? json_incref(id) : NULL;
	req->params = params ? json_incref(params) : NULL;
	snprintf(req->method, sizeof(req->method), "%s", json_string_value(method));
	c->outstanding++;
	SL_DEBUGLOG(rpc, "request %s", req->method);
	rpc_dispatch(req);
}

/* Parse every complete request in the input buffer. */
static void conn_parse(struct rpc_conn *c)
{
	size_t off = 0;

	while (!c->closing) {
		json_error_t err;
		json_t *msg;

		while (off < c->in_len && strchr(" \t\r\n", c->in[off]))
			off++;
		if (off == c->in_len)
			break;
		msg = json_loadb(c->in + off, c->in_len - off,
				 JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &err);
		if (!msg) {
			/*
			 * Incomplete, not wrong: jansson reports a value cut inside a
			 * literal, number or escape as a syntax error at the end of input.
			 */
			if (json_error_code(&err) == json_error_premature_end_of_input ||
			    (size_t)err.position >= c->in_len - off)
				break; /* wait for the rest */
			char m[256];

			snprintf(m, sizeof(m), "Parse error: %s", err.text);
			send_early_error(c, NULL, SL_JSONRPC_ERROR_PARSE_ERROR, m);
			/* The stream cannot be resynchronised after garbage. */
			c->closing = true;
			break;
		}
		off += (size_t)err.position;
		handle_request(c, msg);
		json_decref(msg);
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	if (!c->closing && c->in_len >= SL_RPC_MAX_REQUEST_SIZE) {
		send_early_error(c, NULL, SL_JSONRPC_ERROR_INVALID_REQUEST,
				 "Invalid request: larger than the 1 MiB limit");
		c->closing = true;
	}
}

static void conn_read(struct rpc_conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->in_cap - c->in_len < RPC_RECV_CHUNK) {
			size_t ncap = c->in_len + RPC_RECV_CHUNK;
			char *nb = realloc(c->in, ncap);

			if (!nb) {
				conn_close_socket(c);
				return;
			}
			c->in = nb;
			c->in_cap = ncap;
		}
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n > 0) {
			c->in_len += (size_t)n;
			conn_parse(c);
			if (c->closing || c->dead)
				return;
			continue;
		}
		if (n == 0) {
			/* Client closed; answers to requests in flight are dropped. */
			conn_close_socket(c);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_close_socket(c);
		return;
	}
}

static void conn_flush(struct rpc_conn *c)
{
	while (c->out_len && !c->dead) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			memmove(c->out, c->out + n, c->out_len - (size_t)n);
			c->out_len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		} else {
			conn_close_socket(c);
		}
	}
}

static void accept_conns(void)
{
	for (;;) {
		int fd = accept4(g_listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct rpc_conn *c;

		if (fd < 0)
			return;
		if (g_conn_count >= RPC_MAX_CONNS) {
			SL_ERRLOG("RPC server: %d connections already open, refusing another",
				  RPC_MAX_CONNS);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		ev.data.ptr = c;
		if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = g_conns;
		g_conns = c;
		g_conn_count++;
	}
}

static int rpc_poll(void *arg)
{
	struct epoll_event evs[32];
	struct rpc_conn *c, *next;
	int n, busy = 0;

	(void)arg;
	n = epoll_wait(g_epfd, evs, 32, 0);
	for (int i = 0; i < n; i++) {
		busy = 1;
		if (evs[i].data.ptr == NULL) {
			accept_conns();
			continue;
		}
		c = evs[i].data.ptr;
		if (!c->dead && !c->closing)
			conn_read(c);
	}
	for (c = g_conns; c; c = next) {
		next = c->next;
		if (!c->dead)
			conn_flush(c);
		if (c->closing && !c->dead && c->out_len == 0)
			conn_close_socket(c);
		if (c->dead && c->outstanding == 0)
			conn_free(c);
	}
	return busy ? SL_POLLER_BUSY : SL_POLLER_IDLE;
}

static bool socket_in_use(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool used;

	if (fd < 0)
		return false;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	used = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return used;
}

int sl_rpc_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct stat st;
	mode_t old_umask;
	int rc;

	if (g_listen_fd >= 0)
		return -EALREADY;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		SL_ERRLOG("RPC socket path %s is longer than %zu bytes", path,
			  sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			SL_ERRLOG("RPC socket path %s exists and is not a socket", path);
			return -EEXIST;
		}
		if (socket_in_use(path)) {
			SL_ERRLOG("RPC socket %s is in use by another process (another sluice_tgt? "
				  "use -r to choose another path)",
				  path);
			return -EADDRINUSE;
		}
		unlink(path); /* stale, left by a process that died */
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	g_listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g_listen_fd < 0)
		return -errno;
	old_umask = umask(0177); /* socket file mode 0600 */
	rc = bind(g_listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_umask);
	if (rc || listen(g_listen_fd, 64)) {
		rc = -errno;
		SL_ERRLOG("cannot listen on RPC socket %s: %s", path, strerror(errno));
		goto out_close;
	}
	g_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g_epfd < 0 || epoll_ctl(g_epfd, EPOLL_CTL_ADD, g_listen_fd, &ev)) {
		rc = -errno;
		goto out_unlink;
	}
	g_poller = sl_poller_register_named(rpc_poll, NULL, RPC_POLL_PERIOD_US, "rpc");
	if (!g_poller) {
		rc = -ENOMEM;
		goto out_unlink;
	}
	rc = sl_poller_set_wake_fd(g_poller, g_epfd);
	if (rc && rc != -EINVAL) /* -EINVAL: no scheduler (unit tests) */
		SL_WARNLOG("RPC socket cannot wake a sleeping reactor: %s", strerror(-rc));
	snprintf(g_path, sizeof(g_path), "%s", path);
	return 0;

out_unlink:
	unlink(path);
	if (g_epfd >= 0)
		close(g_epfd);
	g_epfd = -1;
out_close:
	close(g_listen_fd);
	g_listen_fd = -1;
	return rc;
}

void sl_rpc_close(void)
{
	struct rpc_conn *c, *next;

	if (g_listen_fd < 0)
		return;
	sl_poller_unregister(&g_poller);
	for (c = g_conns; c; c = next) {
		next = c->next;
		conn_flush(c);
		conn_close_socket(c);
		if (c->outstanding == 0)
			conn_free(c);
		/* else: an async handler still holds it; it is dropped with the process */
	}
	close(g_listen_fd);
	g_listen_fd = -1;
	close(g_epfd);
	g_epfd = -1;
	unlink(g_path);
}
