/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF target internals.
 *
 * Ownership, which is the whole locking story:
 * - The target thread (the app thread) owns the subsystem registry, every
 *   subsystem (namespaces, hosts, listeners), every controller's state
 *   (properties, features, keep alive, async events, logs) and the
 *   listeners' accept pollers. Admin commands therefore run on the target
 *   thread: the admin queue pair's poll group forwards them there and gets
 *   them back by message.
 * - A poll group (one sl_thread per reactor, the io_channel of g_nvmf_tgt)
 *   owns its queue pairs, their sockets, their requests, and one
 *   nvmf_subsystem_pg per subsystem with a bdev channel per namespace. I/O
 *   commands never leave the poll group's thread.
 * - A controller is freed on the target thread once every queue pair that
 *   joined it has left (ctrlr->refs), so queue pairs may keep a plain
 *   pointer to it. Queue pairs are never touched from another thread: the
 *   target thread finds them by broadcasting to all poll groups.
 */
#ifndef SLUICE_NVMF_INTERNAL_H
#define SLUICE_NVMF_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include <jansson.h>

#include "sluice/bdev.h"
#include "sluice/log.h"
#include "sluice/nvmf.h"
#include "sluice/nvmf_spec.h"
#include "sluice/thread.h"

/* glibc's sys/queue.h lacks the removal-safe iterator. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                                                 \
	for ((var) = TAILQ_FIRST(head); (var) && ((tvar) = TAILQ_NEXT(var, field), 1);             \
	     (var) = (tvar))
#endif

#define NVMF_MAX_SUBSYSTEMS 1024
#define NVMF_MAX_NAMESPACES_DEFAULT 32
#define NVMF_MAX_NAMESPACES_LIMIT 1024
#define NVMF_MAX_IOV 32
#define NVMF_ADMIN_ICD_SIZE 8192
#define NVMF_MAX_AER 4
#define NVMF_ERROR_LOG_ENTRIES 64
#define NVMF_KAS_MS 100 /* keep alive granularity reported in KAS, ms */
#define NVMF_DEFAULT_KATO_MS 120000

struct nvmf_qpair;
struct nvmf_ctrlr;
struct nvmf_poll_group;
struct nvmf_transport;

/* ---- Namespaces and subsystems (target thread) ---- */

struct nvmf_ns {
	uint32_t nsid;
	struct nvmf_subsystem *subsys;
	struct sl_bdev_desc *desc;
	struct sl_bdev *bdev;
	uint8_t nguid[16];
	uint8_t eui64[8];
	struct sl_uuid uuid;
	bool removing;
};

struct nvmf_host {
	char nqn[SL_NVMF_NQN_MAX_LEN + 1];
	TAILQ_ENTRY(nvmf_host) link;
};

struct nvmf_listener {
	struct sl_nvmf_listen_addr addr;
	struct nvmf_transport *transport;
	uint16_t portid;
	TAILQ_ENTRY(nvmf_listener) link;
};

enum nvmf_subsystem_state {
	NVMF_SUBSYS_ACTIVE,
	NVMF_SUBSYS_PAUSING,
	NVMF_SUBSYS_PAUSED,
	NVMF_SUBSYS_DELETING,
};

struct nvmf_subsystem {
	uint32_t id; /* index in the target's table and every poll group's sgroups */
	enum sl_nvmf_subtype subtype;
	enum nvmf_subsystem_state state;
	char nqn[SL_NVMF_NQN_MAX_LEN + 1];
	char sn[21];
	char mn[41];
	bool allow_any_host;
	uint32_t max_nsid; /* size of ns[] */
	struct nvmf_ns **ns;
	uint32_t ns_count;
	uint16_t min_cntlid, max_cntlid, next_cntlid;
	TAILQ_HEAD(, nvmf_host) hosts;
	TAILQ_HEAD(, nvmf_listener) listeners;
	TAILQ_HEAD(, nvmf_ctrlr) ctrlrs; /* live ones; destroyed ones leave at once */
	uint32_t num_ctrlrs;		 /* allocated, destroyed or not: freed at refs 0 */
	TAILQ_ENTRY(nvmf_subsystem) link;
	uint32_t busy; /* an RPC reconfiguring it is in flight */
};

/* A subsystem as seen by one poll group: a channel per namespace. */
struct nvmf_ns_pg {
	struct sl_bdev_desc *desc; /* NULL: no such namespace here */
	struct sl_io_channel *ch;
	uint32_t outstanding;
	bool removing; /* drain then release (ns removal) */
	struct sl_io_channel_iter *drain_iter;
};

struct nvmf_subsystem_pg {
	uint32_t num_ns;
	struct nvmf_ns_pg *ns; /* [num_ns], index nsid - 1 */
};

/* ---- Controllers (target thread) ---- */

struct nvmf_ctrlr {
	uint16_t cntlid;
	struct nvmf_subsystem *subsys;
	struct nvmf_qpair *admin_qpair; /* pointer for identity only while connected */
	struct sl_thread *admin_thread;
	char hostnqn[SL_NVMF_NQN_MAX_LEN + 1];
	uint8_t hostid[16];
	uint32_t refs; /* queue pairs joined */
	bool destroying;
	union sl_nvme_cap_register cap;
	union sl_nvme_vs_register vs;
	union sl_nvme_cc_register cc;
	union sl_nvme_csts_register csts;
	uint32_t kato_ms;
	uint64_t last_keep_alive_tsc;
	uint32_t num_io_queues; /* granted by Set Features Number of Queues */
	uint8_t *io_qid_used;	/* [num_io_queues_max + 1] */
	uint32_t num_io_queues_max;
	uint32_t io_qsize_max; /* entries */
	uint32_t async_event_config;
	struct nvmf_request *aer[NVMF_MAX_AER];
	uint32_t num_aer;
	uint32_t pending_events[8]; /* AER cdw0 waiting for a request */
	uint32_t num_pending_events;
	bool ns_changed_masked; /* a NS attribute notice is out; cleared by reading the log */
	uint32_t changed_ns[SL_NVME_CHANGED_NS_LIST_MAX];
	uint32_t num_changed_ns; /* > SL_NVME_CHANGED_NS_LIST_MAX: overflowed */
	struct sl_nvme_error_information_entry errors[NVMF_ERROR_LOG_ENTRIES];
	uint64_t error_count;
	uint32_t num_errors;
	bool vwc_enabled;
	uint64_t discovery_genctr_seen;
	TAILQ_ENTRY(nvmf_ctrlr) link;
};

/* ---- Requests and queue pairs (poll group thread) ---- */

enum nvmf_xfer {
	NVMF_XFER_NONE,
	NVMF_XFER_HOST_TO_CTRLR,
	NVMF_XFER_CTRLR_TO_HOST,
};

struct nvmf_request {
	struct nvmf_qpair *qpair;
	struct sl_nvme_cmd cmd;
	struct sl_nvme_cpl rsp;
	enum nvmf_xfer xfer;
	uint32_t length; /* data bytes */
	int iovcnt;
	struct iovec iov[NVMF_MAX_IOV];
	struct nvmf_ns_pg *ns_pg; /* I/O: namespace the request counts against */
	uint32_t dsm_next;	  /* Dataset Management: next range to deallocate */
	struct sl_bdev_io_wait_entry bdev_wait;
	uint64_t exec_tsc;
	TAILQ_ENTRY(nvmf_request) link;
};

enum nvmf_qpair_state {
	NVMF_QPAIR_UNINITIALIZED, /* waiting for Connect */
	NVMF_QPAIR_CONNECTING,	  /* Connect in flight to the target thread */
	NVMF_QPAIR_ACTIVE,
	NVMF_QPAIR_DISCONNECTING,
};

struct nvmf_transport_ops;

struct nvmf_qpair {
	const struct nvmf_transport_ops *ops;
	struct nvmf_poll_group *group;
	struct nvmf_ctrlr *ctrlr;
	struct nvmf_subsystem_pg *sgroup;
	enum nvmf_qpair_state state;
	uint16_t qid;
	uint16_t sqsize; /* 0's based, from Connect */
	uint16_t sqhd;
	bool sq_flow_control_disabled;
	uint32_t outstanding; /* requests executing in the core or forwarded */
	char trid_peer[80];   /* "addr:port" for logs */
	uint64_t id;
	TAILQ_ENTRY(nvmf_qpair) link;
};

/* ---- Transports ---- */

struct nvmf_transport_opts {
	uint16_t max_queue_depth;
	uint16_t max_qpairs_per_ctrlr;
	uint32_t in_capsule_data_size;
	uint32_t max_io_size;
	uint32_t io_unit_size;
	uint32_t max_aq_depth;
	uint32_t num_shared_buffers;
	uint32_t buf_cache_size;
	bool dif_insert_or_strip;
	bool c2h_success;
	uint32_t sock_priority;
	bool hdgst_allowed; /* transport-specific: digests the target accepts */
	bool ddgst_allowed;
	uint32_t abort_timeout_sec;
	uint32_t acceptor_poll_rate_us;
};

struct nvmf_transport_ops {
	const char *name; /* "TCP" */
	enum sl_nvmf_trtype trtype;
	void (*opts_init)(struct nvmf_transport_opts *opts);
	struct nvmf_transport *(*create)(const struct nvmf_transport_opts *opts);
	void (*destroy)(struct nvmf_transport *transport);
	int (*listen)(struct nvmf_transport *transport, const struct sl_nvmf_listen_addr *addr);
	void (*stop_listen)(struct nvmf_transport *transport,
			    const struct sl_nvmf_listen_addr *addr);
	/* Poll-group side, on the group's thread. */
	void *(*pg_create)(struct nvmf_transport *transport, struct nvmf_poll_group *group);
	void (*pg_destroy)(void *tgroup);
	int (*pg_poll)(void *tgroup);
	/* Hand a new connection (from the accept poller) to a poll group thread. */
	void (*pg_add_conn)(void *tgroup, void *conn);
	/* Finish a request: send data and response. */
	void (*req_complete)(struct nvmf_request *req);
	/* Close the connection (idempotent); the transport calls nvmf_qpair_drained later. */
	void (*qpair_disconnect)(struct nvmf_qpair *qpair);
	void (*qpair_free)(struct nvmf_qpair *qpair);
	/* Local address the connection arrived on (listener checks at Connect). */
	void (*qpair_local_addr)(struct nvmf_qpair *qpair, struct sl_nvmf_listen_addr *addr);
	void (*dump_opts)(struct nvmf_transport *transport, json_t *obj);
	void (*pg_dump_stats)(void *tgroup, json_t *obj);
};

struct nvmf_transport {
	const struct nvmf_transport_ops *ops;
	struct nvmf_transport_opts opts;
	TAILQ_ENTRY(nvmf_transport) link;
};

/* ---- Poll groups ---- */

struct nvmf_pg_transport {
	struct nvmf_transport *transport;
	void *tgroup;
};

struct nvmf_poll_group {
	struct sl_thread *thread;
	struct sl_poller *poller;
	uint32_t index;
	uint32_t num_sgroups;
	struct nvmf_subsystem_pg *sgroups; /* [NVMF_MAX_SUBSYSTEMS] */
	struct nvmf_pg_transport transports[4];
	uint32_t num_transports;
	TAILQ_HEAD(, nvmf_qpair) qpairs;
	/* statistics */
	uint64_t admin_qpairs, io_qpairs, current_admin_qpairs, current_io_qpairs;
	uint64_t pending_bdev_io;
	uint64_t completed_nvme_io;
};

struct nvmf_tgt {
	struct sl_thread *thread;
	uint32_t max_subsystems;
	struct nvmf_subsystem *subsystems[NVMF_MAX_SUBSYSTEMS];
	TAILQ_HEAD(, nvmf_transport) transports;
	struct sl_thread **pg_threads;
	struct nvmf_poll_group **groups; /* written once by each group's thread at start */
	uint32_t num_poll_groups;
	uint32_t next_pg;
	struct sl_poller *kato_poller;
	uint64_t discovery_genctr;
	uint64_t next_qpair_id;
	bool running;
	bool pg_starting; /* the first transport is starting the poll groups */
	uint16_t next_portid;
};

extern struct nvmf_tgt g_nvmf_tgt;
extern struct sl_log_flag SL_LOG_nvmf;

/* tgt.c */
struct nvmf_subsystem *nvmf_tgt_find_subsystem(const char *nqn);
struct nvmf_transport *nvmf_tgt_find_transport(enum sl_nvmf_trtype trtype);
const struct nvmf_transport_ops *nvmf_transport_ops_find(const char *name);
void nvmf_tgt_discovery_changed(void);
/* Target thread: choose the poll group for a new connection and hand it over. */
void nvmf_tgt_new_connection(struct nvmf_transport *transport, void *conn);
void *nvmf_poll_group_get_tgroup(struct nvmf_poll_group *group, struct nvmf_transport *t);
/* Poll group thread: broadcast disconnect of every qpair of ctrlr (NULL qid filter: all). */
void nvmf_tgt_disconnect_ctrlr_qpairs(struct nvmf_ctrlr *ctrlr, bool io_only);

/* qpair.c: generic queue pair life cycle and request dispatch (poll group thread). */
void nvmf_qpair_init(struct nvmf_qpair *qpair, const struct nvmf_transport_ops *ops,
		     struct nvmf_poll_group *group);
void nvmf_request_exec(struct nvmf_request *req);
void nvmf_request_complete(struct nvmf_request *req);
void nvmf_request_set_status(struct nvmf_request *req, int sct, int sc);
/* Transport: the connection is gone; requests still out will come back. */
void nvmf_qpair_disconnect(struct nvmf_qpair *qpair);
/* Transport: a request finished its journey (response sent or dropped). */
void nvmf_qpair_request_done(struct nvmf_qpair *qpair);

/* ctrlr.c (target thread unless noted) */
void nvmf_ctrlr_connect(struct nvmf_request *req);    /* poll group thread */
void nvmf_ctrlr_admin_exec(struct nvmf_request *req); /* poll group thread: forwards */
void nvmf_ctrlr_qpair_left(struct nvmf_qpair *qpair); /* poll group thread: notifies */
void nvmf_ctrlr_destroy(struct nvmf_ctrlr *ctrlr);
void nvmf_ctrlr_ns_changed(struct nvmf_ctrlr *ctrlr, uint32_t nsid);
void nvmf_ctrlr_discovery_changed(struct nvmf_ctrlr *ctrlr);
int nvmf_ctrlr_keep_alive_poll(void *arg);
int nvmf_get_log_discovery(const char *hostnqn, struct iovec *iov, int iovcnt, uint64_t offset,
			   uint32_t length);

/* io.c (poll group thread) */
void nvmf_io_exec(struct nvmf_request *req);

/* subsystem.c (target thread) */
struct nvmf_ns_opts {
	uint32_t nsid; /* 0: first free */
	const char *nguid;
	const char *eui64;
	const char *uuid;
};
int nvmf_subsystem_create(const char *nqn, enum sl_nvmf_subtype subtype, uint32_t max_ns,
			  struct nvmf_subsystem **out, char *err, size_t errlen);
int nvmf_subsystem_delete(struct nvmf_subsystem *s, void (*cb)(void *arg, int rc), void *arg);
int nvmf_subsystem_set_sn(struct nvmf_subsystem *s, const char *sn);
int nvmf_subsystem_set_mn(struct nvmf_subsystem *s, const char *mn);
int nvmf_subsystem_add_ns(struct nvmf_subsystem *s, const char *bdev_name,
			  const struct nvmf_ns_opts *o,
			  void (*cb)(void *arg, int rc, uint32_t nsid), void *arg, char *err,
			  size_t errlen);
int nvmf_subsystem_remove_ns(struct nvmf_subsystem *s, uint32_t nsid,
			     void (*cb)(void *arg, int rc, uint32_t nsid), void *arg);
int nvmf_subsystem_add_host(struct nvmf_subsystem *s, const char *hostnqn, char *err,
			    size_t errlen);
int nvmf_subsystem_remove_host(struct nvmf_subsystem *s, const char *hostnqn);
struct nvmf_listener *nvmf_subsystem_find_listener(struct nvmf_subsystem *s,
						   const struct sl_nvmf_listen_addr *addr);
int nvmf_subsystem_add_listener(struct nvmf_subsystem *s, const struct sl_nvmf_listen_addr *addr,
				char *err, size_t errlen);
int nvmf_subsystem_remove_listener(struct nvmf_subsystem *s,
				   const struct sl_nvmf_listen_addr *addr);
void nvmf_tgt_destroy_all_subsystems(void);
/* tgt.c */
int nvmf_tgt_add_transport(struct nvmf_transport *t, void (*cb)(void *arg, int rc), void *arg);
void nvmf_write_config_json(void *config);
bool nvmf_subsystem_host_allowed(struct nvmf_subsystem *subsys, const char *hostnqn);
bool nvmf_subsystem_listener_allowed(struct nvmf_subsystem *subsys,
				     const struct sl_nvmf_listen_addr *addr);
int nvmf_pg_subsystem_sync(struct nvmf_poll_group *group, struct nvmf_subsystem *subsys);
void nvmf_pg_subsystem_release(struct nvmf_poll_group *group, uint32_t id);
uint32_t nvmf_subsystem_first_active_nsid(struct nvmf_subsystem *subsys);

/* Helpers on iovec buffers. */
void nvmf_iov_copy_in(struct iovec *iov, int iovcnt, uint64_t offset, const void *src, size_t len);
void nvmf_iov_zero(struct iovec *iov, int iovcnt);
size_t nvmf_iov_copy_out(void *dst, size_t len, const struct iovec *iov, int iovcnt);
size_t nvmf_iov_copy_out_at(void *dst, size_t len, const struct iovec *iov, int iovcnt,
			    uint64_t offset);

extern const struct nvmf_transport_ops g_nvmf_tcp_ops;

#endif
