/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The NVMe-oF target in-process: the real bdev, sock and nvmf subsystems on
 * an app thread and the poll group thread(s), all polled by hand from this
 * one thread, configured with the nvmf_* RPCs through sl_rpc_call_local.
 *
 * RPCs: transport options and their bounds; subsystem creation with bad NQN,
 * serial, model, cntlid range, max_namespaces; namespaces (duplicate NSID,
 * NSID beyond max, first free NSID, no free NSID, unknown bdev, bad NGUID,
 * removal of a missing NSID, bdev hot-remove); host allow-list; listeners;
 * nvmf_get_subsystems contents; save_config output that replays to the same
 * state.
 *
 * Wire: a small NVMe/TCP host in this file talks to the target's listener
 * over loopback (Connect, Property Set/Get, Identify, whole and one byte at a
 * time). Tests of known, unfixed bugs are skipped unless SL_UT_KNOWN_BUGS=1.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../ut_common.h"

#include "sluice/bdev.h"
#include "sluice/env.h"
#include "sluice/event.h"
#include "sluice/nvme_spec.h"
#include "sluice/nvmf.h"
#include "sluice/nvmf_spec.h"
#include "sluice/rpc.h"
#include "sluice/thread.h"
#include "sluice/util.h"

#include "../../../lib/nvmf/nvmf_internal.h"

#define NQN_A "nqn.2024-01.io.sluice:ut-a"
#define NQN_CFG "nqn.2024-01.io.sluice:ut-config"
#define NQN_WIRE "nqn.2024-01.io.sluice:ut-wire"
#define HOSTID_STR "5e1ce000-0000-4000-8000-000000000001"
#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:" HOSTID_STR

static struct sl_thread *g_app;
/* The poll group threads, kept here: the target frees its own array at stop. */
static struct sl_thread *g_pg[64];
static uint32_t g_num_pg;

/* ---- polling every thread of the target ---- */

static void poll_all(int n)
{
	for (int k = 0; k < n; k++) {
		sl_thread_poll(g_app, 0, 0);
		/* Poll group threads appear while the nvmf subsystem starts. */
		if (!g_num_pg && g_nvmf_tgt.pg_threads)
			for (uint32_t i = 0; i < g_nvmf_tgt.num_poll_groups && i < UT_COUNTOF(g_pg);
			     i++)
				if (g_nvmf_tgt.pg_threads[i])
					g_pg[g_num_pg++] = g_nvmf_tgt.pg_threads[i];
		for (uint32_t i = 0; i < g_num_pg; i++)
			if (g_pg[i] && !sl_thread_is_exited(g_pg[i]))
				sl_thread_poll(g_pg[i], 0, 0);
	}
	sl_set_thread(g_app);
}

static void poll_until(const bool *flag)
{
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	while (!*flag) {
		if (ut_expired(deadline))
			fail_msg("condition not reached within %d s", UT_WAIT_SEC);
		poll_all(1);
	}
}

/* Poll for a while of wall time (lets timed pollers run); asserts nothing about time. */
static void poll_for_ms(unsigned ms)
{
	uint64_t end = ut_mono_ns() + (uint64_t)ms * 1000000ULL;

	while (ut_mono_ns() < end)
		poll_all(1);
}

/* ---- in-process RPC ---- */

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

static json_t *rpc(const char *method, json_t *params, bool *is_error)
{
	struct rpc_res r = { 0 };

	assert_int_equal(sl_rpc_call_local(method, params, rpc_cpl, &r), 0);
	json_decref(params);
	poll_until(&r.done);
	*is_error = r.is_error;
	return r.resp;
}

static json_t *rpc_ok(const char *method, json_t *params)
{
	bool err;
	json_t *res = rpc(method, params, &err);

	if (err)
		fail_msg("%s failed: %s", method,
			 json_string_value(json_object_get(res, "message")));
	return res;
}

static void rpc_ok_free(const char *method, json_t *params)
{
	json_decref(rpc_ok(method, params));
}

/* Expect an error whose message contains want; code 0: any code. */
static void rpc_err(const char *method, json_t *params, int code, const char *want)
{
	bool err;
	json_t *res = rpc(method, params, &err);
	const char *msg = json_string_value(json_object_get(res, "message"));

	if (!err || !msg || !strstr(msg, want))
		fail_msg("%s: expected an error with '%s', got %s", method, want,
			 err ? (msg ? msg : "(no message)") : "success");
	if (code)
		assert_int_equal(json_integer_value(json_object_get(res, "code")), code);
	json_decref(res);
}

/* nvmf_get_subsystems for one NQN: the subsystem object (caller frees). */
static json_t *get_subsystem(const char *nqn)
{
	json_t *arr = rpc_ok("nvmf_get_subsystems", json_pack("{s:s}", "nqn", nqn));
	json_t *s;

	assert_int_equal(json_array_size(arr), 1);
	s = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return s;
}

static bool subsystem_listed(const char *nqn)
{
	json_t *arr = rpc_ok("nvmf_get_subsystems", NULL);
	json_t *s;
	size_t i;
	bool found = false;

	json_array_foreach(arr, i, s) {
		found |= strcmp(json_string_value(json_object_get(s, "nqn")), nqn) == 0;
	}
	json_decref(arr);
	return found;
}

static void create_malloc(const char *name, int blocks, int bs)
{
	json_decref(
		rpc_ok("bdev_malloc_create", json_pack("{s:s, s:i, s:i}", "name", name,
						       "num_blocks", blocks, "block_size", bs)));
}

static void delete_subsystem(const char *nqn)
{
	rpc_ok_free("nvmf_delete_subsystem", json_pack("{s:s}", "nqn", nqn));
	assert_false(subsystem_listed(nqn));
}

static json_t *add_ns_params(const char *nqn, const char *bdev, int nsid)
{
	json_t *ns = json_pack("{s:s}", "bdev_name", bdev);

	if (nsid >= 0)
		json_object_set_new(ns, "nsid", json_integer(nsid));
	return json_pack("{s:s, s:o}", "nqn", nqn, "namespace", ns);
}

/* A TCP port nobody listens on right now. */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static json_t *listen_params(const char *nqn, int port)
{
	char svc[16];

	snprintf(svc, sizeof(svc), "%d", port);
	return json_pack("{s:s, s:{s:s, s:s, s:s, s:s}}", "nqn", nqn, "listen_address", "trtype",
			 "tcp", "adrfam", "ipv4", "traddr", "127.0.0.1", "trsvcid", svc);
}

/* The transport test_transport creates, for tests run alone (UT_FILTER). */
static void transport_up(void)
{
	if (!nvmf_tgt_find_transport(SL_NVMF_TRTYPE_TCP))
		rpc_ok_free("nvmf_create_transport",
			    json_pack("{s:s, s:i, s:i, s:i, s:i}", "trtype", "tcp",
				      "in_capsule_data_size", 8192, "max_io_qpairs_per_ctrlr", 7,
				      "io_unit_size", 16384, "num_shared_buffers", 64));
}

/* ---- RPC tests ---- */

/* First test: the transport the rest use. */
static void test_transport(void **state)
{
	json_t *res, *t;

	(void)state;
	res = rpc_ok("nvmf_get_transports", NULL);
	assert_int_equal(json_array_size(res), 0);
	json_decref(res);
	rpc_err("nvmf_create_transport", json_pack("{s:s}", "trtype", "RDMA"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "not supported");
	rpc_err("nvmf_create_transport",
		json_pack("{s:s, s:i}", "trtype", "TCP", "max_queue_depth", 1),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "max_queue_depth");
	rpc_err("nvmf_create_transport",
		json_pack("{s:s, s:i}", "trtype", "TCP", "max_queue_depth", 4097),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "max_queue_depth");
	rpc_err("nvmf_create_transport",
		json_pack("{s:s, s:i}", "trtype", "TCP", "max_aq_depth", 31),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "max_aq_depth");
	rpc_err("nvmf_create_transport",
		json_pack("{s:s, s:i}", "trtype", "TCP", "max_qpairs_per_ctrlr", 1),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "");
	rpc_err("nvmf_create_transport",
		json_pack("{s:s, s:i}", "trtype", "TCP", "max_io_size", 3 * 4096),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "max_io_size");
	rpc_err("nvmf_create_transport",
		json_pack("{s:s, s:i}", "trtype", "TCP", "max_io_size", 2048),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "max_io_size");
	rpc_err("nvmf_create_transport",
		json_pack("{s:s, s:i}", "trtype", "TCP", "in_capsule_data_size", 4100),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "in_capsule_data_size");
	rpc_err("nvmf_create_transport",
		json_pack("{s:s, s:i}", "trtype", "TCP", "io_unit_size", 256),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "io_unit_size");
	/* 128 KiB in units of 1 KiB would need 128 iovecs, more than a request has. */
	rpc_err("nvmf_create_transport",
		json_pack("{s:s, s:i, s:i}", "trtype", "TCP", "max_io_size", 131072, "io_unit_size",
			  1024),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "io_unit_size");
	rpc_err("nvmf_create_transport",
		json_pack("{s:s, s:i}", "trtype", "TCP", "num_shared_buffers", 1),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "num_shared_buffers");
	rpc_err("nvmf_create_transport", json_pack("{s:s, s:s}", "trtype", "TCP", "bogus", "x"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "");
	res = rpc_ok("nvmf_get_transports", NULL);
	assert_int_equal(json_array_size(res), 0); /* nothing half-created by the failures */
	json_decref(res);

	rpc_ok_free("nvmf_create_transport",
		    json_pack("{s:s, s:i, s:i, s:i, s:i}", "trtype", "tcp", "in_capsule_data_size",
			      8192, "max_io_qpairs_per_ctrlr", 7, "io_unit_size", 16384,
			      "num_shared_buffers", 64));
	rpc_err("nvmf_create_transport", json_pack("{s:s}", "trtype", "TCP"), -EEXIST,
		"already exists");

	res = rpc_ok("nvmf_get_transports", NULL);
	assert_int_equal(json_array_size(res), 1);
	t = json_array_get(res, 0);
	assert_string_equal(json_string_value(json_object_get(t, "trtype")), "TCP");
	assert_int_equal(json_integer_value(json_object_get(t, "in_capsule_data_size")), 8192);
	assert_int_equal(json_integer_value(json_object_get(t, "max_io_qpairs_per_ctrlr")), 7);
	assert_int_equal(json_integer_value(json_object_get(t, "io_unit_size")), 16384);
	assert_int_equal(json_integer_value(json_object_get(t, "max_io_size")), 131072);
	json_decref(res);
	res = rpc_ok("nvmf_get_transports", json_pack("{s:s}", "trtype", "TCP"));
	assert_int_equal(json_array_size(res), 1);
	json_decref(res);
}

static void test_create_subsystem_bad_input(void **state)
{
	char long_nqn[SL_NVMF_NQN_MAX_LEN + 2];
	json_t *s;

	(void)state;
	memset(long_nqn, 'a', sizeof(long_nqn) - 1);
	long_nqn[sizeof(long_nqn) - 1] = 0;
	memcpy(long_nqn, "nqn.2024-01.io.sluice:", 22);

	rpc_err("nvmf_create_subsystem", json_pack("{s:s}", "nqn", "not-an-nqn"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "nqn.");
	rpc_err("nvmf_create_subsystem", json_pack("{s:s}", "nqn", "nqn.2024-13.io.sluice:x"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "date");
	rpc_err("nvmf_create_subsystem", json_pack("{s:s}", "nqn", long_nqn),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "223");
	rpc_err("nvmf_create_subsystem", json_pack("{s:s}", "nqn", SL_NVMF_DISCOVERY_NQN),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "");
	rpc_err("nvmf_create_subsystem",
		json_pack("{s:s}", "nqn", "nqn.2014-08.org.nvmexpress:uuid:zz"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "UUID");
	rpc_err("nvmf_create_subsystem",
		json_pack("{s:s, s:s}", "nqn", NQN_A, "serial_number", "123456789012345678901"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "serial_number");
	rpc_err("nvmf_create_subsystem",
		json_pack("{s:s, s:s}", "nqn", NQN_A, "serial_number", "a\tb"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "serial_number");
	rpc_err("nvmf_create_subsystem", json_pack("{s:s, s:s}", "nqn", NQN_A, "model_number", ""),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "model_number");
	rpc_err("nvmf_create_subsystem",
		json_pack("{s:s, s:s}", "nqn", NQN_A, "model_number",
			  "12345678901234567890123456789012345678901"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "model_number");
	rpc_err("nvmf_create_subsystem", json_pack("{s:s, s:i}", "nqn", NQN_A, "min_cntlid", 0),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "cntlid");
	rpc_err("nvmf_create_subsystem",
		json_pack("{s:s, s:i}", "nqn", NQN_A, "max_cntlid", 0xfff0),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "cntlid");
	rpc_err("nvmf_create_subsystem",
		json_pack("{s:s, s:i, s:i}", "nqn", NQN_A, "min_cntlid", 10, "max_cntlid", 9),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "cntlid");
	rpc_err("nvmf_create_subsystem", json_pack("{s:s, s:i}", "nqn", NQN_A, "min_cntlid", 70000),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "");
	rpc_err("nvmf_create_subsystem",
		json_pack("{s:s, s:i}", "nqn", NQN_A, "max_namespaces", 1025),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "max_namespaces");
	rpc_err("nvmf_create_subsystem", json_pack("{s:s, s:b}", "nqn", NQN_A, "ana_reporting", 1),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "ANA");
	rpc_err("nvmf_create_subsystem", json_pack("{}"), SL_JSONRPC_ERROR_INVALID_PARAMS, "");
	/* None of them left a subsystem behind, even the ones that failed late. */
	poll_for_ms(20);
	assert_false(subsystem_listed(NQN_A));

	/* A one-controller cntlid range, printable serial and model of the maximum length. */
	rpc_ok_free("nvmf_create_subsystem",
		    json_pack("{s:s, s:s, s:s, s:i, s:i, s:i}", "nqn", NQN_A, "serial_number",
			      "SN-0123456789-ABCDEF", "model_number",
			      "Model name that is exactly forty chars..", "min_cntlid", 7,
			      "max_cntlid", 7, "max_namespaces", 3));
	rpc_err("nvmf_create_subsystem", json_pack("{s:s}", "nqn", NQN_A), -EEXIST, "exists");
	s = get_subsystem(NQN_A);
	assert_string_equal(json_string_value(json_object_get(s, "subtype")), "NVMe");
	assert_string_equal(json_string_value(json_object_get(s, "serial_number")),
			    "SN-0123456789-ABCDEF");
	assert_string_equal(json_string_value(json_object_get(s, "model_number")),
			    "Model name that is exactly forty chars..");
	assert_int_equal(json_integer_value(json_object_get(s, "min_cntlid")), 7);
	assert_int_equal(json_integer_value(json_object_get(s, "max_cntlid")), 7);
	assert_int_equal(json_integer_value(json_object_get(s, "max_namespaces")), 3);
	assert_false(json_is_true(json_object_get(s, "allow_any_host")));
	assert_int_equal(json_array_size(json_object_get(s, "namespaces")), 0);
	assert_int_equal(json_array_size(json_object_get(s, "hosts")), 0);
	assert_int_equal(json_array_size(json_object_get(s, "listen_addresses")), 0);
	json_decref(s);

	/* The discovery subsystem is always there and cannot be deleted. */
	s = get_subsystem(SL_NVMF_DISCOVERY_NQN);
	assert_string_equal(json_string_value(json_object_get(s, "subtype")), "Discovery");
	json_decref(s);
	rpc_err("nvmf_delete_subsystem", json_pack("{s:s}", "nqn", SL_NVMF_DISCOVERY_NQN),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "discovery");
	rpc_err("nvmf_delete_subsystem", json_pack("{s:s}", "nqn", "nqn.2024-01.io.sluice:none"), 0,
		"");
	delete_subsystem(NQN_A);
	/* The name is free again. */
	rpc_ok_free("nvmf_create_subsystem", json_pack("{s:s}", "nqn", NQN_A));
	delete_subsystem(NQN_A);
}

static void test_namespaces(void **state)
{
	json_t *s, *nss, *ns, *res;

	(void)state;
	create_malloc("NsM0", 256, 512);
	create_malloc("NsM1", 128, 4096);
	rpc_ok_free("nvmf_create_subsystem",
		    json_pack("{s:s, s:i}", "nqn", NQN_A, "max_namespaces", 4));

	rpc_err("nvmf_subsystem_add_ns", add_ns_params(NQN_A, "NoSuchBdev", -1), 0, "NoSuchBdev");
	rpc_err("nvmf_subsystem_add_ns", add_ns_params("nqn.2024-01.io.sluice:none", "NsM0", -1), 0,
		"");
	rpc_err("nvmf_subsystem_add_ns", add_ns_params(SL_NVMF_DISCOVERY_NQN, "NsM0", -1),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "discovery");
	rpc_err("nvmf_subsystem_add_ns", add_ns_params(NQN_A, "NsM0", 5),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "beyond");
	rpc_err("nvmf_subsystem_add_ns",
		json_pack("{s:s, s:{s:s, s:I}}", "nqn", NQN_A, "namespace", "bdev_name", "NsM0",
			  "nsid", (json_int_t)0xffffffff),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "");

	/* nsid absent (and 0) means the first free one. */
	res = rpc_ok("nvmf_subsystem_add_ns", add_ns_params(NQN_A, "NsM0", -1));
	assert_int_equal(json_integer_value(res), 1);
	json_decref(res);
	rpc_err("nvmf_subsystem_add_ns", add_ns_params(NQN_A, "NsM1", 1), -EEXIST, "in use");

	ns = json_pack("{s:s, s:i, s:s, s:s, s:s}", "bdev_name", "NsM1", "nsid", 4, "nguid",
		       "00112233-4455-6677-8899-aabbccddeeff", "eui64", "0102030405060708", "uuid",
		       "aaaaaaaa-2222-4333-8444-555555555555");
	res = rpc_ok("nvmf_subsystem_add_ns",
		     json_pack("{s:s, s:o}", "nqn", NQN_A, "namespace", ns));
	assert_int_equal(json_integer_value(res), 4);
	json_decref(res);
	rpc_err("nvmf_subsystem_add_ns",
		json_pack("{s:s, s:{s:s, s:s}}", "nqn", NQN_A, "namespace", "bdev_name", "NsM1",
			  "nguid", "0011"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "nguid");
	rpc_err("nvmf_subsystem_add_ns",
		json_pack("{s:s, s:{s:s, s:s}}", "nqn", NQN_A, "namespace", "bdev_name", "NsM1",
			  "eui64", "01020304050607xx"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "eui64");
	rpc_err("nvmf_subsystem_add_ns",
		json_pack("{s:s, s:{s:s, s:s}}", "nqn", NQN_A, "namespace", "bdev_name", "NsM1",
			  "uuid", "nope"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "uuid");
	rpc_err("nvmf_subsystem_add_ns",
		json_pack("{s:s, s:{s:s, s:s}}", "nqn", NQN_A, "namespace", "bdev_name", "NsM1",
			  "ptpl_file", "/tmp/x"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "ptpl_file");
	rpc_err("nvmf_subsystem_add_ns", json_pack("{s:s}", "nqn", NQN_A),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "");

	/* nvmf_get_subsystems shows both, with their identifiers. */
	s = get_subsystem(NQN_A);
	nss = json_object_get(s, "namespaces");
	assert_int_equal(json_array_size(nss), 2);
	ns = json_array_get(nss, 0);
	assert_int_equal(json_integer_value(json_object_get(ns, "nsid")), 1);
	assert_string_equal(json_string_value(json_object_get(ns, "bdev_name")), "NsM0");
	assert_null(json_object_get(ns, "eui64"));
	/* NGUID defaults to the bdev's UUID bytes. */
	{
		char want[33] = "";
		const char *u = json_string_value(json_object_get(ns, "uuid"));

		assert_non_null(u);
		for (size_t i = 0, j = 0; u[i] && j < 32; i++)
			if (u[i] != '-')
				want[j++] = (char)toupper((unsigned char)u[i]);
		assert_string_equal(json_string_value(json_object_get(ns, "nguid")), want);
	}
	ns = json_array_get(nss, 1);
	assert_int_equal(json_integer_value(json_object_get(ns, "nsid")), 4);
	assert_string_equal(json_string_value(json_object_get(ns, "bdev_name")), "NsM1");
	assert_string_equal(json_string_value(json_object_get(ns, "nguid")),
			    "00112233445566778899AABBCCDDEEFF");
	assert_string_equal(json_string_value(json_object_get(ns, "eui64")), "0102030405060708");
	assert_string_equal(json_string_value(json_object_get(ns, "uuid")),
			    "aaaaaaaa-2222-4333-8444-555555555555");
	json_decref(s);

	/* Fill 2 and 3 (the same bdev may back several namespaces), then nothing is free. */
	res = rpc_ok("nvmf_subsystem_add_ns", add_ns_params(NQN_A, "NsM0", 0));
	assert_int_equal(json_integer_value(res), 2);
	json_decref(res);
	res = rpc_ok("nvmf_subsystem_add_ns", add_ns_params(NQN_A, "NsM0", -1));
	assert_int_equal(json_integer_value(res), 3);
	json_decref(res);
	rpc_err("nvmf_subsystem_add_ns", add_ns_params(NQN_A, "NsM0", -1), -ENOSPC, "no free NSID");

	/* Removal: missing NSIDs are invalid parameters; a removed one is gone and free again. */
	rpc_err("nvmf_subsystem_remove_ns", json_pack("{s:s, s:i}", "nqn", NQN_A, "nsid", 0),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "no namespace 0");
	rpc_err("nvmf_subsystem_remove_ns", json_pack("{s:s, s:i}", "nqn", NQN_A, "nsid", 5),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "no namespace 5");
	rpc_ok_free("nvmf_subsystem_remove_ns", json_pack("{s:s, s:i}", "nqn", NQN_A, "nsid", 2));
	rpc_err("nvmf_subsystem_remove_ns", json_pack("{s:s, s:i}", "nqn", NQN_A, "nsid", 2),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "no namespace 2");
	s = get_subsystem(NQN_A);
	nss = json_object_get(s, "namespaces");
	assert_int_equal(json_array_size(nss), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(nss, 1), "nsid")), 3);
	json_decref(s);
	res = rpc_ok("nvmf_subsystem_add_ns", add_ns_params(NQN_A, "NsM1", -1));
	assert_int_equal(json_integer_value(res), 2);
	json_decref(res);

	/* Deleting the bdev under namespaces 1 and 3 removes them (hot remove). */
	rpc_ok_free("bdev_malloc_delete", json_pack("{s:s}", "name", "NsM0"));
	{
		uint64_t deadline = ut_deadline(UT_WAIT_SEC);
		size_t n;

		do {
			poll_all(1);
			s = get_subsystem(NQN_A);
			n = json_array_size(json_object_get(s, "namespaces"));
			json_decref(s);
			if (ut_expired(deadline))
				fail_msg("namespaces of a deleted bdev still listed");
		} while (n != 2);
	}
	assert_null(sl_bdev_get_by_name("NsM0"));
	delete_subsystem(NQN_A);
	/* The subsystem closed its descriptors: the bdev can go. */
	rpc_ok_free("bdev_malloc_delete", json_pack("{s:s}", "name", "NsM1"));
}

static void test_hosts_and_listeners(void **state)
{
	int port = free_port();
	json_t *s, *hosts, *la;

	(void)state;
	transport_up();
	rpc_ok_free("nvmf_create_subsystem", json_pack("{s:s}", "nqn", NQN_A));
	rpc_err("nvmf_subsystem_add_host", json_pack("{s:s, s:s}", "nqn", NQN_A, "host", "bad"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "");
	rpc_ok_free("nvmf_subsystem_add_host",
		    json_pack("{s:s, s:s}", "nqn", NQN_A, "host", HOSTNQN));
	rpc_err("nvmf_subsystem_add_host", json_pack("{s:s, s:s}", "nqn", NQN_A, "host", HOSTNQN),
		-EEXIST, "already");
	rpc_ok_free("nvmf_subsystem_add_host",
		    json_pack("{s:s, s:s}", "nqn", NQN_A, "host", "nqn.2024-01.io.sluice:host2"));
	rpc_err("nvmf_subsystem_remove_host",
		json_pack("{s:s, s:s}", "nqn", NQN_A, "host", "nqn.2024-01.io.sluice:other"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "not on the list");
	rpc_err("nvmf_subsystem_add_host",
		json_pack("{s:s, s:s, s:s}", "nqn", NQN_A, "host", "nqn.2024-01.io.sluice:h3",
			  "psk", "x"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "TLS");
	rpc_ok_free("nvmf_subsystem_remove_host",
		    json_pack("{s:s, s:s}", "nqn", NQN_A, "host", "nqn.2024-01.io.sluice:host2"));
	rpc_ok_free("nvmf_subsystem_allow_any_host",
		    json_pack("{s:s, s:b}", "nqn", NQN_A, "allow_any_host", 1));

	rpc_ok_free("nvmf_subsystem_add_listener", listen_params(NQN_A, port));
	rpc_err("nvmf_subsystem_add_listener", listen_params(NQN_A, port), -EEXIST, "exists");
	rpc_err("nvmf_subsystem_add_listener",
		json_pack("{s:s, s:{s:s, s:s, s:s}}", "nqn", NQN_A, "listen_address", "trtype",
			  "rdma", "traddr", "127.0.0.1", "trsvcid", "4420"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "trtype");
	rpc_err("nvmf_subsystem_add_listener",
		json_pack("{s:s, s:{s:s, s:s, s:s}}", "nqn", NQN_A, "listen_address", "trtype",
			  "tcp", "traddr", "127.0.0.1", "trsvcid", "65536"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "trsvcid");
	rpc_err("nvmf_subsystem_add_listener",
		json_pack("{s:s, s:{s:s, s:s, s:s, s:s}}", "nqn", NQN_A, "listen_address", "trtype",
			  "tcp", "adrfam", "ib", "traddr", "127.0.0.1", "trsvcid", "4420"),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "adrfam");
	rpc_err("nvmf_subsystem_remove_listener", listen_params(NQN_A, port == 1 ? 2 : port - 1),
		SL_JSONRPC_ERROR_INVALID_PARAMS, "no listener");

	s = get_subsystem(NQN_A);
	assert_true(json_is_true(json_object_get(s, "allow_any_host")));
	hosts = json_object_get(s, "hosts");
	assert_int_equal(json_array_size(hosts), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(hosts, 0), "nqn")),
			    HOSTNQN);
	la = json_object_get(s, "listen_addresses");
	assert_int_equal(json_array_size(la), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(la, 0), "trtype")),
			    "TCP");
	assert_string_equal(json_string_value(json_object_get(json_array_get(la, 0), "adrfam")),
			    "IPv4");
	assert_string_equal(json_string_value(json_object_get(json_array_get(la, 0), "traddr")),
			    "127.0.0.1");
	json_decref(s);

	rpc_ok_free("nvmf_subsystem_remove_listener", listen_params(NQN_A, port));
	s = get_subsystem(NQN_A);
	assert_int_equal(json_array_size(json_object_get(s, "listen_addresses")), 0);
	json_decref(s);
	delete_subsystem(NQN_A);
}

/* The config entries of one subsystem, in order (caller frees the array). */
static json_t *config_of(const char *nqn, json_t **transport)
{
	struct sl_subsystem *sub = sl_subsystem_find("nvmf");
	json_t *config = json_array(), *mine = json_array(), *e;
	size_t i;

	assert_non_null(sub);
	assert_non_null(sub->write_config_json);
	sub->write_config_json(config);
	json_array_foreach(config, i, e) {
		const char *m = json_string_value(json_object_get(e, "method"));
		const char *n =
			json_string_value(json_object_get(json_object_get(e, "params"), "nqn"));

		assert_non_null(m);
		if (transport && !strcmp(m, "nvmf_create_transport"))
			*transport = json_incref(e);
		if (n && !strcmp(n, nqn))
			json_array_append(mine, e);
	}
	json_decref(config);
	return mine;
}

static void replay(json_t *entries)
{
	json_t *e;
	size_t i;

	json_array_foreach(entries, i, e) {
		rpc_ok_free(json_string_value(json_object_get(e, "method")),
			    json_deep_copy(json_object_get(e, "params")));
	}
}

static void test_config_replay(void **state)
{
	int port = free_port();
	json_t *before, *after, *entries, *t = NULL;

	(void)state;
	transport_up();
	create_malloc("CfgM0", 64, 512);
	create_malloc("CfgM1", 64, 512);
	rpc_ok_free("nvmf_create_subsystem",
		    json_pack("{s:s, s:s, s:s, s:i, s:i, s:i}", "nqn", NQN_CFG, "serial_number",
			      "CFG0001", "model_number", "Config model", "max_namespaces", 8,
			      "min_cntlid", 100, "max_cntlid", 200));
	json_decref(rpc_ok("nvmf_subsystem_add_ns", add_ns_params(NQN_CFG, "CfgM0", 3)));
	json_decref(rpc_ok("nvmf_subsystem_add_ns",
			   json_pack("{s:s, s:{s:s, s:i, s:s, s:s}}", "nqn", NQN_CFG, "namespace",
				     "bdev_name", "CfgM1", "nsid", 5, "nguid",
				     "0f0e0d0c0b0a09080706050403020100", "uuid",
				     "bbbbbbbb-2222-4333-8444-555555555555")));
	rpc_ok_free("nvmf_subsystem_add_host",
		    json_pack("{s:s, s:s}", "nqn", NQN_CFG, "host", HOSTNQN));
	rpc_ok_free("nvmf_subsystem_add_listener", listen_params(NQN_CFG, port));

	before = get_subsystem(NQN_CFG);
	entries = config_of(NQN_CFG, &t);
	assert_non_null(t);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(t, "params"), "trtype")), "TCP");
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(entries, 0), "method")),
		"nvmf_create_subsystem");
	assert_int_equal(json_array_size(entries), 5); /* create, 2 x add_ns, add_host, listener */

	/* The transport entry decodes (it fails only because the transport exists). */
	rpc_err("nvmf_create_transport", json_deep_copy(json_object_get(t, "params")), -EEXIST,
		"already exists");
	json_decref(t);

	delete_subsystem(NQN_CFG);
	replay(entries);
	after = get_subsystem(NQN_CFG);
	if (!json_equal(before, after)) {
		char *b = json_dumps(before, JSON_SORT_KEYS),
		     *a = json_dumps(after, JSON_SORT_KEYS);

		fail_msg("replayed config differs:\nbefore %s\nafter  %s", b, a);
	}
	json_decref(before);
	json_decref(after);
	json_decref(entries);
	delete_subsystem(NQN_CFG);
	rpc_ok_free("bdev_malloc_delete", json_pack("{s:s}", "name", "CfgM0"));
	rpc_ok_free("bdev_malloc_delete", json_pack("{s:s}", "name", "CfgM1"));
}

/* save_config keeps a namespace's EUI-64 and the transport's digest settings. */
static void test_config_keeps_eui64_and_digests(void **state)
{
	json_t *entries, *t = NULL, *ns;
	size_t i;
	bool found = false;

	(void)state;
	transport_up();
	create_malloc("CfgE0", 64, 512);
	rpc_ok_free("nvmf_create_subsystem", json_pack("{s:s}", "nqn", NQN_CFG));
	json_decref(rpc_ok("nvmf_subsystem_add_ns",
			   json_pack("{s:s, s:{s:s, s:s}}", "nqn", NQN_CFG, "namespace",
				     "bdev_name", "CfgE0", "eui64", "1122334455667788")));
	entries = config_of(NQN_CFG, &t);
	json_array_foreach(entries, i, ns) {
		if (strcmp(json_string_value(json_object_get(ns, "method")),
			   "nvmf_subsystem_add_ns"))
			continue;
		found = true;
		json_t *n = json_object_get(json_object_get(ns, "params"), "namespace");

		if (!json_object_get(n, "eui64")) {
			json_decref(entries);
			json_decref(t);
			delete_subsystem(NQN_CFG);
			rpc_ok_free("bdev_malloc_delete", json_pack("{s:s}", "name", "CfgE0"));
			fail_msg("nvmf_subsystem_add_ns in save_config has no eui64");
		}
	}
	assert_true(found);
	json_decref(entries);
	delete_subsystem(NQN_CFG);
	rpc_ok_free("bdev_malloc_delete", json_pack("{s:s}", "name", "CfgE0"));
	assert_non_null(json_object_get(json_object_get(t, "params"), "hdgst_allowed"));
	assert_non_null(json_object_get(json_object_get(t, "params"), "ddgst_allowed"));
	json_decref(t);
}

/* ---- a small NVMe/TCP host ---- */

struct host {
	int fd;
	uint8_t rbuf[65536];
	size_t rlen;
	uint16_t next_cid;
	int segment; /* > 0: send this many bytes at a time, polling the target in between */
};

static void host_open(struct host *h, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;

	memset(h, 0, sizeof(*h));
	h->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(h->fd >= 0);
	/* Loopback connect completes in the kernel's backlog, before the target accepts. */
	assert_int_equal(connect(h->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	assert_int_equal(fcntl(h->fd, F_SETFL, fcntl(h->fd, F_GETFL) | O_NONBLOCK), 0);
	h->next_cid = 1;
}

static void host_close(struct host *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

static void host_send(struct host *h, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		size_t n = h->segment > 0 ? SL_MIN(len, (size_t)h->segment) : len;
		ssize_t w = send(h->fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			poll_all(1);
			continue;
		}
		assert_true(w > 0);
		p += w;
		len -= (size_t)w;
		if (h->segment > 0)
			poll_all(2);
	}
}

/* Next whole PDU into out (cap bytes); returns its length. */
static size_t host_recv_pdu(struct host *h, void *out, size_t cap)
{
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	for (;;) {
		if (h->rlen >= sizeof(struct sl_nvme_tcp_common_hdr)) {
			struct sl_nvme_tcp_common_hdr ch;

			memcpy(&ch, h->rbuf, sizeof(ch));
			assert_true(ch.plen >= sizeof(ch) && ch.plen <= sizeof(h->rbuf));
			if (h->rlen >= ch.plen) {
				assert_true(ch.plen <= cap);
				memcpy(out, h->rbuf, ch.plen);
				memmove(h->rbuf, h->rbuf + ch.plen, h->rlen - ch.plen);
				h->rlen -= ch.plen;
				return ch.plen;
			}
		}
		ssize_t n = recv(h->fd, h->rbuf + h->rlen, sizeof(h->rbuf) - h->rlen, 0);

		if (n == 0)
			fail_msg("target closed the connection");
		if (n > 0) {
			h->rlen += (size_t)n;
			continue;
		}
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		if (ut_expired(deadline))
			fail_msg("no PDU from the target within %d s", UT_WAIT_SEC);
		poll_all(1);
	}
}

static void host_icreq(struct host *h)
{
	struct sl_nvme_tcp_ic_req ic = { 0 };
	uint8_t pdu[256];
	struct sl_nvme_tcp_ic_resp *r = (void *)pdu;

	ic.common.pdu_type = SL_NVME_TCP_PDU_IC_REQ;
	ic.common.hlen = sizeof(ic);
	ic.common.plen = sizeof(ic);
	host_send(h, &ic, sizeof(ic));
	assert_int_equal(host_recv_pdu(h, pdu, sizeof(pdu)), sizeof(*r));
	assert_int_equal(r->common.pdu_type, SL_NVME_TCP_PDU_IC_RESP);
	assert_int_equal(r->pfv, 0);
	assert_int_equal(r->dgst, 0);
	assert_true(r->maxh2cdata >= 4096);
}

/*
 * Send a command; data goes in the capsule (writes) or rlen bytes are asked
 * for (reads). Returns the cid.
 */
static uint16_t host_submit(struct host *h, struct sl_nvme_cmd *cmd, const void *data,
			    uint32_t dlen, uint32_t rlen)
{
	uint8_t buf[sizeof(struct sl_nvme_tcp_cmd) + 8192];
	struct sl_nvme_tcp_cmd *c = (void *)buf;
	struct sl_nvme_sgl_descriptor *sgl = (void *)cmd->dptr.sgl1;

	assert_true(dlen <= 8192);
	cmd->cid = h->next_cid++;
	cmd->psdt = 1;
	memset(sgl, 0, sizeof(*sgl));
	if (dlen) {
		sgl->type = SL_NVME_SGL_TYPE_DATA_BLOCK;
		sgl->subtype = SL_NVME_SGL_SUBTYPE_OFFSET;
		sgl->length = dlen;
	} else {
		sgl->type = SL_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
		sgl->subtype = SL_NVME_SGL_SUBTYPE_TRANSPORT;
		sgl->length = rlen;
	}
	memset(c, 0, sizeof(*c));
	c->common.pdu_type = SL_NVME_TCP_PDU_CAPSULE_CMD;
	c->common.hlen = sizeof(*c);
	c->common.pdo = dlen ? sizeof(*c) : 0;
	c->common.plen = (uint32_t)sizeof(*c) + dlen;
	c->ccsqe = *cmd;
	if (dlen)
		memcpy(buf + sizeof(*c), data, dlen);
	host_send(h, buf, sizeof(*c) + dlen);
	return cmd->cid;
}

/* Wait for the completion of cid; C2HData lands in rdata. */
static struct sl_nvme_cpl host_wait(struct host *h, uint16_t cid, void *rdata, size_t rcap)
{
	static uint8_t pdu[65536];

	for (;;) {
		struct sl_nvme_tcp_common_hdr *ch = (void *)pdu;

		host_recv_pdu(h, pdu, sizeof(pdu));
		if (ch->pdu_type == SL_NVME_TCP_PDU_CAPSULE_RESP) {
			struct sl_nvme_tcp_rsp *r = (void *)pdu;

			if (r->rccqe.cid == cid)
				return r->rccqe;
			fail_msg("completion of cid %u while waiting for %u", r->rccqe.cid, cid);
		}
		if (ch->pdu_type == SL_NVME_TCP_PDU_C2H_DATA) {
			struct sl_nvme_tcp_data_hdr *d = (void *)pdu;

			assert_int_equal(d->cccid, cid);
			assert_true((size_t)d->datao + d->datal <= rcap);
			memcpy((uint8_t *)rdata + d->datao, pdu + ch->pdo, d->datal);
			if (ch->flags & SL_NVME_TCP_FLAG_SUCCESS) {
				struct sl_nvme_cpl ok = { .cid = cid };

				return ok;
			}
			continue;
		}
		if (ch->pdu_type == SL_NVME_TCP_PDU_C2H_TERM_REQ) {
			struct sl_nvme_tcp_term_req_hdr *t = (void *)pdu;

			fail_msg("C2HTermReq fes %u fei %u", t->fes, t->fei);
		}
		fail_msg("unexpected PDU type %u", ch->pdu_type);
	}
}

static struct sl_nvme_cpl host_exec(struct host *h, struct sl_nvme_cmd *cmd, const void *data,
				    uint32_t dlen, void *rdata, uint32_t rlen)
{
	uint16_t cid = host_submit(h, cmd, data, dlen, rlen);

	return host_wait(h, cid, rdata, rlen);
}

static struct sl_nvme_cpl host_connect_ex(struct host *h, const char *subnqn, uint16_t qid,
					  uint16_t cntlid, uint16_t sqsize, uint8_t cattr)
{
	struct sl_nvmf_connect_data d = { 0 };
	struct sl_nvme_cmd cmd = { 0 };
	struct sl_nvmf_connect_cmd *c = (void *)&cmd;
	struct sl_uuid u;

	assert_int_equal(sl_uuid_parse(&u, HOSTID_STR), 0);
	memcpy(d.hostid, &u, 16);
	d.cntlid = cntlid;
	snprintf(d.subnqn, sizeof(d.subnqn), "%s", subnqn);
	snprintf(d.hostnqn, sizeof(d.hostnqn), "%s", HOSTNQN);
	c->opcode = SL_NVME_OPC_FABRICS;
	c->fctype = SL_NVMF_FCTYPE_CONNECT;
	c->qid = qid;
	c->sqsize = sqsize;
	c->cattr = cattr;
	return host_exec(h, &cmd, &d, sizeof(d), NULL, 0);
}

static struct sl_nvme_cpl host_connect(struct host *h, const char *subnqn, uint16_t qid,
				       uint16_t cntlid)
{
	return host_connect_ex(h, subnqn, qid, cntlid, 31, 0);
}

static struct sl_nvme_cpl host_prop(struct host *h, bool set, uint32_t ofst, int size,
				    uint64_t value)
{
	struct sl_nvme_cmd cmd = { 0 };
	struct sl_nvmf_property_cmd *p = (void *)&cmd;

	p->opcode = SL_NVME_OPC_FABRICS;
	p->fctype = set ? SL_NVMF_FCTYPE_PROPERTY_SET : SL_NVMF_FCTYPE_PROPERTY_GET;
	p->attrib = size == 8 ? 1 : 0;
	p->ofst = ofst;
	p->value = value;
	return host_exec(h, &cmd, NULL, 0, NULL, 0);
}

#define CPL_OK(cpl) assert_int_equal((cpl).status_raw & 0xfffe, 0)

/* ICReq, admin Connect, CC.EN = 1 and wait for CSTS.RDY. Returns the cntlid. */
static uint16_t host_admin_up(struct host *h, const char *subnqn)
{
	struct sl_nvme_cpl cpl;
	uint16_t cntlid;

	host_icreq(h);
	cpl = host_connect(h, subnqn, 0, SL_NVMF_CNTLID_DYNAMIC);
	CPL_OK(cpl);
	cntlid = (uint16_t)cpl.cdw0;
	/* EN, IOSQES 6, IOCQES 4. */
	cpl = host_prop(h, true, SL_NVME_REG_CC, 4, 1u | (6u << 16) | (4u << 20));
	CPL_OK(cpl);
	cpl = host_prop(h, false, SL_NVME_REG_CSTS, 4, 0);
	CPL_OK(cpl);
	assert_int_equal(cpl.cdw0 & 1, 1);
	return cntlid;
}

static void host_io_up(struct host *h, const char *subnqn, uint16_t cntlid, uint16_t qid)
{
	struct sl_nvme_cpl cpl;

	host_icreq(h);
	cpl = host_connect(h, subnqn, qid, cntlid);
	CPL_OK(cpl);
}

static int g_wire_port;

/* A subsystem on a listener for the wire tests, host allowed, namespace 1 on bdev. */
static void wire_subsystem_up(const char *bdev)
{
	transport_up();
	if (!g_wire_port)
		g_wire_port = free_port();
	rpc_ok_free("nvmf_create_subsystem",
		    json_pack("{s:s, s:s, s:s}", "nqn", NQN_WIRE, "serial_number", "WIRE0001",
			      "model_number", "Wire model"));
	rpc_ok_free("nvmf_subsystem_add_host",
		    json_pack("{s:s, s:s}", "nqn", NQN_WIRE, "host", HOSTNQN));
	json_decref(rpc_ok("nvmf_subsystem_add_ns", add_ns_params(NQN_WIRE, bdev, 1)));
	rpc_ok_free("nvmf_subsystem_add_listener", listen_params(NQN_WIRE, g_wire_port));
}

static size_t pg_qpair_count(void)
{
	size_t n = 0;

	for (uint32_t i = 0; i < g_nvmf_tgt.num_poll_groups; i++) {
		struct nvmf_qpair *q;

		TAILQ_FOREACH(q, &g_nvmf_tgt.groups[i]->qpairs, link)
			n++;
	}
	return n;
}

static void wait_no_qpairs(void)
{
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	while (pg_qpair_count()) {
		if (ut_expired(deadline))
			fail_msg("%zu queue pair(s) still in the poll groups", pg_qpair_count());
		poll_all(1);
	}
}

static void identify_and_check(struct host *h, uint16_t cntlid)
{
	static struct sl_nvme_ctrlr_data cd;
	struct sl_nvme_cmd cmd = { 0 };
	struct sl_nvme_cpl cpl;

	memset(&cd, 0xee, sizeof(cd));
	cmd.opc = SL_NVME_OPC_IDENTIFY;
	cmd.cdw10 = SL_NVME_CNS_CTRLR;
	cpl = host_exec(h, &cmd, NULL, 0, &cd, sizeof(cd));
	CPL_OK(cpl);
	assert_int_equal(cd.cntlid, cntlid);
	assert_memory_equal(cd.sn, "WIRE0001            ", 20);
	assert_memory_equal(cd.mn, "Wire model", 10);
	assert_string_equal((const char *)cd.subnqn, NQN_WIRE);
	assert_int_equal(cd.nn, NVMF_MAX_NAMESPACES_DEFAULT);
	assert_int_equal(cd.cntrltype, 1);
}

/* Connect, enable, Identify: whole PDUs, then the same one byte at a time. */
static void test_wire_identify(void **state)
{
	struct host h;
	uint16_t cntlid;

	(void)state;
	create_malloc("WireM0", 64, 512);
	wire_subsystem_up("WireM0");
	for (int seg = 0; seg <= 1; seg++) {
		host_open(&h, g_wire_port);
		h.segment = seg;
		cntlid = host_admin_up(&h, NQN_WIRE);
		identify_and_check(&h, cntlid);
		host_close(&h);
		wait_no_qpairs();
	}
	delete_subsystem(NQN_WIRE);
	rpc_ok_free("bdev_malloc_delete", json_pack("{s:s}", "name", "WireM0"));
}

/*
 * Property Get as the first command, before any Connect: fabrics_exec
 * forwards Property Get/Set on qid 0 to the target thread without checking
 * that the queue pair is connected, and admin_on_tgt dereferences
 * qpair->ctrlr, which is NULL: the whole target crashes (SIGSEGV) on one
 * unauthenticated PDU. The answer should be Command Sequence Error.
 */
static void test_wire_property_before_connect(void **state)
{
	struct sl_nvme_cpl cpl;
	struct host h;

	(void)state;
	create_malloc("WireM6", 64, 512);
	wire_subsystem_up("WireM6");
	host_open(&h, g_wire_port);
	host_icreq(&h);
	cpl = host_prop(&h, false, SL_NVME_REG_CAP, 8, 0);
	assert_int_equal((cpl.status_raw >> 1) & 0xff, SL_NVME_SC_COMMAND_SEQUENCE_ERROR);
	assert_int_equal((cpl.status_raw >> 9) & 0x7, SL_NVME_SCT_GENERIC);
	cpl = host_prop(&h, true, SL_NVME_REG_CC, 4, 1);
	assert_int_equal((cpl.status_raw >> 1) & 0xff, SL_NVME_SC_COMMAND_SEQUENCE_ERROR);
	host_close(&h);
	wait_no_qpairs();
	delete_subsystem(NQN_WIRE);
	rpc_ok_free("bdev_malloc_delete", json_pack("{s:s}", "name", "WireM6"));
}

/*
 * Fabrics Disconnect on an I/O queue gets its response before the queue
 * closes (NVMe-oF 1.1, 3.6; qpair.c's own comment says the host waits for it).
 */
static void test_wire_disconnect_response(void **state)
{
	struct host a, q;
	struct sl_nvme_cmd cmd = { 0 };
	struct sl_nvme_cpl cpl;
	uint16_t cntlid;

	(void)state;
	create_malloc("WireM1", 64, 512);
	wire_subsystem_up("WireM1");
	host_open(&a, g_wire_port);
	cntlid = host_admin_up(&a, NQN_WIRE);
	host_open(&q, g_wire_port);
	host_io_up(&q, NQN_WIRE, cntlid, 1);
	cmd.opc = SL_NVME_OPC_FABRICS;
	((struct sl_nvmf_capsule_cmd *)&cmd)->fctype = SL_NVMF_FCTYPE_DISCONNECT;
	cpl = host_exec(&q, &cmd, NULL, 0, NULL, 0); /* fails: "target closed the connection" */
	CPL_OK(cpl);
	host_close(&q);
	host_close(&a);
	wait_no_qpairs();
	delete_subsystem(NQN_WIRE);
	rpc_ok_free("bdev_malloc_delete", json_pack("{s:s}", "name", "WireM1"));
}

/*
 * n writes larger than the in-capsule size on an I/O queue of SQSIZE 3:
 * every command gets one R2T for all its data, one H2CData answers it, every
 * command completes, and the data reads back.
 */
static void r2t_writes(int n, uint8_t cattr)
{
	enum { SQSIZE = 3, LEN = 16384 };
	static uint8_t data[LEN], rd[LEN];
	uint8_t pdu[256];
	struct host a, q;
	struct sl_nvme_cmd cmd;
	struct sl_nvme_cpl cpl;
	uint16_t cntlid, last_cid = 0;
	int done = 0;

	assert_true(n <= SQSIZE + 1);
	create_malloc("WireM4", 1024, 512);
	wire_subsystem_up("WireM4");
	host_open(&a, g_wire_port);
	cntlid = host_admin_up(&a, NQN_WIRE);
	host_open(&q, g_wire_port);
	host_icreq(&q);
	cpl = host_connect_ex(&q, NQN_WIRE, 1, cntlid, SQSIZE, cattr);
	CPL_OK(cpl);
	for (int i = 0; i < n; i++) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = SL_NVME_OPC_WRITE;
		cmd.nsid = 1;
		cmd.cdw10 = (uint32_t)(i * (LEN / 512));
		cmd.cdw12 = LEN / 512 - 1;
		last_cid = host_submit(&q, &cmd, NULL, 0, LEN);
	}
	for (int i = 0; i < n; i++) {
		struct sl_nvme_tcp_r2t_hdr *r = (void *)pdu;
		struct sl_nvme_tcp_data_hdr h2c = { 0 };

		host_recv_pdu(&q, pdu, sizeof(pdu));
		assert_int_equal(r->common.pdu_type, SL_NVME_TCP_PDU_R2T);
		assert_int_equal(r->r2to, 0);
		assert_int_equal(r->r2tl, LEN);
		memset(data, 0x30 + r->cccid, sizeof(data));
		h2c.common.pdu_type = SL_NVME_TCP_PDU_H2C_DATA;
		h2c.common.flags = SL_NVME_TCP_FLAG_LAST_PDU;
		h2c.common.hlen = sizeof(h2c);
		h2c.common.pdo = sizeof(h2c);
		h2c.common.plen = (uint32_t)sizeof(h2c) + LEN;
		h2c.cccid = r->cccid;
		h2c.ttag = r->ttag;
		h2c.datal = LEN;
		host_send(&q, &h2c, sizeof(h2c));
		host_send(&q, data, LEN);
	}
	while (done < n) {
		struct sl_nvme_tcp_rsp *r = (void *)pdu;

		host_recv_pdu(&q, pdu, sizeof(pdu));
		assert_int_equal(r->common.pdu_type, SL_NVME_TCP_PDU_CAPSULE_RESP);
		CPL_OK(r->rccqe);
		done++;
	}
	/* The last command's blocks read back as what its H2CData carried. */
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = SL_NVME_OPC_READ;
	cmd.nsid = 1;
	cmd.cdw10 = (uint32_t)((n - 1) * (LEN / 512));
	cmd.cdw12 = LEN / 512 - 1;
	cpl = host_exec(&q, &cmd, NULL, 0, rd, LEN);
	CPL_OK(cpl);
	memset(data, 0x30 + last_cid, sizeof(data));
	assert_memory_equal(rd, data, LEN);
	host_close(&q);
	host_close(&a);
	wait_no_qpairs();
	delete_subsystem(NQN_WIRE);
	rpc_ok_free("bdev_malloc_delete", json_pack("{s:s}", "name", "WireM4"));
}

/* With SQ flow control the host keeps one entry free: SQSIZE writes at once. */
static void test_wire_r2t_writes(void **state)
{
	(void)state;
	r2t_writes(3, 0);
}

/*
 * SQ flow control disabled: the host may use all SQSIZE + 1 entries. Today
 * tcp_conn_ready stops reading at a PDU boundary when no request is free,
 * so the H2CData that would free them are never read and the queue hangs.
 */
static void test_wire_full_queue_of_r2t_writes(void **state)
{
	(void)state;
	r2t_writes(4, SL_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW_CONTROL);
}

/*
 * A fatal PDU error whose C2HTermReq cannot be written (the peer reset the
 * connection) must still end the queue pair: tq_fatal leaves the receive
 * side quiesced and only ctrl_sent's success path disconnects.
 */
static void test_wire_fatal_after_reset(void **state)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct sl_nvme_tcp_common_hdr bad = { .pdu_type = 0x7e, .hlen = 8, .plen = 8 };
	struct host h;

	(void)state;
	create_malloc("WireM2", 64, 512);
	wire_subsystem_up("WireM2");
	host_open(&h, g_wire_port);
	host_icreq(&h);
	assert_int_equal(pg_qpair_count(), 1);
	/* A header with a bad PDU type, then a reset, before the target reads either. */
	assert_int_equal(send(h.fd, &bad, sizeof(bad), MSG_NOSIGNAL), (ssize_t)sizeof(bad));
	assert_int_equal(setsockopt(h.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	host_close(&h);
	poll_for_ms(200);
	if (pg_qpair_count())
		fail_msg("the queue pair is still there after its peer reset the connection");
	delete_subsystem(NQN_WIRE);
	rpc_ok_free("bdev_malloc_delete", json_pack("{s:s}", "name", "WireM2"));
}

/*
 * nvmf_delete_subsystem while a write of a connected host is held in the
 * bdev (error bdev, "pending"): the deletion must wait for it. Today the
 * delete poller only waits for s->ctrlrs to be empty, which
 * nvmf_ctrlr_destroy makes true at once; pg_release then frees the poll
 * group's nvmf_ns_pg array and puts the bdev channel, and subsys_free closes
 * the descriptor, while the request still points into them (io_done writes
 * p->outstanding: heap use after free under ASan once the I/O completes).
 */
static void test_delete_subsystem_with_io_held(void **state)
{
	static uint8_t data[512];
	struct host a, q;
	struct sl_nvme_cmd cmd = { 0 };
	struct rpc_res r = { 0 };
	uint16_t cntlid;
	uint64_t deadline;
	json_t *params;

	(void)state;
	create_malloc("WireM3", 64, 512);
	json_decref(rpc_ok("bdev_error_create", json_pack("{s:s}", "base_name", "WireM3")));
	wire_subsystem_up("EE_WireM3");
	host_open(&a, g_wire_port);
	cntlid = host_admin_up(&a, NQN_WIRE);
	host_open(&q, g_wire_port);
	host_io_up(&q, NQN_WIRE, cntlid, 1);
	rpc_ok_free("bdev_error_inject_error",
		    json_pack("{s:s, s:s, s:s, s:i}", "name", "EE_WireM3", "io_type", "write",
			      "error_type", "pending", "num", 1));
	cmd.opc = SL_NVME_OPC_WRITE;
	cmd.nsid = 1;
	cmd.cdw10 = 0;
	cmd.cdw12 = 0; /* one block */
	host_submit(&q, &cmd, data, sizeof(data), 0);
	/* Wait until the write is in the core (held by the error bdev). */
	deadline = ut_deadline(UT_WAIT_SEC);
	for (;;) {
		struct nvmf_qpair *qp;
		uint32_t out = 0;

		poll_all(1);
		TAILQ_FOREACH(qp, &g_nvmf_tgt.groups[0]->qpairs, link)
			out += qp->qid ? qp->outstanding : 0;
		if (out)
			break;
		if (ut_expired(deadline))
			fail_msg("the write never reached the bdev");
	}
	params = json_pack("{s:s}", "nqn", NQN_WIRE);
	assert_int_equal(sl_rpc_call_local("nvmf_delete_subsystem", params, rpc_cpl, &r), 0);
	json_decref(params);
	deadline = ut_deadline(2);
	while (!r.done && !ut_expired(deadline))
		poll_all(1);
	if (r.done && pg_qpair_count())
		fail_msg("nvmf_delete_subsystem completed while a queue pair of the subsystem "
			 "still had a write outstanding in the bdev");
	/* Release the write: the deletion may go on now. */
	rpc_ok_free("bdev_error_inject_error",
		    json_pack("{s:s, s:s, s:s}", "name", "EE_WireM3", "io_type", "clear",
			      "error_type", "failure"));
	poll_until(&r.done);
	json_decref(r.resp);
	host_close(&q);
	host_close(&a);
	wait_no_qpairs();
	rpc_ok_free("bdev_error_delete", json_pack("{s:s}", "name", "EE_WireM3"));
	rpc_ok_free("bdev_malloc_delete", json_pack("{s:s}", "name", "WireM3"));
}

/*
 * nvmf_subsystem_get_qpairs while a queue pair of a gone controller still
 * drains a write: the controller is freed on the target thread as soon as
 * its queue pairs have *started* disconnecting (nvmf_qpair_disconnect sends
 * "left" at once), but the queue pair stays in its poll group until the
 * write completes, and pg_collect dereferences q->ctrlr->subsys and
 * q->ctrlr->cntlid (use after free under ASan; a listing for a controller
 * that nvmf_subsystem_get_controllers no longer has).
 */
static void test_get_qpairs_after_ctrlr_freed(void **state)
{
	static uint8_t data[512];
	struct host a, q;
	struct sl_nvme_cmd cmd = { 0 };
	json_t *res;
	uint16_t cntlid;
	uint64_t deadline;

	(void)state;
	create_malloc("WireM5", 64, 512);
	json_decref(rpc_ok("bdev_error_create", json_pack("{s:s}", "base_name", "WireM5")));
	wire_subsystem_up("EE_WireM5");
	host_open(&a, g_wire_port);
	cntlid = host_admin_up(&a, NQN_WIRE);
	host_open(&q, g_wire_port);
	host_io_up(&q, NQN_WIRE, cntlid, 1);
	rpc_ok_free("bdev_error_inject_error",
		    json_pack("{s:s, s:s, s:s, s:i}", "name", "EE_WireM5", "io_type", "write",
			      "error_type", "pending", "num", 1));
	cmd.opc = SL_NVME_OPC_WRITE;
	cmd.nsid = 1;
	host_submit(&q, &cmd, data, sizeof(data), 0);
	poll_for_ms(20);
	/* The host goes away; the write stays held. */
	host_close(&q);
	host_close(&a);
	deadline = ut_deadline(UT_WAIT_SEC);
	for (;;) {
		poll_all(1);
		res = rpc_ok("nvmf_subsystem_get_controllers", json_pack("{s:s}", "nqn", NQN_WIRE));
		if (json_array_size(res) == 0)
			break;
		json_decref(res);
		if (ut_expired(deadline))
			fail_msg("the controller was not torn down");
	}
	json_decref(res);
	assert_int_equal(pg_qpair_count(), 1); /* the I/O queue pair drains its write */
	res = rpc_ok("nvmf_subsystem_get_qpairs", json_pack("{s:s}", "nqn", NQN_WIRE));
	if (json_array_size(res) != 0)
		fail_msg("get_qpairs lists %zu queue pair(s) of a freed controller",
			 json_array_size(res));
	json_decref(res);
	rpc_ok_free("bdev_error_inject_error",
		    json_pack("{s:s, s:s, s:s}", "name", "EE_WireM5", "io_type", "clear",
			      "error_type", "failure"));
	wait_no_qpairs();
	delete_subsystem(NQN_WIRE);
	rpc_ok_free("bdev_error_delete", json_pack("{s:s}", "name", "EE_WireM5"));
	rpc_ok_free("bdev_malloc_delete", json_pack("{s:s}", "name", "WireM5"));
}

/* ---- setup ---- */

static int g_started = 1;
static void started(int rc, void *arg)
{
	(void)arg;
	g_started = rc;
}

static int setup(void **state)
{
	struct sl_env_opts o;
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	(void)state;
	sl_env_opts_init(&o);
	o.name = "nvmf_tgt_ut";
	o.no_huge = true;
	o.quiet = true;
	o.mem_size_mb = 256;
	if (sl_env_init(&o))
		return -1;
	sl_thread_lib_init(NULL, 0);
	g_app = sl_thread_create("app", -1);
	sl_set_thread(g_app);
	sl_subsystems_start(NULL, false, started, NULL);
	while (g_started == 1 && !ut_expired(deadline))
		poll_all(1);
	if (g_started)
		return -1;
	/* The poll group threads start with the first transport (test_transport). */
	return g_nvmf_tgt.running ? 0 : -1;
}

static bool g_stopped;
static void stopped(void *arg)
{
	(void)arg;
	g_stopped = true;
}

static int teardown(void **state)
{
	(void)state;
	sl_set_thread(g_app);
	sl_subsystems_stop(stopped, NULL);
	poll_until(&g_stopped);
	for (uint32_t i = 0; i < g_num_pg; i++) {
		uint64_t deadline = ut_deadline(UT_WAIT_SEC);

		while (!sl_thread_is_exited(g_pg[i]) && !ut_expired(deadline))
			sl_thread_poll(g_pg[i], 0, 0);
		if (sl_thread_is_exited(g_pg[i]))
			sl_thread_destroy(g_pg[i]);
	}
	sl_set_thread(g_app);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transport),
		cmocka_unit_test(test_create_subsystem_bad_input),
		cmocka_unit_test(test_namespaces),
		cmocka_unit_test(test_hosts_and_listeners),
		cmocka_unit_test(test_config_replay),
		cmocka_unit_test(test_config_keeps_eui64_and_digests),
		cmocka_unit_test(test_wire_identify),
		cmocka_unit_test(test_wire_property_before_connect),
		cmocka_unit_test(test_wire_disconnect_response),
		cmocka_unit_test(test_wire_r2t_writes),
		cmocka_unit_test(test_wire_full_queue_of_r2t_writes),
		cmocka_unit_test(test_wire_fatal_after_reset),
		cmocka_unit_test(test_delete_subsystem_with_io_held),
		cmocka_unit_test(test_get_qpairs_after_ctrlr_freed),
	};

	ut_apply_filter();
	return cmocka_run_group_tests(tests, setup, teardown);
}
