/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SLUICE_VFIO_INTERNAL_H
#define SLUICE_VFIO_INTERNAL_H

#include "sluice/log.h"
#include "sluice/vfio.h"

#include <stdint.h>

#define PCI_SYSFS "/sys/bus/pci/devices"

/* The shared IOMMU domain: a type1 container or an iommufd IOAS. */
struct vfio_domain {
	enum sl_vfio_backend backend;
	int container_fd; /* container backend */
	int iommufd;	  /* iommufd backend */
	uint32_t ioas_id;
	bool identity; /* IOVA = VA */
	uint64_t iova_pgsizes;
	uint32_t dma_avail; /* type1 mapping limit, 0 unknown */
	size_t nr_ranges;
	struct {
		uint64_t start;
		uint64_t last;
	} ranges[16];
};

/* dma.c: map env memory into the domain and translate VA to IOVA. */
int vfio_dma_start(struct vfio_domain *dom);
void vfio_dma_stop(struct vfio_domain *dom);

/* vfio.c: one mapping in the domain's IOMMU page tables. */
int vfio_domain_map(struct vfio_domain *dom, void *va, uint64_t len, uint64_t iova);
int vfio_domain_unmap(struct vfio_domain *dom, uint64_t len, uint64_t iova);

/* Read a small sysfs attribute file into buf (newline stripped). */
int vfio_sysfs_read(const char *path, char *buf, size_t len);

#endif
