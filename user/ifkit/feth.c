// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* ifkit feth ... */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "ctl.h"
#include "names.h"

static void feth_usage(FILE *out)
{
	fprintf(out,
"Usage: ifkit feth create [fethN]        create (first free unit, or fethN) here\n"
"       ifkit feth destroy fethN         destroy (unpeers the other end first)\n"
"       ifkit feth peer fethA fethB      cross-connect; carrier comes up on both\n"
"       ifkit feth unpeer fethN          disconnect; carrier goes down on both\n"
"       ifkit feth set fethN mtu MTU     MTU within [68, 65535]\n"
"       ifkit feth set fethN media WORD  autoselect | 10GbaseT | 2500baseT | 5000baseT\n"
"       ifkit feth show [fethN] [-j]     peer, carrier, MTU, media, counters\n"
"\n"
"feth names are global to ifkit: fethN is found in whatever network namespace it\n"
"lives in, so `ifkit feth peer feth0 feth1` works when feth0 is in ns1 and feth1 in\n"
"ns2.  `create` puts the device in the caller's namespace (ip netns exec NS ...).\n");
}

static void print_mac(FILE *out, const unsigned char *mac)
{
	fprintf(out, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		mac[5]);
}

void feth_print(struct cli *cli, const struct ifkit_feth_info *fi, size_t n, struct json *j)
{
	char mac[18];

	for (size_t i = 0; i < n; i++) {
		const struct ifkit_feth_info *f = &fi[i];
		bool up = f->ifflags & IFF_UP;

		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", f->mac[0], f->mac[1],
			 f->mac[2], f->mac[3], f->mac[4], f->mac[5]);
		if (j) {
			json_obj_open(j, NULL);
			json_str(j, "name", f->name);
			json_str(j, "ifname", f->ifname);
			json_u64(j, "unit", f->unit);
			if (f->peer[0])
				json_str(j, "peer", f->peer);
			else
				json_null(j, "peer");
			json_str(j, "netns", f->netns);
			json_bool(j, "here", f->here);
			json_u64(j, "ifindex", f->ifindex);
			json_str(j, "address", mac);
			json_u64(j, "mtu", f->mtu);
			json_bool(j, "up", up);
			json_bool(j, "carrier", f->carrier);
			json_str(j, "media", feth_media_name(f->media));
			json_str(j, "media_status", f->peer[0] ? "active" : "inactive");
			json_obj_open(j, "stats");
			json_u64(j, "rx_packets", f->rx_packets);
			json_u64(j, "rx_bytes", f->rx_bytes);
			json_u64(j, "rx_dropped", f->rx_dropped);
			json_u64(j, "rx_errors", f->rx_errors);
			json_u64(j, "tx_packets", f->tx_packets);
			json_u64(j, "tx_bytes", f->tx_bytes);
			json_u64(j, "tx_dropped", f->tx_dropped);
			json_u64(j, "tx_errors", f->tx_errors);
			json_u64(j, "crossed_packets", f->crossed_packets);
			json_u64(j, "crossed_bytes", f->crossed_bytes);
			json_u64(j, "dropped_unpeered", f->dropped_unpeered);
			json_obj_close(j);
			json_obj_close(j);
			continue;
		}
		printf("%s:", f->name);
		if (strcmp(f->ifname, f->name))
			printf(" (named %s)", f->ifname[0] ? f->ifname : "?");
		printf(" peer %s", f->peer[0] ? f->peer : "none");
		if (f->here)
			printf(" netns (this)");
		else
			printf(" netns %s", f->netns[0] ? f->netns : "(unnamed)");
		printf(" mtu %u %s %s\n", f->mtu, up ? "UP" : "DOWN",
		       f->carrier ? "carrier on" : "NO-CARRIER");
		printf("    link/ether ");
		print_mac(stdout, f->mac);
		printf(" ifindex %u\n", f->ifindex);
		printf("    media: %s status: %s\n", feth_media_name(f->media),
		       f->peer[0] ? "active" : "inactive");
		printf("    supported media: autoselect 10GbaseT <full-duplex> "
		       "2500baseT <full-duplex> 5000baseT <full-duplex>\n");
		printf("    RX: packets %llu bytes %llu dropped %llu errors %llu\n",
		       (unsigned long long)f->rx_packets, (unsigned long long)f->rx_bytes,
		       (unsigned long long)f->rx_dropped, (unsigned long long)f->rx_errors);
		printf("    TX: packets %llu bytes %llu dropped %llu errors %llu\n",
		       (unsigned long long)f->tx_packets, (unsigned long long)f->tx_bytes,
		       (unsigned long long)f->tx_dropped, (unsigned long long)f->tx_errors);
		printf("    crossed: packets %llu bytes %llu  dropped unpeered %llu\n",
		       (unsigned long long)f->crossed_packets, (unsigned long long)f->crossed_bytes,
		       (unsigned long long)f->dropped_unpeered);
	}
	(void)cli;
}

static int need_name(const char *cmd, int argc, char **argv, int want)
{
	if (argc != want) {
		fprintf(stderr, "ifkit: feth %s: expected %d argument%s\n", cmd, want - 1,
			want == 2 ? "" : "s");
		feth_usage(stderr);
		return -EINVAL;
	}
	for (int i = 1; i < argc; i++) {
		if (!ifname_valid(argv[i])) {
			fprintf(stderr, "ifkit: feth %s: invalid interface name '%s'\n", cmd, argv[i]);
			return -EINVAL;
		}
	}
	return 0;
}

static void print_items(struct cli *cli, const void *items, size_t n, struct json *j)
{
	feth_print(cli, items, n, j);
}

static const struct cli_show feth_show = {
	.what = "feth show", .cmd = IFKIT_CMD_FETH_SHOW, .type = IFKIT_ITEM_FETH,
	.item_size = sizeof(struct ifkit_feth_info), .print = print_items,
};

int cmd_feth(struct cli *cli, int argc, char **argv)
{
	struct ifkit_req req;
	struct ifkit_rep rep;
	const char *what;
	int err;

	if (argc < 1) {
		feth_usage(stderr);
		return EXIT_USAGE;
	}
	if (cli_wants_help(argc, argv)) {
		feth_usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[0], "show") || !strcmp(argv[0], "list") || !strcmp(argv[0], "ls"))
		return cli_show(cli, &feth_show, argc - 1, argv + 1);

	what = argc > 1 ? argv[1] : "feth";
	if (!strcmp(argv[0], "create")) {
		if (argc > 2 || (argc == 2 && need_name("create", argc, argv, 2)))
			return EXIT_USAGE;
		ctl_req_init(&req, IFKIT_CMD_FETH_CREATE);
		if (argc == 2)
			strcpy(req.name, argv[1]);
	} else if (!strcmp(argv[0], "destroy") || !strcmp(argv[0], "delete") ||
		   !strcmp(argv[0], "del")) {
		if (need_name("destroy", argc, argv, 2))
			return EXIT_USAGE;
		ctl_req_init(&req, IFKIT_CMD_FETH_DESTROY);
		strcpy(req.name, argv[1]);
	} else if (!strcmp(argv[0], "peer")) {
		if (need_name("peer", argc, argv, 3))
			return EXIT_USAGE;
		ctl_req_init(&req, IFKIT_CMD_FETH_PEER);
		strcpy(req.name, argv[1]);
		strcpy(req.peer, argv[2]);
	} else if (!strcmp(argv[0], "unpeer")) {
		if (need_name("unpeer", argc, argv, 2))
			return EXIT_USAGE;
		ctl_req_init(&req, IFKIT_CMD_FETH_UNPEER);
		strcpy(req.name, argv[1]);
	} else if (!strcmp(argv[0], "set")) {
		if (argc != 4 || !ifname_valid(argv[1])) {
			fprintf(stderr, "ifkit: feth set: expected fethN mtu MTU | fethN media WORD\n");
			return EXIT_USAGE;
		}
		if (!strcmp(argv[2], "mtu")) {
			ctl_req_init(&req, IFKIT_CMD_FETH_SET_MTU);
			if (cli_parse_uint(argv[3], &req.value)) {
				fprintf(stderr, "ifkit: feth set: invalid mtu '%s'\n", argv[3]);
				return EXIT_USAGE;
			}
		} else if (!strcmp(argv[2], "media")) {
			int media = feth_media_parse(argv[3]);

			if (media < 0) {
				fprintf(stderr, "ifkit: feth set: unknown media '%s' (autoselect, "
					"10GbaseT, 2500baseT, 5000baseT)\n", argv[3]);
				return EXIT_USAGE;
			}
			ctl_req_init(&req, IFKIT_CMD_FETH_SET_MEDIA);
			req.value = (unsigned int)media;
		} else {
			fprintf(stderr, "ifkit: feth set: unknown setting '%s' (mtu, media)\n",
				argv[2]);
			return EXIT_USAGE;
		}
		strcpy(req.name, argv[1]);
	} else {
		fprintf(stderr, "ifkit: feth: unknown command '%s'\n", argv[0]);
		feth_usage(stderr);
		return EXIT_USAGE;
	}
	err = cli_call(cli, &req, &rep, NULL, NULL, NULL);
	if (err) {
		cli_report(&rep, err, what);
		return EXIT_FAIL;
	}
	if (req.cmd == IFKIT_CMD_FETH_CREATE)
		printf("%s\n", rep.name);
	return EXIT_OK;
}
