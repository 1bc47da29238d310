/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Map layouts shared by bpf/utun.bpf.c and the loader.
 *
 * Each utunN is a veth; its hidden end hutunN (in ifkit's private namespace)
 * carries the XDP program utun_xdp, which hands every IPv4/IPv6 frame the
 * stack sent on utunN to the loader's AF_XDP socket for that unit.
 */
#ifndef IFKIT_UTUN_XDP_H
#define IFKIT_UTUN_XDP_H

#define UTUN_MAX_UNITS 4096		/* == IFKIT_MAX_UNITS */

/* UTUN_FLAGS_* as in macOS's if_utun.h (also in include/ifkit/utun.h). */
#ifndef UTUN_FLAGS_NO_OUTPUT
#define UTUN_FLAGS_NO_OUTPUT 0x0001
#define UTUN_FLAGS_NO_INPUT  0x0002
#endif

/* utun_ports: hash keyed by the hidden end's ifindex (private namespace). */
struct utun_port {
	__u32 unit;			/* N of utunN: the key into utun_xsks/utun_stats */
	__u32 flags;			/* UTUN_FLAGS_*; the program honours NO_OUTPUT */
};

/* utun_stats: per-CPU array indexed by unit; what the XDP program did. */
struct utun_xdp_stat {
	__u64 redirected;		/* IP frames handed to the AF_XDP socket */
	__u64 redirected_bytes;
	__u64 no_output_drops;		/* dropped because of UTUN_FLAGS_NO_OUTPUT */
	__u64 non_ip_drops;		/* ARP, LLDP, ... never reach the client */
	__u64 no_socket_drops;		/* IP frames with no AF_XDP socket for the unit */
};

#endif
