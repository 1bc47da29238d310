// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pcap/pcap.h>
#include "iptap_filter.h"

struct iptap_expr {
	struct bpf_program prog;
};

_Static_assert(sizeof(struct bpf_insn) == sizeof(struct iptap_cbpf), "cBPF instruction layout");

int iptap_expr_compile(const char *expr, uint32_t snaplen, struct iptap_filter *f,
		       struct iptap_expr **out, char *why, size_t whylen)
{
	pcap_t *dead = pcap_open_dead(DLT_RAW, (int)(snaplen ? snaplen : 65535));
	struct iptap_expr *e;

	*out = NULL;
	if (!dead)
		return -ENOMEM;
	e = calloc(1, sizeof(*e));
	if (!e) {
		pcap_close(dead);
		return -ENOMEM;
	}
	if (pcap_compile(dead, &e->prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(why, whylen, "%s", pcap_geterr(dead));
		pcap_close(dead);
		free(e);
		return -EINVAL;
	}
	pcap_close(dead);
	if (e->prog.bf_len <= IPTAP_FILTER_MAX) {
		memcpy(f->insn, e->prog.bf_insns, e->prog.bf_len * sizeof(struct bpf_insn));
		f->len = e->prog.bf_len;
		f->flags |= IPTAP_RF_BPF;
	}
	*out = e;
	return 0;
}

bool iptap_expr_match(const struct iptap_expr *e, const uint8_t *pkt, uint32_t caplen,
		      uint32_t origlen)
{
	struct pcap_pkthdr ph;

	memset(&ph, 0, sizeof(ph));
	ph.caplen = caplen;
	ph.len = origlen;
	return pcap_offline_filter(&e->prog, &ph, pkt) != 0;
}

unsigned int iptap_expr_len(const struct iptap_expr *e)
{
	return e->prog.bf_len;
}

void iptap_expr_free(struct iptap_expr *e)
{
	if (!e)
		return;
	pcap_freecode(&e->prog);
	free(e);
}

bool iptap_cbpf_valid(const struct iptap_cbpf *prog, unsigned int len)
{
	return bpf_validate((const struct bpf_insn *)prog, (int)len) != 0;
}

uint32_t iptap_cbpf_filter(const struct iptap_cbpf *prog, const uint8_t *pkt, uint32_t wirelen,
			   uint32_t buflen)
{
	return bpf_filter((const struct bpf_insn *)prog, pkt, wirelen, buflen);
}
