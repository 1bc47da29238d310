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
int fast_send(struct utun_fast *f, const struct utun_pkt *pkts, unsigned int n, int flags,
	      unsigned int mtu);
/* utunN's current MTU (one ioctl), or 0 if it cannot be read. */
unsigned int libutun_dev_mtu(int fd);
/* Forget what libutun remembered of fd (utun_close). */
void libutun_dev_forget(int fd);

#endif
