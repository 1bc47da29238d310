// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * iptap: the cgroup programs that record which process owns a socket
 * (attached while any iptap exists), and the owners of sockets older than
 * the first iptap, found once by walking /proc.
 */
#include "iptap_int.h"

static void backfill_owners(struct iptap_state *st);

/* ---- cgroup programs (socket owners) -------------------------------------- */

static int cgroup2_path(char *out, size_t len)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char dev[256], dir[512], type[64];
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (fscanf(f, "%255s %511s %63s %*s %*d %*d", dev, dir, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			snprintf(out, len, "%s", dir);
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

void iptap_cgroup_attach(struct iptap_state *st)
{
	struct bpf_program *progs[] = {
		st->skel->progs.iptap_sock_create, st->skel->progs.iptap_post_bind4,
		st->skel->progs.iptap_post_bind6, st->skel->progs.iptap_connect4,
		st->skel->progs.iptap_connect6,
	};
	char path[512];
	int fd;

	if (st->n_cg_links)
		return;
	if (cgroup2_path(path, sizeof(path))) {
		pr_warn("iptap: no cgroup2 mount: packets will carry no process");
		return;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		pr_warn("iptap: %s: %s", path, strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		struct bpf_link *l = bpf_program__attach_cgroup(progs[i], fd);

		if (!l) {
			pr_warn("iptap: attach %s to %s: %s", bpf_program__name(progs[i]), path,
				strerror(errno));
			continue;
		}
		st->cg_links[st->n_cg_links++] = l;
	}
	close(fd);
	backfill_owners(st);
}

/*
 * Sockets that existed before the cgroup programs were attached have no
 * owner yet: walk every process's descriptors once, borrow each IPv4/IPv6
 * socket with pidfd_getfd() and store its owner (without overwriting what
 * the programs recorded).  A socket shared by several processes gets the
 * first one found.
 */
/* uid and cgroup v2 id (the inode of its directory) of process pid. */
static void owner_ids(const char *pid, const char *cgroot, struct iptap_owner *owner)
{
	char path[300], line[512];
	struct stat stb;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s", pid);
	if (stat(path, &stb) == 0)
		owner->uid = (__u32)stb.st_uid;
	snprintf(path, sizeof(path), "/proc/%s/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (cgroot[0] && fgets(line, sizeof(line), f)) {
		char full[800];

		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(full, sizeof(full), "%s%s", cgroot, line + 3);
		if (stat(full, &stb) == 0)
			owner->cgroup_id = (__u64)stb.st_ino;
		break;
	}
	fclose(f);
}

static void backfill_owners(struct iptap_state *st)
{
	int map_fd = bpf_map__fd(st->skel->maps.iptap_sk_owner), n = 0;
	DIR *proc = opendir("/proc");
	struct dirent *pe;
	char self[16], cgroot[256] = "";

	cgroup2_path(cgroot, sizeof(cgroot));
	snprintf(self, sizeof(self), "%d", (int)getpid());
	while (proc && (pe = readdir(proc))) {
		struct iptap_owner owner = { 0 };
		char path[300], link[64];
		struct dirent *fe;
		DIR *fds;
		int pidfd;
		FILE *f;

		if (pe->d_name[0] < '0' || pe->d_name[0] > '9' || !strcmp(pe->d_name, self))
			continue;
		owner.pid = (__u32)atoi(pe->d_name);
		snprintf(path, sizeof(path), "/proc/%s/comm", pe->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(owner.comm, sizeof(owner.comm), f))
			owner.comm[strcspn(owner.comm, "\n")] = '\0';
		fclose(f);
		owner_ids(pe->d_name, cgroot, &owner);
		pidfd = (int)syscall(SYS_pidfd_open, (pid_t)owner.pid, 0);
		if (pidfd < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", pe->d_name);
		fds = opendir(path);
		while (fds && (fe = readdir(fds))) {
			char fpath[600];
			ssize_t len;
			int sfd, dom = 0;
			socklen_t dlen = sizeof(dom);

			if (fe->d_name[0] < '0' || fe->d_name[0] > '9')
				continue;
			snprintf(fpath, sizeof(fpath), "%s/%s", path, fe->d_name);
			len = readlink(fpath, link, sizeof(link) - 1);
			if (len <= 0)
				continue;
			link[len] = '\0';
			if (strncmp(link, "socket:", 7))
				continue;
			sfd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(fe->d_name), 0);
			if (sfd < 0)
				continue;
			if (getsockopt(sfd, SOL_SOCKET, SO_DOMAIN, &dom, &dlen) == 0 &&
			    (dom == AF_INET || dom == AF_INET6) &&
			    bpf_map_update_elem(map_fd, &sfd, &owner, BPF_NOEXIST) == 0)
				n++;
			close(sfd);
		}
		if (fds)
			closedir(fds);
		close(pidfd);
	}
	if (proc)
		closedir(proc);
	pr_debug("iptap: recorded the owners of %d existing socket(s)", n);
}

void iptap_cgroup_detach(struct iptap_state *st)
{
	while (st->n_cg_links)
		bpf_link__destroy(st->cg_links[--st->n_cg_links]);
}
