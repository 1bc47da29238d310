// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* ifkit iptap ...: how an iptap is shown (capture is in capture.c). */
#include <stdint.h>
#include <stdio.h>
#include "cli.h"

static void print_iptap(struct out *o, const struct ifkit_iptap_info *t)
{
	print_open_object(o, NULL);
	print_string(o, PRINT_ANY, "name", "%s:", t->name);
	print_uint(o, PRINT_JSON, "unit", NULL, t->unit);
	print_string(o, PRINT_JSON, "netns", NULL, t->netns);
	print_string(o, PRINT_FP, NULL, " netns %s", t->netns[0] ? t->netns : "(unnamed)");
	print_uint(o, PRINT_ANY, "ifindex", " ifindex %u", t->ifindex);
	print_string(o, PRINT_ANY, "link_type", " link-type %s", "RAW");
	print_nl(o);
	print_uint(o, PRINT_ANY, "raw_listeners", "    listeners: raw %u", t->raw_listeners);
	print_uint(o, PRINT_ANY, "pktap_listeners", " pktap %u", t->pktap_listeners);
	print_uint(o, PRINT_ANY, "tap_count", " tap_count %u",
		   t->raw_listeners + t->pktap_listeners);
	print_uint(o, PRINT_ANY, "total_tap_count", " (total_tap_count %u)", t->total_tap_count);
	print_nl(o);
	print_uint(o, PRINT_ANY, "tapped_interfaces", "    tapped interfaces %u", t->tapped_ifaces);
	print_string(o, PRINT_ANY, "hook", " (%s)",
		     t->hook == IFKIT_IPTAP_HOOK_TCX ? "tcx" : "clsact");
	print_u64(o, PRINT_ANY, "packets", ", packets %llu", t->packets);
	print_u64(o, PRINT_ANY, "bytes", " bytes %llu", t->bytes);
	print_nl(o);
	/* Each PKTAP reader: what the kernel wrote for it, could not write (lost), filtered. */
	print_open_array(o, "readers");
	for (uint32_t r = 0; r < t->n_readers && r < 8; r++) {
		print_open_object(o, NULL);
		print_uint(o, PRINT_ANY, "slot", "    reader slot %u", t->readers[r].slot);
		print_int(o, PRINT_ANY, "pid", " pid %d", t->readers[r].pid);
		print_string(o, PRINT_JSON, "comm", NULL, t->readers[r].comm);
		print_string(o, PRINT_FP, NULL, " comm %s",
			     t->readers[r].comm[0] ? t->readers[r].comm : "-");
		print_u64(o, PRINT_ANY, "records", ": records %llu", t->readers[r].records);
		print_u64(o, PRINT_ANY, "lost", " lost %llu", t->readers[r].lost);
		print_u64(o, PRINT_ANY, "filtered", " filtered %llu", t->readers[r].filtered);
		print_nl(o);
		print_close_object(o);
	}
	print_close_array(o);
	print_close_object(o);
}

static void print_items(struct out *o, const void *items, size_t n)
{
	const struct ifkit_iptap_info *ti = items;

	for (size_t i = 0; i < n; i++)
		print_iptap(o, &ti[i]);
}

const struct cli_show iptap_show = {
	.object = "iptap", .cmd = IFKIT_CMD_IPTAP_SHOW, .type = IFKIT_ITEM_IPTAP,
	.item_size = sizeof(struct ifkit_iptap_info), .print = print_items,
	.notes =
"`ifkit iptap` alone, or with -j, is `ifkit iptap show`.\n"
"An iptap sees a copy of every IPv4/IPv6 packet entering or leaving any interface\n"
"of its network namespace: `tcpdump -ni iptap0` (raw IP, -Q in|out), or\n"
"`ifkit iptap capture -w all.pcap` for Wireshark.  `create` puts the device in\n"
"the caller's namespace (ip netns exec NS ...).\n",
};
