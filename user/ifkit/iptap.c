// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* ifkit iptap create|destroy|show|capture */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "ctl.h"
#include "names.h"

int iptap_capture(struct cli *cli, int argc, char **argv);

static void iptap_usage(FILE *out)
{
	fprintf(out,
"Usage: ifkit iptap create [iptapN]      create (first free unit, or iptapN) here\n"
"       ifkit iptap destroy iptapN       destroy; the taps go with the last iptap\n"
"       ifkit iptap show [iptapN] [-j]   listeners (raw, PKTAP, total), tapped interfaces\n"
"       ifkit iptap capture [OPTIONS] [EXPRESSION] [-- CMD ARGS]\n"
"                                        read PKTAP records (interface, direction, pid,\n"
"                                        command), filtered in the kernel; text, pcap\n"
"                                        LINKTYPE_PKTAP or pcapng (capture --help)\n"
"\n"
"An iptap sees a copy of every IPv4/IPv6 packet entering or leaving any interface\n"
"of its network namespace: `tcpdump -ni iptap0` (raw IP, -Q in|out), or\n"
"`ifkit iptap capture -w all.pcap` for Wireshark.  `create` puts the device in\n"
"the caller's namespace (ip netns exec NS ...).\n");
}

void iptap_print(struct cli *cli, const struct ifkit_iptap_info *ti, size_t n, struct json *j)
{
	(void)cli;
	for (size_t i = 0; i < n; i++) {
		const struct ifkit_iptap_info *t = &ti[i];

		if (j) {
			json_obj_open(j, NULL);
			json_str(j, "name", t->name);
			json_u64(j, "unit", t->unit);
			json_str(j, "netns", t->netns);
			json_u64(j, "ifindex", t->ifindex);
			json_u64(j, "raw_listeners", t->raw_listeners);
			json_u64(j, "pktap_listeners", t->pktap_listeners);
			json_u64(j, "tap_count", t->raw_listeners + t->pktap_listeners);
			json_u64(j, "total_tap_count", t->total_tap_count);
			json_u64(j, "tapped_interfaces", t->tapped_ifaces);
			json_u64(j, "packets", t->packets);
			json_u64(j, "bytes", t->bytes);
			json_arr_open(j, "readers");
			for (uint32_t r = 0; r < t->n_readers && r < 8; r++) {
				json_obj_open(j, NULL);
				json_i64(j, "pid", t->readers[r].pid);
				json_str(j, "comm", t->readers[r].comm);
				json_u64(j, "slot", t->readers[r].slot);
				json_u64(j, "records", t->readers[r].records);
				json_u64(j, "lost", t->readers[r].lost);
				json_u64(j, "filtered", t->readers[r].filtered);
				json_obj_close(j);
			}
			json_arr_close(j);
			json_obj_close(j);
			continue;
		}
		printf("%s: netns %s ifindex %u link-type RAW\n", t->name,
		       t->netns[0] ? t->netns : "(unnamed)", t->ifindex);
		printf("    listeners: raw %u pktap %u tap_count %u (total_tap_count %u)\n",
		       t->raw_listeners, t->pktap_listeners, t->raw_listeners + t->pktap_listeners,
		       t->total_tap_count);
		printf("    tapped interfaces %u, packets %llu bytes %llu\n", t->tapped_ifaces,
		       (unsigned long long)t->packets, (unsigned long long)t->bytes);
		for (uint32_t r = 0; r < t->n_readers && r < 8; r++)
			printf("    reader slot %u pid %d comm %s: records %llu lost %llu filtered %llu\n",
			       t->readers[r].slot, t->readers[r].pid,
			       t->readers[r].comm[0] ? t->readers[r].comm : "-",
			       (unsigned long long)t->readers[r].records,
			       (unsigned long long)t->readers[r].lost,
			       (unsigned long long)t->readers[r].filtered);
	}
}

static void print_items(struct cli *cli, const void *items, size_t n, struct json *j)
{
	iptap_print(cli, items, n, j);
}

static const struct cli_show iptap_show = {
	.what = "iptap show", .cmd = IFKIT_CMD_IPTAP_SHOW, .type = IFKIT_ITEM_IPTAP,
	.item_size = sizeof(struct ifkit_iptap_info), .print = print_items,
};

int cmd_iptap(struct cli *cli, int argc, char **argv)
{
	struct ifkit_req req;
	struct ifkit_rep rep;
	int err;

	if (argc < 1) {
		iptap_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[0], "capture"))
		return iptap_capture(cli, argc, argv);	/* it has its own -h */
	if (cli_wants_help(argc, argv)) {
		iptap_usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[0], "show") || !strcmp(argv[0], "list") || !strcmp(argv[0], "ls"))
		return cli_show(cli, &iptap_show, argc - 1, argv + 1);
	if (!strcmp(argv[0], "create")) {
		if (argc > 2 || (argc == 2 && !ifname_valid(argv[1]))) {
			fprintf(stderr, "ifkit: iptap create: expected at most one name (iptapN)\n");
			return EXIT_USAGE;
		}
		ctl_req_init(&req, IFKIT_CMD_IPTAP_CREATE);
		if (argc == 2)
			strcpy(req.name, argv[1]);
	} else if (!strcmp(argv[0], "destroy") || !strcmp(argv[0], "delete") ||
		   !strcmp(argv[0], "del")) {
		if (argc != 2 || !ifname_valid(argv[1])) {
			fprintf(stderr, "ifkit: iptap destroy: expected one name (iptapN)\n");
			return EXIT_USAGE;
		}
		ctl_req_init(&req, IFKIT_CMD_IPTAP_DESTROY);
		strcpy(req.name, argv[1]);
	} else {
		fprintf(stderr, "ifkit: iptap: unknown command '%s'\n", argv[0]);
		iptap_usage(stderr);
		return EXIT_USAGE;
	}
	err = cli_call(cli, &req, &rep, NULL, NULL, NULL);
	if (err) {
		cli_report(&rep, err, argc > 1 ? argv[1] : "iptap");
		return EXIT_FAIL;
	}
	if (req.cmd == IFKIT_CMD_IPTAP_CREATE)
		printf("%s\n", rep.name);
	return EXIT_OK;
}
