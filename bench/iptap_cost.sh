#!/bin/sh
# Per-packet cost of iptap's tap programs (BPF_PROG_TEST_RUN) for one or more
# builds of iptap.bpf.o, interleaved so that a change and the old object are
# measured on the same (loaded) machine.  As root:
#   bench/iptap_cost.sh                          # build/iptap.bpf.o
#   bench/iptap_cost.sh old.bpf.o build/iptap.bpf.o
#   DIR=in ROUNDS=15 bench/iptap_cost.sh ...     # iptap_in; see bench/iptap_cost.c
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
${CC:-cc} -O2 -g -Wall -Wextra -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuser/lib -I"$BUILD" \
	-o "$BUILD/iptap_cost" bench/iptap_cost.c "$BUILD/libifkit.a" -lbpf -lpcap -lelf -lz
ns=ifkcost$$
trap 'ip netns del "$ns" 2>/dev/null' EXIT INT TERM
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" addr add 10.9.0.1/32 dev lo
ip -n "$ns" addr add 10.9.0.2/32 dev lo
[ $# -gt 0 ] || set -- "$BUILD/iptap.bpf.o"
ip netns exec "$ns" "$BUILD/iptap_cost" "$@"
