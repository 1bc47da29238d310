/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Small helpers over libbpf's map calls that the loader's modules share. */
#ifndef IFKIT_BPF_UTIL_H
#define IFKIT_BPF_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Delete every entry of a hash map (keys up to 64 bytes). */
void ifk_map_clear(int map_fd, size_t key_size);
/* The kernel id of a BPF object (map or program) by descriptor, 0 if unknown. */
uint32_t ifk_map_id(int map_fd);
/*
 * Sum a per-CPU value made only of __u64 counters: per holds ncpu values of
 * value_size bytes (as bpf_map_lookup_elem returns them), sum gets one.
 */
void ifk_percpu_sum_u64(const void *per, int ncpu, size_t value_size, void *sum);
/* Look up key in a per-CPU array/hash of __u64 counters and sum it; 0 or -errno. */
int ifk_percpu_lookup_sum(int map_fd, const void *key, int ncpu, size_t value_size, void *sum);

#endif
