/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pcap-filter(7) expressions for iptap readers: compiled by libpcap for
 * DLT_RAW (the program sees the IP packet) into classic BPF, which runs in
 * the kernel as eBPF (iptap_jit.c) or, failing that, in the tap programs'
 * interpreter (bpf/iptap.bpf.c); the reader applies it again to what the
 * interpreter could not decide.  Kept apart from libbpf's
 * headers: libpcap and linux/bpf.h both define struct bpf_insn.
 */
#ifndef IFKIT_IPTAP_FILTER_H
#define IFKIT_IPTAP_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "iptap.h"

struct iptap_expr;

/*
 * Compile expr; on success *out holds the program (free it with
 * iptap_expr_free) and, when it fits (IPTAP_FILTER_MAX instructions), f gets
 * it with IPTAP_RF_BPF set.  -EINVAL with libpcap's message in why.
 */
int iptap_expr_compile(const char *expr, uint32_t snaplen, struct iptap_filter *f,
		       struct iptap_expr **out, char *why, size_t whylen);
/* Does the IP packet (caplen bytes present of origlen) match? */
bool iptap_expr_match(const struct iptap_expr *e, const uint8_t *pkt, uint32_t caplen,
		      uint32_t origlen);
/* Instructions in the program. */
unsigned int iptap_expr_len(const struct iptap_expr *e);
void iptap_expr_free(struct iptap_expr *e);

/* libpcap's validator and interpreter on a raw program (tests, fuzzer). */
bool iptap_cbpf_valid(const struct iptap_cbpf *prog, unsigned int len);
uint32_t iptap_cbpf_filter(const struct iptap_cbpf *prog, const uint8_t *pkt, uint32_t wirelen,
			   uint32_t buflen);

#endif
