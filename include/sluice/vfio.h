/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI devices in user space through VFIO: sysfs discovery, the container/group
 * (type1) and iommufd + device cdev backends, BAR mmap, config space, reset,
 * and DMA mapping of all env memory into the one IOMMU domain that every
 * opened device shares.
 *
 * Once a device is open, sl_vtoiova() returns the IOVA the devices see: equal
 * to the virtual address when the IOMMU's valid ranges can hold user-space
 * addresses, else an IOVA allocated from those ranges.
 */
#ifndef SLUICE_VFIO_H
#define SLUICE_VFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SL_PCI_BDF_LEN 16 /* "0000:00:05.0" + NUL, rounded */

struct sl_pci_device_info {
	char bdf[SL_PCI_BDF_LEN]; /* canonical domain:bus:dev.fn */
	uint16_t vendor_id;
	uint16_t device_id;
	uint32_t class_code; /* 24 bits: base class, subclass, prog-if */
	int iommu_group;     /* -1: no IOMMU group (IOMMU off) */
	char driver[32];     /* bound driver, "" when none */
	int numa_node;	     /* -1 when unknown */
};

/* Canonicalise "0:5.0", "00:05.0" or "0000:00:05.0" into out. -EINVAL. */
int sl_pci_bdf_parse(const char *str, char out[SL_PCI_BDF_LEN]);

/* Read a device's sysfs data. -ENODEV when no such device exists. */
int sl_pci_device_get_info(const char *bdf, struct sl_pci_device_info *info);

/*
 * Call fn for every PCI device in BDF order; a non-zero return stops the walk
 * and is returned.
 */
int sl_pci_enumerate(int (*fn)(void *ctx, const struct sl_pci_device_info *info), void *ctx);

#define SL_PCI_CLASS_NVME 0x010802

enum sl_vfio_backend {
	SL_VFIO_BACKEND_AUTO,	   /* iommufd when /dev/iommu and the device cdev exist */
	SL_VFIO_BACKEND_CONTAINER, /* /dev/vfio/vfio + /dev/vfio/<group>, type1(v2) */
	SL_VFIO_BACKEND_IOMMUFD,   /* /dev/iommu + /dev/vfio/devices/vfioN */
};

/*
 * Choose the backend for devices opened from now on (the environment variable
 * SLUICE_VFIO_BACKEND=auto|container|iommufd sets the default). All open
 * devices share one domain, so the choice only applies while none is open.
 * -EBUSY when devices are open, -EINVAL.
 */
int sl_vfio_set_backend(enum sl_vfio_backend backend);
int sl_vfio_backend_from_string(const char *s, enum sl_vfio_backend *backend);
const char *sl_vfio_backend_name(enum sl_vfio_backend backend);

struct sl_vfio_device;

/*
 * Open a vfio-pci bound device, attach it to the shared IOMMU domain (creating
 * it and mapping every env memory region on first use), enable memory space
 * and bus mastering and reset it. Needs sl_env_init with hugepages. Errors
 * are logged with what to do: -ENODEV (no such device), -EBUSY (not bound to
 * vfio-pci, or group not viable), -ENXIO (no IOMMU), -EACCES, -ENOMEM.
 */
int sl_vfio_device_open(const char *bdf, struct sl_vfio_device **dev);
/* Reset, unmap BARs, detach; the domain goes away with the last device. */
void sl_vfio_device_close(struct sl_vfio_device *dev);

const char *sl_vfio_device_bdf(const struct sl_vfio_device *dev);
enum sl_vfio_backend sl_vfio_device_backend(const struct sl_vfio_device *dev);

/*
 * Map a memory BAR. The mmap-able parts are mapped at their offsets inside a
 * reserved range of the BAR's size; the rest (the MSI-X table) stays
 * inaccessible. *size gets the BAR size. Mapped once, unmapped on close.
 * -EINVAL (no such memory BAR), -ENOTSUP (not mmap-able).
 */
int sl_vfio_bar_map(struct sl_vfio_device *dev, int bar, void **addr, size_t *size);

/* Config space access; returns 0 or a negative errno (short access: -EIO). */
int sl_vfio_cfg_read(struct sl_vfio_device *dev, void *buf, size_t len, uint32_t offset);
int sl_vfio_cfg_write(struct sl_vfio_device *dev, const void *buf, size_t len, uint32_t offset);

/* VFIO_DEVICE_RESET (function level or whatever vfio-pci has). -ENOTTY when unsupported. */
int sl_vfio_device_reset(struct sl_vfio_device *dev);

/* Backend of the shared domain; SL_VFIO_BACKEND_AUTO while no device is open. */
enum sl_vfio_backend sl_vfio_domain_backend(void);

/* True when IOVA = VA for all mapped memory (false: IOVAs are allocated). */
bool sl_vfio_iova_is_va(void);

/* Force IOVA allocation even where IOVA = VA would fit (tests; env SLUICE_VFIO_IOVA=alloc). */
void sl_vfio_force_iova_alloc(bool force);

#ifdef __cplusplus
}
#endif
#endif
