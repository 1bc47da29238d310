/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Map layouts shared by bpf/feth.bpf.c and the loader. */
#ifndef IFKIT_FETH_H
#define IFKIT_FETH_H

#define FETH_MAX_UNITS 4096		/* == IFKIT_MAX_UNITS (asserted in user/ifkitd/modules.c) */
#define FETH_NO_PEER 0xffffffffu

/*
 * feth_peer_table: one entry per feth, keyed by the ifindex of its hidden
 * veth end (in ifkit's private namespace).  The loader writes whole values;
 * the tc program only reads them.
 */
struct feth_port_key {
	__u32 hidden_ifindex;
};

struct feth_port {
	__u32 unit;			/* N of fethN */
	__u32 peer_unit;		/* FETH_NO_PEER when unpeered */
	__u32 peer_hidden_ifindex;	/* 0 when unpeered */
	__u32 media;			/* enum feth_media */
};

/* feth_stats: per-CPU array indexed by unit; what the crossing did. */
struct feth_stat {
	__u64 crossed_packets;		/* frames this unit sent that reached its peer */
	__u64 crossed_bytes;
	__u64 dropped_unpeered;		/* frames that found no peer */
};

#endif
