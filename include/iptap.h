/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Map layouts shared by bpf/iptap.bpf.c, the loader and the capture reader.
 *
 * The tap programs run on tc ingress/egress of every interface of a network
 * namespace that holds an iptap.  They find their namespace's configuration
 * by netns cookie (one hash lookup: with no listener that is all they do).
 *
 * Records in iptap_rings (BPF ring buffers) and iptap_events (perf ring) are
 * [struct pktap_header][link header][IP packet]:
 * pth_length = 156 + pth_frame_pre_length, so a PKTAP decoder takes the
 * packet at the IP header (pth_dlt 12, raw IP); `ifkit iptap capture`
 * rewrites them to a plain 156-byte header followed by the IP packet.
 * Both arrays have IPTAP_MAX_READERS slots of nr_cpus entries each: reader
 * slot s owns keys s * nr_cpus + cpu.
 */
#ifndef IFKIT_IPTAP_H
#define IFKIT_IPTAP_H

#include "ifkit/pktap.h"

#define IPTAP_MAX_PER_NS	8	/* iptaps with raw listeners per namespace */
#define IPTAP_MAX_READERS	8	/* concurrent PKTAP readers (ring slots) */
#define IPTAP_MAX_NS		64	/* tapped namespaces */
#define IPTAP_MAX_IFACES	4096	/* tapped interfaces, all namespaces */
#define IPTAP_DEFAULT_SNAPLEN	65535
/*
 * A perf sample's size is a u16 (header 8 + size 4 + data, 8-byte aligned):
 * a record carries at most this many bytes of the frame after its 156-byte
 * header (4 + 156 + 65360 = 65520, a multiple of 8).  Longer packets
 * (64 KiB on lo, the largest GSO packets) are cut there, like a snap length.
 */
#define IPTAP_MAX_RECORD_DATA	65360
/* Records of at most this many packet bytes skip the dynptrs (bpf/iptap.bpf.c). */
#define IPTAP_SMALL_RECORD	252
#define IPTAP_TC_PRIO		1
#define IPTAP_TC_HANDLE		0x1a7a

/* iptap_ns_cfg: key = netns cookie (__u64). Written whole by the loader. */
struct iptap_ns_cfg {
	__u32 idx;				/* index into iptap_stats */
	__u32 n_raw;				/* entries used in raw_ifindex */
	__u32 raw_ifindex[IPTAP_MAX_PER_NS];	/* iptaps with raw listeners */
	__u32 reader_mask;			/* PKTAP reader slots for this namespace */
	__u32 snaplen[IPTAP_MAX_READERS];	/* per slot */
};

/*
 * iptap_ns_fast: the same configuration in an array, at index netns cookie
 * % IPTAP_NS_FAST and tagged with the cookie.  Every packet of a tapped
 * namespace starts with finding it: an array entry costs the program ~5 ns,
 * the hash lookup ~27 ns (BPF_PROG_TEST_RUN).  A namespace whose index is
 * taken by another (cookies equal modulo IPTAP_NS_FAST) is found in
 * iptap_ns_cfg, which always holds every tapped namespace.  The loader
 * writes an entry with tag 0 while its content changes (programs then use
 * the hash), then the tag.
 */
#define IPTAP_NS_FAST		256

struct iptap_ns_fast {
	__u64 cookie;				/* 0: free, or being written */
	struct iptap_ns_cfg cfg;
};

/*
 * iptap_filters: per reader slot, what the reader wants.  The owner filters
 * (pid, uid, command, cgroup) compare with the socket owner the cgroup
 * programs recorded; a packet without owner matches none of them.  The
 * program is classic BPF (libpcap's
 * pcap_compile() for DLT_RAW: it sees the IP packet) that the loader
 * translates to eBPF (iptap_jit[slot]); when it cannot, the tap programs
 * interpret it in the kernel before a record is written.  The interpreter sees
 * the first IPTAP_FILTER_BYTES bytes of the packet; a load beyond them (in a
 * longer packet) cannot be decided there and the record goes to the reader,
 * which applies the same program to the whole packet (pcap_offline_filter).
 * Written by the reader itself before it maps its rings.
 */
#define IPTAP_FILTER_MAX	256	/* instructions */
#define IPTAP_FILTER_BYTES	256	/* bytes of the IP packet the kernel filter sees */

struct iptap_cbpf {			/* struct sock_filter / struct bpf_insn of libpcap */
	__u16 code;
	__u8  jt, jf;
	__u32 k;
};

#define IPTAP_RF_PID		0x01
#define IPTAP_RF_UID		0x02
#define IPTAP_RF_COMM		0x04
#define IPTAP_RF_CGROUP		0x08	/* owner's cgroup (`capture -- CMD`) */
#define IPTAP_RF_BPF		0x10	/* insn[0..len) */

struct iptap_filter {
	__u32 flags;				/* IPTAP_RF_* */
	__s32 pid;
	__u32 uid;
	__u32 len;				/* instructions used */
	__u64 cgroup_id;
	char  comm[16];
	struct iptap_cbpf insn[IPTAP_FILTER_MAX];
};

/*
 * iptap_reader_stats: per-CPU counters per reader slot, zeroed by the loader
 * when it gives the slot out.  Every record decision is counted once:
 * written (records), not written because the ring was full (lost), because
 * no ring was mapped in the slot (unmapped: before the reader mapped it or
 * after it unmapped it at the end), or refused by the reader's filters.
 */
struct iptap_reader_stat {
	__u64 records;
	__u64 lost;
	__u64 unmapped;
	__u64 filtered;
};

/* iptap_ifaces: one entry per tapped interface. */
struct iptap_if_key {
	__u64 netns_cookie;
	__u32 ifindex;
	__u32 pad;
};

struct iptap_if_info {
	char  name[16];
	__u16 iftype;				/* PKTAP_IFT_* */
	__u16 unit;
	__u16 l2len;				/* link header bytes before the IP header */
	__u16 flags;				/* IPTAP_IF_* */
};

/* The loader created the clsact qdisc: a restart after a crash deletes it. */
#define IPTAP_IF_OWN_CLSACT	0x1

/* iptap_stats: per-CPU counters per namespace (index iptap_ns_cfg.idx). */
struct iptap_stat {
	__u64 packets;			/* IP packets seen while someone listened */
	__u64 bytes;
	__u64 copies;			/* raw copies sent to iptaps */
	__u64 copy_errors;
	__u64 records;			/* PKTAP records written */
	__u64 record_errors;		/* ring full or reader gone: lost in the kernel */
};

/* iptap_sk_owner: socket local storage, filled by the cgroup programs. */
struct iptap_owner {
	__u32 pid;				/* tgid */
	__u32 uid;
	__u64 cgroup_id;			/* cgroup v2 id of the process */
	char  comm[16];
};

/*
 * pth_svc: Apple's SO_TC_* service classes (sys/socket.h), from the Linux
 * priority of the packet's socket (SO_PRIORITY, or the one IP_TOS/IPV6_TCLASS
 * imply: TC_PRIO_*).  Index = priority 0..7; other priorities read as BE.
 */
#define PKTAP_SO_TC_BE		0
#define PKTAP_SO_TC_BK_SYS	100
#define PKTAP_SO_TC_BK		200
#define PKTAP_SO_TC_RD		300
#define PKTAP_SO_TC_OAM		400
#define PKTAP_SO_TC_AV		500
#define PKTAP_SO_TC_RV		600
#define PKTAP_SO_TC_VI		700
#define PKTAP_SO_TC_VO		800
#define PKTAP_SO_TC_CTL		900

#endif
