// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * utun: libutun's framing and validation, the XDP program under
 * BPF_PROG_TEST_RUN, and end-to-end runs through a private loader in
 * namespaces this test creates (addresses 10.7x.0.0/24 and fd00:7x::/64 live
 * only inside them).
 *
 * The binary doubles as a helper process (argv[1] starting with "--"):
 *   --hold SOCK UNIT          open utunUNIT and sleep (killed by the test)
 *   --try-open SOCK           exit with utun_open's errno (for the non-root test)
 *   --tcp-recv ADDR PORT OUT  accept one TCP connection, write "bytes hash" to OUT
 *   --tcp-send ADDR PORT N    send N deterministic bytes, print "bytes hash"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/if_xdp.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <CUnit/CUnit.h>
#include "ctl.h"
#include "harness.h"
#include "utun_wire.h"
#include "ifkit/utun.h"
#include "utun_shm.h"
#include "utun_xdp.h"
#include "utun.skel.h"

static struct h_loader L;
static bool loader_ok;

/* ---------- packet helpers ---------- */

static uint16_t csum16(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		sum += (uint32_t)(p[0] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* IPv4 ICMP echo (type 8 request / 0 reply) from src to dst. */
static size_t mk_icmp4(uint8_t *p, const char *src, const char *dst, uint8_t type,
		       uint16_t id, uint16_t seq, size_t payload)
{
	size_t len = 20 + 8 + payload;
	uint16_t c;

	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64;
	p[9] = 1;
	inet_pton(AF_INET, src, p + 12);
	inet_pton(AF_INET, dst, p + 16);
	c = csum16(p, 20, 0);
	p[10] = (uint8_t)(c >> 8);
	p[11] = (uint8_t)c;
	p[20] = type;
	p[24] = (uint8_t)(id >> 8);
	p[25] = (uint8_t)id;
	p[26] = (uint8_t)(seq >> 8);
	p[27] = (uint8_t)seq;
	for (size_t i = 0; i < payload; i++)
		p[28 + i] = (uint8_t)i;
	c = csum16(p + 20, 8 + payload, 0);
	p[22] = (uint8_t)(c >> 8);
	p[23] = (uint8_t)c;
	return len;
}

static uint32_t pseudo6(const uint8_t *ip6, size_t l4len)
{
	uint32_t sum = 0;

	for (int i = 8; i < 40; i += 2)
		sum += (uint32_t)(ip6[i] << 8 | ip6[i + 1]);
	sum += (uint32_t)l4len;
	sum += 58;
	return sum;
}

static size_t mk_icmp6(uint8_t *p, const char *src, const char *dst, uint8_t type,
		       uint16_t id, uint16_t seq, size_t payload)
{
	size_t l4 = 8 + payload;
	uint16_t c;

	memset(p, 0, 40 + l4);
	p[0] = 0x60;
	p[4] = (uint8_t)(l4 >> 8);
	p[5] = (uint8_t)l4;
	p[6] = 58;
	p[7] = 64;
	inet_pton(AF_INET6, src, p + 8);
	inet_pton(AF_INET6, dst, p + 24);
	p[40] = type;
	p[44] = (uint8_t)(id >> 8);
	p[45] = (uint8_t)id;
	p[46] = (uint8_t)(seq >> 8);
	p[47] = (uint8_t)seq;
	for (size_t i = 0; i < payload; i++)
		p[48 + i] = (uint8_t)i;
	c = csum16(p + 40, l4, pseudo6(p, l4));
	p[42] = (uint8_t)(c >> 8);
	p[43] = (uint8_t)c;
	return 40 + l4;
}

/* Turn an echo request into its reply in place (swap addresses, fix checksum). */
static bool icmp_answer(int family, uint8_t *p, size_t len)
{
	uint8_t tmp[16];
	uint16_t c;

	if (family == AF_INET && len >= 28 && p[9] == 1 && p[20] == 8) {
		size_t ihl = (size_t)(p[0] & 15) * 4;

		memcpy(tmp, p + 12, 4);
		memcpy(p + 12, p + 16, 4);
		memcpy(p + 16, tmp, 4);
		p[ihl] = 0;
		p[ihl + 2] = p[ihl + 3] = 0;
		c = csum16(p + ihl, len - ihl, 0);
		p[ihl + 2] = (uint8_t)(c >> 8);
		p[ihl + 3] = (uint8_t)c;
		return true;
	}
	if (family == AF_INET6 && len >= 48 && p[6] == 58 && p[40] == 128) {
		memcpy(tmp, p + 8, 16);
		memcpy(p + 8, p + 24, 16);
		memcpy(p + 24, tmp, 16);
		p[40] = 129;
		p[42] = p[43] = 0;
		c = csum16(p + 40, len - 40, pseudo6(p, len - 40));
		p[42] = (uint8_t)(c >> 8);
		p[43] = (uint8_t)c;
		return true;
	}
	return false;
}

/* Wait up to ms for one packet; returns its IP length or -1. */
static ssize_t read_pkt(int fd, int *family, uint8_t *buf, size_t cap, int ms)
{
	struct pollfd pfd = { .fd = utun_pollfd(fd), .events = POLLIN };

	if (poll(&pfd, 1, ms) <= 0)
		return -1;
	return utun_read(fd, family, buf, cap);
}

/* Read until a packet matching (family, proto byte check) arrives or ms pass. */
static ssize_t read_icmp(int fd, int want_family, uint8_t want_type, uint8_t *buf, size_t cap,
			 int ms)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int family = -1, left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = ms - (int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return -1;
		n = read_pkt(fd, &family, buf, cap, left);
		if (n < 0)
			return -1;
		if (family != want_family)
			continue;
		if (family == AF_INET && n >= 28 && buf[9] == 1 && buf[20] == want_type)
			return n;
		if (family == AF_INET6 && n >= 48 && buf[6] == 58 && buf[40] == want_type)
			return n;
	}
}

/* ---------- loader helpers ---------- */

static int open_in(const char *ns, int unit, char *name)
{
	int fd, err = 0;

	if (ns && h_enter_ns(ns))
		return -1;
	fd = utun_open_at(L.sock, unit, name, IFNAMSIZ);
	if (fd < 0)
		err = errno;
	if (ns)
		h_leave_ns();
	errno = err;
	return fd;
}

/* Ask the loader for utun `name` ("" = all): 0 and the count, or -errno. */
static int query_utuns(const char *name, struct ifkit_utun_info *first, size_t *count)
{
	struct ifkit_req req;
	struct ifkit_rep rep;
	void *items = NULL;
	size_t n = 0;
	int sock = ctl_connect(L.sock), err;

	if (sock < 0)
		return sock;
	ctl_req_init(&req, IFKIT_CMD_UTUN_SHOW);
	snprintf(req.name, sizeof(req.name), "%s", name);
	err = ctl_call(sock, &req, -1, &rep, &items, &n, NULL);
	close(sock);
	if (!err && n && first)
		memcpy(first, items, sizeof(*first));
	free(items);
	*count = n;
	return err;
}

static int show_one(const char *name, struct ifkit_utun_info *out)
{
	size_t n;
	int err = query_utuns(name, out, &n);

	return err ? err : n == 1 ? 0 : -ENOENT;
}

static int count_utuns(void)
{
	size_t n;
	int err = query_utuns("", NULL, &n);

	return err ? err : (int)n;
}

static int loader_fd_count(void)
{
	char cmd[128], out[64];

	snprintf(cmd, sizeof(cmd), "ls /proc/%d/fd | wc -l", (int)L.pid);
	if (h_sh_out(out, sizeof(out), "%s", cmd))
		return -1;
	return atoi(out);
}

static long loader_rss_kb(void)
{
	char out[64];

	if (h_sh_out(out, sizeof(out), "awk '/VmRSS/{print $2}' /proc/%d/status", (int)L.pid))
		return -1;
	return atol(out);
}

static bool need_loader(void)
{
	if (!h_is_root() || !loader_ok) {
		CU_FAIL("needs root and a running loader");
		return false;
	}
	return true;
}

/* ---------- unit tests: framing and validation ---------- */

static void test_frame_header(void)
{
	uint8_t hdr[4];

	utun_frame_hdr(hdr, AF_INET);
	CU_ASSERT(hdr[0] == 0 && hdr[1] == 0 && hdr[2] == 0 && hdr[3] == 2);
	CU_ASSERT_EQUAL(utun_frame_family(hdr, 4), AF_INET);
	utun_frame_hdr(hdr, AF_INET6);
	CU_ASSERT(hdr[0] == 0 && hdr[1] == 0 && hdr[2] == 0 && hdr[3] == 10);
	CU_ASSERT_EQUAL(utun_frame_family(hdr, 4), AF_INET6);
	CU_ASSERT_EQUAL(utun_frame_family(hdr, 3), -1);
	CU_ASSERT_EQUAL(utun_frame_family(NULL, 4), -1);
	/* link header <-> family header */
	CU_ASSERT_EQUAL(utun_family_to_ethertype(AF_INET), ETH_P_IP);
	CU_ASSERT_EQUAL(utun_family_to_ethertype(AF_INET6), ETH_P_IPV6);
	CU_ASSERT_EQUAL(utun_family_to_ethertype(AF_UNIX), 0);
	CU_ASSERT_EQUAL(utun_ethertype_to_family(ETH_P_IP), AF_INET);
	CU_ASSERT_EQUAL(utun_ethertype_to_family(ETH_P_IPV6), AF_INET6);
	CU_ASSERT_EQUAL(utun_ethertype_to_family(ETH_P_ARP), -1);
	CU_ASSERT_EQUAL(utun_ethertype_to_family(0x88cc), -1);	/* LLDP */
	CU_ASSERT_STRING_EQUAL(utun_err_name(UTUN_ERR_TOO_LONG), "too_long");
	CU_ASSERT_STRING_EQUAL(utun_err_name(UTUN_ERR_MAX), "unknown");
}

static void test_validate(void)
{
	uint8_t p[2000], f[2100];
	size_t n4 = mk_icmp4(p, "10.70.0.1", "10.70.0.2", 8, 1, 1, 16);
	size_t n6;

	CU_ASSERT_EQUAL(utun_validate(AF_INET, p, n4, 1500), UTUN_ERR_NONE);
	/* too short */
	CU_ASSERT_EQUAL(utun_validate(AF_INET, p, 0, 1500), UTUN_ERR_TOO_SHORT);
	CU_ASSERT_EQUAL(utun_validate(AF_INET, p, 19, 1500), UTUN_ERR_TOO_SHORT);
	CU_ASSERT_EQUAL(utun_validate(AF_INET, NULL, 40, 1500), UTUN_ERR_TOO_SHORT);
	/* unknown family: Linux values, plus macOS's AF_INET6 (30, issue 9); 24/28 are unknown */
	CU_ASSERT_EQUAL(utun_validate(0, p, n4, 1500), UTUN_ERR_BAD_FAMILY);
	CU_ASSERT_EQUAL(utun_validate(AF_UNIX, p, n4, 1500), UTUN_ERR_BAD_FAMILY);
	CU_ASSERT_EQUAL(utun_validate(24, p, n4, 1500), UTUN_ERR_BAD_FAMILY);
	CU_ASSERT_EQUAL(utun_validate(30, p, n4, 1500), UTUN_ERR_MISMATCH);	/* IPv6 family, IPv4 packet */
	/* family / version mismatch */
	CU_ASSERT_EQUAL(utun_validate(AF_INET6, p, n4 < 40 ? 40 : n4, 1500), UTUN_ERR_MISMATCH);
	p[0] = 0x55;
	CU_ASSERT_EQUAL(utun_validate(AF_INET, p, n4, 1500), UTUN_ERR_MISMATCH);
	p[0] = 0x45;
	/* longer than the MTU */
	CU_ASSERT_EQUAL(utun_validate(AF_INET, p, n4, (unsigned int)n4 - 1), UTUN_ERR_TOO_LONG);
	CU_ASSERT_EQUAL(utun_validate(AF_INET, p, n4, (unsigned int)n4), UTUN_ERR_NONE);
	/* the header's own lengths */
	p[0] = 0x44;	/* IHL 16 bytes */
	CU_ASSERT_EQUAL(utun_validate(AF_INET, p, n4, 1500), UTUN_ERR_BAD_LENGTH);
	p[0] = 0x45;
	CU_ASSERT_EQUAL(utun_validate(AF_INET, p, n4 - 1, 1500), UTUN_ERR_BAD_LENGTH);
	/* bytes past the total length: the docs call that bad_length too */
	CU_ASSERT_EQUAL(utun_validate(AF_INET, p, n4 + 1, 1500), UTUN_ERR_BAD_LENGTH);
	CU_ASSERT_EQUAL(utun_validate(AF_INET, p, n4 + 100, 1500), UTUN_ERR_BAD_LENGTH);
	/* IPv6 */
	n6 = mk_icmp6(p, "fd00:70::1", "fd00:70::2", 128, 1, 1, 16);
	CU_ASSERT_EQUAL(utun_validate(AF_INET6, p, n6, 1500), UTUN_ERR_NONE);
	CU_ASSERT_EQUAL(utun_validate(AF_INET6, p, 39, 1500), UTUN_ERR_TOO_SHORT);
	CU_ASSERT_EQUAL(utun_validate(AF_INET, p, n6, 1500), UTUN_ERR_MISMATCH);
	CU_ASSERT_EQUAL(utun_validate(AF_INET6, p, n6 - 1, 1500), UTUN_ERR_BAD_LENGTH);
	CU_ASSERT_EQUAL(utun_validate(AF_INET6, p, n6 + 1, 1500), UTUN_ERR_BAD_LENGTH);
	CU_ASSERT_EQUAL(utun_validate(AF_INET6, p, n6, (unsigned int)n6 - 1), UTUN_ERR_TOO_LONG);
	/* framed */
	utun_frame_hdr(f, AF_INET6);
	memcpy(f + 4, p, n6);
	CU_ASSERT_EQUAL(utun_validate_frame(f, n6 + 4, 1500), UTUN_ERR_NONE);
	CU_ASSERT_EQUAL(utun_validate_frame(f, 3, 1500), UTUN_ERR_TOO_SHORT);
	CU_ASSERT_EQUAL(utun_validate_frame(f, 4, 1500), UTUN_ERR_TOO_SHORT);
	utun_frame_hdr(f, AF_INET);
	CU_ASSERT_EQUAL(utun_validate_frame(f, n6 + 4, 1500), UTUN_ERR_MISMATCH);
	utun_frame_hdr(f, 24);
	CU_ASSERT_EQUAL(utun_validate_frame(f, n6 + 4, 1500), UTUN_ERR_BAD_FAMILY);
}

/* utun_write refuses a bad packet with EINVAL and sends nothing. */
static void test_utun_write_refuses(void)
{
	uint8_t p[200], buf[300];
	int sv[2];
	size_t n4 = mk_icmp4(p, "10.70.0.1", "10.70.0.2", 8, 1, 1, 16);
	struct utun_pkt pk;

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	/* libutun asks a loader which utun an unknown descriptor is: none here */
	setenv("IFKIT_SOCKET", h_tmp("no-loader.sock"), 1);
	errno = 0;
	CU_ASSERT_EQUAL(utun_write(sv[0], AF_INET6, p, n4), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(utun_write(sv[0], AF_INET, p, 10), -1);
	CU_ASSERT_EQUAL(utun_write(sv[0], 77, p, n4), -1);
	CU_ASSERT_EQUAL(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);	/* nothing sent */
	CU_ASSERT_EQUAL(utun_write(sv[0], AF_INET, p, n4), (ssize_t)n4);
	CU_ASSERT_EQUAL(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), (ssize_t)n4 + 4);
	CU_ASSERT_EQUAL(utun_frame_family(buf, 4), AF_INET);
	CU_ASSERT_EQUAL(memcmp(buf + 4, p, n4), 0);
	/* batch API round trip */
	utun_frame_hdr(buf, AF_INET);
	memcpy(buf + 4, p, n4);
	pk.buf = buf;
	pk.len = n4 + 4;
	CU_ASSERT_EQUAL(utun_send_batch(sv[0], &pk, 1, 0), 1);
	/* a batch stops at the first bad packet: [good, bad] -> 1, [bad] -> EINVAL */
	{
		struct utun_pkt two[2] = { pk, { .buf = buf, .len = n4 + 5 } };

		CU_ASSERT_EQUAL(utun_send_batch(sv[0], two, 2, 0), 1);
		errno = 0;
		CU_ASSERT_EQUAL(utun_send_batch(sv[0], two + 1, 1, 0), -1);
		CU_ASSERT_EQUAL(errno, EINVAL);
		CU_ASSERT_EQUAL(recv(sv[1], p, sizeof(p), MSG_DONTWAIT), (ssize_t)n4 + 4);
	}
	memset(p, 0, sizeof(p));
	pk.buf = p;
	pk.cap = sizeof(p);
	CU_ASSERT_EQUAL(utun_recv_batch(sv[1], &pk, 1, MSG_DONTWAIT), 1);
	CU_ASSERT_EQUAL(pk.len, n4 + 4);
	CU_ASSERT_EQUAL(memcmp(p, buf, n4 + 4), 0);
	/* bad descriptors / arguments */
	CU_ASSERT_EQUAL(utun_get_flags(-1, (uint32_t[1]){ 0 }), -1);
	CU_ASSERT_EQUAL(utun_set_flags(sv[0], 0x80), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(utun_open_at("/nonexistent/ifkitd.sock", 4096, NULL, 0), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	close(sv[0]);
	close(sv[1]);
}

static void test_no_loader(void)
{
	char name[IFNAMSIZ];

	errno = 0;
	CU_ASSERT_EQUAL(utun_open_at(h_tmp("no-such-loader.sock"), -1, name, sizeof(name)), -1);
	CU_ASSERT_EQUAL(errno, ECONNREFUSED);
}

/* ---------- BPF_PROG_TEST_RUN of the XDP program ---------- */

static int run_xdp(int prog_fd, const void *frame, size_t len, __u32 *retval)
{
	uint8_t out[256];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
	int err = bpf_prog_test_run_opts(prog_fd, &opts);

	*retval = opts.retval;
	return err;
}

static void test_xdp_verdicts(void)
{
	struct utun_bpf *skel;
	uint8_t frame[128];
	struct utun_port port = { .unit = 5, .flags = 0 };
	struct utun_xdp_stat *st;
	__u32 lo = 1, unit = 5, ret = 0;
	int xsk, prog, ncpu = libbpf_num_possible_cpus();
	uint64_t redirected = 0, non_ip = 0, no_out = 0;

	if (!h_is_root()) {
		CU_FAIL("needs root");
		return;
	}
	skel = utun_bpf__open();
	CU_ASSERT_FATAL(skel != NULL);
	/* Never pin into the real /sys/fs/bpf. */
	bpf_map__set_pin_path(skel->maps.utun_ports, NULL);
	bpf_map__set_pin_path(skel->maps.utun_xsks, NULL);
	bpf_map__set_pin_path(skel->maps.utun_stats, NULL);
	bpf_map__set_pin_path(skel->maps.utun_registry, NULL);
	CU_ASSERT_FATAL(utun_bpf__load(skel) == 0);
	prog = bpf_program__fd(skel->progs.utun_xdp);

	/* IPv4 frame on an ifindex that is no utun: dropped. */
	memset(frame, 0, sizeof(frame));
	frame[12] = 0x08;
	frame[13] = 0x00;
	mk_icmp4(frame + 14, "10.70.0.1", "10.70.0.2", 8, 1, 1, 16);
	CU_ASSERT_EQUAL(run_xdp(prog, frame, 14 + 44, &ret), 0);
	CU_ASSERT_EQUAL(ret, XDP_DROP);

	/* test runs see the loopback device (ifindex 1) as ingress. */
	CU_ASSERT_FATAL(bpf_map_update_elem(bpf_map__fd(skel->maps.utun_ports), &lo, &port, 0) == 0);
	/* Port known but no socket for the unit: dropped. */
	CU_ASSERT_EQUAL(run_xdp(prog, frame, 14 + 44, &ret), 0);
	CU_ASSERT_EQUAL(ret, XDP_DROP);

	xsk = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(xsk >= 0);
	CU_ASSERT_FATAL(bpf_map_update_elem(bpf_map__fd(skel->maps.utun_xsks), &unit, &xsk, 0) == 0);
	CU_ASSERT_EQUAL(run_xdp(prog, frame, 14 + 44, &ret), 0);
	CU_ASSERT_EQUAL(ret, XDP_REDIRECT);

	/* IPv6 */
	frame[12] = 0x86;
	frame[13] = 0xdd;
	mk_icmp6(frame + 14, "fd00:70::1", "fd00:70::2", 128, 1, 1, 16);
	CU_ASSERT_EQUAL(run_xdp(prog, frame, 14 + 64, &ret), 0);
	CU_ASSERT_EQUAL(ret, XDP_REDIRECT);

	/* ARP and LLDP never reach the client. */
	frame[12] = 0x08;
	frame[13] = 0x06;
	CU_ASSERT_EQUAL(run_xdp(prog, frame, 14 + 28, &ret), 0);
	CU_ASSERT_EQUAL(ret, XDP_DROP);
	frame[12] = 0x88;
	frame[13] = 0xcc;
	CU_ASSERT_EQUAL(run_xdp(prog, frame, 60, &ret), 0);
	CU_ASSERT_EQUAL(ret, XDP_DROP);

	/* NO_OUTPUT drops IP too. */
	port.flags = UTUN_FLAGS_NO_OUTPUT;
	CU_ASSERT_FATAL(bpf_map_update_elem(bpf_map__fd(skel->maps.utun_ports), &lo, &port, 0) == 0);
	frame[12] = 0x08;
	frame[13] = 0x00;
	CU_ASSERT_EQUAL(run_xdp(prog, frame, 14 + 44, &ret), 0);
	CU_ASSERT_EQUAL(ret, XDP_DROP);

	st = calloc((size_t)ncpu, sizeof(*st));
	CU_ASSERT_FATAL(st != NULL);
	CU_ASSERT_EQUAL(bpf_map_lookup_elem(bpf_map__fd(skel->maps.utun_stats), &unit, st), 0);
	for (int i = 0; i < ncpu; i++) {
		redirected += st[i].redirected;
		non_ip += st[i].non_ip_drops;
		no_out += st[i].no_output_drops;
	}
	CU_ASSERT_EQUAL(redirected, 2);
	CU_ASSERT_EQUAL(non_ip, 2);
	CU_ASSERT_EQUAL(no_out, 1);
	free(st);
	close(xsk);
	utun_bpf__destroy(skel);
}

/* ---------- control messages ---------- */

static void test_ctl_malformed(void)
{
	struct ifkit_req req;
	struct ifkit_rep rep;
	char buf[512];
	int sock, fd = -1;

	if (!need_loader())
		return;
	/* Wrong size and bad magic: an error answer, the loader stays up. */
	sock = ctl_connect(L.sock);
	CU_ASSERT_FATAL(sock >= 0);
	CU_ASSERT(ctl_send(sock, "garbage", 7, -1) == 7);
	CU_ASSERT(ctl_recv(sock, buf, sizeof(buf), &fd) >= (ssize_t)sizeof(rep));
	memcpy(&rep, buf, sizeof(rep));
	CU_ASSERT_EQUAL(rep.error, -EBADMSG);
	close(sock);
	sock = ctl_connect(L.sock);
	ctl_req_init(&req, IFKIT_CMD_UTUN_OPEN);
	req.magic = 0xdeadbeef;
	CU_ASSERT_EQUAL(ctl_call(sock, &req, -1, &rep, NULL, NULL, &fd), -EPROTO);
	close(sock);
	/* Bad flags, unit out of range, unknown utun. */
	sock = ctl_connect(L.sock);
	ctl_req_init(&req, IFKIT_CMD_UTUN_OPEN);
	req.value = 0x100;
	CU_ASSERT_EQUAL(ctl_call(sock, &req, -1, &rep, NULL, NULL, &fd), -EINVAL);
	CU_ASSERT_EQUAL(fd, -1);
	close(sock);
	sock = ctl_connect(L.sock);
	ctl_req_init(&req, IFKIT_CMD_UTUN_OPEN);
	req.unit = 4096;
	CU_ASSERT_EQUAL(ctl_call(sock, &req, -1, &rep, NULL, NULL, &fd), -EINVAL);
	close(sock);
	sock = ctl_connect(L.sock);
	ctl_req_init(&req, IFKIT_CMD_UTUN_SET_FLAGS);
	snprintf(req.name, sizeof(req.name), "utun4000");
	CU_ASSERT_EQUAL(ctl_call(sock, &req, -1, &rep, NULL, NULL, NULL), -ENODEV);
	close(sock);
	/* A descriptor that is no utun. */
	{
		int sv[2];
		uint32_t flags;

		socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
		setenv("IFKIT_SOCKET", L.sock, 1);
		CU_ASSERT_EQUAL(utun_get_flags(sv[0], &flags), -1);
		CU_ASSERT_EQUAL(errno, EBADF);
		close(sv[0]);
		close(sv[1]);
	}
	CU_ASSERT_EQUAL(count_utuns(), 0);
}

/* ---------- end to end ---------- */

/* Answer echo requests on fd until ping (pid) exits or ms pass. */
static int answer_pings(int fd, pid_t ping, int ms, int *status)
{
	static uint8_t buf[65536];
	int answered = 0, st;

	*status = -1;
	for (int waited = 0; waited < ms; waited += 50) {
		struct pollfd pfd = { .fd = utun_pollfd(fd), .events = POLLIN };

		if (poll(&pfd, 1, 50) > 0) {
			int family = -1;
			ssize_t n = utun_read(fd, &family, buf, sizeof(buf));

			if (n > 0 && icmp_answer(family, buf, (size_t)n) &&
			    utun_write(fd, family, buf, (size_t)n) == n)
				answered++;
		}
		if (waitpid(ping, &st, WNOHANG) == ping) {
			*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			break;
		}
	}
	return answered;
}

static void test_echo_v4_v6(void)
{
	char ns[H_NAME_LEN], name[IFNAMSIZ];
	struct ifkit_utun_info info;
	pid_t ping;
	int fd, answered, st;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("echo", ns, sizeof(ns)) == 0);
	fd = open_in(ns, -1, name);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(strncmp(name, "utun", 4), 0);
	/* the device: up, NOARP, MTU 1500, tx checksumming off, no link-local */
	CU_ASSERT_EQUAL(h_sh("ip -n %s link show %s | grep -q 'NOARP,UP.*mtu 1500'", ns, name), 0);
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ethtool -k %s | grep -q '^tx-checksumming: off'",
			     ns, name), 0);
	CU_ASSERT_EQUAL(h_sh("ip -n %s -6 addr show dev %s | grep -q fe80", ns, name), 1);
	CU_ASSERT_EQUAL(h_sh("ip -n %s addr add 10.71.0.1 peer 10.71.0.2 dev %s && "
			     "ip -n %s -6 addr add fd00:71::1 peer fd00:71::2 dev %s nodad",
			     ns, name, ns, name), 0);

	ping = h_spawn(ns, "exec ping -c 3 -i 0.2 -W 2 10.71.0.2");
	CU_ASSERT_FATAL(ping > 0);
	answered = answer_pings(fd, ping, 5000, &st);
	if (st < 0)
		h_kill(ping, SIGKILL);
	CU_ASSERT_EQUAL(answered, 3);
	CU_ASSERT_EQUAL(st, 0);

	ping = h_spawn(ns, "exec ping -6 -c 3 -i 0.2 -W 2 fd00:71::2");
	CU_ASSERT_FATAL(ping > 0);
	answered = answer_pings(fd, ping, 5000, &st);
	if (st < 0)
		h_kill(ping, SIGKILL);
	CU_ASSERT_EQUAL(answered, 3);
	CU_ASSERT_EQUAL(st, 0);

	CU_ASSERT_EQUAL(show_one(name, &info), 0);
	CU_ASSERT(info.out_packets >= 6);
	CU_ASSERT(info.in_packets >= 6);
	CU_ASSERT_EQUAL(info.in_drops, 0);
	CU_ASSERT_EQUAL(info.owner_pid, (uint32_t)getpid());
	CU_ASSERT_EQUAL(info.mtu, 1500);
	close(fd);
	{
		struct h_link lw = { ns, name };

		CU_ASSERT(h_wait_for(h_link_gone, &lw, 1000));
	}
	h_ns_delete(ns);
}

/* Write an echo request to the stack's own address and wait for its reply. */
static bool ping_stack(int fd, int family, uint16_t seq)
{
	uint8_t p[256];
	size_t n = family == AF_INET ?
		mk_icmp4(p, "10.72.0.2", "10.72.0.1", 8, 0x77, seq, 24) :
		mk_icmp6(p, "fd00:72::2", "fd00:72::1", 128, 0x77, seq, 24);

	if (utun_write(fd, family, p, n) != (ssize_t)n)
		return false;
	return read_icmp(fd, family, family == AF_INET ? 0 : 129, p, sizeof(p), 800) > 0;
}

static void test_flags_and_malformed(void)
{
	char ns[H_NAME_LEN], name[IFNAMSIZ];
	struct ifkit_utun_info info;
	uint8_t p[4000], garbage[64];
	uint32_t flags = 77;
	int fd;

	if (!need_loader())
		return;
	setenv("IFKIT_SOCKET", L.sock, 1);
	CU_ASSERT_FATAL(h_ns_create("flags", ns, sizeof(ns)) == 0);
	fd = open_in(ns, -1, name);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(h_sh("ip -n %s addr add 10.72.0.1 peer 10.72.0.2 dev %s && "
			     "ip -n %s -6 addr add fd00:72::1 peer fd00:72::2 dev %s nodad",
			     ns, name, ns, name), 0);
	{
		char got[IFNAMSIZ];

		CU_ASSERT_EQUAL(utun_get_ifname(fd, got, sizeof(got)), 0);
		CU_ASSERT_STRING_EQUAL(got, name);
	}
	CU_ASSERT_EQUAL(utun_get_flags(fd, &flags), 0);
	CU_ASSERT_EQUAL(flags, 0);
	CU_ASSERT(ping_stack(fd, AF_INET, 1));
	CU_ASSERT(ping_stack(fd, AF_INET6, 2));

	/* NO_INPUT: what we write is dropped, so no reply comes back. */
	CU_ASSERT_EQUAL(utun_set_flags(fd, UTUN_FLAGS_NO_INPUT), 0);
	CU_ASSERT_EQUAL(utun_get_flags(fd, &flags), 0);
	CU_ASSERT_EQUAL(flags, UTUN_FLAGS_NO_INPUT);
	CU_ASSERT_FALSE(ping_stack(fd, AF_INET, 3));
	CU_ASSERT_EQUAL(show_one(name, &info), 0);
	CU_ASSERT_EQUAL(info.errors[UTUN_ERR_NO_INPUT], 1);
	CU_ASSERT_EQUAL(info.flags, UTUN_FLAGS_NO_INPUT);

	/* NO_OUTPUT: the stack's packets never reach us. */
	CU_ASSERT_EQUAL(utun_set_flags(fd, UTUN_FLAGS_NO_OUTPUT), 0);
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ping -c 2 -i 0.2 -W 1 10.72.0.2", ns), 1);
	CU_ASSERT(read_icmp(fd, AF_INET, 8, p, sizeof(p), 300) < 0);
	CU_ASSERT_EQUAL(show_one(name, &info), 0);
	CU_ASSERT(info.out_drops >= 2);
	/* and replies to our requests are not delivered either */
	CU_ASSERT_FALSE(ping_stack(fd, AF_INET, 4));

	CU_ASSERT_EQUAL(utun_set_flags(fd, 0), 0);
	CU_ASSERT(ping_stack(fd, AF_INET, 5));

	/* Malformed raw writes: each counted by cause, none reaches the stack. */
	CU_ASSERT_EQUAL(show_one(name, &info), 0);
	{
		uint64_t before[UTUN_STAT_CAUSES];
		size_t n4;

		memcpy(before, info.errors, sizeof(before));
		memset(garbage, 0x45, sizeof(garbage));
		CU_ASSERT(write(fd, garbage, 2) == 2);			/* too short */
		CU_ASSERT(write(fd, garbage, 0) == 0);			/* empty */
		utun_frame_hdr(p, 99);
		n4 = mk_icmp4(p + 4, "10.72.0.2", "10.72.0.1", 8, 0x77, 9, 24);
		CU_ASSERT(write(fd, p, n4 + 4) == (ssize_t)n4 + 4);	/* unknown family */
		utun_frame_hdr(p, AF_INET6);
		CU_ASSERT(write(fd, p, n4 + 4) == (ssize_t)n4 + 4);	/* mismatch */
		utun_frame_hdr(p, AF_INET);
		n4 = mk_icmp4(p + 4, "10.72.0.2", "10.72.0.1", 8, 0x77, 10, 1600);
		CU_ASSERT(write(fd, p, n4 + 4) == (ssize_t)n4 + 4);	/* > MTU 1500 */
		n4 = mk_icmp4(p + 4, "10.72.0.2", "10.72.0.1", 8, 0x77, 11, 24);
		p[4 + 3] += 8;						/* tot_len too big */
		CU_ASSERT(write(fd, p, n4 + 4) == (ssize_t)n4 + 4);
		/* nothing of that got an answer */
		CU_ASSERT(read_icmp(fd, AF_INET, 0, p, sizeof(p), 300) < 0);
		CU_ASSERT_EQUAL(show_one(name, &info), 0);
		CU_ASSERT_EQUAL(info.errors[UTUN_ERR_TOO_SHORT] - before[UTUN_ERR_TOO_SHORT], 2);
		CU_ASSERT_EQUAL(info.errors[UTUN_ERR_BAD_FAMILY] - before[UTUN_ERR_BAD_FAMILY], 1);
		CU_ASSERT_EQUAL(info.errors[UTUN_ERR_MISMATCH] - before[UTUN_ERR_MISMATCH], 1);
		CU_ASSERT_EQUAL(info.errors[UTUN_ERR_TOO_LONG] - before[UTUN_ERR_TOO_LONG], 1);
		CU_ASSERT_EQUAL(info.errors[UTUN_ERR_BAD_LENGTH] - before[UTUN_ERR_BAD_LENGTH], 1);
		/* MTU changes are seen: 1400 now refuses a 1450-byte packet */
		CU_ASSERT_EQUAL(h_sh("ip -n %s link set %s mtu 1400", ns, name), 0);
		/* show reads the MTU of now (the relay also re-reads it every 200 ms of traffic) */
		CU_ASSERT_EQUAL(show_one(name, &info), 0);
		CU_ASSERT_EQUAL(info.mtu, 1400);
		n4 = mk_icmp4(p + 4, "10.72.0.2", "10.72.0.1", 8, 0x77, 12, 1450 - 28);
		utun_frame_hdr(p, AF_INET);
		CU_ASSERT(write(fd, p, n4 + 4) == (ssize_t)n4 + 4);
		CU_ASSERT(read_icmp(fd, AF_INET, 0, p, sizeof(p), 300) < 0);
		CU_ASSERT_EQUAL(show_one(name, &info), 0);
		CU_ASSERT_EQUAL(info.errors[UTUN_ERR_TOO_LONG] - before[UTUN_ERR_TOO_LONG], 2);
		CU_ASSERT_EQUAL(info.mtu, 1400);
	}
	/* and the tunnel still works */
	CU_ASSERT(ping_stack(fd, AF_INET, 13));
	CU_ASSERT(ping_stack(fd, AF_INET6, 14));
	/* the CLI sets the same flags by name */
	{
		char out[512];

		CU_ASSERT_EQUAL(h_ifkit(&L, NULL, out, sizeof(out), "utun set %s flags no_input,no_output",
					name), 0);
		CU_ASSERT_EQUAL(utun_get_flags(fd, &flags), 0);
		CU_ASSERT_EQUAL(flags, UTUN_FLAGS_NO_INPUT | UTUN_FLAGS_NO_OUTPUT);
		CU_ASSERT_FALSE(ping_stack(fd, AF_INET, 15));
		CU_ASSERT_EQUAL(h_ifkit(&L, NULL, out, sizeof(out), "utun set %s flags none", name), 0);
		CU_ASSERT(ping_stack(fd, AF_INET, 16));
		CU_ASSERT_EQUAL(h_ifkit(&L, NULL, out, sizeof(out), "utun set %s flags bogus", name), 2);
		CU_ASSERT_EQUAL(h_ifkit(&L, NULL, out, sizeof(out), "utun set utun4001 flags none"), 1);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "no such utun"));
		CU_ASSERT_EQUAL(h_ifkit(&L, NULL, out, sizeof(out), "utun show %s -j", name), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"no_input\":false"));
	}
	close(fd);
	h_ns_delete(ns);
}

/* Sum of the causes that count stack -> client drops (out_drops must equal it). */
static uint64_t out_cause_sum(const struct ifkit_utun_info *info)
{
	return info->errors[UTUN_ERR_QUEUE_FULL] + info->errors[UTUN_ERR_RING_FULL] +
	       info->errors[UTUN_ERR_NO_OUTPUT] + info->errors[UTUN_ERR_DEV_DROP];
}

/* Read everything queued for fd until nothing came for quiet_ms. */
static uint64_t drain(int fd, int quiet_ms)
{
	struct utun_pkt pk[64];
	static uint8_t bufs[64][2048];
	uint64_t got = 0;

	for (int i = 0; i < 64; i++)
		pk[i] = (struct utun_pkt){ .buf = bufs[i], .cap = sizeof(bufs[i]) };
	for (;;) {
		struct pollfd pfd = { .fd = utun_pollfd(fd), .events = POLLIN };
		int n;

		if (poll(&pfd, 1, quiet_ms) <= 0)
			break;
		n = utun_recv_batch(fd, pk, 64, MSG_DONTWAIT);
		if (n <= 0 && !(n < 0 && errno == EAGAIN))
			break;
		if (n > 0)
			got += (uint64_t)n;
	}
	return got;
}

/*
 * A client that does not read while 20 000 datagrams are sent at it: its
 * own queue (socket path) or AF_XDP ring (fast path) overflows, every lost
 * packet is counted by cause, and sent == delivered + drops exactly; another
 * utun keeps answering meanwhile.
 */
static void slow_reader(bool fast)
{
	char ns[H_NAME_LEN], na[IFNAMSIZ], nb[IFNAMSIZ];
	struct ifkit_utun_info info;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
	static uint8_t payload[1000];
	int fa, fb, udp, one = 1;
	uint64_t sent = 0, read_n, prev = ~0ULL;

	if (!need_loader())
		return;
	setenv("IFKIT_SOCKET", L.sock, 1);
	CU_ASSERT_FATAL(h_ns_create(fast ? "slowf" : "slow", ns, sizeof(ns)) == 0);
	fa = open_in(ns, -1, na);
	fb = open_in(ns, -1, nb);
	CU_ASSERT_FATAL(fa >= 0 && fb >= 0);
	if (fast)
		CU_ASSERT_EQUAL_FATAL(utun_enable_fastpath(fa), 0);
	CU_ASSERT_EQUAL(h_sh("ip -n %s addr add 10.76.0.1 peer 10.76.0.2 dev %s && "
			     "ip -n %s addr add 10.72.0.1 peer 10.72.0.2 dev %s", ns, na, ns, nb), 0);
	CU_ASSERT_FATAL(h_enter_ns(ns) == 0);
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	h_leave_ns();
	CU_ASSERT_FATAL(udp >= 0);
	/* a local drop must come back as an error, not as a datagram "sent" */
	setsockopt(udp, SOL_IP, IP_RECVERR, &one, sizeof(one));
	inet_pton(AF_INET, "10.76.0.2", &to.sin_addr);
	for (int i = 0; i < 20000; i++) {
		if (sendto(udp, payload, sizeof(payload), 0, (void *)&to, sizeof(to)) > 0)
			sent++;
		if (i % 2000 == 0)
			CU_ASSERT(ping_stack(fb, AF_INET, (uint16_t)i));	/* B keeps working */
	}
	close(udp);
	CU_ASSERT(ping_stack(fb, AF_INET, 1));
	read_n = drain(fa, 300);
	/* the counters settle once the last packet left the device queues */
	for (int tries = 0; tries < 50; tries++) {
		CU_ASSERT_EQUAL_FATAL(show_one(na, &info), 0);
		if (info.out_packets + info.out_drops == prev)
			break;
		prev = info.out_packets + info.out_drops;
		usleep(20000);
	}
	printf("\n    %s: sent %llu, read %llu, delivered %llu, drops %llu "
	       "(queue_full %llu ring_full %llu dev_drop %llu)\n", fast ? "fast path" : "socket path",
	       (unsigned long long)sent, (unsigned long long)read_n,
	       (unsigned long long)info.out_packets, (unsigned long long)info.out_drops,
	       (unsigned long long)info.errors[UTUN_ERR_QUEUE_FULL],
	       (unsigned long long)info.errors[UTUN_ERR_RING_FULL],
	       (unsigned long long)info.errors[UTUN_ERR_DEV_DROP]);
	CU_ASSERT(info.out_drops > 0);
	CU_ASSERT_EQUAL(read_n, info.out_packets);
	CU_ASSERT_EQUAL(sent, info.out_packets + info.out_drops);
	CU_ASSERT_EQUAL(info.out_drops, out_cause_sum(&info));

	/*
	 * The other way: 20 000 packets as fast as utun_send_batch takes them;
	 * every one it counted as sent reached utunN's input or is an in drop.
	 */
	{
		static uint8_t frames[64][4 + 128];
		struct utun_pkt pk[64];
		uint64_t taken = 0, rx0, rx1, prev_in = ~0ULL;
		char out[64];

		CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip -n %s -s -j link show %s | "
					 "jq '.[0].stats64.rx.packets'", ns, na), 0);
		rx0 = strtoull(out, NULL, 10);
		CU_ASSERT_EQUAL_FATAL(show_one(na, &info), 0);
		{
			uint64_t in0 = info.in_packets, drops0 = info.in_drops;

			for (int i = 0; i < 64; i++) {
				size_t n = mk_icmp4(frames[i] + 4, "10.76.0.2", "10.76.0.1", 8, 0x79,
						    (uint16_t)i, 100);

				utun_frame_hdr(frames[i], AF_INET);
				pk[i] = (struct utun_pkt){ .buf = frames[i], .len = n + 4 };
			}
			for (int round = 0; round < 20000 / 64; round++) {
				int k = utun_send_batch(fa, pk, 64, 0);

				if (k > 0)
					taken += (uint64_t)k;
			}
			for (int tries = 0; tries < 100; tries++) {
				CU_ASSERT_EQUAL_FATAL(show_one(na, &info), 0);
				if (info.in_packets + info.in_drops == prev_in &&
				    info.in_packets + info.in_drops - in0 - drops0 >= taken)
					break;
				prev_in = info.in_packets + info.in_drops;
				usleep(20000);
			}
			CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip -n %s -s -j link show %s | "
						 "jq '.[0].stats64.rx.packets'", ns, na), 0);
			rx1 = strtoull(out, NULL, 10);
			printf("    in: taken %llu, submitted %llu, utunN received %llu, in drops %llu\n",
			       (unsigned long long)taken,
			       (unsigned long long)(info.in_packets - in0),
			       (unsigned long long)(rx1 - rx0),
			       (unsigned long long)(info.in_drops - drops0));
			CU_ASSERT_EQUAL(taken, info.in_packets - in0 + (info.in_drops - drops0));
			CU_ASSERT_EQUAL(rx1 - rx0, info.in_packets - in0 -
					(info.errors[UTUN_ERR_DEV_DROP] + info.errors[UTUN_ERR_BAD_DESC]));
		}
	}
	utun_close(fa);
	close(fb);
	h_ns_delete(ns);
}

static void test_slow_client(void)
{
	slow_reader(false);
}

static void test_slow_client_fast(void)
{
	slow_reader(true);
}

/*
 * A utun opened by hand, as a hostile client would, without libutun: the
 * loader's answer descriptor, the hello and both handed-over fds (the
 * AF_XDP socket and the memfd).  Returns the answer descriptor (whose
 * queued message we consumed), or -errno.
 */
static int raw_open(const char *ns, char *name, struct utun_shm_hello *h, int *xsk, int *memfd)
{
	struct ifkit_req req;
	struct ifkit_rep rep;
	int sock, ns_fd, fd = -1, err;

	if (h_enter_ns(ns))
		return -errno;
	ns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	h_leave_ns();
	if (ns_fd < 0)
		return -errno;
	sock = ctl_connect(L.sock);
	if (sock < 0) {
		close(ns_fd);
		return sock;
	}
	ctl_req_init(&req, IFKIT_CMD_UTUN_OPEN);
	req.unit = -1;
	memset(&rep, 0, sizeof(rep));
	err = ctl_call(sock, &req, ns_fd, &rep, NULL, NULL, &fd);
	close(sock);
	close(ns_fd);
	if (err || fd < 0)
		return err ? err : -EPROTO;
	snprintf(name, IFNAMSIZ, "%s", rep.name);
	{
		union {
			struct cmsghdr hdr;
			char buf[CMSG_SPACE(2 * sizeof(int))];
		} cbuf;
		struct iovec iov = { .iov_base = h, .iov_len = sizeof(*h) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf) };
		struct cmsghdr *cmsg;
		ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

		cmsg = CMSG_FIRSTHDR(&msg);
		if (n == (ssize_t)sizeof(*h) && h->magic == UTUN_SHM_MAGIC && cmsg &&
		    cmsg->cmsg_type == SCM_RIGHTS && cmsg->cmsg_len == CMSG_LEN(2 * sizeof(int))) {
			memcpy(xsk, CMSG_DATA(cmsg), sizeof(int));
			memcpy(memfd, (int *)CMSG_DATA(cmsg) + 1, sizeof(int));
			return fd;
		}
	}
	close(fd);
	return -EPROTO;
}

/* Scribble over one AF_XDP ring: bogus descriptors, producer and consumer. */
static void trash_ring(int xsk, const struct xdp_ring_offset *off, off_t pgoff, __u32 size,
		       size_t desc_size)
{
	size_t len = off->desc + size * desc_size;
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, xsk, pgoff);

	CU_ASSERT_FATAL(m != MAP_FAILED);
	memset(m + off->desc, 0xa5, size * desc_size);
	if (desc_size == sizeof(struct xdp_desc)) {
		struct xdp_desc *d = (struct xdp_desc *)(m + off->desc);

		for (__u32 i = 0; i < size; i += 3) {	/* a few plausible-looking liars too */
			d[i].addr = (i & 1) ? ~0ULL - i : 4096ULL * i + 4000;
			d[i].len = (i & 2) ? 0xffffffffu : 9000;
			d[i].options = i;
		}
	}
	*(__u32 *)(m + off->producer) += size * 3 + 7;
	*(__u32 *)(m + off->consumer) -= 12345;
	munmap(m, len);
}

/*
 * Everything a fast-path client can do with what it was handed, done
 * badly: shrink/grow/reseal the memfd, garbage over all frames and the
 * control page, lying descriptors and indices on all four rings, kicks,
 * a flood of junk on the descriptor, dup and close.  The loader must stay
 * up and answer, and another client's tunnel keep working throughout.
 */
static void test_fast_abuse(void)
{
	char ns[H_NAME_LEN], na[IFNAMSIZ], nb[IFNAMSIZ];
	struct utun_shm_hello *h = calloc(1, sizeof(*h));
	struct ifkit_utun_info info;
	struct xdp_mmap_offsets off;
	socklen_t optlen = sizeof(off);
	int fa, fb, xsk = -1, memfd = -1, seals, junk_sent = 0;
	uint8_t *area;
	size_t area_len;
	pid_t loader = L.pid;

	if (!need_loader())
		goto out;
	setenv("IFKIT_SOCKET", L.sock, 1);
	CU_ASSERT_FATAL(h != NULL);
	CU_ASSERT_FATAL(h_ns_create("abuse", ns, sizeof(ns)) == 0);
	fa = raw_open(ns, na, h, &xsk, &memfd);
	fb = open_in(ns, -1, nb);
	CU_ASSERT_FATAL(fa >= 0 && fb >= 0);
	CU_ASSERT_EQUAL(h_sh("ip -n %s addr add 10.77.0.1 peer 10.77.0.2 dev %s && "
			     "ip -n %s addr add 10.72.0.1 peer 10.72.0.2 dev %s", ns, na, ns, nb), 0);

	/* the memfd is sealed: it can be neither shrunk nor grown nor unsealed */
	seals = fcntl(memfd, F_GET_SEALS);
	CU_ASSERT((seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) ==
		  (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
	CU_ASSERT_EQUAL(ftruncate(memfd, 0), -1);
	CU_ASSERT_EQUAL(errno, EPERM);
	/* unsealed, the loader died of SIGBUS here: show writes the MTU into the control page */
	CU_ASSERT_EQUAL_FATAL(count_utuns(), 2);	/* a dead loader cannot answer */
	CU_ASSERT_EQUAL(ftruncate(memfd, 1 << 30), -1);
	CU_ASSERT_EQUAL(fcntl(memfd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	CU_ASSERT_EQUAL(fallocate(memfd, 0x02 /* PUNCH_HOLE */ | 0x01 /* KEEP_SIZE */, 0, 1 << 20) == 0 ||
			errno == EPERM, 1);	/* a hole just reads zeros again: harmless */

	/* garbage over every frame and the control page */
	area_len = h->umem_size + 4096;
	area = mmap(NULL, area_len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	CU_ASSERT_FATAL(area != MAP_FAILED);
	memset(area, 0x5a, area_len);

	/* lying rings */
	CU_ASSERT_FATAL(getsockopt(xsk, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen) == 0);
	trash_ring(xsk, &off.tx, XDP_PGOFF_TX_RING, h->ring_size, sizeof(struct xdp_desc));
	trash_ring(xsk, &off.rx, XDP_PGOFF_RX_RING, h->ring_size, sizeof(struct xdp_desc));
	trash_ring(xsk, &off.fr, XDP_UMEM_PGOFF_FILL_RING, h->ring_size, sizeof(__u64));
	trash_ring(xsk, &off.cr, XDP_UMEM_PGOFF_COMPLETION_RING, h->ring_size, sizeof(__u64));
	for (int i = 0; i < 8; i++)
		sendto(xsk, NULL, 0, MSG_DONTWAIT, NULL, 0);
	/* and traffic into the abused socket's rings */
	h_sh("ip netns exec %s ping -c 5 -i 0.05 -W 1 10.77.0.2 >/dev/null 2>&1", ns);

	/* a flood of junk on the answer descriptor (the loader closed its end) */
	for (int i = 0; i < 20000; i++) {
		uint8_t junk[64];

		memset(junk, i, sizeof(junk));
		if (send(fa, junk, (size_t)(i % 64), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			junk_sent++;
	}
	/* dup and close copies of what we were given (the originals keep the utun) */
	close(dup(xsk));
	close(dup(memfd));

	/* the loader is alive and answers; the other client's tunnel works */
	CU_ASSERT_EQUAL(kill(loader, 0), 0);
	CU_ASSERT(ping_stack(fb, AF_INET, 1));
	CU_ASSERT_EQUAL(count_utuns(), 2);
	CU_ASSERT_EQUAL(show_one(na, &info), 0);
	CU_ASSERT_EQUAL(show_one(nb, &info), 0);
	{
		pid_t ping = h_spawn(ns, "exec ping -c 3 -i 0.2 -W 2 10.72.0.2");
		int st, answered = answer_pings(fb, ping, 5000, &st);

		if (st < 0)
			h_kill(ping, SIGKILL);
		CU_ASSERT_EQUAL(answered, 3);
		CU_ASSERT_EQUAL(st, 0);
	}
	/* the lying tx descriptors were refused by the kernel, and show counts them */
	CU_ASSERT_EQUAL(show_one(na, &info), 0);
	CU_ASSERT(info.errors[UTUN_ERR_BAD_DESC] > 0);
	CU_ASSERT(info.errors[UTUN_ERR_BAD_DESC] < 100000);	/* the kernel's count, not the garbage */
	printf("\n    junk messages sent %d; bad_desc %llu; loader pid %d alive\n", junk_sent,
	       (unsigned long long)info.errors[UTUN_ERR_BAD_DESC], (int)loader);
	/* closing what was handed over still removes the abused utun, and only it */
	munmap(area, area_len);
	close(xsk);
	close(memfd);
	close(fa);
	{
		struct h_link lw = { ns, na };

		CU_ASSERT(h_wait_for(h_link_gone, &lw, 1000));
	}
	CU_ASSERT(ping_stack(fb, AF_INET, 2));
	CU_ASSERT_EQUAL(kill(loader, 0), 0);
	CU_ASSERT_EQUAL(count_utuns(), 1);
	close(fb);
	h_ns_delete(ns);
out:
	free(h);
}

/* Echo request of ip_len bytes from the client, reply read back: the MTU honoured inward. */
static bool ping_stack_len(int fd, uint16_t seq, size_t ip_len)
{
	static uint8_t p[65536], r[65536];
	size_t n = mk_icmp4(p, "10.72.0.2", "10.72.0.1", 8, 0x78, seq, ip_len - 28);
	ssize_t got;

	if (utun_write(fd, AF_INET, p, n) != (ssize_t)n)
		return false;
	got = read_icmp(fd, AF_INET, 0, r, sizeof(r), 2000);
	return got == (ssize_t)n && !memcmp(r + 28, p + 28, n - 28);
}

/*
 * MTU 9000 and 65535 set with ip link (the xdp.frags program lifts veth's
 * cap), full-size packets both ways (ping -M do from the stack, echo from
 * the client), one byte more refused by utun_write; back to 1500 and a
 * 1501-byte write is refused at once.
 */
static void jumbo(bool fast)
{
	static const unsigned int mtus[] = { 9000, 65535 };
	static uint8_t p[65536];
	char ns[H_NAME_LEN], name[IFNAMSIZ];
	struct ifkit_utun_info info;
	int fd;

	if (!need_loader())
		return;
	setenv("IFKIT_SOCKET", L.sock, 1);
	CU_ASSERT_FATAL(h_ns_create(fast ? "jumbof" : "jumbo", ns, sizeof(ns)) == 0);
	fd = open_in(ns, -1, name);
	CU_ASSERT_FATAL(fd >= 0);
	if (fast)
		CU_ASSERT_EQUAL_FATAL(utun_enable_fastpath(fd), 0);
	CU_ASSERT_EQUAL(h_sh("ip -n %s addr add 10.72.0.1 peer 10.72.0.2 dev %s", ns, name), 0);
	for (size_t i = 0; i < sizeof(mtus) / sizeof(mtus[0]); i++) {
		unsigned int mtu = mtus[i];
		pid_t ping;
		int st, answered;
		size_t n;

		CU_ASSERT_EQUAL_FATAL(h_sh("ip -n %s link set %s mtu %u", ns, name, mtu), 0);
		/* stack -> client -> stack, full size, do not fragment */
		ping = h_spawn(ns, "exec ping -c 2 -i 0.2 -W 2 -M do -s %u 10.72.0.2", mtu - 28);
		answered = answer_pings(fd, ping, 6000, &st);
		if (st < 0)
			h_kill(ping, SIGKILL);
		CU_ASSERT_EQUAL(answered, 2);
		CU_ASSERT_EQUAL(st, 0);
		/* client -> stack -> client, full size */
		CU_ASSERT(ping_stack_len(fd, (uint16_t)(100 + i), mtu));
		/* one byte over is refused before anything is sent */
		if (mtu < 65535) {
			n = mk_icmp4(p, "10.72.0.2", "10.72.0.1", 8, 0x78, 1, mtu + 1 - 28);
			errno = 0;
			CU_ASSERT_EQUAL(utun_write(fd, AF_INET, p, n), -1);
			CU_ASSERT_EQUAL(errno, EINVAL);
		}
		CU_ASSERT_EQUAL(show_one(name, &info), 0);
		printf("\n    %s mtu %u: show says mtu %u, in %llu out %llu drops %llu/%llu",
		       fast ? "fast" : "socket", mtu, info.mtu, (unsigned long long)info.in_packets,
		       (unsigned long long)info.out_packets, (unsigned long long)info.in_drops,
		       (unsigned long long)info.out_drops);
	}
	printf("\n");
	/* lowered again: utun_write sees it at once, no refresh period */
	CU_ASSERT_EQUAL(h_sh("ip -n %s link set %s mtu 1500", ns, name), 0);
	{
		size_t n = mk_icmp4(p, "10.72.0.2", "10.72.0.1", 8, 0x78, 2, 1501 - 28);

		errno = 0;
		CU_ASSERT_EQUAL(utun_write(fd, AF_INET, p, n), -1);
		CU_ASSERT_EQUAL(errno, EINVAL);
	}
	CU_ASSERT(ping_stack_len(fd, 200, 1500));
	CU_ASSERT_EQUAL(h_sh("ip -n %s link set %s mtu 67 2>/dev/null", ns, name) != 0, 1);
	CU_ASSERT_EQUAL(h_sh("ip -n %s link set %s mtu 68", ns, name), 0);
	utun_close(fd);
	h_ns_delete(ns);
}

static void test_jumbo(void)
{
	jumbo(false);
}

static void test_jumbo_fast(void)
{
	jumbo(true);
}

static void test_nonroot_refused(void)
{
	int st;

	if (!need_loader())
		return;
	/* The socket is world-connectable; the loader says EPERM. */
	chmod(h_tmp(""), 0755);
	st = h_sh("setpriv --reuid=65534 --regid=65534 --clear-groups %s --try-open %s",
		  h_bin("tests/test_utun"), L.sock);
	CU_ASSERT_EQUAL(st, EPERM);
	CU_ASSERT_EQUAL(count_utuns(), 0);
	/* show is open to them, but not whose process another user's utun belongs to */
	{
		char ns[H_NAME_LEN], name[IFNAMSIZ], out[1024], want[64];
		int fd;

		CU_ASSERT_FATAL(h_ns_create("priv", ns, sizeof(ns)) == 0);
		fd = open_in(ns, -1, name);
		CU_ASSERT_FATAL(fd >= 0);
		snprintf(want, sizeof(want), "owner pid %d ", (int)getpid());
		CU_ASSERT_EQUAL(h_ifkit(&L, NULL, out, sizeof(out), "utun show %s", name), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
		CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "setpriv --reuid=65534 --regid=65534 "
					 "--clear-groups %s -s %s utun show %s", h_bin("ifkit"),
					 L.sock, name), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "owner pid 0 "));
		CU_ASSERT_PTR_NULL(strstr(out, want));
		close(fd);
		h_ns_delete(ns);
	}
}

static void test_taken_unit(void)
{
	char ns[H_NAME_LEN], ns2[H_NAME_LEN], name[IFNAMSIZ], name2[IFNAMSIZ];
	int fd, fd2, fd3;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("busy", ns, sizeof(ns)) == 0);
	CU_ASSERT_FATAL(h_ns_create("busy2", ns2, sizeof(ns2)) == 0);
	fd = open_in(ns, 7, name);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_STRING_EQUAL(name, "utun7");
	/* taken, even from another namespace */
	errno = 0;
	fd2 = open_in(ns2, 7, name2);
	CU_ASSERT_EQUAL(fd2, -1);
	CU_ASSERT_EQUAL(errno, EBUSY);
	/* "any" skips it */
	fd3 = open_in(ns2, -1, name2);
	CU_ASSERT(fd3 >= 0);
	CU_ASSERT_STRING_NOT_EQUAL(name2, "utun7");
	close(fd);
	if (fd3 >= 0)
		close(fd3);
	/* free again once closed */
	{
		struct h_link lw = { ns, "utun7" };

		CU_ASSERT(h_wait_for(h_link_gone, &lw, 1000));
	}
	fd2 = open_in(ns2, 7, name2);
	CU_ASSERT(fd2 >= 0);
	if (fd2 >= 0)
		close(fd2);
	h_ns_delete(ns);
	h_ns_delete(ns2);
}

static bool loader_has_no_utun(void *arg)
{
	(void)arg;
	return count_utuns() == 0;
}

static void sigkill_removes(bool fast)
{
	char ns[H_NAME_LEN], path[300];
	struct h_link lw;
	struct timespec t0, t1;
	pid_t pid;
	long ms;
	int ports, one = 0;
	__u32 key;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("kill", ns, sizeof(ns)) == 0);
	lw.ns = ns;
	lw.name = "utun9";
	pid = h_spawn(ns, "exec %s --hold %s 9%s", h_bin("tests/test_utun"), L.sock,
		      fast ? " fast" : "");
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_FATAL(h_wait_for(h_link_exists, &lw, 5000));
	CU_ASSERT_EQUAL(h_sh("ip -n %s addr add 10.73.0.1 peer 10.73.0.2 dev utun9", ns), 0);
	snprintf(path, sizeof(path), "%s/utun_ports", L.pin_dir);
	ports = bpf_obj_get(path);
	CU_ASSERT(ports >= 0);
	CU_ASSERT_EQUAL(bpf_map_get_next_key(ports, NULL, &key), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	h_kill(pid, SIGKILL);
	CU_ASSERT(h_wait_for(h_link_gone, &lw, 2000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CU_ASSERT(ms <= 1000);
	CU_ASSERT(h_wait_for(loader_has_no_utun, NULL, 1000));
	/* no addresses or map entries left */
	CU_ASSERT_NOT_EQUAL(h_sh("ip -n %s addr | grep -q 10.73.0.1", ns), 0);
	CU_ASSERT_NOT_EQUAL(bpf_map_get_next_key(ports, NULL, &key), 0);
	CU_ASSERT_NOT_EQUAL(h_sh("ip -n %s link | grep -q hutun", L.netns), 0);
	if (ports >= 0)
		close(ports);
	(void)one;
	h_ns_delete(ns);
}

/* utunN deleted from outside: the loader forgets it, utun_ports entry included. */
static void test_external_delete(void)
{
	char ns[H_NAME_LEN], name[IFNAMSIZ], path[300];
	struct h_link lw;
	int fd, ports;
	__u32 key;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("xdel", ns, sizeof(ns)) == 0);
	fd = open_in(ns, 11, name);
	CU_ASSERT_FATAL(fd >= 0);
	snprintf(path, sizeof(path), "%s/utun_ports", L.pin_dir);
	ports = bpf_obj_get(path);
	CU_ASSERT(ports >= 0);
	CU_ASSERT_EQUAL(bpf_map_get_next_key(ports, NULL, &key), 0);
	CU_ASSERT_EQUAL(h_sh("ip -n %s link del %s", ns, name), 0);
	lw.ns = ns;
	lw.name = name;
	CU_ASSERT(h_wait_for(h_link_gone, &lw, 1000));
	CU_ASSERT(h_wait_for(loader_has_no_utun, NULL, 2000));
	CU_ASSERT_NOT_EQUAL(bpf_map_get_next_key(ports, NULL, &key), 0);
	CU_ASSERT_NOT_EQUAL(h_sh("ip -n %s link | grep -q hutun", L.netns), 0);
	if (ports >= 0)
		close(ports);
	close(fd);
	/* the unit is free again */
	fd = open_in(ns, 11, name);
	CU_ASSERT(fd >= 0);
	if (fd >= 0)
		close(fd);
	CU_ASSERT(h_wait_for(loader_has_no_utun, NULL, 2000));
	h_ns_delete(ns);
}

struct fast_reader {
	int fd;
	volatile bool stop;
	int calls, last_ret, last_errno;
};

static void *fast_reader_main(void *arg)
{
	struct fast_reader *r = arg;
	static uint8_t bufs[8][2048];
	struct utun_pkt pk[8];

	while (!r->stop) {
		for (int i = 0; i < 8; i++)
			pk[i] = (struct utun_pkt){ .buf = bufs[i], .cap = sizeof(bufs[i]) };
		r->last_ret = utun_recv_batch(r->fd, pk, 8, 0);
		r->last_errno = errno;
		r->calls++;
		if (r->last_ret <= 0)
			usleep(1000);
	}
	return NULL;
}

/*
 * utunN deleted by hand under a fast-path client with a thread waiting in
 * utun_recv_batch: the loader's hang-up must not pull the rings out from
 * under the call (the process would die of SIGSEGV); the calls report the
 * loss and utun_close() ends it cleanly.
 */
static void test_external_delete_fast(void)
{
	char ns[H_NAME_LEN], name[IFNAMSIZ];
	struct fast_reader r = { .fd = -1 };
	uint8_t pkt[28] = { 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2 };
	struct utun_pkt out = { .buf = pkt, .len = sizeof(pkt) };
	pthread_t th;
	struct h_link lw;
	int calls;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("xdelf", ns, sizeof(ns)) == 0);
	r.fd = open_in(ns, 12, name);
	CU_ASSERT_FATAL(r.fd >= 0);
	CU_ASSERT_FATAL(utun_enable_fastpath(r.fd) == 0);
	CU_ASSERT_FATAL(pthread_create(&th, NULL, fast_reader_main, &r) == 0);
	usleep(100 * 1000);	/* the reader is waiting in the call */
	CU_ASSERT_EQUAL(h_sh("ip -n %s link del %s", ns, name), 0);
	lw.ns = ns;
	lw.name = name;
	CU_ASSERT(h_wait_for(h_link_gone, &lw, 1000));
	CU_ASSERT(h_wait_for(loader_has_no_utun, NULL, 2000));
	/* Still alive (a SIGSEGV would have ended the suite): the calls go on and fail or say 0. */
	calls = r.calls;
	usleep(300 * 1000);
	CU_ASSERT(r.calls > calls);
	CU_ASSERT(r.last_ret <= 0);
	CU_ASSERT(utun_send_batch(r.fd, &out, 1, 0) <= 0);
	r.stop = true;
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(utun_close(r.fd), 0);
	h_ns_delete(ns);
}

static void test_sigkill_removes(void)
{
	sigkill_removes(false);
}

static void test_sigkill_removes_fast(void)
{
	sigkill_removes(true);
}

/* The shared-ring fast path: same behaviour, enforced by libutun. */
static void test_fastpath(void)
{
	char ns[H_NAME_LEN], name[IFNAMSIZ];
	struct ifkit_utun_info info;
	uint8_t p[4000], f[4100];
	struct utun_pkt pk[5];
	pid_t ping;
	int fd, st, answered;
	size_t n4;

	if (!need_loader())
		return;
	setenv("IFKIT_SOCKET", L.sock, 1);
	CU_ASSERT_FATAL(h_ns_create("fast", ns, sizeof(ns)) == 0);
	fd = open_in(ns, -1, name);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(utun_enable_fastpath(fd), 0);
	CU_ASSERT_NOT_EQUAL(utun_pollfd(fd), fd);
	CU_ASSERT_EQUAL(h_sh("ip -n %s addr add 10.72.0.1 peer 10.72.0.2 dev %s && "
			     "ip -n %s -6 addr add fd00:72::1 peer fd00:72::2 dev %s nodad",
			     ns, name, ns, name), 0);
	/* stack -> client -> stack */
	ping = h_spawn(ns, "exec ping -c 3 -i 0.2 -W 2 10.72.0.2");
	answered = answer_pings(fd, ping, 5000, &st);
	if (st < 0)
		h_kill(ping, SIGKILL);
	CU_ASSERT_EQUAL(answered, 3);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT(ping_stack(fd, AF_INET, 1));
	CU_ASSERT(ping_stack(fd, AF_INET6, 2));
	/* flags */
	/* the loader wrote the flags into the control page before it answered */
	CU_ASSERT_EQUAL(utun_set_flags(fd, UTUN_FLAGS_NO_INPUT), 0);
	CU_ASSERT_FALSE(ping_stack(fd, AF_INET, 3));
	CU_ASSERT_EQUAL(utun_set_flags(fd, UTUN_FLAGS_NO_OUTPUT), 0);
	CU_ASSERT_FALSE(ping_stack(fd, AF_INET, 4));
	CU_ASSERT_EQUAL(utun_set_flags(fd, 0), 0);
	CU_ASSERT(ping_stack(fd, AF_INET, 5));
	/* malformed batch entries are dropped and counted, the good one goes through */
	n4 = mk_icmp4(p, "10.72.0.2", "10.72.0.1", 8, 0x77, 6, 24);
	utun_frame_hdr(f, AF_INET);
	memcpy(f + 4, p, n4);
	pk[0] = (struct utun_pkt){ .buf = f, .len = 3 };			/* too short */
	pk[1] = (struct utun_pkt){ .buf = (uint8_t[64]){ 0, 0, 0, 99, 0x45 }, .len = 48 };	/* family */
	pk[2] = (struct utun_pkt){ .buf = (uint8_t[64]){ 0, 0, 0, 10, 0x45 }, .len = 48 };	/* mismatch */
	pk[3] = (struct utun_pkt){ .buf = f, .len = 1600 };			/* > MTU */
	pk[4] = (struct utun_pkt){ .buf = f, .len = n4 + 4 };			/* good */
	/* each bad one is refused alone (EINVAL, still the caller's, counted nowhere) */
	for (int i = 0; i < 4; i++) {
		errno = 0;
		CU_ASSERT_EQUAL(utun_send_batch(fd, pk + i, 5 - (unsigned int)i, 0), -1);
		CU_ASSERT_EQUAL(errno, EINVAL);
	}
	CU_ASSERT_EQUAL(utun_send_batch(fd, pk + 4, 1, 0), 1);
	CU_ASSERT(read_icmp(fd, AF_INET, 0, p, sizeof(p), 800) > 0);
	/* [good, bad, good]: 1, the bad one is next */
	pk[0] = pk[4];
	pk[2] = pk[4];
	CU_ASSERT_EQUAL(utun_send_batch(fd, pk, 3, 0), 1);
	CU_ASSERT_EQUAL(utun_write(fd, AF_INET, f + 4, 1600), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(show_one(name, &info), 0);
	CU_ASSERT_EQUAL(info.errors[UTUN_ERR_TOO_SHORT], 0);
	CU_ASSERT_EQUAL(info.errors[UTUN_ERR_BAD_FAMILY], 0);
	CU_ASSERT_EQUAL(info.errors[UTUN_ERR_MISMATCH], 0);
	CU_ASSERT_EQUAL(info.errors[UTUN_ERR_TOO_LONG], 0);
	CU_ASSERT(info.errors[UTUN_ERR_NO_INPUT] >= 1);
	CU_ASSERT(info.in_packets >= 6);
	CU_ASSERT(info.out_packets >= 6);
	CU_ASSERT_EQUAL(utun_close(fd), 0);
	{
		struct h_link lw = { ns, name };

		CU_ASSERT(h_wait_for(h_link_gone, &lw, 1000));
	}
	CU_ASSERT(h_wait_for(loader_has_no_utun, NULL, 1000));
	h_ns_delete(ns);
}

/*
 * Every utun of namespace arg is gone: the kernel deletes a pair when the
 * client's socket releases the pair's own namespace (cleanup_net runs in
 * a work queue: asynchronous).  No hidden end may ever sit in the loader's
 * private namespace.
 */
static bool no_hidden_ends(void *arg)
{
	return h_sh("ip -n %s link | grep -q hutun", L.netns) != 0 &&
	       h_sh("ip -n %s link | grep -q utun", (const char *)arg) != 0;
}

static long loader_stat_field(const char *key)
{
	char out[64];

	if (h_sh_out(out, sizeof(out), "awk '/^%s:/{print $2}' /proc/%d/status", key, (int)L.pid))
		return -1;
	return atol(out);
}

/* utime + stime of the loader, clock ticks */
static long loader_cpu_ticks(void)
{
	char out[64];

	if (h_sh_out(out, sizeof(out), "awk '{print $14 + $15}' /proc/%d/stat", (int)L.pid))
		return -1;
	return atol(out);
}

struct ctl_probe {
	volatile bool stop;
	long max_us, count;
};

/* Ask the loader for status in a loop; the slowest answer is how long the control loop stalled. */
static void *probe_main(void *arg)
{
	struct ctl_probe *p = arg;

	while (!p->stop) {
		struct timespec t0, t1;
		struct ifkit_req req;
		struct ifkit_rep rep;
		int sock = ctl_connect(L.sock);
		long us;

		if (sock < 0)
			break;
		ctl_req_init(&req, IFKIT_CMD_STATUS);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ctl_call(sock, &req, -1, &rep, NULL, NULL, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		close(sock);
		us = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
		if (us > p->max_us)
			p->max_us = us;
		p->count++;
		usleep(2000);
	}
	return NULL;
}

/*
 * UTUN_SCALE_COUNT (default 1000) utuns open at once: opened in under 30 s,
 * the loader under 256 MiB RSS with a fixed number of threads, no CPU while
 * they idle; then all closed at once while another client keeps asking the
 * loader for its status: how long the control loop stalled is printed (it
 * must keep answering: removals run on the reaper thread).
 */
static void test_scale(void)
{
	const char *env = getenv("UTUN_SCALE_COUNT");
	int count = env ? atoi(env) : 1000, opened = 0, *fds;
	char ns[H_NAME_LEN], name[IFNAMSIZ];
	struct timespec t0, t1, t2;
	struct ctl_probe probe = { 0 };
	long rss0, rss, threads, fdn, cpu0, cpu1;
	double open_s, close_s;
	pthread_t th;

	if (!need_loader())
		return;
	fds = calloc((size_t)count, sizeof(*fds));
	CU_ASSERT_FATAL(fds != NULL);
	CU_ASSERT_FATAL(h_ns_create("scale", ns, sizeof(ns)) == 0);
	rss0 = loader_rss_kb();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_FATAL(h_enter_ns(ns) == 0);
	for (int i = 0; i < count; i++) {
		fds[i] = utun_open_at(L.sock, -1, name, sizeof(name));
		if (fds[i] < 0) {
			printf("\n    open %d: %s", i, strerror(errno));
			break;
		}
		opened++;
	}
	h_leave_ns();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	open_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CU_ASSERT_EQUAL(opened, count);
	CU_ASSERT_EQUAL(count_utuns(), opened);
	rss = loader_rss_kb();
	threads = loader_stat_field("Threads");
	fdn = loader_fd_count();
	cpu0 = loader_cpu_ticks();
	usleep(2000000);	/* a measurement window, not a wait for readiness */
	cpu1 = loader_cpu_ticks();
	printf("\n    %d utuns opened in %.1f s; loader RSS %ld -> %ld kB (%.0f kB per utun), "
	       "%ld threads, %ld fds; CPU while idle %ld ticks in 2 s\n", opened, open_s, rss0, rss,
	       opened ? (double)(rss - rss0) / opened : 0.0, threads, fdn, cpu1 - cpu0);
	CU_ASSERT(open_s < 30.0);
	CU_ASSERT(rss < 256 * 1024);
	CU_ASSERT(threads > 0 && threads <= 8);
	CU_ASSERT(cpu1 - cpu0 <= 2);
	/* close them all while the control loop is being probed */
	CU_ASSERT_FATAL(pthread_create(&th, NULL, probe_main, &probe) == 0);
	for (int i = 0; i < 1000 && !probe.count; i++)	/* the probe is answered once first */
		usleep(1000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (int i = 0; i < opened; i++)
		close(fds[i]);
	CU_ASSERT(h_wait_for(no_hidden_ends, ns, 120000));
	clock_gettime(CLOCK_MONOTONIC, &t2);
	probe.stop = true;
	pthread_join(th, NULL);
	close_s = (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) / 1e9;
	printf("    all closed: devices gone after %.1f s; control loop answered %ld status "
	       "requests meanwhile, slowest %.1f ms\n", close_s, probe.count, probe.max_us / 1000.0);
	CU_ASSERT(probe.count > 0);
	CU_ASSERT(h_wait_for(loader_has_no_utun, NULL, 5000));
	if (count_utuns() != 0) {
		static char lg[8192];

		printf("    the loader still lists %d utuns\n", count_utuns());
		h_sh_out(lg, sizeof(lg), "grep -E 'warn|error|nsid' %s | tail -20; grep -c removed %s",
			 L.log, L.log);
		printf("%s\n", lg);
	}
	free(fds);
	h_ns_delete(ns);
}

static void test_many_clients(void)
{
	char ns[H_NAME_LEN], name[IFNAMSIZ];
	int fds[8], fd0, fd1;
	long rss0, rss1;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("many", ns, sizeof(ns)) == 0);
	/* warm up (allocator pools, libbpf caches), then measure */
	for (int i = 0; i < 8; i++) {
		fds[i] = open_in(ns, -1, name);
		CU_ASSERT(fds[i] >= 0);
	}
	for (int i = 0; i < 8; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	CU_ASSERT(h_wait_for(loader_has_no_utun, NULL, 3000));
	CU_ASSERT(h_wait_for(no_hidden_ends, ns, 5000));
	fd0 = loader_fd_count();
	rss0 = loader_rss_kb();
	/* 64 clients, 8 at a time */
	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < 8; i++) {
			fds[i] = open_in(ns, -1, name);
			CU_ASSERT(fds[i] >= 0);
		}
		CU_ASSERT_EQUAL(count_utuns(), 8);
		for (int i = 0; i < 8; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		CU_ASSERT(h_wait_for(loader_has_no_utun, NULL, 3000));
	}
	CU_ASSERT(h_wait_for(no_hidden_ends, ns, 5000));
	fd1 = loader_fd_count();
	rss1 = loader_rss_kb();
	/* no growth (fewer is fine: a connection or a reaped socket of the warm-up was still open) */
	CU_ASSERT(fd1 <= fd0);
	CU_ASSERT(rss1 - rss0 < 2048);
	printf("\n    loader fds %d -> %d, RSS %ld -> %ld kB\n", fd0, fd1, rss0, rss1);
	CU_ASSERT_NOT_EQUAL(h_sh("ip -n %s link | grep -q utun", ns), 0);
	CU_ASSERT_NOT_EQUAL(h_sh("ip -n %s link | grep -q hutun", L.netns), 0);
	h_ns_delete(ns);
}

/* ifkit-tunnel between two namespaces: ping and 64 MiB of TCP with a matching hash. */
/* ifkit-tunnel gave its utun an address (it runs `ip addr add` after the open). */
static bool tunnel_addressed(void *arg)
{
	return h_sh("ip -n %s addr | grep -q ' 10.75.0.'", (const char *)arg) == 0;
}

static void tunnel(bool fast)
{
	char a[H_NAME_LEN], b[H_NAME_LEN], out[256], want[256];
	const char *tun = h_bin("ifkit-tunnel");
	struct h_link la, lb;
	pid_t ta, tb, rx;
	char tunpath[300], helper[300];

	if (!need_loader())
		return;
	snprintf(tunpath, sizeof(tunpath), "%s", tun);
	snprintf(helper, sizeof(helper), "%s", h_bin("tests/test_utun"));
	CU_ASSERT_FATAL(h_ns_create("tuna", a, sizeof(a)) == 0);
	CU_ASSERT_FATAL(h_ns_create("tunb", b, sizeof(b)) == 0);
	CU_ASSERT_FATAL(h_sh("ip link add tva netns %s type veth peer tvb netns %s && "
			     "ip -n %s addr add 10.74.0.1/24 dev tva && ip -n %s link set tva up && "
			     "ip -n %s addr add 10.74.0.2/24 dev tvb && ip -n %s link set tvb up",
			     a, b, a, a, b, b) == 0);
	ta = h_spawn(a, "exec %s --socket %s --unit 20 --local 10.74.0.1:7000 --remote 10.74.0.2:7000 "
		     "--addr 10.75.0.1 --peer 10.75.0.2%s", tunpath, L.sock, fast ? "" : " --no-fastpath");
	tb = h_spawn(b, "exec %s --socket %s --unit 21 --local 10.74.0.2:7000 --remote 10.74.0.1:7000 "
		     "--addr 10.75.0.2 --peer 10.75.0.1%s", tunpath, L.sock, fast ? "" : " --no-fastpath");
	la = (struct h_link){ a, "utun20" };
	lb = (struct h_link){ b, "utun21" };
	CU_ASSERT_FATAL(h_wait_for(h_link_exists, &la, 5000) && h_wait_for(h_link_exists, &lb, 5000));
	CU_ASSERT(h_wait_for(tunnel_addressed, a, 5000));
	CU_ASSERT(h_wait_for(tunnel_addressed, b, 5000));
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ping -c 3 -i 0.2 -W 2 10.75.0.2", a), 0);
	rx = h_spawn(b, "exec %s --tcp-recv 10.75.0.2 7001 %s", helper, h_tmp("tcp.out"));
	CU_ASSERT_FATAL(rx > 0);
	CU_ASSERT_FATAL(h_wait_listen(b, 't', 7001, 3000));
	CU_ASSERT_EQUAL(h_sh_out(want, sizeof(want), "ip netns exec %s %s --tcp-send 10.75.0.2 7001 %d",
				 a, helper, 64 << 20), 0);
	CU_ASSERT_EQUAL(h_wait(rx, 20000), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "cat %s", h_tmp("tcp.out")), 0);
	CU_ASSERT_STRING_EQUAL(out, want);
	CU_ASSERT(strncmp(out, "67108864 ", 9) == 0);
	h_kill(ta, SIGTERM);
	h_kill(tb, SIGTERM);
	CU_ASSERT(h_wait_for(h_link_gone, &la, 1000));
	CU_ASSERT(h_wait_for(h_link_gone, &lb, 1000));
	h_ns_delete(a);
	h_ns_delete(b);
}

/* ---------- lifetime: the kernel ends a utun, the loader can come and go ---------- */

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static bool loader_knows(void *name)
{
	struct ifkit_utun_info info;

	return show_one((const char *)name, &info) == 0;
}

/* The loader was killed (h_loader_kill clears L.pid): bring it back for the next tests. */
static void loader_back(void)
{
	if (L.pid <= 0)
		loader_ok = h_loader_restart(&L) == 0;
	CU_ASSERT(loader_ok);
}

/*
 * The client dies (kill -9) while no loader runs: nobody but the kernel can
 * remove the utun, and it must within 1 s.  The next loader lists nothing
 * and its registry holds no stale entry.
 */
static void lifetime_no_loader(bool fast)
{
	char ns[H_NAME_LEN], helper[300], path[300];
	struct h_link lw;
	struct timespec t0;
	pid_t hold;
	long ms;
	int reg;
	__u32 key;

	if (!need_loader())
		return;
	snprintf(helper, sizeof(helper), "%s", h_bin("tests/test_utun"));
	CU_ASSERT_FATAL(h_ns_create(fast ? "nolf" : "nol", ns, sizeof(ns)) == 0);
	hold = h_spawn(ns, "exec %s --hold %s 30%s > %s", helper, L.sock, fast ? " fast" : "",
		       h_tmp("hold.out"));
	lw = (struct h_link){ ns, "utun30" };
	CU_ASSERT_FATAL(h_wait_file(h_tmp("hold.out"), "open utun30", 5000));
	CU_ASSERT_FATAL(h_wait_for(h_link_exists, &lw, 5000));
	CU_ASSERT(h_wait_for(loader_knows, "utun30", 2000));
	{
		pid_t loader = L.pid;

		h_loader_kill(&L, SIGKILL);
		CU_ASSERT(kill(loader, 0) != 0 && errno == ESRCH);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	h_kill(hold, SIGKILL);
	CU_ASSERT(h_wait_for(h_link_gone, &lw, 1000));
	ms = ms_since(&t0);
	printf("\n    %s: client kill -9 with no loader running -> utun30 gone after %ld ms\n",
	       fast ? "fast path" : "socket path", ms);
	CU_ASSERT(ms < 1000);
	loader_back();
	CU_ASSERT(h_wait_for(loader_has_no_utun, NULL, 1000));
	snprintf(path, sizeof(path), "%s/utun_registry", L.pin_dir);
	reg = bpf_obj_get(path);
	CU_ASSERT(reg >= 0);
	if (reg >= 0) {
		CU_ASSERT_NOT_EQUAL(bpf_map_get_next_key(reg, NULL, &key), 0);
		close(reg);
	}
	h_ns_delete(ns);
}

static void test_lifetime_no_loader(void)
{
	lifetime_no_loader(false);
}

static void test_lifetime_no_loader_fast(void)
{
	lifetime_no_loader(true);
}

/* ifkit utun show (text and -j) lists name with owner pid. */
static bool show_lists(const char *name, pid_t owner)
{
	char out[8192], want[64];
	bool ok;

	if (h_ifkit(&L, NULL, out, sizeof(out), "utun show") != 0)
		return false;
	snprintf(want, sizeof(want), "owner pid %d", (int)owner);
	ok = strstr(out, name) && strstr(out, want);
	if (h_ifkit(&L, NULL, out, sizeof(out), "-j utun show") != 0)
		return false;
	snprintf(want, sizeof(want), "\"owner_pid\":%d", (int)owner);
	return ok && strstr(out, name) && strstr(out, want);
}

static bool tcp_out_has_bytes(void *arg)
{
	struct ifkit_utun_info info;

	return show_one((const char *)arg, &info) == 0 && info.in_bytes > (8u << 20);
}

/*
 * A TCP transfer through two ifkit-tunnels (plain descriptor or fast path)
 * while the loader is SIGKILLed and restarted: every byte arrives (length
 * and hash), the restarted loader lists both utuns with their owners (text
 * and JSON), and the tunnels still end the utuns when they exit.
 */
static void lifetime_restart(bool fast)
{
	char a[H_NAME_LEN], b[H_NAME_LEN], out[256], want[256], tunpath[300], helper[300];
	struct h_link la, lb;
	pid_t ta, tb, rx, tx;
	long n = 256L << 20;

	if (!need_loader())
		return;
	snprintf(tunpath, sizeof(tunpath), "%s", h_bin("ifkit-tunnel"));
	snprintf(helper, sizeof(helper), "%s", h_bin("tests/test_utun"));
	CU_ASSERT_FATAL(h_ns_create(fast ? "rsta" : "rspa", a, sizeof(a)) == 0);
	CU_ASSERT_FATAL(h_ns_create(fast ? "rstb" : "rspb", b, sizeof(b)) == 0);
	CU_ASSERT_FATAL(h_sh("ip link add tva netns %s type veth peer tvb netns %s && "
			     "ip -n %s addr add 10.74.0.1/24 dev tva && ip -n %s link set tva up && "
			     "ip -n %s addr add 10.74.0.2/24 dev tvb && ip -n %s link set tvb up",
			     a, b, a, a, b, b) == 0);
	ta = h_spawn(a, "exec %s --socket %s --unit 22 --local 10.74.0.1:7000 --remote 10.74.0.2:7000 "
		     "--addr 10.75.0.1 --peer 10.75.0.2%s", tunpath, L.sock, fast ? "" : " --no-fastpath");
	tb = h_spawn(b, "exec %s --socket %s --unit 23 --local 10.74.0.2:7000 --remote 10.74.0.1:7000 "
		     "--addr 10.75.0.2 --peer 10.75.0.1%s", tunpath, L.sock, fast ? "" : " --no-fastpath");
	la = (struct h_link){ a, "utun22" };
	lb = (struct h_link){ b, "utun23" };
	CU_ASSERT_FATAL(h_wait_for(h_link_exists, &la, 5000) && h_wait_for(h_link_exists, &lb, 5000));
	CU_ASSERT(h_wait_for(tunnel_addressed, a, 5000));
	CU_ASSERT(h_wait_for(tunnel_addressed, b, 5000));
	rx = h_spawn(b, "exec %s --tcp-recv 10.75.0.2 7011 %s", helper, h_tmp("rst.out"));
	CU_ASSERT_FATAL(rx > 0);
	CU_ASSERT_FATAL(h_wait_listen(b, 't', 7011, 3000));
	tx = h_spawn(a, "exec %s --tcp-send 10.75.0.2 7011 %ld > %s", helper, n, h_tmp("rst.want"));
	CU_ASSERT_FATAL(tx > 0);
	/* mid-transfer: kill the loader, start a new one */
	CU_ASSERT(h_wait_for(tcp_out_has_bytes, "utun23", 10000));
	h_loader_kill(&L, SIGKILL);
	loader_back();
	CU_ASSERT(show_lists("utun22", ta));
	CU_ASSERT(show_lists("utun23", tb));
	CU_ASSERT_EQUAL(h_wait(tx, 60000), 0);
	CU_ASSERT_EQUAL(h_wait(rx, 10000), 0);
	CU_ASSERT_EQUAL(h_sh_out(want, sizeof(want), "cat %s", h_tmp("rst.want")), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "cat %s", h_tmp("rst.out")), 0);
	CU_ASSERT_STRING_EQUAL(out, want);
	CU_ASSERT(strncmp(out, "268435456 ", 10) == 0);
	printf("\n    %s: loader SIGKILLed and restarted mid-transfer; received %s",
	       fast ? "fast path" : "socket path", out);
	/* still alive after the transfer, and still ended by its client */
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ping -c 1 -W 2 10.75.0.2 >/dev/null", a), 0);
	h_kill(ta, SIGTERM);
	h_kill(tb, SIGTERM);
	CU_ASSERT(h_wait_for(h_link_gone, &la, 1000));
	CU_ASSERT(h_wait_for(h_link_gone, &lb, 1000));
	CU_ASSERT(h_wait_for(loader_has_no_utun, NULL, 1000));
	h_ns_delete(a);
	h_ns_delete(b);
}

static void test_lifetime_restart(void)
{
	lifetime_restart(false);
}

static void test_lifetime_restart_fast(void)
{
	lifetime_restart(true);
}

/*
 * A restarted loader adopts a live utun: the unit stays taken (EBUSY for
 * it, another one for "any"), show names its owner, and when the client
 * dies the adopted utun is gone and forgotten.
 */
static void test_lifetime_unit_kept(void)
{
	char ns[H_NAME_LEN], helper[300], name[IFNAMSIZ];
	struct h_link lw;
	pid_t hold;
	int fd;

	if (!need_loader())
		return;
	snprintf(helper, sizeof(helper), "%s", h_bin("tests/test_utun"));
	CU_ASSERT_FATAL(h_ns_create("keep", ns, sizeof(ns)) == 0);
	hold = h_spawn(ns, "exec %s --hold %s 30 > %s", helper, L.sock, h_tmp("keep.out"));
	lw = (struct h_link){ ns, "utun30" };
	/* taken over by the client (a loader killed mid-open takes the new utun with it) */
	CU_ASSERT_FATAL(h_wait_file(h_tmp("keep.out"), "open utun30", 5000));
	CU_ASSERT_FATAL(h_wait_for(h_link_exists, &lw, 5000));
	h_loader_kill(&L, SIGKILL);
	loader_back();
	CU_ASSERT(h_link_exists(&lw));
	CU_ASSERT(show_lists("utun30", hold));
	/* its flags can still be changed (control page found again by the new loader) */
	{
		struct ifkit_utun_info info;
		char out[512];

		CU_ASSERT_EQUAL(h_ifkit(&L, NULL, out, sizeof(out),
					"utun set utun30 flags no_output,no_input"), 0);
		CU_ASSERT_EQUAL(show_one("utun30", &info), 0);
		CU_ASSERT_EQUAL(info.flags, UTUN_FLAGS_NO_OUTPUT | UTUN_FLAGS_NO_INPUT);
		CU_ASSERT(h_sh_out(out, sizeof(out), "grep -c 'utun30: adopted (pid %d)$' %s",
				   (int)hold, L.log) == 0 && atoi(out) >= 1);
	}
	errno = 0;
	fd = open_in(ns, 30, name);
	CU_ASSERT_EQUAL(fd, -1);
	CU_ASSERT_EQUAL(errno, EBUSY);
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < 32; i++) {	/* "any" never hands out utun30 */
		fd = open_in(ns, -1, name);
		CU_ASSERT(fd >= 0);
		CU_ASSERT_STRING_NOT_EQUAL(name, "utun30");
		if (fd >= 0)
			close(fd);
	}
	h_kill(hold, SIGKILL);
	CU_ASSERT(h_wait_for(h_link_gone, &lw, 1000));
	CU_ASSERT(h_wait_for(loader_has_no_utun, NULL, 2000));
	h_ns_delete(ns);
}

/*
 * Clients that close and open in quick succession: a dying utun's
 * namespace id is freed before the loader reads RTM_DELNSID and may already
 * name a newer utun's namespace; the loader must forget only the dead one.
 */
static bool four_utuns(void *arg)
{
	(void)arg;
	return count_utuns() == 4;
}

static void test_lifetime_churn(void)
{
	char ns[H_NAME_LEN], names[4][IFNAMSIZ];
	int fds[4] = { -1, -1, -1, -1 };

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("churn", ns, sizeof(ns)) == 0);
	for (int i = 0; i < 40; i++) {
		int slot = i % 4;

		if (fds[slot] >= 0)
			close(fds[slot]);
		fds[slot] = open_in(ns, -1, names[slot]);
		CU_ASSERT(fds[slot] >= 0);
	}
	CU_ASSERT(h_wait_for(four_utuns, NULL, 2000));
	for (int i = 0; i < 4; i++) {
		struct ifkit_utun_info info;

		CU_ASSERT_EQUAL(show_one(names[i], &info), 0);
		CU_ASSERT_EQUAL(info.owner_pid, (__u32)getpid());
		close(fds[i]);
	}
	CU_ASSERT(h_wait_for(loader_has_no_utun, NULL, 2000));
	h_ns_delete(ns);
}

/*
 * fork: the child inherits the utun (socket, mappings) but no relay thread.
 * A child that closes its copy with utun_close, or just exits, must leave
 * the parent's utun working: the epoll instance is shared across fork, so
 * a child that touched it would take the parent's utun off its thread.
 */
static void test_fork_child_close(void)
{
	char ns[H_NAME_LEN], name[IFNAMSIZ];
	pid_t child;
	int fd, st;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("fork", ns, sizeof(ns)) == 0);
	fd = open_in(ns, -1, name);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(h_sh("ip -n %s addr add 10.72.0.1 peer 10.72.0.2 dev %s", ns, name), 0);
	CU_ASSERT(ping_stack(fd, AF_INET, 1));
	child = fork();
	CU_ASSERT_FATAL(child >= 0);
	if (child == 0)
		_exit(utun_close(fd) == 0 ? 0 : 1);
	CU_ASSERT_EQUAL(waitpid(child, &st, 0), child);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (uint16_t seq = 2; seq < 6; seq++)
		CU_ASSERT(ping_stack(fd, AF_INET, seq));
	utun_close(fd);
	{
		struct h_link lw = { ns, name };

		CU_ASSERT(h_wait_for(h_link_gone, &lw, 1000));
	}
	h_ns_delete(ns);
}

/*
 * Two utuns at MTU 65535 joined by ifkit-wire (user space reads one, writes
 * the other): TCP with a hash of every byte and 64 KB UDP datagrams, both
 * directions.  A wrong checksum anywhere makes the receiving stack drop the
 * packet, so the transfer would stall and datagrams would be missing.
 */
static void wire_checksums(bool fast)
{
	char a[H_NAME_LEN], b[H_NAME_LEN], feat[256];
	struct h_link la;
	pid_t wire;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create(fast ? "wirefa" : "wirea", a, sizeof(a)) == 0);
	CU_ASSERT_FATAL(h_ns_create(fast ? "wirefb" : "wireb", b, sizeof(b)) == 0);
	wire = h_spawn(NULL, "exec %s --backend %s --ns-a %s --ns-b %s --mtu 65535 --socket %s -q",
		       h_bin("ifkit-wire"), fast ? "utun" : "utun-socket", a, b, L.sock);
	CU_ASSERT_FATAL(wire > 0);
	CU_ASSERT_FATAL(h_wait_for(utun_wire_up, a, 5000));
	h_sh_out(feat, sizeof(feat), "ip netns exec %s ethtool -k utun0 2>/dev/null | "
		 "grep -E '^(tx-checksumming|tcp-segmentation-offload):' | tr '\\n' ' '", a);
	printf("\n    %s: utun0 %s\n", fast ? "fast path" : "socket path", feat);
	utun_wire_tcp(a, b, "10.80.0.2", 7101, 16 << 20);
	utun_wire_tcp(b, a, "10.80.0.1", 7102, 16 << 20);
	utun_wire_udp(a, b, "10.80.0.2", 7103, 20, 65000, L.sock);
	utun_wire_udp(b, a, "10.80.0.1", 7104, 20, 65000, L.sock);
	utun_wire_udp(a, b, "10.80.0.2", 7105, 20, 1200, L.sock);
	h_kill(wire, SIGTERM);
	la = (struct h_link){ a, "utun0" };
	CU_ASSERT(h_wait_for(h_link_gone, &la, 1000));
	h_ns_delete(a);
	h_ns_delete(b);
}

static void test_wire_checksums(void)
{
	wire_checksums(false);
}

static void test_wire_checksums_fast(void)
{
	wire_checksums(true);
}

static void test_tunnel_fast(void)
{
	tunnel(true);
}

static void test_tunnel_socket(void)
{
	tunnel(false);
}

/* ---------- helper modes ---------- */

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static int helper(int argc, char **argv)
{
	if (!strcmp(argv[1], "--hold") && (argc == 4 || argc == 5)) {
		char name[IFNAMSIZ];
		int fd = utun_open_at(argv[2], atoi(argv[3]), name, sizeof(name));

		if (fd < 0)
			return errno;
		if (argc == 5 && utun_enable_fastpath(fd) < 0)
			return errno;
		printf("open %s\n", name);	/* the utun is ours now (the loader may go) */
		fflush(stdout);
		for (;;)
			pause();
	}
	if (!strcmp(argv[1], "--try-open") && argc == 3) {
		char name[IFNAMSIZ];
		int fd = utun_open_at(argv[2], -1, name, sizeof(name));

		return fd >= 0 ? 0 : errno;
	}
	if (!strcmp(argv[1], "--tcp-recv") && argc == 5) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
		int ls = socket(AF_INET, SOCK_STREAM, 0), c, one = 1;
		uint64_t h = 0xcbf29ce484222325ULL, total = 0;
		static uint8_t buf[1 << 16];
		ssize_t n;
		FILE *f;

		inet_pton(AF_INET, argv[2], &sa.sin_addr);
		setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(ls, (void *)&sa, sizeof(sa)) || listen(ls, 1) || (c = accept(ls, NULL, NULL)) < 0)
			return 2;
		while ((n = read(c, buf, sizeof(buf))) > 0) {
			h = fnv(h, buf, (size_t)n);
			total += (uint64_t)n;
		}
		f = fopen(argv[4], "w");
		if (!f)
			return 3;
		fprintf(f, "%llu %016llx\n", (unsigned long long)total, (unsigned long long)h);
		fclose(f);
		return 0;
	}
	if (!strcmp(argv[1], "--tcp-send") && argc == 5) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
		int s = socket(AF_INET, SOCK_STREAM, 0);
		uint64_t h = 0xcbf29ce484222325ULL, left = strtoull(argv[4], NULL, 0), total = 0;
		uint32_t x = 12345;
		static uint8_t buf[1 << 16];

		inet_pton(AF_INET, argv[2], &sa.sin_addr);
		if (connect(s, (void *)&sa, sizeof(sa)))
			return 2;
		while (left) {
			size_t n = left > sizeof(buf) ? sizeof(buf) : left;

			for (size_t i = 0; i < n; i++) {
				x = x * 1103515245u + 12345u;
				buf[i] = (uint8_t)(x >> 16);
			}
			for (size_t off = 0; off < n;) {
				ssize_t w = write(s, buf + off, n - off);

				if (w <= 0)
					return 3;
				off += (size_t)w;
			}
			h = fnv(h, buf, n);
			left -= n;
			total += n;
		}
		close(s);
		printf("%llu %016llx\n", (unsigned long long)total, (unsigned long long)h);
		return 0;
	}
	if (!strcmp(argv[1], "--udp-send") && argc == 6) {
		/* COUNT datagrams of SIZE bytes, each filled with its sequence number */
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
		int s = socket(AF_INET, SOCK_DGRAM, 0), count = atoi(argv[4]), ok = 0;
		size_t size = (size_t)atoi(argv[5]);
		static uint8_t buf[65536];

		inet_pton(AF_INET, argv[2], &sa.sin_addr);
		for (int i = 0; i < count; i++) {
			memset(buf, 0x30 + i % 64, size);
			if (sendto(s, buf, size, 0, (void *)&sa, sizeof(sa)) == (ssize_t)size)
				ok++;
			usleep(20000);	/* paced: this checks checksums, not queues */
		}
		printf("%d\n", ok);
		return ok == count ? 0 : 1;
	}
	if (!strcmp(argv[1], "--udp-recv") && argc == 6) {
		/* print how many intact SIZE-byte datagrams arrived (1 s of silence ends it) */
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
		int s = socket(AF_INET, SOCK_DGRAM, 0), good = 0, count = atoi(argv[4]);
		size_t size = (size_t)atoi(argv[5]);
		struct timeval tv = { .tv_sec = 3 };
		static uint8_t buf[65536];

		int rcvbuf = 16 << 20;

		inet_pton(AF_INET, argv[2], &sa.sin_addr);
		if (bind(s, (void *)&sa, sizeof(sa)))
			return 2;
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		/*
		 * A 65 000-byte datagram arrives as 45 fragments (~100 KiB of
		 * truesize): the default buffer holds two, and a receiver that a
		 * loaded machine keeps off the CPU for 40 ms lost the third
		 * (UdpRcvbufErrors) although the tunnel delivered it.
		 */
		setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
		while (good < count) {
			ssize_t n = recv(s, buf, sizeof(buf), 0);
			bool intact = n == (ssize_t)size;

			if (n < 0)
				break;
			for (size_t i = 1; intact && i < size; i++)
				intact = buf[i] == buf[0];
			good += intact;
		}
		printf("%d\n", good);
		return 0;
	}
	fprintf(stderr, "test_utun: unknown helper mode %s\n", argv[1]);
	return 2;
}

/* ---------- registration ---------- */

/*
 * Every end-to-end test gets its own loader (socket, pins, private
 * namespace), started before it and torn down after it: no test sees what
 * an earlier one left, e.g. utuns its reaper is still deleting.
 */
static void e2e_setup(void)
{
	memset(&L, 0, sizeof(L));
	loader_ok = h_is_root() && h_loader_start(&L) == 0;
	setenv("IFKIT_SOCKET", L.sock, 1);
}

static void e2e_teardown(void)
{
	if (L.sock[0])
		h_loader_teardown(&L);
	loader_ok = false;
}

static void add_suites(void)
{
	CU_pSuite unit = CU_add_suite("utun_unit", NULL, NULL);
	CU_pSuite bpf = CU_add_suite("utun_xdp", NULL, NULL);
	CU_pSuite e2e = CU_add_suite_with_setup_and_teardown("utun_e2e", NULL, NULL, e2e_setup,
							     e2e_teardown);

	CU_add_test(unit, "frame header <-> link header", test_frame_header);
	CU_add_test(unit, "write validation, every malformed case", test_validate);
	CU_add_test(unit, "utun_write refuses before sending; batch API", test_utun_write_refuses);
	CU_add_test(unit, "no loader: ECONNREFUSED", test_no_loader);
	CU_add_test(bpf, "XDP verdicts on IPv4/IPv6/ARP/LLDP, NO_OUTPUT, counters", test_xdp_verdicts);
	CU_add_test(e2e, "malformed control messages", test_ctl_malformed);
	CU_add_test(e2e, "client answers ICMP echo (IPv4, IPv6)", test_echo_v4_v6);
	CU_add_test(e2e, "NO_INPUT/NO_OUTPUT, malformed writes counted and harmless",
		    test_flags_and_malformed);
	CU_add_test(e2e, "slow reader (socket path): sent = delivered + drops by cause",
		    test_slow_client);
	CU_add_test(e2e, "slow reader (fast path): sent = delivered + drops by cause",
		    test_slow_client_fast);
	CU_add_test(e2e, "abused hand-off (truncate, garbage rings, flood): loader and others fine",
		    test_fast_abuse);
	CU_add_test(e2e, "MTU 9000 and 65535 both ways (socket path)", test_jumbo);
	CU_add_test(e2e, "MTU 9000 and 65535 both ways (fast path)", test_jumbo_fast);
	CU_add_test(e2e, "64 KB TCP/UDP both ways through two utuns, checksums (socket path)",
		    test_wire_checksums);
	CU_add_test(e2e, "64 KB TCP/UDP both ways through two utuns, checksums (fast path)",
		    test_wire_checksums_fast);
	CU_add_test(e2e, "non-root refused with EPERM", test_nonroot_refused);
	CU_add_test(e2e, "taken unit refused with EBUSY", test_taken_unit);
	CU_add_test(e2e, "SIGKILLed client: utun gone within 1 s", test_sigkill_removes);
	CU_add_test(e2e, "utun deleted from outside: no utun_ports entry left",
		    test_external_delete);
	CU_add_test(e2e, "fast path: utun deleted from outside under a waiting reader: no crash",
		    test_external_delete_fast);
	CU_add_test(e2e, "fast path: echo, flags, malformed batch counted", test_fastpath);
	CU_add_test(e2e, "fast path: SIGKILLed client, utun gone within 1 s",
		    test_sigkill_removes_fast);
	CU_add_test(e2e, "64 clients: no device/fd/memory growth", test_many_clients);
	CU_add_test(e2e, "UTUN_SCALE_COUNT (1000) utuns: time, RSS, threads, idle CPU, teardown",
		    test_scale);
	CU_add_test(e2e, "lifetime: client kill -9 with no loader -> utun gone < 1 s (socket path)",
		    test_lifetime_no_loader);
	CU_add_test(e2e, "lifetime: client kill -9 with no loader -> utun gone < 1 s (fast path)",
		    test_lifetime_no_loader_fast);
	CU_add_test(e2e, "lifetime: loader SIGKILL + restart mid-transfer (socket path)",
		    test_lifetime_restart);
	CU_add_test(e2e, "lifetime: loader SIGKILL + restart mid-transfer (fast path)",
		    test_lifetime_restart_fast);
	CU_add_test(e2e, "lifetime: a restarted loader adopts a live utun, keeps its unit",
		    test_lifetime_unit_kept);
	CU_add_test(e2e, "lifetime: close/open churn, every live utun stays listed",
		    test_lifetime_churn);
	CU_add_test(e2e, "fork: a child closing its copy leaves the parent's utun working",
		    test_fork_child_close);
	CU_add_test(e2e, "ifkit-tunnel (fast path): ping and 64 MiB TCP", test_tunnel_fast);
	CU_add_test(e2e, "ifkit-tunnel (socket relay): ping and 64 MiB TCP", test_tunnel_socket);
}

int main(int argc, char **argv)
{
	if (argc > 1 && argv[1][0] == '-' && argv[1][1] == '-')
		return helper(argc, argv);
	return h_main(argc, argv, add_suites);
}
