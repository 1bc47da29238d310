// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What an operator relies on: --version, systemd readiness (sd_notify
 * READY=1 / STOPPING=1 on $NOTIFY_SOCKET, path and abstract), log lines with
 * time stamps (or syslog priorities under journald), each event logged once,
 * and a unit whose capability set is enough for every device kind.
 *
 * Each test runs its own loader (own socket, pins, private and home
 * namespaces, all registered with the harness for removal).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"
#include "ifkit/version.h"

/* The unit's template, relative to the source tree the tests run from. */
#define UNIT_TEMPLATE "etc/ifkitd.service.in"

struct ops_loader {
	pid_t pid;
	char sock[192];
	char pin[128];
	char priv[H_NAME_LEN];
	char home[H_NAME_LEN];
	char log[192];
};

/* Names, namespaces and pin directory of a loader, all registered for removal. */
static int loader_prepare(struct ops_loader *l, const char *tag)
{
	char name[64];
	int err;

	memset(l, 0, sizeof(*l));
	snprintf(name, sizeof(name), "%s-p", tag);
	if ((err = h_ns_create(name, l->priv, sizeof(l->priv))))
		return err;
	snprintf(name, sizeof(name), "%s-h", tag);
	if ((err = h_ns_create(name, l->home, sizeof(l->home))))
		return err;
	if ((err = h_pin_dir(tag, l->pin, sizeof(l->pin))))
		return err;
	snprintf(name, sizeof(name), "%s.sock", tag);
	snprintf(l->sock, sizeof(l->sock), "%s", h_tmp(name));
	snprintf(name, sizeof(name), "%s.log", tag);
	snprintf(l->log, sizeof(l->log), "%s", h_tmp(name));
	return 0;
}

/*
 * Start ifkitd in the background with extra environment (env, "" for none),
 * through wrapper (a command prefix, "" for none), with cfg ("-c FILE" or
 * "--no-config").  Devices of the config go to the loader's own home
 * namespace.  Does not wait: callers wait for what they test.
 */
static int loader_exec(struct ops_loader *l, const char *env, const char *wrapper, const char *cfg)
{
	l->pid = h_spawn(NULL, "exec env %s %s %s -v -s %s -p %s -n %s --config-netns %s %s 2>>%s",
			 env, wrapper, h_bin("ifkitd"), l->sock, l->pin, l->priv, l->home, cfg,
			 l->log);
	return l->pid > 0 ? 0 : -ECHILD;
}

static int loader_spawn(struct ops_loader *l, const char *tag, const char *env,
			const char *wrapper, const char *cfg)
{
	int err = loader_prepare(l, tag);

	return err ? err : loader_exec(l, env, wrapper, cfg);
}

static void loader_stop(struct ops_loader *l)
{
	if (l->pid > 0)
		h_kill(l->pid, SIGTERM);
	l->pid = 0;
	if (l->sock[0])
		h_sh("%s --teardown -s %s -p %s -n %s", h_bin("ifkitd"), l->sock, l->pin, l->priv);
}

static bool loader_answers(void *arg)
{
	struct ops_loader *l = arg;

	return h_sh("%s -s %s status", h_bin("ifkit"), l->sock) == 0;
}

static const char *write_file(const char *name, const char *text)
{
	const char *path = h_tmp(name);
	FILE *f = fopen(path, "w");

	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

/* ---- --version ---------------------------------------------------------- */

static void test_version(void)
{
	static const char *const progs[] = { "ifkitd", "ifkit" };
	char out[256], want[128];

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		snprintf(want, sizeof(want), "%s (ifkit) %s\n", progs[i], IFKIT_VERSION);
		CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s --version", h_bin(progs[i])), 0);
		CU_ASSERT_STRING_EQUAL(out, want);
		CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s -V", h_bin(progs[i])), 0);
		CU_ASSERT_STRING_EQUAL(out, want);
		/* and --help says so */
		CU_ASSERT_EQUAL(h_sh("%s --help | grep -q -- --version", h_bin(progs[i])), 0);
	}
}

/* ---- sd_notify ---------------------------------------------------------- */

struct notify_rx {
	int fd;
	char env[160];		/* "NOTIFY_SOCKET=..." for the loader */
};

static int notify_bind(struct notify_rx *n, bool abstract, const char *tag)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	socklen_t alen;
	int one = 1;

	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd < 0)
		return -errno;
	if (abstract) {
		/* An abstract name lives in this (the root) network namespace: the
		 * loader must connect before it enters its private one. */
		int len = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "ifkt%d-%s",
				   (int)getpid(), tag);

		alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
		snprintf(n->env, sizeof(n->env), "NOTIFY_SOCKET=@%s", a.sun_path + 1);
	} else {
		snprintf(a.sun_path, sizeof(a.sun_path), "%s", h_tmp(tag));
		alen = sizeof(a);
		snprintf(n->env, sizeof(n->env), "NOTIFY_SOCKET=%s", a.sun_path);
	}
	/* The sender's pid, as systemd reads it for NotifyAccess=main. */
	setsockopt(n->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	return bind(n->fd, (struct sockaddr *)&a, alen) < 0 ? -errno : 0;
}

/* One datagram within timeout_ms: its length (text in buf), or -ETIMEDOUT. */
static int notify_recv(struct notify_rx *n, char *buf, size_t len, pid_t *sender, int timeout_ms)
{
	struct pollfd p = { .fd = n->fd, .events = POLLIN };
	char cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { buf, len - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t got;

	if (poll(&p, 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	got = recvmsg(n->fd, &mh, MSG_DONTWAIT);
	if (got < 0)
		return -errno;
	buf[got] = '\0';
	*sender = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
			*sender = ((struct ucred *)CMSG_DATA(c))->pid;
	return (int)got;
}

static void notify_ready_stopping(bool abstract)
{
	struct notify_rx n = { .fd = -1 };
	struct ops_loader l = { 0 };
	const char *cfg;
	char buf[512], arg[256], out[1024];
	pid_t sender = 0;
	int got, status = -1;

	cfg = write_file(abstract ? "nota.conf" : "notp.conf",
			 "feth create feth0\nfeth create feth1\nfeth peer feth0 feth1\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL_FATAL(notify_bind(&n, abstract, abstract ? "nota" : "notp.sock"), 0);
	snprintf(arg, sizeof(arg), "-c %s", cfg);
	CU_ASSERT_EQUAL_FATAL(loader_spawn(&l, abstract ? "nota" : "notp", n.env, "", arg), 0);

	/* The first message is READY=1, from the loader's main process... */
	got = notify_recv(&n, buf, sizeof(buf), &sender, 20000);
	CU_ASSERT_TRUE(got > 0);
	if (got <= 0)
		h_sh("cat %s", l.log);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "READY=1"));
	CU_ASSERT_EQUAL(sender, l.pid);
	/* ...sent only once the socket answers and the config's devices exist:
	 * asked right now, without a retry. */
	CU_ASSERT_EQUAL(h_sh("%s -s %s status", h_bin("ifkit"), l.sock), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s -s %s feth show feth0", h_bin("ifkit"),
				 l.sock), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "peer feth1"));
	CU_ASSERT_EQUAL(h_sh("ip -n %s link show feth1 | grep -q LOWER_UP", l.home), 0);

	/* SIGTERM: STOPPING=1 before the loader exits, then exit status 0. */
	kill(l.pid, SIGTERM);
	got = notify_recv(&n, buf, sizeof(buf), &sender, 20000);
	CU_ASSERT_TRUE(got > 0);
	CU_ASSERT_STRING_EQUAL(buf, "STOPPING=1");
	CU_ASSERT_EQUAL(sender, l.pid);
	status = h_wait(l.pid, 20000);
	CU_ASSERT_EQUAL(status, 0);
	l.pid = 0;
	/* Nothing else was sent (no second READY, nothing from a child). */
	CU_ASSERT_EQUAL(notify_recv(&n, buf, sizeof(buf), &sender, 100), -ETIMEDOUT);
	loader_stop(&l);
	close(n.fd);
}

static void test_notify_path(void) { notify_ready_stopping(false); }
static void test_notify_abstract(void) { notify_ready_stopping(true); }

static void test_notify_failed_start(void)
{
	struct notify_rx n = { .fd = -1 };
	struct ops_loader l = { 0 };
	char buf[512];
	pid_t sender;
	int got, ready = 0, errno_seen = 0;

	CU_ASSERT_EQUAL_FATAL(notify_bind(&n, false, "notf.sock"), 0);
	/* A named config that does not exist: start-up fails. */
	CU_ASSERT_EQUAL_FATAL(loader_spawn(&l, "notf", n.env, "", "-c /nonexistent/ifkitd.conf"),
			      0);
	CU_ASSERT_EQUAL(h_wait(l.pid, 20000), 1);
	l.pid = 0;
	while ((got = notify_recv(&n, buf, sizeof(buf), &sender, 100)) > 0) {
		ready |= strstr(buf, "READY=1") != NULL;
		errno_seen |= strstr(buf, "ERRNO=2") != NULL;
	}
	CU_ASSERT_FALSE(ready);
	CU_ASSERT_TRUE(errno_seen);	/* systemd shows the cause: ENOENT */
	loader_stop(&l);
	close(n.fd);
}

/* ---- log lines ---------------------------------------------------------- */

/*
 * Run `ifkitd --teardown` for names that do not exist (it only logs: the
 * namespace is missing, nothing removed) with stderr appended to log.
 * journal: "" for no JOURNAL_STREAM, "match" for the log's own dev:ino,
 * anything else is used as the value.
 */
static int run_logging(const char *log, const char *journal)
{
	char env[128] = "", pin[128], ns[H_NAME_LEN];
	struct stat st;
	FILE *f = fopen(log, "a");

	if (!f)
		return -errno;
	fclose(f);
	if (!strcmp(journal, "match")) {
		if (stat(log, &st) < 0)
			return -errno;
		snprintf(env, sizeof(env), "JOURNAL_STREAM=%llu:%llu",
			 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	} else if (journal[0]) {
		snprintf(env, sizeof(env), "JOURNAL_STREAM=%s", journal);
	}
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/ifkt%d-none", (int)getpid());
	snprintf(ns, sizeof(ns), "ifkt%d-none", (int)getpid());
	return h_sh("env -u JOURNAL_STREAM %s %s --teardown -s %s -p %s -n %s 2>>%s", env,
		    h_bin("ifkitd"), h_tmp("none.sock"), pin, ns, log);
}

static void test_log_timestamps(void)
{
	const char *plain = h_tmp("plain.log"), *journal = h_tmp("journal.log"),
		   *inherited = h_tmp("inherited.log");
	/* 2026-11-23T12:23:35.821+0000 ifkitd: info: ... */
	const char *stamp = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}"
			    "[+-][0-9]{4} ifkitd: info: ";
	char out[64];

	/* Not under journald: every line starts with the time. */
	CU_ASSERT_EQUAL(run_logging(plain, ""), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "grep -c . %s", plain), 0);
	CU_ASSERT_EQUAL(atoi(out), 2);
	CU_ASSERT_EQUAL(h_sh("grep -Evq '%s' %s", stamp, plain), 1);	/* no line without */

	/* stderr is the journal's stream: priority, no time, no program name. */
	CU_ASSERT_EQUAL(run_logging(journal, "match"), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "grep -c . %s", journal), 0);
	CU_ASSERT_EQUAL(atoi(out), 2);
	CU_ASSERT_EQUAL(h_sh("grep -vq '^<6>info: ' %s", journal), 1);

	/* JOURNAL_STREAM inherited by a process whose stderr goes elsewhere. */
	CU_ASSERT_EQUAL(run_logging(inherited, "1:1"), 0);
	CU_ASSERT_EQUAL(h_sh("grep -Evq '%s' %s", stamp, inherited), 1);
	CU_ASSERT_EQUAL(h_sh("grep -q '^<' %s", inherited), 1);
}

static void test_log_config_once(void)
{
	struct ops_loader l = { 0 };
	const char *cfg;
	char arg[256], out[64];

	cfg = write_file("once.conf",
			 "feth create feth0\nfeth create feth1\nfeth peer feth0 feth1\n"
			 "iptap create\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	snprintf(arg, sizeof(arg), "-c %s", cfg);
	CU_ASSERT_EQUAL_FATAL(loader_spawn(&l, "once", "", "", arg), 0);
	CU_ASSERT_TRUE(h_wait_for(loader_answers, &l, 20000));
	/* Each creation once (the module's line), not again by the config reader. */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "grep -c 'feth0.*created\\|created feth0' %s",
				 l.log), 0);
	CU_ASSERT_STRING_EQUAL(out, "1\n");
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "grep -c 'iptap0.*created\\|created iptap0' %s",
				 l.log), 0);
	CU_ASSERT_STRING_EQUAL(out, "1\n");
	/* libbpf's lines are ours too: one prefix, one time stamp. */
	CU_ASSERT_EQUAL(h_sh("grep -q 'libbpf: libbpf:' %s", l.log), 1);
	loader_stop(&l);
}

static void test_log_init_failure_once(void)
{
	struct ops_loader l = { 0 };
	char out[64];

	/* A pinned map of another layout where feth's peer table goes: feth's
	 * BPF object cannot load and the loader stops. */
	CU_ASSERT_EQUAL_FATAL(loader_prepare(&l, "fail"), 0);
	CU_ASSERT_EQUAL_FATAL(h_sh("bpftool map create %s/feth_peer_table type array key 4 "
				   "value 4 entries 1 name feth_peer_table", l.pin), 0);
	CU_ASSERT_EQUAL_FATAL(loader_exec(&l, "", "", "--no-config"), 0);
	CU_ASSERT_EQUAL(h_wait(l.pid, 20000), 1);
	l.pid = 0;
	/* The cause (libbpf's parameter mismatch) and one error line: the
	 * module's, with its step.  Not a second, vaguer one from the core. */
	CU_ASSERT_EQUAL(h_sh("grep -q 'warning: libbpf: .*parameter mismatch' %s", l.log), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "grep -c 'ifkitd: error:' %s", l.log), 0);
	CU_ASSERT_STRING_EQUAL(out, "1\n");
	CU_ASSERT_EQUAL(h_sh("grep -q 'ifkitd: error: feth: load BPF object' %s", l.log), 0);
	/* libbpf's "failed to load object/skeleton" repeats are debug only. */
	CU_ASSERT_EQUAL(h_sh("grep -q 'debug: libbpf: failed to load object' %s", l.log), 0);
	CU_ASSERT_EQUAL(h_sh("grep -q 'warning: libbpf: failed to load' %s", l.log), 1);
	loader_stop(&l);
}

/* ---- the systemd unit ---------------------------------------------------- */

static void test_unit_verifies(void)
{
	char out[2048], unit[192];

	if (h_sh("command -v systemd-analyze") != 0) {
		h_skip("systemd-analyze not installed (package systemd)");
		return;
	}
	/* The unit as installed, with ExecStart pointing at this build. */
	snprintf(unit, sizeof(unit), "%s", h_tmp("ifkitd.service"));
	CU_ASSERT_EQUAL_FATAL(h_sh("sed 's|@SBINDIR@|'$(cd $(dirname %s) && pwd)'|' %s > %s",
				   h_bin("ifkitd"), UNIT_TEMPLATE, unit), 0);
	/* verify exits 0 on settings it ignores: any output is a finding. */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "systemd-analyze verify --man=no %s", unit), 0);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_EQUAL(h_sh("grep -qx 'Type=notify' %s", unit), 0);
}

/*
 * The unit's CapabilityBoundingSet as setpriv's --bounding-set list
 * ("-all,+net_admin,..."), from the unit template itself.
 */
static int unit_bounding_set(char *out, size_t len)
{
	return h_sh_out(out, len,
			"sed -n 's/^CapabilityBoundingSet=//p' %s | tr 'A-Z' 'a-z' | "
			"sed 's/cap_//g; s/ \\+/,+/g; s/^/-all,+/' | tr -d '\\n'", UNIT_TEMPLATE);
}

static bool utuns_are_3(void *arg)
{
	struct ops_loader *l = arg;

	return h_sh("test $(%s -s %s utun show | grep -c '^utun[0-9]*:') -eq 3", h_bin("ifkit"),
		    l->sock) == 0;
}

static void test_unit_capabilities(void)
{
	struct ops_loader l = { 0 };
	char caps[256], wrapper[512], arg[256], out[4096], tns[H_NAME_LEN];
	const char *cfg;

	if (h_sh("command -v setpriv && command -v prlimit") != 0) {
		h_skip("setpriv/prlimit not installed (package util-linux)");
		return;
	}
	CU_ASSERT_EQUAL_FATAL(unit_bounding_set(caps, sizeof(caps)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(strstr(caps, "+net_admin"));
	/*
	 * What systemd gives the service: the unit's bounding set, no new
	 * privileges, and its default RLIMIT_MEMLOCK of 8 MiB (DefaultLimitMEMLOCK).
	 */
	snprintf(wrapper, sizeof(wrapper),
		 "prlimit --memlock=8388608:8388608 setpriv --bounding-set=%s --inh-caps=-all "
		 "--no-new-privs", caps);
	cfg = write_file("caps.conf", "feth create feth0\nfeth create feth1\n"
				      "feth peer feth0 feth1\niptap create\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	snprintf(arg, sizeof(arg), "-c %s", cfg);
	CU_ASSERT_EQUAL_FATAL(loader_spawn(&l, "caps", "", wrapper, arg), 0);
	CU_ASSERT_TRUE_FATAL(h_wait_for(loader_answers, &l, 20000));
	/* The loader really runs with the unit's set: no CAP_DAC_OVERRIDE (bit 1). */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "sed -n 's/^CapBnd:\t//p' /proc/%d/status",
				 l.pid), 0);
	CU_ASSERT_EQUAL(strtoull(out, NULL, 16) & (1ULL << 1), 0);
	CU_ASSERT_NOT_EQUAL(strtoull(out, NULL, 16) & (1ULL << 12), 0);	/* CAP_NET_ADMIN */

	/* feth: the config's pair is peered. */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s -s %s feth show feth0", h_bin("ifkit"),
				 l.sock), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "peer feth1"));
	/* iptap: created with its taps, and a PKTAP capture sees a packet of
	 * a feth (perf event array, socket owners through pidfd_getfd). */
	CU_ASSERT_EQUAL(h_sh("ip -n %s addr add 10.77.0.1/24 dev feth0 && "
			     "ip -n %s addr add 10.77.0.2/24 dev feth1", l.home, l.home), 0);
	/* ping runs until the capture has its packet, however long it takes to attach */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out),
				 "ip netns exec %s sh -c 'ping -q -i 0.2 -w 20 -I feth0 10.77.0.2 "
				 ">/dev/null & p=$!; timeout 15 %s -s %s iptap capture -c 1 -w %s; "
				 "r=$?; kill $p; exit $r'", l.home, h_bin("ifkit"), l.sock,
				 h_tmp("caps.pcap")), 0);
	CU_ASSERT_EQUAL(h_sh("test -s %s", h_tmp("caps.pcap")), 0);
	/* utun: three at once need 24 MiB of AF_XDP UMEM, past the 8 MiB
	 * memlock limit unless the unit keeps CAP_IPC_LOCK. */
	CU_ASSERT_EQUAL_FATAL(h_ns_create("capt", tns, sizeof(tns)), 0);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_TRUE(h_spawn(tns, "exec %s --socket %s --local 127.0.0.1:%d "
				       "--remote 127.0.0.1:%d --addr 10.78.%d.1 --peer 10.78.%d.2",
				       h_bin("ifkit-tunnel"), l.sock, 7000 + i, 7100 + i, i, i) > 0);
	CU_ASSERT_TRUE(h_wait_for(utuns_are_3, &l, 20000));
	if (!utuns_are_3(&l))
		h_sh("cat %s", l.log);
	h_sh("ip netns pids %s | xargs -r kill", tns);
	loader_stop(&l);
}

/* ---- bash completion ------------------------------------------------------- */

/*
 * Complete the command line `line` (the word under the cursor is the last,
 * possibly empty) with etc/bash-completion/ifkit; the candidates, one line,
 * sorted.  ns: run inside that namespace (NULL: here).
 */
static int complete(char *out, size_t len, const char *ns, const char *line)
{
	char prefix[128] = "";

	if (ns)
		snprintf(prefix, sizeof(prefix), "ip netns exec %s ", ns);
	/* PATH: the completion runs `ifkit` like a user's shell would. */
	return h_sh_out(out, len,
			"%senv PATH=$(dirname %s):$PATH bash --norc -c '"
			"source etc/bash-completion/ifkit; line=\"%s\"; "
			"read -ra COMP_WORDS <<< \"$line\"; "
			"case $line in *\" \") COMP_WORDS+=(\"\");; esac; "
			"COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _ifkit; "
			"printf \"%%s\\n\" \"${COMPREPLY[@]}\" | sort | tr \"\\n\" \" \"'",
			prefix, h_bin("ifkit"), line);
}

static void test_bash_completion(void)
{
	struct ops_loader l = { 0 };
	const char *cfg;
	char arg[256], line[256], out[512];

	if (h_sh("command -v bash") != 0) {
		h_skip("bash not installed");
		return;
	}
	cfg = write_file("comp.conf", "feth create feth0\nfeth create feth1\niptap create\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	snprintf(arg, sizeof(arg), "-c %s", cfg);
	CU_ASSERT_EQUAL_FATAL(loader_spawn(&l, "comp", "", "", arg), 0);
	CU_ASSERT_TRUE_FATAL(h_wait_for(loader_answers, &l, 20000));

	CU_ASSERT_EQUAL(complete(out, sizeof(out), NULL, "ifkit "), 0);
	CU_ASSERT_STRING_EQUAL(out, "feth help iptap status utun ");
	CU_ASSERT_EQUAL(complete(out, sizeof(out), NULL, "ifkit -j fe"), 0);
	CU_ASSERT_STRING_EQUAL(out, "feth ");
	CU_ASSERT_EQUAL(complete(out, sizeof(out), NULL, "ifkit feth "), 0);
	CU_ASSERT_STRING_EQUAL(out, "create destroy help peer set show unpeer ");
	CU_ASSERT_EQUAL(complete(out, sizeof(out), NULL, "ifkit iptap "), 0);
	CU_ASSERT_STRING_EQUAL(out, "capture create destroy help show ");
	/* device names from the loader named by -s, in any namespace */
	snprintf(line, sizeof(line), "ifkit -s %s feth destroy ", l.sock);
	CU_ASSERT_EQUAL(complete(out, sizeof(out), NULL, line), 0);
	CU_ASSERT_STRING_EQUAL(out, "feth0 feth1 ");
	snprintf(line, sizeof(line), "ifkit -s %s feth peer feth0 f", l.sock);
	CU_ASSERT_EQUAL(complete(out, sizeof(out), NULL, line), 0);
	CU_ASSERT_STRING_EQUAL(out, "feth0 feth1 ");
	snprintf(line, sizeof(line), "ifkit -s %s iptap show ", l.sock);
	CU_ASSERT_EQUAL(complete(out, sizeof(out), NULL, line), 0);
	CU_ASSERT_STRING_EQUAL(out, "--json -j iptap0 ");
	snprintf(line, sizeof(line), "ifkit -s %s feth set feth1 media 10", l.sock);
	CU_ASSERT_EQUAL(complete(out, sizeof(out), NULL, line), 0);
	CU_ASSERT_STRING_EQUAL(out, "10GbaseT ");
	/* no loader at that socket: this namespace's /sys/class/net */
	CU_ASSERT_EQUAL(complete(out, sizeof(out), l.home, "ifkit -s /nonexistent feth unpeer "),
			0);
	CU_ASSERT_STRING_EQUAL(out, "feth0 feth1 ");
	loader_stop(&l);
}

/* ---- libutun(3) ----------------------------------------------------------- */

static bool peer_address_set(void *arg)
{
	return h_sh("ip -n %s addr show | grep -q 'peer 10.9.0.2'", (const char *)arg) == 0;
}

/* The man page's example, as printed: compiled against this tree and run. */
static void test_libutun_man_example(void)
{
	struct ops_loader l = { 0 };
	char ns[H_NAME_LEN], src[192], exe[192];
	pid_t pid;

	snprintf(src, sizeof(src), "%s", h_tmp("echo.c"));
	snprintf(exe, sizeof(exe), "%s", h_tmp("echo"));
	/* The program between .SH EXAMPLES and .SH NOTES, roff's "\-" undone. */
	CU_ASSERT_EQUAL_FATAL(h_sh("sed -n '/^\\.SH EXAMPLES/,/^\\.SH NOTES/p' docs/libutun.3 | "
				   "sed -n '/^#include/,/^}/p' | sed 's/\\\\-/-/g' > %s && "
				   "grep -q utun_open %s", src, src), 0);
	CU_ASSERT_EQUAL_FATAL(h_sh("cc -Wall -Wextra -Werror -Iinclude -o %s %s $(dirname %s)/libutun.a",
				   exe, src, h_bin("ifkitd")), 0);
	CU_ASSERT_EQUAL_FATAL(loader_spawn(&l, "man", "", "", "--no-config"), 0);
	CU_ASSERT_TRUE_FATAL(h_wait_for(loader_answers, &l, 20000));
	CU_ASSERT_EQUAL_FATAL(h_ns_create("manc", ns, sizeof(ns)), 0);
	pid = h_spawn(ns, "IFKIT_SOCKET=%s exec %s", l.sock, exe);
	CU_ASSERT_TRUE(pid > 0);
	CU_ASSERT_TRUE(h_wait_for(peer_address_set, ns, 20000));
	/* "Then ping 10.9.0.2 is answered through the program." */
	CU_ASSERT_EQUAL(h_sh("ip netns exec %s ping -c 1 -W 1 -w 20 10.9.0.2", ns), 0);
	h_kill(pid, SIGTERM);
	loader_stop(&l);
}

/* ---- the unit under a real systemd -------------------------------------------- */

/* The container's systemd (PID 1 inside), by the host pid of its launcher. */
static struct {
	pid_t launcher;
	pid_t systemd;
	char dir[192];
	char enter[96];		/* "nsenter -t PID -m -n -p" */
} CT;

static bool container_up(void *arg)
{
	char out[64];

	(void)arg;
	if (!CT.systemd) {
		/* The launcher's child once it is systemd (before, the script runs
		 * short-lived helpers as its children). */
		if (h_sh_out(out, sizeof(out), "c=$(cat /proc/%d/task/%d/children | cut -d\" \" -f1) && "
			     "grep -qx systemd /proc/$c/comm && echo $c", CT.launcher,
			     CT.launcher) || !atoi(out))
			return false;
		CT.systemd = atoi(out);
		snprintf(CT.enter, sizeof(CT.enter), "nsenter -t %d -m -n -p", CT.systemd);
	}
	return h_sh("%s systemctl is-system-running | grep -qx running", CT.enter) == 0;
}

static void container_stop(void)
{
	if (CT.launcher > 0)
		h_kill(CT.launcher, SIGKILL);	/* --kill-child: the container goes too */
	CT.launcher = 0;
	/* The cgroups it made, deepest first, once their processes are gone. */
	for (int i = 0; i < 100; i++) {
		if (h_sh("for d in $(cat %s/cgdirs); do [ ! -d $d ] || find $d -depth -type d "
			 "-exec rmdir {} + 2>/dev/null; [ ! -d $d ] || exit 1; done", CT.dir) == 0)
			break;
		usleep(50000);
	}
}

/* Suite clean-up: also after a failed test (the harness kills processes but
 * cannot remove cgroups). */
static int container_cleanup(void)
{
	if (CT.dir[0])
		container_stop();
	return 0;
}

static bool main_pid_gone(void *arg)
{
	return h_sh("%s systemctl show -p ActiveState ifkitd-test | grep -qx ActiveState=inactive",
		    CT.enter) == 0 && arg;
}

static void test_unit_under_systemd(void)
{
	char sock[] = "/run/ifkit-test/ifkitd.sock", pin[128], priv[H_NAME_LEN], out[4096];
	char ifkit[256], mainpid[32];
	const char *cfg;

	if (access("/lib/systemd/systemd", X_OK) || h_sh("command -v nsenter && unshare --help | "
							  "grep -q kill-child") != 0) {
		h_skip("no /lib/systemd/systemd, nsenter or unshare --kill-child "
		       "(packages systemd, util-linux)");
		return;
	}
	snprintf(CT.dir, sizeof(CT.dir), "%s", h_tmp("ct"));
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/ifkt%d-sd", (int)getpid());
	snprintf(priv, sizeof(priv), "ifkt%d-sdp", (int)getpid());
	h_register_dir(pin);
	snprintf(ifkit, sizeof(ifkit), "%s -s %s", h_bin("ifkit"), sock);
	CU_ASSERT_EQUAL_FATAL(h_sh("mkdir -p %s/units", CT.dir), 0);
	cfg = write_file("sd.conf", "feth create feth0\nfeth create feth1\n"
				    "feth peer feth0 feth1\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	/* The unit as shipped; only ExecStart's paths are this test's, and
	 * nothing but it is started (no sysinit.target). */
	CU_ASSERT_EQUAL_FATAL(h_sh("sed -e 's|^ExecStart=.*|ExecStart=%s -s %s -p %s -n %s -c %s|' "
				   "-e 's|^\\[Unit\\]$|[Unit]\\nDefaultDependencies=no|' %s "
				   "> %s/units/ifkitd-test.service", h_bin("ifkitd"), sock, pin,
				   priv, cfg, UNIT_TEMPLATE, CT.dir), 0);
	CU_ASSERT_EQUAL_FATAL(h_sh("printf '[Unit]\\nDefaultDependencies=no\\n"
				   "Requires=ifkitd-test.service\\nAfter=ifkitd-test.service\\n"
				   "Wants=systemd-journald.socket\\n' > %s/units/ifkit-test.target",
				   CT.dir), 0);
	CT.launcher = h_spawn(NULL, "exec tests/systemd-container.sh %s", CT.dir);
	CU_ASSERT_TRUE_FATAL(CT.launcher > 0);
	if (!h_wait_for(container_up, NULL, 30000)) {
		h_sh("cat %s/systemd.log; cat /proc/%d/task/%d/children", CT.dir, CT.launcher,
		     CT.launcher);
		if (CT.systemd)
			h_sh("%s systemctl is-system-running; %s systemctl --failed --no-pager",
			     CT.enter, CT.enter);
		container_stop();
		CU_FAIL_FATAL("systemd in the container did not come up");
	}

	/* Type=notify: active only after READY=1, whose STATUS= systemd shows. */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s systemctl show -p ActiveState,StatusText,"
				 "Type ifkitd-test", CT.enter), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ActiveState=active"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Type=notify"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "StatusText=serving /run/ifkit-test/ifkitd.sock"));
	/* `systemctl restart` returns when the loader answers and the config's
	 * devices exist: asked at once, without a retry. */
	CU_ASSERT_EQUAL(h_sh("%s sh -c 'systemctl restart ifkitd-test && %s feth show feth0 | "
			     "grep -q \"peer feth1\"'", CT.enter, ifkit), 0);

	/* The sandbox is in force, and what it allows is enough. */
	CU_ASSERT_EQUAL(h_sh_out(mainpid, sizeof(mainpid), "%s systemctl show -p MainPID --value "
				 "ifkitd-test | tr -d '\\n'", CT.enter), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s grep -E '^(NoNewPrivs|Seccomp|CapBnd):' "
				 "/proc/%s/status", CT.enter, mainpid), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "NoNewPrivs:\t1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Seccomp:\t2"));
	/* the private namespace is seen outside the service (no mount namespace) */
	CU_ASSERT_EQUAL(h_sh("%s ip netns exec %s ip link show hfeth0", CT.enter, priv), 0);
	/* utun: three (past the 8 MiB memlock without CAP_IPC_LOCK) */
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(h_sh("%s sh -c 'setsid %s --socket %s --local 127.0.0.1:%d "
				     "--remote 127.0.0.1:%d --addr 10.79.%d.1 --peer 10.79.%d.2 "
				     "</dev/null >/dev/null 2>&1 &'", CT.enter, h_bin("ifkit-tunnel"),
				     sock, 7200 + i, 7300 + i, i, i), 0);
	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "utun%d", i);
		for (int t = 0; t < 100 && h_sh("%s ip link show %s", CT.enter, name); t++)
			usleep(100000);
		CU_ASSERT_EQUAL(h_sh("%s ip link show %s", CT.enter, name), 0);
	}
	/* iptap: sockets older than the iptap are attributed to their owner
	 * (pidfd_getfd under the filter); the capture names `nc`. */
	/* Both sockets exist before the iptap (waited for with ss): only the
	 * backfill, not the cgroup programs, can name their owner.  The client
	 * sends ten datagrams a second. */
	CU_ASSERT_EQUAL(h_sh("%s sh -c 'ip addr add 10.79.9.1/24 dev feth0 && "
			     "ip addr add 10.79.9.2/24 dev feth1 && "
			     "(setsid nc -u -l 10.79.9.2 9999 </dev/null >/dev/null 2>&1 &) && "
			     "for i in $(seq 100); do ss -uan | grep -q 10.79.9.2:9999 && break; "
			     "sleep 0.1; done && "
			     "(setsid sh -c \"while :; do echo x; sleep 0.1; done | "
			     "nc -u -s 10.79.9.1 -p 8888 10.79.9.2 9999\" </dev/null >/dev/null 2>&1 &) && "
			     "for i in $(seq 100); do ss -uan | grep -q 10.79.9.1:8888 && break; "
			     "sleep 0.1; done && "
			     "%s iptap create && timeout 15 %s iptap capture -c 5 -w %s'", CT.enter,
			     ifkit, ifkit, h_tmp("sd.pcap")), 0);
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "tshark -r %s -Y udp.port==9999 -T fields "
				 "-e pktap.cmdname 2>/dev/null | sort -u", h_tmp("sd.pcap")), 0);
	CU_ASSERT_STRING_EQUAL(out, "nc\n");

	/* journald: priority parsed, no time stamp or program name of ours, once. */
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s journalctl -u ifkitd-test -o verbose "
				 "--no-pager | grep -c 'MESSAGE=info: feth0: created$'", CT.enter), 0);
	CU_ASSERT_STRING_EQUAL(out, "1\n");
	CU_ASSERT_EQUAL(h_sh("%s journalctl -u ifkitd-test -o verbose --no-pager | "
			     "grep -B20 'MESSAGE=info: feth0: created' | grep -q 'PRIORITY=6'",
			     CT.enter), 0);

	/*
	 * stop: clean exit; iptaps go, feth pairs stay, and so do the utuns:
	 * each lives as long as its client (the three ifkit-tunnels still run).
	 */
	CU_ASSERT_EQUAL(h_sh("%s systemctl stop ifkitd-test", CT.enter), 0);
	CU_ASSERT_TRUE(h_wait_for(main_pid_gone, CT.enter, 10000));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s systemctl show -p Result,ExecMainStatus "
				 "ifkitd-test", CT.enter), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Result=success"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ExecMainStatus=0"));
	CU_ASSERT_EQUAL(h_sh_out(out, sizeof(out), "%s ip -br link | awk '{print $1}' | "
				 "cut -d@ -f1 | sort | tr '\\n' ' '", CT.enter), 0);
	CU_ASSERT_STRING_EQUAL(out, "feth0 feth1 lo utun0 utun1 utun2 ");
	container_stop();
	h_sh("%s --teardown -s %s -p %s -n %s", h_bin("ifkitd"), h_tmp("none.sock"), pin, priv);
}

static void add_suites(void)
{
	CU_pSuite s;

	s = CU_add_suite("version", NULL, NULL);
	CU_add_test(s, "--version on ifkitd and ifkit", test_version);

	s = CU_add_suite("sd_notify", NULL, NULL);
	CU_add_test(s, "READY=1 once serving, STOPPING=1 on SIGTERM (path socket)",
		    test_notify_path);
	CU_add_test(s, "READY=1 and STOPPING=1 on an abstract socket ('@')",
		    test_notify_abstract);
	CU_add_test(s, "failed start: no READY=1, ERRNO=", test_notify_failed_start);

	s = CU_add_suite("log", NULL, NULL);
	CU_add_test(s, "time stamps, or priorities under journald", test_log_timestamps);
	CU_add_test(s, "config devices logged once", test_log_config_once);
	CU_add_test(s, "module start failure logged once", test_log_init_failure_once);

	s = CU_add_suite("bash completion", NULL, NULL);
	CU_add_test(s, "objects, commands, device names from the loader or /sys",
		    test_bash_completion);

	s = CU_add_suite("libutun(3)", NULL, NULL);
	CU_add_test(s, "the man page's example compiles and answers ping",
		    test_libutun_man_example);

	s = CU_add_suite("systemd unit", NULL, container_cleanup);
	CU_add_test(s, "systemd-analyze verify is silent", test_unit_verifies);
	CU_add_test(s, "the unit's capabilities run feth, iptap and three utuns",
		    test_unit_capabilities);
	CU_add_test(s, "under systemd: notify, sandbox, utun, iptap, journal, stop",
		    test_unit_under_systemd);
}

int main(int argc, char **argv)
{
	return h_main(argc, argv, add_suites);
}
