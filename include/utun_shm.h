/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The shared-ring fast path between the loader and libutun.
 *
 * A client that calls utun_enable_fastpath() sends one 4-byte message whose
 * "family" is UTUN_FASTPATH_REQ on its utun descriptor.  The relay answers
 * with one struct utun_shm_hello carrying two descriptors (SCM_RIGHTS): the
 * AF_XDP socket and the memfd holding its UMEM, and stops touching the rings.
 * From then on the client maps the rings and the UMEM and moves packets
 * itself (no loader hop); the descriptor stays the life line (closing it
 * removes the utun) and the control page after the frames carries the flags
 * and MTU (written by the loader) and the client's counters.
 */
#ifndef IFKIT_UTUN_SHM_H
#define IFKIT_UTUN_SHM_H

#include <linux/types.h>

#define UTUN_FASTPATH_REQ	0xfa57fa57u
#define UTUN_SHM_MAGIC		0x75736d31u	/* "usm1" */
#define UTUN_SHM_MAX_FRAMES	1024
#define UTUN_SHM_CAUSES		16		/* >= UTUN_ERR_MAX */

struct utun_shm_hello {
	__u32 magic;
	__u32 frame_size;
	__u32 rx_frames;		/* frames [0, rx_frames) belong to the fill/rx side */
	__u32 ring_size;		/* of all four rings */
	__u64 umem_size;		/* bytes of frames; the control page follows */
	__u8  vis_mac[6];		/* Ethernet dst of frames sent to the stack */
	__u8  hid_mac[6];		/* Ethernet src */
	__u32 ntx_free;
	__u64 tx_free[UTUN_SHM_MAX_FRAMES];	/* tx frames not in flight at hand-off */
};

/* One page after the frames. */
struct utun_shm_ctl {
	__u32 flags;			/* UTUN_FLAGS_*, written by the loader */
	__u32 mtu;			/* of utunN, written by the loader */
	__u64 out_packets, out_bytes;	/* written by the client */
	__u64 in_packets, in_bytes, in_drops;
	__u64 errors[UTUN_SHM_CAUSES];
};

#endif
