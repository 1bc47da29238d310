// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target for everything ifkit parses from outside: control
 * requests and answers (the loader's socket is world-connectable) and
 * config lines.  Built and run by `make fuzz` with ASan and UBSan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ifkit_req req;
	char line[300], err[128];
	const char *why;

	if (ctl_req_check(data, size, &why) == 0) {
		/* An accepted request is exactly a struct with terminated names. */
		memcpy(&req, data, sizeof(req));
		if (strlen(req.name) >= sizeof(req.name) || strlen(req.peer) >= sizeof(req.peer))
			abort();
	}
	ctl_rep_check(data, size, &why);
	if (size < sizeof(line)) {
		memcpy(line, data, size);
		line[size] = '\0';
		if (config_parse_line(line, &req, err, sizeof(err)) == 0 &&
		    ctl_req_check(&req, sizeof(req), &why) != 0)
			abort();	/* the parser must only make valid requests */
	}
	return 0;
}
