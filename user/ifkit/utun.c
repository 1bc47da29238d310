// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* ifkit utun ...: utun devices are opened by programs (libutun); the CLI shows them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "ctl.h"
#include "ifkit/utun.h"

static void utun_usage(FILE *out)
{
	fprintf(out,
"Usage: ifkit utun show [utunN] [-j]   owner pid, flags, MTU, packets/bytes/drops per\n"
"                                       direction and errors by cause\n"
"       ifkit utun set utunN flags LIST  LIST: none, or no_output and/or no_input\n"
"                                       joined by commas (UTUN_OPT_FLAGS)\n"
"\n"
"utun devices exist while the program that opened them (utun_open() in libutun)\n"
"keeps its descriptor open; closing it or exiting removes the device.\n"
"out = stack -> client (what utunN sent), in = client -> stack (what utunN received).\n");
}

static const char *flags_str(uint32_t flags, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", flags ? "" : "none",
		 flags & UTUN_FLAGS_NO_OUTPUT ? "no_output " : "",
		 flags & UTUN_FLAGS_NO_INPUT ? "no_input" : "");
	return buf;
}

/* errors[UTUN_ERR_NONE] holds the non-IP frames the XDP program dropped. */
static const char *cause_name(int i)
{
	return i == UTUN_ERR_NONE ? "non_ip" : utun_err_name((enum utun_err_cause)i);
}

void utun_print(struct cli *cli, const struct ifkit_utun_info *ui, size_t n, struct json *j)
{
	char fb[32];

	(void)cli;
	for (size_t i = 0; i < n; i++) {
		const struct ifkit_utun_info *u = &ui[i];

		if (j) {
			json_obj_open(j, NULL);
			json_str(j, "name", u->name);
			json_u64(j, "unit", u->unit);
			json_str(j, "netns", u->netns);
			json_u64(j, "ifindex", u->ifindex);
			json_u64(j, "owner_pid", u->owner_pid);
			json_u64(j, "flags", u->flags);
			json_bool(j, "no_output", u->flags & UTUN_FLAGS_NO_OUTPUT);
			json_bool(j, "no_input", u->flags & UTUN_FLAGS_NO_INPUT);
			json_u64(j, "mtu", u->mtu);
			json_obj_open(j, "out");
			json_u64(j, "packets", u->out_packets);
			json_u64(j, "bytes", u->out_bytes);
			json_u64(j, "drops", u->out_drops);
			json_obj_close(j);
			json_obj_open(j, "in");
			json_u64(j, "packets", u->in_packets);
			json_u64(j, "bytes", u->in_bytes);
			json_u64(j, "drops", u->in_drops);
			json_obj_close(j);
			json_obj_open(j, "errors");
			for (int k = 0; k < UTUN_STAT_CAUSES && k < UTUN_ERR_MAX; k++)
				json_u64(j, cause_name(k), u->errors[k]);
			json_obj_close(j);
			json_obj_close(j);
			continue;
		}
		printf("%s: owner pid %u netns %s ifindex %u mtu %u flags %s\n", u->name,
		       u->owner_pid, u->netns[0] ? u->netns : "-", u->ifindex, u->mtu,
		       flags_str(u->flags, fb, sizeof(fb)));
		printf("    out (stack -> client): %llu packets %llu bytes %llu drops\n",
		       (unsigned long long)u->out_packets, (unsigned long long)u->out_bytes,
		       (unsigned long long)u->out_drops);
		printf("    in  (client -> stack): %llu packets %llu bytes %llu drops\n",
		       (unsigned long long)u->in_packets, (unsigned long long)u->in_bytes,
		       (unsigned long long)u->in_drops);
		printf("    errors:");
		for (int k = 0; k < UTUN_STAT_CAUSES && k < UTUN_ERR_MAX; k++)
			printf(" %s %llu", cause_name(k), (unsigned long long)u->errors[k]);
		printf("\n");
	}
}

static void print_items(struct cli *cli, const void *items, size_t n, struct json *j)
{
	utun_print(cli, items, n, j);
}

static const struct cli_show utun_show = {
	.what = "utun show", .cmd = IFKIT_CMD_UTUN_SHOW, .type = IFKIT_ITEM_UTUN,
	.item_size = sizeof(struct ifkit_utun_info), .print = print_items,
};

static int parse_flags(const char *arg, uint32_t *flags)
{
	char buf[64], *tok, *save = NULL;

	if (strlen(arg) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, arg);
	*flags = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "none") || !strcmp(tok, "0"))
			continue;
		else if (!strcmp(tok, "no_output") || !strcmp(tok, "no-output"))
			*flags |= UTUN_FLAGS_NO_OUTPUT;
		else if (!strcmp(tok, "no_input") || !strcmp(tok, "no-input"))
			*flags |= UTUN_FLAGS_NO_INPUT;
		else
			return -EINVAL;
	}
	return 0;
}

static int utun_set(struct cli *cli, int argc, char **argv)
{
	struct ifkit_req req;
	struct ifkit_rep rep;
	uint32_t flags;
	int err;

	if (argc != 3 || strcmp(argv[1], "flags") || strlen(argv[0]) >= sizeof(req.name)) {
		utun_usage(stderr);
		return EXIT_USAGE;
	}
	if (parse_flags(argv[2], &flags)) {
		fprintf(stderr, "ifkit: utun set: unknown flags '%s' (none, no_output, no_input)\n",
			argv[2]);
		return EXIT_USAGE;
	}
	ctl_req_init(&req, IFKIT_CMD_UTUN_SET_FLAGS);
	strcpy(req.name, argv[0]);
	req.value = flags;
	err = cli_call(cli, &req, &rep, NULL, NULL, NULL);
	if (err) {
		cli_report(&rep, err, "utun set");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int cmd_utun(struct cli *cli, int argc, char **argv)
{
	if (argc == 0 || cli_wants_help(argc, argv)) {
		utun_usage(argc == 0 ? stderr : stdout);
		return argc == 0 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[0], "show") || !strcmp(argv[0], "list") || !strcmp(argv[0], "ls"))
		return cli_show(cli, &utun_show, argc - 1, argv + 1);
	if (!strcmp(argv[0], "set"))
		return utun_set(cli, argc - 1, argv + 1);
	fprintf(stderr, "ifkit: utun: unknown command '%s'\n", argv[0]);
	utun_usage(stderr);
	return EXIT_USAGE;
}
