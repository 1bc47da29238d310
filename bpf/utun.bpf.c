// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * utun output path.  What the stack sends on utunN leaves that veth end and
 * is received by its hidden end hutunN (alone in its own namespace), where
 * this XDP program runs: IPv4 and IPv6 frames go to the AF_XDP socket of the
 * unit (utun_xsks[unit]); everything else (ARP, LLDP, ...) is dropped, as is
 * everything while UTUN_FLAGS_NO_OUTPUT is set.  The socket belongs to the
 * client (libutun), which moves what it receives.  hutunN lives alone in its
 * own namespace, with the ifindex UTUN_HID_IFINDEX_BASE + unit.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"
#include "utun_xdp.h"


struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UTUN_MAX_UNITS);
	__type(key, __u32);			/* hidden end ifindex */
	__type(value, struct utun_port);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} utun_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, UTUN_MAX_UNITS);
	__type(key, __u32);			/* unit */
	__type(value, __u32);			/* AF_XDP socket */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} utun_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UTUN_MAX_UNITS);
	__type(key, __u32);
	__type(value, struct utun_xdp_stat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} utun_stats SEC(".maps");

/* Live utuns, for a restarted loader (the program does not use it). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UTUN_MAX_UNITS);
	__type(key, __u32);			/* unit */
	__type(value, struct utun_reg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} utun_registry SEC(".maps");

/* xdp.frags: packets beyond one page (MTU up to 65535) and no veth MTU cap. */
SEC("xdp.frags")
int utun_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 ifindex = ctx->ingress_ifindex;
	struct utun_xdp_stat *st;
	struct utun_port *port;
	__u32 unit;
	__u16 proto;

	port = bpf_map_lookup_elem(&utun_ports, &ifindex);
	if (!port)
		return XDP_DROP;	/* not (or no longer) a utun of ours */
	unit = port->unit;
	st = bpf_map_lookup_elem(&utun_stats, &unit);
	if ((void *)(eth + 1) > data_end) {
		if (st)
			st->non_ip_drops++;
		return XDP_DROP;
	}
	proto = bpf_ntohs(eth->h_proto);
	if (proto != ETH_P_IP && proto != ETH_P_IPV6) {
		if (st)
			st->non_ip_drops++;
		return XDP_DROP;
	}
	if (port->flags & UTUN_FLAGS_NO_OUTPUT) {
		if (st)
			st->no_output_drops++;
		return XDP_DROP;
	}
	/*
	 * No socket for the unit (client gone): drop and count.  A redirect
	 * that fails later (rx ring full, no fill frame) is counted by the
	 * socket itself (XDP_STATISTICS), which the loader reads.
	 */
	if (bpf_redirect_map(&utun_xsks, unit, XDP_DROP) != XDP_REDIRECT) {
		if (st)
			st->no_socket_drops++;
		return XDP_DROP;
	}
	if (st) {
		st->redirected++;
		st->redirected_bytes += bpf_xdp_get_buff_len(ctx);
	}
	return XDP_REDIRECT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
