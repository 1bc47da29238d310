// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `ifkit iptap capture` without -w: tcpdump -n style lines (see capture.h). */
#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include "capture.h"
#include "iptap_util.h"

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void tcp_line(FILE *out, const char *src, const char *dst, const uint8_t *t,
		     uint32_t avail, uint32_t l4len)
{
	static const struct { uint8_t bit; char c; } flags[] = {
		{ 0x02, 'S' }, { 0x01, 'F' }, { 0x08, 'P' }, { 0x04, 'R' }, { 0x20, 'U' },
		{ 0x40, 'E' }, { 0x80, 'W' }, { 0x10, '.' },
	};
	char fl[16];
	size_t n = 0;
	uint32_t doff, payload, seq;

	if (avail < 20) {
		fprintf(out, "%s > %s: tcp (truncated)", src, dst);
		return;
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (t[13] & flags[i].bit)
			fl[n++] = flags[i].c;
	fl[n] = '\0';
	doff = (uint32_t)(t[12] >> 4) * 4;
	payload = l4len > doff ? l4len - doff : 0;
	seq = be32(t + 4);
	fprintf(out, "%s.%u > %s.%u: Flags [%s], seq %u", src, be16(t), dst, be16(t + 2),
		fl, seq);
	if (payload)
		fprintf(out, ":%u", seq + payload);
	if (t[13] & 0x10)
		fprintf(out, ", ack %u", be32(t + 8));
	fprintf(out, ", win %u, length %u", be16(t + 14), payload);
}

void capture_text_line(FILE *out, const struct pktap_header *h, const uint8_t *pkt,
		       uint32_t caplen, uint32_t origlen, uint64_t ts_ns)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	time_t sec = (time_t)(ts_ns / 1000000000ULL);
	const uint8_t *l4;
	uint32_t proto, hlen, l4len, avail;
	bool v6;
	struct tm tm;

	localtime_r(&sec, &tm);
	fprintf(out, "%02d:%02d:%02d.%06llu %.24s %s pid %d comm %s ", tm.tm_hour, tm.tm_min,
		tm.tm_sec, (unsigned long long)(ts_ns / 1000 % 1000000), h->pth_ifname,
		h->pth_flags & PTH_FLAG_DIR_OUT ? "Out" : h->pth_flags & PTH_FLAG_DIR_IN ? "In" : "?",
		h->pth_pid, h->pth_comm[0] ? h->pth_comm : "-");
	v6 = caplen >= 1 && (pkt[0] >> 4) == 6;
	if (v6 && caplen >= 40) {
		inet_ntop(AF_INET6, pkt + 8, src, sizeof(src));
		inet_ntop(AF_INET6, pkt + 24, dst, sizeof(dst));
		proto = pkt[6];
		hlen = 40;
		l4len = be16(pkt + 4);
		fputs("IP6 ", out);
	} else if (!v6 && caplen >= 20 && (pkt[0] >> 4) == 4) {
		inet_ntop(AF_INET, pkt + 12, src, sizeof(src));
		inet_ntop(AF_INET, pkt + 16, dst, sizeof(dst));
		proto = pkt[9];
		hlen = (uint32_t)(pkt[0] & 0xf) * 4;
		l4len = be16(pkt + 2) > hlen ? be16(pkt + 2) - hlen : 0;
		fputs("IP ", out);
		if (be16(pkt + 6) & 0x1fff) {	/* not the first fragment */
			fprintf(out, "%s > %s: ip-proto-%u (fragment), length %u\n", src, dst,
				proto, origlen);
			return;
		}
	} else {
		fprintf(out, "(not IP), length %u\n", origlen);
		return;
	}
	l4 = pkt + hlen;
	avail = caplen > hlen ? caplen - hlen : 0;
	switch (proto) {
	case 6:
		tcp_line(out, src, dst, l4, avail, l4len);
		break;
	case 17:
		if (avail >= 8)
			fprintf(out, "%s.%u > %s.%u: UDP, length %u", src, be16(l4), dst,
				be16(l4 + 2), be16(l4 + 4) >= 8 ? be16(l4 + 4) - 8 : 0);
		else
			fprintf(out, "%s > %s: udp (truncated)", src, dst);
		break;
	case 1:
	case 58: {
		const char *what = NULL;

		if (avail >= 1) {
			if (proto == 1)
				what = l4[0] == 8 ? "echo request" : l4[0] == 0 ? "echo reply" :
				       l4[0] == 3 ? "unreachable" : l4[0] == 11 ? "time exceeded" : NULL;
			else
				what = l4[0] == 128 ? "echo request" : l4[0] == 129 ? "echo reply" :
				       l4[0] == 1 ? "destination unreachable" :
				       l4[0] == 135 ? "neighbor solicitation" :
				       l4[0] == 136 ? "neighbor advertisement" :
				       l4[0] == 133 ? "router solicitation" : NULL;
		}
		fprintf(out, "%s > %s: %s", src, dst, proto == 1 ? "ICMP " : "ICMP6, ");
		if (what)
			fputs(what, out);
		else
			fprintf(out, "type %u", avail ? l4[0] : 0);
		if (what && !strncmp(what, "echo", 4) && avail >= 8)
			fprintf(out, ", id %u, seq %u", be16(l4 + 4), be16(l4 + 6));
		fprintf(out, ", length %u", l4len);
		break;
	}
	default:
		fprintf(out, "%s > %s: ip-proto-%u, length %u", src, dst, proto, l4len);
	}
	fputc('\n', out);
}
