/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * libutun internals: the AF_XDP engine (fast.c) and the relay thread
 * (relay.c) that serves the plain read/write descriptor with it.
 */
#ifndef LIBUTUN_FAST_H
#define LIBUTUN_FAST_H

#include <linux/types.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include "ifkit/utun.h"
#include "utun_shm.h"

struct ring {
	__u32 *producer, *consumer;
	void *descs;
	__u32 mask, size;
	__u32 cached;		/* our own index (we are its only producer/consumer) */
	void *map;
	size_t map_len;
};

struct utun_fast;
/* Where the relay thread's epoll finds a utun (one per descriptor watched). */
struct relay_ep {
	struct utun_fast *f;
	int kind;		/* RELAY_EP_XSK or RELAY_EP_REL */
};
#define RELAY_EP_XSK 0
#define RELAY_EP_REL 1

/* One utun of this process: its AF_XDP socket, UMEM and rings. */
struct utun_fast {
	int sock;		/* the application's descriptor (socketpair end) */
	int rel;		/* the relay thread's end of that socketpair */
	int xsk, memfd;		/* what the loader handed over: the utun's life */
	int pkt;		/* offload mode's packet socket (it holds the utun too), or -1 */
	uint64_t app_ino;	/* the application's socket (survives dup2 to another number) */
	bool fast;		/* the application drives the rings (utun_enable_fastpath) */
	bool released;		/* fast_release ran (relay thread's lock) */
	bool orphan;		/* inherited over fork: no relay thread serves it here */
	uint32_t unit;
	char ifname[IFNAMSIZ];
	uint8_t *umem;
	size_t umem_len;
	struct utun_shm_ctl *ctl;	/* in the memfd; ctl_dummy once released */
	struct utun_shm_ctl ctl_dummy;
	uint32_t frame_size;
	uint8_t vis_mac[6], hid_mac[6];
	struct ring rx, fq, tx, cq;
	uint64_t *tx_free;
	unsigned int tx_nfree;
	/* relay thread only */
	unsigned int mtu;
	uint64_t mtu_ms;
	struct relay_ep ep_xsk, ep_rel;
	struct utun_fast *dead_next;
	struct utun_fast *all_next;	/* every utun of the process (relay.lock) */
};

/* The utun behind fd in fast-path mode, or NULL (plain descriptor, or not ours). */
struct utun_fast *fast_get(int fd);
/* The utun behind fd in either mode, or NULL. */
struct utun_fast *fast_find(int fd);
struct utun_fast *fast_attach(int hfd, int *errp);
int fast_register(int fd, struct utun_fast *f);
void fast_unregister(struct utun_fast *f);
void fast_release(struct utun_fast *f);
unsigned int fast_mtu(const struct utun_fast *f);
int fast_recv(struct utun_fast *f, struct utun_pkt *pkts, unsigned int n, int flags);
int fast_rx(struct utun_fast *f, struct utun_pkt *pkts, unsigned int n, int flags, bool count);
int fast_send(struct utun_fast *f, const struct utun_pkt *pkts, unsigned int n, int flags,
	      unsigned int mtu);

/* relay.c: the per-process relay thread. */
int relay_add(struct utun_fast *f);
void relay_detach(struct utun_fast *f);
void relay_forget(struct utun_fast *f);
/* The utun whose application socket has inode ino, or NULL. */
struct utun_fast *relay_find(uint64_t ino);

/* utunN's current MTU (one ioctl), or 0 if it cannot be read. */
unsigned int libutun_dev_mtu(int fd);
/* Forget what libutun remembered of fd (utun_close). */
void libutun_dev_forget(int fd);

#endif
