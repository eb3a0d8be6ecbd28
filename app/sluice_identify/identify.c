/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice_identify: print Identify Controller and Identify Namespace data of
 * PCIe NVMe controllers bound to vfio-pci (like spdk identify / nvme id-ctrl).
 *
 *   sluice_identify [-r 'trtype:PCIe traddr:0000:00:05.0'] [-V container|iommufd] [-s MB]
 */
#include "sluice/env.h"
#include "sluice/log.h"
#include "sluice/nvme.h"
#include "sluice/vfio.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRIDS 32

static struct sl_nvme_transport_id g_trids[MAX_TRIDS];
static int g_num_trids;
static int g_failures;

static void usage(const char *prog)
{
	printf("usage: %s [options]\n"
	       "  -r TRID   controller to identify, 'trtype:PCIe traddr:DOMAIN:BUS:DEV.FN'\n"
	       "            (repeatable; default: every NVMe controller bound to vfio-pci)\n"
	       "  -V NAME   VFIO backend: auto (default), container or iommufd\n"
	       "  -s MB     hugepage memory to reserve (default: grow on demand)\n"
	       "  -L FLAG   enable a debug log flag (vfio, nvme)\n"
	       "  -h        this help\n",
	       prog);
}

/* Fixed-width space-padded identify strings, printed without the padding. */
static void print_str(const char *label, const char *s, size_t len)
{
	size_t n = len;

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\0'))
		n--;
	printf("%-32s %.*s\n", label, (int)n, s);
}

static void print_ctrlr(struct sl_nvme_ctrlr *ctrlr)
{
	const struct sl_nvme_ctrlr_data *cd = sl_nvme_ctrlr_get_data(ctrlr);
	union sl_nvme_cap_register cap = { .raw = sl_nvme_ctrlr_get_cap(ctrlr) };
	uint32_t vs = sl_nvme_ctrlr_get_vs(ctrlr);
	uint32_t nsid, count = 0;

	printf("=====================================================\n");
	printf("NVMe Controller at %s\n", sl_nvme_ctrlr_get_traddr(ctrlr));
	printf("=====================================================\n");
	printf("%-32s %s\n", "VFIO Backend:", sl_vfio_backend_name(sl_vfio_domain_backend()));
	printf("%-32s %s\n", "IOVA Mode:", sl_vfio_iova_is_va() ? "va" : "allocated");
	printf("%-32s 0x%04x\n", "Vendor ID:", cd->vid);
	printf("%-32s 0x%04x\n", "Subsystem Vendor ID:", cd->ssvid);
	print_str("Serial Number:", cd->sn, sizeof(cd->sn));
	print_str("Model Number:", cd->mn, sizeof(cd->mn));
	print_str("Firmware Version:", cd->fr, sizeof(cd->fr));
	printf("%-32s %u.%u.%u\n", "NVMe Specification Version:", vs >> 16, (vs >> 8) & 0xff,
	       vs & 0xff);
	printf("%-32s %u\n", "Controller ID:", cd->cntlid);
	printf("%-32s %u\n", "Maximum Queue Entries:", (unsigned)cap.bits.mqes + 1);
	printf("%-32s %u bytes\n", "Doorbell Stride:", 4u << cap.bits.dstrd);
	printf("%-32s %u ms\n", "Ready Timeout:", (unsigned)cap.bits.to * 500);
	printf("%-32s %u\n", "I/O Queues Granted:", sl_nvme_ctrlr_get_num_io_queues(ctrlr));
	printf("%-32s %u KiB\n",
	       "Max Data Transfer Size:", sl_nvme_ctrlr_get_max_xfer_size(ctrlr) / 1024);
	printf("%-32s %s\n", "SGL Supported:", sl_nvme_ctrlr_sgl_supported(ctrlr) ? "yes" : "no");
	printf("%-32s %s\n", "Volatile Write Cache:", cd->vwc & 1 ? "present" : "not present");
	printf("%-32s 0x%04x\n", "Optional NVM Commands (ONCS):", cd->oncs);
	printf("%-32s %u\n", "Number of Namespaces:", cd->nn);
	print_str("Subsystem NQN:", cd->subnqn, sizeof(cd->subnqn));
	for (nsid = sl_nvme_ctrlr_first_active_ns(ctrlr); nsid;
	     nsid = sl_nvme_ctrlr_next_active_ns(ctrlr, nsid))
		count++;
	printf("%-32s %u\n", "Active Namespaces:", count);
	for (nsid = sl_nvme_ctrlr_first_active_ns(ctrlr); nsid;
	     nsid = sl_nvme_ctrlr_next_active_ns(ctrlr, nsid)) {
		struct sl_nvme_ns *ns = sl_nvme_ctrlr_get_ns(ctrlr, nsid);
		const struct sl_nvme_ns_data *nd = sl_nvme_ns_get_data(ns);
		uint64_t bytes = sl_nvme_ns_get_num_sectors(ns) * sl_nvme_ns_get_sector_size(ns);

		printf("Namespace ID:%u\n", nsid);
		printf("  %-30s %llu (%llu MiB)\n", "Size (in LBAs):", (unsigned long long)nd->nsze,
		       (unsigned long long)(bytes >> 20));
		printf("  %-30s %llu\n", "Capacity (in LBAs):", (unsigned long long)nd->ncap);
		printf("  %-30s %llu\n", "Utilization (in LBAs):", (unsigned long long)nd->nuse);
		printf("  %-30s %u\n", "LBA Data Size:", sl_nvme_ns_get_sector_size(ns));
		printf("  %-30s %u\n", "Number of LBA Formats:", nd->nlbaf + 1u);
		printf("  %-30s %s\n", "Thin Provisioning:", nd->nsfeat & 1 ? "yes" : "no");
	}
}

static int identify_one(const char *traddr)
{
	struct sl_nvme_transport_id trid = { .trtype = "PCIe" };
	struct sl_nvme_ctrlr *ctrlr;
	int rc;

	snprintf(trid.traddr, sizeof(trid.traddr), "%s", traddr);
	rc = sl_nvme_ctrlr_connect(&trid, NULL, &ctrlr);
	if (rc) {
		fprintf(stderr, "sluice_identify: %s: attach failed: %s\n", traddr, strerror(-rc));
		g_failures++;
		return 0;
	}
	print_ctrlr(ctrlr);
	rc = sl_nvme_ctrlr_detach(ctrlr);
	if (rc) {
		fprintf(stderr, "sluice_identify: %s: shutdown failed: %s\n", traddr,
			strerror(-rc));
		g_failures++;
	}
	return 0;
}

static int enum_cb(void *ctx, const char *bdf)
{
	int *found = ctx;

	(*found)++;
	return identify_one(bdf);
}

int main(int argc, char **argv)
{
	struct sl_env_opts opts;
	enum sl_vfio_backend backend;
	int ch, rc, found = 0;

	sl_env_opts_init(&opts);
	opts.name = "sluice_identify";
	opts.quiet = true;
	while ((ch = getopt(argc, argv, "r:V:s:L:h")) != -1) {
		switch (ch) {
		case 'r':
			if (g_num_trids == MAX_TRIDS ||
			    sl_nvme_transport_id_parse(&g_trids[g_num_trids], optarg)) {
				fprintf(stderr, "sluice_identify: bad transport ID '%s'\n", optarg);
				return 2;
			}
			g_num_trids++;
			break;
		case 'V':
			if (sl_vfio_backend_from_string(optarg, &backend) ||
			    sl_vfio_set_backend(backend)) {
				fprintf(stderr, "sluice_identify: bad VFIO backend '%s'\n", optarg);
				return 2;
			}
			break;
		case 's':
			opts.mem_size_mb = strtoul(optarg, NULL, 0);
			break;
		case 'L':
			if (sl_log_set_flag(optarg)) {
				fprintf(stderr, "sluice_identify: unknown log flag '%s'\n", optarg);
				return 2;
			}
			sl_log_set_print_level(SL_LOG_DEBUG);
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 2;
		}
	}
	rc = sl_env_init(&opts);
	if (rc) {
		fprintf(stderr, "sluice_identify: environment init failed: %s\n", strerror(-rc));
		return 1;
	}
	if (g_num_trids) {
		for (int i = 0; i < g_num_trids; i++)
			identify_one(g_trids[i].traddr);
	} else {
		sl_nvme_pcie_enumerate(enum_cb, &found);
		if (!found) {
			fprintf(stderr, "sluice_identify: no NVMe controller is bound to vfio-pci: "
					"run scripts/setup.sh\n");
			g_failures++;
		}
	}
	sl_env_fini();
	return g_failures ? 1 : 0;
}
