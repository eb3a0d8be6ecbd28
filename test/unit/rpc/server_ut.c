/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC server over a real UNIX socket. The server's poller lives on an
 * sl_thread created by hand (no scheduler); the test is its only OS thread
 * and drives it with sl_thread_poll, advancing a virtual clock by more than
 * the poller's 10 ms period at each step so that every poll runs it.
 * Clients are plain sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../ut_common.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sluice/env.h"
#include "sluice/rpc.h"
#include "sluice/thread.h"

static struct sl_thread *g_t;
static uint64_t g_vnow;
static char g_path[108];
static unsigned int g_path_seq;

/* One server iteration: messages, and the RPC poller (always due). */
static void pump(void)
{
	g_vnow += sl_get_ticks_hz() / 50;
	sl_thread_poll(g_t, 0, g_vnow);
}

static void pump_n(int n)
{
	for (int i = 0; i < n; i++)
		pump();
}

static void listen_unique(void)
{
	snprintf(g_path, sizeof(g_path), "/tmp/sl_rpc_ut.%d.%u.sock", (int)getpid(), g_path_seq++);
	unlink(g_path);
	assert_int_equal(sl_rpc_listen(g_path), 0);
	assert_string_equal(sl_rpc_get_listen_path(), g_path);
}

static void close_server(void)
{
	sl_rpc_close();
	assert_null(sl_rpc_get_listen_path());
	assert_int_equal(access(g_path, F_OK), -1); /* socket file removed */
	pump_n(2);
}

/* ---- clients ---- */

struct client {
	int fd;
	char *buf;
	size_t len;
	size_t cap;
	bool eof;
};

static struct client *cli_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct client *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g_path);
	/* The listen backlog accepts the connection before the server polls. */
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return c;
}

static void cli_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

static void cli_send_raw(struct client *c, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static void cli_send(struct client *c, const char *text)
{
	cli_send_raw(c, text, strlen(text));
}

/* Read what is available without blocking. Returns false once the peer closed. */
static bool cli_read_some(struct client *c)
{
	for (;;) {
		ssize_t n;

		if (c->eof)
			return false;
		if (c->cap - c->len < 65536) {
			c->cap = c->len + 65536 + 1;
			c->buf = realloc(c->buf, c->cap);
			assert_non_null(c->buf);
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, MSG_DONTWAIT);
		if (n > 0) {
			c->len += (size_t)n;
			c->buf[c->len] = '\0';
			continue;
		}
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			c->eof = true;
			return false;
		}
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		return true;
	}
}

/* Take one response line from the buffer, if complete. */
static json_t *cli_take_line(struct client *c)
{
	char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
	json_error_t jerr;
	json_t *msg;
	size_t linelen;

	if (!nl)
		return NULL;
	linelen = (size_t)(nl - c->buf);
	msg = json_loadb(c->buf, linelen, 0, &jerr);
	if (!msg)
		fail_msg("response is not JSON (%s): %.*s", jerr.text, (int)linelen, c->buf);
	memmove(c->buf, nl + 1, c->len - linelen - 1);
	c->len -= linelen + 1;
	return msg;
}

/* Poll the server until a response line arrives. */
static json_t *cli_recv(struct client *c)
{
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	for (;;) {
		json_t *msg = cli_take_line(c);

		if (msg)
			return msg;
		if (!cli_read_some(c)) {
			msg = cli_take_line(c);
			if (msg)
				return msg;
			fail_msg("connection closed without a response (have %zu bytes)", c->len);
		}
		if (ut_expired(deadline))
			fail_msg("no response within %d s", UT_WAIT_SEC);
		pump();
	}
}

/* Poll the server until it closes the connection; no further response may arrive. */
static void cli_expect_closed(struct client *c)
{
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	while (cli_read_some(c)) {
		if (ut_expired(deadline))
			fail_msg("connection not closed within %d s", UT_WAIT_SEC);
		pump();
	}
	if (c->len)
		fail_msg("unexpected data before close: %.*s", (int)c->len, c->buf);
}

static bool array_has_string(const json_t *arr, const char *str)
{
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (!strcmp(json_string_value(json_array_get(arr, i)) ?: "", str))
			return true;
	return false;
}

static json_int_t resp_id(const json_t *resp)
{
	json_t *id = json_object_get(resp, "id");

	assert_true(json_is_integer(id));
	return json_integer_value(id);
}

static void expect_result_int(json_t *resp, json_int_t id, json_int_t value)
{
	json_t *r = json_object_get(resp, "result");

	assert_string_equal(json_string_value(json_object_get(resp, "jsonrpc")), "2.0");
	assert_int_equal(resp_id(resp), id);
	assert_null(json_object_get(resp, "error"));
	if (!json_is_integer(r))
		fail_msg("expected an integer result, got %s", json_dumps(resp, 0));
	assert_int_equal(json_integer_value(r), value);
	json_decref(resp);
}

/* Check an error response; returns its message (valid until resp is freed). */
static const char *expect_error(json_t *resp, int code)
{
	json_t *err = json_object_get(resp, "error");

	assert_string_equal(json_string_value(json_object_get(resp, "jsonrpc")), "2.0");
	if (!json_is_object(err))
		fail_msg("expected an error, got %s", json_dumps(resp, 0));
	assert_null(json_object_get(resp, "result"));
	assert_int_equal(json_integer_value(json_object_get(err, "code")), code);
	assert_true(json_is_string(json_object_get(err, "message")));
	return json_string_value(json_object_get(err, "message"));
}

/* ---- test methods ---- */

struct add_params {
	int32_t a;
	int32_t b;
};

static const struct sl_json_field g_add_fields[] = {
	SL_JSON_FIELD(struct add_params, a, SL_JSON_INT32, false),
	SL_JSON_FIELD(struct add_params, b, SL_JSON_INT32, false),
};

static int g_add_calls;

static void ut_add(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct add_params p = { 0 };

	g_add_calls++;
	if (sl_rpc_decode_params(req, params, g_add_fields, UT_COUNTOF(g_add_fields), &p))
		return;
	sl_jsonrpc_send_result(req, json_integer((json_int_t)p.a + p.b));
}

struct len_params {
	char *s;
	bool flag;
	int64_t n;
};

static const struct sl_json_field g_len_fields[] = {
	SL_JSON_FIELD(struct len_params, s, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct len_params, flag, SL_JSON_BOOL, true),
	SL_JSON_FIELD(struct len_params, n, SL_JSON_INT64, true),
};

/* Result: length of s, plus n, plus 1000 when flag. */
static void ut_len(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct len_params p = { 0 };
	json_int_t r;

	if (sl_rpc_decode_params(req, params, g_len_fields, UT_COUNTOF(g_len_fields), &p))
		return;
	r = (json_int_t)strlen(p.s) + p.n + (p.flag ? 1000 : 0);
	sl_json_free_decoded(g_len_fields, UT_COUNTOF(g_len_fields), &p);
	sl_jsonrpc_send_result(req, json_integer(r));
}

static struct sl_jsonrpc_request *g_async_req;
static int g_async_calls;

static void ut_async(struct sl_jsonrpc_request *req, const json_t *params)
{
	(void)params;
	g_async_calls++;
	g_async_req = req; /* answered later */
}

static void async_answer_msg(void *ctx)
{
	struct sl_jsonrpc_request *req = g_async_req;

	g_async_req = NULL;
	sl_jsonrpc_send_result(req, json_integer((json_int_t)(intptr_t)ctx));
}

static void ut_runtime_only(struct sl_jsonrpc_request *req, const json_t *params)
{
	(void)params;
	sl_jsonrpc_send_bool(req, true);
}

static void ut_errno(struct sl_jsonrpc_request *req, const json_t *params)
{
	(void)params;
	sl_jsonrpc_send_errno(req, -ENOSPC, "ut_errno");
}

/* ---- tests ---- */

static void test_valid_request(void **state)
{
	struct client *c;
	json_t *resp;

	(void)state;
	listen_unique();
	c = cli_connect();
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":1,\"params\":{\"a\":2,\"b\":"
		    "40}}");
	expect_result_int(cli_recv(c), 1, 42);

	/* String id, whitespace around, params with a key order of its own. */
	cli_send(c, " \n\t{\"id\":\"abc\",\"params\":{\"b\":-5,\"a\":3},\"method\":\"ut_add\","
		    "\"jsonrpc\":\"2.0\"}\n");
	resp = cli_recv(c);
	assert_string_equal(json_string_value(json_object_get(resp, "id")), "abc");
	assert_int_equal(json_integer_value(json_object_get(resp, "result")), -2);
	json_decref(resp);

	/* A framework method registered by lib/event. */
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"rpc_get_methods\",\"id\":3}");
	resp = cli_recv(c);
	assert_int_equal(resp_id(resp), 3);
	assert_true(json_is_array(json_object_get(resp, "result")));
	assert_true(array_has_string(json_object_get(resp, "result"), "ut_add"));
	json_decref(resp);

	/* sl_jsonrpc_send_errno: code -errno, message strerror. */
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_errno\",\"id\":4}");
	resp = cli_recv(c);
	assert_non_null(strstr(expect_error(resp, -ENOSPC), "ut_errno"));
	json_decref(resp);

	cli_close(c);
	close_server();
}

static void test_unknown_method(void **state)
{
	struct client *c;
	json_t *resp;

	(void)state;
	listen_unique();
	c = cli_connect();
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"no_such_method\",\"id\":7}");
	resp = cli_recv(c);
	assert_int_equal(resp_id(resp), 7);
	assert_non_null(
		strstr(expect_error(resp, SL_JSONRPC_ERROR_METHOD_NOT_FOUND), "no_such_method"));
	json_decref(resp);
	/* The connection stays usable. */
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":8,\"params\":{\"a\":1,\"b\":"
		    "1}}");
	expect_result_int(cli_recv(c), 8, 2);
	cli_close(c);
	close_server();
}

static void test_invalid_params(void **state)
{
	struct client *c;
	json_t *resp;

	(void)state;
	listen_unique();
	c = cli_connect();
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":1,\"params\":{\"a\":\"x\","
		    "\"b\":1}}");
	resp = cli_recv(c);
	assert_int_equal(resp_id(resp), 1);
	assert_non_null(strstr(expect_error(resp, SL_JSONRPC_ERROR_INVALID_PARAMS), "'a'"));
	json_decref(resp);

	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":2,\"params\":{\"a\":1}}");
	resp = cli_recv(c);
	assert_non_null(strstr(expect_error(resp, SL_JSONRPC_ERROR_INVALID_PARAMS), "'b'"));
	json_decref(resp);

	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":3,"
		    "\"params\":{\"a\":1,\"b\":2,\"c\":3}}");
	resp = cli_recv(c);
	assert_non_null(strstr(expect_error(resp, SL_JSONRPC_ERROR_INVALID_PARAMS), "'c'"));
	json_decref(resp);

	/* params that are not an object are refused before the handler runs. */
	g_add_calls = 0;
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":4,\"params\":[1,2]}");
	resp = cli_recv(c);
	assert_non_null(strstr(expect_error(resp, SL_JSONRPC_ERROR_INVALID_PARAMS), "ut_add"));
	json_decref(resp);
	assert_int_equal(g_add_calls, 0);

	cli_close(c);
	close_server();
}

static void test_wrong_state(void **state)
{
	struct client *c;
	json_t *resp;

	(void)state;
	listen_unique();
	c = cli_connect();
	sl_rpc_set_state(SL_RPC_STARTUP);
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_runtime_only\",\"id\":1}");
	resp = cli_recv(c);
	assert_non_null(
		strstr(expect_error(resp, SL_JSONRPC_ERROR_INVALID_STATE), "ut_runtime_only"));
	json_decref(resp);
	sl_rpc_set_state(SL_RPC_RUNTIME);
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_runtime_only\",\"id\":2}");
	resp = cli_recv(c);
	assert_true(json_is_true(json_object_get(resp, "result")));
	json_decref(resp);
	sl_rpc_set_state(SL_RPC_STARTUP);
	cli_close(c);
	close_server();
}

static void test_parse_error_closes(void **state)
{
	struct client *c;
	json_t *resp;

	(void)state;
	listen_unique();
	c = cli_connect();
	/* A good request, then garbage in the same write. */
	cli_send(c,
		 "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":1,\"params\":{\"a\":1,\"b\":2}}"
		 "{\"jsonrpc\":\"2.0\",,}");
	expect_result_int(cli_recv(c), 1, 3);
	resp = cli_recv(c);
	expect_error(resp, SL_JSONRPC_ERROR_PARSE_ERROR);
	assert_true(json_is_null(json_object_get(resp, "id")));
	json_decref(resp);
	cli_expect_closed(c);
	cli_close(c);

	/* Garbage alone; what follows it is never answered. */
	c = cli_connect();
	cli_send(c, "nonsense {\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":1,"
		    "\"params\":{\"a\":1,\"b\":2}}");
	resp = cli_recv(c);
	expect_error(resp, SL_JSONRPC_ERROR_PARSE_ERROR);
	json_decref(resp);
	cli_expect_closed(c);
	cli_close(c);

	/* The server still serves new clients. */
	c = cli_connect();
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":5,\"params\":{\"a\":1,\"b\":"
		    "2}}");
	expect_result_int(cli_recv(c), 5, 3);
	cli_close(c);
	close_server();
}

static void test_invalid_requests(void **state)
{
	static const char *const bad[] = {
		"42\n",
		"[1]",
		"\"str\"\n",
		"null\n",
		"{\"method\":\"ut_add\",\"id\":1,\"params\":{\"a\":1,\"b\":2}}",
		"{\"jsonrpc\":\"1.0\",\"method\":\"ut_add\",\"id\":1}",
		"{\"jsonrpc\":2.0,\"method\":\"ut_add\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":17,\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":{\"x\":1}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":[1]}",
	};
	struct client *c;
	json_t *resp;

	(void)state;
	listen_unique();
	c = cli_connect();
	for (size_t i = 0; i < UT_COUNTOF(bad); i++) {
		cli_send(c, bad[i]);
		resp = cli_recv(c);
		expect_error(resp, SL_JSONRPC_ERROR_INVALID_REQUEST);
		json_decref(resp);
	}
	/* A method name longer than any the registry can hold. */
	{
		char req[512];
		char name[300];

		memset(name, 'm', sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"id\":9}",
			 name);
		cli_send(c, req);
		resp = cli_recv(c);
		expect_error(resp, SL_JSONRPC_ERROR_INVALID_REQUEST);
		assert_int_equal(resp_id(resp), 9);
		json_decref(resp);
	}
	/* Invalid requests do not close the connection. */
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":10,\"params\":{\"a\":1,"
		    "\"b\":2}}");
	expect_result_int(cli_recv(c), 10, 3);
	cli_close(c);
	close_server();
}

/* Write one byte at a time, letting the server poll between bytes. */
static void send_bytewise(struct client *c, const char *text)
{
	for (const char *p = text; *p; p++) {
		cli_send_raw(c, p, 1);
		pump();
	}
}

static void test_split_request(void **state)
{
	struct client *c;

	(void)state;
	listen_unique();
	c = cli_connect();
	send_bytewise(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":12345,"
			 "\"params\":{\"a\":1234,\"b\":\"x y\"}}");
	{
		json_t *resp = cli_recv(c);

		assert_int_equal(resp_id(resp), 12345);
		expect_error(resp, SL_JSONRPC_ERROR_INVALID_PARAMS);
		json_decref(resp);
	}
	send_bytewise(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":12346,"
			 "\"params\":{\"a\":1234,\"b\":4321}}");
	expect_result_int(cli_recv(c), 12346, 5555);
	cli_close(c);
	close_server();
}

/* Literals, numbers and escapes cut at a read boundary: true, false, null, -10, \u00e9. */
static void test_split_request_literals(void **state)
{
	struct client *c;

	(void)state;
	listen_unique();
	c = cli_connect();
	send_bytewise(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_len\",\"id\":1,"
			 "\"params\":{\"s\":\"abc\",\"flag\":true,\"n\":-10}}");
	expect_result_int(cli_recv(c), 1, 3 + 1000 - 10);
	send_bytewise(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_len\",\"id\":2,"
			 "\"params\":{\"s\":\"abcd\",\"flag\":false}}");
	expect_result_int(cli_recv(c), 2, 4);
	/* "\u00e9" is two bytes of UTF-8, "\"" one. */
	send_bytewise(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_len\",\"id\":3,"
			 "\"params\":{\"s\":\"x\\u00e9\\\"\"}}");
	expect_result_int(cli_recv(c), 3, 4);
	send_bytewise(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_runtime_only\",\"id\":null}");
	json_decref(cli_recv(c));
	cli_close(c);
	close_server();
}

static void test_two_requests_one_write(void **state)
{
	struct client *c;

	(void)state;
	listen_unique();
	c = cli_connect();
	cli_send(c,
		 "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":1,\"params\":{\"a\":1,\"b\":2}}"
		 "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":2,\"params\":{\"a\":3,\"b\":4}}"
		 "\n"
		 "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":3}");
	expect_result_int(cli_recv(c), 1, 3);
	expect_result_int(cli_recv(c), 2, 7);
	json_decref(cli_recv(c));
	cli_close(c);
	close_server();
}

/* ---- big requests: a sender thread, since they exceed the socket buffer ---- */

struct sender {
	pthread_t tid;
	int fd;
	const char *data;
	size_t len;
	size_t sent;
	int err;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;

	while (s->sent < s->len) {
		ssize_t n = send(s->fd, s->data + s->sent, s->len - s->sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->err = errno;
			break;
		}
		s->sent += (size_t)n;
	}
	return NULL;
}

/* {"jsonrpc":"2.0","method":"ut_len","id":ID,"params":{"s":"aaaa...  (closed when complete) */
static char *big_request(size_t slen, bool complete, int id)
{
	char head[128];
	int hl = snprintf(
		head, sizeof(head),
		"{\"jsonrpc\":\"2.0\",\"method\":\"ut_len\",\"id\":%d,\"params\":{\"s\":\"", id);
	char *buf = malloc((size_t)hl + slen + 8);

	assert_non_null(buf);
	memcpy(buf, head, (size_t)hl);
	memset(buf + hl, 'a', slen);
	strcpy(buf + hl + slen, complete ? "\"}}" : "");
	return buf;
}

static void test_request_too_big(void **state)
{
	struct client *c;
	struct sender s = { 0 };
	json_t *resp;
	char *req = big_request(SL_RPC_MAX_REQUEST_SIZE + 256 * 1024, false, 1);

	(void)state;
	listen_unique();
	c = cli_connect();
	s.fd = c->fd;
	s.data = req;
	s.len = strlen(req);
	assert_int_equal(pthread_create(&s.tid, NULL, sender_main, &s), 0);
	resp = cli_recv(c);
	expect_error(resp, SL_JSONRPC_ERROR_INVALID_REQUEST);
	assert_true(json_is_null(json_object_get(resp, "id")));
	json_decref(resp);
	cli_expect_closed(c);
	/* The server closed with input unread: the sender sees the peer go away. */
	pthread_join(s.tid, NULL);
	cli_close(c);
	free(req);

	/* Others still served. */
	c = cli_connect();
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":2,\"params\":{\"a\":1,\"b\":"
		    "2}}");
	expect_result_int(cli_recv(c), 2, 3);
	cli_close(c);
	close_server();
}

static void test_request_just_below_limit(void **state)
{
	struct client *c;
	struct sender s = { 0 };
	size_t slen = SL_RPC_MAX_REQUEST_SIZE - 4096;
	char *req = big_request(slen, true, 3);

	(void)state;
	listen_unique();
	c = cli_connect();
	s.fd = c->fd;
	s.data = req;
	s.len = strlen(req);
	assert_true(s.len < SL_RPC_MAX_REQUEST_SIZE);
	assert_int_equal(pthread_create(&s.tid, NULL, sender_main, &s), 0);
	expect_result_int(cli_recv(c), 3, (json_int_t)slen);
	pthread_join(s.tid, NULL);
	assert_int_equal(s.err, 0);
	assert_int_equal(s.sent, s.len);
	cli_close(c);
	free(req);
	close_server();
}

static void test_client_disconnects_mid_request(void **state)
{
	struct client *c1, *c2;

	(void)state;
	listen_unique();
	c1 = cli_connect();
	cli_send(c1, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":1,\"par");
	pump_n(3);
	c2 = cli_connect();
	cli_send(c2, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":2,\"params\":{\"a\":1,"
		     "\"b\":2}}");
	expect_result_int(cli_recv(c2), 2, 3);
	cli_close(c1);
	pump_n(3);
	cli_send(c2, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":3,\"params\":{\"a\":1,"
		     "\"b\":3}}");
	expect_result_int(cli_recv(c2), 3, 4);

	/* Many clients that connect and go away, with and without data. */
	for (int i = 0; i < 50; i++) {
		struct client *x = cli_connect();

		if (i % 2)
			cli_send(x, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":1,");
		if (i % 3 == 0)
			cli_send(x, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":1,"
				    "\"params\":{\"a\":1,\"b\":2}}");
		cli_close(x);
		if (i % 10 == 0)
			pump();
	}
	pump_n(3);
	cli_send(c2, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":4,\"params\":{\"a\":1,"
		     "\"b\":4}}");
	expect_result_int(cli_recv(c2), 4, 5);
	cli_close(c2);
	close_server();
}

/* The server holds at most 128 connections; one more is closed, the others keep working. */
static void test_connection_limit(void **state)
{
	enum { LIMIT = 128 };
	struct client *cs[LIMIT];
	struct client *extra;

	(void)state;
	listen_unique();
	for (int i = 0; i < LIMIT; i++) {
		cs[i] = cli_connect();
		if (i % 16 == 15)
			pump(); /* the backlog is 64: let the server accept */
	}
	pump_n(2);
	ut_log_capture_start();
	extra = cli_connect();
	cli_expect_closed(extra);
	UT_ASSERT_LOG("connections");
	ut_log_capture_stop();
	cli_close(extra);
	cli_send(cs[0], "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":1,\"params\":{\"a\":1,"
			"\"b\":2}}");
	expect_result_int(cli_recv(cs[0]), 1, 3);
	cli_send(cs[LIMIT - 1], "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":2,"
				"\"params\":{\"a\":1,\"b\":2}}");
	expect_result_int(cli_recv(cs[LIMIT - 1]), 2, 3);
	/* One leaves: a new client fits again. */
	cli_close(cs[5]);
	pump_n(2);
	cs[5] = cli_connect();
	cli_send(cs[5], "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":3,\"params\":{\"a\":1,"
			"\"b\":2}}");
	expect_result_int(cli_recv(cs[5]), 3, 3);
	for (int i = 0; i < LIMIT; i++)
		cli_close(cs[i]);
	close_server();
}

static void test_notification(void **state)
{
	struct client *c;

	(void)state;
	listen_unique();
	c = cli_connect();
	g_add_calls = 0;
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"params\":{\"a\":1,\"b\":2}}");
	/* Notifications that fail get no answer either. */
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"no_such_method\"}");
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"params\":{\"a\":\"bad\"}}");
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":77,\"params\":{\"a\":5,"
		    "\"b\":5}}");
	/* The first line that arrives is the answer to the request with an id. */
	expect_result_int(cli_recv(c), 77, 10);
	assert_int_equal(g_add_calls, 3);
	pump_n(5);
	assert_true(cli_read_some(c));
	assert_int_equal(c->len, 0);
	cli_close(c);
	close_server();
}

static void test_async_handler(void **state)
{
	struct client *c;
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	(void)state;
	listen_unique();
	c = cli_connect();
	g_async_req = NULL;
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_async\",\"id\":9}");
	while (!g_async_req) {
		assert_false(ut_expired(deadline));
		pump();
	}
	/* Nothing is sent until the handler answers; other requests are served meanwhile. */
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":10,\"params\":{\"a\":1,"
		    "\"b\":2}}");
	expect_result_int(cli_recv(c), 10, 3);
	pump_n(5);
	assert_true(cli_read_some(c));
	assert_int_equal(c->len, 0);
	/* Answer from a later poll of the server's thread. */
	assert_int_equal(sl_thread_send_msg(g_t, async_answer_msg, (void *)(intptr_t)4242), 0);
	expect_result_int(cli_recv(c), 9, 4242);
	assert_null(g_async_req);
	cli_close(c);
	close_server();
}

static void test_async_handler_client_gone(void **state)
{
	struct client *c;
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	(void)state;
	listen_unique();
	c = cli_connect();
	g_async_req = NULL;
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_async\",\"id\":11}");
	while (!g_async_req) {
		assert_false(ut_expired(deadline));
		pump();
	}
	cli_close(c);
	pump_n(5); /* the server sees the close while the request is outstanding */
	assert_int_equal(sl_thread_send_msg(g_t, async_answer_msg, (void *)(intptr_t)1), 0);
	pump_n(5);
	assert_null(g_async_req);

	/* Same, with the server closed before the answer. */
	c = cli_connect();
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_async\",\"id\":12}");
	while (!g_async_req) {
		assert_false(ut_expired(deadline));
		pump();
	}
	cli_close(c);
	pump_n(2);
	close_server();
	assert_int_equal(sl_thread_send_msg(g_t, async_answer_msg, (void *)(intptr_t)2), 0);
	pump_n(2);
	assert_null(g_async_req);

	/* The server can listen again and works. */
	listen_unique();
	c = cli_connect();
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":13,\"params\":{\"a\":1,"
		    "\"b\":2}}");
	expect_result_int(cli_recv(c), 13, 3);
	cli_close(c);
	close_server();
}

/* The client is still connected (and silent) when the server shuts down. */
static void test_close_with_async_outstanding(void **state)
{
	struct client *c;
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	(void)state;
	listen_unique();
	c = cli_connect();
	g_async_req = NULL;
	cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_async\",\"id\":14}");
	while (!g_async_req) {
		assert_false(ut_expired(deadline));
		pump();
	}
	close_server();
	cli_expect_closed(c);
	assert_int_equal(sl_thread_send_msg(g_t, async_answer_msg, (void *)(intptr_t)3), 0);
	pump_n(2);
	assert_null(g_async_req);
	cli_close(c);
}

static void test_listen_errors(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char longpath[200];
	int fd;

	(void)state;
	ut_log_capture_start();
	/* Too long for sun_path. */
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(sl_rpc_listen(longpath), -ENAMETOOLONG);

	/* A regular file is not replaced. */
	snprintf(g_path, sizeof(g_path), "/tmp/sl_rpc_ut.%d.file", (int)getpid());
	fd = open(g_path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(sl_rpc_listen(g_path), -EEXIST);
	UT_ASSERT_LOG(g_path, "not a socket");
	unlink(g_path);

	/* A live socket (someone listens) is an error. */
	snprintf(g_path, sizeof(g_path), "/tmp/sl_rpc_ut.%d.live", (int)getpid());
	unlink(g_path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(sl_rpc_listen(g_path), -EADDRINUSE);
	UT_ASSERT_LOG(g_path, "in use");
	close(fd);

	/* Now stale (nobody listens): replaced. */
	assert_int_equal(sl_rpc_listen(g_path), 0);
	assert_int_equal(sl_rpc_listen(g_path), -EALREADY);
	{
		struct stat st;

		assert_int_equal(stat(g_path, &st), 0);
		assert_true(S_ISSOCK(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	ut_log_capture_stop();
	{
		struct client *c = cli_connect();

		cli_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_add\",\"id\":1,"
			    "\"params\":{\"a\":1,\"b\":2}}");
		expect_result_int(cli_recv(c), 1, 3);
		cli_close(c);
	}
	close_server();
	sl_rpc_close(); /* closing twice is harmless */
}

/* ---- sl_rpc_call_local ---- */

struct local_result {
	int calls;
	bool is_error;
	json_t *response;
};

static void local_cpl(void *ctx, const json_t *response, bool is_error)
{
	struct local_result *r = ctx;

	r->calls++;
	r->is_error = is_error;
	json_decref(r->response);
	r->response = json_deep_copy(response);
}

static void test_call_local(void **state)
{
	struct local_result r = { 0 };
	json_t *params = json_pack("{s:i, s:i}", "a", 20, "b", 22);

	(void)state;
	assert_int_equal(sl_rpc_call_local("ut_add", params, local_cpl, &r), 0);
	assert_int_equal(r.calls, 1);
	assert_false(r.is_error);
	assert_int_equal(json_integer_value(r.response), 42);
	json_decref(params);

	/* Errors reach cpl as the error object. */
	params = json_pack("{s:s}", "a", "x");
	assert_int_equal(sl_rpc_call_local("ut_add", params, local_cpl, &r), 0);
	assert_int_equal(r.calls, 2);
	assert_true(r.is_error);
	assert_int_equal(json_integer_value(json_object_get(r.response, "code")),
			 SL_JSONRPC_ERROR_INVALID_PARAMS);
	assert_non_null(strstr(json_string_value(json_object_get(r.response, "message")), "'a'"));
	json_decref(params);

	/* Unknown: -ENOENT and cpl is not called. */
	assert_int_equal(sl_rpc_call_local("no_such_method", NULL, local_cpl, &r), -ENOENT);
	assert_int_equal(r.calls, 2);

	/* Wrong state reaches cpl as an error. */
	sl_rpc_set_state(SL_RPC_STARTUP);
	assert_int_equal(sl_rpc_call_local("ut_runtime_only", NULL, local_cpl, &r), 0);
	assert_int_equal(r.calls, 3);
	assert_true(r.is_error);
	assert_int_equal(json_integer_value(json_object_get(r.response, "code")),
			 SL_JSONRPC_ERROR_INVALID_STATE);

	/* Asynchronous: cpl runs when the handler answers. */
	g_async_req = NULL;
	assert_int_equal(sl_rpc_call_local("ut_async", NULL, local_cpl, &r), 0);
	assert_int_equal(r.calls, 3);
	assert_non_null(g_async_req);
	assert_int_equal(sl_thread_send_msg(g_t, async_answer_msg, (void *)(intptr_t)99), 0);
	pump();
	assert_int_equal(r.calls, 4);
	assert_false(r.is_error);
	assert_int_equal(json_integer_value(r.response), 99);
	json_decref(r.response);
}

static void test_method_registry(void **state)
{
	json_t *all, *cur;
	size_t i;

	(void)state;
	assert_true(sl_rpc_method_exists("ut_add"));
	assert_false(sl_rpc_method_exists("no_such_method"));
	assert_int_equal(sl_rpc_method_state_mask("ut_runtime_only"), SL_RPC_RUNTIME);
	assert_int_equal(sl_rpc_method_state_mask("no_such_method"), 0);
	sl_rpc_set_state(SL_RPC_STARTUP);
	all = sl_rpc_get_methods(false, false);
	cur = sl_rpc_get_methods(true, false);
	assert_true(array_has_string(all, "ut_runtime_only"));
	assert_false(array_has_string(cur, "ut_runtime_only"));
	/* Sorted. */
	for (i = 1; i < json_array_size(all); i++)
		assert_true(strcmp(json_string_value(json_array_get(all, i - 1)),
				   json_string_value(json_array_get(all, i))) < 0);
	json_decref(all);
	json_decref(cur);

	/* Aliases: listed only on request, dispatch to the same handler. */
	sl_rpc_register_alias("ut_add_alias", "ut_add");
	all = sl_rpc_get_methods(false, false);
	assert_false(array_has_string(all, "ut_add_alias"));
	json_decref(all);
	all = sl_rpc_get_methods(false, true);
	assert_true(array_has_string(all, "ut_add_alias"));
	json_decref(all);
	{
		struct local_result r = { 0 };
		json_t *params = json_pack("{s:i, s:i}", "a", 1, "b", 2);

		assert_int_equal(sl_rpc_call_local("ut_add_alias", params, local_cpl, &r), 0);
		assert_int_equal(json_integer_value(r.response), 3);
		json_decref(r.response);
		json_decref(params);
	}
}

/* After a failed test: leave no server behind for the next one. */
static int test_teardown(void **state)
{
	(void)state;
	sl_rpc_close();
	sl_rpc_set_state(SL_RPC_STARTUP);
	sl_log_set_sink(NULL);
	sl_set_thread(g_t);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (sl_thread_lib_init(NULL, 0))
		return -1;
	g_t = sl_thread_create("rpc_ut", -1);
	if (!g_t)
		return -1;
	sl_set_thread(g_t);
	g_vnow = sl_get_ticks();
	sl_rpc_register_method("ut_add", ut_add, SL_RPC_STARTUP | SL_RPC_RUNTIME);
	sl_rpc_register_method("ut_len", ut_len, SL_RPC_STARTUP | SL_RPC_RUNTIME);
	sl_rpc_register_method("ut_async", ut_async, SL_RPC_STARTUP | SL_RPC_RUNTIME);
	sl_rpc_register_method("ut_runtime_only", ut_runtime_only, SL_RPC_RUNTIME);
	sl_rpc_register_method("ut_errno", ut_errno, SL_RPC_STARTUP | SL_RPC_RUNTIME);
	return 0;
}

static int teardown(void **state)
{
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	(void)state;
	sl_rpc_close();
	sl_thread_exit(g_t);
	while (!sl_thread_is_exited(g_t) && !ut_expired(deadline))
		sl_thread_poll(g_t, 0, 0);
	if (!sl_thread_is_exited(g_t))
		return -1;
	sl_thread_destroy(g_t);
	sl_set_thread(NULL);
	sl_thread_lib_fini();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_valid_request, test_teardown),
		cmocka_unit_test_teardown(test_unknown_method, test_teardown),
		cmocka_unit_test_teardown(test_invalid_params, test_teardown),
		cmocka_unit_test_teardown(test_wrong_state, test_teardown),
		cmocka_unit_test_teardown(test_parse_error_closes, test_teardown),
		cmocka_unit_test_teardown(test_invalid_requests, test_teardown),
		cmocka_unit_test_teardown(test_split_request, test_teardown),
		cmocka_unit_test_teardown(test_split_request_literals, test_teardown),
		cmocka_unit_test_teardown(test_two_requests_one_write, test_teardown),
		cmocka_unit_test_teardown(test_request_too_big, test_teardown),
		cmocka_unit_test_teardown(test_request_just_below_limit, test_teardown),
		cmocka_unit_test_teardown(test_client_disconnects_mid_request, test_teardown),
		cmocka_unit_test_teardown(test_connection_limit, test_teardown),
		cmocka_unit_test_teardown(test_notification, test_teardown),
		cmocka_unit_test_teardown(test_async_handler, test_teardown),
		cmocka_unit_test_teardown(test_async_handler_client_gone, test_teardown),
		cmocka_unit_test_teardown(test_close_with_async_outstanding, test_teardown),
		cmocka_unit_test_teardown(test_listen_errors, test_teardown),
		cmocka_unit_test_teardown(test_call_local, test_teardown),
		cmocka_unit_test_teardown(test_method_registry, test_teardown),
	};

	ut_apply_filter();
	return cmocka_run_group_tests(tests, setup, teardown);
}
