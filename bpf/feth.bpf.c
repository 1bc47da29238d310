// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * feth crossing.  Each fethN is a veth whose other end (hfethN) lives in
 * ifkit's private namespace.  A frame sent on fethN really leaves it (so
 * tcpdump and counters see it), arrives at hfethN's tc ingress, and this
 * program hands it with bpf_redirect_peer() to the veth peer of the partner's
 * hidden end - i.e. it is received on fethM, in whatever namespace fethM is.
 * redirect_peer needs the target in a different namespace from the hidden
 * end, which the private namespace guarantees.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"
#include "feth.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FETH_MAX_UNITS);
	__type(key, struct feth_port_key);
	__type(value, struct feth_port);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} feth_peer_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FETH_MAX_UNITS);
	__type(key, __u32);
	__type(value, struct feth_stat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} feth_stats SEC(".maps");

SEC("tc")
int feth_cross(struct __sk_buff *skb)
{
	struct feth_port_key key = { .hidden_ifindex = skb->ifindex };
	struct feth_port *port;
	struct feth_stat *stat;
	__u32 unit;

	port = bpf_map_lookup_elem(&feth_peer_table, &key);
	if (!port)
		return TC_ACT_SHOT;	/* not ours: the loader has not adopted it */
	unit = port->unit;
	stat = bpf_map_lookup_elem(&feth_stats, &unit);
	if (port->peer_hidden_ifindex == 0) {
		if (stat)
			stat->dropped_unpeered++;
		return TC_ACT_SHOT;
	}
	if (stat) {
		stat->crossed_packets++;
		stat->crossed_bytes += skb->len;
	}
	return bpf_redirect_peer(port->peer_hidden_ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
