/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Real reactors on cores 0 and 1 through sl_app_start, with idle sleep.
 *
 * The EAL initialises once per process, so every check runs in ONE
 * sl_app_start: start_fn registers a timed poller on the app thread that
 * drives a small state machine (the app thread must keep polling; nothing
 * blocks). Results go to globals, asserted after sl_app_start returns.
 * Every wait has a generous deadline; no assertion is about how long
 * something took.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../ut_common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "sluice/env.h"
#include "sluice/event.h"
#include "sluice/thread.h"

#define STATE_DEADLINE_SEC 30
#define TIMER_PERIOD_US 20000
#define TIMER_RUNS 8

#define WORKERS 4 /* two on each reactor */
#define MSGS_PER_PAIR 20000
#define SEND_BURST 64

enum state {
	S_CREATE_T1,
	S_WAIT_T1_SLEEPING,
	S_WAIT_MSG,
	S_WAIT_TIMER,
	S_WAIT_TIMER_GONE,
	S_STRESS_START,
	S_STRESS_WAIT,
	S_STRESS_EXIT,
	S_WAKE_FD_START,
	S_WAKE_FD_WAIT,
	S_WAKE_FD_GONE,
	S_RPC_WAIT,
	S_T1_EXIT,
	S_DONE,
};

static const char *const g_state_names[] = {
	"create t1",
	"wait for reactor 1 to sleep",
	"wait for the message on t1",
	"wait for timer runs",
	"wait for the timer to go",
	"start the stress",
	"wait for the stress",
	"wait for the workers to exit",
	"register the wake-fd poller",
	"wait for the wake-fd poller runs",
	"wait for the wake-fd poller to go",
	"wait for the RPC client",
	"wait for t1 to exit",
	"done",
};

struct worker {
	struct sl_thread *thread;
	struct sl_poller *poller;
	uint32_t idx;
	uint64_t sent[WORKERS];	    /* by destination; owned by this worker's thread */
	uint64_t expected[WORKERS]; /* next sequence from each source; owned by this thread */
	_Atomic bool send_done;
};

static struct {
	/* control */
	struct sl_thread *app;
	struct sl_thread *t1;
	struct sl_poller *sm_poller;
	enum state state;
	uint64_t state_deadline;
	int failed_state; /* -1: none */
	bool start_fn_ok;

	/* idle sleep wakes on a message */
	bool saw_t1_sleeping;
	uint64_t sleeps_before_msg;
	_Atomic int msg_ran;
	_Atomic int msg_wrong_place;

	/* idle sleep wakes on a timer */
	struct sl_poller *timer; /* owned by t1 */
	_Atomic int timer_runs;
	uint64_t timer_sleeps[TIMER_RUNS];
	_Atomic int timer_gone;
	int timer_sleep_increases;

	/* messages between reactors */
	struct worker workers[WORKERS];
	_Atomic uint64_t received;
	_Atomic uint64_t out_of_order;
	_Atomic uint64_t send_errors;
	_Atomic int workers_on_wrong_core;
	bool stress_ok;

	/* a wake fd makes a sleeping reactor run its (hour-long) timed poller */
	int pipe_fds[2];
	struct sl_poller *fd_poller; /* owned by t1 */
	_Atomic int fd_poller_ready;
	_Atomic int fd_poller_runs;
	_Atomic int fd_poller_reads;
	_Atomic int fd_poller_gone;
	int fd_writes;
	int wake_fd_rc;

	/* the RPC server on a real, sleeping reactor */
	char rpc_path[108];
	pthread_t rpc_client;
	bool rpc_client_started;
	_Atomic int rpc_client_done;
	int rpc_client_ok;
	char rpc_client_err[256];
} g;

static bool reactor_info(uint32_t core, struct sl_reactor_info *out)
{
	struct sl_reactor_info info[SL_ENV_MAX_CORES];
	size_t n = sl_reactor_get_info(info, SL_ENV_MAX_CORES);

	for (size_t i = 0; i < n; i++) {
		if (info[i].core == core) {
			*out = info[i];
			return true;
		}
	}
	return false;
}

/* ---- on t1 ---- */

static void t1_msg(void *ctx)
{
	(void)ctx;
	if (sl_get_thread() != g.t1 || sl_env_get_current_core() != 1)
		atomic_fetch_add(&g.msg_wrong_place, 1);
	atomic_store(&g.msg_ran, 1);
}

static int t1_timer(void *ctx)
{
	struct sl_reactor_info info;
	int run = atomic_load(&g.timer_runs);

	(void)ctx;
	if (run < TIMER_RUNS && reactor_info(1, &info))
		g.timer_sleeps[run] = info.sleeps;
	atomic_store(&g.timer_runs, run + 1);
	return SL_POLLER_BUSY;
}

static void t1_start_timer(void *ctx)
{
	(void)ctx;
	g.timer = sl_poller_register_named(t1_timer, NULL, TIMER_PERIOD_US, "ut_timer");
	if (!g.timer)
		atomic_fetch_add(&g.msg_wrong_place, 1);
}

static void t1_stop_timer(void *ctx)
{
	(void)ctx;
	sl_poller_unregister(&g.timer);
	atomic_store(&g.timer_gone, 1);
}

static int fd_poll(void *ctx)
{
	char buf[64];
	ssize_t n;

	(void)ctx;
	atomic_fetch_add(&g.fd_poller_runs, 1);
	n = read(g.pipe_fds[0], buf, sizeof(buf));
	if (n > 0)
		atomic_fetch_add(&g.fd_poller_reads, (int)n);
	return n > 0 ? SL_POLLER_BUSY : SL_POLLER_IDLE;
}

static void t1_start_fd_poller(void *ctx)
{
	(void)ctx;
	/* An hour: it only runs early when its fd wakes it. */
	g.fd_poller = sl_poller_register_named(fd_poll, NULL, 3600ULL * 1000000, "ut_fd");
	g.wake_fd_rc = g.fd_poller ? sl_poller_set_wake_fd(g.fd_poller, g.pipe_fds[0]) : -ENOMEM;
	atomic_store(&g.fd_poller_ready, 1);
}

static void t1_stop_fd_poller(void *ctx)
{
	(void)ctx;
	sl_poller_unregister(&g.fd_poller);
	atomic_store(&g.fd_poller_gone, 1);
}

/* ---- an RPC client on its own OS thread ---- */

static void *rpc_client_main(void *arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"framework_get_reactors\",\"id\":5}";
	char buf[65536];
	size_t len = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint64_t deadline = ut_deadline(UT_WAIT_SEC);

	(void)arg;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g.rpc_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		snprintf(g.rpc_client_err, sizeof(g.rpc_client_err), "connect: %s",
			 strerror(errno));
		goto out;
	}
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		snprintf(g.rpc_client_err, sizeof(g.rpc_client_err), "send: %s", strerror(errno));
		goto out;
	}
	while (!memchr(buf, '\n', len) && len < sizeof(buf) - 1) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (ut_expired(deadline)) {
			snprintf(g.rpc_client_err, sizeof(g.rpc_client_err), "no response");
			goto out;
		}
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0) {
			snprintf(g.rpc_client_err, sizeof(g.rpc_client_err), "connection closed");
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	{
		json_error_t jerr;
		json_t *resp = json_loads(buf, JSON_DISABLE_EOF_CHECK, &jerr);
		json_t *reactors = json_object_get(json_object_get(resp, "result"), "reactors");

		if (json_integer_value(json_object_get(resp, "id")) == 5 &&
		    json_is_array(reactors) && json_array_size(reactors) == 2)
			g.rpc_client_ok = 1;
		else
			snprintf(g.rpc_client_err, sizeof(g.rpc_client_err), "bad response: %.200s",
				 buf);
		json_decref(resp);
	}
out:
	if (fd >= 0)
		close(fd);
	atomic_store(&g.rpc_client_done, 1);
	return NULL;
}

static void exit_self(void *ctx)
{
	(void)ctx;
	sl_thread_exit(sl_get_thread());
}

/* ---- workers ---- */

static struct worker *current_worker(void)
{
	struct sl_thread *t = sl_get_thread();

	for (int i = 0; i < WORKERS; i++)
		if (g.workers[i].thread == t)
			return &g.workers[i];
	return NULL;
}

static void worker_recv(void *ctx)
{
	uint64_t v = (uint64_t)(uintptr_t)ctx;
	uint32_t src = (uint32_t)(v >> 32);
	uint64_t seq = v & 0xffffffffULL;
	struct worker *w = current_worker();

	if (!w || src >= WORKERS || w->expected[src] != seq) {
		atomic_fetch_add(&g.out_of_order, 1);
	} else {
		w->expected[src]++;
	}
	atomic_fetch_add(&g.received, 1);
}

static int worker_poll(void *ctx)
{
	struct worker *w = ctx;
	bool all = true;

	for (uint32_t d = 0; d < WORKERS; d++) {
		if (d == w->idx)
			continue;
		for (int k = 0; k < SEND_BURST && w->sent[d] < MSGS_PER_PAIR; k++) {
			void *m = (void *)(uintptr_t)(((uint64_t)w->idx << 32) | w->sent[d]);
			int rc = sl_thread_send_msg(g.workers[d].thread, worker_recv, m);

			if (rc == -ENOMEM)
				break; /* ring full: try again next poll */
			if (rc) {
				atomic_fetch_add(&g.send_errors, 1);
				break;
			}
			w->sent[d]++;
		}
		if (w->sent[d] < MSGS_PER_PAIR)
			all = false;
	}
	if (all) {
		sl_poller_unregister(&w->poller);
		atomic_store(&w->send_done, true);
	}
	return SL_POLLER_BUSY;
}

static void worker_init(void *ctx)
{
	struct worker *w = ctx;
	uint32_t want = w->idx % 2;

	if (sl_env_get_current_core() != want)
		atomic_fetch_add(&g.workers_on_wrong_core, 1);
	w->poller = sl_poller_register_named(worker_poll, w, 0, "ut_worker");
	if (!w->poller)
		atomic_fetch_add(&g.send_errors, 1);
}

/* ---- the state machine on the app thread ---- */

static void set_state(enum state s)
{
	g.state = s;
	g.state_deadline = ut_deadline(STATE_DEADLINE_SEC);
}

/* A timed poller may unregister itself from its own callback. */
static void finish(int rc)
{
	sl_poller_unregister(&g.sm_poller);
	sl_app_stop(rc);
}

/* Record where it went wrong and stop; reactors force remaining threads out. */
static void fail_state(void)
{
	if (g.failed_state < 0)
		g.failed_state = (int)g.state;
	set_state(S_DONE);
	finish(1);
}

static int state_machine(void *ctx)
{
	struct sl_reactor_info info;

	(void)ctx;
	if (ut_expired(g.state_deadline)) {
		fail_state();
		return SL_POLLER_BUSY;
	}
	switch (g.state) {
	case S_CREATE_T1:
		g.t1 = sl_thread_create("t1", 1);
		if (!g.t1 || sl_reactor_core_of_thread(g.t1) != 1) {
			fail_state();
			break;
		}
		set_state(S_WAIT_T1_SLEEPING);
		break;
	case S_WAIT_T1_SLEEPING:
		if (!reactor_info(1, &info) || !info.sleeping)
			break;
		g.saw_t1_sleeping = true;
		g.sleeps_before_msg = info.sleeps;
		if (sl_thread_send_msg(g.t1, t1_msg, NULL) == 0)
			set_state(S_WAIT_MSG);
		break;
	case S_WAIT_MSG:
		if (!atomic_load(&g.msg_ran))
			break;
		if (sl_thread_send_msg(g.t1, t1_start_timer, NULL) == 0)
			set_state(S_WAIT_TIMER);
		break;
	case S_WAIT_TIMER:
		if (atomic_load(&g.timer_runs) < TIMER_RUNS)
			break;
		if (sl_thread_send_msg(g.t1, t1_stop_timer, NULL) == 0)
			set_state(S_WAIT_TIMER_GONE);
		break;
	case S_WAIT_TIMER_GONE:
		if (!atomic_load(&g.timer_gone))
			break;
		for (int i = 1; i < TIMER_RUNS; i++)
			if (g.timer_sleeps[i] > g.timer_sleeps[i - 1])
				g.timer_sleep_increases++;
		set_state(S_STRESS_START);
		break;
	case S_STRESS_START:
		for (uint32_t i = 0; i < WORKERS; i++) {
			char name[16];
			struct worker *w = &g.workers[i];

			snprintf(name, sizeof(name), "w%u", i);
			w->idx = i;
			w->thread = sl_thread_create(name, (int32_t)(i % 2));
			if (!w->thread) {
				fail_state();
				return SL_POLLER_BUSY;
			}
		}
		/* Start sending only once every destination exists. */
		for (uint32_t i = 0; i < WORKERS; i++) {
			if (sl_thread_send_msg(g.workers[i].thread, worker_init, &g.workers[i])) {
				fail_state();
				return SL_POLLER_BUSY;
			}
		}
		set_state(S_STRESS_WAIT);
		break;
	case S_STRESS_WAIT: {
		bool done = atomic_load(&g.received) ==
			    (uint64_t)WORKERS * (WORKERS - 1) * MSGS_PER_PAIR;

		for (int i = 0; i < WORKERS; i++)
			done &= atomic_load(&g.workers[i].send_done);
		if (!done)
			break;
		g.stress_ok = true;
		for (int i = 0; i < WORKERS; i++)
			sl_thread_send_msg(g.workers[i].thread, exit_self, NULL);
		set_state(S_STRESS_EXIT);
		break;
	}
	case S_STRESS_EXIT:
		/* Reactors destroy exited threads: app thread and t1 remain. */
		if (sl_thread_get_count() != 2)
			break;
		set_state(S_WAKE_FD_START);
		if (sl_thread_send_msg(g.t1, t1_start_fd_poller, NULL))
			fail_state();
		break;
	case S_WAKE_FD_START:
		if (!atomic_load(&g.fd_poller_ready))
			break;
		if (g.wake_fd_rc) {
			fail_state();
			break;
		}
		set_state(S_WAKE_FD_WAIT);
		break;
	case S_WAKE_FD_WAIT:
		/* Write while reactor 1 sleeps; each byte must be read by the poller. */
		if (atomic_load(&g.fd_poller_reads) < g.fd_writes)
			break;
		if (g.fd_writes == 3) {
			set_state(S_WAKE_FD_GONE);
			if (sl_thread_send_msg(g.t1, t1_stop_fd_poller, NULL))
				fail_state();
			break;
		}
		if (!reactor_info(1, &info) || !info.sleeping)
			break;
		if (write(g.pipe_fds[1], "x", 1) == 1)
			g.fd_writes++;
		break;
	case S_WAKE_FD_GONE:
		if (!atomic_load(&g.fd_poller_gone))
			break;
		set_state(S_RPC_WAIT);
		if (pthread_create(&g.rpc_client, NULL, rpc_client_main, NULL)) {
			fail_state();
			break;
		}
		g.rpc_client_started = true;
		break;
	case S_RPC_WAIT:
		if (!atomic_load(&g.rpc_client_done))
			break;
		pthread_join(g.rpc_client, NULL);
		g.rpc_client_started = false;
		set_state(S_T1_EXIT);
		sl_thread_send_msg(g.t1, exit_self, NULL);
		break;
	case S_T1_EXIT:
		if (sl_thread_get_count() != 1)
			break;
		set_state(S_DONE);
		finish(0);
		break;
	case S_DONE:
		break;
	}
	return SL_POLLER_BUSY;
}

static void start_fn(void *ctx)
{
	(void)ctx;
	g.app = sl_get_thread();
	g.start_fn_ok = g.app != NULL && g.app == sl_thread_get_app_thread() &&
			sl_app_is_init_done() && sl_env_get_current_core() == 0;
	set_state(S_CREATE_T1);
	g.sm_poller = sl_poller_register_named(state_machine, NULL, 1000, "ut_state_machine");
	if (!g.sm_poller) {
		g.failed_state = (int)S_CREATE_T1;
		sl_app_stop(1);
	}
}

static void test_reactors(void **state)
{
	struct sl_app_opts opts;
	int rc;

	(void)state;
	memset(&g, 0, sizeof(g));
	g.failed_state = -1;
	assert_int_equal(pipe2(g.pipe_fds, O_NONBLOCK | O_CLOEXEC), 0);
	sl_app_opts_init(&opts);
	opts.name = "reactor_ut";
	opts.reactor_mask = "0x3";
	snprintf(g.rpc_path, sizeof(g.rpc_path), "/tmp/sl_reactor_ut.%d.sock", (int)getpid());
	opts.rpc_addr = g.rpc_path;
	opts.no_huge = true;
	opts.mem_size_mb = 64;
	opts.idle_sleep = true;
	opts.idle_threshold_us = 1000;

	rc = sl_app_start(&opts, start_fn, NULL);
	if (g.rpc_client_started)
		pthread_join(g.rpc_client, NULL);
	close(g.pipe_fds[0]);
	close(g.pipe_fds[1]);

	if (g.failed_state >= 0)
		fail_msg("gave up in state '%s' after %d s", g_state_names[g.failed_state],
			 STATE_DEADLINE_SEC);
	assert_int_equal(rc, 0);
	assert_true(g.start_fn_ok);
	assert_int_equal(g.state, S_DONE);

	/* A sleeping reactor wakes for a message, which runs on its thread and core. */
	assert_true(g.saw_t1_sleeping);
	assert_int_equal(atomic_load(&g.msg_ran), 1);
	assert_int_equal(atomic_load(&g.msg_wrong_place), 0);

	/* ... and for its timers: they ran again and again while it slept in between. */
	assert_true(atomic_load(&g.timer_runs) >= TIMER_RUNS);
	print_message("    reactor 1 slept between %d of %d consecutive timer runs\n",
		      g.timer_sleep_increases, TIMER_RUNS - 1);
	assert_true(g.timer_sleep_increases >= 1);
	assert_true(g.timer_sleeps[TIMER_RUNS - 1] > g.sleeps_before_msg);

	/* Messages between reactors under load: exactly once, in order per producer. */
	assert_true(g.stress_ok);
	assert_int_equal(atomic_load(&g.workers_on_wrong_core), 0);
	assert_int_equal(atomic_load(&g.send_errors), 0);
	assert_int_equal(atomic_load(&g.out_of_order), 0);
	assert_int_equal(atomic_load(&g.received),
			 (uint64_t)WORKERS * (WORKERS - 1) * MSGS_PER_PAIR);
	for (int d = 0; d < WORKERS; d++)
		for (int s = 0; s < WORKERS; s++)
			assert_int_equal(g.workers[d].expected[s], s == d ? 0 : MSGS_PER_PAIR);

	/* A wake fd wakes the sleeping reactor and runs its poller early. */
	assert_int_equal(g.wake_fd_rc, 0);
	assert_int_equal(g.fd_writes, 3);
	assert_int_equal(atomic_load(&g.fd_poller_reads), 3);
	assert_true(atomic_load(&g.fd_poller_runs) >= 3);

	/* The RPC server answers while reactors sleep between requests. */
	if (!g.rpc_client_ok)
		fail_msg("RPC client: %s", g.rpc_client_err);
	assert_int_equal(access(g.rpc_path, F_OK), -1); /* socket removed at stop */

	/* Everything was released: no thread left behind. */
	assert_int_equal(sl_thread_get_count(), 0);
	sl_app_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reactors),
	};

	ut_apply_filter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
