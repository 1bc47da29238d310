/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Every network namespace reachable from here, once: the names under
 * /run/netns, then each process's /proc/PID/ns/net (a namespace without a
 * name lives only in its processes).
 */
#ifndef IFKIT_NETNS_WALK_H
#define IFKIT_NETNS_WALK_H

#include <stdbool.h>
#include <sys/stat.h>

/*
 * fn(ns_fd, st, arg) for each namespace (ns_fd open O_RDONLY, closed after
 * the call; st its stat).  A non-zero return stops the walk and is returned.
 * skip_pid: a process to leave out (0 for none), e.g. the caller itself.
 */
int netns_walk(int (*fn)(int ns_fd, const struct stat *st, void *arg), void *arg, int skip_pid);

#endif
