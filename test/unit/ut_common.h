/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the cmocka unit tests (header only: each test is one
 * program). Include after <cmocka.h>.
 *
 * Waits are "poll until a condition or a generous deadline", never "sleep then
 * assert": a slow or loaded machine makes a test slower, not flaky.
 */
#ifndef SLUICE_UT_COMMON_H
#define SLUICE_UT_COMMON_H

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/log.h"

#define UT_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

/* Deadline of every wait, in seconds. */
#define UT_WAIT_SEC 20

static inline uint64_t ut_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline uint64_t ut_deadline(unsigned int sec)
{
	return ut_mono_ns() + (uint64_t)sec * 1000000000ULL;
}

static inline bool ut_expired(uint64_t deadline)
{
	return ut_mono_ns() > deadline;
}

/*
 * Tests of behaviour a library gets wrong today (reported, not yet fixed) are
 * skipped unless SL_UT_KNOWN_BUGS=1, so that the suite stays green while the
 * fix lands. Remove the UT_KNOWN_BUG line together with the fix.
 */
#define UT_KNOWN_BUG(what)                                                                         \
	do {                                                                                       \
		const char *ut_kb_env = getenv("SL_UT_KNOWN_BUGS");                                \
		if (!ut_kb_env || strcmp(ut_kb_env, "1")) {                                        \
			print_message("[ KNOWN BUG] %s (SL_UT_KNOWN_BUGS=1 runs it)\n", what);     \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* UT_FILTER=pattern (cmocka wildcards: test_foo*) runs only matching tests. */
static inline void ut_apply_filter(void)
{
	const char *f = getenv("UT_FILTER");

	if (f && *f)
		cmocka_set_test_filter(f);
}

/* ---- log capture: lines go to a buffer instead of stderr ---- */

static pthread_mutex_t g_ut_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_ut_log;
static size_t g_ut_log_len;
static bool g_ut_log_echo; /* also print captured lines (debugging a test) */

static inline void ut_log_sink(enum sl_log_level level, const char *line)
{
	size_t n = strlen(line);

	(void)level;
	pthread_mutex_lock(&g_ut_log_lock);
	char *nb = realloc(g_ut_log, g_ut_log_len + n + 1);

	if (nb) {
		g_ut_log = nb;
		memcpy(g_ut_log + g_ut_log_len, line, n + 1);
		g_ut_log_len += n;
	}
	pthread_mutex_unlock(&g_ut_log_lock);
	if (g_ut_log_echo)
		fputs(line, stderr);
}

static inline void ut_log_capture_start(void)
{
	pthread_mutex_lock(&g_ut_log_lock);
	free(g_ut_log);
	g_ut_log = NULL;
	g_ut_log_len = 0;
	pthread_mutex_unlock(&g_ut_log_lock);
	g_ut_log_echo = getenv("SL_UT_LOG_ECHO") != NULL;
	sl_log_set_sink(ut_log_sink);
}

static inline void ut_log_capture_stop(void)
{
	sl_log_set_sink(NULL);
	pthread_mutex_lock(&g_ut_log_lock);
	free(g_ut_log);
	g_ut_log = NULL;
	g_ut_log_len = 0;
	pthread_mutex_unlock(&g_ut_log_lock);
}

/* True when one captured line contains every one of the NULL-terminated strings. */
static inline bool ut_log_has_line(const char *first, ...)
{
	bool found = false;
	va_list ap;

	pthread_mutex_lock(&g_ut_log_lock);
	for (char *line = g_ut_log; line && *line && !found;) {
		char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char *copy = strndup(line, len);
		bool all = copy != NULL;

		va_start(ap, first);
		for (const char *s = first; s && all; s = va_arg(ap, const char *))
			all = strstr(copy, s) != NULL;
		va_end(ap);
		free(copy);
		found = all;
		line = eol ? eol + 1 : line + len;
	}
	pthread_mutex_unlock(&g_ut_log_lock);
	return found;
}

/* Print what was captured (when an assertion about the log fails). */
static inline void ut_log_dump(void)
{
	pthread_mutex_lock(&g_ut_log_lock);
	print_message("---- captured log ----\n%s---- end of log ----\n", g_ut_log ? g_ut_log : "");
	pthread_mutex_unlock(&g_ut_log_lock);
}

#define UT_ASSERT_LOG(...)                                                                         \
	do {                                                                                       \
		if (!ut_log_has_line(__VA_ARGS__, NULL)) {                                         \
			ut_log_dump();                                                             \
			fail_msg("no log line contains all of: %s", #__VA_ARGS__);                 \
		}                                                                                  \
	} while (0)

#endif
