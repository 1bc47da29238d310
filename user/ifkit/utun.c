// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* ifkit utun ... (placeholder until the utun relay lands) */
#include <string.h>
#include "cli.h"

void utun_print(struct cli *cli, const struct ifkit_utun_info *ui, size_t n, struct json *j)
{
	(void)cli, (void)ui, (void)n, (void)j;
}

int cmd_utun(struct cli *cli, int argc, char **argv)
{
	(void)cli, (void)argc, (void)argv;
	fprintf(stderr, "ifkit: utun: not implemented in this build\n");
	return EXIT_FAIL;
}
