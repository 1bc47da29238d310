// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* ifkit status: the loader and every device it serves. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "ctl.h"

static void status_usage(FILE *out)
{
	fprintf(out, "Usage: ifkit status [-j|--json]\n"
		"Loader pid, uptime, paths, then every feth, utun and iptap with its counters.\n");
}

static const struct cli_show *const kinds[] = { &feth_show, &utun_show, &iptap_show };
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/* One device list; a loader built without that device answers EOPNOTSUPP. */
static int fetch_kind(struct cli *cli, const struct cli_show *show, void **items, size_t *n)
{
	struct ifkit_req req;
	int err;

	ctl_req_init(&req, show->cmd);
	err = cli_fetch(cli, show, &req, items, n);
	return err == -EOPNOTSUPP ? 0 : err;
}

static int fetch_status(struct cli *cli, struct ifkit_status_info **st)
{
	struct ifkit_req req;
	struct ifkit_rep rep;
	size_t n = 0;
	int err;

	ctl_req_init(&req, IFKIT_CMD_STATUS);
	err = cli_call(cli, &req, &rep, (void **)st, &n, NULL);
	if (err) {
		if (!cli->reported)
			cli_report(&rep, err, "status");
		return err;
	}
	if (n != 1 || rep.item_type != IFKIT_ITEM_STATUS || rep.item_size != sizeof(**st)) {
		fprintf(stderr, "ifkit: status: unexpected answer from the loader\n");
		return -EPROTO;
	}
	return 0;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	struct ifkit_status_info *st = NULL;
	void *items[NKINDS] = { 0 };
	size_t n[NKINDS] = { 0 };
	struct out *o = &cli->out;
	int ret = EXIT_FAIL;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			cli->json = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			status_usage(stdout);
			return EXIT_OK;
		} else {
			fprintf(stderr, "ifkit: status: unexpected argument '%s'\n", argv[i]);
			status_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (fetch_status(cli, &st))
		goto cleanup;
	for (size_t k = 0; k < NKINDS; k++)
		if (fetch_kind(cli, kinds[k], &items[k], &n[k]))
			goto cleanup;

	out_init(o, stdout, cli->json);
	print_open_object(o, NULL);
	print_open_object(o, "loader");
	print_uint(o, PRINT_ANY, "pid", "ifkitd: pid %u", st->pid);
	print_u64(o, PRINT_JSON, "uptime_ms", NULL, (unsigned long long)st->uptime_ms);
	print_u64(o, PRINT_FP, NULL, " up %llus", (unsigned long long)(st->uptime_ms / 1000));
	print_string(o, PRINT_ANY, "socket", " socket %s", st->sock);
	print_string(o, PRINT_ANY, "pin_dir", " pins %s", st->pin_dir);
	print_string(o, PRINT_ANY, "netns", " netns %s", st->netns);
	print_nl(o);
	print_close_object(o);
	print_u64(o, PRINT_FP, NULL, "devices: %llu feth", n[0]);
	print_u64(o, PRINT_FP, NULL, ", %llu utun", n[1]);
	print_u64(o, PRINT_FP, NULL, ", %llu iptap", n[2]);
	print_nl(o);
	for (size_t k = 0; k < NKINDS; k++) {
		print_open_array(o, kinds[k]->object);
		kinds[k]->print(o, items[k], n[k]);
		print_close_array(o);
	}
	print_close_object(o);
	out_end(o);
	ret = EXIT_OK;
cleanup:
	free(st);
	for (size_t k = 0; k < NKINDS; k++)
		free(items[k]);
	return ret;
}
