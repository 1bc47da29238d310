/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* libutun internals: the shared-ring fast path (fast.c). */
#ifndef LIBUTUN_FAST_H
#define LIBUTUN_FAST_H

#include "ifkit/utun.h"

struct utun_fast;
/* The fast-path state of fd, or NULL if fd uses the socket. */
struct utun_fast *fast_get(int fd);
unsigned int fast_mtu(const struct utun_fast *f);
int fast_recv(struct utun_fast *f, struct utun_pkt *pkts, unsigned int n, int flags);
int fast_send(struct utun_fast *f, const struct utun_pkt *pkts, unsigned int n, int flags);

#endif
