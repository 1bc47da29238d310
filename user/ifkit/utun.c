// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* ifkit utun ...: utun devices are opened by programs (libutun); the CLI shows them. */
#include <stdio.h>
#include "cli.h"
#include "ifkit/utun.h"

/* errors[UTUN_ERR_NONE] holds the non-IP frames the XDP program dropped. */
static const char *cause_name(int i)
{
	return i == UTUN_ERR_NONE ? "non_ip" : utun_err_name((enum utun_err_cause)i);
}

/* How the client moves packets (ifkit_utun_info.mode). */
static const char *mode_name(unsigned int mode)
{
	switch (mode) {
	case IFKIT_UTUN_MODE_SOCKET:
		return "socket";
	case IFKIT_UTUN_MODE_FAST:
		return "fast";
	case IFKIT_UTUN_MODE_OFFLOAD:
		return "offload";
	}
	return "unknown";
}

/* "out (stack -> client): N packets N bytes N drops" and its JSON object. */
static void print_direction(struct out *o, const char *key, const char *label,
			    unsigned long long packets, unsigned long long bytes,
			    unsigned long long drops)
{
	print_open_object(o, key);
	print_string(o, PRINT_FP, NULL, "    %s:", label);
	print_u64(o, PRINT_ANY, "packets", " %llu packets", packets);
	print_u64(o, PRINT_ANY, "bytes", " %llu bytes", bytes);
	print_u64(o, PRINT_ANY, "drops", " %llu drops", drops);
	print_close_object(o);
	print_nl(o);
}

static void print_utun(struct out *o, const struct ifkit_utun_info *u)
{
	char fmt[48];

	print_open_object(o, NULL);
	print_string(o, PRINT_ANY, "name", "%s:", u->name);
	print_uint(o, PRINT_JSON, "unit", NULL, u->unit);
	print_uint(o, PRINT_ANY, "owner_pid", " owner pid %u", u->owner_pid);
	print_string(o, PRINT_JSON, "netns", NULL, u->netns);
	print_string(o, PRINT_FP, NULL, " netns %s", u->netns[0] ? u->netns : "-");
	print_uint(o, PRINT_ANY, "ifindex", " ifindex %u", u->ifindex);
	print_uint(o, PRINT_ANY, "mtu", " mtu %u", u->mtu);
	print_string(o, PRINT_ANY, "mode", " mode %s", mode_name(u->mode));
	print_uint(o, PRINT_JSON, "flags", NULL, u->flags);	/* text: the words below */
	print_string(o, PRINT_FP, NULL, "%s", " flags ");
	print_bool(o, PRINT_FP, NULL, "%s", !u->flags, "none", NULL);
	print_bool(o, PRINT_ANY, "no_output", "%s", u->flags & UTUN_FLAGS_NO_OUTPUT,
		   "no_output ", NULL);
	print_bool(o, PRINT_ANY, "no_input", "%s", u->flags & UTUN_FLAGS_NO_INPUT, "no_input",
		   NULL);
	print_nl(o);
	print_direction(o, "out", "out (stack -> client)", u->out_packets, u->out_bytes,
			u->out_drops);
	print_direction(o, "in", "in  (client -> stack)", u->in_packets, u->in_bytes,
			u->in_drops);
	print_open_object(o, "errors");
	print_string(o, PRINT_FP, NULL, "%s", "    errors:");
	for (int k = 0; k < UTUN_STAT_CAUSES && k < UTUN_ERR_MAX; k++) {
		/* the cause names are fixed words: safe inside a format */
		snprintf(fmt, sizeof(fmt), " %s %%llu", cause_name(k));
		print_u64(o, PRINT_ANY, cause_name(k), fmt, u->errors[k]);
	}
	print_close_object(o);
	print_nl(o);
	print_close_object(o);
}

static void print_items(struct out *o, const void *items, size_t n)
{
	const struct ifkit_utun_info *ui = items;

	for (size_t i = 0; i < n; i++)
		print_utun(o, &ui[i]);
}

const struct cli_show utun_show = {
	.object = "utun", .cmd = IFKIT_CMD_UTUN_SHOW, .type = IFKIT_ITEM_UTUN,
	.item_size = sizeof(struct ifkit_utun_info), .print = print_items,
	.notes =
"`ifkit utun` alone, or with -j, is `ifkit utun show`.\n"
"utun devices exist while the program that opened them (utun_open() in libutun)\n"
"keeps its descriptor open; closing it or exiting removes the device.\n"
"out = stack -> client (what utunN sent), in = client -> stack (what utunN received).\n",
};
