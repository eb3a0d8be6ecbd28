/* SPDX-License-Identifier: BSD-3-Clause */
/* Subsystems: ordered by their dependencies, initialised in turn, torn down in reverse. */
#include "event_internal.h"

#include "sluice/rpc.h"

#include <stdlib.h>
#include <string.h>

static TAILQ_HEAD(subsystem_list, sl_subsystem) g_subsystems = TAILQ_HEAD_INITIALIZER(g_subsystems);
static bool g_sorted;
static struct sl_subsystem *g_cur;
static struct sl_subsystem *g_last_inited; /* fini starts here: never fini what never init */
static void (*g_init_done)(int rc);
static void (*g_fini_done)(void);

void sl_subsystem_register(struct sl_subsystem *s)
{
	TAILQ_INSERT_TAIL(&g_subsystems, s, link);
	g_sorted = false;
}

struct sl_subsystem *sl_subsystem_find(const char *name)
{
	struct sl_subsystem *s;

	TAILQ_FOREACH(s, &g_subsystems, link)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

/* Stable topological order: a subsystem comes after everything it depends on. */
static void sort_subsystems(void)
{
	struct subsystem_list sorted = TAILQ_HEAD_INITIALIZER(sorted);
	struct sl_subsystem *s, *tmp;
	bool progress = true;

	if (g_sorted)
		return;
	while (!TAILQ_EMPTY(&g_subsystems) && progress) {
		progress = false;
		for (s = TAILQ_FIRST(&g_subsystems); s; s = tmp) {
			bool ready = true;

			tmp = TAILQ_NEXT(s, link);
			for (size_t i = 0; i < SL_COUNTOF(s->depends_on) && s->depends_on[i]; i++) {
				struct sl_subsystem *d;
				bool placed = false;

				TAILQ_FOREACH(d, &sorted, link)
					if (!strcmp(d->name, s->depends_on[i]))
						placed = true;
				if (!placed && sl_subsystem_find(s->depends_on[i]))
					ready = false;
			}
			if (ready) {
				TAILQ_REMOVE(&g_subsystems, s, link);
				TAILQ_INSERT_TAIL(&sorted, s, link);
				progress = true;
			}
		}
	}
	if (!TAILQ_EMPTY(&g_subsystems)) {
		SL_ERRLOG("subsystem dependency cycle involving %s",
			  TAILQ_FIRST(&g_subsystems)->name);
		abort(); /* programming error */
	}
	TAILQ_CONCAT(&g_subsystems, &sorted, link);
	g_sorted = true;
}

struct sl_subsystem *sl_subsystem_next(struct sl_subsystem *prev)
{
	sort_subsystems();
	return prev ? TAILQ_NEXT(prev, link) : TAILQ_FIRST(&g_subsystems);
}

static void init_step(void)
{
	while (g_cur && !g_cur->init) {
		g_last_inited = g_cur;
		g_cur = TAILQ_NEXT(g_cur, link);
	}
	if (!g_cur) {
		g_init_done(0);
		return;
	}
	g_cur->init();
}

void sl_subsystem_init_next(int rc)
{
	if (rc) {
		SL_ERRLOG("subsystem %s failed to initialise: %d", g_cur ? g_cur->name : "?", rc);
		g_init_done(rc);
		return;
	}
	g_last_inited = g_cur;
	g_cur = TAILQ_NEXT(g_cur, link);
	init_step();
}

void subsystems_init(void (*done)(int rc))
{
	sort_subsystems();
	g_init_done = done;
	g_cur = TAILQ_FIRST(&g_subsystems);
	g_last_inited = NULL;
	init_step();
}

static void fini_step(void)
{
	while (g_cur && !g_cur->fini)
		g_cur = TAILQ_PREV(g_cur, subsystem_list, link);
	if (!g_cur) {
		g_fini_done();
		return;
	}
	g_cur->fini();
}

void sl_subsystem_fini_next(void)
{
	g_cur = TAILQ_PREV(g_cur, subsystem_list, link);
	fini_step();
}

void subsystems_fini(void (*done)(void))
{
	sort_subsystems();
	g_fini_done = done;
	g_cur = g_last_inited;
	g_last_inited = NULL;
	fini_step();
}

void subsystems_write_config(void *subsystems_array)
{
	struct sl_subsystem *s;

	sort_subsystems();
	TAILQ_FOREACH(s, &g_subsystems, link) {
		json_t *cfg = json_array();

		if (s->write_config_json)
			s->write_config_json(cfg);
		json_array_append_new(subsystems_array,
				      json_pack("{s:s, s:o}", "subsystem", s->name, "config", cfg));
	}
}
