#!/bin/sh
# Runs as the guest's first process after switch_root (see build-image.sh). Prepares a normal-looking system from
# the host's root (read-only, with a tmpfs overlay), runs the command given in /hp-results, and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root CI=true
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmpfs /run
# /tmp stays the host's (read-only below, writable through the overlay): the project may live there, as in a CI clone.
mkdir -p /dev/pts /dev/shm /sys/fs/bpf /lib/modules
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t bpf bpf /sys/fs/bpf
mount --bind "$(cat /hp-results/modules)" /lib/modules
ip link set lo up
# The modules the IPVS mode and the tests need, loaded up front (namespaces cannot load them later).
for m in ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_sh ip_vs_wlc dummy veth ip_set ip_set_hash_ip ip_set_hash_ipport ip_set_hash_ipportip \
         xt_set nf_conntrack nf_nat nf_tables nft_compat nft_chain_nat xt_comment xt_mark xt_MASQUERADE xt_conntrack xt_statistic \
         xt_recent xt_addrtype xt_tcpudp nf_reject_ipv4 nft_reject_ipv4 ipt_REJECT xt_nat iptable_nat iptable_filter sch_ingress cls_bpf; do
  modprobe "$m" 2>/dev/null
done
cd "$(cat /hp-results/cwd)" || { echo "the project directory $(cat /hp-results/cwd) is not visible in the guest" > /hp-results/stderr; echo 1 > /hp-results/exit-code; /bin/busybox poweroff -f; }
node /hp-results/launch.mjs > /hp-results/stdout 2> /hp-results/stderr
echo $? > /hp-results/exit-code
sync
/bin/busybox poweroff -f
