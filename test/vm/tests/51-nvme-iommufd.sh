#!/usr/bin/env bash
# lib/nvme over the iommufd + VFIO device cdev backend on the harness's
# iommufd kernel, at 39-bit (IOVAs allocated) and 48-bit (IOVA = VA) IOMMU
# address widths: the same identify and data-path checks as 50-nvme-container,
# except the reset under load, which 50 runs once (the reset path does not
# depend on the VFIO backend, and it crashes QEMU 7.2 now and then).
# vm-test-timeout: 600
. "$(dirname "$0")/../test-lib.sh"
. "$(dirname "$0")/../nvme-test-lib.sh"

nvme_driver_test iommufd iommufd 39 allocated no
nvme_driver_test iommufd iommufd 48 va no
