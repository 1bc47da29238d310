/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The hand-off between the loader and libutun.
 *
 * utun_open() gets from the loader one end of a socketpair on which the
 * loader has already queued one struct utun_shm_hello with two descriptors
 * (SCM_RIGHTS): the AF_XDP socket bound to hutunN's queue 0 and the sealed
 * memfd holding its UMEM (frames, then one control page).  The loader then
 * keeps nothing that pins the utun: the socket was created inside the
 * utun's own anonymous network namespace (where hutunN lives) and is the
 * only thing keeping that namespace alive, so when the client's last copy
 * of it closes (close, exit, kill -9) the namespace dies, hutunN is
 * deleted with it and takes utunN along -- no loader needed.
 *
 * libutun moves the packets itself on both APIs (a relay thread for the
 * plain read/write descriptor, the rings directly on the fast path).  The
 * control page carries the flags and MTU (written by the loader) and the
 * client's counters (written by libutun, read by the loader for `show`:
 * client-reported numbers, never trusted for anything else).
 */
#ifndef IFKIT_UTUN_SHM_H
#define IFKIT_UTUN_SHM_H

#include <linux/types.h>

#define UTUN_SHM_MAGIC		0x75736d32u	/* "usm2" */
#define UTUN_SHM_MAX_FRAMES	1024
#define UTUN_SHM_CAUSES		16		/* >= UTUN_ERR_MAX */
#define UTUN_SHM_CTL_SIZE	4096

struct utun_shm_hello {
	__u32 magic;
	__u32 frame_size;
	__u32 rx_frames;		/* frames [0, rx_frames) go on the fill ring */
	__u32 tx_frames;		/* frames [rx_frames, rx_frames + tx_frames) transmit */
	__u32 ring_size;		/* of all four rings */
	__u32 unit;
	__u64 umem_size;		/* bytes of frames; the control page follows */
	__u8  vis_mac[6];		/* Ethernet dst of frames sent to the stack */
	__u8  hid_mac[6];		/* Ethernet src */
	char  ifname[16];
};

/* One page after the frames. */
struct utun_shm_ctl {
	__u32 flags;			/* UTUN_FLAGS_*, written by the loader */
	__u32 mtu;			/* of utunN, written by the loader (0: read the device) */
	/* Everything below is written by the client (libutun). */
	__u64 out_packets, out_bytes, out_drops;
	__u64 in_packets, in_bytes, in_drops;
	__u64 errors[UTUN_SHM_CAUSES];
	__s32 xsk_fd;			/* the client's number for the AF_XDP socket */
	__s32 rel_fd;			/* its relay end (the loader hangs it up if hutunN dies) */
	__u32 fast;			/* 1: the application drives the rings (shown as mode fast) */
	__s32 pkt_fd;			/* offload mode: the client's number for the packet socket */
};

#endif
