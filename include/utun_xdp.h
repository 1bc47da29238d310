/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Map layouts shared by bpf/utun.bpf.c and the loader.
 *
 * Each utunN is a veth; its hidden end hutunN (in a namespace of its own)
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

/* utun_ports: hash keyed by the hidden end's ifindex (UTUN_HID_IFINDEX_BASE + unit). */
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

/*
 * Each hutunN lives alone in its own anonymous namespace, where the loader
 * gives it this ifindex: unique across the loader's utuns, so utun_ports
 * can stay keyed by the ingress ifindex the XDP program sees.
 */
#define UTUN_HID_IFINDEX_BASE	0x10000

/*
 * utun_registry: hash keyed by unit, one entry per live utun, pinned so a
 * restarted loader finds (adopts) what its predecessor opened.  The
 * loader alone writes it; nothing in it keeps anything alive.
 */
struct utun_reg {
	__u32 pid;			/* the client that opened it */
	__u32 uid;
	__s32 vis_ifindex;		/* utunN, in the client's namespace */
	__s32 hid_ifindex;		/* hutunN, in its own namespace */
	__s32 hid_nsid;			/* that namespace's id in the loader's private one */
	__s32 vis_nsid;			/* the client namespace's id there */
	__u64 hid_cookie;		/* netns cookie of hutunN's namespace */
	__u64 xsk_ino;			/* the AF_XDP socket handed over (identifies it) */
	__u64 memfd_ino;		/* the memfd behind its UMEM and control page */
	__u32 flags;			/* UTUN_FLAGS_* */
	__u32 mtu;			/* last MTU the loader saw */
	char  name[16];
	char  netns[32];
};

#endif
