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

/* Fetch one device list; a loader built without that device answers EOPNOTSUPP. */
static int fetch(struct cli *cli, enum ifkit_cmd cmd, enum ifkit_item_type type, size_t size,
		 void **items, size_t *n)
{
	struct ifkit_req req;
	struct ifkit_rep rep;
	int err;

	ctl_req_init(&req, cmd);
	err = cli_call(cli, &req, &rep, items, n, NULL);
	if (err == -EOPNOTSUPP) {
		*n = 0;
		return 0;
	}
	if (err)
		cli_report(&rep, err, "status");
	else if (*n && (rep.item_type != type || rep.item_size != size)) {
		fprintf(stderr, "ifkit: status: unexpected answer from the loader\n");
		err = -EPROTO;
	}
	return err;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	struct ifkit_status_info *st = NULL;
	void *feth = NULL, *utun = NULL, *iptap = NULL;
	size_t nst = 0, nf = 0, nu = 0, nt = 0;
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
	if (fetch(cli, IFKIT_CMD_STATUS, IFKIT_ITEM_STATUS, sizeof(*st), (void **)&st, &nst) ||
	    nst != 1 ||
	    fetch(cli, IFKIT_CMD_FETH_SHOW, IFKIT_ITEM_FETH, sizeof(struct ifkit_feth_info),
		  &feth, &nf) ||
	    fetch(cli, IFKIT_CMD_UTUN_SHOW, IFKIT_ITEM_UTUN, sizeof(struct ifkit_utun_info),
		  &utun, &nu) ||
	    fetch(cli, IFKIT_CMD_IPTAP_SHOW, IFKIT_ITEM_IPTAP, sizeof(struct ifkit_iptap_info),
		  &iptap, &nt))
		goto cleanup;
	if (cli->json) {
		struct json j;

		json_begin(&j, stdout);
		json_obj_open(&j, NULL);
		json_obj_open(&j, "loader");
		json_u64(&j, "pid", st->pid);
		json_u64(&j, "uptime_ms", st->uptime_ms);
		json_str(&j, "socket", st->sock);
		json_str(&j, "pin_dir", st->pin_dir);
		json_str(&j, "netns", st->netns);
		json_obj_close(&j);
		json_arr_open(&j, "feth");
		feth_print(cli, feth, nf, &j);
		json_arr_close(&j);
		json_arr_open(&j, "utun");
		utun_print(cli, utun, nu, &j);
		json_arr_close(&j);
		json_arr_open(&j, "iptap");
		iptap_print(cli, iptap, nt, &j);
		json_arr_close(&j);
		json_obj_close(&j);
		json_end(&j);
	} else {
		printf("ifkitd: pid %u up %llus socket %s pins %s netns %s\n", st->pid,
		       (unsigned long long)(st->uptime_ms / 1000), st->sock, st->pin_dir, st->netns);
		printf("devices: %zu feth, %zu utun, %zu iptap\n", nf, nu, nt);
		feth_print(cli, feth, nf, NULL);
		utun_print(cli, utun, nu, NULL);
		iptap_print(cli, iptap, nt, NULL);
	}
	ret = EXIT_OK;
cleanup:
	free(st);
	free(feth);
	free(utun);
	free(iptap);
	return ret;
}
