#!/usr/bin/env bash
# lib/nvme over the iommufd + VFIO device cdev backend on the harness's
# iommufd kernel, at 39-bit (IOVAs allocated) and 48-bit (IOVA = VA) IOMMU
# address widths: the same identify and data-path checks as 50-nvme-container.
# vm-test-timeout: 600
. "$(dirname "$0")/../test-lib.sh"
. "$(dirname "$0")/../nvme-test-lib.sh"

nvme_driver_test iommufd iommufd 39 allocated
nvme_driver_test iommufd iommufd 48 va
