/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Apple's PKTAP header (xnu bsd/net/pktap.h), byte for byte: 156 bytes,
 * fields in the byte order of the machine that wrote them (host order).
 * Wireshark, tshark and tcpdump read it as LINKTYPE_PKTAP (258): they take
 * the packet at offset pth_length and decode it with pth_dlt.
 *
 * Usable from BPF programs (only __u32/__u8 types) and from user space.
 */
#ifndef IFKIT_PKTAP_H
#define IFKIT_PKTAP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define PKTAP_IFXNAMSIZ		24	/* IF_NAMESIZE + 8 */
#define PKTAP_MAXCOMLEN		16	/* MAXCOMLEN */

#define PTH_TYPE_NONE		0
#define PTH_TYPE_PACKET		1

#define PTH_FLAG_DIR_IN		0x0001
#define PTH_FLAG_DIR_OUT	0x0002

#define PKTAP_DLT_RAW		12	/* DLT_RAW as Apple and Wireshark number it */
#define LINKTYPE_PKTAP		258
#define LINKTYPE_RAW		101	/* raw IPv4/IPv6, for pcapng interfaces */

/* Apple interface types (net/if_types.h) for pth_iftype. */
#define PKTAP_IFT_OTHER		0x01
#define PKTAP_IFT_ETHER		0x06
#define PKTAP_IFT_LOOP		0x18
#define PKTAP_IFT_TUNNEL	0x83

struct pktap_timeval32 {
	__s32 tv_sec;
	__s32 tv_usec;
};

struct pktap_header {
	__u32 pth_length;			/* length of this header (offset of the packet) */
	__u32 pth_type_next;			/* PTH_TYPE_PACKET */
	__u32 pth_dlt;				/* link type of the packet that follows */
	char  pth_ifname[PKTAP_IFXNAMSIZ];	/* interface the packet went through */
	__u32 pth_flags;			/* PTH_FLAG_DIR_* */
	__u32 pth_protocol_family;		/* AF_INET / AF_INET6 (Linux values) */
	__u32 pth_frame_pre_length;
	__u32 pth_frame_post_length;
	__s32 pth_pid;				/* process owning the packet's socket */
	char  pth_comm[PKTAP_MAXCOMLEN + 1];	/* its command name */
	__u32 pth_svc;				/* service class */
	__u16 pth_iftype;			/* PKTAP_IFT_* */
	__u16 pth_ifunit;			/* unit number of the interface */
	__s32 pth_epid;				/* effective (delegated) process */
	char  pth_ecomm[PKTAP_MAXCOMLEN + 1];
	__u32 pth_flowid;
	__u32 pth_ipproto;			/* IPPROTO_* of the payload */
	struct pktap_timeval32 pth_tstamp;
	__u8  pth_uuid[16];
	__u8  pth_euuid[16];
};

#define PKTAP_HDR_LEN 156

_Static_assert(sizeof(struct pktap_header) == PKTAP_HDR_LEN, "pktap_header is 156 bytes");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_length) == 0, "pth_length");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_type_next) == 4, "pth_type_next");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_dlt) == 8, "pth_dlt");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_ifname) == 12, "pth_ifname");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_flags) == 36, "pth_flags");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_protocol_family) == 40,
	       "pth_protocol_family");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_frame_pre_length) == 44,
	       "pth_frame_pre_length");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_frame_post_length) == 48,
	       "pth_frame_post_length");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_pid) == 52, "pth_pid");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_comm) == 56, "pth_comm");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_svc) == 76, "pth_svc");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_iftype) == 80, "pth_iftype");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_ifunit) == 82, "pth_ifunit");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_epid) == 84, "pth_epid");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_ecomm) == 88, "pth_ecomm");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_flowid) == 108, "pth_flowid");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_ipproto) == 112, "pth_ipproto");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_tstamp) == 116, "pth_tstamp");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_uuid) == 124, "pth_uuid");
_Static_assert(__builtin_offsetof(struct pktap_header, pth_euuid) == 140, "pth_euuid");

#endif
