// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libutun-darwin: macOS utun client code on Linux, unchanged; and the option
 * semantics of libutun it relies on.
 *
 * The macOS-style client is tests/darwin/utun_echo.c (only macOS headers),
 * built by mk/darwin.mk three ways: with `pkg-config --cflags --libs
 * libutun-darwin` (PKG_CONFIG_PATH = the build dir, whose
 * libutun-darwin-uninstalled.pc pkg-config prefers), against the headers
 * only (run with LD_PRELOAD=libutun-darwin.so) and with the static archive.
 * It runs in namespaces this test makes, against a private loader;
 * addresses 10.8x.0.0/24 and fd00:8x::/64 live only inside them.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <CUnit/CUnit.h>
#include "harness.h"
#include "ctl.h"
#include "ifkit/utun.h"
/* The compat headers, by their macOS names (-Iinclude/ifkit/darwin). */
#include <sys/kern_control.h>
#include <sys/sys_domain.h>
#include <net/if_utun.h>

static struct h_loader L;
static bool loader_ok;

/* ---------- helpers ---------- */

static bool need_loader(void)
{
	if (!h_is_root() || !loader_ok) {
		CU_FAIL("needs root and a running loader");
		return false;
	}
	return true;
}

/* A client run: its pid and where its stdout goes. */
struct client {
	pid_t pid;
	char out[256];
};

/* Path of one built variant of the client: "", "-hdronly" or "-static". */
static const char *client_bin(const char *variant)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s%s", h_bin("darwin/utun_echo"), variant);
	return path;
}

/* Start the client (variant, args) in ns; output to a file of its own. */
static int client_start(struct client *c, const char *ns, const char *variant, const char *args)
{
	static int n;
	const char *preload = strcmp(variant, "-hdronly") ? "" : "LD_PRELOAD=";
	char so[256] = "";

	if (*preload)
		snprintf(so, sizeof(so), "%s", h_bin("libutun-darwin.so"));
	snprintf(c->out, sizeof(c->out), "%s", h_tmp(""));
	snprintf(c->out + strlen(c->out), sizeof(c->out) - strlen(c->out), "/client%d.out", n++);
	c->pid = h_spawn(ns, "exec env IFKIT_SOCKET=%s %s%s %s %s >%s 2>&1", L.sock, preload, so,
			 client_bin(variant), args, c->out);
	return c->pid > 0 ? 0 : -1;
}

/* The client's output (NUL-terminated, "" if none yet). */
static const char *client_output(struct client *c)
{
	static char buf[4096];
	FILE *f = fopen(c->out, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static bool client_ready(void *arg)
{
	struct client *c = arg;

	return strstr(client_output(c), "READY\n") != NULL;
}

/* Does the client's output have this exact line? */
static bool has_line(struct client *c, const char *line)
{
	const char *out = client_output(c), *p = out;
	size_t n = strlen(line);

	while ((p = strstr(p, line))) {
		if ((p == out || p[-1] == '\n') && p[n] == '\n')
			return true;
		p += n;
	}
	return false;
}

static int ping(const char *ns, const char *args)
{
	return h_sh("ip netns exec %s ping %s", ns, args);
}

static int link_bytes(const char *ns, const char *dev, const char *dir, unsigned long long *out)
{
	char buf[64];

	/* ip netns exec mounts the namespace's own /sys */
	if (h_sh_out(buf, sizeof(buf), "ip netns exec %s cat /sys/class/net/%s/statistics/%s_bytes",
		     ns, dev, dir) != 0)
		return -1;
	*out = strtoull(buf, NULL, 10);
	return 0;
}

/* ---------- unit: headers and libutun options without a loader ---------- */

static void test_header_layouts(void)
{
	struct sockaddr_ctl sc;

	/* macOS's layouts and values, byte for byte */
	CU_ASSERT_EQUAL(sizeof(struct sockaddr_ctl), 32);
	CU_ASSERT_EQUAL(offsetof(struct sockaddr_ctl, sc_family), 1);
	CU_ASSERT_EQUAL(offsetof(struct sockaddr_ctl, ss_sysaddr), 2);
	CU_ASSERT_EQUAL(offsetof(struct sockaddr_ctl, sc_id), 4);
	CU_ASSERT_EQUAL(offsetof(struct sockaddr_ctl, sc_unit), 8);
	CU_ASSERT_EQUAL(sizeof(struct ctl_info), 100);
	CU_ASSERT_EQUAL(MAX_KCTL_NAME, 96);
	CU_ASSERT_EQUAL((unsigned long)CTLIOCGINFO, 0xc0644e03ul);
	CU_ASSERT_EQUAL(SYSPROTO_CONTROL, 2);
	CU_ASSERT_EQUAL(AF_SYS_CONTROL, 2);
	CU_ASSERT_EQUAL(UTUN_OPT_FLAGS, 1);
	CU_ASSERT_EQUAL(UTUN_OPT_IFNAME, 2);
	CU_ASSERT_EQUAL(UTUN_FLAGS_NO_OUTPUT, 1);
	CU_ASSERT_EQUAL(UTUN_FLAGS_NO_INPUT, 2);
	CU_ASSERT_STRING_EQUAL(UTUN_CONTROL_NAME, "com.apple.net.utun_control");
	/* PF_SYSTEM: outside Linux's families, fits sc_family (u_char) */
	CU_ASSERT(PF_SYSTEM >= AF_MAX && PF_SYSTEM <= 255);
	sc.sc_family = AF_SYSTEM;
	CU_ASSERT_EQUAL(sc.sc_family, AF_SYSTEM);
	/* without the library the socket fails cleanly */
	CU_ASSERT_EQUAL(socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL), -1);
	CU_ASSERT_EQUAL(errno, EAFNOSUPPORT);
}

/* Seed's getopt/setopt errors that need no loader (checked before asking it). */
static void test_libutun_opt_errors(void)
{
	uint32_t v = 0;
	uint16_t small = 0;
	size_t len = sizeof(small);

	errno = 0;
	CU_ASSERT_EQUAL(utun_getopt(0, UTUN_OPT_FLAGS, &small, &len), -1);
	CU_ASSERT_EQUAL(errno, EMSGSIZE);
	len = sizeof(v);
	CU_ASSERT_EQUAL(utun_getopt(0, 77, &v, &len), -1);
	CU_ASSERT_EQUAL(errno, ENOPROTOOPT);
	CU_ASSERT_EQUAL(utun_setopt(0, UTUN_OPT_IFNAME, "x", 1), -1);
	CU_ASSERT_EQUAL(errno, ENOPROTOOPT);
	CU_ASSERT_EQUAL(utun_setopt(0, 77, &v, sizeof(v)), -1);
	CU_ASSERT_EQUAL(errno, ENOPROTOOPT);
	if (geteuid() == 0) {
		CU_ASSERT_EQUAL(utun_setopt(0, UTUN_OPT_FLAGS, &small, sizeof(small)), -1);
		CU_ASSERT_EQUAL(errno, EMSGSIZE);
	}
}

/* No loader: connect() fails with ECONNREFUSED and a message naming ifkitd. */
static void test_no_loader(void)
{
	char out[512];
	int st;

	st = h_sh_out(out, sizeof(out), "IFKIT_SOCKET=%s %s", h_tmp("nothing-here.sock"),
		      client_bin(""));
	CU_ASSERT_EQUAL(st, ECONNREFUSED);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "connect: Connection refused"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ifkitd"));
}

/*
 * tests/darwin/ctl_edges.c in every build: socket/ioctl/connect/option
 * errors before any loader is asked, a closed system socket's number reused
 * by a UDP socket going to the C library, threads churning the table.
 */
static void edges_variant(const char *variant)
{
	char bin[300], out[4096], so[256];
	int st;

	snprintf(bin, sizeof(bin), "%s", h_bin("darwin/ctl_edges"));
	snprintf(so, sizeof(so), "%s", h_bin("libutun-darwin.so"));
	st = h_sh_out(out, sizeof(out), "%s%s %s%s", strcmp(variant, "-hdronly") ? "" : "LD_PRELOAD=",
		      strcmp(variant, "-hdronly") ? "" : so, bin, variant);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "DONE 0"));
	if (st)
		fprintf(stderr, "ctl_edges%s:\n%s\n", variant, out);
}

static void test_edges(void)
{
	char out[1024];
	int st;

	edges_variant("");
	edges_variant("-hdronly");
	edges_variant("-static");
	/* headers only without the library: a clean EAFNOSUPPORT, nothing else opened */
	st = h_sh_out(out, sizeof(out), "%s-hdronly", h_bin("darwin/ctl_edges"));
	CU_ASSERT_NOT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "CHECK socket FAIL (errno 97"));
}

/* ---------- end to end ---------- */

/*
 * The client as built (variant), in a namespace of its own: options as the
 * seed gives them, ping over IPv4 and IPv6, counters, and gone on exit.
 */
static void echo_variant(const char *variant, const char *tag, int net)
{
	char ns[H_NAME_LEN], name[IFNAMSIZ] = "", line[128];
	unsigned long long tx0 = 0, rx0 = 0, tx1 = 0, rx1 = 0;
	struct client c;
	struct h_link lw;
	const char *out, *p;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create(tag, ns, sizeof(ns)) == 0);
	/* -P: poll() here, select() in the other tests */
	CU_ASSERT_FATAL(client_start(&c, ns, variant, "-P") == 0);
	if (!h_wait_for(client_ready, &c, 5000)) {
		CU_FAIL("client not ready");
		fprintf(stderr, "client output: %s\n", client_output(&c));
		goto cleanup;
	}
	out = client_output(&c);
	p = strstr(out, "GET_IFNAME 0 0 ");
	CU_ASSERT_PTR_NOT_NULL(p);
	if (p)
		sscanf(p, "GET_IFNAME 0 0 %15s", name);
	CU_ASSERT_EQUAL(strncmp(name, "utun", 4), 0);
	/* the seed: snprintf'd name, length incl. NUL; short buffer truncates */
	snprintf(line, sizeof(line), "GET_IFNAME 0 0 %s %zu", name, strlen(name) + 1);
	CU_ASSERT(has_line(&c, line));
	CU_ASSERT(has_line(&c, "GET_IFNAME_SHORT 0 0 utu 4"));
	CU_ASSERT(has_line(&c, "GET_FLAGS 0 0 0"));
	snprintf(line, sizeof(line), "GET_FLAGS_LEN2 -1 %d", EMSGSIZE);
	CU_ASSERT(has_line(&c, line));
	snprintf(line, sizeof(line), "GET_UNKNOWN -1 %d", ENOPROTOOPT);
	CU_ASSERT(has_line(&c, line));
	CU_ASSERT(has_line(&c, "SET_FLAGS 0 0"));
	CU_ASSERT(has_line(&c, "SET_FLAGS_0 0 0"));
	snprintf(line, sizeof(line), "SET_FLAGS_LEN2 -1 %d", EMSGSIZE);
	CU_ASSERT(has_line(&c, line));
	snprintf(line, sizeof(line), "SET_IFNAME -1 %d", ENOPROTOOPT);
	CU_ASSERT(has_line(&c, line));
	/* unknown flag bits refused (docs/porting.md says why) */
	snprintf(line, sizeof(line), "SET_FLAGS_UNKNOWN -1 %d", EINVAL);
	CU_ASSERT(has_line(&c, line));

	CU_ASSERT_EQUAL(h_sh("ip -n %s addr add 10.%d.0.1 peer 10.%d.0.2 dev %s && "
			     "ip -n %s -6 addr add fd00:%d::1 peer fd00:%d::2 dev %s nodad",
			     ns, net, net, name, ns, net, net, name), 0);
	/* Byte counters: 3 echo requests of 84 bytes of IPv4 out, 3 replies in. */
	CU_ASSERT_EQUAL(link_bytes(ns, name, "tx", &tx0), 0);
	CU_ASSERT_EQUAL(link_bytes(ns, name, "rx", &rx0), 0);
	snprintf(line, sizeof(line), "-c 3 -i 0.2 -W 2 -s 56 10.%d.0.2", net);
	CU_ASSERT_EQUAL(ping(ns, line), 0);
	CU_ASSERT_EQUAL(link_bytes(ns, name, "tx", &tx1), 0);
	CU_ASSERT_EQUAL(link_bytes(ns, name, "rx", &rx1), 0);
	/*
	 * Never the 4-byte utun header (the seed counts it): TX counts the IP
	 * packet, RX the Ethernet frame of the veth (docs/porting.md).
	 */
	CU_ASSERT_EQUAL(tx1 - tx0, 3 * 84ull);
	CU_ASSERT_EQUAL(rx1 - rx0, 3 * (84ull + 14));
	snprintf(line, sizeof(line), "-6 -c 3 -i 0.2 -W 2 fd00:%d::2", net);
	CU_ASSERT_EQUAL(ping(ns, line), 0);

	h_kill(c.pid, SIGTERM);
	lw.ns = ns;
	lw.name = name;
	CU_ASSERT(h_wait_for(h_link_gone, &lw, 1000));
cleanup:
	h_kill(c.pid, SIGKILL);
	h_ns_delete(ns);
}

static void test_echo_pkgconfig(void)
{
	echo_variant("", "pc", 81);
}

static void test_echo_preload(void)
{
	echo_variant("-hdronly", "pre", 82);
}

static void test_echo_static(void)
{
	echo_variant("-static", "sta", 83);
}

/* Replies framed with macOS's AF_INET6 (30) are taken as IPv6. */
static void test_darwin_af_inet6(void)
{
	char ns[H_NAME_LEN];
	struct client c;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("af6", ns, sizeof(ns)) == 0);
	CU_ASSERT_FATAL(client_start(&c, ns, "", "-6 -u 4") == 0);
	CU_ASSERT_FATAL(h_wait_for(client_ready, &c, 5000));
	CU_ASSERT_EQUAL(h_sh("ip -n %s -6 addr add fd00:84::1 peer fd00:84::2 dev utun4 nodad",
			     ns), 0);
	CU_ASSERT_EQUAL(ping(ns, "-6 -c 2 -i 0.2 -W 2 fd00:84::2"), 0);
	h_kill(c.pid, SIGKILL);
	h_ns_delete(ns);
}

/* Unit choice, any unit, taken unit (EBUSY), unknown control name (ENOENT). */
static void test_units_and_errors(void)
{
	char ns[H_NAME_LEN], ns2[H_NAME_LEN], out[512];
	struct client a, b;
	struct h_link lw;
	int st;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("unit", ns, sizeof(ns)) == 0);
	CU_ASSERT_FATAL(h_ns_create("unit2", ns2, sizeof(ns2)) == 0);
	CU_ASSERT_FATAL(client_start(&a, ns, "", "-u 6") == 0);
	CU_ASSERT_FATAL(h_wait_for(client_ready, &a, 5000));
	CU_ASSERT(has_line(&a, "GET_IFNAME 0 0 utun6 6"));
	lw.ns = ns;
	lw.name = "utun6";
	CU_ASSERT(h_link_exists(&lw));
	/* taken, also from another namespace */
	st = h_sh_out(out, sizeof(out), "ip netns exec %s env IFKIT_SOCKET=%s %s -u 6", ns2,
		      L.sock, client_bin(""));
	CU_ASSERT_EQUAL(st, EBUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "connect: Device or resource busy"));
	/* any unit (sc_unit 0) picks another */
	CU_ASSERT_FATAL(client_start(&b, ns2, "", "") == 0);
	CU_ASSERT(h_wait_for(client_ready, &b, 5000));
	CU_ASSERT(strstr(client_output(&b), "GET_IFNAME 0 0 utun") != NULL);
	CU_ASSERT(strstr(client_output(&b), "GET_IFNAME 0 0 utun6 ") == NULL);
	/* wrong control name */
	st = h_sh_out(out, sizeof(out), "ip netns exec %s env IFKIT_SOCKET=%s %s -n com.apple.nope",
		      ns2, L.sock, client_bin(""));
	CU_ASSERT_EQUAL(st, ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "CTLIOCGINFO: No such file or directory"));
	h_kill(a.pid, SIGTERM);
	CU_ASSERT(h_wait_for(h_link_gone, &lw, 1000));
	h_kill(b.pid, SIGKILL);
	h_ns_delete(ns);
	h_ns_delete(ns2);
}

static void test_nonroot_eperm(void)
{
	char ns[H_NAME_LEN], out[512];
	int st;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("nonroot", ns, sizeof(ns)) == 0);
	chmod(h_tmp(""), 0755);
	st = h_sh_out(out, sizeof(out),
		      "ip netns exec %s setpriv --reuid=65534 --regid=65534 --clear-groups "
		      "env IFKIT_SOCKET=%s %s", ns, L.sock, client_bin(""));
	CU_ASSERT_EQUAL(st, EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "connect: Operation not permitted"));
	CU_ASSERT_NOT_EQUAL(h_sh("ip -n %s link | grep -q utun", ns), 0);
	h_ns_delete(ns);
}

/*
 * Opened as root, then setuid(65534) (what VPN clients do): gets and the
 * data path keep working, setting flags is EPERM.
 */
static void test_drop_privileges(void)
{
	char ns[H_NAME_LEN], line[64];
	struct client c;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("drop", ns, sizeof(ns)) == 0);
	chmod(h_tmp(""), 0755);
	CU_ASSERT_FATAL(client_start(&c, ns, "", "-d -u 3") == 0);
	CU_ASSERT_FATAL(h_wait_for(client_ready, &c, 5000));
	CU_ASSERT(has_line(&c, "DROPPED 65534"));
	CU_ASSERT(has_line(&c, "GET_IFNAME 0 0 utun3 6"));
	CU_ASSERT(has_line(&c, "GET_IFNAME_SHORT 0 0 utu 4"));
	CU_ASSERT(has_line(&c, "GET_FLAGS 0 0 0"));
	snprintf(line, sizeof(line), "SET_FLAGS -1 %d", EPERM);
	CU_ASSERT(has_line(&c, line));
	snprintf(line, sizeof(line), "SET_FLAGS_0 -1 %d", EPERM);
	CU_ASSERT(has_line(&c, line));
	CU_ASSERT_EQUAL(h_sh("ip -n %s addr add 10.85.0.1 peer 10.85.0.2 dev utun3 && "
			     "ip -n %s -6 addr add fd00:85::1 peer fd00:85::2 dev utun3 nodad",
			     ns, ns), 0);
	CU_ASSERT_EQUAL(ping(ns, "-c 2 -i 0.2 -W 2 10.85.0.2"), 0);
	CU_ASSERT_EQUAL(ping(ns, "-6 -c 2 -i 0.2 -W 2 fd00:85::2"), 0);
	h_kill(c.pid, SIGKILL);
	h_ns_delete(ns);
}

/*
 * The utun descriptor handed to a new program image (exec): a difference
 * from macOS.  The utun's AF_XDP socket and libutun's relay thread belong
 * to the image that opened it (the socket is close-on-exec, so a program
 * that execs cannot leak a tunnel into whatever it runs), so exec ends the
 * utun: the device is gone within 1 s, and the new image reads EOF.
 */
static void test_exec_inherits(void)
{
	char ns[H_NAME_LEN];
	struct client c;
	struct h_link lw = { 0 };

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("exec", ns, sizeof(ns)) == 0);
	CU_ASSERT_FATAL(client_start(&c, ns, "", "-X -u 10") == 0);
	CU_ASSERT_FATAL(h_wait_for(client_ready, &c, 5000));
	CU_ASSERT(strstr(client_output(&c), "EXEC ") != NULL);
	lw.ns = ns;
	lw.name = "utun10";
	CU_ASSERT(h_wait_for(h_link_gone, &lw, 1000));
	CU_ASSERT_NOT_EQUAL(ping(ns, "-c 1 -W 1 10.89.0.2 2>/dev/null"), 0);
	h_kill(c.pid, SIGKILL);
	h_ns_delete(ns);
}

static void test_kill9(void)
{
	char ns[H_NAME_LEN];
	struct client c;
	struct h_link lw;
	struct timespec t0, t1;
	long ms;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("kill", ns, sizeof(ns)) == 0);
	CU_ASSERT_FATAL(client_start(&c, ns, "", "-u 8") == 0);
	CU_ASSERT_FATAL(h_wait_for(client_ready, &c, 5000));
	lw.ns = ns;
	lw.name = "utun8";
	CU_ASSERT_FATAL(h_link_exists(&lw));
	CU_ASSERT_EQUAL(h_sh("ip -n %s addr add 10.86.0.1 peer 10.86.0.2 dev utun8", ns), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	h_kill(c.pid, SIGKILL);
	CU_ASSERT(h_wait_for(h_link_gone, &lw, 2000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CU_ASSERT(ms <= 1000);
	CU_ASSERT_NOT_EQUAL(h_sh("ip -n %s addr | grep -q 10.86.0.1", ns), 0);
	h_ns_delete(ns);
}

/* TCP and UDP echo through ordinary sockets of the client, next to its utun. */
static int tcp_udp_roundtrip(const char *addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 2 };
	char buf[32];
	int s, ok = 0;

	inet_pton(AF_INET, addr, &sa.sin_addr);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s >= 0) {
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (sendto(s, "ping-udp", 8, 0, (void *)&sa, sizeof(sa)) == 8 &&
		    recv(s, buf, sizeof(buf), 0) == 8 && !memcmp(buf, "ping-udp", 8))
			ok++;
		close(s);
	}
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s >= 0) {
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(s, (void *)&sa, sizeof(sa)) == 0 && write(s, "ping-tcp", 8) == 8 &&
		    read(s, buf, sizeof(buf)) == 8 && !memcmp(buf, "ping-tcp", 8))
			ok++;
		close(s);
	}
	return ok;
}

static void test_mixed_sockets(void)
{
	char ns[H_NAME_LEN];
	struct client c;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("mix", ns, sizeof(ns)) == 0);
	CU_ASSERT_FATAL(client_start(&c, ns, "", "-u 2 -m 7301 -N") == 0);
	CU_ASSERT_FATAL(h_wait_for(client_ready, &c, 5000));
	/* O_NONBLOCK and FD_CLOEXEC set before connect survive the dup2 */
	CU_ASSERT(has_line(&c, "FLAGS_KEPT 1 1"));
	/* the client's own TCP/UDP self-test before and after opening the utun */
	CU_ASSERT(has_line(&c, "MIX ok"));
	CU_ASSERT_EQUAL(h_sh("ip -n %s addr add 10.87.0.1 peer 10.87.0.2 dev utun2", ns), 0);
	CU_ASSERT_EQUAL(h_enter_ns(ns), 0);
	CU_ASSERT_EQUAL(tcp_udp_roundtrip("127.0.0.1", 7301), 2);
	h_leave_ns();
	CU_ASSERT_EQUAL(ping(ns, "-c 2 -i 0.2 -W 2 10.87.0.2"), 0);
	/* and once more, interleaved with the tunnel traffic */
	CU_ASSERT_EQUAL(h_enter_ns(ns), 0);
	CU_ASSERT_EQUAL(tcp_udp_roundtrip("10.87.0.1", 7301), 2);
	h_leave_ns();
	h_kill(c.pid, SIGKILL);
	h_ns_delete(ns);
}

/*
 * Linux-side use of a descriptor from the compat layer: libutun-darwin.so
 * dlopen'ed (its socket/ioctl/connect called through dlsym), the utun
 * descriptor watched with epoll.  A UDP datagram the stack routes to utunN
 * wakes epoll and is read framed; a UDP packet written on it arrives at a
 * socket in the namespace; close() removes utunN.
 */
typedef int (*socket_fn)(int, int, int);
typedef int (*ioctl_fn)(int, unsigned long, ...);
typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*getsockopt_fn)(int, int, int, void *, socklen_t *);

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void test_epoll_dlopen(void)
{
	char ns[H_NAME_LEN], name[IFNAMSIZ] = "";
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(9) };
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(7302) };
	struct epoll_event ev = { .events = EPOLLIN }, got;
	struct ctl_info info;
	struct sockaddr_ctl sc;
	socklen_t len = sizeof(name);
	uint8_t pkt[4 + 20 + 8 + 5], buf[256];
	struct h_link lw;
	void *lib = NULL;
	int fd = -1, ep = -1, us = -1, rs = -1;
	uint32_t be;
	uint16_t c;
	ssize_t n;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("epoll", ns, sizeof(ns)) == 0);
	lib = dlopen(h_bin("libutun-darwin.so"), RTLD_NOW | RTLD_LOCAL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(lib);
	socket_fn my_socket = (socket_fn)dlsym(lib, "socket");
	ioctl_fn my_ioctl = (ioctl_fn)dlsym(lib, "ioctl");
	connect_fn my_connect = (connect_fn)dlsym(lib, "connect");
	getsockopt_fn my_getsockopt = (getsockopt_fn)dlsym(lib, "getsockopt");
	CU_ASSERT_FATAL(my_socket && my_ioctl && my_connect && my_getsockopt);

	CU_ASSERT_FATAL(h_enter_ns(ns) == 0);
	fd = my_socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);
	memset(&info, 0, sizeof(info));
	snprintf(info.ctl_name, sizeof(info.ctl_name), "%s", UTUN_CONTROL_NAME);
	memset(&sc, 0, sizeof(sc));
	sc.sc_len = sizeof(sc);
	sc.sc_family = AF_SYSTEM;
	sc.ss_sysaddr = AF_SYS_CONTROL;
	if (fd < 0 || my_ioctl(fd, CTLIOCGINFO, &info) ||
	    (sc.sc_id = info.ctl_id, my_connect(fd, (struct sockaddr *)&sc, sizeof(sc))) ||
	    my_getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, name, &len)) {
		h_leave_ns();
		CU_FAIL("open through the dlopen'ed library");
		goto cleanup;
	}
	h_leave_ns();
	CU_ASSERT_EQUAL(h_sh("ip -n %s addr add 10.88.0.1 peer 10.88.0.2 dev %s", ns, name), 0);

	ep = epoll_create1(EPOLL_CLOEXEC);
	CU_ASSERT_FATAL(ep >= 0);
	CU_ASSERT_EQUAL(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	CU_ASSERT_EQUAL(epoll_wait(ep, &got, 1, 0), 0);	/* nothing queued yet */
	CU_ASSERT_FATAL(h_enter_ns(ns) == 0);
	us = socket(AF_INET, SOCK_DGRAM, 0);
	rs = socket(AF_INET, SOCK_DGRAM, 0);
	inet_pton(AF_INET, "10.88.0.2", &dst.sin_addr);
	inet_pton(AF_INET, "10.88.0.1", &me.sin_addr);
	CU_ASSERT(bind(rs, (struct sockaddr *)&me, sizeof(me)) == 0);
	CU_ASSERT(sendto(us, "hello", 5, 0, (struct sockaddr *)&dst, sizeof(dst)) == 5);
	h_leave_ns();
	/* stack -> utun: epoll wakes, one framed packet */
	CU_ASSERT_EQUAL(epoll_wait(ep, &got, 1, 2000), 1);
	n = read(fd, buf, sizeof(buf));
	CU_ASSERT_EQUAL(n, 4 + 20 + 8 + 5);
	memcpy(&be, buf, 4);
	CU_ASSERT_EQUAL(ntohl(be), AF_INET);
	CU_ASSERT(n > 4 + 28 && memcmp(buf + 4 + 28, "hello", 5) == 0);

	/* utun -> stack: a UDP packet from 10.88.0.2 to our bound socket */
	memset(pkt, 0, sizeof(pkt));
	be = htonl(AF_INET);
	memcpy(pkt, &be, 4);
	pkt[4] = 0x45;
	pkt[4 + 3] = 20 + 8 + 5;
	pkt[4 + 8] = 64;
	pkt[4 + 9] = IPPROTO_UDP;
	inet_pton(AF_INET, "10.88.0.2", pkt + 4 + 12);
	inet_pton(AF_INET, "10.88.0.1", pkt + 4 + 16);
	c = ip_csum(pkt + 4, 20);
	pkt[4 + 10] = (uint8_t)(c >> 8);
	pkt[4 + 11] = (uint8_t)c;
	pkt[24] = 0x15;	/* source port 5555 */
	pkt[25] = 0xb3;
	pkt[26] = 7302 >> 8;
	pkt[27] = 7302 & 0xff;
	pkt[29] = 8 + 5;	/* UDP length; checksum 0 = none (IPv4) */
	memcpy(pkt + 32, "world", 5);
	CU_ASSERT_EQUAL(write(fd, pkt, sizeof(pkt)), (ssize_t)sizeof(pkt));
	{
		struct pollfd pfd = { .fd = rs, .events = POLLIN };

		CU_ASSERT_EQUAL(poll(&pfd, 1, 2000), 1);
		CU_ASSERT_EQUAL(recv(rs, buf, sizeof(buf), MSG_DONTWAIT), 5);
		CU_ASSERT_EQUAL(memcmp(buf, "world", 5), 0);
	}
	close(fd);
	fd = -1;
	lw.ns = ns;
	lw.name = name;
	CU_ASSERT(h_wait_for(h_link_gone, &lw, 1000));
cleanup:
	if (fd >= 0)
		close(fd);
	if (ep >= 0)
		close(ep);
	if (us >= 0)
		close(us);
	if (rs >= 0)
		close(rs);
	if (lib)
		dlclose(lib);
	h_ns_delete(ns);
}

/* ---------- libutun's own option semantics, end to end ---------- */

/*
 * Child: opened as root by the parent (fd inherited), drops to 65534, then
 * gets (must work), sets (EPERM), short ifname (truncated, full length).
 * Exit status: 0 ok, else the number of the failed check.
 */
static int drop_child(int fd, const char *name)
{
	char got[IFNAMSIZ], shortname[4];
	size_t len = sizeof(shortname);
	uint32_t flags = 7;

	if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
		return 1;
	if (utun_get_flags(fd, &flags) || flags != UTUN_FLAGS_NO_OUTPUT)
		return 2;
	if (utun_get_ifname(fd, got, sizeof(got)) || strcmp(got, name))
		return 3;
	if (utun_set_flags(fd, 0) != -1 || errno != EPERM)
		return 4;
	if (utun_getopt(fd, UTUN_OPT_IFNAME, shortname, &len) || strcmp(shortname, "utu") ||
	    len != strlen(name) + 1)
		return 5;
	/* the ifname call truncates too (no ENAMETOOLONG) */
	if (utun_get_ifname(fd, shortname, sizeof(shortname)) || strcmp(shortname, "utu"))
		return 6;
	flags = 0;
	if (utun_setopt(fd, UTUN_OPT_FLAGS, &flags, sizeof(flags)) != -1 || errno != EPERM)
		return 7;
	/* still set as root left it */
	if (utun_get_flags(fd, &flags) || flags != UTUN_FLAGS_NO_OUTPUT)
		return 8;
	return 0;
}

static void test_libutun_drop_privileges(void)
{
	char ns[H_NAME_LEN], name[IFNAMSIZ];
	int fd, st = -1;
	pid_t pid;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("ldrop", ns, sizeof(ns)) == 0);
	chmod(h_tmp(""), 0755);
	CU_ASSERT_FATAL(h_enter_ns(ns) == 0);
	fd = utun_open_at(L.sock, 11, name, sizeof(name));
	h_leave_ns();
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_STRING_EQUAL(name, "utun11");
	CU_ASSERT_EQUAL(utun_set_flags(fd, UTUN_FLAGS_NO_OUTPUT), 0);
	pid = fork();
	if (pid == 0)
		_exit(drop_child(fd, name));
	if (pid > 0 && waitpid(pid, &st, 0) == pid)
		st = WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
	CU_ASSERT_EQUAL(st, 0);
	if (st)
		fprintf(stderr, "drop_child failed check %d\n", st);
	close(fd);
	h_ns_delete(ns);
}

/*
 * A control connection root opened, inherited by a process that dropped
 * root: setting flags through it is refused (the loader checks each
 * message's sender, not only who connected), whether the sender attaches
 * its credentials (ctl_send does) or not (a plain send: the kernel adds
 * them).  Getting through it still works.
 */
static int inherited_child(int sock, int fd)
{
	struct ifkit_req req;
	struct ifkit_rep rep;
	int err;

	if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
		return 1;
	ctl_req_init(&req, IFKIT_CMD_UTUN_SET_FLAGS);
	req.value = 0;
	err = ctl_call(sock, &req, fd, &rep, NULL, NULL, NULL);
	return err == -EPERM ? 0 : 2;
}

static int plain_send_child(int sock)
{
	struct ifkit_req req;
	struct ifkit_rep rep;
	ssize_t n;

	if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
		return 1;
	ctl_req_init(&req, IFKIT_CMD_UTUN_SET_FLAGS);
	snprintf(req.name, sizeof(req.name), "utun12");
	if (send(sock, &req, sizeof(req), 0) != (ssize_t)sizeof(req))
		return 2;
	n = recv(sock, &rep, sizeof(rep), 0);
	if (n < (ssize_t)offsetof(struct ifkit_rep, flags))
		return 3;
	return rep.error == -EPERM ? 0 : 4;
}

static int run_child(int (*fn)(int, int), int a, int b)
{
	int st = -1;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn(a, b));
	if (pid > 0 && waitpid(pid, &st, 0) == pid)
		return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
	return -1;
}

static int plain_send_child2(int sock, int unused)
{
	(void)unused;
	return plain_send_child(sock);
}

static void test_inherited_connection(void)
{
	char ns[H_NAME_LEN], name[IFNAMSIZ];
	uint32_t flags = 9;
	int fd, sock, sock2, st;

	if (!need_loader())
		return;
	CU_ASSERT_FATAL(h_ns_create("inh", ns, sizeof(ns)) == 0);
	CU_ASSERT_FATAL(h_enter_ns(ns) == 0);
	fd = utun_open_at(L.sock, 12, name, sizeof(name));
	h_leave_ns();
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(utun_set_flags(fd, UTUN_FLAGS_NO_INPUT), 0);
	/* connections opened while root, then handed to children that drop it */
	sock = ctl_connect(L.sock);
	sock2 = ctl_connect(L.sock);
	CU_ASSERT_FATAL(sock >= 0 && sock2 >= 0);
	st = run_child(inherited_child, sock, fd);
	CU_ASSERT_EQUAL(st, 0);
	st = run_child(plain_send_child2, sock2, -1);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_EQUAL(utun_get_flags(fd, &flags), 0);
	CU_ASSERT_EQUAL(flags, UTUN_FLAGS_NO_INPUT);
	close(sock);
	close(sock2);
	close(fd);
	h_ns_delete(ns);
}

/* Darwin's AF_INET6 (30) in a framed write is IPv6 for the validator. */
static void test_validate_darwin_af6(void)
{
	uint8_t frame[4 + 40] = { 0 };

	frame[4] = 0x60;	/* IPv6, payload 0 */
	utun_frame_hdr(frame, UTUN_DARWIN_AF_INET6);
	CU_ASSERT_EQUAL(utun_validate_frame(frame, sizeof(frame), 1500), UTUN_ERR_NONE);
	CU_ASSERT_EQUAL(utun_family_to_ethertype(UTUN_DARWIN_AF_INET6), 0x86DD);
	/* 30 with an IPv4 packet is still a mismatch */
	frame[4] = 0x45;
	CU_ASSERT_EQUAL(utun_validate_frame(frame, sizeof(frame), 1500), UTUN_ERR_MISMATCH);
}

/* ---------- registration ---------- */

static int suite_e2e_init(void)
{
	if (!h_is_root())
		return 0;
	loader_ok = h_loader_start(&L) == 0;
	/* libutun's option calls find the loader through $IFKIT_SOCKET */
	if (loader_ok)
		setenv("IFKIT_SOCKET", L.sock, 1);
	return 0;
}

static int suite_e2e_clean(void)
{
	if (loader_ok)
		h_loader_teardown(&L);
	loader_ok = false;
	return 0;
}

static void add_suites(void)
{
	CU_pSuite unit = CU_add_suite("darwin_unit", NULL, NULL);
	CU_pSuite e2e = CU_add_suite("darwin_e2e", suite_e2e_init, suite_e2e_clean);

	CU_add_test(unit, "macOS header layouts and values", test_header_layouts);
	CU_add_test(unit, "libutun getopt/setopt errors as the seed", test_libutun_opt_errors);
	CU_add_test(unit, "Darwin AF_INET6 (30) validates as IPv6", test_validate_darwin_af6);
	CU_add_test(unit, "no loader: ECONNREFUSED naming ifkitd", test_no_loader);
	CU_add_test(unit, "system-socket edge cases, fd reuse, threads (3 builds)", test_edges);
	CU_add_test(e2e, "pkg-config client: options, ping v4/v6, counters", test_echo_pkgconfig);
	CU_add_test(e2e, "headers-only client under LD_PRELOAD", test_echo_preload);
	CU_add_test(e2e, "client linked with the static archive", test_echo_static);
	CU_add_test(e2e, "replies framed with AF_INET6 = 30 reach the stack", test_darwin_af_inet6);
	CU_add_test(e2e, "unit choice, any unit, EBUSY, ENOENT", test_units_and_errors);
	CU_add_test(e2e, "non-root connect: EPERM", test_nonroot_eperm);
	CU_add_test(e2e, "privileges dropped after open: data and gets work, set EPERM",
		    test_drop_privileges);
	CU_add_test(e2e, "kill -9: utun gone within 1 s", test_kill9);
	CU_add_test(e2e, "utun descriptor across exec: the utun ends (differs from macOS)", test_exec_inherits);
	CU_add_test(e2e, "TCP/UDP sockets next to the utun socket keep working",
		    test_mixed_sockets);
	CU_add_test(e2e, "descriptor from the dlopen'ed library: epoll, read, write, close",
		    test_epoll_dlopen);
	CU_add_test(e2e, "libutun: gets after setuid, set EPERM, short ifname",
		    test_libutun_drop_privileges);
	CU_add_test(e2e, "root-opened control connection used after setuid: set EPERM",
		    test_inherited_connection);
}

int main(int argc, char **argv)
{
	return h_main(argc, argv, add_suites);
}
