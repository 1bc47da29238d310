// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The command grammar shared by the ifkit CLI and ifkitd.conf (see cmdline.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmdline.h"
#include "ctl.h"
#include "ifkit/utun.h"
#include "names.h"

#define A(kind, word)	{ CMDLINE_ARG_##kind, word }

static const struct cmdline_cmd cmds[] = {
	{ "feth", "create", NULL, IFKIT_CMD_FETH_CREATE, CMDLINE_F_CONFIG,
	  { A(OPT_NAME, "fethN") }, NULL,
	  "create here (first free unit, or fethN)" },
	{ "feth", "destroy", "delete del", IFKIT_CMD_FETH_DESTROY, 0,
	  { A(NAME, "fethN") }, NULL,
	  "destroy (unpeers the other end first)" },
	{ "feth", "peer", NULL, IFKIT_CMD_FETH_PEER, CMDLINE_F_CONFIG,
	  { A(NAME, "fethA"), A(PEER, "fethB") }, NULL,
	  "cross-connect; carrier up on both" },
	{ "feth", "unpeer", NULL, IFKIT_CMD_FETH_UNPEER, 0,
	  { A(NAME, "fethN") }, NULL,
	  "disconnect; carrier down on both" },
	{ "feth", "set", NULL, IFKIT_CMD_FETH_SET_MTU, CMDLINE_F_CONFIG,
	  { A(NAME, "fethN"), A(KEYWORD, "mtu"), A(MTU, "MTU") }, NULL,
	  "MTU within [68, 65535]" },
	{ "feth", "set", NULL, IFKIT_CMD_FETH_SET_MEDIA, CMDLINE_F_CONFIG,
	  { A(NAME, "fethN"), A(KEYWORD, "media"), A(MEDIA, "WORD") }, NULL,
	  "autoselect|10GbaseT|2500baseT|5000baseT" },
	{ "feth", "show", "list ls", IFKIT_CMD_FETH_SHOW, CMDLINE_F_SHOW,
	  { A(OPT_NAME, "fethN") }, NULL,
	  "peer, carrier, MTU, media, counters" },

	{ "utun", "show", "list ls", IFKIT_CMD_UTUN_SHOW, CMDLINE_F_SHOW,
	  { A(OPT_NAME, "utunN") }, NULL,
	  "owner, flags, MTU, counters, errors" },
	{ "utun", "set", NULL, IFKIT_CMD_UTUN_SET_FLAGS, 0,
	  { A(NAME, "utunN"), A(KEYWORD, "flags"), A(UTUN_FLAGS, "LIST") }, NULL,
	  "LIST: none, no_output, no_input, a,b" },

	{ "iptap", "create", NULL, IFKIT_CMD_IPTAP_CREATE, CMDLINE_F_CONFIG,
	  { A(OPT_NAME, "iptapN") }, NULL,
	  "create here (first free, or iptapN)" },
	{ "iptap", "destroy", "delete del", IFKIT_CMD_IPTAP_DESTROY, 0,
	  { A(NAME, "iptapN") }, NULL,
	  "destroy; taps go with the last iptap" },
	{ "iptap", "show", "list ls", IFKIT_CMD_IPTAP_SHOW, CMDLINE_F_SHOW,
	  { A(OPT_NAME, "iptapN") }, NULL,
	  "listeners, tapped interfaces, counters" },
	{ "iptap", "capture", NULL, IFKIT_CMD_IPTAP_LISTEN, CMDLINE_F_OWN_PARSER,
	  { { 0 } }, "[-i iptapN] [-w FILE|-] [-c COUNT] [-s SNAPLEN] [--pcapng]",
	  "PKTAP records: interface, direction, pid, command" },
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool word_in(const char *word, const char *list)
{
	size_t len = strlen(word);

	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, " ");

		if (n == len && !strncmp(p, word, n))
			return true;
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

static bool verb_is(const struct cmdline_cmd *c, const char *verb)
{
	return !strcmp(c->verb, verb) || word_in(verb, c->aliases);
}

bool cmdline_has_object(const char *object)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (!strcmp(cmds[i].object, object))
			return true;
	return false;
}

const struct cmdline_cmd *cmdline_find(const char *object, const char *verb)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (!strcmp(cmds[i].object, object) && verb_is(&cmds[i], verb))
			return &cmds[i];
	return NULL;
}

static void synopsis(const struct cmdline_cmd *c, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "ifkit %s %s", c->object, c->verb);

	if (c->synopsis) {
		snprintf(buf + n, len - n, " %s", c->synopsis);
		return;
	}
	for (const struct cmdline_arg *a = c->args; a->kind && n < len; a++)
		n += (size_t)snprintf(buf + n, len - n, a->kind == CMDLINE_ARG_OPT_NAME ?
				      " [%s]" : " %s", a->word);
	if (c->flags & CMDLINE_F_SHOW && n < len)
		snprintf(buf + n, len - n, " [-j]");
}

int cmdline_usage(FILE *out, const char *object, const char *verb)
{
	char syn[128];
	int lines = 0;

	for (size_t i = 0; i < NCMDS; i++) {
		const struct cmdline_cmd *c = &cmds[i];

		if (strcmp(c->object, object) || (verb && !verb_is(c, verb)))
			continue;
		synopsis(c, syn, sizeof(syn));
		/* Long synopses put their help on the next line, under the others. */
		if (strlen(syn) > 32)
			fprintf(out, "%s%s\n%41s%s\n", lines ? "       " : "Usage: ", syn, "", c->help);
		else
			fprintf(out, "%s%-32s  %s\n", lines ? "       " : "Usage: ", syn, c->help);
		lines++;
	}
	return lines;
}

int cmdline_parse_u32(const char *s, unsigned int *out)
{
	unsigned long long v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned int)(*s - '0');
		if (v > 0xffffffffULL)
			return -EINVAL;
	}
	*out = (unsigned int)v;
	return 0;
}

int cmdline_parse_utun_flags(const char *arg, unsigned int *flags)
{
	char buf[64], *tok, *save = NULL;

	if (strlen(arg) >= sizeof(buf) || !*arg)
		return -EINVAL;
	strcpy(buf, arg);
	*flags = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "none") || !strcmp(tok, "0"))
			continue;
		else if (!strcmp(tok, "no_output") || !strcmp(tok, "no-output"))
			*flags |= UTUN_FLAGS_NO_OUTPUT;
		else if (!strcmp(tok, "no_input") || !strcmp(tok, "no-input"))
			*flags |= UTUN_FLAGS_NO_INPUT;
		else
			return -EINVAL;
	}
	return 0;
}

/* "OBJECT VERB: expected fethA fethB" from the row's own arguments. */
static int fail_count(const struct cmdline_cmd *c, char *err, size_t errlen)
{
	char syn[128];

	synopsis(c, syn, sizeof(syn));
	/* skip "ifkit OBJECT VERB " */
	return fail(err, errlen, "%s %s: expected%s%s", c->object, c->verb,
		    syn[strlen("ifkit ") + strlen(c->object) + strlen(c->verb) + 1] ? "" : " nothing",
		    syn + strlen("ifkit ") + strlen(c->object) + 1 + strlen(c->verb));
}

/* Rows of object+verb differ by a keyword (feth set NAME mtu|media): pick by it. */
static const struct cmdline_cmd *pick_row(const char *object, const char *verb, int nargs,
					  char *const args[], char *err, size_t errlen)
{
	const struct cmdline_cmd *first = NULL;
	char keywords[64] = "";
	int kw_pos = -1;

	for (size_t i = 0; i < NCMDS; i++) {
		const struct cmdline_cmd *c = &cmds[i];
		int pos = -1;

		if (strcmp(c->object, object) || !verb_is(c, verb))
			continue;
		if (!first)
			first = c;
		for (int k = 0; c->args[k].kind; k++)
			if (c->args[k].kind == CMDLINE_ARG_KEYWORD)
				pos = k;
		if (pos < 0)
			return c;
		if (pos < nargs && !strcmp(args[pos], c->args[pos].word))
			return c;
		kw_pos = pos;
		snprintf(keywords + strlen(keywords), sizeof(keywords) - strlen(keywords), "%s%s",
			 keywords[0] ? ", " : "", c->args[pos].word);
	}
	if (!first) {
		char verbs[128] = "";

		for (size_t i = 0; i < NCMDS; i++) {
			if (strcmp(cmds[i].object, object) || word_in(cmds[i].verb, verbs))
				continue;
			snprintf(verbs + strlen(verbs), sizeof(verbs) - strlen(verbs), "%s%s",
				 verbs[0] ? " " : "", cmds[i].verb);
		}
		fail(err, errlen, "%s: unknown command '%s' (%s)", object, verb, verbs);
		return NULL;
	}
	if (kw_pos < nargs)
		fail(err, errlen, "%s %s: unknown setting '%s' (%s)", object, first->verb,
		     args[kw_pos], keywords);
	else
		fail(err, errlen, "%s %s: expected a setting (%s)", object, first->verb, keywords);
	return NULL;
}

static int put_name(char *dst, const char *word, const struct cmdline_cmd *c, char *err,
		    size_t errlen)
{
	if (word[0] == '-')
		return fail(err, errlen, "%s %s: unknown option '%s'", c->object, c->verb, word);
	if (!ifname_valid(word))
		return fail(err, errlen, "%s %s: invalid interface name '%s'", c->object, c->verb,
			    word);
	strcpy(dst, word);
	return 0;
}

int cmdline_parse(int argc, char *const argv[], unsigned int flags, struct ifkit_req *req,
		  const struct cmdline_cmd **cmd, char *err, size_t errlen)
{
	const struct cmdline_cmd *c;
	int nargs = argc - 2, min = 0, max = 0;
	char *const *args = argv + 2;

	if (argc < 1 || !cmdline_has_object(argv[0])) {
		fail(err, errlen, "unknown object '%s' (feth, utun, iptap)", argc ? argv[0] : "");
		return -ENOENT;
	}
	if (argc < 2)
		return fail(err, errlen, "%s: expected a command", argv[0]);
	c = pick_row(argv[0], argv[1], nargs, args, err, errlen);
	if (!c)
		return -EINVAL;
	if (c->flags & CMDLINE_F_OWN_PARSER)
		return fail(err, errlen, "%s %s: takes its own options", c->object, c->verb);
	if ((flags & CMDLINE_F_CONFIG) && !(c->flags & CMDLINE_F_CONFIG))
		return fail(err, errlen, "%s %s: not for a config file (there: feth create, peer, "
			    "set; iptap create)", c->object, c->verb);
	for (int k = 0; c->args[k].kind; k++) {
		max++;
		if (c->args[k].kind != CMDLINE_ARG_OPT_NAME)
			min++;
	}
	if (nargs < min || nargs > max)
		return fail_count(c, err, errlen);

	ctl_req_init(req, c->cmd);
	for (int k = 0; k < nargs; k++) {
		const struct cmdline_arg *a = &c->args[k];
		const char *word = args[k];
		int media;

		switch (a->kind) {
		case CMDLINE_ARG_NAME:
		case CMDLINE_ARG_OPT_NAME:
			if (put_name(req->name, word, c, err, errlen))
				return -EINVAL;
			break;
		case CMDLINE_ARG_PEER:
			if (put_name(req->peer, word, c, err, errlen))
				return -EINVAL;
			break;
		case CMDLINE_ARG_KEYWORD:
			break;	/* matched by pick_row */
		case CMDLINE_ARG_MTU:
			if (cmdline_parse_u32(word, &req->value))
				return fail(err, errlen, "%s %s: invalid mtu '%s'", c->object, c->verb,
					    word);
			break;
		case CMDLINE_ARG_MEDIA:
			media = feth_media_parse(word);
			if (media < 0)
				return fail(err, errlen, "%s %s: unknown media '%s' (autoselect, "
					    "10GbaseT, 2500baseT, 5000baseT)", c->object, c->verb,
					    word);
			req->value = (unsigned int)media;
			break;
		case CMDLINE_ARG_UTUN_FLAGS:
			if (cmdline_parse_utun_flags(word, &req->value))
				return fail(err, errlen, "%s %s: unknown flags '%s' (none, no_output, "
					    "no_input)", c->object, c->verb, word);
			break;
		case CMDLINE_ARG_END:
			break;
		}
	}
	if (cmd)
		*cmd = c;
	return 0;
}
