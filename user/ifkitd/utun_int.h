/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * utun in the loader, shared by utun.c (requests, show, adoption, the end
 * of a utun) and utun_setup.c (making one: its namespace, the veth pair,
 * XDP, the AF_XDP socket and UMEM handed to the client).
 *
 * The loader only sets a utun up and hands it over: the data path runs in
 * the client (libutun), and nothing the loader keeps pins the utun's
 * namespace, so the utun lives exactly as long as the client's descriptor,
 * loader or no loader.
 */
#ifndef IFKITD_UTUN_INT_H
#define IFKITD_UTUN_INT_H

#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ifkit/utun.h"
#include "ifkitd.h"
#include "log.h"
#include "names.h"
#include "netns.h"
#include "nl.h"
#include "utun_shm.h"
#include "utun_xdp.h"

#define UTUN_PREFIX	"utun"
#define UTUN_MTU	1500
#define HIDDEN_MTU	65535
#define FRAME_SIZE	4096		/* one page: a larger packet is a chain of frames */
/*
 * UMEM geometry, fixed for a utun's life (the socket is the client's, so
 * the loader cannot swap it later): 3 MiB of pinned memory per utun, in
 * the client's memfd, not the loader's.  512 rx frames hold a burst of
 * 1500-byte packets or ~30 packets of 64 KB; 256 tx frames one batch.
 */
#define UMEM_RX		512
#define UMEM_TX		256
#define UMEM_RING	512
/* Not in libxdp 1.3's / this libc's if_xdp.h yet (Linux 6.6 uapi). */
#define XDP_USE_SG_	(1 << 4)
/* Ids we give utun namespaces, counting up (the kernel's own start at 0). */
#define UTUN_NSID_BASE	0x40000000

struct utun_dev {
	struct utun_dev *next;
	uint32_t unit;
	char name[IFNAMSIZ];
	char netns[32];
	pid_t owner;
	uid_t owner_uid;		/* show hides the owner from other non-root users */
	int hid_ifindex;		/* UTUN_HID_IFINDEX_BASE + unit; the utun_ports key */
	int hid_nsid;			/* hutunN's namespace, as the private namespace names it */
	int vis_nsid;			/* the client's namespace, likewise */
	int vis_ifindex;		/* utunN, in the client's namespace */
	uint64_t hid_cookie;
	uint64_t xsk_ino, memfd_ino;	/* what was handed over (adoption finds them) */
	uint8_t vis_mac[6], hid_mac[6];
	uint32_t flags;
	uint32_t mtu;
	bool adopted;			/* opened by a previous loader */
	/*
	 * The control page (the last page of the client's memfd, sealed
	 * against shrinking so touching it can never fault), or NULL for an
	 * adopted utun whose memfd could not be found.
	 */
	struct utun_shm_ctl *ctl;
	int handoff_fd;			/* our answer's descriptor, closed once sent */
	struct utun_offload *offload;	/* offload mode (utun_offload.c), or NULL */
};

struct utun_state {
	struct utun_bpf *skel;
	int ports_fd, xsks_fd, stats_fd, reg_fd, prog_fd;
	int nr_cpus;
	struct utun_dev *devs;
	int ev_fd;			/* answers left: close their descriptors */
	struct watch ev_w;
	struct nl_sock nsid_mon;	/* RTM_DELNSID: a utun's namespace died */
	int next_nsid;			/* the id the next utun namespace gets */
	struct watch nsid_w;
	struct utun_offload_state *offload;	/* utun_offload.c, made on first use */
};

/* What utun_setup made; everything but u->ctl is closed by the caller after the answer. */
struct utun_made {
	int xsk_fd, memfd;
	struct utun_shm_hello hello;
};

/* utun_offload.c: offload mode (AF_PACKET + vnet header on the hidden end) */
int utun_offload_enable(struct ifkitd *d, struct utun_dev *u, int xsk_fd, struct reply *r);
void utun_offload_fill(struct ifkitd *d, struct utun_dev *u, struct ifkit_utun_info *info);
void utun_offload_adopt(struct ifkitd *d, struct utun_dev *u);
void utun_offload_prune(struct ifkitd *d);
void utun_offload_answered(struct utun_dev *u);
void utun_offload_forget(struct ifkitd *d, struct utun_dev *u);
void utun_offload_free(struct utun_dev *u);
void utun_offload_fini(struct ifkitd *d);

/*
 * utun.c: a copy of client pid's descriptor of inode ino (pidfd_getfd),
 * tried at number num first (the client's word; -1: none), or -1.
 */
int utun_client_fd_by_ino(pid_t pid, int num, uint64_t ino);

/* utun_setup.c */
int utun_setup(struct ifkitd *d, struct utun_dev *u, int client_ns_fd, struct utun_made *m,
	       const char **step);

#endif
