/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI discovery through sysfs: BDF, IDs, class, IOMMU group, driver, NUMA node.
 */
#include "vfio_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int vfio_sysfs_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

static int sysfs_read_ul(const char *bdf, const char *attr, unsigned long *val)
{
	char path[PATH_MAX], buf[64], *end;

	snprintf(path, sizeof(path), PCI_SYSFS "/%s/%s", bdf, attr);
	if (vfio_sysfs_read(path, buf, sizeof(buf)))
		return -ENOENT;
	errno = 0;
	*val = strtoul(buf, &end, 0);
	return errno || end == buf ? -EINVAL : 0;
}

int sl_pci_bdf_parse(const char *str, char out[SL_PCI_BDF_LEN])
{
	unsigned int dom = 0, bus, dev, fn;
	int consumed = 0;

	if (!str)
		return -EINVAL;
	if (sscanf(str, "%x:%x:%x.%x%n", &dom, &bus, &dev, &fn, &consumed) == 4 &&
	    str[consumed] == '\0') {
	} else if (dom = 0, consumed = 0,
		   sscanf(str, "%x:%x.%x%n", &bus, &dev, &fn, &consumed) == 3 &&
			   str[consumed] == '\0') {
	} else {
		return -EINVAL;
	}
	if (dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(out, SL_PCI_BDF_LEN, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return 0;
}

int sl_pci_device_get_info(const char *bdf_in, struct sl_pci_device_info *info)
{
	char bdf[SL_PCI_BDF_LEN], path[PATH_MAX], link[PATH_MAX];
	unsigned long v;
	ssize_t n;

	if (sl_pci_bdf_parse(bdf_in, bdf))
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	snprintf(info->bdf, sizeof(info->bdf), "%s", bdf);
	snprintf(path, sizeof(path), PCI_SYSFS "/%s", bdf);
	if (access(path, F_OK))
		return -ENODEV;
	if (sysfs_read_ul(bdf, "vendor", &v))
		return -ENODEV;
	info->vendor_id = (uint16_t)v;
	if (!sysfs_read_ul(bdf, "device", &v))
		info->device_id = (uint16_t)v;
	if (!sysfs_read_ul(bdf, "class", &v))
		info->class_code = (uint32_t)v & 0xffffff;
	info->numa_node = -1;
	if (!sysfs_read_ul(bdf, "numa_node", &v))
		info->numa_node = (int)(long)v;

	info->iommu_group = -1;
	snprintf(path, sizeof(path), PCI_SYSFS "/%s/iommu_group", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		info->iommu_group = atoi(strrchr(link, '/') + 1);
	}
	snprintf(path, sizeof(path), PCI_SYSFS "/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		snprintf(info->driver, sizeof(info->driver), "%s", strrchr(link, '/') + 1);
	}
	return 0;
}

static int bdf_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sl_pci_enumerate(int (*fn)(void *ctx, const struct sl_pci_device_info *info), void *ctx)
{
	DIR *d = opendir(PCI_SYSFS);
	struct dirent *e;
	char **names = NULL;
	size_t count = 0, cap = 0;
	int rc = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char bdf[SL_PCI_BDF_LEN];

		if (sl_pci_bdf_parse(e->d_name, bdf))
			continue;
		if (count == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 32) * sizeof(*names));

			if (!nn) {
				rc = -ENOMEM;
				goto out;
			}
			names = nn;
		}
		names[count] = strdup(bdf);
		if (!names[count]) {
			rc = -ENOMEM;
			goto out;
		}
		count++;
	}
	qsort(names, count, sizeof(*names), bdf_cmp);
	for (size_t i = 0; i < count && !rc; i++) {
		struct sl_pci_device_info info;

		if (sl_pci_device_get_info(names[i], &info) == 0)
			rc = fn(ctx, &info);
	}
out:
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}
