// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "netns.h"

int netns_open(const char *name)
{
	char path[256];
	int fd;

	if (!name[0] || strchr(name, '/'))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", NETNS_RUN_DIR, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int netns_open_self(void)
{
	int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int netns_open_or_create(const char *name)
{
	char path[256];
	int fd, status;
	pid_t child;

	fd = netns_open(name);
	if (fd != -ENOENT)
		return fd;
	if (mkdir(NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/%s", NETNS_RUN_DIR, name);
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		return -errno;
	close(fd);
	/* A child unshares and bind-mounts its namespace, so ours never moves. */
	child = fork();
	if (child < 0) {
		int err = -errno;

		unlink(path);
		return err;
	}
	if (child == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		if (mount("/proc/self/ns/net", path, "none", MS_BIND, NULL) < 0)
			_exit(2);
		_exit(0);
	}
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		unlink(path);
		return -EIO;
	}
	return netns_open(name);
}

int netns_remove(const char *name)
{
	char path[256];

	if (!name[0] || strchr(name, '/'))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", NETNS_RUN_DIR, name);
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return -errno;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int netns_same(int fd_a, int fd_b)
{
	struct stat a, b;

	if (fstat(fd_a, &a) < 0 || fstat(fd_b, &b) < 0)
		return -errno;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int netns_name_of(int ns_fd, char *buf, size_t len)
{
	struct dirent *de;
	DIR *dir;

	buf[0] = '\0';
	dir = opendir(NETNS_RUN_DIR);
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dir))) {
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = netns_open(de->d_name);
		if (fd < 0)
			continue;
		if (netns_same(fd, ns_fd) == 1) {
			snprintf(buf, len, "%s", de->d_name);
			close(fd);
			break;
		}
		close(fd);
	}
	closedir(dir);
	return 0;
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		err = -errno;
	close(fd);
	return err;
}

int netns_silence_ipv6(void)
{
	int err = write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	int err_all = write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");

	return err ? err : err_all;
}
