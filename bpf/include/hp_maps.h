/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * hybrid-proxy traffic counters: map names, sizes and layouts. Mirrored once in userspace
 * (packages/xdp/src/map-layout.ts); change both together.
 */
#ifndef HP_MAPS_H
#define HP_MAPS_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* Index capacity. Slot 0 of each counter array counts misses; indexed flows use slots 1..MAX. */
#define HP_MAX_VIPS 4096
#define HP_MAX_BACKENDS 65536
#define HP_MISS_SLOT 0

/* A flow end: an address (IPv4 as IPv4-mapped IPv6), a port (network order) and an IP protocol. 20 bytes. */
struct hp_flow_key {
	__u8 addr[16];
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct hp_counter {
	__u64 packets;
	__u64 bytes;
};

/* Filled by userspace only: the datapath reads them, so random traffic can neither fill nor evict them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HP_MAX_VIPS);
	__type(key, struct hp_flow_key);
	__type(value, __u32);
} hp_vip_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HP_MAX_VIPS + 1);
	__type(key, __u32);
	__type(value, struct hp_counter);
} hp_vip_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HP_MAX_BACKENDS);
	__type(key, struct hp_flow_key);
	__type(value, __u32);
} hp_be_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HP_MAX_BACKENDS + 1);
	__type(key, __u32);
	__type(value, struct hp_counter);
} hp_be_stats SEC(".maps");

#endif
