#!/usr/bin/env bash
# vm-test-timeout: 1800
# The self-built iommufd kernel (built here when the cache is cold, about
# 5-6 minutes): after binding the NVMe controller to vfio-pci, /dev/iommu
# and the VFIO cdev /dev/vfio/devices/vfio0 exist, next to the legacy group.
# shellcheck source=../test-lib.sh
. "$(dirname "$0")/../test-lib.sh"

W=$SL_TEST_WORKDIR

# Build outside vmrun so its time limit covers only the guest.
"$SL_VM_DIR/build-iommufd-kernel.sh"

guest=$(guest_script guest.sh <<'EOF'
echo "kernel=$(uname -r)"
bdfs=($(vm_nvme_bdfs))
[ ${#bdfs[@]} = 1 ] || vm_fail "want 1 NVMe controller, found: ${bdfs[*]}"
bdf=${bdfs[0]}
# The NVMe driver is built in and has claimed the controller at boot.
echo "driver_before=$(vm_pci_driver "$bdf")"
[ -e /dev/vfio/devices/vfio0 ] && echo "cdev_before=present"
vm_bind_vfio "$bdf"
echo "driver_after=$(vm_pci_driver "$bdf")"
[ -c /dev/iommu ] && echo iommu=present
cdev=$(vm_vfio_cdev "$bdf")
echo "cdev=$cdev"
[ -c "$cdev" ] && echo cdev_type=char
group=$(vm_vfio_group "$bdf")
[ -c "/dev/vfio/$group" ] && echo group=present
[ -c /dev/vfio/vfio ] && echo container=present
echo "hugepages=$(vm_hugepages)"
EOF
)

"$VMRUN" --kernel iommufd --workdir "$W" --nvme SLIOMMUFD0:16M --hugepages 32 \
	--script "$guest" >"$W/out"
cat "$W/out"
get() { sed -n "s/^$1=//p" "$W/out"; }

case $(get kernel) in 6.*) ok "iommufd kernel $(get kernel)" ;; *) fail "kernel '$(get kernel)'" ;; esac
expect_eq "driver at boot" "$(get driver_before)" nvme
expect_eq "no cdev before binding" "$(get cdev_before)" ""
expect_eq "driver after binding" "$(get driver_after)" vfio-pci
expect_eq "/dev/iommu" "$(get iommu)" present
expect_eq "VFIO cdev" "$(get cdev)" /dev/vfio/devices/vfio0
expect_eq "VFIO cdev type" "$(get cdev_type)" char
expect_eq "VFIO group (legacy API)" "$(get group)" present
expect_eq "VFIO container (legacy API)" "$(get container)" present
expect_eq "hugepages" "$(get hugepages)" 32
