// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The command line and what it shares with libutun and the loader's config
 * file: client time-outs against a stopped loader, the config grammar (the
 * CLI's own, long lines refused), one printer for text and JSON, queries for
 * non-root callers, --help and exit codes.
 *
 * Every test starts its own loader (and namespace where devices are made)
 * and tears it down; a stopped loader is always continued before teardown.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <CUnit/CUnit.h>
#include "config.h"
#include "ctl.h"
#include "harness.h"
#include "ifkit/utun.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* `ifkit -s SOCK ARGS` as uid/gid 65534 (nobody). */
static int ifkit_nobody(struct h_loader *l, const char *ns, char *out, size_t len,
			const char *args)
{
	return h_sh_out(out, len, "%s%s%s setpriv --reuid=65534 --regid=65534 --clear-groups "
			"%s -s %s %s", ns ? "ip netns exec " : "", ns ? ns : "", ns ? "" : "",
			h_bin("ifkit"), l->sock, args);
}

/*
 * Fill the stopped loader's listen backlog with connections nobody accepts,
 * so the next connect() would block.  Returns how many descriptors are in
 * fds (all to be closed by the caller).
 */
static int fill_backlog(const char *path, int *fds, int max)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int n = 0;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	while (n < max) {
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (s < 0)
			break;
		fds[n++] = s;
		if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			break;	/* EAGAIN: the backlog is full */
	}
	return n;
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* --- 1. client time-outs ------------------------------------------------ */

static void test_status_times_out_on_stopped_loader(void)
{
	struct h_loader l = { 0 };
	char out[4096], want[256];
	int fds[512], nfds = 0, rc;
	long long t0, took;

	CU_ASSERT_FATAL(h_loader_start(&l) == 0);
	CU_ASSERT_FATAL(kill(l.pid, SIGSTOP) == 0);

	/* The connection is queued, the answer never comes: --timeout. */
	t0 = now_ms();
	rc = h_sh_out(out, sizeof(out), "timeout -s KILL 8 %s -s %s --timeout 1 status",
		      h_bin("ifkit"), l.sock);
	took = now_ms() - t0;
	CU_ASSERT_EQUAL(rc, 1);
	snprintf(want, sizeof(want), "ifkit: ifkitd at %s did not answer within 1 s "
		 "(stopped or overloaded?)", l.sock);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	CU_ASSERT_TRUE(took >= 900 && took < 6000);

	/* The same through the environment. */
	t0 = now_ms();
	rc = h_sh_out(out, sizeof(out), "IFKIT_TIMEOUT=0.5 timeout -s KILL 8 %s -s %s feth show",
		      h_bin("ifkit"), l.sock);
	took = now_ms() - t0;
	CU_ASSERT_EQUAL(rc, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "did not answer within 0.5 s"));
	CU_ASSERT_TRUE(took >= 400 && took < 6000);

	/* The default: a few seconds, not forever. */
	t0 = now_ms();
	rc = h_sh_out(out, sizeof(out), "timeout -s KILL 15 %s -s %s status", h_bin("ifkit"),
		      l.sock);
	took = now_ms() - t0;
	CU_ASSERT_EQUAL(rc, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "did not answer within 5 s"));
	CU_ASSERT_TRUE(took >= 4500 && took < 12000);

	/* A full listen backlog makes connect() itself block: that times out too. */
	nfds = fill_backlog(l.sock, fds, 512);
	CU_ASSERT_TRUE(nfds > 1 && nfds < 512);
	t0 = now_ms();
	rc = h_sh_out(out, sizeof(out), "IFKIT_TIMEOUT=1 timeout -s KILL 8 %s -s %s status",
		      h_bin("ifkit"), l.sock);
	took = now_ms() - t0;
	CU_ASSERT_EQUAL(rc, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	CU_ASSERT_TRUE(took >= 900 && took < 6000);
	close_all(fds, nfds);

	/* Continued, the loader serves again. */
	CU_ASSERT_EQUAL(kill(l.pid, SIGCONT), 0);
	CU_ASSERT_EQUAL(h_ifkit(&l, NULL, out, sizeof(out), "status"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ifkitd: pid"));
	h_loader_teardown(&l);
}

struct open_result {
	int fd;
	int err;
	long long took_ms;
};

/*
 * utun_open_at() in a child (it may block for good without the fix; the
 * child's alarm ends it then), in namespace ns, with IFKIT_TIMEOUT=1.
 */
static int open_in_child(const char *sock, const char *ns, const char *errfile,
			 struct open_result *res)
{
	int pipefd[2], status;
	pid_t pid;
	ssize_t n;

	if (pipe(pipefd) < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct open_result r;
		char name[IFNAMSIZ];
		long long t0;
		int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0)
			dup2(fd, 2);
		alarm(8);
		setenv("IFKIT_TIMEOUT", "1", 1);
		if (ns && h_enter_ns(ns))
			_exit(3);
		t0 = now_ms();
		r.fd = utun_open_at(sock, -1, name, sizeof(name));
		r.err = errno;
		r.took_ms = now_ms() - t0;
		if (write(pipefd[1], &r, sizeof(r)) != sizeof(r))
			_exit(2);
		_exit(0);
	}
	close(pipefd[1]);
	n = read(pipefd[0], res, sizeof(*res));
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	return n == sizeof(*res) ? 0 : -EIO;
}

static void test_utun_open_times_out_on_stopped_loader(void)
{
	struct h_loader l = { 0 };
	struct open_result res;
	char ns[H_NAME_LEN], out[1024], want[256], name[IFNAMSIZ];
	int fds[512], nfds, fd;

	CU_ASSERT_FATAL(h_ns_create("utun", ns, sizeof(ns)) == 0);
	CU_ASSERT_FATAL(h_loader_start(&l) == 0);
	CU_ASSERT_FATAL(kill(l.pid, SIGSTOP) == 0);
	snprintf(want, sizeof(want), "libutun: ifkitd at %s did not answer within 1 s", l.sock);

	/* The request is queued, no answer: ETIMEDOUT, a message naming the socket. */
	CU_ASSERT_EQUAL(open_in_child(l.sock, ns, h_tmp("open1.err"), &res), 0);
	CU_ASSERT_EQUAL(res.fd, -1);
	CU_ASSERT_EQUAL(res.err, ETIMEDOUT);
	CU_ASSERT_TRUE(res.took_ms >= 900 && res.took_ms < 6000);
	h_sh_out(out, sizeof(out), "cat %s", h_tmp("open1.err"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));

	/* Backlog full: connect() would block. */
	nfds = fill_backlog(l.sock, fds, 512);
	CU_ASSERT_EQUAL(open_in_child(l.sock, ns, h_tmp("open2.err"), &res), 0);
	CU_ASSERT_EQUAL(res.fd, -1);
	CU_ASSERT_EQUAL(res.err, ETIMEDOUT);
	CU_ASSERT_TRUE(res.took_ms >= 900 && res.took_ms < 6000);
	close_all(fds, nfds);

	/* Continued, the loader opens tunnels again. */
	CU_ASSERT_EQUAL(kill(l.pid, SIGCONT), 0);
	CU_ASSERT_FATAL(h_enter_ns(ns) == 0);
	fd = utun_open_at(l.sock, -1, name, sizeof(name));
	h_leave_ns();
	CU_ASSERT_TRUE(fd >= 0);
	if (fd >= 0) {
		CU_ASSERT_EQUAL(h_ifkit(&l, NULL, out, sizeof(out), "utun show %s", name), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, name));
		close(fd);
	}
	h_loader_teardown(&l);
	h_ns_delete(ns);
}

static void test_timeout_parse(void)
{
	int ms = -1;

	CU_ASSERT_EQUAL(ctl_timeout_parse("5", &ms), 0);
	CU_ASSERT_EQUAL(ms, 5000);
	CU_ASSERT_EQUAL(ctl_timeout_parse("0.5", &ms), 0);
	CU_ASSERT_EQUAL(ms, 500);
	CU_ASSERT_EQUAL(ctl_timeout_parse("1.25", &ms), 0);
	CU_ASSERT_EQUAL(ms, 1250);
	CU_ASSERT_EQUAL(ctl_timeout_parse("0", &ms), 0);
	CU_ASSERT_EQUAL(ms, 0);
	/* below a millisecond rounds up, never down to "no limit" */
	CU_ASSERT_EQUAL(ctl_timeout_parse("0.0001", &ms), 0);
	CU_ASSERT_EQUAL(ms, 1);
	CU_ASSERT_EQUAL(ctl_timeout_parse("86400", &ms), 0);
	CU_ASSERT_EQUAL(ctl_timeout_parse("86401", &ms), -EINVAL);
	CU_ASSERT_EQUAL(ctl_timeout_parse("99999999999999999999", &ms), -EINVAL);
	CU_ASSERT_EQUAL(ctl_timeout_parse("", &ms), -EINVAL);
	CU_ASSERT_EQUAL(ctl_timeout_parse("-1", &ms), -EINVAL);
	CU_ASSERT_EQUAL(ctl_timeout_parse("+1", &ms), -EINVAL);
	CU_ASSERT_EQUAL(ctl_timeout_parse("5s", &ms), -EINVAL);
	CU_ASSERT_EQUAL(ctl_timeout_parse("1e3", &ms), -EINVAL);
	CU_ASSERT_EQUAL(ctl_timeout_parse(".5", &ms), -EINVAL);
	CU_ASSERT_EQUAL(ctl_timeout_parse("5.", &ms), -EINVAL);
	CU_ASSERT_EQUAL(ctl_timeout_parse(" 5", &ms), -EINVAL);
}

/*
 * ctl_call keeps one budget for the whole answer: a peer that sends the
 * first datagram of a multi-part answer and then goes silent still ends the
 * call on time.
 */
static void test_call_deadline(void)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = 300000 };
	struct ifkit_req req;
	struct ifkit_rep rep, part;
	int sv[2];
	long long t0, took;

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	CU_ASSERT_EQUAL(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	CU_ASSERT_EQUAL(setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	ctl_req_init(&req, IFKIT_CMD_FETH_SHOW);
	req.seq = 7;
	/* silent peer */
	t0 = now_ms();
	CU_ASSERT_EQUAL(ctl_call(sv[0], &req, -1, &rep, NULL, NULL, NULL), -ETIMEDOUT);
	took = now_ms() - t0;
	CU_ASSERT_TRUE(took >= 250 && took < 2000);
	/* a first part announcing more, then nothing */
	memset(&part, 0, sizeof(part));
	part.magic = IFKIT_CTL_MAGIC;
	part.version = IFKIT_CTL_VERSION;
	part.cmd = req.cmd;
	part.seq = req.seq;
	part.flags = IFKIT_REP_F_MORE;
	CU_ASSERT_EQUAL(send(sv[1], &part, sizeof(part), 0), (ssize_t)sizeof(part));
	t0 = now_ms();
	CU_ASSERT_EQUAL(ctl_call(sv[0], &req, -1, &rep, NULL, NULL, NULL), -ETIMEDOUT);
	took = now_ms() - t0;
	CU_ASSERT_TRUE(took >= 250 && took < 2000);
	/* a whole answer in time is taken as before */
	part.flags = 0;
	part.error = -ENODEV;
	CU_ASSERT_EQUAL(send(sv[1], &part, sizeof(part), 0), (ssize_t)sizeof(part));
	CU_ASSERT_EQUAL(ctl_call(sv[0], &req, -1, &rep, NULL, NULL, NULL), -ENODEV);
	close(sv[0]);
	close(sv[1]);
}

/* Config lines are read whole: a long one is one error, the numbering goes on. */
static void test_config_read_line(void)
{
	char text[1400], line[CONFIG_LINE_MAX + 1];
	char nul_text[] = "feth create\0feth9\nfeth create\n";
	unsigned int lineno = 0;
	size_t n = 0;
	FILE *f;

	n += (size_t)snprintf(text + n, sizeof(text) - n, "feth create feth1\n");
	memset(text + n, '#', 600);
	n += 600;
	n += (size_t)snprintf(text + n, sizeof(text) - n, "feth create feth77\n");
	n += (size_t)snprintf(text + n, sizeof(text) - n, "\nfeth create feth2");	/* no final newline */
	f = fmemopen(text, n, "r");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL(config_read_line(f, line, sizeof(line), &lineno), 1);
	CU_ASSERT_STRING_EQUAL(line, "feth create feth1");
	CU_ASSERT_EQUAL(lineno, 1);
	CU_ASSERT_EQUAL(config_read_line(f, line, sizeof(line), &lineno), -E2BIG);
	CU_ASSERT_EQUAL(lineno, 2);
	CU_ASSERT_EQUAL(config_read_line(f, line, sizeof(line), &lineno), 1);
	CU_ASSERT_STRING_EQUAL(line, "");
	CU_ASSERT_EQUAL(lineno, 3);
	CU_ASSERT_EQUAL(config_read_line(f, line, sizeof(line), &lineno), 1);
	CU_ASSERT_STRING_EQUAL(line, "feth create feth2");
	CU_ASSERT_EQUAL(lineno, 4);
	CU_ASSERT_EQUAL(config_read_line(f, line, sizeof(line), &lineno), 0);
	CU_ASSERT_EQUAL(lineno, 4);
	fclose(f);
	/* a NUL byte would hide the rest of the line: refused */
	f = fmemopen(nul_text, sizeof(nul_text) - 1, "r");
	CU_ASSERT_FATAL(f != NULL);
	lineno = 0;
	CU_ASSERT_EQUAL(config_read_line(f, line, sizeof(line), &lineno), -EINVAL);
	CU_ASSERT_EQUAL(config_read_line(f, line, sizeof(line), &lineno), 1);
	CU_ASSERT_STRING_EQUAL(line, "feth create");
	CU_ASSERT_EQUAL(lineno, 2);
	fclose(f);
}

/* --- 2. config file: the CLI's grammar, long lines refused --------------- */

static bool link_has(const char *ns, const char *dev, const char *what)
{
	char out[1024];

	return h_sh_out(out, sizeof(out), "ip -n %s -o link show %s", ns, dev) == 0 &&
	       strstr(out, what);
}

struct carrier_wait {
	const char *ns, *dev;
};

static bool carrier_up(void *arg)
{
	struct carrier_wait *w = arg;

	return link_has(w->ns, w->dev, "LOWER_UP") && !link_has(w->ns, w->dev, "NO-CARRIER");
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) ? -errno : 0;
}

static void test_config_long_line(void)
{
	struct h_loader l = { 0 };
	char ns[H_NAME_LEN], out[2048], conf[1024];
	const char *path = h_tmp("long.conf");

	CU_ASSERT_FATAL(h_ns_create("cfglong", ns, sizeof(ns)) == 0);
	/* Line 1 is a comment longer than any read buffer, ending in a command. */
	snprintf(conf, sizeof(conf), "#%0510dfeth create feth77\n"
		 "feth create feth5\n"
		 "feth explode\n"
		 "feth create feth6\n", 0);
	CU_ASSERT_FATAL(write_file(path, conf) == 0);
	snprintf(l.config, sizeof(l.config), "%s", path);
	snprintf(l.config_netns, sizeof(l.config_netns), "%s", ns);
	CU_ASSERT_FATAL(h_loader_start(&l) == 0);

	/* The tail of the long line never ran. */
	CU_ASSERT_NOT_EQUAL(h_sh("ip -n %s link show feth77", ns), 0);
	CU_ASSERT_EQUAL(h_ifkit(&l, NULL, out, sizeof(out), "feth show feth77"), 1);
	/* The long line is an error naming it; later line numbers are right. */
	CU_ASSERT_EQUAL(h_sh("grep -q 'long.conf:1: line too long' %s", l.log), 0);
	CU_ASSERT_EQUAL(h_sh("grep -q 'long.conf:3: .*explode' %s", l.log), 0);
	CU_ASSERT_NOT_EQUAL(h_sh("grep -q 'long.conf:[24]:.*error\\|error.*long.conf:[245]:' %s",
				 l.log), 0);
	/* The good lines around it still ran. */
	CU_ASSERT_EQUAL(h_sh("ip -n %s link show feth5", ns), 0);
	CU_ASSERT_EQUAL(h_sh("ip -n %s link show feth6", ns), 0);
	h_loader_teardown(&l);
	h_ns_delete(ns);
}

static void test_config_cli_grammar(void)
{
	struct h_loader l = { 0 };
	struct carrier_wait w0, w1;
	char ns[H_NAME_LEN], out[4096];
	const char *path = h_tmp("cli.conf");

	CU_ASSERT_FATAL(h_ns_create("cfgcli", ns, sizeof(ns)) == 0);
	CU_ASSERT_FATAL(write_file(path,
		"# written exactly as `ifkit` commands\n"
		"feth create feth0\n"
		"feth create feth1\n"
		"feth peer feth0 feth1\n"
		"feth set feth0 mtu 9000\n"
		"feth set feth1 media 10GbaseT   # comment after a command\n"
		"feth mtu feth1 1400\n") == 0);
	snprintf(l.config, sizeof(l.config), "%s", path);
	snprintf(l.config_netns, sizeof(l.config_netns), "%s", ns);
	CU_ASSERT_FATAL(h_loader_start(&l) == 0);

	w0 = (struct carrier_wait){ ns, "feth0" };
	w1 = (struct carrier_wait){ ns, "feth1" };
	CU_ASSERT_TRUE(h_wait_for(carrier_up, &w0, 3000));
	CU_ASSERT_TRUE(h_wait_for(carrier_up, &w1, 3000));
	CU_ASSERT_TRUE(link_has(ns, "feth0", "mtu 9000"));
	CU_ASSERT_EQUAL(h_ifkit(&l, NULL, out, sizeof(out), "feth show feth1"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "media: 10GbaseT status: active"));
	/* The old file-only form is not the CLI's: refused, with its line. */
	CU_ASSERT_TRUE(link_has(ns, "feth1", "mtu 1500"));
	CU_ASSERT_EQUAL(h_sh("grep -q 'cli.conf:7: ' %s", l.log), 0);
	h_loader_teardown(&l);
	h_ns_delete(ns);
}

/* Config lines and CLI words go through one grammar: what one refuses, so does the other. */
static void test_config_lines_are_cli_commands(void)
{
	struct ifkit_req req;
	char err[160], line[700];

	CU_ASSERT_EQUAL(config_parse_line("feth set feth0 mtu 9000", &req, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(req.cmd, IFKIT_CMD_FETH_SET_MTU);
	CU_ASSERT_STRING_EQUAL(req.name, "feth0");
	CU_ASSERT_EQUAL(req.value, 9000);
	CU_ASSERT_EQUAL(config_parse_line("feth set feth1 media 5000baseT", &req, err,
					  sizeof(err)), 0);
	CU_ASSERT_EQUAL(req.cmd, IFKIT_CMD_FETH_SET_MEDIA);
	CU_ASSERT_EQUAL(req.value, FETH_MEDIA_5000BASET_FDX);
	CU_ASSERT_EQUAL(ctl_req_check(&req, sizeof(req), NULL), 0);
	CU_ASSERT_EQUAL(config_parse_line("feth peer feth0 feth1", &req, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(req.cmd, IFKIT_CMD_FETH_PEER);
	CU_ASSERT_STRING_EQUAL(req.peer, "feth1");
	/* The file-only spellings the CLI never had are gone. */
	CU_ASSERT_EQUAL(config_parse_line("feth mtu feth0 9000", &req, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(config_parse_line("feth media feth0 10GbaseT", &req, err, sizeof(err)),
			-EINVAL);
	/* Bad values are refused as the CLI refuses them. */
	CU_ASSERT_EQUAL(config_parse_line("feth set feth0 mtu 9x", &req, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(config_parse_line("feth set feth0 media fast", &req, err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_EQUAL(config_parse_line("feth set feth0 speed 10", &req, err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "speed"));
	/* A line longer than the limit is refused whole, never cut. */
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line + sizeof(line) - 20, "feth create feth77", 18);
	CU_ASSERT_EQUAL(config_parse_line(line, &req, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "too long"));
}

/* --- 3. printing: one call per field for text and JSON ------------------- */

/* Run `ifkit ARGS` in ns and check the output is valid JSON (python3 -m json.tool). */
static int json_valid(struct h_loader *l, const char *ns, const char *args)
{
	return h_sh("ip netns exec %s %s -s %s %s | python3 -m json.tool >/dev/null", ns,
		    h_bin("ifkit"), l->sock, args);
}

static void test_show_default_and_json(void)
{
	struct h_loader l = { 0 };
	char ns[H_NAME_LEN], out[8192], out2[8192], name[IFNAMSIZ];
	int fd;

	CU_ASSERT_FATAL(h_ns_create("print", ns, sizeof(ns)) == 0);
	CU_ASSERT_FATAL(h_loader_start(&l) == 0);
	CU_ASSERT_EQUAL_FATAL(h_ifkit(&l, ns, out, sizeof(out), "feth create"), 0);
	CU_ASSERT_EQUAL_FATAL(h_ifkit(&l, ns, out, sizeof(out), "feth create"), 0);
	CU_ASSERT_EQUAL(h_ifkit(&l, ns, out, sizeof(out), "feth peer feth0 feth1"), 0);
	CU_ASSERT_EQUAL(h_ifkit(&l, ns, out, sizeof(out), "feth set feth0 media 10GbaseT"), 0);
	CU_ASSERT_EQUAL(h_ifkit(&l, ns, out, sizeof(out), "iptap create"), 0);
	CU_ASSERT_FATAL(h_enter_ns(ns) == 0);
	fd = utun_open_at(l.sock, -1, name, sizeof(name));
	h_leave_ns();
	CU_ASSERT_TRUE(fd >= 0);

	/* Text the other suites match stays as it was. */
	CU_ASSERT_EQUAL(h_ifkit(&l, ns, out, sizeof(out), "feth show"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "feth0: peer feth1 netns (this) mtu 1500 UP carrier on\n"
				      "    link/ether 66:65:74:68:00:00 ifindex "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "    media: 10GbaseT status: active\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "    RX: packets "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "    crossed: packets "));
	/* `ifkit OBJECT` alone is `show`, as `ip link` is `ip link show`. */
	CU_ASSERT_EQUAL(h_ifkit(&l, ns, out2, sizeof(out2), "feth"), 0);
	CU_ASSERT_STRING_EQUAL(out, out2);
	CU_ASSERT_EQUAL(h_ifkit(&l, ns, out, sizeof(out), "iptap show"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "iptap0: netns"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "link-type RAW"));
	CU_ASSERT_EQUAL(h_ifkit(&l, ns, out2, sizeof(out2), "iptap"), 0);
	CU_ASSERT_STRING_EQUAL(out, out2);
	CU_ASSERT_EQUAL(h_ifkit(&l, ns, out, sizeof(out), "utun show"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "out (stack -> client): "));
	CU_ASSERT_EQUAL(h_ifkit(&l, ns, out2, sizeof(out2), "utun"), 0);
	CU_ASSERT_STRING_EQUAL(out, out2);
	CU_ASSERT_EQUAL(h_ifkit(&l, ns, out2, sizeof(out2), "-j utun"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out2, "\"no_input\":false"));
	CU_ASSERT_EQUAL(h_ifkit(&l, ns, out, sizeof(out), "status"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "devices: 2 feth, 1 utun, 1 iptap"));

	/* Every JSON output parses, and holds the values. */
	CU_ASSERT_EQUAL(json_valid(&l, ns, "-j status"), 0);
	CU_ASSERT_EQUAL(json_valid(&l, ns, "feth show -j"), 0);
	CU_ASSERT_EQUAL(json_valid(&l, ns, "-j feth show feth1"), 0);
	CU_ASSERT_EQUAL(json_valid(&l, ns, "-j feth"), 0);
	CU_ASSERT_EQUAL(json_valid(&l, ns, "utun show -j"), 0);
	CU_ASSERT_EQUAL(json_valid(&l, ns, "iptap show -j"), 0);
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s %s -s %s -j status | python3 -c '"
			     "import json,sys; d=json.load(sys.stdin); "
			     "f={x[\"name\"]: x for x in d[\"feth\"]}; "
			     "assert f[\"feth0\"][\"peer\"]==\"feth1\" and f[\"feth0\"][\"media\"]==\"10GbaseT\"; "
			     "assert f[\"feth0\"][\"carrier\"] is True and f[\"feth0\"][\"mtu\"]==1500; "
			     "assert len(d[\"utun\"])==1 and d[\"utun\"][0][\"name\"]==\"%s\"; "
			     "assert d[\"iptap\"][0][\"name\"]==\"iptap0\" and d[\"loader\"][\"pid\"]>0'",
			     ns, h_bin("ifkit"), l.sock, name), 0);
	/* A device name with JSON's special characters stays valid JSON. */
	CU_ASSERT_EQUAL(h_sh("ip -n %s link set feth1 name 'q\"x\\y'", ns), 0);
	CU_ASSERT_EQUAL(json_valid(&l, ns, "-j feth show feth1"), 0);
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s %s -s %s -j feth show feth1 | python3 -c '"
			     "import json,sys; d=json.load(sys.stdin); "
			     "assert d[0][\"ifname\"]==\"q\\\"x\\\\y\", d'", ns, h_bin("ifkit"),
			     l.sock), 0);
	if (fd >= 0)
		close(fd);
	h_loader_teardown(&l);
	h_ns_delete(ns);
}

/* --- 4. read-only queries for non-root ----------------------------------- */

static void test_nonroot_queries(void)
{
	static const char *const queries[] = {
		"status", "-j status", "feth show", "feth show feth0", "feth", "utun show", "utun",
		"iptap show", "iptap show iptap0", "iptap", "-j iptap show",
	};
	static const char *const changes[] = {
		"feth create", "feth destroy feth0", "feth peer feth0 feth1", "feth unpeer feth0",
		"feth set feth0 mtu 1400", "feth set feth0 media 10GbaseT", "iptap create",
		"iptap destroy iptap0",
	};
	struct h_loader l = { 0 };
	char ns[H_NAME_LEN], out[8192], args[128], name[IFNAMSIZ];
	int fd;

	CU_ASSERT_FATAL(h_ns_create("guest", ns, sizeof(ns)) == 0);
	CU_ASSERT_FATAL(h_loader_start(&l) == 0);
	CU_ASSERT_EQUAL_FATAL(h_ifkit(&l, ns, out, sizeof(out), "feth create"), 0);
	CU_ASSERT_EQUAL_FATAL(h_ifkit(&l, ns, out, sizeof(out), "iptap create"), 0);
	CU_ASSERT_FATAL(h_enter_ns(ns) == 0);
	fd = utun_open_at(l.sock, -1, name, sizeof(name));
	h_leave_ns();
	CU_ASSERT_TRUE(fd >= 0);

	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		CU_ASSERT_EQUAL(ifkit_nobody(&l, ns, out, sizeof(out), queries[i]), 0);
		if (strstr(out, "root") || strstr(out, "not permitted"))
			fprintf(stderr, "'ifkit %s' as nobody:\n%s\n", queries[i], out);
		/* nothing about privileges on a query that worked */
		CU_ASSERT_PTR_NULL(strstr(out, "root"));
		CU_ASSERT_PTR_NULL(strstr(out, "not permitted"));
		if (strstr(queries[i], "feth"))
			CU_ASSERT_PTR_NOT_NULL(strstr(out, "feth0"));
		if (strstr(queries[i], "iptap"))
			CU_ASSERT_PTR_NOT_NULL(strstr(out, "iptap0"));
		if (strstr(queries[i], "utun") || strstr(queries[i], "status"))
			CU_ASSERT_PTR_NOT_NULL(strstr(out, name));
	}
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		CU_ASSERT_EQUAL(ifkit_nobody(&l, ns, out, sizeof(out), changes[i]), 1);
		if (!strstr(out, "Operation not permitted"))
			fprintf(stderr, "'ifkit %s' as nobody:\n%s\n", changes[i], out);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "Operation not permitted"));
	}
	snprintf(args, sizeof(args), "utun set %s flags no_input", name);
	CU_ASSERT_EQUAL(ifkit_nobody(&l, ns, out, sizeof(out), args), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Operation not permitted"));
	/* and nothing changed */
	CU_ASSERT_EQUAL(h_ifkit(&l, ns, out, sizeof(out), "-j status"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"no_input\":false"));
	CU_ASSERT_PTR_NULL(strstr(out, "feth1"));
	CU_ASSERT_PTR_NULL(strstr(out, "iptap1"));
	CU_ASSERT_TRUE(link_has(ns, "feth0", "mtu 1500"));
	if (fd >= 0)
		close(fd);
	h_loader_teardown(&l);
	h_ns_delete(ns);
}

/* --- 5. --help everywhere; usage errors exit 2, failures 1 --------------- */

static void test_help_and_exit_codes(void)
{
	static const char *const helps[] = {
		"", "feth", "feth create", "feth destroy", "feth peer", "feth unpeer", "feth set",
		"feth show", "utun", "utun show", "utun set", "iptap", "iptap create",
		"iptap destroy", "iptap show", "iptap capture", "status",
	};
	static const char *const usage_errors[] = {
		"", "bogus", "feth frobnicate", "feth create a b", "feth create no/slash",
		"feth destroy", "feth peer feth0", "feth unpeer", "feth set feth0",
		"feth set feth0 mtu", "feth set feth0 mtu 9x", "feth set feth0 mtu -1",
		"feth set feth0 media fast", "feth set feth0 speed 10", "feth show a b",
		"utun frobnicate", "utun set utun0 flags bogus", "utun set utun0", "utun show a b",
		"iptap frobnicate", "iptap destroy", "iptap create a b", "iptap show a b",
		"status extra", "--timeout abc status", "--timeout -1 status", "--bogus status",
	};
	const char *nosock = h_tmp("no-loader.sock");
	char out[8192], cmd[256];

	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
		/* help on stdout (stderr thrown away), exit 0, no loader needed */
		snprintf(cmd, sizeof(cmd), "%s --help", helps[i]);
		CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s -s %s %s 2>/dev/null",
					 h_bin("ifkit"), nosock, cmd), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "Usage: ifkit "));
		if (helps[i][0] && !strstr(out, helps[i]))
			fprintf(stderr, "help of '%s' does not name it:\n%s\n", helps[i], out);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, helps[i]));
		snprintf(cmd, sizeof(cmd), "%s -h", helps[i]);
		CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s -s %s %s 2>/dev/null",
					 h_bin("ifkit"), nosock, cmd), 0);
	}
	for (size_t i = 0; i < sizeof(usage_errors) / sizeof(usage_errors[0]); i++) {
		int rc = h_sh_out(out, sizeof(out), "%s -s %s %s", h_bin("ifkit"), nosock,
				  usage_errors[i]);

		if (rc != 2)
			fprintf(stderr, "'ifkit %s' exited %d, not 2:\n%s\n", usage_errors[i], rc,
				out);
		CU_ASSERT_EQUAL(rc, 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "ifkit"));
	}
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "IFKIT_TIMEOUT=soon %s -s %s status",
				 h_bin("ifkit"), nosock), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "IFKIT_TIMEOUT"));
	/* a failure (no loader) is 1, and says how to start one */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s -s %s status", h_bin("ifkit"), nosock), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "is ifkitd running?"));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s -s %s feth", h_bin("ifkit"), nosock), 1);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s -s %s --timeout 2 feth create feth3",
				 h_bin("ifkit"), nosock), 1);
}

/* IFKIT_TEST_ONLY=WORDS runs only the tests whose name contains WORDS. */
static void add(CU_pSuite s, const char *name, void (*fn)(void))
{
	const char *only = getenv("IFKIT_TEST_ONLY");

	if (!only || strstr(name, only))
		CU_add_test(s, name, fn);
}

static void add_suites(void)
{
	CU_pSuite s = CU_add_suite("cli", NULL, NULL);

	add(s, "time-out values", test_timeout_parse);
	add(s, "one deadline for a whole answer", test_call_deadline);
	add(s, "config lines read whole", test_config_read_line);
	add(s, "config lines are CLI commands", test_config_lines_are_cli_commands);
	add(s, "--help everywhere, exit codes", test_help_and_exit_codes);
	add(s, "status times out on a stopped loader", test_status_times_out_on_stopped_loader);
	add(s, "utun_open times out on a stopped loader", test_utun_open_times_out_on_stopped_loader);
	add(s, "config: long line refused, numbers right", test_config_long_line);
	add(s, "config in CLI syntax applied", test_config_cli_grammar);
	add(s, "show: default command, text and JSON", test_show_default_and_json);
	add(s, "non-root queries work, changes refused", test_nonroot_queries);
}

int main(int argc, char **argv)
{
	return h_main(argc, argv, add_suites);
}
