// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "ctl.h"
#include "fdpass.h"

void ctl_req_init(struct ifkit_req *req, enum ifkit_cmd cmd)
{
	memset(req, 0, sizeof(*req));
	req->magic = IFKIT_CTL_MAGIC;
	req->version = IFKIT_CTL_VERSION;
	req->cmd = (__u16)cmd;
	req->unit = -1;
}

static int set_why(const char **why, const char *msg, int err)
{
	if (why)
		*why = msg;
	return err;
}

int ctl_req_check(const void *buf, size_t len, const char **why)
{
	const struct ifkit_req *req = buf;

	if (len != sizeof(*req))
		return set_why(why, "request has the wrong size", -EBADMSG);
	if (req->magic != IFKIT_CTL_MAGIC)
		return set_why(why, "bad magic", -EPROTO);
	if (req->version != IFKIT_CTL_VERSION)
		return set_why(why, "unsupported protocol version", -EPROTO);
	if (IFKIT_CMD_OP(req->cmd) == 0 || IFKIT_CMD_KIND(req->cmd) >= IFKIT_KIND_MAX)
		return set_why(why, "unknown command", -EOPNOTSUPP);
	if (!memchr(req->name, '\0', sizeof(req->name)) ||
	    !memchr(req->peer, '\0', sizeof(req->peer)))
		return set_why(why, "name not terminated", -EBADMSG);
	for (size_t i = 0; i < sizeof(req->reserved); i++)
		if (req->reserved[i])
			return set_why(why, "reserved bytes not zero", -EBADMSG);
	return set_why(why, NULL, 0);
}

int ctl_rep_check(const void *buf, size_t len, const char **why)
{
	const struct ifkit_rep *rep = buf;
	size_t body;

	if (len < sizeof(*rep))
		return set_why(why, "answer too short", -EBADMSG);
	if (rep->magic != IFKIT_CTL_MAGIC || rep->version != IFKIT_CTL_VERSION)
		return set_why(why, "answer from an incompatible loader", -EPROTO);
	if (!memchr(rep->msg, '\0', sizeof(rep->msg)) ||
	    !memchr(rep->name, '\0', sizeof(rep->name)))
		return set_why(why, "answer string not terminated", -EBADMSG);
	body = len - sizeof(*rep);
	if (rep->item_count == 0 ? body != 0 :
	    (rep->item_size == 0 || rep->item_size > IFKIT_CTL_MAX_DGRAM ||
	     rep->item_count > IFKIT_CTL_MAX_DGRAM / rep->item_size ||
	     body != (size_t)rep->item_count * rep->item_size))
		return set_why(why, "answer items do not match their count", -EBADMSG);
	return set_why(why, NULL, 0);
}

ssize_t ctl_send(int sock, const void *buf, size_t len, int fd)
{
	/*
	 * Our effective credentials ride on every message (the kernel lets a
	 * process claim only ids it has), so the loader judges each request
	 * by who sends it now, not by who opened the connection.
	 */
	struct ucred cred = { .pid = getpid(), .uid = geteuid(), .gid = getegid() };

	return fdpass_send_cred(sock, buf, len, &fd, fd >= 0 ? 1 : 0, &cred);
}

ssize_t ctl_recv(int sock, void *buf, size_t len, int *fd)
{
	return ctl_recv_cred(sock, buf, len, fd, NULL);
}

ssize_t ctl_recv_cred(int sock, void *buf, size_t len, int *fd, struct ucred *cred)
{
	int got_fd = -1;
	size_t nfds = fd ? 1 : 0;
	ssize_t n = fdpass_recv_cred(sock, buf, len, &got_fd, &nfds, cred);

	if (fd)
		*fd = nfds ? got_fd : -1;
	return n;
}

int ctl_timeout_parse(const char *secs, int *ms)
{
	long long whole = 0, frac = 0;
	int scale = 100;	/* ms per digit after the point: 100, 10, 1 */
	bool more = false;	/* a non-zero digit below 1 ms */
	const char *p = secs;

	/* Plain decimal seconds ("5", "0.5", "1.25"): no sign, no exponent, no locale. */
	if (!p || !(*p >= '0' && *p <= '9'))
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		whole = whole * 10 + (*p - '0');
		if (whole * 1000 > CTL_TIMEOUT_MAX_MS)
			return -EINVAL;
	}
	if (*p == '.') {
		if (!(p[1] >= '0' && p[1] <= '9'))
			return -EINVAL;
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (scale)
				frac += (*p - '0') * scale;
			else if (*p != '0')
				more = true;
			scale /= 10;
		}
	}
	if (*p)
		return -EINVAL;
	/* Round up: "0.0001" must not turn into 0, "wait for ever". */
	whole = whole * 1000 + frac + (more ? 1 : 0);
	if (whole > CTL_TIMEOUT_MAX_MS)
		return -EINVAL;
	*ms = (int)whole;
	return 0;
}

int ctl_timeout_default(void)
{
	const char *env = getenv("IFKIT_TIMEOUT");
	int ms;

	if (env && *env && ctl_timeout_parse(env, &ms) == 0)
		return ms;
	return CTL_TIMEOUT_DEFAULT_MS;
}

void ctl_timeout_describe(char *buf, size_t len, const char *path, int timeout_ms)
{
	snprintf(buf, len, "ifkitd at %s did not answer within %g s (stopped or overloaded?)",
		 path, timeout_ms / 1000.0);
}

static int set_timeouts(int sock, int timeout_ms)
{
	struct timeval tv = {
		.tv_sec = timeout_ms / 1000,
		.tv_usec = (timeout_ms % 1000) * 1000,
	};

	if (setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

int ctl_connect_timeout(const char *path, int timeout_ms)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int sock, err;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	if (timeout_ms < 0)
		return -EINVAL;
	strcpy(addr.sun_path, path);
	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	/*
	 * A unix connect() waits (up to SO_SNDTIMEO) while the listener's
	 * backlog is full, then fails with EAGAIN; a non-blocking connect
	 * would fail at once and offer nothing to poll on.
	 */
	err = set_timeouts(sock, timeout_ms);
	if (err)
		goto fail;
	do
		err = connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0 ? -errno : 0;
	while (err == -EINTR);
	if (err == -EAGAIN && timeout_ms)
		err = -ETIMEDOUT;
	if (err)
		goto fail;
	return sock;
fail:
	close(sock);
	return err;
}

int ctl_connect(const char *path)
{
	return ctl_connect_timeout(path, ctl_timeout_default());
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The socket's receive time-out in ms (0: none), as ctl_connect_timeout set it. */
static long long sock_timeout_ms(int sock)
{
	struct timeval tv;
	socklen_t len = sizeof(tv);

	if (getsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) < 0)
		return 0;
	return (long long)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
}

/* Wait until sock is readable or the deadline (0: none) passes. */
static int wait_readable(int sock, long long deadline)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	int n;

	for (;;) {
		long long left = deadline ? deadline - mono_ms() : -1;

		if (deadline && left <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

int ctl_call(int sock, const struct ifkit_req *req, int send_fd,
	     struct ifkit_rep *rep, void **items, size_t *nitems, int *rep_fd)
{
	char *buf = NULL, *all = NULL;
	size_t count = 0, item_size = 0;
	long long limit = sock_timeout_ms(sock);
	/* One budget for the whole answer, however many datagrams it takes. */
	long long deadline = limit ? mono_ms() + limit : 0;
	int err, fd = -1;
	ssize_t n;

	if (items)
		*items = NULL;
	if (nitems)
		*nitems = 0;
	if (rep_fd)
		*rep_fd = -1;
	n = ctl_send(sock, req, sizeof(*req), send_fd);
	if (n == -EAGAIN && limit)
		return -ETIMEDOUT;	/* SO_SNDTIMEO ran out */
	if (n < 0)
		return (int)n;
	buf = malloc(IFKIT_CTL_MAX_DGRAM);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		const struct ifkit_rep *hdr = (const void *)buf;
		int got_fd;

		err = wait_readable(sock, deadline);
		if (err)
			goto cleanup;
		n = ctl_recv(sock, buf, IFKIT_CTL_MAX_DGRAM, &got_fd);
		if (n == -EAGAIN && limit)
			n = -ETIMEDOUT;
		if (n <= 0) {
			err = n == 0 ? -ECONNRESET : (int)n;
			goto cleanup;
		}
		if (got_fd >= 0) {
			if (fd >= 0)
				close(fd);
			fd = got_fd;
		}
		err = ctl_rep_check(buf, (size_t)n, NULL);
		if (err)
			goto cleanup;
		if (hdr->seq != req->seq || hdr->cmd != req->cmd) {
			err = -EPROTO;
			goto cleanup;
		}
		*rep = *hdr;
		if (hdr->item_count) {
			char *grown;

			if (item_size && item_size != hdr->item_size) {
				err = -EPROTO;
				goto cleanup;
			}
			item_size = hdr->item_size;
			grown = realloc(all, (count + hdr->item_count) * item_size);
			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			all = grown;
			memcpy(all + count * item_size, buf + sizeof(*hdr),
			       (size_t)hdr->item_count * item_size);
			count += hdr->item_count;
		}
		if (!(hdr->flags & IFKIT_REP_F_MORE))
			break;
	}
	err = rep->error;
	if (items) {
		*items = all;
		all = NULL;
	}
	if (nitems)
		*nitems = count;
	if (rep_fd) {
		*rep_fd = fd;
		fd = -1;
	}
cleanup:
	if (fd >= 0)
		close(fd);
	free(all);
	free(buf);
	return err;
}
