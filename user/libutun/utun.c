// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libutun: open a utun through the ifkit loader and move packets on the
 * descriptor it hands back (a SOCK_SEQPACKET socket: one message = one
 * framed packet, so read/write/poll/epoll work as on macOS).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "ctl.h"
#include "fast.h"
#include "ifkit/utun.h"

#define UTUN_PREFIX "utun"
#define UTUN_BATCH_MAX 1024

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
	if (ifname) {
		if (strlen(rep.name) >= ifname_len) {
			close(fd);
			return set_errno(ENAMETOOLONG);
		}
		strcpy(ifname, rep.name);
	}
	return fd;
}

int utun_open(int unit, char *ifname, size_t ifname_len)
{
	return utun_open_at(NULL, unit, ifname, ifname_len);
}

/* The loader finds the utun by the packet descriptor we attach. */
static int flags_call(int fd, enum ifkit_cmd cmd, uint32_t value, struct ifkit_rep *rep)
{
	struct ifkit_req req;
	int type, err;
	socklen_t len = sizeof(type);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_SEQPACKET)
		return set_errno(fd < 0 ? EBADF : ENOTSOCK);
	ctl_req_init(&req, cmd);
	req.value = value;
	memset(rep, 0, sizeof(*rep));
	err = call_timed(NULL, &req, fd, rep, NULL);
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
	ssize_t n;

	struct utun_fast *f = fast_get(fd);

	/* The loader checks the MTU it knows; here only the largest possible. */
	if (utun_validate(family, pkt, len, 65535) != UTUN_ERR_NONE)
		return set_errno(EINVAL);
	if (f) {
		struct utun_pkt pk = { .len = len + UTUN_HDR_LEN };
		int ret;

		if (utun_validate(family, pkt, len, fast_mtu(f)) != UTUN_ERR_NONE)
			return set_errno(EINVAL);
		pk.buf = malloc(pk.len);
		if (!pk.buf)
			return -1;
		utun_frame_hdr(pk.buf, family);
		memcpy((uint8_t *)pk.buf + UTUN_HDR_LEN, pkt, len);
		ret = fast_send(f, &pk, 1, 0);
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

int utun_send_batch(int fd, const struct utun_pkt *pkts, unsigned int n, int flags)
{
	struct mmsghdr msgs[64];
	struct iovec iov[64];
	unsigned int done = 0;
	struct utun_fast *f = fast_get(fd);

	if (!pkts || n == 0)
		return set_errno(EINVAL);
	if (f)
		return fast_send(f, pkts, n, flags);
	while (done < n) {
		unsigned int chunk = n - done > 64 ? 64 : n - done;
		int sent;

		for (unsigned int i = 0; i < chunk; i++) {
			iov[i].iov_base = pkts[done + i].buf;
			iov[i].iov_len = pkts[done + i].len;
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		sent = sendmmsg(fd, msgs, chunk, flags | MSG_NOSIGNAL);
		if (sent < 0) {
			if (done)
				break;
			return -1;
		}
		done += (unsigned int)sent;
		if ((unsigned int)sent < chunk)
			break;
	}
	return (int)done;
}
