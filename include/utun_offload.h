/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * utun offload mode: layouts shared by bpf/utun_offload.bpf.c and the loader
 * (user/ifkitd/utun_offload.c).
 *
 * In offload mode the client moves packets through an AF_PACKET socket
 * (PACKET_VNET_HDR) bound to the hidden end hutunN.  Three small programs
 * keep that socket to its job: a socket filter (only IP frames that utunN
 * sent, none under UTUN_FLAGS_NO_OUTPUT), a tc ingress program on hutunN
 * (what the socket saw goes no further into hutunN's namespace) and a tc
 * egress program on hutunN (only that socket's IP frames reach utunN; none
 * under UTUN_FLAGS_NO_INPUT).  Each offloaded utun loads its own copy with
 * the constants below, so a filter can only ever pass its own unit's frames.
 */
#ifndef IFKIT_UTUN_OFFLOAD_H
#define IFKIT_UTUN_OFFLOAD_H

/* tc handle/priority of the two hutunN programs (as `tc filter show dev hutunN` lists them). */
#define UTUN_OFF_TC_HANDLE	0x75f0
#define UTUN_OFF_TC_PRIO	1

/* utun_off_stats: per-CPU array indexed by unit; what the three programs did. */
struct utun_off_stat {
	__u64 out_packets, out_bytes;	/* stack -> client: frames the socket filter passed */
	__u64 out_gso;			/* of those, GSO super-packets (gso_size > 0) */
	__u64 in_packets, in_bytes;	/* client -> stack: frames tc egress let through */
	__u64 in_gso;
	__u64 no_input;			/* client frames discarded under NO_INPUT */
	__u64 bad_gso;			/* GSO metadata that does not fit the packet */
	__u64 bad_frame;		/* not IPv4/IPv6, or IP version not the ethertype's */
	__u64 foreign;			/* frames on hutunN not sent by the unit's socket */
};

#endif
