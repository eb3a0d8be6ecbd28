#!/usr/bin/env bash
# lib/nvme over the VFIO container/group backend on the Debian kernel, with the
# intel IOMMU at 39-bit IOVAs (IOVAs allocated, the driver translates) and at
# 48 bits (IOVA = VA): sluice_identify shows the serials, model and namespaces
# QEMU was given for two controllers; nvme_io writes, reads and verifies
# through PRPs, PRP lists and SGLs, resets with I/O in flight (at 48 bits
# only: QEMU 7.2 sometimes crashes there; that crash alone is retried) and proves an
# unmapped IOVA does not reach memory; bad addresses and unbound devices get
# clear errors.
# vm-test-timeout: 600
. "$(dirname "$0")/../test-lib.sh"
. "$(dirname "$0")/../nvme-test-lib.sh"

nvme_driver_test container debian 39 allocated no
nvme_driver_test container debian 48 va yes
