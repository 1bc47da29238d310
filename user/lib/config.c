// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "ctl.h"
#include "names.h"

#define MAX_WORDS 6

static int fail(char *err, size_t errlen, const char *msg, const char *word)
{
	snprintf(err, errlen, "%s%s%s", msg, word ? ": " : "", word ? word : "");
	return -EINVAL;
}

static int put_name(char *dst, const char *word, char *err, size_t errlen)
{
	if (!ifname_valid(word))
		return fail(err, errlen, "invalid interface name", word);
	strcpy(dst, word);
	return 0;
}

static int parse_u32(const char *word, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (!word[0] || word[0] == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(word, &end, 10);
	if (errno || *end || v > 0xffffffffUL)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

int config_parse_line(const char *line, struct ifkit_req *req, char *err, size_t errlen)
{
	char copy[256], *words[MAX_WORDS + 1], *save = NULL, *tok, *hash;
	int n = 0;

	if (strlen(line) >= sizeof(copy))
		return fail(err, errlen, "line too long", NULL);
	strcpy(copy, line);
	hash = strchr(copy, '#');
	if (hash)
		*hash = '\0';
	for (tok = strtok_r(copy, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == MAX_WORDS)
			return fail(err, errlen, "too many words", tok);
		words[n++] = tok;
	}
	words[n] = NULL;
	if (n == 0)
		return 1;
	if (n < 2)
		return fail(err, errlen, "expected OBJECT COMMAND", words[0]);

	if (!strcmp(words[0], "feth")) {
		if (!strcmp(words[1], "create") && n <= 3) {
			ctl_req_init(req, IFKIT_CMD_FETH_CREATE);
			return n == 3 ? put_name(req->name, words[2], err, errlen) : 0;
		}
		if (!strcmp(words[1], "peer") && n == 4) {
			ctl_req_init(req, IFKIT_CMD_FETH_PEER);
			if (put_name(req->name, words[2], err, errlen))
				return -EINVAL;
			return put_name(req->peer, words[3], err, errlen);
		}
		if (!strcmp(words[1], "mtu") && n == 4) {
			ctl_req_init(req, IFKIT_CMD_FETH_SET_MTU);
			if (parse_u32(words[3], &req->value))
				return fail(err, errlen, "invalid mtu", words[3]);
			return put_name(req->name, words[2], err, errlen);
		}
		if (!strcmp(words[1], "media") && n == 4) {
			int media = feth_media_parse(words[3]);

			ctl_req_init(req, IFKIT_CMD_FETH_SET_MEDIA);
			if (media < 0)
				return fail(err, errlen, "unknown media word", words[3]);
			req->value = (unsigned int)media;
			return put_name(req->name, words[2], err, errlen);
		}
		return fail(err, errlen, "unknown feth command", words[1]);
	}
	if (!strcmp(words[0], "iptap")) {
		if (!strcmp(words[1], "create") && n <= 3) {
			ctl_req_init(req, IFKIT_CMD_IPTAP_CREATE);
			return n == 3 ? put_name(req->name, words[2], err, errlen) : 0;
		}
		return fail(err, errlen, "unknown iptap command", words[1]);
	}
	return fail(err, errlen, "unknown object (feth, iptap)", words[0]);
}
