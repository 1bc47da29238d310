// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libutun's relay thread: the plain descriptor utun_open() returns keeps
 * macOS's semantics (one packet per read()/write(), poll works) because it
 * is one end of a SOCK_SEQPACKET socketpair; this thread moves packets
 * between the other end and the utun's AF_XDP socket, which the process
 * holds itself.  One thread per process serves all its utuns (epoll, no
 * timers: an idle utun costs nothing); it starts with the first utun_open.
 *
 *   AF_XDP rx -> (family header) -> sendmmsg, never blocking: a full
 *                descriptor queue drops and counts (queue_full)
 *   recvmmsg  -> validate (counted by cause) -> AF_XDP tx, one kick a batch
 *
 * The descriptor is the utun's life: when the application closes it (or
 * exits), the thread sees the hang-up and releases the socket, which ends
 * the utun.  Before that, the socket lives in this process and nowhere
 * else -- a loader restart changes nothing here.
 *
 * Locking: one mutex, held by the thread while it serves a batch of events
 * and by utun_close()/utun_enable_fastpath() while they change a utun; a
 * utun is freed only by the thread, after the batch that may still name it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "fast.h"

#define RELAY_BATCH	64
#define RELAY_ROUNDS	4		/* batches per utun and wake-up: fairness */
#define RELAY_BUF	(UTUN_HDR_LEN + 65535 + 64)
#define MTU_READ_MS	200

static struct {
	pthread_mutex_t lock;
	bool started;
	int epfd;
	pthread_t thread;
	struct utun_fast *dead;		/* released, to free after the current batch */
	struct utun_fast *all;		/* every live utun */
	uint8_t *out_buf, *in_buf;	/* RELAY_BATCH x RELAY_BUF each */
} relay = { .lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1 };

#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* utunN's MTU, read at most every MTU_READ_MS (or now, when force). */
static unsigned int relay_mtu(struct utun_fast *f, bool force)
{
	uint64_t now = now_ms();
	struct ifreq ifr;

	if (!force && f->mtu && now - f->mtu_ms < MTU_READ_MS)
		return f->mtu;
	f->mtu_ms = now;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", f->ifname);
	/* Any socket made in utunN's namespace answers: our socketpair end was. */
	if (f->rel >= 0 && ioctl(f->rel, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0)
		f->mtu = (unsigned int)ifr.ifr_mtu;
	else if (!f->mtu)
		f->mtu = 65535;	/* cannot read it: the device still refuses too long */
	return f->mtu;
}

/* Stop watching f and let go of the utun; f is freed after this batch. */
static void release(struct utun_fast *f)
{
	if (f->released)
		return;
	f->released = true;
	if (f->orphan) {	/* inherited over fork: not in our epoll, never freed by a thread */
		for (struct utun_fast **pp = &relay.all; *pp; pp = &(*pp)->all_next) {
			if (*pp == f) {
				*pp = f->all_next;
				break;
			}
		}
		fast_release(f);
		return;
	}
	for (struct utun_fast **pp = &relay.all; *pp; pp = &(*pp)->all_next) {
		if (*pp == f) {
			*pp = f->all_next;
			break;
		}
	}
	if (f->xsk >= 0)
		epoll_ctl(relay.epfd, EPOLL_CTL_DEL, f->xsk, NULL);
	if (f->rel >= 0)
		epoll_ctl(relay.epfd, EPOLL_CTL_DEL, f->rel, NULL);
	fast_release(f);
}

/* Stack -> application: rx ring to the descriptor. */
static void relay_out(struct utun_fast *f)
{
	struct utun_pkt pkts[RELAY_BATCH];
	struct mmsghdr msgs[RELAY_BATCH];
	struct iovec iov[RELAY_BATCH];

	for (int round = 0; round < RELAY_ROUNDS; round++) {
		uint64_t bytes = 0;
		int got, sent;

		for (int i = 0; i < RELAY_BATCH; i++) {
			pkts[i].buf = relay.out_buf + (size_t)i * RELAY_BUF;
			pkts[i].cap = RELAY_BUF;
		}
		got = fast_rx(f, pkts, RELAY_BATCH, MSG_DONTWAIT, false);
		if (got <= 0)
			return;
		for (int i = 0; i < got; i++) {
			iov[i].iov_base = pkts[i].buf;
			iov[i].iov_len = pkts[i].len;
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		sent = sendmmsg(f->rel, msgs, (unsigned int)got, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent < 0)
			sent = 0;
		for (int i = 0; i < sent; i++)
			bytes += pkts[i].len - UTUN_HDR_LEN;
		ADD(&f->ctl->out_packets, (uint64_t)sent);
		ADD(&f->ctl->out_bytes, bytes);
		if (sent < got) {	/* the application's queue is full: drop, count */
			ADD(&f->ctl->out_drops, (uint64_t)(got - sent));
			ADD(&f->ctl->errors[UTUN_ERR_QUEUE_FULL], (uint64_t)(got - sent));
		}
		if (got < RELAY_BATCH)
			return;
	}
}

/* Application -> stack: descriptor to the tx ring.  false: it hung up. */
static bool relay_in(struct utun_fast *f)
{
	struct utun_pkt pkts[RELAY_BATCH];
	struct mmsghdr msgs[RELAY_BATCH];
	struct iovec iov[RELAY_BATCH];

	for (int round = 0; round < RELAY_ROUNDS; round++) {
		unsigned int mtu = relay_mtu(f, false), nvalid = 0;
		int got;

		for (int i = 0; i < RELAY_BATCH; i++) {
			iov[i].iov_base = relay.in_buf + (size_t)i * RELAY_BUF;
			iov[i].iov_len = RELAY_BUF;
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		got = recvmmsg(f->rel, msgs, RELAY_BATCH, MSG_DONTWAIT, NULL);
		if (got < 0)
			return errno == EAGAIN || errno == EINTR;
		if (got == 0)
			return false;
		for (int i = 0; i < got; i++) {
			const uint8_t *buf = iov[i].iov_base;
			size_t len = msgs[i].msg_len;
			enum utun_err_cause c;

			c = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? UTUN_ERR_TOO_LONG :
			    utun_validate_frame(buf, len, mtu);
			if (c == UTUN_ERR_TOO_LONG && !(msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
				mtu = relay_mtu(f, true);	/* raised a moment ago? */
				c = utun_validate_frame(buf, len, mtu);
			}
			if (c != UTUN_ERR_NONE) {
				ADD(&f->ctl->in_drops, 1);
				if (c < UTUN_SHM_CAUSES)
					ADD(&f->ctl->errors[c], 1);
				continue;
			}
			pkts[nvalid].buf = (void *)buf;
			pkts[nvalid].len = len;
			nvalid++;
		}
		/* Waits for tx frames if it must: the kernel returns them at once (copy mode). */
		if (nvalid && fast_send(f, pkts, nvalid, 0, mtu) < 0 && errno == EPIPE)
			return false;
		if (got < RELAY_BATCH)
			return true;
	}
	return true;
}

static void serve(struct relay_ep *ep, uint32_t events)
{
	struct utun_fast *f = ep->f;

	if (f->released)
		return;
	if (ep->kind == RELAY_EP_XSK) {
		if (events & EPOLLERR) {
			/*
			 * hutunN is gone (utunN deleted by hand, or its namespace
			 * died): the application reads EOF.  Nothing else is
			 * released here; it still owns its descriptor.
			 */
			epoll_ctl(relay.epfd, EPOLL_CTL_DEL, f->xsk, NULL);
			/*
			 * On the fast path the application sees the error on
			 * the socket itself (utun_recv_batch returns 0); its
			 * rings stay mapped until it closes.  On the plain
			 * descriptor our own shutdown hangs it up: the next
			 * batch releases the utun.
			 */
			if (!f->fast)
				shutdown(f->rel, SHUT_RDWR);
			return;
		}
		if (!f->fast)
			relay_out(f);
		return;
	}
	if ((events & EPOLLIN) && !f->fast && !relay_in(f)) {
		events |= EPOLLHUP;
	}
	if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
		/* The application closed its descriptor (or exited): the utun ends. */
		fast_unregister(f);
		release(f);
		f->dead_next = relay.dead;
		relay.dead = f;
	}
}

static void *relay_main(void *arg)
{
	struct epoll_event evs[64];

	(void)arg;
	for (;;) {
		int n = epoll_wait(relay.epfd, evs, 64, -1);

		if (n < 0 && errno != EINTR)
			break;
		pthread_mutex_lock(&relay.lock);
		for (int i = 0; i < n; i++)
			serve(evs[i].data.ptr, evs[i].events);
		while (relay.dead) {
			struct utun_fast *f = relay.dead;

			relay.dead = f->dead_next;
			free(f);
		}
		pthread_mutex_unlock(&relay.lock);
	}
	return NULL;
}

/*
 * fork: the child must not wait for a lock the relay thread held at the
 * fork, and must never touch the parent's epoll instance (it is shared:
 * a child's epoll_ctl would change what the parent's thread watches).  Its
 * copies of the utuns are served by no thread; utun_close releases them,
 * and a utun_open of its own starts a thread of its own.
 */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&relay.lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&relay.lock);
}

static void atfork_child(void)
{
	pthread_mutex_init(&relay.lock, NULL);
	relay.epfd = -1;	/* the parent's; closed on our exec */
	relay.started = false;
	for (struct utun_fast *f = relay.all; f; f = f->all_next)
		f->orphan = true;
}

/* Under relay.lock. */
static int relay_start(void)
{
	static bool atfork_done;
	sigset_t all, old;
	int err;

	if (relay.started)
		return 0;
	if (!atfork_done) {
		err = -pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
		if (err)
			return err;
		atfork_done = true;
	}
	relay.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (relay.epfd < 0)
		return -errno;
	if (!relay.out_buf)	/* a forked child keeps its copies */
		relay.out_buf = malloc((size_t)RELAY_BATCH * RELAY_BUF);
	if (!relay.in_buf)
		relay.in_buf = malloc((size_t)RELAY_BATCH * RELAY_BUF);
	if (!relay.out_buf || !relay.in_buf) {
		err = -ENOMEM;
		goto fail;
	}
	/* Signals stay the application's threads' business. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&relay.thread, NULL, relay_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto fail;
	pthread_setname_np(relay.thread, "utun-relay");
	pthread_detach(relay.thread);
	relay.started = true;
	return 0;
fail:
	free(relay.out_buf);
	free(relay.in_buf);
	relay.out_buf = relay.in_buf = NULL;
	close(relay.epfd);
	relay.epfd = -1;
	return err;
}

int relay_add(struct utun_fast *f)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int err;

	pthread_mutex_lock(&relay.lock);
	err = relay_start();
	if (!err) {
		f->ep_xsk = (struct relay_ep){ f, RELAY_EP_XSK };
		f->ep_rel = (struct relay_ep){ f, RELAY_EP_REL };
		ev.data.ptr = &f->ep_xsk;
		if (epoll_ctl(relay.epfd, EPOLL_CTL_ADD, f->xsk, &ev) < 0)
			err = -errno;
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = &f->ep_rel;
		if (!err && epoll_ctl(relay.epfd, EPOLL_CTL_ADD, f->rel, &ev) < 0) {
			err = -errno;
			epoll_ctl(relay.epfd, EPOLL_CTL_DEL, f->xsk, NULL);
		}
	}
	if (!err) {
		f->all_next = relay.all;
		relay.all = f;
	}
	pthread_mutex_unlock(&relay.lock);
	return err;
}

struct utun_fast *relay_find(uint64_t ino)
{
	struct utun_fast *f;

	pthread_mutex_lock(&relay.lock);
	for (f = relay.all; f && f->app_ino != ino; f = f->all_next)
		;
	pthread_mutex_unlock(&relay.lock);
	return f;
}

/*
 * utun_enable_fastpath: the thread stops moving packets for f but keeps
 * watching the descriptor for the hang-up, and the socket for the loss of
 * hutunN.  Writes still queued on the descriptor are dropped.
 */
void relay_detach(struct utun_fast *f)
{
	struct epoll_event ev = { .events = EPOLLRDHUP, .data.ptr = &f->ep_rel };
	char buf[64];

	pthread_mutex_lock(&relay.lock);
	if (!f->released && f->orphan) {
		__atomic_store_n(&f->fast, true, __ATOMIC_RELEASE);
	} else if (!f->released) {
		__atomic_store_n(&f->fast, true, __ATOMIC_RELEASE);
		epoll_ctl(relay.epfd, EPOLL_CTL_MOD, f->rel, &ev);
		ev.events = 0;	/* EPOLLERR only */
		ev.data.ptr = &f->ep_xsk;
		epoll_ctl(relay.epfd, EPOLL_CTL_MOD, f->xsk, &ev);
		while (recv(f->rel, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC) >= 0)
			;
	}
	pthread_mutex_unlock(&relay.lock);
}

/* utun_close: release the utun now; the thread frees f. */
void relay_forget(struct utun_fast *f)
{
	pthread_mutex_lock(&relay.lock);
	if (!f->released) {
		release(f);
		if (f->orphan || !relay.started) {
			free(f);	/* no thread of ours can still name it */
		} else {
			f->dead_next = relay.dead;
			relay.dead = f;
		}
	}
	pthread_mutex_unlock(&relay.lock);
}
