// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libutun's AF_XDP engine.  utun_open() takes over the socket and UMEM the
 * loader handed over (include/utun_shm.h) and from then on libutun drives
 * the rings itself: the relay thread (relay.c) for the plain descriptor,
 * the application directly after utun_enable_fastpath(), so no packet
 * crosses the loader.  Receiving copies from the rx ring into the caller's
 * buffers and refills the fill ring; sending validates each packet, copies
 * it into free frames behind an Ethernet header and kicks the socket once
 * per batch.  Receive and send state are separate, so one thread may
 * receive while another sends.
 */
#include <errno.h>
#include <linux/if_xdp.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "fast.h"
#include "fdpass.h"
#include "offload.h"
#include "ifkit/utun.h"
#include "utun_shm.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#define ETH_HLEN_ 14
#define XDP_PKT_CONTD_ (1 << 0)	/* Linux 6.6 uapi; not in this libc's if_xdp.h */
#define FAST_MAX_FD 65536	/* fd numbers looked up directly; larger ones by inode */

static struct utun_fast *fast_tab[FAST_MAX_FD];

#define LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

struct utun_fast *fast_get(int fd)
{
	struct utun_fast *f = fast_find(fd);

	return f && LOAD_ACQ(&f->fast) ? f : NULL;
}

/*
 * Cold path (options, close, enable): also finds a utun whose descriptor
 * the application moved to another number (dup2: libutun-darwin does).
 */
struct utun_fast *fast_find(int fd)
{
	struct utun_fast *f = fd >= 0 && fd < FAST_MAX_FD ? LOAD_ACQ(&fast_tab[fd]) : NULL;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	if (f && f->app_ino == (uint64_t)st.st_ino)
		return f;
	return relay_find((uint64_t)st.st_ino);
}

void fast_unregister(struct utun_fast *f)
{
	struct utun_fast *expect = f;

	/* Only if fd still means f: the application may have reused the number. */
	if (f->sock >= 0 && f->sock < FAST_MAX_FD)
		__atomic_compare_exchange_n(&fast_tab[f->sock], &expect, NULL, false,
					    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static int ring_map(struct ring *r, int xsk, const struct xdp_ring_offset *off, __u32 size,
		    size_t desc_size, off_t pgoff)
{
	r->map_len = off->desc + size * desc_size;
	r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, xsk,
		      pgoff);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return -errno;
	}
	r->producer = (__u32 *)((uint8_t *)r->map + off->producer);
	r->consumer = (__u32 *)((uint8_t *)r->map + off->consumer);
	r->descs = (uint8_t *)r->map + off->desc;
	r->size = size;
	r->mask = size - 1;
	return 0;
}

/*
 * Everything that holds the utun: the rings and UMEM mappings (each holds
 * the socket's file) and the descriptors.  Once this ran, the utun's
 * namespace (and hutunN, utunN) is gone unless a forked child still has
 * copies.  f itself stays (the relay thread frees it).
 */
void fast_release(struct utun_fast *f)
{
	struct ring *rings[] = { &f->rx, &f->fq, &f->tx, &f->cq };

	for (size_t i = 0; i < sizeof(rings) / sizeof(rings[0]); i++) {
		if (rings[i]->map)
			munmap(rings[i]->map, rings[i]->map_len);
		rings[i]->map = NULL;
	}
	if (f->umem)
		munmap(f->umem, f->umem_len);
	f->umem = NULL;
	f->ctl = &f->ctl_dummy;	/* a late counter update lands here, harmlessly */
	if (f->pkt >= 0) {
		/*
		 * Offload mode's packet socket holds the namespace too, but the
		 * application may still name it (utun_recv_offload on a utun whose
		 * device was deleted): its number gets a dead socket instead, so a
		 * late call fails rather than reaching whatever reuses the number.
		 * utun_close (offload_forget) closes that.
		 */
		/* Unconnected stream: calls fail at once, poll reports a hang-up. */
		int dead = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (dead < 0 || dup3(dead, f->pkt, O_CLOEXEC) < 0)
			close(f->pkt);
		if (dead >= 0)
			close(dead);
		f->pkt = -1;
	}
	{
		int *fds[] = { &f->xsk, &f->memfd, &f->rel };

		for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
			if (*fds[i] >= 0)
				close(*fds[i]);
			*fds[i] = -1;
		}
	}
	free(f->tx_free);
	f->tx_free = NULL;
}

/* The loader queued the hello and two descriptors before answering. */
static int recv_hello(int sock, struct utun_shm_hello *h, int fds[2])
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	size_t got = 2;
	ssize_t n;

	if (poll(&pfd, 1, 5000) <= 0)
		return -ETIMEDOUT;
	n = fdpass_recv_nowait(sock, h, sizeof(*h), fds, &got);
	if (n < 0)
		return (int)n;
	if (n == (ssize_t)sizeof(*h) && h->magic == UTUN_SHM_MAGIC && got == 2)
		return 0;
	for (size_t i = 0; i < got; i++)
		close(fds[i]);
	return -EPROTO;
}

/*
 * Take over the utun the loader handed us on hfd: map the UMEM and the
 * rings, put the rx frames on the fill ring.  The numbers come from the
 * loader (root) and are checked anyway against the memfd's real size.
 */
struct utun_fast *fast_attach(int hfd, int *errp)
{
	struct xdp_mmap_offsets off;
	socklen_t optlen = sizeof(off);
	struct utun_shm_hello h;
	struct utun_fast *f;
	struct stat st;
	int fds[2] = { -1, -1 }, err;
	__u32 idx;

	f = calloc(1, sizeof(*f));
	if (!f) {
		*errp = -ENOMEM;
		return NULL;
	}
	f->sock = f->rel = f->xsk = f->memfd = f->pkt = -1;
	f->ctl = &f->ctl_dummy;
	err = recv_hello(hfd, &h, fds);
	if (err)
		goto fail;
	f->xsk = fds[0];
	f->memfd = fds[1];
	err = -EPROTO;
	if (h.frame_size < 2048 || h.frame_size > 65536 || h.ring_size == 0 ||
	    (h.ring_size & (h.ring_size - 1)) || h.tx_frames == 0 ||
	    h.tx_frames > UTUN_SHM_MAX_FRAMES || h.rx_frames > h.ring_size ||
	    h.umem_size != (__u64)(h.rx_frames + h.tx_frames) * h.frame_size ||
	    fstat(f->memfd, &st) < 0 || (__u64)st.st_size < h.umem_size + UTUN_SHM_CTL_SIZE)
		goto fail;
	f->frame_size = h.frame_size;
	f->unit = h.unit;
	memcpy(f->vis_mac, h.vis_mac, 6);
	memcpy(f->hid_mac, h.hid_mac, 6);
	memcpy(f->ifname, h.ifname, sizeof(f->ifname) - 1);
	f->umem_len = h.umem_size + UTUN_SHM_CTL_SIZE;
	f->umem = mmap(NULL, f->umem_len, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	if (f->umem == MAP_FAILED) {
		f->umem = NULL;
		err = -errno;
		goto fail;
	}
	f->ctl = (struct utun_shm_ctl *)(f->umem + h.umem_size);
	f->tx_free = calloc(UTUN_SHM_MAX_FRAMES, sizeof(*f->tx_free));
	if (!f->tx_free) {
		err = -ENOMEM;
		goto fail;
	}
	for (__u32 i = 0; i < h.tx_frames; i++)
		f->tx_free[f->tx_nfree++] = (uint64_t)(h.rx_frames + h.tx_frames - 1 - i) *
					    h.frame_size;
	if (getsockopt(f->xsk, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen) < 0) {
		err = -errno;
		goto fail;
	}
	if ((err = ring_map(&f->rx, f->xsk, &off.rx, h.ring_size, sizeof(struct xdp_desc),
			    XDP_PGOFF_RX_RING)) ||
	    (err = ring_map(&f->tx, f->xsk, &off.tx, h.ring_size, sizeof(struct xdp_desc),
			    XDP_PGOFF_TX_RING)) ||
	    (err = ring_map(&f->fq, f->xsk, &off.fr, h.ring_size, sizeof(__u64),
			    XDP_UMEM_PGOFF_FILL_RING)) ||
	    (err = ring_map(&f->cq, f->xsk, &off.cr, h.ring_size, sizeof(__u64),
			    XDP_UMEM_PGOFF_COMPLETION_RING)))
		goto fail;
	f->rx.cached = LOAD_ACQ(f->rx.consumer);
	f->tx.cached = LOAD_ACQ(f->tx.producer);
	f->cq.cached = LOAD_ACQ(f->cq.consumer);
	/* The fill ring starts empty: give the kernel every rx frame. */
	idx = LOAD_ACQ(f->fq.producer);
	for (__u32 i = 0; i < h.rx_frames; i++)
		((__u64 *)f->fq.descs)[(idx + i) & f->fq.mask] = (__u64)i * h.frame_size;
	f->fq.cached = idx + h.rx_frames;
	STORE_REL(f->fq.producer, f->fq.cached);
	/* Our number for the socket, so the loader can read its XDP_STATISTICS. */
	__atomic_store_n(&f->ctl->xsk_fd, f->xsk, __ATOMIC_RELAXED);
	return f;
fail:
	if (f->xsk < 0 && fds[0] >= 0)
		close(fds[0]);
	if (f->memfd < 0 && fds[1] >= 0)
		close(fds[1]);
	fast_release(f);
	free(f);
	*errp = err;
	return NULL;
}

int fast_register(int fd, struct utun_fast *f)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	f->sock = fd;
	f->app_ino = (uint64_t)st.st_ino;
	if (fd >= FAST_MAX_FD)
		return 0;	/* found by inode */
	__atomic_store_n(&fast_tab[fd], f, __ATOMIC_RELEASE);
	return 0;
}

/*
 * The application takes the rings itself: the relay thread lets go of
 * them (packets queued on the descriptor at that moment are dropped).
 */
int utun_enable_fastpath(int fd)
{
	struct utun_fast *f = fast_find(fd);

	if (!f) {
		errno = fd < 0 ? EBADF : ENOTSUP;
		return -1;
	}
	if (offload_active(fd)) {	/* one or the other */
		errno = EBUSY;
		return -1;
	}
	if (LOAD_ACQ(&f->fast))
		return 0;
	relay_detach(f);
	__atomic_store_n(&f->ctl->fast, 1, __ATOMIC_RELAXED);	/* for show */
	return 0;
}

int utun_pollfd(int fd)
{
	struct utun_fast *f = fast_get(fd);

	if (offload_active(fd))
		return offload_pollfd(fd);
	return f ? f->xsk : fd;
}

int utun_close(int fd)
{
	struct utun_fast *f = fast_find(fd);

	if (f) {
		fast_unregister(f);
		relay_forget(f);	/* releases the utun; the thread frees f */
	}
	offload_forget(fd);
	libutun_dev_forget(fd);
	return close(fd);
}

unsigned int fast_mtu(const struct utun_fast *f)
{
	return __atomic_load_n(&f->ctl->mtu, __ATOMIC_RELAXED);
}

static uint64_t frame_base(const struct utun_fast *f, uint64_t addr)
{
	return addr - addr % f->frame_size;
}

/* Whether the first of the avail descriptors starts a packet whose end is there too. */
static bool rx_complete(const struct utun_fast *f, __u32 avail)
{
	for (__u32 i = 0; i < avail; i++) {
		const struct xdp_desc *d = (const struct xdp_desc *)f->rx.descs +
					   ((f->rx.cached + i) & f->rx.mask);

		if (!(d->options & XDP_PKT_CONTD_))
			return true;
	}
	return false;
}

/*
 * Copy up to n packets out of the rx ring.  A packet may span several
 * descriptors (XDP_PKT_CONTD on all but the last, XDP_USE_SG); one whose
 * last descriptor has not arrived yet stays in the ring for the next call.
 */
int fast_recv(struct utun_fast *f, struct utun_pkt *pkts, unsigned int n, int flags)
{
	return fast_rx(f, pkts, n, flags, true);
}

/* count: add to the control page's counters (the relay counts what it delivered itself). */
int fast_rx(struct utun_fast *f, struct utun_pkt *pkts, unsigned int n, int flags, bool count)
{
	__u32 prod, avail, used = 0, fidx;
	unsigned int k = 0;
	uint64_t bytes = 0;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = f->xsk, .events = POLLIN },
			{ .fd = f->sock, .events = POLLRDHUP },
		};

		prod = LOAD_ACQ(f->rx.producer);
		avail = prod - f->rx.cached;
		if (avail > f->rx.size)		/* nonsense from the kernel side cannot be */
			avail = 0;
		if (avail && rx_complete(f, avail))
			break;
		if (flags & MSG_DONTWAIT) {
			errno = EAGAIN;
			return -1;
		}
		if (poll(pfd, 2, avail ? 1 : -1) < 0)
			return -1;
		/* utunN deleted (the socket lost its device), or the relay end closed. */
		if ((pfd[0].revents & POLLERR) || (pfd[1].revents & (POLLHUP | POLLRDHUP | POLLERR)))
			return 0;
	}
	fidx = f->fq.cached;
	while (k < n && used < avail) {
		struct utun_pkt *pk = &pkts[k];
		size_t room = pk->cap > UTUN_HDR_LEN ? pk->cap - UTUN_HDR_LEN : 0, plen = 0;
		__u32 first = used;
		bool done = false;
		int family = -1;

		while (used < avail) {
			const struct xdp_desc *d = (const struct xdp_desc *)f->rx.descs +
						   ((f->rx.cached + used) & f->rx.mask);
			const uint8_t *p = f->umem + d->addr;
			size_t skip = 0, take;

			if (used == first) {
				skip = ETH_HLEN_;
				family = d->len > ETH_HLEN_ ?
					utun_ethertype_to_family((uint16_t)(p[12] << 8 | p[13])) : -1;
			}
			take = d->len > skip ? d->len - skip : 0;
			if (plen < room)
				memcpy((uint8_t *)pk->buf + UTUN_HDR_LEN + plen, p + skip,
				       plen + take <= room ? take : room - plen);
			plen += take;
			((__u64 *)f->fq.descs)[(fidx + used) & f->fq.mask] = frame_base(f, d->addr);
			used++;
			if (!(d->options & XDP_PKT_CONTD_)) {
				done = true;
				break;
			}
		}
		if (!done) {		/* the rest is not in the ring yet: next call */
			used = first;
			break;
		}
		if (pk->cap >= UTUN_HDR_LEN)
			utun_frame_hdr(pk->buf, family);
		pk->len = plen <= room && pk->cap >= UTUN_HDR_LEN ? plen + UTUN_HDR_LEN : pk->cap + 1;
		bytes += plen;
		k++;
	}
	f->rx.cached += used;
	STORE_REL(f->rx.consumer, f->rx.cached);
	f->fq.cached += used;
	STORE_REL(f->fq.producer, f->fq.cached);
	if (count) {
		ADD(&f->ctl->out_packets, k);
		ADD(&f->ctl->out_bytes, bytes);
	}
	return (int)k;
}

static void reclaim(struct utun_fast *f)
{
	__u32 prod = LOAD_ACQ(f->cq.producer), n = prod - f->cq.cached;

	for (__u32 i = 0; i < n && f->tx_nfree < UTUN_SHM_MAX_FRAMES; i++)
		f->tx_free[f->tx_nfree++] = frame_base(f,
			((__u64 *)f->cq.descs)[(f->cq.cached + i) & f->cq.mask]);
	if (n) {
		f->cq.cached += n;
		STORE_REL(f->cq.consumer, f->cq.cached);
	}
}

static void kick(struct utun_fast *f)
{
	for (int i = 0; i < 64; i++) {
		if (sendto(f->xsk, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			break;
	}
	reclaim(f);
}

/* Free tx frames, waiting (kicking the socket) unless dontwait; false if none came. */
static bool tx_frames(struct utun_fast *f, unsigned int want, bool dontwait)
{
	reclaim(f);
	for (int spin = 0; f->tx_nfree < want; spin++) {
		/* The end that hangs up when the application is gone. */
		struct pollfd pfd = { .fd = f->fast ? f->sock : f->rel, .events = POLLRDHUP };

		STORE_REL(f->tx.producer, f->tx.cached);
		kick(f);
		if (f->tx_nfree >= want || dontwait)
			break;
		if (spin < 64) {
			sched_yield();
			continue;
		}
		/* Still nothing: the device is backed up; wait a little, watch for the end. */
		if (poll(&pfd, 1, 1) > 0 && (pfd.revents & (POLLHUP | POLLRDHUP | POLLERR)))
			return false;
	}
	return f->tx_nfree >= want;
}

/*
 * Send in order until a packet cannot be sent (see utun_send_batch): how
 * many were taken, or -1 with errno if the first was not.  A packet that
 * fails validation is the caller's again (EINVAL) and counts nowhere; one
 * discarded under NO_INPUT is taken and counted, as macOS does.
 */
int fast_send(struct utun_fast *f, const struct utun_pkt *pkts, unsigned int n, int flags,
	      unsigned int mtu)
{
	__u32 flags_now = __atomic_load_n(&f->ctl->flags, __ATOMIC_RELAXED);
	uint64_t bytes = 0, sent = 0, no_input = 0;
	unsigned int i;
	int err = 0;

	for (i = 0; i < n; i++) {
		const uint8_t *buf = pkts[i].buf;
		size_t len = pkts[i].len;
		struct xdp_desc *d;
		uint8_t *frame;
		uint16_t type;
		uint64_t addr;

		size_t total, off;
		unsigned int need;

		if (utun_validate_frame(buf, len, mtu) != UTUN_ERR_NONE) {
			err = EINVAL;
			break;
		}
		if (flags_now & UTUN_FLAGS_NO_INPUT) {
			no_input++;
			continue;
		}
		/* Ethernet header + IP packet, over as many frames as it takes. */
		total = len - UTUN_HDR_LEN + ETH_HLEN_;
		need = (unsigned int)((total + f->frame_size - 1) / f->frame_size);
		if (f->tx_nfree < need && !tx_frames(f, need, flags & MSG_DONTWAIT)) {
			err = (flags & MSG_DONTWAIT) ? EAGAIN : EPIPE;
			break;
		}
		type = utun_family_to_ethertype(utun_frame_family(buf, len));
		off = 0;
		for (unsigned int j = 0; j < need; j++) {
			size_t chunk = total - off > f->frame_size ? f->frame_size : total - off;

			addr = f->tx_free[--f->tx_nfree];
			frame = f->umem + addr;
			if (j == 0) {
				memcpy(frame, f->vis_mac, 6);
				memcpy(frame + 6, f->hid_mac, 6);
				frame[12] = (uint8_t)(type >> 8);
				frame[13] = (uint8_t)type;
				memcpy(frame + ETH_HLEN_, buf + UTUN_HDR_LEN, chunk - ETH_HLEN_);
			} else {
				memcpy(frame, buf + UTUN_HDR_LEN + off - ETH_HLEN_, chunk);
			}
			d = (struct xdp_desc *)f->tx.descs + (f->tx.cached & f->tx.mask);
			d->addr = addr;
			d->len = (__u32)chunk;
			d->options = j + 1 < need ? XDP_PKT_CONTD_ : 0;
			f->tx.cached++;
			off += chunk;
		}
		sent++;
		bytes += len - UTUN_HDR_LEN;
	}
	if (sent) {
		STORE_REL(f->tx.producer, f->tx.cached);
		kick(f);
	}
	ADD(&f->ctl->in_packets, sent);
	ADD(&f->ctl->in_bytes, bytes);
	if (no_input) {
		ADD(&f->ctl->errors[UTUN_ERR_NO_INPUT], no_input);
		ADD(&f->ctl->in_drops, no_input);
	}
	if (i == 0 && err) {
		errno = err;
		return -1;
	}
	return (int)i;
}
