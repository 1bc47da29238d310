/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Pure helpers of iptap: listener counting and ring record decoding. */
#ifndef IFKIT_IPTAP_UTIL_H
#define IFKIT_IPTAP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include "ifkit/pktap.h"

/*
 * Number of packet sockets bound to ifindex in the text of /proc/net/packet
 * ("sk RefCnt Type Proto Iface R Rmem User Inode" lines) - the seed's raw
 * (DLT_RAW) tap count of an iptap.
 */
int packet_sockets_on(const char *proc_net_packet, int ifindex);

/*
 * Decode one iptap_events sample of size bytes: [pktap_header][link header
 * of pth_frame_pre_length bytes][IP packet, maybe cut, maybe padded].  Fills
 * hdr with a normal header (pth_length 156, pre_length 0), points pkt at the
 * IP header and sets caplen (bytes present) and origlen (length on the wire,
 * from the IP header).  Returns 0 or -EINVAL for a malformed sample.
 */
int iptap_record_decode(const void *sample, size_t size, struct pktap_header *hdr,
			const uint8_t **pkt, uint32_t *caplen, uint32_t *origlen);

/* "in"/"out"/"?" for pth_flags. */
const char *pktap_dir_name(uint32_t flags);

#endif
