/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Traffic across a wire between two test namespaces (ifkit-wire), shared by
 * test_utun and test_utun_offload.  The receiving and sending helpers are
 * test_utun's helper modes (--tcp-recv/--tcp-send/--udp-recv/--udp-send).
 */
#ifndef IFKIT_TESTS_UTUN_WIRE_H
#define IFKIT_TESTS_UTUN_WIRE_H

#include <stdbool.h>

/* h_wait_for predicate: 10.80.0.2 answers a ping from namespace arg. */
bool utun_wire_up(void *arg);
/* n bytes of TCP from ns src to dst_addr in ns dst: the receiver's count and hash must match. */
void utun_wire_tcp(const char *src, const char *dst, const char *dst_addr, int port, long n);
/*
 * count UDP datagrams of size bytes; all must arrive intact (a bad checksum
 * drops one).  On a short count it prints the receiver's UDP/IP counters and
 * `ifkit utun show` of the loader at loader_sock.
 */
void utun_wire_udp(const char *src, const char *dst, const char *dst_addr, int port, int count,
		   int size, const char *loader_sock);

#endif
