/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * <sys/sys_domain.h> of macOS for Linux (ifkit's libutun-darwin).
 *
 * Names and values are macOS's except PF_SYSTEM/AF_SYSTEM: macOS uses 32,
 * which on Linux is AF_IUCV (s390).  ifkit takes 253, outside Linux's
 * address family range (AF_MAX is 46 on Linux 6.x), so a socket(PF_SYSTEM,
 * ...) that does not reach libutun-darwin fails cleanly with EAFNOSUPPORT
 * instead of opening some other kind of socket, and the value still fits
 * the u_char sc_family of struct sockaddr_ctl.  Code that uses the names
 * (every port we know of) is not affected.  See docs/porting.md.
 */
#ifndef IFKIT_DARWIN_SYS_SYS_DOMAIN_H
#define IFKIT_DARWIN_SYS_SYS_DOMAIN_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#define IFKIT_DARWIN_AF_SYSTEM	253		/* macOS: 32 (Linux AF_IUCV) */

#ifndef AF_SYSTEM
#define AF_SYSTEM		IFKIT_DARWIN_AF_SYSTEM
#endif
#ifndef PF_SYSTEM
#define PF_SYSTEM		AF_SYSTEM
#endif

/* Protocols of the system domain (socket()'s third argument). */
#define SYSPROTO_EVENT		1		/* kernel events: not provided */
#define SYSPROTO_CONTROL	2		/* kernel control: utun */

/* ss_sysaddr of a system-domain address. */
#define AF_SYS_CONTROL		2
#define AF_SYS_KERNCONTROL	AF_SYS_CONTROL

/* Generic system-domain address (macOS layout). */
struct sockaddr_sys {
	u_char		ss_len;
	u_char		ss_family;		/* AF_SYSTEM */
	uint16_t	ss_sysaddr;		/* AF_SYS_CONTROL */
	uint32_t	ss_reserved[7];
};

#endif
