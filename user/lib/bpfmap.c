// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpfmap.h"

int bpfmap_percpu_sum_u64(int map_fd, const void *key, size_t value_size, void *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	/* The kernel lays per-CPU values out at 8-byte strides. */
	size_t stride = (value_size + 7) & ~(size_t)7, words = value_size / sizeof(__u64);
	__u64 *out = sum;
	char *all;
	int err = 0;

	memset(sum, 0, value_size);
	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	if (value_size % sizeof(__u64))
		return -EINVAL;
	all = calloc((size_t)ncpu, stride);
	if (!all)
		return -ENOMEM;
	if (bpf_map_lookup_elem(map_fd, key, all)) {
		err = -errno;
		goto cleanup;
	}
	for (int cpu = 0; cpu < ncpu; cpu++) {
		const __u64 *v = (const __u64 *)(all + (size_t)cpu * stride);

		for (size_t w = 0; w < words; w++)
			out[w] += v[w];
	}
cleanup:
	free(all);
	return err;
}

int bpfmap_percpu_zero(int map_fd, const void *key, size_t value_size)
{
	int ncpu = libbpf_num_possible_cpus();
	size_t stride = (value_size + 7) & ~(size_t)7;
	void *zero;
	int err = 0;

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	zero = calloc((size_t)ncpu, stride);
	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(map_fd, key, zero, BPF_ANY))
		err = -errno;
	free(zero);
	return err;
}

int bpfmap_walk(int map_fd, size_t key_size, int (*fn)(const void *key, void *arg), void *arg)
{
	_Alignas(8) unsigned char key[64], next[64];
	bool have_key = false;
	int ret;

	if (key_size > sizeof(key))
		return -EINVAL;
	while (bpf_map_get_next_key(map_fd, have_key ? key : NULL, next) == 0) {
		memcpy(key, next, key_size);
		ret = fn(key, arg);
		if (ret < 0)
			return ret;
		have_key = ret != BPFMAP_WALK_RESTART;
	}
	return 0;
}
