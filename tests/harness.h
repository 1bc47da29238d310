/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Test harness shared by every CUnit suite.  Everything a test makes
 * (namespaces, loaders, background processes, files) is registered here
 * and removed by h_cleanup_all(), which runs at exit and on SIGINT/SIGTERM,
 * so a failing or interrupted test leaves nothing behind.
 *
 * Names are unique per test process: namespaces are "ifkt<pid>-<tag>", a
 * loader gets its own socket, pin directory and private namespace.
 * Test addresses live only inside those namespaces.
 */
#ifndef IFKIT_TEST_HARNESS_H
#define IFKIT_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <CUnit/CUnit.h>

#define H_NAME_LEN 64

/* Path of a built binary: h_bin("ifkit") -> "<BUILD>/ifkit". */
const char *h_bin(const char *name);

/* Create netns "ifkt<pid>-<tag>" with lo up; name written to out. 0 or -errno. */
int h_ns_create(const char *tag, char *out, size_t len);
/* Delete a namespace made by h_ns_create now (also forgets it). */
void h_ns_delete(const char *name);

/* Run a shell command (sh -c); returns its exit status, or -1. Output goes to the log. */
int h_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, capturing stdout+stderr (NUL-terminated, truncated to len). */
int h_sh_out(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Start "sh -c CMD" in the background (in netns ns if non-NULL); registered for cleanup. */
pid_t h_spawn(const char *ns, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Wait for a spawned process; returns its exit status, or -ETIMEDOUT (then it is killed). */
int h_wait(pid_t pid, int timeout_ms);
/* Kill a spawned process (by pid) and reap it. */
void h_kill(pid_t pid, int sig);

struct h_loader {
	pid_t pid;
	char sock[108];
	char pin_dir[128];
	char netns[H_NAME_LEN];
	char log[128];
	char config[128];	/* "" for --no-config */
	char config_netns[H_NAME_LEN];	/* with config: --config-netns, "" for none */
	long log_start;			/* size of log when this run started */
};
/* Start a private ifkitd (unique socket/pins/netns) and wait until it answers. */
int h_loader_start(struct h_loader *l);
/* Restart after a kill, same paths. */
int h_loader_restart(struct h_loader *l);
/* Send sig to the loader and reap it. */
void h_loader_kill(struct h_loader *l, int sig);
/* Stop the loader and remove all its state (ifkitd --teardown). */
void h_loader_teardown(struct h_loader *l);
/* Run `ifkit -s SOCK ARGS` (in netns ns if non-NULL); exit status, output captured. */
int h_ifkit(struct h_loader *l, const char *ns, char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Poll pred every 20 ms until it returns true or timeout_ms passes. */
bool h_wait_for(bool (*pred)(void *arg), void *arg, int timeout_ms);
/* A device by name in a namespace, for h_wait_for(h_link_exists / h_link_gone, &link, ms). */
struct h_link {
	const char *ns;
	const char *name;
};
bool h_link_exists(void *link);
bool h_link_gone(void *link);

/* Readiness, not sleeps: wait until path contains needle. */
bool h_wait_file(const char *path, const char *needle, int timeout_ms);
/* Wait until something listens on port (proto 't' TCP, 'u' UDP) in namespace ns. */
bool h_wait_listen(const char *ns, char proto, int port, int timeout_ms);
/*
 * Start `tcpdump -l -n ARGS` in ns (stdout to out_path, stderr to
 * out_path.err) and return once it is capturing ("listening on"), or
 * -ETIMEDOUT (then it is killed).  Registered for cleanup like h_spawn.
 */
pid_t h_tcpdump(const char *ns, const char *out_path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Move the calling thread into namespace name / back to where it started. */
int h_enter_ns(const char *name);
void h_leave_ns(void);

/*
 * A pin directory "/sys/fs/bpf/ifkt<pid>-<tag>" for this test, registered
 * for removal.  Mounts bpffs on /sys/fs/bpf first when it is not there (a
 * freshly booted machine has none), as ifkitd does.  0 or -errno.
 */
int h_pin_dir(const char *tag, char *out, size_t len);

/* Remove this directory (rm -rf, e.g. a bpffs pin directory) at cleanup. */
void h_register_dir(const char *path);

/* A temporary file path under the test's own directory (removed at cleanup). */
const char *h_tmp(const char *name);

/* Remove everything registered (idempotent). */
void h_cleanup_all(void);

/*
 * Mark the running test skipped because a prerequisite is really missing
 * (print the reason; return from the test right after).  It counts as
 * skipped, not passed; under CI=true tests/run.sh fails a run with skips in
 * the core suites.
 */
void h_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Skip a test with a message when a condition is not met (not root, ...). */
bool h_is_root(void);

/*
 * Standard main: init the harness, call add_suites (which registers CUnit
 * suites), run them with the basic interface, print CUnit's summary and
 * return non-zero if anything failed.
 */
int h_main(int argc, char **argv, void (*add_suites)(void));

#endif
