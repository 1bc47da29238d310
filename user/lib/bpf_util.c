// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "bpf_util.h"

void ifk_map_clear(int map_fd, size_t key_size)
{
	char key[64], next[64];

	while (key_size <= sizeof(key) && bpf_map_get_next_key(map_fd, NULL, next) == 0) {
		memcpy(key, next, key_size);
		if (bpf_map_delete_elem(map_fd, key))
			break;
	}
}

uint32_t ifk_map_id(int map_fd)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (map_fd < 0 || bpf_obj_get_info_by_fd(map_fd, &info, &len))
		return 0;
	return info.id;
}

void ifk_percpu_sum_u64(const void *per, int ncpu, size_t value_size, void *sum)
{
	size_t n = value_size / sizeof(uint64_t);
	uint64_t *out = sum;

	memset(sum, 0, value_size);
	for (int c = 0; c < ncpu; c++) {
		const uint64_t *v = (const uint64_t *)((const char *)per + (size_t)c * value_size);

		for (size_t i = 0; i < n; i++)
			out[i] += v[i];
	}
}

int ifk_percpu_lookup_sum(int map_fd, const void *key, int ncpu, size_t value_size, void *sum)
{
	void *per = calloc((size_t)(ncpu > 0 ? ncpu : 1), value_size);
	int err = 0;

	memset(sum, 0, value_size);
	if (!per)
		return -ENOMEM;
	if (bpf_map_lookup_elem(map_fd, key, per) == 0)
		ifk_percpu_sum_u64(per, ncpu, value_size, sum);
	else
		err = -errno;
	free(per);
	return err;
}
