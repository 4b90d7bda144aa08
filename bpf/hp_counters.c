// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * hybrid-proxy's traffic counters. Each packet is counted twice at most: by its destination in the VIP index
 * (traffic to a Service, seen before DNAT) and by its source in the backend index (replies from a Pod, which
 * is how a backend shows itself before the reply is un-DNATed). Lookups that miss count in slot 0.
 * The same logic runs as XDP (hp_xdp_count) or as a tc ingress classifier (hp_tc_count). It never drops.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "hp_maps.h"
#include "hp_parse.h"

static __always_inline void hp_bump(void *index, void *stats, struct hp_flow_key *key, __u64 bytes)
{
	__u32 slot = HP_MISS_SLOT;
	__u32 *found = bpf_map_lookup_elem(index, key);
	if (found)
		slot = *found;
	struct hp_counter *counter = bpf_map_lookup_elem(stats, &slot);
	if (counter) {
		counter->packets++;
		counter->bytes += bytes;
	}
}

static __always_inline void hp_count(void *data, void *data_end, __u64 bytes)
{
	struct hp_packet pkt = {};
	if (hp_parse(data, data_end, &pkt) < 0)
		return;
	hp_bump(&hp_vip_index, &hp_vip_stats, &pkt.dst, bytes);
	hp_bump(&hp_be_index, &hp_be_stats, &pkt.src, bytes);
}

SEC("xdp")
int hp_xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	hp_count(data, data_end, data_end - data);
	return XDP_PASS;
}

SEC("tc")
int hp_tc_count(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	hp_count(data, data_end, skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
