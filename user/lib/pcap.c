// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <string.h>
#include "pcap.h"

static int put(struct pcap_writer *w, const void *p, size_t n)
{
	return fwrite(p, 1, n, w->f) == n ? 0 : -EIO;
}

static int put32(struct pcap_writer *w, uint32_t v)
{
	return put(w, &v, sizeof(v));
}

static int put16(struct pcap_writer *w, uint16_t v)
{
	return put(w, &v, sizeof(v));
}

static int pad4(struct pcap_writer *w, size_t n)
{
	static const uint8_t zero[4];

	return (n & 3) ? put(w, zero, 4 - (n & 3)) : 0;
}

static size_t round4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

int pcap_writer_open(struct pcap_writer *w, FILE *f, bool pcapng, uint32_t snaplen)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->ng = pcapng;
	w->snaplen = snaplen ? snaplen : 65535;
	if (!pcapng) {
		struct {
			uint32_t magic;
			uint16_t major, minor;
			int32_t thiszone;
			uint32_t sigfigs, snaplen, linktype;
		} gh = { PCAP_MAGIC_USEC, 2, 4, 0, 0, w->snaplen + PKTAP_HDR_LEN, LINKTYPE_PKTAP };

		return put(w, &gh, sizeof(gh));
	}
	/* Section Header Block: type, length, BOM, version 1.0, section length -1, length. */
	if (put32(w, PCAPNG_SHB) || put32(w, 28) || put32(w, PCAPNG_BOM) || put16(w, 1) ||
	    put16(w, 0))
		return -EIO;
	{
		int64_t unknown = -1;

		if (put(w, &unknown, sizeof(unknown)))
			return -EIO;
	}
	return put32(w, 28);
}

static int ng_option(struct pcap_writer *w, uint16_t code, const void *val, size_t len)
{
	if (put16(w, code) || put16(w, (uint16_t)len) || put(w, val, len))
		return -EIO;
	return pad4(w, len);
}

/* Interface id of an interface name, writing its IDB the first time. */
static int ng_iface(struct pcap_writer *w, const char *name)
{
	char nm[PKTAP_IFXNAMSIZ + 1];
	size_t nlen;
	uint32_t len;

	memcpy(nm, name, PKTAP_IFXNAMSIZ);
	nm[PKTAP_IFXNAMSIZ] = '\0';
	for (uint32_t i = 0; i < w->nifaces; i++)
		if (!strncmp(w->ifnames[i], nm, PKTAP_IFXNAMSIZ))
			return (int)i;
	if (w->nifaces == PCAPNG_MAX_IFACES)
		return -ENOSPC;
	nlen = strlen(nm);
	/* IDB: type, len, linktype u16, reserved u16, snaplen, options, end, len. */
	len = (uint32_t)(20 + (nlen ? 4 + round4(nlen) : 0) + 4);
	if (put32(w, PCAPNG_IDB) || put32(w, len) || put16(w, LINKTYPE_RAW) || put16(w, 0) ||
	    put32(w, w->snaplen))
		return -EIO;
	if (nlen && ng_option(w, 2 /* if_name */, nm, nlen))
		return -EIO;
	if (put32(w, 0) /* opt_endofopt */ || put32(w, len))
		return -EIO;
	memcpy(w->ifnames[w->nifaces], nm, PKTAP_IFXNAMSIZ);
	return (int)w->nifaces++;
}

int pcap_writer_packet(struct pcap_writer *w, const struct pktap_header *hdr,
		       const uint8_t *pkt, uint32_t caplen, uint32_t origlen, uint64_t ts_ns)
{
	uint64_t us = ts_ns / 1000;

	if (caplen > w->snaplen)
		caplen = w->snaplen;
	if (origlen < caplen)
		origlen = caplen;
	if (!w->ng) {
		struct pktap_header h = *hdr;
		uint32_t rec[4] = { (uint32_t)(us / 1000000), (uint32_t)(us % 1000000),
				    PKTAP_HDR_LEN + caplen, PKTAP_HDR_LEN + origlen };

		h.pth_length = PKTAP_HDR_LEN;
		h.pth_frame_pre_length = 0;
		if (put(w, rec, sizeof(rec)) || put(w, &h, sizeof(h)) || put(w, pkt, caplen))
			return -EIO;
	} else {
		char comment[64];
		int id = ng_iface(w, hdr->pth_ifname), clen = 0;
		uint32_t flags = 0, len;

		if (id < 0)
			return id;
		if (hdr->pth_flags & PTH_FLAG_DIR_IN)
			flags = 1;
		else if (hdr->pth_flags & PTH_FLAG_DIR_OUT)
			flags = 2;
		if (hdr->pth_pid > 0 || hdr->pth_comm[0]) {
			clen = snprintf(comment, sizeof(comment), "pid=%d comm=%.16s",
					hdr->pth_pid, hdr->pth_comm);
			if (clen < 0)
				clen = 0;
			if (clen >= (int)sizeof(comment))
				clen = sizeof(comment) - 1;
		}
		len = (uint32_t)(28 + round4(caplen) + (flags ? 8 : 0) +
				 (clen ? 4 + round4((size_t)clen) : 0) + 4 + 4);
		if (put32(w, PCAPNG_EPB) || put32(w, len) || put32(w, (uint32_t)id) ||
		    put32(w, (uint32_t)(us >> 32)) || put32(w, (uint32_t)us) ||
		    put32(w, caplen) || put32(w, origlen) || put(w, pkt, caplen) || pad4(w, caplen))
			return -EIO;
		if (flags && ng_option(w, 2 /* epb_flags */, &flags, 4))
			return -EIO;
		if (clen && ng_option(w, 1 /* opt_comment */, comment, (size_t)clen))
			return -EIO;
		if (put32(w, 0) || put32(w, len))
			return -EIO;
	}
	w->packets++;
	return 0;
}

int pcap_writer_flush(struct pcap_writer *w)
{
	return fflush(w->f) == 0 ? 0 : -errno;
}
