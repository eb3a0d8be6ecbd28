/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Subsystems: NQN rules, namespaces backed by bdevs, the host allow-list,
 * listeners. Everything here runs on the target thread, except the
 * nvmf_pg_* functions, which update one poll group's view of a subsystem on
 * that group's thread while the target thread waits for the broadcast.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/log.h"

#include "nvmf_internal.h"

/* ---- NQN validation ---- */

static bool nqn_domain_is_valid(const char *d, size_t len)
{
	/* Reverse domain: labels of letters, digits and hyphens, separated by dots. */
	size_t label = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (d[i] == '.') {
			if (label == 0 || d[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)d[i]) && d[i] != '-')
			return false;
		if (label == 0 && d[i] == '-')
			return false;
		label++;
	}
	return label > 0 && d[len - 1] != '-';
}

static bool utf8_is_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n;

		if (*p < 0x80)
			n = 0;
		else if ((*p & 0xe0) == 0xc0 && *p >= 0xc2)
			n = 1;
		else if ((*p & 0xf0) == 0xe0)
			n = 2;
		else if ((*p & 0xf8) == 0xf0 && *p <= 0xf4)
			n = 3;
		else
			return false;
		p++;
		for (int i = 0; i < n; i++, p++)
			if ((*p & 0xc0) != 0x80)
				return false;
	}
	return true;
}

bool sl_nvmf_nqn_is_valid(const char *nqn, char *err, size_t errlen)
{
	size_t len = strlen(nqn);
	const char *domain, *colon;
	int year, month;

	if (len > SL_NVMF_NQN_MAX_LEN) {
		snprintf(err, errlen, "NQN is %zu bytes, more than the 223 allowed", len);
		return false;
	}
	if (!utf8_is_valid(nqn)) {
		snprintf(err, errlen, "NQN is not valid UTF-8");
		return false;
	}
	if (strcmp(nqn, SL_NVMF_DISCOVERY_NQN) == 0)
		return true;
	if (strncmp(nqn, SL_NVMF_NQN_UUID_PREFIX, strlen(SL_NVMF_NQN_UUID_PREFIX)) == 0) {
		struct sl_uuid u;
		const char *s = nqn + strlen(SL_NVMF_NQN_UUID_PREFIX);

		if (strlen(s) != 36 || sl_uuid_parse(&u, s)) {
			snprintf(err, errlen, "'%s' is not a UUID", s);
			return false;
		}
		return true;
	}
	if (strncmp(nqn, "nqn.", 4) != 0) {
		snprintf(err, errlen, "NQN must start with 'nqn.'");
		return false;
	}
	if (len < 12 || sscanf(nqn + 4, "%4d-%2d", &year, &month) != 2 || !isdigit(nqn[4]) ||
	    !isdigit(nqn[5]) || !isdigit(nqn[6]) || !isdigit(nqn[7]) || nqn[8] != '-' ||
	    !isdigit(nqn[9]) || !isdigit(nqn[10]) || month < 1 || month > 12 || nqn[11] != '.') {
		snprintf(err, errlen, "NQN must continue with a date 'yyyy-mm.' after 'nqn.'");
		return false;
	}
	domain = nqn + 12;
	colon = strchr(domain, ':');
	if (!nqn_domain_is_valid(domain, colon ? (size_t)(colon - domain) : strlen(domain))) {
		snprintf(err, errlen, "NQN has an invalid reverse domain name after the date");
		return false;
	}
	return true;
}

/* ---- Iovec helpers ---- */

void nvmf_iov_copy_in(struct iovec *iov, int iovcnt, uint64_t offset, const void *src, size_t len)
{
	const uint8_t *s = src;

	for (int i = 0; i < iovcnt && len; i++) {
		size_t n;

		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		n = SL_MIN(len, iov[i].iov_len - offset);
		memcpy((uint8_t *)iov[i].iov_base + offset, s, n);
		s += n;
		len -= n;
		offset = 0;
	}
}

void nvmf_iov_zero(struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
}

size_t nvmf_iov_copy_out_at(void *dst, size_t len, const struct iovec *iov, int iovcnt,
			    uint64_t offset)
{
	uint8_t *d = dst;
	size_t done = 0;

	for (int i = 0; i < iovcnt && done < len; i++) {
		size_t n;

		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		n = SL_MIN(len - done, iov[i].iov_len - offset);
		memcpy(d + done, (const uint8_t *)iov[i].iov_base + offset, n);
		done += n;
		offset = 0;
	}
	return done;
}

size_t nvmf_iov_copy_out(void *dst, size_t len, const struct iovec *iov, int iovcnt)
{
	return nvmf_iov_copy_out_at(dst, len, iov, iovcnt, 0);
}

/* ---- Hosts and listeners ---- */

bool nvmf_subsystem_host_allowed(struct nvmf_subsystem *subsys, const char *hostnqn)
{
	struct nvmf_host *h;

	if (subsys->allow_any_host)
		return true;
	TAILQ_FOREACH(h, &subsys->hosts, link)
		if (strcmp(h->nqn, hostnqn) == 0)
			return true;
	return false;
}

static bool addr_equal(const struct sl_nvmf_listen_addr *a, const struct sl_nvmf_listen_addr *b)
{
	return a->trtype == b->trtype && strcmp(a->traddr, b->traddr) == 0 &&
	       strcmp(a->trsvcid, b->trsvcid) == 0;
}

bool nvmf_subsystem_listener_allowed(struct nvmf_subsystem *subsys,
				     const struct sl_nvmf_listen_addr *addr)
{
	struct nvmf_listener *l;

	/* The discovery service answers on every listener, as hosts expect. */
	if (subsys->subtype == SL_NVMF_SUBTYPE_DISCOVERY_CURRENT)
		return true;
	TAILQ_FOREACH(l, &subsys->listeners, link) {
		if (addr_equal(&l->addr, addr))
			return true;
		/* A wildcard listener accepts connections to any local address. */
		if ((strcmp(l->addr.traddr, "0.0.0.0") == 0 || strcmp(l->addr.traddr, "::") == 0) &&
		    strcmp(l->addr.trsvcid, addr->trsvcid) == 0)
			return true;
	}
	return false;
}

uint32_t nvmf_subsystem_first_active_nsid(struct nvmf_subsystem *subsys)
{
	for (uint32_t i = 0; i < subsys->max_nsid; i++)
		if (subsys->ns[i] && !subsys->ns[i]->removing)
			return i + 1;
	return 0;
}

/* ---- Poll group views ---- */

int nvmf_pg_subsystem_sync(struct nvmf_poll_group *group, struct nvmf_subsystem *subsys)
{
	struct nvmf_subsystem_pg *sg = &group->sgroups[subsys->id];

	if (sg->num_ns < subsys->max_nsid) {
		struct nvmf_ns_pg *ns = realloc(sg->ns, subsys->max_nsid * sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		memset(ns + sg->num_ns, 0, (subsys->max_nsid - sg->num_ns) * sizeof(*ns));
		sg->ns = ns;
		sg->num_ns = subsys->max_nsid;
	}
	for (uint32_t i = 0; i < subsys->max_nsid; i++) {
		struct nvmf_ns *ns = subsys->ns[i];
		struct nvmf_ns_pg *p = &sg->ns[i];

		if (ns && !ns->removing && !p->desc) {
			p->ch = sl_bdev_get_io_channel(ns->desc);
			if (!p->ch)
				return -ENOMEM;
			p->desc = ns->desc;
			p->removing = false;
		}
	}
	return 0;
}

void nvmf_pg_subsystem_release(struct nvmf_poll_group *group, uint32_t id)
{
	struct nvmf_subsystem_pg *sg = &group->sgroups[id];

	for (uint32_t i = 0; i < sg->num_ns; i++)
		if (sg->ns[i].ch)
			sl_put_io_channel(sg->ns[i].ch);
	free(sg->ns);
	sg->ns = NULL;
	sg->num_ns = 0;
}

/* ---- Broadcast helpers (target thread) ---- */

typedef void (*subsys_done_fn)(struct nvmf_subsystem *subsys, int rc, void *arg);

struct subsys_bcast {
	struct nvmf_subsystem *subsys;
	uint32_t nsid;
	subsys_done_fn done;
	void *arg;
};

static void bcast_done(struct sl_io_channel_iter *i, int status)
{
	struct subsys_bcast *b = sl_io_channel_iter_get_ctx(i);

	b->done(b->subsys, status, b->arg);
	free(b);
}

static int subsys_bcast(struct nvmf_subsystem *subsys, uint32_t nsid, sl_channel_msg fn,
			subsys_done_fn done, void *arg)
{
	struct subsys_bcast *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->subsys = subsys;
	b->nsid = nsid;
	b->done = done;
	b->arg = arg;
	sl_for_each_channel(&g_nvmf_tgt, fn, b, bcast_done);
	return 0;
}

static struct nvmf_poll_group *iter_group(struct sl_io_channel_iter *i)
{
	return sl_io_channel_get_ctx(sl_io_channel_iter_get_channel(i));
}

static void pg_sync(struct sl_io_channel_iter *i)
{
	struct subsys_bcast *b = sl_io_channel_iter_get_ctx(i);

	sl_for_each_channel_continue(i, nvmf_pg_subsystem_sync(iter_group(i), b->subsys));
}

static void pg_release(struct sl_io_channel_iter *i)
{
	struct subsys_bcast *b = sl_io_channel_iter_get_ctx(i);

	nvmf_pg_subsystem_release(iter_group(i), b->subsys->id);
	sl_for_each_channel_continue(i, 0);
}

static void pg_ns_remove(struct sl_io_channel_iter *i)
{
	struct subsys_bcast *b = sl_io_channel_iter_get_ctx(i);
	struct nvmf_subsystem_pg *sg = &iter_group(i)->sgroups[b->subsys->id];
	struct nvmf_ns_pg *p;

	if (b->nsid > sg->num_ns || !sg->ns[b->nsid - 1].desc) {
		sl_for_each_channel_continue(i, 0);
		return;
	}
	p = &sg->ns[b->nsid - 1];
	p->removing = true;
	if (p->outstanding) {
		/* io.c continues the iteration when the last I/O completes. */
		p->drain_iter = i;
		return;
	}
	sl_put_io_channel(p->ch);
	memset(p, 0, sizeof(*p));
	sl_for_each_channel_continue(i, 0);
}

/* ---- Subsystems ---- */

int nvmf_subsystem_create(const char *nqn, enum sl_nvmf_subtype subtype, uint32_t max_ns,
			  struct nvmf_subsystem **out, char *err, size_t errlen)
{
	struct nvmf_subsystem *s;
	uint32_t id;

	if (!sl_nvmf_nqn_is_valid(nqn, err, errlen))
		return -EINVAL;
	if ((strcmp(nqn, SL_NVMF_DISCOVERY_NQN) == 0) !=
	    (subtype == SL_NVMF_SUBTYPE_DISCOVERY_CURRENT)) {
		snprintf(err, errlen, "the discovery NQN is reserved for the discovery subsystem");
		return -EINVAL;
	}
	if (nvmf_tgt_find_subsystem(nqn)) {
		snprintf(err, errlen, "subsystem %s already exists", nqn);
		return -EEXIST;
	}
	if (max_ns == 0)
		max_ns = NVMF_MAX_NAMESPACES_DEFAULT;
	if (max_ns > NVMF_MAX_NAMESPACES_LIMIT) {
		snprintf(err, errlen, "max_namespaces %u exceeds %u", max_ns,
			 NVMF_MAX_NAMESPACES_LIMIT);
		return -EINVAL;
	}
	for (id = 0; id < g_nvmf_tgt.max_subsystems; id++)
		if (!g_nvmf_tgt.subsystems[id])
			break;
	if (id == g_nvmf_tgt.max_subsystems) {
		snprintf(err, errlen, "no room for another subsystem (max %u)",
			 g_nvmf_tgt.max_subsystems);
		return -ENOSPC;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out_nomem;
	s->ns = calloc(subtype == SL_NVMF_SUBTYPE_NVME ? max_ns : 1, sizeof(*s->ns));
	if (!s->ns)
		goto out_free;
	s->max_nsid = subtype == SL_NVMF_SUBTYPE_NVME ? max_ns : 0;
	s->id = id;
	s->subtype = subtype;
	snprintf(s->nqn, sizeof(s->nqn), "%s", nqn);
	snprintf(s->sn, sizeof(s->sn), "%s", "00000000000000000000");
	snprintf(s->mn, sizeof(s->mn), "%s", "Sluice NVMe-oF controller");
	s->min_cntlid = SL_NVMF_CNTLID_MIN;
	s->max_cntlid = SL_NVMF_CNTLID_MAX;
	s->next_cntlid = SL_NVMF_CNTLID_MIN;
	TAILQ_INIT(&s->hosts);
	TAILQ_INIT(&s->listeners);
	TAILQ_INIT(&s->ctrlrs);
	g_nvmf_tgt.subsystems[id] = s;
	*out = s;
	nvmf_tgt_discovery_changed();
	return 0;

out_free:
	free(s);
out_nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

/* Serial: ASCII printable, at most 20; model at most 40. */
int nvmf_subsystem_set_sn(struct nvmf_subsystem *s, const char *sn)
{
	if (strlen(sn) > 20)
		return -EINVAL;
	for (const char *p = sn; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return -EINVAL;
	snprintf(s->sn, sizeof(s->sn), "%s", sn);
	return 0;
}

int nvmf_subsystem_set_mn(struct nvmf_subsystem *s, const char *mn)
{
	if (strlen(mn) > 40 || strlen(mn) == 0)
		return -EINVAL;
	for (const char *p = mn; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return -EINVAL;
	snprintf(s->mn, sizeof(s->mn), "%s", mn);
	return 0;
}

static void ns_free(struct nvmf_ns *ns)
{
	if (ns->desc)
		sl_bdev_close(ns->desc);
	free(ns);
}

static void subsys_free(struct nvmf_subsystem *s)
{
	struct nvmf_host *h;
	struct nvmf_listener *l;

	for (uint32_t i = 0; i < s->max_nsid; i++)
		if (s->ns[i])
			ns_free(s->ns[i]);
	while ((h = TAILQ_FIRST(&s->hosts))) {
		TAILQ_REMOVE(&s->hosts, h, link);
		free(h);
	}
	while ((l = TAILQ_FIRST(&s->listeners))) {
		TAILQ_REMOVE(&s->listeners, l, link);
		if (g_nvmf_tgt.running)
			l->transport->ops->stop_listen(l->transport, &l->addr);
		free(l);
	}
	g_nvmf_tgt.subsystems[s->id] = NULL;
	free(s->ns);
	free(s);
}

/* ---- Namespaces ---- */

static void ns_event_cb(enum sl_bdev_event_type type, struct sl_bdev *bdev, void *ctx);

struct ns_op {
	void (*cb)(void *arg, int rc, uint32_t nsid);
	void *arg;
	uint32_t nsid;
};

static void notify_ns_changed(struct nvmf_subsystem *s, uint32_t nsid)
{
	struct nvmf_ctrlr *c;

	TAILQ_FOREACH(c, &s->ctrlrs, link)
		nvmf_ctrlr_ns_changed(c, nsid);
}

static void ns_added(struct nvmf_subsystem *s, int rc, void *arg)
{
	struct ns_op *op = arg;

	s->busy--;
	if (rc) {
		/* A poll group could not get a channel: take the namespace back out. */
		SL_ERRLOG("nvmf: %s: namespace %u could not reach every poll group: %s", s->nqn,
			  op->nsid, strerror(-rc));
		s->ns[op->nsid - 1]->removing = true;
		op->cb(op->arg, rc, 0);
		free(op);
		return;
	}
	s->ns_count++;
	notify_ns_changed(s, op->nsid);
	op->cb(op->arg, 0, op->nsid);
	free(op);
}

static int parse_hex(const char *s, uint8_t *out, size_t n)
{
	size_t j = 0;

	for (const char *p = s; *p; p++) {
		unsigned v;

		if (*p == '-')
			continue;
		if (j >= n * 2 || sscanf(p, "%1x", &v) != 1 || !isxdigit((unsigned char)*p))
			return -EINVAL;
		out[j / 2] = (uint8_t)(j % 2 ? out[j / 2] | v : v << 4);
		j++;
	}
	return j == n * 2 ? 0 : -EINVAL;
}

int nvmf_subsystem_add_ns(struct nvmf_subsystem *s, const char *bdev_name,
			  const struct nvmf_ns_opts *o,
			  void (*cb)(void *arg, int rc, uint32_t nsid), void *arg, char *err,
			  size_t errlen)
{
	struct nvmf_ns *ns;
	struct ns_op *op;
	uint32_t nsid = o->nsid;
	int rc;

	if (s->subtype != SL_NVMF_SUBTYPE_NVME) {
		snprintf(err, errlen, "the discovery subsystem has no namespaces");
		return -EINVAL;
	}
	if (s->busy || g_nvmf_tgt.pg_starting) {
		snprintf(err, errlen, "subsystem %s is being reconfigured", s->nqn);
		return -EBUSY;
	}
	if (nsid == 0) {
		for (nsid = 1; nsid <= s->max_nsid; nsid++)
			if (!s->ns[nsid - 1])
				break;
		if (nsid > s->max_nsid) {
			snprintf(err, errlen, "subsystem %s has no free NSID (max_namespaces %u)",
				 s->nqn, s->max_nsid);
			return -ENOSPC;
		}
	} else if (nsid > s->max_nsid || nsid == 0xffffffff) {
		snprintf(err, errlen, "NSID %u is beyond max_namespaces %u", nsid, s->max_nsid);
		return -EINVAL;
	} else if (s->ns[nsid - 1]) {
		snprintf(err, errlen, "NSID %u is in use", nsid);
		return -EEXIST;
	}
	ns = calloc(1, sizeof(*ns));
	op = calloc(1, sizeof(*op));
	if (!ns || !op) {
		free(ns);
		free(op);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ns->nsid = nsid;
	ns->subsys = s;
	rc = sl_bdev_open_ext(bdev_name, true, ns_event_cb, ns, &ns->desc);
	if (rc) {
		snprintf(err, errlen, "cannot open bdev %s: %s", bdev_name, strerror(-rc));
		free(ns);
		free(op);
		return rc;
	}
	ns->bdev = sl_bdev_desc_get_bdev(ns->desc);
	ns->uuid = *sl_bdev_get_uuid(ns->bdev);
	/* NGUID defaults to the bdev's UUID bytes, as hosts want a stable identifier. */
	memcpy(ns->nguid, &ns->uuid, sizeof(ns->nguid));
	if ((o->nguid && parse_hex(o->nguid, ns->nguid, 16)) ||
	    (o->eui64 && parse_hex(o->eui64, ns->eui64, 8)) ||
	    (o->uuid && sl_uuid_parse(&ns->uuid, o->uuid))) {
		snprintf(err, errlen, "invalid nguid, eui64 or uuid");
		sl_bdev_close(ns->desc);
		free(ns);
		free(op);
		return -EINVAL;
	}
	s->ns[nsid - 1] = ns;
	op->cb = cb;
	op->arg = arg;
	op->nsid = nsid;
	s->busy++;
	rc = subsys_bcast(s, nsid, pg_sync, ns_added, op);
	if (rc) {
		s->busy--;
		s->ns[nsid - 1] = NULL;
		sl_bdev_close(ns->desc);
		free(ns);
		free(op);
		snprintf(err, errlen, "out of memory");
	}
	return rc;
}

static void ns_removed(struct nvmf_subsystem *s, int rc, void *arg)
{
	struct ns_op *op = arg;
	struct nvmf_ns *ns = s->ns[op->nsid - 1];

	(void)rc;
	s->busy--;
	s->ns[op->nsid - 1] = NULL;
	s->ns_count--;
	ns_free(ns);
	notify_ns_changed(s, op->nsid);
	if (op->cb)
		op->cb(op->arg, 0, op->nsid);
	free(op);
}

int nvmf_subsystem_remove_ns(struct nvmf_subsystem *s, uint32_t nsid,
			     void (*cb)(void *arg, int rc, uint32_t nsid), void *arg)
{
	struct ns_op *op;
	int rc;

	if (nsid == 0 || nsid > s->max_nsid || !s->ns[nsid - 1])
		return -ENOENT;
	if (s->ns[nsid - 1]->removing || g_nvmf_tgt.pg_starting)
		return -EBUSY;
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->cb = cb;
	op->arg = arg;
	op->nsid = nsid;
	/* Identify stops listing it now; poll groups drain its I/O, then it closes. */
	s->ns[nsid - 1]->removing = true;
	s->busy++;
	rc = subsys_bcast(s, nsid, pg_ns_remove, ns_removed, op);
	if (rc) {
		s->busy--;
		s->ns[nsid - 1]->removing = false;
		free(op);
	}
	return rc;
}

static void ns_event_cb(enum sl_bdev_event_type type, struct sl_bdev *bdev, void *ctx)
{
	struct nvmf_ns *ns = ctx;

	(void)bdev;
	if (type == SL_BDEV_EVENT_REMOVE) {
		SL_NOTICELOG("nvmf: %s: bdev %s is going away, removing namespace %u",
			     ns->subsys->nqn, sl_bdev_get_name(ns->bdev), ns->nsid);
		if (nvmf_subsystem_remove_ns(ns->subsys, ns->nsid, NULL, NULL) == -EBUSY &&
		    !ns->removing)
			SL_ERRLOG("nvmf: %s: namespace %u could not be removed now",
				  ns->subsys->nqn, ns->nsid);
	} else if (type == SL_BDEV_EVENT_RESIZE) {
		notify_ns_changed(ns->subsys, ns->nsid);
	}
}

/* ---- Hosts ---- */

int nvmf_subsystem_add_host(struct nvmf_subsystem *s, const char *hostnqn, char *err, size_t errlen)
{
	struct nvmf_host *h;

	if (!sl_nvmf_nqn_is_valid(hostnqn, err, errlen))
		return -EINVAL;
	TAILQ_FOREACH(h, &s->hosts, link)
		if (strcmp(h->nqn, hostnqn) == 0) {
			snprintf(err, errlen, "host %s is already allowed", hostnqn);
			return -EEXIST;
		}
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(h->nqn, sizeof(h->nqn), "%s", hostnqn);
	TAILQ_INSERT_TAIL(&s->hosts, h, link);
	nvmf_tgt_discovery_changed();
	return 0;
}

int nvmf_subsystem_remove_host(struct nvmf_subsystem *s, const char *hostnqn)
{
	struct nvmf_host *h;
	struct nvmf_ctrlr *c, *tmp;

	TAILQ_FOREACH(h, &s->hosts, link)
		if (strcmp(h->nqn, hostnqn) == 0)
			break;
	if (!h)
		return -ENOENT;
	TAILQ_REMOVE(&s->hosts, h, link);
	free(h);
	/* A host that lost access loses its controllers too. */
	if (!s->allow_any_host)
		TAILQ_FOREACH_SAFE(c, &s->ctrlrs, link, tmp)
			if (strcmp(c->hostnqn, hostnqn) == 0)
				nvmf_ctrlr_destroy(c);
	nvmf_tgt_discovery_changed();
	return 0;
}

/* ---- Listeners ---- */

struct nvmf_listener *nvmf_subsystem_find_listener(struct nvmf_subsystem *s,
						   const struct sl_nvmf_listen_addr *addr)
{
	struct nvmf_listener *l;

	TAILQ_FOREACH(l, &s->listeners, link)
		if (addr_equal(&l->addr, addr))
			return l;
	return NULL;
}

int nvmf_subsystem_add_listener(struct nvmf_subsystem *s, const struct sl_nvmf_listen_addr *addr,
				char *err, size_t errlen)
{
	struct nvmf_transport *t = nvmf_tgt_find_transport(addr->trtype);
	struct nvmf_listener *l;
	int rc;

	if (!t) {
		snprintf(err, errlen,
			 "transport %s does not exist: create it first "
			 "(nvmf_create_transport)",
			 sl_nvmf_trtype_name(addr->trtype));
		return -EINVAL;
	}
	if (nvmf_subsystem_find_listener(s, addr)) {
		snprintf(err, errlen, "listener %s:%s already exists", addr->traddr, addr->trsvcid);
		return -EEXIST;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = t->ops->listen(t, addr);
	if (rc) {
		snprintf(err, errlen, "cannot listen on %s:%s: %s", addr->traddr, addr->trsvcid,
			 strerror(-rc));
		free(l);
		return rc;
	}
	l->addr = *addr;
	l->transport = t;
	l->portid = ++g_nvmf_tgt.next_portid;
	TAILQ_INSERT_TAIL(&s->listeners, l, link);
	nvmf_tgt_discovery_changed();
	return 0;
}

int nvmf_subsystem_remove_listener(struct nvmf_subsystem *s, const struct sl_nvmf_listen_addr *addr)
{
	struct nvmf_listener *l = nvmf_subsystem_find_listener(s, addr);

	if (!l)
		return -ENOENT;
	TAILQ_REMOVE(&s->listeners, l, link);
	l->transport->ops->stop_listen(l->transport, &l->addr);
	free(l);
	nvmf_tgt_discovery_changed();
	return 0;
}

/* ---- Deletion ---- */

struct subsys_delete {
	struct nvmf_subsystem *s;
	void (*cb)(void *arg, int rc);
	void *arg;
	struct sl_poller *poller;
};

static void subsys_released(struct nvmf_subsystem *s, int rc, void *arg)
{
	struct subsys_delete *d = arg;

	(void)rc;
	subsys_free(s);
	nvmf_tgt_discovery_changed();
	if (d->cb)
		d->cb(d->arg, 0);
	free(d);
}

static int subsys_delete_poll(void *arg)
{
	struct subsys_delete *d = arg;

	if (d->s->num_ctrlrs)
		return SL_POLLER_IDLE;
	sl_poller_unregister(&d->poller);
	if (subsys_bcast(d->s, 0, pg_release, subsys_released, d))
		subsys_released(d->s, 0, d); /* cannot happen without memory; leak channels */
	return SL_POLLER_BUSY;
}

int nvmf_subsystem_delete(struct nvmf_subsystem *s, void (*cb)(void *arg, int rc), void *arg)
{
	struct subsys_delete *d;
	struct nvmf_ctrlr *c, *tmp;

	if (s->busy || g_nvmf_tgt.pg_starting)
		return -EBUSY;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->s = s;
	d->cb = cb;
	d->arg = arg;
	s->state = NVMF_SUBSYS_DELETING;
	s->busy++;
	TAILQ_FOREACH_SAFE(c, &s->ctrlrs, link, tmp)
		nvmf_ctrlr_destroy(c);
	d->poller = sl_poller_register_named(subsys_delete_poll, d, 1000, "nvmf_subsys_delete");
	if (!d->poller) {
		free(d);
		s->busy--;
		s->state = NVMF_SUBSYS_ACTIVE;
		return -ENOMEM;
	}
	return 0;
}

/* At shutdown: every qpair is gone, so are the controllers; free synchronously. */
void nvmf_tgt_destroy_all_subsystems(void)
{
	for (uint32_t i = 0; i < g_nvmf_tgt.max_subsystems; i++) {
		struct nvmf_subsystem *s = g_nvmf_tgt.subsystems[i];
		struct nvmf_ctrlr *c;

		if (!s)
			continue;
		while ((c = TAILQ_FIRST(&s->ctrlrs))) {
			/* Should not happen: every qpair left. Free what remains. */
			TAILQ_REMOVE(&s->ctrlrs, c, link);
			free(c->io_qid_used);
			free(c);
		}
		subsys_free(s);
	}
}
