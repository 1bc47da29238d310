/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What every module does with BPF maps: per-CPU counters and safe walks. */
#ifndef IFKIT_BPFMAP_H
#define IFKIT_BPFMAP_H

#include <stddef.h>

/*
 * Sum a per-CPU value that is a struct of __u64 counters (value_size a
 * multiple of 8) over every possible CPU into sum.  0 or -errno (sum zeroed).
 */
int bpfmap_percpu_sum_u64(int map_fd, const void *key, size_t value_size, void *sum);
/* Set a per-CPU value to zero on every CPU.  0 or -errno. */
int bpfmap_percpu_zero(int map_fd, const void *key, size_t value_size);

/*
 * Call fn for every key of a hash map.  fn returns 0 to go on, a negative
 * errno to stop (returned), or BPFMAP_WALK_RESTART after it deleted the key:
 * a deletion invalidates the kernel's cursor, so the walk starts over (fn
 * must not delete the same keys forever).  key_size at most 64 bytes.
 */
#define BPFMAP_WALK_RESTART 1
int bpfmap_walk(int map_fd, size_t key_size, int (*fn)(const void *key, void *arg), void *arg);

#endif
