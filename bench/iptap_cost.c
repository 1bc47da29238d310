// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Per-packet cost of the iptap tap programs, BPF_PROG_TEST_RUN, for one or
 * more builds of iptap.bpf.o side by side (rounds interleaved, medians), so
 * that a change is measured against the old object on the same loaded
 * machine.  Run by bench/iptap_cost.sh inside a namespace of its own.
 *
 * Per object it prints ns per run of the tap program on a 42-byte IPv4 UDP (PAD: longer)
 * frame (10.9.0.1:8080 -> 10.9.0.2:8081 on the namespace's lo):
 *   idle     an iptap exists, nobody listens
 *   nomatch  one PKTAP reader whose filter ('udp port 9', or $EXPR) matches
 *            nothing, translated to eBPF as the loader does
 *   full     one PKTAP reader without filter: every run writes a record
 *            (a 32 MiB ring per CPU, drained between rounds; lost must be 0):
 *            into a BPF ring buffer per CPU in iptap_rings when the build
 *            has that map (as `ifkit iptap capture` does), else into the
 *            perf ring; RING=perf keeps every build on the perf ring
 *   sink     the 2-instruction iptap_sink (what BPF_PROG_TEST_RUN itself costs)
 * A UDP socket bound to the packet's local end carries an owner in
 * iptap_sk_owner, so the record path's socket lookup finds one.
 * Environment: DIR=out|in (iptap_out, default, or iptap_in), ROUNDS (7),
 * PAD (UDP payload bytes, 0; PAD=64 is the UDP-64 flood's 106-byte frame),
 * REP (20000 runs per full round, 10x that for the others), EXPR, RING.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "iptap.h"
#include "iptap_filter.h"
#include "iptap_jit.h"

#define MAX_OBJS	8
#define MAX_ROUNDS	64
#define MODES		4

static const unsigned char frame[] =
	"\002\000\000\000\000\002\002\000\000\000\000\001\010\000"	/* Ethernet, IPv4 */
	"\105\000\000\034\000\001\000\000\100\021\000\000\012\011\000\001\012\011\000\002"
	"\037\220\037\221\000\010\000\000";				/* UDP 8080 -> 8081 */

struct obj {
	struct bpf_object *o;
	int cfg, fast, ifs, flt, jit, ev, rings, sko, pin, pout, psink;
	struct perf_buffer *pb;
	struct ring_buffer *rb;		/* the BPF ring buffers, when the build has them */
	int rb_fd[64];
};

struct run {
	long records, other;
	unsigned int ns[MAX_OBJS][MODES][MAX_ROUNDS];
};

static enum bpf_perf_event_ret on_event(void *ctx, int cpu, struct perf_event_header *h)
{
	struct run *r = ctx;

	(void)cpu;
	if (h->type == PERF_RECORD_SAMPLE)
		r->records++;
	else
		r->other++;		/* PERF_RECORD_LOST */
	return LIBBPF_PERF_EVENT_CONT;
}

static int on_ring(void *ctx, void *data, size_t size)
{
	struct run *r = ctx;

	(void)data;
	(void)size;
	r->records++;
	return 0;
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return x < y ? -1 : x > y;
}

static int obj_open(struct obj *ob, const char *path, int ncpu, __u64 cookie, int sock,
		    struct run *run)
{
	struct perf_event_attr attr = { .type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_BPF_OUTPUT, .sample_type = PERF_SAMPLE_RAW,
		.watermark = 1, .wakeup_watermark = 1 << 20 };	/* as the capture: no wake-up per record */
	struct iptap_if_key key = { .netns_cookie = cookie, .ifindex = 1 };
	struct iptap_if_info info = { .name = "lo", .iftype = PKTAP_IFT_LOOP, .l2len = 14 };
	struct iptap_owner own = { .pid = (__u32)getpid(), .comm = "iptap_cost" };
	struct bpf_map *m;

	ob->o = bpf_object__open_file(path, NULL);
	if (!ob->o)
		return -errno;
	bpf_object__for_each_map(m, ob->o) {
		size_t sz;

		bpf_map__set_pin_path(m, NULL);		/* nothing pinned: private maps */
		if (strstr(bpf_map__name(m), ".rodata")) {
			__u32 *nr_cpus = (__u32 *)bpf_map__initial_value(m, &sz);

			if (nr_cpus && sz >= sizeof(*nr_cpus))
				*nr_cpus = (__u32)ncpu;
		}
		if (!strcmp(bpf_map__name(m), "iptap_events") ||
		    !strcmp(bpf_map__name(m), "iptap_rings"))
			bpf_map__set_max_entries(m, (__u32)(IPTAP_MAX_READERS * ncpu));
	}
	if (bpf_object__load(ob->o))
		return -EINVAL;
	ob->cfg = bpf_object__find_map_fd_by_name(ob->o, "iptap_ns_cfg");
	ob->fast = bpf_object__find_map_fd_by_name(ob->o, "iptap_ns_fast");	/* < 0 in older builds */
	ob->ifs = bpf_object__find_map_fd_by_name(ob->o, "iptap_ifaces");
	ob->flt = bpf_object__find_map_fd_by_name(ob->o, "iptap_filters");
	ob->jit = bpf_object__find_map_fd_by_name(ob->o, "iptap_jit");
	ob->ev = bpf_object__find_map_fd_by_name(ob->o, "iptap_events");
	ob->sko = bpf_object__find_map_fd_by_name(ob->o, "iptap_sk_owner");
	ob->pin = bpf_program__fd(bpf_object__find_program_by_name(ob->o, "iptap_in"));
	ob->pout = bpf_program__fd(bpf_object__find_program_by_name(ob->o, "iptap_out"));
	ob->psink = bpf_program__fd(bpf_object__find_program_by_name(ob->o, "iptap_sink"));
	ob->rings = bpf_object__find_map_fd_by_name(ob->o, "iptap_rings");
	if (ob->rings >= 0 && !(getenv("RING") && !strcmp(getenv("RING"), "perf"))) {
		/* keys 0..ncpu-1 (slot 0), a 32 MiB BPF ring buffer per CPU */
		for (int i = 0; i < ncpu && i < 64; i++) {
			__u32 k = (__u32)i;

			ob->rb_fd[i] = bpf_map_create(BPF_MAP_TYPE_RINGBUF, NULL, 0, 0, 32u << 20,
						      NULL);
			if (ob->rb_fd[i] < 0 ||
			    bpf_map_update_elem(ob->rings, &k, &ob->rb_fd[i], BPF_ANY))
				return -errno;
			if (!ob->rb)
				ob->rb = ring_buffer__new(ob->rb_fd[i], on_ring, run, NULL);
			else if (ring_buffer__add(ob->rb, ob->rb_fd[i], on_ring, run))
				return -errno;
			if (!ob->rb)
				return -errno;
		}
	} else {
		/* keys 0..ncpu-1 (slot 0), 32 MiB per CPU */
		ob->pb = perf_buffer__new_raw(ob->ev, 8192, &attr, on_event, run, NULL);
		if (!ob->pb)
			return -errno;
	}
	if (bpf_map_update_elem(ob->ifs, &key, &info, BPF_ANY) ||
	    bpf_map_update_elem(ob->sko, &sock, &own, BPF_ANY))
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = getenv("DIR") ? getenv("DIR") : "out";
	const char *expr = getenv("EXPR") ? getenv("EXPR") : "udp port 9";
	int ncpu = libbpf_num_possible_cpus(), out = strcmp(dir, "in") != 0;
	int rounds = getenv("ROUNDS") ? atoi(getenv("ROUNDS")) : 7;
	int rep = getenv("REP") ? atoi(getenv("REP")) : 20000;
	int pad = getenv("PAD") ? atoi(getenv("PAD")) : 0;
	static unsigned char pkt[sizeof(frame) - 1 + 1472];
	__u32 pktlen = (__u32)(sizeof(frame) - 1) + (__u32)pad;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	static struct bpf_insn insns[IPTAP_JIT_MAX_INSNS];
	static struct iptap_filter nomatch, none;
	static struct obj obs[MAX_OBJS];
	static struct run run;
	int nobj = argc - 1, sock, jit_fd;
	struct iptap_expr *e = NULL;
	socklen_t len = sizeof(__u64);
	unsigned int n;
	char why[256];
	__u64 cookie;

	if (nobj < 1 || nobj > MAX_OBJS || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: iptap_cost OBJ.bpf.o... (at most %d; ROUNDS <= %d)\n",
			MAX_OBJS, MAX_ROUNDS);
		return 2;
	}
	if (pad < 0 || pad > 1472) {
		fprintf(stderr, "iptap_cost: PAD 0..1472\n");
		return 2;
	}
	/* The frame with PAD bytes of UDP payload: IPv4 and UDP lengths grown. */
	memcpy(pkt, frame, sizeof(frame) - 1);
	pkt[16] = (unsigned char)((pktlen - 14) >> 8);
	pkt[17] = (unsigned char)(pktlen - 14);
	pkt[38] = (unsigned char)((pktlen - 34) >> 8);
	pkt[39] = (unsigned char)(pktlen - 34);
	/* The packet's local end: its source going out, its destination coming in. */
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sa.sin_port = htons(out ? 8080 : 8081);
	inet_pton(AF_INET, out ? "10.9.0.1" : "10.9.0.2", &sa.sin_addr);
	if (sock < 0 || getsockopt(sock, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) ||
	    bind(sock, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("iptap_cost: socket (10.9.0.1 and .2 on lo?)");
		return 1;
	}
	if (iptap_expr_compile(expr, 65535, &nomatch, &e, why, sizeof(why)) ||
	    iptap_jit_translate(nomatch.insn, nomatch.len, insns, IPTAP_JIT_MAX_INSNS, &n)) {
		fprintf(stderr, "iptap_cost: %s: cannot compile or translate\n", expr);
		return 1;
	}
	iptap_expr_free(e);
	jit_fd = iptap_jit_load(insns, n, why, sizeof(why));
	if (jit_fd < 0) {
		fprintf(stderr, "iptap_cost: translated filter refused: %s\n", why);
		return 1;
	}
	for (int i = 0; i < nobj; i++) {
		int err = obj_open(&obs[i], argv[i + 1], ncpu, cookie, sock, &run);

		if (err) {
			fprintf(stderr, "iptap_cost: %s: %s\n", argv[i + 1], strerror(-err));
			return 1;
		}
	}
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < nobj; i++) {
			struct obj *ob = &obs[i];

			for (int mode = 0; mode < MODES; mode++) {
				struct iptap_ns_cfg cfg = { .idx = 1 };
				LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt,
					    .data_size_in = pktlen,
					    .repeat = mode == 2 ? rep : rep * 10);
				int prog = mode == 3 ? ob->psink : out ? ob->pout : ob->pin;
				__u32 slot = 0;

				if (mode == 1 || mode == 2) {
					cfg.reader_mask = 1;
					cfg.snaplen[0] = IPTAP_DEFAULT_SNAPLEN;
				}
				bpf_map_update_elem(ob->cfg, &cookie, &cfg, BPF_ANY);
				if (ob->fast >= 0) {	/* as the loader: the tagged array entry too */
					struct iptap_ns_fast fe = { .cookie = cookie, .cfg = cfg };
					__u32 fi = (__u32)(cookie % IPTAP_NS_FAST);

					bpf_map_update_elem(ob->fast, &fi, &fe, BPF_ANY);
				}
				bpf_map_update_elem(ob->flt, &slot, mode == 1 ? &nomatch : &none, BPF_ANY);
				if (mode == 1)
					bpf_map_update_elem(ob->jit, &slot, &jit_fd, BPF_ANY);
				else
					bpf_map_delete_elem(ob->jit, &slot);
				if (bpf_prog_test_run_opts(prog, &t)) {
					perror("iptap_cost: BPF_PROG_TEST_RUN");
					return 1;
				}
				run.ns[i][mode][r] = t.duration;
				if (ob->pb)
					perf_buffer__consume(ob->pb);
				else
					ring_buffer__consume(ob->rb);
			}
		}
	}
	printf("iptap_%s, %u-byte frame, ns per run, median (min) of %d interleaved rounds\n", dir,
	       pktlen, rounds);
	for (int i = 0; i < nobj; i++) {
		static const char *const name[MODES] = { "idle", "nomatch", "full", "sink" };

		printf("%-28s %s", argv[i + 1], obs[i].pb ? "perf" : "ring");
		for (int mode = 0; mode < MODES; mode++) {
			qsort(run.ns[i][mode], (size_t)rounds, sizeof(unsigned int), cmp_uint);
			printf(" %s %4u (%4u)", name[mode], run.ns[i][mode][rounds / 2],
			       run.ns[i][mode][0]);
		}
		printf("\n");
	}
	printf("records %ld, lost notes %ld\n", run.records, run.other);
	for (int i = 0; i < nobj; i++) {
		perf_buffer__free(obs[i].pb);
		ring_buffer__free(obs[i].rb);
		bpf_object__close(obs[i].o);
	}
	close(jit_fd);
	close(sock);
	return 0;
}
