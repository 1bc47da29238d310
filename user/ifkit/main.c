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
#include "log.h"
#include "names.h"

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ifkit [OPTIONS] OBJECT COMMAND [ARGS]\n"
"Control XNU-style virtual interfaces served by the ifkitd loader.\n"
"\n"
"Objects:\n"
"  feth    fake ethernet pairs: create, destroy, peer, unpeer, set, show\n"
"  utun    user tunnels opened by programs linking libutun: show\n"
"  iptap   IP taps of every interface: create, destroy, show, capture\n"
"  status  the loader, its devices and counters\n"
"\n"
"Options:\n"
"  -j, --json          JSON output for show/status\n"
"  -s, --socket PATH   loader control socket (default %s, or $IFKIT_SOCKET)\n"
"  -V, --version       print the version and exit\n"
"  -h, --help          this text; `ifkit OBJECT --help` for an object's commands\n"
"\n"
"Devices are created in the caller's network namespace (ip netns exec NS ifkit ...).\n"
"Exit status: 0 ok, 1 the operation failed, 2 usage error.\n",
		IFKIT_DEFAULT_SOCK);
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") || !strcmp(argv[i], "help"))
			return true;
	return false;
}

int cli_parse_uint(const char *s, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v > 0xffffffffUL)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

void cli_report(const struct ifkit_rep *rep, int err, const char *what)
{
	if (rep && rep->msg[0])
		fprintf(stderr, "ifkit: %s\n", rep->msg);
	else if (what)
		fprintf(stderr, "ifkit: %s: %s\n", what, strerror(-err));
	else
		fprintf(stderr, "ifkit: %s\n", strerror(-err));
}

int cli_call(struct cli *cli, struct ifkit_req *req, struct ifkit_rep *rep,
	     void **items, size_t *nitems, int *rep_fd)
{
	int sock, ns_fd, err;

	sock = ctl_connect(cli->sock_path);
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
	memset(rep, 0, sizeof(*rep));
	err = ctl_call(sock, req, ns_fd, rep, items, nitems, rep_fd);
	if (ns_fd >= 0)
		close(ns_fd);
	close(sock);
	if (err == -EPERM)
		snprintf(rep->msg, sizeof(rep->msg),
			 "permission denied: root privileges required (Operation not permitted)");
	return err;
}

int cli_show(struct cli *cli, const struct cli_show *show, int argc, char **argv)
{
	struct ifkit_req req;
	struct ifkit_rep rep;
	void *items = NULL;
	size_t n = 0;
	const char *name = NULL;
	int err;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			cli->json = true;
		} else if (!name && ifname_valid(argv[i]) && argv[i][0] != '-') {
			name = argv[i];
		} else {
			fprintf(stderr, "ifkit: %s: unexpected argument '%s'\n", show->what, argv[i]);
			return EXIT_USAGE;
		}
	}
	ctl_req_init(&req, show->cmd);
	if (name)
		strcpy(req.name, name);
	err = cli_call(cli, &req, &rep, &items, &n, NULL);
	if (err) {
		cli_report(&rep, err, name ? name : show->what);
		free(items);
		return EXIT_FAIL;
	}
	if (n && (rep.item_type != show->type || rep.item_size != show->item_size)) {
		free(items);
		fprintf(stderr, "ifkit: %s: unexpected answer\n", show->what);
		return EXIT_FAIL;
	}
	if (cli->json) {
		struct json j;

		json_begin(&j, stdout);
		json_arr_open(&j, NULL);
		show->print(cli, items, n, &j);
		json_arr_close(&j);
		json_end(&j);
	} else {
		show->print(cli, items, n, NULL);
	}
	free(items);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct cli cli = { .sock_path = IFKIT_DEFAULT_SOCK, .prog = "ifkit" };
	const char *env = getenv("IFKIT_SOCKET");
	int opt;

	if (env && *env)
		cli.sock_path = env;
	/* '+': options after OBJECT belong to the object's command. */
	while ((opt = getopt_long(argc, argv, "+js:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': cli.json = true; break;
		case 's': cli.sock_path = optarg; break;
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
		return cmd_feth(&cli, argc - 1, argv + 1);
	if (!strcmp(argv[0], "utun"))
		return cmd_utun(&cli, argc - 1, argv + 1);
	if (!strcmp(argv[0], "iptap"))
		return cmd_iptap(&cli, argc - 1, argv + 1);
	if (!strcmp(argv[0], "status"))
		return cmd_status(&cli, argc - 1, argv + 1);
	if (!strcmp(argv[0], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	fprintf(stderr, "ifkit: unknown object '%s' (feth, utun, iptap, status)\n", argv[0]);
	return EXIT_USAGE;
}
