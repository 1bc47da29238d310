// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * utun's data path in the loader: the relay workers (a fixed pool of epoll
 * threads moving packets between each utun's AF_XDP rings and its client's
 * descriptor), the fast-path hand-off, the reaper thread that deletes
 * removed utuns off the control loop, and the AF_XDP sockets themselves
 * (UMEM geometry, growth).  See utun.c for the device life cycle.
 */
#include "fdpass.h"
#include "utun_int.h"

/* ---- relay thread ---- */

void utun_refresh_mtu(struct utun_dev *u)
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
	n = fdpass_send_nowait(u->sock, h, sizeof(*h), fds, 2);
	if (n < 0)
		errno = (int)-n;
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
		utun_refresh_mtu(u);
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
			utun_refresh_mtu(u);
			if ((HDR_OFF + UTUN_HDR_LEN + LOAD(&u->mtu) + FRAME_SIZE - 1) / FRAME_SIZE > 1)
				u->want_large = true;
		} else {
			why = utun_validate_frame(frame + HDR_OFF, len, mtu);
			if (why == UTUN_ERR_TOO_LONG) {
				/* Raised since we last looked?  (Lowered: the veth drops it, counted.) */
				utun_refresh_mtu(u);
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

void utun_reaper_push(struct reaper *r, struct utun_dev *u)
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
			utun_reaper_push(w->reaper, u);
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

int utun_relay_send(struct relay_worker *w, enum relay_op op, struct utun_dev *u)
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
			utun_dev_destroy(r->d, u, &r->nl);
			ADD(&r->destroyed, 1);
		}
		if (stop)
			return NULL;
	}
}

int utun_workers_start(struct ifkitd *d)
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

void utun_workers_stop(struct ifkitd *d)
{
	struct utun_state *s = d->utun;
	struct reaper *r = &s->reaper;

	for (int i = 0; i < RELAY_WORKERS; i++) {
		struct relay_worker *w = &s->workers[i];

		if (w->started && utun_relay_send(w, RELAY_STOP, NULL) == 0)
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

void utun_set_geometry(struct utun_dev *u, bool large)
{
	u->large = large;
	u->rx_frames = large ? LARGE_RX : SMALL_RX;
	u->tx_frames = large ? LARGE_TX : SMALL_TX;
	u->ring_size = large ? LARGE_RING : SMALL_RING;
}

/* Close the AF_XDP socket and free its UMEM, keeping its drop counters. */
void utun_xsk_teardown(struct utun_dev *u)
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
	utun_xsk_teardown(u);
	utun_set_geometry(u, true);
	err = utun_xsk_setup(u, hname);
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
int utun_xsk_setup(struct utun_dev *u, const char *hname)
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

