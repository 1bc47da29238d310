/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef IFKIT_NETNS_H
#define IFKIT_NETNS_H

#include <stddef.h>

#define NETNS_RUN_DIR "/run/netns"

/* Open /run/netns/NAME (O_RDONLY|O_CLOEXEC); -errno. */
int netns_open(const char *name);
/*
 * Open the named namespace, creating and pinning it under /run/netns (as
 * `ip netns add` does) if it does not exist.  Returns an fd or -errno.
 */
int netns_open_or_create(const char *name);
/* Unpin a named namespace; it dies once nothing else holds it. */
int netns_remove(const char *name);
/* Open this thread's current network namespace. */
int netns_open_self(void);
/*
 * Name of the /run/netns entry that is the same namespace as ns_fd, written
 * to buf ("" if none).  Returns 0 or -errno.
 */
int netns_name_of(int ns_fd, char *buf, size_t len);
/* 1 if both descriptors are the same namespace, 0 if not, -errno. */
int netns_same(int fd_a, int fd_b);
/*
 * Turn IPv6 off for every device of this thread's namespace, present and
 * future: hidden ends must never speak (no autoconfiguration, DAD or MLD
 * chatter reaching the visible end).  Returns 0 or the first -errno.
 */
int netns_silence_ipv6(void);

#endif
