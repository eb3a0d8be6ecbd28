/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The NVMe-oF target: one poll group thread per reactor, the transports,
 * the keep-alive poller, and the "nvmf" subsystem that starts and stops them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sluice/env.h"
#include "sluice/event.h"
#include "sluice/log.h"

#include "nvmf_internal.h"

SL_LOG_REGISTER_COMPONENT(nvmf)

struct nvmf_tgt g_nvmf_tgt = {
	.transports = TAILQ_HEAD_INITIALIZER(g_nvmf_tgt.transports),
	.max_subsystems = NVMF_MAX_SUBSYSTEMS,
};

static const struct nvmf_transport_ops *const g_transport_ops[] = { &g_nvmf_tcp_ops };

const struct nvmf_transport_ops *nvmf_transport_ops_find(const char *name)
{
	for (size_t i = 0; i < SL_COUNTOF(g_transport_ops); i++)
		if (strcasecmp(g_transport_ops[i]->name, name) == 0)
			return g_transport_ops[i];
	return NULL;
}

int sl_nvmf_trtype_parse(const char *name, enum sl_nvmf_trtype *trtype)
{
	if (strcasecmp(name, "TCP") == 0) {
		*trtype = SL_NVMF_TRTYPE_TCP;
		return 0;
	}
	return -EINVAL;
}

const char *sl_nvmf_trtype_name(enum sl_nvmf_trtype trtype)
{
	switch (trtype) {
	case SL_NVMF_TRTYPE_TCP:
		return "TCP";
	case SL_NVMF_TRTYPE_RDMA:
		return "RDMA";
	case SL_NVMF_TRTYPE_FC:
		return "FC";
	default:
		return "unknown";
	}
}

int sl_nvmf_adrfam_parse(const char *name, enum sl_nvmf_adrfam *adrfam)
{
	if (strcasecmp(name, "IPv4") == 0)
		*adrfam = SL_NVMF_ADRFAM_IPV4;
	else if (strcasecmp(name, "IPv6") == 0)
		*adrfam = SL_NVMF_ADRFAM_IPV6;
	else
		return -EINVAL;
	return 0;
}

const char *sl_nvmf_adrfam_name(enum sl_nvmf_adrfam adrfam)
{
	switch (adrfam) {
	case SL_NVMF_ADRFAM_IPV4:
		return "IPv4";
	case SL_NVMF_ADRFAM_IPV6:
		return "IPv6";
	default:
		return "unknown";
	}
}

struct nvmf_subsystem *nvmf_tgt_find_subsystem(const char *nqn)
{
	for (uint32_t i = 0; i < g_nvmf_tgt.max_subsystems; i++) {
		struct nvmf_subsystem *s = g_nvmf_tgt.subsystems[i];

		if (s && s->state != NVMF_SUBSYS_DELETING && strcmp(s->nqn, nqn) == 0)
			return s;
	}
	return NULL;
}

struct nvmf_transport *nvmf_tgt_find_transport(enum sl_nvmf_trtype trtype)
{
	struct nvmf_transport *t;

	TAILQ_FOREACH(t, &g_nvmf_tgt.transports, link)
		if (t->ops->trtype == trtype)
			return t;
	return NULL;
}

void *nvmf_poll_group_get_tgroup(struct nvmf_poll_group *group, struct nvmf_transport *t)
{
	for (uint32_t i = 0; i < group->num_transports; i++)
		if (group->transports[i].transport == t)
			return group->transports[i].tgroup;
	return NULL;
}

/* ---- Handing connections to poll groups ---- */

struct new_conn_msg {
	struct nvmf_transport *transport;
	struct nvmf_poll_group *group;
	void *conn;
};

static void pg_add_conn_msg(void *arg)
{
	struct new_conn_msg *m = arg;
	void *tgroup = nvmf_poll_group_get_tgroup(m->group, m->transport);

	if (tgroup)
		m->transport->ops->pg_add_conn(tgroup, m->conn);
	else
		m->transport->ops->pg_add_conn(NULL, m->conn); /* the transport closes it */
	free(m);
}

void nvmf_tgt_new_connection(struct nvmf_transport *transport, void *conn)
{
	struct new_conn_msg *m = malloc(sizeof(*m));
	uint32_t idx;

	if (!m || g_nvmf_tgt.num_poll_groups == 0 || !g_nvmf_tgt.running) {
		free(m);
		transport->ops->pg_add_conn(NULL, conn);
		return;
	}
	/* Round robin over the poll groups: each reactor takes its share of queue pairs. */
	idx = g_nvmf_tgt.next_pg++ % g_nvmf_tgt.num_poll_groups;
	m->transport = transport;
	m->group = g_nvmf_tgt.groups[idx];
	m->conn = conn;
	if (sl_thread_send_msg(g_nvmf_tgt.pg_threads[idx], pg_add_conn_msg, m)) {
		free(m);
		transport->ops->pg_add_conn(NULL, conn);
	}
}

/* ---- Broadcasts to poll groups ---- */

struct disconnect_ctx {
	struct nvmf_ctrlr *ctrlr;
	bool io_only;
};

static void pg_disconnect_ctrlr(struct sl_io_channel_iter *i)
{
	struct disconnect_ctx *ctx = sl_io_channel_iter_get_ctx(i);
	struct nvmf_poll_group *group = sl_io_channel_get_ctx(sl_io_channel_iter_get_channel(i));
	struct nvmf_qpair *qpair, *tmp;

	TAILQ_FOREACH_SAFE(qpair, &group->qpairs, link, tmp) {
		if (qpair->ctrlr != ctx->ctrlr || (ctx->io_only && qpair->qid == 0))
			continue;
		nvmf_qpair_disconnect(qpair);
	}
	sl_for_each_channel_continue(i, 0);
}

static void disconnect_done(struct sl_io_channel_iter *i, int status)
{
	(void)status;
	free(sl_io_channel_iter_get_ctx(i));
}

void nvmf_tgt_disconnect_ctrlr_qpairs(struct nvmf_ctrlr *ctrlr, bool io_only)
{
	struct disconnect_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx) {
		SL_ERRLOG("nvmf: out of memory disconnecting controller %u", ctrlr->cntlid);
		return;
	}
	ctx->ctrlr = ctrlr;
	ctx->io_only = io_only;
	sl_for_each_channel(&g_nvmf_tgt, pg_disconnect_ctrlr, ctx, disconnect_done);
}

/* ---- Poll groups ---- */

static int pg_create_cb(void *io_device, void *ctx_buf)
{
	struct nvmf_poll_group *group = ctx_buf;
	struct nvmf_transport *t;

	(void)io_device;
	group->thread = sl_get_thread();
	TAILQ_INIT(&group->qpairs);
	group->sgroups = calloc(NVMF_MAX_SUBSYSTEMS, sizeof(*group->sgroups));
	if (!group->sgroups)
		return -ENOMEM;
	group->num_sgroups = NVMF_MAX_SUBSYSTEMS;
	TAILQ_FOREACH(t, &g_nvmf_tgt.transports, link) {
		void *tg = t->ops->pg_create(t, group);

		if (!tg)
			return -ENOMEM;
		group->transports[group->num_transports].transport = t;
		group->transports[group->num_transports++].tgroup = tg;
	}
	/*
	 * Subsystems configured before the first transport: the target thread
	 * waits for the groups to start and refuses namespace changes meanwhile
	 * (pg_starting), so reading them here is safe.
	 */
	for (uint32_t i = 0; i < g_nvmf_tgt.max_subsystems; i++) {
		struct nvmf_subsystem *s = g_nvmf_tgt.subsystems[i];

		if (s && s->subtype == SL_NVMF_SUBTYPE_NVME && nvmf_pg_subsystem_sync(group, s))
			return -ENOMEM;
	}
	return 0;
}

static void pg_destroy_cb(void *io_device, void *ctx_buf)
{
	struct nvmf_poll_group *group = ctx_buf;

	(void)io_device;
	for (uint32_t i = 0; i < group->num_transports; i++)
		group->transports[i].transport->ops->pg_destroy(group->transports[i].tgroup);
	for (uint32_t i = 0; i < group->num_sgroups; i++)
		nvmf_pg_subsystem_release(group, i);
	free(group->sgroups);
}

/* ---- Transports join running poll groups ---- */

static void pg_add_transport(struct sl_io_channel_iter *i)
{
	struct nvmf_transport *t = sl_io_channel_iter_get_ctx(i);
	struct nvmf_poll_group *group = sl_io_channel_get_ctx(sl_io_channel_iter_get_channel(i));
	void *tg;

	if (nvmf_poll_group_get_tgroup(group, t) || group->num_transports >= 4) {
		sl_for_each_channel_continue(i, 0);
		return;
	}
	tg = t->ops->pg_create(t, group);
	if (!tg) {
		sl_for_each_channel_continue(i, -ENOMEM);
		return;
	}
	group->transports[group->num_transports].transport = t;
	group->transports[group->num_transports++].tgroup = tg;
	sl_for_each_channel_continue(i, 0);
}

struct add_transport_ctx {
	void (*cb)(void *arg, int rc);
	void *arg;
};

static struct add_transport_ctx g_add_transport_ctx;

static void add_transport_done(struct sl_io_channel_iter *i, int status)
{
	(void)i;
	g_add_transport_ctx.cb(g_add_transport_ctx.arg, status);
}

static int start_poll_groups(void (*cb)(void *arg, int rc), void *arg);

int nvmf_tgt_add_transport(struct nvmf_transport *t, void (*cb)(void *arg, int rc), void *arg)
{
	int rc;

	if (g_nvmf_tgt.pg_starting)
		return -EBUSY;
	TAILQ_INSERT_TAIL(&g_nvmf_tgt.transports, t, link);
	if (!g_nvmf_tgt.pg_threads) {
		/* The groups being created pick the transport up (pg_create_cb). */
		rc = start_poll_groups(cb, arg);
		if (rc)
			TAILQ_REMOVE(&g_nvmf_tgt.transports, t, link);
		return rc;
	}
	g_add_transport_ctx.cb = cb;
	g_add_transport_ctx.arg = arg;
	sl_for_each_channel(&g_nvmf_tgt, pg_add_transport, t, add_transport_done);
	return 0;
}

/* ---- Start and stop ---- */

/*
 * Poll groups start with the first transport: a program that links the
 * target but never serves NVMe-oF (bdevperf, the fio plugin, unit tests)
 * gets no extra threads and no timers.
 */
static uint32_t g_pg_pending;
static uint32_t g_pg_failed;
static void (*g_pg_start_cb)(void *arg, int rc);
static void *g_pg_start_arg;

static void pg_started(void *arg)
{
	(void)arg;
	if (--g_pg_pending)
		return;
	g_nvmf_tgt.pg_starting = false;
	if (g_pg_failed) {
		SL_ERRLOG("nvmf: %u poll group(s) failed to start", g_pg_failed);
		g_pg_start_cb(g_pg_start_arg, -ENOMEM);
		return;
	}
	g_nvmf_tgt.kato_poller =
		sl_poller_register_named(nvmf_ctrlr_keep_alive_poll, NULL, 10000, "nvmf_kato");
	g_pg_start_cb(g_pg_start_arg, 0);
}

static void pg_start(void *arg)
{
	struct nvmf_poll_group **slot = arg;
	/* The channel reference taken here is the poll group's life; pg_stop puts it. */
	struct sl_io_channel *ch = sl_get_io_channel(&g_nvmf_tgt);

	if (ch)
		*slot = sl_io_channel_get_ctx(ch);
	else
		__atomic_add_fetch(&g_pg_failed, 1, __ATOMIC_RELAXED);
	sl_thread_send_msg(g_nvmf_tgt.thread, pg_started, NULL);
}

static int start_poll_groups(void (*cb)(void *arg, int rc), void *arg)
{
	uint32_t core, n = 0, cores = sl_env_get_core_count();

	g_nvmf_tgt.pg_threads = calloc(cores, sizeof(struct sl_thread *));
	g_nvmf_tgt.groups = calloc(cores, sizeof(struct nvmf_poll_group *));
	if (!g_nvmf_tgt.pg_threads || !g_nvmf_tgt.groups) {
		free(g_nvmf_tgt.pg_threads);
		free(g_nvmf_tgt.groups);
		g_nvmf_tgt.pg_threads = NULL;
		g_nvmf_tgt.groups = NULL;
		return -ENOMEM;
	}
	g_pg_start_cb = cb;
	g_pg_start_arg = arg;
	g_pg_failed = 0;
	g_pg_pending = cores;
	g_nvmf_tgt.pg_starting = true;
	for (core = sl_env_get_first_core(); core != UINT32_MAX && n < cores;
	     core = sl_env_get_next_core(core)) {
		char name[32];
		struct sl_thread *thread;

		snprintf(name, sizeof(name), "nvmf_tgt_poll_group_%03u", n);
		thread = sl_thread_create(name, (int32_t)core);
		if (!thread) {
			SL_ERRLOG("nvmf: cannot create poll group thread on core %u", core);
			g_pg_failed++;
			g_pg_pending--;
			continue;
		}
		g_nvmf_tgt.pg_threads[n] = thread;
		sl_thread_send_msg(thread, pg_start, &g_nvmf_tgt.groups[n]);
		n++;
	}
	g_nvmf_tgt.num_poll_groups = n;
	if (g_pg_pending == 0) {
		g_nvmf_tgt.pg_starting = false;
		return -ENOMEM;
	}
	return 0;
}

static void nvmf_subsystem_init(void)
{
	struct nvmf_subsystem *d;
	char err[128];

	g_nvmf_tgt.thread = sl_get_thread();
	sl_io_device_register(&g_nvmf_tgt, pg_create_cb, pg_destroy_cb,
			      sizeof(struct nvmf_poll_group), "nvmf_tgt");
	/* The discovery subsystem always exists; it answers once a listener is added. */
	if (nvmf_subsystem_create(SL_NVMF_DISCOVERY_NQN, SL_NVMF_SUBTYPE_DISCOVERY_CURRENT, 0, &d,
				  err, sizeof(err)) == 0)
		d->allow_any_host = true;
	else
		SL_ERRLOG("nvmf: cannot create the discovery subsystem: %s", err);
	g_nvmf_tgt.running = true;
	sl_subsystem_init_next(0);
}

/* Stop: disconnect every qpair, wait until each poll group has none left. */
static void fini_step(void);
static int g_fini_stage;

static int pg_wait_empty_poll(void *arg)
{
	struct sl_io_channel_iter *i = arg;
	struct nvmf_poll_group *group = sl_io_channel_get_ctx(sl_io_channel_iter_get_channel(i));

	if (!TAILQ_EMPTY(&group->qpairs))
		return SL_POLLER_IDLE;
	sl_poller_unregister((struct sl_poller **)&group->poller);
	sl_for_each_channel_continue(i, 0);
	return SL_POLLER_BUSY;
}

static void pg_disconnect_all(struct sl_io_channel_iter *i)
{
	struct nvmf_poll_group *group = sl_io_channel_get_ctx(sl_io_channel_iter_get_channel(i));
	struct nvmf_qpair *qpair, *tmp;

	TAILQ_FOREACH_SAFE(qpair, &group->qpairs, link, tmp)
		nvmf_qpair_disconnect(qpair);
	if (TAILQ_EMPTY(&group->qpairs)) {
		sl_for_each_channel_continue(i, 0);
		return;
	}
	group->poller = sl_poller_register_named(pg_wait_empty_poll, i, 1000, "nvmf_pg_drain");
}

static void fini_iter_done(struct sl_io_channel_iter *i, int status)
{
	(void)i;
	(void)status;
	/* Let the qpairs' "left" messages reach this thread before going on. */
	sl_thread_send_msg(g_nvmf_tgt.thread, (sl_msg_fn)fini_step, NULL);
}

static void pg_stop(void *arg)
{
	struct nvmf_poll_group *group = arg;

	/* Drop the reference pg_start took: the poll group goes (pg_destroy_cb), then the thread.
	 */
	if (group)
		sl_put_io_channel(sl_io_channel_from_ctx(group));
	sl_thread_exit(sl_get_thread());
}

static void tgt_unregistered(void *io_device)
{
	struct nvmf_transport *t;

	(void)io_device;
	/* Every poll group has released its channels: close the namespaces now. */
	nvmf_tgt_destroy_all_subsystems();
	while ((t = TAILQ_FIRST(&g_nvmf_tgt.transports))) {
		TAILQ_REMOVE(&g_nvmf_tgt.transports, t, link);
		t->ops->destroy(t);
	}
	free(g_nvmf_tgt.pg_threads);
	g_nvmf_tgt.pg_threads = NULL;
	free(g_nvmf_tgt.groups);
	g_nvmf_tgt.groups = NULL;
	g_nvmf_tgt.thread = NULL;
	g_nvmf_tgt.running = false;
	g_nvmf_tgt.next_pg = 0;
	g_nvmf_tgt.num_poll_groups = 0;
	sl_subsystem_fini_next();
}

static void fini_step(void)
{
	switch (g_fini_stage++) {
	case 0: {
		struct nvmf_transport *t;

		g_nvmf_tgt.running = false;
		sl_poller_unregister(&g_nvmf_tgt.kato_poller);
		/* No new connections. */
		TAILQ_FOREACH(t, &g_nvmf_tgt.transports, link)
			t->ops->stop_listen(t, NULL);
		sl_for_each_channel(&g_nvmf_tgt, pg_disconnect_all, NULL, fini_iter_done);
		break;
	}
	case 1:
		for (uint32_t i = 0; i < g_nvmf_tgt.num_poll_groups; i++)
			sl_thread_send_msg(g_nvmf_tgt.pg_threads[i], pg_stop, g_nvmf_tgt.groups[i]);
		sl_io_device_unregister(&g_nvmf_tgt, tgt_unregistered);
		break;
	default:
		break;
	}
}

static void nvmf_subsystem_fini(void)
{
	if (!g_nvmf_tgt.thread) {
		sl_subsystem_fini_next();
		return;
	}
	if (!g_nvmf_tgt.pg_threads) {
		/* No poll group ever started: no channel, no connection. */
		g_nvmf_tgt.running = false;
		sl_io_device_unregister(&g_nvmf_tgt, tgt_unregistered);
		return;
	}
	g_fini_stage = 0;
	fini_step();
}

static struct sl_subsystem g_nvmf_subsystem = {
	.name = "nvmf",
	.init = nvmf_subsystem_init,
	.fini = nvmf_subsystem_fini,
	.write_config_json = nvmf_write_config_json,
	.depends_on = { "bdev", "sock" },
};
SL_SUBSYSTEM_REGISTER(g_nvmf_subsystem)
