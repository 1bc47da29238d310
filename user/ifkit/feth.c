// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* ifkit feth ...: how a feth is shown (the commands are in user/lib/cmdline.c). */
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "names.h"

static void print_feth(struct out *o, const struct ifkit_feth_info *f)
{
	char mac[18];

	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", f->mac[0], f->mac[1],
		 f->mac[2], f->mac[3], f->mac[4], f->mac[5]);
	print_open_object(o, NULL);
	print_string(o, PRINT_ANY, "name", "%s:", f->name);
	print_string(o, PRINT_JSON, "ifname", NULL, f->ifname);
	if (strcmp(f->ifname, f->name))	/* renamed in its namespace */
		print_string(o, PRINT_FP, NULL, " (named %s)", f->ifname[0] ? f->ifname : "?");
	print_uint(o, PRINT_JSON, "unit", NULL, f->unit);
	if (f->peer[0])
		print_string(o, PRINT_ANY, "peer", " peer %s", f->peer);
	else
		print_null(o, PRINT_ANY, "peer", " peer %s", "none");
	print_string(o, PRINT_JSON, "netns", NULL, f->netns);
	print_bool(o, PRINT_ANY, "here", " netns %s", f->here, "(this)", NULL);
	if (!f->here)
		print_string(o, PRINT_FP, NULL, " netns %s", f->netns[0] ? f->netns : "(unnamed)");
	print_uint(o, PRINT_ANY, "mtu", " mtu %u", f->mtu);
	print_bool(o, PRINT_ANY, "up", " %s", f->ifflags & IFF_UP, "UP", "DOWN");
	print_bool(o, PRINT_ANY, "carrier", " %s", f->carrier, "carrier on", "NO-CARRIER");
	print_nl(o);

	print_string(o, PRINT_ANY, "address", "    link/ether %s", mac);
	print_uint(o, PRINT_ANY, "ifindex", " ifindex %u", f->ifindex);
	print_nl(o);

	print_string(o, PRINT_ANY, "media", "    media: %s", feth_media_name(f->media));
	print_string(o, PRINT_ANY, "media_status", " status: %s",
		     f->peer[0] ? "active" : "inactive");
	print_nl(o);
	print_open_array(o, "supported_media");
	print_string(o, PRINT_FP, NULL, "%s", "    supported media:");
	for (unsigned int m = 0; m < FETH_MEDIA_COUNT; m++) {
		print_string(o, PRINT_ANY, NULL, " %s", feth_media_name(m));
		if (m != FETH_MEDIA_AUTOSELECT)
			print_string(o, PRINT_FP, NULL, "%s", " <full-duplex>");
	}
	print_close_array(o);
	print_nl(o);

	print_open_object(o, "stats");
	print_u64(o, PRINT_ANY, "rx_packets", "    RX: packets %llu", f->rx_packets);
	print_u64(o, PRINT_ANY, "rx_bytes", " bytes %llu", f->rx_bytes);
	print_u64(o, PRINT_ANY, "rx_dropped", " dropped %llu", f->rx_dropped);
	print_u64(o, PRINT_ANY, "rx_errors", " errors %llu", f->rx_errors);
	print_nl(o);
	print_u64(o, PRINT_ANY, "tx_packets", "    TX: packets %llu", f->tx_packets);
	print_u64(o, PRINT_ANY, "tx_bytes", " bytes %llu", f->tx_bytes);
	print_u64(o, PRINT_ANY, "tx_dropped", " dropped %llu", f->tx_dropped);
	print_u64(o, PRINT_ANY, "tx_errors", " errors %llu", f->tx_errors);
	print_nl(o);
	print_u64(o, PRINT_ANY, "crossed_packets", "    crossed: packets %llu", f->crossed_packets);
	print_u64(o, PRINT_ANY, "crossed_bytes", " bytes %llu", f->crossed_bytes);
	print_u64(o, PRINT_ANY, "dropped_unpeered", "  dropped unpeered %llu", f->dropped_unpeered);
	print_nl(o);
	print_close_object(o);
	print_close_object(o);
}

static void print_items(struct out *o, const void *items, size_t n)
{
	const struct ifkit_feth_info *fi = items;

	for (size_t i = 0; i < n; i++)
		print_feth(o, &fi[i]);
}

const struct cli_show feth_show = {
	.object = "feth", .cmd = IFKIT_CMD_FETH_SHOW, .type = IFKIT_ITEM_FETH,
	.item_size = sizeof(struct ifkit_feth_info), .print = print_items,
	.notes =
"`ifkit feth` alone, or with -j, is `ifkit feth show`.\n"
"feth names are global to ifkit: fethN is found in whatever network namespace it\n"
"lives in, so `ifkit feth peer feth0 feth1` works when feth0 is in ns1 and feth1 in\n"
"ns2.  `create` puts the device in the caller's namespace (ip netns exec NS ...).\n",
};
