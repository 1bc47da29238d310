// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The loader's config file: each line is an `ifkit` command, run at start. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "ifkitd.h"
#include "log.h"

int ifkitd_apply_config(struct ifkitd *d)
{
	char line[512], err[160];
	unsigned int lineno = 0;
	FILE *f;

	if (!d->config_path)
		return 0;
	f = fopen(d->config_path, "re");
	if (!f) {
		int err = -errno;

		/* No default config installed: start empty.  A named one must exist. */
		if (err == -ENOENT && !d->config_explicit) {
			pr_info("%s: not found, no devices created at start", d->config_path);
			return 0;
		}
		pr_err("%s: %s", d->config_path, strerror(-err));
		return err;
	}
	while (fgets(line, sizeof(line), f)) {
		struct ifkit_req req;
		struct reply r = { .fd = -1 };
		int ret;

		lineno++;
		ret = config_parse_line(line, &req, err, sizeof(err));
		if (ret == 1)
			continue;
		if (ret < 0) {
			pr_err("%s:%u: %s", d->config_path, lineno, err);
			continue;
		}
		ret = ifkitd_dispatch(d, NULL, &req, d->home_ns_fd, &r);
		/* A restarted loader finds its devices already there: that is fine. */
		/* Success is logged by the module ("feth0: created"), once. */
		if (ret && ret != -EEXIST && !(req.cmd == IFKIT_CMD_FETH_PEER && ret == -EBUSY))
			pr_err("%s:%u: %s", d->config_path, lineno,
			       r.hdr.msg[0] ? r.hdr.msg : strerror(-ret));
		free(r.items);
	}
	fclose(f);
	return 0;
}

