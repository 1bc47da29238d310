/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * <net/if_utun.h> of macOS for Linux (ifkit's libutun-darwin), macOS's
 * values.  Options are read and set with getsockopt/setsockopt at level
 * SYSPROTO_CONTROL on a connected utun control socket.
 *
 * Packets carry a 4-byte protocol family in network byte order: reads give
 * the host's values (AF_INET 2, AF_INET6 10 on Linux); a write with macOS's
 * AF_INET6 value (30, UTUN_DARWIN_AF_INET6) is taken as IPv6 too.
 */
#ifndef IFKIT_DARWIN_NET_IF_UTUN_H
#define IFKIT_DARWIN_NET_IF_UTUN_H

#include <sys/kern_control.h>

#ifndef UTUN_CONTROL_NAME
#define UTUN_CONTROL_NAME	"com.apple.net.utun_control"
#endif
#ifndef UTUN_OPT_FLAGS
#define UTUN_OPT_FLAGS		1
#define UTUN_OPT_IFNAME		2
#endif

#ifndef UTUN_FLAGS_NO_OUTPUT
#define UTUN_FLAGS_NO_OUTPUT	0x0001
#define UTUN_FLAGS_NO_INPUT	0x0002
#endif

/* macOS's AF_INET6, accepted in the family header of a write. */
#define UTUN_DARWIN_AF_INET6	30

#endif
