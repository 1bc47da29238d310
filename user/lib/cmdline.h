/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One grammar for `ifkit OBJECT COMMAND ARGS` and for the lines of
 * ifkitd.conf: a table of commands, each with its arguments, turned into a
 * struct ifkit_req by cmdline_parse().  The CLI and the config reader both
 * go through it, so a config line is exactly an ifkit command and the two
 * cannot drift apart.  The usage texts are printed from the same table.
 */
#ifndef IFKIT_CMDLINE_H
#define IFKIT_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "ifkit_ctl.h"

enum cmdline_arg_kind {
	CMDLINE_ARG_END = 0,
	CMDLINE_ARG_NAME,		/* interface name -> req.name */
	CMDLINE_ARG_OPT_NAME,		/* same, may be left out (last argument only) */
	CMDLINE_ARG_PEER,		/* interface name -> req.peer */
	CMDLINE_ARG_KEYWORD,		/* this exact word */
	CMDLINE_ARG_MTU,		/* decimal -> req.value (range checked by the loader) */
	CMDLINE_ARG_MEDIA,		/* feth media word -> req.value */
	CMDLINE_ARG_UTUN_FLAGS,		/* none | no_output,no_input -> req.value */
};

#define CMDLINE_MAX_ARGS	4

/* Where a command may be used. */
#define CMDLINE_F_CONFIG	0x1	/* also as an ifkitd.conf line */
#define CMDLINE_F_SHOW		0x2	/* a query printed by the CLI (takes -j) */
#define CMDLINE_F_OWN_PARSER	0x4	/* arguments parsed by its own code (usage only here) */

struct cmdline_arg {
	enum cmdline_arg_kind kind;
	const char *word;		/* the keyword, or the placeholder for usage */
};

struct cmdline_cmd {
	const char *object;		/* "feth" */
	const char *verb;		/* "create" */
	const char *aliases;		/* other spellings of verb, space separated, or NULL */
	enum ifkit_cmd cmd;
	unsigned int flags;		/* CMDLINE_F_* */
	struct cmdline_arg args[CMDLINE_MAX_ARGS + 1];
	const char *synopsis;		/* usage of an own-parser command; NULL: from args */
	const char *help;		/* one line: what it does */
};

/*
 * Parse argv (argv[0] is the object, argv[1] the command) into req.  flags
 * is what the caller accepts (0 for the CLI, CMDLINE_F_CONFIG for the config
 * file: other commands are refused).  On success *cmd points at the table
 * row.  Errors: -ENOENT (unknown object), -EINVAL (anything else), with a
 * message "OBJECT COMMAND: reason" in err.
 */
int cmdline_parse(int argc, char *const argv[], unsigned int flags, struct ifkit_req *req,
		  const struct cmdline_cmd **cmd, char *err, size_t errlen);

/* The row of object + verb (aliases included), or NULL. */
const struct cmdline_cmd *cmdline_find(const char *object, const char *verb);
/* True if the table has any command of object. */
bool cmdline_has_object(const char *object);

/*
 * "Usage: ifkit OBJECT VERB ARGS   help" lines for every command of object
 * (verb NULL) or only those of verb.  Returns how many lines it printed.
 */
int cmdline_usage(FILE *out, const char *object, const char *verb);

/* "none", "no_output", "no_input" joined by commas -> UTUN_FLAGS_*.  0 or -EINVAL. */
int cmdline_parse_utun_flags(const char *arg, unsigned int *flags);
/* Decimal u32, no sign, no spaces.  0 or -EINVAL. */
int cmdline_parse_u32(const char *s, unsigned int *out);

#endif
