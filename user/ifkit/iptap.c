// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* ifkit iptap ... (placeholder until the iptap fan-out lands) */
#include <string.h>
#include "cli.h"

void iptap_print(struct cli *cli, const struct ifkit_iptap_info *ti, size_t n, struct json *j)
{
	(void)cli, (void)ti, (void)n, (void)j;
}

int cmd_iptap(struct cli *cli, int argc, char **argv)
{
	(void)cli, (void)argc, (void)argv;
	fprintf(stderr, "ifkit: iptap: not implemented in this build\n");
	return EXIT_FAIL;
}
