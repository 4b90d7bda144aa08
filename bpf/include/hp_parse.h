/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Packet parsing for the counters: Ethernet, up to two VLAN tags, IPv4 (with options) or IPv6, then ports. */
#ifndef HP_PARSE_H
#define HP_PARSE_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include "hp_maps.h"

#define HP_IP_MF 0x2000
#define HP_IP_OFFSET 0x1fff
#define HP_MAX_VLAN_TAGS 2

struct hp_vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct hp_ports {
	__be16 source;
	__be16 dest;
};

struct hp_packet {
	struct hp_flow_key src;
	struct hp_flow_key dst;
};

static __always_inline void hp_map_ipv4(__u8 *addr, __be32 ip)
{
	__builtin_memset(addr, 0, 10);
	addr[10] = 0xff;
	addr[11] = 0xff;
	__builtin_memcpy(addr + 12, &ip, 4);
}

/* Returns 0 when the packet is IP and its flow ends were read; ports stay 0 for fragments and other protocols. */
static __always_inline int hp_parse(void *data, void *data_end, struct hp_packet *pkt)
{
	struct ethhdr *eth = data;
	void *cursor = eth + 1;
	__u8 l4proto;
	int fragment = 0;

	if (cursor > data_end)
		return -1;
	__be16 proto = eth->h_proto;

#pragma unroll
	for (int i = 0; i < HP_MAX_VLAN_TAGS; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct hp_vlan_hdr *vlan = cursor;
		if ((void *)(vlan + 1) > data_end)
			return -1;
		proto = vlan->encapsulated_proto;
		cursor = vlan + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cursor;
		if ((void *)(ip + 1) > data_end)
			return -1;
		__u32 ihl = ip->ihl * 4;
		if (ihl < sizeof(*ip))
			return -1;
		hp_map_ipv4(pkt->src.addr, ip->saddr);
		hp_map_ipv4(pkt->dst.addr, ip->daddr);
		l4proto = ip->protocol;
		fragment = (ip->frag_off & bpf_htons(HP_IP_MF | HP_IP_OFFSET)) != 0;
		cursor = (void *)ip + ihl;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cursor;
		if ((void *)(ip6 + 1) > data_end)
			return -1;
		__builtin_memcpy(pkt->src.addr, &ip6->saddr, 16);
		__builtin_memcpy(pkt->dst.addr, &ip6->daddr, 16);
		l4proto = ip6->nexthdr;
		fragment = l4proto == IPPROTO_FRAGMENT;
		cursor = ip6 + 1;
	} else {
		return -1;
	}

	pkt->src.proto = l4proto;
	pkt->dst.proto = l4proto;
	if (fragment || (l4proto != IPPROTO_TCP && l4proto != IPPROTO_UDP && l4proto != IPPROTO_SCTP))
		return 0;
	struct hp_ports *ports = cursor;
	if ((void *)(ports + 1) > data_end)
		return 0;
	pkt->src.port = ports->source;
	pkt->dst.port = ports->dest;
	return 0;
}

#endif
