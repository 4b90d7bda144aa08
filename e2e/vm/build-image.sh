#!/usr/bin/env bash
# Builds the VM lane's boot files, cached under $HP_VM_CACHE (default /var/cache/hybrid-proxy-vm):
#   vmlinuz   Debian's own generic amd64 kernel (ip_vs, ip_set, dummy, 9p, overlay as modules)
#   root/     the kernel package unpacked, modules with depmod run
#   initrd    static busybox + the virtio, 9p and overlay modules + init (below)
# The guest mounts the host's root read-only over virtio-9p with a tmpfs overlay, so it runs this machine's own
# node, iptables, ipvsadm and the project; results come back through a second, writable 9p share.
set -euo pipefail
cache=${HP_VM_CACHE:-/var/cache/hybrid-proxy-vm}
mkdir -p "$cache"
cd "$cache"

# The exact kernel package linux-image-amd64 points at (a glob would fetch dozens).
find_kernel() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
pkg=$(find_kernel)
[ -n "$pkg" ] || { apt-get update -qq && pkg=$(find_kernel); }
[ -n "$pkg" ] || { echo "cannot find the kernel package: run apt-get update" >&2; exit 1; }
version=${pkg#linux-image-}
stamp="$cache/.built-$version-v2"
[ -f "$stamp" ] && { echo "$cache"; exit 0; }

ls "$pkg"_*.deb >/dev/null 2>&1 || apt-get download "$pkg" >/dev/null
rm -rf root initrd.d && mkdir -p root initrd.d
dpkg -x "$pkg"_*.deb root
depmod -b root "$version"
cp "root/boot/vmlinuz-$version" vmlinuz
echo "$version" > version

# initramfs: busybox, the modules to reach the 9p shares, and init.
mkdir -p initrd.d/bin initrd.d/modules initrd.d/proc initrd.d/sys initrd.d/dev initrd.d/host initrd.d/results initrd.d/newroot initrd.d/upper
cp /bin/busybox initrd.d/bin/busybox
: > initrd.d/modules.order
for module in virtio_pci 9pnet_virtio 9p overlay; do
  modprobe --show-depends -d root -S "$version" "$module" | awk '$1 == "insmod" {print $2}' | while read -r path; do
    name=$(basename "$path")
    [ -f "initrd.d/modules/$name" ] && continue
    cp "$path" "initrd.d/modules/$name"
    echo "$name" >> initrd.d/modules.order
  done
done
cat > initrd.d/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod /modules/$m; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot /host
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results /results
mount -t tmpfs -o size=1g tmpfs /upper
mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/host,upperdir=/upper/u,workdir=/upper/w /newroot
mkdir -p /newroot/hp-results
mount --move /results /newroot/hp-results
exec switch_root /newroot /bin/sh /hp-results/guest-init.sh
INIT
chmod +x initrd.d/init
(cd initrd.d && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > ../initrd)
touch "$stamp"
echo "$cache"
