// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * utun in the loader.
 *
 * A client's open makes a veth pair: utunN in the client's namespace (MTU
 * 1500, up, NOARP, no IPv6 link-local, tx checksumming off) and hutunN in
 * ifkit's private namespace.  hutunN carries the XDP program utun_xdp
 * (xdp.frags: any MTU up to 65535), which redirects IPv4/IPv6 frames into
 * this loader's AF_XDP socket for the unit (copy mode, XDP_USE_SG: a packet
 * larger than a frame is a chain of descriptors).  The client's descriptor
 * is one end of a SOCK_SEQPACKET socketpair:
 *
 *   stack -> utunN -> hutunN XDP -> AF_XDP rx -> [family hdr] -> client
 *   client -> validate -> [Ethernet hdr] -> AF_XDP tx on hutunN -> input on utunN
 *
 * Relays run on RELAY_WORKERS epoll threads shared by all utuns (batches
 * both ways, sendmmsg/recvmmsg straight into and out of the UMEM, one tx
 * kick per batch, never blocking on a client: a full client queue drops and
 * counts).  Each UMEM starts small and grows when traffic or the fast path
 * needs it.  When the client closes its end or dies, its worker sees the
 * hang-up, the main thread forgets the utun and the reaper thread deletes
 * the pair (taking addresses and routes with it), the socket and the map
 * entries: the control loop never waits for a teardown.
 *
 * A client may instead ask for the rings themselves (utun_enable_fastpath,
 * include/utun_shm.h): the relay hands over the AF_XDP socket and the memfd
 * behind the UMEM (sealed: it cannot be shrunk under us) once, then only
 * watches the descriptor for the hang-up.
 *
 * The relay cannot outlive the loader (the AF_XDP socket is the loader's),
 * so utun devices die with it: a restarted loader deletes leftovers.
 */
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
#include "utun.skel.h"

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
};

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

/* ---- relay thread ---- */

static void refresh_mtu(struct utun_dev *u)
{
	STORE(&u->mtu_read_ms, ifkitd_now_ms());
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_ifindex = u->vis_ifindex;
	if (ioctl(u->ioctl_fd, SIOCGIFNAME, &ifr) < 0)
		return;
	if (ioctl(u->ioctl_fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0) {
		STORE(&u->mtu, (uint32_t)ifr.ifr_mtu);
		if (u->ctl)
			STORE(&u->ctl->mtu, (uint32_t)ifr.ifr_mtu);
	}
}

/*
 * Stack -> client: what the XDP program put in the rx ring.  With
 * XDP_USE_SG a packet larger than a frame arrives as several descriptors,
 * all but the last flagged XDP_PKT_CONTD; it goes to the client as one
 * message gathered from the frames (sendmmsg with several iovecs).  A
 * packet whose last descriptor is not in the ring yet waits for the next
 * pass.
 */
static int relay_out(struct utun_dev *u)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint64_t addrs[BATCH];
	uint32_t idx = 0, fidx = 0;
	unsigned int n, used = 0, m = 0, bad = 0;
	uint64_t bytes = 0;
	int sent, gone = 0;

	if (u->fast)		/* the rings are the client's */
		return 0;
	n = xsk_ring_cons__peek(&u->rx, BATCH, &idx);
	if (!n)
		return 0;
	/* Small UMEM nearly full, or packets over one frame: this utun needs the large one. */
	if (!u->large && n >= u->rx_frames * 3 / 4)
		u->want_large = true;
	while (used < n) {
		unsigned int first = used, k = 0;
		bool complete = false;
		int family = -1;

		/* One packet: descriptors up to the first without XDP_PKT_CONTD. */
		while (used < n) {
			const struct xdp_desc *desc = xsk_ring_cons__rx_desc(&u->rx, idx + used);
			uint8_t *data = xsk_umem__get_data(u->area, desc->addr);

			addrs[used] = xsk_umem__extract_addr(desc->addr);
			if (used == first) {
				family = desc->len > ETH_HLEN ?
					utun_ethertype_to_family((uint16_t)(data[12] << 8 | data[13])) :
					-1;
				if (family >= 0)
					utun_frame_hdr(data + HDR_OFF, family);
				iov[used].iov_base = data + HDR_OFF;
				iov[used].iov_len = desc->len > HDR_OFF ? desc->len - HDR_OFF : 0;
			} else {
				iov[used].iov_base = data;
				iov[used].iov_len = desc->len;
			}
			k++;
			used++;
			if (k > 1)
				u->want_large = true;
			if (!(desc->options & XDP_PKT_CONTD_)) {
				complete = true;
				break;
			}
		}
		if (!complete) {
			/* The rest is not in the ring yet: leave this packet for later. */
			used = first;
			break;
		}
		if (family < 0) {
			bad++;
			continue;
		}
		memset(&msgs[m].msg_hdr, 0, sizeof(msgs[m].msg_hdr));
		msgs[m].msg_hdr.msg_iov = &iov[first];
		msgs[m].msg_hdr.msg_iovlen = k;
		m++;
	}
	if (!used) {
		/* A packet of more descriptors than a batch cannot be: drop the lot. */
		if (n == BATCH) {
			used = n;
			bad++;
		} else {
			xsk_ring_cons__cancel(&u->rx, n);
			return 0;
		}
	}
	sent = 0;
	while ((unsigned int)sent < m) {
		int got = sendmmsg(u->sock, msgs + sent, m - (unsigned int)sent,
				   MSG_DONTWAIT | MSG_NOSIGNAL);

		if (got <= 0) {
			if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS &&
			    errno != EINTR)
				gone = 1;
			break;
		}
		sent += got;
	}
	for (int i = 0; i < sent; i++)
		bytes += msgs[i].msg_len - UTUN_HDR_LEN;
	ADD(&u->st.out_packets, (uint64_t)sent);
	ADD(&u->st.out_bytes, bytes);
	if (m - (unsigned int)sent) {
		ADD(&u->st.out_drops, (uint64_t)(m - (unsigned int)sent));
		ADD(&u->st.errors[UTUN_ERR_QUEUE_FULL], (uint64_t)(m - (unsigned int)sent));
	}
	if (bad)
		ADD(&u->st.errors[UTUN_ERR_NONE], bad);
	/* Descriptors of a packet whose end has not arrived are peeked again next time. */
	if (used < n)
		xsk_ring_cons__cancel(&u->rx, n - used);
	xsk_ring_cons__release(&u->rx, used);
	/* Give the same frames back to the kernel (the fill ring holds them all). */
	if (xsk_ring_prod__reserve(&u->fq, used, &fidx) == used) {
		for (unsigned int i = 0; i < used; i++)
			*xsk_ring_prod__fill_addr(&u->fq, fidx + i) = addrs[i];
		xsk_ring_prod__submit(&u->fq, used);
	}
	return gone ? -EPIPE : (int)used;
}

static void reclaim_tx(struct utun_dev *u)
{
	uint32_t idx = 0;
	unsigned int n = xsk_ring_cons__peek(&u->cq, u->ring_size, &idx);

	for (unsigned int i = 0; i < n; i++)
		u->tx_free[u->tx_nfree++] = xsk_umem__extract_addr(*xsk_ring_cons__comp_addr(&u->cq,
											      idx + i));
	if (n)
		xsk_ring_cons__release(&u->cq, n);
}

static void kick_tx(struct utun_dev *u)
{
	/* Copy mode sends at most a budget per call; EAGAIN means "more left". */
	for (int i = 0; i < 64; i++) {
		if (sendto(u->xsk_fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
			break;
		if (errno != EAGAIN && errno != EBUSY && errno != EINTR)
			break;
		reclaim_tx(u);
		if (errno == EBUSY)
			break;
	}
	reclaim_tx(u);
}

/*
 * The client asked to drive the rings itself: hand it the AF_XDP socket and
 * the UMEM, with the tx frames that are free now; in-flight ones come back
 * through the completion ring, which is the client's from now on.  Never
 * blocks (other utuns share the thread): if the client's queue is full the
 * worker retries when it has room, for up to HANDOFF_WAIT_MS.  Returns
 * whether the hello is still to be sent.
 */
static int grow(struct relay_worker *w, struct utun_dev *u);

static bool handoff(struct relay_worker *w, struct utun_dev *u)
{
	struct utun_shm_hello *h = calloc(1, sizeof(*h));
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} cbuf;
	struct iovec iov;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cmsg;
	int fds[2] = { u->xsk_fd, u->memfd };
	ssize_t n;

	if (!u->handoff_deadline)
		u->handoff_deadline = ifkitd_now_ms() + HANDOFF_WAIT_MS;
	/* A client that drives the rings itself gets the large UMEM (a fresh socket). */
	if (!h || u->fast || grow(w, u)) {
		u->handoff_pending = false;
		goto out;
	}
	fds[0] = u->xsk_fd;
	fds[1] = u->memfd;
	reclaim_tx(u);
	h->magic = UTUN_SHM_MAGIC;
	h->frame_size = FRAME_SIZE;
	h->rx_frames = u->rx_frames;
	h->ring_size = u->ring_size;
	h->umem_size = (uint64_t)(u->rx_frames + u->tx_frames) * FRAME_SIZE;
	memcpy(h->vis_mac, u->vis_mac, 6);
	memcpy(h->hid_mac, u->hid_mac, 6);
	h->ntx_free = u->tx_nfree;
	memcpy(h->tx_free, u->tx_free, u->tx_nfree * sizeof(u->tx_free[0]));
	iov.iov_base = h;
	iov.iov_len = sizeof(*h);
	memset(&cbuf, 0, sizeof(cbuf));
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cmsg), fds, sizeof(fds));
	n = sendmsg(u->sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == (ssize_t)sizeof(*h)) {
		u->fast = true;
		u->tx_nfree = 0;
		u->handoff_pending = false;
	} else if ((n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS &&
		    errno != EINTR) || n >= 0 || ifkitd_now_ms() >= u->handoff_deadline) {
		pr_warn("%s: fast path hand-off: %s", u->name,
			n >= 0 ? "short send" : strerror(errno));
		u->handoff_pending = false;
	}
out:
	free(h);
	return u->handoff_pending;
}

/* After the hand-off the socket only says whether the client is alive. */
static int drain_fast(struct utun_dev *u)
{
	char buf[256];
	ssize_t n;
	int got = 0;

	while ((n = recv(u->sock, buf, sizeof(buf), MSG_DONTWAIT)) >= 0 && got < 1024)
		got++;
	return got;
}

/*
 * Client -> stack: one recvmmsg straight into free UMEM frames.  Each
 * message gets as many frames as a packet of the current MTU needs (the
 * first from HDR_OFF on, so the family header lands where the Ethernet type
 * goes); a packet spread over several frames goes out as several tx
 * descriptors chained with XDP_PKT_CONTD (XDP_USE_SG), frames it did not
 * fill go back to the free list.
 */
static int relay_in(struct utun_dev *u)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH * MAX_FRAGS];
	uint64_t addrs[BATCH * MAX_FRAGS];
	struct xdp_desc good_desc[BATCH * MAX_FRAGS];
	uint32_t idx = 0, flags, mtu;
	unsigned int want, per_msg, nframes, ngood = 0, ndesc = 0;
	uint64_t bytes = 0, drops = 0;
	bool handoff_req = false, eof = false;
	int got;

	reclaim_tx(u);
	flags = LOAD(&u->flags);
	/* Re-read the MTU at most every MTU_READ_MS, and only while packets flow. */
	if (ifkitd_now_ms() - LOAD(&u->mtu_read_ms) >= MTU_READ_MS)
		refresh_mtu(u);
	mtu = LOAD(&u->mtu);
	/*
	 * Large UMEM: room for the largest packet whatever the MTU is now (it
	 * may have been raised a moment ago; a truncated message is lost).
	 * Small UMEM: room for the current MTU, and a packet over one frame
	 * asks for the large UMEM.
	 */
	per_msg = MAX_FRAGS;
	if (!u->large) {
		per_msg = (HDR_OFF + UTUN_HDR_LEN + mtu + FRAME_SIZE - 1) / FRAME_SIZE;
		if (per_msg > 1)
			u->want_large = true;
		if (per_msg > u->tx_frames)
			per_msg = u->tx_frames;
	}
	want = u->tx_nfree / per_msg;
	if (want > BATCH)
		want = BATCH;
	if (!want)
		return 0;
	nframes = want * per_msg;
	for (unsigned int i = 0; i < want; i++) {
		for (unsigned int j = 0; j < per_msg; j++) {
			unsigned int f = i * per_msg + j;

			addrs[f] = u->tx_free[u->tx_nfree - 1 - f];
			iov[f].iov_base = (uint8_t *)u->area + addrs[f] + (j ? 0 : HDR_OFF);
			iov[f].iov_len = FRAME_SIZE - (j ? 0 : HDR_OFF);
		}
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_iov = &iov[i * per_msg];
		msgs[i].msg_hdr.msg_iovlen = per_msg;
	}
	got = recvmmsg(u->sock, msgs, want, MSG_DONTWAIT, NULL);
	if (got <= 0)
		return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 :
			got < 0 ? -errno : 0;
	/* Every frame offered is out of the free list now; unused ones come back below. */
	u->tx_nfree -= nframes;
	/*
	 * After the client closed, recvmmsg reports the end of the stream as
	 * empty datagrams: those are no writes to count.
	 */
	for (int i = 0; i < got; i++) {
		if (msgs[i].msg_len == 0) {
			struct pollfd pfd = { .fd = u->sock, .events = POLLRDHUP };

			if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP))) {
				got = i;
				eof = true;
			}
			break;
		}
	}
	for (unsigned int i = 0; i < want; i++) {
		uint64_t *fr = &addrs[i * per_msg];
		uint8_t *frame = (uint8_t *)u->area + fr[0];
		size_t len = (int)i < got ? msgs[i].msg_len : 0;
		unsigned int need = 0;
		enum utun_err_cause why = UTUN_ERR_NONE;

		if ((int)i >= got) {
			why = UTUN_ERR_MAX;	/* not received: frames go back uncounted */
		} else if (len == UTUN_HDR_LEN &&
			   (uint32_t)utun_frame_family(frame + HDR_OFF, len) == UTUN_FASTPATH_REQ) {
			handoff_req = true;
			why = UTUN_ERR_MAX;
		} else if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
			/* More than this MTU's frames: lost; raised MTU?  Then not the next. */
			why = UTUN_ERR_TOO_LONG;
			refresh_mtu(u);
			if ((HDR_OFF + UTUN_HDR_LEN + LOAD(&u->mtu) + FRAME_SIZE - 1) / FRAME_SIZE > 1)
				u->want_large = true;
		} else {
			why = utun_validate_frame(frame + HDR_OFF, len, mtu);
			if (why == UTUN_ERR_TOO_LONG) {
				/* Raised since we last looked?  (Lowered: the veth drops it, counted.) */
				refresh_mtu(u);
				mtu = LOAD(&u->mtu);
				why = utun_validate_frame(frame + HDR_OFF, len, mtu);
			}
			if (why == UTUN_ERR_NONE && (flags & UTUN_FLAGS_NO_INPUT))
				why = UTUN_ERR_NO_INPUT;
		}
		if (why == UTUN_ERR_NONE) {
			uint16_t type = utun_family_to_ethertype(utun_frame_family(frame + HDR_OFF,
										   len));
			size_t total = len - UTUN_HDR_LEN + ETH_HLEN;

			memcpy(frame, u->vis_mac, 6);
			memcpy(frame + 6, u->hid_mac, 6);
			frame[12] = (uint8_t)(type >> 8);
			frame[13] = (uint8_t)type;
			need = (unsigned int)((total + FRAME_SIZE - 1) / FRAME_SIZE);
			for (unsigned int j = 0; j < need; j++) {
				good_desc[ndesc].addr = fr[j];
				good_desc[ndesc].len = (uint32_t)(total - (size_t)j * FRAME_SIZE >
							 FRAME_SIZE ? FRAME_SIZE :
							 total - (size_t)j * FRAME_SIZE);
				good_desc[ndesc].options = j + 1 < need ? XDP_PKT_CONTD_ : 0;
				ndesc++;
			}
			bytes += len - UTUN_HDR_LEN;
			ngood++;
		} else if (why != UTUN_ERR_MAX) {
			ADD(&u->st.errors[why], 1);
			drops++;
		}
		for (unsigned int j = need; j < per_msg; j++)
			u->tx_free[u->tx_nfree++] = fr[j];
	}
	if (ndesc) {
		/* The tx ring is as large as the tx frame pool: it always has room. */
		unsigned int r = xsk_ring_prod__reserve(&u->tx, ndesc, &idx);

		if (r == ndesc) {
			for (unsigned int i = 0; i < ndesc; i++)
				*xsk_ring_prod__tx_desc(&u->tx, idx + i) = good_desc[i];
			xsk_ring_prod__submit(&u->tx, ndesc);
		} else {
			for (unsigned int i = 0; i < ndesc; i++)
				u->tx_free[u->tx_nfree++] = good_desc[i].addr;
			ADD(&u->st.errors[UTUN_ERR_QUEUE_FULL], ngood);
			drops += ngood;
			ngood = 0;
		}
		kick_tx(u);
	}
	ADD(&u->st.in_packets, ngood);
	ADD(&u->st.in_bytes, ngood ? bytes : 0);
	if (drops)
		ADD(&u->st.in_drops, drops);
	if (handoff_req && !u->fast && !u->handoff_pending) {
		u->handoff_pending = true;	/* service() sends the hello */
		u->handoff_deadline = 0;
	}
	return eof ? -EPIPE : got;
}

/* ---- relay workers ---- */

#define TAG_SOCK 1u	/* epoll data: u | TAG_SOCK for the client descriptor, u for the XSK */

static void watch_sock(struct relay_worker *w, struct utun_dev *u, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uintptr_t)u | TAG_SOCK };

	if (events == u->sock_events)
		return;
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, u->sock, &ev) == 0)
		u->sock_events = events;
}

/* The client left: stop watching it and ask the main thread to remove it. */
static void client_left(struct relay_worker *w, struct utun_dev *u)
{
	uint64_t one = 1;

	if (LOAD(&u->gone))
		return;
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, u->xsk_fd, NULL);
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, u->sock, NULL);
	STORE(&u->gone, true);
	if (write(u->ev_fd, &one, sizeof(one)) < 0)
		pr_warn("%s: cannot notify the loader: %s", u->name, strerror(errno));
}

/* Free tx frames relay_in needs to take one message. */
static unsigned int tx_need(const struct utun_dev *u)
{
	unsigned int mtu = LOAD(&u->mtu), n;

	if (u->large)
		return MAX_FRAGS;
	n = (HDR_OFF + UTUN_HDR_LEN + mtu + FRAME_SIZE - 1) / FRAME_SIZE;
	return n > u->tx_frames ? u->tx_frames : n;
}

/* Tx frames in flight and none to take a message: poll completions (1 ms). */
static bool wants_retry(const struct utun_dev *u)
{
	return !LOAD(&u->gone) &&
	       (u->handoff_pending || u->want_large || (!u->fast && u->tx_nfree < tx_need(u)));
}

/* Move what is ready for one utun, a bounded number of batches. */
static void service(struct relay_worker *w, struct utun_dev *u, uint32_t sock_ev)
{
	const uint32_t hup = EPOLLHUP | EPOLLRDHUP | EPOLLERR;

	if (LOAD(&u->gone))
		return;
	if (u->xsk_fd < 0) {		/* a failed grow() left it without a socket */
		client_left(w, u);
		return;
	}
	if (u->handoff_pending) {
		if (sock_ev & (EPOLLHUP | EPOLLERR)) {
			client_left(w, u);
			return;
		}
		if (handoff(w, u)) {
			watch_sock(w, u, EPOLLOUT | EPOLLRDHUP);
			return;
		}
		if (u->xsk_fd < 0) {
			client_left(w, u);
			return;
		}
	}
	if (u->fast) {
		/* The rings are the client's: the descriptor only says it is alive. */
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, u->xsk_fd, NULL);
		watch_sock(w, u, EPOLLIN | EPOLLRDHUP);
		if (sock_ev & hup)
			client_left(w, u);
		else if (sock_ev & EPOLLIN)
			drain_fast(u);
		return;
	}
	if (u->want_large && grow(w, u)) {
		client_left(w, u);	/* no socket any more: take the utun down */
		return;
	}
	reclaim_tx(u);
	for (int round = 0; round < 64; round++) {
		int a = relay_out(u), b = 0;

		if (a < 0) {
			client_left(w, u);
			return;
		}
		b = relay_in(u);
		if (b < 0) {
			client_left(w, u);
			return;
		}
		if (u->fast || u->handoff_pending) {
			service(w, u, 0);	/* switch the watches */
			return;
		}
		if (a + b == 0)
			break;
	}
	if (sock_ev & hup) {
		client_left(w, u);
		return;
	}
	/* No frames to receive a message into: stop listening until completions return. */
	watch_sock(w, u, u->tx_nfree >= tx_need(u) ? EPOLLIN | EPOLLRDHUP : EPOLLRDHUP);
}

static void reaper_push(struct reaper *r, struct utun_dev *u)
{
	pthread_mutex_lock(&r->lock);
	u->next = r->queue;
	r->queue = u;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/* Commands from the main thread; true when told to stop. */
static bool run_commands(struct relay_worker *w)
{
	struct relay_cmd *cmd, *next;
	bool stop = false;
	uint64_t v;

	if (read(w->cmd_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_debug("relay: command eventfd: %s", strerror(errno));
	pthread_mutex_lock(&w->lock);
	cmd = w->cmds;
	w->cmds = NULL;
	w->cmds_tail = &w->cmds;
	pthread_mutex_unlock(&w->lock);
	for (; cmd; cmd = next) {
		struct utun_dev *u = cmd->u;

		next = cmd->next;
		switch (cmd->op) {
		case RELAY_ADD: {
			struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uintptr_t)u };

			u->wnext = w->devs;
			w->devs = u;
			u->sock_events = EPOLLIN | EPOLLRDHUP;
			if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, u->xsk_fd, &ev) < 0)
				pr_warn("%s: epoll (AF_XDP): %s", u->name, strerror(errno));
			ev = (struct epoll_event){ .events = u->sock_events,
						   .data.u64 = (uintptr_t)u | TAG_SOCK };
			if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, u->sock, &ev) < 0)
				pr_warn("%s: epoll: %s", u->name, strerror(errno));
			service(w, u, 0);	/* anything that came before we watched */
			break;
		}
		case RELAY_DEL:
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, u->xsk_fd, NULL);
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, u->sock, NULL);
			for (struct utun_dev **pp = &w->devs; *pp; pp = &(*pp)->wnext) {
				if (*pp == u) {
					*pp = u->wnext;
					break;
				}
			}
			reaper_push(w->reaper, u);
			break;
		case RELAY_STOP:
			stop = true;
			break;
		}
		free(cmd);
	}
	return stop;
}

static void *worker_main(void *arg)
{
	struct relay_worker *w = arg;
	struct epoll_event evs[64];
	bool stop = false;

	while (!stop) {
		int timeout = -1, n;

		for (struct utun_dev *u = w->devs; u; u = u->wnext)
			if (wants_retry(u)) {
				timeout = 1;
				break;
			}
		n = epoll_wait(w->epfd, evs, 64, timeout);
		if (n < 0 && errno != EINTR) {
			pr_err("relay: epoll_wait: %s", strerror(errno));
			break;
		}
		/* Commands run only between batches: no event below names a freed utun. */
		for (int i = 0; i < n; i++) {
			uintptr_t tag = (uintptr_t)evs[i].data.u64;
			struct utun_dev *u = (struct utun_dev *)(tag & ~(uintptr_t)TAG_SOCK);

			if (u)
				service(w, u, (tag & TAG_SOCK) ? evs[i].events : 0);
		}
		for (struct utun_dev *u = w->devs; u; u = u->wnext)
			if (wants_retry(u))
				service(w, u, 0);
		stop = run_commands(w);
	}
	return NULL;
}

static int relay_send(struct relay_worker *w, enum relay_op op, struct utun_dev *u)
{
	struct relay_cmd *cmd = calloc(1, sizeof(*cmd));
	uint64_t one = 1;

	if (!cmd)
		return -ENOMEM;
	cmd->op = op;
	cmd->u = u;
	pthread_mutex_lock(&w->lock);
	*w->cmds_tail = cmd;
	w->cmds_tail = &cmd->next;
	pthread_mutex_unlock(&w->lock);
	return write(w->cmd_fd, &one, sizeof(one)) < 0 ? -errno : 0;
}

static void dev_destroy(struct ifkitd *d, struct utun_dev *u, struct nl_sock *nl);
static void xsk_teardown(struct utun_dev *u);

static void *reaper_main(void *arg)
{
	struct reaper *r = arg;

	for (;;) {
		struct utun_dev *u, *next;
		bool stop;

		pthread_mutex_lock(&r->lock);
		while (!r->queue && !r->stop)
			pthread_cond_wait(&r->cond, &r->lock);
		u = r->queue;
		r->queue = NULL;
		stop = r->stop;
		pthread_mutex_unlock(&r->lock);
		for (; u; u = next) {
			next = u->next;
			dev_destroy(r->d, u, &r->nl);
			ADD(&r->destroyed, 1);
		}
		if (stop)
			return NULL;
	}
}

static int workers_start(struct ifkitd *d)
{
	struct utun_state *s = d->utun;
	struct reaper *r = &s->reaper;
	int err;

	r->d = d;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	err = nl_open(&r->nl);	/* the main thread is in the private namespace: so is this */
	if (err)
		return err;
	err = -pthread_create(&r->thread, NULL, reaper_main, r);
	if (err)
		return err;
	r->started = true;
	pthread_setname_np(r->thread, "utun-reaper");
	for (int i = 0; i < RELAY_WORKERS; i++) {
		struct relay_worker *w = &s->workers[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
		char tname[16];

		w->reaper = r;
		w->xsks_fd = s->xsks_fd;
		w->cmds_tail = &w->cmds;
		pthread_mutex_init(&w->lock, NULL);
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->cmd_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (w->epfd < 0 || w->cmd_fd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->cmd_fd, &ev))
			return -errno;
		err = -pthread_create(&w->thread, NULL, worker_main, w);
		if (err)
			return err;
		w->started = true;
		snprintf(tname, sizeof(tname), "utun-relay%d", i);
		pthread_setname_np(w->thread, tname);
	}
	return 0;
}

static void workers_stop(struct ifkitd *d)
{
	struct utun_state *s = d->utun;
	struct reaper *r = &s->reaper;

	for (int i = 0; i < RELAY_WORKERS; i++) {
		struct relay_worker *w = &s->workers[i];

		if (w->started && relay_send(w, RELAY_STOP, NULL) == 0)
			pthread_join(w->thread, NULL);
		w->started = false;
	}
	if (r->started) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_cond_signal(&r->cond);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->thread, NULL);
		r->started = false;
	}
	for (int i = 0; i < RELAY_WORKERS; i++) {
		struct relay_worker *w = &s->workers[i];

		if (w->epfd > 0)
			close(w->epfd);
		if (w->cmd_fd > 0)
			close(w->cmd_fd);
		while (w->cmds) {
			struct relay_cmd *c = w->cmds;

			w->cmds = c->next;
			free(c);
		}
	}
	if (r->nl.mnl)
		nl_close(&r->nl);
}

/* ---- device life cycle (main thread) ---- */

static struct utun_dev *find_unit(struct ifkitd *d, uint32_t unit)
{
	for (struct utun_dev *u = d->utun->devs; u; u = u->next)
		if (u->unit == unit)
			return u;
	return NULL;
}

static void stats_clear(struct ifkitd *d, uint32_t unit)
{
	struct utun_xdp_stat *zero = calloc((size_t)d->utun->nr_cpus, sizeof(*zero));

	if (zero)
		bpf_map_update_elem(d->utun->stats_fd, &unit, zero, BPF_ANY);
	free(zero);
}

static int port_write(struct ifkitd *d, struct utun_dev *u)
{
	struct utun_port port = { .unit = u->unit, .flags = LOAD(&u->flags) };
	__u32 key = (__u32)u->hidden_ifindex;

	return bpf_map_update_elem(d->utun->ports_fd, &key, &port, BPF_ANY) ? -errno : 0;
}

/*
 * Undo everything create made (any subset of it); frees u.  Runs on the
 * reaper thread (with its netlink socket), or on the main thread for a
 * failed create and at exit.  Everything keyed by the unit is cleared
 * before the hidden end goes: once it is gone the unit may be reused.
 */
static void dev_destroy(struct ifkitd *d, struct utun_dev *u, struct nl_sock *nl)
{
	__u32 key;

	key = u->unit;
	if (u->veth_made)	/* the unit is ours while the pair exists */
		bpf_map_delete_elem(d->utun->xsks_fd, &key);
	if (u->hidden_ifindex > 0) {
		key = (__u32)u->hidden_ifindex;
		bpf_map_delete_elem(d->utun->ports_fd, &key);
	}
	stats_clear(d, u->unit);
	if (u->veth_made && !u->hidden_gone) {
		/* Deleting the hidden end takes utunN, its addresses and routes with it. */
		if (u->hidden_ifindex > 0) {
			nl_link_del(nl, u->hidden_ifindex, -1);
		} else {
			/* Made, but its ifindex never read: find it by name. */
			char hname[IFNAMSIZ];
			struct link_info li;

			name_hidden(hname, sizeof(hname), UTUN_PREFIX, u->unit);
			if (nl_link_get(nl, hname, 0, -1, &li) == 0)
				nl_link_del(nl, li.ifindex, -1);
		}
	}
	xsk_teardown(u);
	pthread_mutex_destroy(&u->xsk_lock);
	if (u->sock >= 0)
		close(u->sock);
	if (u->client_end >= 0)
		close(u->client_end);
	if (u->ioctl_fd >= 0)
		close(u->ioctl_fd);
	free(u);
}

static void dev_unlink(struct ifkitd *d, struct utun_dev *u)
{
	for (struct utun_dev **pp = &d->utun->devs; *pp; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			return;
		}
	}
}

/*
 * Forget u here and let its worker drop it; the reaper deletes the devices.
 * The control loop does not wait for any of it.
 */
static void dev_remove(struct ifkitd *d, struct utun_dev *u, const char *why)
{
	pr_info("%s: removed (%s)", u->name, why);
	dev_unlink(d, u);
	if (u->client_end >= 0) {	/* an answer never carried it away */
		close(u->client_end);
		u->client_end = -1;
	}
	if (u->worker) {
		u->worker->count--;
		if (relay_send(u->worker, RELAY_DEL, u) == 0)
			return;
		pr_warn("%s: relay: cannot queue the removal", u->name);
	}
	reaper_push(&d->utun->reaper, u);
}

/*
 * One queue each way: veth spreads frames over its queues, and an AF_XDP
 * socket only gets what arrives on the queue it is bound to (0).
 */
static int one_channel(int sock, const char *ifname)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ch;
	if (ioctl(sock, SIOCETHTOOL, &ifr) < 0)
		return -errno;
	if (ch.rx_count == 1 && ch.tx_count == 1)
		return 0;
	ch.cmd = ETHTOOL_SCHANNELS;
	ch.rx_count = 1;
	ch.tx_count = 1;
	ch.combined_count = 0;
	return ioctl(sock, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
}

static int hidden_one_channel(const char *hname)
{
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;

	if (sock < 0)
		return -errno;
	err = one_channel(sock, hname);
	close(sock);
	return err;
}

/* What the loader needs in the client's namespace: ethtool, MAC, a socket for MTU reads. */
struct vis_arg {
	struct utun_dev *u;
	int err;
	const char *step;
};

static int vis_setup(void *arg)
{
	struct vis_arg *va = arg;
	struct utun_dev *u = va->u;
	struct ethtool_value ev = { .cmd = ETHTOOL_STXCSUM, .data = 0 };
	struct ifreq ifr;

	u->ioctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (u->ioctl_fd < 0) {
		va->step = "socket";
		return -errno;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", u->name);
	/* XDP cannot carry CHECKSUM_PARTIAL: the stack must finish checksums itself. */
	ifr.ifr_data = (void *)&ev;
	if (ioctl(u->ioctl_fd, SIOCETHTOOL, &ifr) < 0) {
		va->step = "ethtool tx-checksumming off";
		return -errno;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", u->name);
	if (ioctl(u->ioctl_fd, SIOCGIFHWADDR, &ifr) < 0) {
		va->step = "read MAC";
		return -errno;
	}
	memcpy(u->vis_mac, ifr.ifr_hwaddr.sa_data, 6);
	if ((va->err = one_channel(u->ioctl_fd, u->name))) {
		va->step = "ethtool channels";
		return va->err;
	}
	if (ioctl(u->ioctl_fd, SIOCGIFINDEX, &ifr) < 0) {
		va->step = "read ifindex";
		return -errno;
	}
	u->vis_ifindex = ifr.ifr_ifindex;
	return 0;
}

static void set_geometry(struct utun_dev *u, bool large)
{
	u->large = large;
	u->rx_frames = large ? LARGE_RX : SMALL_RX;
	u->tx_frames = large ? LARGE_TX : SMALL_TX;
	u->ring_size = large ? LARGE_RING : SMALL_RING;
}

/* Close the AF_XDP socket and free its UMEM, keeping its drop counters. */
static void xsk_teardown(struct utun_dev *u)
{
	struct xdp_statistics xs;
	socklen_t len = sizeof(xs);

	if (u->xsk_fd >= 0 && getsockopt(u->xsk_fd, SOL_XDP, XDP_STATISTICS, &xs, &len) == 0) {
		u->xs_base.rx_dropped += xs.rx_dropped;
		u->xs_base.rx_ring_full += xs.rx_ring_full;
		u->xs_base.tx_invalid_descs += xs.tx_invalid_descs;
	}
	for (int i = 0; i < 4; i++) {
		if (u->maps[i].addr)
			munmap(u->maps[i].addr, u->maps[i].len);
		u->maps[i].addr = NULL;
	}
	if (u->xsk_fd >= 0)
		close(u->xsk_fd);
	if (u->area)
		munmap(u->area, (size_t)(u->rx_frames + u->tx_frames) * FRAME_SIZE + SHM_CTL_SIZE);
	if (u->memfd >= 0)
		close(u->memfd);
	u->area = NULL;
	u->ctl = NULL;
	u->memfd = u->xsk_fd = -1;
	u->tx_nfree = 0;
}

static int xsk_setup(struct utun_dev *u, const char *hname);

/*
 * Move a utun to the large UMEM (worker thread): a new socket replaces the
 * old on hutunN's queue (the XDP program drops, and counts, what arrives in
 * the moment between).  The old socket's counters are kept.
 */
static int grow(struct relay_worker *w, struct utun_dev *u)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uintptr_t)u };
	char hname[IFNAMSIZ];
	__u32 key = u->unit;
	int err;

	if (u->large)
		return 0;
	name_hidden(hname, sizeof(hname), UTUN_PREFIX, u->unit);
	pthread_mutex_lock(&u->xsk_lock);
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, u->xsk_fd, NULL);
	/* Stop arrivals (the XDP program counts what it cannot redirect now)... */
	bpf_map_delete_elem(w->xsks_fd, &key);
	usleep(1000);	/* frames redirected just before are flushed at the end of that NAPI poll */
	/* ...hand the client what the old rings hold, and count what is left in them. */
	for (int i = 0; i < 64 && relay_out(u) > 0; i++)
		;
	{
		__u32 prod = __atomic_load_n(u->rx.producer, __ATOMIC_ACQUIRE), rx_left = 0;
		unsigned int tx_left;

		/* Packets, not descriptors: a packet's last descriptor has no XDP_PKT_CONTD. */
		for (__u32 i = u->rx.cached_cons; i != prod; i++)
			if (!(xsk_ring_cons__rx_desc(&u->rx, i)->options & XDP_PKT_CONTD_) ||
			    i + 1 == prod)
				rx_left++;

		kick_tx(u);
		tx_left = u->tx_frames - u->tx_nfree;
		if (rx_left) {
			ADD(&u->st.out_drops, rx_left);
			ADD(&u->st.errors[UTUN_ERR_RING_FULL], rx_left);
		}
		if (tx_left) {	/* frames, not packets: one each below one frame's MTU */
			ADD(&u->st.in_drops, tx_left);
			ADD(&u->st.errors[UTUN_ERR_QUEUE_FULL], tx_left);
		}
	}
	xsk_teardown(u);
	set_geometry(u, true);
	err = xsk_setup(u, hname);
	if (!err && bpf_map_update_elem(w->xsks_fd, &key, &u->xsk_fd, BPF_ANY))
		err = -errno;
	pthread_mutex_unlock(&u->xsk_lock);
	u->want_large = false;
	if (err) {
		pr_warn("%s: larger AF_XDP UMEM: %s", u->name, strerror(-err));
		return err;
	}
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, u->xsk_fd, &ev) < 0)
		return -errno;
	pr_debug("%s: large UMEM (%u+%u frames)", u->name, u->rx_frames, u->tx_frames);
	return 0;
}

/* Map one AF_XDP ring and fill the libxdp ring struct (same layout for both kinds). */
static int ring_map(struct utun_dev *u, int i, int fd, const struct xdp_ring_offset *off,
		    off_t pgoff, size_t desc_size, struct xsk_ring_prod *r, bool producer)
{
	size_t len = off->desc + u->ring_size * desc_size;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);

	if (p == MAP_FAILED)
		return -errno;
	u->maps[i].addr = p;
	u->maps[i].len = len;
	r->mask = u->ring_size - 1;
	r->size = u->ring_size;
	r->producer = (__u32 *)(p + off->producer);
	r->consumer = (__u32 *)(p + off->consumer);
	r->ring = p + off->desc;
	r->flags = (__u32 *)(p + off->flags);
	r->cached_prod = *r->producer;
	r->cached_cons = *r->consumer + (producer ? u->ring_size : 0);
	return 0;
}

/*
 * The AF_XDP socket on hutunN's queue 0 with its UMEM, by hand rather than
 * with libxdp: a socket that replaces another (grow) may meet EBUSY at bind
 * while the kernel still releases the old one, and only the bind must be
 * retried then (libxdp's error path cannot be retried).
 */
static int xsk_setup(struct utun_dev *u, const char *hname)
{
	size_t size = (size_t)(u->rx_frames + u->tx_frames) * FRAME_SIZE;
	struct xdp_umem_reg mr = { .chunk_size = FRAME_SIZE, .headroom = 0 };
	struct sockaddr_xdp sxdp = {
		.sxdp_family = AF_XDP,
		.sxdp_ifindex = (__u32)u->hidden_ifindex,
		.sxdp_queue_id = 0,
		/* Multi-buffer: any MTU up to 65535 crosses as a chain of frames. */
		.sxdp_flags = XDP_COPY | XDP_USE_SG_,
	};
	struct xdp_mmap_offsets off;
	socklen_t optlen = sizeof(off);
	uint32_t idx = 0;
	int err;

	(void)hname;
	/*
	 * A memfd, so a fast-path client can map the same frames.  Sealed
	 * before anyone else sees it: a client that could shrink it would make
	 * every later access of ours (the control page, the kernel's copies)
	 * fault with SIGBUS and take the whole loader down.
	 */
	u->memfd = memfd_create(u->name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (u->memfd < 0)
		return -errno;
	if (ftruncate(u->memfd, (off_t)(size + SHM_CTL_SIZE)) < 0)
		return -errno;
	if (fcntl(u->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	u->area = mmap(NULL, size + SHM_CTL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, u->memfd, 0);
	if (u->area == MAP_FAILED) {
		u->area = NULL;
		return -errno;
	}
	u->ctl = (struct utun_shm_ctl *)((uint8_t *)u->area + size);
	STORE(&u->ctl->flags, LOAD(&u->flags));
	STORE(&u->ctl->mtu, LOAD(&u->mtu));
	u->xsk_fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (u->xsk_fd < 0)
		return -errno;
	mr.addr = (uintptr_t)u->area;
	mr.len = size;
	if (setsockopt(u->xsk_fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr)) ||
	    setsockopt(u->xsk_fd, SOL_XDP, XDP_UMEM_FILL_RING, &u->ring_size, sizeof(u->ring_size)) ||
	    setsockopt(u->xsk_fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &u->ring_size,
		       sizeof(u->ring_size)) ||
	    setsockopt(u->xsk_fd, SOL_XDP, XDP_RX_RING, &u->ring_size, sizeof(u->ring_size)) ||
	    setsockopt(u->xsk_fd, SOL_XDP, XDP_TX_RING, &u->ring_size, sizeof(u->ring_size)) ||
	    getsockopt(u->xsk_fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen))
		return -errno;
	if ((err = ring_map(u, 0, u->xsk_fd, &off.rx, XDP_PGOFF_RX_RING, sizeof(struct xdp_desc),
			    (struct xsk_ring_prod *)&u->rx, false)) ||
	    (err = ring_map(u, 1, u->xsk_fd, &off.tx, XDP_PGOFF_TX_RING, sizeof(struct xdp_desc),
			    &u->tx, true)) ||
	    (err = ring_map(u, 2, u->xsk_fd, &off.fr, XDP_UMEM_PGOFF_FILL_RING, sizeof(__u64),
			    &u->fq, true)) ||
	    (err = ring_map(u, 3, u->xsk_fd, &off.cr, XDP_UMEM_PGOFF_COMPLETION_RING,
			    sizeof(__u64), (struct xsk_ring_prod *)&u->cq, false)))
		return err;
	/* The first rx_frames frames receive, the rest transmit. */
	if (xsk_ring_prod__reserve(&u->fq, u->rx_frames, &idx) != u->rx_frames)
		return -ENOSPC;
	for (uint32_t i = 0; i < u->rx_frames; i++)
		*xsk_ring_prod__fill_addr(&u->fq, idx + i) = (uint64_t)i * FRAME_SIZE;
	xsk_ring_prod__submit(&u->fq, u->rx_frames);
	u->tx_nfree = 0;
	for (uint32_t i = 0; i < u->tx_frames; i++)
		u->tx_free[u->tx_nfree++] =
			(uint64_t)(u->rx_frames + u->tx_frames - 1 - i) * FRAME_SIZE;
	/*
	 * The socket a grow() replaced lets go of the queue in a kernel work
	 * item (under RTNL): bind may meet EBUSY for a moment.
	 */
	for (int tries = 0;; tries++) {
		if (bind(u->xsk_fd, (struct sockaddr *)&sxdp, sizeof(sxdp)) == 0)
			return 0;
		if (errno != EBUSY || tries >= GROW_TRIES)
			return -errno;
		usleep(500);
	}
}

static void sock_bufs(int fd)
{
	int sz = SOCK_BUF;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

#define FAIL(e, what) do { err = (e); step = (what); goto fail; } while (0)

static int create_unit(struct ifkitd *d, struct client *c, uint32_t unit, uint32_t flags,
		       int ns_fd, struct reply *r)
{
	char hname[IFNAMSIZ];
	struct utun_dev *u;
	struct veth_end vis = { .netns_fd = ns_fd, .mtu = UTUN_MTU };
	struct veth_end hid = { .name = hname, .netns_fd = d->priv_ns_fd, .mtu = HIDDEN_MTU };
	struct link_change chg = LINK_CHANGE_NONE;
	struct link_info hl;
	struct vis_arg va = { 0 };
	struct stat st;
	int sv[2], err, xdp_mode;
	const char *step = "";

	u = calloc(1, sizeof(*u));
	if (!u)
		return reply_error(r, -ENOMEM, "out of memory");
	u->unit = unit;
	u->owner = c ? c->pid : 0;
	u->owner_uid = c ? c->uid : 0;
	u->sock = u->client_end = u->ioctl_fd = u->xsk_fd = u->memfd = -1;
	pthread_mutex_init(&u->xsk_lock, NULL);
	set_geometry(u, false);
	u->ev_fd = d->utun->ev_fd;
	u->flags = flags;
	u->mtu = UTUN_MTU;
	name_format(u->name, sizeof(u->name), UTUN_PREFIX, unit);
	name_hidden(hname, sizeof(hname), UTUN_PREFIX, unit);
	netns_name_of(ns_fd, u->netns, sizeof(u->netns));
	vis.name = u->name;

	err = nl_veth_create(&d->nl, &vis, &hid);
	if (err) {
		free(u);
		return err;	/* nothing made; -EEXIST: the name is taken */
	}
	u->veth_made = true;
	err = nl_link_get(&d->nl, hname, 0, -1, &hl);
	if (err)
		FAIL(err, "find hidden end");
	u->hidden_ifindex = hl.ifindex;
	memcpy(u->hid_mac, hl.mac, 6);
	chg.arp = 0;
	chg.addrgenmode = 1;	/* IN6_ADDR_GEN_MODE_NONE */
	chg.up = 1;
	err = nl_link_set(&d->nl, hl.ifindex, -1, &chg);
	if (err)
		FAIL(err, "set up hidden end");
	/* The visible end, from inside the client's namespace. */
	va.u = u;
	err = ifkitd_in_netns(d, ns_fd, vis_setup, &va);
	if (err)
		FAIL(err, va.step ? va.step : "enter client namespace");
	err = hidden_one_channel(hname);
	if (err)
		FAIL(err, "ethtool channels (hidden end)");
	stats_clear(d, unit);
	err = port_write(d, u);
	if (err)
		FAIL(err, "write utun_ports");
	xdp_mode = XDP_FLAGS_DRV_MODE;
	err = bpf_xdp_attach(hl.ifindex, d->utun->prog_fd, xdp_mode, NULL);
	if (err) {
		xdp_mode = XDP_FLAGS_SKB_MODE;
		err = bpf_xdp_attach(hl.ifindex, d->utun->prog_fd, xdp_mode, NULL);
	}
	if (err)
		FAIL(err, "attach XDP");
	err = xsk_setup(u, hname);
	if (err)
		FAIL(err, "AF_XDP socket");
	{
		__u32 key = unit;

		if (bpf_map_update_elem(d->utun->xsks_fd, &key, &u->xsk_fd, BPF_ANY))
			FAIL(-errno, "write utun_xsks");
	}
	chg = (struct link_change)LINK_CHANGE_NONE;
	chg.arp = 0;
	chg.addrgenmode = 1;	/* the seed's IFEF_NOAUTOIPV6LL */
	err = ifkitd_link_set_in(d, ns_fd, u->vis_ifindex, &chg);
	if (!err) {
		chg = (struct link_change)LINK_CHANGE_NONE;
		chg.up = 1;
		err = ifkitd_link_set_in(d, ns_fd, u->vis_ifindex, &chg);
	}
	if (err)
		FAIL(err, "set up utun");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		FAIL(-errno, "socketpair");
	u->sock = sv[0];
	u->client_end = sv[1];
	sock_bufs(sv[0]);
	sock_bufs(sv[1]);
	fcntl(u->sock, F_SETFL, fcntl(u->sock, F_GETFL) | O_NONBLOCK);
	if (fstat(u->client_end, &st) < 0)
		FAIL(-errno, "fstat");
	u->client_ino = st.st_ino;
	{
		/* The least loaded relay thread takes it. */
		struct relay_worker *w = &d->utun->workers[0];

		for (int i = 1; i < RELAY_WORKERS; i++)
			if (d->utun->workers[i].count < w->count)
				w = &d->utun->workers[i];
		err = relay_send(w, RELAY_ADD, u);
		if (err)
			FAIL(err, "relay");
		u->worker = w;
		w->count++;
	}
	u->next = d->utun->devs;
	d->utun->devs = u;
	snprintf(r->hdr.name, sizeof(r->hdr.name), "%s", u->name);
	r->hdr.value = flags;
	r->fd = u->client_end;	/* closed after the answer left (deferred_close) */
	{
		uint64_t one = 1;

		if (write(d->utun->ev_fd, &one, sizeof(one)) < 0)
			pr_warn("%s: eventfd: %s", u->name, strerror(errno));
	}
	pr_info("%s: opened by pid %d (XDP %s mode)", u->name, (int)u->owner,
		xdp_mode == XDP_FLAGS_DRV_MODE ? "native" : "generic");
	return 0;
fail:
	reply_error(r, err, "%s: %s: %s", u->name, step,
		    d->nl.errmsg[0] ? d->nl.errmsg : strerror(-err));
	pr_warn("%s", r->hdr.msg);
	dev_destroy(d, u, &d->nl);
	return err;
}

static bool hidden_exists(struct ifkitd *d, uint32_t unit)
{
	char hname[IFNAMSIZ];
	struct link_info li;

	name_hidden(hname, sizeof(hname), UTUN_PREFIX, unit);
	return nl_link_get(&d->nl, hname, 0, -1, &li) == 0;
}

static int cmd_open(struct ifkitd *d, struct client *c, const struct ifkit_req *req, int ns_fd,
		    struct reply *r)
{
	uint32_t flags = req->value;
	int err;

	if (flags & ~(uint32_t)(UTUN_FLAGS_NO_OUTPUT | UTUN_FLAGS_NO_INPUT))
		return reply_error(r, -EINVAL, "unknown utun flags 0x%x", flags);
	if (ns_fd < 0)
		ns_fd = d->home_ns_fd;
	if (req->unit >= 0) {
		uint32_t unit = (uint32_t)req->unit;

		if (unit >= UTUN_MAX_UNITS)
			return reply_error(r, -EINVAL, "unit %u out of range (0..%u)", unit,
					   UTUN_MAX_UNITS - 1);
		if (find_unit(d, unit) || hidden_exists(d, unit))
			return reply_error(r, -EBUSY, "utun%u is in use", unit);
		err = create_unit(d, c, unit, flags, ns_fd, r);
		if (err == -EEXIST)
			return reply_error(r, -EBUSY, "utun%u: a device of that name exists", unit);
		return err;
	}
	for (uint32_t unit = 0; unit < UTUN_MAX_UNITS; unit++) {
		if (find_unit(d, unit) || hidden_exists(d, unit))
			continue;
		err = create_unit(d, c, unit, flags, ns_fd, r);
		if (err != -EEXIST)	/* a foreign device may hold the name: skip it */
			return err;
		r->hdr.error = 0;
		r->hdr.msg[0] = '\0';
	}
	return reply_error(r, -ENOSPC, "no free utun unit");
}

/* The utun a request means: the packet descriptor it carries, else its name. */
static struct utun_dev *resolve(struct ifkitd *d, const struct ifkit_req *req, int fd,
				struct reply *r)
{
	struct stat st;
	uint32_t unit;

	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
		for (struct utun_dev *u = d->utun->devs; u; u = u->next)
			if (u->client_ino == st.st_ino)
				return u;
		reply_error(r, -EBADF, "descriptor is not an open utun");
		return NULL;
	}
	if (!req->name[0]) {
		reply_error(r, -EINVAL, "missing utun name");
		return NULL;
	}
	if (name_parse_unit(req->name, UTUN_PREFIX, &unit) == 0) {
		struct utun_dev *u = find_unit(d, unit);

		if (u)
			return u;
	}
	reply_error(r, -ENODEV, "%s: no such utun", req->name);
	return NULL;
}

/*
 * Drops the kernel counted for us: the AF_XDP socket's own statistics (rx
 * ring full, no free fill frame or frame too small: the client was too slow;
 * invalid tx descriptors a fast-path client wrote) and the veth pair's
 * (utunN's tx_dropped: frames the veth could not hand to hutunN; hutunN's
 * tx_dropped: client packets utunN's input refused).  hutunN's rx_dropped
 * is not added: it counts the same failed redirects as the socket.
 */
static void kernel_drops(struct ifkitd *d, struct utun_dev *u, struct ifkit_utun_info *info)
{
	struct xdp_statistics xs;
	socklen_t len = sizeof(xs);
	struct link_info hl, vl;
	uint64_t v;

	memset(&xs, 0, sizeof(xs));
	if (u->xsk_fd < 0 || getsockopt(u->xsk_fd, SOL_XDP, XDP_STATISTICS, &xs, &len) < 0)
		memset(&xs, 0, sizeof(xs));
	{
		v = xs.rx_ring_full + xs.rx_dropped + u->xs_base.rx_ring_full + u->xs_base.rx_dropped;
		info->errors[UTUN_ERR_RING_FULL] += v;
		info->out_drops += v;
		v = xs.tx_invalid_descs + u->xs_base.tx_invalid_descs;
		info->errors[UTUN_ERR_BAD_DESC] += v;
		info->in_drops += v;
	}
	if (u->hidden_ifindex <= 0 || nl_link_get(&d->nl, NULL, u->hidden_ifindex, -1, &hl))
		return;
	info->errors[UTUN_ERR_DEV_DROP] += hl.stats.tx_dropped;
	info->in_drops += hl.stats.tx_dropped;
	if (hl.link_netnsid >= 0 && hl.link > 0 &&
	    nl_link_get(&d->nl, NULL, hl.link, hl.link_netnsid, &vl) == 0) {
		info->errors[UTUN_ERR_DEV_DROP] += vl.stats.tx_dropped;
		info->out_drops += vl.stats.tx_dropped;
	}
}

static void fill_info(struct ifkitd *d, struct client *c, struct utun_dev *u,
		      struct ifkit_utun_info *info)
{
	struct utun_xdp_stat *pc = calloc((size_t)d->utun->nr_cpus, sizeof(*pc));

	pthread_mutex_lock(&u->xsk_lock);	/* a relay may be replacing the socket */
	refresh_mtu(u);		/* show the MTU of now, not of the last packet */
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", u->name);
	snprintf(info->netns, sizeof(info->netns), "%s", u->netns);
	info->unit = u->unit;
	/* Like ps for another user's process under hidepid: no pid for strangers. */
	if (!c || c->uid == 0 || c->uid == u->owner_uid)
		info->owner_pid = (__u32)u->owner;
	info->flags = LOAD(&u->flags);
	info->mtu = LOAD(&u->mtu);
	info->ifindex = (__u32)u->vis_ifindex;
	info->out_packets = LOAD(&u->st.out_packets);
	info->out_bytes = LOAD(&u->st.out_bytes);
	info->out_drops = LOAD(&u->st.out_drops);
	info->in_packets = LOAD(&u->st.in_packets);
	info->in_bytes = LOAD(&u->st.in_bytes);
	info->in_drops = LOAD(&u->st.in_drops);
	for (int i = 0; i < UTUN_ERR_MAX && i < UTUN_STAT_CAUSES; i++)
		info->errors[i] = LOAD(&u->st.errors[i]);
	if (u->fast && u->ctl) {
		/* The client counts what it moves itself. */
		info->out_packets += LOAD(&u->ctl->out_packets);
		info->out_bytes += LOAD(&u->ctl->out_bytes);
		info->in_packets += LOAD(&u->ctl->in_packets);
		info->in_bytes += LOAD(&u->ctl->in_bytes);
		info->in_drops += LOAD(&u->ctl->in_drops);
		for (int i = 0; i < UTUN_STAT_CAUSES && i < UTUN_SHM_CAUSES; i++)
			info->errors[i] += LOAD(&u->ctl->errors[i]);
	}
	if (pc && bpf_map_lookup_elem(d->utun->stats_fd, &u->unit, pc) == 0) {
		for (int i = 0; i < d->utun->nr_cpus; i++) {
			/* errors[UTUN_ERR_NONE] carries the non-IP frames never relayed. */
			info->errors[UTUN_ERR_NONE] += pc[i].non_ip_drops;
			info->errors[UTUN_ERR_NO_OUTPUT] += pc[i].no_output_drops;
			info->out_drops += pc[i].no_output_drops + pc[i].no_socket_drops;
			info->errors[UTUN_ERR_RING_FULL] += pc[i].no_socket_drops;
		}
	}
	free(pc);
	kernel_drops(d, u, info);
	pthread_mutex_unlock(&u->xsk_lock);
}

static int utun_handle(struct ifkitd *d, struct client *c, const struct ifkit_req *req, int ns_fd,
		struct reply *r)
{
	struct ifkit_utun_info info;
	struct utun_dev *u;

	if (!d->utun)
		return reply_error(r, -EOPNOTSUPP, "utun is not available");
	switch (req->cmd) {
	case IFKIT_CMD_UTUN_OPEN:
		return cmd_open(d, c, req, ns_fd, r);
	case IFKIT_CMD_UTUN_GET_FLAGS:
		u = resolve(d, req, ns_fd, r);
		if (!u)
			return r->hdr.error;
		r->hdr.value = LOAD(&u->flags);
		snprintf(r->hdr.name, sizeof(r->hdr.name), "%s", u->name);
		return 0;
	case IFKIT_CMD_UTUN_SET_FLAGS: {
		int err;

		if (req->value & ~(uint32_t)(UTUN_FLAGS_NO_OUTPUT | UTUN_FLAGS_NO_INPUT))
			return reply_error(r, -EINVAL, "unknown utun flags 0x%x", req->value);
		u = resolve(d, req, ns_fd, r);
		if (!u)
			return r->hdr.error;
		STORE(&u->flags, req->value);
		pthread_mutex_lock(&u->xsk_lock);
		if (u->ctl)
			STORE(&u->ctl->flags, req->value);
		pthread_mutex_unlock(&u->xsk_lock);
		err = port_write(d, u);
		if (err)
			return reply_error(r, err, "%s: utun_ports: %s", u->name, strerror(-err));
		r->hdr.value = req->value;
		snprintf(r->hdr.name, sizeof(r->hdr.name), "%s", u->name);
		pr_info("%s: flags 0x%x", u->name, req->value);
		return 0;
	}
	case IFKIT_CMD_UTUN_SHOW:
		if (req->name[0]) {
			u = resolve(d, req, -1, r);
			if (!u)
				return r->hdr.error;
			fill_info(d, c, u, &info);
			return reply_add_item(r, IFKIT_ITEM_UTUN, &info, sizeof(info));
		}
		for (u = d->utun->devs; u; u = u->next) {
			int err;

			fill_info(d, c, u, &info);
			err = reply_add_item(r, IFKIT_ITEM_UTUN, &info, sizeof(info));
			if (err)
				return err;
		}
		return 0;
	}
	return reply_error(r, -EOPNOTSUPP, "unknown utun command");
}

/*
 * The module's eventfd: descriptors lent to an answer are closed here (the
 * answer went out before any later callback runs), and utuns whose client
 * left are taken down.  Only this watch exists, so nothing freed here can be
 * another pending event of the same batch.
 */
static void ev_cb(struct ifkitd *d, struct watch *w, uint32_t events)
{
	uint64_t v;
	struct utun_dev *u, *next;

	(void)events;
	if (read(w->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_debug("utun eventfd: %s", strerror(errno));
	for (u = d->utun->devs; u; u = u->next) {
		if (u->client_end >= 0) {
			close(u->client_end);
			u->client_end = -1;
		}
	}
	for (u = d->utun->devs; u; u = next) {
		next = u->next;
		if (LOAD(&u->gone))
			dev_remove(d, u, "client closed");
	}
}

/* The hidden end went away (utunN deleted, or its namespace died). */
static void utun_link_event(struct ifkitd *d, const struct link_info *link, int deleted)
{
	if (!d->utun || !deleted)
		return;
	for (struct utun_dev *u = d->utun->devs; u; u = u->next) {
		if (u->hidden_ifindex == link->ifindex) {
			/* Already gone: forget it, but drop its utun_ports entry. */
			u->hidden_gone = true;
			dev_remove(d, u, "device deleted");
			return;
		}
	}
}

/*
 * After lost link events: take down every utun whose hidden end no longer
 * exists, the way a deletion event would have.
 */
static void utun_resync(struct ifkitd *d)
{
	struct utun_dev *u, *next;

	if (!d->utun)
		return;
	for (u = d->utun->devs; u; u = next) {
		char hname[IFNAMSIZ];
		struct link_info li;
		int err;

		next = u->next;
		name_hidden(hname, sizeof(hname), UTUN_PREFIX, u->unit);
		err = nl_link_get(&d->nl, NULL, u->hidden_ifindex, -1, &li);
		/* Gone, or the ifindex now names some other device. */
		if (err == -ENODEV || (!err && strcmp(li.name, hname))) {
			memset(&li, 0, sizeof(li));
			li.ifindex = u->hidden_ifindex;
			snprintf(li.name, sizeof(li.name), "%s", hname);
			utun_link_event(d, &li, 1);
		}
	}
}

static int purge_one(const struct link_info *link, void *arg)
{
	struct ifkitd *d = arg;
	uint32_t unit;

	if (link->name[0] == 'h' && name_parse_unit(link->name + 1, UTUN_PREFIX, &unit) == 0) {
		nl_link_del(&d->nl, link->ifindex, -1);
		pr_info("utun%u: removed (left by a previous loader)", unit);
	}
	return 0;
}

static int utun_init(struct ifkitd *d)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = d->pin_dir);
	struct utun_state *s;
	__u32 key, next;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	d->utun = s;
	s->ev_fd = -1;
	s->nr_cpus = libbpf_num_possible_cpus();
	s->skel = utun_bpf__open_opts(&oopts);
	if (!s->skel) {
		err = -errno;
		pr_err("utun: open BPF object: %s", strerror(-err));
		return err;
	}
	err = utun_bpf__load(s->skel);
	if (err) {
		pr_err("utun: load BPF object: %s", strerror(-err));
		return err;
	}
	s->ports_fd = bpf_map__fd(s->skel->maps.utun_ports);
	s->xsks_fd = bpf_map__fd(s->skel->maps.utun_xsks);
	s->stats_fd = bpf_map__fd(s->skel->maps.utun_stats);
	s->prog_fd = bpf_program__fd(s->skel->progs.utun_xdp);
	/* Relays die with their loader: remove what a previous one left. */
	nl_link_dump(&d->nl, purge_one, d);
	while (bpf_map_get_next_key(s->ports_fd, NULL, &next) == 0) {
		key = next;
		if (bpf_map_delete_elem(s->ports_fd, &key))
			break;
	}
	s->ev_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->ev_fd < 0)
		return -errno;
	s->ev_w = (struct watch){ s->ev_fd, ev_cb, NULL };
	err = workers_start(d);
	if (err) {
		pr_err("utun: relay threads: %s", strerror(-err));
		return err;
	}
	return ifkitd_watch_add(d, &s->ev_w, 0);
}

static void utun_fini(struct ifkitd *d)
{
	struct utun_state *s = d->utun;

	if (!s)
		return;
	/* Workers first (they hand what they drop to the reaper), then the rest here. */
	workers_stop(d);
	while (s->devs) {
		struct utun_dev *u = s->devs;

		s->devs = u->next;
		pr_info("%s: removed (loader stopping)", u->name);
		dev_destroy(d, u, &d->nl);
	}
	if (s->ev_fd >= 0) {
		ifkitd_watch_del(d, &s->ev_w);
		close(s->ev_fd);
	}
	utun_bpf__destroy(s->skel);
	free(s);
	d->utun = NULL;
}

static int utun_count(struct ifkitd *d)
{
	int n = 0;

	if (!d->utun)
		return 0;
	for (struct utun_dev *u = d->utun->devs; u; u = u->next)
		n++;
	return n;
}

const struct ifkitd_module utun_module = {
	.name = "utun",
	.kind = IFKIT_KIND_UTUN,
	.init = utun_init,
	.fini = utun_fini,
	.handle = utun_handle,
	.unpriv_ops = IFKITD_OP_BIT(IFKIT_CMD_UTUN_SHOW),
	.link_event = utun_link_event,
	.resync = utun_resync,
	.count = utun_count,
};
