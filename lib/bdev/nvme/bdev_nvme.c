/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme bdev: one bdev per active namespace of a controller attached through
 * lib/nvme ("<name>n<nsid>"). The controller is the io_device: every thread
 * that does I/O gets its own I/O queue pair as its channel and reaps it with
 * a busy poller, so bdev I/O becomes a submission queue entry on the calling
 * thread's own queue, with no lock and no copy. The admin queue (AERs, admin
 * passthrough) is polled on the app thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "sluice/bdev_module.h"
#include "sluice/log.h"
#include "sluice/nvme.h"
#include "sluice/rpc.h"
#include "sluice/thread.h"
#include "sluice/util.h"

#define NVME_ADMIN_POLL_US 10000
#define NVME_MAX_WRITE_ZEROES_BLOCKS 65536u /* NLB is 16 bits, 0's based */

struct nvme_bdev_ctrlr;

struct nvme_bdev {
	struct sl_bdev bdev;
	struct nvme_bdev_ctrlr *nctrlr;
	struct sl_nvme_ns *ns;
	uint32_t nsid;
	TAILQ_ENTRY(nvme_bdev) link;
};

struct nvme_bdev_ctrlr {
	char *name;
	struct sl_nvme_transport_id trid;
	struct sl_nvme_ctrlr *ctrlr;
	struct sl_poller *admin_poller;
	TAILQ_HEAD(, nvme_bdev) bdevs;
	uint32_t num_bdevs; /* registered and not yet destructed */
	bool detaching;
	void (*detach_cb)(void *arg, int rc);
	void *detach_arg;
	TAILQ_ENTRY(nvme_bdev_ctrlr) link;
};

/* A thread's channel to a controller: its own I/O queue pair. */
struct nvme_channel {
	struct sl_nvme_qpair *qpair;
	struct sl_poller *poller;
};

/* Per-I/O context; DMA memory (bdev_ios come from an env mempool). */
struct nvme_io_ctx {
	struct sl_nvme_dsm_range range; /* first: 16-byte aligned, the device reads it */
	uint64_t next_lba;		/* write zeroes / unmap done in chunks */
	uint64_t blocks_left;
	struct sl_nvme_cpl admin_cpl; /* admin passthrough: handed to the I/O's thread */
};

static TAILQ_HEAD(, nvme_bdev_ctrlr) g_nvme_ctrlrs = TAILQ_HEAD_INITIALIZER(g_nvme_ctrlrs);
static struct sl_bdev_module g_nvme_module;

static struct nvme_bdev_ctrlr *nctrlr_find(const char *name)
{
	struct nvme_bdev_ctrlr *n;

	TAILQ_FOREACH(n, &g_nvme_ctrlrs, link)
		if (strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

/* ---- channels ---- */

static int nvme_channel_poll(void *arg)
{
	struct nvme_channel *ch = arg;

	return sl_nvme_qpair_process_completions(ch->qpair, 0) > 0 ? SL_POLLER_BUSY
								   : SL_POLLER_IDLE;
}

static int nvme_channel_create(void *io_device, void *ctx_buf)
{
	struct nvme_bdev_ctrlr *n = io_device;
	struct nvme_channel *ch = ctx_buf;

	ch->qpair = sl_nvme_ctrlr_alloc_io_qpair(n->ctrlr, NULL);
	if (!ch->qpair) {
		SL_ERRLOG("nvme bdev %s: no I/O queue pair for this thread", n->name);
		return -ENOMEM;
	}
	ch->poller = sl_poller_register_named(nvme_channel_poll, ch, 0, "nvme_qpair");
	if (!ch->poller) {
		sl_nvme_ctrlr_free_io_qpair(ch->qpair);
		return -ENOMEM;
	}
	return 0;
}

static void nvme_channel_destroy(void *io_device, void *ctx_buf)
{
	struct nvme_channel *ch = ctx_buf;

	(void)io_device;
	sl_poller_unregister(&ch->poller);
	sl_nvme_ctrlr_free_io_qpair(ch->qpair);
}

/* ---- I/O ---- */

static void nvme_io_done(void *arg, const struct sl_nvme_cpl *cpl)
{
	struct sl_bdev_io *bdev_io = arg;

	if (sl_nvme_cpl_is_error(cpl))
		sl_bdev_io_complete_nvme_status(bdev_io, cpl->cdw0, cpl->status.sct,
						cpl->status.sc);
	else if (bdev_io->type == SL_BDEV_IO_TYPE_NVME_IO)
		sl_bdev_io_complete_nvme_status(bdev_io, cpl->cdw0, SL_NVME_SCT_GENERIC,
						SL_NVME_SC_SUCCESS);
	else
		sl_bdev_io_complete(bdev_io, SL_BDEV_IO_STATUS_SUCCESS);
}

static int nvme_chunk_submit(struct sl_bdev_io *bdev_io);

/* Write zeroes and unmap go in chunks the commands can carry, one after another. */
static void nvme_chunk_done(void *arg, const struct sl_nvme_cpl *cpl)
{
	struct sl_bdev_io *bdev_io = arg;
	int rc;

	if (sl_nvme_cpl_is_error(cpl) ||
	    !((struct nvme_io_ctx *)bdev_io->driver_ctx)->blocks_left) {
		nvme_io_done(arg, cpl);
		return;
	}
	rc = nvme_chunk_submit(bdev_io);
	if (rc)
		sl_bdev_io_complete(bdev_io, SL_BDEV_IO_STATUS_FAILED);
}

static int nvme_chunk_submit(struct sl_bdev_io *bdev_io)
{
	struct nvme_bdev *nb = bdev_io->bdev->ctxt;
	struct nvme_channel *ch = sl_io_channel_get_ctx(sl_bdev_io_get_io_channel(bdev_io));
	struct nvme_io_ctx *io = (struct nvme_io_ctx *)bdev_io->driver_ctx;
	uint64_t n;

	if (bdev_io->type == SL_BDEV_IO_TYPE_WRITE_ZEROES) {
		n = SL_MIN(io->blocks_left, (uint64_t)NVME_MAX_WRITE_ZEROES_BLOCKS);
		io->blocks_left -= n;
		io->next_lba += n;
		return sl_nvme_ns_cmd_write_zeroes(nb->ns, ch->qpair, io->next_lba - n, (uint32_t)n,
						   nvme_chunk_done, bdev_io);
	}
	n = SL_MIN(io->blocks_left, (uint64_t)UINT32_MAX);
	io->range.attributes = 0;
	io->range.starting_lba = io->next_lba;
	io->range.length = (uint32_t)n;
	io->blocks_left -= n;
	io->next_lba += n;
	return sl_nvme_ns_cmd_dsm(nb->ns, ch->qpair, &io->range, 1, SL_NVME_DSM_ATTR_DEALLOCATE,
				  nvme_chunk_done, bdev_io);
}

static void admin_done_on_thread(void *arg)
{
	struct sl_bdev_io *bdev_io = arg;
	struct nvme_io_ctx *io = (struct nvme_io_ctx *)bdev_io->driver_ctx;

	sl_bdev_io_complete_nvme_status(bdev_io, io->admin_cpl.cdw0, io->admin_cpl.status.sct,
					io->admin_cpl.status.sc);
}

/* Admin completions arrive on the app thread; the I/O completes on its own. */
static void nvme_admin_done(void *arg, const struct sl_nvme_cpl *cpl)
{
	struct sl_bdev_io *bdev_io = arg;
	struct nvme_io_ctx *io = (struct nvme_io_ctx *)bdev_io->driver_ctx;

	io->admin_cpl = *cpl;
	if (sl_thread_send_msg(sl_bdev_io_get_thread(bdev_io), admin_done_on_thread, bdev_io))
		SL_ERRLOG("nvme bdev: cannot return an admin passthrough to its thread");
}

static void nvme_submit_request(struct sl_io_channel *ich, struct sl_bdev_io *bdev_io)
{
	struct nvme_bdev *nb = bdev_io->bdev->ctxt;
	struct nvme_channel *ch = sl_io_channel_get_ctx(ich);
	struct nvme_io_ctx *io = (struct nvme_io_ctx *)bdev_io->driver_ctx;
	uint64_t lba = bdev_io->u.bdev.offset_blocks;
	uint32_t nlb = (uint32_t)bdev_io->u.bdev.num_blocks;
	int rc;

	switch (bdev_io->type) {
	case SL_BDEV_IO_TYPE_READ:
		rc = sl_nvme_ns_cmd_readv(nb->ns, ch->qpair, lba, nlb, bdev_io->u.bdev.iovs,
					  bdev_io->u.bdev.iovcnt, nvme_io_done, bdev_io);
		break;
	case SL_BDEV_IO_TYPE_WRITE:
		rc = sl_nvme_ns_cmd_writev(nb->ns, ch->qpair, lba, nlb, bdev_io->u.bdev.iovs,
					   bdev_io->u.bdev.iovcnt, nvme_io_done, bdev_io);
		break;
	case SL_BDEV_IO_TYPE_FLUSH:
		rc = sl_nvme_ns_cmd_flush(nb->ns, ch->qpair, nvme_io_done, bdev_io);
		break;
	case SL_BDEV_IO_TYPE_WRITE_ZEROES:
	case SL_BDEV_IO_TYPE_UNMAP:
		io->next_lba = lba;
		io->blocks_left = bdev_io->u.bdev.num_blocks;
		rc = nvme_chunk_submit(bdev_io);
		break;
	case SL_BDEV_IO_TYPE_RESET:
		rc = sl_nvme_ctrlr_reset(nb->nctrlr->ctrlr);
		sl_bdev_io_complete(bdev_io,
				    rc ? SL_BDEV_IO_STATUS_FAILED : SL_BDEV_IO_STATUS_SUCCESS);
		return;
	case SL_BDEV_IO_TYPE_NVME_IO: {
		struct sl_nvme_cmd cmd = bdev_io->u.nvme_passthru.cmd;

		cmd.nsid = nb->nsid;
		rc = sl_nvme_ctrlr_cmd_io_raw(ch->qpair, &cmd, bdev_io->u.nvme_passthru.buf,
					      (uint32_t)bdev_io->u.nvme_passthru.nbytes,
					      nvme_io_done, bdev_io);
		break;
	}
	case SL_BDEV_IO_TYPE_NVME_ADMIN:
		rc = sl_nvme_ctrlr_cmd_admin_raw(nb->nctrlr->ctrlr, &bdev_io->u.nvme_passthru.cmd,
						 bdev_io->u.nvme_passthru.buf,
						 (uint32_t)bdev_io->u.nvme_passthru.nbytes,
						 nvme_admin_done, bdev_io);
		break;
	default:
		rc = -ENOTSUP;
		break;
	}
	if (rc == -ENOMEM || rc == -EAGAIN)
		/* Queue full or the controller is resetting: the core retries. */
		sl_bdev_io_complete(bdev_io, SL_BDEV_IO_STATUS_NOMEM);
	else if (rc)
		sl_bdev_io_complete(bdev_io, SL_BDEV_IO_STATUS_FAILED);
}

static bool nvme_io_type_supported(void *ctx, enum sl_bdev_io_type type)
{
	struct nvme_bdev *nb = ctx;
	const struct sl_nvme_ctrlr_data *cd = sl_nvme_ctrlr_get_data(nb->nctrlr->ctrlr);

	switch (type) {
	case SL_BDEV_IO_TYPE_READ:
	case SL_BDEV_IO_TYPE_WRITE:
	case SL_BDEV_IO_TYPE_RESET:
	case SL_BDEV_IO_TYPE_NVME_IO:
	case SL_BDEV_IO_TYPE_NVME_ADMIN:
		return true;
	case SL_BDEV_IO_TYPE_FLUSH:
		return cd->vwc & 1;
	case SL_BDEV_IO_TYPE_WRITE_ZEROES:
		return cd->oncs & SL_NVME_ONCS_WRITE_ZEROES;
	case SL_BDEV_IO_TYPE_UNMAP:
		return cd->oncs & SL_NVME_ONCS_DSM;
	default:
		return false;
	}
}

static struct sl_io_channel *nvme_get_io_channel(void *ctx)
{
	struct nvme_bdev *nb = ctx;

	return sl_get_io_channel(nb->nctrlr);
}

static void nvme_dump_info_json(void *ctx, json_t *o)
{
	struct nvme_bdev *nb = ctx;
	const struct sl_nvme_ctrlr_data *cd = sl_nvme_ctrlr_get_data(nb->nctrlr->ctrlr);
	char sn[21], mn[41];

	snprintf(sn, sizeof(sn), "%.20s", cd->sn);
	snprintf(mn, sizeof(mn), "%.40s", cd->mn);
	json_object_set_new(o, "nvme",
			    json_pack("{s:s,s:s,s:i,s:s,s:s}", "trtype", "PCIe", "traddr",
				      nb->nctrlr->trid.traddr, "nsid", (json_int_t)nb->nsid,
				      "serial_number", sn, "model_number", mn));
}

/* ---- controllers ---- */

static void nctrlr_free(struct nvme_bdev_ctrlr *n)
{
	sl_poller_unregister(&n->admin_poller);
	if (n->ctrlr)
		sl_nvme_ctrlr_detach(n->ctrlr);
	free(n->name);
	free(n);
}

static void nctrlr_unregistered(void *io_device)
{
	struct nvme_bdev_ctrlr *n = io_device;
	void (*cb)(void *arg, int rc) = n->detach_cb;
	void *arg = n->detach_arg;

	nctrlr_free(n);
	if (cb)
		cb(arg, 0);
}

/* Detach once the last bdev of a detaching controller is gone. */
static void nctrlr_maybe_release(struct nvme_bdev_ctrlr *n)
{
	if (!n->detaching || n->num_bdevs)
		return;
	TAILQ_REMOVE(&g_nvme_ctrlrs, n, link);
	sl_io_device_unregister(n, nctrlr_unregistered);
}

static int nvme_destruct(void *ctx)
{
	struct nvme_bdev *nb = ctx;
	struct nvme_bdev_ctrlr *n = nb->nctrlr;

	TAILQ_REMOVE(&n->bdevs, nb, link);
	free(nb->bdev.name);
	free(nb);
	n->num_bdevs--;
	nctrlr_maybe_release(n);
	return 0;
}

static const struct sl_bdev_fn_table g_nvme_fn_table = {
	.destruct = nvme_destruct,
	.submit_request = nvme_submit_request,
	.io_type_supported = nvme_io_type_supported,
	.get_io_channel = nvme_get_io_channel,
	.dump_info_json = nvme_dump_info_json,
};

static int nvme_admin_poll(void *arg)
{
	struct nvme_bdev_ctrlr *n = arg;

	return sl_nvme_ctrlr_process_admin_completions(n->ctrlr) > 0 ? SL_POLLER_BUSY
								     : SL_POLLER_IDLE;
}

static int nvme_bdev_create(struct nvme_bdev_ctrlr *n, uint32_t nsid)
{
	struct sl_nvme_ns *ns = sl_nvme_ctrlr_get_ns(n->ctrlr, nsid);
	const struct sl_nvme_ctrlr_data *cd = sl_nvme_ctrlr_get_data(n->ctrlr);
	const struct sl_nvme_ns_data *nd = sl_nvme_ns_get_data(ns);
	static const uint8_t zero[16];
	struct nvme_bdev *nb = calloc(1, sizeof(*nb));
	int rc;

	if (!nb)
		return -ENOMEM;
	nb->nctrlr = n;
	nb->ns = ns;
	nb->nsid = nsid;
	if (asprintf(&nb->bdev.name, "%sn%u", n->name, nsid) < 0) {
		free(nb);
		return -ENOMEM;
	}
	nb->bdev.product_name = "NVMe disk";
	nb->bdev.blocklen = sl_nvme_ns_get_sector_size(ns);
	nb->bdev.blockcnt = sl_nvme_ns_get_num_sectors(ns);
	nb->bdev.write_cache = cd->vwc & 1;
	nb->bdev.max_rw_blocks = sl_nvme_ctrlr_get_max_xfer_size(n->ctrlr) / nb->bdev.blocklen;
	/* PRPs need dword-aligned buffers; without SGLs, page-aligned ones keep PRPs possible. */
	nb->bdev.required_alignment = sl_nvme_ctrlr_sgl_supported(n->ctrlr) ? 4 : 4096;
	if (memcmp(nd->nguid, zero, sizeof(zero)) != 0)
		memcpy(&nb->bdev.uuid, nd->nguid, sizeof(nb->bdev.uuid));
	nb->bdev.ctxt = nb;
	nb->bdev.fn_table = &g_nvme_fn_table;
	nb->bdev.module = &g_nvme_module;
	rc = sl_bdev_register(&nb->bdev);
	if (rc) {
		SL_ERRLOG("nvme bdev: cannot register %s: %s", nb->bdev.name, strerror(-rc));
		free(nb->bdev.name);
		free(nb);
		return rc;
	}
	TAILQ_INSERT_TAIL(&n->bdevs, nb, link);
	n->num_bdevs++;
	return 0;
}

static int nvme_attach(const char *name, const struct sl_nvme_transport_id *trid,
		       struct nvme_bdev_ctrlr **out, char *err, size_t errlen)
{
	struct nvme_bdev_ctrlr *n;
	int rc;

	if (nctrlr_find(name)) {
		snprintf(err, errlen, "a controller named %s exists already", name);
		return -EEXIST;
	}
	TAILQ_FOREACH(n, &g_nvme_ctrlrs, link)
		if (strcmp(n->trid.traddr, trid->traddr) == 0) {
			snprintf(err, errlen, "%s is attached already as %s", trid->traddr,
				 n->name);
			return -EEXIST;
		}
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name))) {
		free(n);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n->trid = *trid;
	TAILQ_INIT(&n->bdevs);
	rc = sl_nvme_ctrlr_connect(trid, NULL, &n->ctrlr);
	if (rc) {
		snprintf(err, errlen, "cannot attach %s: %s (the log says why)", trid->traddr,
			 strerror(-rc));
		free(n->name);
		free(n);
		return rc;
	}
	n->admin_poller =
		sl_poller_register_named(nvme_admin_poll, n, NVME_ADMIN_POLL_US, "nvme_admin");
	sl_io_device_register(n, nvme_channel_create, nvme_channel_destroy,
			      sizeof(struct nvme_channel), n->name);
	TAILQ_INSERT_TAIL(&g_nvme_ctrlrs, n, link);
	for (uint32_t nsid = sl_nvme_ctrlr_first_active_ns(n->ctrlr); nsid;
	     nsid = sl_nvme_ctrlr_next_active_ns(n->ctrlr, nsid)) {
		rc = nvme_bdev_create(n, nsid);
		if (rc)
			SL_ERRLOG("nvme bdev %s: namespace %u not exposed", name, nsid);
	}
	*out = n;
	return 0;
}

static int nvme_detach(struct nvme_bdev_ctrlr *n, void (*cb)(void *arg, int rc), void *arg)
{
	struct nvme_bdev *nb, *tmp;

	if (n->detaching)
		return -EBUSY;
	n->detaching = true;
	n->detach_cb = cb;
	n->detach_arg = arg;
	if (!n->num_bdevs) {
		nctrlr_maybe_release(n);
		return 0;
	}
	/* The last destruct (maybe inside the call) detaches the controller. */
	for (nb = TAILQ_FIRST(&n->bdevs); nb; nb = tmp) {
		tmp = TAILQ_NEXT(nb, link);
		sl_bdev_unregister(&nb->bdev, NULL, NULL);
	}
	return 0;
}

/* ---- module ---- */

static size_t nvme_get_ctx_size(void)
{
	return sizeof(struct nvme_io_ctx);
}

static void nvme_config_json(json_t *config)
{
	struct nvme_bdev_ctrlr *n;

	TAILQ_FOREACH(n, &g_nvme_ctrlrs, link)
		json_array_append_new(config, json_pack("{s:s,s:{s:s,s:s,s:s}}", "method",
							"bdev_nvme_attach_controller", "params",
							"name", n->name, "trtype", "PCIe", "traddr",
							n->trid.traddr));
}

static void nvme_module_fini(void)
{
	struct nvme_bdev_ctrlr *n;

	/* The core unregistered every bdev first: no channel is left. */
	while ((n = TAILQ_FIRST(&g_nvme_ctrlrs))) {
		TAILQ_REMOVE(&g_nvme_ctrlrs, n, link);
		sl_io_device_unregister(n, NULL);
		nctrlr_free(n);
	}
}

static struct sl_bdev_module g_nvme_module = {
	.name = "nvme",
	.module_fini = nvme_module_fini,
	.config_json = nvme_config_json,
	.get_ctx_size = nvme_get_ctx_size,
};
SL_BDEV_MODULE_REGISTER(g_nvme_module)

/* ---- RPCs ---- */

struct attach_params {
	char *name;
	char *trtype;
	char *traddr;
	char *adrfam;
	char *trsvcid;
	char *subnqn;
	char *hostnqn;
};

static const struct sl_json_field g_attach_fields[] = {
	SL_JSON_FIELD(struct attach_params, name, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct attach_params, trtype, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct attach_params, traddr, SL_JSON_STRING, false),
	SL_JSON_FIELD(struct attach_params, adrfam, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct attach_params, trsvcid, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct attach_params, subnqn, SL_JSON_STRING, true),
	SL_JSON_FIELD(struct attach_params, hostnqn, SL_JSON_STRING, true),
};

static void rpc_bdev_nvme_attach_controller(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct attach_params p = { 0 };
	struct sl_nvme_transport_id trid;
	struct nvme_bdev_ctrlr *n;
	struct nvme_bdev *nb;
	char tr[160], err[256];
	json_t *names;
	int rc;

	if (sl_rpc_decode_params(req, params, g_attach_fields, SL_COUNTOF(g_attach_fields), &p))
		return;
	if (strcasecmp(p.trtype, "PCIe") != 0) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: trtype %s is not supported (PCIe is; "
				      "the NVMe/TCP initiator is a later issue)",
				      p.trtype);
		goto out;
	}
	snprintf(tr, sizeof(tr), "trtype:PCIe traddr:%s", p.traddr);
	if (sl_nvme_transport_id_parse(&trid, tr)) {
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: traddr '%s' is not a PCI address",
				      p.traddr);
		goto out;
	}
	rc = nvme_attach(p.name, &trid, &n, err, sizeof(err));
	if (rc) {
		sl_jsonrpc_send_error(req, rc, "%s", err);
		goto out;
	}
	names = json_array();
	TAILQ_FOREACH(nb, &n->bdevs, link)
		json_array_append_new(names, json_string(nb->bdev.name));
	sl_jsonrpc_send_result(req, names);
out:
	sl_json_free_decoded(g_attach_fields, SL_COUNTOF(g_attach_fields), &p);
}
SL_RPC_REGISTER("bdev_nvme_attach_controller", rpc_bdev_nvme_attach_controller, SL_RPC_RUNTIME)

struct name_params {
	char *name;
};

static const struct sl_json_field g_name_fields[] = {
	SL_JSON_FIELD(struct name_params, name, SL_JSON_STRING, false),
};

static void detached(void *arg, int rc)
{
	struct sl_jsonrpc_request *req = arg;

	if (rc)
		sl_jsonrpc_send_errno(req, rc, "detach");
	else
		sl_jsonrpc_send_bool(req, true);
}

/* Decode {"name"} and find that controller, or answer the error. */
static struct nvme_bdev_ctrlr *nctrlr_from_params(struct sl_jsonrpc_request *req,
						  const json_t *params)
{
	struct name_params p = { 0 };
	struct nvme_bdev_ctrlr *n;

	if (sl_rpc_decode_params(req, params, g_name_fields, SL_COUNTOF(g_name_fields), &p))
		return NULL;
	n = nctrlr_find(p.name);
	if (!n)
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: no NVMe controller named %s", p.name);
	sl_json_free_decoded(g_name_fields, SL_COUNTOF(g_name_fields), &p);
	return n;
}

static void rpc_bdev_nvme_detach_controller(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct nvme_bdev_ctrlr *n = nctrlr_from_params(req, params);
	int rc;

	if (!n)
		return;
	rc = nvme_detach(n, detached, req);
	if (rc)
		sl_jsonrpc_send_errno(req, rc, "detach");
}
SL_RPC_REGISTER("bdev_nvme_detach_controller", rpc_bdev_nvme_detach_controller, SL_RPC_RUNTIME)

static void rpc_bdev_nvme_reset_controller(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct nvme_bdev_ctrlr *n = nctrlr_from_params(req, params);
	int rc;

	if (!n)
		return;
	/* I/O in flight completes with an error and is retried by its owner. */
	rc = sl_nvme_ctrlr_reset(n->ctrlr);
	if (rc)
		sl_jsonrpc_send_errno(req, rc, "reset");
	else
		sl_jsonrpc_send_bool(req, true);
}
SL_RPC_REGISTER("bdev_nvme_reset_controller", rpc_bdev_nvme_reset_controller, SL_RPC_RUNTIME)

struct get_ctrlrs_params {
	char *name;
};

static const struct sl_json_field g_get_ctrlrs_fields[] = {
	SL_JSON_FIELD(struct get_ctrlrs_params, name, SL_JSON_STRING, true),
};

static void rpc_bdev_nvme_get_controllers(struct sl_jsonrpc_request *req, const json_t *params)
{
	struct get_ctrlrs_params p = { 0 };
	struct nvme_bdev_ctrlr *n;
	json_t *arr;

	if (sl_rpc_decode_params(req, params, g_get_ctrlrs_fields, SL_COUNTOF(g_get_ctrlrs_fields),
				 &p))
		return;
	arr = json_array();
	TAILQ_FOREACH(n, &g_nvme_ctrlrs, link) {
		const struct sl_nvme_ctrlr_data *cd = sl_nvme_ctrlr_get_data(n->ctrlr);
		char sn[21], mn[41];
		json_t *bdevs = json_array();
		struct nvme_bdev *nb;

		if (p.name && strcmp(p.name, n->name))
			continue;
		snprintf(sn, sizeof(sn), "%.20s", cd->sn);
		snprintf(mn, sizeof(mn), "%.40s", cd->mn);
		TAILQ_FOREACH(nb, &n->bdevs, link)
			json_array_append_new(bdevs, json_string(nb->bdev.name));
		json_array_append_new(
			arr, json_pack("{s:s,s:[{s:s,s:{s:s,s:s},s:i,s:s,s:s}],s:o}", "name",
				       n->name, "ctrlrs", "state",
				       sl_nvme_ctrlr_is_failed(n->ctrlr) ? "failed" : "enabled",
				       "trid", "trtype", "PCIe", "traddr", n->trid.traddr, "cntlid",
				       (json_int_t)cd->cntlid, "serial_number", sn, "model_number",
				       mn, "bdevs", bdevs));
	}
	if (p.name && json_array_size(arr) == 0) {
		json_decref(arr);
		sl_jsonrpc_send_error(req, SL_JSONRPC_ERROR_INVALID_PARAMS,
				      "Invalid parameters: no NVMe controller named %s", p.name);
	} else {
		sl_jsonrpc_send_result(req, arr);
	}
	sl_json_free_decoded(g_get_ctrlrs_fields, SL_COUNTOF(g_get_ctrlrs_fields), &p);
}
SL_RPC_REGISTER("bdev_nvme_get_controllers", rpc_bdev_nvme_get_controllers, SL_RPC_RUNTIME)
