// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "fdpass.h"

/* Room for the descriptors and, when the socket has SO_PASSCRED, credentials. */
union fdpass_cbuf {
	struct cmsghdr hdr;
	char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX) + CMSG_SPACE(sizeof(struct ucred))];
};

static ssize_t send_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds,
			const struct ucred *cred, int flags);
static ssize_t recv_fds(int sock, void *buf, size_t len, int *fds, size_t *nfds,
			struct ucred *cred, int flags);

ssize_t fdpass_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	return send_fds(sock, buf, len, fds, nfds, NULL, 0);
}

ssize_t fdpass_send_nowait(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	return send_fds(sock, buf, len, fds, nfds, NULL, MSG_DONTWAIT);
}

ssize_t fdpass_send_cred(int sock, const void *buf, size_t len, const int *fds, size_t nfds,
			 const struct ucred *cred)
{
	return send_fds(sock, buf, len, fds, nfds, cred, 0);
}

ssize_t fdpass_recv_nowait(int sock, void *buf, size_t len, int *fds, size_t *nfds)
{
	return recv_fds(sock, buf, len, fds, nfds, NULL, MSG_DONTWAIT);
}

ssize_t fdpass_recv_cred(int sock, void *buf, size_t len, int *fds, size_t *nfds,
			 struct ucred *cred)
{
	return recv_fds(sock, buf, len, fds, nfds, cred, 0);
}

static ssize_t send_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds,
			const struct ucred *cred, int flags)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	union fdpass_cbuf cbuf;
	ssize_t n;

	if (nfds > FDPASS_MAX)
		return -EINVAL;
	if (nfds || cred) {
		struct cmsghdr *cmsg;

		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = (nfds ? CMSG_SPACE(sizeof(int) * nfds) : 0) +
				     (cred ? CMSG_SPACE(sizeof(*cred)) : 0);
		cmsg = CMSG_FIRSTHDR(&msg);
		if (cred) {
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_CREDENTIALS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(*cred));
			memcpy(CMSG_DATA(cmsg), cred, sizeof(*cred));
			cmsg = CMSG_NXTHDR(&msg, cmsg);
		}
		if (nfds) {
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
		}
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL | flags);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

ssize_t fdpass_recv(int sock, void *buf, size_t len, int *fds, size_t *nfds)
{
	return fdpass_recv_cred(sock, buf, len, fds, nfds, NULL);
}

static ssize_t recv_fds(int sock, void *buf, size_t len, int *fds, size_t *nfds,
			struct ucred *cred, int flags)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	union fdpass_cbuf cbuf;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	size_t want = nfds ? *nfds : 0, got = 0;
	struct cmsghdr *cmsg;
	ssize_t n;

	if (nfds)
		*nfds = 0;
	if (cred)
		cred->uid = (uid_t)-1;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		size_t count;
		int in[FDPASS_MAX];

		if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_CREDENTIALS &&
		    cmsg->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			if (cred)
				memcpy(cred, CMSG_DATA(cmsg), sizeof(*cred));
			continue;
		}
		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (count > FDPASS_MAX)
			count = FDPASS_MAX;
		memcpy(in, CMSG_DATA(cmsg), count * sizeof(int));
		for (size_t i = 0; i < count; i++) {
			if (got < want)
				fds[got++] = in[i];
			else
				close(in[i]);	/* more than the caller takes: never leak */
		}
	}
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		while (got)
			close(fds[--got]);
		return -EMSGSIZE;
	}
	if (nfds)
		*nfds = got;
	return n;
}
