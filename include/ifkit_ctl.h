/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ifkit control protocol: the CLI, libutun and the loader speak it over a
 * SOCK_SEQPACKET unix socket (default /run/ifkit/ifkitd.sock).
 *
 * One request is one datagram: a fixed struct ifkit_req, optionally with the
 * caller's network namespace file descriptor attached as SCM_RIGHTS (devices
 * are created in that namespace, as `ip link add` would).  The answer is one
 * or more datagrams, each a struct ifkit_rep followed by rep.item_count items
 * of rep.item_size bytes; IFKIT_REP_F_MORE says another datagram follows.
 * A utun open answers with the client's packet descriptor as SCM_RIGHTS.
 *
 * All integers are host byte order (the socket never leaves the machine).
 */
#ifndef IFKIT_CTL_H
#define IFKIT_CTL_H

#include <linux/types.h>
#include <net/if.h>

#define IFKIT_CTL_MAGIC		0x69666b74u	/* "ifkt" */
#define IFKIT_CTL_VERSION	2
#define IFKIT_DEFAULT_SOCK	"/run/ifkit/ifkitd.sock"
#define IFKIT_DEFAULT_PIN_DIR	"/sys/fs/bpf/ifkit"
#define IFKIT_DEFAULT_NETNS	"ifkit"
#define IFKIT_DEFAULT_CONFIG	"/etc/ifkit/ifkitd.conf"
#define IFKIT_MSG_LEN		128
/* Largest datagram either side sends; replies are split below it. */
#define IFKIT_CTL_MAX_DGRAM	65536

/*
 * A command is (device kind, operation): the loader routes a request to the
 * module of its kind (user/ifkitd/modules.c), so a kind's operations can
 * grow without touching anyone else's numbers.
 */
enum ifkit_kind {
	IFKIT_KIND_CORE = 0,
	IFKIT_KIND_FETH,
	IFKIT_KIND_UTUN,
	IFKIT_KIND_IPTAP,
	IFKIT_KIND_MAX
};

#define IFKIT_CMD(kind, op)	((__u16)(((kind) << 8) | (op)))
#define IFKIT_CMD_KIND(cmd)	((unsigned int)(cmd) >> 8)
#define IFKIT_CMD_OP(cmd)	((unsigned int)(cmd) & 0xff)

enum ifkit_cmd {
	IFKIT_CMD_STATUS		= IFKIT_CMD(IFKIT_KIND_CORE, 1),  /* -> status item */

	IFKIT_CMD_FETH_CREATE		= IFKIT_CMD(IFKIT_KIND_FETH, 1),  /* name ("" = first free) */
	IFKIT_CMD_FETH_DESTROY		= IFKIT_CMD(IFKIT_KIND_FETH, 2),  /* name */
	IFKIT_CMD_FETH_PEER		= IFKIT_CMD(IFKIT_KIND_FETH, 3),  /* name, peer */
	IFKIT_CMD_FETH_UNPEER		= IFKIT_CMD(IFKIT_KIND_FETH, 4),  /* name */
	IFKIT_CMD_FETH_SET_MTU		= IFKIT_CMD(IFKIT_KIND_FETH, 5),  /* name, value = mtu */
	IFKIT_CMD_FETH_SET_MEDIA	= IFKIT_CMD(IFKIT_KIND_FETH, 6),  /* name, value = media index */
	IFKIT_CMD_FETH_SHOW		= IFKIT_CMD(IFKIT_KIND_FETH, 7),  /* name ("" = all) -> feth items */

	IFKIT_CMD_UTUN_OPEN		= IFKIT_CMD(IFKIT_KIND_UTUN, 1),  /* unit (-1 = any), value = flags */
	IFKIT_CMD_UTUN_SET_FLAGS	= IFKIT_CMD(IFKIT_KIND_UTUN, 2),  /* name, value = flags */
	IFKIT_CMD_UTUN_GET_FLAGS	= IFKIT_CMD(IFKIT_KIND_UTUN, 3),  /* name -> rep.value */
	IFKIT_CMD_UTUN_SHOW		= IFKIT_CMD(IFKIT_KIND_UTUN, 4),  /* name ("" = all) -> utun items */
	IFKIT_CMD_UTUN_OFFLOAD		= IFKIT_CMD(IFKIT_KIND_UTUN, 5),  /* utun's AF_XDP socket attached -> AF_PACKET socket (offload mode) */

	IFKIT_CMD_IPTAP_CREATE		= IFKIT_CMD(IFKIT_KIND_IPTAP, 1), /* name ("" = first free) */
	IFKIT_CMD_IPTAP_DESTROY		= IFKIT_CMD(IFKIT_KIND_IPTAP, 2), /* name */
	IFKIT_CMD_IPTAP_SHOW		= IFKIT_CMD(IFKIT_KIND_IPTAP, 3), /* name ("" = all) -> iptap items */
	IFKIT_CMD_IPTAP_LISTEN		= IFKIT_CMD(IFKIT_KIND_IPTAP, 4), /* name: this connection is a PKTAP reader until it closes */
	IFKIT_CMD_IPTAP_READER_MAP	= IFKIT_CMD(IFKIT_KIND_IPTAP, 5), /* on a LISTEN connection: value 0 = iptap_filters, 1 = iptap_reader_stats, 2 = iptap_rings -> fd */
	IFKIT_CMD_IPTAP_FILTER_JIT	= IFKIT_CMD(IFKIT_KIND_IPTAP, 6), /* on a LISTEN connection: run the slot's cBPF filter as eBPF (freplace) */
};

#define IFKIT_REQ_F_JSON	0x1	/* unused by the loader; reserved for the CLI */

struct ifkit_req {
	__u32 magic;
	__u16 version;
	__u16 cmd;			/* enum ifkit_cmd */
	__u32 seq;
	__u32 flags;
	char  name[IFNAMSIZ];
	char  peer[IFNAMSIZ];
	__s32 unit;
	__u32 value;
	__u8  reserved[16];		/* must be zero */
};

enum ifkit_item_type {
	IFKIT_ITEM_NONE = 0,
	IFKIT_ITEM_STATUS,
	IFKIT_ITEM_FETH,
	IFKIT_ITEM_UTUN,
	IFKIT_ITEM_IPTAP,
};

#define IFKIT_REP_F_MORE	0x1

struct ifkit_rep {
	__u32 magic;
	__u16 version;
	__u16 cmd;
	__u32 seq;
	__s32 error;			/* 0 or -errno */
	__u16 flags;			/* IFKIT_REP_F_* */
	__u16 item_type;		/* enum ifkit_item_type */
	__u32 item_count;
	__u32 item_size;
	__u32 value;
	char  name[IFNAMSIZ];		/* device a create/open made */
	char  msg[IFKIT_MSG_LEN];	/* detail for the error, "" if none */
};

struct ifkit_status_info {
	__u32 pid;
	__u32 feth_count;
	__u32 utun_count;
	__u32 iptap_count;
	__u64 uptime_ms;
	char  pin_dir[64];
	char  netns[32];
	char  sock[108];
	__u8  reserved[4];
};

/* Media words of if_fake.c, in the order `ifkit feth set ... media` lists them. */
enum feth_media {
	FETH_MEDIA_AUTOSELECT = 0,
	FETH_MEDIA_10GBASET_FDX,
	FETH_MEDIA_2500BASET_FDX,
	FETH_MEDIA_5000BASET_FDX,
	FETH_MEDIA_COUNT
};

struct ifkit_feth_info {
	char  name[IFNAMSIZ];		/* fethN: ifkit's global name */
	char  ifname[IFNAMSIZ];		/* current name in its namespace */
	char  peer[IFNAMSIZ];		/* "" when unpeered */
	char  netns[32];		/* /run/netns name, "" if unnamed */
	__u32 unit;
	__s32 peer_unit;		/* -1 when unpeered */
	__u32 ifindex;			/* in its own namespace */
	__s32 netnsid;			/* as seen from ifkit's private namespace */
	__u32 mtu;
	__u32 ifflags;			/* IFF_* of the visible device */
	__u32 media;			/* enum feth_media */
	__u8  carrier;
	__u8  here;			/* in the caller's namespace */
	__u8  mac[6];
	__u64 rx_packets, rx_bytes, tx_packets, tx_bytes;
	__u64 rx_dropped, tx_dropped, rx_errors, tx_errors;
	__u64 crossed_packets, crossed_bytes, dropped_unpeered;
};

#define UTUN_STAT_CAUSES 16
/* How the client moves packets (ifkit_utun_info.mode). */
enum ifkit_utun_mode {
	IFKIT_UTUN_MODE_SOCKET = 0,	/* over the descriptor, relayed by libutun's thread */
	IFKIT_UTUN_MODE_FAST,		/* the AF_XDP rings themselves (utun_enable_fastpath) */
	IFKIT_UTUN_MODE_OFFLOAD,	/* AF_PACKET + vnet header on hutunN (utun_enable_offload) */
};
struct ifkit_utun_info {
	char  name[IFNAMSIZ];
	char  netns[32];
	__u32 unit;
	__u32 owner_pid;
	__u32 flags;			/* UTUN_FLAGS_* */
	__u32 mtu;
	__u32 ifindex;
	__u32 mode;			/* enum ifkit_utun_mode */
	__u64 out_packets, out_bytes, out_drops;	/* stack -> client */
	__u64 in_packets, in_bytes, in_drops;		/* client -> stack */
	__u64 errors[UTUN_STAT_CAUSES];			/* enum utun_err_cause */
};

/* ifkit_iptap_info.hook (0 from loaders that only knew clsact) */
#define IFKIT_IPTAP_HOOK_CLSACT	0	/* clsact qdisc + cls_bpf filter */
#define IFKIT_IPTAP_HOOK_TCX	1	/* tcx links (kernel 6.6+) */

struct ifkit_iptap_info {
	char  name[IFNAMSIZ];
	char  netns[32];
	__u32 unit;
	__u32 ifindex;
	__u32 raw_listeners;
	__u32 pktap_listeners;
	__u32 total_tap_count;
	__u32 tapped_ifaces;
	__u64 packets, bytes;
	__u32 n_readers;		/* PKTAP readers in readers[] */
	__u32 hook;			/* IFKIT_IPTAP_HOOK_*: how the tap programs hang */
	struct {
		__s32 pid;		/* -1 when hidden from a non-root caller */
		__u32 slot;
		char  comm[16];		/* "" when hidden */
		__u64 records, lost, filtered;
	} readers[8];			/* IPTAP_MAX_READERS */
};

#endif /* IFKIT_CTL_H */
