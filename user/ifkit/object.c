// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `ifkit feth|utun|iptap [COMMAND ARGS]`: the words go through the grammar
 * the config file uses too (user/lib/cmdline.c); queries are printed by the
 * kind's printer, changes sent as they are.  Alone, an object means `show`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "ctl.h"

static void object_usage(FILE *out, const struct cli_show *show, const char *verb)
{
	cmdline_usage(out, show->object, verb);
	if (!verb && show->notes)
		fprintf(out, "\n%s", show->notes);
}

int cli_fetch(struct cli *cli, const struct cli_show *show, struct ifkit_req *req, void **items,
	      size_t *n)
{
	struct ifkit_rep rep;
	int err;

	*items = NULL;
	*n = 0;
	err = cli_call(cli, req, &rep, items, n, NULL);
	if (err) {
		if (!cli->reported)
			cli_report(&rep, err, req->name[0] ? req->name : show->object);
	} else if (*n && (rep.item_type != show->type || rep.item_size != show->item_size)) {
		fprintf(stderr, "ifkit: %s show: unexpected answer from the loader\n",
			show->object);
		err = -EPROTO;
	}
	if (err) {
		free(*items);
		*items = NULL;
		*n = 0;
	}
	return err;
}

static int run_show(struct cli *cli, const struct cli_show *show, struct ifkit_req *req)
{
	void *items;
	size_t n;

	if (cli_fetch(cli, show, req, &items, &n))
		return EXIT_FAIL;
	out_init(&cli->out, stdout, cli->json);
	print_open_array(&cli->out, NULL);
	show->print(&cli->out, items, n);
	print_close_array(&cli->out);
	out_end(&cli->out);
	free(items);
	return EXIT_OK;
}

static bool is_json_flag(const char *arg)
{
	return !strcmp(arg, "-j") || !strcmp(arg, "--json");
}

int cli_object(struct cli *cli, const struct cli_show *show, int argc, char **argv)
{
	const struct cmdline_cmd *row;
	struct ifkit_req req;
	struct ifkit_rep rep;
	char err[192], *words[CMDLINE_MAX_ARGS + 8];
	int nwords = 0, ret;

	/* `ifkit feth` and `ifkit feth -j` are `ifkit feth show`. */
	if (argc == 1 || (argv[1][0] == '-' && !cli_wants_help(argc - 1, argv + 1))) {
		words[nwords++] = argv[0];
		words[nwords++] = "show";
		argc--, argv++;
	} else {
		row = cmdline_find(show->object, argv[1]);
		if (row && (row->flags & CMDLINE_F_OWN_PARSER))
			return iptap_capture(cli, argc - 1, argv + 1);	/* it has its own -h */
		if (cli_wants_help(argc - 1, argv + 1)) {
			object_usage(stdout, show, row ? row->verb : NULL);
			return EXIT_OK;
		}
		words[nwords++] = argv[0];
		words[nwords++] = argv[1];
		argc -= 2, argv += 2;
	}
	row = cmdline_find(show->object, words[1]);
	for (int i = 0; i < argc; i++) {
		if (row && (row->flags & CMDLINE_F_SHOW) && is_json_flag(argv[i])) {
			cli->json = true;
			continue;
		}
		if (nwords == (int)(sizeof(words) / sizeof(words[0]))) {
			fprintf(stderr, "ifkit: %s %s: too many arguments\n", words[0], words[1]);
			return EXIT_USAGE;
		}
		words[nwords++] = argv[i];
	}
	if (cmdline_parse(nwords, words, 0, &req, &row, err, sizeof(err))) {
		fprintf(stderr, "ifkit: %s\n", err);
		object_usage(stderr, show, cmdline_find(show->object, words[1]) ? words[1] : NULL);
		return EXIT_USAGE;
	}
	if (row->flags & CMDLINE_F_SHOW)
		return run_show(cli, show, &req);
	ret = cli_call(cli, &req, &rep, NULL, NULL, NULL);
	if (ret) {
		if (!cli->reported) {
			snprintf(err, sizeof(err), "%s %s%s%s", row->object, row->verb,
				 req.name[0] ? " " : "", req.name);
			cli_report(&rep, ret, err);
		}
		return EXIT_FAIL;
	}
	if (rep.name[0])
		printf("%s\n", rep.name);	/* what create made */
	return EXIT_OK;
}
