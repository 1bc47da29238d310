// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iptap_util.h"

int packet_sockets_on(const char *text, int ifindex)
{
	const char *line = text;
	int n = 0;

	if (!text || ifindex <= 0)
		return 0;
	while (line && *line) {
		unsigned long long sk;
		unsigned int refcnt, type, proto;
		int iface;

		/* The header line does not parse as numbers and is skipped. */
		if (sscanf(line, "%llx %u %u %x %d", &sk, &refcnt, &type, &proto, &iface) == 5 &&
		    iface == ifindex)
			n++;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return n;
}

int iptap_record_decode(const void *sample, size_t size, struct pktap_header *hdr,
			const uint8_t **pkt, uint32_t *caplen, uint32_t *origlen)
{
	const uint8_t *p = sample;
	uint32_t pre, avail, iplen = 0;

	if (size < sizeof(*hdr))
		return -EINVAL;
	memcpy(hdr, p, sizeof(*hdr));
	/*
	 * A record reserved by size class (the tap's small records) may end in
	 * padding: pth_ifunit then says how many bytes of the frame it carries.
	 */
	if (hdr->pth_ifunit) {
		if (hdr->pth_ifunit > size - sizeof(*hdr))
			return -EINVAL;
		size = sizeof(*hdr) + hdr->pth_ifunit;
	}
	pre = hdr->pth_frame_pre_length;
	if (hdr->pth_type_next != PTH_TYPE_PACKET || pre > 64 ||
	    hdr->pth_length != sizeof(*hdr) + pre || size < sizeof(*hdr) + pre)
		return -EINVAL;
	p += sizeof(*hdr) + pre;
	avail = (uint32_t)(size - sizeof(*hdr) - pre);
	if (avail >= 20 && (p[0] >> 4) == 4)
		iplen = (uint32_t)p[2] << 8 | p[3];
	else if (avail >= 40 && (p[0] >> 4) == 6)
		iplen = ((uint32_t)p[4] << 8 | p[5]) + 40;
	/* The sample may end in padding; the IP length says where the packet ends. */
	*caplen = iplen && iplen < avail ? iplen : avail;
	*origlen = iplen ? iplen : avail;
	if (*origlen < *caplen)
		*origlen = *caplen;
	*pkt = p;
	/*
	 * The tap leaves pth_ifunit to the reader (a loop per record less in the
	 * sender's context): the name's trailing digits, modulo 2^16.
	 */
	{
		int i = (int)strnlen(hdr->pth_ifname, sizeof(hdr->pth_ifname));
		uint32_t unit = 0, mul = 1;

		while (--i >= 0 && hdr->pth_ifname[i] >= '0' && hdr->pth_ifname[i] <= '9') {
			unit += (uint32_t)(hdr->pth_ifname[i] - '0') * mul;
			mul *= 10;
		}
		hdr->pth_ifunit = (uint16_t)unit;
	}
	hdr->pth_length = sizeof(*hdr);
	hdr->pth_frame_pre_length = 0;
	return 0;
}

const char *pktap_dir_name(uint32_t flags)
{
	if (flags & PTH_FLAG_DIR_IN)
		return "in";
	if (flags & PTH_FLAG_DIR_OUT)
		return "out";
	return "?";
}
