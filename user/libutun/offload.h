/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* libutun internals: offload mode (offload.c). */
#ifndef LIBUTUN_OFFLOAD_H
#define LIBUTUN_OFFLOAD_H

#include <stdbool.h>

/* Whether fd is in offload mode (its packets go through the packet socket). */
bool offload_active(int fd);
/* The packet socket of an offloaded fd, or -1. */
int offload_pollfd(int fd);
/* Forget fd's offload state (utun_close; the packet socket itself goes with the utun). */
void offload_forget(int fd);
/*
 * utun_open got number fd: forget a closed utun's entry under it without
 * closing anything (its packet socket's number is the relay thread's to
 * release, maybe not yet).
 */
void offload_drop_stale(int fd);

#endif
