// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "pcap.h"

static int put(struct pcap_writer *w, const void *p, size_t n)
{
	if (w->err)
		return w->err;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 64 * 1024;
		uint8_t *grown;

		while (cap < w->len + n)
			cap *= 2;
		grown = realloc(w->buf, cap);
		if (!grown)
			return w->err = -ENOMEM;
		w->buf = grown;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
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

/* The buffer so far ends a record (or the file header, which is no record). */
static int mark_end(struct pcap_writer *w, bool record)
{
	if (!record)
		return 0;
	if (w->nends == w->capends) {
		size_t cap = w->capends ? w->capends * 2 : 1024;
		size_t *grown = realloc(w->ends, cap * sizeof(*grown));

		if (!grown)
			return w->err = -ENOMEM;
		w->ends = grown;
		w->capends = cap;
	}
	w->ends[w->nends++] = w->len;
	return 0;
}

/*
 * Write the buffer followed by extra (a large packet, not copied into the
 * buffer; the record it ends was marked).  All whole records or an error
 * with the file cut back to the last whole record.
 */
static int flush_with(struct pcap_writer *w, const void *extra, size_t extra_len)
{
	size_t done = 0, total = w->len + extra_len;

	if (w->err)
		return w->err;
	while (done < total) {
		struct iovec iov[2];
		int niov = 0;
		ssize_t n;

		if (done < w->len)
			iov[niov++] = (struct iovec){ w->buf + done, w->len - done };
		if (extra_len) {
			size_t off = done > w->len ? done - w->len : 0;

			iov[niov++] = (struct iovec){ (uint8_t *)extra + off, extra_len - off };
		}
		n = writev(w->fd, iov, niov);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			struct stat st;
			size_t whole = 0, bytes = 0;

			w->err = n < 0 ? -errno : -EIO;
			/* The records written whole count; a regular file keeps only them. */
			while (whole < w->nends && w->ends[whole] <= done)
				bytes = w->ends[whole++];
			if (fstat(w->fd, &st) == 0 && S_ISREG(st.st_mode) && done > bytes)
				if (ftruncate(w->fd, w->committed + (off_t)bytes) == 0)
					lseek(w->fd, w->committed + (off_t)bytes, SEEK_SET);
			w->committed += (off_t)bytes;
			w->packets += whole;
			w->pending = 0;
			w->nends = 0;
			w->len = 0;
			return w->err;
		}
		done += (size_t)n;
	}
	w->committed += (off_t)total;
	w->packets += w->pending;
	w->pending = 0;
	w->nends = 0;
	w->len = 0;
	return 0;
}

int pcap_writer_flush(struct pcap_writer *w)
{
	return flush_with(w, NULL, 0);
}

uint64_t pcap_writer_size(const struct pcap_writer *w)
{
	return (uint64_t)w->committed + w->len;
}

int pcap_writer_close(struct pcap_writer *w)
{
	int err = pcap_writer_flush(w);

	free(w->buf);
	free(w->ends);
	w->buf = NULL;
	w->ends = NULL;
	w->cap = w->capends = w->nends = 0;
	return err;
}

int pcap_writer_open(struct pcap_writer *w, int fd, bool pcapng, uint32_t snaplen)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->ng = pcapng;
	w->snaplen = snaplen ? snaplen : 65535;
	if (!pcapng) {
		struct {
			uint32_t magic;
			uint16_t major, minor;
			int32_t thiszone;
			uint32_t sigfigs, snaplen, linktype;
		} gh = { PCAP_MAGIC_USEC, 2, 4, 0, 0, w->snaplen + PKTAP_HDR_LEN, LINKTYPE_PKTAP };

		if (put(w, &gh, sizeof(gh)))
			return w->err;
		return pcap_writer_flush(w);
	}
	/* Section Header Block: type, length, BOM, version 1.0, section length -1, length. */
	if (put32(w, PCAPNG_SHB) || put32(w, 28) || put32(w, PCAPNG_BOM) || put16(w, 1) ||
	    put16(w, 0))
		return w->err;
	{
		int64_t unknown = -1;

		if (put(w, &unknown, sizeof(unknown)))
			return w->err;
	}
	if (put32(w, 28))
		return w->err;
	return pcap_writer_flush(w);
}

static int ng_option(struct pcap_writer *w, uint16_t code, const void *val, size_t len)
{
	if (put16(w, code) || put16(w, (uint16_t)len) || put(w, val, len))
		return w->err;
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
	if (put32(w, PCAPNG_IDB) || put32(w, len) || put16(w, LINKTYPE_LINUX_SLL2) ||
	    put16(w, 0) || put32(w, w->snaplen + SLL2_HDR_LEN))
		return w->err;
	if (nlen && ng_option(w, 2 /* if_name */, nm, nlen))
		return w->err;
	if (put32(w, 0) /* opt_endofopt */ || put32(w, len))
		return w->err;
	memcpy(w->ifnames[w->nifaces], nm, PKTAP_IFXNAMSIZ);
	return (int)w->nifaces++;
}

/* The LINUX_SLL2 header of a record (all fields big-endian). */
static void sll2_header(const struct pktap_header *hdr, const uint8_t *pkt, uint32_t caplen,
			uint8_t out[SLL2_HDR_LEN])
{
	uint16_t proto = caplen && (pkt[0] >> 4) == 6 ? 0x86dd : 0x0800;
	uint16_t arphrd = hdr->pth_iftype == PKTAP_IFT_ETHER ? 1 :
			  hdr->pth_iftype == PKTAP_IFT_LOOP ? 772 : 0xfffe;

	memset(out, 0, SLL2_HDR_LEN);
	out[0] = (uint8_t)(proto >> 8);
	out[1] = (uint8_t)proto;
	/* bytes 4-7 interface index: unknown here (it names the pcapng interface instead) */
	out[8] = (uint8_t)(arphrd >> 8);
	out[9] = (uint8_t)arphrd;
	out[10] = (hdr->pth_flags & PTH_FLAG_DIR_OUT) ? 4 /* PACKET_OUTGOING */ : 0 /* HOST */;
	out[11] = 0;	/* no link-layer address */
}

int pcap_writer_packet(struct pcap_writer *w, const struct pktap_header *hdr,
		       const uint8_t *pkt, uint32_t caplen, uint32_t origlen, uint64_t ts_ns)
{
	uint64_t us = ts_ns / 1000;
	int err = 0;

	if (w->err)
		return w->err;
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
		if (put(w, rec, sizeof(rec)) || put(w, &h, sizeof(h)))
			return w->err;
		if (caplen >= PCAP_WRITER_DIRECT) {
			/*
			 * A large packet (TCP's 64 KiB GSO packets) is written from
			 * where it is, after what is buffered: one copy less per
			 * record, which was a quarter of a CPU at TCP rates.
			 */
			w->len += caplen;	/* the record's end, as if it were here */
			if (mark_end(w, true))
				return w->err;
			w->len -= caplen;
			w->pending++;
			return flush_with(w, pkt, caplen);
		}
		if (put(w, pkt, caplen))
			return w->err;
	} else {
		char comment[96];
		uint8_t sll2[SLL2_HDR_LEN];
		int id = ng_iface(w, hdr->pth_ifname), clen = 0;
		uint32_t flags = 0, len, cap = caplen + SLL2_HDR_LEN;

		if (id < 0)
			return id == -ENOSPC ? -ENOSPC : w->err;
		if (hdr->pth_flags & PTH_FLAG_DIR_IN)
			flags = 1;
		else if (hdr->pth_flags & PTH_FLAG_DIR_OUT)
			flags = 2;
		if (hdr->pth_pid >= 0 || hdr->pth_comm[0]) {
			clen = snprintf(comment, sizeof(comment), "pid=%d comm=%.16s svc=%u",
					hdr->pth_pid, hdr->pth_comm, hdr->pth_svc);
			if (clen < 0)
				clen = 0;
			if (clen >= (int)sizeof(comment))
				clen = sizeof(comment) - 1;
		}
		sll2_header(hdr, pkt, caplen, sll2);
		len = (uint32_t)(28 + round4(cap) + (flags ? 8 : 0) +
				 (clen ? 4 + round4((size_t)clen) : 0) + 4 + 4);
		if (put32(w, PCAPNG_EPB) || put32(w, len) || put32(w, (uint32_t)id) ||
		    put32(w, (uint32_t)(us >> 32)) || put32(w, (uint32_t)us) ||
		    put32(w, cap) || put32(w, origlen + SLL2_HDR_LEN) ||
		    put(w, sll2, sizeof(sll2)) || put(w, pkt, caplen) || pad4(w, cap))
			return w->err;
		if (flags && ng_option(w, 2 /* epb_flags */, &flags, 4))
			return w->err;
		if (clen && ng_option(w, 1 /* opt_comment */, comment, (size_t)clen))
			return w->err;
		if (put32(w, 0) || put32(w, len))
			return w->err;
	}
	if (mark_end(w, true))
		return w->err;
	w->pending++;
	if (w->len >= PCAP_WRITER_BUF)
		err = pcap_writer_flush(w);
	return err;
}
