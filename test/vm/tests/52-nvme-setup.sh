#!/usr/bin/env bash
# scripts/setup.sh binds NVMe controllers to vfio-pci through driver_override,
# refuses one with a mounted filesystem, binds it once unmounted, `status`
# lists drivers and IOMMU groups, sluice_identify then finds both, and
# `reset` gives them back to the kernel's nvme driver.
. "$(dirname "$0")/../test-lib.sh"

W=$SL_TEST_WORKDIR
guest=$(guest_script guest.sh <<'EOF'
B=${BUILD:-build}
export HUGEMEM=64
bdfs=($(vm_nvme_bdfs))
vm_modprobe nvme
for bdf in "${bdfs[@]}"; do vm_nvme_ctrl "$bdf" >/dev/null; done
dev=$(vm_nvme_blockdev_by_nsid "${bdfs[0]}" 1)
mkfs.ext4 -q -F "$dev"
mkdir -p /tmp/mnt && mount "$dev" /tmp/mnt
rc=0; scripts/setup.sh >/tmp/s1.out 2>&1 || rc=$?
cat /tmp/s1.out
echo "first-rc=$rc"
echo "after-first=$(vm_pci_driver "${bdfs[0]}") $(vm_pci_driver "${bdfs[1]}")"
grep -q "refusing ${bdfs[0]}: $dev is mounted" /tmp/s1.out && echo "refused=ok"
umount /tmp/mnt
rc=0; scripts/setup.sh >/tmp/s2.out 2>&1 || rc=$?
echo "second-rc=$rc"
echo "after-second=$(vm_pci_driver "${bdfs[0]}") $(vm_pci_driver "${bdfs[1]}")"
scripts/setup.sh status | tee /tmp/status.out
echo "status-vfio=$(grep -c 'driver vfio-pci  iommu group [0-9]' /tmp/status.out)"
echo "identified=$("$B/bin/sluice_identify" | grep -c '^NVMe Controller at')"
CLEAR_HUGE=no scripts/setup.sh reset
for bdf in "${bdfs[@]}"; do vm_nvme_ctrl "$bdf" >/dev/null; done
echo "after-reset=$(vm_pci_driver "${bdfs[0]}") $(vm_pci_driver "${bdfs[1]}")"
EOF
)
"$VMRUN" --workdir "$W" --hugepages 64 --nvme SLSET0:32M --nvme SLSET1:16M \
	--env "BUILD=${BUILD:-build}" --script "$guest" >"$W/out" || { cat "$W/out"; fail "guest failed"; }
cat "$W/out"
get() { sed -n "s/^$1=//p" "$W/out"; }
expect_eq "setup.sh exit status with a mounted controller" "$(get first-rc)" 1
expect_eq "refusal names the mounted device" "$(get refused)" ok
expect_eq "drivers after the first run" "$(get after-first)" "nvme vfio-pci"
expect_eq "setup.sh exit status once unmounted" "$(get second-rc)" 0
expect_eq "drivers after the second run" "$(get after-second)" "vfio-pci vfio-pci"
expect_eq "status lists both on vfio-pci with a group" "$(get status-vfio)" 2
expect_eq "sluice_identify finds both" "$(get identified)" 2
expect_eq "drivers after reset" "$(get after-reset)" "nvme nvme"
