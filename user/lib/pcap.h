/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Capture file writers for iptap records (pure: they only write to a file
 * descriptor they are given).
 *
 * pcap: classic libpcap format, microsecond timestamps, LINKTYPE_PKTAP (258):
 * each record is the 156-byte pktap_header followed by the IP packet, which
 * Wireshark/tshark/tcpdump decode as they do macOS captures.
 *
 * pcapng: one Interface Description Block per original interface (by
 * pth_ifname: if_name option), all of link type LINUX_SLL2 (276), then
 * Enhanced Packet Blocks with epb_flags (inbound/outbound) and an
 * opt_comment "pid=P comm=C svc=S" when a process owns the packet.  Every
 * packet starts with a 20-byte SLL2 header (protocol, interface type,
 * packet type: host or outgoing) followed by the IP packet.  Why SLL2 and
 * not RAW: Debian's libpcap 1.10.3 refuses a pcapng whose second interface
 * has LINKTYPE_RAW (it compares 101 with the first one's DLT 12); SLL2 has
 * one number for both, libpcap compiles every filter for it (`tcp port 80`,
 * and also `inbound`/`outbound`), and the direction is in each packet,
 * so tcpdump shows In/Out and it survives conversion to pcap.
 *
 * Output is buffered here and written with write(2) in whole records (a
 * pcap record of a large packet is written at once, the packet with
 * writev(2) from the caller's memory rather than copied): the
 * number of records said to be written is the number in the file.  After a
 * failed write (a full disk), the records that made it whole are counted and
 * a regular file is cut back to the last of them.
 */
#ifndef IFKIT_PCAP_H
#define IFKIT_PCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "ifkit/pktap.h"

#define PCAP_MAGIC_USEC		0xa1b2c3d4u
#define PCAPNG_SHB		0x0a0d0d0au
#define PCAPNG_IDB		0x00000001u
#define PCAPNG_EPB		0x00000006u
#define PCAPNG_BOM		0x1a2b3c4du
#define PCAPNG_MAX_IFACES	256
#define LINKTYPE_LINUX_SLL2	276
#define SLL2_HDR_LEN		20
#define PCAP_WRITER_BUF		(1u << 20)
/* pcap: packets from this size on are written from the caller's memory (writev), not copied. */
#define PCAP_WRITER_DIRECT	(8u << 10)

struct pcap_writer {
	int fd;
	bool ng;
	uint32_t snaplen;
	char ifnames[PCAPNG_MAX_IFACES][PKTAP_IFXNAMSIZ];
	uint32_t nifaces;
	uint8_t *buf;			/* whole records not yet written */
	size_t len, cap;
	size_t *ends;			/* where each record in buf ends */
	size_t nends, capends;
	off_t committed;		/* bytes in the file, all whole records */
	uint64_t packets;		/* records in the file */
	uint64_t pending;		/* records in buf */
	int err;			/* first write error (-errno), sticky */
};

/* Start a file on fd: pcap global header (LINKTYPE_PKTAP) or pcapng section header. */
int pcap_writer_open(struct pcap_writer *w, int fd, bool pcapng, uint32_t snaplen);
/*
 * Add one packet: hdr describes it (interface, direction, process),
 * pkt/caplen are the IP bytes present, origlen its length on the wire,
 * ts_ns the time in ns since the epoch.  Writes out when the buffer is full.
 * Returns 0 or -errno (then w->err is set and nothing more is written).
 */
int pcap_writer_packet(struct pcap_writer *w, const struct pktap_header *hdr,
		       const uint8_t *pkt, uint32_t caplen, uint32_t origlen, uint64_t ts_ns);
/* Write out what is buffered.  0 or -errno. */
int pcap_writer_flush(struct pcap_writer *w);
/* Bytes in the file plus buffered (for size-based rotation). */
uint64_t pcap_writer_size(const struct pcap_writer *w);
/* Flush and free the buffer (the descriptor stays the caller's).  0 or -errno. */
int pcap_writer_close(struct pcap_writer *w);

#endif
