// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * feth: the crossing program through BPF_PROG_TEST_RUN, then end-to-end
 * pairs across namespaces driven through the real loader and CLI.
 */
#include <errno.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <CUnit/CUnit.h>
#include "ctl.h"
#include "feth.h"
#include "feth.skel.h"
#include "harness.h"

#define TC_ACT_SHOT 2
#define TC_ACT_REDIRECT 7

/* ---------- BPF_PROG_TEST_RUN ---------- */

static struct {
	char ns[H_NAME_LEN];
	char pin_dir[128];
	struct feth_bpf *skel;
	int ifindex_a, ifindex_b;	/* two real devices the program can be "on" */
} B;

static int bpf_suite_init(void)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	char out[64];

	if (h_pin_dir("bpf", B.pin_dir, sizeof(B.pin_dir)))
		return -1;
	opts.pin_root_path = B.pin_dir;
	if (h_ns_create("bpf", B.ns, sizeof(B.ns)))
		return -1;
	if (h_sh("ip -n %s link add ta type veth peer name tb", B.ns))
		return -1;
	if (h_sh_out(out, sizeof(out), "ip netns exec %s cat /sys/class/net/ta/ifindex", B.ns))
		return -1;
	B.ifindex_a = atoi(out);
	if (h_sh_out(out, sizeof(out), "ip netns exec %s cat /sys/class/net/tb/ifindex", B.ns))
		return -1;
	B.ifindex_b = atoi(out);
	B.skel = feth_bpf__open_opts(&opts);
	if (!B.skel || feth_bpf__load(B.skel))
		return -1;
	return 0;
}

static int bpf_suite_cleanup(void)
{
	feth_bpf__destroy(B.skel);
	B.skel = NULL;
	h_ns_delete(B.ns);
	h_sh("rm -rf %s", B.pin_dir);
	return 0;
}

/* Run feth_cross on one Ethernet frame as if it arrived on ifindex. */
static int run_on(int ifindex, __u32 *retval)
{
	unsigned char frame[64] = {
		0x66, 0x65, 0x74, 0x68, 0x00, 0x01,	/* dst */
		0x66, 0x65, 0x74, 0x68, 0x00, 0x00,	/* src */
		0x08, 0x00,				/* IPv4 */
		0x45, 0x00, 0x00, 0x32,
	};
	struct __sk_buff ctx = { .ifindex = (__u32)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = frame, .data_size_in = sizeof(frame),
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);
	int err;

	if (h_enter_ns(B.ns))
		return -1;
	err = bpf_prog_test_run_opts(bpf_program__fd(B.skel->progs.feth_cross), &topts);
	h_leave_ns();
	*retval = topts.retval;
	return err;
}

static void read_stat(__u32 unit, struct feth_stat *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	struct feth_stat *per = calloc((size_t)ncpu, sizeof(*per));

	memset(sum, 0, sizeof(*sum));
	if (per && bpf_map_lookup_elem(bpf_map__fd(B.skel->maps.feth_stats), &unit, per) == 0) {
		for (int i = 0; i < ncpu; i++) {
			sum->crossed_packets += per[i].crossed_packets;
			sum->crossed_bytes += per[i].crossed_bytes;
			sum->dropped_unpeered += per[i].dropped_unpeered;
		}
	}
	free(per);
}

static void set_port(int hidden_ifindex, __u32 unit, __u32 peer_unit, int peer_ifindex)
{
	struct feth_port_key key = { .hidden_ifindex = (__u32)hidden_ifindex };
	struct feth_port port = { .unit = unit, .peer_unit = peer_unit,
				  .peer_hidden_ifindex = (__u32)peer_ifindex };

	CU_ASSERT_EQUAL(bpf_map_update_elem(bpf_map__fd(B.skel->maps.feth_peer_table), &key,
					    &port, BPF_ANY), 0);
}

static void test_bpf_peered_redirects(void)
{
	struct feth_stat before, after;
	__u32 ret = 0;

	set_port(B.ifindex_a, 5, 6, B.ifindex_b);
	read_stat(5, &before);
	CU_ASSERT_EQUAL_FATAL(run_on(B.ifindex_a, &ret), 0);
	CU_ASSERT_EQUAL(ret, TC_ACT_REDIRECT);
	read_stat(5, &after);
	CU_ASSERT_EQUAL(after.crossed_packets, before.crossed_packets + 1);
	CU_ASSERT_EQUAL(after.crossed_bytes, before.crossed_bytes + 64);
	CU_ASSERT_EQUAL(after.dropped_unpeered, before.dropped_unpeered);
}

static void test_bpf_unpeered_drops(void)
{
	struct feth_stat before, after;
	__u32 ret = 0;

	set_port(B.ifindex_b, 6, FETH_NO_PEER, 0);
	read_stat(6, &before);
	CU_ASSERT_EQUAL_FATAL(run_on(B.ifindex_b, &ret), 0);
	CU_ASSERT_EQUAL(ret, TC_ACT_SHOT);
	read_stat(6, &after);
	CU_ASSERT_EQUAL(after.dropped_unpeered, before.dropped_unpeered + 1);
	CU_ASSERT_EQUAL(after.crossed_packets, before.crossed_packets);
}

static void test_bpf_unknown_device_drops(void)
{
	struct feth_port_key key = { .hidden_ifindex = (__u32)B.ifindex_a };
	struct feth_stat before, after;
	__u32 ret = 0;

	bpf_map_delete_elem(bpf_map__fd(B.skel->maps.feth_peer_table), &key);
	read_stat(5, &before);
	CU_ASSERT_EQUAL_FATAL(run_on(B.ifindex_a, &ret), 0);
	CU_ASSERT_EQUAL(ret, TC_ACT_SHOT);
	read_stat(5, &after);
	CU_ASSERT_EQUAL(after.crossed_packets, before.crossed_packets);
}

/* ---------- end to end ---------- */

/*
 * One loader serves the suite (infrastructure, like the namespaces' owner);
 * every test makes its own namespaces and feths and removes them, so no test
 * depends on what another left.
 */
static struct {
	struct h_loader l;
} E;

static int e2e_init(void)
{
	return h_loader_start(&E.l) ? -1 : 0;
}

static int e2e_cleanup(void)
{
	h_loader_teardown(&E.l);
	return 0;
}

/* ip -o link show DEV in ns, into out. */
static int link_show(const char *ns, const char *dev, char *out, size_t len)
{
	return h_sh_out(out, len, "ip -n %s -o link show %s", ns, dev);
}

static bool has_carrier(const char *ns, const char *dev)
{
	char out[512];

	return link_show(ns, dev, out, sizeof(out)) == 0 && strstr(out, "LOWER_UP") &&
	       !strstr(out, "NO-CARRIER");
}

static bool no_carrier(const char *ns, const char *dev)
{
	char out[512];

	return link_show(ns, dev, out, sizeof(out)) == 0 && strstr(out, "NO-CARRIER");
}

static int ping(const char *ns, const char *addr)
{
	return h_sh("ip netns exec %s ping -c 2 -i 0.2 -W 1 %s", ns, addr);
}

static unsigned long long counter(const char *ns, const char *dev, const char *name)
{
	char out[64];

	if (h_sh_out(out, sizeof(out), "ip netns exec %s cat /sys/class/net/%s/statistics/%s", ns,
		     dev, name))
		return 0;
	return strtoull(out, NULL, 10);
}

/*
 * A test's own fixture: namespaces ns[0..n), a feth created in each
 * (dev[i], the name the loader chose), addresses 10.201.<net>.<i+1>/24 and
 * fd00:201:<net>::<i+1>/64 on them, peered dev[0]-dev[1] if asked.
 */
struct pair {
	int n;
	char ns[3][H_NAME_LEN];
	char dev[3][IFNAMSIZ];
	char v4[3][32], v6[3][48];
};

static int pair_make(struct pair *p, const char *tag, int n, int net, bool peer)
{
	char out[256], nstag[32];

	memset(p, 0, sizeof(*p));
	for (int i = 0; i < n; i++) {
		snprintf(nstag, sizeof(nstag), "%s%d", tag, i);
		if (h_ns_create(nstag, p->ns[i], sizeof(p->ns[i])))
			return -1;
		p->n = i + 1;
		if (h_ifkit(&E.l, p->ns[i], out, sizeof(out), "feth create"))
			return -1;
		out[strcspn(out, "\n")] = '\0';
		snprintf(p->dev[i], sizeof(p->dev[i]), "%s", out);
		snprintf(p->v4[i], sizeof(p->v4[i]), "10.201.%d.%d", net, i + 1);
		snprintf(p->v6[i], sizeof(p->v6[i]), "fd00:201:%d::%d", net, i + 1);
		if (h_sh("ip -n %s addr add %s/24 dev %s && "
			 "ip -n %s addr add %s/64 dev %s nodad", p->ns[i], p->v4[i], p->dev[i],
			 p->ns[i], p->v6[i], p->dev[i]))
			return -1;
	}
	if (peer && h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer %s %s", p->dev[0], p->dev[1]))
		return -1;
	return 0;
}

/* Destroy what pair_make made (also after a failure half-way). */
static void pair_free(struct pair *p)
{
	for (int i = 0; i < p->n; i++) {
		if (p->dev[i][0])
			h_ifkit(&E.l, NULL, NULL, 0, "feth destroy %s", p->dev[i]);
		h_ns_delete(p->ns[i]);
	}
	p->n = 0;
}

static void test_create_attributes(void)
{
	struct pair p = { 0 };
	char out[1024];

	CU_ASSERT_EQUAL_FATAL(h_ns_create("attr0", p.ns[0], sizeof(p.ns[0])), 0);
	CU_ASSERT_EQUAL_FATAL(h_ns_create("attr1", p.ns[1], sizeof(p.ns[1])), 0);
	p.n = 2;
	/* A chosen unit, and the first free one. */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, p.ns[0], out, sizeof(out), "feth create feth7"), 0);
	CU_ASSERT_STRING_EQUAL(out, "feth7\n");
	snprintf(p.dev[0], sizeof(p.dev[0]), "feth7");
	CU_ASSERT_EQUAL(h_ifkit(&E.l, p.ns[1], out, sizeof(out), "feth create"), 0);
	CU_ASSERT_STRING_EQUAL(out, "feth0\n");
	snprintf(p.dev[1], sizeof(p.dev[1]), "feth0");
	/* Created in the caller's namespace, nowhere else. */
	CU_ASSERT_EQUAL(link_show(p.ns[0], "feth7", out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "link/ether 66:65:74:68:00:07"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "mtu 1500"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "BROADCAST,MULTICAST"));
	CU_ASSERT_NOT_EQUAL(link_show(p.ns[1], "feth7", out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(link_show(p.ns[1], "feth0", out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "66:65:74:68:00:00"));
	CU_ASSERT_TRUE(no_carrier(p.ns[0], "feth7"));
	CU_ASSERT_TRUE(no_carrier(p.ns[1], "feth0"));
	/* Taken name -> EEXIST, exit 1, message names the device. */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, p.ns[0], out, sizeof(out), "feth create feth0"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "feth0: already exists"));
	/* After a destroy, auto-numbering gives the lowest free unit again. */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth destroy feth0"), 0);
	p.dev[1][0] = '\0';
	CU_ASSERT_EQUAL(h_ifkit(&E.l, p.ns[1], out, sizeof(out), "feth create"), 0);
	CU_ASSERT_STRING_EQUAL(out, "feth0\n");
	snprintf(p.dev[1], sizeof(p.dev[1]), "feth0");
	pair_free(&p);
}

static void test_unpeered_drops_counted(void)
{
	struct pair p;
	unsigned long long before;

	CU_ASSERT_EQUAL_FATAL(pair_make(&p, "drop", 2, 1, false), 0);
	before = counter(p.ns[0], p.dev[0], "tx_dropped");
	/* An unpeered feth drops what is sent and counts it. */
	CU_ASSERT_NOT_EQUAL(h_sh("ip netns exec %s ping -c 1 -W 1 %s", p.ns[0], p.v4[1]), 0);
	CU_ASSERT_TRUE(counter(p.ns[0], p.dev[0], "tx_dropped") > before);
	pair_free(&p);
}

static void test_peer_carrier_and_ping(void)
{
	char out[4096], needle[128];
	struct pair p;

	CU_ASSERT_EQUAL_FATAL(pair_make(&p, "peer", 2, 2, true), 0);
	CU_ASSERT_TRUE(has_carrier(p.ns[0], p.dev[0]));
	CU_ASSERT_TRUE(has_carrier(p.ns[1], p.dev[1]));
	CU_ASSERT_EQUAL(ping(p.ns[0], p.v4[1]), 0);
	CU_ASSERT_EQUAL(ping(p.ns[0], p.v6[1]), 0);
	CU_ASSERT_EQUAL(ping(p.ns[1], p.v6[0]), 0);
	/* show reports the pair from either namespace, and as JSON */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, p.ns[1], out, sizeof(out), "feth show %s", p.dev[0]), 0);
	snprintf(needle, sizeof(needle), "%s: peer %s", p.dev[0], p.dev[1]);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, needle));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "carrier on"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "status: active"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "-j feth show"), 0);
	snprintf(needle, sizeof(needle), "\"name\":\"%s\",\"ifname\":\"%s\"", p.dev[1], p.dev[1]);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, needle));
	snprintf(needle, sizeof(needle), "\"peer\":\"%s\"", p.dev[0]);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, needle));
	/* The peer table is readable with stock bpftool. */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "bpftool -j map dump pinned %s/feth_peer_table",
				 E.l.pin_dir), 0);
	snprintf(needle, sizeof(needle), "\"peer_unit\":%s", p.dev[1] + 4);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, needle));
	snprintf(needle, sizeof(needle), "\"peer_unit\":%s", p.dev[0] + 4);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, needle));
	pair_free(&p);
}

static void test_tcpdump_directions(void)
{
	const char *f0 = h_tmp("f0.txt"), *f1 = h_tmp("f1.txt");
	char out[8192];
	struct pair p;
	pid_t t0, t1;

	CU_ASSERT_EQUAL_FATAL(pair_make(&p, "dump", 2, 3, true), 0);
	t0 = h_tcpdump(p.ns[0], f0, "-i %s -Q out -c 3 icmp", p.dev[0]);
	t1 = h_tcpdump(p.ns[1], f1, "-i %s -Q in -c 3 icmp", p.dev[1]);
	CU_ASSERT_TRUE(t0 > 0 && t1 > 0);
	h_sh("ip netns exec %s ping -c 3 -i 0.2 -W 1 %s", p.ns[0], p.v4[1]);
	CU_ASSERT_EQUAL(h_wait(t0, 5000), 0);
	CU_ASSERT_EQUAL(h_wait(t1, 5000), 0);
	/* Requests leave the sender's feth and arrive on the peer. */
	h_sh_out(out, sizeof(out), "grep -c 'ICMP echo request' %s", f0);
	CU_ASSERT_EQUAL(atoi(out), 3);
	h_sh_out(out, sizeof(out), "grep -c 'ICMP echo request' %s", f1);
	CU_ASSERT_EQUAL(atoi(out), 3);
	pair_free(&p);
}

static void test_counters_move(void)
{
	unsigned long long tx0, rx1;
	struct pair p;

	CU_ASSERT_EQUAL_FATAL(pair_make(&p, "cnt", 2, 4, true), 0);
	tx0 = counter(p.ns[0], p.dev[0], "tx_packets");
	rx1 = counter(p.ns[1], p.dev[1], "rx_packets");
	CU_ASSERT_EQUAL(ping(p.ns[0], p.v4[1]), 0);
	CU_ASSERT_TRUE(counter(p.ns[0], p.dev[0], "tx_packets") >= tx0 + 2);
	CU_ASSERT_TRUE(counter(p.ns[1], p.dev[1], "rx_packets") >= rx1 + 2);
	pair_free(&p);
}

/* Send src from ns_from to addr:port in ns_to (nc), received into dst; 0 when the hashes match. */
static int transfer_checked(const char *ns_from, const char *ns_to, const char *addr, int port,
			    const char *src, const char *dst, const char *rate_limit,
			    void (*midway)(void *), void *arg)
{
	char a[128], b[128];
	pid_t srv, cli;
	int ret = -1;

	srv = h_spawn(ns_to, "exec nc -l -N %s %d > %s", addr, port, dst);
	if (srv < 0 || !h_wait_listen(ns_to, 't', port, 5000))
		return -1;
	if (rate_limit)
		cli = h_spawn(ns_from, "exec sh -c 'pv -q -L %s %s 2>/dev/null || cat %s' | "
			      "nc -N -w 10 %s %d", rate_limit, src, src, addr, port);
	else
		cli = h_spawn(ns_from, "exec nc -N -w 10 %s %d < %s", addr, port, src);
	if (midway)
		midway(arg);
	if (h_wait(cli, 30000) == 0 && h_wait(srv, 30000) == 0 &&
	    h_sh_out(a, sizeof(a), "sha256sum < %s", src) == 0 &&
	    h_sh_out(b, sizeof(b), "sha256sum < %s", dst) == 0)
		ret = strcmp(a, b) == 0 ? 0 : -1;
	return ret;
}

static void test_tcp_64mib_checksum(void)
{
	const char *src = h_tmp("src.bin"), *dst = h_tmp("dst.bin");
	struct pair p;

	CU_ASSERT_EQUAL_FATAL(pair_make(&p, "tcp", 2, 5, true), 0);
	CU_ASSERT_EQUAL(h_sh("head -c 64M /dev/urandom > %s", src), 0);
	CU_ASSERT_EQUAL(transfer_checked(p.ns[0], p.ns[1], p.v4[1], 5201, src, dst, NULL, NULL,
					 NULL), 0);
	h_sh("rm -f %s %s", src, dst);
	pair_free(&p);
}

static void test_errors(void)
{
	char out[1024], needle[128];
	struct pair p;

	CU_ASSERT_EQUAL_FATAL(pair_make(&p, "err", 3, 6, true), 0);
	h_sh("ip -n %s link add notfeth type veth peer name notfeth2", p.ns[0]);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, p.ns[0], out, sizeof(out), "feth peer %s notfeth",
				p.dev[2]), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "notfeth: not a feth device"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, p.ns[0], out, sizeof(out), "feth peer %s feth999",
				p.dev[2]), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "feth999: no such device"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth show feth999"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "feth999: no such device"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth destroy feth999"), 1);
	/* already peered -> EBUSY, naming the device and its peer */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer %s %s", p.dev[2],
				p.dev[0]), 1);
	snprintf(needle, sizeof(needle), "%s: already peered with %s", p.dev[0], p.dev[1]);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, needle));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer %s %s", p.dev[2],
				p.dev[2]), 1);
	/* MTU range */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth set %s mtu 67", p.dev[0]), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "mtu 67 out of range [68, 65535]"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth set %s mtu 65536", p.dev[0]),
			1);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth set %s mtu 9000", p.dev[0]), 0);
	CU_ASSERT_EQUAL(link_show(p.ns[0], p.dev[0], out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "mtu 9000"));
	/* media: listed words only */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth set %s media 100baseTX",
				p.dev[0]), 2);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth set %s media 10GbaseT",
				p.dev[0]), 0);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth show %s", p.dev[0]), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "media: 10GbaseT status: active"));
	/* usage errors exit 2 */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer %s", p.dev[0]), 2);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth frobnicate"), 2);
	/* non-root caller: changes -> EPERM from the loader; queries work (as `ip link show`) */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "setpriv --reuid=65534 --regid=65534 "
				 "--clear-groups %s -s %s feth create", h_bin("ifkit"), E.l.sock), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Operation not permitted"));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "setpriv --reuid=65534 --regid=65534 "
				 "--clear-groups %s -s %s feth unpeer %s", h_bin("ifkit"), E.l.sock,
				 p.dev[0]), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Operation not permitted"));
	CU_ASSERT_TRUE(has_carrier(p.ns[0], p.dev[0]));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "setpriv --reuid=65534 --regid=65534 "
				 "--clear-groups %s -s %s feth show %s", h_bin("ifkit"), E.l.sock,
				 p.dev[0]), 0);
	snprintf(needle, sizeof(needle), "%s: peer %s", p.dev[0], p.dev[1]);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, needle));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "setpriv --reuid=65534 --regid=65534 "
				 "--clear-groups %s -s %s status", h_bin("ifkit"), E.l.sock), 0);
	/* no loader -> says so and how to start it */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s -s %s feth show", h_bin("ifkit"),
				 h_tmp("nosuch.sock")), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "is ifkitd running?"));
	pair_free(&p);
}

/*
 * ifkit's private namespace holds hidden ends only: a feth (or utun) made
 * there would count frames as crossed and drop them.  Every command that
 * takes the caller's namespace refuses it.
 */
static void test_private_netns_refused(void)
{
	char out[1024];

	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.l.netns, out, sizeof(out), "feth create"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "private namespace"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.l.netns, out, sizeof(out), "feth create feth9"), 1);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.l.netns, out, sizeof(out), "iptap create"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "private namespace"));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip -n %s -o link | grep -c 'feth'",
				 E.l.netns), 1);
	CU_ASSERT_STRING_EQUAL(out, "0\n");
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth show feth9"), 1);
}

/* Garbage on the control socket gets an error answer; the loader keeps serving. */
static void test_malformed_control(void)
{
	static const size_t sizes[] = { 0, 1, 7, sizeof(struct ifkit_req) - 1,
					sizeof(struct ifkit_req), sizeof(struct ifkit_req) + 1, 4096 };
	static const __u16 bad_cmds[] = { 999, IFKIT_CMD(IFKIT_KIND_FETH, 0x7f),
					  IFKIT_CMD(IFKIT_KIND_MAX, 1), 0 };
	char buf[4096], rep[IFKIT_CTL_MAX_DGRAM], out[256];
	unsigned int seed = 1234;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) + 3; i++) {
		size_t size = i < sizeof(sizes) / sizeof(sizes[0]) ? sizes[i] :
			      sizeof(struct ifkit_req);
		int sock = ctl_connect(E.l.sock);
		ssize_t n;

		CU_ASSERT_FATAL(sock >= 0);
		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = (char)rand_r(&seed);
		if (size == sizeof(struct ifkit_req)) {
			/* right size and magic, unknown command and junk names */
			struct ifkit_req *req = (void *)buf;
			size_t which = i < sizeof(sizes) / sizeof(sizes[0]) ? 0 :
				       i - sizeof(sizes) / sizeof(sizes[0]) + 1;

			req->magic = IFKIT_CTL_MAGIC;
			req->version = IFKIT_CTL_VERSION;
			req->cmd = bad_cmds[which];
		}
		CU_ASSERT_EQUAL(ctl_send(sock, buf, size, -1), (ssize_t)size);
		n = ctl_recv(sock, rep, sizeof(rep), NULL);
		if (size == 0) {
			/* An empty datagram reads as end-of-stream: the loader hangs up. */
			CU_ASSERT_EQUAL(n, 0);
			close(sock);
			continue;
		}
		CU_ASSERT_TRUE(n >= (ssize_t)sizeof(struct ifkit_rep));
		if (n >= (ssize_t)sizeof(struct ifkit_rep)) {
			CU_ASSERT_EQUAL(ctl_rep_check(rep, (size_t)n, NULL), 0);
			CU_ASSERT_TRUE(((struct ifkit_rep *)rep)->error < 0);
		}
		close(sock);
	}
	/* a client that connects and dies without a word */
	close(ctl_connect(E.l.sock));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "status"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ifkitd"));
}

static int count_lines(const char *path, const char *needle)
{
	char out[64];

	if (h_sh_out(out, sizeof(out), "grep -c '%s' %s", needle, path) > 1)
		return -1;
	return atoi(out);
}

/*
 * Unprivileged users holding connections open cannot lock root out, and a
 * flood of refused connections is summarised in the log, not logged one
 * line each.
 */
static void test_unprivileged_flood(void)
{
	int ready[2], attempts = 0;
	char out[512], c;
	pid_t child;

	CU_ASSERT_FATAL(pipe(ready) == 0);
	child = fork();
	CU_ASSERT_FATAL(child >= 0);
	if (child == 0) {
		int opened = 0, tried = 0;

		if (setgid(65534) || setuid(65534))
			_exit(1);
		for (int i = 0; i < 64; i++)
			if (ctl_connect(E.l.sock) >= 0)
				opened++;
		/* then hammer: connect and hang up, as fast as it goes */
		for (tried = 0; tried < 20000; tried++) {
			int fd = ctl_connect(E.l.sock);

			if (fd >= 0)
				close(fd);
		}
		c = opened > 0 ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1 || write(ready[1], &tried, sizeof(tried)) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	CU_ASSERT_EQUAL(read(ready[0], &c, 1), 1);
	CU_ASSERT_EQUAL(c, 'y');
	CU_ASSERT_EQUAL(read(ready[0], &attempts, sizeof(attempts)), (ssize_t)sizeof(attempts));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "status"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ifkitd"));
	/* the cap engaged, and was logged once ... */
	CU_ASSERT_EQUAL(count_lines(E.l.log, "refusing connection from pid"), 1);
	/* ... then summarised with the count once the interval ends */
	CU_ASSERT_TRUE(h_wait_file(E.l.log, "more connections in the last", 8000));
	h_sh_out(out, sizeof(out), "grep -o 'refused [0-9]* more' %s | awk '{s += $2} END {print s}'",
		 E.l.log);
	printf("\n    %d connection attempts, %d refusals summarised, %d refusal log lines\n",
	       attempts, atoi(out), count_lines(E.l.log, "refus"));
	CU_ASSERT_TRUE(atoi(out) >= attempts / 2);
	CU_ASSERT_TRUE(count_lines(E.l.log, "refus") <= 3);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(ready[0]);
	close(ready[1]);
}

static void test_unpeer_no_carrier(void)
{
	char out[512];
	struct pair p;

	CU_ASSERT_EQUAL_FATAL(pair_make(&p, "unp", 2, 7, true), 0);
	CU_ASSERT_EQUAL(ping(p.ns[0], p.v4[1]), 0);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth unpeer %s", p.dev[0]), 0);
	CU_ASSERT_TRUE(no_carrier(p.ns[0], p.dev[0]));
	CU_ASSERT_TRUE(no_carrier(p.ns[1], p.dev[1]));
	CU_ASSERT_NOT_EQUAL(h_sh("ip netns exec %s ping -c 1 -W 1 %s", p.ns[0], p.v4[1]), 0);
	/* if_fake.c: an empty peer name unpeers too, and unpeering twice is fine */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth unpeer %s", p.dev[0]), 0);
	pair_free(&p);
}

/* ip monitor is reading once a probe change it must see shows up in its output. */
static bool monitor_ready(const char *ns, const char *dev, const char *file)
{
	bool ready = false;

	for (int i = 0; i < 50 && !ready; i++) {
		char needle[32];

		snprintf(needle, sizeof(needle), "mtu %d ", 1400 + i);
		h_sh("ip -n %s link set %s mtu %d", ns, dev, 1400 + i);
		ready = h_wait_file(file, needle, 100);
	}
	h_sh("ip -n %s link set %s mtu 1500", ns, dev);
	return ready;
}

struct more_lines {
	const char *path, *needle;
	int before;
};

static bool pred_more_lines(void *arg)
{
	struct more_lines *ml = arg;

	return count_lines(ml->path, ml->needle) > ml->before;
}

static void test_monitor_sees_carrier(void)
{
	const char *m1 = h_tmp("mon1.txt"), *m2 = h_tmp("mon2.txt");
	struct more_lines nc1 = { m1, "<NO-CARRIER,BROADCAST,MULTICAST,UP>", 0 };
	struct more_lines nc2 = { m2, "<NO-CARRIER,BROADCAST,MULTICAST,UP>", 0 };
	char out[8192];
	struct pair p;
	pid_t p1, p2;

	CU_ASSERT_EQUAL_FATAL(pair_make(&p, "mon", 2, 8, false), 0);
	/* KEV_DL_LINK_ON/OFF in Linux form: link events with LOWER_UP / NO-CARRIER */
	p1 = h_spawn(p.ns[0], "exec ip -o monitor link > %s", m1);
	p2 = h_spawn(p.ns[1], "exec ip -o monitor link > %s", m2);
	CU_ASSERT_TRUE(monitor_ready(p.ns[0], p.dev[0], m1));
	CU_ASSERT_TRUE(monitor_ready(p.ns[1], p.dev[1], m2));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer %s %s", p.dev[0],
				p.dev[1]), 0);
	/* each namespace has one feth (and lo, which does not change) */
	CU_ASSERT_TRUE(h_wait_file(m1, "<BROADCAST,MULTICAST,UP,LOWER_UP>", 3000));
	CU_ASSERT_TRUE(h_wait_file(m2, "<BROADCAST,MULTICAST,UP,LOWER_UP>", 3000));
	/* the unpeered feths said NO-CARRIER before (the probes): wait for one more line each */
	nc1.before = count_lines(m1, "<NO-CARRIER,BROADCAST,MULTICAST,UP>");
	nc2.before = count_lines(m2, "<NO-CARRIER,BROADCAST,MULTICAST,UP>");
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth unpeer %s", p.dev[0]), 0);
	CU_ASSERT_TRUE(h_wait_for(pred_more_lines, &nc1, 3000));
	CU_ASSERT_TRUE(h_wait_for(pred_more_lines, &nc2, 3000));
	h_kill(p1, SIGTERM);
	h_kill(p2, SIGTERM);
	pair_free(&p);
}

static void test_repeer_other(void)
{
	char out[512];
	struct pair p;

	CU_ASSERT_EQUAL_FATAL(pair_make(&p, "rep", 3, 9, true), 0);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth unpeer %s", p.dev[1]), 0);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer %s %s", p.dev[0],
				p.dev[2]), 0);
	CU_ASSERT_TRUE(has_carrier(p.ns[2], p.dev[2]));
	CU_ASSERT_TRUE(no_carrier(p.ns[1], p.dev[1]));
	CU_ASSERT_EQUAL(ping(p.ns[0], p.v4[2]), 0);
	CU_ASSERT_NOT_EQUAL(h_sh("ip netns exec %s ping -c 1 -W 1 %s", p.ns[0], p.v4[1]), 0);
	/* destroying one end unpeers the other */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth destroy %s", p.dev[2]), 0);
	CU_ASSERT_NOT_EQUAL(link_show(p.ns[2], p.dev[2], out, sizeof(out)), 0);
	p.dev[2][0] = '\0';
	CU_ASSERT_TRUE(no_carrier(p.ns[0], p.dev[0]));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth show %s", p.dev[0]), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "peer none"));
	pair_free(&p);
}

static void test_move_namespace(void)
{
	char out[512], ns3[H_NAME_LEN];
	struct pair p;

	CU_ASSERT_EQUAL_FATAL(pair_make(&p, "mv", 2, 10, true), 0);
	CU_ASSERT_EQUAL_FATAL(h_ns_create("mv2", ns3, sizeof(ns3)), 0);
	/* the pair follows an end into another namespace */
	CU_ASSERT_EQUAL(h_sh("ip -n %s link set %s netns %s && ip -n %s link set %s up && "
			     "ip -n %s addr add %s/24 dev %s", p.ns[1], p.dev[1], ns3, ns3,
			     p.dev[1], ns3, p.v4[1], p.dev[1]), 0);
	CU_ASSERT_EQUAL(ping(p.ns[0], p.v4[1]), 0);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth show %s", p.dev[1]), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, ns3));
	h_ns_delete(ns3);
	pair_free(&p);
}

struct ns_dev { const char *ns, *dev; };

static bool pred_no_carrier(void *arg)
{
	struct ns_dev *nd = arg;

	return no_carrier(nd->ns, nd->dev);
}

struct kill_midway {
	const char *dst;
};

static bool pred_some_arrived(void *arg)
{
	struct kill_midway *km = arg;
	struct stat st;

	return stat(km->dst, &st) == 0 && st.st_size >= 4 << 20;
}

/* Kill the loader once some of the transfer has crossed (not before it starts). */
static void kill_loader_midway(void *arg)
{
	CU_ASSERT_TRUE(h_wait_for(pred_some_arrived, arg, 10000));
	h_loader_kill(&E.l, SIGKILL);
}

static void test_loader_killed_mid_transfer(void)
{
	const char *src = h_tmp("src2.bin"), *dst = h_tmp("dst2.bin");
	struct kill_midway km = { dst };
	char out[2048], needle[64];
	struct pair p;

	CU_ASSERT_EQUAL_FATAL(pair_make(&p, "kill", 2, 11, true), 0);
	CU_ASSERT_EQUAL_FATAL(h_sh("head -c 64M /dev/urandom > %s", src), 0);
	/* rate-limited so the kill lands mid-transfer */
	CU_ASSERT_EQUAL(transfer_checked(p.ns[0], p.ns[1], p.v4[1], 5202, src, dst, "64m",
					 kill_loader_midway, &km), 0);
	/* a restarted loader adopts the pair */
	CU_ASSERT_EQUAL_FATAL(h_loader_restart(&E.l), 0);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth show %s", p.dev[0]), 0);
	snprintf(needle, sizeof(needle), "%s: peer %s", p.dev[0], p.dev[1]);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, needle));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth unpeer %s", p.dev[0]), 0);
	CU_ASSERT_TRUE(no_carrier(p.ns[0], p.dev[0]));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer %s %s", p.dev[0],
				p.dev[1]), 0);
	CU_ASSERT_EQUAL(ping(p.ns[0], p.v4[1]), 0);
	h_sh("rm -f %s %s", src, dst);
	pair_free(&p);
}

static void test_namespace_death_unpeers(void)
{
	struct pair p;
	struct ns_dev nd;
	char out[512];

	CU_ASSERT_EQUAL_FATAL(pair_make(&p, "death", 2, 12, true), 0);
	nd = (struct ns_dev){ p.ns[0], p.dev[0] };
	/* deleting ns[1] destroys its feth and unpeers the other end */
	h_ns_delete(p.ns[1]);
	CU_ASSERT_TRUE(h_wait_for(pred_no_carrier, &nd, 3000));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth show %s", p.dev[0]), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "peer none"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth show %s", p.dev[1]), 1);
	p.dev[1][0] = '\0';
	/* and the survivor can be destroyed, leaving no hidden end behind */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth destroy %s", p.dev[0]), 0);
	CU_ASSERT_NOT_EQUAL(link_show(p.ns[0], p.dev[0], out, sizeof(out)), 0);
	p.dev[0][0] = '\0';
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip -n %s -o link | grep -c hfeth", E.l.netns), 1);
	CU_ASSERT_STRING_EQUAL(out, "0\n");
	pair_free(&p);
}

/* ---------- scale ---------- */

#define SCALE_PAIRS 1000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ns_fd_of(const char *ns)
{
	char path[256];

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/*
 * 1000 pairs (2000 feths in two namespaces), created with auto-numbering and
 * peered through one control connection.  Auto-numbering must not scan every
 * unit: the last 100 creates cost about what the first 100 did.  Times are
 * printed (bench/RESULTS.md has the figures), not asserted.
 */
static void test_scale_1000_pairs(void)
{
	char ns[2][H_NAME_LEN], (*names)[IFNAMSIZ] = calloc(2 * SCALE_PAIRS, IFNAMSIZ);
	double t0, t_first100 = 0, t_last100 = 0, t_created, t_peered, t;
	struct ifkit_rep rep;
	struct ifkit_req req;
	int sock = -1, fds[2] = { -1, -1 }, created = 0, peered = 0, probe;
	char out[256];

	CU_ASSERT_FATAL(names != NULL);
	CU_ASSERT_EQUAL_FATAL(h_ns_create("scale0", ns[0], sizeof(ns[0])), 0);
	CU_ASSERT_EQUAL_FATAL(h_ns_create("scale1", ns[1], sizeof(ns[1])), 0);
	fds[0] = ns_fd_of(ns[0]);
	fds[1] = ns_fd_of(ns[1]);
	sock = ctl_connect(E.l.sock);
	CU_ASSERT_FATAL(sock >= 0 && fds[0] >= 0 && fds[1] >= 0);
	t0 = now_s();
	for (int i = 0; i < 2 * SCALE_PAIRS; i++) {
		t = now_s();
		ctl_req_init(&req, IFKIT_CMD_FETH_CREATE);
		if (ctl_call(sock, &req, fds[i % 2], &rep, NULL, NULL, NULL))
			break;
		snprintf(names[i], IFNAMSIZ, "%s", rep.name);
		created++;
		if (i < 100)
			t_first100 += now_s() - t;
		else if (i >= 2 * SCALE_PAIRS - 100)
			t_last100 += now_s() - t;
	}
	t_created = now_s();
	CU_ASSERT_EQUAL(created, 2 * SCALE_PAIRS);
	for (int i = 0; i + 1 < created; i += 2) {
		ctl_req_init(&req, IFKIT_CMD_FETH_PEER);
		snprintf(req.name, sizeof(req.name), "%s", names[i]);
		snprintf(req.peer, sizeof(req.peer), "%s", names[i + 1]);
		if (ctl_call(sock, &req, -1, &rep, NULL, NULL, NULL))
			break;
		peered++;
	}
	t_peered = now_s();
	CU_ASSERT_EQUAL(peered, SCALE_PAIRS);
	printf("\n    %d feths created in %.2f s (first 100: %.1f ms each, last 100: %.1f ms each),"
	       " %d pairs peered in %.2f s, total %.2f s\n", created, t_created - t0,
	       t_first100 * 10, t_last100 * 10, peered, t_peered - t_created, t_peered - t0);
	/* O(1)-ish allocation: no growth with the number of units in use. */
	CU_ASSERT_TRUE(t_last100 < 2 * t_first100 + 0.05);
	/* and the last pair really crosses */
	probe = created - 2;
	if (probe >= 0) {
		CU_ASSERT_EQUAL(h_sh("ip -n %s addr add 10.202.0.1/24 dev %s && "
				     "ip -n %s addr add 10.202.0.2/24 dev %s", ns[0], names[probe],
				     ns[1], names[probe + 1]), 0);
		CU_ASSERT_EQUAL(ping(ns[0], "10.202.0.2"), 0);
	}
	close(sock);
	close(fds[0]);
	close(fds[1]);
	h_ns_delete(ns[0]);
	h_ns_delete(ns[1]);
	free(names);
	/* the loader saw every feth go with its namespace */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "status"), 0);
}

/* ---------- config file ---------- */

static struct {
	struct h_loader l;
	char ns[H_NAME_LEN];
} C;

static int config_init(void)
{
	FILE *f;

	if (h_ns_create("cfg", C.ns, sizeof(C.ns)))
		return -1;
	snprintf(C.l.config, sizeof(C.l.config), "%s", h_tmp("ifkitd.conf"));
	snprintf(C.l.config_netns, sizeof(C.l.config_netns), "%s", C.ns);
	f = fopen(C.l.config, "w");
	if (!f)
		return -1;
	fputs("# devices for the config test\n"
	      "feth create feth0\n"
	      "feth create feth1   # second end\n"
	      "feth peer feth0 feth1\n"
	      "feth set feth0 mtu 9000\n"
	      "feth set feth1 media 2500baseT\n"
	      "feth explode\n", f);
	fclose(f);
	return h_loader_start(&C.l) ? -1 : 0;
}

static int config_cleanup(void)
{
	h_loader_teardown(&C.l);
	h_ns_delete(C.ns);
	return 0;
}

static void test_config_applied(void)
{
	char out[4096];

	CU_ASSERT_TRUE(has_carrier(C.ns, "feth0"));
	CU_ASSERT_TRUE(has_carrier(C.ns, "feth1"));
	CU_ASSERT_EQUAL(link_show(C.ns, "feth0", out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "mtu 9000"));
	CU_ASSERT_EQUAL(h_ifkit(&C.l, NULL, out, sizeof(out), "feth show feth1"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "media: 2500baseT status: active"));
	/* the bad line is reported with its line number, the rest still applied */
	CU_ASSERT_EQUAL(h_sh("grep -q \"ifkitd.conf:7: feth: unknown command 'explode'\" %s", C.l.log), 0);
}

static void test_config_restart_adopts(void)
{
	char out[256];

	CU_ASSERT_EQUAL_FATAL(h_loader_restart(&C.l), 0);
	/* existing devices are not errors; only the bad line is, once per start */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "grep -c 'ifkitd: error:' %s", C.l.log), 0);
	CU_ASSERT_STRING_EQUAL(out, "2\n");
	CU_ASSERT_TRUE(has_carrier(C.ns, "feth0"));
	CU_ASSERT_EQUAL(h_ifkit(&C.l, NULL, out, sizeof(out), "feth show feth0"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "feth0: peer feth1"));
}

/* -c FILE that does not exist is an error; a missing default config is not. */
static void test_config_missing(void)
{
	char out[2048], args[512];
	int pid = (int)getpid();

	snprintf(args, sizeof(args), "-s %s -p /sys/fs/bpf/ifkt%d-nocfg -n ifkt%d-nocfg",
		 h_tmp("nocfg.sock"), pid, pid);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s %s -c %s", h_bin("ifkitd"), args,
				 h_tmp("no-such.conf")), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "no-such.conf: No such file or directory"));
	h_sh("%s --teardown %s", h_bin("ifkitd"), args);
	CU_ASSERT_NOT_EQUAL(h_sh("ip netns list | grep -q ifkt%d-nocfg", pid), 0);
}

static void add_suites(void)
{
	CU_pSuite s;

	s = CU_add_suite("feth BPF_PROG_TEST_RUN", bpf_suite_init, bpf_suite_cleanup);
	CU_add_test(s, "peered frame redirects and counts", test_bpf_peered_redirects);
	CU_add_test(s, "unpeered frame drops and counts", test_bpf_unpeered_drops);
	CU_add_test(s, "frame on unknown device drops", test_bpf_unknown_device_drops);

	s = CU_add_suite("feth end to end", e2e_init, e2e_cleanup);
	CU_add_test(s, "create: name, MAC, MTU, namespace, NO-CARRIER", test_create_attributes);
	CU_add_test(s, "unpeered: dropped and counted", test_unpeered_drops_counted);
	CU_add_test(s, "peer: carrier on both, IPv4+IPv6 ping", test_peer_carrier_and_ping);
	CU_add_test(s, "tcpdump: out on one end, in on the peer", test_tcpdump_directions);
	CU_add_test(s, "ip -s link counters move on both", test_counters_move);
	CU_add_test(s, "64 MiB TCP transfer, checksum matches", test_tcp_64mib_checksum);
	CU_add_test(s, "errors: non-feth, unknown, busy, MTU, media, EPERM", test_errors);
	CU_add_test(s, "ifkit's private namespace refused", test_private_netns_refused);
	CU_add_test(s, "malformed control messages answered, loader survives",
		    test_malformed_control);
	CU_add_test(s, "unprivileged connection flood: root served, log summarised",
		    test_unprivileged_flood);
	CU_add_test(s, "unpeer: NO-CARRIER on both, no traffic", test_unpeer_no_carrier);
	CU_add_test(s, "ip monitor link sees carrier on and off", test_monitor_sees_carrier);
	CU_add_test(s, "re-peer with a third feth, destroy it", test_repeer_other);
	CU_add_test(s, "end moved to another namespace keeps crossing", test_move_namespace);
	CU_add_test(s, "loader SIGKILLed mid-transfer; restart adopts", test_loader_killed_mid_transfer);
	CU_add_test(s, "namespace death unpeers the other end", test_namespace_death_unpeers);
	CU_add_test(s, "1000 pairs: O(1) auto-numbering, all peered", test_scale_1000_pairs);

	s = CU_add_suite("ifkitd config file", config_init, config_cleanup);
	CU_add_test(s, "devices, peer, mtu, media from the config", test_config_applied);
	CU_add_test(s, "restart with the same config adopts", test_config_restart_adopts);
	CU_add_test(s, "a named config that does not exist is an error", test_config_missing);
}

int main(int argc, char **argv)
{
	return h_main(argc, argv, add_suites);
}
