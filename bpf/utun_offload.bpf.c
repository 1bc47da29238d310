// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * utun offload mode (include/utun_offload.h): the socket filter of the
 * client's AF_PACKET socket on hutunN and the tc programs on hutunN.
 *
 * One copy of this object is loaded per offloaded utun, with the hidden
 * end's ifindex, the unit and the packet socket's cookie as constants: the
 * filter (locked with SO_LOCK_FILTER, the client cannot replace it) passes
 * only frames that arrived on that hidden end, and tc egress there passes
 * only frames that socket sent.  The maps are shared with utun.bpf.c
 * (utun_ports for the flags, utun_stats for the counters show already
 * reads) and between all copies (utun_off_stats).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"
#include "utun_xdp.h"
#include "utun_offload.h"

#define PACKET_OUTGOING_	4	/* include/uapi/linux/if_packet.h */
#define TC_ACT_STOLEN_		4	/* the sender sees success, the frame is gone */
#define ETH_HLEN_		14

const volatile __u32 off_ifindex;	/* hutunN, in its own namespace */
const volatile __u32 off_unit;
const volatile __u64 off_cookie;	/* SO_COOKIE of the client's packet socket */

/* Reused from the loader's utun.bpf.c object (bpf_map__reuse_fd). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UTUN_MAX_UNITS);
	__type(key, __u32);
	__type(value, struct utun_port);
} utun_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UTUN_MAX_UNITS);
	__type(key, __u32);
	__type(value, struct utun_xdp_stat);
} utun_stats SEC(".maps");

/* One for all copies (the loader creates it once and reuses it). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UTUN_MAX_UNITS);
	__type(key, __u32);
	__type(value, struct utun_off_stat);
} utun_off_stats SEC(".maps");

static __always_inline __u32 port_flags(void)
{
	__u32 key = off_ifindex;
	struct utun_port *p = bpf_map_lookup_elem(&utun_ports, &key);

	return p ? p->flags : 0;
}

/*
 * Stack -> client.  The return value is how many bytes the socket keeps:
 * 0 drops the frame, the full length passes it (GSO metadata intact).
 */
SEC("socket")
int utun_off_filter(struct __sk_buff *skb)
{
	__u32 unit = off_unit;
	struct utun_xdp_stat *xs;
	struct utun_off_stat *st;

	if (skb->ifindex != off_ifindex || skb->pkt_type == PACKET_OUTGOING_)
		return 0;	/* another device (a re-bound socket), or our own output */
	xs = bpf_map_lookup_elem(&utun_stats, &unit);
	if (skb->protocol != bpf_htons(ETH_P_IP) && skb->protocol != bpf_htons(ETH_P_IPV6)) {
		if (xs)
			xs->non_ip_drops++;
		return 0;
	}
	if (port_flags() & UTUN_FLAGS_NO_OUTPUT) {
		if (xs)
			xs->no_output_drops++;
		return 0;
	}
	st = bpf_map_lookup_elem(&utun_off_stats, &unit);
	if (st) {
		st->out_packets++;
		st->out_bytes += skb->len - ETH_HLEN_;
		if (skb->gso_size)
			st->out_gso++;
	}
	return skb->len;
}

/* What utunN sent was the packet socket's (above): the hidden stack never sees it. */
SEC("tc")
int utun_off_ingress(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_SHOT;
}

/*
 * Client -> stack.  Only the unit's own socket may send on hutunN, only
 * IPv4/IPv6 whose version nibble matches the ethertype, and a GSO frame
 * only for TCP or UDP.  NO_INPUT discards after the send succeeded, as
 * macOS's utun does.
 */
SEC("tc")
int utun_off_egress(struct __sk_buff *skb)
{
	__u32 unit = off_unit;
	struct utun_off_stat *st = bpf_map_lookup_elem(&utun_off_stats, &unit);
	__u8 vers = 0, proto = 0;
	bool v6;

	if (!st)
		return TC_ACT_SHOT;
	if (bpf_get_socket_cookie(skb) != off_cookie) {
		st->foreign++;
		return TC_ACT_SHOT;
	}
	v6 = skb->protocol == bpf_htons(ETH_P_IPV6);
	if ((!v6 && skb->protocol != bpf_htons(ETH_P_IP)) ||
	    bpf_skb_load_bytes(skb, ETH_HLEN_, &vers, 1) ||
	    (vers >> 4) != (v6 ? 6 : 4)) {
		st->bad_frame++;
		return TC_ACT_SHOT;
	}
	if (port_flags() & UTUN_FLAGS_NO_INPUT) {
		st->no_input++;
		return TC_ACT_STOLEN_;
	}
	if (skb->gso_size) {
		/* IPv4 protocol at byte 9, IPv6 next header at byte 6 (no extension headers). */
		if (bpf_skb_load_bytes(skb, ETH_HLEN_ + (v6 ? 6 : 9), &proto, 1) ||
		    (proto != PROTO_TCP && proto != PROTO_UDP)) {
			st->bad_gso++;
			return TC_ACT_SHOT;
		}
		st->in_gso++;
	}
	st->in_packets++;
	st->in_bytes += skb->len - ETH_HLEN_;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
