/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef IFKIT_BPFFS_H
#define IFKIT_BPFFS_H

/*
 * Make sure dir (e.g. /sys/fs/bpf/ifkit) exists on a bpf filesystem:
 * mount bpffs on its parent if that is not one yet, then mkdir.  0 or -errno.
 */
int bpffs_prepare(const char *dir);
/* Remove dir and the pins directly in it. */
int bpffs_remove_dir(const char *dir);

#endif
