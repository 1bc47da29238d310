// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* ifkitd.conf lines: the CLI's own grammar (cmdline.c), one command a line. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmdline.h"
#include "config.h"

int config_read_line(FILE *f, char *buf, size_t len, unsigned int *lineno)
{
	size_t n = 0;
	bool too_long = false, nul = false;
	int c;

	if (len < 2)
		return -EINVAL;
	while ((c = getc(f)) != EOF && c != '\n') {
		if (c == '\0')
			nul = true;
		if (n + 1 < len && n < CONFIG_LINE_MAX)
			buf[n++] = (char)c;
		else
			too_long = true;	/* keep reading: the tail is no line of its own */
	}
	if (c == EOF && ferror(f))
		return -EIO;
	if (c == EOF && n == 0 && !too_long)
		return 0;
	buf[n] = '\0';
	(*lineno)++;
	if (too_long)
		return -E2BIG;
	return nul ? -EINVAL : 1;
}

int config_parse_line(const char *line, struct ifkit_req *req, char *err, size_t errlen)
{
	char copy[CONFIG_LINE_MAX + 1], *words[CONFIG_MAX_WORDS], *save = NULL, *tok, *hash;
	int n = 0;

	if (strlen(line) >= sizeof(copy)) {
		snprintf(err, errlen, "line too long (more than %d characters)", CONFIG_LINE_MAX);
		return -EINVAL;
	}
	strcpy(copy, line);
	hash = strchr(copy, '#');
	if (hash)
		*hash = '\0';
	for (tok = strtok_r(copy, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == CONFIG_MAX_WORDS) {
			snprintf(err, errlen, "too many words: %s", tok);
			return -EINVAL;
		}
		words[n++] = tok;
	}
	if (n == 0)
		return 1;
	return cmdline_parse(n, words, CMDLINE_F_CONFIG, req, NULL, err, errlen) ? -EINVAL : 0;
}
