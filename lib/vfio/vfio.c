/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VFIO devices: the container/group (type1) and iommufd + cdev backends, one
 * shared IOMMU domain for all open devices, BAR mmap honouring the sparse-mmap
 * capability, config space and reset.
 */
#include "vfio_internal.h"

#include "sluice/env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#define MAX_BARS 6

struct vfio_group {
	int id;
	int fd;
	int refs;
	struct vfio_group *next;
};

struct sl_vfio_device {
	char bdf[SL_PCI_BDF_LEN];
	int fd;
	struct vfio_group *group; /* container backend */
	uint64_t cfg_offset;
	struct {
		void *addr;
		size_t size;
	} bars[MAX_BARS];
	struct sl_vfio_device *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vfio_domain g_dom = { .container_fd = -1, .iommufd = -1 };
static struct sl_vfio_device *g_devices;
static struct vfio_group *g_groups;
static enum sl_vfio_backend g_backend_choice = SL_VFIO_BACKEND_AUTO;
static bool g_backend_choice_set;

SL_LOG_REGISTER_COMPONENT(vfio)

const char *sl_vfio_backend_name(enum sl_vfio_backend backend)
{
	switch (backend) {
	case SL_VFIO_BACKEND_CONTAINER:
		return "container";
	case SL_VFIO_BACKEND_IOMMUFD:
		return "iommufd";
	default:
		return "auto";
	}
}

int sl_vfio_backend_from_string(const char *s, enum sl_vfio_backend *backend)
{
	if (!s)
		return -EINVAL;
	if (!strcmp(s, "auto"))
		*backend = SL_VFIO_BACKEND_AUTO;
	else if (!strcmp(s, "container") || !strcmp(s, "group") || !strcmp(s, "type1"))
		*backend = SL_VFIO_BACKEND_CONTAINER;
	else if (!strcmp(s, "iommufd") || !strcmp(s, "cdev"))
		*backend = SL_VFIO_BACKEND_IOMMUFD;
	else
		return -EINVAL;
	return 0;
}

int sl_vfio_set_backend(enum sl_vfio_backend backend)
{
	int rc = 0;

	if (backend > SL_VFIO_BACKEND_IOMMUFD)
		return -EINVAL;
	pthread_mutex_lock(&g_lock);
	if (g_devices) {
		rc = -EBUSY;
	} else {
		g_backend_choice = backend;
		g_backend_choice_set = true;
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

static enum sl_vfio_backend backend_wanted(void)
{
	const char *env = getenv("SLUICE_VFIO_BACKEND");
	enum sl_vfio_backend b;

	if (g_backend_choice_set || !env)
		return g_backend_choice;
	if (sl_vfio_backend_from_string(env, &b)) {
		SL_WARNLOG("SLUICE_VFIO_BACKEND=%s is not auto, container or iommufd; using auto",
			   env);
		return SL_VFIO_BACKEND_AUTO;
	}
	return b;
}

/* "/dev/vfio/devices/vfioN" of a vfio-pci device, or "" when the kernel has no cdev. */
static void device_cdev_path(const char *bdf, char *out, size_t len)
{
	char dir[PATH_MAX];
	DIR *d;
	struct dirent *e;

	out[0] = '\0';
	snprintf(dir, sizeof(dir), PCI_SYSFS "/%s/vfio-dev", bdf);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strncmp(e->d_name, "vfio", 4) && strlen(e->d_name) < 32) {
			snprintf(out, len, "/dev/vfio/devices/%.32s", e->d_name);
			break;
		}
	}
	closedir(d);
}

static void log_group_members(int group, const char *bdf)
{
	char dir[PATH_MAX], list[512] = "";
	size_t used = 0;
	DIR *d;
	struct dirent *e;

	snprintf(dir, sizeof(dir), "/sys/kernel/iommu_groups/%d/devices", group);
	d = opendir(dir);
	if (d) {
		while ((e = readdir(d))) {
			struct sl_pci_device_info info;

			if (e->d_name[0] == '.' || !strcmp(e->d_name, bdf))
				continue;
			if (sl_pci_device_get_info(e->d_name, &info))
				continue;
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s (%s)",
						 used ? ", " : "", info.bdf,
						 info.driver[0] ? info.driver : "no driver");
			if (used >= sizeof(list))
				break;
		}
		closedir(d);
	}
	SL_ERRLOG("%s: IOMMU group %d is not viable: every device in it must be bound to "
		  "vfio-pci or to no driver; other devices in the group: %s",
		  bdf, group, list[0] ? list : "(none found)");
}

static int open_errno(const char *what, const char *bdf)
{
	int rc = -errno;

	if (rc == -EACCES || rc == -EPERM)
		SL_ERRLOG("%s: permission denied opening %s: run as root or give this user the "
			  "device node",
			  bdf, what);
	else
		SL_ERRLOG("%s: cannot open %s: %s", bdf, what, strerror(-rc));
	return rc == -EPERM ? -EACCES : rc;
}

/* ---- container / group backend ---- */

static int container_domain_create(const char *bdf)
{
	int fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return open_errno("/dev/vfio/vfio", bdf);
	if (ioctl(fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		SL_ERRLOG("%s: unsupported VFIO API version", bdf);
		close(fd);
		return -ENOTSUP;
	}
	if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0 &&
	    ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0) {
		SL_ERRLOG("%s: the VFIO container supports neither type1v2 nor type1 IOMMUs", bdf);
		close(fd);
		return -ENOTSUP;
	}
	g_dom.container_fd = fd;
	return 0;
}

static int container_set_iommu_and_info(const char *bdf)
{
	int type = ioctl(g_dom.container_fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0
			   ? VFIO_TYPE1v2_IOMMU
			   : VFIO_TYPE1_IOMMU;
	struct vfio_iommu_type1_info *info;
	uint32_t argsz = sizeof(*info);

	if (ioctl(g_dom.container_fd, VFIO_SET_IOMMU, type)) {
		SL_ERRLOG("%s: VFIO_SET_IOMMU(type1%s) failed: %s", bdf,
			  type == VFIO_TYPE1v2_IOMMU ? "v2" : "", strerror(errno));
		return -errno;
	}
	for (;;) {
		info = calloc(1, argsz);
		if (!info)
			return -ENOMEM;
		info->argsz = argsz;
		if (ioctl(g_dom.container_fd, VFIO_IOMMU_GET_INFO, info)) {
			int rc = -errno;

			SL_ERRLOG("%s: VFIO_IOMMU_GET_INFO failed: %s", bdf, strerror(-rc));
			free(info);
			return rc;
		}
		if (info->argsz <= argsz)
			break;
		argsz = info->argsz;
		free(info);
	}
	g_dom.iova_pgsizes = info->iova_pgsizes;
	g_dom.nr_ranges = 0;
	if ((info->flags & VFIO_IOMMU_INFO_CAPS) && info->cap_offset) {
		uint32_t off = info->cap_offset;

		while (off && off + sizeof(struct vfio_info_cap_header) <= argsz) {
			struct vfio_info_cap_header *h = (void *)((char *)info + off);

			if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
				struct vfio_iommu_type1_info_cap_iova_range *r = (void *)h;

				for (uint32_t i = 0; i < r->nr_iovas && g_dom.nr_ranges < 16; i++) {
					g_dom.ranges[g_dom.nr_ranges].start =
						r->iova_ranges[i].start;
					g_dom.ranges[g_dom.nr_ranges].last = r->iova_ranges[i].end;
					g_dom.nr_ranges++;
				}
			} else if (h->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
				g_dom.dma_avail =
					((struct vfio_iommu_type1_info_dma_avail *)h)->avail;
			}
			off = h->next;
		}
	}
	free(info);
	if (!g_dom.nr_ranges) {
		/* Old kernels: no range capability, assume the whole 64-bit space. */
		g_dom.ranges[0].start = 0;
		g_dom.ranges[0].last = UINT64_MAX;
		g_dom.nr_ranges = 1;
	}
	return 0;
}

static int group_attach(const char *bdf, int group_id, struct vfio_group **out)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_group *g;
	char path[64];
	int fd;

	for (g = g_groups; g; g = g->next) {
		if (g->id == group_id) {
			g->refs++;
			*out = g;
			return 0;
		}
	}
	snprintf(path, sizeof(path), "/dev/vfio/%d", group_id);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EBUSY) {
			SL_ERRLOG("%s: %s is busy: another process (or this one through iommufd) "
				  "uses the group",
				  bdf, path);
			return -EBUSY;
		}
		return open_errno(path, bdf);
	}
	if (ioctl(fd, VFIO_GROUP_GET_STATUS, &status)) {
		SL_ERRLOG("%s: VFIO_GROUP_GET_STATUS failed: %s", bdf, strerror(errno));
		close(fd);
		return -EIO;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		log_group_members(group_id, bdf);
		close(fd);
		return -EBUSY;
	}
	if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &g_dom.container_fd)) {
		int rc = -errno;

		SL_ERRLOG("%s: VFIO_GROUP_SET_CONTAINER failed: %s", bdf, strerror(-rc));
		close(fd);
		return rc;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		ioctl(fd, VFIO_GROUP_UNSET_CONTAINER);
		close(fd);
		return -ENOMEM;
	}
	g->id = group_id;
	g->fd = fd;
	g->refs = 1;
	g->next = g_groups;
	g_groups = g;
	*out = g;
	return 0;
}

static void group_put(struct vfio_group *g)
{
	if (!g || --g->refs)
		return;
	for (struct vfio_group **p = &g_groups; *p; p = &(*p)->next) {
		if (*p == g) {
			*p = g->next;
			break;
		}
	}
	ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER);
	close(g->fd);
	free(g);
}

static int container_open_device(struct sl_vfio_device *dev, int group_id, bool first)
{
	int rc;

	if (first) {
		rc = container_domain_create(dev->bdf);
		if (rc)
			return rc;
	}
	rc = group_attach(dev->bdf, group_id, &dev->group);
	if (rc)
		return rc;
	if (first) {
		/* VFIO_SET_IOMMU needs a group in the container. */
		rc = container_set_iommu_and_info(dev->bdf);
		if (rc)
			goto out_group;
	}
	dev->fd = ioctl(dev->group->fd, VFIO_GROUP_GET_DEVICE_FD, dev->bdf);
	if (dev->fd < 0) {
		rc = -errno;
		SL_ERRLOG("%s: VFIO_GROUP_GET_DEVICE_FD failed: %s", dev->bdf, strerror(-rc));
		goto out_group;
	}
	return 0;
out_group:
	group_put(dev->group);
	dev->group = NULL;
	return rc;
}

/* ---- iommufd backend ---- */

static int iommufd_read_ranges(const char *bdf)
{
	struct iommu_iova_range r[16];
	struct iommu_ioas_iova_ranges q = {
		.size = sizeof(q),
		.ioas_id = g_dom.ioas_id,
		.num_iovas = 16,
		.allowed_iovas = (uintptr_t)r,
	};

	if (ioctl(g_dom.iommufd, IOMMU_IOAS_IOVA_RANGES, &q)) {
		SL_ERRLOG("%s: IOMMU_IOAS_IOVA_RANGES failed: %s", bdf, strerror(errno));
		return -errno;
	}
	g_dom.nr_ranges = q.num_iovas < 16 ? q.num_iovas : 16;
	for (size_t i = 0; i < g_dom.nr_ranges; i++) {
		g_dom.ranges[i].start = r[i].start;
		g_dom.ranges[i].last = r[i].last;
	}
	g_dom.iova_pgsizes = q.out_iova_alignment ? ~(q.out_iova_alignment - 1) : ~0xfffULL;
	return 0;
}

static int iommufd_open_device(struct sl_vfio_device *dev, const char *cdev, bool first)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	int rc;

	if (first) {
		struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };

		g_dom.iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
		if (g_dom.iommufd < 0)
			return open_errno("/dev/iommu", dev->bdf);
		if (ioctl(g_dom.iommufd, IOMMU_IOAS_ALLOC, &alloc)) {
			rc = -errno;
			SL_ERRLOG("%s: IOMMU_IOAS_ALLOC failed: %s", dev->bdf, strerror(-rc));
			close(g_dom.iommufd);
			g_dom.iommufd = -1;
			return rc;
		}
		g_dom.ioas_id = alloc.out_ioas_id;
	}
	dev->fd = open(cdev, O_RDWR | O_CLOEXEC);
	if (dev->fd < 0) {
		if (errno == EBUSY)
			SL_ERRLOG("%s: %s is busy: the device is in use (group opened elsewhere?)",
				  dev->bdf, cdev);
		return errno == EBUSY ? -EBUSY : open_errno(cdev, dev->bdf);
	}
	bind.iommufd = g_dom.iommufd;
	if (ioctl(dev->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
		rc = -errno;
		SL_ERRLOG("%s: VFIO_DEVICE_BIND_IOMMUFD failed: %s", dev->bdf, strerror(-rc));
		goto out_close;
	}
	attach.pt_id = g_dom.ioas_id;
	if (ioctl(dev->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) {
		rc = -errno;
		SL_ERRLOG("%s: VFIO_DEVICE_ATTACH_IOMMUFD_PT failed: %s", dev->bdf, strerror(-rc));
		goto out_close;
	}
	/* The allowed ranges only become real once a device is attached. */
	if (first) {
		rc = iommufd_read_ranges(dev->bdf);
		if (rc)
			goto out_close;
	}
	return 0;
out_close:
	close(dev->fd);
	dev->fd = -1;
	return rc;
}

static void domain_destroy(void)
{
	if (g_dom.iommufd >= 0) {
		struct iommu_destroy d = { .size = sizeof(d), .id = g_dom.ioas_id };

		ioctl(g_dom.iommufd, IOMMU_DESTROY, &d);
		close(g_dom.iommufd);
	}
	if (g_dom.container_fd >= 0)
		close(g_dom.container_fd);
	g_dom.iommufd = -1;
	g_dom.container_fd = -1;
	g_dom.nr_ranges = 0;
}

/* ---- device ---- */

static int cfg_region(struct sl_vfio_device *dev)
{
	struct vfio_region_info info = { .argsz = sizeof(info),
					 .index = VFIO_PCI_CONFIG_REGION_INDEX };

	if (ioctl(dev->fd, VFIO_DEVICE_GET_REGION_INFO, &info)) {
		SL_ERRLOG("%s: config space region info failed: %s", dev->bdf, strerror(errno));
		return -errno;
	}
	dev->cfg_offset = info.offset;
	return 0;
}

int sl_vfio_cfg_read(struct sl_vfio_device *dev, void *buf, size_t len, uint32_t offset)
{
	ssize_t n = pread(dev->fd, buf, len, (off_t)(dev->cfg_offset + offset));

	return n < 0 ? -errno : (size_t)n == len ? 0 : -EIO;
}

int sl_vfio_cfg_write(struct sl_vfio_device *dev, const void *buf, size_t len, uint32_t offset)
{
	ssize_t n = pwrite(dev->fd, buf, len, (off_t)(dev->cfg_offset + offset));

	return n < 0 ? -errno : (size_t)n == len ? 0 : -EIO;
}

int sl_vfio_device_reset(struct sl_vfio_device *dev)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	if (ioctl(dev->fd, VFIO_DEVICE_GET_INFO, &info) == 0 &&
	    !(info.flags & VFIO_DEVICE_FLAGS_RESET))
		return -ENOTTY;
	if (ioctl(dev->fd, VFIO_DEVICE_RESET))
		return -errno;
	return 0;
}

static int enable_bus_master(struct sl_vfio_device *dev)
{
	uint16_t cmd;
	int rc = sl_vfio_cfg_read(dev, &cmd, sizeof(cmd), 4);

	if (rc)
		return rc;
	cmd |= 0x2 | 0x4; /* memory space, bus master */
	return sl_vfio_cfg_write(dev, &cmd, sizeof(cmd), 4);
}

static int check_bound(const char *bdf, struct sl_pci_device_info *info)
{
	int rc = sl_pci_device_get_info(bdf, info);

	if (rc == -EINVAL) {
		SL_ERRLOG("'%s' is not a PCI address (domain:bus:device.function)", bdf);
		return rc;
	}
	if (rc) {
		SL_ERRLOG("%s: no such PCI device", bdf);
		return -ENODEV;
	}
	if (strcmp(info->driver, "vfio-pci")) {
		SL_ERRLOG("%s: bound to %s, not vfio-pci: run scripts/setup.sh (as root; "
			  "PCI_ALLOWED=%s to bind only this device)",
			  info->bdf, info->driver[0] ? info->driver : "no driver", info->bdf);
		return -EBUSY;
	}
	if (info->iommu_group < 0) {
		SL_ERRLOG("%s: no IOMMU group: the IOMMU is not enabled (intel_iommu=on or "
			  "amd_iommu=on on the kernel command line, VT-d/AMD-Vi in the firmware)",
			  info->bdf);
		return -ENXIO;
	}
	return 0;
}

int sl_vfio_device_open(const char *bdf_in, struct sl_vfio_device **out)
{
	struct sl_pci_device_info info;
	struct sl_vfio_device *dev;
	char cdev[PATH_MAX];
	enum sl_vfio_backend backend;
	bool first;
	int rc;

	*out = NULL;
	rc = check_bound(bdf_in, &info);
	if (rc)
		return rc;
	if (!sl_env_is_initialized() || sl_env_no_huge()) {
		SL_ERRLOG("%s: DMA needs the environment running on hugepages: run "
			  "scripts/setup.sh to reserve them",
			  info.bdf);
		return -ENOMEM;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	snprintf(dev->bdf, sizeof(dev->bdf), "%s", info.bdf);
	dev->fd = -1;

	pthread_mutex_lock(&g_lock);
	for (struct sl_vfio_device *d = g_devices; d; d = d->next) {
		if (!strcmp(d->bdf, dev->bdf)) {
			SL_ERRLOG("%s: already open", dev->bdf);
			rc = -EEXIST;
			goto out_unlock;
		}
	}
	first = g_devices == NULL;
	device_cdev_path(dev->bdf, cdev, sizeof(cdev));
	if (first) {
		backend = backend_wanted();
		if (backend == SL_VFIO_BACKEND_AUTO)
			backend = cdev[0] && access("/dev/iommu", F_OK) == 0
					  ? SL_VFIO_BACKEND_IOMMUFD
					  : SL_VFIO_BACKEND_CONTAINER;
		memset(&g_dom, 0, sizeof(g_dom));
		g_dom.container_fd = -1;
		g_dom.iommufd = -1;
		g_dom.backend = backend;
	} else {
		backend = g_dom.backend;
	}
	if (backend == SL_VFIO_BACKEND_IOMMUFD) {
		if (!cdev[0] || access("/dev/iommu", F_OK)) {
			SL_ERRLOG("%s: the iommufd backend needs /dev/iommu and a VFIO device cdev "
				  "(CONFIG_IOMMUFD, CONFIG_VFIO_DEVICE_CDEV); this kernel has %s",
				  dev->bdf, cdev[0] ? "no /dev/iommu" : "no cdev for the device");
			rc = -ENOTSUP;
			goto out_domain;
		}
		rc = iommufd_open_device(dev, cdev, first);
	} else {
		rc = container_open_device(dev, info.iommu_group, first);
	}
	if (rc)
		goto out_domain;
	if (first) {
		rc = vfio_dma_start(&g_dom);
		if (rc)
			goto out_close_dev;
	}
	rc = cfg_region(dev);
	if (rc)
		goto out_dma;
	rc = sl_vfio_device_reset(dev);
	if (rc && rc != -ENOTTY)
		SL_WARNLOG("%s: VFIO_DEVICE_RESET failed: %s", dev->bdf, strerror(-rc));
	rc = enable_bus_master(dev);
	if (rc) {
		SL_ERRLOG("%s: cannot enable memory space and bus mastering: %s", dev->bdf,
			  strerror(-rc));
		goto out_dma;
	}
	dev->next = g_devices;
	g_devices = dev;
	pthread_mutex_unlock(&g_lock);
	SL_INFOLOG("%s: opened through the %s backend (IOVA %s)", dev->bdf,
		   sl_vfio_backend_name(backend), g_dom.identity ? "= VA" : "allocated");
	*out = dev;
	return 0;

out_dma:
	if (first)
		vfio_dma_stop(&g_dom);
out_close_dev:
	close(dev->fd);
	group_put(dev->group);
out_domain:
	if (first)
		domain_destroy();
out_unlock:
	pthread_mutex_unlock(&g_lock);
	free(dev);
	return rc;
}

void sl_vfio_device_close(struct sl_vfio_device *dev)
{

	if (!dev)
		return;
	pthread_mutex_lock(&g_lock);
	for (struct sl_vfio_device **p = &g_devices; *p; p = &(*p)->next) {
		if (*p == dev) {
			*p = dev->next;
			break;
		}
	}
	/*
	 * The reset stops DMA before the memory leaves the domain (a function
	 * reset clears bus mastering). Clearing bus mastering by hand first made
	 * QEMU 7.2's NVMe model crash on the next attach after its reset.
	 */
	sl_vfio_device_reset(dev);
	for (int i = 0; i < MAX_BARS; i++)
		if (dev->bars[i].addr)
			munmap(dev->bars[i].addr, dev->bars[i].size);
	close(dev->fd);
	group_put(dev->group);
	if (!g_devices) {
		vfio_dma_stop(&g_dom);
		domain_destroy();
	}
	pthread_mutex_unlock(&g_lock);
	free(dev);
}

const char *sl_vfio_device_bdf(const struct sl_vfio_device *dev)
{
	return dev->bdf;
}

enum sl_vfio_backend sl_vfio_device_backend(const struct sl_vfio_device *dev)
{
	(void)dev;
	return g_dom.backend;
}

enum sl_vfio_backend sl_vfio_domain_backend(void)
{
	return g_devices ? g_dom.backend : SL_VFIO_BACKEND_AUTO;
}

bool sl_vfio_iova_is_va(void)
{
	return g_dom.identity;
}

int sl_vfio_bar_map(struct sl_vfio_device *dev, int bar, void **addr, size_t *size)
{
	struct vfio_region_info *info;
	uint32_t argsz = sizeof(*info);
	char *base;
	int rc = 0;

	if (bar < 0 || bar >= MAX_BARS)
		return -EINVAL;
	if (dev->bars[bar].addr) {
		*addr = dev->bars[bar].addr;
		*size = dev->bars[bar].size;
		return 0;
	}
	for (;;) {
		info = calloc(1, argsz);
		if (!info)
			return -ENOMEM;
		info->argsz = argsz;
		info->index = (uint32_t)bar;
		if (ioctl(dev->fd, VFIO_DEVICE_GET_REGION_INFO, info)) {
			rc = -errno;
			free(info);
			return rc;
		}
		if (info->argsz <= argsz)
			break;
		argsz = info->argsz;
		free(info);
	}
	if (!info->size) {
		rc = -EINVAL;
		goto out_free;
	}
	if (!(info->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		SL_ERRLOG("%s: BAR%d cannot be mmap-ed", dev->bdf, bar);
		rc = -ENOTSUP;
		goto out_free;
	}
	/* Reserve the whole BAR, then map only the parts VFIO allows (never the MSI-X table). */
	base = mmap(NULL, info->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		rc = -errno;
		goto out_free;
	}
	{
		struct vfio_region_sparse_mmap_area whole = { .offset = 0, .size = info->size };
		struct vfio_region_sparse_mmap_area *areas = &whole;
		uint32_t nr = 1;
		uint32_t off = (info->flags & VFIO_REGION_INFO_FLAG_CAPS) ? info->cap_offset : 0;

		while (off && off + sizeof(struct vfio_info_cap_header) <= argsz) {
			struct vfio_info_cap_header *h = (void *)((char *)info + off);

			if (h->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
				struct vfio_region_info_cap_sparse_mmap *s = (void *)h;

				areas = s->areas;
				nr = s->nr_areas;
				break;
			}
			off = h->next;
		}
		for (uint32_t i = 0; i < nr; i++) {
			void *p;

			if (!areas[i].size)
				continue;
			if (areas[i].offset + areas[i].size > info->size) {
				rc = -EINVAL;
				break;
			}
			p = mmap(base + areas[i].offset, areas[i].size, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, dev->fd,
				 (off_t)(info->offset + areas[i].offset));
			if (p == MAP_FAILED) {
				rc = -errno;
				SL_ERRLOG("%s: mmap of BAR%d [0x%llx+0x%llx] failed: %s", dev->bdf,
					  bar, (unsigned long long)areas[i].offset,
					  (unsigned long long)areas[i].size, strerror(-rc));
				break;
			}
		}
	}
	if (rc) {
		munmap(base, info->size);
		goto out_free;
	}
	dev->bars[bar].addr = base;
	dev->bars[bar].size = info->size;
	*addr = base;
	*size = info->size;
out_free:
	free(info);
	return rc;
}

/* ---- DMA map/unmap primitives for dma.c ---- */

int vfio_domain_map(struct vfio_domain *dom, void *va, uint64_t len, uint64_t iova)
{
	if (dom->backend == SL_VFIO_BACKEND_IOMMUFD) {
		struct iommu_ioas_map m = {
			.size = sizeof(m),
			.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
				 IOMMU_IOAS_MAP_WRITEABLE,
			.ioas_id = dom->ioas_id,
			.user_va = (uintptr_t)va,
			.length = len,
			.iova = iova,
		};

		return ioctl(dom->iommufd, IOMMU_IOAS_MAP, &m) ? -errno : 0;
	} else {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m),
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uintptr_t)va,
			.iova = iova,
			.size = len,
		};

		return ioctl(dom->container_fd, VFIO_IOMMU_MAP_DMA, &m) ? -errno : 0;
	}
}

int vfio_domain_unmap(struct vfio_domain *dom, uint64_t len, uint64_t iova)
{
	if (dom->backend == SL_VFIO_BACKEND_IOMMUFD) {
		struct iommu_ioas_unmap u = {
			.size = sizeof(u), .ioas_id = dom->ioas_id, .iova = iova, .length = len
		};

		return ioctl(dom->iommufd, IOMMU_IOAS_UNMAP, &u) ? -errno : 0;
	} else {
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u),
							.iova = iova,
							.size = len };

		return ioctl(dom->container_fd, VFIO_IOMMU_UNMAP_DMA, &u) ? -errno : 0;
	}
}
