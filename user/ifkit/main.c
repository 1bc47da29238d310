// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* ifkit - command line for the ifkit loader (feth, utun, iptap). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "ifkit/version.h"
#include "ctl.h"
#include "names.h"

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ifkit [OPTIONS] OBJECT [COMMAND [ARGS]]\n"
"Control XNU-style virtual interfaces served by the ifkitd loader.\n"
"\n"
"Objects (alone, each means `show`, as `ip link` does):\n"
"  feth    fake ethernet pairs: create, destroy, peer, unpeer, set, show\n"
"  utun    user tunnels opened by programs linking libutun: show, set\n"
"  iptap   IP taps of every interface: create, destroy, show, capture\n"
"  status  the loader, its devices and counters\n"
"\n"
"Options:\n"
"  -j, --json           JSON output for show/status\n"
"  -s, --socket PATH    loader control socket (default %s, or $IFKIT_SOCKET)\n"
"  -t, --timeout SECS   give up on a loader that does not answer (default %g,\n"
"                       or $IFKIT_TIMEOUT; 0 waits for ever)\n"
"  -V, --version        print the version and exit\n"
"  -h, --help           this text; `ifkit OBJECT --help` for an object's commands\n"
"\n"
"Devices are created in the caller's network namespace (ip netns exec NS ifkit ...).\n"
"Queries (show, status) work for any user; changes need root.\n"
"Exit status: 0 ok, 1 the operation failed, 2 usage error.\n",
		IFKIT_DEFAULT_SOCK, CTL_TIMEOUT_DEFAULT_MS / 1000.0);
}

bool cli_wants_help(int argc, char **argv)
{
	if (argc > 0 && !strcmp(argv[0], "help"))
		return true;
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	return false;
}

int cli_parse_uint(const char *s, unsigned int *out)
{
	return cmdline_parse_u32(s, out);
}

void cli_report(const struct ifkit_rep *rep, int err, const char *what)
{
	if (err == -EPERM)
		/* The loader lets anyone query; only changes are root's. */
		fprintf(stderr, "ifkit: %s: %s (%s)\n", what ? what : "ifkit", strerror(-err),
			rep && rep->msg[0] ? rep->msg : "changes need root");
	else if (rep && rep->msg[0])
		fprintf(stderr, "ifkit: %s\n", rep->msg);
	else if (what)
		fprintf(stderr, "ifkit: %s: %s\n", what, strerror(-err));
	else
		fprintf(stderr, "ifkit: %s\n", strerror(-err));
}

int cli_call(struct cli *cli, struct ifkit_req *req, struct ifkit_rep *rep,
	     void **items, size_t *nitems, int *rep_fd)
{
	char msg[256];
	int sock, ns_fd, err;

	memset(rep, 0, sizeof(*rep));
	/* Transport failures are said here; an error answer is the caller's to report. */
	cli->reported = true;
	sock = ctl_connect_timeout(cli->sock_path, cli->timeout_ms);
	if (sock == -ETIMEDOUT) {
		ctl_timeout_describe(msg, sizeof(msg), cli->sock_path, cli->timeout_ms);
		fprintf(stderr, "ifkit: %s\n", msg);
		return sock;
	}
	if (sock < 0) {
		fprintf(stderr, "ifkit: cannot reach the loader at %s: %s\n", cli->sock_path,
			strerror(-sock));
		if (sock == -ENOENT || sock == -ECONNREFUSED)
			fprintf(stderr, "ifkit: is ifkitd running? Start it as root: "
				"`ifkitd` (or `make run` in the source tree)\n");
		return sock;
	}
	req->seq = (unsigned int)getpid();
	ns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	err = ctl_call(sock, req, ns_fd, rep, items, nitems, rep_fd);
	if (ns_fd >= 0)
		close(ns_fd);
	close(sock);
	if (err == -ETIMEDOUT) {
		ctl_timeout_describe(msg, sizeof(msg), cli->sock_path, cli->timeout_ms);
		fprintf(stderr, "ifkit: %s\n", msg);
	} else if (err && rep->magic != IFKIT_CTL_MAGIC) {
		fprintf(stderr, "ifkit: loader at %s: %s\n", cli->sock_path, strerror(-err));
	} else {
		cli->reported = false;
	}
	return err;
}

static int parse_timeout(const char *what, const char *val, int *ms)
{
	if (ctl_timeout_parse(val, ms) == 0)
		return 0;
	fprintf(stderr, "ifkit: %s: invalid time-out '%s' (seconds, e.g. 5 or 0.5; 0 = none)\n",
		what, val);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct cli cli = {
		.sock_path = IFKIT_DEFAULT_SOCK,
		.timeout_ms = CTL_TIMEOUT_DEFAULT_MS,
		.prog = "ifkit",
	};
	const char *env = getenv("IFKIT_SOCKET");
	int opt, ret;

	if (env && *env)
		cli.sock_path = env;
	env = getenv("IFKIT_TIMEOUT");
	if (env && *env && parse_timeout("IFKIT_TIMEOUT", env, &cli.timeout_ms))
		return EXIT_USAGE;
	/* '+': options after OBJECT belong to the object's command. */
	while ((opt = getopt_long(argc, argv, "+js:t:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': cli.json = true; break;
		case 's': cli.sock_path = optarg; break;
		case 't':
			if (parse_timeout("--timeout", optarg, &cli.timeout_ms))
				return EXIT_USAGE;
			break;
		case 'h': usage(stdout); return EXIT_OK;
		case 'V': puts(IFKIT_VERSION_LINE("ifkit")); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (!strcmp(argv[0], "feth"))
		ret = cli_object(&cli, &feth_show, argc, argv);
	else if (!strcmp(argv[0], "utun"))
		ret = cli_object(&cli, &utun_show, argc, argv);
	else if (!strcmp(argv[0], "iptap"))
		ret = cli_object(&cli, &iptap_show, argc, argv);
	else if (!strcmp(argv[0], "status"))
		ret = cmd_status(&cli, argc - 1, argv + 1);
	else if (!strcmp(argv[0], "help")) {
		usage(stdout);
		ret = EXIT_OK;
	} else {
		fprintf(stderr, "ifkit: unknown object '%s' (feth, utun, iptap, status)\n", argv[0]);
		ret = EXIT_USAGE;
	}
	return ret;
}
