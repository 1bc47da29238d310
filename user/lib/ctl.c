// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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
	return fdpass_send(sock, buf, len, &fd, fd >= 0 ? 1 : 0);
}

ssize_t ctl_recv(int sock, void *buf, size_t len, int *fd)
{
	int got_fd = -1;
	size_t nfds = fd ? 1 : 0;
	ssize_t n = fdpass_recv(sock, buf, len, &got_fd, &nfds);

	if (fd)
		*fd = nfds ? got_fd : -1;
	return n;
}

int ctl_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int sock, err;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		err = -errno;
		close(sock);
		return err;
	}
	return sock;
}

int ctl_call(int sock, const struct ifkit_req *req, int send_fd,
	     struct ifkit_rep *rep, void **items, size_t *nitems, int *rep_fd)
{
	char *buf = NULL, *all = NULL;
	size_t count = 0, item_size = 0;
	int err, fd = -1;
	ssize_t n;

	if (items)
		*items = NULL;
	if (nitems)
		*nitems = 0;
	if (rep_fd)
		*rep_fd = -1;
	n = ctl_send(sock, req, sizeof(*req), send_fd);
	if (n < 0)
		return (int)n;
	buf = malloc(IFKIT_CTL_MAX_DGRAM);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		const struct ifkit_rep *hdr = (const void *)buf;
		int got_fd;

		n = ctl_recv(sock, buf, IFKIT_CTL_MAX_DGRAM, &got_fd);
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
