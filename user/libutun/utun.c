// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libutun: open a utun through the ifkit loader, which hands over the
 * utun's AF_XDP socket and UMEM (fast.c); the application gets one end of
 * a SOCK_SEQPACKET socketpair (one message = one framed packet, so
 * read/write/poll/epoll work as on macOS) and libutun's relay thread
 * (relay.c) moves packets between the other end and the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "ctl.h"
#include "fast.h"
#include "offload.h"
#include "ifkit/utun.h"

#define UTUN_PREFIX "utun"
#define UTUN_BATCH_MAX 1024
#define DEV_MAX_FD 65536

/*
 * What libutun remembers of a descriptor: the interface, to read its MTU.
 * The descriptor itself is a socket made in utunN's namespace at open time
 * (libutun's socketpair), so an ioctl on it reads the MTU there whichever
 * namespace the calling thread is in later.
 */
struct utun_devinfo {
	ino_t ino;			/* the descriptor's socket: a reused fd number differs */
	char ifname[IFNAMSIZ];
	int ifindex;
};

/* All of libutun's mutable state for the socket path (the fast path's is in fast.c). */
static struct {
	struct utun_devinfo *dev[DEV_MAX_FD];
} libutun;

static void devinfo_set(int fd, const char *ifname);

static const char *sock_path_of(const char *sock_path)
{
	const char *env;

	if (sock_path && sock_path[0])
		return sock_path;
	env = getenv("IFKIT_SOCKET");
	return env && env[0] ? env : IFKIT_DEFAULT_SOCK;
}

static int set_errno(int err)
{
	errno = err;
	return -1;
}

/* One request to the loader; send_fd rides along (namespace or packet fd). */
static int call(const char *sock_path, struct ifkit_req *req, int send_fd,
		struct ifkit_rep *rep, int *rep_fd)
{
	const char *path = sock_path_of(sock_path);
	int sock = ctl_connect(path);
	int err;

	if (sock < 0) {
		if (sock == -ECONNREFUSED || sock == -ENOENT) {
			fprintf(stderr, "libutun: no ifkit loader at %s: start it with `sudo ifkitd`\n",
				path);
			return -ECONNREFUSED;
		}
		return sock;
	}
	req->seq = (__u32)getpid();
	err = ctl_call(sock, req, send_fd, rep, NULL, NULL, rep_fd);
	close(sock);
	return err;
}

/* A stopped or overloaded loader: ctl.c gave up after IFKIT_TIMEOUT (default 5 s). */
static int call_timed(const char *sock_path, struct ifkit_req *req, int send_fd,
		      struct ifkit_rep *rep, int *rep_fd)
{
	int err = call(sock_path, req, send_fd, rep, rep_fd);
	char msg[256];

	if (err == -ETIMEDOUT) {
		ctl_timeout_describe(msg, sizeof(msg), sock_path_of(sock_path),
				     ctl_timeout_default());
		fprintf(stderr, "libutun: %s\n", msg);
	}
	return err;
}

static void sock_bufs(int fd)
{
	int sz = 4 << 20;

	/* Root may exceed the sysctl limits; the relay never blocks on a full queue. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

/*
 * The loader's answer carries a socketpair end with the AF_XDP socket and
 * the memfd queued on it: take them (fast.c), and give the application
 * one end of our own socketpair, served by the relay thread.  Returns the
 * application's descriptor, or -1 with *err.
 */
static int take_over(int hfd, int *err)
{
	struct utun_fast *f = fast_attach(hfd, err);
	int sv[2];

	close(hfd);
	if (!f)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		*err = -errno;
		goto fail;
	}
	sock_bufs(sv[0]);
	sock_bufs(sv[1]);
	f->rel = sv[1];
	__atomic_store_n(&f->ctl->rel_fd, f->rel, __ATOMIC_RELAXED);
	*err = fast_register(sv[0], f);
	if (*err) {
		close(sv[0]);
		goto fail;
	}
	*err = relay_add(f);
	if (*err) {
		fast_unregister(f);
		close(sv[0]);
		goto fail;
	}
	offload_drop_stale(sv[0]);	/* a closed utun's entry under this number */
	return sv[0];
fail:
	fast_release(f);
	free(f);
	return -1;
}

int utun_open_at(const char *sock_path, int unit, char *ifname, size_t ifname_len)
{
	struct ifkit_req req;
	struct ifkit_rep rep;
	int ns_fd, fd = -1, err;

	if (unit >= 4096 || (ifname && ifname_len == 0))
		return set_errno(EINVAL);
	ctl_req_init(&req, IFKIT_CMD_UTUN_OPEN);
	req.unit = unit < 0 ? -1 : unit;
	ns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ns_fd < 0)
		return -1;
	memset(&rep, 0, sizeof(rep));
	err = call_timed(sock_path, &req, ns_fd, &rep, &fd);
	close(ns_fd);
	if (err) {
		if (fd >= 0)
			close(fd);
		return set_errno(-err);
	}
	if (fd < 0)
		return set_errno(EPROTO);
	if (ifname && strlen(rep.name) >= ifname_len) {
		close(fd);	/* the utun ends with the descriptors queued on it */
		return set_errno(ENAMETOOLONG);
	}
	fd = take_over(fd, &err);
	if (fd < 0)
		return set_errno(-err);
	devinfo_set(fd, rep.name);
	if (ifname)
		strcpy(ifname, rep.name);
	return fd;
}

static void devinfo_free(struct utun_devinfo *di)
{
	free(di);
}

static void devinfo_set(int fd, const char *ifname)
{
	struct utun_devinfo *di;
	struct stat st;

	if (fd < 0 || fd >= DEV_MAX_FD || fstat(fd, &st) < 0)
		return;
	di = calloc(1, sizeof(*di));
	if (!di)
		return;
	di->ino = st.st_ino;
	snprintf(di->ifname, sizeof(di->ifname), "%s", ifname);
	if (ifname[0]) {
		struct ifreq ifr;

		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
		if (ioctl(fd, SIOCGIFINDEX, &ifr) == 0)
			di->ifindex = ifr.ifr_ifindex;
	}
	devinfo_free(__atomic_exchange_n(&libutun.dev[fd], di, __ATOMIC_ACQ_REL));
}

void libutun_dev_forget(int fd)
{
	if (fd >= 0 && fd < DEV_MAX_FD)
		devinfo_free(__atomic_exchange_n(&libutun.dev[fd], NULL, __ATOMIC_ACQ_REL));
}

static int flags_call(int fd, enum ifkit_cmd cmd, uint32_t value, struct ifkit_rep *rep);

/*
 * The current MTU of fd's utunN, read from the device (one ioctl): writes are
 * refused against what `ip link set utunN mtu M` set a moment ago.  0 when it
 * cannot be read (the caller moved to another namespace): the loader then
 * still refuses oversized packets, and counts them.
 */
unsigned int libutun_dev_mtu(int fd)
{
	struct utun_devinfo *di;
	struct ifreq ifr;
	struct stat st;
	int s;

	if (fd < 0 || fd >= DEV_MAX_FD || fstat(fd, &st) < 0)
		return 0;
	di = __atomic_load_n(&libutun.dev[fd], __ATOMIC_ACQUIRE);
	if (!di || di->ino != st.st_ino) {
		struct ifkit_rep rep;

		/*
		 * A descriptor we did not open (inherited, passed): ask the loader
		 * once; remember a failure too ("" = unknown) so no later write asks.
		 */
		memset(&rep, 0, sizeof(rep));
		if (flags_call(fd, IFKIT_CMD_UTUN_GET_FLAGS, 0, &rep))
			rep.name[0] = '\0';
		devinfo_set(fd, rep.name);
		di = __atomic_load_n(&libutun.dev[fd], __ATOMIC_ACQUIRE);
	}
	if (!di || !di->ifname[0])
		return 0;
	s = fd;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", di->ifname);
	if (ioctl(s, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0)
		return (unsigned int)ifr.ifr_mtu;
	/* Renamed?  Follow the ifindex. */
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_ifindex = di->ifindex;
	if (di->ifindex <= 0 || ioctl(s, SIOCGIFNAME, &ifr) < 0 || ioctl(s, SIOCGIFMTU, &ifr) < 0 ||
	    ifr.ifr_mtu <= 0)
		return 0;
	return (unsigned int)ifr.ifr_mtu;
}

int utun_open(int unit, char *ifname, size_t ifname_len)
{
	return utun_open_at(NULL, unit, ifname, ifname_len);
}

/* The loader finds the utun by the packet descriptor we attach. */
static int flags_call(int fd, enum ifkit_cmd cmd, uint32_t value, struct ifkit_rep *rep)
{
	struct utun_fast *f;
	struct ifkit_req req;
	int type, err;
	socklen_t len = sizeof(type);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_SEQPACKET)
		return set_errno(fd < 0 ? EBADF : ENOTSOCK);
	ctl_req_init(&req, cmd);
	req.value = value;
	memset(rep, 0, sizeof(*rep));
	/* The loader knows a utun by the AF_XDP socket it handed over. */
	f = fast_find(fd);
	err = call_timed(NULL, &req, f && f->xsk >= 0 ? f->xsk : fd, rep, NULL);
	return err ? set_errno(-err) : 0;
}

int utun_get_flags(int fd, uint32_t *flags)
{
	struct ifkit_rep rep;

	if (!flags)
		return set_errno(EINVAL);
	if (flags_call(fd, IFKIT_CMD_UTUN_GET_FLAGS, 0, &rep))
		return -1;
	*flags = rep.value;
	return 0;
}

int utun_set_flags(int fd, uint32_t flags)
{
	struct ifkit_rep rep;

	if (flags & ~(uint32_t)(UTUN_FLAGS_NO_OUTPUT | UTUN_FLAGS_NO_INPUT))
		return set_errno(EINVAL);
	return flags_call(fd, IFKIT_CMD_UTUN_SET_FLAGS, flags, &rep);
}

int utun_get_ifname(int fd, char *ifname, size_t len)
{
	size_t got = len;

	if (!ifname || !len)
		return set_errno(EINVAL);
	return utun_getopt(fd, UTUN_OPT_IFNAME, ifname, &got);
}

/*
 * The seed's utun_ctl_getopt: UTUN_OPT_FLAGS needs exactly a u32
 * (EMSGSIZE otherwise); UTUN_OPT_IFNAME is snprintf'd into the buffer,
 * truncated if short, and *len set to the full length plus the NUL, so a
 * caller sees the truncation; anything else is ENOPROTOOPT.  Getting needs
 * no privilege: holding the descriptor is the right to ask.
 */
int utun_getopt(int fd, int opt, void *val, size_t *len)
{
	struct ifkit_rep rep;

	if (!len || (*len && !val))
		return set_errno(EFAULT);
	switch (opt) {
	case UTUN_OPT_FLAGS:
		if (*len != sizeof(uint32_t))
			return set_errno(EMSGSIZE);
		if (flags_call(fd, IFKIT_CMD_UTUN_GET_FLAGS, 0, &rep))
			return -1;
		memcpy(val, &rep.value, sizeof(uint32_t));
		return 0;
	case UTUN_OPT_IFNAME:
		if (flags_call(fd, IFKIT_CMD_UTUN_GET_FLAGS, 0, &rep))
			return -1;
		*len = (size_t)snprintf(val, *len, "%s", rep.name) + 1;
		return 0;
	}
	return set_errno(ENOPROTOOPT);
}

/*
 * The seed's utun_ctl_setopt: UTUN_OPT_FLAGS is privileged (checked first,
 * as the seed does, then the length: EMSGSIZE); every other option is
 * ENOPROTOOPT.  The euid check here only orders the errors as the seed
 * does: the loader decides, from the credentials of the connection this
 * call opens (libutun never keeps a control connection across calls, so a
 * process that dropped root is judged as it is now).
 */
int utun_setopt(int fd, int opt, const void *val, size_t len)
{
	uint32_t flags;

	if (opt != UTUN_OPT_FLAGS)
		return set_errno(ENOPROTOOPT);
	if (geteuid() != 0)
		return set_errno(EPERM);
	if (len != sizeof(uint32_t))
		return set_errno(EMSGSIZE);
	if (!val)
		return set_errno(EFAULT);
	memcpy(&flags, val, sizeof(flags));
	return utun_set_flags(fd, flags);
}

ssize_t utun_write(int fd, int family, const void *pkt, size_t len)
{
	unsigned char hdr[UTUN_HDR_LEN];
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)pkt, .iov_len = len },
	};
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	struct utun_fast *f = fast_get(fd);
	unsigned int mtu;
	ssize_t n;

	if (offload_active(fd))		/* offload mode: utun_send_offload only */
		return set_errno(EOPNOTSUPP);
	mtu = libutun_dev_mtu(fd);
	if (!mtu)
		mtu = f ? fast_mtu(f) : 65535;
	if (utun_validate(family, pkt, len, mtu) != UTUN_ERR_NONE)
		return set_errno(EINVAL);
	if (f) {
		struct utun_pkt pk = { .len = len + UTUN_HDR_LEN };
		int ret;

		pk.buf = malloc(pk.len);
		if (!pk.buf)
			return -1;
		utun_frame_hdr(pk.buf, family);
		memcpy((uint8_t *)pk.buf + UTUN_HDR_LEN, pkt, len);
		ret = fast_send(f, &pk, 1, 0, mtu);
		free(pk.buf);
		return ret == 1 ? (ssize_t)len : -1;
	}
	utun_frame_hdr(hdr, family);
	n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	if (n < 0)
		return -1;
	return n < (ssize_t)sizeof(hdr) ? 0 : n - (ssize_t)sizeof(hdr);
}

ssize_t utun_read(int fd, int *family, void *buf, size_t len)
{
	unsigned char hdr[UTUN_HDR_LEN];
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = buf, .iov_len = len },
	};
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	struct utun_fast *f = fast_get(fd);
	ssize_t n;

	if (offload_active(fd))		/* offload mode: utun_recv_offload only */
		return set_errno(EOPNOTSUPP);
	if (f) {
		struct utun_pkt pk = { .cap = len + UTUN_HDR_LEN };
		int got;

		pk.buf = malloc(pk.cap);
		if (!pk.buf)
			return -1;
		got = fast_recv(f, &pk, 1, 0);
		if (got == 1 && pk.len <= pk.cap) {
			if (family)
				*family = utun_frame_family(pk.buf, pk.len);
			memcpy(buf, (uint8_t *)pk.buf + UTUN_HDR_LEN, pk.len - UTUN_HDR_LEN);
			n = (ssize_t)(pk.len - UTUN_HDR_LEN);
		} else {
			n = got == 1 ? set_errno(EMSGSIZE) : got;
		}
		free(pk.buf);
		return n;
	}
	n = recvmsg(fd, &msg, 0);
	if (n <= 0)
		return n;
	if (n < (ssize_t)sizeof(hdr))
		return set_errno(EPROTO);
	if (family)
		*family = utun_frame_family(hdr, sizeof(hdr));
	if (msg.msg_flags & MSG_TRUNC)
		return set_errno(EMSGSIZE);
	return n - (ssize_t)sizeof(hdr);
}

int utun_recv_batch(int fd, struct utun_pkt *pkts, unsigned int n, int flags)
{
	struct mmsghdr msgs[64];
	struct iovec iov[64];
	unsigned int done = 0;
	struct utun_fast *f = fast_get(fd);

	if (!pkts || n == 0)
		return set_errno(EINVAL);
	if (offload_active(fd))
		return set_errno(EOPNOTSUPP);
	if (f)
		return fast_recv(f, pkts, n, flags);
	while (done < n) {
		unsigned int chunk = n - done > 64 ? 64 : n - done;
		int got;

		for (unsigned int i = 0; i < chunk; i++) {
			iov[i].iov_base = pkts[done + i].buf;
			iov[i].iov_len = pkts[done + i].cap;
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		/* Only the first chunk may wait; the rest takes what is queued. */
		got = recvmmsg(fd, msgs, chunk, done ? MSG_DONTWAIT : flags | MSG_WAITFORONE, NULL);
		if (got < 0) {
			if (done)
				break;
			return -1;
		}
		/*
		 * The loader never sends an empty message: a zero length is the
		 * end of the stream (recvmmsg reports it as empty datagrams).
		 */
		for (int i = 0; i < got; i++) {
			if (msgs[i].msg_len == 0) {
				if (done + (unsigned int)i == 0)
					return 0;
				return (int)(done + (unsigned int)i);
			}
			pkts[done + i].len = msgs[i].msg_len;
			if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
				pkts[done + i].len = pkts[done + i].cap + 1;
		}
		done += (unsigned int)got;
		if ((unsigned int)got < chunk)
			break;
	}
	return (int)done;
}

/*
 * As sendmmsg: the packets are taken in order until one cannot be; the
 * return value is how many were taken (sent, or discarded under
 * UTUN_FLAGS_NO_INPUT as macOS does), -1 if the first could not be (errno
 * EINVAL: it fails validation, and the caller still has it; EAGAIN with
 * MSG_DONTWAIT: no room).  Nothing counted as sent was dropped.
 */
int utun_send_batch(int fd, const struct utun_pkt *pkts, unsigned int n, int flags)
{
	struct mmsghdr msgs[64];
	struct iovec iov[64];
	unsigned int done = 0, mtu;
	struct utun_fast *f = fast_get(fd);

	if (!pkts || n == 0)
		return set_errno(EINVAL);
	if (offload_active(fd))
		return set_errno(EOPNOTSUPP);
	mtu = libutun_dev_mtu(fd);
	if (!mtu)
		mtu = f ? fast_mtu(f) : 65535;
	if (f)
		return fast_send(f, pkts, n, flags, mtu);
	while (done < n) {
		unsigned int chunk = n - done > 64 ? 64 : n - done, valid = 0;
		int sent;

		for (unsigned int i = 0; i < chunk; i++) {
			if (utun_validate_frame(pkts[done + i].buf, pkts[done + i].len, mtu) !=
			    UTUN_ERR_NONE)
				break;
			iov[i].iov_base = pkts[done + i].buf;
			iov[i].iov_len = pkts[done + i].len;
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			valid++;
		}
		if (!valid)
			return done ? (int)done : set_errno(EINVAL);
		sent = sendmmsg(fd, msgs, valid, flags | MSG_NOSIGNAL);
		if (sent < 0)
			return done ? (int)done : -1;
		done += (unsigned int)sent;
		if ((unsigned int)sent < chunk)
			break;
	}
	return (int)done;
}
