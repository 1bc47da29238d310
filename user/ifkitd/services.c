// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The loader's shared services: event-loop registration, running code in
 * another namespace, replies.  Device modules call these, never main.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "ifkitd.h"
#include "log.h"
#include "netns.h"

uint64_t ifkitd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int ifkitd_watch_add(struct ifkitd *d, struct watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events ? events : EPOLLIN, .data.ptr = w };

	return epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, w->fd, &ev) < 0 ? -errno : 0;
}

void ifkitd_watch_del(struct ifkitd *d, struct watch *w)
{
	epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
}

int ifkitd_in_netns(struct ifkitd *d, int ns_fd, int (*fn)(void *arg), void *arg)
{
	int ret;

	if (setns(ns_fd, CLONE_NEWNET) < 0)
		return -errno;
	ret = fn(arg);
	if (setns(d->priv_ns_fd, CLONE_NEWNET) < 0) {
		/* Every later request would run in the wrong namespace. */
		pr_err("cannot return to the private namespace: %s", strerror(errno));
		abort();
	}
	return ret;
}

struct nl_open_arg {
	struct nl_sock *nl;
};

static int nl_open_fn(void *arg)
{
	return nl_open(((struct nl_open_arg *)arg)->nl);
}

int ifkitd_nl_open_in(struct ifkitd *d, int ns_fd, struct nl_sock *nl)
{
	struct nl_open_arg arg = { nl };

	return ifkitd_in_netns(d, ns_fd, nl_open_fn, &arg);
}

int ifkitd_link_set_in(struct ifkitd *d, int ns_fd, int ifindex, const struct link_change *chg)
{
	struct nl_sock nl;
	int err = ifkitd_nl_open_in(d, ns_fd, &nl);

	if (err)
		return err;
	err = nl_link_set(&nl, ifindex, -1, chg);
	if (err && nl.errmsg[0])
		snprintf(d->nl.errmsg, sizeof(d->nl.errmsg), "%s", nl.errmsg);
	nl_close(&nl);
	return err;
}

static int try_ns(struct ifkitd *d, const char *path, int nsid, ino_t *seen, size_t *nseen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0) {
		for (size_t i = 0; i < *nseen; i++) {
			if (seen[i] == st.st_ino) {
				close(fd);
				return -1;
			}
		}
		if (*nseen < 1024)
			seen[(*nseen)++] = st.st_ino;
		if (nl_netns_id(&d->nl, fd) == nsid)
			return fd;
	}
	close(fd);
	return -1;
}

int ifkitd_netns_by_nsid(struct ifkitd *d, int nsid)
{
	static const char *const roots[] = { NETNS_RUN_DIR, "/proc" };
	ino_t *seen;
	size_t nseen = 0;
	int found = -ENOENT;

	if (nsid < 0)
		return -EINVAL;
	seen = calloc(1024, sizeof(*seen));
	if (!seen)
		return -ENOMEM;
	/* Named namespaces first (cheap), then every process's. */
	for (size_t r = 0; r < 2 && found < 0; r++) {
		DIR *dir = opendir(roots[r]);
		struct dirent *de;
		char path[300];

		while (dir && found < 0 && (de = readdir(dir))) {
			if (de->d_name[0] == '.' || (r == 1 && (de->d_name[0] < '0' || de->d_name[0] > '9')))
				continue;
			if (r == 0)
				snprintf(path, sizeof(path), "%s/%s", roots[r], de->d_name);
			else
				snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
			found = try_ns(d, path, nsid, seen, &nseen);
			if (found < 0)
				found = -ENOENT;
		}
		if (dir)
			closedir(dir);
	}
	free(seen);
	return found;
}

int reply_error(struct reply *r, int err, const char *fmt, ...)
{
	va_list ap;

	r->hdr.error = err;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(r->hdr.msg, sizeof(r->hdr.msg), fmt, ap);
		va_end(ap);
	}
	return err;
}

int reply_add_item(struct reply *r, enum ifkit_item_type type, const void *item, size_t size)
{
	if (r->count && (r->hdr.item_type != type || r->hdr.item_size != size))
		return -EINVAL;
	if (r->count == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		char *grown = realloc(r->items, cap * size);

		if (!grown)
			return -ENOMEM;
		r->items = grown;
		r->cap = cap;
	}
	memcpy(r->items + r->count * size, item, size);
	r->count++;
	r->hdr.item_type = (__u16)type;
	r->hdr.item_size = (__u32)size;
	return 0;
}

