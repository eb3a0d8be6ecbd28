/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCIe transport: transport IDs, enumeration of vfio-pci bound controllers,
 * attach (BAR0 through lib/vfio) and detach.
 */
#include "nvme_internal.h"

#include "sluice/vfio.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int sl_nvme_transport_id_parse(struct sl_nvme_transport_id *trid, const char *str)
{
	char buf[256], *save = NULL, *tok;

	memset(trid, 0, sizeof(*trid));
	if (!str || strlen(str) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", str);
	for (tok = strtok_r(buf, " \t\n,", &save); tok; tok = strtok_r(NULL, " \t\n,", &save)) {
		char *val = strpbrk(tok, ":=");

		if (!val || !val[1])
			return -EINVAL;
		*val++ = '\0';
		if (!strcasecmp(tok, "trtype")) {
			if (strlen(val) >= sizeof(trid->trtype))
				return -EINVAL;
			snprintf(trid->trtype, sizeof(trid->trtype), "%s", val);
		} else if (!strcasecmp(tok, "traddr")) {
			if (strlen(val) >= sizeof(trid->traddr))
				return -EINVAL;
			snprintf(trid->traddr, sizeof(trid->traddr), "%s", val);
		} else {
			return -EINVAL;
		}
	}
	if (!trid->trtype[0])
		snprintf(trid->trtype, sizeof(trid->trtype), "PCIe");
	if (strcasecmp(trid->trtype, "PCIe") || !trid->traddr[0])
		return -EINVAL;
	return 0;
}

struct enum_ctx {
	int (*fn)(void *ctx, const char *bdf);
	void *ctx;
};

static int enum_one(void *arg, const struct sl_pci_device_info *info)
{
	struct enum_ctx *e = arg;

	if (info->class_code != SL_PCI_CLASS_NVME || strcmp(info->driver, "vfio-pci"))
		return 0;
	return e->fn(e->ctx, info->bdf);
}

int sl_nvme_pcie_enumerate(int (*fn)(void *ctx, const char *bdf), void *ctx)
{
	struct enum_ctx e = { .fn = fn, .ctx = ctx };

	return sl_pci_enumerate(enum_one, &e);
}

int sl_nvme_ctrlr_connect(const struct sl_nvme_transport_id *trid,
			  const struct sl_nvme_ctrlr_opts *opts, struct sl_nvme_ctrlr **out)
{
	struct sl_nvme_ctrlr *ctrlr;
	char bdf[SL_PCI_BDF_LEN];
	void *bar;
	size_t bar_size;
	int rc;

	*out = NULL;
	if (strcasecmp(trid->trtype, "PCIe")) {
		SL_ERRLOG("transport '%s' is not supported (PCIe only)", trid->trtype);
		return -ENOTSUP;
	}
	if (sl_pci_bdf_parse(trid->traddr, bdf)) {
		SL_ERRLOG("'%s' is not a PCI address", trid->traddr);
		return -EINVAL;
	}
	ctrlr = calloc(1, sizeof(*ctrlr));
	if (!ctrlr)
		return -ENOMEM;
	snprintf(ctrlr->traddr, sizeof(ctrlr->traddr), "%s", bdf);
	rc = sl_vfio_device_open(bdf, &ctrlr->vdev);
	if (rc)
		goto out_free;
	rc = sl_vfio_bar_map(ctrlr->vdev, 0, &bar, &bar_size);
	if (rc) {
		SL_ERRLOG("%s: mapping BAR0 failed: %d", bdf, rc);
		goto out_close;
	}
	if (bar_size < 0x2000) {
		SL_ERRLOG("%s: BAR0 of %zu bytes is too small for an NVMe controller", bdf,
			  bar_size);
		rc = -ENODEV;
		goto out_close;
	}
	rc = nvme_ctrlr_construct(ctrlr, bar, opts, &nvme_env_mem_ops);
	if (rc)
		goto out_destruct;
	if (0x1000 + 2 * (uint64_t)(ctrlr->opts.num_io_queues + 1) * 4 * ctrlr->dstrd_words >
	    bar_size) {
		/* Doorbells beyond the mapped BAR: ask for fewer queues. */
		ctrlr->opts.num_io_queues =
			(uint32_t)((bar_size - 0x1000) / (8 * ctrlr->dstrd_words)) - 1;
	}
	rc = nvme_ctrlr_enable(ctrlr);
	if (rc)
		goto out_destruct;
	rc = nvme_ctrlr_start(ctrlr);
	if (rc)
		goto out_disable;
	*out = ctrlr;
	return 0;

out_disable:
	nvme_ctrlr_disable(ctrlr);
out_destruct:
	nvme_ctrlr_destruct(ctrlr);
out_close:
	sl_vfio_device_close(ctrlr->vdev);
out_free:
	free(ctrlr);
	return rc;
}

int sl_nvme_ctrlr_detach(struct sl_nvme_ctrlr *ctrlr)
{
	int rc;

	if (!ctrlr)
		return 0;
	if (ctrlr->io_qpairs)
		SL_WARNLOG("%s: detaching with I/O qpairs still allocated", ctrlr->traddr);
	pthread_mutex_lock(&ctrlr->lock);
	ctrlr->failed = true;
	nvme_qpair_fail_all(ctrlr->adminq, SL_NVME_SC_ABORTED_SQ_DELETION, true);
	rc = nvme_ctrlr_shutdown(ctrlr);
	/* Leave it disabled too: the next user starts from CC.EN = 0 either way. */
	nvme_ctrlr_disable(ctrlr);
	pthread_mutex_unlock(&ctrlr->lock);
	nvme_ctrlr_destruct(ctrlr);
	sl_vfio_device_close(ctrlr->vdev);
	free(ctrlr);
	return rc;
}
