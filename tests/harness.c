// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <CUnit/Basic.h>
#include "bpffs.h"
#include "harness.h"

#define H_MAX 256

/* Everything the running test binary made, so cleanup can find it. */
static struct {
	char ns[H_MAX][H_NAME_LEN];
	int nns;
	pid_t pids[H_MAX];
	int npids;
	struct h_loader *loaders[32];
	int nloaders;
	char dirs[16][192];
	int ndirs;
	char tmpdir[128];
	char build[PATH_MAX];
	char bin[PATH_MAX];
	int home_ns;
	pid_t owner;
	int cleaning;
	CU_pTest last_skipped;
	unsigned int loader_errors;	/* loaders that reported valgrind errors */
	unsigned int skipped_passing;	/* tests that called h_skip and did not fail */
} H = { .home_ns = -1 };

const char *h_bin(const char *name)
{
	snprintf(H.bin, sizeof(H.bin), "%s/%s", H.build, name);
	return H.bin;
}

bool h_is_root(void) { return geteuid() == 0; }

int h_pin_dir(const char *tag, char *out, size_t len)
{
	int n = snprintf(out, len, "/sys/fs/bpf/ifkt%d-%s", (int)getpid(), tag);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	h_register_dir(out);
	return bpffs_prepare(out);
}

void h_register_dir(const char *path)
{
	if (H.ndirs < 16)
		snprintf(H.dirs[H.ndirs++], sizeof(H.dirs[0]), "%s", path);
}

const char *h_tmp(const char *name)
{
	static char path[H_MAX][192];
	static int next;
	char *p = path[next++ % H_MAX];

	snprintf(p, 192, "%s/%s", H.tmpdir, name);
	return p;
}

static int vsh(char *out, size_t len, const char *fmt, va_list ap)
{
	/* Once cleanup removed the log directory, output goes nowhere. */
	char cmd[4096];
	FILE *f;
	size_t n = 0;
	int status;

	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	if (!out) {
		char full[4200];

		if (H.tmpdir[0])
			snprintf(full, sizeof(full), "(%s) >>%s/sh.log 2>&1", cmd, H.tmpdir);
		else
			snprintf(full, sizeof(full), "(%s) >/dev/null 2>&1", cmd);
		status = system(full);
	} else {
		char full[4200];

		snprintf(full, sizeof(full), "(%s) 2>&1", cmd);
		f = popen(full, "r");
		if (!f)
			return -1;
		while (n + 1 < len) {
			size_t got = fread(out + n, 1, len - 1 - n, f);

			if (!got)
				break;
			n += got;
		}
		out[n] = '\0';
		/* drain the rest so the child never blocks on a full pipe */
		while (fgetc(f) != EOF)
			;
		status = pclose(f);
	}
	if (status < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int h_sh(const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vsh(NULL, 0, fmt, ap);
	va_end(ap);
	return ret;
}

int h_sh_out(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vsh(out, len, fmt, ap);
	va_end(ap);
	return ret;
}

int h_ns_create(const char *tag, char *out, size_t len)
{
	char name[H_NAME_LEN];

	if (H.nns == H_MAX)
		return -ENOSPC;
	snprintf(name, sizeof(name), "ifkt%d-%s", (int)getpid(), tag);
	if (h_sh("ip netns add %s && ip -n %s link set lo up", name, name) != 0)
		return -EIO;
	snprintf(H.ns[H.nns++], H_NAME_LEN, "%s", name);
	snprintf(out, len, "%s", name);
	return 0;
}

void h_ns_delete(const char *name)
{
	for (int i = 0; i < H.nns; i++) {
		if (!strcmp(H.ns[i], name)) {
			h_sh("ip netns pids %s | xargs -r kill -9; ip netns del %s", name, name);
			H.ns[i][0] = '\0';
		}
	}
}

pid_t h_spawn(const char *ns, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	pid_t pid;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (H.npids == H_MAX)
		return -ENOSPC;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char log[256];
		int fd;

		setpgid(0, 0);
		snprintf(log, sizeof(log), "%s/sh.log", H.tmpdir);
		fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		if (ns)
			execlp("ip", "ip", "netns", "exec", ns, "sh", "-c", cmd, (char *)NULL);
		else
			execlp("sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	H.pids[H.npids++] = pid;
	return pid;
}

static void forget_pid(pid_t pid)
{
	for (int i = 0; i < H.npids; i++)
		if (H.pids[i] == pid)
			H.pids[i] = 0;
}

int h_wait(pid_t pid, int timeout_ms)
{
	int status;

	for (int waited = 0;; waited += 10) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid) {
			forget_pid(pid);
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		if (r < 0)
			return -errno;
		if (waited >= timeout_ms) {
			h_kill(pid, SIGKILL);
			return -ETIMEDOUT;
		}
		usleep(10000);
	}
}

void h_kill(pid_t pid, int sig)
{
	if (pid <= 0)
		return;
	/* The process group we made in h_spawn: the shell and what it started. */
	kill(-pid, sig);
	kill(pid, sig);
	if (sig == SIGKILL || sig == SIGTERM || sig == SIGINT) {
		for (int i = 0; i < 300; i++) {
			if (waitpid(pid, NULL, WNOHANG) != 0)
				break;
			usleep(10000);
			if (i == 200)
				kill(-pid, SIGKILL), kill(pid, SIGKILL);
		}
		forget_pid(pid);
	}
}

static int loader_answers(struct h_loader *l)
{
	return h_sh("%s -s %s status >/dev/null 2>&1", h_bin("ifkit"), l->sock) == 0;
}

static int loader_spawn(struct h_loader *l)
{
	const char *wrapper = getenv("IFKITD_WRAPPER");	/* e.g. "valgrind --leak-check=full" */
	char cmd[1400], cfg[256], vg[512] = "";

	if (l->config[0])
		snprintf(cfg, sizeof(cfg), "-c %s%s%s", l->config,
			 l->config_netns[0] ? " --config-netns " : "", l->config_netns);
	else
		snprintf(cfg, sizeof(cfg), "--no-config");
	/*
	 * Under valgrind, the loader's errors fail the run (h_loader_kill reads
	 * the ERROR SUMMARY); what valgrind cannot know about bpf() is suppressed.
	 */
	if (wrapper && strstr(wrapper, "valgrind") && !strstr(wrapper, "--suppressions"))
		snprintf(vg, sizeof(vg), "--suppressions=%s/../tests/valgrind.supp", H.build);
	snprintf(cmd, sizeof(cmd), "exec %s %s %s -v -s %s -p %s -n %s %s >>%s 2>&1",
		 wrapper ? wrapper : "", vg, h_bin("ifkitd"), l->sock, l->pin_dir, l->netns,
		 cfg, l->log);
	{
		struct stat st;

		l->log_start = stat(l->log, &st) == 0 ? st.st_size : 0;
	}
	fflush(NULL);
	l->pid = fork();
	if (l->pid < 0)
		return -errno;
	if (l->pid == 0) {
		execlp("sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < (getenv("IFKITD_WRAPPER") ? 1500 : 250); i++) {
		if (loader_answers(l))
			return 0;
		if (waitpid(l->pid, NULL, WNOHANG) == l->pid) {
			l->pid = 0;
			return -ECHILD;
		}
		usleep(20000);
	}
	return -ETIMEDOUT;
}

int h_loader_start(struct h_loader *l)
{
	static int seq;
	int n = seq++, slot = 0;

	/* Slots of loaders torn down are reused: a suite may start more than 32 in all. */
	while (slot < H.nloaders && H.loaders[slot])
		slot++;
	if (slot == 32)
		return -ENOSPC;
	snprintf(l->sock, sizeof(l->sock), "%s/ifkitd%d.sock", H.tmpdir, n);
	snprintf(l->pin_dir, sizeof(l->pin_dir), "/sys/fs/bpf/ifkt%d-%d", (int)getpid(), n);
	snprintf(l->netns, sizeof(l->netns), "ifkt%d-priv%d", (int)getpid(), n);
	snprintf(l->log, sizeof(l->log), "%s/ifkitd%d.log", H.tmpdir, n);
	H.loaders[slot] = l;
	if (slot == H.nloaders)
		H.nloaders++;
	return loader_spawn(l);
}

int h_loader_restart(struct h_loader *l)
{
	if (l->pid > 0)
		h_loader_kill(l, SIGTERM);
	return loader_spawn(l);
}

/* A loader run under valgrind that reported errors counts as a failure. */
static void loader_check_valgrind(struct h_loader *l)
{
	char line[512];
	FILE *f;

	if (!getenv("IFKITD_WRAPPER") || !strstr(getenv("IFKITD_WRAPPER"), "valgrind"))
		return;
	f = fopen(l->log, "r");
	if (!f)
		return;
	/* Only this run's report: a restarted loader appends to the same log. */
	fseek(f, l->log_start, SEEK_SET);
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, "ERROR SUMMARY: ");

		if (p && atoi(p + 15) > 0) {
			printf("\n    loader %s: valgrind reported errors: %s", l->log, p);
			H.loader_errors++;
		}
	}
	fclose(f);
}

void h_loader_kill(struct h_loader *l, int sig)
{
	if (l->pid <= 0)
		return;
	kill(l->pid, sig);
	for (int i = 0; i < 3000 && waitpid(l->pid, NULL, WNOHANG) == 0; i++) {
		usleep(10000);
		if (i == (getenv("IFKITD_WRAPPER") ? 2500 : 300))
			kill(l->pid, SIGKILL);
	}
	l->pid = 0;
	if (sig != SIGKILL)
		loader_check_valgrind(l);
}

void h_loader_teardown(struct h_loader *l)
{
	if (!l->sock[0])
		return;
	h_loader_kill(l, SIGTERM);
	h_sh("%s --teardown -s %s -p %s -n %s", h_bin("ifkitd"), l->sock, l->pin_dir, l->netns);
	h_sh("rm -rf %s; ip netns del %s 2>/dev/null; true", l->pin_dir, l->netns);
	for (int i = 0; i < H.nloaders; i++)
		if (H.loaders[i] == l)
			H.loaders[i] = NULL;
	l->sock[0] = '\0';
}

int h_ifkit(struct h_loader *l, const char *ns, char *out, size_t len, const char *fmt, ...)
{
	char args[2048], discard[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	if (!out) {
		out = discard;
		len = sizeof(discard);
	}
	if (ns)
		return h_sh_out(out, len, "ip netns exec %s %s -s %s %s", ns, h_bin("ifkit"),
				l->sock, args);
	return h_sh_out(out, len, "%s -s %s %s", h_bin("ifkit"), l->sock, args);
}

bool h_wait_for(bool (*pred)(void *arg), void *arg, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		if (pred(arg))
			return true;
		usleep(20000);
	}
	return false;
}

bool h_link_exists(void *arg)
{
	struct h_link *link = arg;

	return h_sh("ip -n %s link show %s >/dev/null 2>&1", link->ns, link->name) == 0;
}

bool h_link_gone(void *arg)
{
	return !h_link_exists(arg);
}

struct file_has {
	const char *path, *needle;
};

static bool pred_file_has(void *arg)
{
	struct file_has *fh = arg;
	char buf[8192];
	bool found = false;
	FILE *f = fopen(fh->path, "r");

	if (!f)
		return false;
	while (!found && fgets(buf, sizeof(buf), f))
		found = strstr(buf, fh->needle) != NULL;
	fclose(f);
	return found;
}

bool h_wait_file(const char *path, const char *needle, int timeout_ms)
{
	struct file_has fh = { path, needle };

	return h_wait_for(pred_file_has, &fh, timeout_ms);
}

struct listen_arg {
	const char *ns;
	char proto;
	int port;
};

static bool pred_listening(void *arg)
{
	struct listen_arg *la = arg;
	char out[512];

	return h_sh_out(out, sizeof(out), "ip netns exec %s ss -Hln%c 'sport = :%d'", la->ns,
			la->proto, la->port) == 0 && strstr(out, ":") != NULL;
}

bool h_wait_listen(const char *ns, char proto, int port, int timeout_ms)
{
	struct listen_arg la = { ns, proto, port };

	return h_wait_for(pred_listening, &la, timeout_ms);
}

pid_t h_tcpdump(const char *ns, const char *out_path, const char *fmt, ...)
{
	char args[1024], err_path[300];
	va_list ap;
	pid_t pid;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(err_path, sizeof(err_path), "%s.err", out_path);
	pid = h_spawn(ns, "exec tcpdump -l -n %s > %s 2> %s", args, out_path, err_path);
	if (pid < 0)
		return pid;
	/* tcpdump says so on stderr once its socket is bound and filtering. */
	if (!h_wait_file(err_path, "listening on", 5000)) {
		h_kill(pid, SIGKILL);
		return -ETIMEDOUT;
	}
	return pid;
}

int h_enter_ns(const char *name)
{
	char path[256];
	int fd, err = 0;

	if (H.home_ns < 0)
		H.home_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET) < 0)
		err = -errno;
	close(fd);
	return err;
}

void h_leave_ns(void)
{
	if (H.home_ns >= 0)
		setns(H.home_ns, CLONE_NEWNET);
}

void h_cleanup_all(void)
{
	if (H.cleaning || getpid() != H.owner)
		return;
	H.cleaning = 1;
	h_leave_ns();
	for (int i = 0; i < H.npids; i++)
		if (H.pids[i] > 0)
			h_kill(H.pids[i], SIGKILL);
	H.npids = 0;
	for (int i = 0; i < H.nloaders; i++)
		if (H.loaders[i])
			h_loader_teardown(H.loaders[i]);
	H.nloaders = 0;
	for (int i = 0; i < H.nns; i++) {
		if (H.ns[i][0]) {
			h_sh("ip netns pids %s | xargs -r kill -9; ip netns del %s", H.ns[i], H.ns[i]);
			H.ns[i][0] = '\0';
		}
	}
	H.nns = 0;
	for (int i = 0; i < H.ndirs; i++)
		h_sh("rm -rf '%s'", H.dirs[i]);
	H.ndirs = 0;
	if (H.tmpdir[0] && !getenv("IFKIT_TEST_KEEP")) {
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", H.tmpdir);
		if (system(cmd) == 0)
			H.tmpdir[0] = '\0';
	}
	H.cleaning = 0;
}

static void on_signal(int sig)
{
	h_cleanup_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

void h_skip(const char *fmt, ...)
{
	CU_pTest test = CU_get_current_test();
	va_list ap;

	printf("\n    SKIPPED: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (test && test != H.last_skipped) {
		bool failed_already = false;

		H.last_skipped = test;
		for (CU_pFailureRecord f = CU_get_failure_list(); f; f = f->pNext)
			if (f->pTest == test)
				failed_already = true;
		/* A test that already failed stays failed; otherwise it is not a pass. */
		if (!failed_already)
			H.skipped_passing++;
	}
}

/*
 * IFKIT_TEST_ONLY=substring runs only the tests whose name contains it (for
 * working on one test; the suites' set-up still runs).  Unset: all tests.
 */
static void only_matching_tests(const char *pattern)
{
	CU_pSuite suite;
	CU_pTest test;

	if (!pattern || !*pattern)
		return;
	for (suite = CU_get_registry()->pSuite; suite; suite = suite->pNext)
		for (test = suite->pTest; test; test = test->pNext)
			if (!strstr(test->pName, pattern))
				CU_set_test_active(test, CU_FALSE);
}

int h_main(int argc, char **argv, void (*add_suites)(void))
{
	const char *build = getenv("BUILD");
	char exe[PATH_MAX];
	unsigned int failed;
	ssize_t n;

	(void)argc, (void)argv;
	setvbuf(stdout, NULL, _IOLBF, 0);
	H.owner = getpid();
	/* Binaries live in BUILD/tests/; the tools they drive in BUILD/. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (build && *build) {
		snprintf(H.build, sizeof(H.build), "%s", build);
	} else if (n > 0) {
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		snprintf(H.build, sizeof(H.build), "%s/..", exe);
	} else {
		snprintf(H.build, sizeof(H.build), "build");
	}
	if (H.build[0] != '/' && realpath(H.build, exe))
		snprintf(H.build, sizeof(H.build), "%s", exe);
	snprintf(H.tmpdir, sizeof(H.tmpdir), "/tmp/ifkt%d", (int)getpid());
	mkdir(H.tmpdir, 0755);
	atexit(h_cleanup_all);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	add_suites();
	only_matching_tests(getenv("IFKIT_TEST_ONLY"));
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
		 CU_get_number_of_suites_failed() + H.loader_errors;
	{
		CU_pRunSummary s = CU_get_run_summary();

		/*
		 * One machine-readable line for tests/run.sh to add up.  A suite
		 * whose set-up failed ran none of its tests: each counts as failed,
		 * so a broken environment can never pass silently.
		 */
		unsigned int not_run = s->nSuitesFailed ?
			CU_get_registry()->uiNumberOfTests - s->nTestsRun : 0;
		unsigned int passed = s->nTestsRun - s->nTestsFailed;

		if (s->nSuitesFailed)
			printf("%u suite(s) failed to set up; their %u test(s) count as failed\n",
			       s->nSuitesFailed, not_run);
		/* A skipped test neither passed nor failed (unless it failed before skipping). */
		passed = passed >= H.skipped_passing ? passed - H.skipped_passing : 0;
		printf("IFKIT-RESULT %u %u %u\n", passed,
		       s->nTestsFailed + not_run + (s->nSuitesFailed && !not_run ? 1 : 0) +
		       H.loader_errors, H.skipped_passing);
	}
	CU_cleanup_registry();
	h_cleanup_all();
	return failed ? 1 : 0;
}
