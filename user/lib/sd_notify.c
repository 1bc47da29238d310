// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "sd_notify.h"

int sd_notifier_open(struct sd_notifier *n)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;
	socklen_t alen;
	int fd, err;

	n->fd = -1;
	if (!path || !*path)
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(addr.sun_path))
		return -EINVAL;
	memcpy(addr.sun_path, path, len);
	/* Abstract: the name is the bytes after a leading NUL, no terminator. */
	if (path[0] == '@')
		addr.sun_path[0] = '\0';
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, alen) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	unsetenv("NOTIFY_SOCKET");
	n->fd = fd;
	return 0;
}

int sd_notifier_send(struct sd_notifier *n, const char *state)
{
	ssize_t ret;

	if (n->fd < 0)
		return 0;
	/* The manager reads our credentials (SCM_CREDENTIALS) itself via
	 * SO_PASSCRED: sending as the main process is what NotifyAccess=main needs. */
	do
		ret = send(n->fd, state, strlen(state), MSG_NOSIGNAL);
	while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

void sd_notifier_close(struct sd_notifier *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}
