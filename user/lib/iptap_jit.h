/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A reader's classic BPF filter (libpcap's pcap_compile() for DLT_RAW) as
 * eBPF, run JITed in place of the tap programs' cBPF interpreter.
 *
 * The translation is a tc program: the filter sees the IP packet, which
 * starts skb->cb[0] bytes (the link header, l2) into the frame tc hands
 * over.  It returns the cBPF program's return value (0: no match) and loads
 * packet bytes in place from the linear data, else with LD_IND through the
 * kernel's skb load helpers, so a load beyond the packet ends it with 0, as
 * in libpcap's bpf_filter()
 * (and unlike the interpreter, it sees every byte of the packet, not only
 * the first 256).  The tap programs tail-call it from the reader slot's
 * global function iptap_slot_filterN: a tail call from a subprogram
 * returns to that subprogram's caller, so its return value is the verdict.
 *
 * Kept apart from libpcap's headers (both define struct bpf_insn).
 */
#ifndef IFKIT_IPTAP_JIT_H
#define IFKIT_IPTAP_JIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/bpf.h>
#include "iptap.h"

/* eBPF instructions a translation can take (at most 16 per cBPF instruction). */
#define IPTAP_JIT_MAX_INSNS	(IPTAP_FILTER_MAX * 16 + 32)

/*
 * cBPF prog[0..len) -> eBPF out[0..*n).  -EINVAL for a reachable jump out
 * of the program or backwards (libpcap's protochain: the interpreter's) and
 * a scratch word >= 16; -E2BIG if out is too small.  An opcode libpcap does
 * not execute rejects the packet when reached.
 */
int iptap_jit_translate(const struct iptap_cbpf *prog, unsigned int len, struct bpf_insn *out,
			unsigned int max, unsigned int *n);

/* An opcode libpcap's bpf_filter() executes (others reject the packet here). */
bool iptap_jit_opcode_known(uint16_t code);

/*
 * Load insns as a tc (sched_cls) program for the tap programs' iptap_jit
 * program array.  The program fd, or -errno with the verifier's last line
 * in log.
 */
int iptap_jit_load(const struct bpf_insn *insns, unsigned int n, char *log, size_t loglen);

#endif
