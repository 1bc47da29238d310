/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Capture file writers for iptap records (pure: they only write to a FILE).
 *
 * pcap: classic libpcap format, microsecond timestamps, LINKTYPE_PKTAP (258):
 * each record is the 156-byte pktap_header followed by the IP packet, which
 * Wireshark/tshark/tcpdump decode as they do macOS captures.
 *
 * pcapng: one Interface Description Block per original interface (by
 * pth_ifname, LINKTYPE_RAW, if_name option), then Enhanced Packet Blocks
 * carrying the raw IP packet with epb_flags (inbound/outbound) and an
 * opt_comment "pid=P comm=C" when a process owns the packet - so libpcap
 * filters (`tcp port 80`) work on it.
 */
#ifndef IFKIT_PCAP_H
#define IFKIT_PCAP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "ifkit/pktap.h"

#define PCAP_MAGIC_USEC		0xa1b2c3d4u
#define PCAPNG_SHB		0x0a0d0d0au
#define PCAPNG_IDB		0x00000001u
#define PCAPNG_EPB		0x00000006u
#define PCAPNG_BOM		0x1a2b3c4du
#define PCAPNG_MAX_IFACES	256

struct pcap_writer {
	FILE *f;
	bool ng;
	uint32_t snaplen;
	char ifnames[PCAPNG_MAX_IFACES][PKTAP_IFXNAMSIZ];
	uint32_t nifaces;
	uint64_t packets;
};

/* Start a file: pcap global header (LINKTYPE_PKTAP) or pcapng section header. */
int pcap_writer_open(struct pcap_writer *w, FILE *f, bool pcapng, uint32_t snaplen);
/*
 * Write one packet: hdr describes it (interface, direction, process),
 * pkt/caplen are the IP bytes present, origlen its length on the wire,
 * ts_ns the time in ns since the epoch.  Returns 0 or -errno.
 */
int pcap_writer_packet(struct pcap_writer *w, const struct pktap_header *hdr,
		       const uint8_t *pkt, uint32_t caplen, uint32_t origlen, uint64_t ts_ns);
int pcap_writer_flush(struct pcap_writer *w);

#endif
