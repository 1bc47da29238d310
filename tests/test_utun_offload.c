// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * utun offload mode (utun_enable_offload): the offload header checks, then
 * end-to-end runs through a private loader in namespaces this test creates
 * (addresses 10.80.0.0/24 and 10.91.0.0/24 live only inside them):
 *   - two utuns joined by ifkit-wire utun-offload: utunN keeps TSO/USO and
 *     tx-checksumming, GSO super-packets cross, TCP (hashed) and 64 KB UDP
 *     both ways arrive intact (a bad checksum makes the receiving stack drop);
 *   - one utun driven by this process: NO_OUTPUT/NO_INPUT honoured, headers
 *     libutun refuses, malformed frames sent on the raw socket dropped in the
 *     kernel and counted in show, the socket filter locked, the other APIs
 *     refused on an offloaded descriptor;
 *   - a client killed with SIGKILL takes its utun with it.
 * TCP/UDP endpoints are test_utun's helper modes (--tcp-send/--tcp-recv,
 * --udp-send/--udp-recv).  This binary's own helper mode:
 *   --hold-offload SOCK   open a utun, enable offload, print its name, sleep
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <bpf/bpf.h>
#include <unistd.h>
#include <CUnit/CUnit.h>
#include "ctl.h"
#include "harness.h"
#include "utun_wire.h"
#include "ifkit/utun.h"

static struct h_loader L;
static bool loader_ok;

static bool need_loader(void)
{
	if (!h_is_root()) {
		h_skip("needs root");
		return false;
	}
	CU_ASSERT_FATAL(loader_ok);
	return loader_ok;
}

/* ---------- packets ---------- */

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

static void ip4_hdr(uint8_t *p, size_t len, uint8_t proto, const char *src, const char *dst)
{
	uint16_t c;

	memset(p, 0, 20);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64;
	p[9] = proto;
	inet_pton(AF_INET, src, p + 12);
	inet_pton(AF_INET, dst, p + 16);
	c = csum16(p, 20, 0);
	p[10] = (uint8_t)(c >> 8);
	p[11] = (uint8_t)c;
}

/* ICMP echo request of len bytes, complete (no offload header needed). */
static size_t mk_ping_len(uint8_t *p, const char *src, const char *dst, uint16_t seq, size_t len)
{
	uint16_t c;

	ip4_hdr(p, len, 1, src, dst);
	memset(p + 20, 0, len - 20);
	p[20] = 8;
	p[24] = 0x12;
	p[26] = (uint8_t)(seq >> 8);
	p[27] = (uint8_t)seq;
	c = csum16(p + 20, len - 20, 0);
	p[22] = (uint8_t)(c >> 8);
	p[23] = (uint8_t)c;
	return len;
}

static size_t mk_ping(uint8_t *p, const char *src, const char *dst, uint16_t seq)
{
	return mk_ping_len(p, src, dst, seq, 20 + 8 + 32);
}

/* A TCP segment of payload bytes (headers only filled as far as validation looks). */
static size_t mk_tcp4(uint8_t *p, size_t payload)
{
	size_t len = 20 + 20 + payload;

	ip4_hdr(p, len, 6, "10.91.0.2", "10.91.0.1");
	memset(p + 20, 0, 20 + payload);
	p[32] = 5 << 4;
	return len;
}

static size_t mk_udp6(uint8_t *p, size_t payload)
{
	size_t len = 40 + 8 + payload;

	memset(p, 0, len);
	p[0] = 0x60;
	p[4] = (uint8_t)((len - 40) >> 8);
	p[5] = (uint8_t)(len - 40);
	p[6] = 17;
	p[7] = 64;
	return len;
}

/* ---------- unit: the header checks ---------- */

static void test_validate_offload(void)
{
	static uint8_t b[65536];
	struct utun_gso_pkt p = { .family = AF_INET, .buf = b };
	struct utun_offload_hdr tcp = {
		.flags = UTUN_OFFLOAD_F_NEEDS_CSUM, .gso_type = UTUN_GSO_TCPV4, .hdr_len = 40,
		.gso_size = 1460, .csum_start = 20, .csum_offset = 16,
	};

	p.len = mk_tcp4(b, 30000);
	p.hdr = tcp;
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_NONE);
	p.hdr.gso_type |= UTUN_GSO_ECN;
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_NONE);
	/* Segments over the MTU; the super-packet itself may be. */
	p.hdr = tcp;
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1400), UTUN_ERR_TOO_LONG);
	/* GSO type against the packet. */
	p.hdr.gso_type = UTUN_GSO_TCPV6;
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_GSO);
	p.hdr.gso_type = UTUN_GSO_UDP_L4;
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_GSO);
	p.hdr.gso_type = 3;	/* UFO: not offered */
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_GSO);
	p.hdr.gso_type = 0x42;
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_GSO);
	p.hdr = tcp;
	p.hdr.gso_size = 0;
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_GSO);
	p.hdr = tcp;
	p.hdr.flags = 0;	/* GSO without a checksum to finish */
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_GSO);
	p.hdr = tcp;
	p.hdr.flags |= 0x10;	/* unknown flag */
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_GSO);
	p.hdr = tcp;
	p.hdr.csum_offset = 6;	/* UDP's checksum place in a TCP header */
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_GSO);
	p.hdr = tcp;
	p.hdr.csum_start = 10;	/* inside the IP header */
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_GSO);
	p.hdr = tcp;
	p.hdr.csum_start = 65000;	/* past the end */
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_GSO);
	p.hdr = tcp;
	p.hdr.hdr_len = 40000;
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_GSO);
	/* Not GSO: the packet itself within the MTU, no gso_size, no ECN. */
	p.hdr = (struct utun_offload_hdr){ 0 };
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_TOO_LONG);
	p.len = mk_tcp4(b, 1000);
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_NONE);
	p.hdr.gso_size = 100;
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_GSO);
	p.hdr = (struct utun_offload_hdr){ .gso_type = UTUN_GSO_ECN };
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_GSO);
	/* The packet checks still apply: family, length. */
	p.hdr = tcp;
	p.len = mk_tcp4(b, 30000);
	p.family = AF_INET6;
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_MISMATCH);
	p.family = AF_INET;
	p.len -= 1;
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_LENGTH);
	/* USO over IPv6, and TCPv4 GSO on an IPv6 packet. */
	p.family = AF_INET6;
	p.len = mk_udp6(b, 20000);
	p.hdr = (struct utun_offload_hdr){ .flags = UTUN_OFFLOAD_F_NEEDS_CSUM,
		.gso_type = UTUN_GSO_UDP_L4, .hdr_len = 48, .gso_size = 1400, .csum_start = 40,
		.csum_offset = 6 };
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_NONE);
	p.hdr.gso_type = UTUN_GSO_UDP_L4 | UTUN_GSO_ECN;
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_GSO);
	p.hdr.gso_type = UTUN_GSO_TCPV4;
	CU_ASSERT_EQUAL(utun_validate_offload(&p, 1500), UTUN_ERR_BAD_GSO);
	CU_ASSERT_STRING_EQUAL(utun_err_name(UTUN_ERR_BAD_GSO), "bad_gso");
}

/* ---------- loader helpers ---------- */

static int show_one(const char *name, struct ifkit_utun_info *out)
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
	if (!err && n == 1)
		memcpy(out, items, sizeof(*out));
	free(items);
	return err ? err : n == 1 ? 0 : -ENOENT;
}

static bool ping6_ok(void *arg)
{
	return h_sh("ip netns exec %s ping -6 -c 1 -W 1 fd00:80::2 >/dev/null 2>&1", (char *)arg) == 0;
}

/*
 * 16 MiB of IPv6 TCP (TSO6) with iperf3 from the server in ns src (address
 * src_addr) to the client in ns dst (-R), which counts what it received:
 * all of it must arrive (a bad checksum would make the stack drop segments
 * until the connection stalls).  The client counts, not the server: a
 * server's count may be taken before it read the last bytes.
 */
static void tcp6_across(const char *src, const char *src_addr, const char *dst, int port)
{
	char out[64];
	pid_t srv;

	srv = h_spawn(src, "exec iperf3 -s -B %s -p %d -1 >/dev/null 2>&1", src_addr, port);
	CU_ASSERT_FATAL(srv > 0);
	CU_ASSERT_FATAL(h_wait_listen(src, 't', port, 3000));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "ip netns exec %s iperf3 -c %s -p %d -n 16M -R "
				 "-J | jq -r .end.sum_received.bytes", dst, src_addr, port), 0);
	/* iperf3's server sends whole blocks: it may overshoot -n a little. */
	CU_ASSERT(atoll(out) >= 16ll << 20);
	CU_ASSERT_EQUAL(h_wait(srv, 5000), 0);
}

/* `ethtool -k dev` in ns says feature is on. */
static bool feature_on(const char *ns, const char *dev, const char *feature)
{
	return h_sh("ip netns exec %s ethtool -k %s | grep -q '^%s: on'", ns, dev, feature) == 0;
}

/* ---------- e2e: two utuns, one wire ---------- */

static void test_wire(void)
{
	char a[H_NAME_LEN], b[H_NAME_LEN], out[2048], *sum;
	unsigned long long ab = 0, ba = 0, abg = 0, bag = 0, r1 = 0, r2 = 0;
	struct ifkit_utun_info info;
	struct h_link la;
	pid_t wire;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("offa", a, sizeof(a)) == 0);
	CU_ASSERT_FATAL(h_ns_create("offb", b, sizeof(b)) == 0);
	wire = h_spawn(NULL, "exec %s --backend utun-offload --ns-a %s --ns-b %s --mtu 1500 "
		       "--socket %s 2>%s", h_bin("ifkit-wire"), a, b, L.sock, h_tmp("wire.err"));
	CU_ASSERT_FATAL(wire > 0);
	CU_ASSERT_FATAL(h_wait_for(utun_wire_up, a, 5000));
	/* The offloads the XDP path had to give up. */
	CU_ASSERT(feature_on(a, "utun0", "tx-checksumming"));
	CU_ASSERT(feature_on(a, "utun0", "tcp-segmentation-offload"));
	CU_ASSERT(feature_on(a, "utun0", "tx-udp-segmentation"));
	CU_ASSERT(feature_on(b, "utun1", "tx-checksumming"));
	CU_ASSERT(feature_on(b, "utun1", "tcp-segmentation-offload"));
	CU_ASSERT_EQUAL(show_one("utun0", &info), 0);
	CU_ASSERT_EQUAL(info.mode, IFKIT_UTUN_MODE_OFFLOAD);
	CU_ASSERT_EQUAL(h_ifkit(&L, NULL, out, sizeof(out), "utun show utun0"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, " mode offload "));
	CU_ASSERT_EQUAL(h_ifkit(&L, NULL, out, sizeof(out), "-j utun show utun0"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"mode\":\"offload\""));
	/* Hashed TCP both ways, 64 KB UDP (IP fragments) both ways, small UDP. */
	utun_wire_tcp(a, b, "10.80.0.2", 7201, 32 << 20);
	utun_wire_tcp(b, a, "10.80.0.1", 7202, 32 << 20);
	utun_wire_udp(a, b, "10.80.0.2", 7203, 20, 65000, L.sock);
	utun_wire_udp(b, a, "10.80.0.1", 7204, 20, 65000, L.sock);
	utun_wire_udp(a, b, "10.80.0.2", 7205, 20, 1200, L.sock);
	/* IPv6: TSO6 super-packets, both directions. */
	CU_ASSERT_EQUAL_FATAL(h_sh("ip -n %s addr add fd00:80::1 peer fd00:80::2 dev utun0 nodad && "
				   "ip -n %s addr add fd00:80::2 peer fd00:80::1 dev utun1 nodad",
				   a, b), 0);
	CU_ASSERT_FATAL(h_wait_for(ping6_ok, a, 5000));
	tcp6_across(a, "fd00:80::1", b, 7206);
	tcp6_across(b, "fd00:80::2", a, 7207);
	CU_ASSERT_EQUAL(show_one("utun0", &info), 0);
	printf("\n    utun0: out %llu packets %llu bytes, in %llu packets %llu bytes, drops %llu/%llu",
	       (unsigned long long)info.out_packets, (unsigned long long)info.out_bytes,
	       (unsigned long long)info.in_packets, (unsigned long long)info.in_bytes,
	       (unsigned long long)info.out_drops, (unsigned long long)info.in_drops);
	/* 32 MiB went each way: the counters saw at least that many bytes. */
	CU_ASSERT(info.out_bytes >= 32ull << 20);
	CU_ASSERT(info.in_bytes >= 32ull << 20);
	h_kill(wire, SIGTERM);
	CU_ASSERT(h_wait_file(h_tmp("wire.err"), "b->a", 2000));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "cat %s", h_tmp("wire.err")), 0);
	printf("\n    %s", out);
	sum = strstr(out, "ifkit-wire: a->b");
	CU_ASSERT_FATAL(sum != NULL);
	CU_ASSERT_EQUAL(sscanf(sum, "ifkit-wire: a->b %llu packets (%llu refused, %llu gso), "
			       "b->a %llu (%llu refused, %llu gso)", &ab, &r1, &abg, &ba, &r2, &bag), 6);
	/* GSO super-packets really crossed, both ways (TCP's data one way, its ACKs the other). */
	CU_ASSERT(abg > 0);
	CU_ASSERT(bag > 0);
	CU_ASSERT_EQUAL(r1 + r2, 0);
	la = (struct h_link){ a, "utun0" };
	CU_ASSERT(h_wait_for(h_link_gone, &la, 1000));
	h_ns_delete(a);
	h_ns_delete(b);
}

/* ---------- e2e: one utun driven here ---------- */

struct client {
	char ns[H_NAME_LEN];
	char name[IFNAMSIZ];
	int fd, pkt;
	uint8_t mac[6];		/* utunN's: raw frames must be addressed to it */
};

static int client_open(struct client *c, const char *tag)
{
	int err = 0;

	if (h_ns_create(tag, c->ns, sizeof(c->ns)))
		return -1;
	if (h_enter_ns(c->ns))
		return -1;
	c->fd = utun_open_at(L.sock, -1, c->name, sizeof(c->name));
	if (c->fd >= 0 && utun_enable_offload(c->fd) < 0)
		err = errno;
	if (c->fd >= 0 && !err) {
		struct ifreq ifr;
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", c->name);
		if (s < 0 || ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
			err = errno;
		memcpy(c->mac, ifr.ifr_hwaddr.sa_data, 6);
		if (s >= 0)
			close(s);
	}
	h_leave_ns();
	if (c->fd < 0 || err)
		return -1;
	c->pkt = utun_pollfd(c->fd);
	return h_sh("ip -n %s link set %s up && ip -n %s addr add 10.91.0.1 peer 10.91.0.2 dev %s",
		    c->ns, c->name, c->ns, c->name);
}

/* Next packet for us within ms, or 0 (len of the IP packet otherwise). */
static size_t recv_one(struct client *c, struct utun_gso_pkt *p, int ms)
{
	struct pollfd pfd = { .fd = c->pkt, .events = POLLIN };

	while (poll(&pfd, 1, ms) == 1) {
		if (utun_recv_offload(c->fd, p, 1, MSG_DONTWAIT) == 1)
			return p->len;
	}
	return 0;
}

/* An echo reply from the stack to 10.91.0.2 with seq, within ms? */
static bool reply_seen(struct client *c, uint16_t seq, int ms)
{
	static uint8_t buf[65536];
	struct utun_gso_pkt p = { .buf = buf, .cap = sizeof(buf) };

	for (int i = 0; i < 16; i++) {
		size_t n = recv_one(c, &p, ms);

		if (!n)
			return false;
		if (p.family == AF_INET && n >= 28 && buf[9] == 1 && buf[20] == 0 &&
		    (buf[26] << 8 | buf[27]) == seq)
			return true;
	}
	return false;
}

/* Send one ping into the stack through the offload socket: utun_send_offload's return. */
static int ping_in(struct client *c, uint16_t seq)
{
	uint8_t buf[128];
	struct utun_gso_pkt p = { .family = AF_INET, .buf = buf };

	p.len = mk_ping(buf, "10.91.0.2", "10.91.0.1", seq);
	return utun_send_offload(c->fd, &p, 1, 0);
}

/* One raw frame on the packet socket: vnet header, Ethernet header, payload. */
static ssize_t raw_send(struct client *c, const struct virtio_net_hdr *vh, uint16_t type,
			const void *pkt, size_t len)
{
	uint8_t eth[14] = { 0 };
	struct iovec iov[3] = {
		{ (void *)vh, sizeof(*vh) }, { eth, sizeof(eth) }, { (void *)pkt, len },
	};
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 3 };

	memcpy(eth, c->mac, 6);
	eth[12] = (uint8_t)(type >> 8);
	eth[13] = (uint8_t)type;
	return sendmsg(c->pkt, &msg, MSG_NOSIGNAL);
}

static struct client *mtu_client;

/* A 1400-byte ping refused with EINVAL (utunN's MTU is below it)? */
static bool big_refused(void *arg)
{
	static uint8_t b[1500];
	struct utun_gso_pkt p = { .family = AF_INET, .buf = b };

	(void)arg;
	p.len = mk_ping_len(b, "10.91.0.2", "10.91.0.1", 99, 1400);
	return utun_send_offload(mtu_client->fd, &p, 1, 0) == -1 && errno == EINVAL;
}

static void test_client(void)
{
	struct client c = { .fd = -1 };
	struct ifkit_utun_info info;
	struct sock_filter accept_all[] = { BPF_STMT(BPF_RET | BPF_K, 0xffff) };
	struct sock_fprog fprog = { .len = 1, .filter = accept_all };
	struct utun_gso_pkt p;
	struct virtio_net_hdr vh;
	static uint8_t buf[65536];
	uint64_t before;
	char out[2048];
	int dummy = 0;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(client_open(&c, "offc") == 0);
	/* Echo through the offload socket. */
	CU_ASSERT_EQUAL(ping_in(&c, 1), 1);
	CU_ASSERT(reply_seen(&c, 1, 2000));
	/* The other APIs on an offloaded descriptor: refused, not silently dead. */
	CU_ASSERT_EQUAL(utun_write(c.fd, AF_INET, buf, mk_ping(buf, "10.91.0.2", "10.91.0.1", 2)),
			-1);
	CU_ASSERT_EQUAL(errno, EOPNOTSUPP);
	CU_ASSERT_EQUAL(utun_read(c.fd, NULL, buf, sizeof(buf)), -1);
	CU_ASSERT_EQUAL(errno, EOPNOTSUPP);
	CU_ASSERT_EQUAL(utun_enable_fastpath(c.fd), -1);
	CU_ASSERT_EQUAL(errno, EBUSY);
	CU_ASSERT_EQUAL(utun_enable_offload(c.fd), 0);	/* again: already on */

	/* The client cannot take the filter off or replace it (SO_LOCK_FILTER). */
	CU_ASSERT_EQUAL(setsockopt(c.pkt, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof(dummy)), -1);
	CU_ASSERT_EQUAL(errno, EPERM);
	CU_ASSERT_EQUAL(setsockopt(c.pkt, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)), -1);
	CU_ASSERT_EQUAL(errno, EPERM);

	/* NO_OUTPUT: what the stack sends never reaches the socket, and is counted. */
	CU_ASSERT_EQUAL_FATAL(show_one(c.name, &info), 0);
	before = info.errors[UTUN_ERR_NO_OUTPUT];
	CU_ASSERT_EQUAL(utun_set_flags(c.fd, UTUN_FLAGS_NO_OUTPUT), 0);
	h_sh("ip netns exec %s ping -c 3 -i 0.2 -W 1 10.91.0.2 >/dev/null 2>&1", c.ns);
	p = (struct utun_gso_pkt){ .buf = buf, .cap = sizeof(buf) };
	CU_ASSERT_EQUAL(recv_one(&c, &p, 200), 0);
	CU_ASSERT_EQUAL(show_one(c.name, &info), 0);
	CU_ASSERT_EQUAL(info.errors[UTUN_ERR_NO_OUTPUT] - before, 3);
	/* And the socket filter still decides after the detach attempt: off again, packets come. */
	CU_ASSERT_EQUAL(utun_set_flags(c.fd, 0), 0);
	h_sh("ip netns exec %s ping -c 1 -W 1 10.91.0.2 >/dev/null 2>&1", c.ns);
	CU_ASSERT(recv_one(&c, &p, 1000) > 0);

	/* NO_INPUT: the send is taken (macOS), nothing reaches the stack, counted. */
	before = info.errors[UTUN_ERR_NO_INPUT];
	CU_ASSERT_EQUAL(utun_set_flags(c.fd, UTUN_FLAGS_NO_INPUT), 0);
	CU_ASSERT_EQUAL(ping_in(&c, 3), 1);
	CU_ASSERT_FALSE(reply_seen(&c, 3, 300));
	CU_ASSERT_EQUAL(show_one(c.name, &info), 0);
	CU_ASSERT_EQUAL(info.errors[UTUN_ERR_NO_INPUT] - before, 1);
	CU_ASSERT_EQUAL(info.flags, UTUN_FLAGS_NO_INPUT);
	CU_ASSERT_EQUAL(utun_set_flags(c.fd, 0), 0);
	CU_ASSERT_EQUAL(ping_in(&c, 4), 1);
	CU_ASSERT(reply_seen(&c, 4, 2000));

	/* Malformed headers: libutun refuses them (EINVAL, nothing sent). */
	p = (struct utun_gso_pkt){ .family = AF_INET, .buf = buf };
	p.len = mk_ping(buf, "10.91.0.2", "10.91.0.1", 5);
	p.hdr = (struct utun_offload_hdr){ .flags = UTUN_OFFLOAD_F_NEEDS_CSUM,
		.gso_type = UTUN_GSO_TCPV4, .gso_size = 8, .csum_start = 20, .csum_offset = 16 };
	CU_ASSERT_EQUAL(utun_send_offload(c.fd, &p, 1, 0), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_FALSE(reply_seen(&c, 5, 200));
	/*
	 * Sent raw on the socket, past libutun: a TCP GSO header on an ICMP
	 * packet (the kernel takes the header itself) is dropped by tc egress
	 * on hutunN and counted as bad_gso; a non-IP frame as bad_family.
	 */
	CU_ASSERT_EQUAL(show_one(c.name, &info), 0);
	before = info.errors[UTUN_ERR_BAD_GSO];
	memset(&vh, 0, sizeof(vh));
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	vh.gso_size = 8;
	vh.hdr_len = 14 + 40;
	vh.csum_start = 14 + 20;
	vh.csum_offset = 16;
	raw_send(&c, &vh, 0x0800, buf, p.len);
	CU_ASSERT_FALSE(reply_seen(&c, 5, 300));
	CU_ASSERT_EQUAL(show_one(c.name, &info), 0);
	CU_ASSERT_EQUAL(info.errors[UTUN_ERR_BAD_GSO] - before, 1);
	before = info.errors[UTUN_ERR_BAD_FAMILY];
	memset(&vh, 0, sizeof(vh));
	raw_send(&c, &vh, 0x0806, buf, 28);	/* an "ARP" frame */
	CU_ASSERT_EQUAL(show_one(c.name, &info), 0);
	CU_ASSERT_EQUAL(info.errors[UTUN_ERR_BAD_FAMILY] - before, 1);
	/* The same ping with a plain header passes the same way: the drop was the header's. */
	CU_ASSERT_EQUAL(raw_send(&c, &vh, 0x0800, buf, p.len), (ssize_t)(sizeof(vh) + 14 + p.len));
	CU_ASSERT(reply_seen(&c, 5, 2000));
	CU_ASSERT_EQUAL(h_ifkit(&L, NULL, out, sizeof(out), "utun show %s", c.name), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "bad_gso 1"));

	/*
	 * utunN's MTU: lowered, a 1400-byte packet is refused (EINVAL) within
	 * libutun's re-read interval; raised again, it is taken at once.
	 */
	CU_ASSERT_EQUAL(h_sh("ip -n %s link set %s mtu 1280", c.ns, c.name), 0);
	mtu_client = &c;
	CU_ASSERT(h_wait_for(big_refused, NULL, 1000));
	CU_ASSERT_EQUAL(h_sh("ip -n %s link set %s mtu 1500", c.ns, c.name), 0);
	p = (struct utun_gso_pkt){ .family = AF_INET, .buf = buf };
	p.len = mk_ping_len(buf, "10.91.0.2", "10.91.0.1", 6, 1400);
	CU_ASSERT_EQUAL(utun_send_offload(c.fd, &p, 1, 0), 1);
	CU_ASSERT(reply_seen(&c, 6, 2000));

	/* Closing the descriptor removes the utun; the packet socket then reports it. */
	CU_ASSERT_EQUAL(utun_close(c.fd), 0);
	{
		struct h_link l = { c.ns, c.name };

		CU_ASSERT(h_wait_for(h_link_gone, &l, 1000));
	}
	h_ns_delete(c.ns);
}

/*
 * A client that does not read: the stack sends SENT datagrams at it, then
 * it drains what was queued.  Every one must be accounted for: delivered +
 * out drops (by cause) == sent, and show's out packets == delivered.
 */
static void test_slow_reader(void)
{
	enum { SENT = 30000 };
	struct client c = { .fd = -1 };
	struct ifkit_utun_info before, after;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(9) };
	static uint8_t buf[65536];
	struct utun_gso_pkt p;
	uint64_t delivered = 0, drops, causes = 0;
	char payload[64] = { 0 };
	int s, sent = 0;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(client_open(&c, "offs") == 0);
	CU_ASSERT_FATAL(h_enter_ns(c.ns) == 0);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	h_leave_ns();
	CU_ASSERT_FATAL(s >= 0);
	inet_pton(AF_INET, "10.91.0.2", &sa.sin_addr);
	CU_ASSERT_EQUAL_FATAL(show_one(c.name, &before), 0);
	for (int i = 0; i < SENT; i++)
		sent += sendto(s, payload, sizeof(payload), 0, (void *)&sa, sizeof(sa)) ==
			(ssize_t)sizeof(payload);
	close(s);
	CU_ASSERT_EQUAL(sent, SENT);
	p = (struct utun_gso_pkt){ .buf = buf, .cap = sizeof(buf) };
	while (recv_one(&c, &p, 300))
		delivered += p.family == AF_INET && buf[9] == 17 && (buf[22] << 8 | buf[23]) == 9;
	CU_ASSERT_EQUAL_FATAL(show_one(c.name, &after), 0);
	drops = after.out_drops - before.out_drops;
	for (int k = 0; k < UTUN_STAT_CAUSES && k < UTUN_ERR_MAX; k++)
		if (k != UTUN_ERR_NONE && k != UTUN_ERR_NO_INPUT && k != UTUN_ERR_BAD_GSO &&
		    k != UTUN_ERR_BAD_FAMILY && k != UTUN_ERR_MISMATCH)
			causes += after.errors[k] - before.errors[k];
	printf("\n    sent %d, delivered %llu, out drops %llu (queue_full %llu, dev_drop %llu)",
	       sent, (unsigned long long)delivered, (unsigned long long)drops,
	       (unsigned long long)(after.errors[UTUN_ERR_QUEUE_FULL] -
				    before.errors[UTUN_ERR_QUEUE_FULL]),
	       (unsigned long long)(after.errors[UTUN_ERR_DEV_DROP] -
				    before.errors[UTUN_ERR_DEV_DROP]));
	CU_ASSERT(drops > 0);		/* 30 000 do not fit in the socket's queue */
	CU_ASSERT_EQUAL(delivered + drops, (uint64_t)sent);
	CU_ASSERT_EQUAL(causes, drops);
	CU_ASSERT_EQUAL(after.out_packets - before.out_packets, delivered);
	utun_close(c.fd);
	h_ns_delete(c.ns);
}

/* A process that is not root may hold a utun descriptor, but not take its packet socket. */
static void test_nonroot(void)
{
	struct client c = { .fd = -1 };
	struct ifkit_utun_info info;
	int status = -1;
	pid_t pid;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("offn", c.ns, sizeof(c.ns)) == 0);
	CU_ASSERT_FATAL(h_enter_ns(c.ns) == 0);
	c.fd = utun_open_at(L.sock, -1, c.name, sizeof(c.name));
	h_leave_ns();
	CU_ASSERT_FATAL(c.fd >= 0);
	pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(100);
		_exit(utun_enable_offload(c.fd) < 0 ? errno : 0);
	}
	CU_ASSERT_FATAL(pid > 0);
	waitpid(pid, &status, 0);
	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), EPERM);
	CU_ASSERT_EQUAL(show_one(c.name, &info), 0);
	CU_ASSERT_EQUAL(info.mode, IFKIT_UTUN_MODE_SOCKET);
	utun_close(c.fd);
	h_ns_delete(c.ns);
}

/* ---------- e2e: kill -9 ---------- */

static bool no_utun(void *arg)
{
	struct ifkit_utun_info info;

	return show_one((const char *)arg, &info) == -ENODEV;
}

static void test_sigkill(void)
{
	char ns[H_NAME_LEN], out[64];
	struct h_link l;
	pid_t holder;
	struct timespec t0, t1;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("offk", ns, sizeof(ns)) == 0);
	holder = h_spawn(ns, "exec %s --hold-offload %s > %s", h_bin("tests/test_utun_offload"),
			 L.sock, h_tmp("hold.out"));
	CU_ASSERT_FATAL(holder > 0);
	CU_ASSERT_FATAL(h_wait_file(h_tmp("hold.out"), "utun", 5000));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "cat %s", h_tmp("hold.out")), 0);
	out[strcspn(out, "\n")] = '\0';
	l = (struct h_link){ ns, out };
	CU_ASSERT_FATAL(h_link_exists(&l));
	{
		struct ifkit_utun_info info;

		CU_ASSERT_EQUAL(show_one(out, &info), 0);
		CU_ASSERT_EQUAL(info.mode, IFKIT_UTUN_MODE_OFFLOAD);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	h_kill(holder, SIGKILL);
	CU_ASSERT(h_wait_for(h_link_gone, &l, 1000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("\n    %s gone %ld ms after SIGKILL", out,
	       (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	CU_ASSERT(h_wait_for(no_utun, out, 1000));
	h_ns_delete(ns);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static bool no_utun_listed(void *arg)
{
	char out[4096];

	(void)arg;
	return h_ifkit(&L, NULL, out, sizeof(out), "-j utun show") == 0 && !strstr(out, "utun");
}

/* Entries in a map pinned in the loader's pin directory (-1: cannot open it). */
static int pinned_entries(const char *name)
{
	char path[300];
	__u32 key, next;
	int fd, n = 0;

	snprintf(path, sizeof(path), "%s/%s", L.pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	for (int more = bpf_map_get_next_key(fd, NULL, &next) == 0; more;
	     more = bpf_map_get_next_key(fd, &key, &next) == 0) {
		key = next;
		n++;
	}
	close(fd);
	return n;
}

/*
 * An offload client dies (kill -9) while no loader runs: the packet socket
 * (made in hutunN's namespace) must hold it no longer than the AF_XDP
 * socket does, so the kernel alone removes the utun within 1 s.  The next
 * loader lists nothing and keeps no offload entry for it.
 */
static void test_sigkill_no_loader(void)
{
	char ns[H_NAME_LEN], out[64];
	struct ifkit_utun_info info;
	struct timespec t0;
	struct h_link l;
	pid_t holder;
	long ms;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("offnl", ns, sizeof(ns)) == 0);
	holder = h_spawn(ns, "exec %s --hold-offload %s > %s", h_bin("tests/test_utun_offload"),
			 L.sock, h_tmp("holdnl.out"));
	CU_ASSERT_FATAL(holder > 0);
	CU_ASSERT_FATAL(h_wait_file(h_tmp("holdnl.out"), "utun", 5000));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "cat %s", h_tmp("holdnl.out")), 0);
	out[strcspn(out, "\n")] = '\0';
	l = (struct h_link){ ns, out };
	CU_ASSERT_FATAL(h_link_exists(&l));
	CU_ASSERT_EQUAL(show_one(out, &info), 0);
	CU_ASSERT_EQUAL(info.mode, IFKIT_UTUN_MODE_OFFLOAD);
	CU_ASSERT_EQUAL(pinned_entries("utun_off_reg"), 1);
	h_loader_kill(&L, SIGKILL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	h_kill(holder, SIGKILL);
	CU_ASSERT(h_wait_for(h_link_gone, &l, 1000));
	ms = ms_since(&t0);
	printf("\n    %s gone %ld ms after SIGKILL, no loader running", out, ms);
	CU_ASSERT(ms < 1000);
	loader_ok = h_loader_restart(&L) == 0;
	CU_ASSERT_FATAL(loader_ok);
	CU_ASSERT(h_wait_for(no_utun_listed, NULL, 1000));
	CU_ASSERT_EQUAL(pinned_entries("utun_off_reg"), 0);
	h_ns_delete(ns);
}

/*
 * Loader SIGKILL and restart: an offloaded utun is adopted and listed in
 * offload mode; a utun opened before the restart can enable offload mode
 * with the new loader; both still go with their clients (no new loader
 * pins them either).
 */
static void test_adopt(void)
{
	char ns[H_NAME_LEN], a[64], b[64], out[8192];
	struct ifkit_utun_info info;
	struct h_link la, lb;
	struct timespec t0;
	pid_t ha, hb;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("offad", ns, sizeof(ns)) == 0);
	ha = h_spawn(ns, "exec %s --hold-offload %s > %s", h_bin("tests/test_utun_offload"),
		     L.sock, h_tmp("holda.out"));
	hb = h_spawn(ns, "exec %s --hold-offload-on %s %s > %s", h_bin("tests/test_utun_offload"),
		     L.sock, h_tmp("go"), h_tmp("holdb.out"));
	CU_ASSERT_FATAL(ha > 0 && hb > 0);
	CU_ASSERT_FATAL(h_wait_file(h_tmp("holda.out"), "utun", 5000));
	CU_ASSERT_FATAL(h_wait_file(h_tmp("holdb.out"), "utun", 5000));
	CU_ASSERT_EQUAL(h_sh_out(a, sizeof(a), "head -1 %s", h_tmp("holda.out")), 0);
	CU_ASSERT_EQUAL(h_sh_out(b, sizeof(b), "head -1 %s", h_tmp("holdb.out")), 0);
	a[strcspn(a, "\n")] = '\0';
	b[strcspn(b, "\n")] = '\0';
	la = (struct h_link){ ns, a };
	lb = (struct h_link){ ns, b };
	/* 3 pings out of a (its client never reads them): counted by a's socket filter. */
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ip addr add 10.93.0.1 peer 10.93.0.2 dev %s", ns, a),
			0);
	h_sh("ip netns exec %s ping -c 3 -i 0.2 -W 1 10.93.0.2 >/dev/null 2>&1", ns);
	CU_ASSERT_EQUAL(show_one(a, &info), 0);
	CU_ASSERT_EQUAL(info.out_packets, 3);
	h_loader_kill(&L, SIGKILL);
	loader_ok = h_loader_restart(&L) == 0;
	CU_ASSERT_FATAL(loader_ok);
	CU_ASSERT_EQUAL(show_one(a, &info), 0);
	CU_ASSERT_EQUAL(info.mode, IFKIT_UTUN_MODE_OFFLOAD);
	CU_ASSERT_EQUAL(info.owner_pid, (__u32)ha);
	CU_ASSERT_EQUAL(info.out_packets, 3);	/* utun_off_stats outlived the loader */
	CU_ASSERT_EQUAL(show_one(b, &info), 0);
	CU_ASSERT_EQUAL(info.mode, IFKIT_UTUN_MODE_SOCKET);
	/* b enables offload mode now, with the loader that adopted it. */
	CU_ASSERT_EQUAL(h_sh("touch %s", h_tmp("go")), 0);
	CU_ASSERT(h_wait_file(h_tmp("holdb.out"), "offload 0", 5000));
	CU_ASSERT_EQUAL(show_one(b, &info), 0);
	CU_ASSERT_EQUAL(info.mode, IFKIT_UTUN_MODE_OFFLOAD);
	CU_ASSERT_EQUAL(h_ifkit(&L, NULL, out, sizeof(out), "utun show"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, " mode offload "));
	CU_ASSERT_EQUAL(pinned_entries("utun_off_reg"), 2);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	h_kill(ha, SIGKILL);
	h_kill(hb, SIGKILL);
	CU_ASSERT(h_wait_for(h_link_gone, &la, 1000));
	CU_ASSERT(h_wait_for(h_link_gone, &lb, 1000));
	printf("\n    adopted %s and %s gone %ld ms after SIGKILL", a, b, ms_since(&t0));
	CU_ASSERT(h_wait_for(no_utun_listed, NULL, 1000));
	CU_ASSERT_EQUAL(pinned_entries("utun_off_reg"), 0);
	h_ns_delete(ns);
}

/*
 * A plain close() of an offloaded descriptor (no utun_close) ends the utun
 * too: libutun's relay thread sees the hang-up and releases the packet
 * socket with the AF_XDP socket (either would keep the namespace alive).
 */
static void test_plain_close(void)
{
	struct client c = { .fd = -1 };
	struct h_link l;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("offpc", c.ns, sizeof(c.ns)) == 0);
	CU_ASSERT_FATAL(h_enter_ns(c.ns) == 0);
	c.fd = utun_open_at(L.sock, -1, c.name, sizeof(c.name));
	h_leave_ns();
	CU_ASSERT_FATAL(c.fd >= 0);
	CU_ASSERT_EQUAL_FATAL(utun_enable_offload(c.fd), 0);
	l = (struct h_link){ c.ns, c.name };
	CU_ASSERT_FATAL(h_link_exists(&l));
	CU_ASSERT_EQUAL(close(c.fd), 0);
	CU_ASSERT(h_wait_for(h_link_gone, &l, 1000));
	CU_ASSERT(h_wait_for(no_utun_listed, NULL, 1000));
	h_ns_delete(c.ns);
}

static bool pollfd_is_unix(void *arg)
{
	int domain = -1;
	socklen_t len = sizeof(domain);

	return getsockopt(utun_pollfd(*(int *)arg), SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
	       domain == AF_UNIX;
}

/*
 * utunN deleted by hand under an offload client: its calls fail with
 * ENETDOWN at once (no hang), and once libutun released the utun the
 * packet socket's number holds a dead socket (not closed: the number
 * cannot reach whatever the process opens next); utun_close cleans up.
 */
static void test_deleted(void)
{
	struct client c = { .fd = -1 };
	uint8_t buf[2048];
	struct utun_gso_pkt p = { .buf = buf, .cap = sizeof(buf) };
	struct pollfd pfd;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("offdl", c.ns, sizeof(c.ns)) == 0);
	CU_ASSERT_FATAL(h_enter_ns(c.ns) == 0);
	c.fd = utun_open_at(L.sock, -1, c.name, sizeof(c.name));
	h_leave_ns();
	CU_ASSERT_FATAL(c.fd >= 0);
	CU_ASSERT_EQUAL_FATAL(utun_enable_offload(c.fd), 0);
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ip link del %s", c.ns, c.name), 0);
	pfd = (struct pollfd){ .fd = utun_pollfd(c.fd), .events = POLLIN };
	CU_ASSERT_EQUAL(poll(&pfd, 1, 2000), 1);
	CU_ASSERT_EQUAL(utun_recv_offload(c.fd, &p, 1, 0), -1);
	CU_ASSERT_EQUAL(errno, ENETDOWN);
	CU_ASSERT(h_wait_for(no_utun_listed, NULL, 1000));
	CU_ASSERT(h_wait_for(pollfd_is_unix, &c.fd, 1000));
	CU_ASSERT_EQUAL(utun_recv_offload(c.fd, &p, 1, 0), -1);
	CU_ASSERT_EQUAL(errno, ENETDOWN);
	memset(buf, 0, sizeof(buf));
	buf[0] = 0x45;
	buf[3] = 20;
	p = (struct utun_gso_pkt){ .family = AF_INET, .buf = buf, .len = 20 };
	CU_ASSERT_EQUAL(utun_send_offload(c.fd, &p, 1, 0), -1);
	CU_ASSERT_EQUAL(errno, ENETDOWN);
	CU_ASSERT_EQUAL(utun_close(c.fd), 0);
	h_ns_delete(c.ns);
}

/* show's mode follows the client: socket, fast after utun_enable_fastpath; offload then refused. */
static void test_modes(void)
{
	struct client c = { .fd = -1 };
	struct ifkit_utun_info info;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("offm", c.ns, sizeof(c.ns)) == 0);
	CU_ASSERT_FATAL(h_enter_ns(c.ns) == 0);
	c.fd = utun_open_at(L.sock, -1, c.name, sizeof(c.name));
	h_leave_ns();
	CU_ASSERT_FATAL(c.fd >= 0);
	CU_ASSERT_EQUAL(show_one(c.name, &info), 0);
	CU_ASSERT_EQUAL(info.mode, IFKIT_UTUN_MODE_SOCKET);
	CU_ASSERT_EQUAL(utun_enable_fastpath(c.fd), 0);
	CU_ASSERT_EQUAL(show_one(c.name, &info), 0);
	CU_ASSERT_EQUAL(info.mode, IFKIT_UTUN_MODE_FAST);
	CU_ASSERT_EQUAL(utun_enable_offload(c.fd), -1);
	CU_ASSERT_EQUAL(errno, EBUSY);
	CU_ASSERT_EQUAL(show_one(c.name, &info), 0);
	CU_ASSERT_EQUAL(info.mode, IFKIT_UTUN_MODE_FAST);
	utun_close(c.fd);
	CU_ASSERT(h_wait_for(no_utun_listed, NULL, 1000));
	h_ns_delete(c.ns);
}

/* ---------- helper mode, registration ---------- */

static int helper(int argc, char **argv)
{
	if (!strcmp(argv[1], "--hold-offload") && argc == 3) {
		char name[IFNAMSIZ];
		int fd;

		setenv("IFKIT_SOCKET", argv[2], 1);
		fd = utun_open_at(argv[2], -1, name, sizeof(name));
		if (fd < 0 || utun_enable_offload(fd) < 0)
			return errno;
		printf("%s\n", name);
		fflush(stdout);
		for (;;)
			pause();
	}
	if (!strcmp(argv[1], "--hold-offload-on") && argc == 4) {
		/* Open now, enable offload mode once file argv[3] exists. */
		char name[IFNAMSIZ];
		int fd, err;

		setenv("IFKIT_SOCKET", argv[2], 1);
		fd = utun_open_at(argv[2], -1, name, sizeof(name));
		if (fd < 0)
			return errno;
		printf("%s\n", name);
		fflush(stdout);
		while (access(argv[3], F_OK) != 0)
			usleep(10000);
		err = utun_enable_offload(fd) < 0 ? errno : 0;
		printf("offload %d\n", err);
		fflush(stdout);
		for (;;)
			pause();
	}
	fprintf(stderr, "test_utun_offload: unknown helper mode %s\n", argv[1]);
	return 2;
}

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
	CU_pSuite unit = CU_add_suite("utun_offload_unit", NULL, NULL);
	CU_pSuite e2e = CU_add_suite_with_setup_and_teardown("utun_offload_e2e", NULL, NULL,
							     e2e_setup, e2e_teardown);

	CU_add_test(unit, "offload header checks, every malformed case", test_validate_offload);
	CU_add_test(e2e, "wire: TSO/USO/csum kept, GSO crosses, TCP and 64 KB UDP both ways intact",
		    test_wire);
	CU_add_test(e2e, "client: locked filter, NO_OUTPUT/NO_INPUT, malformed refused and counted",
		    test_client);
	CU_add_test(e2e, "non-root holder of the descriptor refused with EPERM", test_nonroot);
	CU_add_test(e2e, "slow reader: sent = delivered + out drops by cause", test_slow_reader);
	CU_add_test(e2e, "SIGKILLed offload client: utun gone within 1 s", test_sigkill);
	CU_add_test(e2e, "plain close() of an offloaded descriptor: utun gone within 1 s",
		    test_plain_close);
	CU_add_test(e2e, "utunN deleted by hand: ENETDOWN at once, the socket's number stays harmless",
		    test_deleted);
	CU_add_test(e2e, "show mode: socket, fast; offload on a fast-path utun refused (EBUSY)",
		    test_modes);
	CU_add_test(e2e, "SIGKILLed offload client, no loader running: utun gone within 1 s",
		    test_sigkill_no_loader);
	CU_add_test(e2e, "loader restart: offloaded utun adopted (mode offload), offload on an adopted utun",
		    test_adopt);
}

int main(int argc, char **argv)
{
	if (argc > 1 && argv[1][0] == '-' && argv[1][1] == '-')
		return helper(argc, argv);
	return h_main(argc, argv, add_suites);
}
