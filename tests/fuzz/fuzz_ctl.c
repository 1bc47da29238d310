// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target for everything ifkit parses from outside: control
 * requests and answers (the loader's socket is world-connectable), config
 * files and lines, command-line words (the grammar both share) and time-out
 * values.  Built and run by `make fuzz` with ASan and UBSan.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmdline.h"
#include "config.h"
#include "ctl.h"

/* Whatever the grammar accepts must be a request the loader accepts too. */
static void check_req(const struct ifkit_req *req)
{
	const char *why;

	if (ctl_req_check(req, sizeof(*req), &why) != 0)
		abort();
}

/* data split at NUL bytes, as a shell would hand words to ifkit. */
static void fuzz_words(const uint8_t *data, size_t size)
{
	char buf[1024], *words[16], err[192];
	struct ifkit_req req;
	const struct cmdline_cmd *cmd;
	int n = 0;

	if (size >= sizeof(buf))
		return;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (size_t i = 0; i <= size && n < 16;) {
		words[n++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	if (cmdline_parse(n, words, 0, &req, &cmd, err, sizeof(err)) == 0) {
		check_req(&req);
		if (cmd->cmd != req.cmd)
			abort();
	}
	if (cmdline_parse(n, words, CMDLINE_F_CONFIG, &req, &cmd, err, sizeof(err)) == 0) {
		check_req(&req);
		if (!(cmd->flags & CMDLINE_F_CONFIG))
			abort();
	}
}

/* A whole config file: every line read is bounded and numbered. */
static void fuzz_file(const uint8_t *data, size_t size)
{
	char line[CONFIG_LINE_MAX + 1], err[192];
	unsigned int lineno = 0, newlines = 0;
	struct ifkit_req req;
	FILE *f;
	int ret;

	if (!size)
		return;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return;
	while ((ret = config_read_line(f, line, sizeof(line), &lineno)) != 0) {
		if (ret == 1 && strlen(line) > CONFIG_LINE_MAX)
			abort();
		if (ret == 1 && config_parse_line(line, &req, err, sizeof(err)) == 0)
			check_req(&req);
		if (ret < 0 && ret != -E2BIG && ret != -EINVAL) {
			fclose(f);
			return;
		}
	}
	fclose(f);
	for (size_t i = 0; i < size; i++)
		newlines += data[i] == '\n';
	/* One number per line: a long line is never counted twice. */
	if (lineno != newlines + (data[size - 1] != '\n'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ifkit_req req;
	char line[CONFIG_LINE_MAX + 64], err[192];
	const char *why;
	int ms;

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
		if (config_parse_line(line, &req, err, sizeof(err)) == 0)
			check_req(&req);	/* the parser must only make valid requests */
		if (ctl_timeout_parse(line, &ms) == 0 && (ms < 0 || ms > CTL_TIMEOUT_MAX_MS))
			abort();
	}
	fuzz_words(data, size);
	fuzz_file(data, size);
	return 0;
}
