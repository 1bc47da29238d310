// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The loader's config file: each line is an `ifkit` command (the CLI's own
 * grammar, user/lib/cmdline.c), run at start.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "ifkitd.h"
#include "log.h"

int ifkitd_apply_config(struct ifkitd *d)
{
	char line[CONFIG_LINE_MAX + 1], err[160];
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
	for (;;) {
		struct ifkit_req req;
		struct reply r = { .fd = -1 };
		int ret;

		ret = config_read_line(f, line, sizeof(line), &lineno);
		if (ret == 0)
			break;
		if (ret == -E2BIG || ret == -EINVAL) {
			/* Never run what is left of a line: report it whole and go on. */
			if (ret == -E2BIG)
				pr_err("%s:%u: line too long (more than %d characters), ignored",
				       d->config_path, lineno, CONFIG_LINE_MAX);
			else
				pr_err("%s:%u: NUL byte in line, ignored", d->config_path, lineno);
			continue;
		}
		if (ret < 0) {
			pr_err("%s: %s", d->config_path, strerror(-ret));
			break;
		}
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

