/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What every ifkit BPF program repeats.  vmlinux.h has the kernel's types
 * but none of its #defines, so the uapi constants the programs need are
 * spelt out here once.
 */
#ifndef IFKIT_COMMON_BPF_H
#define IFKIT_COMMON_BPF_H

/* include/uapi/linux/pkt_cls.h */
#define TC_ACT_UNSPEC		(-1)
#define TC_ACT_OK		0
#define TC_ACT_SHOT		2
#define TC_ACT_REDIRECT		7

/* include/uapi/linux/if_ether.h (host order; compare with bpf_htons()) */
#define ETH_P_IP		0x0800
#define ETH_P_IPV6		0x86DD

/* Linux address families (include/linux/socket.h) */
#define LINUX_AF_INET		2
#define LINUX_AF_INET6		10

/* include/uapi/linux/in.h */
#define PROTO_TCP		6
#define PROTO_UDP		17

#endif
