// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libutun's offload mode: the loader hands over an AF_PACKET socket bound
 * to the hidden end hutunN with PACKET_VNET_HDR (see
 * user/ifkitd/utun_offload.c), and utunN keeps TSO/USO and checksum
 * offload.  Each packet crosses as virtio_net_hdr + Ethernet header + IP
 * packet; this file turns that into struct utun_gso_pkt (offsets counted
 * from the IP header, as on a TUN with IFF_VNET_HDR|IFF_NO_PI) and back,
 * a batch per recvmmsg/sendmmsg.  What the packet socket may see and send
 * is enforced in the kernel (a locked socket filter, tc on hutunN); the
 * checks here refuse bad packets before they cost a system call and give
 * the caller its EINVAL.
 */
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "ctl.h"
#include "fast.h"
#include "ifkit/utun.h"
#include "offload.h"

#define OFF_MAX_FD	4096
#define OFF_CHUNK	64
#define ETH_HLEN_	14
#define VNET_LEN	((int)sizeof(struct virtio_net_hdr))

/*
 * The packet socket belongs to the utun (struct utun_fast's pkt): it is
 * released with the AF_XDP socket when the utun is (utun_close, or the
 * relay thread seeing the descriptor hang up), since it too keeps the
 * utun's namespace alive; its number then holds a dead socket until
 * offload_forget closes it.
 */
struct utun_off {
	int pkt;			/* the AF_PACKET socket on hutunN */
	ino_t ino;			/* of the utun descriptor it belongs to */
	uint8_t vis_mac[6];		/* Ethernet destination: utunN */
	uint8_t hid_mac[6];		/* Ethernet source: hutunN */
	unsigned int mtu;		/* utunN's, as last read (atomic) */
	uint64_t mtu_ms;		/* when (atomic) */
};

/*
 * utunN's MTU costs two system calls to read (libutun_dev_mtu); at tens of
 * thousands of batches a second that is measurable, so it is read at most
 * every MTU_READ_MS - and at once when a packet looks too long for the
 * value at hand (a raised MTU is honoured by the next send, a lowered one
 * within MTU_READ_MS).
 */
#define MTU_READ_MS	100

/* All of offload mode's mutable state. */
static struct {
	struct utun_off *tab[OFF_MAX_FD];
} offload_ctx;

static int set_errno(int err)
{
	errno = err;
	return -1;
}

static struct utun_off *off_get(int fd)
{
	return fd >= 0 && fd < OFF_MAX_FD ?
	       __atomic_load_n(&offload_ctx.tab[fd], __ATOMIC_ACQUIRE) : NULL;
}

bool offload_active(int fd)
{
	return off_get(fd) != NULL;
}

int offload_pollfd(int fd)
{
	struct utun_off *o = off_get(fd);

	return o ? o->pkt : -1;
}

void offload_forget(int fd)
{
	struct utun_off *o;

	if (fd < 0 || fd >= OFF_MAX_FD)
		return;
	o = __atomic_exchange_n(&offload_ctx.tab[fd], NULL, __ATOMIC_ACQ_REL);
	if (o) {
		close(o->pkt);	/* the dead socket the utun's release left under its number */
		free(o);
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned int off_mtu(int fd, struct utun_off *o, bool fresh)
{
	uint64_t now = now_ms();
	unsigned int mtu = __atomic_load_n(&o->mtu, __ATOMIC_RELAXED);

	if (fresh || !mtu || now - __atomic_load_n(&o->mtu_ms, __ATOMIC_RELAXED) >= MTU_READ_MS) {
		mtu = libutun_dev_mtu(fd);
		if (!mtu)
			mtu = 65535;	/* cannot be read here: the kernel's checks remain */
		__atomic_store_n(&o->mtu, mtu, __ATOMIC_RELAXED);
		__atomic_store_n(&o->mtu_ms, now, __ATOMIC_RELAXED);
	}
	return mtu;
}

void offload_drop_stale(int fd)
{
	if (fd >= 0 && fd < OFF_MAX_FD)
		free(__atomic_exchange_n(&offload_ctx.tab[fd], NULL, __ATOMIC_ACQ_REL));
}

/*
 * -1 with errno for a failed packet-socket call: ENETDOWN once the utun
 * was released (its number then holds a dead socket, see fast_release).
 */
static int gone_errno(int pkt)
{
	int err = errno, domain = -1;
	socklen_t len = sizeof(domain);

	if ((err == EINVAL || err == ENOTCONN || err == EPIPE) &&
	    getsockopt(pkt, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain != AF_PACKET)
		err = ENETDOWN;
	return set_errno(err);
}

static const char *sock_path(void)
{
	const char *env = getenv("IFKIT_SOCKET");

	return env && env[0] ? env : IFKIT_DEFAULT_SOCK;
}

int utun_enable_offload(int fd)
{
	struct sockaddr_ll sll;
	socklen_t slen = sizeof(sll);
	struct ifkit_req req;
	struct ifkit_rep rep;
	struct utun_off *o = NULL;
	struct utun_fast *f;
	struct stat st;
	int sock, pkt = -1, err;

	if (fd < 0 || fd >= OFF_MAX_FD || fstat(fd, &st) < 0)
		return set_errno(EBADF);
	if (off_get(fd))
		return 0;
	f = fast_find(fd);
	if (!f || f->xsk < 0)
		return set_errno(ENOTSUP);
	if (__atomic_load_n(&f->fast, __ATOMIC_ACQUIRE))
		return set_errno(EBUSY);
	sock = ctl_connect(sock_path());
	if (sock < 0)
		return set_errno(sock == -ENOENT ? ECONNREFUSED : -sock);
	ctl_req_init(&req, IFKIT_CMD_UTUN_OFFLOAD);
	req.seq = (__u32)getpid();
	memset(&rep, 0, sizeof(rep));
	/*
	 * The utun's AF_XDP socket goes along: it names the utun to the
	 * loader, and it is how the loader reaches hutunN's namespace (it
	 * keeps no descriptor of it).
	 */
	err = ctl_call(sock, &req, f->xsk, &rep, NULL, NULL, &pkt);
	close(sock);
	if (err)
		goto fail;
	err = -EPROTO;
	if (pkt < 0)
		goto fail;
	o = calloc(1, sizeof(*o));
	if (!o) {
		err = -ENOMEM;
		goto fail;
	}
	o->pkt = pkt;
	o->ino = st.st_ino;
	if (getsockname(pkt, (struct sockaddr *)&sll, &slen) < 0 || sll.sll_family != AF_PACKET ||
	    sll.sll_halen != 6) {
		err = -EPROTO;
		goto fail;
	}
	memcpy(o->hid_mac, sll.sll_addr, 6);
	/* utunN's MAC came with the hand-off: no need to be in its namespace. */
	memcpy(o->vis_mac, f->vis_mac, 6);
	{
		struct utun_off *none = NULL;

		if (!__atomic_compare_exchange_n(&offload_ctx.tab[fd], &none, o, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			close(o->pkt);	/* another thread won the race: keep its socket */
			free(o);
			return 0;
		}
	}
	/*
	 * The utun owns the socket from now on (released with it); the relay
	 * thread lets go of the rings: the packet socket moves the packets.
	 */
	f->pkt = pkt;
	/* Our number for it, so the loader can read its drop counter without a search. */
	__atomic_store_n(&f->ctl->pkt_fd, pkt, __ATOMIC_RELAXED);
	relay_detach(f);
	return 0;
fail:
	if (pkt >= 0)
		close(pkt);
	free(o);
	return set_errno(-err);
}

/* Length of the L4 header the packet starts at l3 with, or 0 if it does not fit. */
static size_t l4_len(const uint8_t *b, size_t len, size_t l3, uint8_t proto)
{
	size_t n;

	if (proto == 17)
		return l3 + 8 <= len ? 8 : 0;
	if (proto != 6 || l3 + 20 > len)
		return 0;
	n = (size_t)(b[l3 + 12] >> 4) * 4;
	return n >= 20 && l3 + n <= len ? n : 0;
}

enum utun_err_cause utun_validate_offload(const struct utun_gso_pkt *p, unsigned int mtu)
{
	const struct utun_offload_hdr *h = &p->hdr;
	const uint8_t *b = p->buf;
	uint8_t type = h->gso_type & (uint8_t)~UTUN_GSO_ECN, proto;
	bool gso = type != UTUN_GSO_NONE, v6;
	enum utun_err_cause why;
	size_t l3, l4;

	why = utun_validate(p->family, p->buf, p->len, gso ? 65535 : mtu);
	if (why != UTUN_ERR_NONE)
		return why;
	if (h->flags & ~(UTUN_OFFLOAD_F_NEEDS_CSUM | UTUN_OFFLOAD_F_DATA_VALID) ||
	    h->hdr_len > p->len)
		return UTUN_ERR_BAD_GSO;
	v6 = b[0] >> 4 == 6;
	l3 = v6 ? 40 : (size_t)(b[0] & 0x0f) * 4;
	proto = v6 ? b[6] : b[9];
	if (h->flags & UTUN_OFFLOAD_F_NEEDS_CSUM) {
		if (h->csum_start < l3 || (size_t)h->csum_start + h->csum_offset + 2 > p->len)
			return UTUN_ERR_BAD_GSO;
		/* Right after the IP header: the checksum field of that TCP/UDP header. */
		if (h->csum_start == l3 &&
		    !((proto == 6 && h->csum_offset == 16) || (proto == 17 && h->csum_offset == 6)))
			return UTUN_ERR_BAD_GSO;
	}
	if (!gso)
		return h->gso_size || (h->gso_type & UTUN_GSO_ECN) ? UTUN_ERR_BAD_GSO : UTUN_ERR_NONE;
	if (!((type == UTUN_GSO_TCPV4 && !v6 && proto == 6) ||
	      (type == UTUN_GSO_TCPV6 && v6 && proto == 6) ||
	      (type == UTUN_GSO_UDP_L4 && proto == 17 && !(h->gso_type & UTUN_GSO_ECN))))
		return UTUN_ERR_BAD_GSO;
	if (!h->gso_size || !(h->flags & UTUN_OFFLOAD_F_NEEDS_CSUM) || h->csum_start != l3)
		return UTUN_ERR_BAD_GSO;
	l4 = l4_len(b, p->len, l3, proto);
	if (!l4 || l3 + l4 >= p->len)
		return UTUN_ERR_BAD_GSO;
	/* What leaves utunN are the segments: each must fit its MTU. */
	if (l3 + l4 + h->gso_size > mtu)
		return UTUN_ERR_TOO_LONG;
	return UTUN_ERR_NONE;
}

int utun_recv_offload(int fd, struct utun_gso_pkt *pkts, unsigned int n, int flags)
{
	struct utun_off *o = off_get(fd);
	struct virtio_net_hdr vh[OFF_CHUNK];
	uint8_t eth[OFF_CHUNK][ETH_HLEN_];
	struct mmsghdr msgs[OFF_CHUNK];
	struct iovec iov[OFF_CHUNK][3];
	unsigned int done = 0;

	if (!o)
		return set_errno(EBADFD);
	if (!pkts || n == 0)
		return set_errno(EINVAL);
	while (done < n) {
		unsigned int chunk = n - done > OFF_CHUNK ? OFF_CHUNK : n - done;
		int got;

		for (unsigned int i = 0; i < chunk; i++) {
			iov[i][0] = (struct iovec){ &vh[i], sizeof(vh[i]) };
			iov[i][1] = (struct iovec){ eth[i], ETH_HLEN_ };
			iov[i][2] = (struct iovec){ pkts[done + i].buf, pkts[done + i].cap };
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = iov[i];
			msgs[i].msg_hdr.msg_iovlen = 3;
		}
		/* Only the first chunk may wait; the rest takes what is queued. */
		got = recvmmsg(o->pkt, msgs, chunk, done ? MSG_DONTWAIT : flags | MSG_WAITFORONE,
			       NULL);
		if (got < 0)
			return done ? (int)done : gone_errno(o->pkt);
		for (int i = 0; i < got; i++) {
			struct utun_gso_pkt *p = &pkts[done + (unsigned int)i];
			size_t len = msgs[i].msg_len;

			/* The socket filter passes IP frames only: the header is always there. */
			p->family = utun_ethertype_to_family((uint16_t)(eth[i][12] << 8 | eth[i][13]));
			p->len = len > (size_t)VNET_LEN + ETH_HLEN_ ? len - VNET_LEN - ETH_HLEN_ : 0;
			if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
				p->len = p->cap + 1;
			p->hdr.flags = vh[i].flags;
			p->hdr.gso_type = vh[i].gso_type;
			p->hdr.gso_size = vh[i].gso_size;
			p->hdr.hdr_len = vh[i].hdr_len > ETH_HLEN_ ? vh[i].hdr_len - ETH_HLEN_ : 0;
			p->hdr.csum_start = vh[i].csum_start > ETH_HLEN_ ?
					    vh[i].csum_start - ETH_HLEN_ : 0;
			p->hdr.csum_offset = vh[i].csum_offset;
		}
		done += (unsigned int)got;
		if ((unsigned int)got < chunk)
			break;
	}
	return (int)done;
}

int utun_send_offload(int fd, const struct utun_gso_pkt *pkts, unsigned int n, int flags)
{
	struct utun_off *o = off_get(fd);
	struct virtio_net_hdr vh[OFF_CHUNK];
	uint8_t eth[OFF_CHUNK][ETH_HLEN_];
	struct mmsghdr msgs[OFF_CHUNK];
	struct iovec iov[OFF_CHUNK][3];
	unsigned int done = 0, mtu;

	if (!o)
		return set_errno(EBADFD);
	if (!pkts || n == 0)
		return set_errno(EINVAL);
	mtu = off_mtu(fd, o, false);
	while (done < n) {
		unsigned int chunk = n - done > OFF_CHUNK ? OFF_CHUNK : n - done, valid = 0;
		int sent;

		for (unsigned int i = 0; i < chunk; i++) {
			const struct utun_gso_pkt *p = &pkts[done + i];
			enum utun_err_cause why = utun_validate_offload(p, mtu);
			uint16_t type;

			if (why == UTUN_ERR_TOO_LONG) {	/* raised a moment ago? */
				mtu = off_mtu(fd, o, true);
				why = utun_validate_offload(p, mtu);
			}
			if (why != UTUN_ERR_NONE)
				break;
			type = utun_family_to_ethertype(p->family);
			memset(&vh[i], 0, sizeof(vh[i]));
			vh[i].flags = p->hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
			vh[i].gso_type = p->hdr.gso_type;
			vh[i].gso_size = p->hdr.gso_size;
			vh[i].hdr_len = p->hdr.hdr_len ? p->hdr.hdr_len + ETH_HLEN_ : 0;
			if (vh[i].flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
				vh[i].csum_start = p->hdr.csum_start + ETH_HLEN_;
				vh[i].csum_offset = p->hdr.csum_offset;
			}
			memcpy(eth[i], o->vis_mac, 6);
			memcpy(eth[i] + 6, o->hid_mac, 6);
			eth[i][12] = (uint8_t)(type >> 8);
			eth[i][13] = (uint8_t)type;
			iov[i][0] = (struct iovec){ &vh[i], sizeof(vh[i]) };
			iov[i][1] = (struct iovec){ eth[i], ETH_HLEN_ };
			iov[i][2] = (struct iovec){ p->buf, p->len };
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = iov[i];
			msgs[i].msg_hdr.msg_iovlen = 3;
			valid++;
		}
		if (!valid)
			return done ? (int)done : set_errno(EINVAL);
		sent = sendmmsg(o->pkt, msgs, valid, flags | MSG_NOSIGNAL);
		if (sent < 0)
			return done ? (int)done : gone_errno(o->pkt);
		done += (unsigned int)sent;
		if ((unsigned int)sent < chunk)
			break;
	}
	return (int)done;
}
