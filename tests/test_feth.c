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
#include <sys/wait.h>
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

static struct {
	struct h_loader l;
	char ns1[H_NAME_LEN], ns2[H_NAME_LEN], ns3[H_NAME_LEN];
	bool ready;
} E;

static int e2e_init(void)
{
	if (h_ns_create("a", E.ns1, sizeof(E.ns1)) || h_ns_create("b", E.ns2, sizeof(E.ns2)) ||
	    h_ns_create("c", E.ns3, sizeof(E.ns3)))
		return -1;
	if (h_loader_start(&E.l))
		return -1;
	E.ready = true;
	return 0;
}

static int e2e_cleanup(void)
{
	h_loader_teardown(&E.l);
	h_ns_delete(E.ns1);
	h_ns_delete(E.ns2);
	h_ns_delete(E.ns3);
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

static void test_create_attributes(void)
{
	char out[1024];

	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "feth create"), 0);
	CU_ASSERT_STRING_EQUAL(out, "feth0\n");
	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, E.ns2, out, sizeof(out), "feth create"), 0);
	CU_ASSERT_STRING_EQUAL(out, "feth1\n");
	/* Created in the caller's namespace, nowhere else. */
	CU_ASSERT_EQUAL(link_show(E.ns1, "feth0", out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "link/ether 66:65:74:68:00:00"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "mtu 1500"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "BROADCAST,MULTICAST"));
	CU_ASSERT_NOT_EQUAL(link_show(E.ns2, "feth0", out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(link_show(E.ns2, "feth1", out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "66:65:74:68:00:01"));
	CU_ASSERT_TRUE(no_carrier(E.ns1, "feth0"));
	CU_ASSERT_TRUE(no_carrier(E.ns2, "feth1"));
	/* Taken name -> EEXIST, exit 1, message names the device. */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "feth create feth1"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "feth1: already exists"));
}

static void test_unpeered_drops_counted(void)
{
	unsigned long long before = counter(E.ns1, "feth0", "tx_dropped");

	h_sh("ip -n %s addr add 10.201.0.1/24 dev feth0", E.ns1);
	h_sh("ip -n %s addr add 10.201.0.2/24 dev feth1", E.ns2);
	/* An unpeered feth drops what is sent and counts it. */
	CU_ASSERT_NOT_EQUAL(h_sh("ip netns exec %s arping -c 1 -w 1 -I feth0 10.201.0.2 || "
				 "ip netns exec %s ping -c 1 -W 1 10.201.0.2", E.ns1, E.ns1), 0);
	CU_ASSERT_TRUE(counter(E.ns1, "feth0", "tx_dropped") > before);
}

static void test_peer_carrier_and_ping(void)
{
	char out[4096];

	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer feth0 feth1"), 0);
	CU_ASSERT_TRUE(has_carrier(E.ns1, "feth0"));
	CU_ASSERT_TRUE(has_carrier(E.ns2, "feth1"));
	CU_ASSERT_EQUAL(ping(E.ns1, "10.201.0.2"), 0);
	h_sh("ip -n %s addr add fd00:201::1/64 dev feth0 nodad", E.ns1);
	h_sh("ip -n %s addr add fd00:201::2/64 dev feth1 nodad", E.ns2);
	CU_ASSERT_EQUAL(ping(E.ns1, "fd00:201::2"), 0);
	CU_ASSERT_EQUAL(ping(E.ns2, "fd00:201::1"), 0);
	/* show reports the pair from either namespace, and as JSON */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns2, out, sizeof(out), "feth show feth0"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "feth0: peer feth1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "carrier on"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "status: active"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "-j feth show"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"name\":\"feth1\",\"ifname\":\"feth1\",\"unit\":1,"
				      "\"peer\":\"feth0\""));
	/* The peer table is readable with stock bpftool. */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "bpftool -j map dump pinned %s/feth_peer_table",
				 E.l.pin_dir), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"peer_unit\":1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"peer_unit\":0"));
}

static void test_tcpdump_directions(void)
{
	const char *f0 = h_tmp("f0.txt"), *f1 = h_tmp("f1.txt");
	char out[8192];
	pid_t t0, t1;

	t0 = h_spawn(E.ns1, "exec tcpdump -l -n -i feth0 -Q out -c 3 icmp > %s 2>/dev/null", f0);
	t1 = h_spawn(E.ns2, "exec tcpdump -l -n -i feth1 -Q in -c 3 icmp > %s 2>/dev/null", f1);
	usleep(800000);
	h_sh("ip netns exec %s ping -c 3 -i 0.2 -W 1 10.201.0.2", E.ns1);
	CU_ASSERT_EQUAL(h_wait(t0, 5000), 0);
	CU_ASSERT_EQUAL(h_wait(t1, 5000), 0);
	/* Requests leave feth0 and arrive on feth1. */
	h_sh_out(out, sizeof(out), "grep -c 'ICMP echo request' %s", f0);
	CU_ASSERT_EQUAL(atoi(out), 3);
	h_sh_out(out, sizeof(out), "grep -c 'ICMP echo request' %s", f1);
	CU_ASSERT_EQUAL(atoi(out), 3);
}

static void test_counters_move(void)
{
	unsigned long long tx0 = counter(E.ns1, "feth0", "tx_packets");
	unsigned long long rx1 = counter(E.ns2, "feth1", "rx_packets");

	CU_ASSERT_EQUAL(ping(E.ns1, "10.201.0.2"), 0);
	CU_ASSERT_TRUE(counter(E.ns1, "feth0", "tx_packets") >= tx0 + 2);
	CU_ASSERT_TRUE(counter(E.ns2, "feth1", "rx_packets") >= rx1 + 2);
}

static void test_tcp_64mib_checksum(void)
{
	const char *src = h_tmp("src.bin"), *dst = h_tmp("dst.bin");
	char a[128], b[128];
	pid_t srv;

	CU_ASSERT_EQUAL_FATAL(h_sh("head -c 64M /dev/urandom > %s", src), 0);
	srv = h_spawn(E.ns2, "exec nc -l -N 10.201.0.2 5201 > %s", dst);
	usleep(300000);
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s nc -N -w 10 10.201.0.2 5201 < %s", E.ns1, src), 0);
	CU_ASSERT_EQUAL(h_wait(srv, 20000), 0);
	h_sh_out(a, sizeof(a), "sha256sum < %s", src);
	h_sh_out(b, sizeof(b), "sha256sum < %s", dst);
	CU_ASSERT_STRING_EQUAL(a, b);
	h_sh("rm -f %s %s", src, dst);
}

static void test_errors(void)
{
	char out[1024];

	h_sh("ip -n %s link add notfeth type veth peer name notfeth2", E.ns1);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "feth peer feth0 notfeth"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "notfeth: not a feth device"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns1, out, sizeof(out), "feth peer feth0 feth9"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "feth9: no such device"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth show feth9"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "feth9: no such device"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth destroy feth9"), 1);
	/* already peered -> EBUSY */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, E.ns3, out, sizeof(out), "feth create feth2"), 0);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer feth2 feth0"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "feth0: already peered with feth1"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer feth2 feth2"), 1);
	/* MTU range */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth set feth0 mtu 67"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "mtu 67 out of range [68, 65535]"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth set feth0 mtu 65536"), 1);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth set feth0 mtu 9000"), 0);
	CU_ASSERT_EQUAL(link_show(E.ns1, "feth0", out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "mtu 9000"));
	h_ifkit(&E.l, NULL, out, sizeof(out), "feth set feth0 mtu 1500");
	/* media: listed words only */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth set feth0 media 100baseTX"), 2);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth set feth0 media 10GbaseT"), 0);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth show feth0"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "media: 10GbaseT status: active"));
	/* usage errors exit 2 */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer feth0"), 2);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth frobnicate"), 2);
	/* non-root caller: changes -> EPERM from the loader; queries work (as `ip link show`) */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "setpriv --reuid=65534 --regid=65534 "
				 "--clear-groups %s -s %s feth create", h_bin("ifkit"), E.l.sock), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Operation not permitted"));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "setpriv --reuid=65534 --regid=65534 "
				 "--clear-groups %s -s %s feth show feth0", h_bin("ifkit"), E.l.sock), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "feth0"));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "setpriv --reuid=65534 --regid=65534 "
				 "--clear-groups %s -s %s status", h_bin("ifkit"), E.l.sock), 0);
	/* no loader -> says so and how to start it */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s -s %s feth show", h_bin("ifkit"),
				 h_tmp("nosuch.sock")), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "is ifkitd running?"));
	h_sh("ip -n %s link del notfeth", E.ns1);
}

/* Garbage on the control socket gets an error answer; the loader keeps serving. */
static void test_malformed_control(void)
{
	static const size_t sizes[] = { 0, 1, 7, sizeof(struct ifkit_req) - 1,
					sizeof(struct ifkit_req), sizeof(struct ifkit_req) + 1, 4096 };
	char buf[4096], rep[IFKIT_CTL_MAX_DGRAM], out[256];
	unsigned int seed = 1234;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int sock = ctl_connect(E.l.sock);
		ssize_t n;

		CU_ASSERT_FATAL(sock >= 0);
		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = (char)rand_r(&seed);
		if (sizes[i] == sizeof(struct ifkit_req)) {
			/* right size and magic, unknown command and junk names */
			struct ifkit_req *req = (void *)buf;

			req->magic = IFKIT_CTL_MAGIC;
			req->version = IFKIT_CTL_VERSION;
			req->cmd = 999;
		}
		CU_ASSERT_EQUAL(ctl_send(sock, buf, sizes[i], -1), (ssize_t)sizes[i]);
		n = ctl_recv(sock, rep, sizeof(rep), NULL);
		if (sizes[i] == 0) {
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
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "devices: 3 feth"));
}

/* Unprivileged users holding connections open cannot lock root out. */
static void test_unprivileged_flood(void)
{
	int ready[2];
	char out[512], c;
	pid_t child;

	CU_ASSERT_FATAL(pipe(ready) == 0);
	child = fork();
	CU_ASSERT_FATAL(child >= 0);
	if (child == 0) {
		int opened = 0;

		if (setgid(65534) || setuid(65534))
			_exit(1);
		for (int i = 0; i < 64; i++)
			if (ctl_connect(E.l.sock) >= 0)
				opened++;
		c = opened > 0 ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	CU_ASSERT_EQUAL(read(ready[0], &c, 1), 1);
	CU_ASSERT_EQUAL(c, 'y');
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "status"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "devices: 3 feth"));
	/* the cap engaged: the unprivileged caller did not get 64 connections */
	CU_ASSERT_EQUAL(h_sh("grep -q 'refusing connection from pid %d: too many clients' %s",
			     (int)child, E.l.log), 0);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(ready[0]);
	close(ready[1]);
}

static void test_unpeer_no_carrier(void)
{
	char out[512];

	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth unpeer feth0"), 0);
	CU_ASSERT_TRUE(no_carrier(E.ns1, "feth0"));
	CU_ASSERT_TRUE(no_carrier(E.ns2, "feth1"));
	CU_ASSERT_NOT_EQUAL(h_sh("ip netns exec %s ping -c 1 -W 1 10.201.0.2", E.ns1), 0);
}

static void test_monitor_sees_carrier(void)
{
	const char *m1 = h_tmp("mon1.txt"), *m2 = h_tmp("mon2.txt");
	char out[8192];
	pid_t p1, p2;

	/* KEV_DL_LINK_ON/OFF in Linux form: link events with LOWER_UP / NO-CARRIER */
	p1 = h_spawn(E.ns1, "exec ip monitor link > %s", m1);
	p2 = h_spawn(E.ns2, "exec ip monitor link > %s", m2);
	usleep(300000);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer feth0 feth1"), 0);
	/* linkwatch sends at most one event per device per second */
	usleep(1200000);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth unpeer feth0"), 0);
	usleep(1200000);
	h_kill(p1, SIGTERM);
	h_kill(p2, SIGTERM);
	CU_ASSERT_EQUAL(h_sh("grep -q 'feth0.*LOWER_UP' %s", m1), 0);
	CU_ASSERT_EQUAL(h_sh("grep -q 'feth0.*NO-CARRIER' %s", m1), 0);
	CU_ASSERT_EQUAL(h_sh("grep -q 'feth1.*LOWER_UP' %s", m2), 0);
	CU_ASSERT_EQUAL(h_sh("grep -q 'feth1.*NO-CARRIER' %s", m2), 0);
}

static void test_repeer_other(void)
{
	char out[512];

	/* feth2 was created in ns3 by test_errors */
	h_sh("ip -n %s addr add 10.201.0.3/24 dev feth2", E.ns3);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer feth0 feth2"), 0);
	CU_ASSERT_TRUE(has_carrier(E.ns3, "feth2"));
	CU_ASSERT_TRUE(no_carrier(E.ns2, "feth1"));
	CU_ASSERT_EQUAL(ping(E.ns1, "10.201.0.3"), 0);
	CU_ASSERT_NOT_EQUAL(h_sh("ip netns exec %s ping -c 1 -W 1 10.201.0.2", E.ns1), 0);
	/* destroying one end unpeers the other */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth destroy feth2"), 0);
	CU_ASSERT_NOT_EQUAL(link_show(E.ns3, "feth2", out, sizeof(out)), 0);
	CU_ASSERT_TRUE(no_carrier(E.ns1, "feth0"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth show feth0"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "peer none"));
}

static void test_move_namespace(void)
{
	char out[512];

	CU_ASSERT_EQUAL_FATAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer feth0 feth1"), 0);
	/* the pair follows an end into another namespace */
	CU_ASSERT_EQUAL(h_sh("ip -n %s link set feth1 netns %s && ip -n %s link set feth1 up && "
			     "ip -n %s addr add 10.201.0.2/24 dev feth1", E.ns2, E.ns3, E.ns3,
			     E.ns3), 0);
	CU_ASSERT_EQUAL(ping(E.ns1, "10.201.0.2"), 0);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth show feth1"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, E.ns3));
}

struct ns_dev { const char *ns, *dev; };

static bool pred_no_carrier(void *arg)
{
	struct ns_dev *nd = arg;

	return no_carrier(nd->ns, nd->dev);
}

static void test_loader_killed_mid_transfer(void)
{
	const char *src = h_tmp("src2.bin"), *dst = h_tmp("dst2.bin");
	char a[128], b[128], out[2048];
	pid_t srv, cli;

	CU_ASSERT_EQUAL_FATAL(h_sh("head -c 64M /dev/urandom > %s", src), 0);
	srv = h_spawn(E.ns3, "exec nc -l -N 10.201.0.2 5202 > %s", dst);
	usleep(300000);
	/* rate-limited so the kill lands mid-transfer */
	cli = h_spawn(E.ns1, "exec sh -c 'pv -q -L 64m %s 2>/dev/null || cat %s' | "
		      "nc -N -w 10 10.201.0.2 5202", src, src);
	usleep(200000);
	h_loader_kill(&E.l, SIGKILL);
	CU_ASSERT_EQUAL(h_wait(cli, 30000), 0);
	CU_ASSERT_EQUAL(h_wait(srv, 30000), 0);
	h_sh_out(a, sizeof(a), "sha256sum < %s", src);
	h_sh_out(b, sizeof(b), "sha256sum < %s", dst);
	CU_ASSERT_STRING_EQUAL(a, b);
	/* a restarted loader adopts the pair */
	CU_ASSERT_EQUAL_FATAL(h_loader_restart(&E.l), 0);
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth show feth0"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "feth0: peer feth1"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth unpeer feth0"), 0);
	CU_ASSERT_TRUE(no_carrier(E.ns1, "feth0"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth peer feth0 feth1"), 0);
	CU_ASSERT_EQUAL(ping(E.ns1, "10.201.0.2"), 0);
	h_sh("rm -f %s %s", src, dst);
}

static void test_namespace_death_unpeers(void)
{
	struct ns_dev nd = { E.ns1, "feth0" };
	char out[512];

	/* feth1 lives in ns3 now: deleting ns3 destroys it and unpeers feth0 */
	h_ns_delete(E.ns3);
	CU_ASSERT_TRUE(h_wait_for(pred_no_carrier, &nd, 3000));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth show feth0"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "peer none"));
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth show feth1"), 1);
	/* and feth0 can be destroyed, leaving nothing in ns1 */
	CU_ASSERT_EQUAL(h_ifkit(&E.l, NULL, out, sizeof(out), "feth destroy feth0"), 0);
	CU_ASSERT_NOT_EQUAL(link_show(E.ns1, "feth0", out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip -n %s -o link | grep -c hfeth", E.l.netns), 1);
	CU_ASSERT_STRING_EQUAL(out, "0\n");
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
	      "feth mtu feth0 9000\n"
	      "feth media feth1 2500baseT\n"
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
	CU_ASSERT_EQUAL(h_sh("grep -q 'ifkitd.conf:7: unknown feth command: explode' %s", C.l.log), 0);
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
	CU_add_test(s, "tcpdump: out on feth0, in on feth1", test_tcpdump_directions);
	CU_add_test(s, "ip -s link counters move on both", test_counters_move);
	CU_add_test(s, "64 MiB TCP transfer, checksum matches", test_tcp_64mib_checksum);
	CU_add_test(s, "errors: non-feth, unknown, busy, MTU, media, EPERM", test_errors);
	CU_add_test(s, "malformed control messages answered, loader survives",
		    test_malformed_control);
	CU_add_test(s, "unprivileged connection flood does not lock root out",
		    test_unprivileged_flood);
	CU_add_test(s, "unpeer: NO-CARRIER on both, no traffic", test_unpeer_no_carrier);
	CU_add_test(s, "ip monitor link sees carrier on and off", test_monitor_sees_carrier);
	CU_add_test(s, "re-peer with feth2, destroy feth2", test_repeer_other);
	CU_add_test(s, "end moved to another namespace keeps crossing", test_move_namespace);
	CU_add_test(s, "loader SIGKILLed mid-transfer; restart adopts", test_loader_killed_mid_transfer);
	CU_add_test(s, "namespace death unpeers the other end", test_namespace_death_unpeers);

	s = CU_add_suite("ifkitd config file", config_init, config_cleanup);
	CU_add_test(s, "devices, peer, mtu, media from the config", test_config_applied);
	CU_add_test(s, "restart with the same config adopts", test_config_restart_adopts);
	CU_add_test(s, "a named config that does not exist is an error", test_config_missing);
}

int main(int argc, char **argv)
{
	return h_main(argc, argv, add_suites);
}
