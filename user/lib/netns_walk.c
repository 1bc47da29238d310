// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "netns_walk.h"

#include "netns.h"

int netns_walk(int (*fn)(int ns_fd, const struct stat *st, void *arg), void *arg, int skip_pid)
{
	static const char *const roots[] = { NETNS_RUN_DIR, "/proc" };
	size_t nseen = 0, capseen = 0;
	ino_t *seen = NULL;
	int ret = 0;

	for (int r = 0; r < 2 && !ret; r++) {
		DIR *dir = opendir(roots[r]);
		struct dirent *de;

		while (dir && !ret && (de = readdir(dir))) {
			char path[300];
			struct stat st;
			bool dup = false;
			int fd;

			if (de->d_name[0] == '.' ||
			    (r == 1 && (de->d_name[0] < '0' || de->d_name[0] > '9')) ||
			    (r == 1 && skip_pid && atoi(de->d_name) == skip_pid))
				continue;
			if (r == 0)
				snprintf(path, sizeof(path), "%s/%s", roots[r], de->d_name);
			else
				snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (fstat(fd, &st) == 0) {
				for (size_t i = 0; i < nseen && !dup; i++)
					dup = seen[i] == st.st_ino;
				if (!dup && nseen == capseen) {
					size_t cap = capseen ? capseen * 2 : 256;
					ino_t *grown = realloc(seen, cap * sizeof(*grown));

					if (grown) {
						seen = grown;
						capseen = cap;
					}
				}
				if (!dup && nseen < capseen)
					seen[nseen++] = st.st_ino;
				if (!dup)
					ret = fn(fd, &st, arg);
			}
			close(fd);
		}
		if (dir)
			closedir(dir);
	}
	free(seen);
	return ret;
}
