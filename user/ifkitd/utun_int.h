/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * utun in the loader, shared by utun.c (device life cycle, requests) and
 * utun_relay.c (the data path: relay workers, reaper, AF_XDP sockets).
 */
#ifndef IFKITD_UTUN_INT_H
#define IFKITD_UTUN_INT_H

#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>
#include "ifkit/utun.h"
#include "ifkitd.h"
#include "log.h"
#include "names.h"
#include "netns.h"
#include "utun_shm.h"
#include "utun_xdp.h"

#define UTUN_PREFIX	"utun"
#define UTUN_MTU	1500
#define HIDDEN_MTU	65535
#define FRAME_SIZE	4096		/* one page: holds any MTU veth allows with XDP */
/*
 * UMEM geometry.  The UMEM is pinned memory, so it is what a utun costs:
 * every utun starts small (SMALL_*: 48 frames, 192 KiB, still enough for
 * one 64 KB packet each way), and moves to the large one (LARGE_*: 8 MiB)
 * when it carries traffic that needs it (a burst filling 3/4 of its rx
 * frames, a packet over one frame) or when its client takes the fast path.
 */
#define SMALL_RX	24
#define SMALL_TX	24
#define SMALL_RING	32
#define LARGE_RX	1024
#define LARGE_TX	1024
#define LARGE_RING	1024
#define TX_FRAMES	LARGE_TX
#define GROW_TRIES	400		/* x 0.5 ms */
#define BATCH		64
/* Frames (tx descriptors) of the largest packet: Ethernet header + 65535. */
#define MAX_FRAGS	((ETH_HLEN + 65535 + FRAME_SIZE - 1) / FRAME_SIZE)
/* Not in libxdp 1.3's / this libc's if_xdp.h yet (Linux 6.6 uapi). */
#define XDP_USE_SG_	(1 << 4)
#define XDP_PKT_CONTD_	(1 << 0)
/* Family header sits right before the IP header, i.e. over the Ethernet type. */
#define HDR_OFF		(ETH_HLEN - UTUN_HDR_LEN)
#define SOCK_BUF	(4 << 20)
#define SHM_CTL_SIZE	4096
#define MTU_READ_MS	200
#define HANDOFF_WAIT_MS	2000		/* the hello waits this long for a full queue */

struct utun_stats {
	uint64_t out_packets, out_bytes, out_drops;
	uint64_t in_packets, in_bytes, in_drops;
	uint64_t errors[UTUN_ERR_MAX];
};

struct utun_dev {
	struct utun_dev *next;
	uint32_t unit;
	char name[IFNAMSIZ];
	char netns[32];
	pid_t owner;
	uid_t owner_uid;		/* show hides the owner from other non-root users */
	int hidden_ifindex;		/* also the utun_ports key */
	bool veth_made;			/* the pair exists (until hidden_gone) */
	bool hidden_gone;		/* deleted from outside: only forget it */
	int vis_ifindex;		/* in the client's namespace */
	uint8_t vis_mac[6], hid_mac[6];

	int sock;			/* loader's end of the packet socketpair */
	int client_end;			/* until the answer carried it away */
	ino_t client_ino;		/* identifies the client's descriptor */
	int ioctl_fd;			/* datagram socket in the client's namespace */
	int ev_fd;			/* relay -> main: gone (the module's eventfd) */

	void *area;			/* UMEM frames, then the shared control page */
	int memfd;			/* backing of area, handed to fast-path clients */
	struct utun_shm_ctl *ctl;
	bool fast;			/* the client drives the rings itself */
	int xsk_fd;			/* AF_XDP socket (its UMEM is area) */
	struct {
		void *addr;
		size_t len;
	} maps[4];			/* rx, tx, fill, completion rings */
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq, rx;
	uint64_t tx_free[TX_FRAMES];
	unsigned int tx_nfree;
	uint32_t rx_frames, tx_frames, ring_size;	/* this UMEM's geometry */
	bool large;
	bool want_large;		/* the relay saw traffic that needs it */
	pthread_mutex_t xsk_lock;	/* socket and UMEM: the worker resizes, show reads */
	struct xdp_statistics xs_base;	/* counters of sockets a resize replaced */

	struct relay_worker *worker;	/* the thread relaying it (main thread's view) */
	struct utun_dev *wnext;		/* in the worker's own list (worker thread only) */
	uint32_t sock_events;		/* what the worker's epoll waits for on sock */
	bool handoff_pending;		/* hello not sent yet: the client's queue was full */
	uint64_t handoff_deadline;
	bool gone;			/* relay saw the client leave (atomic) */
	uint32_t flags;			/* UTUN_FLAGS_* (atomic) */
	uint32_t mtu;			/* of utunN, refreshed by the relay (atomic) */
	uint64_t mtu_read_ms;		/* when the relay last read it */
	struct utun_stats st;		/* written by the relay only (atomic adds) */
	struct utun_offload *offload;	/* offload mode (utun_offload.c), or NULL */
};

/*
 * Relays run on a small pool of threads (RELAY_WORKERS), each waiting in
 * epoll on the AF_XDP sockets and client descriptors of its utuns: the
 * number of threads does not grow with the number of utuns, and an idle
 * utun costs nothing (no timers, no wake-ups).  The main thread talks to a
 * worker through a command list (add, remove, stop); removed utuns go to
 * the reaper thread, which deletes the devices (netlink, ~20 ms each) and
 * frees them, so the control loop never waits for a teardown.
 */
#define RELAY_WORKERS	2

enum relay_op { RELAY_ADD, RELAY_DEL, RELAY_STOP };

struct relay_cmd {
	enum relay_op op;
	struct utun_dev *u;
	struct relay_cmd *next;
};

struct relay_worker {
	pthread_t thread;
	bool started;
	int epfd;
	int cmd_fd;			/* eventfd: commands are queued */
	pthread_mutex_t lock;		/* protects cmds */
	struct relay_cmd *cmds, **cmds_tail;
	struct utun_dev *devs;		/* its utuns (worker thread only) */
	unsigned int count;		/* its utuns (main thread only) */
	struct reaper *reaper;
	int xsks_fd;			/* utun_xsks, for grow() */
};

struct reaper {
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct utun_dev *queue;		/* removed utuns to destroy */
	bool stop;
	struct ifkitd *d;		/* map fds only (constant after init) */
	struct nl_sock nl;		/* its own: d->nl belongs to the main thread */
	uint64_t destroyed;
};

struct utun_state {
	struct utun_bpf *skel;
	int ports_fd, xsks_fd, stats_fd, prog_fd;
	int nr_cpus;
	struct utun_dev *devs;
	int ev_fd;			/* relay -> main: a client left */
	struct watch ev_w;
	struct relay_worker workers[RELAY_WORKERS];
	struct reaper reaper;
	struct utun_offload_state *offload;	/* utun_offload.c, made on first use */
};

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

/* utun_relay.c */
void utun_refresh_mtu(struct utun_dev *u);
void utun_set_geometry(struct utun_dev *u, bool large);
int utun_xsk_setup(struct utun_dev *u, const char *hname);
void utun_xsk_teardown(struct utun_dev *u);
int utun_relay_send(struct relay_worker *w, enum relay_op op, struct utun_dev *u);
void utun_reaper_push(struct reaper *r, struct utun_dev *u);
int utun_workers_start(struct ifkitd *d);
void utun_workers_stop(struct ifkitd *d);

/* utun_offload.c: offload mode (AF_PACKET + vnet header on the hidden end) */
int utun_offload_enable(struct ifkitd *d, struct utun_dev *u, struct reply *r);
void utun_offload_fill(struct ifkitd *d, struct utun_dev *u, struct ifkit_utun_info *info);
void utun_offload_free(struct utun_dev *u);
void utun_offload_fini(struct ifkitd *d);

/* utun.c */
void utun_dev_destroy(struct ifkitd *d, struct utun_dev *u, struct nl_sock *nl);

#endif
