/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* ifkit iptap capture: the text printer (capture_text.c). */
#ifndef IFKIT_CAPTURE_H
#define IFKIT_CAPTURE_H

#include <stdint.h>
#include <stdio.h>
#include "ifkit/pktap.h"

/*
 * One line per packet, as `tcpdump -n` prints it (addresses, ports, TCP
 * flags, seq/ack/win, ICMP types, lengths), after the interface, the
 * direction and the owning process:
 *   12:00:00.123456 vA Out pid 4242 comm curl IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], ...
 * pid -1 and comm "-" when no local process owns the packet.
 */
void capture_text_line(FILE *out, const struct pktap_header *h, const uint8_t *pkt,
		       uint32_t caplen, uint32_t origlen, uint64_t ts_ns);

#endif
