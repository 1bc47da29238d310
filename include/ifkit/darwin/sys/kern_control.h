/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * <sys/kern_control.h> of macOS for Linux (ifkit's libutun-darwin): the
 * user-space half, with macOS's layouts and values.  libutun-darwin answers
 * CTLIOCGINFO and connect() on PF_SYSTEM/SYSPROTO_CONTROL sockets; only the
 * utun control ("com.apple.net.utun_control") exists.
 */
#ifndef IFKIT_DARWIN_SYS_KERN_CONTROL_H
#define IFKIT_DARWIN_SYS_KERN_CONTROL_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/sys_domain.h>

#define KEV_CTL_SUBCLASS	2
#define KEV_CTL_REGISTERED	1
#define KEV_CTL_DEREGISTERED	2

#define MAX_KCTL_NAME		96

/* CTLIOCGINFO: translate a control name to its id. */
struct ctl_info {
	uint32_t	ctl_id;
	char		ctl_name[MAX_KCTL_NAME];
};

/* Address of a kernel control (connect()). */
struct sockaddr_ctl {
	u_char		sc_len;		/* sizeof(struct sockaddr_ctl) */
	u_char		sc_family;	/* AF_SYSTEM */
	uint16_t	ss_sysaddr;	/* AF_SYS_CONTROL */
	uint32_t	sc_id;		/* from CTLIOCGINFO */
	uint32_t	sc_unit;	/* utun: 0 = any, N = utun(N-1) */
	uint32_t	sc_reserved[5];
};

/*
 * Same numbers as macOS: _IOR/_IOWR('N', ...) encode to the same values on
 * Linux (direction in the top bits, 13+ bits of size, group, number).
 */
#define CTLIOCGCOUNT		_IOR('N', 2, int)
#define CTLIOCGINFO		_IOWR('N', 3, struct ctl_info)

/* Registration flags (kernel side on macOS; listed for code that names them). */
#define CTL_FLAG_PRIVILEGED	0x1
#define CTL_FLAG_REG_ID_UNIT	0x2
#define CTL_FLAG_REG_SOCK_STREAM 0x4

#define CTL_DATA_NOWAKEUP	0x1
#define CTL_DATA_EOR		0x2

#endif
